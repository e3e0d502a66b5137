"""Shared setup for the clerk-app tests: a precinct with FIXED keys (the screens
show key ids and hashes, so snapshots must not depend on fresh randomness), a
fixed clock, a small voter list with real names, an in-process reader slot,
`settle()` to wait for the app's worker threads without guessing sleeps, and the
clerk's steps the Pilot tests share (press a button, insert and remove a card, check a
voter in, issue a card, vote and cast), each waiting until the app has done its part."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.ballot_box import pollbook
from sailau.ballot_box.app import ClerkApp
from sailau.simulator.booth_rig import EXAMPLE, Rig
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.iin import Sex, make_iin
from sailau.ballot_box.screens import CancelCardScreen
from sailau.ballot_box.station import Station
from sailau.election.crypto import ElectionKeyPair, ed25519_public_bytes
from sailau.election.members import CommissionMembers, Member, Role
from sailau.election.definition import load_election
from sailau.election.record import new_issue_block
from sailau.election.shares import split_election_key
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.events import InProcessSlot
from sailau.smartcard.transport import InProcessTransport
from textual.pilot import Pilot
from textual.widgets import Button, Input

PRECINCT = 7101
K, N = 2, 3
FIXED_NOW = dt.datetime(2023, 3, 19, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))

ELECTION_KEY = ElectionKeyPair.from_private_bytes(bytes(range(1, 33)))
TERMINAL_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x11" * 32)
STATION_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x22" * 32)
CARD_MASTER_KEY = bytes.fromhex("00112233445566778899aabbccddeeff")

#: the precinct commission (fixed keys): chair, secretary, member; loaded at set-up (`make_station(members=True)`)
MEMBER_KEYS = [ed25519.Ed25519PrivateKey.from_private_bytes(bytes([0x40 + i]) * 32) for i in range(3)]
MEMBER_ROLES = [("chair", "Бекова Сәуле"), ("secretary", "Ли Виктор"), ("member", "Омаров Арман")]

VOTERS = [  # surname, given name, patronymic, birth date, sex
    ("Абаев", "Нұрлан", "Серікұлы", dt.date(1975, 4, 2), Sex.MALE),
    ("Әлиева", "Айгүл", "Маратқызы", dt.date(1988, 11, 23), Sex.FEMALE),
    ("Ахметов", "Ерлан", "", dt.date(1990, 1, 15), Sex.MALE),
    ("Иванова", "Мария", "Петровна", dt.date(1962, 7, 8), Sex.FEMALE),
    ("Жұмабек", "Дәулет", "Асқарұлы", dt.date(2001, 9, 30), Sex.MALE),
    ("Сәрсенова", "Гүлнар", "", dt.date(1979, 5, 17), Sex.FEMALE),
]


def _iin(birth: dt.date, sex: Sex) -> str:
    for serial in range(1, 100):  # make_iin refuses serials without a check digit
        try:
            return make_iin(birth, sex, serial)
        except ValueError:
            continue
    raise AssertionError(f"no IIN for {birth}")


IINS = [_iin(v[3], v[4]) for v in VOTERS]


@lru_cache(maxsize=1)
def rig() -> Rig:
    """The 2023 example with a fixed election key and a 2-of-3 key ceremony."""
    election = load_election(EXAMPLE).model_copy(
        update={"public_key": ELECTION_KEY.public_key_bytes.hex(), "key_ceremony": {"threshold": K, "shares": N}})
    shares = split_election_key(ELECTION_KEY.private_key, K, N, election.id, ELECTION_KEY.public_key_bytes)
    return Rig(election, ELECTION_KEY, shares, TERMINAL_KEY, STATION_KEY, CARD_MASTER_KEY, PRECINCT, list(IINS))


def voters_csv(path: Path) -> Path:
    lines = ["iin,surname,given_name,patronymic,birth_date"]
    for iin, (surname, given, patronymic, birth, _sex) in zip(IINS, VOTERS):
        lines.append(f"{iin},{surname},{given},{patronymic},{birth.isoformat()}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def open_db(tmp_path: Path) -> StationDB:
    return open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW)


def members() -> list[Member]:
    """The precinct's commission with the fixed `MEMBER_KEYS`."""
    return [Member(PRECINCT, Role(role), name, ed25519_public_bytes(key.public_key()))
            for (role, name), key in zip(MEMBER_ROLES, MEMBER_KEYS)]


