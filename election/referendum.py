"""Kazakh republican referendums: is a question adopted?

The rules (election/README.md, "Republican referendums", cites the articles):

- **Validity**: a referendum is valid when more than half of the citizens entitled
  to take part (those on the lists) took part: `2 * participated > on_list`
  (Constitutional Law "On the Republican Referendum" of 2 Nov 1995). Otherwise the
  outcome is `invalid_turnout` and no question is adopted.
- **A question amending the Constitution** (`constitutional=True`) is adopted when
  more than half of those who took part voted yes in **at least two thirds of the
  regions** (oblasts, cities of republican significance and the capital; the
  referendum law as the CEC cited it, article not confirmed): a region says yes when `2 * yes > participated` in it,
  and the question is adopted when `3 * regions_yes >= 2 * regions`. The regions
  are the ones the input (or the definition's territory) lists: 17 in June 2022,
  20 since the three new oblasts of 8 June 2022; never a constant here.
- **Any other question** is adopted when more than half of those who took part in
  the whole republic voted yes: `2 * yes > participated`, national sums.
- The base is always `participated` (ballots cast, blank and spoiled included),
  never yes + no: a spoiled ballot counts against adoption, as the CEC's 2022 and
  2024 percentages (yes / took part) show.

Arithmetic is exact integers. Regions are reported by id, in the input's order.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .law import InvalidVotesError, UnknownLawError, _check_count, _check_ids

__all__ = [
    "REFERENDUM_LAWS",
    "RegionVotes",
    "ReferendumOutcome",
    "ReferendumResult",
    "referendum_result",
]

#: The law ids `referendum_result` knows.
REFERENDUM_LAWS: tuple[str, ...] = ("kz-referendum",)


@dataclass(frozen=True)
class RegionVotes:
    """One region's count for one question. `on_list` is optional (reported only)."""

    id: str
    participated: int
    yes: int
    no: int
    on_list: int | None = None


class ReferendumOutcome(enum.Enum):
    ADOPTED = "adopted"
    REJECTED = "rejected"
    INVALID_TURNOUT = "invalid_turnout"  # not more than half of those on the lists took part


@dataclass(frozen=True)
class ReferendumResult:
    law: str
    constitutional: bool
    outcome: ReferendumOutcome
    on_list: int
    participated: int
    yes: int
    no: int
    regions: tuple[str, ...]  # every region counted, input order
    regions_yes: tuple[str, ...]  # regions where more than half of those who took part said yes
    regions_needed: int  # regions needed for a constitutional question: ceil(2/3 * regions)

    @property
    def turnout(self) -> Fraction:
        return Fraction(self.participated, self.on_list) if self.on_list else Fraction(0)

    @property
    def yes_share(self) -> Fraction:
        return Fraction(self.yes, self.participated) if self.participated else Fraction(0)

    @property
    def valid(self) -> bool:
        return self.outcome is not ReferendumOutcome.INVALID_TURNOUT


def regions_needed(count: int) -> int:
    """Smallest k with k >= 2/3 * count ("not less than two thirds")."""
    return -((-2 * count) // 3)


def referendum_result(
    law_id: str, constitutional: bool, on_list: int, regions: Sequence[RegionVotes]
) -> ReferendumResult:
    """The outcome of one question. Raises `UnknownLawError` or `InvalidVotesError`
    (negative counts, a region listed twice, yes + no above those who took part,
    more took part than are on the lists)."""
    if law_id not in REFERENDUM_LAWS:
        raise UnknownLawError(f"unknown referendum law {law_id!r}; known: {', '.join(REFERENDUM_LAWS)}")
    if not isinstance(constitutional, bool):
        raise InvalidVotesError(f"constitutional must be true or false, got {constitutional!r}")
    regions = list(regions)
    if not regions:
        raise InvalidVotesError("no regions given")
    _check_count("on_list", on_list)
    ids = [r.id for r in regions]
    _check_ids("region", ids, twice="{kind} {id!r} is listed twice")
    for r in regions:
        where = f"region {r.id!r}"
        for name in ("participated", "yes", "no"):
            _check_count(f"{name} in {where}", getattr(r, name))
        if r.yes + r.no > r.participated:
            raise InvalidVotesError(
                f"{where}: yes ({r.yes}) + no ({r.no}) is more than those who took part ({r.participated})"
            )
        if r.on_list is not None:
            _check_count(f"on_list in {where}", r.on_list)
            if r.participated > r.on_list:
                raise InvalidVotesError(
                    f"{where}: more took part ({r.participated}) than are on the lists ({r.on_list})"
                )
    participated = sum(r.participated for r in regions)
    if participated > on_list:
        raise InvalidVotesError(f"more took part ({participated}) than are on the lists ({on_list})")
    region_lists = [r.on_list for r in regions if r.on_list is not None]
    if len(region_lists) == len(regions) and sum(region_lists) != on_list:
        raise InvalidVotesError(f"the regions' lists add up to {sum(region_lists)}, not on_list ({on_list})")
    yes = sum(r.yes for r in regions)
    no = sum(r.no for r in regions)
    regions_yes = tuple(r.id for r in regions if 2 * r.yes > r.participated)
    needed = regions_needed(len(regions))

    if not 2 * participated > on_list:
        outcome = ReferendumOutcome.INVALID_TURNOUT
    elif constitutional:
        outcome = ReferendumOutcome.ADOPTED if len(regions_yes) >= needed else ReferendumOutcome.REJECTED
    else:
        outcome = ReferendumOutcome.ADOPTED if 2 * yes > participated else ReferendumOutcome.REJECTED
    return ReferendumResult(
        law=law_id, constitutional=constitutional, outcome=outcome, on_list=on_list,
        participated=participated, yes=yes, no=no, regions=tuple(ids), regions_yes=regions_yes,
        regions_needed=needed,
    )
