"""The clerk app's screens for paper ballots and the mobile ballot box (issue 13):
the paper figures and the act of receipt (F5), the mobile box (F6: written requests,
the team sent out and back), and the small forms the desk opens (a voter for the
additional list, a request to vote outside, the team's departure and return).

As in screens.py, a screen draws what it is given (`show_view(DeskView)`) and hands
the clerk's intent up (a posted message, or a dialog dismissed with the typed
fields); `ClerkApp` runs the matching `ClerkDesk` step in a worker. No rule lives
here: whether a voter may ask to vote outside, whether the team's counts add up,
whether paper is left is the station's to say, in a note. The forms only check
that what must be typed is there (an empty figure cannot be sent). No screen here
reads the station, its storage or a file (tests/test_clerk_desk.py scans this
module with screens.py and widgets.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, SelectionList

from .i18n import N_, local_time
from .screens import ClerkScreen, voter_name
from .widgets import Figures, NoteView, Tr, TrButton

if TYPE_CHECKING:
    from .app import ClerkApp
    from .desk import DeskView
    from .pollbook import Voter

__all__ = [
    "AddVoterScreen",
    "FormScreen",
    "MobileRequestScreen",
    "MobileScreen",
    "PaperScreen",
    "ReturnTeamScreen",
    "SendTeamScreen",
]

#: the whole paper ledger, as the paper screen shows it: PaperLedger field -> label
PAPER_ROWS: tuple[tuple[str, str], ...] = (
    ("received", N_("Paper ballots received")),
    ("issued_in_station", N_("Issued to voters in the station")),
    ("issued_outside", N_("Issued to voters outside (mobile box)")),
    ("spoiled", N_("Spoiled and exchanged (cancelled)")),
    ("out_with_teams", N_("With a mobile team now")),
    ("mobile_unused", N_("Brought back unused by the teams")),
    ("in_hand", N_("Left at the table")),
    ("voters_paper", N_("Voters given a paper ballot")),
    ("voters_outside", N_("Voters who voted outside")),
    ("voters_additional", N_("Voters on the additional list")),
    ("requests", N_("Written requests to vote outside")),
)

#: a request's state (`MobileRequestState` value) -> what the clerk reads
REQUEST_STATES: dict[str, str] = {
    "pending": N_("waiting for the team"),
    "out": N_("team on its way"),
    "voted": N_("voted outside"),
    "not_voted": N_("did not vote"),
    "withdrawn": N_("withdrawn"),
}

#: a trip's state (`TripState` value) -> what the clerk reads
TRIP_STATES: dict[str, str] = {"out": N_("out"), "returned": N_("back")}

DIGITS = r"\d*"  # a count: digits only (the station refuses what is out of range, by name)
MAX_DIGITS = 6  # below the hand count's bound (10**6), so a typed count is never out of range there


def count_input(id: str, *, name: str | None = None, compact: bool = False) -> Input:
    """An input for one count (digits only; `compact`: one line high, for long forms)."""
    return Input(id=id, name=name, restrict=DIGITS, max_length=MAX_DIGITS, classes="count", compact=compact)


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


def _request_name(request: Any) -> str:
    return " ".join(p for p in (request.surname, request.given_name, request.patronymic) if p)


class FormScreen(ModalScreen[Any]):
    """A small dialog of typed fields; dismissed with what was typed, or None (Back, Esc).
    A missing field is said in the dialog (`#form-hint`), nothing is sent."""

    BINDINGS = [Binding("escape", "back", show=False)]

    @property
    def clerk(self) -> ClerkApp:
        return self.app  # type: ignore[return-value]

    def hint(self, msgid: str | None) -> None:
        hint = self.query_one("#form-hint", Tr)
        hint.display = msgid is not None
        if msgid is not None:
            hint.set_message(msgid)

    def on_mount(self) -> None:
        self.hint(None)
        self.retranslate()
        first = self.query(Input).first(Input) if self.query(Input) else None
        if first is not None:
            first.focus()

    def retranslate(self) -> None:
        """Placeholders and lists in the present language (labels are `Tr`s)."""

    def buttons(self, submit: str) -> Horizontal:
        return Horizontal(TrButton(submit, id="submit", variant="primary"), TrButton(N_("Back"), id="back"),
                          classes="row")

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        if event.button.id == "back":
            self.dismiss(None)
        elif event.button.id == "submit":
            self.submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter goes on to the next field; in the last one it sends the form."""
        inputs = list(self.query(Input).results(Input))
        if inputs and event.input is not inputs[-1]:
            self.focus_next()
        else:
            self.submit()

    def submit(self) -> None:
        raise NotImplementedError

    def text(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def action_back(self) -> None:
        self.dismiss(None)


def _labelled(label: str, widget: Input) -> Horizontal:
    return Horizontal(Tr(label, classes="field-label"), widget, classes="field")


# --- the additional list ----------------------------------------------------------------------


class AddVoterScreen(FormScreen):
    """A voter not on the list who proves their right to vote here: dismissed with
    (iin, surname, given name, patronymic, birth date as typed) for `ClerkDesk.add_voter`,
    which checks every field (the IIN's checksum and date too) and says what is wrong."""

    def __init__(self) -> None:
        super().__init__(name="add-voter")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="form"):
            yield Tr(N_("Add a voter to the additional list (they show their identity document)."),
                     id="question")
            yield _labelled(N_("IIN"), Input(id="voter-iin", restrict=r"\d*", max_length=12))
            yield _labelled(N_("Surname"), Input(id="voter-surname", max_length=100))
            yield _labelled(N_("Given name"), Input(id="voter-given", max_length=100))
            yield _labelled(N_("Patronymic"), Input(id="voter-patronymic", max_length=100))
            yield _labelled(N_("Born"), Input(id="voter-born", placeholder="YYYY-MM-DD", max_length=10))
            yield Tr("", id="form-hint", classes="form-hint")
            yield self.buttons(N_("Add to the list"))

    def submit(self) -> None:
        fields = tuple(self.text(f"#voter-{k}") for k in ("iin", "surname", "given", "patronymic", "born"))
        iin, surname, given, _patronymic, born = fields
        if not (iin and surname and given and born):
            self.hint(N_("Type the IIN, surname, given name and date of birth (a patronymic only if they have one)."))
            return
        self.dismiss(fields)


