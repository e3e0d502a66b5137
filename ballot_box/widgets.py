"""Small clerk-app widgets that know how to redraw themselves in another language.

Every widget here keeps the message id (English text) and its fields, never a
translated string, so switching the language (F2) re-renders it in place
(`retranslate()`). A `messages.Note` is what the clerk reads: what just
happened, in plain words, with a severity that picks its colour; `NoteView`
draws one. Widgets draw what they are given: none reads storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.widgets import Button, Static

from .i18n import N_
from .messages import SEVERITIES, Note, Translate

if TYPE_CHECKING:
    from .store import ProtocolCounters

__all__ = ["CountersPanel", "Note", "NoteView", "Tr", "TrButton"]


def _translate(widget: Static | Button) -> Translate:
    return widget.app.t  # type: ignore[attr-defined]


class Tr(Static):
    """A translated label: `Tr(N_("Search"))`, `Tr(N_("Precinct {n}"), n=7)`."""

    def __init__(self, msgid: str, *, id: str | None = None, classes: str = "", **fields: Any) -> None:
        super().__init__("", id=id, classes=classes)
        self.msgid, self.fields = msgid, fields

    def on_mount(self) -> None:
        self.retranslate()

    def set_message(self, msgid: str, **fields: Any) -> None:
        self.msgid, self.fields = msgid, fields
        self.retranslate()

    def retranslate(self) -> None:
        self.update(_translate(self)(self.msgid, **self.fields))


class TrButton(Button):
    """A button whose label is a message id."""

    def __init__(self, msgid: str, *, id: str | None = None, variant: str = "default", disabled: bool = False) -> None:
        super().__init__(msgid, id=id, variant=variant, disabled=disabled)  # type: ignore[arg-type]
        self.msgid = msgid

    def on_mount(self) -> None:
        self.retranslate()

    def retranslate(self) -> None:
        self.label = _translate(self)(self.msgid)


class NoteView(Static):
    """Shows one Note; its severity is a CSS class (note-info/ok/warn/error)."""

    def __init__(self, note: Note | None = None, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.note = note

    def on_mount(self) -> None:
        self.retranslate()

    def show(self, note: Note | None) -> None:
        self.note = note
        self.retranslate()

    def retranslate(self) -> None:
        for severity in SEVERITIES:
            self.set_class(self.note is not None and self.note.severity == severity, f"note-{severity}")
        self.update("" if self.note is None else self.note.render(_translate(self)))


COUNTER_ROWS: tuple[tuple[str, str], ...] = (
    ("on_list", N_("Voters on the list")),
    ("checked_in", N_("Checked in")),
    ("issued", N_("Cards issued")),
    ("cast", N_("Ballots cast")),
    ("cancelled", N_("Cards cancelled")),
    ("replaced", N_("Cards replaced")),
    ("outstanding", N_("Cards outstanding")),
)


class CountersPanel(Static):
    """The live counts of `Station.counters()`, one per line."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.counters: ProtocolCounters | None = None

    def on_mount(self) -> None:
        self.retranslate()

    def show(self, counters: ProtocolCounters | None) -> None:
        """Show these counters (None: they cannot be read now, shown as dashes)."""
        self.counters = counters
        self.retranslate()

    def retranslate(self) -> None:
        t = _translate(self)
        title = t(N_("Counters"))
        lines = [f"[b]{title}[/b]"]
        for name, label in COUNTER_ROWS:
            value = "–" if self.counters is None else str(getattr(self.counters, name))
            lines.append(f"{t(label):<22} {value:>6}")
        self.update("\n".join(lines))
