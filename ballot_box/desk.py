"""The clerk's desk at the registration table, as a headless object (no UI).

The ballot box's counterpart of `terminal/session.py::TerminalSession`: every rule
of the clerk's side lives here once, and the Textual app (app.py), the election-day
simulator and the tests all drive this one object:

- the reader: whether a card is in (`card_inserted` / `card_removed`, from the
  reader's events), whether the desk is working with it (do not remove it), and
  whether a BLANK card sits in it waiting for a voter;
- what each card means once read (`Station.on_card`'s `ActionKind`): ISSUED, a
  blank card nobody is waiting for (NEED_VOTER: it waits in the reader), a voted
  card cast, an issued card whose cancel is offered to the clerk, a card pulled
  before it was known;
- the auto-issue rule: a blank card waiting in the reader and a voter selected
  (checked in, picked from the queue, or just given the right to a replacement)
  means the card is issued at once; a card cleared by a cast, cancel or
  replacement is a blank card in the reader like any other;
- the cancel and replace flows' decisions (cancel only while the offered card is
  still in; replace with the old card only when one is in the reader);
- share entry at close of polls (each share checked as it is entered);
- sending the signed files to the commission (`send`, over `submit.py`): the file
  on disk stays the record, so a send that found nobody is simply done again later;
- what the clerk should read, as data: a `messages.Note` (a catalogue code, its
  fields and a severity), never a rendered string. `note_for_error` is the one
  mapping from what a station call raised to a note; the raw error of anything
  unexpected goes to the operator log (oplog.py) with its traceback.

Threads. Every method that talks to the station or the card blocks (card I/O at
9600 bit/s, database commits): the app runs them in worker threads, the simulator
calls them directly. `_work` (re-entrant) serialises them: the station's in-memory
queue of waiting voters is not shared between threads otherwise. The reader
events and `view()` never wait for it: they take only `_state`, a short lock over
the flags, so the UI thread never blocks behind a card. Storage figures
(counters, the waiting queue, the polls state) are read after each operation,
under `_work`, and kept: `view()` returns them without touching storage.

Expected card outcomes are results at this boundary: every method returns a
`DeskStep` and raises nothing a clerk can cause. Only a `BaseException` that is
not an `Exception` (the simulator's `StationCrash`, a KeyboardInterrupt) passes.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

from sailau.election import crypto, shares
from sailau.election.cosign import (
    COSIGN_SUFFIX,
    MAX_COSIGNATURES,
    CosignCheck,
    CosignError,
    check_cosignatures,
    cosignature_file_name,
    read_cosignature_file,
    write_cosignature,
)
from sailau.election.cosign import cosign as make_cosignature
from sailau.election.members import Member
from sailau.election.protocol import ProtocolError, SignedProtocol
from sailau.election.turnout import election_time_zone
from sailau.election.shares import Share, ShareError
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError, CardRemovedError, NoCardError
from sailau.smartcard.transport import Transport

import httpx

from . import audit, oplog, pollbook, store, submit
from .close import ClosingResult, ProtocolRefused, ShareRefusal, ShareRefused, check_share
from .handcount import HandCount, HandCountError, HandCountState
from .wallcopy import write_wall_copies
from .iin import InvalidIIN
from .messages import TEXTS, Note
from .mobile import MobileRequest, MobileTrip
from .models import BallotForm, PollsState
from .paper import EntryError, PaperLedger
from .pollbook import Voter
from .refusal import Refused
from .station import (
    ActionKind,
    CancelResult,
    CancelStatus,
    CardAction,
    CardAlreadyIssued,
    CardNotBlank,
    CastResult,
    CastStatus,
    ClearOutcome,
    HandCountRefused,
    IssueFailed,
    IssueResult,
    NoVoterSelected,
    OldCardNeeded,
    Recorded,
    ReplaceReason,
    ReplaceResult,
    ReplacementRefused,
    Station,
    StationError,
    StorageFailed,
    TerminalKey,
    VoterNotWaiting,
    ZeroReport,
    ZeroReportFailed,
)
from .store import ProtocolCounters, WrongPollsState

__all__ = [
    "CardOpener",
    "ClerkDesk",
    "DeskStep",
    "DeskView",
    "EnteredShare",
    "SentFile",
    "Reader",
    "note_for_cancel",
    "note_for_cast",
    "note_for_error",
    "note_for_hand_count",
    "note_for_issue",
    "note_for_replace",
    "note_for_storage",
    "note_for_submit",
    "transport_opener",
]

T = TypeVar("T")

#: Opens the card in the reader: a context manager giving a connected client.
CardOpener = Callable[[], AbstractContextManager[BallotCardClient]]


def transport_opener(transport: Transport) -> CardOpener:
    """Connect `transport` for one job and disconnect after it (the clerk app's reader)."""

    @contextmanager
    def open_card() -> Iterator[BallotCardClient]:
        client = BallotCardClient(transport)
        try:
            client.connect()
            yield client
        finally:
            transport.disconnect()

    return open_card


# --- what the clerk reads: one mapping from outcomes to notes -------------------------------


def _name(voter: Voter) -> str:
    return " ".join(p for p in (voter.surname, voter.given_name) if p)


def note_for_storage(exc: StorageFailed) -> Note:
    """What a storage failure did (to the ballot, when a card was in play), what to do, and why."""
    code = f"storage.{exc.operation.value}.{exc.recorded.value}"
    severity = "warn" if exc.recorded is Recorded.COUNTED else "error"
    return Note(code if code in TEXTS else "storage.other", severity, cause=f"cause.{exc.problem.value}")


def _replace_refused(exc: ReplacementRefused) -> Note:
    code = f"replace.{getattr(exc.reason, 'value', exc.reason)}"
    if code in TEXTS:
        return Note(code, "error")
    return Note("replace.refused", "error", detail=str(exc))


#: what a station call raised -> the note; first match wins (subclasses before their bases)
_RAISED: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[Any], Note]], ...] = (
    (StorageFailed, note_for_storage),
    (pollbook.AlreadyCheckedIn, lambda e: Note("already_checked_in", "error")),
    (pollbook.VoterNotFound, lambda e: Note("voter_not_found", "error", detail=str(e))),
    (InvalidIIN, lambda e: Note("invalid_iin", "error", detail=str(e))),
    (CardAlreadyIssued, lambda e: Note("card_already_issued", "error")),
    (ReplacementRefused, _replace_refused),
    (OldCardNeeded, lambda e: Note("old_card_needed", "warn")),
    (VoterNotWaiting, lambda e: Note("voter_not_waiting", "error", detail=str(e))),
    (NoVoterSelected, lambda e: Note("no_voter_selected", "warn")),
    (CardNotBlank, lambda e: Note("card_not_blank", "warn", detail=str(e))),
    (IssueFailed, lambda e: Note("issue_failed", "error")),
    ((CardRemovedError, NoCardError), lambda e: Note("card_pulled", "error")),
    (WrongPollsState, lambda e: Note("wrong_polls_state", "error", {"state": e.state.value})),
    (ZeroReportFailed, lambda e: Note("zero_report_failed", "error", detail=str(e))),
    (HandCountRefused, lambda e: Note(f"hand_count.{e.reason.value}", "error",
                                      {"n": len(e.state.differences) if e.state is not None else 0})),
    (ProtocolRefused, lambda e: note_for_refused_protocol(e)),
    (store.SealingFailed, lambda e: Note("sealing_failed", "error", detail=str(e))),
    (ShareError, lambda e: Note("shares_do_not_rebuild", "error", detail=str(e))),
    (Refused, lambda e: Note(f"refused.{e.reason.value}", "error")),
    ((EntryError, pollbook.InvalidVoterEntry), lambda e: Note("invalid_entry", "error", detail=str(e))),
    (StationError, lambda e: Note("station_refused", "error", {"detail": str(e)})),
)