def make_station(db: StationDB, tmp_path: Path, *, open_polls: bool = True, with_members: bool = False) -> Station:
    """Set up the station and import the list (and, `with_members`, load the commission, as
    set-up does); open the polls unless told not to."""
    station = rig().station(db)
    pollbook.import_voters(db, voters_csv(tmp_path / "voters.csv"))
    if with_members:
        station.load_members(CommissionMembers(PRECINCT, tuple(members())))
    if open_polls:
        station.open_polls([rig().terminal])
    return station


@dataclass
class Desk:
    app: ClerkApp
    station: Station
    slot: InProcessSlot


def make_desk(station: Station, *, language: str = "en", out_dir: Path | None = None) -> Desk:
    transport = InProcessTransport()
    app = ClerkApp(station, transport, terminal_keys=[rig().terminal], language=language, out_dir=out_dir)
    return Desk(app, station, InProcessSlot(transport, app.card_event))


@asynccontextmanager
async def running_desk(tmp_path: Path, *, size: tuple[int, int], open_polls: bool = True, language: str = "en",
                       out_dir: Path | None = None, with_members: bool = False) -> AsyncIterator[tuple[Desk, Pilot]]:
    """A clerk app over a fresh station database in `tmp_path`, running under Pilot at
    `size`; the database is closed after the app."""
    with open_db(tmp_path) as db:
        station = make_station(db, tmp_path, open_polls=open_polls, with_members=with_members)
        desk = make_desk(station, language=language, out_dir=out_dir)
        async with desk.app.run_test(size=size) as pilot:
            yield desk, pilot


def blank_card(serial_byte: int = 1) -> VirtualBallotCard:
    return VirtualBallotCard(serial=bytes([serial_byte]) * 8, master_key=CARD_MASTER_KEY)


def _client(card: VirtualBallotCard) -> tuple[BallotCardClient, InProcessTransport]:
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    return client, transport


def vote(card: VirtualBallotCard, i: int) -> str:
    """Play the booth terminal on an ISSUED card (out of the ballot-box reader):
    the real seal_ballot with the enrolled terminal key, WRITE BALLOT. Returns the receipt code."""
    client, transport = _client(card)
    try:
        return rig().vote(client, rig().selections(i))
    finally:
        transport.disconnect()


def foreign_voted_card() -> VirtualBallotCard:
    """A card issued and voted for ANOTHER election (another fingerprint), same precinct and style."""
    election = rig().election
    card = blank_card(0xEE)
    client, transport = _client(card)
    client.select()
    style = election.precinct(PRECINCT).style
    client.issue(new_issue_block(b"\x5a" * 32, PRECINCT, style).pack(), CARD_MASTER_KEY)
    transport.disconnect()
    vote(card, 0)
    return card