# --- a written request to vote outside -----------------------------------------------------------


class MobileRequestScreen(FormScreen):
    """The voter's written request to vote outside the station: dismissed with
    (reason, received by) for `ClerkDesk.request_mobile` (the time is the station's)."""

    def __init__(self, voter: Voter) -> None:
        super().__init__(name="mobile-request")
        self.voter = voter

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="form"):
            yield Tr(N_("Written request of {voter} to vote outside the station (Art. 43 of the election law: "
                        "illness, age, caring for someone...)."), id="question", voter=voter_name(self.voter))
            yield _labelled(N_("Reason"), Input(id="request-reason", max_length=400))
            yield _labelled(N_("Received by"), Input(id="request-by", max_length=200))
            yield Tr("", id="form-hint", classes="form-hint")
            yield self.buttons(N_("Record the request"))

    def submit(self) -> None:
        reason, received_by = self.text("#request-reason"), self.text("#request-by")
        if not (reason and received_by):
            self.hint(N_("Type the reason and who received the request."))
            return
        self.dismiss((reason, received_by))


# --- paper ballots (F5) ---------------------------------------------------------------------------


class PaperScreen(ClerkScreen):
    """The paper figures as the station recorded them, and the act of receipt: paper
    ballots received (count, from whom, received by), signed by the station key and
    written to the protocol folder."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]

    class Receive(Message):
        """Record and sign an act of receipt."""

        def __init__(self, count: int, from_whom: str, received_by: str) -> None:
            super().__init__()
            self.count, self.from_whom, self.received_by = count, from_whom, received_by

    def __init__(self) -> None:
        super().__init__(name="paper")

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="paper-body"):
            yield Tr(N_("Paper ballots"), classes="title")
            yield Figures(id="paper-ledger")
            yield Tr(N_("Act of receipt"), classes="subtitle")
            yield _labelled(N_("Ballots received"), count_input("receipt-count"))
            yield _labelled(N_("From whom"), Input(id="receipt-from", max_length=200))
            yield _labelled(N_("Received by"), Input(id="receipt-by", max_length=200))
            yield Tr("", id="form-hint", classes="form-hint")
            with Horizontal(classes="row"):
                yield TrButton(N_("Sign the act of receipt"), id="receive", variant="primary")
                yield TrButton(N_("Back"), id="back")
            yield NoteView(id="paper-note")
            yield Tr("", id="receipt-file")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#form-hint").display = False
        self.query_one("#receipt-file").display = False
        self.show_view(self.clerk.view)
        self.query_one("#receipt-count", Input).focus()

    def show_view(self, view: DeskView) -> None:
        self.view = view
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        t, view = self.clerk.t, self.view
        ledger = view.paper
        rows = [(t(label), "–" if ledger is None else getattr(ledger, name)) for name, label in PAPER_ROWS]
        self.query_one("#paper-ledger", Figures).show(rows)
        self.query_one("#paper-note", NoteView).show(view.desk_note)

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        if event.button.id == "receive":
            self._receive()
        elif event.button.id == "back":
            self.app.pop_screen()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter goes on to the next field; in the last one it signs the act."""
        if event.input.id == "receipt-by":
            self._receive()
        else:
            self.focus_next()

    def _receive(self) -> None:
        count = self.query_one("#receipt-count", Input).value.strip()
        from_whom = self.query_one("#receipt-from", Input).value.strip()
        received_by = self.query_one("#receipt-by", Input).value.strip()
        hint = self.query_one("#form-hint", Tr)
        if not (count and from_whom and received_by):
            hint.set_message(N_("Type the number of ballots, from whom and who received them."))
            hint.display = True
            return
        hint.display = False
        self.post_message(self.Receive(int(count), from_whom, received_by))

    def received(self, file_name: str | None) -> None:
        """The act was signed (the note says so): clear the form; name the file written."""
        for selector in ("#receipt-count", "#receipt-from", "#receipt-by"):
            self.query_one(selector, Input).value = ""
        shown = self.query_one("#receipt-file", Tr)
        shown.display = file_name is not None
        if file_name is not None:
            shown.set_message(N_("The signed act is written to {file}."), file=file_name)