def note_for_error(exc: BaseException, *, card: bool = False, what: str = "clerk desk") -> Note:
    """A plain-words note for an error a station call raised. Our own services explain
    themselves (detail: their text); anything raw (a card's status word, an unexpected
    exception) goes to the operator log with its traceback and the clerk reads what
    happened and what to do. `card`: the error came from work with the card in the
    reader; `what`: the operation, for the log (never data)."""
    for kinds, note in _RAISED:
        if isinstance(exc, kinds):
            return note(exc)
    if isinstance(exc, CardError):
        oplog.failure(f"{what} (card)", exc)
        return Note("card_unreadable", "error")
    if isinstance(exc, OSError) and not card:  # the protocol files at close (the database is a StorageFailed)
        oplog.failure(what, exc)
        return Note("file_not_written", "error", {"reason": exc.strerror or type(exc).__name__})
    oplog.failure(what, exc)
    return Note("unexpected.card" if card else "unexpected", "error")


def note_for_issue(result: IssueResult) -> Note:
    return Note("issued", "ok", {"name": _name(result.voter)})


def note_for_cast(result: CastResult) -> Note:
    """"Counted" (now or before) and how the CLEAR went, or why the card was refused."""
    if result.status is CastStatus.REJECTED:
        assert result.reason is not None
        return Note(f"card.{result.reason.value}", "error")
    assert result.clear is not None
    severity = "ok" if result.status is CastStatus.ACCEPTED and result.card_cleared else "warn"
    return Note(f"cast.{result.status.value}.{result.clear.value}", severity)


def note_for_cancel(result: CancelResult) -> Note:
    if result.status is CancelStatus.REJECTED:
        assert result.reason is not None
        return Note(f"card.{result.reason.value}", "error")
    assert result.clear is not None
    if result.status is CancelStatus.CANCELLED:
        return Note(f"cancel.cancelled.{result.clear.value}", "ok" if result.card_cleared else "warn")
    refused = result.clear is ClearOutcome.REFUSED
    return Note("cancel.already_cancelled.refused" if refused else "cancel.already_cancelled.cleared", "warn")


def note_for_replace(result: ReplaceResult) -> Note:
    fields = {"name": _name(result.voter)}
    if not result.card_returned:
        return Note("replaced.not_returned", "warn", fields)
    if result.clear is ClearOutcome.REFUSED:
        return Note("replaced.returned_not_cleared", "warn", fields)
    return Note("replaced.returned", "ok", fields)


def note_for_hand_count(state: HandCountState) -> Note:
    """Where the double entry stands after an entry: agreed, the lines differ, or more entries needed."""
    if state.agreed is not None:
        return Note("hand_count.agreed", "ok", {"n": len(state.entries)})
    if state.differences:
        return Note("hand_count.hand_count_mismatch", "warn", {"n": len(state.differences)})
    return Note("hand_count.entered", "info", {"needed": state.needed})


def note_for_refused_protocol(exc: ProtocolRefused) -> Note:
    """Close refused to sign: relations that fail on the hand-entered figures (the members
    correct the count, every failing relation named), or an inconsistent read (close again)."""
    if exc.hand_entered:
        return Note("hand_count.relations", "error", {"names": ", ".join(v.name for v in exc.violations)})
    return Note("protocol_refused", "error", detail=str(exc))


