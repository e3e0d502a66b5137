"""The kiosk in a browser: `sailau terminal --serve` in a subprocess on a
loopback port, a virtual card on the real pcscd, headless Chromium (Debian's
chromium + chromedriver through Selenium).

- a vote completed with clicks (the default page);
- a vote at the largest text size with 28 px glyphs (`?fontsize=28`, the issue's
  case: two of seven parties showed and nothing said so), where far options are
  reached by tapping the "more below" cue;
- the card service down when the kiosk starts: the page shows the kiosk's own
  out-of-service screen (not the splash), and the kiosk recovers by itself when
  the service comes up.

The served app paints onto xterm.js's canvas, so there is no DOM to click or
read: the test measures the terminal's cell grid in the page, runs the same app
headless in-process at that size to learn where each target lies (same code,
same size, same layout), and clicks the cell in the middle of it. What the page
shows is checked by "ink": the cells where the in-process screen has glyphs must
show drawn pixels in the screenshot, the cells it leaves blank must be plain."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

import terminal_support as ts
from browser_support import chromium, free_port, wait_until
from sailau.election import crypto
from sailau.election.ballot import Mark
from sailau.election.definition import write_election
from sailau.simulator.vpcd import VpcdBridge
from sailau.smartcard.apdu import CardState
from sailau.smartcard.pcsc import wait_for_card
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import InProcessCardSource
from sailau.terminal.screens import (
    ContestScreen,
    DoneScreen,
    IdleScreen,
    LanguageScreen,
    OutOfServiceScreen,
    ReviewScreen,
    TakeCardScreen,
)
from sailau.terminal.session import ReaderProblem, TerminalSession
from sailau.terminal.speech import Speaker
from sailau.terminal.widgets import ListScroll
from test_terminal_app import on_screen, until
from test_terminal_session import opened

pytestmark = pytest.mark.pcsc

E = ts.election()
CONTESTS = [c.id for c in E.contests_for_style(E.precinct(ts.PRECINCT).style)]


def _http_up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


# -- the in-process mirror: where the targets are, what the screen holds ------------------------


class Mirror:
    """The same app in-process at the browser's grid: each step is done here and
    recorded as the browser must repeat it (a key, or a click at a cell)."""

    def __init__(self, pilot) -> None:
        self.pilot = pilot
        self.app = pilot.app
        self.actions: list[tuple[str, object]] = []

    async def key(self, key: str) -> None:
        self.actions.append(("key", key))
        await self.pilot.press(key)
        await self.pilot.pause()

    async def click(self, selector: str) -> None:
        region = self.app.screen.query_one(selector).region
        self.actions.append(("click", (region.x + region.width // 2, region.y + region.height // 2)))
        await self.pilot.click(selector)
        await self.pilot.pause()

    async def reach(self, selector: str) -> None:
        """Tap "more below" until the target is wholly in view (as a voter would)."""
        for _ in range(12):
            await self.pilot.pause()
            target = self.app.screen.query_one(selector)
            scroll = next(a for a in target.ancestors if isinstance(a, ListScroll))
            window = scroll.scrollable_content_region
            if window.y <= target.region.y and target.region.bottom <= window.bottom:
                return
            await self.click("#more-below")
        raise AssertionError(f"{selector} never came into view")

    def ink(self) -> set[tuple[int, int]]:
        """Cells where the in-process screen draws a glyph."""
        cells = set()
        for y, strip in enumerate(self.app.screen._compositor.render_strips()):
            x = 0
            for segment in strip:
                for char in segment.text:
                    if not char.isspace():
                        cells.add((x, y))
                    x += 1
        return cells


def _mirror_app(source=None) -> KioskApp:
    return KioskApp(TerminalSession(ts.config()), source or InProcessCardSource(), speaker=Speaker(None, False),
                    idle_poll_seconds=3600, reader_poll_seconds=3600)


async def _choose_and_cast(mirror: Mirror, options: tuple[str, ...]) -> None:
    """On the contest screens, reach and tap one option per contest (against all is the
    7th of 7), go on, and cast from the review: the done screen shows."""
    app = mirror.app
    for option in options:
        await on_screen(mirror.pilot, ContestScreen)
        index = app.session.contest_index
        await mirror.reach(option)
        await mirror.click(option)
        await mirror.click("#next")
        await until(mirror.pilot, lambda: app.session.contest_index != index or not isinstance(app.screen, ContestScreen))
    await on_screen(mirror.pilot, ReviewScreen)
    await mirror.click("#cast")
    await on_screen(mirror.pilot, DoneScreen)


async def _card_in(mirror: Mirror) -> KioskApp:
    """An issued card goes in; the language screen shows."""
    mirror.app.source.insert(ts.issued_card())
    await on_screen(mirror.pilot, LanguageScreen)
    return mirror.app


async def _default_vote(mirror: Mirror) -> None:
    await _card_in(mirror)
    await mirror.click("#lang-en")
    await _choose_and_cast(mirror, ("#option-1", "#option-2", "#option-7"))  # AMANAT, 2nd candidate, against all
    await mirror.click("#continue")
    await on_screen(mirror.pilot, TakeCardScreen)


async def _largest_size_vote(mirror: Mirror) -> None:
    app = await _card_in(mirror)
    for _ in range(3):
        await mirror.key("f3")  # text size 1 -> 4
    assert app.session.settings.text_size == 4
    await mirror.reach("#lang-en")
    await mirror.click("#lang-en")
    await on_screen(mirror.pilot, ContestScreen)
    assert app.screen.query_one("#more-below").count >= 5  # the case: most parties below the fold
    # Ak Zhol (far down), 2nd candidate, against all
    await _choose_and_cast(mirror, ("#option-6", "#option-2", "#option-7"))


async def _mirror_actions(cols: int, rows: int, script) -> list[tuple[str, object]]:
    app = _mirror_app()
    async with app.run_test(size=(cols, rows)) as pilot:
        mirror = Mirror(pilot)
        await script(mirror)
        return mirror.actions


async def _mirror_ink(cols: int, rows: int, problem: ReaderProblem | None, card=None) -> set[tuple[int, int]]:
    """The cells with glyphs on the out-of-service screen (problem) or the idle/language screen."""
    source = InProcessCardSource()
    if problem is not None:
        source.fail(problem, "")
    app = _mirror_app(source)
    async with app.run_test(size=(cols, rows)) as pilot:
        if card is not None:
            source.insert(card)
            await on_screen(pilot, LanguageScreen)
        else:
            await on_screen(pilot, OutOfServiceScreen if problem else IdleScreen)
        await pilot.pause()
        return Mirror(pilot).ink()


# -- the browser --------------------------------------------------------------------------------

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
    with chromium(tmp_path, "1280,900") as driver:
        yield driver


@contextmanager
def served_kiosk(tmp_path: Path, reader: str, env: dict[str, str] | None = None):
    """`sailau terminal --serve` on a free loopback port; yields its URL."""
    election_file = tmp_path / "election.json"
    write_election(ts.election(), election_file)
    key_file = tmp_path / "terminal.key"
    crypto.save_signing_key(key_file, ts.terminal_key())
    port = free_port()
    sailau = Path(sys.executable).with_name("sailau")
    server = subprocess.Popen(
        [str(sailau), "terminal", "--serve", "--host", "127.0.0.1", "--port", str(port),
         "--election", str(election_file), "--terminal-key", str(key_file),
         "--reader", reader, "--precinct", str(ts.PRECINCT)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: _http_up(url) or server.poll() is not None, "the kiosk server")
        assert server.poll() is None, server.stderr.read().decode()[-2000:]
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)


class Page:
    """The kiosk page in Chromium: its cell grid, clicks and keys at cells, ink."""

    def __init__(self, chrome, url: str) -> None:
        from selenium.webdriver.common.by import By

        self.chrome = chrome
        chrome.get(url)
        wait_until(lambda: "-first-byte" in (chrome.find_element(By.TAG_NAME, "body").get_attribute("class") or ""),
              "the app's first bytes in the page")
        self.left, self.top, self.width, self.height, char_width = wait_until(
            lambda: chrome.execute_script(MEASURE_JS), "the terminal grid")
        self.cols = round(self.width / char_width)
        self.cell_w = self.width / self.cols
        self.cell_h = _row_height(chrome, self.height)
        self.rows = round(self.height / self.cell_h)
        self.canvas = chrome.find_element(By.CSS_SELECTOR, ".xterm-screen")
        self.last = chrome.get_screenshot_as_png()

    def body_classes(self) -> str:
        from selenium.webdriver.common.by import By

        return self.chrome.find_element(By.TAG_NAME, "body").get_attribute("class") or ""

    def replay(self, actions) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        for kind, what in actions:
            if kind == "click":
                x, y = what
                ActionChains(self.chrome).move_to_element_with_offset(
                    self.canvas, int((x + 0.5) * self.cell_w - self.width / 2),
                    int((y + 0.5) * self.cell_h - self.height / 2),
                ).click().perform()
            else:
                key = getattr(Keys, what.upper()) if len(what) > 1 else what
                self.chrome.find_element(By.CSS_SELECTOR, ".xterm-helper-textarea").send_keys(key)
            self.last = _wait_repaint(self.chrome, self.last)

    def inked(self, png: bytes) -> set[tuple[int, int]]:
        """Cells of the grid whose pixels are not all one colour (something is drawn)."""
        from PIL import Image

        image = Image.open(io.BytesIO(png)).convert("RGB")
        ratio = image.width / self.chrome.execute_script("return window.innerWidth")
        cells = set()
        for y in range(self.rows):
            for x in range(self.cols):
                box = (round((self.left + x * self.cell_w + 1) * ratio), round((self.top + y * self.cell_h + 1) * ratio),
                       round((self.left + (x + 1) * self.cell_w - 1) * ratio),
                       round((self.top + (y + 1) * self.cell_h - 1) * ratio))
                low, high = zip(*image.crop(box).getextrema())
                if max(h - lo for lo, h in zip(low, high)) > 40:
                    cells.add((x, y))
        return cells

    def shows(self, expected: set[tuple[int, int]], other: set[tuple[int, int]]) -> bool:
        """The page shows the screen with ink `expected` rather than the one with `other`:
        most cells only `expected` inks are drawn, most cells only `other` inks are plain."""
        inked = self.inked(self.chrome.get_screenshot_as_png())
        mine, theirs = expected - other, other - expected
        return (len(mine & inked) >= 0.8 * len(mine)) and (len(theirs & inked) <= 0.2 * len(theirs))


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
    changed = wait_until(lambda: (shot := chrome.get_screenshot_as_png()) != before and shot, "a repaint")
    while True:
        again = wait_until(lambda: chrome.get_screenshot_as_png(), "a screenshot")
        if again == changed:
            return again
        changed = again


@contextmanager
def card_in(slot, card):
    bridge = VpcdBridge(card, port=slot.port)
    try:
        yield bridge
    finally:
        bridge.stop()
        wait_for_card(slot.reader, present=False, timeout=10)


# -- the tests ----------------------------------------------------------------------------------


def test_a_vote_in_headless_chromium_with_clicks(vpcd_slot_2, chrome, tmp_path: Path) -> None:
    card = ts.issued_card()
    with served_kiosk(tmp_path, vpcd_slot_2.reader) as url, card_in(vpcd_slot_2, card) as bridge:
        bridge.start()
        wait_for_card(vpcd_slot_2.reader, present=True, timeout=10)
        page = Page(chrome, url)
        page.replay(asyncio.run(_mirror_actions(page.cols, page.rows, _default_vote)))
        wait_until(lambda: ts.card_data(card)[0] is CardState.VOTED, "the VOTED card")
        screenshot = tmp_path / "terminal-browser.png"
        assert chrome.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000
        print(f"\nscreenshot: {screenshot}")
    assert opened(card) == {CONTESTS[0]: "AMANAT", CONTESTS[1]: E.options(CONTESTS[1])[1].id,
                            CONTESTS[2]: Mark.AGAINST_ALL}


def test_a_vote_at_the_largest_text_size_with_28px_glyphs(vpcd_slot_2, chrome, tmp_path: Path) -> None:
    card = ts.issued_card()
    with served_kiosk(tmp_path, vpcd_slot_2.reader) as url, card_in(vpcd_slot_2, card) as bridge:
        bridge.start()
        wait_for_card(vpcd_slot_2.reader, present=True, timeout=10)
        page = Page(chrome, url + "?fontsize=28")
        assert page.rows <= 30, f"28 px glyphs should leave a small grid, got {page.cols}x{page.rows}"
        page.replay(asyncio.run(_mirror_actions(page.cols, page.rows, _largest_size_vote)))
        wait_until(lambda: ts.card_data(card)[0] is CardState.VOTED, "the VOTED card")
        screenshot = tmp_path / "terminal-browser-28px-size4.png"
        assert chrome.save_screenshot(str(screenshot))
        print(f"\nscreenshot: {screenshot} ({page.cols}x{page.rows} cells)")
    assert opened(card) == {CONTESTS[0]: "AZ", CONTESTS[1]: E.options(CONTESTS[1])[1].id,
                            CONTESTS[2]: Mark.AGAINST_ALL}


def test_the_card_service_down_shows_in_the_page_and_the_kiosk_recovers(vpcd_slot_2, chrome, tmp_path: Path) -> None:
    """pcscd's socket is where libpcsclite looks (PCSCLITE_CSOCK_NAME): first a path
    with nothing there (the service is down for this kiosk), then a link to the
    real socket (the service came up)."""
    socket_path = tmp_path / "pcscd.comm"
    card = ts.issued_card()
    with served_kiosk(tmp_path, vpcd_slot_2.reader, env={"PCSCLITE_CSOCK_NAME": str(socket_path)}) as url, \
            card_in(vpcd_slot_2, card) as bridge:
        page = Page(chrome, url)  # waits for the app's first bytes: no splash screen for ever
        down = asyncio.run(_mirror_ink(page.cols, page.rows, ReaderProblem.NO_SERVICE))
        idle = asyncio.run(_mirror_ink(page.cols, page.rows, None))
        wait_until(lambda: page.shows(down, idle), "the out-of-service screen in the page", timeout=20)
        assert "-closed" not in page.body_classes()
        shot = tmp_path / "terminal-browser-no-service.png"
        chrome.save_screenshot(str(shot))
        print(f"\nscreenshot: {shot}")
        socket_path.symlink_to("/run/pcscd/pcscd.comm")  # the card service is up
        wait_until(lambda: page.shows(idle, down), "the idle screen once the service is back", timeout=20)
        language = asyncio.run(_mirror_ink(page.cols, page.rows, None, card=ts.issued_card()))
        bridge.start()
        wait_for_card(vpcd_slot_2.reader, present=True, timeout=10)
        wait_until(lambda: page.shows(language, idle), "the card read after the recovery", timeout=20)
        assert "-closed" not in page.body_classes()
