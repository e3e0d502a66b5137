"""One contest's count (`ContestResult`) and the pieces every section of a protocol
shares: the protocol errors, `Violation`, the count bound, the strict JSON helpers,
and the per-contest control relations (signs, duplicates, the election definition).

The combined protocol (election/protocol.py) and its paper section (election/paper.py)
both list contests this way; the relations here take a name `prefix` ("" for the
combined protocol, "paper:" for the paper one) so each section's failure is named
apart. This module imports nothing else of the protocol, so paper.py and protocol.py
can both build on it without an import cycle; protocol.py re-exports every public name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the definition is only read
    from .definition import Election

#: No count of one precinct exceeds this (Kazakhstan has about 12 million voters;
#: a precinct at most a few thousand). 10**8 * (2**32 - 1) precincts < 2**63.
MAX_PRECINCT_COUNT = 10**8
#: The counts of a contest besides its options, in the order relations name them.
OTHER_COUNTS = ("against_all", "blank", "invalid")


class ProtocolError(ValueError):
    """Base of the protocol errors."""


class ProtocolFormatError(ProtocolError):
    """Protocol bytes or fields are malformed (not a control-relation question).

    `reason` names the refusal: `format`, or a bound (`too_large`, `too_deep`,
    `count_out_of_range`; see election/protocol.py)."""

    def __init__(self, message: str, reason: str = "format"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Violation:
    name: str  # stable relation name, see election/protocol.py and election/paper.py
    message: str  # the numbers, for people


class ProtocolViolationError(ProtocolError):
    """The protocol breaks control relations; `violations` lists each one."""

    def __init__(self, violations: Sequence[Violation]):
        self.violations = tuple(violations)
        super().__init__(
            "protocol violates control relations:\n" + "\n".join(f"  {v.name}: {v.message}" for v in self.violations)
        )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_int(what: str, value: object) -> None:
    if not _is_int(value):
        raise ProtocolFormatError(f"{what} must be an integer, got {value!r}")


def _require_count(what: str, value: int) -> None:
    """A precinct's count is within +-MAX_PRECINCT_COUNT (its sign is a control relation)."""
    if not -MAX_PRECINCT_COUNT <= value <= MAX_PRECINCT_COUNT:
        raise ProtocolFormatError(
            f"{what} is {value:,}: beyond any precinct (a count is at most {MAX_PRECINCT_COUNT:,})",
            reason="count_out_of_range",
        )


def _require_str(what: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ProtocolFormatError(f"{what} must be a non-empty string, got {value!r}")


@dataclass(frozen=True)
class ContestResult:
    """One contest's count: votes per option id, against all, blank, invalid."""

    contest_id: str
    votes: Mapping[str, int]
    against_all: int = 0
    blank: int = 0
    invalid: int = 0

    def __post_init__(self) -> None:
        _require_str("contest id", self.contest_id)
        if not isinstance(self.votes, Mapping):
            raise ProtocolFormatError(f"contest {self.contest_id!r}: votes must be a mapping")
        for oid, n in self.votes.items():
            _require_str(f"contest {self.contest_id!r}: option id", oid)
            _require_int(f"contest {self.contest_id!r}: votes for {oid!r}", n)
        for name in OTHER_COUNTS:
            _require_int(f"contest {self.contest_id!r}: {name}", getattr(self, name))
        object.__setattr__(self, "votes", dict(sorted(self.votes.items())))

    @property
    def total(self) -> int:
        return sum(self.votes.values()) + self.against_all + self.blank + self.invalid

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.contest_id,
            "votes": dict(self.votes),
            "against_all": self.against_all,
            "blank": self.blank,
            "invalid": self.invalid,
        }


def _find_contest(contests: Iterable[ContestResult], contest_id: str, where: str) -> ContestResult:
    """The contest named `contest_id`; KeyError naming `where` when it is not there."""
    for c in contests:
        if c.contest_id == contest_id:
            return c
    raise KeyError(f"contest {contest_id!r} is not in {where}")


def _sorted_contests(contests: Iterable[ContestResult]) -> tuple[ContestResult, ...]:
    contests = tuple(contests)
    for c in contests:
        if not isinstance(c, ContestResult):
            raise ProtocolFormatError(f"contests must be ContestResult, got {type(c).__name__}")
    return tuple(sorted(contests, key=lambda c: c.contest_id))


def _bound_contests(contests: Iterable[ContestResult], where: str = "") -> None:
    """Every count of every contest within +-MAX_PRECINCT_COUNT."""
    for c in contests:
        for oid, n in c.votes.items():
            _require_count(f"{where}contest {c.contest_id!r}: votes for {oid!r}", n)
        for name in OTHER_COUNTS:
            _require_count(f"{where}contest {c.contest_id!r}: {name}", getattr(c, name))


