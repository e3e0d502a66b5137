"""The clerk app's screens: open polls, the registration desk, the audit view,
close of polls (share entry) and the signed protocol.

Screens draw what they are given and post the clerk's intent up as a message
(`DeskScreen.CheckIn`, `CloseScreen.AddShare`...); `ClerkApp` runs the matching
`ClerkDesk` operation in a worker thread and hands the result back down
(`show_view(DeskView)`, `step_done(DeskStep)`). No screen reads the station, its
storage or a file, and no voting rule lives here: what a card means, whether a
voter may get one, whether a share belongs, what a protocol says is decided by
the desk and the station service (tests/test_clerk_desk.py scans this module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Static, TextArea

from textual.message import Message

from sailau.election.protocol import ContestResult

from . import wallcopy
from .i18n import LANGUAGE_NAMES, N_, local_time
from .messages import Note
from .widgets import CountersPanel, Figures, NoteView, Tr, TrButton

if TYPE_CHECKING:
    from .app import ClerkApp
    from .audit import AuditEvent, ChainReport
    from .close import ClosingResult
    from .desk import DeskStep, DeskView
    from .pollbook import Voter
    from .station import ZeroReport

HINTS = N_("F2 language · F3 audit · F4 close · F5 paper ballots · F6 mobile box · Esc back · Ctrl+Q quit")


class ClerkScreen(Screen[None]):
    """Base: the header line (election, precinct, language) and the key hints."""

    @property
    def clerk(self) -> ClerkApp:
        return self.app  # type: ignore[return-value]

    def header(self) -> Static:
        return Static("", id="header")

    def hints(self) -> Tr:
        return Tr(HINTS, id="hints")

    def on_mount(self) -> None:
        self._retranslate_header()

    def _retranslate_header(self) -> None:
        app = self.clerk
        name = app.election.name.get(app.language)
        text = app.t(N_("Precinct {precinct} · {language} · {election}"), election=name,
                     precinct=app.precinct, language=LANGUAGE_NAMES[app.language])
        for header in self.query("#header").results(Static):
            header.update(text)

    def retranslate(self) -> None:
        self._retranslate_header()


def voter_name(voter: Voter) -> str:
    return " ".join(part for part in (voter.surname, voter.given_name, voter.patronymic) if part)


#: the pollbook's mark (`BallotForm` value) -> the status the clerk reads
VOTER_STATUS: dict[str, str] = {
    "card": N_("checked in: card"),
    "paper": N_("checked in: paper ballot"),
    "outside": N_("voted outside"),
}


def _voter_status(voter: Voter, requested: bool) -> str:
    """A voter's line in the search results: the form they took, a pending request to vote
    outside, or nothing (the message id; "" for nothing)."""
    form = voter.ballot_form.value
    if form in VOTER_STATUS:
        return VOTER_STATUS[form]
    if voter.checked_in:
        return N_("checked in")
    return N_("asked to vote outside") if requested else ""


def _requested_iins(view: DeskView) -> set[str]:
    """Voters with a written request still open (pending, or the team is out with their ballot)."""
    return {r.iin for r in view.mobile if r.state in ("pending", "out")}


def _paper_used(view: DeskView) -> bool:
    """Whether this station has paper ballots in play (received, or requests to vote outside)."""
    paper = view.paper
    return paper is not None and (paper.received > 0 or paper.requests > 0)


def hand_count_status(view: DeskView) -> tuple[str, str, dict[str, Any]]:
    """(message id, severity, fields) of where the double entry stands, for the close
    screen and the hand count screen alike."""
    state = view.hand_count
    if state is None or not state.entries:
        return N_("Hand count: no entry yet. Two members each enter the count."), "warn", {}
    if state.agreed is not None:
        return N_("Hand count: {n} entries agree. The protocol can be signed."), "ok", {"n": len(state.entries)}
    if state.differences:
        return (N_("Hand count: the entries differ on {n} lines. Recount those lines; a member enters again."),
                "error", {"n": len(state.differences)})
    return N_("Hand count: {n} entry. A second member enters the count."), "warn", {"n": len(state.entries)}


#: the paper figures beside the desk counters: PaperLedger field -> label
PAPER_DESK_ROWS: tuple[tuple[str, str], ...] = (
    ("received", N_("Received")),
    ("issued_in_station", N_("Issued in the station")),
    ("spoiled", N_("Spoiled (exchanged)")),
    ("out_with_teams", N_("With the mobile team")),
    ("in_hand", N_("Left at the table")),
)


# --- open polls ----------------------------------------------------------------------


class OpenPollsScreen(ClerkScreen):
    """Terminal enrolment and the zero report, before the first voter."""

    class AddTerminalKey(Message):
        """Read this terminal public key file and enrol it when the polls open."""

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

    class Open(Message):
        """Open the polls (enrol, zero report)."""

    class ToDesk(Message):
        """Go on to the registration desk."""

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="open-body"):
            yield Tr(N_("Open the polls"), classes="title")
            yield Static("", id="open-info")
            yield Tr(N_("Voting terminals to enrol"), classes="subtitle")
            yield DataTable(id="terminals", cursor_type="none", show_cursor=False)
            with Horizontal(classes="row"):
                yield Input(id="terminal-file")
                yield TrButton(N_("Add key file"), id="add-terminal")
            yield NoteView(id="open-note")
            yield TrButton(N_("Open the polls"), id="open-polls", variant="primary")
            yield Static("", id="zero-report")
            yield TrButton(N_("Start checking in voters"), id="to-desk", variant="success")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.report: ZeroReport | None = None
        self.query_one("#to-desk").display = False
        self.retranslate()

    def show_view(self, _view: DeskView) -> None:
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        app = self.clerk
        counters = app.view.counters
        address = app.election.precinct(app.precinct).address.get(app.language)
        self.query_one("#open-info", Static).update(
            app.t(N_("Precinct {precinct}: {address}"), precinct=app.precinct, address=address)
            + "\n" + app.t(N_("Voters on the list: {count}"), count="–" if counters is None else counters.on_list))
        self.query_one("#terminal-file", Input).placeholder = app.t(N_("Path of a terminal public key file (.pub)"))
        table = self.query_one("#terminals", DataTable)
        table.clear(columns=True)
        table.add_columns(app.t(N_("Key id")), app.t(N_("Label")))
        for key in app.terminal_keys:
            table.add_row(key.key_id.hex(), key.label)
        self._show_report()

    def _show_report(self) -> None:
        report = self.report
        if report is None:
            return
        t = self.clerk.t
        title = t(N_("Zero report: the ballot box is empty"))
        lines = [
            f"[b]{title}[/b]",
            t(N_("Ballots stored: {n}"), n=report.ballots_stored),
            t(N_("Cards issued: {n}"), n=report.cards_issued),
            t(N_("Voters on the list: {count}"), count=report.voters_on_list),
            t(N_("Terminals enrolled: {ids}"), ids=", ".join(report.terminals)),
            t(N_("Audit chain: {n} events, head {head}"), n=report.audit_events, head=report.audit_head[:16]),
            t(N_("Polls opened at {time}"), time=local_time(report.opened_at, self.clerk.time_zone)),
        ]
        self.query_one("#zero-report", Static).update("\n".join(lines))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "terminal-file":
            self._add_terminal()

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        if event.button.id == "add-terminal":
            self._add_terminal()
        elif event.button.id == "open-polls":
            event.button.disabled = True
            self.post_message(self.Open())
        elif event.button.id == "to-desk":
            self.post_message(self.ToDesk())

    def _add_terminal(self) -> None:
        self.post_message(self.AddTerminalKey(self.query_one("#terminal-file", Input).value.strip()))

    def step_done(self, step: DeskStep) -> None:
        """A key file read, or the polls opened (the zero report), or why not."""
        if step.note is not None:
            self.query_one("#open-note", NoteView).show(step.note)
        if step.report is not None:
            self.report = step.report
            self._show_report()
            self.query_one("#open-polls").display = False
            self.query_one("#to-desk").display = True
            self.query_one("#to-desk").focus()
        elif step.note is not None and step.note.code == "terminal_key_added":
            self.query_one("#terminal-file", Input).value = ""
            self.retranslate()
        else:
            self.query_one("#open-polls", TrButton).disabled = False


# --- registration desk ----------------------------------------------------------------

#: the reader line, by `desk.Reader` value
READER_TEXT: dict[str, str] = {
    "empty": N_("No card in the reader."),
    "present": N_("A card is in the reader."),
    "busy": N_("Working with the card: do not remove it."),
}


class DeskScreen(ClerkScreen):
    """Search, check-in, the waiting queue, counters and the card reader."""

    BINDINGS = [Binding("escape", "focus_search", show=False)]

    class Search(Message):
        def __init__(self, query: str) -> None:
            super().__init__()
            self.query = query

    class CheckIn(Message):
        """Check this voter in (`iin`) with the ballot form they take: "card" or "paper"."""

        def __init__(self, iin: str, form: str = "card") -> None:
            super().__init__()
            self.iin, self.form = iin, form

    class Select(CheckIn):
        """Give the next blank card to this checked-in voter (`iin`)."""

    class Replace(Message):
        """Replace this voter's card (the app asks how)."""

        def __init__(self, voter: Voter) -> None:
            super().__init__()
            self.voter = voter

    class ExchangePaper(Replace):
        """This voter spoiled their paper ballot: exchange it (the app asks to confirm)."""

    class RequestMobile(Replace):
        """Record this voter's written request to vote outside the station (the app asks the details)."""

    class AddVoter(Message):
        """Add a voter to the additional list (the app asks the details)."""

    class Hint(Message):
        """Show this note at the desk (the clerk pressed a button too early)."""

        def __init__(self, note: Note) -> None:
            super().__init__()
            self.note = note

    def compose(self) -> ComposeResult:
        yield self.header()
        with Horizontal(id="desk"):
            with Vertical(id="desk-left"):
                with Horizontal(classes="row"):
                    yield Input(id="search")
                    yield TrButton(N_("Find"), id="find")
                    yield TrButton(N_("Add voter"), id="add-voter")
                yield DataTable(id="results", cursor_type="row")
                # a grid of two equal columns: a third button in a row was cut off ("Replace card")
                with Grid(id="voter-actions"):
                    yield TrButton(N_("Check in: card"), id="check-in", variant="primary")
                    yield TrButton(N_("Check in: paper ballot"), id="check-in-paper", variant="primary")
                    yield TrButton(N_("Next card to this voter"), id="select")
                    yield TrButton(N_("Replace card"), id="replace")
                    yield TrButton(N_("Spoiled paper ballot"), id="exchange-paper")
                    yield TrButton(N_("Vote outside: request"), id="request-mobile")
                yield Tr(N_("Waiting for a card"), classes="subtitle")
                yield DataTable(id="waiting", cursor_type="row")
            with Vertical(id="desk-right"):
                yield CountersPanel(id="counters")
                yield Figures(id="paper-figures")
                yield Tr(N_("Card reader"), classes="subtitle")
                yield Tr(N_("No card in the reader."), id="reader-state")
                yield NoteView(id="card-note")
        yield NoteView(id="desk-note")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.results: list[Voter] = []
        self.retranslate()
        self.query_one("#search", Input).focus()

    def retranslate(self) -> None:
        super().retranslate()
        app = self.clerk
        self.query_one("#search", Input).placeholder = app.t(N_("IIN or surname [given name]"))
        self._fill_results()
        self.refresh_state()

    def refresh_state(self) -> None:
        self.show_view(self.clerk.view)

    def show_view(self, view: DeskView) -> None:
        """Counters, waiting queue, reader line and the notes, as the desk last saw them."""
        requested = _requested_iins(view)
        if requested != getattr(self, "_requested", requested):  # a request made or ended: the status column
            row = self.query_one("#results", DataTable).cursor_row
            self._requested = requested
            self._fill_results()
            if self.results:
                self.query_one("#results", DataTable).move_cursor(row=min(max(row, 0), len(self.results) - 1))
        self._requested = requested
        self.query_one("#counters", CountersPanel).show_counters(view.counters)
        self._show_paper(view)
        self._fill_waiting(view)
        self.query_one("#reader-state", Tr).set_message(READER_TEXT[view.reader.value])
        self.query_one("#card-note", NoteView).show(view.card_note)
        self.query_one("#desk-note", NoteView).show(view.desk_note)

    def _show_paper(self, view: DeskView) -> None:
        """The paper ballots at the table (shown once the station has any: received or requested)."""
        figures = self.query_one("#paper-figures", Figures)
        figures.display = _paper_used(view)
        if figures.display:
            t = self.clerk.t
            figures.show([(t(label), getattr(view.paper, name)) for name, label in PAPER_DESK_ROWS],
                         t(N_("Paper ballots")))

    def _fill_results(self) -> None:
        t = self.clerk.t
        table = self.query_one("#results", DataTable)
        table.clear(columns=True)
        table.add_columns(t(N_("IIN")), t(N_("Name")), t(N_("Born")), t(N_("Status")))
        requested = _requested_iins(self.clerk.view)
        for voter in self.results:
            table.add_row(voter.iin, voter_name(voter), voter.birth_date.isoformat(),
                          t(_voter_status(voter, voter.iin in requested)), key=voter.iin)

    def _fill_waiting(self, view: DeskView) -> None:
        app = self.clerk
        table = self.query_one("#waiting", DataTable)
        table.clear(columns=True)
        table.add_columns("", app.t(N_("IIN")), app.t(N_("Name")))
        for voter in view.waiting:
            mark = "▶" if view.selected == voter.iin else ""
            table.add_row(mark, voter.iin, voter_name(voter), key=voter.iin)

    def show_results(self, voters: Sequence[Voter]) -> None:
        self.results = list(voters)
        self._fill_results()
        if self.results:
            self.query_one("#results", DataTable).move_cursor(row=0)
            self.query_one("#check-in").focus()

    def highlighted_voter(self) -> Voter | None:
        table = self.query_one("#results", DataTable)
        if not self.results or table.cursor_row < 0 or table.cursor_row >= len(self.results):
            return None
        return self.results[table.cursor_row]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.post_message(self.Search(event.value))

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        if event.button.id == "find":
            self.post_message(self.Search(self.query_one("#search", Input).value))
            return
        if event.button.id == "add-voter":
            self.post_message(self.AddVoter())
            return
        voter = self.highlighted_voter()
        if voter is None:
            self.post_message(self.Hint(Note("find_voter_first", "warn")))
            return
        if event.button.id == "check-in":
            self.post_message(self.CheckIn(voter.iin))
        elif event.button.id == "check-in-paper":
            self.post_message(self.CheckIn(voter.iin, "paper"))
        elif event.button.id == "select":
            self.post_message(self.Select(voter.iin))
        elif event.button.id == "replace":
            self.post_message(self.Replace(voter))
        elif event.button.id == "exchange-paper":
            self.post_message(self.ExchangePaper(voter))
        elif event.button.id == "request-mobile":
            self.post_message(self.RequestMobile(voter))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "waiting" and event.row_key.value is not None:
            self.post_message(self.Select(str(event.row_key.value)))

    def after_check_in(self, voter: Voter) -> None:
        """Show the voter as checked in and get ready for the next one."""
        self.results = [voter if v.iin == voter.iin else v for v in self.results]
        self._fill_results()
        search = self.query_one("#search", Input)
        search.value = ""
        search.focus()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()


