"""Storage operations of the ballot-box station: station state, terminals, tokens, ballots.

The exactly-once rule (DESIGN.md §2 step 4) lives here: ``cast_ballot`` marks
the token used with a conditional UPDATE and stores the ballot and its audit
event in the same transaction. If two casts of one token race, the loser's
UPDATE matches no row (SQLite: the write lock serialises them; PostgreSQL READ
COMMITTED: the loser waits on the row lock, then re-checks ``state = 'issued'``
against the committed row), so it stores nothing.

Revocation (DESIGN.md §2 step 2): a replacement moves the voter's old token
issued -> cancelled (card handed back) or issued -> revoked (card not handed
back), with the same conditional UPDATE, in the transaction that frees the
voter for one more card. The voter row names that token through its card link
(cardlink.py, encrypted under the station's key), so the step can only hit the
voter's own card, and it loses to a cast of that card exactly as two casts
race: if the ballot is already in the box the replacement is refused. A revoked
card that comes back is refused by name (``card_revoked``) and not cleared.
Hence every checked-in voter has at most one token that can still be cast, and
at most one used token: counted ballots <= voters checked in, by construction.

Lock order in every write transaction, to rule out deadlocks on PostgreSQL:
station_state (FOR SHARE; close takes it exclusively) -> voter rows (several:
in ascending id) -> mobile request rows -> mobile trip row -> paper counter
rows (FOR UPDATE) -> token row -> audit head (FOR UPDATE, always last).

Secrecy: a ballot row is (random 16-byte id, style code, sealed bytes); a token
row is (hash, state). Nothing links them or records when. Ballots are always
read ordered by their random id. Physical order: on SQLite the WITHOUT ROWID
B-trees are ordered by the random key; PostgreSQL's heap is in insertion order
and every row carries its inserting transaction id (``xmin``), which during
polling hours ties a ballot to its token's UPDATE and its audit event. So
``record_polls_closed`` seals the storage (``seal_storage``): on PostgreSQL all ballot
and token rows are rewritten in one transaction (one shared xmin) and CLUSTERed
on their random primary keys; on SQLite the WAL (whose frames are in commit
order) is checkpointed and truncated and the file VACUUMed. Every voter's card
link is cleared first. Sealing ends by setting ``storage_sealed``; close.py
signs nothing until it is set, and a close resumed after a failure or a crash
anywhere in sealing seals again from the start (every step is idempotent).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from . import audit, oplog
from sailau.election.crypto import ED25519_PUBLIC_KEY_LEN, KEY_ID_LEN
from sailau.election.record import FINGERPRINT_LEN, TOKEN_HASH_LEN

from .audit import AuditDraft, AuditEvent, AuditKind
from .cardlink import CardLinkError, CardLinkKey
from .db import SQLITE_BUSY_TIMEOUT_MS, PreparedStatement, StationDB
from .refusal import Refusal
from .models import (
    BallotForm,
    BallotRow,
    PaperCountRow,
    PaperKind,
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

BALLOT_ID_LEN = 16  # a stored ballot's random id (the store's own)


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


class SealingFailed(StoreError):
    """Sealing the storage after the polls closed did not finish. The polls stay closed,
    nothing is signed; running close again seals from the start."""


class CastRecorded(str, Enum):
    """A voted card's ballot is in the box (`cast_ballot`); a refusal is a `Refusal`
    (UNKNOWN_TOKEN, CARD_CANCELLED, CARD_REVOKED: nothing stored)."""

    ACCEPTED = "accepted"  # token marked used, ballot stored
    ALREADY_COUNTED = "already_counted"  # token used before: store nothing, just clear the card


class IssueOutcome(str, Enum):
    """A card was recorded for the voter (`issue_to_voter`); a refusal is a `Refusal`
    (UNKNOWN_VOTER, NOT_CHECKED_IN, CARD_ALREADY_ISSUED: nothing recorded)."""

    ISSUED = "issued"  # voter marked as holding a card, token recorded, audit event chained


class ReplaceOutcome(str, Enum):
    """The replacement was made (`replace_card`, counted and audited): the voter may get
    one more card. A refusal is a `Refusal` (UNKNOWN_VOTER, NOT_CHECKED_IN,
    NO_CARD_TO_REPLACE, ALREADY_COUNTED, CARD_REVOKED, UNKNOWN_TOKEN, NOT_THEIR_CARD,
    CARD_UNLINKED: nothing changed)."""

    REPLACED = "replaced"  # old token cancelled (card handed back, now or before)
    REPLACED_REVOKED = "replaced_revoked"  # old token revoked (card not handed back)


class CancelOutcome(str, Enum):
    """An issued card's token is cancelled (`cancel_issued`); a refusal is a `Refusal`
    (UNKNOWN_TOKEN, ALREADY_COUNTED, CARD_REVOKED: nothing changed)."""

    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"  # cancelled before: the card is only cleared


@dataclass(frozen=True)
class StationInfo:
    election_fingerprint: bytes
    precinct: int
    state: PollsState
    station_key_id: bytes
    storage_sealed: bool = False  # sealing finished after the polls closed (see seal_storage)


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
    outstanding: int  # issued, neither cast, cancelled nor revoked (out with a voter, or never written)
    replaced: int = 0  # replacements (each let a voter get one more card)
    not_returned: int = 0  # of which the old card was not handed back: its token revoked
    revoked: int = 0  # tokens in state revoked (= not_returned; not a protocol line):
    #                   cast + cancelled + outstanding + revoked = issued
    voters_additional: int = 0  # of on_list, added on election day (the additional list)
    voters_paper: int = 0  # of checked_in, given a paper ballot (the rest took a card)
    voters_outside: int = 0  # marked by the mobile team as having voted outside (never checked in)

    def as_payload(self) -> dict[str, int]:
        """The protocol's lines (the polls_closed audit payload). The three voter counts of
        paper and the mobile box are there only when one is not zero, so a card-only
        station's payload is what it always was."""
        payload = {"on_list": self.on_list, "checked_in": self.checked_in, "issued": self.issued,
                   "cast": self.cast, "cancelled": self.cancelled, "outstanding": self.outstanding,
                   "replaced": self.replaced, "not_returned": self.not_returned}
        extra = {"voters_additional": self.voters_additional, "voters_paper": self.voters_paper,
                 "voters_outside": self.voters_outside}
        if any(extra.values()):
            payload.update(extra)
        return payload


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
    storage_sealed: bool


