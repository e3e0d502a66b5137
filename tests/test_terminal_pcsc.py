"""One full vote at the kiosk through the real PC/SC stack: pcscd with the vpcd
driver, pyscard's card monitor for insert/remove events, PcscTransport for APDUs."""

from __future__ import annotations

import time

import pytest

import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.simulator.vpcd import VpcdBridge
from sailau.smartcard.pcsc import wait_for_card
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import PcscCardSource
from sailau.terminal.screens import ContestScreen, DoneScreen, IdleScreen, LanguageScreen, ReviewScreen
from sailau.terminal.session import TerminalSession
from sailau.terminal.speech import Speaker
from test_terminal_app import SIZE, on_screen
from test_terminal_session import opened

pytestmark = [pytest.mark.pcsc, pytest.mark.asyncio]


async def test_a_full_vote_through_pcscd_and_vpcd(vpcd_slot_2) -> None:
    card = ts.issued_card()
    source = PcscCardSource(vpcd_slot_2.reader)
    app = KioskApp(TerminalSession(ts.config()), source, speaker=Speaker(None, False), idle_poll_seconds=3600)
    bridge = VpcdBridge(card, port=vpcd_slot_2.port)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await on_screen(pilot, IdleScreen)
            bridge.start()  # the card goes in: pcscd sees it, the monitor tells the app
            await on_screen(pilot, LanguageScreen)
            await pilot.press("1")
            await on_screen(pilot, ContestScreen)
            for key in ("7", "1", "7"):  # JSDP, first candidate, against all (7th of 6 parties)
                await pilot.press(key, "right")
            await on_screen(pilot, ReviewScreen)
            started = time.perf_counter()
            await pilot.press("enter")
            await on_screen(pilot, DoneScreen)
            write_seconds = time.perf_counter() - started
            assert app.session.receipt_code
            bridge.remove()  # pulled out of the reader: the monitor reports it
            await on_screen(pilot, IdleScreen)
            print(f"\nwrite (digest answered) + screen via pcscd: {write_seconds * 1000:.0f} ms")
    finally:
        bridge.stop()
        wait_for_card(vpcd_slot_2.reader, present=False, timeout=10)
    e = ts.election()
    contests = [c.id for c in e.contests_for_style(e.precinct(ts.PRECINCT).style)]
    assert opened(card) == {contests[0]: "JSDP", contests[1]: e.options(contests[1])[0].id, contests[2]: Mark.AGAINST_ALL}
