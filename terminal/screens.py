"""One screen per phase of the voter's session, plus the overlays (settings, the
idle warning, speech unavailable) and the out-of-service screen. Screens only
render what the session says and forward the voter's taps and keys to it; they
keep no choice: the session computes each view on demand and a screen is thrown
away when the phase changes.

Every screen is also spoken (`spoken()`, said when it opens and on "repeat"),
and every target says what it is when focused; lists say what they hide. The
voter's settings (size, colours, screen off) are applied as classes on the
screen by the app (`KioskApp.apply_settings`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, ProgressBar, Static

from sailau.terminal.i18n import LANGUAGE_NAMES, LANGUAGES, N_, t
from sailau.terminal.session import CardCheck, Phase, ReaderProblem, WriteStep
from sailau.terminal.settings import SPEECH_RATES, TEXT_SIZES, VOLUMES, InputMode
from sailau.terminal.widgets import CONTRAST_NAMES, BigButton, ListScroll, MoreCue, OptionButton, Target, audio_status

if TYPE_CHECKING:
    from sailau.terminal.app import KioskApp

#: A spoken prompt: (text, language) parts, each read in its own voice.
Speech = list[tuple[str, str]]

INSERT_CARD = N_("Insert your ballot card")
READING = N_("Reading the card…")
REMOVE_CARD = N_("Remove the card.")
REFUSALS = {
    CardCheck.UNREADABLE: N_("This card cannot be read. Ask a poll worker for help."),
    CardCheck.NOT_ISSUED: N_("This card has not been issued. Take it back to the registration table."),
    CardCheck.WRONG_ELECTION: N_("This card is for another election. Take it back to the registration table."),
    CardCheck.WRONG_PRECINCT: N_(
        "This card was issued at another polling station. Take it back to the registration table."
    ),
    CardCheck.WRONG_STYLE: N_("This card carries another ballot. Take it back to the registration table."),
    CardCheck.ALREADY_VOTED: N_("A ballot is already written on this card. Take it to the ballot box."),
}
CHOOSE_LANGUAGE = N_("Choose your language")
STILL_ISSUED = N_("Your ballot was not written: the card is still unused. Please vote again.")
STEPS = {
    WriteStep.SEALING: N_("Encrypting and signing your ballot"),
    WriteStep.WRITING: N_("Writing to the card"),
    WriteStep.VERIFYING: N_("Checking what the card holds"),
    WriteStep.DONE: N_("Done"),
}
STEP_NUMBER = {WriteStep.SEALING: 1, WriteStep.WRITING: 2, WriteStep.VERIFYING: 3, WriteStep.DONE: 4}
CARD_PULLED = N_("Your card left the reader before your ballot was written.")
NOTHING_WRITTEN = N_("Nothing was written on the card and your choices were cleared.")
PUT_IT_BACK = N_("Put the card back in to vote again.")
OUT_OF_SERVICE = {
    ReaderProblem.NO_SERVICE: N_("The card reader is not working: the card service is not running."),
    ReaderProblem.NO_READER: N_("The card reader is not connected."),
}
POLL_WORKER_FIXES = N_("A poll worker must fix this. The terminal goes on by itself when the reader is back.")
SCREEN_OFF = N_("The screen is off for privacy. Press . to turn it on.")
KEYPAD_HELP = N_(
    "Keys: Up and Down move, Enter selects, Left goes back, Right goes on, "
    "0 repeats, slash slower, star faster, minus quieter, plus louder, dot turns the screen off or on."
)
SPEECH_UNAVAILABLE = N_("Speech is not available on this terminal: {reason}.")
ASK_POLL_WORKER = N_("Ask a poll worker for help.")
CLEARED = N_("Your choices were cleared because there was no activity.")
START_AGAIN = N_("Start again")
OR_TAKE_IT_BACK = N_("Or take your card back to the registration table.")
WRITING_BALLOT = N_("Writing your ballot to the card.")
DO_NOT_REMOVE = N_("Do not remove the card.")
TAKE_TO_BOX = N_("Take your card to the ballot box.")
CARD_REMOVED_MID_WRITE = N_("The card was removed while your ballot was being written.")
PUT_BACK_TO_LEARN = N_("Put the card back in: the terminal will tell you whether your ballot was written.")
NOT_TAKEN = N_("The card did not take your ballot correctly.")
DO_NOT_TAKE = N_("Do not take this card to the ballot box. Ask a poll worker for help.")
SETTINGS_TITLE = {True: N_("Settings for the next voter"), False: N_("Settings")}
ACCESS_IDS = {"toggle-contrast", "cycle-size", "toggle-speech", "open-settings"}


def _trilingual_speech(message: str, **fields: object) -> Speech:
    return [(t(lang, message, **fields), lang) for lang in LANGUAGES]


class VoterScreen(Screen):
    """What every kiosk screen shares: the voter's settings as classes, keys that move
    between targets (priority: a scrolling list must not eat them), speech on focus."""

    BINDINGS = [
        Binding("down", "app.focus_next", "Next target", show=False, priority=True),
        Binding("up", "app.focus_previous", "Previous target", show=False, priority=True),
    ]

    #: The screen chooses its first target itself (`first_target`), without Textual's
    #: auto focus scrolling to whatever is focusable first.
    AUTO_FOCUS = ""
    _announce_focus = False
    #: Open with the list at its top even if the focused target is below the fold
    #: (the message matters more than the button; the cue says the button is there).
    SHOW_TOP = False

    @property
    def kiosk(self) -> KioskApp:
        return cast("KioskApp", self.app)

    @property
    def lang(self) -> str:
        return self.kiosk.display_language

    def spoken(self) -> Speech:
        """What to say when the screen opens and on "repeat"."""
        return []

    def first_target(self, targets: list[Widget]) -> Widget:
        return targets[0]

    def on_mount(self) -> None:
        self.kiosk.apply_settings(self)
        targets = [w for w in self.query(Target) if w.focusable and w.id not in ACCESS_IDS]
        if targets:
            self.set_focus(self.first_target(targets), scroll_visible=False)
        self.call_after_refresh(self._opened)

    def _opened(self) -> None:
        """Laid out: lists start at their top (the prompt above the first target stays
        in view), scrolled only as far as the focused target needs; then speak."""
        focused = self.focused
        if focused is not None and not self.SHOW_TOP:
            for scroll in focused.ancestors:
                if isinstance(scroll, ListScroll) and not scroll.shows_wholly(focused):
                    scroll.scroll_to_widget(focused, animate=False)
        self.update_cues()
        self.kiosk.speak_screen(self)
        self._announce_focus = True

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if self._announce_focus and isinstance(event.widget, Target):
            self.kiosk.speak_target(event.widget)

    def on_list_scroll_moved(self, message: ListScroll.Moved) -> None:
        self.call_after_refresh(self.update_cues)

    def update_cues(self) -> None:
        for cue in self.query(MoreCue):
            above, below, more_above, more_below = self.query_one(f"#{cue.scroll_id}", ListScroll).hidden_targets()
            if cue.direction > 0:
                cue.show(self.lang, below, more_below)
            else:
                cue.show(self.lang, above, more_above)

    def cue_speech(self) -> str:
        """How many targets are out of sight and how to reach them (empty if none)."""
        return " ".join(str(cue.render()) for cue in self.query(MoreCue) if cue.shown)

    def focused_speech(self) -> str:
        focused = self.focused
        return focused.spoken(self.lang) if isinstance(focused, Target) else ""


class KioskScreen(VoterScreen):
    """Accessibility bar on top, the phase's content below (scrolling, with cues)."""

    def compose(self) -> ComposeResult:
        yield self.kiosk.access_bar()
        yield from self.content()
        yield Static(t(self.lang, SCREEN_OFF), id="screen-off")

    def content(self) -> ComposeResult:
        yield MoreCue("body", -1)
        with ListScroll(id="body", classes=f"phase-{self.__class__.__name__.lower()}"):
            yield from self.body()
        yield MoreCue("body", +1)

    def body(self) -> ComposeResult:
        yield from ()

    def refresh_access_bar(self) -> None:
        self.query_one("#access-bar").update_state(  # type: ignore[attr-defined]
            self.kiosk.display_language, self.kiosk.session.settings, self.kiosk.speaker.reason
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        button_id = event.button.id or ""
        if button_id in ACCESS_IDS:
            getattr(self.kiosk, "action_" + button_id.replace("-", "_"))()
            return
        self.pressed(event.button)

    def pressed(self, button: Button) -> None:
        pass

    def voter_languages(self) -> tuple[str, ...]:
        """The voter's language once known (chosen or preset), else all three."""
        language = self.kiosk.session.language
        return (language,) if language else LANGUAGES


def _in(languages: tuple[str, ...], message: str, classes: str, **fields: object) -> ComposeResult:
    for lang in languages:
        yield Static(t(lang, message, **fields), classes=f"{classes} lang-{lang}")


def _said(languages: tuple[str, ...], *messages: str) -> Speech:
    return [(" ".join(t(lang, m) for m in messages), lang) for lang in languages]


class IdleScreen(KioskScreen):
    def body(self) -> ComposeResult:
        if self.kiosk.speaker.reason:
            yield audio_status(self.lang, self.kiosk.speaker.reason)
        election = self.kiosk.session.config.election
        yield Static(election.name.get(self.kiosk.session.language or "kk"), classes="election-name")
        yield from _in(self.voter_languages(), INSERT_CARD, "prompt")
        yield Static("▭ ⟶ ▣", classes="card-icon")
        yield Static(
            " · ".join(t(lang, "Precinct {number}", number=self.kiosk.session.config.precinct) for lang in LANGUAGES),
            classes="small",
        )

    def spoken(self) -> Speech:
        return _said(self.voter_languages(), INSERT_CARD)


class ReadingScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield from _in(self.voter_languages(), READING, "prompt")

    def spoken(self) -> Speech:
        return _said(self.voter_languages(), READING)


class RefusedScreen(KioskScreen):
    def body(self) -> ComposeResult:
        check = self.kiosk.session.check or CardCheck.UNREADABLE
        yield Static("⚠", classes="warning-icon")
        for lang in self.voter_languages():
            yield Static(t(lang, REFUSALS[check]), classes=f"refusal lang-{lang}")
        yield from _in(self.voter_languages(), REMOVE_CARD, "prompt")

    def spoken(self) -> Speech:
        check = self.kiosk.session.check or CardCheck.UNREADABLE
        return _said(self.voter_languages(), REFUSALS[check], REMOVE_CARD)


class LanguageScreen(KioskScreen):
    BINDINGS = [
        Binding("1", "choose('kk')", show=False),
        Binding("2", "choose('ru')", show=False),
        Binding("3", "choose('en')", show=False),
    ]

    def body(self) -> ComposeResult:
        session = self.kiosk.session
        if session.check is CardCheck.STILL_ISSUED:
            for lang in self.voter_languages():
                yield Static(t(lang, STILL_ISSUED), classes="notice")
        yield from _in(LANGUAGES, CHOOSE_LANGUAGE, "prompt")
        for number, lang in enumerate(LANGUAGES, start=1):
            yield BigButton(f"{number}.  {LANGUAGE_NAMES[lang]}", id=f"lang-{lang}", speech_language=lang)

    def first_target(self, targets: list[Widget]) -> Widget:
        preset = self.kiosk.session.language
        chosen = [b for b in targets if b.id == f"lang-{preset}"]
        return chosen[0] if chosen else targets[0]

    def spoken(self) -> Speech:
        speech: Speech = []
        if self.kiosk.session.check is CardCheck.STILL_ISSUED:
            speech += _said(self.voter_languages(), STILL_ISSUED)
        speech += [(t(lang, CHOOSE_LANGUAGE) + f": {n}. {LANGUAGE_NAMES[lang]}.", lang)
                   for n, lang in enumerate(LANGUAGES, start=1)]
        return speech

    def action_choose(self, lang: str) -> None:
        self.kiosk.choose_language(lang)

    def pressed(self, button: Button) -> None:
        if button.id and button.id.startswith("lang-"):
            self.kiosk.choose_language(button.id.removeprefix("lang-"))


class ContestScreen(KioskScreen):
    BINDINGS = [
        *[Binding(str(n), f"pick({n})", show=False) for n in range(1, 10)],
        Binding("escape", "back", show=False),
        Binding("left", "back", show=False),
        Binding("right", "next", show=False),
    ]

    def content(self) -> ComposeResult:
        view = self.kiosk.session.contest_view(language=self.lang)
        with Vertical(id="frame", classes="phase-contestscreen"):
            yield Static(t(self.lang, "Contest {index} of {count}", index=view.index + 1, count=view.count),
                         classes="small")
            yield Static(view.title, classes="title")
            yield Static(t(self.lang, "Mark one choice, then press Next."), classes="instruction")
            yield MoreCue("options", -1)
            with ListScroll(id="options"):
                for option in view.options:
                    yield OptionButton(option, self.lang, option.choice == view.selected, len(view.options))
            yield MoreCue("options", +1)
            with Horizontal(classes="nav"):
                yield BigButton(t(self.lang, "Back"), id="back", variant="default")
                yield BigButton(t(self.lang, "Next"), id="next")

    def first_target(self, targets: list[Widget]) -> Widget:
        selected = [b for b in targets if b.has_class("-selected")]
        return selected[0] if selected else targets[0]

    def spoken(self) -> Speech:
        session = self.kiosk.session
        view = session.contest_view(language=self.lang)
        lang = self.lang
        parts = [
            t(lang, "Contest {index} of {count}", index=view.index + 1, count=view.count) + ".",
            view.title + ".",
            t(lang, "Mark one choice, then press Next."),
            t(lang, "{count} choices.", count=len(view.options)),
        ]
        if view.selected is not None:
            parts.append(t(lang, "Marked: {choice}.", choice=session.choice_label(view.id, view.selected, lang)))
        cue = self.cue_speech()
        if cue:
            parts.append(cue)
        return [(" ".join(parts), lang)]

    def refresh_options(self) -> None:
        view = self.kiosk.session.contest_view(language=self.lang)
        for option in view.options:
            self.query_one(f"#option-{option.position}", OptionButton).show(self.lang, option.choice == view.selected)

    def action_pick(self, position: int) -> None:
        view = self.kiosk.session.contest_view(language=self.lang)
        if 1 <= position <= len(view.options):
            self.query_one(f"#option-{position}").focus()
            self.toggle(view.options[position - 1].choice)

    def toggle(self, choice) -> None:
        session = self.kiosk.session
        view = session.contest_view()
        if view.selected == choice:
            session.unselect()
            said = t(self.lang, "Unmarked: {choice}.", choice=session.choice_label(view.id, choice, self.lang))
        else:
            session.select(choice)
            said = t(self.lang, "Marked: {choice}.", choice=session.choice_label(view.id, choice, self.lang))
        self.refresh_options()
        self.kiosk.speak([(said, self.lang)])

    def action_back(self) -> None:
        self.kiosk.back()

    def action_next(self) -> None:
        self.kiosk.next_contest()

    def pressed(self, button: Button) -> None:
        if isinstance(button, OptionButton):
            self.toggle(button.choice)
        elif button.id == "next":
            self.action_next()
        elif button.id == "back":
            self.action_back()


class ConfirmBlankScreen(KioskScreen):
    BINDINGS = [Binding("escape", "no", show=False), Binding("left", "no", show=False)]

    def body(self) -> ComposeResult:
        view = self.kiosk.session.contest_view(language=self.lang)
        yield Static(view.title, classes="title")
        yield Static(t(self.lang, "You have not marked this contest."), classes="prompt")
        yield Static(t(self.lang, "Leave it unmarked? It will be counted as blank."), classes="instruction")
        yield BigButton(t(self.lang, "No, go back and mark it"), id="no")
        yield BigButton(t(self.lang, "Yes, leave it blank"), id="yes", variant="warning")

    def spoken(self) -> Speech:
        view = self.kiosk.session.contest_view(language=self.lang)
        return [(view.title + ". " + t(self.lang, "You have not marked this contest.") + " "
                 + t(self.lang, "Leave it unmarked? It will be counted as blank."), self.lang)]

    def action_no(self) -> None:
        self.kiosk.cancel_blank()

    def pressed(self, button: Button) -> None:
        if button.id == "yes":
            self.kiosk.confirm_blank()
        elif button.id == "no":
            self.kiosk.cancel_blank()


class ReviewRow(Target):
    """One contest on the review screen: its choice; pressing it changes the contest."""

    def __init__(self, index: int, title: str, choice: str, blank: bool) -> None:
        mark = "○" if blank else "●"
        super().__init__(f"{index + 1}. {title}\n    {mark} {choice}", id=f"edit-{index}",
                         classes="review-row" + (" -blank" if blank else ""))
        self.index, self.title, self.choice = index, title, choice

    def spoken(self, language: str) -> str:
        return f"{self.index + 1}. {self.title}: {self.choice}. " + t(language, "Press Enter to change it.")


class ReviewScreen(KioskScreen):
    BINDINGS = [
        Binding("escape", "back", show=False),
        Binding("left", "back", show=False),
        *[Binding(str(n), f"edit({n})", show=False) for n in range(1, 10)],
    ]

    def content(self) -> ComposeResult:
        with Vertical(id="frame", classes="phase-reviewscreen"):
            yield Static(t(self.lang, "Check your ballot"), classes="title")
            yield Static(t(self.lang, "Tap a contest to change it."), classes="instruction")
            yield MoreCue("review", -1)
            with ListScroll(id="review"):
                for row in self.kiosk.session.review_rows(self.lang):
                    yield ReviewRow(row.index, row.title, row.choice_label, row.blank)
            yield MoreCue("review", +1)
            with Horizontal(classes="nav"):
                yield BigButton(t(self.lang, "Back"), id="back", variant="default")
                yield BigButton(t(self.lang, "Write my ballot to the card"), id="cast", variant="success")

    def first_target(self, targets: list[Widget]) -> Widget:
        return self.query_one("#cast", Button)

    def spoken(self) -> Speech:
        rows = self.kiosk.session.review_rows(self.lang)
        lines = [t(self.lang, "Check your ballot") + "."]
        lines += [f"{r.index + 1}. {r.title}: {r.choice_label}." for r in rows]
        lines.append(t(self.lang, "To change a contest, move to it and press Enter."))
        cue = self.cue_speech()
        if cue:
            lines.append(cue)
        return [(" ".join(lines), self.lang)]

    def action_back(self) -> None:
        self.kiosk.back()

    def action_edit(self, number: int) -> None:
        if 1 <= number <= len(self.kiosk.session.contests):
            self.kiosk.edit(number - 1)

    def pressed(self, button: Button) -> None:
        if button.id == "cast":
            self.kiosk.cast()
        elif button.id == "back":
            self.kiosk.back()
        elif isinstance(button, ReviewRow):
            self.kiosk.edit(button.index)


class WritingScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static(t(self.lang, WRITING_BALLOT), classes="title")
        yield Static(t(self.lang, DO_NOT_REMOVE), classes="prompt warning")
        yield ProgressBar(total=len(STEP_NUMBER), show_eta=False, show_percentage=False, id="progress")
        yield Static(t(self.lang, STEPS[WriteStep.SEALING]), id="step", classes="instruction")

    def spoken(self) -> Speech:
        return _said((self.lang,), WRITING_BALLOT, DO_NOT_REMOVE)

    def set_step(self, step: WriteStep) -> None:
        self.query_one("#progress", ProgressBar).update(progress=STEP_NUMBER[step])
        self.query_one("#step", Static).update(t(self.lang, STEPS[step]))


class DoneScreen(KioskScreen):
    SHOW_TOP = True

    BINDINGS = [Binding("enter", "continue", show=False)]

    def body(self) -> ComposeResult:
        session = self.kiosk.session
        if session.check is CardCheck.WRITE_COMPLETED:
            yield Static(
                t(self.lang, "Your ballot was written completely before the card was removed."), classes="notice"
            )
        yield Static("✔ " + t(self.lang, "Your ballot is on the card."), classes="title success")
        yield Static(t(self.lang, "Receipt code"), classes="instruction")
        yield Static(session.receipt_code or "", id="receipt", classes="receipt")
        yield Static(
            t(self.lang, "Note this code: after the count you can check that your ballot was counted."),
            classes="small",
        )
        yield BigButton(t(self.lang, "Continue"), id="continue")

    def spoken(self) -> Speech:
        session = self.kiosk.session
        code = ", ".join(" ".join(group) for group in (session.receipt_code or "").split("-"))
        lines = []
        if session.check is CardCheck.WRITE_COMPLETED:
            lines.append(t(self.lang, "Your ballot was written completely before the card was removed."))
        lines += [t(self.lang, "Your ballot is on the card."), t(self.lang, "Receipt code") + ": " + code + ".",
                  t(self.lang, "Note this code: after the count you can check that your ballot was counted.")]
        return [(" ".join(lines), self.lang)]

    def action_continue(self) -> None:
        self.kiosk.acknowledge_receipt()

    def pressed(self, button: Button) -> None:
        if button.id == "continue":
            self.kiosk.acknowledge_receipt()


class TakeCardScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static("▣ ⟶ ☐", classes="card-icon")
        yield Static(t(self.lang, TAKE_TO_BOX), classes="title")
        yield Static(self.kiosk.session.receipt_code or "", classes="receipt small-receipt")

    def spoken(self) -> Speech:
        return _said((self.lang,), TAKE_TO_BOX)


class InterruptedScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static("⚠", classes="warning-icon")
        for lang in self.voter_languages():
            with Vertical(classes="lang-group"):
                yield Static(t(lang, CARD_REMOVED_MID_WRITE), classes="title")
                yield Static(t(lang, PUT_BACK_TO_LEARN), classes="prompt")

    def spoken(self) -> Speech:
        return _said(self.voter_languages(), CARD_REMOVED_MID_WRITE, PUT_BACK_TO_LEARN)


class WriteFailedScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static("⚠", classes="warning-icon")
        yield Static(t(self.lang, NOT_TAKEN), classes="title")
        yield Static(t(self.lang, DO_NOT_TAKE), classes="prompt")

    def spoken(self) -> Speech:
        return _said((self.lang,), NOT_TAKEN, DO_NOT_TAKE)


class TimedOutScreen(KioskScreen):
    SHOW_TOP = True

    def body(self) -> ComposeResult:
        languages = self.voter_languages()
        yield from _in(languages, CLEARED, "prompt")
        yield BigButton(" / ".join(t(lang, START_AGAIN) for lang in languages), id="restart")
        yield from _in(languages, OR_TAKE_IT_BACK, "small")

    def spoken(self) -> Speech:
        return _said(self.voter_languages(), CLEARED, START_AGAIN, OR_TAKE_IT_BACK)

    def pressed(self, button: Button) -> None:
        if button.id == "restart":
            self.kiosk.restart()


class CardPulledScreen(KioskScreen):
    """The card left before the write: said in the voter's language, with what to do."""

    SHOW_TOP = True

    def body(self) -> ComposeResult:
        yield Static("⚠", classes="warning-icon")
        for lang in self.voter_languages():
            with Vertical(classes="lang-group"):
                yield Static(t(lang, CARD_PULLED), classes="title")
                yield Static(t(lang, NOTHING_WRITTEN), classes="prompt")
                yield Static(t(lang, PUT_IT_BACK), classes="prompt")
        yield BigButton(" / ".join(t(lang, "Finish") for lang in self.voter_languages()), id="finish",
                        variant="default")

    def spoken(self) -> Speech:
        return _said(self.voter_languages(), CARD_PULLED, NOTHING_WRITTEN, PUT_IT_BACK)

    def pressed(self, button: Button) -> None:
        if button.id == "finish":
            self.kiosk.finish_pulled()


class OutOfServiceScreen(KioskScreen):
    """The card service or reader is unavailable: said in the voter's language (all
    three before one is known), with what happened to a ballot being marked."""

    def body(self) -> ComposeResult:
        session = self.kiosk.session
        problem = session.reader_problem or ReaderProblem.NO_SERVICE
        yield Static("⚠", classes="warning-icon")
        for lang in self.voter_languages():
            with Vertical(classes="lang-group"):
                yield Static(t(lang, OUT_OF_SERVICE[problem]), classes="title")
                if session.phase is Phase.CARD_PULLED:
                    yield Static(t(lang, NOTHING_WRITTEN), classes="prompt")
                yield Static(t(lang, POLL_WORKER_FIXES), classes="prompt")
        if session.reader_detail:
            yield Static(session.reader_detail, id="reader-detail", classes="small")

    def spoken(self) -> Speech:
        session = self.kiosk.session
        problem = session.reader_problem or ReaderProblem.NO_SERVICE
        messages = [OUT_OF_SERVICE[problem]]
        if session.phase is Phase.CARD_PULLED:
            messages.append(NOTHING_WRITTEN)
        return _said(self.voter_languages(), *messages, POLL_WORKER_FIXES)


# -- overlays ------------------------------------------------------------------------------


class OverlayScreen(VoterScreen):
    """A screen over the phase's screen (settings, a warning): opaque, so nothing
    under it shows through at low contrast; replaced with it when the phase changes.
    Esc closes it."""

    BINDINGS = [Binding("escape", "close", show=False)]

    def action_close(self) -> None:
        self.dismiss(None)

    def compose(self) -> ComposeResult:
        with Vertical(id="overlay"):
            yield MoreCue("overlay-list", -1)
            with ListScroll(id="overlay-list"):
                yield from self.body()
            yield MoreCue("overlay-list", +1)
        yield Static(t(self.lang, SCREEN_OFF), id="screen-off")

    def body(self) -> ComposeResult:
        yield from ()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.pressed(event.button)

    def pressed(self, button: Button) -> None:
        self.dismiss(None)


class IdleWarningScreen(OverlayScreen):
    """"Are you still there?": any tap or key keeps the choices. Said aloud when it
    opens and again in the last ten seconds."""

    def __init__(self, language: str, seconds: int) -> None:
        super().__init__()
        self.language = language
        self.seconds = seconds
        self._reminded = seconds <= 10

    @property
    def lang(self) -> str:
        return self.language

    def body(self) -> ComposeResult:
        yield Static(t(self.language, "Are you still there?"), classes="title")
        yield Static(self._message(), id="idle-seconds", classes="prompt")
        yield BigButton(t(self.language, "Continue voting"), id="keep")

    def _message(self) -> str:
        return t(self.language, "Your choices will be cleared in {seconds} s.", seconds=self.seconds)

    def spoken(self) -> Speech:
        return [(t(self.language, "Are you still there?") + " " + self._message() + " "
                 + t(self.language, "Press any key to continue voting."), self.language)]

    def update_seconds(self, seconds: int) -> None:
        self.seconds = seconds
        self.query_one("#idle-seconds", Static).update(self._message())
        if seconds <= 10 and not self._reminded:
            self._reminded = True
            self.kiosk.speak(self.spoken())


class SpeechUnavailableScreen(OverlayScreen):
    """Speech was asked for and cannot be given: why, and who can help."""

    SHOW_TOP = True

    def body(self) -> ComposeResult:
        reason = t(self.lang, self.kiosk.speaker.reason)
        yield Static("⚠", classes="warning-icon")
        yield Static(t(self.lang, SPEECH_UNAVAILABLE, reason=reason), classes="title")
        yield Static(t(self.lang, ASK_POLL_WORKER), classes="prompt")
        yield BigButton(t(self.lang, "Continue"), id="ok")


class SettingsScreen(OverlayScreen):
    """Every setting in one place (the bar has the common three); while the terminal
    is idle these are a poll worker's preset for the next card."""

    def body(self) -> ComposeResult:
        lang, s = self.lang, self.kiosk.session.settings
        idle = self.kiosk.session.phase is Phase.IDLE
        yield Static(t(lang, SETTINGS_TITLE[idle]), classes="title")
        yield BigButton("◐ " + t(lang, "Colours: {mode}", mode=t(lang, CONTRAST_NAMES[s.contrast])), id="set-contrast",
                        variant="default")
        yield BigButton("A↕ " + t(lang, "Text size {size} of {count}", size=s.text_size, count=len(TEXT_SIZES)),
                        id="set-size", variant="default")
        speech = t(lang, "Speech on") if s.audio else t(lang, "Speech off")
        yield BigButton(f"♪ {speech}", id="set-speech", variant="default")
        rate = t(lang, "Speech speed {step} of {count}", step=SPEECH_RATES.index(s.rate) + 1, count=len(SPEECH_RATES))
        slower, faster = t(lang, "Slower"), t(lang, "Faster")
        yield BigButton(f"− {slower}  ({rate})", id="set-slower", variant="default")
        yield BigButton(f"+ {faster}  ({rate})", id="set-faster", variant="default")
        volume = t(lang, "Volume {step} of {count}", step=VOLUMES.index(s.volume) + 1, count=len(VOLUMES))
        quieter, louder = t(lang, "Quieter"), t(lang, "Louder")
        yield BigButton(f"− {quieter}  ({volume})", id="set-quieter", variant="default")
        yield BigButton(f"+ {louder}  ({volume})", id="set-louder", variant="default")
        screen = t(lang, "Screen off for privacy") if s.screen_off else t(lang, "Screen on")
        yield BigButton(f"▢ {screen}", id="set-screen", variant="default")
        switches = s.input_mode is InputMode.TWO_SWITCH
        mode = t(lang, "Input: two switches (move, select)") if switches else t(lang, "Input: touch and keys")
        yield BigButton(f"⇄ {mode}", id="set-input", variant="default")
        if s.scan_seconds:
            scan = t(lang, "Automatic scanning: every {seconds} s", seconds=format(s.scan_seconds, "g"))
        else:
            scan = t(lang, "Automatic scanning: off")
        yield BigButton(f"⟳ {scan}", id="set-scan", variant="default")
        yield BigButton(t(lang, "Default settings"), id="set-defaults", variant="warning")
        yield BigButton(t(lang, "Done"), id="done")

    def spoken(self) -> Speech:
        idle = self.kiosk.session.phase is Phase.IDLE
        return [(t(self.lang, SETTINGS_TITLE[idle]) + ". " + self.focused_speech(),
                 self.lang)]

    def pressed(self, button: Button) -> None:
        kiosk, s = self.kiosk, self.kiosk.session.settings
        changes = {
            "set-contrast": lambda: kiosk.change_settings(s.next_contrast()),
            "set-size": lambda: kiosk.change_settings(s.next_text_size()),
            "set-speech": kiosk.action_toggle_speech,
            "set-slower": kiosk.action_slower,
            "set-faster": kiosk.action_faster,
            "set-quieter": kiosk.action_quieter,
            "set-louder": kiosk.action_louder,
            "set-screen": kiosk.action_toggle_screen,
            "set-input": lambda: kiosk.change_settings(s.changed(
                input_mode=InputMode.STANDARD if s.input_mode is InputMode.TWO_SWITCH else InputMode.TWO_SWITCH)),
            "set-scan": lambda: kiosk.change_settings(s.next_scan_step()),
            "set-defaults": kiosk.action_default_settings,
        }
        if button.id in changes:
            focused = button.id
            changes[button.id]()
            if self.is_current:
                self.refresh(recompose=True)
                self.call_after_refresh(self._refocus, focused)
        elif button.id == "done":
            self.dismiss(None)

    def _refocus(self, button_id: str) -> None:
        self.query_one(f"#{button_id}").focus()
        self.kiosk.apply_settings(self)

