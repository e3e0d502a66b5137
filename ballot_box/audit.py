"""The station's audit log: an append-only SHA-256 hash chain of events.

Each event is ``(seq, kind, time, payload, prev_hash)`` plus ``hash`` =
SHA-256 of the canonical JSON encoding of that tuple (an array, keys sorted,
no whitespace, UTF-8). The first event's ``prev_hash`` is 64 zeros. A verifier
recomputes every hash and link, so an altered, removed, inserted or reordered
event breaks the chain at a named seq. Removing events from the *end* leaves a
valid shorter chain: only a known head (the ``audit_head`` row, or a head hash
published with the protocol) reveals that, so ``verify_chain`` takes one.

Secrecy (DESIGN.md §5): events carry no voter identity and no ballot content.
Times are coarse (to the minute). A ``ballot_accepted`` event carries nothing
derived from the ballot (no id, no receipt code, no ciphertext hash): the
chain's order is the casting order, so anything ballot-derived in it would
re-link ballots to cast times. ``check_payload`` refuses payload keys that name
such data, as a guard against a careless caller.

An exported log comes back from outside (``sailau audit verify --file``,
``protocol verify --audit``): it is read by the one bounded reader
(`sailau.election.jsonfile`), at most ``MAX_AUDIT_LOG_BYTES``, each line's JSON
depth and integers bounded, so no file can crash or exhaust the verifier.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from sailau.election import jsonfile
from sailau.election.canonical import canonical_json

from .db import PreparedStatement, StationDB
from .models import AuditEventRow, AuditHeadRow

GENESIS_HASH = "0" * 64


class AuditKind(str, Enum):
    STATION_SET_UP = "station_set_up"
    POLLBOOK_IMPORTED = "pollbook_imported"
    TERMINAL_ENROLLED = "terminal_enrolled"
    POLLS_OPENED = "polls_opened"
    CHECK_IN_REFUSED = "check_in_refused"
    CARD_ISSUED = "card_issued"
    BALLOT_ACCEPTED = "ballot_accepted"
    CARD_REJECTED = "card_rejected"
    CARD_CANCELLED = "card_cancelled"
    CARD_REPLACED = "card_replaced"  # payload: reason, card_returned (no voter, no token)
    ISSUE_REFUSED = "issue_refused"  # a card for a voter who already holds one
    REPLACEMENT_REFUSED = "replacement_refused"
    POLLS_CLOSED = "polls_closed"
    # paper ballots, the additional list, the mobile box (paper.py, pollbook.py, mobile.py): no voter in any
    PAPER_RECEIVED = "paper_received"  # payload: seq, count, from_whom, received_by (the act of receipt)
    PAPER_ISSUED = "paper_issued"  # a paper ballot handed over at check-in (like card_issued: empty)
    PAPER_SPOILED = "paper_spoiled"  # a spoiled paper ballot exchanged (empty)
    PAPER_REFUSED = "paper_refused"  # payload: step, reason
    VOTER_ADDED = "voter_added"  # a voter added to the additional list (empty)
    VOTER_ADD_REFUSED = "voter_add_refused"  # payload: reason (already_on_list)
    MOBILE_REQUESTED = "mobile_requested"  # payload: received_by (a member, never the voter)
    MOBILE_WITHDRAWN = "mobile_withdrawn"  # empty
    MOBILE_SENT = "mobile_sent"  # payload: trip, members, taken, requests
    MOBILE_RETURNED = "mobile_returned"  # payload: trip, voted_outside, unused, spoiled
    MOBILE_REFUSED = "mobile_refused"  # payload: step, reason
    # the count at close (station_members.py, handcount.py)
    MEMBERS_LOADED = "members_loaded"  # payload: count (the members file's entries)
    HAND_COUNT_ENTERED = "hand_count_entered"  # payload: member (key id), entry_sha256, state (entered/agreed/differs)


# payload keys that would name a voter or carry ballot content
FORBIDDEN_KEYS = frozenset(
    {
        "iin", "name", "surname", "given_name", "patronymic", "birth_date", "voter", "voter_id",
        "token", "token_hash", "ballot", "ballot_id", "receipt", "receipt_code", "sealed",
        "ciphertext", "record", "choices", "choice", "vote", "votes", "card_serial", "serial",
    }
)


class IdentifyingPayload(ValueError):
    """An audit payload would carry voter identity or ballot content, or is not plain JSON."""


#: An exported log holds a few events per voter (about 250 bytes each): a few MB a
#: precinct. 256 MiB is a hundred times a large one.
MAX_AUDIT_LOG_BYTES = 256 * 1024 * 1024


class AuditFileError(ValueError):
    """An exported audit file line is not a well-formed event."""


@dataclass(frozen=True)
class AuditDraft:
    """An event before it is chained: what the caller decides."""

    kind: AuditKind
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEvent:
    """A chained event as stored and exported."""

    seq: int
    kind: str
    time: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "kind": self.kind, "time": self.time, "payload": self.payload,
             "prev_hash": self.prev_hash, "hash": self.hash},
            ensure_ascii=False, sort_keys=True, separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> AuditEvent:
        data = jsonfile.parse_json(line, integers_only=False)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        expected = {"seq", "kind", "time", "payload", "prev_hash", "hash"}
        if set(data) != expected:
            raise ValueError(f"keys {sorted(data)} != {sorted(expected)}")
        if not isinstance(data["seq"], int) or not isinstance(data["payload"], dict):
            raise ValueError("seq must be an integer and payload an object")
        for key in ("kind", "time", "prev_hash", "hash"):
            if not isinstance(data[key], str):
                raise ValueError(f"{key} must be a string")
        return cls(**data)


@dataclass(frozen=True)
class ChainReport:
    """Outcome of a chain verification. ``first_bad_seq`` is None when ok."""

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def canonical_text(value: Any) -> str:
    """The canonical JSON (election.canonical) of `value`, as text (the stored payload column)."""
    return canonical_json(value).decode("utf-8")


def event_hash(seq: int, kind: str, time: str, payload: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) over the canonical encoding of the event's fields."""
    encoded = canonical_json([seq, kind, time, dict(payload), prev_hash])
    return hashlib.sha256(encoded).hexdigest()