_STATE_QUERY = select(StationStateRow.election_fingerprint, StationStateRow.precinct, StationStateRow.state,
                      StationStateRow.station_key_id, StationStateRow.storage_sealed).where(StationStateRow.id == 1)
_SELECT_STATE = {None: PreparedStatement(_STATE_QUERY),
                 "share": PreparedStatement(_STATE_QUERY.with_for_update(read=True)),
                 "update": PreparedStatement(_STATE_QUERY.with_for_update())}


def _state_row(session: Session, *, lock: str | None = None) -> _StateRow:
    return _state_of(_SELECT_STATE[lock].execute(session).fetchone())


def _state_of(found: Any) -> _StateRow:
    if found is None:
        raise StationNotSetUp("no election is set up on this station: run setup_station first")
    return _StateRow(bytes(found[0]), found[1], found[2], bytes(found[3]), bool(found[4]))


def require_state(session: Session, operation: str, *allowed: PollsState) -> _StateRow:
    """Share-lock the station row and check the polls state (used by pollbook too)."""
    row = _state_row(session, lock="share")
    state = PollsState(row.state)
    if state not in allowed:
        raise WrongPollsState(operation, state, allowed)
    return row


def require_state_exclusive(session: Session, operation: str, *allowed: PollsState) -> _StateRow:
    """Lock the station row exclusively (FOR UPDATE) and check the polls state: for the
    rare steps that number their rows (an act of receipt, a mobile trip), so two of them
    never take the same number; every other writer waits only while one runs."""
    row = _state_row(session, lock="update")
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
    return StationInfo(row.election_fingerprint, row.precinct, PollsState(row.state), row.station_key_id,
                       row.storage_sealed)


def record_polls_opened(db: StationDB, audit_event: AuditDraft | None = None) -> AuditEvent:
    """setup -> open."""
    return _transition(db, "open the polls", PollsState.SETUP, PollsState.OPEN, _draft(audit_event, AuditKind.POLLS_OPENED))


def record_polls_closed(db: StationDB, audit_event: AuditDraft | None = None, *, seal: bool = True) -> AuditEvent:
    """open -> closed, then seal the storage (see `seal_storage`; `seal=False` only for
    tests). The polls_closed event carries the protocol counters unless the caller
    gives a payload. If sealing fails the polls stay closed with ``storage_sealed``
    unset (SealingFailed): close.py then seals again before it signs anything."""
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


