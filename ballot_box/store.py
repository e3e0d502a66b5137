"""Storage operations of the ballot-box station: station state, terminals, tokens, ballots.

The exactly-once rule (DESIGN.md §2 step 4) lives here: ``cast_ballot`` marks
the token used with a conditional UPDATE and stores the ballot and its audit
event in the same transaction. If two casts of one token race, the loser's
UPDATE matches no row (SQLite: the write lock serialises them; PostgreSQL READ
COMMITTED: the loser waits on the row lock, then re-checks ``state = 'issued'``
against the committed row), so it stores nothing.

Lock order in every write transaction, to rule out deadlocks on PostgreSQL:
station_state (FOR SHARE; close takes it exclusively) -> token or voter row ->
audit head (FOR UPDATE, always last).

Secrecy: a ballot row is (random 16-byte id, style code, sealed bytes); a token
row is (hash, state). Nothing links them or records when. Ballots are always
read ordered by their random id. Physical order: on SQLite the WITHOUT ROWID
B-trees are ordered by the random key; PostgreSQL's heap is in insertion order
and every row carries its inserting transaction id (``xmin``), which during
polling hours ties a ballot to its token's UPDATE and its audit event. So
``close_polls`` seals the storage (``seal_storage``): on PostgreSQL all ballot
and token rows are rewritten in one transaction (one shared xmin) and CLUSTERed
on their random primary keys; on SQLite the WAL (whose frames are in commit
order) is checkpointed and truncated and the file VACUUMed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import audit
from .audit import AuditDraft, AuditEvent, AuditKind, RejectReason
from .db import PreparedStatement, StationDB
from .models import (
    BallotRow,
    IssuedTokenRow,
    PollsState,
    ReplacementKind,
    ReplacementRow,
    StationStateRow,
    TerminalRow,
    TokenState,
    TurnoutRow,
    VoterCard,
    VoterRow,
)

TOKEN_HASH_LEN = 32
BALLOT_ID_LEN = 16
FINGERPRINT_LEN = 32
KEY_ID_LEN = 8
PUBLIC_KEY_LEN = 32


class StoreError(Exception):
    """Base of the station storage errors."""


class StationNotSetUp(StoreError):
    """No election is configured on this station yet (setup_station first)."""


class StationAlreadySetUp(StoreError):
    """setup_station was called on a station that already has an election."""


class WrongPollsState(StoreError):
    """The operation is not allowed in the current polls state."""

    def __init__(self, operation: str, state: PollsState, allowed: tuple[PollsState, ...]) -> None:
        names = " or ".join(s.value for s in allowed)
        super().__init__(f"cannot {operation}: polls are {state.value}, must be {names}")
        self.operation, self.state, self.allowed = operation, state, allowed


class DuplicateToken(StoreError):
    """This token hash was already issued: tokens are random, so this is a bug or an attack."""


class DuplicateTerminal(StoreError):
    """A terminal key id is already enrolled with a different key."""


class CastOutcome(str, Enum):
    ACCEPTED = "accepted"  # token marked used, ballot stored
    ALREADY_COUNTED = "already_counted"  # token used before: store nothing, just clear the card
    UNKNOWN_TOKEN = "unknown_token"  # never issued here: store nothing
    CARD_CANCELLED = "card_cancelled"  # issued, then cancelled: store nothing


class IssueOutcome(str, Enum):
    ISSUED = "issued"  # voter marked as holding a card, token recorded, audit event chained
    ALREADY_ISSUED = "card_already_issued"  # the voter holds a card: nothing recorded (issue_refused event)
    NOT_CHECKED_IN = "not_checked_in"
    UNKNOWN_VOTER = "unknown_voter"


class ReplaceOutcome(str, Enum):
    REPLACED = "replaced"  # counted, audited; the voter may get one more card
    NO_CARD = "no_card_to_replace"  # the voter holds no issued card (never got one, or already replaced)
    LIMIT = "replacement_limit"  # a card was already replaced without being returned: one such per voter
    NOT_CHECKED_IN = "not_checked_in"
    UNKNOWN_VOTER = "unknown_voter"
    OLD_CARD_COUNTED = "already_counted"  # the handed-back card's token is used: its ballot is in the box
    OLD_CARD_CANCELLED = "card_cancelled"  # its token was cancelled before
    OLD_CARD_UNKNOWN = "unknown_token"  # its token was never issued here


class CancelOutcome(str, Enum):
    CANCELLED = "cancelled"
    ALREADY_COUNTED = "already_counted"
    ALREADY_CANCELLED = "already_cancelled"
    UNKNOWN_TOKEN = "unknown_token"


@dataclass(frozen=True)
class StationInfo:
    election_fingerprint: bytes
    precinct: int
    state: PollsState
    station_key_id: bytes


@dataclass(frozen=True)
class Terminal:
    key_id: bytes
    public_key: bytes
    label: str


@dataclass(frozen=True)
class StoredBallot:
    id: bytes
    style_code: int
    sealed: bytes


@dataclass(frozen=True)
class ProtocolCounters:
    """The protocol's count lines (DESIGN.md §7) as the storage sees them."""

    on_list: int
    checked_in: int
    issued: int  # every card issued (used + cancelled + outstanding)
    cast: int  # ballots in the box
    cancelled: int
    outstanding: int  # issued, neither cast nor cancelled
    replaced: int = 0  # replacements (each let a voter get one more card)
    not_returned: int = 0  # of which the old card was not handed back (its token stays outstanding)

    def as_payload(self) -> dict[str, int]:
        return {"on_list": self.on_list, "checked_in": self.checked_in, "issued": self.issued,
                "cast": self.cast, "cancelled": self.cancelled, "outstanding": self.outstanding,
                "replaced": self.replaced, "not_returned": self.not_returned}


