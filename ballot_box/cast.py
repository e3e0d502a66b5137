"""Cast: a voted card's ballot goes into the box exactly once (DESIGN.md §2 step 4).

Crash ordering: everything is verified from the card's bytes without writing
anything; then ONE database transaction marks the token used, stores the sealed
ballot and chains the audit event (store.cast_ballot); only then is the card
CLEARED. A crash before the commit leaves the card VOTED and nothing stored:
re-inserting casts it. A crash after the commit leaves the card VOTED with a used
token: re-inserting finds "already counted" and only clears it. So every ballot
is stored exactly once. A CLEAR the card refuses after the commit is reported as
such (`ClearOutcome.REFUSED`): the ballot IS counted, the card goes in again.

The result says "counted" and nothing derived from the ballot: no receipt code
(that is the booth's, shown to the voter only), so the table, its screen and its
logs cannot tie a voter to a ballot. The ballot box cannot decrypt during polling
hours: it checks the record's format and the enrolled terminal's signature (which
covers the issue block and the ciphertext). A refused card is never written to:
the `Refusal` is returned and a ``card_rejected`` audit event chained.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from sailau.election.record import (
    BadSignatureError,
    IssueBlock,
    RecordFormatError,
    SealedBallot,
    UnknownTerminalError,
    verify_ballot_record,
)
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardRemovedError

from . import oplog, store
from .db import storage_problem
from .models import PollsState, TokenState
from .refusal import Refusal
from .results import (
    CAST_MESSAGES,
    MESSAGES,
    CastResult,
    CastStatus,
    Recorded,
    StationOperation,
    StorageFailed,
    storage_guard,
)
from .store import CastRecorded, WrongPollsState

if TYPE_CHECKING:
    from .station import Station

__all__ = ["cast_card", "cast_inserted"]


def cast_card(station: Station, client: BallotCardClient) -> CastResult:
    """Read, verify, record exactly once, clear (see the module doc)."""
    try:
        client.select()
    except CardRemovedError:
        return reject(station, Refusal.CARD_REMOVED)
    return cast_inserted(station, client)


@storage_guard(StationOperation.CAST)
def cast_inserted(station: Station, client: BallotCardClient) -> CastResult:
    state = station.polls_state
    if state is not PollsState.OPEN:
        raise WrongPollsState("cast a ballot", state, (PollsState.OPEN,))
    station.fault_hook("cast:start")
    try:
        status = client.status()
        if status.state is not CardState.VOTED:
            return reject(station, Refusal.CARD_NOT_VOTED)
        data = client.read_data()
    except CardRemovedError:
        return reject(station, Refusal.CARD_REMOVED)
    station.fault_hook("cast:read")
    if data.issue_block is None or data.record is None:
        return reject(station, Refusal.MALFORMED_RECORD)
    try:
        block = IssueBlock.parse(data.issue_block)
    except RecordFormatError:
        return reject(station, Refusal.MALFORMED_RECORD)
    refusal = station.check_block(block)
    if refusal is not None:
        return reject(station, refusal)
    try:
        record = verify_ballot_record(block, data.record, station.terminal_keys(data.record), station.plaintext_len)
    except RecordFormatError:
        return reject(station, Refusal.MALFORMED_RECORD)
    except UnknownTerminalError:
        return reject(station, Refusal.UNKNOWN_TERMINAL)
    except BadSignatureError:
        return reject(station, Refusal.BAD_SIGNATURE)
    sealed = SealedBallot.from_record(block, record)
    station.fault_hook("cast:verified")
    try:
        outcome = store.cast_ballot(station.db, block.token_hash, block.style, sealed.pack())
    except SQLAlchemyError as exc:
        raise cast_not_recorded(station, exc, block.token_hash) from exc
    station.fault_hook("cast:committed")
    if isinstance(outcome, Refusal):  # UNKNOWN_TOKEN, CARD_CANCELLED, CARD_REVOKED (kept, not cleared)
        return rejected(outcome)  # store chained the audit event
    cleared = station.clear_card(client)
    station.fault_hook("cast:cleared")
    status_ = CastStatus.ACCEPTED if outcome is CastRecorded.ACCEPTED else CastStatus.ALREADY_COUNTED
    return CastResult(status_, CAST_MESSAGES[status_, cleared], clear=cleared)


def cast_not_recorded(station: Station, exc: BaseException, token_hash: bytes) -> BaseException:
    """The cast transaction failed: what does the token say now? (A failed COMMIT
    is a rollback on SQLite; on a lost PostgreSQL connection it may have landed.)"""
    problem = storage_problem(exc)
    if problem is None:
        return exc
    oplog.failure(StationOperation.CAST.value, exc)
    try:
        state = store.token_state(station.db, token_hash)
    except SQLAlchemyError as again:
        oplog.failure("cast: reading the token back", again)
        return StorageFailed(StationOperation.CAST, problem, Recorded.UNKNOWN)
    recorded = Recorded.COUNTED if state is TokenState.USED else Recorded.NOTHING
    return StorageFailed(StationOperation.CAST, problem, recorded)


def reject(station: Station, reason: Refusal) -> CastResult:
    station.audit_rejection(reason)
    return rejected(reason)


def rejected(reason: Refusal) -> CastResult:
    return CastResult(CastStatus.REJECTED, MESSAGES[reason], reason=reason)
