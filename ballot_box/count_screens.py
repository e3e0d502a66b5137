"""The clerk app's screens for the count at close (issue 13, items 4 and 6): the paper
ballots' hand count, entered twice by two different members, and the members'
co-signatures with an optional dissenting opinion.

The hand count form is one line per figure the members count by hand, in the form's
order, labelled from the one table of protocol line labels (`wallcopy.line_label`):
unused ballots, ballots found in the stationary and in the mobile box, then per
contest every option, against all (where the ballot has it) and invalid. A member is
picked from the precinct's members (`DeskView.members`); saving posts the figures up
and the app hands `ClerkDesk.enter_hand_count` a `HandCount`. Whether two entries
agree, and which lines differ, is the desk's `HandCountState`, drawn here: signing
stays blocked (the close screen's button, and the station's refusal) until they agree.

As everywhere in the app, these screens only draw and post: no station, storage or
file (tests/test_clerk_desk.py scans this module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Input, Select, Static, TextArea

from .handcount import HandCount
from .i18n import N_
from .paper_screens import FormScreen, count_input
from .screens import ClerkScreen, hand_count_status
from . import wallcopy
from .widgets import NoteView, Tr, TrButton

if TYPE_CHECKING:
    from .desk import DeskView

__all__ = ["CosignScreen", "HandCountScreen", "hand_count_status"]


class HandCountScreen(ClerkScreen):
    """One member's entry of the hand count; the state of the double entry below it."""

    BINDINGS = [Binding("escape", "app.pop_screen", show=False)]

    class Enter(Message):
        """Save this member's hand count: `figures` by line key (every line of the form)."""

        def __init__(self, member_key_id: bytes, figures: dict[str, int]) -> None:
            super().__init__()
            self.member_key_id, self.figures = member_key_id, figures

    def __init__(self) -> None:
        super().__init__(name="hand-count")

    def _line_keys(self) -> list[str]:
        app = self.clerk
        style = app.election.precinct(app.precinct).style
        return [key for key, _ in HandCount.zero(app.election, style).lines()]

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="count-body"):
            yield Tr(N_("Hand count of the paper ballots"), classes="title")
            yield Tr(N_("Open the mobile box first, then the stationary box. Each of two members enters the whole "
                        "count under their own name; the protocol is signed only when the entries agree."))
            with Horizontal(classes="field"):
                yield Tr(N_("Member entering"), classes="field-label")
                yield Select[str]([], id="member", allow_blank=True)
            self.keys = self._line_keys()
            with Vertical(id="count-form"):
                for n, key in enumerate(self.keys):
                    with Horizontal(classes="field count-line"):
                        yield Static("", classes="field-label count-label", name=key)
                        yield count_input(f"line-{n}", name=key, compact=True)
            yield Tr("", id="form-hint", classes="form-hint")
            with Horizontal(classes="row"):
                yield TrButton(N_("Save this member's count"), id="save-count", variant="primary")
                yield TrButton(N_("Clear the form"), id="clear-count")
                yield TrButton(N_("Back"), id="back")
            yield Tr("", id="count-entries")
            yield Tr("", id="count-state")
            yield DataTable(id="differences", cursor_type="none", show_cursor=False)
            yield NoteView(id="count-note")
        yield self.hints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#form-hint").display = False
        self.show_view(self.clerk.view)

    def show_view(self, view: DeskView) -> None:
        self.view = view
        self.retranslate()

    def retranslate(self) -> None:
        super().retranslate()
        app, view = self.clerk, self.view
        t, lang = app.t, app.language
        members = view.members
        select = self.query_one("#member", Select)
        chosen = select.value
        select.set_options([(f"{m.name} ({m.title(lang)})", m.key_id.hex()) for m in members])
        if chosen is not Select.BLANK and any(m.key_id.hex() == chosen for m in members):
            select.value = chosen
        select.prompt = t(N_("Pick the member"))
        for label in self.query(".count-label").results(Static):
            label.update(wallcopy.line_label(app.election, label.name or "", lang))
        names = {m.key_id: m.name for m in members}
        state = view.hand_count
        entries = self.query_one("#count-entries", Tr)
        if state is not None and state.entries:
            entries.set_message(N_("Entered by: {names}"),
                                names=", ".join(names.get(k, k.hex()[:16]) for k in state.entries))
        else:
            entries.set_message(N_("Nobody has entered the count yet."))
        msgid, severity, fields = hand_count_status(view)
        status = self.query_one("#count-state", Tr)
        status.set_message(msgid, **fields)
        for s in ("ok", "warn", "error"):
            status.set_class(s == severity, f"note-{s}")
        table = self.query_one("#differences", DataTable)
        table.clear(columns=True)
        differences = () if state is None else state.differences
        table.display = bool(differences)
        if differences:
            # the state compares the entries in key order: with two, each column is a member's
            assert state is not None
            heads = ([names.get(k, k.hex()[:16]) for k in state.entries] if len(state.entries) == 2
                     else [t(N_("First entry")), t(N_("Second entry"))])
            table.add_columns(t(N_("Line")), *heads)
            for d in differences:
                table.add_row(wallcopy.line_label(app.election, d.line_key, lang), "–" if d.first is None else str(d.first),
                              "–" if d.second is None else str(d.second))
        self.query_one("#count-note", NoteView).show(view.desk_note)

    def on_button_pressed(self, event: TrButton.Pressed) -> None:
        button = event.button.id
        if button == "save-count":
            self._save()
        elif button == "clear-count":
            self.clear()
        elif button == "back":
            self.app.pop_screen()

    def _hint(self, msgid: str | None) -> None:
        hint = self.query_one("#form-hint", Tr)
        hint.display = msgid is not None
        if msgid is not None:
            hint.set_message(msgid)

    def _save(self) -> None:
        member = self.query_one("#member", Select).value
        if member is Select.BLANK or not isinstance(member, str):
            self._hint(N_("Pick the member who enters this count."))
            return
        figures: dict[str, int] = {}
        for field in self.query(".count-line Input").results(Input):
            if not field.value.strip():
                field.focus()
                self._hint(N_("Enter every line (0 where there is none)."))
                return
            figures[field.name or ""] = int(field.value)
        self._hint(None)
        self.post_message(self.Enter(bytes.fromhex(member), figures))

    def clear(self) -> None:
        """Empty the form for the next member (the figures of one are not shown to the other)."""
        for field in self.query(".count-line Input").results(Input):
            field.value = ""
        self.query_one("#member", Select).clear()

    def fill(self, figures: dict[str, int]) -> None:
        """Type these figures into the form (by line key)."""
        for field in self.query(".count-line Input").results(Input):
            if field.name in figures:
                field.value = str(figures[field.name])


