"""The kiosk app under Pilot with in-process cards: the whole flow by touch and
by keyboard, every error path, accessibility switches, and snapshots of each
screen (kk/ru/en in the normal theme, each screen once in high contrast)."""

from __future__ import annotations

import time

import pytest

import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import InProcessCardSource
from sailau.terminal.i18n import t
from sailau.terminal.screens import (
    CARD_PULLED,
    NOTHING_WRITTEN,
    PUT_IT_BACK,
    SPEECH_UNAVAILABLE,
    CardPulledScreen,
    ConfirmBlankScreen,
    ContestScreen,
    DoneScreen,
    IdleScreen,
    IdleWarningScreen,
    InterruptedScreen,
    LanguageScreen,
    OutOfServiceScreen,
    RefusedScreen,
    ReviewScreen,
    SettingsScreen,
    SpeechUnavailableScreen,
    TakeCardScreen,
    TimedOutScreen,
    WriteFailedScreen,
    WritingScreen,
)
from sailau.terminal.session import CardCheck, Phase, ReaderProblem, TerminalSession, WriteStep
from sailau.terminal.settings import DEFAULT_SETTINGS, Contrast, VoterSettings
from sailau.terminal.speech import Speaker
from test_terminal_session import CorruptDigest, FakeClock, opened

SIZE = (100, 34)
STYLE = ts.election().precinct(ts.PRECINCT).style
LIST, SMD, MASLIKHAT = (c.id for c in ts.election().contests_for_style(STYLE))


def make_app(speaker: Speaker | None = None, clock: FakeClock | None = None, source=None):
    source = source or InProcessCardSource()
    session = TerminalSession(ts.config(), clock=clock or FakeClock())
    app = KioskApp(session, source, speaker=speaker or Speaker(executable=None, audio=False), idle_poll_seconds=3600)
    return app, source


async def until(pilot, condition, what: str = "condition", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; screen is {type(pilot.app.screen).__name__}")
        await pilot.pause(0.01)


async def on_screen(pilot, screen_type) -> None:
    await until(pilot, lambda: type(pilot.app.screen) is screen_type, screen_type.__name__)
    await pilot.pause()


def rendered_text(app) -> str:
    """What the screen shows, cell by cell, as the compositor drew it (rows joined, blanks squeezed)."""
    rows = ("".join(segment.text for segment in strip) for strip in app.screen._compositor.render_strips())
    return " ".join(" ".join(rows).split())


def text_of(app) -> str:
    """The text of every widget on the screen that is displayed."""
    return " ".join(str(w.render()) for w in app.screen.query("Static, Button") if w.display)


async def to_review(pilot, source, card, language: str, option: str) -> None:
    """Insert `card`, choose the language by its key and the same option (by its key)
    in each of the three contests, and reach the review."""
    source.insert(card)
    await on_screen(pilot, LanguageScreen)
    await pilot.press(language)
    for _ in range(3):
        await pilot.press(option, "right")
    await on_screen(pilot, ReviewScreen)


# -- the flow -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_whole_vote_by_touch() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, IdleScreen)
        assert t("kk", "Insert your ballot card") in text_of(app) and "Insert your ballot card" in text_of(app)
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await pilot.click("#lang-en")
        await on_screen(pilot, ContestScreen)
        assert "Mäjilis, party lists" in text_of(app)
        await pilot.click("#option-1")
        assert app.screen.query_one("#option-1").has_class("-selected")
        await pilot.click("#next")
        await until(pilot, lambda: app.session.contest_index == 1, "second contest")
        await pilot.click("#option-2")
        await pilot.click("#next")
        await until(pilot, lambda: app.session.contest_index == 2, "third contest")
        await pilot.click("#next")  # nothing marked
        await on_screen(pilot, ConfirmBlankScreen)
        await pilot.click("#yes")
        await on_screen(pilot, ReviewScreen)
        assert "Left blank" in text_of(app)
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
        code = app.session.receipt_code
        assert code and code in text_of(app)
        await pilot.click("#continue")
        await on_screen(pilot, TakeCardScreen)
        assert "Take your card to the ballot box." in text_of(app)
        source.remove()
        await on_screen(pilot, IdleScreen)
        assert app.session.receipt_code is None
    assert opened(card) == {LIST: "AMANAT", SMD: ts.election().options(SMD)[1].id, MASLIKHAT: Mark.BLANK}


@pytest.mark.asyncio
async def test_a_whole_vote_by_keyboard_only() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=SIZE) as pilot:
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await pilot.press("2")  # Русский
        await on_screen(pilot, ContestScreen)
        assert app.session.language == "ru"
        await pilot.press("8")  # against all is the 8th on the 2023 list ballot
        await pilot.press("right")
        await until(pilot, lambda: app.session.contest_index == 1, "second contest")
        await pilot.press("escape")  # back to the first contest: the mark is kept
        await until(pilot, lambda: app.session.contest_index == 0 and isinstance(app.screen, ContestScreen), "back")
        assert app.screen.query_one("#option-8").has_class("-selected")
        await pilot.press("right")
        await until(pilot, lambda: app.session.contest_index == 1, "second contest again")
        await pilot.press("down", "down", "enter")  # focus moves from option 1 to option 3, Enter marks it
        assert app.screen.query_one("#option-3").has_class("-selected")
        await pilot.press("right")
        await until(pilot, lambda: app.session.contest_index == 2, "third contest")
        await pilot.press("3", "right")
        await on_screen(pilot, ReviewScreen)
        await pilot.press("enter")  # focus starts on "write my ballot"
        await on_screen(pilot, DoneScreen)
        await pilot.press("enter")
        await on_screen(pilot, TakeCardScreen)
    assert opened(card) == {LIST: Mark.AGAINST_ALL, SMD: ts.election().options(SMD)[2].id, MASLIKHAT: "QHP"}


