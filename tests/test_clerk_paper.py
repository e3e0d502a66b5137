"""Pilot tests of the clerk app's paper-ballot and mobile-box screens (issue 13), over a
real station database in tmp_path (the desk's real steps, nothing stubbed), in Kazakh
and Russian: the act of receipt (F5), a voter checked in for a paper ballot and its
exchange, the additional list, a written request to vote outside, the mobile team sent
out and back (F6), and the refusals the station gives on the way (shown by name)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, SelectionList

from clerk_support import (
    IINS,
    desk_note,
    members,
    press,
    rendered,
    running_desk,
    settle,
)
from sailau.ballot_box import pollbook
from sailau.ballot_box.iin import Sex, make_iin
from sailau.ballot_box.messages import TEXTS
from sailau.ballot_box.models import BallotForm
from sailau.ballot_box.paper_screens import (
    AddVoterScreen,
    MobileRequestScreen,
    MobileScreen,
    PaperScreen,
    ReturnTeamScreen,
    SendTeamScreen,
)
from sailau.ballot_box.screens import ConfirmScreen, DeskScreen
from sailau.ballot_box.widgets import NoteView

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)
LANGUAGES = ["kk", "ru"]


def text(app, code: str, **fields) -> str:
    """The catalogue text of `code` in the app's language (translated: not the English id)."""
    shown = app.t(TEXTS[code], **fields)
    assert app.language == "en" or shown != TEXTS[code], f"{code} is not translated into {app.language}"
    return shown


def form_of(station, iin: str) -> BallotForm:
    return next(v for v in pollbook.search(station.db, iin)).ballot_form


async def type_into(pilot, values: dict[str, str]) -> None:
    for selector, value in values.items():
        pilot.app.screen.query_one(selector, Input).value = value
    await pilot.pause()


async def receive_paper(pilot, count: int) -> None:
    """F5, the act of receipt typed in and signed; back to the desk."""
    app = pilot.app
    await pilot.press("f5")
    await settle(pilot, lambda: isinstance(app.screen, PaperScreen), "paper screen")
    before = app.station.paper_ledger().received
    await type_into(pilot, {"#receipt-count": str(count), "#receipt-from": "ТСК № 1 / ТИК № 1",
                            "#receipt-by": "Сейітова А."})
    await press(pilot, "#receive")
    await settle(pilot, lambda: app.station.paper_ledger().received == before + count, "act of receipt")
    await pilot.press("escape")
    await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "back at the desk")


async def find(pilot, query: str) -> None:
    app = pilot.app
    app.screen.query_one("#search", Input).value = query
    await press(pilot, "#find")
    await settle(pilot, lambda: bool(app.screen.results), f"search results for {query!r}")


# --- paper ballots at the table -------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_paper_voter_checked_in_and_a_spoiled_ballot_exchanged(tmp_path: Path, language: str) -> None:
    out = tmp_path / "out"
    async with running_desk(tmp_path, size=SIZE, language=language, out_dir=out) as (desk, pilot):
        station, app = desk.station, desk.app
        await receive_paper(pilot, 10)
        assert (out / "paper-receipt-1.json").is_file()  # the signed act, beside the protocol to come

        figures = app.screen.query_one("#paper-figures")
        assert figures.display and "10" in rendered(figures)
        await find(pilot, "Иван")
        await press(pilot, "#check-in-paper")
        await settle(pilot, lambda: form_of(station, IINS[3]) is BallotForm.PAPER, "paper check-in")
        assert text(app, "checked_in_paper", name="Иванова Мария") in desk_note(app)
        assert station.waiting == [] and station.counters().checked_in == 1  # no card for a paper voter
        ledger = station.paper_ledger()
        assert (ledger.issued_in_station, ledger.in_hand, ledger.voters_paper) == (1, 9, 1)
        status = [str(c) for c in app.screen.query_one("#results", DataTable).get_row_at(0)][3]
        assert status == app.t("checked in: paper ballot") != "checked in: paper ballot"
        lines = rendered(app.screen.query_one("#paper-figures")).splitlines()
        assert any(line.startswith(app.t("Left at the table")) and line.rstrip().endswith(" 9") for line in lines)

        # the voter spoils it: the clerk exchanges it (asked first)
        await press(pilot, "#exchange-paper")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "exchange asked")
        assert "Иванова Мария" in str(app.screen.query_one("#question").render())
        await press(pilot, "#no")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "not exchanged")
        assert station.paper_ledger().spoiled == 0
        await press(pilot, "#exchange-paper")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "exchange asked again")
        await press(pilot, "#yes")
        await settle(pilot, lambda: station.paper_ledger().spoiled == 1, "exchanged")
        assert text(app, "paper_exchanged") in desk_note(app)
        assert station.paper_ledger().in_hand == 8

        # a card voter is not a paper voter: the exchange is refused by name
        await find(pilot, "Абаев")
        await press(pilot, "#check-in")
        await settle(pilot, lambda: station.counters().checked_in == 2, "card check-in")
        await press(pilot, "#exchange-paper")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "exchange asked")
        await press(pilot, "#yes")
        await settle(pilot, lambda: text(app, "refused.no_paper_ballot") in desk_note(app), "refused")
        assert station.paper_ledger().spoiled == 1
        assert app.screen.query_one("#desk-note", NoteView).has_class("note-error")


