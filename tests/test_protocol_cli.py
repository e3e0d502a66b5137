"""`sailau protocol verify` and `sailau station` over a real close of polls."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.simulator.booth_rig import K, Rig
from sailau.cli.main import cli
from sailau.election import crypto, secretfile
from sailau.election.definition import write_election
from sailau.election.protocol import SignedProtocol, canonical_json, sign_protocol, validate_protocol
from sailau.election.shares import write_share_file
from sailau.smartcard.card_keys import master_key_file_bytes


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rig, Path]:
    """A precinct run through the CLI: init, open, (votes through the service), close."""
    from sailau.ballot_box.db import open_station_db
    from sailau.ballot_box.station import Station
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.smartcard.client import BallotCardClient
    from sailau.smartcard.transport import InProcessTransport

    tmp = tmp_path_factory.mktemp("cli")
    rig = Rig.create(voters=6)
    write_election(rig.election, tmp / "election.json")
    crypto.save_signing_key(tmp / "station.pem", rig.station_key)
    crypto.save_verify_key(tmp / "station.pub", rig.station_key.public_key())
    crypto.save_verify_key(tmp / "booth1.pub", rig.terminal_key.public_key())
    secretfile.write_secret_file(tmp / "master.hex", master_key_file_bytes(rig.card_master_key), "card master key")
    for share in rig.shares:
        write_share_file(tmp / f"share-{share.index}.json", share)
    db = f"sqlite:///{tmp / 'station.db'}"
    common = ["--db", db, "--election", str(tmp / "election.json"), "--station-key", str(tmp / "station.pem")]
    runner = CliRunner()
    out = runner.invoke(cli, ["station", "init", *common, "--precinct", str(rig.precinct),
                              "--card-master-key", str(tmp / "master.hex"),
                              "--voters", str(rig.voters_csv(tmp / "voters.csv"))])
    assert out.exit_code == 0, out.output
    assert "imported 6 voters" in out.output and "precinct 7101" in out.output
    out = runner.invoke(cli, ["station", "open", *common, "--terminal", str(tmp / "booth1.pub")])
    assert out.exit_code == 0, out.output
    assert "0 ballots stored" in out.output and rig.terminal.key_id.hex() in out.output
    with open_station_db(db) as database:
        station = Station.attach(database, rig.election, rig.station_key, rig.card_master_key)
        card = VirtualBallotCard(master_key=rig.card_master_key)
        client = BallotCardClient(InProcessTransport(card))
        client.connect()
        for i in range(4):
            station.check_in(rig.iins[i])
            station.on_card(client)
            rig.vote(client, rig.selections(i))  # type: ignore[arg-type]
            station.on_card(client)
    out = runner.invoke(cli, ["station", "status", "--db", db])  # the database alone: no keys
    assert out.exit_code == 0, out.output
    assert "polls open" in out.output and "cast 4" in out.output and "precinct 7101" in out.output
    out = runner.invoke(cli, ["station", "status", "--db", db, "--election", str(tmp / "election.json")])
    assert out.exit_code == 0, out.output
    assert f"election {rig.election.id}" in out.output and "cast 4" in out.output
    shares = [a for i in range(1, K + 1) for a in ("--share", str(tmp / f"share-{i}.json"))]
    out = runner.invoke(cli, ["station", "close", *common, *shares, "--out", str(tmp / "out")])
    assert out.exit_code == 0, out.output
    assert "cast 4" in out.output and "signed by station key" in out.output
    return rig, tmp


def verify(*args: str):
    return CliRunner().invoke(cli, ["protocol", "verify", *args])


def test_verify_accepts_the_closed_protocol(closed: tuple[Rig, Path]) -> None:
    _, tmp = closed
    out = verify(str(tmp / "out" / "protocol.json"), "--election", str(tmp / "election.json"),
                 "--station-key", str(tmp / "station.pub"))
    assert out.exit_code == 0, out.output
    assert "OK, precinct 7101" in out.output


def test_verify_checks_the_receipt_list_against_the_commitment(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    """The list written beside the protocol is the one it signs; one code swapped is named."""
    _, tmp = closed
    listed = tmp / "out" / "receipts.json"
    out = verify(str(tmp / "out" / "protocol.json"), "--receipts", str(listed))
    assert out.exit_code == 0 and "receipt list matches its commitment (4 codes)" in out.output, out.output
    data = json.loads(listed.read_bytes())
    data["codes"][0] = "0000-0000-00"
    swapped = tmp_path / "receipts.json"
    swapped.write_text(json.dumps(data))
    out = verify(str(tmp / "out" / "protocol.json"), "--receipts", str(swapped))
    assert out.exit_code == 1 and "the list was changed after signing" in out.output


def resign(signed: SignedProtocol, data: dict, key) -> bytes:
    """A protocol with changed numbers, properly signed by `key` (bypassing the relation check)."""
    from sailau.election.protocol import Protocol

    protocol = Protocol.from_data(data)
    public = crypto.ed25519_public_bytes(key.public_key())
    return SignedProtocol(protocol, crypto.key_id(public), public, crypto.sign(key, protocol.to_canonical_json())).to_canonical_json()


def test_a_changed_count_breaks_the_signature(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    _, tmp = closed
    data = json.loads((tmp / "out" / "protocol.json").read_bytes())
    data["protocol"]["contests"][0]["blank"] += 1
    data["protocol"]["ballots_cast"] += 1
    data["protocol"]["cards_issued"] += 1
    data["protocol"]["voters_checked_in"] += 1
    bad = tmp_path / "p.json"
    bad.write_bytes(canonical_json(data))
    out = verify(str(bad))
    assert out.exit_code != 0
    assert "signature:" in out.output and "sum==cast" in out.output  # the other contests no longer add up


def test_relations_are_checked_even_when_the_signature_holds(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    rig, tmp = closed
    signed = SignedProtocol.from_canonical_json((tmp / "out" / "protocol.json").read_bytes())
    data = signed.protocol.to_data()
    data["ballots_cast"] = data["cards_issued"] + 1
    bad = tmp_path / "p.json"
    bad.write_bytes(resign(signed, data, rig.station_key))
    out = verify(str(bad), "--election", str(tmp / "election.json"))
    assert out.exit_code != 0
    assert "cast<=issued" in out.output and "contest:majilis-list:sum==cast" in out.output
    assert "signature:" not in out.output


def test_a_declared_discrepancy_is_named_as_declared(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    """A protocol signed with its failing relations declared is not OK (a commission refuses
    it as `discrepancy`), and the output says the station declared them; a relation broken
    without being declared next to it is named plainly."""
    rig, tmp = closed
    signed = SignedProtocol.from_canonical_json((tmp / "out" / "protocol.json").read_bytes())
    p = dataclasses.replace(signed.protocol, voters_checked_in=signed.protocol.ballots_cast - 1)
    names = tuple(sorted({v.name for v in validate_protocol(p, rig.election)}))
    assert "cast<=checked_in" in names
    declared = tmp_path / "declared.json"
    declared.write_bytes(sign_protocol(dataclasses.replace(p, discrepancies=names), rig.station_key, rig.election)
                         .to_canonical_json())
    out = verify(str(declared), "--election", str(tmp / "election.json"))
    assert out.exit_code == 1 and "NOT verified" in out.output
    assert "discrepancy (declared by the station): cast<=checked_in:" in out.output
    assert all(line.startswith("discrepancy (declared by the station): ") for line in out.output.splitlines()[:-1])
    hidden = tmp_path / "hidden.json"
    hidden.write_bytes(resign(signed, dataclasses.replace(p, discrepancies=("checked_in<=on_list",)).to_data(),
                              rig.station_key))
    out = verify(str(hidden), "--election", str(tmp / "election.json"))
    assert out.exit_code == 1
    assert "\ncast<=checked_in:" in "\n" + out.output and "discrepancy:checked_in<=on_list:" in out.output
    assert "declared by the station" not in out.output


def test_signer_not_the_station_is_named(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    _, tmp = closed
    signed = SignedProtocol.from_canonical_json((tmp / "out" / "protocol.json").read_bytes())
    bad = tmp_path / "p.json"
    bad.write_bytes(resign(signed, signed.protocol.to_data(), crypto.generate_signing_key()))
    assert verify(str(bad)).exit_code == 0  # integrity alone holds
    out = verify(str(bad), "--station-key", str(tmp / "station.pub"))
    assert out.exit_code != 0 and "not enrolled" in out.output


def test_another_election_is_named(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    _, tmp = closed
    other = Rig.create(voters=1)
    write_election(other.election, tmp_path / "other.json")
    out = verify(str(tmp / "out" / "protocol.json"), "--election", str(tmp_path / "other.json"))
    assert out.exit_code != 0 and "election:fingerprint" in out.output


def test_not_a_protocol_is_refused_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"format": "sailau/signed-protocol"}')
    out = verify(str(bad))
    assert out.exit_code != 0 and "signed protocol: missing key(s)" in out.output
    assert out.output.count("signed protocol") == 1  # the reason, not a wrapper repeating it


def test_another_kind_of_file_is_named(closed: tuple[Rig, Path]) -> None:
    _, tmp = closed
    out = verify(str(tmp / "election.json"))
    assert out.exit_code != 0
    assert f"{tmp / 'election.json'} is an election definition, not a signed precinct protocol (" in out.output
    out = verify(str(tmp / "out" / "protocol.json"), "--election", str(tmp / "out" / "protocol.json"))
    assert out.exit_code != 0
    assert "protocol.json is a signed precinct protocol, not an election definition (" in out.output


def test_station_status_reads_without_keys_and_changes_nothing(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    """status needs neither the station key nor the card master key, and never writes
    (nor migrates) the database: the file's bytes stay as they were."""
    import shutil

    _, tmp = closed
    copy = tmp_path / "station.db"
    shutil.copy(tmp / "station.db", copy)
    before = copy.read_bytes()
    out = CliRunner().invoke(cli, ["station", "status", "--db", f"sqlite:///{copy}"])
    assert out.exit_code == 0, out.output
    assert "polls closed" in out.output and "cast 4" in out.output
    assert copy.read_bytes() == before
    assert "--station-key" not in CliRunner().invoke(cli, ["station", "status", "--help"]).output