@pytest.mark.asyncio
async def test_review_tap_changes_one_contest() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=SIZE) as pilot:
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await pilot.press("3")
        await on_screen(pilot, ContestScreen)
        for _ in range(3):
            await pilot.press("1", "right")
            await until(pilot, lambda: not isinstance(app.screen, ContestScreen) or app.session.phase is Phase.CONTEST)
        await on_screen(pilot, ReviewScreen)
        await pilot.click("#edit-1")
        await on_screen(pilot, ContestScreen)
        await pilot.press("3", "right")
        await on_screen(pilot, ReviewScreen)
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
    assert opened(card)[SMD] == ts.election().options(SMD)[2].id


@pytest.mark.parametrize(("make_card", "check"), ts.refused_cards())
@pytest.mark.asyncio
async def test_refused_card_says_why_in_three_languages(make_card, check) -> None:
    from sailau.terminal.screens import REFUSALS

    app, source = make_app()
    card = make_card()
    before = ts.card_data(card)
    async with app.run_test(size=SIZE) as pilot:
        source.insert(card)
        await on_screen(pilot, RefusedScreen)
        shown = text_of(app)
        for lang in ("kk", "ru", "en"):
            assert t(lang, REFUSALS[check]) in shown
        source.remove()
        await on_screen(pilot, IdleScreen)
    assert ts.card_data(card) == before


@pytest.mark.asyncio
async def test_already_voted_card_is_sent_to_the_ballot_box() -> None:
    card = ts.issued_card()
    session = TerminalSession(ts.config())
    session.on_card_inserted(ts.slot(card).client)
    session.vote({})
    session.cast()
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.insert(card)
        await on_screen(pilot, RefusedScreen)
        assert "A ballot is already written on this card. Take it to the ballot box." in text_of(app)


@pytest.mark.asyncio
async def test_removing_the_card_mid_vote_says_so_in_the_voter_s_language_with_nothing_kept() -> None:
    app, source = make_app()
    async with app.run_test(size=SIZE) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("2", "1")
        await until(pilot, lambda: app.session.holds_choices, "a mark")
        source.remove()
        await on_screen(pilot, CardPulledScreen)
        assert not app.session.holds_choices and not app.query(ContestScreen)
        shown = text_of(app)
        for message in (CARD_PULLED, NOTHING_WRITTEN, PUT_IT_BACK):
            assert t("ru", message) in shown
        assert t("en", CARD_PULLED) not in shown  # the voter chose Russian: only Russian
        await pilot.click("#finish")
        await on_screen(pilot, IdleScreen)
        assert app.session.language is None


