"""The paper protocol (`PaperCount`, the `paper` section of a format-4 protocol),
the electronic protocol derived from it, and their control relations.

One signed protocol file holds the three protocols a Kazakh precinct commission
writes: the *combined* protocol is the `Protocol` itself (its `contests` are the
result the commissions add up), the *paper* protocol is its `paper` section (the
hand count), and the *electronic* protocol is the card part: the card counts of
the `Protocol` and `electronic_contests(combined, paper)` = combined minus paper,
option by option (derived, so the parts can never disagree with their sum).

Control relations (stable names, like election/protocol.py's). The law is the
Constitutional Law of the Republic of Kazakhstan of 28 September 1995 No. 2464
"On Elections": voting outside the station and the mobile ballot box, Article 43;
the count and the precinct protocol, Article 44 (and Article 44-1 on electronic
voting where it applies). Point numbers are not given: confirm them against the
current text before quoting them to a commission.

    voters:additional<=on_list           Art. 44: voters on the additional list are among those on the list
    voters:received<=on_list             Art. 44: voters checked in + voted outside <= voters on the list
                                         (checked where checked_in<=on_list holds)
    voters:card+paper<=checked_in        Art. 44 (44-1, confirm): ballots cast by card + paper voters
                                         <= voters checked in (one form of ballot per voter; checked
                                         where cast<=checked_in holds)
    paper:missing                        Art. 44: voters marked as taking paper or voting outside, no paper protocol
    paper:nonnegative:<field>            Art. 44: every paper count >= 0
    paper:received==issued+spoiled+unused  Art. 44: received = issued in the station + issued outside
                                         + spoiled + unused (the unused and spoiled are counted and cancelled)
    paper:issued_in_station==voters_paper  Art. 43 (confirm): one ballot per voter marked in the list
    paper:issued_outside==voters_outside   Art. 43: one ballot per voter marked as voting outside
    paper:issued_outside<=requests       Art. 43: voting outside only on a written request, one ballot each
    paper:found_stationary<=issued_in_station  Art. 44: no more ballots in the stationary box than handed out
    paper:found_mobile<=issued_outside   Art. 43, 44: no more ballots in the mobile box than taken to voters
    paper:contest:<id>:sum==found        Art. 44: votes + against all + invalid = ballots found in the boxes
    paper:contest:<id>:blank==0          Art. 44: an unmarked paper ballot is invalid, not blank
    paper:contest:<id>:duplicate, paper:contest:<id>:nonnegative:<what>
    paper:contest:<id>:missing|unknown|missing_option:<oid>|unknown_option:<oid>
                                         the paper list of contests and options is the combined one
                                         (with the election definition: the precinct's ballot style,
                                         like the combined protocol's `contest:` relations, plus
                                         `not_on_style` and `against_all_not_on_ballot`)
    electronic:contest:<id>:nonnegative:<what>  Art. 44 (44-1, confirm): combined - paper >= 0,
                                         <what> = option:<oid>, against_all, blank, invalid

`paper:contest:<id>:sum==found` is checked on one precinct's protocol only: totals
over precincts with different ballot styles do not carry per-contest paper ballots
(the combined `contest:<id>:sum==cast` against `contest_ballots` covers the totals).

Every relation here is on hand-entered or pollbook figures: they are corrected
before signing, never declared as discrepancies (`UNDECLARABLE_PREFIXES`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol as Shape

from .contest_result import (
    OTHER_COUNTS,
    ContestResult,
    ProtocolFormatError,
    Violation,
    _bound_contests,
    _contests_from_data,
    _keys,
    _object,
    _require_count,
    _require_int,
    _sorted_contests,
    contest_definition_violations,
    contest_sign_violations,
    sum_contests,
)

if TYPE_CHECKING:
    from .definition import Election

#: The paper protocol's counts, in the order of the official form.
PAPER_COUNTS = ("received", "issued_in_station", "issued_outside", "spoiled", "unused", "mobile_requests",
                "found_stationary", "found_mobile")
#: The voter counts format 4 adds to a protocol (top-level, zero when no paper was used).
VOTER_COUNTS = ("voters_additional", "voters_paper", "voters_outside")
#: Relations on hand-entered or pollbook figures: corrected before signing, never declared.
UNDECLARABLE_PREFIXES = ("paper:", "electronic:", "voters:")


@dataclass(frozen=True)
class PaperCount:
    """The paper protocol's figures (each a count, >= 0 by `paper:nonnegative:<field>`)."""

    received: int  # ballots received (sum of the signed acts of receipt)
    issued_in_station: int  # voters handed a paper ballot at the table (one each)
    issued_outside: int  # ballots handed to voters outside (mobile box)
    spoiled: int  # spoiled ballots exchanged (in the station or outside), cancelled
    unused: int  # unused ballots counted and cancelled at close (hand count)
    mobile_requests: int  # written requests to vote outside the station
    found_stationary: int  # paper ballots found in the stationary box (hand count)
    found_mobile: int  # paper ballots found in the mobile box(es) (hand count)
    contests: tuple[ContestResult, ...]  # per contest: every option (0 too), against_all, blank (0), invalid

    def __post_init__(self) -> None:
        for name in PAPER_COUNTS:
            _require_int(f"paper {name}", getattr(self, name))
            _require_count(f"paper {name}", getattr(self, name))
        object.__setattr__(self, "contests", _sorted_contests(self.contests))
        _bound_contests(self.contests, "paper ")

    @property
    def found(self) -> int:
        """Paper ballots found in all the boxes (stationary and mobile)."""
        return self.found_stationary + self.found_mobile

    def to_data(self) -> dict[str, Any]:
        return {**{name: getattr(self, name) for name in PAPER_COUNTS},
                "contests": [c.to_data() for c in self.contests]}

    @classmethod
    def from_data(cls, value: Any) -> PaperCount:
        d = _object(value, "paper")
        _keys(d, "paper", required={*PAPER_COUNTS, "contests"})
        return cls(**{name: d[name] for name in PAPER_COUNTS},
                   contests=_contests_from_data(d["contests"], "paper.contests"))