def _need_len(name: str, value: bytes, length: int) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise ValueError(f"{name} must be {length} bytes, got {got}")


def _draft(given: AuditDraft | None, kind: AuditKind) -> AuditDraft:
    if given is None:
        return AuditDraft(kind)
    if AuditKind(given.kind) is not kind:
        raise ValueError(f"audit event for this operation must be {kind.value}, got {given.kind}")
    return given


# --- station state ----------------------------------------------------------------


class _StateRow(NamedTuple):
    election_fingerprint: bytes
    precinct: int
    state: str
    station_key_id: bytes


_STATE_QUERY = select(StationStateRow.election_fingerprint, StationStateRow.precinct, StationStateRow.state,
                      StationStateRow.station_key_id).where(StationStateRow.id == 1)
_SELECT_STATE = {None: PreparedStatement(_STATE_QUERY),
                 "share": PreparedStatement(_STATE_QUERY.with_for_update(read=True)),
                 "update": PreparedStatement(_STATE_QUERY.with_for_update())}


def _state_row(session: Session, *, lock: str | None = None) -> _StateRow:
    return _state_of(_SELECT_STATE[lock].execute(session).fetchone())


def _state_of(found: Any) -> _StateRow:
    if found is None:
        raise StationNotSetUp("no election is set up on this station: run setup_station first")
    return _StateRow(bytes(found[0]), found[1], found[2], bytes(found[3]))


def require_state(session: Session, operation: str, *allowed: PollsState) -> _StateRow:
    """Share-lock the station row and check the polls state (used by pollbook too)."""
    row = _state_row(session, lock="share")
    state = PollsState(row.state)
    if state not in allowed:
        raise WrongPollsState(operation, state, allowed)
    return row


def setup_station(db: StationDB, election_fingerprint: bytes, precinct: int, station_key_id: bytes) -> StationInfo:
    """Bind this station database to one election and precinct (once)."""
    _need_len("election fingerprint", election_fingerprint, FINGERPRINT_LEN)
    _need_len("station key id", station_key_id, KEY_ID_LEN)
    if not 0 <= precinct < 2**32:
        raise ValueError(f"precinct must fit in u32, got {precinct}")
    try:
        with db.write() as session:
            if session.get(StationStateRow, 1) is not None:
                raise StationAlreadySetUp("this station database already has an election set up")
            session.add(StationStateRow(id=1, election_fingerprint=bytes(election_fingerprint), precinct=precinct,
                                        state=PollsState.SETUP.value, station_key_id=bytes(station_key_id)))
            session.flush()
            audit.append(session, AuditDraft(AuditKind.STATION_SET_UP, {
                "election_fingerprint": election_fingerprint.hex(), "precinct": precinct,
                "station_key_id": station_key_id.hex()}), db.clock())
    except IntegrityError:
        raise StationAlreadySetUp("this station database already has an election set up") from None
    return StationInfo(bytes(election_fingerprint), precinct, PollsState.SETUP, bytes(station_key_id))