@pytest.mark.asyncio
async def test_card_torn_during_the_write_then_still_issued_vote_again() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot, source, card, "3", "2")
        card.tear_after_bytes = 0
        await pilot.click("#cast")
        await on_screen(pilot, InterruptedScreen)
        assert "The card was removed while your ballot was being written." in text_of(app)
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        assert app.session.check is CardCheck.STILL_ISSUED
        assert t("en", "Your ballot was not written: the card is still unused. Please vote again.") in text_of(app)


@pytest.mark.asyncio
async def test_card_torn_after_the_commit_shows_the_receipt_and_sends_it_to_the_box() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot, source, card, "2", "1")
        # tear once the record is committed (the card dies before it answers). Not a byte
        # count found on another card: the journal's size depends on the random record.
        card.store.tear_after_commit = True
        await pilot.click("#cast")
        await on_screen(pilot, InterruptedScreen)
        source.insert(card)
        await on_screen(pilot, DoneScreen)
        shown = text_of(app)
        assert t("ru", "Your ballot was written completely before the card was removed.") in shown
        assert app.session.receipt_code in shown
    assert opened(card)[LIST] == "AMANAT"


@pytest.mark.asyncio
async def test_a_bad_write_digest_says_do_not_take_the_card_to_the_box() -> None:
    source = InProcessCardSource()
    source.transport = CorruptDigest()
    source.client.transport = source.transport
    app, _ = make_app(source=source)
    async with app.run_test(size=SIZE) as pilot:
        await to_review(pilot, source, ts.issued_card(), "3", "1")
        await pilot.click("#cast")
        await on_screen(pilot, WriteFailedScreen)
        assert "Do not take this card to the ballot box." in text_of(app)
        assert not app.session.holds_choices


@pytest.mark.asyncio
async def test_idle_warning_then_timeout_clears_choices() -> None:
    clock = FakeClock()
    app, source = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("1", "1")
        await until(pilot, lambda: app.session.holds_choices, "a mark")
        clock.now += 95
        app.tick_idle()
        await on_screen(pilot, IdleWarningScreen)
        assert t("kk", "Your choices will be cleared in {seconds} s.", seconds=25) in text_of(app)
        await pilot.click("#keep")
        await on_screen(pilot, ContestScreen)
        assert app.session.holds_choices
        clock.now += 200
        app.tick_idle()
        await on_screen(pilot, TimedOutScreen)
        assert not app.session.holds_choices
        await pilot.click("#restart")
        await on_screen(pilot, LanguageScreen)


@pytest.mark.asyncio
async def test_any_key_restarts_the_idle_timer() -> None:
    clock = FakeClock()
    app, source = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("1")
        clock.now += 100
        await pilot.press("down")
        app.tick_idle()
        await pilot.pause()
        assert isinstance(app.screen, ContestScreen)


@pytest.mark.asyncio
async def test_accessibility_switches_any_time_and_reset_for_the_next_voter() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=SIZE) as pilot:
        reason = t("kk", "espeak-ng is not installed")
        assert t("kk", "Audio unavailable: {reason}", reason=reason) in text_of(app)  # the poll worker sees it
        await pilot.click("#toggle-contrast")
        assert app.theme == "sailau-high-light"
        await pilot.press("f3")
        await pilot.click("#cycle-size")
        assert app.session.settings.text_size == 3 and app.screen.has_class("size-3")
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        assert app.screen.has_class("size-3") and app.theme == "sailau-high-light"
        await pilot.press("3")
        await on_screen(pilot, ContestScreen)
        assert "Black on white" in text_of(app) and "Text size 3 of 4" in text_of(app)
        height = app.screen.query_one("#option-1").size.height
        await pilot.press("f3", "f3")  # 4, then round to 1: smaller targets
        assert app.session.settings.text_size == 1
        assert app.screen.query_one("#option-1").size.height < height
        assert "Speech unavailable" in text_of(app)
        await pilot.press("f4")
        await on_screen(pilot, SpeechUnavailableScreen)
        assert t("en", SPEECH_UNAVAILABLE, reason="espeak-ng is not installed") in text_of(app)
        assert not app.session.settings.audio
        await pilot.press("enter")
        await on_screen(pilot, ContestScreen)
        await pilot.press("f2")
        for _ in range(3):
            await pilot.press("1", "right")
            await until(pilot, lambda: not isinstance(app.screen, ContestScreen) or app.session.phase is Phase.CONTEST)
        await on_screen(pilot, ReviewScreen)
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
        source.remove()
        await on_screen(pilot, IdleScreen)
        assert app.theme == "sailau-normal" and app.session.settings == DEFAULT_SETTINGS
        assert app.screen.has_class("size-1")