#: how long sealing waits for another connection (PostgreSQL: a table lock for CLUSTER; SQLite:
#: readers pinning WAL frames) before it gives up with SealingFailed
SEAL_WAIT_S = 30.0


def seal_storage(db: StationDB) -> None:
    """Make physical storage say nothing about casting order (after close of polls).

    Steps, each idempotent, so a failure or a crash anywhere is repaired by
    running it again; ``storage_sealed`` is set last, in its own transaction:

    PostgreSQL: (1) in one transaction clear every voter's card link and rewrite
    every ballot, token, voter, turnout and replacement row, so they all carry
    the same xmin; (2) CLUSTER ballots and tokens on their random primary keys
    and voters on theirs (list order), so heap order says nothing about casting,
    check-in or issue order and the dead old versions are dropped (waiting at
    most `SEAL_WAIT_S` for another connection's lock); (3) set the flag.
    SQLite: (1) clear the card links; (2) checkpoint and truncate the WAL,
    VACUUM (rebuilds the file in key order, with secure_delete), truncate the
    WAL again (waiting at most `SEAL_WAIT_S` for readers); (3) set the flag,
    then truncate the WAL once more (best effort: what it could leave is the
    flag's own page).

    Only on a closed station (WrongPollsState). Raises SealingFailed, with the
    database's error as its cause (and in the operator log, oplog.py), when a step
    fails (another connection holds the database, disk full, ...): the flag stays
    unset.
    """
    info = station_info(db)
    if info.state is not PollsState.CLOSED:
        raise WrongPollsState("seal the storage", info.state, (PollsState.CLOSED,))
    try:
        if db.dialect == "postgresql":
            _rewrite_rows(db)
            _cluster_tables(db)
        else:
            _clear_card_links(db)
            _compact_sqlite(db)
        _mark_sealed(db)
    except SealingFailed:
        raise
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        oplog.failure("seal the storage", exc)  # the raw error for the technician; the words for the screen
        raise SealingFailed(_sealing_problem(exc)) from exc
    if db.dialect != "postgresql":
        _checkpoint(db, strict=False)


def _sealing_problem(exc: BaseException) -> str:
    text = str(exc).lower()
    if "lock" in text or "busy" in text:
        why = "another program holds the database"
    elif "full" in text or "no space" in text:
        why = "the disk is full"
    elif "readonly" in text or "read-only" in text:
        why = "the database cannot be written"
    else:
        why = f"the database reported {type(exc).__name__}"
    return (f"the polls are closed but the storage could not be sealed ({why}); nothing was signed. "
            "Fix that and run close again: it seals, then counts and signs")


def _clear_card_links(db: StationDB) -> None:
    with db.write() as session:
        require_state(session, "seal the storage", PollsState.CLOSED)
        session.execute(update(VoterRow).where(VoterRow.card_link.is_not(None)).values(card_link=None))


def _rewrite_rows(db: StationDB) -> None:
    with db.write() as session:
        require_state(session, "seal the storage", PollsState.CLOSED)
        session.execute(update(BallotRow).values(style_code=BallotRow.style_code))
        session.execute(update(IssuedTokenRow).values(state=IssuedTokenRow.state))
        # a voter row's xmin is its check-in/issue transaction's, shared with its turnout
        # bump and its card_issued event: rewrite those too (and drop the card links)
        session.execute(update(VoterRow).values(card=VoterRow.card, card_link=None))
        session.execute(update(TurnoutRow).values(count=TurnoutRow.count))
        session.execute(update(ReplacementRow).values(count=ReplacementRow.count))


def _cluster_tables(db: StationDB) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"SET lock_timeout = '{int(SEAL_WAIT_S * 1000)}ms'")
        for table in ("ballots", "issued_tokens", "voters"):
            connection.exec_driver_sql(f"CLUSTER {table} USING pk_{table}")
            connection.exec_driver_sql(f"ANALYZE {table}")
        connection.exec_driver_sql("RESET lock_timeout")


def _compact_sqlite(db: StationDB) -> None:
    _checkpoint(db, strict=True)
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")
        cursor.close()
    finally:
        raw.close()
    _checkpoint(db, strict=True)