def station_info(db: StationDB) -> StationInfo:
    """One row, read outside a transaction (every cast asks for the polls state)."""
    row = _state_of(_SELECT_STATE[None].fetch_one(db.engine))
    return StationInfo(row.election_fingerprint, row.precinct, PollsState(row.state), row.station_key_id)


def open_polls(db: StationDB, audit_event: AuditDraft | None = None) -> AuditEvent:
    """setup -> open."""
    return _transition(db, "open the polls", PollsState.SETUP, PollsState.OPEN, _draft(audit_event, AuditKind.POLLS_OPENED))


def close_polls(db: StationDB, audit_event: AuditDraft | None = None, *, seal: bool = True) -> AuditEvent:
    """open -> closed, then seal the storage (see module doc). The polls_closed
    event carries the protocol counters unless the caller gives a payload."""
    draft = audit_event
    if draft is None:
        draft = AuditDraft(AuditKind.POLLS_CLOSED, counters(db).as_payload())
    event = _transition(db, "close the polls", PollsState.OPEN, PollsState.CLOSED, _draft(draft, AuditKind.POLLS_CLOSED))
    if seal:
        seal_storage(db)
    return event


def _transition(db: StationDB, operation: str, source: PollsState, target: PollsState, draft: AuditDraft) -> AuditEvent:
    with db.write() as session:
        row = _state_row(session, lock="update")
        if PollsState(row.state) is not source:
            raise WrongPollsState(operation, PollsState(row.state), (source,))
        session.execute(update(StationStateRow).where(StationStateRow.id == 1).values(state=target.value))
        return audit.append(session, draft, db.clock())


def seal_storage(db: StationDB) -> None:
    """Make physical storage say nothing about casting order (after close of polls).

    PostgreSQL: rewrite every ballot, token, voter, turnout and replacement row
    in one transaction, so they all carry the same xmin, then CLUSTER ballots and
    tokens on their random primary keys and voters on theirs (list order), so
    heap order says nothing about casting, check-in or issue order (the dead old
    versions are dropped).
    SQLite: checkpoint and truncate the WAL, VACUUM (rebuilds the file in key
    order, with secure_delete), truncate the WAL again.
    """
    if db.dialect == "postgresql":
        with db.write() as session:
            session.execute(update(BallotRow).values(style_code=BallotRow.style_code))
            session.execute(update(IssuedTokenRow).values(state=IssuedTokenRow.state))
            # a voter row's xmin is its check-in/issue transaction's, shared with its turnout
            # bump and its card_issued event: rewrite those too
            session.execute(update(VoterRow).values(card=VoterRow.card))
            session.execute(update(TurnoutRow).values(count=TurnoutRow.count))
            session.execute(update(ReplacementRow).values(count=ReplacementRow.count))
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("ballots", "issued_tokens", "voters"):
                connection.exec_driver_sql(f"CLUSTER {table} USING pk_{table}")
                connection.exec_driver_sql(f"ANALYZE {table}")
        return
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
            cursor.execute(statement)
            result = cursor.fetchall()
            if statement.startswith("PRAGMA") and result and result[0][0] != 0:
                raise StoreError(f"{statement} could not finish: another connection holds the database")
        cursor.close()
    finally:
        raw.close()


# --- terminals --------------------------------------------------------------------


def enrol_terminal(db: StationDB, key_id: bytes, public_key: bytes, label: str) -> None:
    """Enrol a booth terminal's Ed25519 public key (before or while polls are open).

    Enrolling the same key again is a no-op; another key under the same id is refused.
    """
    _need_len("terminal key id", key_id, KEY_ID_LEN)
    _need_len("terminal public key", public_key, PUBLIC_KEY_LEN)
    with db.write() as session:
        require_state(session, "enrol a terminal", PollsState.SETUP, PollsState.OPEN)
        existing = session.get(TerminalRow, bytes(key_id))
        if existing is not None:
            if existing.public_key != bytes(public_key):
                raise DuplicateTerminal(f"terminal key id {key_id.hex()} is already enrolled with another key")
            return
        session.add(TerminalRow(key_id=bytes(key_id), public_key=bytes(public_key), label=label))
        session.flush()
        audit.append(session, AuditDraft(AuditKind.TERMINAL_ENROLLED, {"key_id": key_id.hex(), "label": label}), db.clock())


