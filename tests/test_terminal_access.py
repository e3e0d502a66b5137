"""Accessibility of the booth kiosk under Pilot, as VVSG 2.0 asks of a ballot-marking
device: every colour mode checked by contrast ratios computed from the colours the
compositor rendered (WCAG 2.x formula), every option of the longest shipped ballot
reachable at every text size and colour mode (in the terminal and at the browser's
grid), a list that hides options always says so, the poll worker's preset, the
voter's reset, failures (no card service, no reader, no audio, a pulled card) shown
in the voter's language, the idle warning, and snapshots of each colour mode and
size. The audio ballot and the two-switch ballot have files of their own
(test_terminal_audio.py, test_terminal_switch.py)."""

from __future__ import annotations

import unicodedata

import pytest
from rich.cells import cell_len

import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.terminal.i18n import t
from sailau.terminal.screens import (
    NOTHING_WRITTEN,
    OUT_OF_SERVICE,
    POLL_WORKER_FIXES,
    CardPulledScreen,
    ConfirmBlankScreen,
    ContestScreen,
    DoneScreen,
    IdleScreen,
    IdleWarningScreen,
    LanguageScreen,
    OutOfServiceScreen,
    RefusedScreen,
    ReviewScreen,
    SettingsScreen,
    SpeechUnavailableScreen,
    TakeCardScreen,
)
from sailau.terminal.session import Phase, ReaderProblem
from sailau.terminal.settings import DEFAULT_SETTINGS, TEXT_SIZES, Contrast, VoterSettings
from sailau.terminal.themes import (
    LOW_GLARE_MAX_LUMINANCE,
    MIN_OUTLINE_CONTRAST,
    MIN_TEXT_CONTRAST,
    THEMES,
    contrast_ratio,
    relative_luminance,
)
from sailau.terminal.widgets import ListScroll, MoreCue, OptionButton, Target
from test_terminal_app import FakeClock, make_app, on_screen, text_of, until
from test_terminal_session import opened

STYLE = ts.election().precinct(ts.PRECINCT).style
LIST, SMD, MASLIKHAT = (c.id for c in ts.election().contests_for_style(STYLE))
#: Terminal grids: the pytest default, a small laptop terminal, and what the kiosk
#: browser shows in a 1280x900 window with ?fontsize=28 (measured in test_terminal_browser.py).
GRIDS = {"100x34": (100, 34), "80x24": (80, 24), "browser-28px": (76, 22)}
BROWSER_GRID = GRIDS["browser-28px"]


# -- what the compositor rendered -------------------------------------------------------


def _hex(color) -> tuple[int, int, int]:
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def _is_line_art(char: str) -> bool:
    """Box drawing and block elements: borders, scroll bars, the progress bar."""
    return 0x2500 <= ord(char) <= 0x259F


def rendered_cells(app):
    """Every cell of the screen as (x, y, char, fg, bg, style) from the compositor's strips."""
    cells = []
    for y, strip in enumerate(app.screen._compositor.render_strips()):
        x = 0
        for segment in strip:
            style = segment.style
            for char in segment.text:
                width = cell_len(char)
                fg = _hex(style.color) if style and style.color else None
                bg = _hex(style.bgcolor) if style and style.bgcolor else None
                cells.append((x, y, char, fg, bg, style))
                x += width
    return cells