def _checkpoint(db: StationDB, *, strict: bool) -> None:
    """Copy the SQLite WAL into the file and truncate it; SealingFailed (if strict) when
    another connection's read keeps some frames alive."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SEAL_WAIT_S * 1000)}")
        try:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = cursor.fetchall()[0][0]
        finally:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()
    finally:
        raw.close()
    if busy and strict:
        raise SealingFailed(_sealing_problem(StoreError("database busy")))


def _mark_sealed(db: StationDB) -> None:
    with db.write() as session:
        require_state(session, "seal the storage", PollsState.CLOSED)
        session.execute(update(StationStateRow).where(StationStateRow.id == 1).values(storage_sealed=True))


# --- terminals --------------------------------------------------------------------


def enrol_terminal(db: StationDB, key_id: bytes, public_key: bytes, label: str) -> None:
    """Enrol a booth terminal's Ed25519 public key (before or while polls are open).

    Enrolling the same key again is a no-op; another key under the same id is refused.
    """
    _need_len("terminal key id", key_id, KEY_ID_LEN)
    _need_len("terminal public key", public_key, ED25519_PUBLIC_KEY_LEN)
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


def issue_to_voter(db: StationDB, iin: str, token_hash: bytes, audit_event: AuditDraft | None = None, *,
                   links: CardLinkKey) -> IssueOutcome | Refusal:
    """Record a card for a checked-in voter: in ONE transaction the voter is marked
    as holding a card (`VoterCard`) with its card link (the token hash encrypted
    under `links`, see cardlink.py), the token hash is stored as issued-unused and
    the card_issued event is chained. No column joins the two rows: only the
    station's key opens the link.

    A voter who already holds a card (across restarts) gets CARD_ALREADY_ISSUED and an
    ``issue_refused`` event; nothing is recorded.
    """
    _need_len("token hash", token_hash, TOKEN_HASH_LEN)
    draft = _draft(audit_event, AuditKind.CARD_ISSUED)
    try:
        with db.write() as session:
            require_state(session, "issue a card", PollsState.OPEN)
            row = session.execute(select(VoterRow).where(VoterRow.iin == iin).with_for_update()).scalar_one_or_none()
            if row is None:
                return Refusal.UNKNOWN_VOTER
            if not row.checked_in:
                return Refusal.NOT_CHECKED_IN
            if VoterCard(row.card).holds_card:
                found = Refusal.CARD_ALREADY_ISSUED
            else:
                row.card = VoterCard.ISSUED.value
                row.card_link = links.encrypt(iin, bytes(token_hash))
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


def replace_card(db: StationDB, iin: str, reason: str, *, old_token_hash: bytes | None,
                 links: CardLinkKey) -> ReplaceOutcome | Refusal:
    """Let a voter whose card was issued but not cast get one more card (a spoilt,
    damaged or lost card, or an ISSUE cut short by a crash): REPLACED (old token
    cancelled) or REPLACED_REVOKED (old token revoked), else the refusal.

    The old token is the one the voter's card link names (`links` opens it).
    With ``old_token_hash`` (the old card is in hand and readable, or the station
    still knows the token of a failed ISSUE) it must be that token, and it goes
    issued -> cancelled (kind ``returned``). Without it the linked token goes
    issued -> revoked (kind ``not_returned``): if that card ever comes back it
    is refused. Both use the conditional token UPDATE, so a replacement and a
    cast of the same card cannot both succeed; a card whose ballot is in the box
    is never replaced (ALREADY_COUNTED). A linked token already cancelled (the card
    came back through the cancel dialog) needs no change and counts as returned.
    There is no limit per voter: every replacement kills the old card first.

    ONE transaction updates the voter row (back to NONE, link cleared), the
    token, the replacement counter and chains ``card_replaced`` with the reason
    and whether the card was returned (no voter, no token). A refusal changes
    nothing and chains ``replacement_refused``.
    """
    if old_token_hash is not None:
        _need_len("token hash", old_token_hash, TOKEN_HASH_LEN)
    if not reason or len(reason) > 40:
        raise ValueError("a replacement needs a short reason code")
    returned = old_token_hash is not None
    with db.write() as session:
        require_state(session, "replace a card", PollsState.OPEN)
        outcome = _replace(session, iin, old_token_hash, links)
        if isinstance(outcome, ReplacementKind):
            _bump_replacements(session, outcome)
            returned = outcome is ReplacementKind.RETURNED
            audit.append(session, AuditDraft(AuditKind.CARD_REPLACED, {"reason": reason, "card_returned": returned}),
                         db.clock())
            return ReplaceOutcome.REPLACED if returned else ReplaceOutcome.REPLACED_REVOKED
    audit.record(db, AuditDraft(AuditKind.REPLACEMENT_REFUSED, {"reason": outcome.value, "why": reason,
                                                                "card_returned": returned}))
    return outcome


_REPLACE_REFUSAL = {
    None: Refusal.UNKNOWN_TOKEN,
    TokenState.USED: Refusal.ALREADY_COUNTED,
    TokenState.REVOKED: Refusal.CARD_REVOKED,
}


def _replace(session: Session, iin: str, old_token_hash: bytes | None,
             links: CardLinkKey) -> ReplacementKind | Refusal:
    """The replacement's checks and token step; returns the kind to count, or the refusal."""
    row = session.execute(select(VoterRow).where(VoterRow.iin == iin).with_for_update()).scalar_one_or_none()
    if row is None:
        return Refusal.UNKNOWN_VOTER
    if not row.checked_in:
        return Refusal.NOT_CHECKED_IN
    if not VoterCard(row.card).holds_card:
        return Refusal.NO_CARD_TO_REPLACE
    linked: bytes | None = None
    if row.card_link is not None:
        try:
            linked = links.decrypt(iin, row.card_link)
        except CardLinkError:
            linked = None
    if old_token_hash is not None:
        found = _token_state(session, old_token_hash)
        if found in _REPLACE_REFUSAL:
            return _REPLACE_REFUSAL[found]
        if linked is not None and bytes(old_token_hash) != linked:
            return Refusal.NOT_THEIR_CARD
        target, to, kind = bytes(old_token_hash), TokenState.CANCELLED, ReplacementKind.RETURNED
    elif linked is None:
        return Refusal.CARD_UNLINKED
    else:
        target, to, kind = linked, TokenState.REVOKED, ReplacementKind.NOT_RETURNED
    moved = _move_issued_token(session, target, to)
    if moved is TokenState.CANCELLED:
        kind = ReplacementKind.RETURNED  # handed back before (cancel dialog): nothing left to revoke
    elif moved is not _MOVED:
        return _REPLACE_REFUSAL[moved]  # type: ignore[index]
    row.card = VoterCard.NONE.value
    row.card_link = None
    return kind


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
    return _token_state(session, token_hash)