def terminal_key(db: StationDB, key_id: bytes) -> bytes | None:
    """The enrolled public key for a terminal key id, or None."""
    with db.read() as session:
        row = session.get(TerminalRow, bytes(key_id))
        return None if row is None else row.public_key


def terminals(db: StationDB) -> list[Terminal]:
    with db.read() as session:
        return [Terminal(r.key_id, r.public_key, r.label) for r in session.scalars(select(TerminalRow).order_by(TerminalRow.key_id))]


# --- tokens and ballots -----------------------------------------------------------


def record_issued(db: StationDB, token_hash: bytes, audit_event: AuditDraft | None = None) -> AuditEvent:
    """Store a freshly issued card's token hash as issued-unused (no time, no voter)."""
    _need_len("token hash", token_hash, TOKEN_HASH_LEN)
    draft = _draft(audit_event, AuditKind.CARD_ISSUED)
    try:
        with db.write() as session:
            require_state(session, "issue a card", PollsState.OPEN)
            if session.get(IssuedTokenRow, bytes(token_hash)) is not None:
                raise DuplicateToken(f"token hash {token_hash.hex()[:16]}... was already issued")
            session.add(IssuedTokenRow(token_hash=bytes(token_hash), state=TokenState.ISSUED.value))
            session.flush()
            return audit.append(session, draft, db.clock())
    except IntegrityError:
        raise DuplicateToken(f"token hash {token_hash.hex()[:16]}... was already issued") from None


def issue_to_voter(db: StationDB, iin: str, token_hash: bytes, audit_event: AuditDraft | None = None) -> IssueOutcome:
    """Record a card for a checked-in voter: in ONE transaction the voter is marked
    as holding a card (`VoterCard`), the token hash is stored as issued-unused and
    the card_issued event is chained. Nothing links the two rows (no column; the
    voter's flag says only "has a card").

    A voter who already holds a card (across restarts) gets ALREADY_ISSUED and an
    ``issue_refused`` event; nothing is recorded.
    """
    _need_len("token hash", token_hash, TOKEN_HASH_LEN)
    draft = _draft(audit_event, AuditKind.CARD_ISSUED)
    try:
        with db.write() as session:
            require_state(session, "issue a card", PollsState.OPEN)
            row = session.execute(select(VoterRow).where(VoterRow.iin == iin).with_for_update()).scalar_one_or_none()
            if row is None:
                return IssueOutcome.UNKNOWN_VOTER
            if not row.checked_in:
                return IssueOutcome.NOT_CHECKED_IN
            card = VoterCard(row.card)
            if card.holds_card:
                found = IssueOutcome.ALREADY_ISSUED
            else:
                row.card = (VoterCard.REISSUED if card is VoterCard.LOST else VoterCard.ISSUED).value
                if session.get(IssuedTokenRow, bytes(token_hash)) is not None:
                    raise DuplicateToken(f"token hash {token_hash.hex()[:16]}... was already issued")
                session.add(IssuedTokenRow(token_hash=bytes(token_hash), state=TokenState.ISSUED.value))
                session.flush()
                audit.append(session, draft, db.clock())
                return IssueOutcome.ISSUED
    except IntegrityError:
        raise DuplicateToken(f"token hash {token_hash.hex()[:16]}... was already issued") from None
    audit.record(db, AuditDraft(AuditKind.ISSUE_REFUSED, {"reason": found.value}))
    return found


def replace_card(db: StationDB, iin: str, reason: str, *, old_token_hash: bytes | None) -> ReplaceOutcome:
    """Let a voter whose card was issued but not cast get one more card (a spoilt,
    damaged or lost card, or an ISSUE cut short by a crash).

    With ``old_token_hash`` (the old card is in hand and readable, or the station
    still knows the token of a failed ISSUE) the token goes issued -> cancelled;
    the voter goes back to waiting (ISSUED -> NONE, REISSUED -> LOST). Without it
    the old token cannot be named and stays outstanding: if that card exists it
    could still be cast, so this is allowed once per voter (ISSUED -> LOST) and
    counted apart (``not_returned``). Either way ONE transaction updates the voter
    row, the token, the replacement counter and chains ``card_replaced`` with the
    reason and whether the card was returned (no voter, no token). A refusal
    changes nothing and chains ``replacement_refused``.
    """
    if old_token_hash is not None:
        _need_len("token hash", old_token_hash, TOKEN_HASH_LEN)
    if not reason or len(reason) > 40:
        raise ValueError("a replacement needs a short reason code")
    returned = old_token_hash is not None
    kind = ReplacementKind.RETURNED if returned else ReplacementKind.NOT_RETURNED
    with db.write() as session:
        require_state(session, "replace a card", PollsState.OPEN)
        outcome = _replace(session, iin, old_token_hash)
        if outcome is ReplaceOutcome.REPLACED:
            _bump_replacements(session, kind)
            audit.append(session, AuditDraft(AuditKind.CARD_REPLACED, {"reason": reason, "card_returned": returned}),
                         db.clock())
            return outcome
    audit.record(db, AuditDraft(AuditKind.REPLACEMENT_REFUSED, {"reason": outcome.value, "why": reason,
                                                                "card_returned": returned}))
    return outcome


