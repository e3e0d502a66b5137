"""The booth kiosk (Textual): renders the `TerminalSession` one screen per phase.

Card I/O runs in worker threads so the screen stays live; card events may come
from pyscard's monitor thread and are posted into the app's loop. The app keeps
no choice: it asks the session for every view, and throws each screen away when
the phase changes. Accessibility settings (contrast, text size, speech) can be
switched at any time and go back to the defaults for the next voter."""

from __future__ import annotations

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.message import Message
from textual.theme import Theme

from sailau.smartcard.events import CardEvent, CardInserted
from sailau.terminal.cards import CardSource
from sailau.terminal.screens import (
    ConfirmBlankScreen,
    ContestScreen,
    DoneScreen,
    IdleScreen,
    IdleWarningScreen,
    InterruptedScreen,
    KioskScreen,
    LanguageScreen,
    ReadingScreen,
    RefusedScreen,
    ReviewScreen,
    TakeCardScreen,
    TimedOutScreen,
    WriteFailedScreen,
    WritingScreen,
)
from sailau.terminal.session import CastOutcome, CastResult, IdleState, Phase, TerminalSession, WriteStep
from sailau.terminal.speech import Speaker
from sailau.terminal.widgets import AccessBar

NORMAL_THEME = Theme(
    name="sailau-normal",
    primary="#1f5fa8",
    secondary="#2c7a4b",
    accent="#f0b429",
    warning="#c77700",
    error="#c0392b",
    success="#2e7d32",
    foreground="#f2f4f7",
    background="#14212e",
    surface="#1c2d3f",
    panel="#24384e",
    dark=True,
)
CONTRAST_THEME = Theme(
    name="sailau-contrast",
    primary="#ffff00",
    secondary="#00ffff",
    accent="#ffff00",
    warning="#ffff00",
    error="#ff4040",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#000000",
    dark=True,
    luminosity_spread=0.0,
    text_alpha=1.0,
)

PHASE_SCREENS = {
    Phase.IDLE: IdleScreen,
    Phase.REFUSED: RefusedScreen,
    Phase.LANGUAGE: LanguageScreen,
    Phase.CONTEST: ContestScreen,
    Phase.CONFIRM_BLANK: ConfirmBlankScreen,
    Phase.REVIEW: ReviewScreen,
    Phase.WRITING: WritingScreen,
    Phase.DONE: DoneScreen,
    Phase.INTERRUPTED: InterruptedScreen,
    Phase.WRITE_FAILED: WriteFailedScreen,
    Phase.TIMED_OUT: TimedOutScreen,
}
TEXT_SIZES = (1, 2, 3)


class CardEventMessage(Message):
    """A card went in or out of the reader (posted from any thread)."""

    def __init__(self, event: CardEvent) -> None:
        super().__init__()
        self.event = event


