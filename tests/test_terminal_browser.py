"""The kiosk in a browser: `sailau terminal --serve` in a subprocess on a
loopback port, a virtual card on the real pcscd, headless Chromium (Debian's
chromium + chromedriver through Selenium) completes a vote with clicks, and a
screenshot is saved.

The served app paints onto xterm.js's canvas, so there is no DOM to click: the
test measures the terminal's cell grid in the page, runs the same app headless
in-process at that size to learn where each target lies (same code, same size,
same layout), and clicks the cell in the middle of it."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import terminal_support as ts
from sailau.election import crypto
from sailau.election.definition import write_election
from sailau.simulator.vpcd import VpcdBridge
from sailau.smartcard.apdu import CardState
from sailau.smartcard.pcsc import wait_for_card
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import InProcessCardSource
from sailau.terminal.screens import ContestScreen, DoneScreen, LanguageScreen, ReviewScreen, TakeCardScreen
from sailau.terminal.session import TerminalSession
from sailau.terminal.speech import Speaker
from test_terminal_app import on_screen
from test_terminal_session import opened

pytestmark = pytest.mark.pcsc

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,900",
]

# What the voter taps, screen by screen (English, JSDP... first option each time).
CLICKS = [
    (LanguageScreen, "#lang-en"),
    (ContestScreen, "#option-1"),
    (ContestScreen, "#next"),
    (ContestScreen, "#option-2"),
    (ContestScreen, "#next"),
    (ContestScreen, "#option-7"),  # against all, after the six maslikhat lists
    (ContestScreen, "#next"),
    (ReviewScreen, "#cast"),
    (DoneScreen, "#continue"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, what: str, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)  # polling a condition, not guessing a duration


def _http_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


async def _target_cells(cols: int, rows: int) -> list[tuple[int, int]]:
    """Centre cell of each target of CLICKS, from the same app run headless at that size."""
    source = InProcessCardSource()
    app = KioskApp(TerminalSession(ts.config()), source, speaker=Speaker(None, False), idle_poll_seconds=3600)
    cells = []
    async with app.run_test(size=(cols, rows)) as pilot:
        source.insert(ts.issued_card())
        for screen, selector in CLICKS:
            await on_screen(pilot, screen)
            region = app.screen.query_one(selector).region
            cells.append((region.x + region.width // 2, region.y + region.height // 2))
            await pilot.click(selector)
        await on_screen(pilot, TakeCardScreen)
    return cells


MEASURE_JS = """
const screen = document.querySelector('.xterm-screen');
if (!screen) return null;
const box = screen.getBoundingClientRect();
const probe = document.createElement('span');
probe.style.fontFamily = "'Roboto Mono', Monaco, 'Courier New', monospace";
probe.style.fontSize = document.getElementById('terminal').dataset.fontSize + 'px';
probe.style.position = 'absolute'; probe.style.visibility = 'hidden'; probe.style.whiteSpace = 'pre';
probe.textContent = 'W'.repeat(200);
document.body.appendChild(probe);
const width = probe.getBoundingClientRect().width / 200;
probe.remove();
return [box.left, box.top, box.width, box.height, width];
"""


@pytest.fixture
def chrome(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), "tools/setup.sh installs chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_a_vote_in_headless_chromium_with_clicks(vpcd_slot_2, chrome, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    election_file = tmp_path / "election.json"
    write_election(ts.election(), election_file)
    key_file = tmp_path / "terminal.key"
    crypto.save_signing_key(key_file, ts.terminal_key())
    port = _free_port()
    sailau = Path(sys.executable).with_name("sailau")
    server = subprocess.Popen(
        [str(sailau), "terminal", "--serve", "--host", "127.0.0.1", "--port", str(port),
         "--election", str(election_file), "--terminal-key", str(key_file),
         "--reader", vpcd_slot_2.reader, "--precinct", str(ts.PRECINCT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    card = ts.issued_card()
    bridge = VpcdBridge(card, port=vpcd_slot_2.port)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait(lambda: _http_up(url) or server.poll() is not None, "the kiosk server")
        assert server.poll() is None, server.stderr.read().decode()[-2000:]
        bridge.start()
        wait_for_card(vpcd_slot_2.reader, present=True, timeout=10)
        chrome.get(url)
        _wait(lambda: "-first-byte" in (chrome.find_element(By.TAG_NAME, "body").get_attribute("class") or ""),
              "the app's first bytes in the page")
        left, top, width, height, char_width = _wait(lambda: chrome.execute_script(MEASURE_JS), "the terminal grid")
        cols = round(width / char_width)
        cell_w, cell_h = width / cols, _row_height(chrome, height)
        rows = round(height / cell_h)
        cells = asyncio.run(_target_cells(cols, rows))
        canvas = chrome.find_element(By.CSS_SELECTOR, ".xterm-screen")
        last = chrome.get_screenshot_as_png()
        for (x, y) in cells:
            ActionChains(chrome).move_to_element_with_offset(
                canvas, int((x + 0.5) * cell_w - width / 2), int((y + 0.5) * cell_h - height / 2)
            ).click().perform()
            last = _wait_repaint(chrome, last)
        _wait(lambda: ts.card_data(card)[0] is CardState.VOTED, "the VOTED card")
        screenshot = tmp_path / "terminal-browser.png"
        assert chrome.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
        print(f"\nscreenshot: {screenshot}")
    finally:
        bridge.stop()
        os.killpg(server.pid, 15)
        server.wait(timeout=10)
        wait_for_card(vpcd_slot_2.reader, present=False, timeout=10)
    e = ts.election()
    contests = [c.id for c in e.contests_for_style(e.precinct(ts.PRECINCT).style)]
    from sailau.election.ballot import Mark

    assert opened(card) == {contests[0]: "AMANAT", contests[1]: e.options(contests[1])[1].id,
                            contests[2]: Mark.AGAINST_ALL}


def _row_height(chrome, height: float) -> float:
    """Row height of the xterm grid: measured like xterm does (a line of the font)."""
    line = chrome.execute_script("""
        const probe = document.createElement('div');
        probe.style.fontFamily = "'Roboto Mono', Monaco, 'Courier New', monospace";
        probe.style.fontSize = document.getElementById('terminal').dataset.fontSize + 'px';
        probe.style.lineHeight = 'normal'; probe.style.position = 'absolute'; probe.style.visibility = 'hidden';
        probe.textContent = 'W';
        document.body.appendChild(probe);
        const h = probe.getBoundingClientRect().height; probe.remove(); return h;""")
    rows = round(height / line)
    return height / rows


def _wait_repaint(chrome, before: bytes) -> bytes:
    """Poll screenshots until the page changed and then held still for one poll."""
    changed = _wait(lambda: (shot := chrome.get_screenshot_as_png()) != before and shot, "a repaint")
    while True:
        again = _wait(lambda: chrome.get_screenshot_as_png(), "a screenshot")
        if again == changed:
            return again
        changed = again