# --- confirmation -----------------------------------------------------------------------


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismissed with True (yes) or False (no)."""

    BINDINGS = [Binding("escape", "no", show=False)]

    def __init__(self, question: str, yes: str, no: str, *, name: str | None = None, **fields: Any) -> None:
        super().__init__(name=name)
        self.question, self.yes, self.no, self.fields = question, yes, no, fields
        self.answered = False

    @classmethod
    def replace_not_returned(cls, voter: str) -> ConfirmScreen:
        return cls(N_("The old card is not handed back, so it will be revoked: if it comes back it is "
                      "refused and kept. This is counted in the protocol and logged. "
                      "Replace the card of {voter}?"),
                   N_("Replace without the old card"), N_("Do not replace"),
                   name="replace-not-returned", voter=voter)

    @classmethod
    def exchange_paper(cls, voter: str) -> ConfirmScreen:
        return cls(N_("{voter} spoiled their paper ballot: take it back, it is cancelled and counted as spoiled, and "
                      "give them a new one?"), N_("Exchange the paper ballot"), N_("Do not exchange"),
                   name="exchange-paper", voter=voter)

    @classmethod
    def end_voting(cls) -> ConfirmScreen:
        return cls(N_("End voting now? No ballot can be cast or handed out after this; the boxes are then opened "
                      "and counted (the mobile box first)."), N_("End voting"), N_("Not yet"), name="end-voting")

    @classmethod
    def close_polls(cls) -> ConfirmScreen:
        return cls(N_("Close the polls now? No ballot can be cast after this."), N_("Close the polls"), N_("Not yet"))

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Tr(self.question, id="question", **self.fields)
            with Horizontal(classes="row"):
                yield TrButton(self.yes, id="yes", variant="error")
                yield TrButton(self.no, id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no").focus()

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        self.answered = True
        self.dismiss(event.button.id == "yes")

    def action_no(self) -> None:
        self.answered = True
        self.dismiss(False)


class CancelCardScreen(ConfirmScreen):
    """Shown when an ISSUED card is inserted: the voter left without voting?"""

    def __init__(self) -> None:
        super().__init__(
            N_("This card is issued but holds no ballot. Cancel it (the voter left without voting)? "
               "It will be cleared for reuse."),
            N_("Cancel the card"), N_("Keep it"), name="cancel-card")


class ReplaceCardScreen(ModalScreen[str | None]):
    """Replace a voter's issued card: with the old card in the reader (its token is
    cancelled), or without it (issue interrupted, or lost: confirmed next). Dismissed
    with "in-reader", a `ReplaceReason` value, or None."""

    BINDINGS = [Binding("escape", "back", show=False)]

    def __init__(self, voter: Voter) -> None:
        super().__init__(name="replace-card")
        self.voter = voter

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Tr(N_("Replace the card of {voter}: their card was issued but not cast (spoilt, damaged, "
                        "lost, or the issue was interrupted). Put the old card in the reader if you have it."),
                     id="question", voter=voter_name(self.voter))
            with Vertical(classes="choices"):
                yield TrButton(N_("Old card is in the reader"), id="in-reader", variant="primary")
                yield TrButton(N_("Issue interrupted: no card to hand back"), id="issue_interrupted", variant="warning")
                yield TrButton(N_("Card lost: not handed back"), id="lost", variant="error")
                yield TrButton(N_("Back"), id="back")

    def on_mount(self) -> None:
        self.query_one("#in-reader").focus()

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        self.dismiss(None if event.button.id == "back" else event.button.id)

    def action_back(self) -> None:
        self.dismiss(None)


# --- audit ------------------------------------------------------------------------------

AUDIT_KINDS: dict[str, str] = {
    "station_set_up": N_("station set up"),
    "pollbook_imported": N_("voter list imported"),
    "terminal_enrolled": N_("terminal enrolled"),
    "polls_opened": N_("polls opened"),
    "check_in_refused": N_("check-in refused"),
    "card_issued": N_("card issued"),
    "ballot_accepted": N_("ballot accepted"),
    "card_rejected": N_("card rejected"),
    "card_cancelled": N_("card cancelled"),
    "card_replaced": N_("card replaced"),
    "issue_refused": N_("card refused: voter has one"),
    "replacement_refused": N_("replacement refused"),
    "polls_closed": N_("polls closed"),
    "paper_received": N_("paper ballots received"),
    "paper_issued": N_("paper ballot issued"),
    "paper_spoiled": N_("spoiled paper ballot exchanged"),
    "paper_refused": N_("paper step refused"),
    "voter_added": N_("voter added to the additional list"),
    "voter_add_refused": N_("voter not added"),
    "mobile_requested": N_("request to vote outside"),
    "mobile_withdrawn": N_("request withdrawn"),
    "mobile_sent": N_("mobile team sent"),
    "mobile_returned": N_("mobile team back"),
    "mobile_refused": N_("mobile box step refused"),
    "members_loaded": N_("commission members loaded"),
    "hand_count_entered": N_("hand count entered"),
}

AUDIT_SHOWN = 40
AUDIT_DETAILS_WIDTH = 48


class AuditScreen(ClerkScreen):
    """The most recent audit-chain events and whether the whole chain verifies."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]

    def __init__(self, events: Sequence[AuditEvent], report: ChainReport) -> None:
        super().__init__(name="audit")
        self.events, self.report = list(events), report

    def compose(self) -> ComposeResult:
        yield self.header()
        with Vertical(id="audit-body"):
            yield Tr(N_("Audit log"), classes="title")
            yield NoteView(id="chain")
            yield DataTable(id="events", cursor_type="row")
            yield TrButton(N_("Back"), id="back")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        t = self.clerk.t
        report = self.report
        if report.ok:
            note = Note("chain_verified", "ok", {"n": report.count, "head": report.head_hash[:16]})
        else:
            note = Note("chain_broken", "error", {"seq": report.first_bad_seq}, detail=report.problem or "")
        self.query_one("#chain", NoteView).show(note)
        table = self.query_one("#events", DataTable)
        table.clear(columns=True)
        table.add_columns("#", t(N_("Time")), t(N_("Event")), t(N_("Hash")), t(N_("Details")))
        for event in reversed(self.events[-AUDIT_SHOWN:]):
            kind = t(AUDIT_KINDS[event.kind]) if event.kind in AUDIT_KINDS else event.kind
            details = ", ".join(f"{k}={v}" for k, v in sorted(event.payload.items()) if k != "terminals")
            if len(details) > AUDIT_DETAILS_WIDTH:
                details = details[:AUDIT_DETAILS_WIDTH - 1] + "…"
            table.add_row(str(event.seq), event.time, kind, event.hash[:12], details)

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        if event.button.id == "back":
            self.app.pop_screen()


