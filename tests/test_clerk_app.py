"""Pilot tests of the clerk app's main flows over an in-process card and a SQLite
station in tmp_path: open polls, search and check-in, issue, cast (a ballot sealed
with the real seal_ballot and an enrolled terminal key), "already counted", a
foreign card, a card pulled mid-ISSUE, cancel, audit view, language switch,
close of polls with k shares -> the signed protocol; plus the gettext catalogs."""

from __future__ import annotations

import ast
import gettext
import re
from pathlib import Path

import pytest
from textual.widgets import Button, DataTable, Input, TextArea

from clerk_support import (
    IINS,
    K,
    blank_card,
    card_note,
    check_in,
    close_with_shares,
    desk_note,
    foreign_voted_card,
    insert,
    issue_card,
    make_desk,
    make_station,
    offer_cancel,
    on_screen,
    open_db,
    press,
    remove,
    rendered,
    screen_lines,
    rig,
    running_desk,
    settle,
    vote,
    vote_and_cast,
)
from sailau.ballot_box import audit, i18n
from sailau.ballot_box.app import ClerkApp
from sailau.ballot_box.messages import TEXTS, text_of
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.screens import (
    AuditScreen,
    CancelCardScreen,
    CloseScreen,
    ConfirmScreen,
    DeskScreen,
    OpenPollsScreen,
    ProtocolScreen,
    ReplaceCardScreen,
)
from sailau.ballot_box.refusal import CARD_REFUSALS, Refusal
from sailau.ballot_box.widgets import NoteView
from sailau.election import shares
from sailau.election.protocol import SignedProtocol, verify_signed_protocol
from sailau.election.receipts import read_receipt_list
from sailau.smartcard.apdu import CardState

pytestmark = pytest.mark.asyncio

SIZE = (120, 40)


def note_text(app: ClerkApp, selector: str) -> str:
    return str(app.screen.query_one(selector, NoteView).render())


# --- flows --------------------------------------------------------------------------------


async def test_open_polls_enrols_the_terminal_and_shows_the_zero_report(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE, open_polls=False) as (desk, pilot):
        station, app = desk.station, desk.app
        assert isinstance(app.screen, OpenPollsScreen)
        terminals = app.screen.query_one("#terminals", DataTable)
        assert terminals.row_count == 1 and rig().terminal.key_id.hex() in str(terminals.get_row_at(0))
        await press(pilot, "#open-polls")
        await settle(pilot, lambda: app.screen.report is not None, "zero report")
        report = app.screen.report
        assert (report.ballots_stored, report.cards_issued, report.voters_on_list) == (0, 0, len(IINS))
        assert station.polls_state is PollsState.OPEN
        shown = str(app.screen.query_one("#zero-report").render())
        assert "Zero report" in shown and rig().terminal.key_id.hex() in shown
        await press(pilot, "#to-desk")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "desk screen")


async def test_zero_report_refusal_is_shown_and_polls_stay_closed(tmp_path: Path) -> None:
    with open_db(tmp_path) as db:
        station = make_station(db, tmp_path, open_polls=False)
        desk = make_desk(station)
        desk.app.terminal_keys.clear()  # nobody enrolled: the zero report must refuse
        async with desk.app.run_test(size=SIZE) as pilot:
            await press(pilot, "#open-polls")
            await settle(pilot, lambda: "zero report failed" in note_text(desk.app, "#open-note"), "refusal")
            assert "no voting terminal" in note_text(desk.app, "#open-note")
            assert station.polls_state is PollsState.SETUP
            assert not desk.app.screen.query_one("#open-polls", Button).disabled


