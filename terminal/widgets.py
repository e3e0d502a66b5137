"""Widgets of the booth kiosk: large touch targets, the accessibility bar, and
lists that say what they hide.

Every target spans the full width of its column with no dead gap to the next
one, so a tap that drifts lands on a target, never between two. Labels wrap
instead of being cut (a target grows with its text). A list longer than its
area scrolls, and `MoreCue`s above and below it say how many targets are out
of sight and how to reach them; nothing is hidden without one. Every target
also says what it is when focused with speech on (`spoken`).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Static

from sailau.election.ballot import Choice
from sailau.terminal.i18n import N_, t
from sailau.terminal.session import OptionView
from sailau.terminal.settings import TEXT_SIZES, Contrast, VoterSettings

SELECTED = N_("Selected")
NOT_SELECTED = N_("Not selected")
CONTRAST_NAMES = {
    Contrast.NORMAL: N_("Normal colours"),
    Contrast.HIGH_LIGHT: N_("Black on white"),
    Contrast.HIGH_DARK: N_("White on black"),
    Contrast.LOW_GLARE: N_("Low glare"),
}
MORE_BELOW = N_("▼ Below: {count} more. Press ↓ or tap here.")
MORE_ABOVE = N_("▲ Above: {count} more. Press ↑ or tap here.")
MORE_TEXT_BELOW = N_("▼ More below. Press ↓ or tap here.")
MORE_TEXT_ABOVE = N_("▲ More above. Press ↑ or tap here.")


class Target(Button):
    """A kiosk target: says what it is (and its state) when focused with speech on."""

    #: The language its words are in when not the voter's (a language's own name).
    speech_language: str | None = None

    def spoken(self, language: str) -> str:
        return str(self.label)


class OptionButton(Target):
    """One choice of a contest; shows its key number, party number and name."""

    def __init__(self, option: OptionView, language: str, selected: bool, count: int) -> None:
        self.option = option
        self.choice: Choice = option.choice
        self.position = option.position
        self.count = count
        self.selected = selected
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

    def show(self, language: str, selected: bool) -> None:
        self.selected = selected
        self.label = self.label_for(self.option, language, selected)
        self.set_class(selected, "-selected")

    def spoken(self, language: str) -> str:
        where = t(language, "{position} of {count}", position=self.position, count=self.count)
        name = self.option.label + (f", {self.option.detail}" if self.option.detail else "")
        if self.option.number is not None:
            name = t(language, "No. {number}", number=self.option.number) + ", " + name
        state = t(language, SELECTED if self.selected else NOT_SELECTED)
        return f"{where}. {name}. {state}."


class BigButton(Target):
    """A primary action (next, confirm, write): tall and full width."""

    def __init__(self, label: str, id: str, variant: str = "primary", speech: str | None = None,
                 speech_language: str | None = None) -> None:
        super().__init__(label, id=id, variant=variant, classes="big")
        self.speech = speech
        self.speech_language = speech_language

    def spoken(self, language: str) -> str:
        return self.speech or str(self.label)


class AccessBar(Horizontal):
    """Colours, text size, speech and all settings: on every screen, usable at any time."""

    def __init__(self, language: str, settings: VoterSettings, speech_reason: str) -> None:
        super().__init__(id="access-bar")
        self.language = language
        self.settings = settings
        self.speech_reason = speech_reason

    def update_state(self, language: str, settings: VoterSettings, speech_reason: str) -> None:
        self.language, self.settings, self.speech_reason = language, settings, speech_reason
        self.refresh(recompose=True)

    def compose(self) -> ComposeResult:
        lang, s = self.language, self.settings
        yield Target("◐ " + t(lang, CONTRAST_NAMES[s.contrast]), id="toggle-contrast", classes="access")
        size = t(lang, "Text size {size} of {count}", size=s.text_size, count=len(TEXT_SIZES))
        yield Target(f"A↕ {size}", id="cycle-size", classes="access")
        if self.speech_reason:
            speech = t(lang, "Speech unavailable")
        elif s.audio:
            speech = t(lang, "Speech on")
        else:
            speech = t(lang, "Speech off")
        yield Target(f"♪ {speech}", id="toggle-speech", classes="access")
        yield Target("⚙ " + t(lang, "Settings"), id="open-settings", classes="access")


def audio_status(language: str, speech_reason: str) -> Static:
    """"Audio unavailable: why", under the bar on the idle screen (for the poll worker
    setting up); a voter who asks for speech is told on a screen of its own."""
    return Static(t(language, "Audio unavailable: {reason}", reason=t(language, speech_reason)), id="audio-status")


class ListScroll(VerticalScroll):
    """A scrolling list of targets that reports when what it shows may have changed."""

    can_focus = False  # the keys move between the targets in it, they do not scroll it

    class Moved(Message):
        def __init__(self, scroll: ListScroll) -> None:
            super().__init__()
            self.scroll = scroll

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self.post_message(self.Moved(self))

    def on_resize(self) -> None:
        self.post_message(self.Moved(self))

    def shows_wholly(self, widget) -> bool:
        window, region = self.scrollable_content_region, widget.region
        return window.y <= region.y and region.bottom <= window.bottom

    def hidden_targets(self) -> tuple[int, int, bool, bool]:
        """(targets above the visible area, targets below it, other content above,
        other content below): a target counts as hidden unless it is wholly visible."""
        window = self.scrollable_content_region
        above = below = 0
        for target in self.query(Button):
            if not target.display:
                continue
            region = target.region
            if region.y < window.y:
                above += 1
            elif region.bottom > window.bottom:
                below += 1
        return above, below, self.scroll_y > 0, self.scroll_y < self.max_scroll_y

    def page(self, direction: int) -> None:
        """Scroll so the first hidden target in `direction` comes wholly into view."""
        window = self.scrollable_content_region
        targets = [b for b in self.query(Button) if b.display]
        if direction > 0:
            hidden = [b for b in targets if b.region.bottom > window.bottom]
            if hidden:
                self.scroll_to(y=self.scroll_y + hidden[0].region.y - window.y, animate=False)
            else:
                self.scroll_page_down(animate=False)
        else:
            hidden = [b for b in targets if b.region.y < window.y]
            if hidden:
                self.scroll_to(y=max(0, self.scroll_y + hidden[-1].region.bottom - window.bottom), animate=False)
            else:
                self.scroll_page_up(animate=False)


class MoreCue(Static):
    """"▼ Below: 5 more" under a list (or "▲ Above" over it); a tap scrolls it a page.

    Its row is always there, blank when nothing is hidden on its side: a cue that
    came and went would move the list under the voter's finger and could push the
    focused target half out of sight."""

    def __init__(self, scroll_id: str, direction: int) -> None:
        super().__init__("", id=f"more-{'below' if direction > 0 else 'above'}", classes="more-cue")
        self.scroll_id = scroll_id
        self.direction = direction
        self.count = 0
        self.shown = False

    def show(self, language: str, count: int, other_content: bool = False) -> None:
        """`count` targets hidden on this side; `other_content`: something else is (text)."""
        self.count = count
        self.shown = bool(count) or other_content
        if count:
            self.update(t(language, MORE_BELOW if self.direction > 0 else MORE_ABOVE, count=count))
        elif self.shown:
            self.update(t(language, MORE_TEXT_BELOW if self.direction > 0 else MORE_TEXT_ABOVE))
        else:
            self.update("")

    def on_click(self) -> None:
        if self.shown:
            self.screen.query_one(f"#{self.scroll_id}", ListScroll).page(self.direction)
