"""Cancel: an issued, unused card is taken back (the voter left without voting).

Crash ordering: the token is cancelled in the database first, then the card
cleared; re-inserting a card whose token is already cancelled just clears it
("already cancelled"). A revoked card is refused (CARD_REVOKED) and kept, not
cleared. Every refusal is returned as a `Refusal` and audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sailau.election.record import IssueBlock, RecordFormatError
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardRemovedError

from . import store
from .refusal import Refusal
from .results import CLEAR_FAILED, MESSAGES, CancelResult, CancelStatus, ClearOutcome, StationOperation, storage_guard
from .store import CancelOutcome

if TYPE_CHECKING:
    from .station import Station

__all__ = ["cancel_card"]


@storage_guard(StationOperation.CANCEL)
def cancel_card(station: Station, client: BallotCardClient) -> CancelResult:
    """Cancel an ISSUED card (the voter left without voting): token cancelled, card cleared."""
    try:
        client.select()
        status = client.status()
        if status.state is not CardState.ISSUED:
            return reject_cancel(station, Refusal.CARD_NOT_ISSUED,
                                       f"The card is {status.state.name}: only an issued, unused card can be cancelled.")
        data = client.read_data()
    except CardRemovedError:
        return reject_cancel(station, Refusal.CARD_REMOVED)
    try:
        block = IssueBlock.parse(data.issue_block or b"")
    except RecordFormatError:
        return reject_cancel(station, Refusal.MALFORMED_RECORD)
    refusal = station.check_block(block)
    if refusal is not None:
        return reject_cancel(station, refusal)
    token_hash = block.token_hash
    pending = station.queue.pending
    if pending is not None and pending.block.token == block.token:
        station.queue.pending = None
    outcome = store.cancel_issued(station.db, token_hash)
    if isinstance(outcome, Refusal):  # UNKNOWN_TOKEN, ALREADY_COUNTED, CARD_REVOKED (kept, not cleared)
        return reject_cancel(station, outcome)
    cleared = station.clear_card(client)
    done = cleared is ClearOutcome.CLEARED
    if outcome is CancelOutcome.CANCELLED:
        status_ = CancelStatus.CANCELLED
        message = "Card cancelled and cleared." if done else "Card cancelled." + CLEAR_FAILED[cleared]
    else:
        status_ = CancelStatus.ALREADY_CANCELLED
        message = ("This card was already cancelled; it is now cleared." if done else
                   "This card was already cancelled." + CLEAR_FAILED[cleared])
    return CancelResult(status_, message, clear=cleared)


def reject_cancel(station: Station, reason: Refusal, message: str | None = None) -> CancelResult:
    station.audit_rejection(reason, during="cancel")
    return CancelResult(CancelStatus.REJECTED, message or MESSAGES[reason], reason=reason)