def _replace(session: Session, iin: str, old_token_hash: bytes | None) -> ReplaceOutcome:
    row = session.execute(select(VoterRow).where(VoterRow.iin == iin).with_for_update()).scalar_one_or_none()
    if row is None:
        return ReplaceOutcome.UNKNOWN_VOTER
    if not row.checked_in:
        return ReplaceOutcome.NOT_CHECKED_IN
    card = VoterCard(row.card)
    if not card.holds_card:
        return ReplaceOutcome.NO_CARD
    if old_token_hash is None:
        if card is VoterCard.REISSUED:
            return ReplaceOutcome.LIMIT
        row.card = VoterCard.LOST.value
        return ReplaceOutcome.REPLACED
    found = _move_issued_token(session, old_token_hash, TokenState.CANCELLED)
    if found is not _MOVED:
        return {None: ReplaceOutcome.OLD_CARD_UNKNOWN, TokenState.USED: ReplaceOutcome.OLD_CARD_COUNTED,
                TokenState.CANCELLED: ReplaceOutcome.OLD_CARD_CANCELLED}[found]
    row.card = (VoterCard.LOST if card is VoterCard.REISSUED else VoterCard.NONE).value
    return ReplaceOutcome.REPLACED


def _bump_replacements(session: Session, kind: ReplacementKind) -> None:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(ReplacementRow).values(kind=kind.value, count=1)
    statement = statement.on_conflict_do_update(index_elements=[ReplacementRow.kind],
                                                set_={"count": ReplacementRow.count + 1})
    session.execute(statement)


_MOVED = object()  # sentinel: the token moved
_MOVE_TOKEN = {to: PreparedStatement(
    update(IssuedTokenRow)
    .where(IssuedTokenRow.token_hash == bindparam("token_hash"), IssuedTokenRow.state == TokenState.ISSUED.value)
    .values(state=to.value)) for to in TokenState}
_TOKEN_STATE = PreparedStatement(select(IssuedTokenRow.state).where(IssuedTokenRow.token_hash == bindparam("token_hash")))
_INSERT_BALLOT = PreparedStatement(insert(BallotRow).values(
    id=bindparam("ballot_id"), style_code=bindparam("ballot_style"), sealed=bindparam("ballot_sealed")))


def _move_issued_token(session: Session, token_hash: bytes, to: TokenState) -> object:
    """Move an ISSUED token to `to` with a conditional UPDATE, the exactly-once
    step (two racing transactions cannot both see rowcount 1). Returns `_MOVED`,
    or where the token already stood: its state, or None if it was never issued."""
    if _MOVE_TOKEN[to].execute(session, token_hash=bytes(token_hash)).rowcount == 1:
        return _MOVED
    found = _TOKEN_STATE.execute(session, token_hash=bytes(token_hash)).fetchone()
    return None if found is None else TokenState(found[0])


def token_state(db: StationDB, token_hash: bytes) -> TokenState | None:
    """Where a token stands (None: never issued here). Advisory: cast_ballot decides."""
    with db.read() as session:
        state = session.scalar(select(IssuedTokenRow.state).where(IssuedTokenRow.token_hash == bytes(token_hash)))
        return None if state is None else TokenState(state)


_REFUSAL = {
    None: (CastOutcome.UNKNOWN_TOKEN, RejectReason.UNKNOWN_TOKEN),
    TokenState.USED: (CastOutcome.ALREADY_COUNTED, RejectReason.ALREADY_COUNTED),
    TokenState.CANCELLED: (CastOutcome.CARD_CANCELLED, RejectReason.CARD_CANCELLED),
}


