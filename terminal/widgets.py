"""Widgets of the booth kiosk: large touch targets and the accessibility bar.

Every target spans the full width of its column with no dead gap to the next
one, so a tap that drifts lands on a target, never between two."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from sailau.election.ballot import Choice
from sailau.terminal.i18n import t
from sailau.terminal.session import OptionView


class OptionButton(Button):
    """One choice of a contest; shows its key number, party number and name."""

    def __init__(self, option: OptionView, language: str, selected: bool) -> None:
        self.choice: Choice = option.choice
        self.position = option.position
        label = self.label_for(option, language, selected)
        super().__init__(label, id=f"option-{option.position}", classes="option")
        self.set_class(selected, "-selected")

    @staticmethod
    def label_for(option: OptionView, language: str, selected: bool) -> str:
        mark = "●" if selected else "○"
        parts = [f"{mark}  {option.position}."]
        if option.number is not None:
            parts.append(t(language, "No. {number}", number=option.number) + " ·")
        parts.append(option.label)
        if option.detail:
            parts.append(f"({option.detail})")
        return " ".join(parts)


class BigButton(Button):
    """A primary action (next, confirm, write): tall and full width."""

    def __init__(self, label: str, id: str, variant: str = "primary") -> None:
        super().__init__(label, id=id, variant=variant, classes="big")


class AccessBar(Horizontal):
    """Contrast, text size and speech: on every screen, usable at any time."""

    def __init__(self, language: str, contrast: bool, size: int, speech_on: bool, speech_reason: str) -> None:
        super().__init__(id="access-bar")
        self.language = language
        self.contrast = contrast
        self.text_size = size
        self.speech_on = speech_on
        self.speech_reason = speech_reason

    def update_state(self, language: str, contrast: bool, size: int, speech_on: bool, speech_reason: str) -> None:
        self.language, self.contrast, self.text_size = language, contrast, size
        self.speech_on, self.speech_reason = speech_on, speech_reason
        self.refresh(recompose=True)

    def compose(self) -> ComposeResult:
        lang = self.language
        contrast = t(lang, "High contrast") if self.contrast else t(lang, "Normal contrast")
        yield Button(f"◐ {contrast}", id="toggle-contrast", classes="access")
        size = t(lang, "Text size {size} of 3", size=self.text_size)
        yield Button(f"A↕ {size}", id="cycle-size", classes="access")
        if self.speech_reason:
            speech = t(lang, "Speech unavailable")
        elif self.speech_on:
            speech = t(lang, "Speech on")
        else:
            speech = t(lang, "Speech off")
        yield Button(f"♪ {speech}", id="toggle-speech", classes="access")
        if self.speech_reason:
            yield Static(t(lang, "Audio unavailable: {reason}", reason=t(lang, self.speech_reason)), id="audio-status")
