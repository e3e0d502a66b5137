"""The paper ballots' hand count at close, entered twice by two different members
(issue 13, item 4; Constitutional Law "On Elections", Art. 44: the commission
counts the paper ballots by hand, the mobile box first, then the stationary box).

What the members count by hand is a `HandCount`: the unused paper ballots
(counted and cancelled), the ballots found in the stationary box and in the
mobile box(es), and per contest the paper results: votes for every option of
the precinct's style (0 too), against all (only when the contest has it on its
ballot) and invalid ones. A paper ballot has no "blank": an unmarked paper
ballot is invalid (relation `paper:contest:<id>:blank==0`), so a hand count
carries no blank and its `ContestResult`s always say 0 there.

Each figure is one *line*, named by a stable key, the same key the wall copy
numbers (`wallcopy.py`): ``unused``, ``found_stationary``, ``found_mobile``,
``contest:<id>:option:<oid>``, ``contest:<id>:against_all``,
``contest:<id>:invalid``. Two entries are compared line by line
(`compare`): the lines whose figures differ, in line order, and nothing else.

Double entry (`hand_count_state`): each member's entry is kept under the
member's key id, one per member (a re-entry replaces the member's own), so the
same member entering twice is still one entry. The count is agreed when at
least two members entered and every entry is the same; otherwise the state
lists the differing lines (of the first entry against the first that differs
from it), and the station refuses to sign (`close.py`).

Each entry is chained in the audit log (`hand_count_entered`: the member's key id,
the SHA-256 of the entry's canonical JSON, and whether the count now agrees), in
the transaction that stores it.

Canonical JSON (`to_json_bytes`, what the station stores and what
`sailau station hand-count --count FILE` reads): sorted keys, no whitespace,
UTF-8; read back with the bounded strict parser (`parse_hand_count`: size,
depth, integers only, no duplicate key, every key known, every count in
0..`MAX_COUNT`), optionally checked against the election's ballot style
(`check_against`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from sailau.election import jsonfile
from sailau.election.canonical import canonical_json
from sailau.election.definition import Election
from sailau.election.protocol import ContestResult

from . import audit
from .audit import AuditDraft, AuditKind
from .db import StationDB
from .models import HandCountEntryRow, PollsState, StationMemberRow
from .store import require_state

__all__ = [
    "HAND_COUNT_FORMAT",
    "HAND_COUNT_VERSION",
    "HandCount",
    "HandCountDifference",
    "HandCountError",
    "HandCountState",
    "NotAMember",
    "compare",
    "hand_count_state",
    "parse_hand_count",
    "store_entry",
    "stored_state",
]

HAND_COUNT_FORMAT = "sailau/hand-count"
HAND_COUNT_VERSION = 1
#: a precinct has at most a few thousand voters; a count above this is a typo or an attack
MAX_COUNT = 10**6
MAX_CONTESTS = 64
MAX_OPTIONS = 1000
MAX_HAND_COUNT_BYTES = 256 * 1024
#: the precinct lines of a hand count, in the form's order
PRECINCT_KEYS = ("unused", "found_stationary", "found_mobile")


class HandCountError(ValueError):
    """A hand count that cannot be one (the message names the line and why)."""


def _count(what: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise HandCountError(f"{what} must be a whole number, got {value!r}")
    if not 0 <= value <= MAX_COUNT:
        raise HandCountError(f"{what} must be between 0 and {MAX_COUNT}, got {value}")
    return value


@dataclass(frozen=True)
class HandCount:
    """What the members counted by hand (see the module doc). Contests sorted by id,
    votes by option id; every count 0..MAX_COUNT; blank always 0."""

    unused: int
    found_stationary: int
    found_mobile: int
    contests: tuple[ContestResult, ...]

    def __post_init__(self) -> None:
        for key in PRECINCT_KEYS:
            _count(key, getattr(self, key))
        contests = tuple(self.contests)
        if len(contests) > MAX_CONTESTS:
            raise HandCountError(f"at most {MAX_CONTESTS} contests, got {len(contests)}")
        seen: set[str] = set()
        for c in contests:
            if not isinstance(c, ContestResult):
                raise HandCountError(f"contests must be ContestResult, got {type(c).__name__}")
            if c.contest_id in seen:
                raise HandCountError(f"contest {c.contest_id} is listed twice")
            seen.add(c.contest_id)
            if len(c.votes) > MAX_OPTIONS:
                raise HandCountError(f"contest {c.contest_id}: at most {MAX_OPTIONS} options")
            for oid, n in c.votes.items():
                _count(f"contest {c.contest_id}: votes for {oid}", n)
            _count(f"contest {c.contest_id}: against all", c.against_all)
            _count(f"contest {c.contest_id}: invalid", c.invalid)
            if c.blank != 0:
                raise HandCountError(f"contest {c.contest_id}: a paper ballot has no blank (an unmarked one is invalid)")
        object.__setattr__(self, "contests", tuple(sorted(contests, key=lambda c: c.contest_id)))

    def contest(self, contest_id: str) -> ContestResult:
        for c in self.contests:
            if c.contest_id == contest_id:
                return c
        raise KeyError(f"contest {contest_id!r} is not in the hand count")

    @property
    def found(self) -> int:
        """Paper ballots found in the boxes (stationary + mobile)."""
        return self.found_stationary + self.found_mobile

    def lines(self) -> list[tuple[str, int]]:
        """Every figure as (line key, count), in line order (module doc)."""
        out = [(key, getattr(self, key)) for key in PRECINCT_KEYS]
        for c in self.contests:
            out += [(f"contest:{c.contest_id}:option:{oid}", n) for oid, n in c.votes.items()]
            out += [(f"contest:{c.contest_id}:against_all", c.against_all),
                    (f"contest:{c.contest_id}:invalid", c.invalid)]
        return out

    def to_data(self) -> dict[str, Any]:
        return {
            "format": HAND_COUNT_FORMAT, "version": HAND_COUNT_VERSION,
            **{key: getattr(self, key) for key in PRECINCT_KEYS},
            "contests": [{"id": c.contest_id, "votes": dict(c.votes), "against_all": c.against_all,
                          "invalid": c.invalid} for c in self.contests],
        }

    def to_json_bytes(self) -> bytes:
        """Canonical JSON (sorted keys, no whitespace, UTF-8)."""
        return canonical_json(self.to_data())

    def check_against(self, election: Election, style: str) -> None:
        """Every contest of the style, every option of each (0 too), nothing else;
        against all only where the contest has it. `HandCountError` names the first
        line that is wrong."""
        wanted = {c.id: c for c in election.contests_for_style(style)}
        got = {c.contest_id: c for c in self.contests}
        for cid in sorted(set(got) - set(wanted)):
            raise HandCountError(f"contest {cid} is not on this precinct's ballot")
        for cid, definition in wanted.items():
            if cid not in got:
                raise HandCountError(f"contest {cid} is missing from the hand count")
            options = {o.id for o in election.options(cid)}
            votes = set(got[cid].votes)
            for oid in sorted(votes - options):
                raise HandCountError(f"contest {cid}: option {oid} is not on the ballot")
            for oid in sorted(options - votes):
                raise HandCountError(f"contest {cid}: option {oid} is missing (count 0 too)")
            if not definition.against_all and got[cid].against_all:
                raise HandCountError(f"contest {cid}: 'against all' is not on this ballot")

    @classmethod
    def zero(cls, election: Election, style: str) -> HandCount:
        """An all-zero hand count of the style's contests (the form the members fill in)."""
        return cls(0, 0, 0, tuple(ContestResult(c.id, {o.id: 0 for o in election.options(c.id)})
                                  for c in election.contests_for_style(style)))


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise HandCountError(f"{what} must be an object")
    return value


