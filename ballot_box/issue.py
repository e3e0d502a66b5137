"""Issue: a blank card becomes the selected voter's ballot card (DESIGN.md §2 step 2).

Crash ordering: the token hash is committed as "issued" (and the voter marked as
holding a card, with its card link) BEFORE the card is written. A token recorded
but never written is an outstanding card: it counts in `cards_issued`, is never
cast, and is reported at close as outstanding. While the process lives, a failed
ISSUE is reconciled at once (`IssueQueue.pending`): the same issue block (same
token) is retried on that card when it comes back BLANK, or the token is
cancelled as a replacement (`abandon_pending`) if the clerk takes another card; an
ISSUED card carrying a token this station cancelled is cleared by a cancel
("already cancelled"). One card per voter, across restarts: the database says who
holds one (`CardAlreadyIssued`, an ``issue_refused`` audit event).

The queue of checked-in voters waiting for a card is in memory only (`IssueQueue`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sailau.election.record import IssueBlock, new_issue_block
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError

from . import pollbook, store
from .audit import AuditDraft, AuditKind
from .pollbook import Voter
from .refusal import Refusal
from .results import (
    CardAlreadyIssued,
    CardNotBlank,
    IssueFailed,
    IssueResult,
    NoVoterSelected,
    ReplaceReason,
    StationOperation,
    VoterNotWaiting,
    storage_guard,
)

if TYPE_CHECKING:
    from .station import Station

__all__ = ["IssueQueue", "PendingIssue", "abandon_pending", "issue_card", "issue_done", "issue_to", "waiting_voter"]


@dataclass
class PendingIssue:
    """A failed ISSUE whose token is already recorded (see module doc)."""

    iin: str
    block: IssueBlock
    serial: bytes


@dataclass
class IssueQueue:
    """In-memory only: the queue of checked-in voters waiting for a card, in check-in
    order, and a failed ISSUE's token. Who holds a card is in the database (the voter
    row's card flag); after a restart the queue is empty and `select_voter`
    re-queues a checked-in voter who holds no card.
    """

    waiting: dict[str, Voter] = field(default_factory=dict)  # iin -> voter, in check-in order
    selected: str | None = None
    pending: PendingIssue | None = None


@storage_guard(StationOperation.ISSUE)
def issue_card(station: Station, client: BallotCardClient, voter: Voter | str | None = None) -> IssueResult:
    """ISSUE a blank card to `voter` (default: the selected voter); see the module doc."""
    client.select()
    status = client.status()
    if status.state is not CardState.BLANK:
        raise CardNotBlank(f"card {status.serial.hex()} is {status.state.name}, not BLANK: it cannot be issued")
    if voter is None:
        voter = station.selected_voter
        if voter is None:
            raise NoVoterSelected("no checked-in voter is waiting for a card: check a voter in first")
    iin = voter if isinstance(voter, str) else voter.iin
    return issue_to(station, client, waiting_voter(station, iin), status.serial)


def waiting_voter(station: Station, iin: str) -> Voter:
    voter = station.queue.waiting.get(iin)
    if voter is None:
        voter = station.select_voter(iin)
    return voter


@storage_guard(StationOperation.ISSUE)
def issue_to(station: Station, client: BallotCardClient, voter: Voter, serial: bytes) -> IssueResult:
    master = station.master_key()
    s = station.queue
    pending = s.pending
    reused = False
    if pending is not None and pending.iin == voter.iin and pending.serial == serial:
        block, reused = pending.block, True  # the same card came back BLANK: same token
    else:
        if pending is not None:
            abandon_pending(station)
        block = new_issue_block(station.election.fingerprint, station.precinct, station.style)
        outcome = store.issue_to_voter(station.db, voter.iin, block.token_hash,
                                       AuditDraft(AuditKind.CARD_ISSUED, {"style": station.style}),
                                       links=station.card_links())
        if isinstance(outcome, Refusal):
            s.waiting.pop(voter.iin, None)
            if s.selected == voter.iin:
                s.selected = next(iter(s.waiting), None)
            if outcome is Refusal.CARD_ALREADY_ISSUED:
                raise CardAlreadyIssued(f"voter {voter.iin} already got a card: "
                                        "a second card only by replacing the first")
            raise VoterNotWaiting(f"voter {voter.iin} cannot get a card: {outcome.value}")
        s.pending = PendingIssue(voter.iin, block, serial)
    station.fault_hook("issue:recorded")
    try:
        client.issue(block.pack(), master)
    except CardError as exc:
        raise IssueFailed(
            f"the card was not issued ({exc}). Insert the same card again to retry; "
            "with another card the first card's token is cancelled"
        ) from exc
    station.fault_hook("issue:written")
    return issue_done(station, voter.iin, serial, reused=reused)


def issue_done(station: Station, iin: str, serial: bytes, *, reused: bool) -> IssueResult:
    s = station.queue
    s.pending = None
    voter = s.waiting.pop(iin, None)
    if voter is None:  # pragma: no cover - pending always belongs to a waiting voter
        voter = pollbook.find_by_iin(station.db, iin)
    if s.selected == iin:
        s.selected = next(iter(s.waiting), None)
    return IssueResult(voter=voter, style=station.style, serial=serial, reused_token=reused)


def abandon_pending(station: Station) -> None:
    """The clerk moved on from a failed ISSUE: its token is cancelled as a replacement
    with the token known (the voter was marked as holding that card; they may get
    another). Its card, if the ISSUE did land, is cleared when next inserted."""
    pending = station.queue.pending
    assert pending is not None
    store.replace_card(station.db, pending.iin, ReplaceReason.ISSUE_FAILED.value,
                       old_token_hash=pending.block.token_hash, links=station.card_links())
    station.queue.pending = None
