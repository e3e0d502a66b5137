"""The booth shows a presidential ballot (candidates and "against all") and a
referendum question (its printed text, yes/no) in kk/ru/en, and the sealed ballot
opens to the voter's choice; snapshots of both contest screens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

import terminal_support as ts
from sailau.election import crypto
from sailau.election.ballot import Mark, decode_ballot
from sailau.election.definition import Election, load_election
from sailau.election.record import BallotRecord, IssueBlock, SealedBallot, new_issue_block, open_ballot
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.client import CardState
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import InProcessCardSource
from sailau.terminal.screens import ConfirmBlankScreen, ContestScreen, DoneScreen, LanguageScreen, ReviewScreen
from sailau.terminal.session import TerminalConfig, TerminalSession
from sailau.terminal.speech import Speaker
from test_terminal_app import SIZE, on_screen, rendered_text, until
from test_terminal_session import FakeClock

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"
PRECINCT = 7101  # Astana in both examples


@lru_cache(maxsize=1)
def keys() -> crypto.ElectionKeyPair:
    return crypto.ElectionKeyPair.generate()


@lru_cache(maxsize=2)
def election(name: str) -> Election:
    return load_election(EXAMPLES / name).model_copy(update={"public_key": keys().public_key_bytes.hex()})


def card_for(e: Election) -> VirtualBallotCard:
    card = VirtualBallotCard()
    ts.issue(card, new_issue_block(e.fingerprint, PRECINCT, e.precinct(PRECINCT).style))
    return card


def opened(e: Election, card: VirtualBallotCard) -> dict:
    state, data = ts.card_data(card)
    assert state is CardState.VOTED
    issue = IssueBlock.parse(data.issue_block)
    record = BallotRecord.parse(data.record, e.plaintext_length)
    return decode_ballot(e, issue.style, open_ballot(SealedBallot.from_record(issue, record), keys().private_key))


def make_app(e: Election):
    source = InProcessCardSource()
    config = TerminalConfig(election=e, precinct=PRECINCT, terminal_key=ts.terminal_key())
    app = KioskApp(TerminalSession(config, clock=FakeClock()), source, speaker=Speaker(executable=None, audio=False),
                   idle_poll_seconds=3600)
    return app, source


async def _contest(pilot, e: Election, card: VirtualBallotCard, lang: str) -> None:
    pilot.app.source.insert(card)
    await on_screen(pilot, LanguageScreen)
    await pilot.press(str(("kk", "ru", "en").index(lang) + 1))
    await on_screen(pilot, ContestScreen)


@asynccontextmanager
async def _on_the_contest(name: str, lang: str) -> AsyncIterator[tuple[Election, KioskApp, VirtualBallotCard, Any]]:
    """The kiosk for election example `name`, its card in, `lang` chosen, on the one
    contest: (election, app, card, pilot)."""
    e = election(name)
    app, _ = make_app(e)
    card = card_for(e)
    async with app.run_test(size=SIZE) as pilot:
        await _contest(pilot, e, card, lang)
        yield e, app, card, pilot


async def _choose_and_cast(pilot, key: str) -> None:
    """On the one contest, choose the option numbered `key`, go on, and cast from the review."""
    await pilot.press(key, "right")
    await on_screen(pilot, ReviewScreen)
    await pilot.click("#cast")
    await on_screen(pilot, DoneScreen)


PRESIDENT_TEXT = {
    "kk": ("Қасым-Жомарт Тоқаев", "Барлығына қарсы"),
    "ru": ("Касым-Жомарт Токаев", "Против всех"),
    "en": ("Kassym-Jomart Tokayev", "Against all"),
}


@pytest.mark.asyncio
@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
async def test_a_presidential_vote_in_each_language(lang) -> None:
    async with _on_the_contest("president-2022.json", lang) as (e, app, card, pilot):
        shown = rendered_text(app)
        name, _against = PRESIDENT_TEXT[lang]
        assert name in shown
        assert e.contest("president").name.get(lang) in shown
        await pilot.press("5", "right")  # Tokayev is fifth on the ballot
        await on_screen(pilot, ReviewScreen)
        assert name in rendered_text(app)
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
    assert opened(e, card) == {"president": "TOKAYEV"}


@pytest.mark.asyncio
async def test_against_all_on_the_presidential_ballot() -> None:
    async with _on_the_contest("president-2022.json", "ru") as (e, app, card, pilot):
        assert "Против всех" in rendered_text(app)
        await _choose_and_cast(pilot, "7")  # after the six candidates
    assert opened(e, card) == {"president": Mark.AGAINST_ALL}


@pytest.mark.asyncio
@pytest.mark.parametrize(("lang", "no_label", "fragment"), [
    ("kk", "Жоқ", "қабылдайсыз ба"),
    ("ru", "Нет", "Принимаете ли Вы изменения"),
    ("en", "No", "Do you accept the amendments"),
])
async def test_a_referendum_question_in_each_language(lang, no_label, fragment) -> None:
    async with _on_the_contest("referendum-2022.json", lang) as (e, app, card, pilot):
        shown = rendered_text(app)
        assert fragment in shown and no_label in shown
        await _choose_and_cast(pilot, "2")
    assert opened(e, card) == {"constitution-2022": "no"}


@pytest.mark.asyncio
async def test_a_blank_referendum_ballot_is_confirmed_first() -> None:
    async with _on_the_contest("referendum-2022.json", "en") as (e, app, card, pilot):
        await pilot.press("right")
        await on_screen(pilot, ConfirmBlankScreen)
        await pilot.click("#yes")
        await on_screen(pilot, ReviewScreen)
        await pilot.click("#cast")
        await on_screen(pilot, DoneScreen)
    assert opened(e, card) == {"constitution-2022": Mark.BLANK}


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
@pytest.mark.parametrize("name", ["president-2022.json", "referendum-2022.json"])
def test_snapshot_of_the_contest_screen(snap_compare, name, lang) -> None:
    e = election(name)
    app, _ = make_app(e)
    card = card_for(e)

    async def run_before(pilot) -> None:
        await _contest(pilot, e, card, lang)
        await pilot.press("1")
        await until(pilot, lambda: pilot.app.session.contest_view().selected is not None, "a choice")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