def contrast_failures(app, mode: Contrast) -> list[str]:
    """Text below the mode's contrast, line art (borders, bars) below 3:1, dimmed text,
    and (low glare) any colour brighter than the mode allows."""
    failures = []
    background = _hex_str(THEMES[mode].background)
    for x, y, char, fg, bg, style in rendered_cells(app):
        where = f"({x},{y}) {char!r}"
        bg = bg or background
        if style is not None and style.dim:
            failures.append(f"{where}: dimmed (its colour on screen is the terminal's guess)")
        if mode is Contrast.LOW_GLARE and relative_luminance(bg) > LOW_GLARE_MAX_LUMINANCE:
            failures.append(f"{where}: background {bg} too bright for low glare")
        if char.isspace() or fg is None:
            continue
        ratio = contrast_ratio(fg, bg)
        if mode is Contrast.LOW_GLARE and relative_luminance(fg) > LOW_GLARE_MAX_LUMINANCE:
            failures.append(f"{where}: colour {fg} too bright for low glare")
        if _is_line_art(char):
            if fg != bg and ratio < MIN_OUTLINE_CONTRAST:
                failures.append(f"{where}: line {fg} on {bg} is {ratio:.2f}:1 < {MIN_OUTLINE_CONTRAST}:1")
        elif unicodedata.category(char)[0] in "LNPS" and ratio < MIN_TEXT_CONTRAST[mode]:
            failures.append(f"{where}: text {fg} on {bg} is {ratio:.2f}:1 < {MIN_TEXT_CONTRAST[mode]}:1")
    return failures