async def test_paper_check_in_with_no_paper_left_is_refused_in_plain_words(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE, language="ru") as (desk, pilot):
        station, app = desk.station, desk.app
        assert not app.screen.query_one("#paper-figures").display  # no paper here yet: nothing to show
        await find(pilot, "Ахметов")
        await press(pilot, "#check-in-paper")
        await settle(pilot, lambda: text(app, "refused.no_paper_left") in desk_note(app), "refused")
        assert station.counters().checked_in == 0 and form_of(station, IINS[2]) is BallotForm.NONE


async def test_the_act_of_receipt_form_asks_for_every_field(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE, language="kk") as (desk, pilot):
        app = desk.app
        await pilot.press("f5")
        await settle(pilot, lambda: isinstance(app.screen, PaperScreen), "paper screen")
        await type_into(pilot, {"#receipt-count": "25"})
        await press(pilot, "#receive")
        hint = app.screen.query_one("#form-hint")
        assert hint.display and str(hint.render()) == app.t(
            "Type the number of ballots, from whom and who received them.")
        assert desk.station.paper_ledger().received == 0
        assert app.screen.query_one("#receipt-count", Input).value == "25"  # kept for the clerk to finish
        count = app.screen.query_one("#receipt-count", Input)
        count.value = ""
        count.focus()
        await pilot.press("1", "x", "-", "2")  # digits only
        assert count.value == "12"


# --- the additional list --------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_voter_added_to_the_additional_list_is_found_and_checked_in(tmp_path: Path, language: str) -> None:
    iin = make_iin(dt.date(1999, 12, 31), Sex.FEMALE, 7)
    async with running_desk(tmp_path, size=SIZE, language=language) as (desk, pilot):
        station, app = desk.station, desk.app
        await press(pilot, "#add-voter")
        await settle(pilot, lambda: isinstance(app.screen, AddVoterScreen), "add voter form")
        await type_into(pilot, {"#voter-iin": iin, "#voter-surname": "Оспанова"})
        await press(pilot, "#submit")
        assert app.screen.query_one("#form-hint").display  # given name and birth date missing: nothing sent
        await type_into(pilot, {"#voter-given": "Сая", "#voter-born": "1999-12-31"})
        await press(pilot, "#submit")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen) and bool(app.screen.results), "added")
        assert text(app, "voter_added", name="Оспанова Сая") in desk_note(app)
        assert [v.iin for v in app.screen.results] == [iin]
        voter = pollbook.search(station.db, iin)[0]
        assert voter.additional and station.counters().on_list == len(IINS) + 1
        await press(pilot, "#check-in")
        await settle(pilot, lambda: station.counters().checked_in == 1, "checked in")

        # the same IIN again: refused by name, nothing added
        await press(pilot, "#add-voter")
        await settle(pilot, lambda: isinstance(app.screen, AddVoterScreen), "add voter form")
        await type_into(pilot, {"#voter-iin": iin, "#voter-surname": "Оспанова", "#voter-given": "Сая",
                                "#voter-born": "1999-12-31"})
        await press(pilot, "#submit")
        await settle(pilot, lambda: text(app, "refused.already_on_list") in desk_note(app), "refused")
        assert station.counters().on_list == len(IINS) + 1


# --- the mobile ballot box ------------------------------------------------------------------------


