"""The booth kiosk (Textual): renders the `TerminalSession` one screen per phase.

Card I/O runs in worker threads so the screen stays live; card events may come
from the reader's watcher thread and are posted into the app's loop. The app
keeps no choice: it asks the session for every view, and throws each screen
away when the phase changes.

The voter's settings live in the session (`session.settings`); the app applies
them (theme, size and screen-off classes, speech rate and volume) and offers
every way to change them:

| keys | does |
|---|---|
| ↑ ↓ (Tab) | move between targets; with speech on each says what it is |
| Enter | select (press) the target |
| ← Esc / → | back / next (contest, review) |
| 1–9 | pick an option, a language, or a contest to change on the review |
| F2 F3 F4 F8 | colours, text size, speech on/off, all settings |
| 0 or Insert | repeat what the screen says |
| / * | speech slower / faster |
| - + | quieter / louder |
| . or Delete | screen off / on for privacy (with speech on) |
| Space | the move switch, in two-switch mode (Enter is the select switch) |

The card service is asked about once a second whether the reader can be used
(`CardSource.status`, in a worker thread); while it cannot, the out-of-service
screen replaces every other. The idle warning is shown and spoken."""

from __future__ import annotations

from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from sailau.smartcard.events import CardEvent, CardEventMessage, CardInserted
from sailau.terminal import oplog
from sailau.terminal.cards import CardSource, ReaderStatus
from sailau.terminal.i18n import N_, t
from sailau.terminal.screens import (
    KEYPAD_HELP,
    CardPulledScreen,
    ConfirmBlankScreen,
    ContestScreen,
    DoneScreen,
    IdleScreen,
    IdleWarningScreen,
    InterruptedScreen,
    KioskScreen,
    LanguageScreen,
    OutOfServiceScreen,
    OverlayScreen,
    ReadingScreen,
    RefusedScreen,
    ReviewScreen,
    SettingsScreen,
    Speech,
    SpeechUnavailableScreen,
    TakeCardScreen,
    TimedOutScreen,
    VoterScreen,
    WriteFailedScreen,
    WritingScreen,
)
from sailau.terminal.session import CastOutcome, CastResult, IdleState, Phase, TerminalSession, WriteStep
from sailau.terminal.settings import TEXT_SIZES, InputMode, VoterSettings
from sailau.terminal.speech import Speaker
from sailau.terminal.themes import THEMES
from sailau.terminal.widgets import AccessBar, Target

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
    Phase.CARD_PULLED: CardPulledScreen,
}
SPEECH_ON = N_("Speech on.")
SPEECH_OFF = N_("Speech off.")
FASTER, SLOWER = N_("Faster."), N_("Slower.")
LOUDER, QUIETER = N_("Louder."), N_("Quieter.")
SCREEN_OFF_SAID, SCREEN_ON_SAID = N_("Screen off."), N_("Screen on.")
DEFAULTS_SAID = N_("Default settings.")