def sum_contests(sections: Iterable[Iterable[ContestResult]]) -> tuple[ContestResult, ...]:
    """Contest results added option by option over several protocols (or sections)."""
    votes: dict[str, dict[str, int]] = {}
    others: dict[str, list[int]] = {}
    for contests in sections:
        for c in contests:
            v = votes.setdefault(c.contest_id, {})
            for oid, n in c.votes.items():
                v[oid] = v.get(oid, 0) + n
            o = others.setdefault(c.contest_id, [0, 0, 0])
            for i, name in enumerate(OTHER_COUNTS):
                o[i] += getattr(c, name)
    return tuple(ContestResult(cid, votes[cid], *others[cid]) for cid in sorted(votes))


# --- strict JSON helpers ------------------------------------------------------------


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolFormatError(f"{what} must be a JSON object")
    return value


def _keys(d: Mapping[str, Any], what: str, required: set[str], optional: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    missing = sorted(required - set(d))
    if missing:
        raise ProtocolFormatError(f"{what}: missing key(s) {', '.join(missing)}")
    unknown = sorted(set(d) - required - optional)
    if unknown:
        raise ProtocolFormatError(f"{what}: unknown key(s) {', '.join(unknown)}")


def _contests_from_data(value: Any, where: str = "contests") -> tuple[ContestResult, ...]:
    if not isinstance(value, list):
        raise ProtocolFormatError(f"{where} must be a JSON list")
    out = []
    for i, item in enumerate(value):
        c = _object(item, f"{where}[{i}]")
        _keys(c, f"{where}[{i}]", required={"id", "votes", "against_all", "blank", "invalid"})
        out.append(
            ContestResult(
                contest_id=c["id"],
                votes=_object(c["votes"], f"{where}[{i}].votes"),
                against_all=c["against_all"],
                blank=c["blank"],
                invalid=c["invalid"],
            )
        )
    return tuple(out)


# --- per-contest relations ------------------------------------------------------------


def contest_sign_violations(contests: Iterable[ContestResult], prefix: str = "") -> list[Violation]:
    """`<prefix>contest:<id>:duplicate` and `<prefix>contest:<id>:nonnegative:<what>`
    (<what> = option:<oid>, against_all, blank, invalid), in contest order."""
    out: list[Violation] = []
    seen: set[str] = set()
    for c in contests:
        cid = c.contest_id
        if cid in seen:
            out.append(Violation(f"{prefix}contest:{cid}:duplicate", f"contest {cid!r} appears more than once"))
            continue
        seen.add(cid)
        for oid, n in c.votes.items():
            if n < 0:
                out.append(Violation(f"{prefix}contest:{cid}:nonnegative:option:{oid}", f"option {oid!r} has {n} votes"))
        for what in OTHER_COUNTS:
            if getattr(c, what) < 0:
                out.append(Violation(f"{prefix}contest:{cid}:nonnegative:{what}", f"{what} is {getattr(c, what)}"))
    return out


def contest_definition_violations(
    contests: Sequence[ContestResult], election: Election, style_contests: Sequence[str] | None,
    precinct: int | None, prefix: str = "",
) -> list[Violation]:
    """The contests against the election definition: `<prefix>contest:<id>:unknown`,
    `:not_on_style`, `:unknown_option:<oid>`, `:missing_option:<oid>`,
    `:against_all_not_on_ballot`, and `:missing` for a contest of the precinct's
    ballot style (`style_contests`, None when unknown) the list leaves out."""
    out: list[Violation] = []

    def add(name: str, message: str) -> None:
        out.append(Violation(prefix + name, message))

    known_contests = {c.id: c for c in election.contests}
    present = {c.contest_id for c in contests}
    for c in contests:
        cid = c.contest_id
        contest = known_contests.get(cid)
        if contest is None:
            add(f"contest:{cid}:unknown", f"contest {cid!r} is not in election {election.id}")
            continue
        if style_contests is not None and cid not in style_contests:
            add(f"contest:{cid}:not_on_style", f"contest {cid!r} is not on the ballot style of precinct {precinct}")
        options = [o.id for o in election.options(cid)]
        for oid in c.votes:
            if oid not in options:
                add(f"contest:{cid}:unknown_option:{oid}", f"option {oid!r} is not in contest {cid!r}")
        for oid in options:
            if oid not in c.votes:
                add(f"contest:{cid}:missing_option:{oid}", f"option {oid!r} of contest {cid!r} is not in the protocol")
        if c.against_all and not contest.against_all:
            add(
                f"contest:{cid}:against_all_not_on_ballot",
                f"contest {cid!r} has no 'against all' but the protocol counts {c.against_all}",
            )
    for cid in style_contests or ():
        if cid not in present:
            add(f"contest:{cid}:missing", f"contest {cid!r} is on the ballot style but not in the protocol")
    return out