# --- close of polls ---------------------------------------------------------------------


class CloseScreen(ClerkScreen):
    """Share entry (files or typed SLIP-39 words) until k are in, then close and sign.

    Each share is checked as it is entered (`close.check_share`): one of another
    election, key or ceremony, a duplicate, or the k-th that with the others rebuilds
    another key is refused at once, by name. An entered share can be removed (the
    highlighted row) before closing."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="close-body"):
            yield Tr(N_("Close the polls"), classes="title")
            yield Tr("", id="voting-state")
            with Horizontal(classes="row"):
                yield TrButton(N_("End voting"), id="end-voting", variant="warning")
                yield TrButton(N_("Hand count of the paper ballots"), id="hand-count")
            yield Tr("", id="count-status")
            yield Static("", id="need")
            with Horizontal(classes="row"):
                yield Input(id="share-file")
                yield TrButton(N_("Add share file"), id="add-file")
            yield TextArea(id="mnemonic", soft_wrap=True)
            yield TrButton(N_("Add typed share"), id="add-words")
            yield DataTable(id="shares", cursor_type="row")
            yield TrButton(N_("Remove the selected share"), id="remove-share", disabled=True)
            yield NoteView(id="close-note")
            with Horizontal(classes="row"):
                yield TrButton(N_("Close the polls and sign the protocol"), id="close", variant="error",
                               disabled=True)
                yield TrButton(N_("Back"), id="back")
        yield self.hints()

    class AddShare(Message):
        """Enter a share: a share file (`path`) or one member's typed words (`words`)."""

        def __init__(self, *, path: str | None = None, words: str | None = None) -> None:
            super().__init__()
            self.path, self.words = path, words

    class RemoveShare(Message):
        def __init__(self, row: int) -> None:
            super().__init__()
            self.row = row

    class Close(Message):
        """Close the polls with the shares entered (the app asks for a confirmation)."""

    class EndVoting(Message):
        """End voting without the shares, so the boxes can be opened and counted (the app asks first)."""

    class OpenHandCount(Message):
        """Open the hand count form."""

    def on_mount(self) -> None:
        super().on_mount()
        # (index, source label, share object or typed words), as the desk holds them; the words are never shown
        self.entered: list[tuple[int, str, Any]] = []
        self.threshold: int | None = None
        self.show_view(self.clerk.view)
        self.query_one("#share-file", Input).focus()

    def show_view(self, view: DeskView) -> None:
        self.entered = [(s.index, s.source, s.entry) for s in view.shares]
        self.threshold = view.threshold
        self.view = view
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        t = self.clerk.t
        self.query_one("#share-file", Input).placeholder = t(N_("Path of a share file"))
        need = (t(N_("Shares needed: {k}. Entered: {n}."), k=self.threshold, n=len(self.entered))
                if self.threshold else t(N_("Shares entered: {n}."), n=len(self.entered)))
        self.query_one("#need", Static).update(
            need + "\n" + t(N_("Or type one member's share words (33 words) below.")))
        table = self.query_one("#shares", DataTable)
        table.clear(columns=True)
        table.add_columns(t(N_("Share")), t(N_("Entered from")))
        for index, source, _ in self.entered:
            table.add_row(str(index), source if source != "typed" else t(N_("typed words")))
        self.query_one("#remove-share", TrButton).disabled = not self.entered
        ready = self.threshold is not None and len(self.entered) >= self.threshold
        self.query_one("#close", TrButton).disabled = not ready or not self._count_agreed()
        self._show_voting()

    def _count_agreed(self) -> bool:
        """No paper here, or the hand count's entries agree (the station refuses to sign otherwise)."""
        if not _paper_used(self.view):
            return True
        state = self.view.hand_count
        return state is not None and state.agreed is not None

    def _show_voting(self) -> None:
        """Voting open (End voting offered) or ended; where the hand count stands, when paper was used."""
        view = self.view
        polls = None if view.polls is None else view.polls.value
        self.query_one("#voting-state", Tr).set_message(
            N_("Voting is open.") if polls == "open" else N_("Voting has ended: open the boxes and count."))
        self.query_one("#end-voting").display = polls == "open"
        paper = _paper_used(view)
        self.query_one("#hand-count").display = paper
        status = self.query_one("#count-status", Tr)
        status.display = paper
        if paper:
            msgid, severity, fields = hand_count_status(view)
            status.set_message(msgid, **fields)
            for s in ("ok", "warn", "error"):
                status.set_class(s == severity, f"note-{s}")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "share-file":
            self._add_file()

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        button = event.button.id
        if button == "add-file":
            self._add_file()
        elif button == "add-words":
            self.post_message(self.AddShare(words=self.query_one("#mnemonic", TextArea).text))
        elif button == "remove-share":
            self.post_message(self.RemoveShare(self.query_one("#shares", DataTable).cursor_row))
        elif button == "close":
            self.post_message(self.Close())
        elif button == "end-voting":
            self.post_message(self.EndVoting())
        elif button == "hand-count":
            self.post_message(self.OpenHandCount())
        elif button == "back":
            self.app.pop_screen()

    def _add_file(self) -> None:
        self.post_message(self.AddShare(path=self.query_one("#share-file", Input).value.strip()))

    def step_done(self, step: DeskStep) -> None:
        """A share added (its field is cleared), refused, removed, or the close failed: the note says which."""
        if step.note is not None:
            self.query_one("#close-note", NoteView).show(step.note)
        if step.share is not None:
            if step.share.source == "typed":
                self.query_one("#mnemonic", TextArea).text = ""
            else:
                self.query_one("#share-file", Input).value = ""
        self.retranslate()


