"""The ballot-box station service: one façade the clerk app, the simulator and the tests use.

`Station` ties the storage (store.py, pollbook.py, audit.py) to the ballot card
(sailau.smartcard) and the record formats (sailau.election.record). It decides
what an inserted card means from the card's own state (DESIGN.md §2), in
`on_card`:

    BLANK  -> issue it to the selected checked-in voter   (issue.py)
    ISSUED -> offer to cancel it (the voter left)           (cancel.py)
    VOTED  -> cast it: verify, record exactly once, clear  (cast.py)

and offers the other steps: replace a voter's card (replace.py), close the polls
(close.py: close, seal, count, sign). Each step's module states its crash
ordering (a crash = the process dies at any instruction, the card is pulled at
any APDU); the types they return and raise are in results.py, every refusal is
a `Refusal` (refusal.py). This module holds what the steps share: the binding of
the database to (election, precinct, station key), the queue of voters waiting
for a card (`issue.IssueQueue`, in memory), the enrolled terminal keys, and the
card helpers (membership check, CLEAR, rejection audit).

Storage failures (disk full, read-only, unreachable database) never escape as raw
database errors: each public operation raises `StorageFailed` naming the
operation, the `StorageProblem` and what was recorded (`Recorded`): nothing
(every write is one transaction, so a failed one left nothing), or, for a cast
whose COMMIT failed in a way the driver cannot vouch for, what the token now says
(counted, or unknown when even that read fails; re-inserting the card settles it,
once). The raw error goes to the operator log (oplog.py), never to the clerk.

Rejected cards are never written to: the reason is returned (a `Refusal` and a
plain message) and a ``card_rejected`` audit event is chained.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import crypto
from sailau.election.definition import Election, ElectionLookupError
from sailau.election.members import CommissionMembers, Member
from sailau.election.record import IssueBlock
from sailau.election.shares import Share
from sailau.election.styles import PrecinctBallot, card_mismatch
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError, CardRemovedError

from . import (audit, cancel, cast, handcount, issue, mobile, oplog, paper, pollbook, replace, results,
               station_members, store)
from .audit import AuditDraft, AuditKind
from .cardlink import CardLinkKey
from .db import StationDB
from .handcount import HandCount, HandCountState
from .issue import IssueQueue
from .mobile import MobileRequest, MobileTrip
from .models import BallotForm, PollsState
from .paper import PaperLedger, PaperReceiptAct
from .pollbook import Voter
from .refusal import Refusal, for_mismatch
from .results import (
    ActionKind,
    CancelResult,
    CardAction,
    CardAlreadyIssued,
    CastResult,
    CastStatus,
    ClearOutcome,
    HandCountRefused,
    IssueFailed,
    IssueResult,
    ReplaceReason,
    ReplaceResult,
    StationError,
    StationMismatch,
    StationOperation,
    TerminalKey,
    VoterNotWaiting,
    ZeroReport,
    ZeroReportFailed,
    storage_guard,
)
from .store import ProtocolCounters, StationInfo, WrongPollsState

if TYPE_CHECKING:
    from .close import ClosingResult

__all__ = ["FaultHook", "Refusal", "Station", "StationStatus", "read_status", *results.__all__]


def __getattr__(name: str) -> object:
    """The result and error types live in results.py; the façade names them too
    (``from sailau.ballot_box.station import CastStatus`` keeps working)."""
    if name in results.__all__:
        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")



FaultHook = Callable[[str], None]


def _no_fault(_point: str) -> None:
    return None


# --- read-only status -----------------------------------------------------------------


@dataclass(frozen=True)
class StationStatus:
    """What a station database says about itself: binding, polls state, counters."""

    info: StationInfo
    counters: ProtocolCounters


def _fingerprint_problem(info: StationInfo, election: Election) -> str | None:
    if info.election_fingerprint == election.fingerprint:
        return None
    return (f"election fingerprint {info.election_fingerprint.hex()[:16]}... "
            f"is not this definition's {election.fingerprint_hex[:16]}...")


def read_status(db: StationDB, election: Election | None = None) -> StationStatus:
    """The polls state and live counters, read from the database alone.

    Needs no station key and no card master key: nothing is signed, written or
    migrated here (open the database with ``migrate_schema=False``). With
    `election`, the database must be bound to that definition, else
    StationMismatch; `store.StationNotSetUp` when no election is set up.
    """
    info = store.station_info(db)
    if election is not None:
        problem = _fingerprint_problem(info, election)
        if problem is not None:
            raise StationMismatch("this station database is set up for " + problem)
    return StationStatus(info, store.counters(db))


# --- the service ----------------------------------------------------------------------


class Station:
    """The registration-table station for one election and precinct.

    Construct with an open `StationDB`; the first construction on an empty
    database binds it to (election, precinct, station key); later ones must
    match, else StationMismatch. `card_master_key` may be None for ops tools
    that never touch a card (open, close). `fault_hook(point)` is called at
    named points of the cast, issue and replace paths (crash tests kill the
    process there).
    """

    def __init__(
        self,
        db: StationDB,
        election: Election,
        precinct: int,
        station_key: ed25519.Ed25519PrivateKey,
        card_master_key: bytes | None,
        *,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.db = db
        self.election = election
        self.station_key = station_key
        self.card_master_key = None if card_master_key is None else bytes(card_master_key)
        self._links = None if card_master_key is None else CardLinkKey.from_master_key(self.card_master_key)
        self.fault_hook = fault_hook or _no_fault
        try:
            definition = election.precinct(precinct)
        except ElectionLookupError as exc:  # "precinct N is not in election X": says it all
            raise StationMismatch(str(exc)) from None
        self.precinct = definition.number
        self.style = definition.style
        self.plaintext_len = election.plaintext_length
        self.station_key_id = crypto.key_id(station_key.public_key())
        self.info = self._bind()
        self.queue = IssueQueue()
        self._terminals: dict[bytes, ed25519.Ed25519PublicKey] = {}

    @classmethod
    def attach(
        cls,
        db: StationDB,
        election: Election,
        station_key: ed25519.Ed25519PrivateKey,
        card_master_key: bytes | None,
        **kwargs: object,
    ) -> Station:
        """A Station over a database already set up (precinct read from it)."""
        info = store.station_info(db)
        return cls(db, election, info.precinct, station_key, card_master_key, **kwargs)  # type: ignore[arg-type]

    def _bind(self) -> StationInfo:
        try:
            info = store.station_info(self.db)
        except store.StationNotSetUp:
            return store.setup_station(self.db, self.election.fingerprint, self.precinct, self.station_key_id)
        problems = [p for p in (_fingerprint_problem(info, self.election),) if p is not None]
        if info.precinct != self.precinct:
            problems.append(f"precinct {info.precinct}, not {self.precinct}")
        if info.station_key_id != self.station_key_id:
            problems.append(f"station key {info.station_key_id.hex()}, not {self.station_key_id.hex()}")
        if problems:
            raise StationMismatch("this station database is set up for " + "; ".join(problems))
        return info

    # -- state and counters -------------------------------------------------------

    @property
    @storage_guard(StationOperation.READ)
    def polls_state(self) -> PollsState:
        return store.station_info(self.db).state

    @storage_guard(StationOperation.READ)
    def counters(self) -> ProtocolCounters:
        """Live counts for the clerk: on list, checked in, issued, cast, cancelled, outstanding."""
        return store.counters(self.db)

    @property
    def waiting(self) -> list[Voter]:
        """Checked-in voters still waiting for a card (this session), in check-in order."""
        return list(self.queue.waiting.values())

    @property
    def selected_voter(self) -> Voter | None:
        s = self.queue
        return None if s.selected is None else s.waiting.get(s.selected)

    # -- opening --------------------------------------------------------------------

    @storage_guard(StationOperation.ENROL)
    def enrol_terminal(self, terminal: TerminalKey) -> bytes:
        """Enrol one booth terminal key (setup or open polls); returns its key id."""
        key_id = terminal.key_id
        store.enrol_terminal(self.db, key_id, terminal.public_key, terminal.label or key_id.hex())
        self._terminals.pop(key_id, None)
        return key_id

    @storage_guard(StationOperation.OPEN)
    def open_polls(self, terminals: Iterable[TerminalKey | bytes]) -> ZeroReport:
        """Enrol the terminals, check the box is empty (zero report), open the polls."""
        for t in terminals:
            self.enrol_terminal(t if isinstance(t, TerminalKey) else TerminalKey(bytes(t)))
        state = self.polls_state
        if state is not PollsState.SETUP:
            raise WrongPollsState("open the polls", state, (PollsState.SETUP,))
        counts = store.counters(self.db)
        ballots = len(store.ballots(self.db))
        chain = audit.verify_db(self.db)
        enrolled = tuple(t.key_id.hex() for t in store.terminals(self.db))
        problems = []
        if ballots or counts.cast:
            problems.append(f"{ballots} ballot(s) already stored")
        if counts.issued:
            problems.append(f"{counts.issued} card(s) already issued")
        if counts.checked_in:
            problems.append(f"{counts.checked_in} voter(s) already checked in")
        if not chain.ok:
            problems.append(f"audit chain broken: {chain.problem}")
        if not enrolled:
            problems.append("no voting terminal enrolled")
        if problems:
            raise ZeroReportFailed("zero report failed, polls not opened: " + "; ".join(problems))
        payload = {"ballots_stored": 0, "cards_issued": 0, "voters_on_list": counts.on_list,
                   "terminals": list(enrolled)}
        event = store.record_polls_opened(self.db, AuditDraft(AuditKind.POLLS_OPENED, payload))
        return ZeroReport(
            election_id=self.election.id, election_fingerprint=self.election.fingerprint_hex,
            precinct=self.precinct, ballots_stored=0, cards_issued=0, voters_on_list=counts.on_list,
            terminals=enrolled, audit_events=event.seq, audit_head=event.hash, opened_at=event.time,
        )

    # -- voters ---------------------------------------------------------------------

    @storage_guard(StationOperation.SEARCH)
    def search(self, query: str, *, limit: int = 50) -> list[Voter]:
        return pollbook.search(self.db, query, limit=limit)

    @storage_guard(StationOperation.CHECK_IN)
    def check_in(self, iin: str, form: BallotForm = BallotForm.CARD) -> Voter:
        """Check a voter in (pollbook rules) for `form`. A CARD voter is queued for a card and
        becomes selected; a PAPER voter is handed a paper ballot (the table's count moves in
        the check-in's transaction) and is not queued. Refusals: pollbook.check_in."""
        voter = pollbook.check_in(self.db, iin, BallotForm(form))
        if voter.ballot_form is BallotForm.CARD:
            self.queue.waiting[voter.iin] = voter
            self.queue.selected = voter.iin
        return voter

    # -- paper ballots and the additional list (paper.py, pollbook.py) -----------------

    @storage_guard(StationOperation.PAPER)
    def exchange_paper(self, iin: str) -> PaperLedger:
        """A paper voter's spoiled ballot is cancelled and a new one handed over: paper.exchange."""
        return paper.exchange(self.db, iin)

    @storage_guard(StationOperation.PAPER)
    def receive_paper(self, count: int, from_whom: str, received_by: str, *,
                      now: dt.datetime | None = None) -> PaperReceiptAct:
        """Record and sign an act of receipt of paper ballots (station key): paper.receive.
        The caller writes the act to its out dir (`PaperReceiptAct.write`)."""
        return paper.receive(self.db, self.election, self.precinct, self.station_key, count, from_whom,
                             received_by, now=now)

    @storage_guard(StationOperation.PAPER)
    def add_voter(self, iin: str, surname: str, given_name: str, patronymic: str,
                  birth_date: dt.date | str) -> Voter:
        """Add a voter to the additional list: pollbook.add_voter."""
        return pollbook.add_voter(self.db, iin, surname, given_name, patronymic, birth_date)

    @storage_guard(StationOperation.READ)
    def paper_ledger(self) -> PaperLedger:
        """The paper figures (received, issued, spoiled, in hand, out with teams, ...): paper.ledger."""
        return paper.ledger(self.db)

    @storage_guard(StationOperation.READ)
    def paper_receipts(self) -> list[PaperReceiptAct]:
        """Every signed act of receipt, in order (to write them again after a crash)."""
        return paper.receipt_acts(self.db)

    # -- the mobile ballot box (mobile.py) ----------------------------------------------

    @storage_guard(StationOperation.MOBILE)
    def request_mobile(self, iin: str, reason: str, received_by: str, *,
                       now: dt.datetime | None = None) -> MobileRequest:
        """Record a written request to vote outside: mobile.request."""
        return mobile.request(self.db, self.election, iin, reason, received_by, now=now)

    @storage_guard(StationOperation.MOBILE)
    def withdraw_mobile(self, iin: str) -> MobileRequest:
        """Withdraw a pending request to vote outside: mobile.withdraw."""
        return mobile.withdraw(self.db, iin)

    @storage_guard(StationOperation.MOBILE)
    def send_mobile_team(self, members: Sequence[str], ballots: int,
                         iins: Sequence[str] | None = None) -> MobileTrip:
        """The mobile team leaves with counted paper ballots and its list: mobile.send_team."""
        return mobile.send_team(self.db, members, ballots, iins)

    @storage_guard(StationOperation.MOBILE)
    def return_mobile_team(self, trip_id: int, voted: Sequence[str], unused: int, spoiled: int) -> MobileTrip:
        """The mobile team is back (voters marked OUTSIDE, unused and spoiled counted): mobile.return_team."""
        return mobile.return_team(self.db, trip_id, voted, unused, spoiled)

    @storage_guard(StationOperation.READ)
    def mobile_requests(self) -> list[MobileRequest]:
        return mobile.requests(self.db)

    @storage_guard(StationOperation.READ)
    def mobile_trips(self) -> list[MobileTrip]:
        return mobile.trips(self.db)

    @storage_guard(StationOperation.SELECT)
    def select_voter(self, iin: str) -> Voter:
        """Make a checked-in voter the one the next blank card is issued to.

        Also re-queues a voter checked in before a restart (the queue is not
        stored). Refused for a voter not checked in, and for one who holds a card
        (`CardAlreadyIssued`, audited; the database says so, also after a restart).
        """
        voter = pollbook.find_by_iin(self.db, iin)
        if voter is None:
            raise pollbook.VoterNotFound(f"IIN {iin} is not on this precinct's list")
        if not voter.checked_in:
            raise VoterNotWaiting(f"voter {voter.iin} is not checked in: check them in first")
        if voter.ballot_form is BallotForm.PAPER:
            raise VoterNotWaiting(f"voter {voter.iin} took a paper ballot: no card for them")
        if voter.card.holds_card:
            self.queue.waiting.pop(voter.iin, None)
            audit.record(self.db, AuditDraft(AuditKind.ISSUE_REFUSED, {"reason": Refusal.CARD_ALREADY_ISSUED.value}))
            raise CardAlreadyIssued(f"voter {voter.iin} already got a card: a second card only by replacing the first")
        self.queue.waiting[voter.iin] = voter
        self.queue.selected = voter.iin
        return voter

    # -- cards (each step in its module) --------------------------------------------

    @storage_guard(StationOperation.READ)
    def on_card(self, client: BallotCardClient) -> CardAction:
        """A card was inserted (transport connected): its state decides what happens.

        A card pulled while it is being looked at gives REMOVED (nothing written,
        nothing recorded), a voted card pulled while it is read gives CAST with a
        ``card_removed`` rejection (audited, as `cast_card`). Raises IssueFailed
        when a blank card is pulled mid-ISSUE (see `issue_card`).
        """
        try:
            client.select()
            status = client.status()
        except CardRemovedError:
            return CardAction(ActionKind.REMOVED, None, b"")
        if status.state is CardState.VOTED:
            return CardAction(ActionKind.CAST, status.state, status.serial, cast=cast.cast_inserted(self, client))
        if status.state is CardState.ISSUED:
            pending = self.queue.pending
            if pending is not None and pending.serial == status.serial:
                try:
                    data = client.read_data()
                except CardRemovedError:
                    return CardAction(ActionKind.REMOVED, status.state, status.serial)
                if data.issue_block == pending.block.pack():
                    # the failed ISSUE did land: the card is the voter's
                    return CardAction(ActionKind.ISSUED, status.state, status.serial,
                                      issue=issue.issue_done(self, pending.iin, status.serial, reused=True))
            return CardAction(ActionKind.OFFER_CANCEL, status.state, status.serial)
        if self.selected_voter is None:
            return CardAction(ActionKind.NEED_VOTER, status.state, status.serial)
        return CardAction(ActionKind.ISSUED, status.state, status.serial,
                          issue=issue.issue_to(self, client, self.selected_voter, status.serial))

    def issue_card(self, client: BallotCardClient, voter: Voter | str | None = None) -> IssueResult:
        """ISSUE a blank card to `voter` (default: the selected voter): issue.py."""
        return issue.issue_card(self, client, voter)

    def cast_card(self, client: BallotCardClient) -> CastResult:
        """Read, verify, record exactly once, clear: cast.py."""
        return cast.cast_card(self, client)

    def cancel_card(self, client: BallotCardClient) -> CancelResult:
        """Cancel an ISSUED card (the voter left without voting): cancel.py."""
        return cancel.cancel_card(self, client)

    def replace_card(
        self,
        voter: Voter | str,
        reason: ReplaceReason | str,
        *,
        old_card: BallotCardClient | None = None,
        card_not_returned: bool = False,
    ) -> ReplaceResult:
        """One more card for a checked-in voter whose card was issued but not cast: replace.py."""
        return replace.replace_card(self, voter, reason, old_card=old_card, card_not_returned=card_not_returned)

    # -- close ------------------------------------------------------------------------

    @storage_guard(StationOperation.CLOSE)
    def close_polls(self, shares: Sequence[Share | str], out_dir: str | Path | None = None) -> ClosingResult:
        """Close the polls, decrypt and tally with k shares, sign the protocol, write outputs.

        See `sailau.ballot_box.close.close_and_sign`.
        """
        from .close import close_and_sign

        return close_and_sign(self, shares, out_dir)

    # -- end of voting and the count at close (issue 13, item 4) ----------------------

    @storage_guard(StationOperation.CLOSE)
    def end_voting(self) -> None:
        """Voting ends: polls open -> closed, and the storage is sealed, without the shares,
        so the boxes can be opened and the paper ballots counted by hand before the
        electronic ballots are decrypted (`close_polls` then resumes from CLOSED).

        Idempotent: on closed polls whose sealing did not finish (a crash, a reader
        holding the file) it seals again; on closed, sealed polls it does nothing.
        Raises WrongPollsState before the polls opened, SealingFailed when sealing
        fails (the polls stay closed; call again)."""
        info = store.station_info(self.db)
        if info.state is PollsState.OPEN:
            store.record_polls_closed(self.db)
        elif info.state is not PollsState.CLOSED:
            raise WrongPollsState("end voting", info.state, (PollsState.OPEN, PollsState.CLOSED))
        elif not info.storage_sealed:
            store.seal_storage(self.db)

    @storage_guard(StationOperation.SETUP)
    def load_members(self, members: CommissionMembers) -> tuple[Member, ...]:
        """Store the precinct commission's members (a members file, `election.members`),
        replacing any loaded before; a loaded list changes only before the polls open.
        `MembersRefused` for another precinct's list (station_members.py)."""
        return station_members.load_members(self.db, self.precinct, members)

    @storage_guard(StationOperation.READ)
    def members(self) -> tuple[Member, ...]:
        """The precinct commission's members as loaded at set-up, in role order (none: ())."""
        return station_members.members(self.db, self.precinct)

    @storage_guard(StationOperation.HAND_COUNT)
    def enter_hand_count(self, member_key_id: bytes, count: HandCount) -> HandCountState:
        """A member's entry of the paper ballots' hand count (handcount.py), after the end of
        voting. The member must be one of the station's members (else HandCountRefused
        NOT_A_MEMBER); a re-entry replaces the member's own, so two different members must
        enter the same figures for the count to agree. The count must be of this
        precinct's ballot (every option, nothing else: `HandCountError`). Returns the state
        of the double entry (who entered, agreed or the differing lines)."""
        count.check_against(self.election, self.style)
        try:
            return handcount.store_entry(self.db, bytes(member_key_id), count)
        except handcount.NotAMember as exc:
            raise HandCountRefused(Refusal.NOT_A_MEMBER, str(exc)) from None

    @storage_guard(StationOperation.READ)
    def hand_count(self) -> HandCountState:
        """Where the double entry of the hand count stands (nothing entered: no entries)."""
        return handcount.stored_state(self.db)

    # -- what the steps share --------------------------------------------------------

    def master_key(self) -> bytes:
        if self.card_master_key is None:
            raise StationError("this station was opened without the card master key: it cannot write cards")
        return self.card_master_key

    def card_links(self) -> CardLinkKey:
        if self._links is None:
            raise StationError("this station was opened without the card master key: it cannot issue or replace cards")
        return self._links

    @property
    def ballot(self) -> PrecinctBallot:
        """What this station's cards carry: election fingerprint, precinct, ballot style."""
        return PrecinctBallot(self.election.fingerprint, self.precinct, self.style)

    def check_block(self, block: IssueBlock) -> Refusal | None:
        return for_mismatch(card_mismatch(self.ballot, block.fingerprint, block.precinct, block.style))

    def terminal_keys(self, record_bytes: bytes) -> dict[bytes, ed25519.Ed25519PublicKey]:
        """Enrolled keys, cached; a key id not in the cache is looked up again (enrolled since)."""
        wanted = bytes(record_bytes[1:1 + crypto.KEY_ID_LEN])
        if wanted not in self._terminals:
            raw = store.terminal_key(self.db, wanted)
            if raw is not None:
                self._terminals[wanted] = crypto.verify_key_from_bytes(raw)
        return self._terminals

    def clear_card(self, client: BallotCardClient) -> ClearOutcome:
        """CLEAR after the database step; its failure changes nothing recorded."""
        try:
            client.clear(self.master_key())
        except CardRemovedError:
            return ClearOutcome.REMOVED
        except CardError as exc:  # answered, but refused: the raw answer is for technicians
            oplog.failure("clear card", exc)
            return ClearOutcome.REFUSED
        return ClearOutcome.CLEARED

    def audit_rejection(self, reason: Refusal, *, during: str | None = None) -> None:
        store.record_rejection(self.db, reason, None if during is None else {"during": during})
