"""Pilot tests of the clerk app's count at close (issue 13, items 4 and 6), over a real
station database with the precinct's commission loaded and paper ballots used, in
Kazakh and Russian: end of voting, the hand count entered by two members (a mismatch
shows the differing lines and keeps signing blocked; a corrected entry agrees), the
protocol signed, then members co-signing with their own key files, one with a
dissenting opinion, until a majority has signed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from textual.widgets import Button, DataTable, Input, Select, TextArea

from clerk_support import (
    IINS,
    MEMBER_KEYS,
    PRECINCT,
    blank_card,
    desk_note,
    issue_card,
    make_desk,
    make_station,
    members,
    open_db,
    press,
    rig,
    settle,
    vote_and_cast,
)
from sailau.ballot_box import wallcopy
from sailau.ballot_box.count_screens import CosignScreen, HandCountScreen
from sailau.ballot_box.desk import EnteredShare
from sailau.ballot_box.handcount import HandCount
from sailau.ballot_box.messages import TEXTS
from sailau.ballot_box.models import BallotForm, PollsState
from sailau.ballot_box.screens import CloseScreen, ConfirmScreen, ProtocolScreen
from sailau.election import crypto
from sailau.election.cosign import read_cosignature_file
from sailau.election.members import Member

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)
MEMBERS = members()


def text(app, code: str, **fields) -> str:
    shown = app.t(TEXTS[code], **fields)
    assert app.language == "en" or shown != TEXTS[code], f"{code} is not translated into {app.language}"
    return shown


def paper_station(db, tmp_path: Path):
    """The station with its commission, 10 paper ballots received and two paper voters."""
    station = make_station(db, tmp_path, with_members=True)  # the commission loaded at set-up
    station.receive_paper(10, "ТИК № 1", "Бекова Сәуле")
    for iin in IINS[:2]:
        station.check_in(iin, BallotForm.PAPER)
    return station


def true_count(app) -> dict[str, int]:
    """What the members find: 8 unused, 2 ballots in the stationary box, each contest's
    first option marked on both."""
    style = app.election.precinct(PRECINCT).style
    figures = dict(HandCount.zero(app.election, style).lines())
    figures.update(unused=8, found_stationary=2)
    for contest in app.election.contests_for_style(style):
        figures[f"contest:{contest.id}:option:{app.election.options(contest.id)[0].id}"] = 2
    return figures


async def enter(pilot, member: Member, figures: dict[str, int]) -> None:
    """One member's entry, typed into the form and saved."""
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, HandCountScreen)
    screen.query_one("#member", Select).value = member.key_id.hex()
    screen.fill(figures)
    await press(pilot, "#save-count")
    await settle(pilot, lambda: app.view.hand_count is not None and member.key_id in app.view.hand_count.entries,
                 f"{member.name}'s entry")


