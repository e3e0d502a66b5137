"""The clerk app (Textual) of the ballot-box station: `ClerkApp`.

A face over `ClerkDesk` (desk.py), which holds every rule of the clerk's side. The
app only schedules workers and draws:

* Every desk operation blocks (card I/O at 9600 bit/s, database commits), so each
  runs in a Textual worker thread (`@work(thread=True)`, `_run`) and hands its
  `DeskStep` back to the app's loop with `call_from_thread`; the terminal app
  uses the same worker style. The UI never waits on the card or the database.
* Card events come from any source with the `callback(CardInserted |
  CardRemoved)` shape (`ReaderWatcher` for PC/SC, `InProcessSlot` in tests):
  `card_event` is thread-safe and posts a `CardEventMessage` to the loop.
* Data goes down, intents come up: after each step the app hands the desk's
  `DeskView` (notes, counters, the waiting queue, the reader, the shares entered)
  to the screens, which draw it; a screen posts a message (check in, replace,
  add a share...) and the app runs the matching desk operation. No screen or
  widget calls the station, its storage or a file (tests/test_clerk_desk.py scans
  for it).
* Every note is a catalogue code with fields (`messages.Note`), so F2 re-renders
  the whole screen stack in Kazakh, Russian or English.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.worker import Worker, WorkerState

from sailau.election.turnout import election_time_zone
from sailau.smartcard.events import CardEvent, CardEventMessage, CardInserted
from sailau.smartcard.events import CardEventCallback
from sailau.smartcard.transport import Transport

from . import oplog
from .close import ClosingResult
from .desk import ClerkDesk, DeskStep, DeskView, transport_opener
from .handcount import HAND_COUNT_FORMAT, HAND_COUNT_VERSION, HandCountError, hand_count_from_data
from .i18n import LANGUAGES, t
from .messages import Note
from .models import BallotForm, PollsState
from .count_screens import CosignScreen, HandCountScreen
from .paper_screens import AddVoterScreen, MobileRequestScreen, MobileScreen, PaperScreen, ReturnTeamScreen, SendTeamScreen
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
from .station import ReplaceReason, Station, TerminalKey

__all__ = ["ClerkApp", "Watch", "hand_count_data"]

#: Start delivering card events to the callback; returns a function that stops it.
Watch = Callable[[CardEventCallback], Callable[[], None]]


def hand_count_data(figures: dict[str, int]) -> dict[str, Any]:
    """The hand count form's lines (by line key: `unused`, `found_stationary`,
    `found_mobile`, `contest:<id>:option:<oid>`, `contest:<id>:against_all`,
    `contest:<id>:invalid`) as the hand count's data (`handcount.hand_count_from_data`
    reads and checks it)."""
    contests: dict[str, dict[str, Any]] = {}
    data: dict[str, Any] = {"format": HAND_COUNT_FORMAT, "version": HAND_COUNT_VERSION}
    for key, n in figures.items():
        parts = key.split(":")
        if parts[0] != "contest":
            data[key] = n
            continue
        contest = contests.setdefault(parts[1], {"id": parts[1], "votes": {}, "against_all": 0, "invalid": 0})
        if parts[2] == "option":
            contest["votes"][parts[3]] = n
        else:
            contest[parts[2]] = n
    data["contests"] = list(contests.values())
    return data


class ClerkApp(App[None]):
    """The registration-table app over one `Station` and one reader slot."""

    CSS_PATH = "clerk.tcss"
    TITLE = "Sailau"
    BINDINGS = [
        Binding("f2", "language", "Language", show=False, priority=True),
        Binding("f3", "audit", "Audit log", show=False),
        Binding("f4", "close_polls", "Close polls", show=False),
        Binding("f5", "paper", "Paper ballots", show=False),
        Binding("f6", "mobile", "Mobile box", show=False),
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
        commission_url: str | None = None,
    ) -> None:
        super().__init__()
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        self.station = station  # for the caller and tests; screens draw `view` only
        self.election = station.election
        self.precinct = station.precinct
        #: the precinct's time zone: times are shown in it, with its name (never the clock's UTC)
        self.time_zone = election_time_zone(station.election)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.desk = ClerkDesk(station, transport_opener(transport), terminal_keys=terminal_keys,
                              out_dir=self.out_dir, commission_url=commission_url)
        self.language = language
        self._watch = watch
        self._stop_watch: Callable[[], None] | None = None
        # the first read happens here, before the UI loop runs (as the command's checks do)
        self.view: DeskView = self.desk.refresh()
        self.closing: ClosingResult | None = None

    # -- the desk's state, as last drawn ---------------------------------------------------

    @property
    def terminal_keys(self) -> list[TerminalKey]:
        return self.desk.terminal_keys

    @property
    def card_note(self) -> Note | None:
        return self.view.card_note

    @property
    def desk_note(self) -> Note | None:
        return self.view.desk_note

    @property
    def card_present(self) -> bool:
        return self.view.card_present

    @property
    def card_busy(self) -> int:
        return self.view.card_busy

    @property
    def blank_card_waiting(self) -> bool:
        return self.view.blank_card_waiting

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
        if self.view.polls is PollsState.SETUP:
            self.push_screen(OpenPollsScreen(name="open"))
        else:
            self.push_screen(DeskScreen(name="desk"))
        if self._watch is not None:
            self._stop_watch = self._watch(self.card_event)

    def on_unmount(self) -> None:
        if self._stop_watch is not None:
            self._stop_watch()
            self._stop_watch = None

    def show(self, view: DeskView | None = None) -> None:
        """Take the desk's view and hand it to the screens (data down); keep the cancel
        dialog in step with the desk's offer."""
        before = self.view.card_note
        self.view = view if view is not None else self.desk.view()
        for screen in self.screen_stack:
            show_view = getattr(screen, "show_view", None)  # the screens that draw the desk's view
            if callable(show_view) and screen.is_mounted:
                show_view(self.view)
        dialog = self.screen
        if isinstance(dialog, CancelCardScreen) and not self.view.cancel_offered and not dialog.answered:
            dialog.answered = True
            dialog.dismiss(False)
        note = self.view.card_note
        if note is not None and note is not before and not isinstance(self.screen, (DeskScreen, CancelCardScreen)):
            self.notify(note.render(self.t), severity="error" if note.severity == "error" else "information")
        if self.view.cancel_offered and not isinstance(self.screen, CancelCardScreen):
            self.push_screen(CancelCardScreen(), self._cancel_answer)

    # -- one worker style: a desk operation off the loop, its step back on it ---------------

    @work(thread=True, group="desk", exit_on_error=False)
    def _run(self, operation: Callable[[], DeskStep], then: Callable[[DeskStep], None] | None = None) -> None:
        step = operation()
        self.call_from_thread(self._done, step, then)

    def _done(self, step: DeskStep, then: Callable[[DeskStep], None] | None) -> None:
        self.show()
        if then is not None:
            then(step)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A desk operation never raises what a clerk can cause; anything that still ends a
        worker goes to the operator log with its traceback, and the clerk reads what to do."""
        error = event.worker.error
        if event.state is WorkerState.ERROR and error is not None:
            oplog.failure("clerk app", error)
            self.desk.note(Note("unexpected", "error"))
            self.show()

    # -- opening ---------------------------------------------------------------------------

    def on_open_polls_screen_add_terminal_key(self, message: OpenPollsScreen.AddTerminalKey) -> None:
        self._run(lambda: self.desk.add_terminal_key(message.path), self._open_screen_step)

    def on_open_polls_screen_open(self, _message: OpenPollsScreen.Open) -> None:
        self._run(self.desk.open_polls, self._open_screen_step)

    def on_open_polls_screen_to_desk(self, _message: OpenPollsScreen.ToDesk) -> None:
        self.switch_screen(DeskScreen(name="desk"))

    def _open_screen_step(self, step: DeskStep) -> None:
        if isinstance(self.screen, OpenPollsScreen):
            self.screen.step_done(step)

    # -- voters ------------------------------------------------------------------------------

    def search(self, query: str) -> None:
        self._run(lambda: self.desk.search(query), self._found)

    def check_in(self, iin: str, form: BallotForm = BallotForm.CARD) -> None:
        self._run(lambda: self.desk.check_in(iin, form), self._checked_in)

    def select_voter(self, iin: str) -> None:
        self._run(lambda: self.desk.select_voter(iin))

    def on_desk_screen_search(self, message: DeskScreen.Search) -> None:
        self.search(message.query)

    def on_desk_screen_check_in(self, message: DeskScreen.CheckIn) -> None:
        self.check_in(message.iin, BallotForm(message.form))

    def on_desk_screen_select(self, message: DeskScreen.Select) -> None:
        self.select_voter(message.iin)

    def on_desk_screen_hint(self, message: DeskScreen.Hint) -> None:
        self.desk.note(message.note)
        self.show()

    def _desk_screen(self) -> DeskScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, DeskScreen) and screen.is_mounted:
                return screen
        return None

    def _found(self, step: DeskStep) -> None:
        desk = self._desk_screen()
        if desk is not None and step.note is not None and step.note.code in ("found", "nobody_found"):
            desk.show_results(step.voters)

    def _checked_in(self, step: DeskStep) -> None:
        desk = self._desk_screen()
        if desk is not None and step.voter is not None:
            desk.after_check_in(step.voter)

    # -- cards -------------------------------------------------------------------------------

    def card_event(self, event: CardEvent) -> None:
        """The reader callback: safe from any thread (pyscard's, a test's, the app's)."""
        self.post_message(CardEventMessage(event))

    def on_card_event_message(self, message: CardEventMessage) -> None:
        if isinstance(message.event, CardInserted):
            self.desk.card_inserted()
            self.show()
            self._run(self.desk.read_card)
            return
        self.desk.card_removed()
        self.show()

    def _cancel_answer(self, yes: bool | None) -> None:
        if yes and self.desk.answer_offer():
            self._run(self.desk.cancel_card)
        else:
            self.desk.decline_cancel()
            self.show()

    # -- replace a card -------------------------------------------------------------------------

    def on_desk_screen_replace(self, message: DeskScreen.Replace) -> None:
        """The clerk wants to replace the voter's card: ask how (old card in the reader or not)."""
        voter = message.voter

        def answer(choice: str | None) -> None:
            if choice == "in-reader":
                self._run(lambda: self.desk.replace_in_reader(voter.iin))
            elif choice in (ReplaceReason.ISSUE_INTERRUPTED.value, ReplaceReason.LOST.value):
                self._confirm_not_returned(voter.iin, f"{voter.surname} {voter.given_name}", ReplaceReason(choice))

        self.push_screen(ReplaceCardScreen(voter), answer)

    def _confirm_not_returned(self, iin: str, name: str, reason: ReplaceReason) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._run(lambda: self.desk.replace_not_returned(iin, reason))

        self.push_screen(ConfirmScreen.replace_not_returned(name), answer)

    # -- paper ballots, the additional list, the mobile box ---------------------------------------

    def _modal_open(self) -> bool:
        return isinstance(self.screen, ModalScreen)

    def action_paper(self) -> None:
        if not self._modal_open() and not isinstance(self.screen, PaperScreen):
            self.push_screen(PaperScreen())

    def action_mobile(self) -> None:
        if not self._modal_open() and not isinstance(self.screen, MobileScreen):
            self.push_screen(MobileScreen())

    def on_paper_screen_receive(self, message: PaperScreen.Receive) -> None:
        def done(step: DeskStep) -> None:
            if step.paper is not None and isinstance(self.screen, PaperScreen):
                self.screen.received(None if step.receipt is None else step.receipt.name)

        self._run(lambda: self.desk.receive_paper(message.count, message.from_whom, message.received_by), done)

    def on_desk_screen_exchange_paper(self, message: DeskScreen.ExchangePaper) -> None:
        iin = message.voter.iin

        def answer(yes: bool | None) -> None:
            if yes:
                self._run(lambda: self.desk.exchange_paper(iin))

        self.push_screen(ConfirmScreen.exchange_paper(f"{message.voter.surname} {message.voter.given_name}"), answer)

    def on_desk_screen_request_mobile(self, message: DeskScreen.RequestMobile) -> None:
        iin = message.voter.iin

        def answer(typed: tuple[str, str] | None) -> None:
            if typed is not None:
                self._run(lambda: self.desk.request_mobile(iin, *typed))

        self.push_screen(MobileRequestScreen(message.voter), answer)

    def on_desk_screen_add_voter(self, _message: DeskScreen.AddVoter) -> None:
        def answer(typed: tuple[str, str, str, str, str] | None) -> None:
            if typed is not None:
                self._run(lambda: self.desk.add_voter(*typed), self._voter_added)

        self.push_screen(AddVoterScreen(), answer)

    def _voter_added(self, step: DeskStep) -> None:
        """The voter is on the additional list: show them as found, ready to check in."""
        desk = self._desk_screen()
        if desk is not None and step.voter is not None:
            desk.show_results([step.voter])

    def on_mobile_screen_withdraw(self, message: MobileScreen.Withdraw) -> None:
        self._run(lambda: self.desk.withdraw_mobile(message.iin))

    def on_mobile_screen_send_team(self, _message: MobileScreen.SendTeam) -> None:
        def answer(typed: tuple[tuple[str, ...], int, tuple[str, ...]] | None) -> None:
            if typed is not None:
                members, ballots, iins = typed
                self._run(lambda: self.desk.send_mobile_team(members, ballots, iins))

        self.push_screen(SendTeamScreen(self.view), answer)

    def on_mobile_screen_return_team(self, message: MobileScreen.ReturnTeam) -> None:
        def answer(typed: tuple[int, tuple[str, ...], int, int] | None) -> None:
            if typed is not None:
                self._run(lambda: self.desk.return_mobile_team(*typed))

        self.push_screen(ReturnTeamScreen(self.view, message.trip_id), answer)

    # -- audit ---------------------------------------------------------------------------------

    def action_audit(self) -> None:
        if isinstance(self.screen, (AuditScreen, ConfirmScreen)):
            return
        self._run(self.desk.read_audit, self._show_audit)

    def _show_audit(self, step: DeskStep) -> None:
        if step.audit is not None and not isinstance(self.screen, AuditScreen):
            self.push_screen(AuditScreen(*step.audit))

    # -- close of polls ------------------------------------------------------------------------

    def action_close_polls(self) -> None:
        if isinstance(self.screen, DeskScreen):
            self.push_screen(CloseScreen(name="close"))

    def on_close_screen_add_share(self, message: CloseScreen.AddShare) -> None:
        self._run(lambda: self.desk.enter_share(path=message.path, words=message.words), self._close_screen_step)

    def on_close_screen_remove_share(self, message: CloseScreen.RemoveShare) -> None:
        step = self.desk.remove_share(message.row)  # no I/O
        self.show()
        self._close_screen_step(step)

    def _close_screen_step(self, step: DeskStep) -> None:
        if isinstance(self.screen, CloseScreen):
            self.screen.step_done(step)

    def on_close_screen_close(self, _message: CloseScreen.Close) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._close()

        self.push_screen(ConfirmScreen.close_polls(), answer)

    def on_close_screen_end_voting(self, _message: CloseScreen.EndVoting) -> None:
        def answer(yes: bool | None) -> None:
            if yes:
                self._run(self.desk.end_voting, self._close_screen_step)

        self.push_screen(ConfirmScreen.end_voting(), answer)

    def on_close_screen_open_hand_count(self, _message: CloseScreen.OpenHandCount) -> None:
        if not isinstance(self.screen, HandCountScreen):
            self.push_screen(HandCountScreen())

    def on_hand_count_screen_enter(self, message: HandCountScreen.Enter) -> None:
        """One member's hand count, as the form's lines: the desk checks and keeps it."""
        figures = message.figures

        def enter() -> DeskStep:
            try:
                count = hand_count_from_data(hand_count_data(figures))
            except HandCountError as exc:  # a figure out of range: nothing is kept
                return DeskStep(Note("invalid_entry", "error", detail=str(exc)))
            return self.desk.enter_hand_count(message.member_key_id, count)

        def done(step: DeskStep) -> None:
            if isinstance(self.screen, HandCountScreen) and step.hand_count is not None:
                self.screen.clear()  # kept: the next member starts from an empty form

        self._run(enter, done)

    def _close(self) -> None:
        if isinstance(self.screen, CloseScreen):
            self.screen.step_done(DeskStep(Note("counting", "info")))
        self._run(self.desk.close_polls, self._close_done)

    def _close_done(self, step: DeskStep) -> None:
        if step.closing is not None:
            self.closing = step.closing
            self.switch_screen(ProtocolScreen(step.closing, self.out_dir))
        elif isinstance(self.screen, CloseScreen):
            self.screen.step_done(step)
        elif step.note is not None:
            self.notify(step.note.render(self.t), severity="error")

    # -- sending to the commission ---------------------------------------------------------------

    def on_protocol_screen_cosign(self, _message: ProtocolScreen.Cosign) -> None:
        def answer(typed: tuple[str, str | None] | None) -> None:
            if typed is not None:
                path, dissent = typed
                self._run(lambda: self.desk.cosign(Path(path), dissent), self._cosigned)

        self.push_screen(CosignScreen(), answer)

    def _cosigned(self, step: DeskStep) -> None:
        if isinstance(self.screen, ProtocolScreen):
            self.screen.cosigned(step)

    def on_protocol_screen_send(self, _message: ProtocolScreen.Send) -> None:
        if isinstance(self.screen, ProtocolScreen):
            self.screen.step_done(DeskStep(Note("send.sending", "info")))
        self._run(self.desk.send, self._sent)

    def _sent(self, step: DeskStep) -> None:
        if isinstance(self.screen, ProtocolScreen):
            self.screen.step_done(step)
