"""Kazakh electoral law for the Mäjilis: party-list seat allocation and
single-member plurality (DESIGN.md section 6).

Every law in `LAWS` allocates its list seats the same way: the parties whose
votes reach the threshold (a share of the voters who took part) qualify; the
Hare quota is the qualifying parties' votes divided by the list seats; each
qualifying party gets the whole part of votes / quota, and the seats left over go
one each to the largest remainders, equal remainders to the party registered
first. Arithmetic is exact (integers and `Fraction`), never floating point, so a
party at 6.9999999 % is under a 7 % threshold and two remainders are equal only
when they are equal.

Readings of the law where its text leaves room (each is a choice, named here and
in election/README.md so a commission can check it against the text it applies):

- Threshold: a party qualifies when votes / participated >= threshold ("not less
  than 7 per cent"), compared exactly as `100 * votes >= 7 * participated`. A
  party with no votes never qualifies (matters only when nobody took part).
- Threshold base: `participated`, the voters who took part in the vote (ballots
  cast, including blank and invalid ones). When it is not given it defaults to
  the party votes plus "against all": the smallest base the counts allow.
  "Against all" (2023) is a vote cast, so it is in the threshold base; it is not a
  party, so it is not in the quota.
- 2009 runner-up rule: when exactly one party reaches the threshold, the party
  with the next most votes also takes part in the allocation (and so in the
  quota) and gets at least 2 seats. "At least 2" is a floor, not a fixed number:
  if its largest-remainder share is already >= 2 it keeps that share; if it is
  below 2 it is raised to 2 and the difference is taken from the leader, the only
  other party in the allocation. A tie for runner-up goes to the party registered
  first (the same tie rule the law gives for remainders). A runner-up must have
  at least one vote; if no other party has any, the leader takes every seat.
- No qualifying party at all (possible only in theory, and the 2009 rule speaks
  only of "one party"): the law gives no allocation, so `NoQualifyingPartyError`.
- 2023 single-member districts: plurality; a candidate is elected only with
  strictly more votes than every other candidate and than "against all". A tie
  between candidates is reported (`DistrictOutcome.TIE`), never broken by lot or
  order here; "against all" at or above the best candidate is reported as
  `AGAINST_ALL` (the commission then applies the law's repeat-election rule).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import TypeVar


class LawError(ValueError):
    """Base of every error raised by the law engine (bad input or no result in law)."""


class UnknownLawError(LawError):
    """The law id is not in `LAWS`."""


class InvalidVotesError(LawError):
    """The counts given cannot be real: negative votes, duplicate ids, a
    participation smaller than the votes cast, "against all" under a law without it."""


class NoQualifyingPartyError(LawError):
    """No party reaches the threshold: the law allocates no list seats."""


@dataclass(frozen=True)
class Law:
    """One electoral law: how many seats, which threshold, which extra rules."""

    id: str
    title: str
    list_seats: int
    threshold: Fraction  # share of `participated` a party needs, e.g. 7/100
    single_member_seats: int = 0
    against_all: bool = False  # "against all" is on the ballot
    runner_up_min_seats: int = 0  # > 0: the 2009 one-party rule with this floor

    @property
    def total_seats(self) -> int:
        return self.list_seats + self.single_member_seats


LAWS: Mapping[str, Law] = MappingProxyType(
    {
        law.id: law
        for law in (
            Law(
                id="kz-majilis-2007",
                title="Mäjilis, 98 party-list seats, 7 % threshold (2007)",
                list_seats=98,
                threshold=Fraction(7, 100),
            ),
            Law(
                id="kz-majilis-2009",
                title="Mäjilis, 98 party-list seats, 7 % threshold, runner-up rule (2009-2021)",
                list_seats=98,
                threshold=Fraction(7, 100),
                runner_up_min_seats=2,
            ),
            Law(
                id="kz-majilis-2023",
                title="Mäjilis, 69 party-list seats at 5 % + 29 single-member districts (2023)",
                list_seats=69,
                threshold=Fraction(5, 100),
                single_member_seats=29,
                against_all=True,
            ),
        )
    }
)


_V = TypeVar("_V")


def lookup_law(table: Mapping[str, _V], law_id: str, refusal: str) -> _V:
    """`table[law_id]`, else `UnknownLawError` worded by `refusal`, a format string
    given `law_id` and `known` (the table's ids, sorted, comma-separated). The one
    lookup behind each kind of law's getter; each kind keeps its own words."""
    try:
        return table[law_id]
    except KeyError:
        raise UnknownLawError(refusal.format(law_id=law_id, known=", ".join(sorted(table)))) from None


def get_law(law_id: str) -> Law:
    return lookup_law(LAWS, law_id, "unknown law {law_id!r}; known laws: {known}")


@dataclass(frozen=True)
class PartyVotes:
    """One party list's votes; a sequence of these is in registration order."""

    id: str
    votes: int


@dataclass(frozen=True)
class ListAllocation:
    """The party-list result. Dicts and lists keep registration order."""

    law: Law
    seats: dict[str, int]  # every party, 0 for those outside the allocation
    qualified: list[str]  # parties in the allocation (with a 2009 runner-up)
    quota: Fraction  # Hare quota: qualifying votes / list seats
    participated: int  # the threshold base actually used
    threshold_votes: Fraction  # votes a party needed: threshold * participated
    shares: dict[str, Fraction] = field(default_factory=dict)  # votes / quota, qualified only
    remainder_seats: list[str] = field(default_factory=list)  # got a seat on remainder, in award order
    runner_up: str | None = None  # admitted by the 2009 one-party rule

    @property
    def total(self) -> int:
        return sum(self.seats.values())


def _check_count(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidVotesError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise InvalidVotesError(f"{what} must not be negative, got {value}")
    return value


def _check_ids(kind: str, ids: Sequence[object], *, twice: str = "duplicate {kind} id {id!r}") -> None:
    """Every id a non-empty string, none twice (`twice` words the refusal)."""
    seen: set[object] = set()
    for i in ids:
        if not isinstance(i, str) or not i:
            raise InvalidVotesError(f"{kind} id must be a non-empty string, got {i!r}")
        if i in seen:
            raise InvalidVotesError(twice.format(kind=kind, id=i))
        seen.add(i)


def threshold_base(parties: Sequence[PartyVotes], participated: int | None, against_all: int = 0) -> int:
    """The number the threshold is a share of; validates `participated` against the votes."""
    cast = sum(p.votes for p in parties) + against_all
    if participated is None:
        return cast
    _check_count("participated", participated)
    if participated < cast:
        raise InvalidVotesError(
            f"participated ({participated}) is less than the votes cast for parties"
            f"{' and against all' if against_all else ''} ({cast})"
        )
    return participated


def _validate(law: Law, parties: Sequence[PartyVotes], against_all: int) -> None:
    if not parties:
        raise InvalidVotesError("no parties given")
    _check_ids("party", [p.id for p in parties])
    for p in parties:
        _check_count(f"votes of party {p.id!r}", p.votes)
    _check_count("against_all", against_all)
    if against_all and not law.against_all:
        raise InvalidVotesError(f"law {law.id} has no 'against all' on the ballot, got {against_all} such votes")


def largest_remainder(votes: Sequence[int], seats: int) -> tuple[list[int], list[int]]:
    """Hamilton / Hare largest remainder over `votes` (in registration order).

    Returns (seats per entry, indexes that got a remainder seat in award order).
    Equal remainders go to the lower index, i.e. the party registered first.
    """
    total = sum(votes)
    if total <= 0:
        raise NoQualifyingPartyError("largest remainder needs at least one vote")
    # votes / quota = votes * seats / total; divmod keeps it in integers.
    parts = [divmod(v * seats, total) for v in votes]
    result = [whole for whole, _ in parts]
    left = seats - sum(result)
    order = sorted(range(len(votes)), key=lambda i: (-parts[i][1], i))
    awarded = order[:left]
    for i in awarded:
        result[i] += 1
    return result, awarded


def allocate_list_seats(
    law_id: str,
    parties: Sequence[PartyVotes],
    participated: int | None = None,
    against_all: int = 0,
) -> ListAllocation:
    """Allocate the law's party-list seats; `parties` in registration order.

    `participated` is the number of voters who took part (the threshold base);
    None means the party votes plus `against_all`. Raises `UnknownLawError`,
    `InvalidVotesError` or `NoQualifyingPartyError`.
    """
    law = get_law(law_id)
    parties = list(parties)
    _validate(law, parties, against_all)
    base = threshold_base(parties, participated, against_all)
    t = law.threshold
    qualified_idx = [
        i for i, p in enumerate(parties) if p.votes > 0 and p.votes * t.denominator >= t.numerator * base
    ]

    runner_up: int | None = None
    if law.runner_up_min_seats and len(qualified_idx) == 1:
        others = [i for i, p in enumerate(parties) if i not in qualified_idx and p.votes > 0]
        if others:
            # most votes; among equals the party registered first
            runner_up = min(others, key=lambda i: (-parties[i].votes, i))
            qualified_idx = sorted(qualified_idx + [runner_up])

    if not qualified_idx:
        raise NoQualifyingPartyError(
            f"no party reached the {_percent(t)} threshold of {base} voters who took part; "
            f"law {law.id} allocates no list seats"
        )

    q_votes = [parties[i].votes for i in qualified_idx]
    q_seats, awarded = largest_remainder(q_votes, law.list_seats)
    seats = {p.id: 0 for p in parties}
    for i, s in zip(qualified_idx, q_seats):
        seats[parties[i].id] = s

    if runner_up is not None:
        ru_id = parties[runner_up].id
        deficit = law.runner_up_min_seats - seats[ru_id]
        if deficit > 0:
            leader_id = next(parties[i].id for i in qualified_idx if i != runner_up)
            seats[ru_id] += deficit
            seats[leader_id] -= deficit

    q_total = sum(q_votes)
    quota = Fraction(q_total, law.list_seats)
    return ListAllocation(
        law=law,
        seats=seats,
        qualified=[parties[i].id for i in qualified_idx],
        quota=quota,
        participated=base,
        threshold_votes=t * base,
        shares={parties[i].id: Fraction(parties[i].votes * law.list_seats, q_total) for i in qualified_idx},
        remainder_seats=[parties[qualified_idx[j]].id for j in awarded],
        runner_up=None if runner_up is None else parties[runner_up].id,
    )


def _percent(f: Fraction) -> str:
    pct = f * 100
    return f"{pct.numerator}" + ("" if pct.denominator == 1 else f"/{pct.denominator}") + " %"


# --- single-member districts -------------------------------------------------


@dataclass(frozen=True)
class CandidateVotes:
    id: str
    votes: int


@dataclass(frozen=True)
class DistrictVotes:
    """One single-member district's count: candidates in ballot order, against all."""

    district: str
    candidates: Sequence[CandidateVotes]
    against_all: int = 0


class DistrictOutcome(enum.Enum):
    ELECTED = "elected"
    TIE = "tie"  # two or more candidates share the most votes: reported, not broken
    AGAINST_ALL = "against_all"  # "against all" at or above the best candidate
    NO_VOTES = "no_votes"  # nobody received a vote


@dataclass(frozen=True)
class DistrictResult:
    district: str
    outcome: DistrictOutcome
    winner: str | None  # set only when outcome is ELECTED
    tied: tuple[str, ...]  # the candidates sharing the most votes (one when ELECTED)
    top_votes: int
    against_all: int


def single_member_result(law_id: str, district: DistrictVotes) -> DistrictResult:
    """Plurality in one district; see the module docstring for ties and "against all"."""
    law = get_law(law_id)
    if not law.single_member_seats:
        raise LawError(f"law {law.id} has no single-member districts")
    if not district.district:
        raise InvalidVotesError("district id must be a non-empty string")
    if not district.candidates:
        raise InvalidVotesError(f"district {district.district!r} has no candidates")
    _check_ids("candidate", [c.id for c in district.candidates])
    for c in district.candidates:
        _check_count(f"votes of candidate {c.id!r} in district {district.district!r}", c.votes)
    against = _check_count(f"against_all in district {district.district!r}", district.against_all)
    if against and not law.against_all:
        raise InvalidVotesError(f"law {law.id} has no 'against all' on the ballot")

    top = max(c.votes for c in district.candidates)
    leaders = tuple(c.id for c in district.candidates if c.votes == top)
    if top == 0 and against == 0:
        outcome = DistrictOutcome.NO_VOTES
    elif against >= top:
        outcome = DistrictOutcome.AGAINST_ALL
    elif len(leaders) > 1:
        outcome = DistrictOutcome.TIE
    else:
        outcome = DistrictOutcome.ELECTED
    return DistrictResult(
        district=district.district,
        outcome=outcome,
        winner=leaders[0] if outcome is DistrictOutcome.ELECTED else None,
        tied=leaders,
        top_votes=top,
        against_all=against,
    )


def single_member_winners(law_id: str, districts: Sequence[DistrictVotes]) -> list[DistrictResult]:
    """Plurality in each district, in the order given. At most the law's number of
    districts, each named once; ties and "against all" are reported per district."""
    law = get_law(law_id)
    if not law.single_member_seats:
        raise LawError(f"law {law.id} has no single-member districts")
    if len(districts) > law.single_member_seats:
        raise InvalidVotesError(
            f"law {law.id} has {law.single_member_seats} single-member districts, got {len(districts)}"
        )
    _check_ids("district", [d.district for d in districts])
    return [single_member_result(law_id, d) for d in districts]