def coarse_time(now: dt.datetime) -> str:
    """An event time to the minute, with the clock's UTC offset."""
    return now.replace(second=0, microsecond=0).isoformat(timespec="minutes")


def check_payload(payload: Mapping[str, Any]) -> None:
    """Refuse identifying keys and anything but str/int/bool/None/list/dict values."""

    def walk(value: Any, where: str) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if not isinstance(key, str):
                    raise IdentifyingPayload(f"audit payload key {key!r} at {where} is not a string")
                if key.casefold() in FORBIDDEN_KEYS:
                    raise IdentifyingPayload(
                        f"audit payload key {key!r} at {where} would carry voter identity or ballot content"
                    )
                walk(inner, f"{where}.{key}")
        elif isinstance(value, list | tuple):
            for i, inner in enumerate(value):
                walk(inner, f"{where}[{i}]")
        elif value is None or isinstance(value, str | bool | int):
            return
        else:
            raise IdentifyingPayload(f"audit payload value at {where} is {type(value).__name__}, not plain JSON")

    walk(payload, "payload")


_LOCK_HEAD = PreparedStatement(
    select(AuditHeadRow.seq, AuditHeadRow.hash).where(AuditHeadRow.id == 1).with_for_update())
_INSERT_EVENT = PreparedStatement(insert(AuditEventRow).values(
    seq=bindparam("event_seq"), kind=bindparam("event_kind"), time=bindparam("event_time"),
    payload=bindparam("event_payload"), prev_hash=bindparam("event_prev_hash"), hash=bindparam("event_hash")))
_MOVE_HEAD = PreparedStatement(
    update(AuditHeadRow).where(AuditHeadRow.id == 1).values(seq=bindparam("head_seq"), hash=bindparam("head_hash")))


