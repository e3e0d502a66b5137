"""The clerk app (Textual) of the ballot-box station: `ClerkApp`.

A thin face over `Station`. Why it is shaped this way:

* Card I/O blocks (a real card at 9600 bit/s takes a noticeable fraction of a
  second per operation), so every Station call runs in a Textual worker thread
  (`run_worker(thread=True)`) and posts its result back as a message. A single
  lock serialises Station calls (its in-memory waiting queue is not shared
  between threads otherwise). A card pulled mid-operation surfaces as an
  exception in the worker and becomes a plain-words note: the UI never waits on
  the card.
* Card events come from any source with the `callback(CardInserted |
  CardRemoved)` shape (`ReaderWatcher` for PC/SC, `InProcessSlot` in tests):
  `card_event` is thread-safe. The card's own state decides the action
  (`Station.on_card`); the app only renders the outcome.
* Every message is a gettext message id kept with its fields (`widgets.Note`),
  so F2 re-renders the whole screen stack in Kazakh, Russian or English.
* Every failure says what happened to the ballot (counted, not counted, not
  confirmed: insert again) and what to do, in plain words; the raw error goes to the
  operator log (oplog.py), never to the screen. A cast shows "counted" and nothing
  derived from the ballot: the receipt code is the voter's, shown in the booth only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from textual.app import App
from textual.binding import Binding
from textual.message import Message

from sailau.election.shares import Share, ShareError
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError, CardRemovedError, NoCardError
from sailau.smartcard.events import CardEvent, CardEventCallback, CardInserted
from sailau.smartcard.transport import Transport

from . import audit, oplog, pollbook, store
from .close import ClosingResult, ProtocolRefused
from .db import StorageProblem
from .i18n import LANGUAGES, N_, t
from .iin import InvalidIIN
from .models import PollsState
from .pollbook import Voter
from .screens import (
    AuditScreen,
    CancelCardScreen,
    CloseScreen,
    ConfirmScreen,
    DeskScreen,
    OpenPollsScreen,
    ProtocolScreen,
    ReplaceCardScreen,
)
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
    IssueFailed,
    IssueResult,
    NoVoterSelected,
    OldCardNeeded,
    Reason,
    Recorded,
    ReplaceReason,
    ReplaceResult,
    ReplacementRefused,
    Station,
    StationError,
    StationOperation,
    StorageFailed,
    TerminalKey,
    VoterNotWaiting,
    ZeroReport,
    ZeroReportFailed,
)
from .store import ProtocolCounters, ReplaceOutcome, WrongPollsState
from .widgets import Note

__all__ = ["ClerkApp", "REASON_TEXT", "Watch", "note_for_error"]

T = TypeVar("T")

#: Start delivering card events to the callback; returns a function that stops it.
Watch = Callable[[CardEventCallback], Callable[[], None]]

REASON_TEXT: dict[Reason, str] = {
    Reason.WRONG_ELECTION: N_("This card belongs to another election. It was not counted and not changed."),
    Reason.WRONG_PRECINCT: N_("This card was issued for another polling station. It was not counted and not changed."),
    Reason.UNKNOWN_TOKEN: N_("This card was not issued at this polling station. It was not counted and not changed."),
    Reason.CARD_CANCELLED: N_("This card was cancelled here and cannot be cast. It was not counted and not changed."),
    Reason.CARD_REVOKED: N_("Revoked: this card was replaced, so it cannot be used. It was not counted and not changed: "
                            "keep it for the commission, do not give it back."),
    Reason.UNKNOWN_TERMINAL: N_("The ballot was written by a voting terminal not enrolled here. Not counted, card not changed."),
    Reason.BAD_SIGNATURE: N_("The ballot on this card fails its terminal signature (altered or copied). Not counted, card not changed."),
    Reason.MALFORMED_RECORD: N_("The data on this card is not a valid ballot. It was not counted and not changed."),
    Reason.CARD_NOT_VOTED: N_("This card holds no ballot to cast."),
    Reason.CARD_NOT_ISSUED: N_("Only an issued, unused card can be cancelled."),
    Reason.CARD_REMOVED: N_("The card was removed while being read. Nothing was recorded: insert it again."),
    Reason.ALREADY_COUNTED: N_("This card's ballot is already counted; it cannot be cancelled."),
}


#: why a replacement was refused, by `ReplacementRefused.reason`
REPLACE_REFUSED_TEXT: dict[str, str] = {
    ReplaceOutcome.NO_CARD.value: N_("Not replaced: this voter holds no issued card (none yet, or already replaced)."),
    ReplaceOutcome.NOT_CHECKED_IN.value: N_("Not replaced: this voter is not checked in."),
    ReplaceOutcome.UNKNOWN_VOTER.value: N_("This voter is not on this precinct's list."),
    ReplaceOutcome.CARD_COUNTED.value: N_("Not replaced: this voter's card is already counted (its ballot is in the box)."),
    ReplaceOutcome.CARD_REVOKED.value: N_("Not replaced: the card in the reader was replaced before and is revoked. "
                                          "Keep it for the commission. To replace this voter's card, insert the card "
                                          "they hold now, or confirm it is not handed back."),
    ReplaceOutcome.NOT_THEIR_CARD.value: N_("Not replaced: the card in the reader is not the card this voter holds. "
                                            "Nothing was changed."),
    ReplaceOutcome.UNLINKED.value: N_("Not replaced: this voter's card was issued before the station was updated, "
                                      "so it cannot be revoked. Insert the old card to replace it."),
    ReplaceOutcome.OLD_CARD_UNKNOWN.value: N_("Not replaced: the card in the reader was not issued at this polling station."),
    Reason.CARD_NOT_ISSUED.value: N_("Not replaced: the card in the reader is not an issued, unused card "
                                     "(a voted card is cast; a blank card carries nothing to cancel)."),
    Reason.CARD_REMOVED.value: N_("The card was pulled out during the operation. Nothing was recorded: insert it again."),
    Reason.WRONG_ELECTION.value: N_("This card belongs to another election. It was not counted and not changed."),
    Reason.WRONG_PRECINCT.value: N_("This card was issued for another polling station. It was not counted and not changed."),
    Reason.MALFORMED_RECORD.value: N_("This card cannot be read as a Sailau ballot card."),
}


#: what a storage failure did to the operation, by (operation, what was recorded)
STORAGE_TEXT: dict[tuple[StationOperation, Recorded], str] = {
    (StationOperation.CAST, Recorded.NOTHING): N_(
        "Not counted: the station could not save this ballot. The card is unchanged: keep it, call the "
        "technician, and insert it again when the station works."),
    (StationOperation.CAST, Recorded.COUNTED): N_(
        "Ballot counted, but the station failed before clearing the card: insert it again to clear it."),
    (StationOperation.CAST, Recorded.UNKNOWN): N_(
        "Not confirmed: the station cannot tell whether this ballot was saved. Keep the card and insert it "
        "again when the station works: it is counted once, never twice."),
    (StationOperation.ISSUE, Recorded.NOTHING): N_(
        "No card issued: the station could not save. The card is unchanged and the voter still waits: call the "
        "technician, then insert the card again."),
    (StationOperation.CANCEL, Recorded.NOTHING): N_(
        "Not cancelled: the station could not save. The card is unchanged: keep it and insert it again when the "
        "station works."),
    (StationOperation.REPLACE, Recorded.NOTHING): N_(
        "Not replaced: the station could not save, nothing was recorded. Try again when the station works."),
    (StationOperation.CHECK_IN, Recorded.NOTHING): N_(
        "Not checked in: the station could not save. Check the voter in again when the station works."),
    (StationOperation.OPEN, Recorded.NOTHING): N_(
        "The polls were not opened: the station could not save. Call the technician, then open them again."),
    (StationOperation.CLOSE, Recorded.NOTHING): N_(
        "Close of polls did not finish: the station could not use its database. Nothing was signed. Call the "
        "technician, then close again: it resumes."),
}
STORAGE_OTHER = N_("The station cannot use its database right now; nothing was changed. Call the technician.")

#: the cause line under a storage note, by problem
STORAGE_CAUSE: dict[StorageProblem, str] = {
    StorageProblem.DISK_FULL: N_("Cause: the station's disk is full. Details are in the operator log."),
    StorageProblem.READ_ONLY: N_("Cause: the station's database cannot be written (read-only). "
                                 "Details are in the operator log."),
    StorageProblem.UNAVAILABLE: N_("Cause: the station's database cannot be reached. Details are in the operator log."),
    StorageProblem.FAILED: N_("Cause: a database error. Details are in the operator log."),
}


def note_for_storage(exc: StorageFailed) -> Note:
    """What a storage failure did (to the ballot, when a card was in play), what to do, and why."""
    msgid = STORAGE_TEXT.get((exc.operation, exc.recorded), STORAGE_OTHER)
    severity = "warn" if exc.recorded is Recorded.COUNTED else "error"
    return Note(msgid, severity, cause=STORAGE_CAUSE[exc.problem])


def note_for_error(exc: BaseException, *, card: bool = False) -> Note:
    """A plain-words note for an error a Station call raised. Our own services explain
    themselves (detail: their text); anything raw (a card's status word, an unexpected
    exception) goes to the operator log and the clerk reads what to do. `card`: the
    error came from work with the card in the reader."""
    detail = str(exc)
    if isinstance(exc, StorageFailed):
        return note_for_storage(exc)
    if isinstance(exc, pollbook.AlreadyCheckedIn):
        return Note(N_("This voter is already checked in: a voter gets one card."), "error")
    if isinstance(exc, pollbook.VoterNotFound):
        return Note(N_("This voter is not on this precinct's list."), "error", detail=detail)
    if isinstance(exc, InvalidIIN):
        return Note(N_("This IIN is not valid."), "error", detail=detail)
    if isinstance(exc, CardAlreadyIssued):
        return Note(N_("This voter already got a card. A second card only by replacing the first (Replace card)."),
                    "error")
    if isinstance(exc, ReplacementRefused):
        return Note(REPLACE_REFUSED_TEXT.get(exc.reason, N_("The card was not replaced.")), "error",
                    detail="" if exc.reason in REPLACE_REFUSED_TEXT else detail)
    if isinstance(exc, OldCardNeeded):
        return Note(N_("Insert the old card to replace it, or confirm it is not handed back."), "warn")
    if isinstance(exc, VoterNotWaiting):
        return Note(N_("This voter cannot get a card now (not checked in, or already got one)."), "error",
                    detail=detail)
    if isinstance(exc, NoVoterSelected):
        return Note(N_("Check a voter in first."), "warn")
    if isinstance(exc, CardNotBlank):
        return Note(N_("The card in the reader is not blank: remove it and insert it again."), "warn", detail=detail)
    if isinstance(exc, IssueFailed):
        return Note(N_("The card was pulled out before it was issued. Insert the same card again to finish; "
                       "if you take another card, the first one is cancelled."), "error")
    if isinstance(exc, (CardRemovedError, NoCardError)):
        return Note(N_("The card was pulled out during the operation. Nothing was recorded: insert it again."),
                    "error")
    if isinstance(exc, CardError):
        oplog.failure("card", exc)
        return Note(N_("This card cannot be read as a Sailau ballot card. Nothing was recorded and the card was "
                       "not changed."), "error")
    if isinstance(exc, WrongPollsState):
        return Note(N_("Not possible now: the polls are {state}."), "error", {"state": exc.state.value})
    if isinstance(exc, ZeroReportFailed):
        return Note(N_("The zero report failed: the polls were not opened."), "error", detail=detail)
    if isinstance(exc, ProtocolRefused):
        return Note(N_("The ballots read do not match the ballots counted: the protocol was NOT signed. Close "
                       "again: the count is read again."), "error", detail=detail)
    if isinstance(exc, store.SealingFailed):
        return Note(N_("The polls are closed, but the storage could not be sealed, so nothing was signed. Close any "
                       "other program using the database (or free disk space), then close again."), "error",
                    detail=detail)
    if isinstance(exc, ShareError):
        return Note(N_("The shares do not rebuild the election key: the polls stay as they were."), "error",
                    detail=detail)
    if isinstance(exc, StationError):
        return Note(N_("The station refused: {detail}"), "error", {"detail": detail})
    if isinstance(exc, OSError) and not card:  # the protocol files at close (the database is a StorageFailed)
        oplog.failure("write files", exc)
        return Note(N_("A file could not be written ({reason}). Fix the folder or free space, then try again: "
                       "close of polls resumes where it stopped."), "error", {"reason": exc.strerror or type(exc).__name__})
    oplog.failure("clerk app", exc)
    if card:
        return Note(N_("Something went wrong with this card; details are in the operator log. Insert it again: the "
                       "station finishes the job, and a ballot is never counted twice."), "error")
    return Note(N_("Something went wrong; details are in the operator log. Try again; if it repeats, call the "
                   "technician."), "error")


def note_for_issue(result: IssueResult) -> Note:
    name = " ".join(p for p in (result.voter.surname, result.voter.given_name) if p)
    return Note(N_("Card issued to {name}. Give the card to the voter."), "ok", {"name": name})


#: a cast that counted, by (status, how the CLEAR went): "counted" and nothing derived from the ballot
CAST_TEXT: dict[tuple[CastStatus, ClearOutcome], str] = {
    (CastStatus.ACCEPTED, ClearOutcome.CLEARED): N_("Ballot counted. The card is cleared."),
    (CastStatus.ACCEPTED, ClearOutcome.REMOVED): N_(
        "Ballot counted. The card was removed before it was cleared: insert it again to clear it."),
    (CastStatus.ACCEPTED, ClearOutcome.REFUSED): N_(
        "Ballot counted. The card could not be cleared: insert it again to clear it. If it keeps refusing, set it "
        "aside: it cannot be counted again."),
    (CastStatus.ALREADY_COUNTED, ClearOutcome.CLEARED): N_(
        "Already counted: nothing was added; the card is now cleared."),
    (CastStatus.ALREADY_COUNTED, ClearOutcome.REMOVED): N_(
        "Already counted: nothing was added. The card was removed before it was cleared: insert it again to "
        "clear it."),
    (CastStatus.ALREADY_COUNTED, ClearOutcome.REFUSED): N_(
        "Already counted: nothing was added. The card could not be cleared: insert it again to clear it. If it "
        "keeps refusing, set it aside: it cannot be counted again."),
}


def note_for_cast(result: CastResult) -> Note:
    if result.status is CastStatus.REJECTED:
        assert result.reason is not None
        return Note(REASON_TEXT[result.reason], "error")
    assert result.clear is not None
    severity = "ok" if result.status is CastStatus.ACCEPTED and result.card_cleared else "warn"
    return Note(CAST_TEXT[result.status, result.clear], severity)


def note_for_replace(result: ReplaceResult) -> Note:
    name = " ".join(p for p in (result.voter.surname, result.voter.given_name) if p)
    if result.card_returned:
        if result.clear is ClearOutcome.REFUSED:
            return Note(N_("Card replaced for {name}: the old card is cancelled but could not be cleared; set it "
                           "aside (it cannot be cast). The next blank card is theirs."), "warn", {"name": name})
        return Note(N_("Card replaced for {name}: the old card is cancelled. The next blank card is theirs."),
                    "ok", {"name": name})
    return Note(N_("Card replaced for {name} without the old card: that card is revoked and is refused if it "
                   "comes back (counted as not handed back). The next blank card is theirs."), "warn", {"name": name})


def note_for_cancel(result: CancelResult) -> Note:
    if result.status is CancelStatus.REJECTED:
        assert result.reason is not None
        return Note(REASON_TEXT[result.reason], "error")
    if result.status is CancelStatus.CANCELLED:
        msgid = {ClearOutcome.CLEARED: N_("Card cancelled and cleared: it can be used again."),
                 ClearOutcome.REMOVED: N_("Card cancelled, but removed before it was cleared: insert it again."),
                 ClearOutcome.REFUSED: N_("Card cancelled, but it could not be cleared: insert it again to clear "
                                          "it; if it keeps refusing, set it aside (it cannot be cast).")}
        assert result.clear is not None
        return Note(msgid[result.clear], "ok" if result.card_cleared else "warn")
    if result.clear is ClearOutcome.REFUSED:
        return Note(N_("This card was already cancelled and could not be cleared: set it aside (it cannot be "
                       "cast)."), "warn")
    return Note(N_("This card was already cancelled; it is now cleared."), "warn")


class CardEventMessage(Message):
    """A card event from the reader, delivered on the app's loop."""

    def __init__(self, event: CardEvent) -> None:
        super().__init__()
        self.event = event