async def test_search_check_in_issue_cast_and_counters(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        assert isinstance(app.screen, DeskScreen)
        await check_in(pilot, "Әли")  # Kazakh name prefix
        assert "Checked in: Әлиева Айгүл" in desk_note(app)
        assert [v.iin for v in station.waiting] == [IINS[1]]
        assert app.screen.query_one("#waiting", DataTable).row_count == 1

        card = blank_card()
        await insert(pilot, desk, card, "issue", lambda: "Card issued to Әлиева Айгүл" in card_note(app))
        assert card.state is CardState.ISSUED and station.waiting == []
        assert "Insert a blank card" not in desk_note(app)  # before: the footer still asked for one
        c = station.counters()
        assert (c.checked_in, c.issued, c.cast, c.outstanding) == (1, 1, 0, 1)
        await remove(pilot, desk)

        receipt = vote(card, 1)
        await insert(pilot, desk, card, "cast", lambda: "Ballot counted" in card_note(app))
        assert receipt not in card_note(app) and card.state is CardState.BLANK  # the booth's, not the table's
        c = station.counters()
        assert (c.issued, c.cast, c.outstanding) == (1, 1, 0)
        counters = rendered(app.screen.query_one("#counters"))
        assert re.search(r"Ballots cast\s+1", counters) and re.search(r"Cards outstanding\s+0", counters)

        # a second check-in of the same voter is refused in plain words
        await press(pilot, "#check-in")
        await settle(pilot, lambda: "already checked in" in desk_note(app), "second check-in refused")
        assert station.counters().checked_in == 1


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_replace_card_is_on_screen_not_cut_off(tmp_path: Path, language: str) -> None:
    """Before: the third button of the row ("Replace card") lay past the desk's edge. Each
    desk button (the paper and mobile ones too) is whole and drawn, its label not cut (not
    clipped, not under the hint bar) at the app's sizes."""
    for size in ((110, 34), (120, 40), (200, 50)):
        (tmp_path / str(size[0])).mkdir()
        async with running_desk(tmp_path / str(size[0]), size=size, language=language) as (desk, pilot):
            await pilot.pause()
            screen = desk.app.screen
            left = screen.query_one("#desk-left").region
            for selector in ("#find", "#add-voter", "#check-in", "#check-in-paper", "#select", "#replace",
                             "#exchange-paper", "#request-mobile"):
                button = screen.query_one(selector, Button)
                assert left.contains_region(button.region), (size, selector, button.region, left)
                assert button.region.width >= len(str(button.label)) + 2
                assert on_screen(button, 1) and str(button.label) in screen_lines(desk.app)[button.region.y + 1]


async def test_blank_card_waits_for_a_voter_then_is_issued(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = blank_card()
        await insert(pilot, desk, card, "need voter", lambda: "Blank card" in card_note(app))
        assert card.state is CardState.BLANK and station.counters().issued == 0
        await check_in(pilot, IINS[3])  # by IIN
        await settle(pilot, lambda: "Card issued to Иванова Мария" in card_note(app), "issued on check-in")
        assert card.state is CardState.ISSUED


async def test_second_insertion_of_a_counted_card_says_already_counted(tmp_path: Path) -> None:
    """The card is pulled during CLEAR (after the commit): re-inserting finds the
    token used, counts nothing, clears the card and says so."""
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = blank_card()
        await issue_card(pilot, desk, "Абаев", card, lambda: "Card issued" in card_note(app))
        receipt = vote(card, 0)
        card.tear_after_bytes = 1  # power lost at the first byte CLEAR writes
        await insert(pilot, desk, card, "cast, clear torn", lambda: "removed before it was cleared" in card_note(app))
        assert card.state is CardState.VOTED and station.counters().cast == 1
        desk.slot.poll()  # the torn card left the reader by itself
        await settle(pilot, lambda: not app.card_present, "torn card reported removed")

        await insert(pilot, desk, card, "re-insert", lambda: "Already counted" in card_note(app))
        assert receipt not in card_note(app) and "nothing was added" in card_note(app)
        assert card.state is CardState.BLANK and station.counters().cast == 1


async def test_foreign_card_is_rejected_with_its_message_and_left_untouched(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = foreign_voted_card()
        record = card.record
        await insert(pilot, desk, card, "rejected", lambda: "another election" in card_note(app))
        assert card_note(app) == app.t(text_of(f"card.{Refusal.WRONG_ELECTION.value}"))
        assert card.state is CardState.VOTED and card.record == record
        assert station.counters().cast == 0
        assert app.screen.query_one("#card-note", NoteView).has_class("note-error")
        assert audit.read_events(station.db)[-1].payload == {"reason": "wrong_election"}


async def test_card_pulled_mid_issue_shows_a_message_and_the_same_card_finishes(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        await check_in(pilot, "Ахметов")
        card = blank_card()
        card.tear_after_bytes = 1  # the card loses power during ISSUE
        await insert(pilot, desk, card, "issue torn", lambda: "pulled out before it was issued" in card_note(app))
        assert card.state is CardState.BLANK
        desk.slot.poll()
        await settle(pilot, lambda: not app.card_present, "torn card reported removed")
        # the UI is alive: a search still works while the card is out
        app.screen.query_one("#search", Input).value = "Иван"
        await press(pilot, "#find")
        await settle(pilot, lambda: len(app.screen.results) == 1, "search after a torn issue")

        await insert(pilot, desk, card, "issue again", lambda: "Card issued to Ахметов Ерлан" in card_note(app))
        assert card.state is CardState.ISSUED
        assert station.counters().issued == 1  # the same token, not a second card


async def test_cancel_an_issued_card(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = blank_card()
        # the voter left without voting: the card comes back ISSUED
        await offer_cancel(pilot, desk, "Жұмабек", card, lambda: "Card issued" in card_note(app))
        await press(pilot, "#no")
        await settle(pilot, lambda: "kept as it is" in card_note(app), "kept")
        assert card.state is CardState.ISSUED
        await remove(pilot, desk)
        await insert(pilot, desk, card, "offer cancel again", lambda: isinstance(app.screen, CancelCardScreen))
        await press(pilot, "#yes")
        await settle(pilot, lambda: "Card cancelled and cleared" in card_note(app), "cancelled")
        assert card.state is CardState.BLANK
        c = station.counters()
        assert (c.issued, c.cancelled, c.outstanding, c.cast) == (1, 1, 0, 0)


async def test_removing_the_card_while_cancel_is_offered_cancels_nothing(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = blank_card()
        await offer_cancel(pilot, desk, "Сәрсен", card, lambda: "Card issued" in card_note(app))
        await remove(pilot, desk)
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "dialog closed")
        assert "not cancelled" in card_note(app)
        assert card.state is CardState.ISSUED and station.counters().cancelled == 0


async def test_the_card_cleared_by_a_cast_is_issued_to_the_next_voter(tmp_path: Path) -> None:
    """After a cast the cleared card stays in the reader: it is a blank card for the next
    voter, issued on check-in without pulling and re-inserting it; a voter already
    waiting gets it at once."""
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = blank_card()
        await issue_card(pilot, desk, "Абаев", card, lambda: "Card issued to Абаев" in card_note(app))
        await vote_and_cast(pilot, desk, card, 0, lambda: "Ballot counted" in card_note(app), keep=True)
        assert card.state is CardState.BLANK and app.card_present and app.blank_card_waiting
        await check_in(pilot, "Иванова")  # the card never left the reader
        await settle(pilot, lambda: "Card issued to Иванова Мария" in card_note(app), "cleared card issued")
        assert card.state is CardState.ISSUED and station.waiting == []

        await remove(pilot, desk)
        await check_in(pilot, "Ахметов")  # waits while Иванова votes
        vote(card, 1)
        await insert(pilot, desk, card, "cast, then issue to the waiting voter",
                     lambda: "Card issued to Ахметов Ерлан" in card_note(app))
        assert card.state is CardState.ISSUED
        c = station.counters()
        assert (c.checked_in, c.issued, c.cast, c.outstanding) == (3, 3, 2, 1)


async def test_replace_a_spoilt_card_in_the_reader(tmp_path: Path) -> None:
    """Replace card with the old card in the reader: its token is cancelled, the card is
    cleared and, being blank in the reader, issued to the same voter with a new token."""
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        await check_in(pilot, "Жұмабек")
        card = blank_card()
        await insert(pilot, desk, card, "issue", lambda: "Card issued" in card_note(app))
        first = card.issue_block
        await press(pilot, "#check-in")  # the same voter again: refused, one card
        await settle(pilot, lambda: "already checked in" in desk_note(app), "second check-in refused")
        await press(pilot, "#select")
        await settle(pilot, lambda: "already got a card" in desk_note(app), "second card refused")

        await press(pilot, "#replace")
        await settle(pilot, lambda: isinstance(app.screen, ReplaceCardScreen), "replace dialog")
        assert "Жұмабек Дәулет" in str(app.screen.query_one("#question").render())
        await press(pilot, "#in-reader")
        await settle(pilot, lambda: "Card issued to Жұмабек Дәулет" in card_note(app), "replaced and reissued")
        assert card.state is CardState.ISSUED and card.issue_block != first
        c = station.counters()
        assert (c.checked_in, c.issued, c.cancelled, c.outstanding, c.replaced, c.not_returned) == (1, 2, 1, 1, 1, 0)
        counters = rendered(app.screen.query_one("#counters"))
        assert re.search(r"Cards replaced\s+1", counters)
        assert ("card_replaced", {"reason": "damaged", "card_returned": True}) in [
            (e.kind, e.payload) for e in audit.read_events(station.db)]


async def replace_without_the_card(pilot, when: str) -> None:
    """Replace card, "the old card is not here": up to the confirmation it asks for."""
    app = pilot.app
    await press(pilot, "#replace")
    await settle(pilot, lambda: isinstance(app.screen, ReplaceCardScreen), f"replace dialog{when}")
    await press(pilot, "#lost")
    await settle(pilot, lambda: isinstance(app.screen, ConfirmScreen), f"confirmation{when}")


async def test_replace_a_card_that_is_not_handed_back_needs_a_confirmation(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = blank_card()  # the voter walks off with it and loses it
        await issue_card(pilot, desk, "Сәрсен", card, lambda: "Card issued" in card_note(app))

        await replace_without_the_card(pilot, "")
        assert "will be revoked" in str(app.screen.query_one("#question").render())
        await press(pilot, "#no")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "back at the desk")
        assert station.counters().replaced == 0

        await replace_without_the_card(pilot, ", again")
        await press(pilot, "#yes")
        await settle(pilot, lambda: "without the old card" in card_note(app), "replaced, not returned")
        assert "revoked" in card_note(app)
        assert app.screen.query_one("#card-note", NoteView).has_class("note-warn")

        new = blank_card(2)
        await insert(pilot, desk, new, "new card", lambda: "Card issued to Сәрсенова Гүлнар" in card_note(app))
        c = station.counters()
        assert (c.issued, c.cancelled, c.outstanding, c.revoked, c.replaced, c.not_returned) == (2, 0, 1, 1, 1, 1)

        await remove(pilot, desk)  # lost again: a second replacement without the card revokes that one too
        await replace_without_the_card(pilot, ", third time")
        await press(pilot, "#yes")
        await settle(pilot, lambda: station.counters().replaced == 2, "replaced again")
        assert station.counters().not_returned == 2

        vote(card, 0)  # the first "lost" card was kept and voted: it comes back to the box
        await insert(pilot, desk, card, "revoked card", lambda: "Revoked" in card_note(app))
        assert "keep it for the commission" in card_note(app)
        assert card.state is CardState.VOTED and station.counters().cast == 0  # refused, not cleared


async def test_audit_view_lists_recent_events_and_the_chain_status(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        station, app = desk.station, desk.app
        card = foreign_voted_card()
        await insert(pilot, desk, card, "rejected", lambda: "another election" in card_note(app))
        await pilot.press("f3")
        await settle(pilot, lambda: isinstance(app.screen, AuditScreen), "audit screen")
        assert "Chain verified" in note_text(app, "#chain")
        table = app.screen.query_one("#events", DataTable)
        newest = [str(c) for c in table.get_row_at(0)]
        assert newest[2] == "card rejected" and "reason=wrong_election" in newest[4]
        assert table.row_count == len(audit.read_events(station.db))
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, DeskScreen), "back to desk")


async def test_audit_view_reports_a_broken_chain(tmp_path: Path) -> None:
    with open_db(tmp_path) as db:
        station = make_station(db, tmp_path)
        with db.write() as session:  # someone edits an event's payload in the database
            from sqlalchemy import update

            from sailau.ballot_box.models import AuditEventRow

            session.execute(update(AuditEventRow).where(AuditEventRow.seq == 1).values(time="2023-03-19T07:00+05:00"))
        desk = make_desk(station)
        async with desk.app.run_test(size=SIZE) as pilot:
            await pilot.press("f3")
            await settle(pilot, lambda: isinstance(desk.app.screen, AuditScreen), "audit screen")
            assert "Chain BROKEN at event 1" in note_text(desk.app, "#chain")


async def test_language_switch_retranslates_the_screen(tmp_path: Path) -> None:
    async with running_desk(tmp_path, size=SIZE, language="kk") as (desk, pilot):
        station, app = desk.station, desk.app
        button = app.screen.query_one("#check-in", Button)
        assert str(button.label) == "Тіркеу: карта"
        card = foreign_voted_card()
        await insert(pilot, desk, card, "rejected", lambda: app.card_note is not None)
        assert card_note(app) == "Бұл карта басқа сайлауға тиесілі. Ол есептелмеді және өзгертілмеді."
        await pilot.press("f2")
        await pilot.pause()
        assert app.language == "ru" and str(button.label) == "Отметить: карта"
        assert "другим выборам" in note_text(app, "#card-note")
        assert "Русский" in str(app.screen.query_one("#header").render())
        await pilot.press("f2")
        await pilot.pause()
        assert app.language == "en" and str(button.label) == "Check in: card"
        assert "another election" in note_text(app, "#card-note")


async def test_close_polls_with_k_shares_shows_the_signed_protocol(tmp_path: Path) -> None:
    out = tmp_path / "protocol"
    share_one, share_two = rig().shares[0], rig().shares[1]
    shares.write_share_file(tmp_path / "share-1.json", share_one)
    async with running_desk(tmp_path, size=SIZE, out_dir=out) as (desk, pilot):
        station, app = desk.station, desk.app
        receipts = []
        for i, name in enumerate(("Абаев", "Иванова")):
            card = blank_card(0x10 + i)
            await issue_card(pilot, desk, name, card, lambda: "Card issued" in card_note(app))
            receipts.append(await vote_and_cast(pilot, desk, card, i, lambda: "Ballot counted" in card_note(app)))

        await pilot.press("f4")
        await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
        close_button = app.screen.query_one("#close", Button)
        assert close_button.disabled and f"needed: {K}" in str(app.screen.query_one("#need").render())
        app.screen.query_one("#share-file", Input).value = str(tmp_path / "share-1.json")
        await press(pilot, "#add-file")
        assert close_button.disabled  # 1 of 2
        app.screen.query_one("#mnemonic", TextArea).text = "not a share"
        await press(pilot, "#add-words")
        assert "not valid" in note_text(app, "#close-note")
        app.screen.query_one("#mnemonic", TextArea).text = share_two.mnemonic
        await press(pilot, "#add-words")
        assert not close_button.disabled, note_text(app, "#close-note")
        assert share_two.mnemonic.split()[3] not in str(app.screen.query_one("#shares", DataTable).get_row_at(1))
        await press(pilot, "#close")
        await press(pilot, "#yes")  # "Close the polls now?"
        await settle(pilot, lambda: isinstance(app.screen, ProtocolScreen), "protocol screen", timeout=60)

        assert station.polls_state is PollsState.CLOSED
        protocol = app.closing.protocol
        assert protocol.ballots_cast == 2 and protocol.cards_issued == 2 and protocol.voters_checked_in == 2
        counts = rendered(app.screen.query_one("#protocol-counts"))
        assert re.search(r"Ballots cast\s+2", counts)
        signature = str(app.screen.query_one("#protocol-signature").render())
        assert app.closing.signed.station_key_id.hex() in signature
        assert str(app.closing.files.pdf.name) in signature
        for contest in protocol.contests:
            tables = [t for t in app.screen.query(".contest").results(DataTable) if t.name == contest.contest_id]
            assert len(tables) == 1
            total_row = [str(c) for c in tables[0].get_row_at(tables[0].row_count - 1)]
            assert total_row == ["Total", "2"]
    signed = SignedProtocol.from_canonical_json(app.closing.files.protocol.read_bytes())
    verify_signed_protocol(signed)
    assert signed == app.closing.signed
    assert sorted(read_receipt_list(app.closing.files.receipts).codes) == sorted(receipts)


async def test_close_with_a_share_of_another_key_closes_nothing(tmp_path: Path) -> None:
    from sailau.election.crypto import ElectionKeyPair

    other = ElectionKeyPair.generate()
    foreign = shares.split_election_key(other.private_key, 2, 3, rig().election.id, other.public_key_bytes)
    async with running_desk(tmp_path, size=SIZE, out_dir=tmp_path / "out") as (desk, pilot):
        station, app = desk.station, desk.app
        await pilot.press("f4")
        await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
        for share in foreign[:2]:
            app.screen.query_one("#mnemonic", TextArea).text = share.mnemonic
            await press(pilot, "#add-words")
        # refused as it is entered (the k-th share rebuilds another key), not after "Close the polls now?"
        assert "rebuild the key of another election" in note_text(app, "#close-note")
        assert len(app.screen.entered) == 1 and app.screen.query_one("#close", Button).disabled
        assert station.polls_state is PollsState.OPEN and not (tmp_path / "out").exists()


# --- catalogs ---------------------------------------------------------------------------

SOURCES = [Path(i18n.__file__).with_name(n) for n in ("app.py", "screens.py", "paper_screens.py", "count_screens.py",
                                                      "widgets.py", "messages.py", "desk.py")]
MARKERS = {"N_", "t", "Tr", "TrButton"}  # a Note takes a catalogue code (messages.TEXTS), not a message id
SAME_IN_EVERY_LANGUAGE = {"NIST SP 1500-100 (JSON)", "Hash"}


def _marked_messages() -> set[str]:
    found: set[str] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                if name in MARKERS and isinstance(node.args[0].value, str):
                    found.add(node.args[0].value)
    found.discard("")  # Tr("") is an empty line until a message is set, not a message
    return found


def _read_po(path: Path) -> dict[str, str]:
    """msgid -> msgstr of a .po file (enough of the format for our catalogs)."""
    entries: dict[str, str] = {}
    key, current = None, {"msgid": "", "msgstr": ""}

    def flush() -> None:
        if current["msgid"]:
            entries[current["msgid"]] = current["msgstr"]

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            flush()
            current = {"msgid": "", "msgstr": ""}
            key = "msgid"
            line = line[6:]
        elif line.startswith("msgstr "):
            key = "msgstr"
            line = line[7:]
        elif not line.startswith('"'):
            continue
        current[key] += ast.literal_eval(line)
    flush()
    return entries


@pytest.mark.parametrize("language", i18n.LANGUAGES)
async def test_catalog_translates_every_message_with_the_same_fields(language: str) -> None:
    marked = _marked_messages()
    assert len(marked) > 100 and "Ballot counted. The card is cleared." in marked
    po = _read_po(i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po")
    mo = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=[language])
    assert marked <= set(po), f"not in the {language} catalog: {sorted(marked - set(po))}"
    assert set(po) <= marked, f"stale entries in the {language} catalog: {sorted(set(po) - marked)}"
    fields = re.compile(r"\{(\w+)\}")
    for msgid, msgstr in po.items():
        assert msgstr, f"{language}: {msgid!r} is untranslated"
        assert mo.gettext(msgid) == msgstr, f"{language}: the .mo is older than the .po for {msgid!r}"
        assert sorted(fields.findall(msgstr)) == sorted(fields.findall(msgid)), f"{language}: fields of {msgid!r}"
        if language != "en" and msgid not in SAME_IN_EVERY_LANGUAGE:
            assert msgstr != msgid, f"{language}: {msgid!r} is left in English"


async def test_every_reason_has_a_translated_message() -> None:
    reason_texts = {reason: TEXTS[f"card.{reason.value}"] for reason in CARD_REFUSALS}  # KeyError: a reason without text
    for language in ("kk", "ru"):
        texts = {i18n.t(language, msgid) for msgid in reason_texts.values()}
        assert len(texts) == len(CARD_REFUSALS) and not texts & set(reason_texts.values())


# --- command line -------------------------------------------------------------------------


async def test_cli_needs_the_precinct_for_a_new_station_database(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sailau.cli.main import cli
    from sailau.election import crypto, secretfile
    from sailau.election.definition import write_election
    from sailau.smartcard.card_keys import master_key_file_bytes

    write_election(rig().election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig().station_key)
    secretfile.write_secret_file(tmp_path / "master.hex", master_key_file_bytes(rig().card_master_key), "card master key")
    args = ["ballot-box", "--election", str(tmp_path / "election.json"), "--db", f"sqlite:///{tmp_path / 's.db'}",
            "--reader", "Virtual PCD 00 00", "--station-key", str(tmp_path / "station.pem"),
            "--operator-log", str(tmp_path / "operator.log"), "--card-master-key", str(tmp_path / "master.hex")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "give --precinct N the first time" in result.output
    secretfile.write_secret_file(tmp_path / "short.hex", b"0011", "card master key")
    result = CliRunner().invoke(cli, args[:-1] + [str(tmp_path / "short.hex"), "--precinct", "7101"])
    assert result.exit_code == 2 and "16, 24 or 32 bytes" in result.output


async def test_a_desk_bug_that_kills_a_worker_is_logged_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk turns every station failure into a note; should it raise anyway (a bug),
    the worker's end is not silent: traceback to the operator log, plain words on screen."""
    from sailau.ballot_box import oplog

    handler = oplog.open_operator_log(tmp_path / "operator.log")
    try:
        with open_db(tmp_path) as db:
            desk = make_desk(make_station(db, tmp_path))
            app = desk.app

            def broken(query: str):  # noqa: ARG001
                raise KeyError(f"desk bug near {IINS[2]}")

            monkeypatch.setattr(app.desk, "search", broken)
            async with app.run_test(size=SIZE) as pilot:
                app.search("Абаев")
                for _ in range(500):  # not settle(): waiting on a failed worker re-raises its error
                    if app.desk_note is not None and app.desk_note.code == "unexpected":
                        break
                    await pilot.pause(0.01)
                assert app.is_running and "operator log" in desk_note(app)
    finally:
        oplog.close_operator_log(handler)
    logged = (tmp_path / "operator.log").read_text()
    assert "clerk app failed: KeyError" in logged and "Traceback" in logged and IINS[2] not in logged


async def test_the_protocol_screen_scrolls_to_every_contest_and_its_total(tmp_path: Path) -> None:
    """Before: the contests sat in a box of one screen's height inside the scrolling body,
    so at 110x40 and 200x50 the third contest and the Total rows were cut off and the body
    had nothing to scroll. Now every contest's table is whole and the body scrolls to the
    last Total."""
    async with running_desk(tmp_path, size=(110, 40), out_dir=tmp_path / "protocol") as (desk, pilot):
        app = desk.app
        card = blank_card(0x30)
        await issue_card(pilot, desk, "Абаев", card, lambda: card.state is CardState.ISSUED)
        await vote_and_cast(pilot, desk, card, 0, lambda: card.state is CardState.BLANK)
        await close_with_shares(pilot)
        contests = app.closing.protocol.contests
        assert len(contests) >= 3
        for size in ((110, 40), (200, 50)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            body = app.screen.query_one("#protocol-body")
            tables = list(app.screen.query(".contest").results(DataTable))
            assert [t.name for t in tables] == [c.contest_id for c in contests]
            for table in tables:  # each table shows all its rows (header + rows), no inner scroll
                assert table.size.height == table.row_count + 1, (size, table.name, table.size)
                assert [str(c) for c in table.get_row_at(table.row_count - 1)] == ["Total", "1"]
            body.scroll_end(animate=False)
            await pilot.pause()
            last = tables[-1]
            assert on_screen(last, last.size.height - 1), (size, last.region, body.region)  # the last Total row
            send = app.screen.query_one("#send", Button)
            assert on_screen(send, 1), size
            assert body.max_scroll_y > 0, size  # more than a screen: it scrolls


@pytest.mark.parametrize("language", ["kk", "ru", "en"])
async def test_every_counter_keeps_its_number_on_its_line(tmp_path: Path, language: str) -> None:
    """Before: labels were padded to 22 columns, so Kazakh "Тапсырылған бюллетеньдер" (24)
    shifted its number out of the column, and where the panel is narrower (80 columns) it
    went to the next line. Now every label's first line ends with its number, at the
    app's sizes, in each language."""
    from sailau.ballot_box.widgets import COUNTER_ROWS

    for size in ((110, 34), (120, 40), (80, 24)):
        (tmp_path / f"{size[0]}x{size[1]}").mkdir()
        async with running_desk(tmp_path / f"{size[0]}x{size[1]}", size=size, language=language) as (desk, pilot):
            app = desk.app
            await pilot.pause()
            panel = app.screen.query_one("#counters")
            box = panel.content_region
            lines = [line[box.x:box.right] for line in screen_lines(app)[box.y:box.bottom]]
            counters = app.station.counters()
            rows = [line.rstrip().rsplit(" ", 1) for line in lines if line.strip()]
            for name, msgid in COUNTER_ROWS:
                label = app.t(msgid)
                # the row whose label part (before the number) is this label or its first line
                first = [(head.strip(), value) for head, value in (r for r in rows if len(r) == 2)
                         if head.strip() and label.startswith(head.strip()) and len(head.strip()) >= min(len(label), 10)]
                first = [row for row in first if not any(app.t(m).startswith(row[0]) and len(app.t(m)) < len(label)
                                                         for _, m in COUNTER_ROWS)] or first
                assert len(first) == 1, (size, label, lines)
                assert first[0][1] == str(getattr(counters, name)), (size, label, first[0])
            columns = {len(line.rstrip()) for line in lines[1:] if line.rstrip()[-1:].isdigit()}
            assert len(columns) == 1, (size, language, lines)  # the numbers form one column


async def test_the_zero_report_shows_the_precincts_local_time_with_its_zone(tmp_path: Path) -> None:
    """Before: "Polls opened at" showed the audit time as the station clock wrote it (UTC on
    a machine kept in UTC). Now it is the precinct's local time (Asia/Almaty, the
    definition naming no other zone) with the zone named."""
    import datetime as dt
    import zoneinfo

    from sailau.ballot_box.db import open_station_db

    utc_now = dt.datetime(2026, 11, 30, 3, 5, tzinfo=dt.timezone.utc)  # 08:05 in Almaty
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: utc_now) as db:
        desk = make_desk(make_station(db, tmp_path, open_polls=False))
        async with desk.app.run_test(size=SIZE) as pilot:
            app = desk.app
            assert app.time_zone == "Asia/Almaty"
            await press(pilot, "#open-polls")
            await settle(pilot, lambda: app.screen.report is not None, "zero report")
            assert app.screen.report.opened_at.endswith("+00:00")  # the clock's, as the audit chain keeps it
            local = utc_now.astimezone(zoneinfo.ZoneInfo("Asia/Almaty"))
            offset = local.strftime("%z")
            shown = str(app.screen.query_one("#zero-report").render())
            assert f"Polls opened at {local:%Y-%m-%d %H:%M} (Asia/Almaty, UTC{offset[:3]}:{offset[3:]})" in shown
            assert "08:05" in shown and "03:05" not in shown and "+00:00" not in shown


async def test_the_footer_stops_asking_for_a_card_once_it_is_issued_or_cast(tmp_path: Path) -> None:
    """Before: "Checked in: ... Insert a blank card." stayed in the footer after the card was
    issued; a voter checked in while another votes gets the card cleared by that cast, and
    the footer must stop asking for a card then too."""
    async with running_desk(tmp_path, size=SIZE) as (desk, pilot):
        app = desk.app
        card = blank_card()
        await check_in(pilot, "Абаев")
        assert "Insert a blank card" in desk_note(app)
        await insert(pilot, desk, card, "issue", lambda: "Card issued to Абаев" in card_note(app))
        assert "Insert a blank card" not in desk_note(app)
        await remove(pilot, desk)
        await check_in(pilot, "Иванова")  # waits while Абаев votes
        assert "Checked in: Иванова Мария. Insert a blank card." in desk_note(app)
        vote(card, 0)
        await insert(pilot, desk, card, "cast, then issue to Иванова",
                     lambda: "Card issued to Иванова Мария" in card_note(app))
        assert "Insert a blank card" not in desk_note(app)
        assert "Insert a blank card" not in "\n".join(screen_lines(app))
        await remove(pilot, desk)
        vote(card, 1)
        await insert(pilot, desk, card, "cast", lambda: "Ballot counted" in card_note(app))
        assert "Insert a blank card" not in "\n".join(screen_lines(app))


async def test_the_audit_view_names_every_kind_of_event() -> None:
    """Every audit event kind (the paper and mobile-box ones too) has its label in kk/ru/en."""
    from sailau.ballot_box.audit import AuditKind
    from sailau.ballot_box.screens import AUDIT_KINDS

    assert {kind.value for kind in AuditKind} <= set(AUDIT_KINDS), sorted({k.value for k in AuditKind} - set(AUDIT_KINDS))
    for language in ("kk", "ru"):
        labels = {i18n.t(language, label) for label in AUDIT_KINDS.values()}
        assert len(labels) == len(AUDIT_KINDS) and not labels & set(AUDIT_KINDS.values())