# --- protocol ---------------------------------------------------------------------------


class ProtocolScreen(ClerkScreen):
    """The signed precinct protocol: counts, totals per contest, signature, files, and
    "Send to commission" (the desk's `send`, in a worker): one status line per file
    sent. Sending again is always safe: the files on disk are never changed."""

    class Send(Message):
        """Send the signed files to the commission (the desk knows the address)."""

    class Cosign(Message):
        """A member co-signs (the app asks for the key file and a dissent)."""

    def __init__(self, result: ClosingResult, out_dir: Path | None) -> None:
        super().__init__(name="protocol")
        self.result, self.out_dir = result, out_dir

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="protocol-body"):
            yield Tr(N_("Results protocol (signed)"), classes="title")
            yield Static("", id="electronic-title", classes="subtitle")
            yield Figures(id="protocol-counts")
            yield Static("", id="paper-title", classes="subtitle")
            yield Figures(id="paper-protocol")
            yield Static("", id="protocol-problems")
            yield Static("", id="combined-title", classes="subtitle")
            yield Vertical(id="contests")
            yield Static("", id="protocol-signature")
            yield Static("", id="cosignatures")
            yield NoteView(id="cosign-note")
            with Horizontal(classes="row"):
                yield TrButton(N_("Co-sign"), id="cosign", variant="primary")
                yield TrButton(N_("Send to commission"), id="send")
            yield NoteView(id="send-note")
            yield Vertical(id="sent")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.view = self.clerk.view
        box = self.query_one("#contests", Vertical)
        for contest in self.result.protocol.contests:
            box.mount(Static("", classes="contest-title", name=contest.contest_id))
            box.mount(DataTable(cursor_type="none", show_cursor=False, classes="contest", name=contest.contest_id))
        self.call_after_refresh(self.retranslate)

    def retranslate(self) -> None:
        super().retranslate()
        app = self.clerk
        t = app.t
        protocol, result = self.result.protocol, self.result
        counts = [
            (N_("Voters on the list"), protocol.voters_on_list),
            (N_("Checked in"), protocol.voters_checked_in),
            (N_("Cards issued"), protocol.cards_issued),
            (N_("Ballots cast"), protocol.ballots_cast),
            (N_("Cards cancelled"), protocol.cards_cancelled),
            (N_("Cards replaced"), protocol.cards_replaced),
            (N_("of which not handed back"), protocol.cards_not_returned),
            (N_("Cards outstanding"), result.outstanding),
        ]
        self.query_one("#protocol-counts", Figures).show([(t(label), value) for label, value in counts])
        self._show_three(protocol)
        lines = []
        if result.invalid:
            lines.append(t(N_("Ballots that could not be counted: {n}"), n=len(result.invalid)))
        if protocol.discrepancies:
            lines.append(t(N_("Control relations that fail (named in the signed protocol): {names}"),
                           names=", ".join(protocol.discrepancies)))
        problems = self.query_one("#protocol-problems", Static)
        problems.update("\n".join(lines))
        problems.display = bool(lines)
        for contest in protocol.contests:
            self._fill_contest(contest)
        signed = result.signed
        sig = [t(N_("Signed by station key {key_id}."), key_id=signed.station_key_id.hex())]
        files = result.files
        if files is None:
            sig.append(t(N_("No files were written.")))
        else:
            sig.append(t(N_("Files written:")))
            for label, path in ((N_("protocol (JSON)"), files.protocol), (N_("NIST SP 1500-100 (JSON)"), files.nist),
                                (N_("printable PDF with QR code"), files.pdf), (N_("receipt codes"), files.receipts),
                                *((N_("wall copy to post (A4 PDF)"), wall) for wall in files.wall_copies)):
                sig.append(f"  {t(label)}: {self._shown_path(path)}")
        self.query_one("#protocol-signature", Static).update("\n".join(sig))
        self._show_cosignatures()

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        if event.button.id == "send":
            self.post_message(self.Send())
        elif event.button.id == "cosign":
            self.post_message(self.Cosign())

    def show_view(self, view: DeskView) -> None:
        self.view = view
        self._show_cosignatures()

    def _show_cosignatures(self) -> None:
        """Who co-signed (name, role, local time), whether a majority has, dissents noted, and
        any co-signature that does not count (named)."""
        app = self.clerk
        t, lang = app.t, app.language
        check = self.view.cosignatures
        box = self.query_one("#cosignatures", Static)
        if check is None or not check.valid:
            box.update(t(N_("No member has co-signed yet.")))
            return
        lines = [t(N_("Co-signed by {n} of {m} members: majority reached.") if check.majority
                   else N_("Co-signed by {n} of {m} members: no majority yet."),
                   n=len(check.valid), m=len(check.enrolled))]
        for member, cosig in check.valid:
            lines.append(f"  {member.name} ({member.title(lang)}): {local_time(cosig.signed_at, cosig.time_zone)}")
            if cosig.dissent is not None:
                lines.append("    " + t(N_("dissenting opinion attached")))
        for finding in check.findings:  # a co-signature that does not count (the majority is said above)
            if finding.problem.value != "no_majority":
                lines.append("  " + t(N_("Not counted: {finding}"), finding=str(finding)))
        box.update("\n".join(lines))

    def cosigned(self, step: DeskStep) -> None:
        """A member co-signed, or why not (the list above is redrawn from the desk's view)."""
        self.query_one("#cosign-note", NoteView).show(step.note)

    def step_done(self, step: DeskStep) -> None:
        """Sending: the step's note (working, no address, nothing to send), then one line per file."""
        self.query_one("#send-note", NoteView).show(None if step.sent else step.note)
        box = self.query_one("#sent", Vertical)
        box.remove_children()
        box.mount_all([NoteView(sent.note) for sent in step.sent])

    def _shown_path(self, path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
        except ValueError:
            return str(path)

    def _show_three(self, protocol: Any) -> None:
        """The three protocols (issue 13, item 5): the electronic one (the card counts above
        and the electronic column), the paper one (its lines, numbered as on its form, and the
        paper column) and the combined one (the result: the contests' totals). Titles and
        the paper lines come from the one table of protocol labels (wallcopy.py). Without
        paper the combined protocol is the electronic one: the card counts and the contests."""
        lang = self.clerk.language
        paper = protocol.paper is not None
        titles = {"#electronic-title": "protocol.electronic", "#paper-title": "protocol.paper",
                  "#combined-title": "protocol.combined"}
        for selector in (*titles, "#paper-protocol"):
            self.query_one(selector).display = paper
        if not paper:
            return
        for selector, key in titles.items():
            self.query_one(selector, Static).update(wallcopy.TEXT[key][lang])
        lines = wallcopy.protocol_lines(protocol, self.clerk.election, lang, wallcopy.PAPER)[0].lines
        self.query_one("#paper-protocol", Figures).show([(f"{line.number}. {line.label}", line.value)
                                                         for line in lines])

    def _fill_contest(self, contest: ContestResult) -> None:
        """One contest of the combined protocol; with paper, its electronic and paper parts beside the total."""
        app = self.clerk
        t, election, lang = app.t, app.election, app.language
        protocol = self.result.protocol
        cid = contest.contest_id
        title = next(w for w in self.query(".contest-title").results(Static) if w.name == cid)
        title.update(f"[b]{election.contest(cid).name.get(lang)}[/b]")
        table = next(w for w in self.query(".contest").results(DataTable) if w.name == cid)
        table.clear(columns=True)
        parts: list[ContestResult] = []
        if protocol.paper is not None:  # electronic, paper, total
            parts = [_contest_in(protocol.electronic_contests, cid), _contest_in(protocol.paper.contests, cid)]
            table.add_columns(t(N_("Option")), wallcopy.TEXT["electronic"][lang], wallcopy.TEXT["paper"][lang],
                              wallcopy.TEXT["total"][lang])
        else:
            table.add_columns(t(N_("Option")), t(N_("Votes")))

        def row(label: str, value: Callable[[ContestResult], int]) -> None:
            table.add_row(label, *(value(p) for p in parts), value(contest))

        for option in election.options(cid):
            row(option.name.get(lang), lambda c, oid=option.id: c.votes.get(oid, 0))
        if election.contest(cid).against_all:
            row(t(N_("Against all")), lambda c: c.against_all)
        row(t(N_("Blank")), lambda c: c.blank)
        row(t(N_("Invalid")), lambda c: c.invalid)
        row(t(N_("Total")), lambda c: c.total)


def _contest_in(contests: Sequence[ContestResult], contest_id: str) -> ContestResult:
    """The contest's part in one protocol (an empty count when that protocol has none)."""
    return next((c for c in contests if c.contest_id == contest_id), ContestResult(contest_id, {}))