class StationDone(Message):
    """A worker's result (or exception) to hand to a callback on the app's loop."""

    def __init__(self, callback: Callable[[Any], None], value: Any) -> None:
        super().__init__()
        self.handler, self.value = callback, value


class ClerkApp(App[None]):
    """The registration-table app over one `Station` and one reader slot."""

    CSS_PATH = "clerk.tcss"
    TITLE = "Sailau"
    BINDINGS = [
        Binding("f2", "language", "Language", show=False, priority=True),
        Binding("f3", "audit", "Audit log", show=False),
        Binding("f4", "close_polls", "Close polls", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        station: Station,
        transport: Transport,
        *,
        terminal_keys: Iterable[TerminalKey] = (),
        language: str = "kk",
        out_dir: str | Path | None = None,
        watch: Watch | None = None,
    ) -> None:
        super().__init__()
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        self.station = station
        self.transport = transport
        self.terminal_keys: list[TerminalKey] = list(terminal_keys)
        self.language = language
        self.out_dir = None if out_dir is None else Path(out_dir)
        ceremony = station.election.key_ceremony
        self.threshold: int | None = None if ceremony is None else ceremony.threshold
        self._watch = watch
        self._stop_watch: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.card_present = False
        self.card_busy = 0  # card workers running
        self.blank_card_waiting = False  # a BLANK card sits in the reader, nobody was selected
        self.card_note: Note | None = None
        self.desk_note: Note | None = None
        self.closing: ClosingResult | None = None

    # -- language -----------------------------------------------------------------------

    def t(self, msgid: str, /, **fields: Any) -> str:
        return t(self.language, msgid, **fields)

    def set_language(self, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        self.language = language
        for screen in self.screen_stack:
            for node in [screen, *screen.query("*")]:
                retranslate = getattr(node, "retranslate", None)
                if callable(retranslate):
                    retranslate()

    def action_language(self) -> None:
        self.set_language(LANGUAGES[(LANGUAGES.index(self.language) + 1) % len(LANGUAGES)])

    # -- lifecycle ------------------------------------------------------------------------

    def on_mount(self) -> None:
        try:
            state = self.station.polls_state
        except StorageFailed as exc:  # the command checked at start: this is a failure since then
            state, self.desk_note = None, note_for_storage(exc)
        if state is PollsState.SETUP:
            self.push_screen(OpenPollsScreen(name="open"))
        else:
            if state is PollsState.CLOSED:
                self.desk_note = Note(N_("The polls are closed. F4 counts again with the shares."), "warn")
            self.push_screen(DeskScreen(name="desk"))
        if self._watch is not None:
            self._stop_watch = self._watch(self.card_event)

    def on_unmount(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch()
            self._stop_watch = None

    def show_desk(self) -> None:
        self.switch_screen(DeskScreen(name="desk"))

    def _desk(self) -> DeskScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DeskScreen):
                return screen
        return None

    def refresh_desk(self) -> None:
        desk = self._desk()
        if desk is not None and desk.is_mounted:
            desk.refresh_state()

    def counters_now(self) -> ProtocolCounters | None:
        """The live counters for a screen drawing on the UI thread; None (and a desk note
        saying why) when the database cannot be read. Never raises into the UI."""
        try:
            return self.station.counters()
        except StorageFailed as exc:
            self.desk_note = note_for_storage(exc)
            return None

    def set_desk_note(self, note: Note | None) -> None:
        self.desk_note = note
        self.refresh_desk()

    def set_card_note(self, note: Note | None) -> None:
        self.card_note = note
        self.refresh_desk()
        if note is not None and not isinstance(self.screen, DeskScreen):
            self.notify(note.render(self.t), severity="error" if note.severity == "error" else "information")

    # -- running Station calls off the UI thread ---------------------------------------

    def run_station(
        self,
        job: Callable[[], T],
        done: Callable[[T], None],
        failed: Callable[[BaseException], None],
        *,
        group: str = "station",
    ) -> None:
        """Run `job` in a worker thread under the station lock; `done(value)` or
        `failed(exception)` then runs on the app's loop."""

        def work() -> None:
            with self._lock:
                try:
                    value = job()
                except Exception as exc:  # every failure becomes a note, never a dead app
                    self.post_message(StationDone(failed, exc))
                    return
            self.post_message(StationDone(done, value))

        self.run_worker(work, thread=True, group=group, exit_on_error=False)

    def on_station_done(self, message: StationDone) -> None:
        message.handler(message.value)

    # -- opening ---------------------------------------------------------------------------

    def open_polls(self) -> None:
        keys = list(self.terminal_keys)
        self.run_station(lambda: self.station.open_polls(keys), self._opened, self._open_failed)

    def _open_screen(self) -> OpenPollsScreen | None:
        return self.screen if isinstance(self.screen, OpenPollsScreen) else None

    def _opened(self, report: ZeroReport) -> None:
        screen = self._open_screen()
        if screen is not None:
            screen.opened(report)

    def _open_failed(self, exc: BaseException) -> None:
        screen = self._open_screen()
        if screen is not None:
            screen.failed(note_for_error(exc))

    # -- voters ------------------------------------------------------------------------------

    def search(self, query: str) -> None:
        if not query.strip():
            self.set_desk_note(Note(N_("Type an IIN or the first letters of a surname."), "warn"))
            return
        self.run_station(lambda: self.station.search(query), self._found, self._desk_failed)

    def _found(self, voters: list[Voter]) -> None:
        desk = self._desk()
        if desk is not None:
            desk.show_results(voters)
        self.set_desk_note(Note(N_("Found: {n}."), "info", {"n": len(voters)}) if voters
                           else Note(N_("Nobody on the list matches."), "warn"))

    def check_in(self, iin: str) -> None:
        self.run_station(lambda: self.station.check_in(iin), self._checked_in, self._desk_failed)

    def select_voter(self, iin: str) -> None:
        self.run_station(lambda: self.station.select_voter(iin), self._selected, self._desk_failed)

    def _checked_in(self, voter: Voter) -> None:
        desk = self._desk()
        if desk is not None:
            desk.after_check_in(voter)
        self.set_desk_note(Note(N_("Checked in: {name}. Insert a blank card."), "ok",
                                {"name": f"{voter.surname} {voter.given_name}"}))
        self._issue_waiting_blank()

    def _selected(self, voter: Voter) -> None:
        self.set_desk_note(Note(N_("The next blank card goes to {name}."), "ok",
                                {"name": f"{voter.surname} {voter.given_name}"}))
        self._issue_waiting_blank()

    def _desk_failed(self, exc: BaseException) -> None:
        self.set_desk_note(note_for_error(exc))

    # -- cards -------------------------------------------------------------------------------

    def card_event(self, event: CardEvent) -> None:
        """The reader callback: safe from any thread (pyscard's, a test's, the app's)."""
        self.post_message(CardEventMessage(event))

    def on_card_event_message(self, message: CardEventMessage) -> None:
        if isinstance(message.event, CardInserted):
            self.card_present = True
            self.blank_card_waiting = False
            self._card_job(self._read_card, self._card_read)
            return
        self.card_present = False
        self.blank_card_waiting = False
        if isinstance(self.screen, CancelCardScreen):
            self.screen.dismiss(False)
            self.set_card_note(Note(N_("The card was removed: it was not cancelled."), "warn"))
        self.refresh_desk()

    def _card_job(self, job: Callable[[BallotCardClient], T], done: Callable[[T], None]) -> None:
        self.card_busy += 1
        self.refresh_desk()

        def run() -> T:
            client = BallotCardClient(self.transport)
            try:
                client.connect()
                return job(client)
            finally:
                self.transport.disconnect()

        def finished(value: T) -> None:
            self.card_busy -= 1
            done(value)

        def failed(exc: BaseException) -> None:
            self.card_busy -= 1
            if isinstance(exc, (CardRemovedError, NoCardError, IssueFailed)):
                self.blank_card_waiting = False
            self.set_card_note(note_for_error(exc, card=True))

        self.run_station(run, finished, failed, group="card")

    def _read_card(self, client: BallotCardClient) -> CardAction:
        return self.station.on_card(client)

    def _card_read(self, action: CardAction) -> None:
        if action.kind is ActionKind.ISSUED:
            assert action.issue is not None
            self.set_card_note(note_for_issue(action.issue))
        elif action.kind is ActionKind.REMOVED:
            self.set_card_note(Note(N_("The card was pulled out during the operation. Nothing was recorded: "
                                       "insert it again."), "error"))
        elif action.kind is ActionKind.NEED_VOTER:
            self.blank_card_waiting = self.card_present
            self.set_card_note(Note(N_("Blank card: check in a voter (or pick one waiting) and it is issued to them."),
                                    "warn"))
        elif action.kind is ActionKind.CAST:
            assert action.cast is not None
            self.set_card_note(note_for_cast(action.cast))
            if action.cast.counted and action.cast.card_cleared:
                self._blank_in_reader()
        elif action.kind is ActionKind.OFFER_CANCEL:
            self.set_card_note(Note(N_("This card is issued and holds no ballot."), "warn"))
            if self.card_present:
                self.push_screen(CancelCardScreen(), self._cancel_answer)

    def _blank_in_reader(self) -> None:
        """The card in the reader was just cleared (cast, cancel, replace): it is a blank
        card now, exactly as if one were inserted. Issue it to the selected voter, or
        keep it for the next one checked in."""
        if not self.card_present:
            return
        self.blank_card_waiting = True
        if self.station.selected_voter is not None:
            self._issue_waiting_blank()

    def _issue_waiting_blank(self) -> None:
        """A blank card waited in the reader for a voter: issue it now."""
        if not (self.blank_card_waiting and self.card_present):
            return
        self.blank_card_waiting = False
        self._card_job(lambda client: self.station.issue_card(client), self._issued)

    def _issued(self, result: IssueResult) -> None:
        self.set_card_note(note_for_issue(result))

    def _cancel_answer(self, yes: bool | None) -> None:
        if not yes:
            if self.card_present:
                self.set_card_note(Note(N_("The card was kept as it is."), "info"))
            return
        self._card_job(lambda client: self.station.cancel_card(client), self._cancelled)

    def _cancelled(self, result: CancelResult) -> None:
        self.set_card_note(note_for_cancel(result))
        if result.card_cleared:
            self._blank_in_reader()

    # -- replace a card -------------------------------------------------------------------------

    def ask_replace(self, voter: Voter) -> None:
        """The clerk wants to replace `voter`'s card: ask how (old card in the reader or not)."""
        def answer(choice: str | None) -> None:
            if choice == "in-reader":
                self.replace_with_card_in_reader(voter.iin)
            elif choice in (ReplaceReason.ISSUE_INTERRUPTED.value, ReplaceReason.LOST.value):
                self._confirm_not_returned(voter, ReplaceReason(choice))

        self.push_screen(ReplaceCardScreen(voter), answer)

    def replace_with_card_in_reader(self, iin: str) -> None:
        if not self.card_present:
            self.set_card_note(Note(N_("Insert the old card to replace it, or confirm it is not handed back."), "warn"))
            return
        self.blank_card_waiting = False
        self._card_job(lambda client: self.station.replace_card(iin, ReplaceReason.DAMAGED, old_card=client),
                       self._replaced)

    def _confirm_not_returned(self, voter: Voter, reason: ReplaceReason) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self.replace_not_returned(voter.iin, reason)

        self.push_screen(
            ConfirmScreen(N_("The old card is not handed back, so it will be revoked: if it comes back it is "
                             "refused and kept. This is counted in the protocol and logged. "
                             "Replace the card of {voter}?"),
                          N_("Replace without the old card"), N_("Do not replace"),
                          name="replace-not-returned", voter=f"{voter.surname} {voter.given_name}"),
            answer,
        )

    def replace_not_returned(self, iin: str, reason: ReplaceReason) -> None:
        self.run_station(lambda: self.station.replace_card(iin, reason, card_not_returned=True),
                         self._replaced, self._card_failed)

    def _card_failed(self, exc: BaseException) -> None:
        self.set_card_note(note_for_error(exc, card=True))

    def _replaced(self, result: ReplaceResult) -> None:
        self.set_card_note(note_for_replace(result))
        if result.card_cleared or self.blank_card_waiting:
            self._blank_in_reader()

    # -- audit ---------------------------------------------------------------------------------

    def action_audit(self) -> None:
        if isinstance(self.screen, (AuditScreen, ConfirmScreen)):
            return
        db = self.station.db
        self.run_station(lambda: (audit.read_events(db), audit.verify_db(db)), self._show_audit, self._desk_failed)

    def _show_audit(self, value: tuple[list[audit.AuditEvent], audit.ChainReport]) -> None:
        if not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(*value))

    # -- close of polls ------------------------------------------------------------------------

    def action_close_polls(self) -> None:
        if isinstance(self.screen, DeskScreen):
            self.push_screen(CloseScreen(name="close"))

    def confirm_close(self, entered: Sequence[Share | str]) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._close(list(entered))

        self.push_screen(
            ConfirmScreen(N_("Close the polls now? No ballot can be cast after this."),
                          N_("Close the polls"), N_("Not yet")),
            answer,
        )

    def _close(self, entered: list[Share | str]) -> None:
        screen = self.screen
        if isinstance(screen, CloseScreen):
            screen.failed(Note(N_("Counting: rebuilding the key, decrypting and signing…"), "info"))
        self.run_station(lambda: self.station.close_polls(entered, self.out_dir), self._close_done, self._close_failed)

    def _close_done(self, result: ClosingResult) -> None:
        self.closing = result
        self.switch_screen(ProtocolScreen(result, self.out_dir))

    def _close_failed(self, exc: BaseException) -> None:
        screen = self.screen
        if isinstance(screen, CloseScreen):
            screen.failed(note_for_error(exc))
        else:
            self.notify(note_for_error(exc).render(self.t), severity="error")