def test_station_status_names_a_database_of_another_election(closed: tuple[Rig, Path], tmp_path: Path) -> None:
    _, tmp = closed
    other = Rig.create(voters=1)
    write_election(other.election, tmp_path / "other.json")
    out = CliRunner().invoke(cli, ["station", "status", "--db", f"sqlite:///{tmp / 'station.db'}",
                                   "--election", str(tmp_path / "other.json")])
    assert out.exit_code == 1 and "is not this definition's" in out.output and "Traceback" not in out.output


def test_station_status_of_a_new_or_missing_database_is_plain(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["station", "status", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert out.exit_code == 1 and "no station database at" in out.output
    assert not (tmp_path / "none.db").exists()  # a read never creates one


def test_precinct_not_in_the_election_is_said_once(tmp_path: Path) -> None:
    rig = Rig.create(voters=1)
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    out = CliRunner().invoke(cli, ["station", "init", "--db", f"sqlite:///{tmp_path / 's.db'}", "--election",
                                   str(tmp_path / "election.json"), "--station-key", str(tmp_path / "station.pem"),
                                   "--precinct", "999"])
    phrase = f"precinct 999 is not in election {rig.election.id}"
    assert out.exit_code == 1 and out.output.count(phrase) == 1, out.output


def test_station_close_with_too_few_shares_fails_and_names_it(tmp_path: Path) -> None:
    rig = Rig.create(voters=2)
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    crypto.save_verify_key(tmp_path / "booth.pub", rig.terminal_key.public_key())
    write_share_file(tmp_path / "s1.json", rig.shares[0])
    common = ["--db", f"sqlite:///{tmp_path / 's.db'}", "--election", str(tmp_path / "election.json"),
              "--station-key", str(tmp_path / "station.pem")]
    runner = CliRunner()
    assert runner.invoke(cli, ["station", "init", *common, "--precinct", "7101"]).exit_code == 0
    assert runner.invoke(cli, ["station", "open", *common, "--terminal", str(tmp_path / "booth.pub")]).exit_code == 0
    out = runner.invoke(cli, ["station", "close", *common, "--share", str(tmp_path / "s1.json"), "--out", str(tmp_path / "o")])
    assert out.exit_code != 0 and "needed" in out.output
    out = runner.invoke(cli, ["station", "status", "--db", common[1]])
    assert "polls open" in out.output
