"""Two-switch input, as personal assistive devices provide it (a switch interface
sends Space for "move" and Enter for "select"): the whole ballot completed with
those two keys only, at the largest text size, then with automatic scanning and
the select switch alone. The test looks where the voter looks: at the highlight
(the focused target)."""

from __future__ import annotations

import pytest

import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.terminal.screens import (
    ConfirmBlankScreen,
    ContestScreen,
    DoneScreen,
    LanguageScreen,
    ReviewScreen,
    SettingsScreen,
    TakeCardScreen,
)
from sailau.terminal.settings import InputMode, VoterSettings
from test_terminal_app import FakeClock, make_app, on_screen, until
from test_terminal_session import opened

STYLE = ts.election().precinct(ts.PRECINCT).style
LIST, SMD, MASLIKHAT = (c.id for c in ts.election().contests_for_style(STYLE))
BROWSER_GRID = (76, 22)


def highlighted(pilot) -> str:
    focused = pilot.app.screen.focused
    return focused.id if focused is not None and focused.id else ""


async def move_to(pilot, target_id: str, limit: int = 40) -> int:
    """Press the move switch until the highlight is on `target_id`; how many moves it took."""
    for moves in range(limit):
        if highlighted(pilot) == target_id:
            return moves
        await pilot.press("space")
        await pilot.pause()
    raise AssertionError(f"the highlight never reached {target_id!r}")


async def select(pilot) -> None:
    await pilot.press("enter")
    await pilot.pause()


@pytest.mark.asyncio
async def test_the_whole_ballot_with_two_switches_at_the_largest_size() -> None:
    app, source = make_app()
    app.session.apply(VoterSettings(input_mode=InputMode.TWO_SWITCH, text_size=4))  # the poll worker's preset
    card = ts.issued_card()
    async with app.run_test(size=BROWSER_GRID) as pilot:
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await move_to(pilot, "lang-ru")
        await select(pilot)
        await on_screen(pilot, ContestScreen)
        await move_to(pilot, "option-6")  # far down the list: the highlight scrolls it into view
        await select(pilot)
        assert app.screen.query_one("#option-6").has_class("-selected")
        await move_to(pilot, "next")
        await select(pilot)
        await until(pilot, lambda: app.session.contest_index == 1)
        await on_screen(pilot, ContestScreen)
        await move_to(pilot, "option-3")
        await select(pilot)
        await move_to(pilot, "next")
        await select(pilot)
        await until(pilot, lambda: app.session.contest_index == 2)
        await on_screen(pilot, ContestScreen)
        await move_to(pilot, "next")  # leave the maslikhat blank
        await select(pilot)
        await on_screen(pilot, ConfirmBlankScreen)
        await move_to(pilot, "yes")
        await select(pilot)
        await on_screen(pilot, ReviewScreen)
        assert highlighted(pilot) == "cast"
        await select(pilot)
        await on_screen(pilot, DoneScreen)
        await move_to(pilot, "continue")
        await select(pilot)
        await on_screen(pilot, TakeCardScreen)
    assert opened(card) == {LIST: "AZ", SMD: ts.election().options(SMD)[2].id, MASLIKHAT: Mark.BLANK}


@pytest.mark.asyncio
async def test_automatic_scanning_needs_only_the_select_switch() -> None:
    clock = FakeClock()
    app, source = make_app(clock=clock)
    card = ts.issued_card()
    async with app.run_test(size=(100, 34)) as pilot:
        # the voter turns scanning on with the two switches, through the settings
        app.session.apply(VoterSettings(input_mode=InputMode.TWO_SWITCH))
        app.apply_settings()
        source.insert(card)
        await on_screen(pilot, LanguageScreen)
        await move_to(pilot, "lang-en")
        await select(pilot)
        await on_screen(pilot, ContestScreen)
        await move_to(pilot, "open-settings")
        await select(pilot)
        await on_screen(pilot, SettingsScreen)
        await move_to(pilot, "set-scan")
        await select(pilot)
        assert app.session.settings.scan_seconds == 1.5
        await move_to(pilot, "done")
        await select(pilot)
        await on_screen(pilot, ContestScreen)

        async def scan_to(target_id: str) -> None:
            for _ in range(40):
                if highlighted(pilot) == target_id:
                    return
                clock.now += 1.5
                app.tick_scan()
                await pilot.pause()
            raise AssertionError(f"scanning never reached {target_id!r}")

        before = highlighted(pilot)
        clock.now += 1.0
        app.tick_scan()  # not yet a full step: the highlight stays
        await pilot.pause()
        assert highlighted(pilot) == before
        await scan_to("option-2")
        await select(pilot)
        await scan_to("next")
        await select(pilot)
        for _ in range(2):
            await until(pilot, lambda: isinstance(app.screen, (ContestScreen, ConfirmBlankScreen)))
            await pilot.pause()
            await scan_to("next")
            await select(pilot)
            await on_screen(pilot, ConfirmBlankScreen)
            await scan_to("yes")
            await select(pilot)
        await on_screen(pilot, ReviewScreen)
        await select(pilot)
        await on_screen(pilot, DoneScreen)
    assert opened(card) == {LIST: "AUYL", SMD: Mark.BLANK, MASLIKHAT: Mark.BLANK}


@pytest.mark.asyncio
async def test_space_moves_only_in_two_switch_mode_and_switch_voters_get_more_time() -> None:
    app, source = make_app()
    async with app.run_test(size=(100, 34)) as pilot:
        source.insert(ts.issued_card())
        await on_screen(pilot, LanguageScreen)
        await pilot.press("3")
        await on_screen(pilot, ContestScreen)
        first = highlighted(pilot)
        await pilot.press("space")
        await pilot.pause()
        assert highlighted(pilot) == first  # a keyboard voter's stray space does nothing
        app.session.adjust(input_mode=InputMode.TWO_SWITCH)
        await pilot.press("space")
        await pilot.pause()
        assert highlighted(pilot) != first
        assert app.session.idle_timeout == 2 * app.session.config.idle_timeout