async def request_outside(pilot, query: str, reason: str, received_by: str) -> None:
    app = pilot.app
    await find(pilot, query)
    await press(pilot, "#request-mobile")
    await settle(pilot, lambda: isinstance(app.screen, MobileRequestScreen), "request form")
    await type_into(pilot, {"#request-reason": reason, "#request-by": received_by})
    before = len(app.station.mobile_requests())
    app.screen.query_one("#request-reason", Input).focus()
    await pilot.press("enter")  # Enter goes on to the next field...
    assert app.screen.query_one("#request-by", Input).has_focus and len(app.station.mobile_requests()) == before
    await pilot.press("enter")  # ...and in the last one sends the form
    await settle(pilot, lambda: len(app.station.mobile_requests()) == before + 1, "request recorded")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_mobile_request_then_the_team_out_and_back(tmp_path: Path, language: str) -> None:
    async with running_desk(tmp_path, size=SIZE, language=language) as (desk, pilot):
        station, app = desk.station, desk.app
        await receive_paper(pilot, 5)
        await request_outside(pilot, "Сәрсен", "науқас / болеет", "Ахметова Д.")
        await request_outside(pilot, "Жұмабек", "қарт / пожилой возраст", "Ахметова Д.")
        assert text(app, "mobile_requested", name="Жұмабек Дәулет") in desk_note(app)
        status = [str(c) for c in app.screen.query_one("#results", DataTable).get_row_at(0)][3]
        assert status == app.t("asked to vote outside")

        # a voter who asked to vote outside is not checked in at the table
        await press(pilot, "#check-in-paper")
        await settle(pilot, lambda: text(app, "refused.mobile_requested") in desk_note(app), "check-in refused")
        assert station.counters().checked_in == 0

        await pilot.press("f6")
        await settle(pilot, lambda: isinstance(app.screen, MobileScreen), "mobile screen")
        table = app.screen.query_one("#requests", DataTable)
        assert table.row_count == 2
        rows = {row[0]: row for row in ([str(c) for c in table.get_row_at(i)] for i in range(2))}
        assert set(rows) == {"Сәрсенова Гүлнар", "Жұмабек Дәулет Асқарұлы"}
        sarsenova = rows["Сәрсенова Гүлнар"]
        assert sarsenova[1:3] == [IINS[5], "науқас / болеет"] and sarsenova[4] == "Ахметова Д."
        assert sarsenova[5] == app.t("waiting for the team") and sarsenova[3] == "2023-03-19 09:00"  # local time
        assert "(Asia/Almaty)" in str(list(table.columns.values())[3].label)  # the zone, in the heading

        await press(pilot, "#send-team")
        await settle(pilot, lambda: isinstance(app.screen, SendTeamScreen), "departure form")
        requests = app.screen.query_one("#team-requests", SelectionList)
        assert sorted(requests.selected) == sorted([IINS[5], IINS[4]])  # every pending request, ticked
        await type_into(pilot, {"#team-ballots": "3"})
        await press(pilot, "#submit")
        assert app.screen.query_one("#form-hint").display  # no member named: nothing sent
        await type_into(pilot, {"#team-others": "Ахметова Д., Ким В."})
        await press(pilot, "#submit")
        await settle(pilot, lambda: len(station.mobile_trips()) == 1, "team sent")
        assert isinstance(app.screen, MobileScreen)
        trip = station.mobile_trips()[0]
        assert trip.members == ("Ахметова Д.", "Ким В.") and trip.ballots == 3
        assert station.paper_ledger().out_with_teams == 3
        assert {str(app.screen.query_one("#requests", DataTable).get_row_at(i)[5]) for i in range(2)} == {
            app.t("team on its way")}
        trips = app.screen.query_one("#trips", DataTable)
        assert [str(c) for c in trips.get_row_at(0)][:5] == ["1", "Ахметова Д., Ким В.", "3", "2", app.t("out")]

        # back: one voted, one did not; counts that do not add up are refused by name
        await press(pilot, "#return-team")
        await settle(pilot, lambda: isinstance(app.screen, ReturnTeamScreen), "return form")
        app.screen.query_one("#team-voted", SelectionList).select(IINS[5])
        await type_into(pilot, {"#team-unused": "1", "#team-spoiled": "0"})  # 1 + 1 + 0 != 3
        await press(pilot, "#submit")
        await settle(pilot, lambda: text(app, "refused.mobile_counts_mismatch") in desk_note(app), "refused")
        assert isinstance(app.screen, MobileScreen)
        assert text(app, "refused.mobile_counts_mismatch") in str(app.screen.query_one("#mobile-note").render())
        assert station.mobile_trips()[0].unused is None  # still out

        await press(pilot, "#return-team")
        await settle(pilot, lambda: isinstance(app.screen, ReturnTeamScreen), "return form again")
        app.screen.query_one("#team-voted", SelectionList).select(IINS[5])
        await type_into(pilot, {"#team-unused": "1", "#team-spoiled": "1"})
        await press(pilot, "#submit")
        await settle(pilot, lambda: station.mobile_trips()[0].unused == 1, "team back")
        assert text(app, "mobile_returned", trip=1, voted=1, unused=1, spoiled=1) in desk_note(app)
        assert form_of(station, IINS[5]) is BallotForm.OUTSIDE
        ledger = station.paper_ledger()
        assert (ledger.issued_outside, ledger.voters_outside, ledger.out_with_teams) == (1, 1, 0)
        rows = [[str(c) for c in app.screen.query_one("#requests", DataTable).get_row_at(i)] for i in range(2)]
        assert {r[0]: r[5] for r in rows} == {"Сәрсенова Гүлнар": app.t("voted outside"),
                                             "Жұмабек Дәулет Асқарұлы": app.t("did not vote")}
        assert [str(c) for c in app.screen.query_one("#trips", DataTable).get_row_at(0)][4:] == [
            app.t("back"), "1", "1", "1"]

        # a voter who voted outside cannot vote again inside
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "desk")
        await find(pilot, "Сәрсен")
        assert [str(c) for c in app.screen.query_one("#results", DataTable).get_row_at(0)][3] == app.t(
            "voted outside")
        await press(pilot, "#check-in")
        await settle(pilot, lambda: text(app, "refused.voted_outside") in desk_note(app), "refused")
        assert station.counters().checked_in == 0


