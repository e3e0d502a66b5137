"""Tampered published sets: each tampering is detected by `sailau verify` and refused
by `sailau commission import` with its named reason (a dropped protocol, which
import cannot refuse, is reported missing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.commission.checks import Reason
from sailau.commission.db import open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.registry import load_registry
from sailau.commission.report import commission_report, report_json_bytes
from sailau.commission.synth import load_private_keys, read_table, synthesize
from sailau.commission.verify import verify_published
from sailau.election.crypto import generate_signing_key, sign
from sailau.election.definition import load_election
from sailau.election.protocol import ContestResult, Protocol, SignedProtocol, canonical_json, sign_protocol

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"
N = 40


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("published") / "set"
    synthesize(read_table(TABLE), N, 11, out)
    return out


@pytest.fixture
def published(clean_set: Path, tmp_path: Path) -> Path:
    """A fresh copy of the published set (without the private keys) to tamper with."""
    dest = tmp_path / "set"
    shutil.copytree(clean_set, dest, ignore=shutil.ignore_patterns("private"))
    return dest


@pytest.fixture(scope="module")
def keys(clean_set: Path):
    return load_private_keys(clean_set / "private" / "station-keys.json")


@pytest.fixture(scope="module")
def official(clean_set: Path) -> dict:
    """The official report of the untampered set, computed by the commission."""
    with open_commission_db("sqlite://") as db:
        summary = import_protocols(db, [clean_set], election=load_election(clean_set / "election.json"), registry=load_registry(clean_set / "stations.json"))
        assert summary.ok and len(summary.imported) == N
        return commission_report(db, "region")


def _path(d: Path, n: int) -> Path:
    return d / "protocols" / f"precinct-{n:06d}.json"


def _signed(d: Path, n: int) -> SignedProtocol:
    return SignedProtocol.from_canonical_json(_path(d, n).read_bytes())


def _moved_votes(p: Protocol, k: int = 10) -> Protocol:
    """The same precinct with k votes moved from Ak Zhol to Nur Otan (relations still hold)."""
    c = p.contests[0]
    votes = dict(c.votes)
    votes["AZ"] -= k
    votes["NO"] += k
    return Protocol(**{**p.__dict__, "contests": (ContestResult(c.contest_id, votes, c.against_all, c.blank, c.invalid),)})


def _import(d: Path):
    with open_commission_db("sqlite://") as db:
        return import_protocols(db, [d], election=load_election(d / "election.json"), registry=load_registry(d / "stations.json"))


def test_clean_set_verifies_and_matches_the_official_report(clean_set: Path, official: dict) -> None:
    result = verify_published(clean_set, official)
    assert result.findings == []
    assert result.report == official
    assert result.protocols_counted == N


def test_one_number_changed(published: Path, official: dict) -> None:
    data = json.loads(_path(published, 7).read_bytes())
    data["protocol"]["contests"][0]["votes"]["NO"] += 1
    data["protocol"]["contests"][0]["invalid"] -= 1  # keep the control relation, so only the signature can tell
    _path(published, 7).write_bytes(canonical_json(data))

    result = verify_published(published, official)
    assert [(f.kind, Path(f.subject).name) for f in result.findings if not f.kind.startswith("report")] == [
        ("refused:signature", "precinct-000007.json"),
        ("missing", "precinct 7"),
    ]
    assert any(f.kind == "report:differs" and f.subject == "$.totals.NO" for f in result.findings)

    summary = _import(published)
    assert [(r.precinct, r.reason) for r in summary.refused] == [(7, Reason.SIGNATURE)]
    assert 7 not in summary.imported and len(summary.imported) == N - 1


def test_protocol_dropped(published: Path, official: dict) -> None:
    _path(published, 12).unlink()
    result = verify_published(published, official)
    kinds = [(f.kind, f.subject) for f in result.findings]
    assert ("missing", "precinct 12") in kinds
    assert ("report:differs", "$.precincts.reported") in kinds
    assert ("report:differs", "$.complete") in kinds

    with open_commission_db("sqlite://") as db:
        summary = import_protocols(db, [published], election=load_election(published / "election.json"), registry=load_registry(published / "stations.json"))
        report = commission_report(db)
    assert summary.ok
    assert report["complete"] is False and report["precincts"]["missing"] == [12]


def test_duplicate_protocol_for_a_precinct(published: Path, keys, official: dict) -> None:
    """The right station key signs a second, different protocol for its precinct."""
    second = sign_protocol(_moved_votes(_signed(published, 5).protocol), keys[5])
    (published / "protocols" / "precinct-000005-corrected.json").write_bytes(second.to_canonical_json())

    result = verify_published(published, official)
    assert sorted((f.kind, Path(f.subject).name) for f in result.findings if f.kind != "report:differs") == [
        ("duplicate", "precinct-000005-corrected.json"),
        ("duplicate", "precinct-000005.json"),
    ]
    # neither version is counted, so the recomputation differs from the official report
    assert ("report:differs", "$.precincts.reported") in [(f.kind, f.subject) for f in result.findings]

    summary = _import(published)
    assert [(r.precinct, r.reason) for r in summary.refused] == [(5, Reason.DUPLICATE)]


def test_identical_copy_is_counted_once(published: Path, official: dict) -> None:
    shutil.copy(_path(published, 3), published / "protocols" / "precinct-000003-copy.json")
    result = verify_published(published, official)
    assert [f.kind for f in result.findings] == ["duplicate_file"]  # named, but the totals still match
    summary = _import(published)
    assert summary.ok and summary.unchanged == [3] and len(summary.imported) == N


def test_protocol_from_an_unknown_station(published: Path, official: dict) -> None:
    forged = sign_protocol(_moved_votes(_signed(published, 9).protocol), generate_signing_key())
    _path(published, 9).write_bytes(forged.to_canonical_json())

    result = verify_published(published, official)
    assert ("refused:unknown_station", "precinct-000009.json") in [(f.kind, Path(f.subject).name) for f in result.findings]
    assert ("missing", "precinct 9") in [(f.kind, f.subject) for f in result.findings]

    summary = _import(published)
    assert [(r.precinct, r.reason) for r in summary.refused] == [(9, Reason.UNKNOWN_STATION)]


def test_protocol_signed_by_another_precincts_station(published: Path, keys) -> None:
    forged = sign_protocol(_moved_votes(_signed(published, 9).protocol), keys[10])
    _path(published, 9).write_bytes(forged.to_canonical_json())
    assert "refused:wrong_station" in verify_published(published).kinds()
    assert [(r.precinct, r.reason) for r in _import(published).refused] == [(9, Reason.WRONG_STATION)]


def test_signed_protocol_breaking_a_control_relation(published: Path, keys) -> None:
    """A station (or whoever holds its key) signs counts that do not add up."""
    p = _signed(published, 4).protocol
    bad = Protocol(**{**p.__dict__, "ballots_cast": p.ballots_cast + 1})
    key = keys[4]
    signed = SignedProtocol(bad, _signed(published, 4).station_key_id, _signed(published, 4).public_key, sign(key, bad.to_canonical_json()))
    _path(published, 4).write_bytes(signed.to_canonical_json())

    finding = next(f for f in verify_published(published).findings if f.kind.startswith("refused"))
    assert finding.kind == "refused:relations" and "contest:majilis:sum==cast" in finding.message
    refused = _import(published).refused
    assert [(r.precinct, r.reason) for r in refused] == [(4, Reason.RELATIONS)]


def test_official_report_with_a_seat_moved(clean_set: Path, official: dict) -> None:
    doctored = json.loads(report_json_bytes(official))
    doctored["seats"]["NO"] -= 1
    doctored["seats"]["AUYL"] += 1
    result = verify_published(clean_set, doctored)
    assert sorted(f.subject for f in result.findings) == ["$.seats.AUYL", "$.seats.NO"]
    assert {f.kind for f in result.findings} == {"report:differs"}


def test_cli_names_the_problem(published: Path, tmp_path: Path, official: dict) -> None:
    forged = sign_protocol(_moved_votes(_signed(published, 9).protocol), generate_signing_key())
    _path(published, 9).write_bytes(forged.to_canonical_json())
    (tmp_path / "official.json").write_bytes(report_json_bytes(official))
    runner = CliRunner()

    out = runner.invoke(cli, ["verify", str(published), "--report", str(tmp_path / "official.json")])
    assert out.exit_code == 1
    assert "[refused:unknown_station]" in out.output and "FAILED" in out.output

    out = runner.invoke(cli, ["commission", "import", str(published), "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert out.exit_code == 1
    assert "precinct 9: refused (unknown_station)" in out.output
    assert f"imported {N - 1}, unchanged 0, refused 1" in out.output


def test_an_unreadable_definition_is_named_once(published: Path) -> None:
    """The reason is said once: no wrapper repeating the file name or "election definition"."""
    definition = published / "election.json"
    data = json.loads(definition.read_bytes())
    data["surprise"] = 1
    definition.write_text(json.dumps(data))
    out = CliRunner().invoke(cli, ["verify", str(published)])
    assert out.exit_code == 2
    assert out.output.count(str(definition)) == 1 and out.output.count("election definition") == 1, out.output
    definition.unlink()
    out = CliRunner().invoke(cli, ["verify", str(published)])
    assert out.exit_code == 2 and out.output.count(str(definition)) == 1, out.output
    assert "No such file or directory" in out.output