async def settle(pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Let workers finish and messages land until `condition()` holds (or fail after `timeout`)."""
    app = pilot.app
    deadline = time.monotonic() + timeout
    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.02)


def card_note(app: ClerkApp) -> str:
    return "" if app.card_note is None else app.card_note.render(app.t)


def desk_note(app: ClerkApp) -> str:
    return "" if app.desk_note is None else app.desk_note.render(app.t)


async def press(pilot: Pilot, selector: str) -> None:
    """Press a button as a click would (Button ignores a click within its
    0.2 s press animation, so two quick pilot.click()s on one button lose one), and
    let the desk operation it starts (a worker) finish."""
    pilot.app.screen.query_one(selector, Button).press()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def insert(pilot: Pilot, desk: Desk, card: VirtualBallotCard, what: str, done: Callable[[], bool]) -> None:
    """Put `card` in the reader; wait until the app has handled it and `done()` holds."""
    desk.slot.insert(card)
    await settle(pilot, lambda: desk.app.card_busy == 0 and done(), what)


async def remove(pilot: Pilot, desk: Desk) -> None:
    desk.slot.remove()
    await settle(pilot, lambda: not desk.app.card_present, "card removed")


async def check_in(pilot: Pilot, query: str, *, enter: bool = True) -> None:
    """Search for `query` and press Check in on the first hit. With `enter` the search
    field takes focus and Enter starts the search (as the clerk types); without, the
    Find button does (the search field keeps no focus, as the snapshots show)."""
    app = pilot.app
    search = app.screen.query_one("#search", Input)
    if enter:
        search.focus()
        search.value = query
        await pilot.press("enter")
    else:
        search.value = query
        await press(pilot, "#find")
    await settle(pilot, lambda: bool(app.screen.results), f"search results for {query!r}")
    before = app.station.counters().checked_in
    await press(pilot, "#check-in")
    await settle(pilot, lambda: app.station.counters().checked_in == before + 1, "check-in")


async def issue_card(pilot: Pilot, desk: Desk, query: str, card: VirtualBallotCard,
                     issued: Callable[[], bool], *, enter: bool = True) -> None:
    """Check the voter found by `query` in, insert `card` until `issued()` holds, take it out."""
    await check_in(pilot, query, enter=enter)
    await insert(pilot, desk, card, "issue", issued)
    await remove(pilot, desk)


async def offer_cancel(pilot: Pilot, desk: Desk, query: str, card: VirtualBallotCard,
                       issued: Callable[[], bool], *, enter: bool = True) -> None:
    """Issue `card` to the voter found by `query`, then bring it back unvoted: the app
    offers to cancel it (CancelCardScreen is up when this returns)."""
    await issue_card(pilot, desk, query, card, issued, enter=enter)
    await insert(pilot, desk, card, "offer cancel", lambda: isinstance(desk.app.screen, CancelCardScreen))


async def vote_and_cast(pilot: Pilot, desk: Desk, card: VirtualBallotCard, i: int,
                        counted: Callable[[], bool], *, keep: bool = False) -> str:
    """Vote selections `i` on the ISSUED card in the booth, bring it back to the reader
    until `counted()` holds and take it out (unless `keep`). Returns the booth's receipt code."""
    receipt = vote(card, i)
    await insert(pilot, desk, card, "cast", counted)
    if not keep:
        await remove(pilot, desk)
    return receipt


async def close_with_shares(pilot: Pilot) -> None:
    """F4, the first k shares entered (already checked: the desk's set_shares), Close and
    Yes: wait for the signed protocol screen."""
    from sailau.ballot_box.desk import EnteredShare
    from sailau.ballot_box.screens import CloseScreen, ProtocolScreen

    app = pilot.app
    await pilot.press("f4")
    await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
    app.desk.set_shares([EnteredShare(s.index, "file", s) for s in rig().shares[:2]])
    app.show()
    await press(pilot, "#close")
    await press(pilot, "#yes")
    await settle(pilot, lambda: isinstance(app.screen, ProtocolScreen), "protocol", timeout=60)


def on_screen(widget, y: int) -> bool:
    """Whether row `y` (0 = the widget's top line) of `widget` is drawn on the screen now:
    inside the screen and the widget is what the screen shows there (not clipped by a
    container, not under a docked bar)."""
    region = widget.region
    x, y = region.x + 1, region.y + y
    screen = widget.screen
    if not screen.region.contains(x, y):
        return False
    try:
        found, _ = screen.get_widget_at(x, y)
    except Exception:  # no widget there at all
        return False
    return found is widget


def rendered(widget) -> str:
    """What `widget` draws, as plain text at its present width (a Static given a Rich
    table draws it in columns; the text is what the clerk reads)."""
    from rich.console import Console

    console = Console(width=max(widget.content_size.width, 1), record=True, color_system=None,
                      file=open(os.devnull, "w"), legacy_windows=False)
    try:
        console.print(widget.render())
        return console.export_text()
    finally:
        console.file.close()


def screen_lines(app) -> list[str]:
    """The whole screen as the terminal shows it, one string per line."""
    from rich.console import Console

    width = app.size.width
    console = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))
    try:
        console.print(app.screen._compositor.render_update(full=True))
        return console.export_text().splitlines()
    finally:
        console.file.close()