async def test_a_pending_request_is_withdrawn_and_the_voter_checks_in(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE, language="kk") as (desk, pilot):
        station, app = desk.station, desk.app
        await request_outside(pilot, "Абаев", "науқас", "Ахметова Д.")
        await pilot.press("f6")
        await settle(pilot, lambda: isinstance(app.screen, MobileScreen), "mobile screen")
        await press(pilot, "#withdraw")
        await settle(pilot, lambda: text(app, "mobile_withdrawn", name="Абаев Нұрлан") in desk_note(app), "withdrawn")
        assert [str(c) for c in app.screen.query_one("#requests", DataTable).get_row_at(0)][5] == app.t("withdrawn")
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "desk")
        await find(pilot, "Абаев")
        await press(pilot, "#check-in")
        await settle(pilot, lambda: station.counters().checked_in == 1, "checked in at the table")


async def test_the_mobile_team_is_picked_from_the_commission(tmp_path: Path) -> None:
    """With the commission loaded at set-up, the departure form offers its members to tick
    (with their role); a name typed besides them joins the team too."""
    async with running_desk(tmp_path, size=SIZE, language="ru", with_members=True) as (desk, pilot):
        station, app = desk.station, desk.app
        await receive_paper(pilot, 4)
        await request_outside(pilot, "Иван", "болеет", "Ли Виктор")
        await pilot.press("f6")
        await settle(pilot, lambda: isinstance(app.screen, MobileScreen), "mobile screen")
        await press(pilot, "#send-team")
        await settle(pilot, lambda: isinstance(app.screen, SendTeamScreen), "departure form")
        picker = app.screen.query_one("#team-members", SelectionList)
        assert picker.display and picker.option_count == len(members())
        assert [str(picker.get_option_at_index(i).prompt) for i in range(picker.option_count)] == [
            f"{m.name} ({m.title('ru')})" for m in members()]
        picker.select("Ли Виктор")
        picker.select("Омаров Арман")
        await type_into(pilot, {"#team-others": "Водитель Серик", "#team-ballots": "2"})
        await press(pilot, "#submit")
        await settle(pilot, lambda: len(station.mobile_trips()) == 1, "team sent")
        trip = station.mobile_trips()[0]
        assert trip.members == ("Ли Виктор", "Омаров Арман", "Водитель Серик") and trip.iins == (IINS[3],)