class KioskApp(App[None]):
    CSS_PATH = "terminal.tcss"
    TITLE = "Sailau"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("f2", "toggle_contrast", "Colours", show=False, priority=True),
        Binding("f3", "cycle_size", "Text size", show=False, priority=True),
        Binding("f4", "toggle_speech", "Speech", show=False, priority=True),
        Binding("f8", "open_settings", "Settings", show=False, priority=True),
        Binding("0,insert", "repeat", "Repeat", show=False, priority=True),
        Binding("slash", "slower", "Slower", show=False, priority=True),
        Binding("asterisk", "faster", "Faster", show=False, priority=True),
        Binding("minus", "quieter", "Quieter", show=False, priority=True),
        Binding("plus", "louder", "Louder", show=False, priority=True),
        Binding("full_stop,delete", "toggle_screen", "Screen off", show=False, priority=True),
        Binding("space", "switch_move", "Move (switch)", show=False, priority=True),
    ]

    def __init__(
        self,
        session: TerminalSession,
        source: CardSource,
        speaker: Speaker | None = None,
        idle_poll_seconds: float = 1.0,
        reader_poll_seconds: float = 1.0,
        scan_poll_seconds: float = 0.25,
    ) -> None:
        super().__init__()
        self.session = session
        self.source = source
        self.speaker = speaker if speaker is not None else Speaker.detect()
        self.idle_poll_seconds = idle_poll_seconds
        self.reader_poll_seconds = reader_poll_seconds
        self.scan_poll_seconds = scan_poll_seconds
        self.receipt_acknowledged = False
        self._last_scan = session.clock()
        # No animation: a list jumps to the focused target at once (and nothing on
        # screen moves by itself, which some voters cannot follow).
        self.animation_level = "none"
        for theme in THEMES.values():
            self.register_theme(theme)
        self.theme = THEMES[session.settings.contrast].name

    # -- life cycle ----------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(self._screen_for_phase())
        self.source.start(self._card_event)
        self.set_interval(self.idle_poll_seconds, self.tick_idle)
        self.set_interval(self.reader_poll_seconds, self.check_reader)
        self.set_interval(self.scan_poll_seconds, self.tick_scan)
        self.check_reader()

    def on_unmount(self) -> None:
        self.source.stop()
        self.speaker.stop()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A worker that died (the app then exits, as before) leaves its traceback in the operator log."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            oplog.failure(f"kiosk worker {event.worker.name or event.worker.group}", event.worker.error)

    def _card_event(self, event: CardEvent) -> None:
        self.post_message(CardEventMessage(event))

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self.session.touch()
            self._last_scan = self.session.clock()
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
            self._read_card()
        else:
            self.session.on_card_removed()
            if self.session.phase is not Phase.WRITING:
                self.show_phase()

    @work(thread=True, group="card")
    def _read_card(self) -> None:
        self.session.on_card_inserted(self.source.client)
        self.call_from_thread(self.show_phase)

    def check_reader(self) -> None:
        """Ask the card source whether the reader can be used (off the UI loop)."""
        self._probe_reader()

    @work(thread=True, group="reader", exclusive=True)
    def _probe_reader(self) -> None:
        status = self.source.status()
        self.call_from_thread(self.reader_status, status)

    def reader_status(self, status: ReaderStatus) -> None:
        before = (self.session.reader_problem, self.session.reader_detail)
        phase = self.session.phase
        self.session.on_reader(status.problem, status.detail)
        if (self.session.reader_problem, self.session.reader_detail) != before and status.problem is not None:
            oplog.log.warning("card reader not usable: %s: %s", status.problem.value, status.detail)
        if (self.session.reader_problem, self.session.reader_detail) != before or self.session.phase is not phase:
            self.show_phase()

    def cast(self) -> None:
        if self.session.phase is not Phase.REVIEW:
            return
        self._switch(WritingScreen())
        self._cast()

    @work(thread=True, exclusive=True, group="card")
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

    def finish_pulled(self) -> None:
        self.session.end_voter()
        self.show_phase()

    def acknowledge_receipt(self) -> None:
        self.receipt_acknowledged = True
        self.show_phase()

    # -- screens -----------------------------------------------------------------

    def _screen_for_phase(self) -> KioskScreen:
        if self.session.reader_problem is not None and self.session.phase is not Phase.WRITING:
            return OutOfServiceScreen()
        phase = self.session.phase
        if phase is Phase.DONE and self.receipt_acknowledged:
            return TakeCardScreen()
        return PHASE_SCREENS[phase]()

    def show_phase(self) -> None:
        """Replace the screen with the one for the session's phase."""
        if self.session.phase is Phase.IDLE:
            self.receipt_acknowledged = False
        self._switch(self._screen_for_phase())

    def _switch(self, screen: KioskScreen) -> None:
        while isinstance(self.screen, OverlayScreen):
            self.pop_screen()
        self.theme = THEMES[self.session.settings.contrast].name
        self.switch_screen(screen)

    def tick_idle(self) -> None:
        """Runs every second: warn, then clear the choices at the timeout."""
        phase = self.session.phase
        state = self.session.check_idle()
        warning = self.screen if isinstance(self.screen, IdleWarningScreen) else None
        if state is IdleState.TIMED_OUT or self.session.phase is not phase:
            self.show_phase()
        elif state is IdleState.WARNING:
            seconds = max(0, round(self.session.idle_seconds_left()))
            if warning is None:
                while isinstance(self.screen, OverlayScreen):
                    self.pop_screen()
                self.push_screen(IdleWarningScreen(self.display_language, seconds))
            else:
                warning.update_seconds(seconds)
        elif warning is not None:
            self.pop_screen()

    def tick_scan(self) -> None:
        """Automatic scanning (two-switch mode with a scanning step): move the
        highlight to the next target every step; any switch selects."""
        s = self.session.settings
        if s.input_mode is not InputMode.TWO_SWITCH or not s.scan_seconds:
            return
        now = self.session.clock()
        if now - self._last_scan >= s.scan_seconds:
            self._last_scan = now
            self.screen.focus_next()

    # -- settings ------------------------------------------------------------------

    def access_bar(self) -> AccessBar:
        return AccessBar(self.display_language, self.session.settings, self.speaker.reason)

    def apply_settings(self, screen: Screen | None = None) -> None:
        """Show the session's settings: theme, text size and screen-off classes, the bar."""
        s = self.session.settings
        self.theme = THEMES[s.contrast].name
        screen = screen or self.screen
        for size in TEXT_SIZES:
            screen.set_class(size == s.text_size, f"size-{size}")
        screen.set_class(s.screen_off, "-screen-off")
        screen.set_class(s.input_mode is InputMode.TWO_SWITCH, "-switches")
        if isinstance(screen, KioskScreen) and screen.is_mounted:
            screen.refresh_access_bar()

    def change_settings(self, settings: VoterSettings, said: str = "") -> None:
        """Apply new settings (from the bar, the settings screen or the keypad); with
        speech on, say what changed at the new rate and volume."""
        self.session.apply(settings)
        self.apply_settings()
        if said:
            self.speak([(t(self.display_language, said), self.display_language)])

    def action_toggle_contrast(self) -> None:
        self.change_settings(self.session.settings.next_contrast())

    def action_cycle_size(self) -> None:
        self.change_settings(self.session.settings.next_text_size())

    def action_toggle_speech(self) -> None:
        s = self.session.settings
        if s.audio:
            self.speaker.stop()
            self.change_settings(s.changed(audio=False))
            return
        if not self.speaker.available:
            self.push_screen(SpeechUnavailableScreen())
            return
        self.change_settings(s.changed(audio=True))
        lang = self.display_language
        self.speak([(t(lang, SPEECH_ON) + " " + t(lang, KEYPAD_HELP), lang)])

    def action_open_settings(self) -> None:
        if not isinstance(self.screen, SettingsScreen):
            self.push_screen(SettingsScreen())

    def action_default_settings(self) -> None:
        self.change_settings(self.session.settings.reset_keeping_language(), DEFAULTS_SAID)

    def action_slower(self) -> None:
        self.change_settings(self.session.settings.slower(), SLOWER)

    def action_faster(self) -> None:
        self.change_settings(self.session.settings.faster(), FASTER)

    def action_quieter(self) -> None:
        self.change_settings(self.session.settings.quieter(), QUIETER)

    def action_louder(self) -> None:
        self.change_settings(self.session.settings.louder(), LOUDER)

    def action_toggle_screen(self) -> None:
        s = self.session.settings
        if not s.audio:
            return  # a voter who sees nothing must hear the ballot
        self.change_settings(s.changed(screen_off=not s.screen_off), SCREEN_ON_SAID if s.screen_off else SCREEN_OFF_SAID)

    def action_switch_move(self) -> None:
        if self.session.settings.input_mode is InputMode.TWO_SWITCH:
            self._last_scan = self.session.clock()
            self.screen.focus_next()

    # -- speech ----------------------------------------------------------------------

    def speak(self, parts: Speech) -> bool:
        """Say `parts` if the voter has speech on (at their rate and volume)."""
        s = self.session.settings
        parts = [(text, lang) for text, lang in parts if text]
        if not (s.audio and parts):
            return False
        return self.speaker.say(parts, rate=s.rate, volume=s.volume)

    def speak_screen(self, screen: VoterScreen) -> None:
        """What the screen says when it opens (and on repeat): its prompt, then the focused target."""
        parts = list(screen.spoken())
        focused = screen.focused
        if isinstance(focused, Target) and not isinstance(screen, SettingsScreen):
            parts.append((focused.spoken(screen.lang), focused.speech_language or screen.lang))
        self.speak(parts)

    def speak_target(self, target: Target) -> None:
        screen = target.screen
        lang = screen.lang if isinstance(screen, VoterScreen) else self.display_language
        self.speak([(target.spoken(lang), target.speech_language or lang)])

    def action_repeat(self) -> None:
        if isinstance(self.screen, VoterScreen):
            self.speak_screen(self.screen)