#: submit.Outcome -> the severity of its note (the code is `send.<outcome>`)
_SENT_SEVERITY = {submit.Outcome.ACCEPTED: "ok", submit.Outcome.UNCHANGED: "ok", submit.Outcome.CONFLICT: "warn",
                  submit.Outcome.REFUSED: "error", submit.Outcome.UNREACHABLE: "warn"}


def note_for_submit(result: submit.SubmitResult) -> Note:
    """One file sent to the commission: its status by `submit.Outcome`, the refusal's name
    (the one `commission import` uses) as a field. The commission's own explanation of a
    refusal is shown as detail; why nobody answered (a raw connection error) is not: it
    goes to the operator log."""
    fields: dict[str, Any] = {"file": result.path.name}
    if result.outcome is submit.Outcome.REFUSED:
        fields["reason"] = result.reason or "refused"
        return Note("send.refused", "error", fields, detail=result.message)
    return Note(f"send.{result.outcome.value}", _SENT_SEVERITY[result.outcome], fields)


#: the share refusal -> its severity (a duplicate is a slip, the rest a wrong paper)
def _share_refused(refused: ShareRefused, threshold: int | None) -> Note:
    severity = "warn" if refused.reason is ShareRefusal.DUPLICATE else "error"
    return Note(f"share.{refused.reason.value}", severity,
                {"index": refused.index, "k": refused.k or "–", "need": threshold if threshold is not None else "–"})


# --- what the desk hands the UI -------------------------------------------------------------


class Reader(str, Enum):
    """The reader line the clerk sees."""

    EMPTY = "empty"
    PRESENT = "present"
    BUSY = "busy"  # the desk is working with the card: do not remove it


@dataclass(frozen=True)
class EnteredShare:
    """One share entered at close: the member's number, where it came from (a file
    name, or "typed"), and the share (a share file's `Share` or the typed words,
    which are never shown)."""

    index: int
    source: str
    entry: Share | str = field(repr=False)


@dataclass(frozen=True)
class DeskView:
    """Everything the desk screen draws, as of the last operation (no storage read)."""

    reader: Reader
    card_present: bool
    card_busy: int
    blank_card_waiting: bool
    cancel_offered: bool  # an ISSUED card is in: the clerk is asked whether to cancel it
    card_note: Note | None
    desk_note: Note | None
    counters: ProtocolCounters | None  # None: the database cannot be read now
    waiting: tuple[Voter, ...]
    selected: str | None  # IIN of the voter the next blank card goes to
    polls: PollsState | None  # None: unknown (the database failed)
    shares: tuple[EnteredShare, ...]
    threshold: int | None  # shares needed (None: learnt from the first share)
    paper: PaperLedger | None = None  # the paper figures (None: the database cannot be read now)
    mobile: tuple[MobileRequest, ...] = ()  # the written requests to vote outside, in list order
    trips: tuple[MobileTrip, ...] = ()  # the mobile team's trips, in order
    # the count at close (issue 13): the commission, the hand count's double entry, the co-signatures
    members: tuple[Member, ...] = ()  # the precinct commission loaded at set-up, in role order
    hand_count: HandCountState | None = None  # None: the storage could not be read
    cosignatures: CosignCheck | None = None  # None: no signed protocol in the out folder yet


@dataclass(frozen=True)
class DeskStep:
    """What one desk operation did. `note` is what the clerk reads about it (also kept
    as the desk's card or desk note where it belongs); the other fields are set by
    the operations that produce them."""

    note: Note | None = None
    action: CardAction | None = None  # read_card: what the station made of the card (None: it raised, see note)
    voter: Voter | None = None  # check_in, select_voter
    voters: tuple[Voter, ...] = ()  # search
    issued: IssueResult | None = None  # a card issued by this step (read, or the auto-issue after it)
    cancelled: CancelResult | None = None
    replaced: ReplaceResult | None = None
    report: ZeroReport | None = None  # open_polls
    closing: ClosingResult | None = None  # close_polls
    audit: tuple[list[audit.AuditEvent], audit.ChainReport] | None = None  # read_audit
    share: EnteredShare | None = None  # enter_share: the share added
    sent: tuple[SentFile, ...] = ()  # send: one status per signed file, in the order sent
    hand_count: HandCountState | None = None  # enter_hand_count: the double entry after this entry
    cosignature: Path | None = None  # cosign: the co-signature file written
    paper: PaperLedger | None = None  # exchange_paper, receive_paper: the figures after the step
    receipt: Path | None = None  # receive_paper: the signed act's file (None: no out dir)
    request: MobileRequest | None = None  # request_mobile, withdraw_mobile
    trip: MobileTrip | None = None  # send_mobile_team, return_mobile_team


@dataclass(frozen=True)
class SentFile:
    """One signed file `send` offered the commission: its outcome and what the clerk reads."""

    path: Path
    outcome: submit.Outcome
    note: Note