@pytest.mark.parametrize("language", ["kk", "ru"])
async def test_a_hand_count_mismatch_then_agreement_then_signed_and_cosigned(tmp_path: Path, language: str) -> None:
    out = tmp_path / "protocol"
    for i, key in enumerate(MEMBER_KEYS):
        crypto.save_signing_key(tmp_path / f"member-{i}.pem", key)
    with open_db(tmp_path) as db:
        station = paper_station(db, tmp_path)
        desk = make_desk(station, language=language, out_dir=out)
        app = desk.app
        async with app.run_test(size=SIZE) as pilot:
            card = blank_card(0x31)  # one card voter too: the combined protocol adds both
            await issue_card(pilot, desk, "Ахмет", card, lambda: card.state.name == "ISSUED")
            await vote_and_cast(pilot, desk, card, 0, lambda: card.state.name == "BLANK")

            await pilot.press("f4")
            await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
            close = app.screen
            app.desk.set_shares([EnteredShare(s.index, "file", s) for s in rig().shares[:2]])
            app.show()
            await pilot.pause()
            assert close.query_one("#close", Button).disabled  # k shares in, but no hand count yet
            assert close.query_one("#end-voting").display and close.query_one("#hand-count").display
            assert str(close.query_one("#count-status").render()) == app.t(
                "Hand count: no entry yet. Two members each enter the count.")

            await press(pilot, "#end-voting")
            await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), "end voting asked")
            await press(pilot, "#yes")
            await settle(pilot, lambda: station.polls_state is PollsState.CLOSED, "voting ended")
            await settle(pilot, lambda: not close.query_one("#end-voting").display, "end voting gone")
            assert str(close.query_one("#voting-state").render()) == app.t("Voting has ended: open the boxes and count.")

            await press(pilot, "#hand-count")
            await settle(pilot, lambda: isinstance(app.screen, HandCountScreen), "hand count form")
            form = app.screen
            style = app.election.precinct(PRECINCT).style
            keys = [k for k, _ in HandCount.zero(app.election, style).lines()]
            labels = [str(w.render()) for w in form.query(".count-label")]
            assert labels == [wallcopy.line_label(app.election, k, language) for k in keys]  # every line, labelled
            picker = form.query_one("#member", Select)
            for member in MEMBERS:  # each of the commission can be picked (a value not offered raises)
                picker.value = member.key_id.hex()
            picker.clear()

            # the form asks for a member and every line
            await press(pilot, "#save-count")
            assert str(form.query_one("#form-hint").render()) == app.t("Pick the member who enters this count.")
            form.query_one("#member", Select).value = MEMBERS[0].key_id.hex()
            await press(pilot, "#save-count")
            assert str(form.query_one("#form-hint").render()) == app.t("Enter every line (0 where there is none).")
            assert station.hand_count().entries == ()

            count = true_count(app)
            await enter(pilot, MEMBERS[0], count)
            assert station.hand_count().entries == (MEMBERS[0].key_id,)
            assert all(not f.value for f in form.query(".count-line Input").results(Input))  # cleared for the next
            assert str(form.query_one("#count-state").render()) == app.t(
                "Hand count: {n} entry. A second member enters the count.", n=1)

            # the secretary miscounts the first contest: two lines differ
            contest = app.election.contests_for_style(style)[0]
            first, second = (o.id for o in app.election.options(contest.id)[:2])
            wrong = dict(count)
            wrong[f"contest:{contest.id}:option:{first}"] = 1
            wrong[f"contest:{contest.id}:option:{second}"] = 1
            await enter(pilot, MEMBERS[1], wrong)
            state = station.hand_count()
            assert state.agreed is None and len(state.differences) == 2
            assert str(form.query_one("#count-state").render()) == app.t(
                "Hand count: the entries differ on {n} lines. Recount those lines; a member enters again.", n=2)
            assert form.query_one("#count-state").has_class("note-error")
            table = form.query_one("#differences", DataTable)
            assert table.display and table.row_count == 2
            rows = [[str(c) for c in table.get_row_at(i)] for i in range(2)]
            heads = [str(c.label) for c in table.columns.values()]
            by_name = {MEMBERS[0].name: count, MEMBERS[1].name: wrong}  # each column is one member's entry
            assert heads[0] == app.t("Line") and sorted(heads[1:]) == sorted(by_name)
            assert rows == [[wallcopy.line_label(app.election, f"contest:{contest.id}:option:{oid}", language),
                             *(str(by_name[h][f"contest:{contest.id}:option:{oid}"]) for h in heads[1:])]
                            for oid in (first, second)]
            await pilot.press("escape")
            await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "back to close")
            assert close.query_one("#close", Button).disabled  # signing blocked until the entries agree
            assert close.query_one("#count-status").has_class("note-error")

            # recounted: the secretary enters again, the entries agree, signing is open
            await press(pilot, "#hand-count")
            await settle(pilot, lambda: isinstance(app.screen, HandCountScreen), "hand count form again")
            form = app.screen
            await enter(pilot, MEMBERS[1], count)
            await settle(pilot, lambda: station.hand_count().agreed is not None, "agreed")
            assert not form.query_one("#differences").display
            assert str(form.query_one("#count-state").render()) == app.t(
                "Hand count: {n} entries agree. The protocol can be signed.", n=2)
            await pilot.press("escape")
            await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "back to close")
            assert not close.query_one("#close", Button).disabled
            await press(pilot, "#close")
            await press(pilot, "#yes")
            await settle(pilot, lambda: isinstance(app.screen, ProtocolScreen), "protocol", timeout=60)
            protocol = app.closing.protocol
            assert protocol.paper is not None and protocol.paper.found_stationary == 2
            assert (protocol.voters_paper, protocol.ballots_cast, protocol.ballots_counted) == (2, 1, 3)

            # co-signing: the chair with a dissent, then the secretary: a majority of three
            assert str(app.screen.query_one("#cosignatures").render()) == app.t("No member has co-signed yet.")
            dissent = "Жылжымалы жәшік мөрі бұзылған / пломба переносного ящика нарушена"
            await press(pilot, "#cosign")
            await settle(pilot, lambda: isinstance(app.screen, CosignScreen), "co-sign form")
            await press(pilot, "#submit")
            assert str(app.screen.query_one("#form-hint").render()) == app.t("Type the path of your member key file.")
            app.screen.query_one("#key-file", Input).value = str(tmp_path / "member-0.pem")
            app.screen.query_one("#dissent", TextArea).text = dissent
            await press(pilot, "#submit")
            await settle(pilot, lambda: app.view.cosignatures is not None and len(app.view.cosignatures.valid) == 1,
                         "chair co-signed")
            shown = str(app.screen.query_one("#cosignatures").render())
            assert app.t("Co-signed by {n} of {m} members: no majority yet.", n=1, m=3) in shown
            assert MEMBERS[0].name in shown and "Asia/Almaty" in shown and app.t("dissenting opinion attached") in shown

            await press(pilot, "#cosign")
            await settle(pilot, lambda: isinstance(app.screen, CosignScreen), "co-sign form")
            app.screen.query_one("#key-file", Input).value = str(tmp_path / "member-1.pem")
            await press(pilot, "#submit")
            await settle(pilot, lambda: len(app.view.cosignatures.valid) == 2, "secretary co-signed")
            shown = str(app.screen.query_one("#cosignatures").render())
            assert app.t("Co-signed by {n} of {m} members: majority reached.", n=2, m=3) in shown
            assert app.view.cosignatures.majority
            cosigs = [read_cosignature_file(p) for p in sorted(out.glob("protocol.*.cosig"))]
            assert sorted(c.dissent or "" for c in cosigs) == sorted(["", dissent])  # the dissent travels, signed

            # a key that is not a member's is refused by name, nothing written
            other = ed25519.Ed25519PrivateKey.generate()
            crypto.save_signing_key(tmp_path / "stranger.pem", other)
            await press(pilot, "#cosign")
            await settle(pilot, lambda: isinstance(app.screen, CosignScreen), "co-sign form")
            app.screen.query_one("#key-file", Input).value = str(tmp_path / "stranger.pem")
            await press(pilot, "#submit")
            await settle(pilot, lambda: text(app, "cosign.not_a_member") in desk_note(app), "stranger refused")
            assert len(list(out.glob("protocol.*.cosig"))) == 2
