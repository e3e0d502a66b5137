"""One screen per phase of the voter's session. Screens only render what the
session says and forward the voter's taps and keys to it; they keep no choice:
the session computes each view on demand and a screen is thrown away when the
phase changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, ProgressBar, Static

from sailau.terminal.i18n import LANGUAGE_NAMES, LANGUAGES, N_, t
from sailau.terminal.session import CardCheck, WriteStep
from sailau.terminal.widgets import AccessBar, BigButton, OptionButton

if TYPE_CHECKING:
    from sailau.terminal.app import KioskApp

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
ACCESS_IDS = {"toggle-contrast", "cycle-size", "toggle-speech"}


class KioskScreen(Screen):
    """Accessibility bar on top, the phase's content below."""

    BINDINGS = [
        Binding("down", "app.focus_next", "Next target", show=False),
        Binding("up", "app.focus_previous", "Previous target", show=False),
    ]

    @property
    def kiosk(self) -> KioskApp:
        return cast("KioskApp", self.app)

    @property
    def lang(self) -> str:
        return self.kiosk.display_language

    def compose(self) -> ComposeResult:
        yield self.kiosk.access_bar()
        with VerticalScroll(id="body", classes=f"phase-{self.__class__.__name__.lower()}"):
            yield from self.body()

    def body(self) -> ComposeResult:
        yield from ()

    def spoken(self) -> str:
        """What to say when the screen opens (speech on)."""
        return ""

    def on_mount(self) -> None:
        for size in (1, 2, 3):
            self.set_class(size == self.kiosk.text_size, f"size-{size}")
        self.kiosk.speak(self.spoken(), self.lang)
        targets = [w for w in self.query("#body Button") if w.focusable]
        if targets:
            self.set_focus(self.first_target(targets))

    def first_target(self, targets: list) -> Button:
        return targets[0]

    def refresh_access_bar(self) -> None:
        app = self.kiosk
        self.query_one(AccessBar).update_state(
            app.display_language, app.contrast, app.text_size, app.speaker.enabled, app.speaker.reason
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


def _trilingual(message: str, classes: str, **fields: object) -> ComposeResult:
    for lang in LANGUAGES:
        yield Static(t(lang, message, **fields), classes=f"{classes} lang-{lang}")


class IdleScreen(KioskScreen):
    def body(self) -> ComposeResult:
        election = self.kiosk.session.config.election
        yield Static(election.name.get("kk"), classes="election-name")
        yield from _trilingual(INSERT_CARD, "prompt")
        yield Static("▭ ⟶ ▣", classes="card-icon")
        yield Static(
            " · ".join(t(lang, "Precinct {number}", number=self.kiosk.session.config.precinct) for lang in LANGUAGES),
            classes="small",
        )

    def spoken(self) -> str:
        return t("kk", INSERT_CARD) + ". " + t("ru", INSERT_CARD)


class ReadingScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield from _trilingual(READING, "prompt")


class RefusedScreen(KioskScreen):
    def body(self) -> ComposeResult:
        check = self.kiosk.session.check or CardCheck.UNREADABLE
        yield Static("⚠", classes="warning-icon")
        for lang in LANGUAGES:
            yield Static(t(lang, REFUSALS[check]), classes=f"refusal lang-{lang}")
        yield from _trilingual(REMOVE_CARD, "prompt")

    def spoken(self) -> str:
        check = self.kiosk.session.check or CardCheck.UNREADABLE
        return t("kk", REFUSALS[check]) + " " + t("ru", REFUSALS[check])


class LanguageScreen(KioskScreen):
    BINDINGS = [
        Binding("1", "choose('kk')", show=False),
        Binding("2", "choose('ru')", show=False),
        Binding("3", "choose('en')", show=False),
    ]

    def body(self) -> ComposeResult:
        session = self.kiosk.session
        if session.check is CardCheck.STILL_ISSUED:
            langs = [session.language] if session.language else list(LANGUAGES)
            for lang in langs:
                yield Static(t(lang, STILL_ISSUED), classes="notice")
        yield from _trilingual(CHOOSE_LANGUAGE, "prompt")
        for number, lang in enumerate(LANGUAGES, start=1):
            yield BigButton(f"{number}.  {LANGUAGE_NAMES[lang]}", id=f"lang-{lang}")

    def spoken(self) -> str:
        return " ".join(f"{n}. {LANGUAGE_NAMES[lang]}" for n, lang in enumerate(LANGUAGES, start=1))

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

    def body(self) -> ComposeResult:
        session = self.kiosk.session
        view = session.contest_view(language=self.lang)
        yield Static(t(self.lang, "Contest {index} of {count}", index=view.index + 1, count=view.count), classes="small")
        yield Static(view.title, classes="title")
        yield Static(t(self.lang, "Mark one choice, then press Next."), classes="instruction")
        with Vertical(id="options"):
            for option in view.options:
                yield OptionButton(option, self.lang, option.choice == view.selected)
        with Horizontal(classes="nav"):
            yield BigButton(t(self.lang, "Back"), id="back", variant="default")
            yield BigButton(t(self.lang, "Next"), id="next")

    def first_target(self, targets: list) -> Button:
        selected = [b for b in targets if b.has_class("-selected")]
        return selected[0] if selected else targets[0]

    def spoken(self) -> str:
        view = self.kiosk.session.contest_view(language=self.lang)
        options = ". ".join(f"{o.position}. {o.label}" for o in view.options)
        return f"{view.title}. {options}."

    def refresh_options(self) -> None:
        view = self.kiosk.session.contest_view(language=self.lang)
        for option in view.options:
            button = self.query_one(f"#option-{option.position}", OptionButton)
            selected = option.choice == view.selected
            button.label = OptionButton.label_for(option, self.lang, selected)
            button.set_class(selected, "-selected")

    def action_pick(self, position: int) -> None:
        view = self.kiosk.session.contest_view(language=self.lang)
        if 1 <= position <= len(view.options):
            self.toggle(view.options[position - 1].choice)
            self.query_one(f"#option-{position}").focus()

    def toggle(self, choice) -> None:
        session = self.kiosk.session
        if session.contest_view().selected == choice:
            session.unselect()
        else:
            session.select(choice)
            self.kiosk.speak(session.choice_label(session.contest_view().id, choice), self.lang)
        self.refresh_options()

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
    BINDINGS = [Binding("escape", "no", show=False)]

    def body(self) -> ComposeResult:
        view = self.kiosk.session.contest_view(language=self.lang)
        yield Static(view.title, classes="title")
        yield Static(t(self.lang, "You have not marked this contest."), classes="prompt")
        yield Static(t(self.lang, "Leave it unmarked? It will be counted as blank."), classes="instruction")
        yield BigButton(t(self.lang, "No, go back and mark it"), id="no")
        yield BigButton(t(self.lang, "Yes, leave it blank"), id="yes", variant="warning")

    def spoken(self) -> str:
        return t(self.lang, "Leave it unmarked? It will be counted as blank.")

    def action_no(self) -> None:
        self.kiosk.cancel_blank()

    def pressed(self, button: Button) -> None:
        if button.id == "yes":
            self.kiosk.confirm_blank()
        elif button.id == "no":
            self.kiosk.cancel_blank()


class ReviewScreen(KioskScreen):
    BINDINGS = [
        Binding("escape", "back", show=False),
        *[Binding(str(n), f"edit({n})", show=False) for n in range(1, 10)],
    ]

    def body(self) -> ComposeResult:
        yield Static(t(self.lang, "Check your ballot"), classes="title")
        yield Static(t(self.lang, "Tap a contest to change it."), classes="instruction")
        with Vertical(id="review"):
            for row in self.kiosk.session.review_rows(self.lang):
                mark = "○" if row.blank else "●"
                button = Button(
                    f"{row.index + 1}. {row.title}\n    {mark} {row.choice_label}",
                    id=f"edit-{row.index}",
                    classes="review-row" + (" -blank" if row.blank else ""),
                )
                yield button
        with Horizontal(classes="nav"):
            yield BigButton(t(self.lang, "Back"), id="back", variant="default")
            yield BigButton(t(self.lang, "Write my ballot to the card"), id="cast", variant="success")

    def first_target(self, targets: list) -> Button:
        return self.query_one("#cast", Button)

    def spoken(self) -> str:
        rows = self.kiosk.session.review_rows(self.lang)
        return ". ".join(f"{r.title}: {r.choice_label}" for r in rows)

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
        elif button.id and button.id.startswith("edit-"):
            self.kiosk.edit(int(button.id.removeprefix("edit-")))


class WritingScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static(t(self.lang, "Writing your ballot to the card."), classes="title")
        yield Static(t(self.lang, "Do not remove the card."), classes="prompt warning")
        yield ProgressBar(total=len(STEP_NUMBER), show_eta=False, id="progress")
        yield Static(t(self.lang, STEPS[WriteStep.SEALING]), id="step", classes="instruction")

    def spoken(self) -> str:
        return t(self.lang, "Do not remove the card.")

    def set_step(self, step: WriteStep) -> None:
        self.query_one("#progress", ProgressBar).update(progress=STEP_NUMBER[step])
        self.query_one("#step", Static).update(t(self.lang, STEPS[step]))


class DoneScreen(KioskScreen):
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

    def spoken(self) -> str:
        code = " ".join(self.kiosk.session.receipt_code or "")
        return t(self.lang, "Your ballot is on the card.") + " " + t(self.lang, "Receipt code") + ": " + code

    def action_continue(self) -> None:
        self.kiosk.acknowledge_receipt()

    def pressed(self, button: Button) -> None:
        if button.id == "continue":
            self.kiosk.acknowledge_receipt()


class TakeCardScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static("▣ ⟶ ☐", classes="card-icon")
        yield Static(t(self.lang, "Take your card to the ballot box."), classes="title")
        yield Static(self.kiosk.session.receipt_code or "", classes="receipt small-receipt")

    def spoken(self) -> str:
        return t(self.lang, "Take your card to the ballot box.")


class InterruptedScreen(KioskScreen):
    def body(self) -> ComposeResult:
        langs = [self.kiosk.session.language] if self.kiosk.session.language else list(LANGUAGES)
        yield Static("⚠", classes="warning-icon")
        for lang in langs:
            yield Static(t(lang, "The card was removed while your ballot was being written."), classes="title")
            yield Static(
                t(lang, "Put the card back in: the terminal will tell you whether your ballot was written."),
                classes="prompt",
            )

    def spoken(self) -> str:
        return t(self.lang, "Put the card back in: the terminal will tell you whether your ballot was written.")


class WriteFailedScreen(KioskScreen):
    def body(self) -> ComposeResult:
        yield Static("⚠", classes="warning-icon")
        yield Static(t(self.lang, "The card did not take your ballot correctly."), classes="title")
        yield Static(t(self.lang, "Do not take this card to the ballot box. Ask a poll worker for help."), classes="prompt")

    def spoken(self) -> str:
        return t(self.lang, "Do not take this card to the ballot box. Ask a poll worker for help.")


class TimedOutScreen(KioskScreen):
    def body(self) -> ComposeResult:
        for lang in LANGUAGES:
            yield Static(t(lang, "Your choices were cleared because there was no activity."), classes="prompt")
        yield BigButton(" / ".join(t(lang, "Start again") for lang in LANGUAGES), id="restart")
        yield from _trilingual(N_("Or take your card back to the registration table."), "small")

    def pressed(self, button: Button) -> None:
        if button.id == "restart":
            self.kiosk.restart()


class IdleWarningScreen(ModalScreen[None]):
    """"Are you still there?": any tap or key keeps the choices."""

    def __init__(self, language: str, seconds: int) -> None:
        super().__init__()
        self.language = language
        self.seconds = seconds

    def compose(self) -> ComposeResult:
        with Vertical(id="idle-warning"):
            yield Static(t(self.language, "Are you still there?"), classes="title")
            yield Static(self._message(), id="idle-seconds", classes="prompt")
            yield BigButton(t(self.language, "Continue voting"), id="keep")

    def _message(self) -> str:
        return t(self.language, "Your choices will be cleared in {seconds} s.", seconds=self.seconds)

    def update_seconds(self, seconds: int) -> None:
        self.seconds = seconds
        self.query_one("#idle-seconds", Static).update(self._message())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)