class Recorder:
    """Stands in for espeak-ng: keeps each command and what it read on stdin."""

    spoken: list[tuple[list[str], bytes]] = []

    def __init__(self, command, **kwargs):
        self.command = command
        self.stdin = self
        self._data = b""

    def write(self, data: bytes) -> None:
        self._data += data

    def close(self) -> None:
        Recorder.spoken.append((self.command, self._data))

    def poll(self):
        return 0


@pytest.mark.asyncio
async def test_speech_goes_to_espeak_ng_on_stdin_in_the_voter_s_voice() -> None:
    Recorder.spoken = []
    speaker = Speaker(executable="/usr/bin/espeak-ng", audio=True, runner=Recorder)
    app, source = make_app(speaker=speaker)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        assert app.session.settings.audio and t("kk", "Speech on") in text_of(app)
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("2")
        await on_screen(pilot, ContestScreen)
        await until(pilot, lambda: any("Мажилис" in data.decode() for _, data in Recorder.spoken), "a Russian prompt")
        command, data = [(c, d) for c, d in Recorder.spoken if "Мажилис" in d.decode()][-1]
        assert command == ["/usr/bin/espeak-ng", "-m", "-v", "ru", "-s", "160", "-a", "100"]
        assert all("Мажилис" not in word for word in command)  # the text is not on the command line
        assert data.decode().startswith('<speak><voice name="ru">')


def test_espeak_ng_speaks_kazakh_to_a_wav_file(tmp_path) -> None:
    """The real espeak-ng, rendering to a WAV file instead of a sound card."""
    heard = []
    speaker = Speaker.to_wav(tmp_path, listener=lambda u, wav: heard.append((u, wav)))
    assert speaker.available, speaker.reason
    assert speaker.say([("Бюллетень карточкасын салыңыз", "kk")])
    (utterance, wav), = heard
    assert utterance.languages == ("kk",) and wav.read_bytes()[:4] == b"RIFF" and wav.stat().st_size > 10_000


def test_audio_detection(tmp_path) -> None:
    assert Speaker.detect(environ={}, dev=tmp_path / "none").reason == "no audio output device"
    (tmp_path / "snd").mkdir()
    (tmp_path / "snd" / "pcmC0D0p").touch()
    assert Speaker.detect(environ={}, dev=tmp_path / "snd").audio
    assert Speaker.detect(environ={"PULSE_SERVER": "unix:/x"}, dev=tmp_path / "none").audio
    assert Speaker.detect().missing_voices == ()  # tools/setup.sh installs espeak-ng-data with kk, ru, en


# -- snapshots ------------------------------------------------------------------------

RECEIPT = "K7Q2-M9XD-4A"


async def _to_contest(pilot, lang: str) -> None:
    app = pilot.app
    app.source.insert(ts.issued_card())
    await on_screen(pilot, LanguageScreen)
    await pilot.press(str(("kk", "ru", "en").index(lang) + 1))
    await on_screen(pilot, ContestScreen)


async def _review(pilot, lang: str) -> None:
    await _to_contest(pilot, lang)
    await pilot.press("1", "right")
    await until(pilot, lambda: pilot.app.session.contest_index == 1)
    await pilot.press("2", "right")
    await until(pilot, lambda: pilot.app.session.contest_index == 2)
    await pilot.press("right")
    await on_screen(pilot, ConfirmBlankScreen)
    await pilot.click("#yes")
    await on_screen(pilot, ReviewScreen)