def append(session: Session, draft: AuditDraft, now: dt.datetime) -> AuditEvent:
    """Chain one event inside the caller's transaction.

    Locks the head row first (FOR UPDATE; a no-op on SQLite, where the write
    transaction already holds the database lock), so concurrent appenders on
    PostgreSQL queue and each sees the previous one's committed head. Runs on
    prepared statements (db.PreparedStatement): every cast chains one event.
    """
    head_seq, head_hash = _LOCK_HEAD.execute(session).fetchone()
    event = chain_event(head_seq, head_hash, draft, now)
    _INSERT_EVENT.execute(session, event_seq=event.seq, event_kind=event.kind, event_time=event.time,
                          event_payload=canonical_text(event.payload), event_prev_hash=event.prev_hash,
                          event_hash=event.hash)
    _MOVE_HEAD.execute(session, head_seq=event.seq, head_hash=event.hash)
    return event


def chain_event(prev_seq: int, prev_hash: str, draft: AuditDraft, now: dt.datetime) -> AuditEvent:
    """The event that follows (prev_seq, prev_hash): pure, so a chain can be built and checked without a database."""
    kind = AuditKind(draft.kind)
    check_payload(draft.payload)
    payload = json.loads(canonical_text(dict(draft.payload)))  # tuples -> lists, a private copy
    seq, time = prev_seq + 1, coarse_time(now)
    digest = event_hash(seq, kind.value, time, payload, prev_hash)
    return AuditEvent(seq=seq, kind=kind.value, time=time, payload=payload, prev_hash=prev_hash, hash=digest)


def record(db: StationDB, draft: AuditDraft) -> AuditEvent:
    """Append one event in its own transaction."""
    with db.write() as session:
        return append(session, draft, db.clock())


def _row_to_event(row: AuditEventRow) -> AuditEvent:
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {"<unparseable payload>": row.payload}
    if not isinstance(payload, dict):
        payload = {"<non-object payload>": payload}
    return AuditEvent(seq=row.seq, kind=row.kind, time=row.time, payload=payload, prev_hash=row.prev_hash, hash=row.hash)


def read_events(db: StationDB) -> list[AuditEvent]:
    """All events in seq order."""
    with db.read() as session:
        return [_row_to_event(r) for r in session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq))]


def read_head(db: StationDB) -> tuple[int, str]:
    """The (seq, hash) the station recorded as the chain's end."""
    with db.read() as session:
        head = session.execute(select(AuditHeadRow).where(AuditHeadRow.id == 1)).scalar_one()
        return head.seq, head.hash


def verify_chain(
    events: Iterable[AuditEvent], *, expected_head: str | None = None, expected_count: int | None = None
) -> ChainReport:
    """Recompute every link; name the first seq at which the chain breaks.

    ``expected_head`` / ``expected_count`` (from the station's head row or a
    published protocol) also catch events removed from the end.
    """
    prev, expected_seq, count = GENESIS_HASH, 1, 0

    def bad(seq: int, problem: str) -> ChainReport:
        return ChainReport(ok=False, count=count, head_seq=expected_seq - 1, head_hash=prev,
                           first_bad_seq=seq, problem=problem)

    for position, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            if event.seq < expected_seq:
                what = "a duplicate or out-of-order event (inserted or reordered)"
            else:
                what = f"event {expected_seq} is missing (removed or reordered)"
            return bad(expected_seq, f"at position {position} found seq {event.seq}, expected {expected_seq}: {what}")
        if event.prev_hash != prev:
            return bad(event.seq, f"event {event.seq} does not follow event {event.seq - 1}: prev_hash mismatch (inserted, removed or reordered)")
        try:
            recomputed = event_hash(event.seq, event.kind, event.time, event.payload, event.prev_hash)
        except (TypeError, ValueError) as exc:
            return bad(event.seq, f"event {event.seq} cannot be encoded: {exc}")
        if recomputed != event.hash:
            return bad(event.seq, f"event {event.seq} was altered: its hash does not match its content")
        prev, expected_seq, count = event.hash, expected_seq + 1, count + 1
    if expected_count is not None and count != expected_count:
        return bad(count + 1, f"chain has {count} events but the head says {expected_count}: events were removed from the end")
    if expected_head is not None and prev != expected_head:
        return bad(count + 1, f"chain ends at seq {count} in hash {prev[:16]}... but the head is "
                              f"{expected_head[:16]}...: events after seq {count} were removed, or the chain was rewritten")
    return ChainReport(ok=True, count=count, head_seq=expected_seq - 1, head_hash=prev)


