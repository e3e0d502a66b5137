"""Maslikhat (local council) elections under the 2023 law, reported per maslikhat.

Since 2023 the maslikhats of the oblasts, the cities of republican significance
and the capital are elected half by party lists and half in single-member
districts; district and city maslikhats in single-member districts only
(election/README.md, "Maslikhats", and what could not be confirmed). How many
seats each maslikhat has comes from the input (the definition), never from here.

- **Party lists**: the same rule as the Mäjilis lists of 2023 (`law.py`): parties
  with at least 5 % of the voters who took part in that maslikhat's territory
  qualify, seats by largest remainder with the Hare quota, equal remainders to
  the party registered first (input order). No party qualifying is reported as
  `no_qualifying_party` for that maslikhat, not guessed.
- **Single-member seats**: plurality with "against all" on the ballot, exactly
  as `law.single_member_result` under `kz-majilis-2023` (ties and "against all"
  reported, never broken).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from .law import (
    DistrictResult,
    DistrictVotes,
    InvalidVotesError,
    PartyVotes,
    _check_count,
    _check_ids,
    largest_remainder,
    lookup_law,
    single_member_result,
    threshold_base,
)

__all__ = ["MASLIKHAT_LAWS", "MaslikhatVotes", "MaslikhatResult", "maslikhat_results"]

#: law id -> list threshold (share of the voters who took part)
MASLIKHAT_LAWS: Mapping[str, Fraction] = {"kz-maslikhat-2023": Fraction(5, 100)}
#: The single-member rule is the 2023 Mäjilis one (plurality, against all on the ballot).
_SINGLE_MEMBER_LAW = "kz-majilis-2023"


@dataclass(frozen=True)
class MaslikhatVotes:
    """One maslikhat's count: list seats and the parties (registration order), and
    its single-member districts."""

    id: str
    list_seats: int
    parties: Sequence[PartyVotes] = ()
    participated: int | None = None
    against_all: int = 0
    districts: Sequence[DistrictVotes] = ()


@dataclass(frozen=True)
class MaslikhatResult:
    id: str
    seats: dict[str, int]  # party id -> list seats (every party, 0 outside)
    qualified: tuple[str, ...]
    quota: Fraction | None
    participated: int
    list_outcome: str  # "allocated", "no_list" (no list seats) or "no_qualifying_party"
    districts: tuple[DistrictResult, ...]


def _one(threshold: Fraction, m: MaslikhatVotes) -> MaslikhatResult:
    _check_count(f"list_seats of maslikhat {m.id!r}", m.list_seats)
    parties = list(m.parties)
    if m.list_seats and not parties:
        raise InvalidVotesError(f"maslikhat {m.id!r} has {m.list_seats} list seats but no parties")
    if parties and not m.list_seats:
        raise InvalidVotesError(f"maslikhat {m.id!r} lists parties but has no list seats")
    _check_ids(f"party (maslikhat {m.id!r})", [p.id for p in parties])
    for p in parties:
        _check_count(f"votes of party {p.id!r} in maslikhat {m.id!r}", p.votes)
    _check_count(f"against_all in maslikhat {m.id!r}", m.against_all)
    _check_ids(f"district (maslikhat {m.id!r})", [d.district for d in m.districts])
    districts = tuple(single_member_result(_SINGLE_MEMBER_LAW, d) for d in m.districts)
    seats = {p.id: 0 for p in parties}
    if not parties:
        return MaslikhatResult(m.id, seats, (), None, m.participated or 0, "no_list", districts)
    base = threshold_base(parties, m.participated, m.against_all)
    qualified = [
        i for i, p in enumerate(parties)
        if p.votes > 0 and p.votes * threshold.denominator >= threshold.numerator * base
    ]
    if not qualified:
        return MaslikhatResult(m.id, seats, (), None, base, "no_qualifying_party", districts)
    won, _ = largest_remainder([parties[i].votes for i in qualified], m.list_seats)
    for i, s in zip(qualified, won):
        seats[parties[i].id] = s
    quota = Fraction(sum(parties[i].votes for i in qualified), m.list_seats)
    return MaslikhatResult(
        m.id, seats, tuple(parties[i].id for i in qualified), quota, base, "allocated", districts
    )


def maslikhat_results(law_id: str, maslikhats: Sequence[MaslikhatVotes]) -> list[MaslikhatResult]:
    """Each maslikhat's list seats and district winners, in input order."""
    threshold = lookup_law(MASLIKHAT_LAWS, law_id, "unknown maslikhat law {law_id!r}; known: {known}")
    if not maslikhats:
        raise InvalidVotesError("no maslikhats given")
    _check_ids("maslikhat", [m.id for m in maslikhats])
    return [_one(threshold, m) for m in maslikhats]
