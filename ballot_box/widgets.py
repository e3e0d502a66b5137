"""Small clerk-app widgets that know how to redraw themselves in another language.

Every widget here keeps the message id (English text) and its fields, never a
translated string, so switching the language (F2) re-renders it in place
(`retranslate()`). A `messages.Note` is what the clerk reads: what just
happened, in plain words, with a severity that picks its colour; `NoteView`
draws one. Widgets draw what they are given: none reads storage.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widget import Widget
from textual.widgets import Button, Static

from .i18n import N_
from .messages import SEVERITIES, Note, Translate

if TYPE_CHECKING:
    from .store import ProtocolCounters

__all__ = ["CountersPanel", "Note", "NoteView", "Tr", "TrButton", "Figures", "figure_lines"]


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
        # "" is no message (gettext would give the catalogue's header): an empty line until set
        self.update(_translate(self)(self.msgid, **self.fields) if self.msgid else "")


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


def figure_lines(rows: Sequence[tuple[str, object]], width: int, title: str | None = None) -> Text:
    """Labelled figures, one row each, in `width` columns: the numbers right-aligned in one
    column just after the longest label (or at the right edge when that does not fit), each
    number on its label's first line; a label too long for the room wraps at a word onto
    an indented line below, never pushing its number down. (A fixed pad of 22 let Kazakh
    "Тапсырылған бюллетеньдер" shift its number, and at 80 columns wrap it to the next line.)"""
    values = [str(v) for _, v in rows]
    value_width = max((len(v) for v in values), default=0)
    longest = max((len(label) for label, _ in rows), default=0)
    label_width = max(8, min(longest, width - value_width - 1))
    text = Text()
    if title:
        text.append(title, style="bold")
    for (label, _), value in zip(rows, values):
        wrapped = textwrap.wrap(label, label_width) or [""]
        if text:
            text.append("\n")
        text.append(f"{wrapped[0]:<{label_width}} {value:>{value_width}}")
        for more in wrapped[1:]:
            text.append(f"\n  {more}")
    return text


class Figures(Widget):
    """Labelled figures drawn by `figure_lines` at the widget's width (redrawn on resize).
    The owner hands it translated rows (`show`) again after a language switch."""

    DEFAULT_CSS = """
    Figures {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str = "") -> None:
        super().__init__(id=id, classes=classes)
        self.rows: tuple[tuple[str, object], ...] = ()
        self.title: str | None = None

    def show(self, rows: Sequence[tuple[str, object]], title: str | None = None) -> None:
        self.rows, self.title = tuple(rows), title
        self.refresh(layout=True)

    def render(self) -> Text:
        return figure_lines(self.rows, self.content_size.width or 40, self.title)


class CountersPanel(Figures):
    """The live counts of `Station.counters()`, one per line."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.counters: ProtocolCounters | None = None

    def on_mount(self) -> None:
        self.retranslate()

    def show_counters(self, counters: ProtocolCounters | None) -> None:
        """Show these counters (None: they cannot be read now, shown as dashes)."""
        self.counters = counters
        self.retranslate()

    def retranslate(self) -> None:
        t = _translate(self)
        rows = [(t(label), "–" if self.counters is None else getattr(self.counters, name)) for name, label in COUNTER_ROWS]
        self.show(rows, t(N_("Counters")))
