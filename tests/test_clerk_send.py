"""The clerk's "Send to commission" (ClerkDesk.send, the protocol screen's button)
against a real commission server (`sailau commission serve` in its own uvicorn
process on a free loopback port, SQLite): accepted, then unchanged on a second
send; unreachable while the server is down (the signed files stay on disk byte
for byte, the clerk reads "send again later") and accepted once it is back;
refused by name when the server's registry does not enrol this station's key
or the server holds another election;
no address; nothing to send before the close; the members' co-signatures beside
the protocol sent before it (pending co-signatures until a majority, then counted)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from textual.widgets import Button, TextArea

from clerk_support import (
    CARD_MASTER_KEY,
    ELECTION_KEY,
    IINS,
    K,
    PRECINCT,
    STATION_KEY,
    TERMINAL_KEY,
    open_db,
    rig,
    settle,
    voters_csv,
)
from sailau.ballot_box import pollbook
from sailau.ballot_box.app import ClerkApp
from sailau.ballot_box.desk import ClerkDesk, transport_opener
from sailau.ballot_box.i18n import t
from sailau.ballot_box.screens import CloseScreen, ProtocolScreen
from sailau.ballot_box.submit import Outcome
from sailau.ballot_box.widgets import NoteView
from sailau.commission.netbench import free_port, start_server, stop_server
from sailau.commission.registry import build_registry, sign_registry, write_registry
from sailau.election.cosign import cosign, cosignature_file_name, write_cosignature
from sailau.election.crypto import ed25519_public_bytes
from sailau.election.members import Member, Role
from sailau.election.protocol import SignedProtocol
from sailau.election.definition import load_election, write_election
from sailau.election.turnout import make_turnout_report, sign_turnout
from sailau.simulator.booth_rig import Rig
from sailau.smartcard.transport import InProcessTransport

ROOT_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x33" * 32)
OTHER_STATION_KEY = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x44" * 32)
MEMBER_KEYS = tuple(ed25519.Ed25519PrivateKey.from_private_bytes(bytes([0x60 + i]) * 32) for i in range(3))
MEMBER_ROLES = (Role.CHAIR, Role.SECRETARY, Role.MEMBER)


def _pub(key: ed25519.Ed25519PrivateKey) -> bytes:
    return ed25519_public_bytes(key.public_key())


@dataclass(frozen=True)
class Setups:
    rig: Rig  # the clerk-app precinct, in an election whose registry root the commission trusts
    enrolled: Path  # a commission set-up enrolling this station's key
    foreign: Path  # one whose registry enrols another key for this precinct
    other_election: Path  # a set-up of another election (another definition fingerprint)
    with_members: Path  # enrols this station's key and three commission members for the precinct


@pytest.fixture(scope="module")
def setups(tmp_path_factory) -> Setups:
    base = tmp_path_factory.mktemp("send-setup")
    draft = rig().election.model_copy(update={"registry_root_key": _pub(ROOT_KEY).hex()})
    write_election(draft, base / "election.json")
    election = load_election(base / "election.json")  # the bytes the commission hashes
    members = {PRECINCT: [Member(PRECINCT, r, n, _pub(k)) for r, n, k in
                          zip(MEMBER_ROLES, ("Әсел Серікова", "Ирина Ким", "Дәурен Беков"), MEMBER_KEYS)]}
    for name, station_key, enrolled in (("enrolled", STATION_KEY, {}), ("foreign", OTHER_STATION_KEY, {}),
                                        ("with_members", STATION_KEY, members)):
        d = base / name
        d.mkdir()
        (d / "election.json").write_bytes((base / "election.json").read_bytes())
        registry = build_registry(election.id, election.fingerprint_hex, [(PRECINCT, _pub(station_key))],
                                  {PRECINCT: [_pub(TERMINAL_KEY)]}, enrolled)
        write_registry(sign_registry(registry, ROOT_KEY), d / "stations.json")
    # another election: the same definition under another registry root, so another fingerprint
    other = base / "other_election"
    other.mkdir()
    other_root = ed25519.Ed25519PrivateKey.from_private_bytes(b"\x55" * 32)
    write_election(rig().election.model_copy(update={"registry_root_key": _pub(other_root).hex()}),
                   other / "election.json")
    other_election = load_election(other / "election.json")
    assert other_election.fingerprint != election.fingerprint
    registry = build_registry(other_election.id, other_election.fingerprint_hex, [(PRECINCT, _pub(STATION_KEY))],
                              {PRECINCT: [_pub(TERMINAL_KEY)]})
    write_registry(sign_registry(registry, other_root), other / "stations.json")
    station_rig = Rig(election, ELECTION_KEY, rig().shares, TERMINAL_KEY, STATION_KEY, CARD_MASTER_KEY, PRECINCT,
                      list(IINS))
    return Setups(station_rig, base / "enrolled", base / "foreign", other, base / "with_members")


@pytest.fixture
def server(tmp_path: Path):
    """Start servers on demand: start(setup, port=None) -> (url, process); all stopped at the end."""
    running = []

    def start(setup: Path, port: int | None = None) -> tuple[str, object]:
        port = port or free_port()
        db = tmp_path / f"commission-{setup.name}.db"
        proc = start_server(f"sqlite:///{db}", setup, port, log=tmp_path / "server.log")
        running.append(proc)
        return f"http://127.0.0.1:{port}", proc

    yield start
    for proc in running:
        if proc.poll() is None:
            stop_server(proc)


def closed_station(setups: Setups, tmp_path: Path) -> tuple:
    """(db, station) of the precinct with its polls open (no ballots yet)."""
    db = open_db(tmp_path)
    station = setups.rig.station(db)
    pollbook.import_voters(db, voters_csv(tmp_path / "voters.csv"))
    station.open_polls([setups.rig.terminal])
    return db, station


@pytest.fixture
def closed(setups: Setups, tmp_path: Path):
    db, station = closed_station(setups, tmp_path)
    out = tmp_path / "protocol"
    station.close_polls(list(setups.rig.shares[:K]), out)
    # a signed turnout report the station put in its protocol folder (`sailau station turnout --out`)
    report = make_turnout_report(setups.rig.election, PRECINCT, 10, 0, len(IINS))
    (out / "turnout-10.json").write_bytes(sign_turnout(report, STATION_KEY).to_canonical_json())
    try:
        yield station, out
    finally:
        db.close()


def desk_for(station, out: Path, **kwargs) -> ClerkDesk:
    return ClerkDesk(station, transport_opener(InProcessTransport()), out_dir=out, **kwargs)


def digests(out: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}


def render(note) -> str:
    return note.render(lambda msgid, **fields: t("en", msgid, **fields))


def test_send_is_accepted_then_unchanged_and_the_files_never_change(server, setups: Setups, closed,
                                                                   monkeypatch) -> None:
    station, out = closed
    url, _ = server(setups.enrolled)
    monkeypatch.setenv("SAILAU_COMMISSION_URL", url)  # no --commission-url: the environment's address
    desk = desk_for(station, out)
    before = digests(out)

    first = desk.send()
    assert [(s.path.name, s.outcome) for s in first.sent] == [("protocol.json", Outcome.ACCEPTED),
                                                              ("turnout-10.json", Outcome.ACCEPTED)]
    assert [s.note.code for s in first.sent] == ["send.accepted", "send.accepted"]
    assert first.note is not None and first.note.severity == "ok"
    assert render(first.sent[0].note) == "protocol.json: accepted by the commission."
    held = httpx.get(f"{url}/api/results/precinct/{PRECINCT}", timeout=10).json()
    assert held["status"] == "accepted"
    assert held["signed_protocol"]["signature"] in (out / "protocol.json").read_text()

    again = desk.send(url)
    assert [s.outcome for s in again.sent] == [Outcome.UNCHANGED, Outcome.UNCHANGED]
    assert [s.note.code for s in again.sent] == ["send.unchanged", "send.unchanged"]
    assert digests(out) == before


def test_the_members_cosignatures_go_first_and_the_protocol_waits_for_its_majority(server, setups: Setups, closed) -> None:
    """A precinct with enrolled members: the co-signatures written beside protocol.json
    are sent before it; with one of three the commission holds the protocol (pending,
    a warning the clerk reads), and once a second member co-signs, sending again
    makes it count. The files on disk never change."""
    station, out = closed
    url, _ = server(setups.with_members)
    signed = SignedProtocol.from_canonical_json((out / "protocol.json").read_bytes())

    def member_signs(i: int) -> str:
        c = cosign(signed, MEMBER_KEYS[i], MEMBER_ROLES[i])
        name = cosignature_file_name("protocol.json", c)
        write_cosignature(c, out / name)
        return name

    first_name = member_signs(0)
    desk = desk_for(station, out, commission_url=url)
    before = digests(out)
    step = desk.send()
    assert [(s.path.name, s.outcome) for s in step.sent] == [
        (first_name, Outcome.ACCEPTED), ("protocol.json", Outcome.PENDING), ("turnout-10.json", Outcome.ACCEPTED)]
    assert step.note is not None and step.note.code == "send.pending" and step.note.severity == "warn"
    assert "until a majority of the commission's members co-sign" in render(step.note)
    held = httpx.get(f"{url}/api/results/precinct/{PRECINCT}", timeout=10).json()
    assert held["counted"] is None and len(held["pending_cosignatures"]) == 1
    assert digests(out) == before

    second_name = member_signs(1)
    again = desk.send()
    assert {s.path.name: s.outcome for s in again.sent} == {
        first_name: Outcome.UNCHANGED, second_name: Outcome.ACCEPTED, "protocol.json": Outcome.UNCHANGED,
        "turnout-10.json": Outcome.UNCHANGED}
    assert [s.path.name for s in again.sent][-2:] == ["protocol.json", "turnout-10.json"]  # co-signatures first
    assert again.note.severity == "ok"
    counted = httpx.get(f"{url}/api/results/precinct/{PRECINCT}", timeout=10).json()
    assert counted["status"] == "accepted" and counted["pending_cosignatures"] == []


def test_unreachable_keeps_the_files_and_says_send_later_then_the_same_files_go(server, setups: Setups, closed,
                                                                               tmp_path: Path) -> None:
    station, out = closed
    port = free_port()
    url, proc = server(setups.enrolled, port)
    stop_server(proc)  # the commission went down (or the station's line did)
    desk = desk_for(station, out, commission_url=url, send_attempts=2)
    before = digests(out)

    step = desk.send()
    assert [s.outcome for s in step.sent] == [Outcome.UNREACHABLE, Outcome.UNREACHABLE]
    assert step.note is not None and step.note.code == "send.unreachable" and step.note.severity == "warn"
    text = render(step.sent[0].note)
    assert "kept on this station unchanged" in text and "send again later" in text
    assert "Connect" not in text  # the raw connection error is for the operator log, not the clerk
    assert digests(out) == before

    server(setups.enrolled, port)  # back later in the evening: the same files, unchanged, are accepted
    later = desk.send()
    assert [s.outcome for s in later.sent] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
    assert digests(out) == before


@pytest.mark.parametrize(("setup", "reason"), [("foreign", "unknown_station"), ("other_election", "election")])
def test_a_commission_that_cannot_take_this_station_refuses_by_name(server, setups: Setups, closed, setup: str,
                                                                    reason: str) -> None:
    """A registry that does not enrol this station's key, or a set-up of another election:
    refused by the name `commission import` uses, the file kept as it is."""
    station, out = closed
    url, _ = server(getattr(setups, setup))
    before = digests(out)
    step = desk_for(station, out, commission_url=url).send()
    protocol = step.sent[0]
    assert protocol.outcome is Outcome.REFUSED
    assert protocol.note.code == "send.refused" and protocol.note.severity == "error"
    assert protocol.note.fields["reason"] == reason
    assert f"refused by the commission ({reason})" in render(protocol.note)
    assert step.note is not None and step.note.severity == "error"
    assert digests(out) == before


def test_no_address_and_nothing_to_send_are_said_plainly(setups: Setups, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SAILAU_COMMISSION_URL", raising=False)
    db, station = closed_station(setups, tmp_path)
    try:
        desk = desk_for(station, tmp_path / "protocol")
        assert desk.send().note.code == "send.no_address"
        step = desk.send("http://127.0.0.1:9")  # polls still open: no protocol written yet
        assert step.note.code == "send.nothing" and step.sent == ()
    finally:
        db.close()


@pytest.mark.asyncio
async def test_the_protocol_screen_sends_and_shows_each_file(server, setups: Setups, tmp_path: Path) -> None:
    url, _ = server(setups.enrolled)
    db, station = closed_station(setups, tmp_path)
    try:
        app = ClerkApp(station, InProcessTransport(), terminal_keys=[setups.rig.terminal], language="en",
                       out_dir=tmp_path / "protocol", commission_url=url)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4")
            await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
            for share in setups.rig.shares[:K]:
                app.screen.query_one("#mnemonic", TextArea).text = share.mnemonic
                app.screen.query_one("#add-words", Button).press()
                await settle(pilot, lambda: app.screen.query_one("#mnemonic", TextArea).text == "", "share added")
            app.screen.query_one("#close", Button).press()
            await settle(pilot, lambda: len(app.screen.query("#yes")) == 1, "confirmation")
            app.screen.query_one("#yes", Button).press()
            await settle(pilot, lambda: isinstance(app.screen, ProtocolScreen), "protocol screen", timeout=60)

            app.screen.query_one("#send", Button).press()
            await settle(pilot, lambda: len(app.screen.query("#sent NoteView")) == 1, "per-file status")
            lines = [str(v.render()) for v in app.screen.query("#sent NoteView").results(NoteView)]
            assert lines == ["protocol.json: accepted by the commission."]
            assert str(app.screen.query_one("#send-note", NoteView).render()) == ""

            app.screen.query_one("#send", Button).press()  # again: the commission already has it
            await settle(pilot, lambda: "already had" in str(app.screen.query_one("#sent NoteView").render()),
                         "second send")
            await pilot.press("f2")  # kk: the status is redrawn in the clerk's language
            await pilot.pause()
            assert "already had" not in str(app.screen.query_one("#sent NoteView").render())
    finally:
        db.close()