def _token_state(session: Session, token_hash: bytes) -> TokenState | None:
    found = _TOKEN_STATE.execute(session, token_hash=bytes(token_hash)).fetchone()
    return None if found is None else TokenState(found[0])


def token_state(db: StationDB, token_hash: bytes) -> TokenState | None:
    """Where a token stands (None: never issued here). Advisory: cast_ballot decides."""
    with db.read() as session:
        return _token_state(session, token_hash)


_CAST_REFUSAL = {  # where the token stood -> what the cast returns, and the card_rejected reason
    None: (Refusal.UNKNOWN_TOKEN, Refusal.UNKNOWN_TOKEN),
    TokenState.USED: (CastRecorded.ALREADY_COUNTED, Refusal.ALREADY_COUNTED),
    TokenState.CANCELLED: (Refusal.CARD_CANCELLED, Refusal.CARD_CANCELLED),
    TokenState.REVOKED: (Refusal.CARD_REVOKED, Refusal.CARD_REVOKED),
}


def cast_ballot(
    db: StationDB, token_hash: bytes, style_code: int, sealed: bytes, audit_event: AuditDraft | None = None
) -> CastRecorded | Refusal:
    """Record one voted card exactly once.

    ACCEPTED: in ONE transaction the token goes issued -> used, the ballot is
    stored under a fresh random id and ``audit_event`` (kind ballot_accepted,
    default empty payload: put nothing ballot-derived in it) is chained.
    Otherwise nothing is stored and a ``card_rejected`` event with the reason
    code is chained in its own transaction (ALREADY_COUNTED too, though for the cast it
    is no refusal: the card is only cleared).
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
            return CastRecorded.ACCEPTED
    outcome, reason = _CAST_REFUSAL[found]
    audit.record(db, AuditDraft(AuditKind.CARD_REJECTED, {"reason": reason.value}))
    return outcome


def cancel_issued(db: StationDB, token_hash: bytes, audit_event: AuditDraft | None = None) -> CancelOutcome | Refusal:
    """Cancel an issued, unused card (spoilt, or the voter left): it counts as cancelled.
    A revoked card is not cancelled (CARD_REVOKED): it stays out of use and is kept."""
    _need_len("token hash", token_hash, TOKEN_HASH_LEN)
    draft = _draft(audit_event, AuditKind.CARD_CANCELLED)
    with db.write() as session:
        require_state(session, "cancel a card", PollsState.OPEN)
        found = _move_issued_token(session, token_hash, TokenState.CANCELLED)
        if found is _MOVED:
            audit.append(session, draft, db.clock())
            return CancelOutcome.CANCELLED
    return {None: Refusal.UNKNOWN_TOKEN, TokenState.USED: Refusal.ALREADY_COUNTED,
            TokenState.CANCELLED: CancelOutcome.ALREADY_CANCELLED, TokenState.REVOKED: Refusal.CARD_REVOKED}[found]


def record_rejection(db: StationDB, reason: Refusal, payload: Mapping[str, Any] | None = None) -> AuditEvent:
    """Chain a card_rejected event for a card refused before it reached cast_ballot
    (wrong election, bad signature, ...)."""
    return audit.record(db, AuditDraft(AuditKind.CARD_REJECTED, {**(payload or {}), "reason": Refusal(reason).value}))


def ballots(db: StationDB) -> list[StoredBallot]:
    """Every stored ballot, ordered by its random id (never by storage order)."""
    with db.read() as session:
        return [StoredBallot(r.id, r.style_code, r.sealed) for r in session.scalars(select(BallotRow).order_by(BallotRow.id))]


def counters(db: StationDB) -> ProtocolCounters:
    """The protocol count lines, read in one snapshot."""
    with db.read() as session:
        on_list = session.scalar(select(func.count()).select_from(VoterRow)) or 0
        forms = dict(session.execute(select(VoterRow.ballot_form, func.count()).group_by(VoterRow.ballot_form)).all())
        additional = session.scalar(select(func.count()).select_from(VoterRow)
                                    .where(VoterRow.additional.is_(True))) or 0
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
        revoked=by_state.get(TokenState.REVOKED.value, 0),
        voters_additional=additional,
        voters_paper=forms.get(BallotForm.PAPER.value, 0),
        voters_outside=forms.get(BallotForm.OUTSIDE.value, 0),
    )


# --- paper-ballot counters (the rules that move them: pollbook.check_in, paper.py, mobile.py) ----


def paper_counts(session: Session, *, lock: bool = False) -> dict[PaperKind, int]:
    """Every paper counter (0 when never bumped), inside the caller's transaction. `lock`:
    FOR UPDATE on the counter rows, so two steps that take paper queue on PostgreSQL
    (the lock order puts them after the voter and request rows, before the audit head)."""
    query = select(PaperCountRow.kind, PaperCountRow.count)
    if lock:
        # Lock first, read after, in two statements: under READ COMMITTED a locking read
        # that waited returns the locked rows' new versions but not a row the other
        # transaction inserted (a counter's first bump); the next statement's snapshot
        # sees it. (A taker of paper always finds the `received` row there to lock.)
        session.execute(query.with_for_update()).all()
    found = {PaperKind(k): c for k, c in session.execute(query).all()}
    return {kind: found.get(kind, 0) for kind in PaperKind}


def paper_in_hand(counts: Mapping[PaperKind, int]) -> int:
    """Paper ballots left at the table: received - issued in the station - spoiled at the
    table - taken by the mobile teams + brought back unused (paper.py)."""
    return (counts[PaperKind.RECEIVED] - counts[PaperKind.ISSUED_IN_STATION] - counts[PaperKind.SPOILED]
            - counts[PaperKind.MOBILE_TAKEN] + counts[PaperKind.MOBILE_UNUSED])


def bump_paper(session: Session, kind: PaperKind, by: int = 1) -> None:
    """Add `by` to one paper counter, inside the caller's transaction."""
    if by == 0:
        return
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = module.insert(PaperCountRow).values(kind=kind.value, count=by)
    statement = statement.on_conflict_do_update(index_elements=[PaperCountRow.kind],
                                                set_={"count": PaperCountRow.count + by})
    session.execute(statement)

