"""`sailau demo`: the whole demo driven through its one screen with Pilot — clicks
and keys land on the demo's panes and are forwarded to the hosted clerk and kiosk
apps, exactly as a newcomer's would — in-process and through pcscd + vpcd; a
snapshot of the first screen; the CLI wiring.

Snapshot update after an intended change: `pytest tests/test_demo.py --snapshot-update`
and look at tests/__snapshots__/test_demo/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.ballot_box.models import PollsState
from sailau.ballot_box.screens import CloseScreen, ConfirmScreen, DeskScreen, OpenPollsScreen, ProtocolScreen
from sailau.cli.main import cli
from sailau.commission.registry import load_registry
from sailau.election import crypto
from sailau.election.cosign import check_cosignatures, read_cosignature_file
from sailau.election.members import read_members_file
from sailau.election.protocol import SignedProtocol, verify_signed_protocol
from sailau.election.receipts import read_receipt_list
from sailau.simulator.app_pane import AppPane
from sailau.simulator.demo import CardPlace, DemoApp, DemoKeys, InProcessCarrier, create_demo
from sailau.smartcard.apdu import CardState
from sailau.terminal.screens import ContestScreen, DoneScreen, LanguageScreen, ReviewScreen
from sailau.terminal.session import Phase
from sailau.terminal.speech import Speaker

SIZE = (200, 50)
FIXED_KEYS = DemoKeys(ed25519.Ed25519PrivateKey.from_private_bytes(b"\x22" * 32),
                      ed25519.Ed25519PrivateKey.from_private_bytes(b"\x11" * 32),
                      bytes.fromhex("00112233445566778899aabbccddeeff"))
QUIET = Speaker(executable=None, audio=False)


@pytest.fixture
def demo_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the demo shows paths relative to the working directory
    workdir = tmp_path / "demo"
    workdir.mkdir()
    return workdir


def guide(app: DemoApp) -> str:
    return str(app.query_one("#guide").render())


async def until(pilot, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            app = pilot.app
            raise AssertionError(f"timed out waiting for: {what}; guide says: {guide(app)}")
        await pilot.pause(0.02)


async def steady(pilot, read: Callable[[], object], what: str, every: float, timeout: float = 20.0) -> object:
    """Wait until `read()` gives the same non-empty value twice, `every` seconds apart; return it."""
    deadline = time.monotonic() + timeout
    seen = None
    while (now := read()) != seen or not now:
        assert time.monotonic() < deadline, f"{what} never held still (last read: {now!r})"
        seen = now
        await pilot.pause(every)
    return now


def hosted_screen(pane: AppPane):
    with pane.hosted._context():
        return pane.hosted.screen


async def click_in(pilot, pane: AppPane, selector: str) -> None:
    """Click the middle of widget `selector` of the app hosted in `pane`, through the demo's screen."""
    def region():
        with pane.hosted._context():
            found = pane.hosted.screen.query(selector)
            return found.first().region if found else None

    # the widget may not be there yet, or the hosted app still laying out: aim once it stays put
    target = await steady(pilot, region, f"{selector} on the hosted screen", every=0.05)
    origin = pane.content_region
    await pilot.click(offset=(origin.x + target.x + target.width // 2, origin.y + target.y + target.height // 2))


async def run_demo_flow(pilot, app: DemoApp) -> str:
    """Open the polls, check a voter in, issue, carry, vote, carry back, cast, close; returns the receipt code."""
    box, booth = app.query_one("#box", AppPane), app.query_one("#booth", AppPane)
    await box.wait_running()
    await booth.wait_running()
    clerk, kiosk, card = app.clerk, app.kiosk, app.kit.card
    await until(pilot, lambda: isinstance(hosted_screen(box), OpenPollsScreen), "open-polls screen")
    await until(pilot, lambda: "Step 1" in guide(app), "guide: Step 1")

    await click_in(pilot, box, "#open-polls")
    await until(pilot, lambda: hosted_screen(box).report is not None, "zero report")
    await click_in(pilot, box, "#to-desk")
    await until(pilot, lambda: isinstance(hosted_screen(box), DeskScreen), "desk")

    await pilot.press("f5")  # desk -> ballot-box reader
    await until(pilot, lambda: app.carrier.place is CardPlace.BOX and clerk.card_note is not None, "blank card read")
    await until(pilot, lambda: "Step 3" in guide(app), "guide: Step 3")

    voter = app.kit.voters[0]
    await click_in(pilot, box, "#search")
    await pilot.press(*voter.iin, "enter")
    await until(pilot, lambda: hosted_screen(box).results, "search result")
    await click_in(pilot, box, "#check-in")
    await until(pilot, lambda: card.state is CardState.ISSUED, "card issued at check-in")

    await pilot.click("#to-booth")  # the carry control
    await until(pilot, lambda: app.carrier.place is CardPlace.BOOTH, "card in the booth")
    await until(pilot, lambda: isinstance(hosted_screen(booth), LanguageScreen), "language screen")
    await click_in(pilot, booth, "#lang-en")
    await until(pilot, lambda: isinstance(hosted_screen(booth), ContestScreen), "first contest")
    await click_in(pilot, booth, "#option-1")  # the first party of the Mäjilis list
    while not isinstance(hosted_screen(booth), ReviewScreen):
        index = kiosk.session.contest_index
        await click_in(pilot, booth, "#next")
        await until(pilot, lambda: kiosk.session.contest_index != index or kiosk.session.phase
                    in (Phase.CONFIRM_BLANK, Phase.REVIEW), "next contest")
        if kiosk.session.phase is Phase.CONFIRM_BLANK:  # the local races are left blank
            await until(pilot, lambda: hosted_screen(booth).query("#yes"), "blank confirmation")
            await click_in(pilot, booth, "#yes")
            await until(pilot, lambda: kiosk.session.phase is not Phase.CONFIRM_BLANK, "blank confirmed")
    await click_in(pilot, booth, "#cast")
    await until(pilot, lambda: isinstance(hosted_screen(booth), DoneScreen), "ballot written")
    receipt = kiosk.session.receipt_code
    assert card.state is CardState.VOTED and receipt
    await until(pilot, lambda: "Step 5" in guide(app), "guide: Step 5")

    await pilot.press("f5")  # back to the ballot box: counted and cleared
    await until(pilot, lambda: card.state is CardState.BLANK and app.carrier.place is CardPlace.BOX, "cast")
    assert clerk.station.counters().cast == 1
    await until(pilot, lambda: "Step 6" in guide(app), "guide: a paper voter")

    await pilot.press("f10")  # a voter takes a paper ballot (the table receives 20 first)
    await until(pilot, lambda: "Step 7" in guide(app), "guide: a voter at home")
    ledger = clerk.station.paper_ledger()
    assert (ledger.received, ledger.issued_in_station, ledger.voters_paper) == (20, 1, 1)
    await pilot.press("f11")  # the mobile team: a written request, out with two ballots, back
    await until(pilot, lambda: "Step 8" in guide(app), "guide: close the polls")
    ledger = clerk.station.paper_ledger()
    assert (ledger.issued_outside, ledger.voters_outside, ledger.requests, ledger.in_hand) == (1, 1, 1, 18)

    await pilot.click("#box")
    await pilot.press("f4")
    await until(pilot, lambda: isinstance(hosted_screen(box), CloseScreen), "close screen")
    await until(pilot, lambda: "Step 9" in guide(app), "guide: count the paper by hand")
    await pilot.press("f12")  # two members enter the hand count; the second slips on one line
    await until(pilot, lambda: "double entry caught a slip" in guide(app), "guide: the slip")
    assert app.commission.slipped_lines == ("found_stationary",)
    assert clerk.desk.view().hand_count.agreed is None
    await pilot.press("f12")  # the member counts the stationary box again
    await until(pilot, lambda: "Step 10" in guide(app), "guide: hand in the shares")
    await pilot.press("f9")  # the commission hands in its shares
    await until(pilot, lambda: not hosted_screen(box).query_one("#close").disabled, "k shares entered")
    await click_in(pilot, box, "#close")
    await until(pilot, lambda: isinstance(hosted_screen(box), ConfirmScreen), "confirmation")
    await click_in(pilot, box, "#yes")
    await until(pilot, lambda: isinstance(hosted_screen(box), ProtocolScreen), "protocol", timeout=60)
    # the guide follows the clerk's screen on a 0.2 s refresh, so wait for it as for every step above
    await until(pilot, lambda: "Step 11" in guide(app), "guide: the members co-sign")
    await pilot.press("f12")  # three of the five members co-sign with their own keys
    await until(pilot, lambda: "co-signed by 3 of the 5" in guide(app), "guide: done")
    return receipt


def assert_protocol_counts_the_vote(app: DemoApp, receipt: str) -> None:
    closing = app.clerk.closing
    assert closing is not None and app.kit.station.polls_state is PollsState.CLOSED
    protocol = closing.protocol
    # one card voter and one paper voter checked in at the table; one voted at home
    assert (protocol.voters_checked_in, protocol.cards_issued, protocol.ballots_cast) == (2, 1, 1)
    assert (protocol.voters_paper, protocol.voters_outside, protocol.ballots_counted) == (1, 1, 3)
    majilis = protocol.contests[0]
    first, second = (o.id for o in app.kit.election.options(majilis.contest_id)[:2])
    # the card and the paper ballot for the first party, the mobile box's for the second
    assert (majilis.votes[first], majilis.votes[second], majilis.total) == (2, 1, 3)
    assert all((c.blank, c.invalid) == (1, 2) for c in protocol.contests[1:])  # unmarked on paper is invalid
    paper = protocol.paper
    assert paper is not None and (paper.received, paper.issued_in_station, paper.issued_outside, paper.unused,
                                  paper.found_stationary, paper.found_mobile) == (20, 1, 1, 18, 1, 1)
    cosigned = sorted(app.kit.out_dir.glob("protocol.*.cosig"))
    check = check_cosignatures(SignedProtocol.from_canonical_json((app.kit.out_dir / "protocol.json").read_bytes()),
                               [(str(f), read_cosignature_file(f)) for f in cosigned], app.kit.members)
    assert len(cosigned) == 3 and check.ok and check.majority
    screen = hosted_screen(app.query_one("#box", AppPane))
    with app.clerk._context():
        counts = str(screen.query_one("#protocol-counts").render())
    assert "Ballots cast" in counts and counts.split("Ballots cast")[1].split()[0] == "1"
    assert "protocol is signed" in guide(app)
    files = closing.files
    assert files is not None and receipt in read_receipt_list(files.receipts).codes
    signed = SignedProtocol.from_canonical_json(files.protocol.read_bytes())
    station = crypto.ed25519_public_bytes(app.kit.keys.station_key.public_key())
    assert verify_signed_protocol(signed, {crypto.key_id(station): station}).ballots_cast == 1


async def _play_the_whole_day(app: DemoApp) -> None:
    """The demo's whole polling day in `app`; its protocol counts the one vote."""
    async with app.run_test(size=SIZE) as pilot:
        receipt = await run_demo_flow(pilot, app)
        assert_protocol_counts_the_vote(app, receipt)


@pytest.mark.asyncio
async def test_demo_whole_polling_day_in_process(demo_dir: Path) -> None:
    kit = create_demo(demo_dir)
    app = DemoApp(kit, InProcessCarrier(kit.card), speaker=QUIET)
    try:
        await _play_the_whole_day(app)
    finally:
        kit.close()


@pytest.mark.pcsc
@pytest.mark.asyncio
async def test_demo_whole_polling_day_through_pcscd(demo_dir: Path, vpcd_slot, vpcd_slot_2) -> None:
    from sailau.simulator.demo import PcscCarrier

    kit = create_demo(demo_dir)
    carrier = PcscCarrier(kit.card)
    app = DemoApp(kit, carrier, speaker=QUIET, pcsc=True)
    try:
        await _play_the_whole_day(app)
    finally:
        carrier.close()
        kit.close()


def test_demo_first_screen(snap_compare, demo_dir: Path) -> None:
    kit = create_demo(demo_dir, keys=FIXED_KEYS)
    kit.card = type(kit.card)(serial=bytes(range(8)), master_key=FIXED_KEYS.card_master_key)
    app = DemoApp(kit, InProcessCarrier(kit.card), speaker=QUIET)

    async def run_before(pilot) -> None:
        panes = list(app.query(AppPane).results(AppPane))
        for pane in panes:
            await pane.wait_running()

        # a hosted app may draw more than one frame while it settles: wait for frames to hold
        def frames():
            if any(p.hosted.pane_dirty or not p._lines for p in panes):
                return None  # a pane not drawn yet, or a new frame waiting to be drawn
            return [tuple(tuple(strip) for strip in p._lines) for p in panes]

        await steady(pilot, frames, "the demo's panes", every=0.5)

    try:
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        kit.close()


def test_demo_files_make_a_working_precinct(demo_dir: Path) -> None:
    kit = create_demo(demo_dir, voters=5)
    try:
        names = {p.name for p in demo_dir.iterdir()}
        assert {"election.json", "station.db", "voters.csv", "station.key", "station.pub", "booth1.key",
                "booth1.pub", "card-master.key", "shares", "registry-root.key", "stations.json", "commission"} <= names
        station_pub = crypto.load_verify_key(demo_dir / "station.pub")
        assert crypto.ed25519_public_bytes(station_pub) == crypto.ed25519_public_bytes(kit.keys.station_key.public_key())
        # the station and booth keys are enrolled under the root the demo definition names
        enrolled = load_registry(demo_dir / "stations.json", kit.election).registry.by_precinct[kit.precinct]
        assert enrolled.public_key == crypto.ed25519_public_bytes(station_pub)
        assert [t.public_key for t in enrolled.terminals] == [crypto.ed25519_public_bytes(kit.keys.terminal_key.public_key())]
        assert (demo_dir / "registry-root.key").stat().st_mode & 0o077 == 0
        assert len(kit.share_paths) == 3 and kit.station.counters().on_list == 5
        # the commission: five members, each with an own key (0600), their members file, loaded into the station
        assert [m.role.value for m in kit.members] == ["chair", "deputy_chair", "secretary", "member", "member"]
        assert all(p.stat().st_mode & 0o077 == 0 for p in kit.member_key_paths) and len(kit.member_key_paths) == 5
        assert read_members_file(demo_dir / "commission" / "members.json").members == kit.members
        assert {m.key_id for m in kit.station.members()} == {m.key_id for m in kit.members}
        assert kit.station.polls_state is PollsState.SETUP
        assert kit.election.precinct(kit.precinct).style == 1  # all three contests on the ballot
    finally:
        kit.close()


def test_cli_demo_is_registered() -> None:
    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0, result.output
    assert "--pcsc" in result.output and "--dir" in result.output