def _keys(d: Mapping[str, Any], what: str, required: set[str]) -> None:
    unknown, missing = sorted(set(d) - required), sorted(required - set(d))
    if unknown:
        raise HandCountError(f"{what}: unknown key(s) {', '.join(unknown)}")
    if missing:
        raise HandCountError(f"{what}: missing {', '.join(missing)}")


def hand_count_from_data(data: Any) -> HandCount:
    d = _object(data, "hand count")
    _keys(d, "hand count", {"format", "version", *PRECINCT_KEYS, "contests"})
    if not isinstance(d["contests"], list) or len(d["contests"]) > MAX_CONTESTS:
        raise HandCountError(f"contests must be a list of at most {MAX_CONTESTS}")
    contests = []
    for i, c in enumerate(d["contests"]):
        c = _object(c, f"contests[{i}]")
        _keys(c, f"contests[{i}]", {"id", "votes", "against_all", "invalid"})
        if not isinstance(c["id"], str) or not c["id"]:
            raise HandCountError(f"contests[{i}]: id must be a contest id")
        votes = _object(c["votes"], f"contest {c['id']}: votes")
        if len(votes) > MAX_OPTIONS:
            raise HandCountError(f"contest {c['id']}: at most {MAX_OPTIONS} options")
        for oid, n in votes.items():
            if not oid:
                raise HandCountError(f"contest {c['id']}: an option id must not be empty")
            _count(f"contest {c['id']}: votes for {oid}", n)
        contests.append(ContestResult(c["id"], votes, against_all=_count(f"contest {c['id']}: against all", c["against_all"]),
                                      invalid=_count(f"contest {c['id']}: invalid", c["invalid"])))
    return HandCount(*(_count(key, d[key]) for key in PRECINCT_KEYS), contests=tuple(contests))  # type: ignore[misc]