async def _done(pilot, lang: str) -> None:
    await _review(pilot, lang)
    await pilot.click("#cast")
    await on_screen(pilot, DoneScreen)
    pilot.app.session.receipt_code = RECEIPT  # the real code is random: pin it for the picture
    pilot.app.show_phase()
    await pilot.pause()


async def _snap_idle(pilot, lang):
    await pilot.pause()


async def _snap_refused(pilot, lang):
    pilot.app.source.insert(ts.issued_card(precinct=ts.OTHER_PRECINCT_SAME_STYLE))
    await on_screen(pilot, RefusedScreen)


async def _snap_language(pilot, lang):
    pilot.app.source.insert(ts.issued_card())
    await on_screen(pilot, LanguageScreen)


async def _snap_contest(pilot, lang):
    await _to_contest(pilot, lang)
    await pilot.press("2")


async def _snap_blank(pilot, lang):
    await _to_contest(pilot, lang)
    await pilot.press("right")
    await on_screen(pilot, ConfirmBlankScreen)


async def _snap_review(pilot, lang):
    await _review(pilot, lang)


async def _snap_writing(pilot, lang):
    await _review(pilot, lang)
    pilot.app._switch(WritingScreen())  # the real write is too quick to photograph
    await on_screen(pilot, WritingScreen)
    pilot.app.screen.set_step(WriteStep.WRITING)
    await pilot.pause()


async def _snap_done(pilot, lang):
    await _done(pilot, lang)


async def _snap_take_card(pilot, lang):
    await _done(pilot, lang)
    await pilot.click("#continue")
    await on_screen(pilot, TakeCardScreen)


async def _snap_interrupted(pilot, lang):
    await _review(pilot, lang)
    pilot.app.source.transport.card.tear_after_bytes = 0
    await pilot.click("#cast")
    await on_screen(pilot, InterruptedScreen)


async def _idle_on_a_contest(pilot, lang: str, seconds: int, screen_type) -> None:
    """On the first contest, nobody touches the kiosk for `seconds`: `screen_type` shows."""
    await _to_contest(pilot, lang)
    pilot.app.session.clock.now += seconds
    pilot.app.tick_idle()
    await on_screen(pilot, screen_type)


async def _snap_timed_out(pilot, lang):
    await _idle_on_a_contest(pilot, lang, 500, TimedOutScreen)


async def _snap_idle_warning(pilot, lang):
    await _idle_on_a_contest(pilot, lang, 100, IdleWarningScreen)


async def _snap_card_pulled(pilot, lang):
    await _to_contest(pilot, lang)
    await pilot.press("2")
    pilot.app.source.remove()
    await on_screen(pilot, CardPulledScreen)


async def _reader_fails(pilot, problem: ReaderProblem, detail: str) -> None:
    """The card source reports `problem`; the kiosk checks its reader and is out of service."""
    pilot.app.source.fail(problem, detail)
    pilot.app.check_reader()
    await on_screen(pilot, OutOfServiceScreen)


async def _snap_out_of_service(pilot, lang):
    await _to_contest(pilot, lang)
    await _reader_fails(pilot, ReaderProblem.NO_SERVICE, "pcscd is not running: Service not available. (0x8010001D)")


async def _snap_no_reader_idle(pilot, lang):
    await _reader_fails(pilot, ReaderProblem.NO_READER, "no reader 'Virtual PCD 00 01'; readers present: none")


async def _snap_settings(pilot, lang):
    await _to_contest(pilot, lang)
    await pilot.press("f8")
    await on_screen(pilot, SettingsScreen)


async def _snap_speech_unavailable(pilot, lang):
    await _to_contest(pilot, lang)
    await pilot.press("f4")
    await on_screen(pilot, SpeechUnavailableScreen)