class CosignScreen(FormScreen):
    """A member co-signs the signed protocol on this station with their own key file, and
    may attach a dissenting opinion (signed with it). Dismissed with (key file path,
    dissent or None); the desk reads the key and signs (`ClerkDesk.cosign`)."""

    def __init__(self) -> None:
        super().__init__(name="cosign")

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="form wide"):
            yield Tr(N_("Co-sign the protocol"), classes="title")
            yield Tr(N_("A member of the commission signs the protocol with their own key file. A dissenting "
                        "opinion, if any, is signed with it and travels with the protocol."))
            with Horizontal(classes="field"):
                yield Tr(N_("Member key file"), classes="field-label")
                yield Input(id="key-file")
            yield Tr(N_("Dissenting opinion (optional)"), classes="subtitle")
            yield TextArea(id="dissent", soft_wrap=True)
            yield Tr("", id="form-hint", classes="form-hint")
            yield self.buttons(N_("Co-sign"))

    def retranslate(self) -> None:
        self.query_one("#key-file", Input).placeholder = self.clerk.t(N_("Path of your member key file"))

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        self.query_one("#dissent", TextArea).focus()

    def submit(self) -> None:
        path = self.text("#key-file")
        if not path:
            self.hint(N_("Type the path of your member key file."))
            return
        dissent = self.query_one("#dissent", TextArea).text.strip()
        self.dismiss((path, dissent or None))