def sum_paper(papers: Iterable[PaperCount | None]) -> PaperCount | None:
    """The paper sections added up; None when none of them is there."""
    present = [p for p in papers if p is not None]
    if not present:
        return None
    return PaperCount(**{name: sum(getattr(p, name) for p in present) for name in PAPER_COUNTS},
                      contests=sum_contests(p.contests for p in present))


def _offset(c: ContestResult, q: ContestResult, sign: int) -> ContestResult:
    """Contest `c` with contest `q`'s counts added (sign 1) or taken away (sign -1),
    option by option; an option only `q` has counts as 0 in `c`."""
    votes = {oid: n + sign * q.votes.get(oid, 0) for oid, n in c.votes.items()}
    votes.update({oid: sign * n for oid, n in q.votes.items() if oid not in c.votes})
    return ContestResult(c.contest_id, votes, *(getattr(c, w) + sign * getattr(q, w) for w in OTHER_COUNTS))


def electronic_contests(combined: Sequence[ContestResult], paper: PaperCount | None) -> tuple[ContestResult, ...]:
    """The electronic protocol's results: combined minus paper, option by option (a
    paper option absent from the combined counts as 0 there, so it shows negative)."""
    if paper is None:
        return tuple(combined)
    by_id = {c.contest_id: c for c in paper.contests}
    return tuple(c if c.contest_id not in by_id else _offset(c, by_id[c.contest_id], -1) for c in combined)


def combined_contests(electronic: Sequence[ContestResult], paper: PaperCount | None) -> tuple[ContestResult, ...]:
    """The combined results a station signs: the electronic tally plus the paper results,
    option by option (`electronic_contests` gives the electronic part back exactly). A
    paper contest the tally does not have is kept, so the relations name it, not hidden."""
    if paper is None:
        return tuple(electronic)
    by_id = {c.contest_id: c for c in paper.contests}
    known = {c.contest_id for c in electronic}
    return (tuple(c if c.contest_id not in by_id else _offset(c, by_id[c.contest_id], 1) for c in electronic)
            + tuple(q for q in paper.contests if q.contest_id not in known))


class _Counts(Shape):
    """What the relations read of a protocol or of totals."""

    voters_on_list: int
    voters_checked_in: int
    ballots_cast: int
    voters_additional: int
    voters_paper: int
    voters_outside: int
    paper: PaperCount | None
    contests: tuple[ContestResult, ...]


def voter_violations(p: _Counts) -> list[Violation]:
    """The `voters:` relations between the list, the check-ins and the forms of ballot."""
    out: list[Violation] = []
    if p.voters_additional > max(p.voters_on_list, 0):  # a negative list is nonnegative:voters_on_list
        out.append(Violation("voters:additional<=on_list",
                             f"{p.voters_additional} voters on the additional list but {p.voters_on_list} on the list"))
    # each checked where the card relation it extends (checked_in<=on_list, cast<=checked_in) holds,
    # so one wrong line is named once
    if p.voters_checked_in <= p.voters_on_list < p.voters_checked_in + p.voters_outside:
        out.append(Violation("voters:received<=on_list",
                             f"{p.voters_checked_in} checked in + {p.voters_outside} voted outside exceed "
                             f"{p.voters_on_list} voters on the list"))
    if p.ballots_cast <= p.voters_checked_in < p.ballots_cast + p.voters_paper:
        out.append(Violation("voters:card+paper<=checked_in",
                             f"{p.ballots_cast} ballots cast by card + {p.voters_paper} paper voters exceed "
                             f"{p.voters_checked_in} voters checked in"))
    return out