SCREENS = {
    "idle": (_snap_idle, False),  # False: the same in every language (shown in all three)
    "refused": (_snap_refused, False),
    "language": (_snap_language, False),
    "no_reader": (_snap_no_reader_idle, False),
    "contest": (_snap_contest, True),
    "confirm_blank": (_snap_blank, True),
    "review": (_snap_review, True),
    "writing": (_snap_writing, True),
    "done": (_snap_done, True),
    "take_card": (_snap_take_card, True),
    "interrupted": (_snap_interrupted, True),
    "timed_out": (_snap_timed_out, True),
    "idle_warning": (_snap_idle_warning, True),
    "card_pulled": (_snap_card_pulled, True),
    "out_of_service": (_snap_out_of_service, True),
    "settings": (_snap_settings, True),
    "speech_unavailable": (_snap_speech_unavailable, True),
}
#: Every screen in each language (normal colours, text size 1); every screen once in
#: Russian high contrast dark; the voter's main screens in every colour mode; the
#: contest at every text size, and at the largest size on the browser's 28 px grid.
MODE_SCREENS = ("idle", "contest", "review", "done", "settings", "card_pulled")
CASES = (
    [pytest.param(name, lang, Contrast.NORMAL, 1, SIZE, id=f"{name}-{lang}")
     for name, (_, per_language) in SCREENS.items() for lang in (("kk", "ru", "en") if per_language else ("kk",))]
    + [pytest.param(name, "ru", Contrast.HIGH_DARK, 1, SIZE, id=f"{name}-ru-high_dark") for name in SCREENS]
    + [pytest.param(name, "ru", mode, 1, SIZE, id=f"{name}-ru-{mode.value}")
       for mode in (Contrast.HIGH_LIGHT, Contrast.LOW_GLARE) for name in MODE_SCREENS]
    + [pytest.param("contest", "en", Contrast.NORMAL, size, SIZE, id=f"contest-en-size{size}") for size in (2, 3, 4)]
    + [pytest.param("review", "en", Contrast.NORMAL, 4, SIZE, id="review-en-size4")]
    + [pytest.param("contest", "en", Contrast.NORMAL, 4, (76, 22), id="contest-en-size4-browser28px"),
       pytest.param("language", "en", Contrast.HIGH_DARK, 4, (76, 22), id="language-size4-browser28px-high_dark")]
)


@pytest.mark.parametrize(("screen", "lang", "mode", "size", "grid"), CASES)
def test_snapshot(snap_compare, screen: str, lang: str, mode: Contrast, size: int, grid) -> None:
    drive, _ = SCREENS[screen]
    app, _source = make_app()
    app.session.apply(VoterSettings(contrast=mode, text_size=size))  # a poll worker's preset

    async def run_before(pilot) -> None:
        await drive(pilot, lang)
        await pilot.pause()

    assert snap_compare(app, terminal_size=grid, run_before=run_before)


def test_snapshot_of_the_screen_turned_off_for_privacy(snap_compare) -> None:
    app, _source = make_app(speaker=Speaker(executable="/usr/bin/espeak-ng", audio=True, runner=Recorder))

    async def run_before(pilot) -> None:
        await _to_contest(pilot, "ru")
        await pilot.press("f4", "2", "full_stop")
        await until(pilot, lambda: app.screen.has_class("-screen-off"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


# -- catalogs ---------------------------------------------------------------------------


def test_catalogs_translate_every_message_and_the_mo_files_are_current() -> None:
    """The .mo is current when it holds the .po's messages: compared message by message,
    never by the bytes one Babel release writes (they differ in the Generated-By header)."""
    import re

    from babel.messages.mofile import read_mo

    from sailau.terminal.catalogs import extract, po_path, read_po

    ids = extract()
    assert "Insert your ballot card" in ids and "Against all" in ids
    for lang in ("kk", "ru", "en"):
        catalog = read_po(lang)
        for msgid in ids:
            entry = catalog.get(msgid)
            assert entry is not None and entry.string, f"{lang}: no translation of {msgid!r}"
            fields = lambda text: sorted(re.findall(r"\{\w+\}", text))  # noqa: E731
            assert fields(entry.string) == fields(msgid), f"{lang}: placeholders differ in {msgid!r}"
            if lang != "en":
                assert entry.string != msgid or msgid.startswith("No. "), f"{lang}: {msgid!r} left in English"
        with po_path(lang).with_suffix(".mo").open("rb") as f:
            compiled = read_mo(f)
        messages = lambda cat: {m.id: m.string for m in cat if m.id}  # noqa: E731
        assert messages(compiled) == messages(catalog), f"{lang}: the .mo is older than the .po: recompile it"