def last_of_kind(db: StationDB, kind: AuditKind) -> AuditEvent | None:
    """The newest event of `kind` (e.g. polls_closed: the head a protocol anchors), or None."""
    with db.read() as session:
        row = session.scalar(select(AuditEventRow).where(AuditEventRow.kind == AuditKind(kind).value)
                             .order_by(AuditEventRow.seq.desc()).limit(1))
        return None if row is None else _row_to_event(row)


def verify_anchor(events: Iterable[AuditEvent], seq: int, head_hash: str) -> ChainReport:
    """Check a chain against a head published elsewhere (the signed protocol's ``audit``).

    The chain must verify, reach event `seq`, and event `seq` must hash to
    `head_hash`. Events after `seq` (appended after the protocol was signed) are
    allowed. A log cut before `seq`, or rewritten, fails with the reason.
    """
    events = list(events)
    report = verify_chain(events)
    if not report.ok:
        return report
    if report.count < seq:
        return ChainReport(ok=False, count=report.count, head_seq=report.head_seq, head_hash=report.head_hash,
                           first_bad_seq=report.count + 1,
                           problem=f"the log ends at seq {report.count} but the protocol anchors seq {seq}: "
                                   f"events {report.count + 1}..{seq} were removed")
    if seq > 0 and events[seq - 1].hash != head_hash:
        return ChainReport(ok=False, count=report.count, head_seq=report.head_seq, head_hash=report.head_hash,
                           first_bad_seq=seq,
                           problem=f"event {seq} hashes to {events[seq - 1].hash[:16]}... but the protocol anchors "
                                   f"{head_hash[:16]}...: the log was rewritten")
    if seq == 0 and head_hash != GENESIS_HASH:
        return ChainReport(ok=False, count=report.count, head_seq=report.head_seq, head_hash=report.head_hash,
                           first_bad_seq=1, problem="the protocol anchors an empty chain with a non-genesis hash")
    return report


def verify_db(db: StationDB) -> ChainReport:
    """Verify the stored chain against the stored head row."""
    head_seq, head_hash = read_head(db)
    return verify_chain(read_events(db), expected_head=head_hash, expected_count=head_seq)


def export_jsonl(db: StationDB, path: str | Path) -> int:
    """Write the chain as JSON lines (one event per line, seq order); returns the count."""
    events = read_events(db)
    Path(path).write_text("".join(event.to_json() + "\n" for event in events), encoding="utf-8")
    return len(events)


def load_jsonl(path: str | Path) -> list[AuditEvent]:
    """Parse an exported file; a malformed line raises AuditFileError with its line
    number, a file over ``MAX_AUDIT_LOG_BYTES`` is refused unread (OSError when it
    cannot be read at all)."""
    events = []
    try:
        text = jsonfile.read_bounded(path, MAX_AUDIT_LOG_BYTES, "an exported audit log").decode("utf-8")
    except jsonfile.InputError as exc:
        raise AuditFileError(f"refused ({exc.reason}): {exc}") from None
    except UnicodeDecodeError as exc:
        raise AuditFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a payload
        if not line.strip():
            continue
        try:
            events.append(AuditEvent.from_json(line))
        except (ValueError, TypeError) as exc:
            raise AuditFileError(f"{path}:{number}: not an audit event: {exc}") from None
    return events


def verify_file(path: str | Path, *, expected_head: str | None = None) -> ChainReport:
    return verify_chain(load_jsonl(path), expected_head=expected_head)