class ClerkDesk:
    """The registration table over one `Station` and one reader slot (see the module doc)."""

    def __init__(self, station: Station, open_card: CardOpener, *, terminal_keys: Iterable[TerminalKey] = (),
                 out_dir: str | Path | None = None, commission_url: str | None = None,
                 send_attempts: int = 5) -> None:
        self.station = station
        #: where `send` submits (None: not set; the clerk is told so)
        self.commission_url = commission_url or None
        self._send_attempts = send_attempts
        self.election = station.election
        self.precinct = station.precinct
        self.terminal_keys: list[TerminalKey] = list(terminal_keys)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self._open_card = open_card
        self._work = threading.RLock()
        self._state = threading.Lock()
        # reader flags and notes (under _state)
        self._present = False
        self._busy = 0
        self._blank_waiting = False
        self._cancel_offered = False
        self._card_note: Note | None = None
        self._desk_note: Note | None = None
        # storage figures as of the last operation (written under _work, read under _state)
        self._counters: ProtocolCounters | None = None
        self._waiting: tuple[Voter, ...] = ()
        self._selected: str | None = None
        self._polls: PollsState | None = None
        self._paper: PaperLedger | None = None
        self._mobile: tuple[MobileRequest, ...] = ()
        self._trips: tuple[MobileTrip, ...] = ()
        # share entry at close
        ceremony = station.election.key_ceremony
        self._need: int | None = None if ceremony is None else ceremony.threshold
        self._threshold = self._need
        self._shares: list[EnteredShare] = []
        # the count at close (under _state; read by _reload_count)
        self._members: tuple[Member, ...] = ()
        self._hand_count: HandCountState | None = None
        self._cosignatures: CosignCheck | None = None

    # -- what the UI draws ------------------------------------------------------------------

    def view(self) -> DeskView:
        """A snapshot of the desk (cheap: no storage, no card; safe from any thread)."""
        with self._state:
            reader = Reader.BUSY if self._busy else Reader.PRESENT if self._present else Reader.EMPTY
            return DeskView(reader, self._present, self._busy, self._blank_waiting, self._cancel_offered,
                            self._card_note, self._desk_note, self._counters, self._waiting, self._selected,
                            self._polls, tuple(self._shares), self._threshold, self._paper, self._mobile,
                            self._trips, members=self._members, hand_count=self._hand_count,
                            cosignatures=self._cosignatures)

    def refresh(self) -> DeskView:
        """Read the storage figures again (blocking) and return the view. At start (the
        app's first refresh) closed polls are said: F4 counts again."""
        with self._work:
            self._reload()
            with self._state:
                if self._polls is PollsState.CLOSED and self._desk_note is None:
                    self._desk_note = Note("polls_closed", "warn")
        return self.view()

    def note(self, note: Note | None) -> None:
        """Set the desk note (a hint the screen asked for: "find the voter first")."""
        with self._state:
            self._desk_note = note

    def _set(self, *, card: Note | None = None, desk: Note | None = None) -> None:
        with self._state:
            if card is not None:
                self._card_note = card
            if desk is not None:
                self._desk_note = desk

    def _reload(self) -> None:
        """Counters, queue, selection and polls state, read under `_work` after each operation."""
        station = self.station
        paper: PaperLedger | None = None
        requests: tuple[MobileRequest, ...] = ()
        trips: tuple[MobileTrip, ...] = ()
        try:
            counters: ProtocolCounters | None = station.counters()
            polls: PollsState | None = station.polls_state
            paper = station.paper_ledger()
            requests, trips = tuple(station.mobile_requests()), tuple(station.mobile_trips())
        except StorageFailed as exc:
            counters, polls = None, None
            self._set(desk=note_for_storage(exc))
        waiting, selected = tuple(station.waiting), station.selected_voter
        with self._state:
            self._counters, self._polls = counters, polls
            self._paper, self._mobile, self._trips = paper, requests, trips
            self._waiting, self._selected = waiting, None if selected is None else selected.iin
        self._reload_count()

    # -- the reader's events (any thread; no I/O) ----------------------------------------------

    def card_inserted(self) -> None:
        """A card went in. Call `read_card()` next (it ends the busy state this starts)."""
        with self._state:
            self._present = True
            self._blank_waiting = False
            self._busy += 1

    def card_removed(self) -> None:
        """The card left. A cancel offered for it is withdrawn: nothing was cancelled."""
        with self._state:
            self._present = False
            self._blank_waiting = False
            if self._cancel_offered:
                self._cancel_offered = False
                self._card_note = Note("cancel_withdrawn", "warn")

    # -- cards (blocking) ---------------------------------------------------------------------

    def _card_job(self, job: Callable[[BallotCardClient], T], what: str) -> tuple[T | None, Note | None]:
        """Run `job` on the card in the reader: (its value, None) or (None, the note for
        what it raised). A card pulled or lost mid-job is no longer a blank waiting."""
        with self._state:
            self._busy += 1
        try:
            with self._open_card() as client:
                return job(client), None
        except Exception as exc:  # every failure becomes a note, never a dead desk
            if isinstance(exc, (CardRemovedError, NoCardError, IssueFailed)):
                with self._state:
                    self._blank_waiting = False
            return None, note_for_error(exc, card=True, what=what)
        finally:
            with self._state:
                self._busy -= 1

    def read_card(self) -> DeskStep:
        """The card just inserted: its state decides what happens (`Station.on_card`)."""
        try:
            with self._work:
                action, failed = self._card_job(self.station.on_card, "read card")
                step = self._after_read(action) if action is not None else DeskStep(failed)
                if failed is not None:
                    self._set(card=failed)
                self._reload()
                return step
        finally:
            with self._state:
                self._busy -= 1

    def _after_read(self, action: CardAction) -> DeskStep:
        kind = action.kind
        if kind is ActionKind.ISSUED:
            assert action.issue is not None
            return DeskStep(self._issued(action.issue), action, issued=action.issue)
        if kind is ActionKind.REMOVED:
            note = Note("card_pulled", "error")
            self._set(card=note)
            return DeskStep(note, action)
        if kind is ActionKind.NEED_VOTER:
            note = Note("need_voter", "warn")
            with self._state:
                self._blank_waiting = self._present
                self._card_note = note
            return DeskStep(note, action)
        if kind is ActionKind.CAST:
            assert action.cast is not None
            note = note_for_cast(action.cast)
            self._set(card=note)
            issued = self._blank_in_reader() if action.cast.counted and action.cast.card_cleared else None
            return DeskStep(note if issued is None else note_for_issue(issued), action, issued=issued)
        note = Note("offer_cancel", "warn")
        with self._state:
            self._card_note = note
            self._cancel_offered = self._present
        return DeskStep(note, action)

    def _blank_in_reader(self) -> IssueResult | None:
        """The card in the reader was just cleared (cast, cancel, replace): it is a blank
        card now, exactly as if one were inserted. Issue it to the selected voter, or
        keep it for the next one checked in."""
        with self._state:
            if not self._present:
                return None
            self._blank_waiting = True
        if self.station.selected_voter is None:
            return None
        return self._issue_waiting_blank()

    def _issue_waiting_blank(self) -> IssueResult | None:
        """The auto-issue rule: a blank card waits in the reader and a voter is selected."""
        with self._state:
            if not (self._blank_waiting and self._present):
                return None
            self._blank_waiting = False
        result, failed = self._card_job(self.station.issue_card, "issue card")
        if result is None:
            self._set(card=failed)
        else:
            self._issued(result)
        return result

    def _issued(self, result: IssueResult) -> Note:
        """A card was issued: say so, and drop a desk note that still asks for a blank
        card for this voter ("Checked in: ... Insert a blank card.")."""
        note = note_for_issue(result)
        with self._state:
            self._card_note = note
            if self._desk_note is not None and self._desk_note.code in ("checked_in", "next_card_for"):
                self._desk_note = None
        return note

    def answer_offer(self) -> bool:
        """The clerk answered the cancel offer: it is closed (no I/O). True when the card is still in."""
        with self._state:
            self._cancel_offered = False
            return self._present

    def decline_cancel(self) -> DeskStep:
        """The clerk keeps the offered ISSUED card as it is (no I/O)."""
        with self._state:
            self._cancel_offered = False
            if not self._present:
                return DeskStep()
            self._card_note = Note("card_kept", "info")
            return DeskStep(self._card_note)

    def cancel_card(self) -> DeskStep:
        """The clerk confirmed: cancel the ISSUED card in the reader (token cancelled, card cleared)."""
        with self._state:
            self._cancel_offered = False
        with self._work:
            result, failed = self._card_job(self.station.cancel_card, "cancel card")
            if result is None:
                return self._finish(failed)
            return self._finish(note_for_cancel(result), cleared=result.card_cleared, cancelled=result)

    def _finish(self, note: Note | None, *, cleared: bool = False, **done: Any) -> DeskStep:
        """Show `note` as the card note; a card the step `cleared` is a blank card in the
        reader (issued at once to a selected voter); read the figures again."""
        self._set(card=note)
        issued = self._blank_in_reader() if cleared else None
        self._reload()
        return DeskStep(note if issued is None else note_for_issue(issued), issued=issued, **done)

    # -- replace a card ------------------------------------------------------------------------------

    def replace_in_reader(self, iin: str, reason: ReplaceReason = ReplaceReason.DAMAGED) -> DeskStep:
        """Replace `iin`'s card with the old card in the reader (its token is cancelled, the
        card cleared and, being blank in the reader, issued to the same voter)."""
        with self._state:
            if not self._present:
                self._card_note = Note("old_card_needed", "warn")
                return DeskStep(self._card_note)
            self._blank_waiting = False
        with self._work:
            result, failed = self._card_job(
                lambda client: self.station.replace_card(iin, reason, old_card=client), "replace card")
            return self._replaced(result, failed)

    def replace_not_returned(self, iin: str, reason: ReplaceReason) -> DeskStep:
        """Replace `iin`'s card that is not handed back (its token is revoked); the clerk
        has confirmed it. A blank card waiting in the reader is then theirs."""
        with self._work:
            try:
                result: ReplaceResult | None = self.station.replace_card(iin, reason, card_not_returned=True)
            except Exception as exc:
                return self._replaced(None, note_for_error(exc, card=True, what="replace card"))
            return self._replaced(result, None)

    def _replaced(self, result: ReplaceResult | None, failed: Note | None) -> DeskStep:
        if result is None:
            return self._finish(failed)
        with self._state:
            waiting = self._blank_waiting
        return self._finish(note_for_replace(result), cleared=result.card_cleared or waiting, replaced=result)

    # -- voters --------------------------------------------------------------------------------------

    @staticmethod
    def _call(call: Callable[[], T], what: str) -> tuple[T | None, Note | None]:
        """(value, None), or (None, the note for what `call` raised)."""
        try:
            return call(), None
        except Exception as exc:
            return None, note_for_error(exc, what=what)

    def _desk_call(self, call: Callable[[], T], what: str) -> tuple[T | None, Note | None]:
        value, failed = self._call(call, what)
        if failed is not None:
            self._set(desk=failed)
        return value, failed

    def search(self, query: str) -> DeskStep:
        if not query.strip():
            note = Note("search_empty", "warn")
            self._set(desk=note)
            return DeskStep(note)
        with self._work:
            voters, failed = self._desk_call(lambda: self.station.search(query), "search")
            if voters is None:
                return DeskStep(failed)
            note = Note("found", "info", {"n": len(voters)}) if voters else Note("nobody_found", "warn")
            self._set(desk=note)
            return DeskStep(note, voters=tuple(voters))

    def check_in(self, iin: str, form: BallotForm = BallotForm.CARD) -> DeskStep:
        """Check a voter in for `form`. A card voter is selected, so a blank card waiting is
        issued to them; a paper voter is handed a paper ballot (no card)."""
        if BallotForm(form) is BallotForm.PAPER:
            return self._paper_step(lambda: self.station.check_in(iin, BallotForm.PAPER), "check in",
                                    lambda v: DeskStep(Note("checked_in_paper", "ok", {"name": _name(v)}), voter=v))
        return self._choose(lambda: self.station.check_in(iin), "checked_in", "check in")

    # -- paper ballots, the additional list, the mobile box -------------------------------------------

    def _paper_step(self, call: Callable[[], T], what: str, done: Callable[[T], DeskStep]) -> DeskStep:
        """Run one paper or mobile step: its note (or the refusal's) as the desk note, figures re-read."""
        with self._work:
            value, failed = self._desk_call(call, what)
            if failed is not None:
                self._reload()
                return DeskStep(failed)
            step = done(value)  # type: ignore[arg-type]
            self._set(desk=step.note)
            self._reload()
            return step

    def exchange_paper(self, iin: str) -> DeskStep:
        """A paper voter's spoiled ballot is cancelled and a new one handed over."""
        return self._paper_step(lambda: self.station.exchange_paper(iin), "exchange paper",
                                lambda ledger: DeskStep(Note("paper_exchanged", "ok"), paper=ledger))

    def receive_paper(self, count: int, from_whom: str, received_by: str, *,
                      now: dt.datetime | None = None) -> DeskStep:
        """Record and sign an act of receipt; the act is written to the out dir (if set) as
        ``paper-receipt-<seq>.json``. The act is stored first (the record), its file after:
        a file that could not be written is said (the receipt must not be recorded twice)
        and written again with the next act, since every stored act missing from the out
        dir is written each time."""
        with self._work:
            act, failed = self._desk_call(lambda: self.station.receive_paper(count, from_whom, received_by, now=now),
                                          "receive paper")
            if act is None:
                self._reload()
                return DeskStep(failed)
            fields = {"seq": act.seq, "count": act.count}
            path: Path | None = None
            note = Note("paper_received", "ok", fields)
            if self.out_dir is not None:
                try:
                    for stored in self.station.paper_receipts():
                        written = stored.write(self.out_dir)
                        path = written if stored.seq == act.seq else path
                except Exception as exc:  # the act is recorded: say the file is missing, never "try again"
                    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                    oplog.failure("write paper receipt act", exc)
                    note = Note("paper_receipt_not_written", "warn", {**fields, "reason": reason})
            self._set(desk=note)
            self._reload()
            with self._state:
                ledger = self._paper
            return DeskStep(note, paper=ledger, receipt=path)

    def add_voter(self, iin: str, surname: str, given_name: str, patronymic: str,
                  birth_date: dt.date | str) -> DeskStep:
        """Add a voter to the additional list (then check them in as anyone)."""
        return self._paper_step(lambda: self.station.add_voter(iin, surname, given_name, patronymic, birth_date),
                                "add voter", lambda v: DeskStep(Note("voter_added", "ok", {"name": _name(v)}), voter=v))

    def request_mobile(self, iin: str, reason: str, received_by: str, *, now: dt.datetime | None = None) -> DeskStep:
        """Record a written request to vote outside the station."""
        return self._paper_step(lambda: self.station.request_mobile(iin, reason, received_by, now=now),
                                "request mobile", lambda r: DeskStep(
                                    Note("mobile_requested", "ok", {"name": f"{r.surname} {r.given_name}"}), request=r))

    def withdraw_mobile(self, iin: str) -> DeskStep:
        """Withdraw a pending request (the voter came in person)."""
        return self._paper_step(lambda: self.station.withdraw_mobile(iin), "withdraw mobile", lambda r: DeskStep(
            Note("mobile_withdrawn", "ok", {"name": f"{r.surname} {r.given_name}"}), request=r))

    def send_mobile_team(self, members: Sequence[str], ballots: int, iins: Sequence[str] | None = None) -> DeskStep:
        """The mobile team leaves with counted paper ballots and its list of requests."""
        return self._paper_step(lambda: self.station.send_mobile_team(members, ballots, iins), "send mobile team",
                                lambda t: DeskStep(Note("mobile_sent", "ok", {
                                    "trip": t.id, "ballots": t.ballots, "requests": len(t.iins)}), trip=t))

    def return_mobile_team(self, trip_id: int, voted: Sequence[str], unused: int, spoiled: int) -> DeskStep:
        """The mobile team is back: who voted outside, unused and spoiled ballots."""
        return self._paper_step(lambda: self.station.return_mobile_team(trip_id, voted, unused, spoiled),
                                "return mobile team", lambda t: DeskStep(Note("mobile_returned", "ok", {
                                    "trip": t.id, "voted": t.voted, "unused": t.unused, "spoiled": t.spoiled}), trip=t))

    def select_voter(self, iin: str) -> DeskStep:
        """Make a checked-in voter the one the next blank card goes to (one waiting: issued now)."""
        return self._choose(lambda: self.station.select_voter(iin), "next_card_for", "select voter")

    def _choose(self, call: Callable[[], Voter], code: str, what: str) -> DeskStep:
        with self._work:
            voter, failed = self._desk_call(call, what)
            if voter is None:
                self._reload()
                return DeskStep(failed)
            note = Note(code, "ok", {"name": f"{voter.surname} {voter.given_name}"})
            self._set(desk=note)
            issued = self._issue_waiting_blank()
            self._reload()
            return DeskStep(note, voter=voter, issued=issued)

    # -- opening ---------------------------------------------------------------------------------------

    def add_terminal_key(self, path: str | Path) -> DeskStep:
        """Read a booth terminal's public key file to enrol when the polls open."""
        path = Path(path)
        try:
            key = crypto.load_verify_key(path)
        except crypto.KeyFileError as exc:
            return DeskStep(Note("terminal_key_unusable", "error", detail=str(exc)))
        self.terminal_keys.append(TerminalKey(crypto.ed25519_public_bytes(key), path.stem))
        return DeskStep(Note("terminal_key_added", "ok"))

    def open_polls(self) -> DeskStep:
        """Enrol the terminal keys, check the box is empty (zero report), open the polls."""
        with self._work:
            report, failed = self._call(lambda: self.station.open_polls(list(self.terminal_keys)), "open polls")
            self._reload()
            return DeskStep(failed or Note("polls_open", "ok"), report=report)

    # -- audit ----------------------------------------------------------------------------------------

    def read_audit(self) -> DeskStep:
        """The audit chain's events and whether the whole chain verifies."""
        db = self.station.db
        with self._work:
            value, failed = self._desk_call(lambda: (audit.read_events(db), audit.verify_db(db)), "read audit log")
            return DeskStep(failed, audit=value)

    # -- close of polls ---------------------------------------------------------------------------------

    def enter_share(self, *, path: str | Path | None = None, words: str | None = None) -> DeskStep:
        """Enter one share (a share file, or one member's typed words), checked against the
        election and the shares already entered (`close.check_share`): refused by name,
        or added."""
        try:
            if path is not None:
                source, entry = Path(path).name, shares.read_share_file(path)
            else:
                source, entry = "typed", " ".join((words or "").split())
                shares.parse_mnemonic(entry, "typed share")
        except (ShareError, OSError) as exc:
            code = "share_file_unusable" if path is not None else "share_words_invalid"
            return DeskStep(Note(code, "error", detail=str(exc)))
        with self._work:
            try:
                found = check_share(self.election, [s.entry for s in self._shares], entry)
            except ShareRefused as refused:
                return DeskStep(_share_refused(refused, self._threshold))
            except ShareError as exc:
                return DeskStep(Note("share_words_invalid", "error", detail=str(exc)))
            added = EnteredShare(found.index, source, entry)
            with self._state:
                if self._threshold is None:
                    self._threshold = found.k
                self._shares.append(added)
            return DeskStep(Note("share_added", "ok", {"index": found.index}), share=added)

    def remove_share(self, row: int) -> DeskStep:
        """Remove the entered share at `row` (a member gave the wrong paper...)."""
        with self._state:
            if not 0 <= row < len(self._shares):
                return DeskStep(Note("share_highlight_first", "warn"))
            removed = self._shares.pop(row)
            if not self._shares:
                self._threshold = self._need  # a threshold learnt from the first share goes with it
        return DeskStep(Note("share_removed", "ok", {"index": removed.index}))

    def set_shares(self, entered: Sequence[EnteredShare]) -> None:
        """Replace the entered shares (already checked: a restored session, a test's set-up)."""
        with self._state:
            self._shares = list(entered)

    def close_polls(self) -> DeskStep:
        """Close the polls with the entered shares, count, sign and write the protocol."""
        with self._work:
            entries = [s.entry for s in self._shares]
            closing, failed = self._call(lambda: self.station.close_polls(entries, self.out_dir), "close polls")
            self._reload()
            return DeskStep(failed, closing=closing)

    # -- end of voting and the count at close (issue 13, item 4) --------------------------------------

    def end_voting(self) -> DeskStep:
        """Voting ends: the polls close and the storage is sealed, without the shares, so the
        commission opens the boxes and counts the paper ballots first (`Station.end_voting`).
        Close of polls (`close_polls`) then counts the electronic ballots and signs."""
        with self._work:
            _, failed = self._call(self.station.end_voting, "end voting")
            self._reload()
            note = failed or Note("voting_ended", "ok")
            self._set(desk=note)
            return DeskStep(note)

    def _reload_count(self) -> None:
        """The commission, the hand count's double entry and the co-signatures (after each operation)."""
        try:
            members: tuple[Member, ...] = self.station.members()
            hand: HandCountState | None = self.station.hand_count()
        except StorageFailed:
            members, hand = (), None
        check = self._check_cosignatures(members)
        with self._state:
            self._members, self._hand_count, self._cosignatures = members, hand, check

    def _protocol_file(self) -> Path | None:
        path = None if self.out_dir is None else self.out_dir / "protocol.json"
        return path if path is not None and path.is_file() else None

    def _check_cosignatures(self, members: Sequence[Member]) -> CosignCheck | None:
        """The co-signatures beside the signed protocol, checked against the station's members
        (`cosign.check_cosignatures`; the registry is the commission's check, not this one)."""
        path = self._protocol_file()
        if path is None:
            return None
        try:
            signed = SignedProtocol.from_canonical_json(path.read_bytes())
        except (OSError, ProtocolError) as exc:
            oplog.failure("read the signed protocol", exc)
            return None
        found = []
        for f in sorted(path.parent.glob("protocol.*" + COSIGN_SUFFIX))[:MAX_COSIGNATURES + 1]:
            try:
                found.append((f.name, read_cosignature_file(f)))
            except CosignError as exc:
                oplog.failure("read a co-signature", exc)
        return check_cosignatures(signed, found, members)

    def enter_hand_count(self, member_key_id: bytes, count: HandCount) -> DeskStep:
        """A member enters the hand count of the paper ballots (after the end of voting). Two
        different members must enter the same figures; a member's re-entry replaces their own.
        The note says what is still needed, that the count agrees, or how many lines differ
        (the lines: `view().hand_count.differences`)."""
        with self._work:
            state: HandCountState | None = None
            try:
                state = self.station.enter_hand_count(member_key_id, count)
            except HandCountError as exc:
                note = Note("hand_count.invalid", "error", detail=str(exc))
            except Exception as exc:
                note = note_for_error(exc, what="enter hand count")
            else:
                note = note_for_hand_count(state)
            self._set(desk=note)
            self._reload()
            return DeskStep(note, hand_count=state)

    def cosign(self, key_file: str | Path, dissent: str | None = None, *, role: str | None = None) -> DeskStep:
        """A member co-signs the signed protocol on this station with their own key file
        (`election.cosign`): the co-signature (with the dissenting opinion, if any) is
        written beside the protocol as ``protocol.<key id>.cosig`` and never overwritten;
        the wall copies are printed again with who has signed. The member must be one of
        the station's members, in their own role (`role`, when given, must be it)."""
        with self._work:
            note, written = self._cosign(Path(key_file), dissent, role)
            self._set(desk=note)
            self._reload()
            return DeskStep(note, cosignature=written)

    def _cosign(self, key_file: Path, dissent: str | None, role: str | None) -> tuple[Note, Path | None]:
        path = self._protocol_file()
        if path is None:
            return Note("cosign.nothing", "warn"), None
        try:
            key = crypto.load_signing_key(key_file)
        except crypto.KeyFileError as exc:
            return Note("cosign.key_unusable", "error", detail=str(exc)), None
        try:
            members = self.station.members()
            raw = path.read_bytes()
            signed = SignedProtocol.from_canonical_json(raw)
        except Exception as exc:
            return note_for_error(exc, what="co-sign"), None
        mine = [m for m in members if m.public_key == crypto.ed25519_public_bytes(key.public_key())]
        if not mine:
            return Note("cosign.not_a_member", "error"), None
        member = mine[0]
        if role is not None and role != member.role.value:
            return Note("cosign.role", "error", {"role": member.title("en")}), None
        try:
            cosig = make_cosignature(signed, key, member.role, when=self.station.db.clock(),
                                     time_zone=election_time_zone(self.election), dissent=dissent or None)
            target = path.with_name(cosignature_file_name(path.name, cosig))
            write_cosignature(cosig, target)
        except CosignError as exc:
            code = "cosign.already" if "already exists" in str(exc) else "cosign.refused"
            return Note(code, "warn" if code == "cosign.already" else "error", {"name": member.name}, detail=str(exc)), None
        check = self._check_cosignatures(members)
        try:
            write_wall_copies(path.parent, signed, self.election, members, check)
        except Exception as exc:  # the co-signature is written; the printed copies can be made again
            oplog.failure("print the wall copies", exc)
        fields = {"name": member.name, "n": 0 if check is None else len(check.valid), "of": len(members)}
        return Note("cosign.majority" if check is not None and check.majority else "cosign.signed", "ok", fields), target

    # -- sending to the commission ----------------------------------------------------------------------

    #: the environment variable the commission's address is read from when none is given
    URL_ENV = "SAILAU_COMMISSION_URL"

    def signed_files(self) -> list[Path]:
        """The signed files this station has to send, from its protocol folder: the
        protocol (`protocol.json`, written at close) and any signed turnout reports put
        there as `turnout-HH.json` (`sailau station turnout --out`; the app itself writes
        none). Only what exists; the kind of each is checked again by `submit`."""
        if self.out_dir is None:
            return []
        protocol = self.out_dir / "protocol.json"
        turnout = sorted(p for p in self.out_dir.glob("turnout-*.json") if p.is_file())
        return ([protocol] if protocol.is_file() else []) + turnout

    def send(self, url: str | None = None) -> DeskStep:
        """Submit the signed files to the commission at `url` (else the desk's
        `commission_url`, else `$SAILAU_COMMISSION_URL`) with `submit.submit_file`'s
        retries: one `SentFile` per file, the step's note the worst of them. The files
        are only read, never changed, so sending again is always safe (the commission
        answers "unchanged"). Blocks up to the retries' waits; holds no desk lock, so
        the reader and the screens go on meanwhile."""
        url = url or self.commission_url or os.environ.get(self.URL_ENV) or None
        if url is None:
            return DeskStep(Note("send.no_address", "warn"))
        files = self.signed_files()
        if not any(p.name == "protocol.json" for p in files):
            return DeskStep(Note("send.nothing", "warn"))
        sent: list[SentFile] = []
        try:
            with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
                for path in files:
                    result = submit.submit_file(client, url, path, attempts=self._send_attempts)
                    if result.outcome is submit.Outcome.UNREACHABLE:
                        oplog.log.warning("send %s to the commission: no answer (%s)", path.name, result.message)
                    sent.append(SentFile(path, result.outcome, note_for_submit(result)))
        except Exception as exc:  # a bad address (no scheme...), anything unexpected: logged, named plainly
            return DeskStep(note_for_error(exc, what="send to commission"), sent=tuple(sent))
        rank = ("ok", "info", "warn", "error")
        worst = max((s.note for s in sent), key=lambda n: rank.index(n.severity))
        return DeskStep(worst, sent=tuple(sent))