class KioskApp(App[None]):
    CSS_PATH = "terminal.tcss"
    TITLE = "Sailau"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f2", "toggle_contrast", "Contrast", show=False, priority=True),
        Binding("f3", "cycle_size", "Text size", show=False, priority=True),
        Binding("f4", "toggle_speech", "Speech", show=False, priority=True),
    ]

    def __init__(
        self,
        session: TerminalSession,
        source: CardSource,
        speaker: Speaker | None = None,
        idle_poll_seconds: float = 1.0,
    ) -> None:
        super().__init__()
        self.session = session
        self.source = source
        self.speaker = speaker if speaker is not None else Speaker.detect()
        self.idle_poll_seconds = idle_poll_seconds
        self.contrast = False
        self.text_size = 1
        self.receipt_acknowledged = False
        self.register_theme(NORMAL_THEME)
        self.register_theme(CONTRAST_THEME)
        self.theme = NORMAL_THEME.name

    # -- life cycle ----------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(self._screen_for_phase())
        self.source.start(self._card_event)
        self.set_interval(self.idle_poll_seconds, self.tick_idle)

    def on_unmount(self) -> None:
        self.source.stop()
        self.speaker.stop()

    def _card_event(self, event: CardEvent) -> None:
        self.post_message(CardEventMessage(event))

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self.session.touch()
        await super().on_event(event)

    @property
    def display_language(self) -> str:
        return self.session.language or "kk"

    # -- cards -----------------------------------------------------------------

    def on_card_event_message(self, message: CardEventMessage) -> None:
        if isinstance(message.event, CardInserted):
            if self.session.phase is Phase.WRITING:
                return
            self._switch(ReadingScreen())
            self.run_worker(self._read_card, thread=True, group="card")
        else:
            self.session.on_card_removed()
            if self.session.phase is not Phase.WRITING:
                self.show_phase()

    def _read_card(self) -> None:
        self.session.on_card_inserted(self.source.client)
        self.call_from_thread(self.show_phase)

    def cast(self) -> None:
        if self.session.phase is not Phase.REVIEW:
            return
        self._switch(WritingScreen())
        self.run_worker(self._cast, thread=True, exclusive=True, group="card")

    def _cast(self) -> None:
        result = self.session.cast(progress=lambda step: self.call_from_thread(self._progress, step))
        self.call_from_thread(self._cast_done, result)

    def _progress(self, step: WriteStep) -> None:
        if isinstance(self.screen, WritingScreen):
            self.screen.set_step(step)

    def _cast_done(self, result: CastResult) -> None:
        if result.outcome is CastOutcome.INTERRUPTED:
            self.source.poll()
        self.show_phase()

    # -- voter actions (from screens) --------------------------------------------

    def choose_language(self, language: str) -> None:
        self.session.choose_language(language)
        self.show_phase()

    def next_contest(self) -> None:
        self.session.next()
        self.show_phase()

    def back(self) -> None:
        self.session.back()
        self.show_phase()

    def confirm_blank(self) -> None:
        self.session.confirm_blank()
        self.show_phase()

    def cancel_blank(self) -> None:
        self.session.cancel_blank()
        self.show_phase()

    def edit(self, index: int) -> None:
        self.session.edit(index)
        self.show_phase()

    def restart(self) -> None:
        self.session.restart()
        self.show_phase()

    def acknowledge_receipt(self) -> None:
        self.receipt_acknowledged = True
        self.show_phase()

    # -- screens -----------------------------------------------------------------

    def _screen_for_phase(self) -> KioskScreen:
        phase = self.session.phase
        if phase is Phase.DONE and self.receipt_acknowledged:
            return TakeCardScreen()
        return PHASE_SCREENS[phase]()

    def show_phase(self) -> None:
        """Replace the screen with the one for the session's phase."""
        if self.session.phase is Phase.IDLE:
            self.reset_for_next_voter()
        self._switch(self._screen_for_phase())

    def _switch(self, screen: KioskScreen) -> None:
        while isinstance(self.screen, IdleWarningScreen):
            self.pop_screen()
        self.switch_screen(screen)

    def tick_idle(self) -> None:
        """Runs every second: warn, then clear the choices at the timeout."""
        state = self.session.check_idle()
        warning = self.screen if isinstance(self.screen, IdleWarningScreen) else None
        if state is IdleState.TIMED_OUT:
            self.show_phase()
        elif state is IdleState.WARNING:
            seconds = max(0, round(self.session.idle_seconds_left()))
            if warning is None:
                self.push_screen(IdleWarningScreen(self.display_language, seconds))
            else:
                warning.update_seconds(seconds)
        elif warning is not None:
            self.pop_screen()

    # -- accessibility --------------------------------------------------------------

    def access_bar(self) -> AccessBar:
        return AccessBar(
            self.display_language, self.contrast, self.text_size, self.speaker.enabled, self.speaker.reason
        )

    def action_toggle_contrast(self) -> None:
        self.contrast = not self.contrast
        self.theme = (CONTRAST_THEME if self.contrast else NORMAL_THEME).name
        self._access_changed()

    def action_cycle_size(self) -> None:
        self.text_size = TEXT_SIZES[(TEXT_SIZES.index(self.text_size) + 1) % len(TEXT_SIZES)]
        self._access_changed()

    def action_toggle_speech(self) -> None:
        if not self.speaker.available:
            self.speaker.enabled = False
        else:
            self.speaker.enabled = not self.speaker.enabled
            if not self.speaker.enabled:
                self.speaker.stop()
        self._access_changed()

    def reset_for_next_voter(self) -> None:
        self.receipt_acknowledged = False
        changed = self.contrast or self.text_size != 1 or self.speaker.enabled
        self.contrast = False
        self.text_size = 1
        self.speaker.enabled = False
        self.speaker.stop()
        self.theme = NORMAL_THEME.name
        if changed:
            self._access_changed()

    def _access_changed(self) -> None:
        for size in TEXT_SIZES:
            self.screen.set_class(size == self.text_size, f"size-{size}")
        if isinstance(self.screen, KioskScreen):
            self.screen.refresh_access_bar()

    def speak(self, text: str, language: str) -> None:
        self.speaker.say(text, language)