# --- the mobile ballot box (F6) ---------------------------------------------------------------------


class MobileScreen(ClerkScreen):
    """The written requests to vote outside and the mobile team's trips: withdraw a
    pending request (the voter came in person), send the team out (members, counted
    paper ballots, the requests it carries), record its return (who voted outside,
    unused and spoiled ballots)."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]

    class Withdraw(Message):
        def __init__(self, iin: str) -> None:
            super().__init__()
            self.iin = iin

    class SendTeam(Message):
        """Open the team's departure form."""

    class ReturnTeam(Message):
        """Open the return form of trip `trip_id`."""

        def __init__(self, trip_id: int) -> None:
            super().__init__()
            self.trip_id = trip_id

    def __init__(self) -> None:
        super().__init__(name="mobile")

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="mobile-body"):
            yield Tr(N_("Mobile ballot box"), classes="title")
            yield Tr(N_("Written requests to vote outside"), classes="subtitle")
            yield DataTable(id="requests", cursor_type="row")
            with Horizontal(classes="row"):
                yield TrButton(N_("Withdraw the request"), id="withdraw")
                yield TrButton(N_("Send the mobile team"), id="send-team", variant="primary")
            yield Tr(N_("Trips of the mobile team"), classes="subtitle")
            yield DataTable(id="trips", cursor_type="row")
            with Horizontal(classes="row"):
                yield TrButton(N_("The team is back"), id="return-team", variant="primary")
                yield TrButton(N_("Back"), id="back")
            yield NoteView(id="mobile-note")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.show_view(self.clerk.view)

    def show_view(self, view: DeskView) -> None:
        self.view = view
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        t, view, zone = self.clerk.t, self.view, self.clerk.time_zone
        requests = self.query_one("#requests", DataTable)
        row = requests.cursor_row
        requests.clear(columns=True)
        requests.add_columns(t(N_("Name")), t(N_("IIN")), t(N_("Reason")), f"{t(N_('Received'))} ({zone})",
                             t(N_("Received by")), t(N_("State")), t(N_("Trip")))
        for r in view.mobile:
            state = _value(r.state)
            requests.add_row(_request_name(r), r.iin, r.reason, local_time(r.received_at, zone, named=False),
                             r.received_by,
                             t(REQUEST_STATES[state]) if state in REQUEST_STATES else state,
                             "" if r.trip is None else str(r.trip), key=r.iin)
        if view.mobile:
            requests.move_cursor(row=min(max(row, 0), len(view.mobile) - 1))
        trips = self.query_one("#trips", DataTable)
        row = trips.cursor_row
        trips.clear(columns=True)
        trips.add_columns(t(N_("Trip")), t(N_("Members")), t(N_("Taken")), t(N_("Requests")),
                          t(N_("State")), t(N_("Voted")), t(N_("Unused")), t(N_("Spoiled")))
        for trip in view.trips:
            state = _value(trip.state)
            back = state == "returned"
            trips.add_row(str(trip.id), ", ".join(trip.members), str(trip.ballots), str(len(trip.iins)),
                          t(TRIP_STATES[state]) if state in TRIP_STATES else state,
                          str(trip.voted) if back else "", "" if trip.unused is None else str(trip.unused),
                          "" if trip.spoiled is None else str(trip.spoiled), key=str(trip.id))
        if view.trips:
            trips.move_cursor(row=min(max(row, 0), len(view.trips) - 1))
        self.query_one("#mobile-note", NoteView).show(view.desk_note)

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        button = event.button.id
        if button == "withdraw":
            table = self.query_one("#requests", DataTable)
            if not self.view.mobile:
                return
            self.post_message(self.Withdraw(self.view.mobile[table.cursor_row].iin))
        elif button == "send-team":
            self.post_message(self.SendTeam())
        elif button == "return-team":
            out = [trip for trip in self.view.trips if _value(trip.state) == "out"]
            if not out:
                return
            table = self.query_one("#trips", DataTable)
            chosen = self.view.trips[table.cursor_row] if 0 <= table.cursor_row < len(self.view.trips) else out[0]
            self.post_message(self.ReturnTeam((chosen if _value(chosen.state) == "out" else out[0]).id))
        elif button == "back":
            self.app.pop_screen()


