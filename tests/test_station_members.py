"""The precinct commission at the station (issue 13): its members loaded at set-up from
the members file (`sailau station init --members FILE`), and who may enter the hand
count, when, and what."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.ballot_box import audit, pollbook
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.handcount import HandCount, HandCountError
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.station import HandCountRefused, Station
from sailau.ballot_box.station_members import MembersRefused
from sailau.ballot_box.store import WrongPollsState
from sailau.cli.main import cli
from sailau.election import crypto
from sailau.election.definition import write_election
from sailau.election.members import CommissionMembers, Member, Role, write_members_file
from sailau.election.protocol import ContestResult
from sailau.election.shares import write_share_file
from sailau.simulator.booth_rig import K, Rig

ROLES = (Role.MEMBER, Role.SECRETARY, Role.CHAIR, Role.MEMBER, Role.DEPUTY_CHAIR)
NAMES = ("Яковлева Анна", "Ирина Викторовна Ким", "Әсел Нұрланқызы Серікова", "Бекова Дана", "Ерлан Жақсылықов")


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=4)


def commission(precinct: int = 7101) -> tuple[CommissionMembers, list]:
    keys = [crypto.generate_signing_key() for _ in ROLES]
    members = CommissionMembers(precinct, tuple(Member(precinct, r, n, crypto.ed25519_public_bytes(k.public_key()))
                                                for r, n, k in zip(ROLES, NAMES, keys)))
    return members, keys


def test_members_are_loaded_at_set_up_in_role_order(rig: Rig, station_db_url: str) -> None:
    members, _ = commission()
    with open_station_db(station_db_url) as db:
        station = rig.station(db)
        assert station.members() == ()
        station.load_members(members)
        got = station.members()
        assert [m.role for m in got] == [Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY, Role.MEMBER, Role.MEMBER]
        assert got == members.members and {m.name for m in got} == set(NAMES)
        other, _ = commission()
        station.load_members(other)  # a corrected list replaces the whole list, before the polls open
        assert station.members() == other.members
        with pytest.raises(MembersRefused, match="precinct 7102"):
            station.load_members(commission(7102)[0])
        station.open_polls([rig.terminal])
        with pytest.raises(WrongPollsState):
            station.load_members(members)  # once the polls are open, who may count does not change
        assert Station.attach(db, rig.election, rig.station_key, None).members() == other.members


def test_a_station_set_up_without_members_may_load_them_once_later(rig: Rig, tmp_path: Path) -> None:
    members, _ = commission()
    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db:
        station = rig.station(db)
        pollbook.import_voters(db, rig.voters_csv(tmp_path / "voters.csv"))
        station.open_polls([rig.terminal])
        station.end_voting()
        station.load_members(members)  # else a precinct that used paper could never enter its count and sign
        assert station.members() == members.members
        with pytest.raises(WrongPollsState):
            station.load_members(commission()[0])


def test_the_hand_count_is_entered_by_members_after_the_end_of_voting(rig: Rig, tmp_path: Path) -> None:
    members, keys = commission()
    style = rig.election.precinct(rig.precinct).style
    count = HandCount.zero(rig.election, style)
    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db:
        station = rig.station(db)
        station.load_members(members)
        pollbook.import_voters(db, rig.voters_csv(tmp_path / "voters.csv"))
        station.open_polls([rig.terminal])
        with pytest.raises(WrongPollsState):  # the boxes are opened after the end of voting
            station.enter_hand_count(crypto.key_id(keys[0].public_key()), count)
        station.end_voting()
        with pytest.raises(HandCountRefused) as caught:
            station.enter_hand_count(crypto.key_id(crypto.generate_signing_key().public_key()), count)
        assert caught.value.reason is Refusal.NOT_A_MEMBER
        other_ballot = dataclasses.replace(count, contests=(*count.contests[1:], ContestResult("nope", {})))
        with pytest.raises(HandCountError, match="not on this precinct's ballot"):
            station.enter_hand_count(crypto.key_id(keys[0].public_key()), other_ballot)
        assert station.hand_count().entries == ()
        first = station.enter_hand_count(crypto.key_id(keys[0].public_key()), count)
        assert first.agreed is None and first.needed == 1
        both = station.enter_hand_count(crypto.key_id(keys[3].public_key()), count)
        assert both.agreed == count and station.hand_count() == both
        events = [(e.kind, e.payload) for e in audit.read_events(db)]
        assert ("members_loaded", {"count": 5}) in events
        digest = hashlib.sha256(count.to_json_bytes()).hexdigest()
        entered = [p for k, p in events if k == "hand_count_entered"]
        assert entered == [{"member": crypto.key_id(keys[0].public_key()).hex(), "entry_sha256": digest, "state": "entered"},
                           {"member": crypto.key_id(keys[3].public_key()).hex(), "entry_sha256": digest, "state": "agreed"}]
        assert audit.verify_db(db).ok


def run(*args: object):  # noqa: ANN201
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_station_init_loads_the_members_file(rig: Rig, tmp_path: Path) -> None:
    members, keys = commission()
    write_members_file(members, tmp_path / "members.json")
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.key", rig.station_key)
    url = f"sqlite:///{tmp_path / 's.db'}"
    out = run("station", "init", "--db", url, "--election", tmp_path / "election.json", "--station-key",
              tmp_path / "station.key", "--precinct", 7101, "--members", tmp_path / "members.json")
    assert out.exit_code == 0, out.output
    assert "commission members loaded: 5 (chair Әсел Нұрланқызы Серікова, deputy_chair" in out.output
    write_members_file(commission(7102)[0], tmp_path / "other.json")
    out = run("station", "init", "--db", url, "--election", tmp_path / "election.json", "--station-key",
              tmp_path / "station.key", "--precinct", 7101, "--members", tmp_path / "other.json")
    assert out.exit_code == 1 and "the members file is for precinct 7102, this station is precinct 7101" in out.output
    with open_station_db(url) as db:
        assert Station.attach(db, rig.election, rig.station_key, None).members() == members.members


def test_a_commission_without_the_app_enters_the_hand_count_by_command(rig: Rig, tmp_path: Path) -> None:
    members, keys = commission()
    write_members_file(members, tmp_path / "members.json")
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.key", rig.station_key)
    crypto.save_signing_key(tmp_path / "terminal.key", rig.terminal_key)
    crypto.save_verify_key(tmp_path / "terminal.pub", rig.terminal_key.public_key())
    for i in (0, 1):
        crypto.save_signing_key(tmp_path / f"m{i}.key", keys[i])
    base = ["--db", f"sqlite:///{tmp_path / 's.db'}", "--election", tmp_path / "election.json",
            "--station-key", tmp_path / "station.key"]
    assert run("station", "init", *base, "--precinct", 7101, "--members", tmp_path / "members.json").exit_code == 0
    assert run("station", "open", *base, "--terminal", tmp_path / "terminal.pub").exit_code == 0
    out = run("station", "paper-receipt", *base, "--count", 10, "--from", "territorial commission",
              "--received-by", NAMES[1], "--out", tmp_path / "acts")
    assert out.exit_code == 0, out.output
    out = run("station", "end-voting", *base)
    assert out.exit_code == 0 and "voting ended" in out.output
    count = dataclasses.replace(HandCount.zero(rig.election, rig.election.precinct(rig.precinct).style), unused=10)
    (tmp_path / "count.json").write_bytes(count.to_json_bytes())
    wrong = dataclasses.replace(count, found_mobile=2)
    (tmp_path / "wrong.json").write_text(wrong.to_json_bytes().decode().replace(",", ", "))  # spacing is no matter
    out = run("station", "hand-count", *base, "--member-key", tmp_path / "m0.key", "--count", tmp_path / "count.json")
    assert out.exit_code == 0 and "waiting for 1 more member(s)" in out.output, out.output
    out = run("station", "hand-count", *base, "--member-key", tmp_path / "m1.key", "--count", tmp_path / "wrong.json")
    assert out.exit_code == 1, out.output
    line = "differs: Paper ballots found in the mobile box (found_mobile): "
    assert f"{line}0 / 2" in out.output or f"{line}2 / 0" in out.output  # entries in key-id order
    assert "the entries differ on 1 line(s)" in out.output
    out = run("station", "hand-count", *base, "--member-key", tmp_path / "m1.key", "--count", tmp_path / "count.json")
    assert out.exit_code == 0 and "the hand count agrees (2 members)" in out.output, out.output
    (tmp_path / "bad.json").write_text('{"format": "sailau/hand-count", "version": 1, "unused": -1}')
    out = run("station", "hand-count", *base, "--member-key", tmp_path / "m1.key", "--count", tmp_path / "bad.json")
    assert out.exit_code == 1 and "Traceback" not in out.output and "hand count" in out.output
    for i, share in enumerate(rig.shares[:K]):
        write_share_file(tmp_path / f"share-{i}.json", share)
    out = run("station", "close", *base, *[a for i in range(K) for a in ("--share", tmp_path / f"share-{i}.json")],
              "--out", tmp_path / "protocol")
    assert out.exit_code == 0, out.output
    assert "paper: received 10, issued in the station 0, outside 0, spoiled 0, unused 10" in out.output
    assert "wall copies: wall-kk.pdf, wall-ru.pdf" in out.output
    out = run("protocol", "show", tmp_path / "protocol" / "protocol.json", "--election", tmp_path / "election.json",
              "--lang", "kk")
    assert out.exit_code == 0 and "Учаскелік сайлау комиссиясы алған бюллетеньдер саны: 10" in out.output, out.output