def paper_violations(p: _Counts, election: Election | None = None, style_contests: Sequence[str] | None = None,
                     precinct: int | None = None, per_contest_sum: bool = True) -> list[Violation]:
    """The `paper:` and `electronic:` relations of a protocol (or totals, with
    `per_contest_sum` False); `style_contests` is the precinct's ballot style when the
    election definition is given and knows the precinct."""
    out: list[Violation] = []

    def add(name: str, message: str) -> None:
        out.append(Violation(name, message))

    paper = p.paper
    if paper is None:
        if p.voters_paper or p.voters_outside:
            add("paper:missing", f"{p.voters_paper} voters took a paper ballot and {p.voters_outside} voted outside, "
                                 "but the protocol has no paper section")
        return out
    for name in PAPER_COUNTS:
        if getattr(paper, name) < 0:
            add(f"paper:nonnegative:{name}", f"paper {name} is {getattr(paper, name)}")
    accounted = paper.issued_in_station + paper.issued_outside + paper.spoiled + paper.unused
    if paper.received != accounted:
        add("paper:received==issued+spoiled+unused",
            f"{paper.received} paper ballots received but {paper.issued_in_station} issued in the station + "
            f"{paper.issued_outside} outside + {paper.spoiled} spoiled + {paper.unused} unused = {accounted}")
    if paper.issued_in_station != p.voters_paper:
        add("paper:issued_in_station==voters_paper",
            f"{paper.issued_in_station} paper ballots issued in the station but {p.voters_paper} voters marked paper")
    if paper.issued_outside != p.voters_outside:
        add("paper:issued_outside==voters_outside",
            f"{paper.issued_outside} paper ballots issued outside but {p.voters_outside} voters marked as voting outside")
    if paper.issued_outside > paper.mobile_requests:
        add("paper:issued_outside<=requests",
            f"{paper.issued_outside} paper ballots issued outside but {paper.mobile_requests} written requests")
    if paper.found_stationary > paper.issued_in_station:
        add("paper:found_stationary<=issued_in_station",
            f"{paper.found_stationary} paper ballots in the stationary box but {paper.issued_in_station} issued there")
    if paper.found_mobile > paper.issued_outside:
        add("paper:found_mobile<=issued_outside",
            f"{paper.found_mobile} paper ballots in the mobile box but {paper.issued_outside} issued outside")

    out.extend(contest_sign_violations(paper.contests, "paper:"))
    seen: set[str] = set()
    for c in paper.contests:
        if c.contest_id in seen:
            continue
        seen.add(c.contest_id)
        if c.blank != 0:
            add(f"paper:contest:{c.contest_id}:blank==0",
                f"{c.blank} paper ballots counted blank in contest {c.contest_id!r}: an unmarked paper ballot is invalid")
        if per_contest_sum and c.total != paper.found:
            add(f"paper:contest:{c.contest_id}:sum==found",
                f"paper options {sum(c.votes.values())} + against all {c.against_all} + blank {c.blank} + invalid "
                f"{c.invalid} = {c.total}, but {paper.found} paper ballots found")
    if election is not None:
        out.extend(contest_definition_violations(paper.contests, election, style_contests, precinct, "paper:"))
    else:
        out.extend(_structure_violations(p.contests, paper.contests))

    for c in electronic_contests(p.contests, paper):
        for oid, n in c.votes.items():
            if n < 0:
                add(f"electronic:contest:{c.contest_id}:nonnegative:option:{oid}",
                    f"paper counts {-n} more votes for {oid!r} than the combined protocol")
        for what in OTHER_COUNTS:
            if getattr(c, what) < 0:
                add(f"electronic:contest:{c.contest_id}:nonnegative:{what}",
                    f"paper counts {-getattr(c, what)} more {what} than the combined protocol")
    return out


def _structure_violations(combined: Sequence[ContestResult], paper: Sequence[ContestResult]) -> list[Violation]:
    """Without the definition: the paper protocol lists the combined protocol's contests and options."""
    out: list[Violation] = []
    mine = {c.contest_id: c for c in combined}
    theirs = {c.contest_id: c for c in paper}
    for cid, c in theirs.items():
        other = mine.get(cid)
        if other is None:
            out.append(Violation(f"paper:contest:{cid}:unknown", f"paper contest {cid!r} is not in the combined protocol"))
            continue
        for oid in c.votes:
            if oid not in other.votes:
                out.append(Violation(f"paper:contest:{cid}:unknown_option:{oid}",
                                     f"paper option {oid!r} is not in contest {cid!r} of the combined protocol"))
        for oid in other.votes:
            if oid not in c.votes:
                out.append(Violation(f"paper:contest:{cid}:missing_option:{oid}",
                                     f"option {oid!r} of contest {cid!r} is not in the paper protocol"))
    for cid in mine:
        if cid not in theirs:
            out.append(Violation(f"paper:contest:{cid}:missing", f"contest {cid!r} is not in the paper protocol"))
    return out
