"""Snapshot tests (pytest-textual-snapshot) of the clerk app's main screens, spread
over Kazakh, Russian and English. Deterministic: fixed election, terminal and
station keys, a fixed clock (audit times and hashes), no receipt code on screen,
protocol files written under a relative directory of a fixed working directory.

Update after an intended change: `pytest tests/test_clerk_snapshots.py --snapshot-update`,
then look at the SVGs in tests/__snapshots__/test_clerk_snapshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from clerk_support import (
    IINS,
    PRECINCT,
    blank_card,
    check_in,
    foreign_voted_card,
    insert,
    issue_card,
    make_desk,
    make_station,
    members,
    offer_cancel,
    open_db,
    press,
    rig,
    settle,
    vote_and_cast,
)
from sailau.ballot_box import audit
from sailau.ballot_box.desk import EnteredShare
from sailau.ballot_box.screens import AuditScreen, CloseScreen, ProtocolScreen

SIZE = (110, 34)


@pytest.fixture
def station_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the protocol screen shows paths relative to here
    return tmp_path


def test_open_polls_kk(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir, open_polls=False), language="kk")
        assert snap_compare(desk.app, terminal_size=SIZE)


def test_zero_report_en(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir, open_polls=False), language="en")

        async def run_before(pilot) -> None:
            await press(pilot, "#open-polls")
            await settle(pilot, lambda: pilot.app.screen.report is not None, "zero report")

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_desk_card_issued_ru(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir), language="ru")

        async def run_before(pilot) -> None:
            await check_in(pilot, "Иван", enter=False)
            await check_in(pilot, "Әли", enter=False)
            await insert(pilot, desk, blank_card(), "card handled", lambda: desk.app.card_note is not None)
            await check_in(pilot, "Аб", enter=False)  # still waiting: shows in the queue
            pilot.app.screen.query_one("#search", Input).blur()

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_desk_foreign_card_rejected_en(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir), language="en")

        async def run_before(pilot) -> None:
            await insert(pilot, desk, foreign_voted_card(), "card handled", lambda: desk.app.card_note is not None)
            pilot.app.screen.query_one("#search", Input).blur()

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_cancel_offer_kk(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir), language="kk")
        card = blank_card()

        async def run_before(pilot) -> None:
            await offer_cancel(pilot, desk, "Жұм", card, lambda: card.state.name == "ISSUED", enter=False)

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_audit_view_ru(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir), language="ru")

        async def run_before(pilot) -> None:
            await issue_card(pilot, desk, "Иван", blank_card(), lambda: desk.app.card_note is not None, enter=False)
            await insert(pilot, desk, foreign_voted_card(), "card handled",
                         lambda: audit.read_events(db)[-1].kind == "card_rejected")
            await pilot.press("f3")
            await settle(pilot, lambda: isinstance(pilot.app.screen, AuditScreen), "audit screen")

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_close_share_entry_en(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir), language="en")
        from sailau.election import shares

        shares.write_share_file(station_dir / "share-2-of-3.json", rig().shares[1])

        async def run_before(pilot) -> None:
            await pilot.press("f4")
            await settle(pilot, lambda: isinstance(pilot.app.screen, CloseScreen), "close screen")
            pilot.app.screen.query_one("#share-file", Input).value = "share-2-of-3.json"
            await press(pilot, "#add-file")
            pilot.app.screen.query_one("#share-file", Input).blur()

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_protocol_kk(snap_compare, station_dir: Path) -> None:
    with open_db(station_dir) as db:
        desk = make_desk(make_station(db, station_dir), language="kk", out_dir=Path("protocol"))

        async def run_before(pilot) -> None:
            app = pilot.app
            for i, name in enumerate(("Абаев", "Иванова", "Ахметов")):
                card = blank_card(0x20 + i)
                await issue_card(pilot, desk, name, card, lambda: card.state.name == "ISSUED", enter=False)
                await vote_and_cast(pilot, desk, card, i, lambda: card.state.name == "BLANK")
            await pilot.press("f4")
            await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
            app.desk.set_shares([EnteredShare(s.index, "file", s) for s in rig().shares[:2]])
            app.show()
            await press(pilot, "#close")
            await press(pilot, "#yes")
            await settle(pilot, lambda: isinstance(app.screen, ProtocolScreen), "protocol", timeout=60)

        assert snap_compare(desk.app, terminal_size=(110, 48), run_before=run_before)


def test_mobile_box_ru(snap_compare, station_dir: Path) -> None:
    """F6 with two written requests, the team out with one of them, and paper at the table."""
    from sailau.ballot_box.paper_screens import MobileScreen

    with open_db(station_dir) as db:
        station = make_station(db, station_dir)
        station.receive_paper(20, "ТИК № 1", "Бекова С.")
        station.request_mobile(IINS[5], "болеет", "Бекова С.")
        station.request_mobile(IINS[4], "пожилой возраст", "Ли В.")
        station.send_mobile_team(["Бекова С.", "Ли В."], 3, [IINS[5]])
        desk = make_desk(station, language="ru")

        async def run_before(pilot) -> None:
            await pilot.press("f6")
            await settle(pilot, lambda: isinstance(pilot.app.screen, MobileScreen), "mobile screen")

        assert snap_compare(desk.app, terminal_size=SIZE, run_before=run_before)


def test_hand_count_mismatch_kk(snap_compare, station_dir: Path) -> None:
    """The hand count after two members' entries that differ on two lines: the lines shown."""
    from sailau.ballot_box.count_screens import HandCountScreen
    from sailau.ballot_box.handcount import HandCount
    from sailau.ballot_box.models import BallotForm
    from sailau.election.protocol import ContestResult

    chair, secretary = members()[:2]
    with open_db(station_dir) as db:
        station = make_station(db, station_dir, with_members=True)
        station.receive_paper(10, "ТИК № 1", "Бекова Сәуле")
        station.check_in(IINS[0], BallotForm.PAPER)
        station.end_voting()
        election = station.election
        style = election.precinct(PRECINCT).style
        zero = HandCount.zero(election, style)
        first = zero.contests[0]
        option = election.options(first.contest_id)[0].id
        right = HandCount(9, 1, 0, (ContestResult(first.contest_id, {**first.votes, option: 1}), *zero.contests[1:]))
        wrong = HandCount(9, 1, 0, (ContestResult(first.contest_id, dict(first.votes), invalid=1), *zero.contests[1:]))
        station.enter_hand_count(chair.key_id, right)
        station.enter_hand_count(secretary.key_id, wrong)
        desk = make_desk(station, language="kk")

        async def run_before(pilot) -> None:
            await pilot.press("f4")
            await settle(pilot, lambda: isinstance(pilot.app.screen, CloseScreen), "close screen")
            await press(pilot, "#hand-count")
            await settle(pilot, lambda: isinstance(pilot.app.screen, HandCountScreen), "hand count")
            pilot.app.screen.query_one("#count-body").scroll_end(animate=False)
            await pilot.pause()

        assert snap_compare(desk.app, terminal_size=(120, 40), run_before=run_before)