def cast_ballot(
    db: StationDB, token_hash: bytes, style_code: int, sealed: bytes, audit_event: AuditDraft | None = None
) -> CastOutcome:
    """Record one voted card exactly once.

    ACCEPTED: in ONE transaction the token goes issued -> used, the ballot is
    stored under a fresh random id and ``audit_event`` (kind ballot_accepted,
    default empty payload: put nothing ballot-derived in it) is chained.
    Otherwise nothing is stored and a ``card_rejected`` event with the reason
    code is chained in its own transaction.
    """
    _need_len("token hash", token_hash, TOKEN_HASH_LEN)
    if not isinstance(sealed, bytes | bytearray) or not sealed:
        raise ValueError("sealed ballot must be non-empty bytes")
    if not 0 <= style_code < 2**16:
        raise ValueError(f"ballot style code must fit in u16, got {style_code}")
    draft = _draft(audit_event, AuditKind.BALLOT_ACCEPTED)
    with db.write() as session:
        require_state(session, "cast a ballot", PollsState.OPEN)
        found = _move_issued_token(session, token_hash, TokenState.USED)
        if found is _MOVED:
            _INSERT_BALLOT.execute(session, ballot_id=secrets.token_bytes(BALLOT_ID_LEN), ballot_style=style_code,
                                   ballot_sealed=bytes(sealed))
            audit.append(session, draft, db.clock())
            return CastOutcome.ACCEPTED
    outcome, reason = _REFUSAL[found]
    audit.record(db, AuditDraft(AuditKind.CARD_REJECTED, {"reason": reason.value}))
    return outcome


def cancel_issued(db: StationDB, token_hash: bytes, audit_event: AuditDraft | None = None) -> CancelOutcome:
    """Cancel an issued, unused card (spoilt, or the voter left): it counts as cancelled."""
    _need_len("token hash", token_hash, TOKEN_HASH_LEN)
    draft = _draft(audit_event, AuditKind.CARD_CANCELLED)
    with db.write() as session:
        require_state(session, "cancel a card", PollsState.OPEN)
        found = _move_issued_token(session, token_hash, TokenState.CANCELLED)
        if found is _MOVED:
            audit.append(session, draft, db.clock())
            return CancelOutcome.CANCELLED
    return {None: CancelOutcome.UNKNOWN_TOKEN, TokenState.USED: CancelOutcome.ALREADY_COUNTED,
            TokenState.CANCELLED: CancelOutcome.ALREADY_CANCELLED}[found]


def record_rejection(db: StationDB, reason: RejectReason, payload: Mapping[str, Any] | None = None) -> AuditEvent:
    """Chain a card_rejected event for a card refused before it reached cast_ballot
    (wrong election, bad signature, ...)."""
    return audit.record(db, AuditDraft(AuditKind.CARD_REJECTED, {**(payload or {}), "reason": RejectReason(reason).value}))


def ballots(db: StationDB) -> list[StoredBallot]:
    """Every stored ballot, ordered by its random id (never by storage order)."""
    with db.read() as session:
        return [StoredBallot(r.id, r.style_code, r.sealed) for r in session.scalars(select(BallotRow).order_by(BallotRow.id))]


def counters(db: StationDB) -> ProtocolCounters:
    """The protocol count lines, read in one snapshot."""
    with db.read() as session:
        on_list = session.scalar(select(func.count()).select_from(VoterRow)) or 0
        checked_in = session.scalar(select(func.count()).select_from(VoterRow).where(VoterRow.checked_in.is_(True))) or 0
        by_state = dict(session.execute(select(IssuedTokenRow.state, func.count()).group_by(IssuedTokenRow.state)).all())
        cast = session.scalar(select(func.count()).select_from(BallotRow)) or 0
        replaced = dict(session.execute(select(ReplacementRow.kind, ReplacementRow.count)).all())
    return ProtocolCounters(
        on_list=on_list,
        checked_in=checked_in,
        issued=sum(by_state.values()),
        cast=cast,
        cancelled=by_state.get(TokenState.CANCELLED.value, 0),
        outstanding=by_state.get(TokenState.ISSUED.value, 0),
        replaced=sum(replaced.values()),
        not_returned=replaced.get(ReplacementKind.NOT_RETURNED.value, 0),
    )