class SendTeamScreen(FormScreen):
    """The mobile team leaves: its members (the commission's, ticked, and anyone else
    typed), the paper ballots counted out to it, the requests it carries (every pending
    one ticked at first). Dismissed with (members, ballots, IINs)."""

    def __init__(self, view: DeskView) -> None:
        super().__init__(name="send-team")
        self.view = view

    def compose(self) -> ComposeResult:
        members = self.view.members  # the precinct's commission, loaded at set-up
        pending = [r for r in self.view.mobile if _value(r.state) == "pending"]
        with VerticalScroll(id="dialog", classes="form wide"):
            yield Tr(N_("Send the mobile team"), classes="title")
            yield Tr(N_("Members of the team"), classes="subtitle")
            yield SelectionList[str](*[(f"{m.name} ({m.title(self.clerk.language)})", m.name) for m in members],
                                     id="team-members")
            yield _labelled(N_("Other members"), Input(id="team-others", max_length=400))
            yield _labelled(N_("Paper ballots taken"), count_input("team-ballots"))
            yield Tr(N_("Requests the team carries"), classes="subtitle")
            yield SelectionList[str](*[(f"{_request_name(r)} · {r.reason}", r.iin, True) for r in pending],
                                     id="team-requests")
            yield Tr("", id="form-hint", classes="form-hint")
            yield self.buttons(N_("Send the team"))

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#team-members").display = bool(self.view.members)

    def retranslate(self) -> None:
        self.query_one("#team-others", Input).placeholder = self.clerk.t(N_("names, separated by commas"))

    def submit(self) -> None:
        chosen = list(self.query_one("#team-members", SelectionList).selected)
        others = [name.strip() for name in self.text("#team-others").split(",") if name.strip()]
        ballots = self.text("#team-ballots")
        iins = tuple(self.query_one("#team-requests", SelectionList).selected)
        if not (chosen or others):
            self.hint(N_("Name the members of the team."))
            return
        if not ballots:
            self.hint(N_("Type the number of paper ballots the team takes."))
            return
        self.dismiss((tuple(chosen + others), int(ballots), iins))


class ReturnTeamScreen(FormScreen):
    """The mobile team is back: tick the voters who voted outside, count the unused and
    the spoiled ballots. Dismissed with (trip id, IINs who voted, unused, spoiled); the
    station checks that they add up to the ballots taken."""

    def __init__(self, view: DeskView, trip_id: int) -> None:
        super().__init__(name="return-team")
        self.view, self.trip_id = view, trip_id

    def compose(self) -> ComposeResult:
        trip = next(trip for trip in self.view.trips if trip.id == self.trip_id)
        names = {r.iin: _request_name(r) for r in self.view.mobile}
        with VerticalScroll(id="dialog", classes="form wide"):
            yield Tr(N_("Mobile team {trip} is back ({members}; {ballots} paper ballots taken)."), classes="title",
                     trip=trip.id, members=", ".join(trip.members), ballots=trip.ballots)
            yield Tr(N_("Voters who voted outside"), classes="subtitle")
            yield SelectionList[str](*[(names.get(iin, iin), iin) for iin in trip.iins], id="team-voted")
            yield _labelled(N_("Unused ballots"), count_input("team-unused"))
            yield _labelled(N_("Spoiled ballots"), count_input("team-spoiled"))
            yield Tr("", id="form-hint", classes="form-hint")
            yield self.buttons(N_("Record the return"))

    def submit(self) -> None:
        unused, spoiled = self.text("#team-unused"), self.text("#team-spoiled")
        if not (unused and spoiled):
            self.hint(N_("Type the unused and the spoiled ballots (0 if none)."))
            return
        voted = tuple(self.query_one("#team-voted", SelectionList).selected)
        self.dismiss((self.trip_id, voted, int(unused), int(spoiled)))