def _hex_str(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return tuple(int(value[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def outline_failures(app, mode: Contrast) -> list[str]:
    """Every target on screen must stand out from the screen's background by 3:1 at its
    edge, by its border or by its fill (the old high contrast theme lost both)."""
    background = _hex_str(THEMES[mode].background)
    cells = {(x, y): (char, fg, bg) for x, y, char, fg, bg, _ in rendered_cells(app)}
    failures = []
    width, height = app.size
    for target in app.screen.query(Target):
        region = target.region
        if not target.display or not region or region.right > width or region.bottom > height or region.y < 0:
            continue
        lists = [a for a in target.ancestors if isinstance(a, ListScroll)]
        if lists and not _wholly_visible(lists[0], target):
            continue  # scrolled out of sight (its cue says so)
        edge = [(x, region.y) for x in range(region.x, region.right)]
        edge += [(x, region.bottom - 1) for x in range(region.x, region.right)]
        edge += [(region.x, y) for y in range(region.y, region.bottom)]
        edge += [(region.right - 1, y) for y in range(region.y, region.bottom)]
        colours = set()
        for point in edge:
            if point not in cells:
                continue
            char, fg, bg = cells[point]
            colours.add(bg or background)
            if fg is not None and _is_line_art(char):
                colours.add(fg)
        best = max((contrast_ratio(c, background) for c in colours), default=1.0)
        if best < MIN_OUTLINE_CONTRAST:
            failures.append(f"{target.id or type(target).__name__}: edge at best {best:.2f}:1 against the background")
    return failures


# -- the WCAG formula itself ------------------------------------------------------------------


def test_wcag_contrast_formula_gives_the_known_values() -> None:
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (255, 255, 255)) == pytest.approx(1.0)
    assert contrast_ratio((0x77, 0x77, 0x77), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)  # the AA edge
    assert contrast_ratio((255, 255, 0), (0, 0, 0)) == pytest.approx(19.56, abs=0.01)
    assert relative_luminance((255, 255, 255)) == pytest.approx(1.0)


# -- every colour mode on every screen ------------------------------------------------------------


async def _screens(pilot):
    """Drive the kiosk through every screen kind; yield each one's name once it shows."""
    app, source = pilot.app, pilot.app.source
    preset = app.session.settings
    await pilot.pause()
    yield "idle"
    await pilot.press("f8")
    await on_screen(pilot, SettingsScreen)
    yield "settings"
    await pilot.press("escape")
    await on_screen(pilot, IdleScreen)
    source.insert(ts.issued_card(precinct=ts.OTHER_PRECINCT_SAME_STYLE))
    await on_screen(pilot, RefusedScreen)
    yield "refused"
    source.remove()
    await on_screen(pilot, IdleScreen)
    card = ts.issued_card()
    source.insert(card)
    await on_screen(pilot, LanguageScreen)
    yield "language"
    await pilot.press("2")
    await on_screen(pilot, ContestScreen)
    await pilot.press("3")
    yield "contest"
    await pilot.press("right")
    await until(pilot, lambda: app.session.contest_index == 1)
    await on_screen(pilot, ContestScreen)
    await pilot.press("right")
    await on_screen(pilot, ConfirmBlankScreen)
    yield "confirm_blank"
    await pilot.press("escape")
    await on_screen(pilot, ContestScreen)
    app.session.clock.now += 100
    app.tick_idle()
    await on_screen(pilot, IdleWarningScreen)
    yield "idle_warning"
    await pilot.press("enter")
    await on_screen(pilot, ContestScreen)
    await pilot.press("1", "right")
    await until(pilot, lambda: app.session.contest_index == 2)
    await pilot.press("1", "right")
    await on_screen(pilot, ReviewScreen)
    yield "review"
    await pilot.press("f4")
    await on_screen(pilot, SpeechUnavailableScreen)
    yield "speech_unavailable"
    await pilot.press("enter")
    await on_screen(pilot, ReviewScreen)
    await pilot.click("#cast")
    await on_screen(pilot, DoneScreen)
    yield "done"
    await pilot.press("enter")
    await on_screen(pilot, TakeCardScreen)
    yield "take_card"
    source.remove()
    await on_screen(pilot, IdleScreen)
    app.session.apply(preset)  # the card left: the poll worker presets the mode again
    app.apply_settings()
    source.insert(ts.issued_card())
    await on_screen(pilot, LanguageScreen)
    await pilot.press("2", "1")
    source.remove()
    await on_screen(pilot, CardPulledScreen)
    yield "card_pulled"
    source.fail(ReaderProblem.NO_SERVICE, "pcscd is not running: Service not available. (0x8010001D)")
    app.check_reader()
    await on_screen(pilot, OutOfServiceScreen)
    yield "out_of_service"


@pytest.mark.parametrize("mode", list(Contrast), ids=[m.value for m in Contrast])
@pytest.mark.asyncio
async def test_every_screen_meets_its_colour_mode_s_contrast(mode: Contrast) -> None:
    app, source = make_app(clock=FakeClock())
    app.session.apply(VoterSettings(contrast=mode))
    seen = []
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        async for name in _screens(pilot):
            await pilot.pause()
            assert app.theme == THEMES[mode].name, (name, app.session.settings, app.session.phase)
            failures = contrast_failures(app, mode) + outline_failures(app, mode)
            assert not failures, f"{mode} {name}: {len(failures)} cells fail, e.g. {failures[:5]}"
            seen.append(name)
    assert len(seen) == 13


@pytest.mark.asyncio
async def test_the_old_high_contrast_lost_outlines_and_greyed_hints_are_caught() -> None:
    """The checks fail on what the issue saw: grey hint text and outlines in the
    background's own colour (the test has teeth)."""
    from textual.theme import Theme

    app, source = make_app()
    broken = Theme(name="broken", primary="#ffff00", foreground="#ffffff", background="#000000",
                   surface="#000000", panel="#000000", dark=True,
                   variables={**THEMES[Contrast.HIGH_DARK].variables, "hint": "#8a8a8a", "outline": "#000000"})
    app.register_theme(broken)
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("3")
        await on_screen(pilot, ContestScreen)
        app.theme = "broken"
        await pilot.pause()
        text = contrast_failures(app, Contrast.HIGH_DARK)
        edges = outline_failures(app, Contrast.HIGH_DARK)
        assert any("text (138, 138, 138) on (0, 0, 0)" in f for f in text), text[:3]
        assert any(f.startswith("option-2:") for f in edges), edges


# -- every option reachable at every size ------------------------------------------------------


def _wholly_visible(scroll: ListScroll, widget) -> bool:
    window = scroll.scrollable_content_region
    region = widget.region
    return window.y <= region.y and region.bottom <= window.bottom


def _cue_counts(screen) -> tuple[int, int]:
    above = below = 0
    for cue in screen.query(MoreCue):
        if cue.shown and cue.direction < 0:
            above = cue.count
        elif cue.shown:
            below = cue.count
    return above, below


async def _reach_and_pick(pilot, position: int) -> None:
    """As a touch voter: look at the screen; if the option is not wholly visible a cue
    must say how many are hidden on its side; tap the cue until it shows; tap it."""
    screen = pilot.app.screen
    scroll = screen.query_one("#options", ListScroll)
    options = list(screen.query(OptionButton))
    for _ in range(len(options)):
        await pilot.pause()
        hidden_above = sum(1 for o in options if o.region.y < scroll.scrollable_content_region.y)
        hidden_below = sum(1 for o in options if o.region.bottom > scroll.scrollable_content_region.bottom)
        assert _cue_counts(screen) == (hidden_above, hidden_below), "a hidden option without its cue"
        target = screen.query_one(f"#option-{position}", OptionButton)
        if _wholly_visible(scroll, target):
            break
        cue = "#more-below" if target.region.bottom > scroll.scrollable_content_region.bottom else "#more-above"
        assert screen.query_one(cue).shown
        await pilot.click(cue)
    else:
        raise AssertionError(f"option {position} never came into view")
    await pilot.click(f"#option-{position}")
    await until(pilot, lambda: pilot.app.screen.query_one(f"#option-{position}").has_class("-selected"))


def _nav_visible(app) -> bool:
    width, height = app.size
    return all(0 <= b.region.y and b.region.bottom <= height for b in app.screen.query(".nav Target"))


CHOSEN = {LIST: 8, SMD: 4, MASLIKHAT: 7}  # the last option of each contest: the hardest to reach


@pytest.mark.parametrize("size", TEXT_SIZES)
@pytest.mark.parametrize("grid", list(GRIDS), ids=list(GRIDS))
@pytest.mark.asyncio
async def test_the_whole_ballot_is_usable_at_every_text_size(grid: str, size: int) -> None:
    """The longest shipped ballot (2023: 8, 4 and 7 options): every contest's last
    option reached by touch through the cues, Back and Next always on screen, every
    review row reachable, the ballot written."""
    app, source = make_app()
    app.session.apply(VoterSettings(text_size=size))
    card = ts.issued_card()
    async with app.run_test(size=GRIDS[grid]) as pilot:
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await pilot.press("3")
        for contest in (LIST, SMD, MASLIKHAT):
            await on_screen(pilot, ContestScreen)
            assert _nav_visible(app), "Back/Next pushed off the screen"
            await _reach_and_pick(pilot, CHOSEN[contest])
            await pilot.click("#next")
            await until(pilot, lambda: app.session.phase is not Phase.CONTEST or
                        app.session.contest_view().id != contest)
        await on_screen(pilot, ReviewScreen)
        assert _nav_visible(app)
        scroll = app.screen.query_one("#review", ListScroll)
        for row in app.screen.query(".review-row"):
            row.focus()
            await until(pilot, lambda: _wholly_visible(scroll, row), f"{row.id} in view")
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
    cast = opened(card)
    assert cast[LIST] is Mark.AGAINST_ALL and cast[SMD] is Mark.AGAINST_ALL and cast[MASLIKHAT] is Mark.AGAINST_ALL


@pytest.mark.parametrize("mode", list(Contrast), ids=[m.value for m in Contrast])
@pytest.mark.parametrize("size", TEXT_SIZES)
@pytest.mark.asyncio
async def test_every_option_is_reachable_by_keys_in_every_mode_at_the_browser_s_size(mode: Contrast, size: int) -> None:
    """Down from the first option to the last: each one is wholly on screen when it
    has the focus, and the cue below counts exactly the options still out of sight."""
    app, source = make_app()
    app.session.apply(VoterSettings(text_size=size, contrast=mode))
    async with app.run_test(size=BROWSER_GRID) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("1")
        await on_screen(pilot, ContestScreen)
        scroll = app.screen.query_one("#options", ListScroll)
        options = list(app.screen.query(OptionButton))
        assert len(options) == 8
        for i, option in enumerate(options):
            if i:
                await pilot.press("down")
            await until(pilot, lambda: app.screen.focused is option and _wholly_visible(scroll, option),
                        f"option {i + 1} focused and in view")
            below = sum(1 for o in options if o.region.bottom > scroll.scrollable_content_region.bottom)
            assert _cue_counts(app.screen)[1] == below
        assert not contrast_failures(app, mode) and not outline_failures(app, mode)


@pytest.mark.asyncio
async def test_the_cue_is_spoken_and_says_how_to_reach_the_rest() -> None:
    from test_terminal_app import Recorder
    from sailau.terminal.speech import Speaker

    Recorder.spoken = []
    app, source = make_app(speaker=Speaker(executable="/usr/bin/espeak-ng", audio=True, runner=Recorder))
    app.session.apply(VoterSettings(text_size=4, audio=True))
    async with app.run_test(size=BROWSER_GRID) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("2")
        await on_screen(pilot, ContestScreen)
        below = _cue_counts(app.screen)[1]
        assert below >= 5
        said = t("ru", "▼ Below: {count} more. Press ↓ or tap here.", count=below)
        assert said in text_of(app)
        await until(pilot, lambda: any(said in data.decode() for _, data in Recorder.spoken), "the spoken cue")


# -- settings per voter -------------------------------------------------------------------------


async def tap(pilot, selector: str) -> None:
    """Bring a target into view (as the cue or a swipe would) and tap it."""
    widget = pilot.app.screen.query_one(selector)
    widget.scroll_visible(animate=False)
    await pilot.pause()
    await pilot.click(selector)


@pytest.mark.asyncio
async def test_a_poll_worker_presets_the_next_voter_on_the_settings_screen() -> None:
    app, source = make_app()
    card = ts.issued_card()
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        await pilot.press("f8")
        await on_screen(pilot, SettingsScreen)
        assert t("kk", "Settings for the next voter") in text_of(app)
        await tap(pilot, "#set-size")
        await tap(pilot, "#set-size")
        await tap(pilot, "#set-contrast")
        await tap(pilot, "#set-input")
        await tap(pilot, "#done")
        await on_screen(pilot, IdleScreen)
        preset = app.session.settings
        assert (preset.text_size, preset.contrast, preset.input_mode.value) == (3, Contrast.HIGH_LIGHT, "two_switch")
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        assert app.screen.has_class("size-3") and app.theme == "sailau-high-light" and app.screen.has_class("-switches")
        await pilot.press("3")
        await on_screen(pilot, ContestScreen)
        await pilot.press("2", "f8")
        await on_screen(pilot, SettingsScreen)
        assert "Settings" in text_of(app) and "Settings for the next voter" not in text_of(app)
        await tap(pilot, "#set-defaults")  # the voter's own reset: VVSG 7.1-B
        await pilot.pause()
        assert app.session.settings == VoterSettings(language="en") and app.theme == "sailau-normal"
        await tap(pilot, "#done")
        await on_screen(pilot, ContestScreen)
        assert app.screen.query_one("#option-2").has_class("-selected")  # the choice survived the reset
        for _ in range(3):
            await pilot.press("right")
            if isinstance(app.screen, ConfirmBlankScreen) or app.session.phase is Phase.CONFIRM_BLANK:
                await on_screen(pilot, ConfirmBlankScreen)
                await pilot.click("#yes")
            await until(pilot, lambda: app.session.phase in (Phase.CONTEST, Phase.REVIEW))
        await on_screen(pilot, ReviewScreen)
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
        source.remove()
        await on_screen(pilot, IdleScreen)
        assert app.session.settings == DEFAULT_SETTINGS and app.theme == "sailau-normal"


# -- failures a voter and a poll worker can see ---------------------------------------------------


@pytest.mark.parametrize("problem", list(ReaderProblem), ids=[p.value for p in ReaderProblem])
@pytest.mark.asyncio
async def test_no_card_service_or_no_reader_is_shown_in_three_languages_then_goes_away(problem) -> None:
    app, source = make_app()
    detail = "pcscd is not running: Service not available. (0x8010001D)"
    source.fail(problem, detail)
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        await on_screen(pilot, OutOfServiceScreen)
        shown = text_of(app)
        for lang in ("kk", "ru", "en"):
            assert t(lang, OUT_OF_SERVICE[problem]) in shown and t(lang, POLL_WORKER_FIXES) in shown
        assert detail in shown  # the technical words, for whoever fixes it
        source.fail(None)
        app.check_reader()
        await on_screen(pilot, IdleScreen)
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)


@pytest.mark.asyncio
async def test_the_card_service_going_away_mid_vote_is_said_in_the_voter_s_language() -> None:
    from test_terminal_app import Recorder
    from sailau.terminal.speech import Speaker

    Recorder.spoken = []
    app, source = make_app(speaker=Speaker(executable="/usr/bin/espeak-ng", audio=True, runner=Recorder))
    card = ts.issued_card()
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await pilot.press("2", "f4", "1")
        await until(pilot, lambda: app.session.holds_choices)
        source.fail(ReaderProblem.NO_SERVICE, "pcscd is not running")
        app.check_reader()
        await on_screen(pilot, OutOfServiceScreen)
        assert not app.session.holds_choices
        shown = text_of(app)
        assert t("ru", OUT_OF_SERVICE[ReaderProblem.NO_SERVICE]) in shown and t("ru", NOTHING_WRITTEN) in shown
        assert t("en", OUT_OF_SERVICE[ReaderProblem.NO_SERVICE]) not in shown
        await until(pilot, lambda: any(t("ru", OUT_OF_SERVICE[ReaderProblem.NO_SERVICE]) in d.decode()
                                       for _, d in Recorder.spoken), "the spoken failure")
        source.fail(None)
        app.check_reader()
        await on_screen(pilot, CardPulledScreen)  # back: the voter is told to put the card in again
        source.remove()
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        assert app.session.language == "ru" and app.session.settings.audio  # the same voter


@pytest.mark.asyncio
async def test_speech_asked_for_without_audio_says_why_in_the_voter_s_language() -> None:
    from sailau.terminal.speech import Speaker

    app, source = make_app(speaker=Speaker(executable="/usr/bin/espeak-ng", audio=False))
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("2", "f4")
        await on_screen(pilot, SpeechUnavailableScreen)
        reason = t("ru", "no audio output device")
        assert t("ru", "Speech is not available on this terminal: {reason}.", reason=reason) in text_of(app)
        assert t("ru", "Ask a poll worker for help.") in text_of(app)
        assert not app.session.settings.audio


@pytest.mark.asyncio
async def test_the_idle_warning_is_shown_and_spoken_with_time_to_respond() -> None:
    from test_terminal_app import Recorder
    from sailau.terminal.speech import Speaker

    Recorder.spoken = []
    clock = FakeClock()
    app, source = make_app(clock=clock, speaker=Speaker(executable="/usr/bin/espeak-ng", audio=True, runner=Recorder))
    app.session.apply(VoterSettings(audio=True))
    async with app.run_test(size=GRIDS["100x34"]) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("3")
        await on_screen(pilot, ContestScreen)
        clock.now += 100  # a listening voter gets twice the time: no warning yet at 100 s
        app.tick_idle()
        await pilot.pause()
        assert isinstance(app.screen, ContestScreen)
        clock.now += 90
        app.tick_idle()
        await on_screen(pilot, IdleWarningScreen)
        said = "Are you still there? Your choices will be cleared in 50 s. Press any key to continue voting."
        assert "Your choices will be cleared in 50 s." in text_of(app)
        await until(pilot, lambda: any(said in d.decode() for _, d in Recorder.spoken), "the spoken warning")
        clock.now += 41
        app.tick_idle()
        await until(pilot, lambda: any("cleared in 9 s" in d.decode() for _, d in Recorder.spoken), "the reminder")
        await pilot.press("0")  # any key keeps the choices
        app.tick_idle()
        await on_screen(pilot, ContestScreen)