def parse_hand_count(raw: bytes, subject: str = "hand count", election: Election | None = None,
                     style: str | None = None) -> HandCount:
    """A hand count from its JSON bytes (any key order or spacing), bounded and strict;
    with `election` and `style`, checked against the ballot too. `HandCountError`
    names what is wrong, never a traceback."""
    try:
        data = jsonfile.parse_headed(raw, subject, HAND_COUNT_FORMAT, HAND_COUNT_VERSION,
                                     max_bytes=MAX_HAND_COUNT_BYTES, what="a hand count")
    except jsonfile.InputError as exc:
        raise HandCountError(f"hand count refused ({exc.reason}): {exc}") from None
    try:
        count = hand_count_from_data(data)
        if election is not None and style is not None:
            count.check_against(election, style)
    except HandCountError as exc:
        raise HandCountError(f"{subject}: {exc}") from None
    return count


@dataclass(frozen=True)
class HandCountDifference:
    """One line on which two entries differ: its key and each entry's figure (None: the
    line is not in that entry). The label in a language is `wallcopy.line_label`."""

    line_key: str
    first: int | None
    second: int | None


def compare(first: HandCount, second: HandCount) -> tuple[HandCountDifference, ...]:
    """The lines whose figures differ, in line order (first's lines, then any only in second)."""
    a, b = dict(first.lines()), dict(second.lines())
    keys = [k for k, _ in first.lines()] + [k for k, _ in second.lines() if k not in a]
    return tuple(HandCountDifference(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k))


@dataclass(frozen=True)
class HandCountState:
    """Where the double entry stands: who entered (member key ids, sorted), the agreed
    count (None until two or more members entered the same figures) and, when entries
    disagree, the lines that differ."""

    entries: tuple[bytes, ...]
    agreed: HandCount | None
    differences: tuple[HandCountDifference, ...]

    @property
    def needed(self) -> int:
        """Entries still needed before the count can agree (0 once two members entered)."""
        return max(0, 2 - len(self.entries))


def hand_count_state(entries: Mapping[bytes, HandCount] | Iterable[tuple[bytes, HandCount]]) -> HandCountState:
    """The state of the double entry from each member's entry (one per key id: a later
    entry of the same member replaces the earlier)."""
    by_member: dict[bytes, HandCount] = dict(entries.items() if isinstance(entries, Mapping) else entries)
    members = tuple(sorted(by_member))
    counts: Sequence[HandCount] = [by_member[m] for m in members]
    if not counts:
        return HandCountState((), None, ())
    first = counts[0]
    other = next((c for c in counts[1:] if c != first), None)
    if other is not None:
        return HandCountState(members, None, compare(first, other))
    return HandCountState(members, first if len(counts) >= 2 else None, ())


# --- the entries in the station's storage (``hand_count_entries``, migration 0005) -----------------


class NotAMember(LookupError):
    """The key id is not one of the station's members (`Refusal.NOT_A_MEMBER`)."""


def store_entry(db: StationDB, member_key_id: bytes, count: HandCount) -> HandCountState:
    """Store `count` as the member's entry (replacing their own earlier one) and return the
    state of the double entry. Only once voting has ended (polls closed): the boxes are
    opened after the end of voting. Raises `NotAMember`, `WrongPollsState`."""
    data = count.to_json_bytes().decode("utf-8")
    with db.write() as session:
        require_state(session, "enter the hand count", PollsState.CLOSED)
        if session.get(StationMemberRow, member_key_id) is None:
            raise NotAMember(f"key {member_key_id.hex()} is not a member of this precinct's commission")
        row = session.get(HandCountEntryRow, member_key_id)
        if row is None:
            session.add(HandCountEntryRow(member_key_id=member_key_id, data=data))
        else:
            row.data = data
        session.flush()
        rows = session.scalars(select(HandCountEntryRow)).all()
        state = hand_count_state([(bytes(r.member_key_id), _stored(r.data)) for r in rows])
        outcome = "agreed" if state.agreed is not None else "differs" if state.differences else "entered"
        audit.append(session, AuditDraft(AuditKind.HAND_COUNT_ENTERED, {
            "member": member_key_id.hex(), "entry_sha256": hashlib.sha256(data.encode("utf-8")).hexdigest(),
            "state": outcome}), db.clock())
        return state


def stored_state(db: StationDB) -> HandCountState:
    """The state of the double entry as stored."""
    with db.read() as session:
        rows = session.scalars(select(HandCountEntryRow)).all()
        return hand_count_state([(bytes(r.member_key_id), _stored(r.data)) for r in rows])


def _stored(data: str) -> HandCount:
    return parse_hand_count(data.encode("utf-8"), "stored hand count entry")
