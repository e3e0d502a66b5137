"""Replace: a voter whose card was issued but not cast gets one more card.

A spoilt, damaged or lost card, or an ISSUE cut short by a crash. The old token
is first killed in the database: with the old card in hand it is cancelled, then
the card cleared; without it (`card_not_returned=True`) the token the voter's
card link names is revoked, so if that card ever comes back it is refused by
name (``card_revoked``) and kept, not cleared. A card whose ballot is already
counted is never replaced. So a replacement can never add a ballot, there is no
limit per voter (a second crash while issuing is replaced like the first), and
"ballots cast <= voters checked in" holds by construction. Every replacement is
counted (`cards_replaced`, of which `cards_not_returned`) and audited; every
refusal too (`ReplacementRefused` with its `Refusal`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sailau.election.record import IssueBlock, RecordFormatError
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardRemovedError

from . import pollbook, store
from .pollbook import Voter
from .refusal import Refusal
from .results import (
    CLEAR_FAILED,
    MESSAGES,
    REPLACE_MESSAGES,
    ClearOutcome,
    OldCardNeeded,
    ReplaceReason,
    ReplacementRefused,
    ReplaceResult,
    StationOperation,
    storage_guard,
)
from .store import ReplaceOutcome

if TYPE_CHECKING:
    from .station import Station

__all__ = ["replace_card"]


@storage_guard(StationOperation.REPLACE)
def replace_card(
    station: Station,
    voter: Voter | str,
    reason: ReplaceReason | str,
    *,
    old_card: BallotCardClient | None = None,
    card_not_returned: bool = False,
) -> ReplaceResult:
    """Give a checked-in voter whose card was issued but not cast the right to one
    more card (see the module doc); the voter becomes the selected, waiting one.

    `old_card` (connected): the old card, handed back. It must be ISSUED with
    the token this voter's card carries, unused; the token is cancelled, then
    the card cleared (it may be the new card). Without it the clerk states the
    card is not returned (`card_not_returned=True`, else `OldCardNeeded`): the
    voter's token is revoked, so that card is refused if it comes back. If
    this process still knows the voter's failed ISSUE token, that token is
    cancelled instead. Raises `ReplacementRefused` (with a `reason` code) and
    audits every refusal; a card already counted is never replaced.
    """
    reason = ReplaceReason(reason)
    iin = voter if isinstance(voter, str) else voter.iin
    found = pollbook.find_by_iin(station.db, iin)
    if found is None:
        raise pollbook.VoterNotFound(f"IIN {iin} is not on this precinct's list")
    old_token: bytes | None = None
    pending = station.queue.pending
    if old_card is not None:
        old_token = old_card_token(station, old_card)
    elif pending is not None and pending.iin == found.iin:
        old_token = pending.block.token_hash  # a failed ISSUE of this process: its token is known
    elif not card_not_returned:
        raise OldCardNeeded(
            "insert the old card to replace it; if it cannot be handed back, confirm that it is not "
            "returned (its token is then revoked: that card is refused if it comes back)")
    outcome = store.replace_card(station.db, found.iin, reason.value, old_token_hash=old_token,
                                 links=station.card_links())
    if isinstance(outcome, Refusal):
        raise ReplacementRefused(outcome, REPLACE_MESSAGES[outcome])
    station.fault_hook("replace:recorded")  # old token cancelled/revoked, handed-back card not yet cleared
    if pending is not None and (pending.iin == found.iin or pending.block.token_hash == old_token):
        station.queue.pending = None
    cleared = station.clear_card(old_card) if old_card is not None else None
    voter_now = pollbook.find_by_iin(station.db, found.iin)
    assert voter_now is not None
    station.queue.waiting[found.iin] = voter_now
    station.queue.selected = found.iin
    returned = outcome is ReplaceOutcome.REPLACED
    if returned:
        message = "Old card cancelled" + (" and cleared" if cleared is ClearOutcome.CLEARED else "") + \
            ": the voter may get a new card." + ("" if cleared in (None, ClearOutcome.CLEARED) else CLEAR_FAILED[cleared])
    else:
        message = ("Card replaced without the old card: its token is revoked, so that card is refused if it "
                   "comes back. The voter may get a new card.")
    return ReplaceResult(voter_now, reason, card_returned=returned, clear=cleared, message=message)


def old_card_token(station: Station, client: BallotCardClient) -> bytes:
    """The token hash of a handed-back ISSUED card of this election and precinct."""
    try:
        client.select()
        status = client.status()
        if status.state is not CardState.ISSUED:
            station.audit_rejection(Refusal.CARD_NOT_ISSUED, during="replace")
            hint = (" It holds a ballot: cast it." if status.state is CardState.VOTED else
                    " A blank card carries no token: replace without the old card." if status.state is CardState.BLANK
                    else "")
            raise ReplacementRefused(Refusal.CARD_NOT_ISSUED,
                                     f"The card is {status.state.name}: only an issued card can be handed back.{hint}")
        data = client.read_data()
    except CardRemovedError:
        station.audit_rejection(Refusal.CARD_REMOVED, during="replace")
        raise ReplacementRefused(Refusal.CARD_REMOVED, MESSAGES[Refusal.CARD_REMOVED]) from None
    try:
        block = IssueBlock.parse(data.issue_block or b"")
    except RecordFormatError:
        refusal: Refusal | None = Refusal.MALFORMED_RECORD
    else:
        refusal = station.check_block(block)
    if refusal is not None:
        station.audit_rejection(refusal, during="replace")
        raise ReplacementRefused(refusal, MESSAGES[refusal])
    return block.token_hash
