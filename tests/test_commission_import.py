"""Import and aggregation on SQLite and a real PostgreSQL server: idempotent
re-import, a conflicting resubmission withdrawn until a signed decision, SQL
totals equal to Python sums per unit, binding one database to one election, and
the 2021 national result reproduced from synthetic precinct protocols."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.commission.aggregate import db_unit_totals, python_unit_totals
from sailau.commission.checks import Reason
from sailau.commission.db import ElectionMismatchError, NoElectionError, SchemaVersionError, open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.conflicts import PrecinctStatus, sign_decision
from sailau.commission.registry import RegistryError, RegistryProblem, load_registry
from sailau.commission.report import commission_report
from sailau.commission.synth import load_private_keys, parse_table, read_table, synthesize
from sailau.election.crypto import load_signing_key
from sailau.election.definition import load_election
from sailau.election.protocol import ContestResult, Protocol, SignedProtocol, sign_protocol
from sqlalchemy import text

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"
SEATS_2021 = {"NO": 76, "AUYL": 0, "QHP": 10, "ADAL": 0, "AZ": 12}
TOTALS_2021 = {"NO": 5_148_074, "AUYL": 383_023, "QHP": 659_019, "ADAL": 258_618, "AZ": 792_828}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'commission.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="module")
def set_2021(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth2021") / "set"
    synthesize(read_table(TABLE), 300, 2021, out)
    return out


def _trust(d: Path):
    election = load_election(d / "election.json")
    return {"election": election, "registry": load_registry(d / "stations.json", election)}


def _first_import(db, d: Path, **kw):
    return import_protocols(db, [d], **_trust(d), **kw)


def test_2021_national_result_from_synthetic_protocols(db_url: str, set_2021: Path) -> None:
    with open_commission_db(db_url) as db:
        seen = []
        summary = _first_import(db, set_2021, chunk_size=64, progress=seen.append)
        assert summary.ok and len(summary.imported) == 300
        assert seen == [64, 128, 192, 256, 300]
        report = commission_report(db, "national")
    assert report["totals"] == TOTALS_2021
    assert report["seats"] == SEATS_2021
    assert report["complete"] is True and report["precincts"] == {"expected": 300, "reported": 300, "missing": [], "conflicts": []}
    assert report["allocation"]["qualified"] == ["NO", "QHP", "AZ"]
    assert report["party_list"]["ballots"] == report["counts"]["ballots_counted"]


def test_sql_totals_equal_python_sums_per_region(db_url: str, set_2021: Path) -> None:
    election = load_election(set_2021 / "election.json")
    protocols = [SignedProtocol.from_canonical_json(p.read_bytes()).protocol for p in sorted((set_2021 / "protocols").glob("*.json"))]
    with open_commission_db(db_url) as db:
        _first_import(db, set_2021)
        for level in ("national", "region"):
            assert db_unit_totals(db, election, level) == python_unit_totals(protocols, election, level)
        report = commission_report(db, "region")
    table = read_table(TABLE)
    assert {u["code"]: u["totals"] for u in report["units"]} == table.votes
    assert all(u["precincts_reported"] == u["precincts_expected"] and not u["missing"] for u in report["units"])
    assert sum(u["ballots_counted"] for u in report["units"]) == report["counts"]["ballots_counted"]


def test_reimport_is_idempotent_and_a_resubmission_is_a_conflict_until_decided(db_url: str, tmp_path: Path) -> None:
    """Issue 11: a second, different protocol signed by precinct 4's own key used to be
    refused as a `conflict` while the first stayed counted (first come, first counted).
    Now neither counts until the commission's signed decision names one."""
    d = tmp_path / "set"
    synthesize(parse_table("region,A,B,C\nR1,500,300,40\nR2,700,100,90\n"), 12, 3, d)
    keys = load_private_keys(d / "private" / "station-keys.json")
    with open_commission_db(db_url) as db:
        first = _first_import(db, d)
        before = commission_report(db, "region")
        again = import_protocols(db, [d])  # the election is already bound
        assert (len(first.imported), again.imported, len(again.unchanged), again.refused) == (12, [], 12, [])
        assert commission_report(db, "region") == before

        p = SignedProtocol.from_canonical_json((d / "protocols" / "precinct-000004.json").read_bytes()).protocol
        c = p.contests[0]
        changed = Protocol(**{**p.__dict__, "contests": (ContestResult(c.contest_id, {**c.votes, "A": c.votes["A"] + 1, "B": c.votes["B"] - 1}, invalid=c.invalid),)})
        resubmitted = tmp_path / "resubmitted.json"
        resubmitted.write_bytes(sign_protocol(changed, keys[4]).to_canonical_json())
        third = import_protocols(db, [resubmitted])
        assert third.refused == [] and third.imported == [] and third.withdrawn == [4]
        assert [(o.precinct, o.status) for o in third.conflicts] == [(4, PrecinctStatus.CONFLICT)]
        withdrawn = commission_report(db, "region")
        assert withdrawn["precincts"]["missing"] == [4] and withdrawn["precincts"]["conflicts"] == [4]
        assert withdrawn["complete"] is False
        assert withdrawn["counts"]["ballots_counted"] == before["counts"]["ballots_counted"] - p.ballots_counted
        again = import_protocols(db, [d, resubmitted])  # still both: still neither, whatever the order
        assert again.imported == [] and [o.precinct for o in again.conflicts] == [4]

        election = load_election(d / "election.json")
        versions = [hashlib.sha256(f.read_bytes()).hexdigest() for f in (d / "protocols" / "precinct-000004.json", resubmitted)]
        decision = sign_decision(election, 4, versions, versions[0], "recount act 1: the first protocol stands",
                                 load_signing_key(d / "private" / "registry-root.key"))
        decision_path = tmp_path / "decision.json"
        decision_path.write_bytes(decision.to_canonical_json())
        decided = import_protocols(db, [], decisions=[decision_path])
        assert decided.imported == [4] and decided.decisions == [4] and decided.ok
        assert [(o.precinct, o.status, o.counted) for o in decided.resolved] == [(4, PrecinctStatus.RESOLVED, versions[0])]
        assert commission_report(db, "region") == before


def test_partial_import_reports_missing_precincts(db_url: str, tmp_path: Path) -> None:
    d = tmp_path / "set"
    synthesize(parse_table("region,A,B\nR1,500,300\nR2,700,100\n"), 10, 8, d)
    files = sorted((d / "protocols").glob("*.json"))
    with open_commission_db(db_url) as db:
        import_protocols(db, files[:7], **_trust(d))
        partial = commission_report(db, "region")
        import_protocols(db, files[7:])
        full = commission_report(db, "region")
    assert partial["complete"] is False and partial["precincts"]["missing"] == [8, 9, 10]
    assert sum(len(u["missing"]) for u in partial["units"]) == 3
    assert full["complete"] is True and full["totals"] == {"A": 1200, "B": 400}


def test_one_database_one_election(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    table = parse_table("region,A,B\nR1,50,30\n")
    synthesize(table, 2, 1, a, election_id="election-a")
    synthesize(table, 2, 1, b, election_id="election-b")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with open_commission_db(url) as db:
        with pytest.raises(NoElectionError, match="--election and --stations"):
            import_protocols(db, [a])
        with pytest.raises(RegistryError, match="is the registry of election 'election-b'") as refused:
            load_registry(b / "stations.json", load_election(a / "election.json"))  # same seed, same root: another election
        assert refused.value.problem is RegistryProblem.ELECTION
        with pytest.raises(ElectionMismatchError, match="registry is for election 'election-b'"):
            import_protocols(db, [a], election=load_election(a / "election.json"), registry=_trust(b)["registry"])
        _first_import(db, a)
        with pytest.raises(ElectionMismatchError, match="tabulates election 'election-a'"):
            import_protocols(db, [b], election=load_election(b / "election.json"))
        refused = import_protocols(db, [b / "protocols"]).refused  # files of another election
        assert {r.reason for r in refused} == {Reason.ELECTION} and len(refused) == 2
        with db.begin() as conn:
            conn.execute(text("UPDATE commission_schema SET version = 99"))
    with pytest.raises(SchemaVersionError, match="schema version \\[99\\]"):
        open_commission_db(url)


def test_malformed_and_non_canonical_files_are_refused_by_name(tmp_path: Path) -> None:
    d = tmp_path / "set"
    synthesize(parse_table("region,A,B\nR1,50,30\n"), 2, 1, d)
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads((d / "protocols" / "precinct-000001.json").read_bytes()), indent=2))
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\xff not json")
    with open_commission_db("sqlite://") as db:
        summary = import_protocols(db, [pretty, garbage], **_trust(d))
    assert [(Path(r.source).name, r.reason) for r in summary.refused] == [("pretty.json", Reason.FORMAT), ("garbage.json", Reason.FORMAT)]
    assert "canonical" in summary.refused[0].message and "UTF-8" in summary.refused[1].message


@pytest.mark.postgres
def test_cli_import_report_on_postgresql(postgres_url: str, set_2021: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["commission", "import", *map(str, sorted((set_2021 / "protocols").glob("*.json"))),
                              "--db", postgres_url, "--election", str(set_2021 / "election.json"), "--stations", str(set_2021 / "stations.json")])
    assert out.exit_code == 0, out.output
    assert "imported 300, unchanged 0, refused 0" in out.output
    out = runner.invoke(cli, ["commission", "import", str(set_2021), "--db", postgres_url])
    assert out.exit_code == 0 and "imported 0, unchanged 300, refused 0" in out.output
    report_path = tmp_path / "national.json"
    out = runner.invoke(cli, ["commission", "report", "--db", postgres_url, "--level", "national", "--json", str(report_path)])
    assert out.exit_code == 0, out.output
    report = json.loads(report_path.read_text())
    assert report["totals"] == TOTALS_2021 and report["seats"] == SEATS_2021


@pytest.mark.slow
@pytest.mark.postgres
def test_2021_national_scale_10060_precincts(postgres_url: str, tmp_path: Path) -> None:
    """The full-size run: 10,060 synthetic precincts on PostgreSQL, then the observer."""
    from sailau.commission.bench import run_commission_bench

    result = run_commission_bench(postgres_url, precincts=10_060, workdir=tmp_path / "set")
    assert result.seats == SEATS_2021
    assert result.precincts == 10_060 and result.backend == "postgresql"
    shutil.rmtree(tmp_path / "set")


def test_cli_checks_receipt_lists_given_with_single_files(tmp_path: Path) -> None:
    """A territorial commission importing one station's protocol.json + receipts.json."""
    d = tmp_path / "set"
    synthesize(parse_table("region,A,B\nR1,90,40\n"), 2, 6, d)
    listed = d / "receipts" / "precinct-000001.json"
    common = ["commission", "import", str(d / "protocols" / "precinct-000001.json"), "--election", str(d / "election.json"),
              "--stations", str(d / "stations.json"), "--receipts", str(listed)]
    out = CliRunner().invoke(cli, [*common, "--db", f"sqlite:///{tmp_path / 'a.db'}"])
    assert out.exit_code == 0 and "imported 1, unchanged 0, refused 0" in out.output, out.output
    data = json.loads(listed.read_text())
    data["codes"] = sorted(data["codes"], reverse=True)  # any order is the same list
    data["codes"][0] = "ZZZZ-ZZZZ-ZZ"
    listed.write_text(json.dumps(data))
    out = CliRunner().invoke(cli, [*common, "--db", f"sqlite:///{tmp_path / 'b.db'}"])
    assert out.exit_code == 1 and "receipts:commitment" in out.output and "receipt-list problems 1" in out.output


def test_paper_precincts_import_with_their_turnout(db_url: str, set_2021: Path) -> None:
    """The synthesizer gives about a quarter of the precincts a paper protocol: the
    database's sums rebuild the paper section exactly as an observer sums the files,
    and turnout counts the paper ballots found (voters who took part), not only the cards."""
    from sailau.commission.aggregate import db_unit_totals, python_unit_totals, took_part
    from sailau.commission.site.data import precinct_payload

    election = load_election(set_2021 / "election.json")
    signed = [SignedProtocol.from_canonical_json(f.read_bytes()).protocol
              for f in sorted((set_2021 / "protocols").glob("*.json"))]
    with_paper = [p for p in signed if p.paper is not None]
    assert 30 < len(with_paper) < 120 and all(p.paper.found > 0 for p in with_paper)
    with open_commission_db(db_url) as db:
        assert _first_import(db, set_2021).ok
        for level in ("national", "region"):
            assert db_unit_totals(db, election, level) == python_unit_totals(signed, election, level)
        national = db_unit_totals(db, election, "national")["national"]
        assert national.paper is not None
        assert national.paper.found == sum(p.paper.found for p in with_paper) > 0
        assert national.ballots_counted == national.ballots_cast + national.paper.found
        report = commission_report(db, "national")
        assert report["counts"]["ballots_counted"] == took_part(national)
        assert report["turnout_percent"] == round(100 * took_part(national) / national.voters_on_list, 2)
        p = with_paper[0]
        page = precinct_payload(election, "stamp", report, p.precinct, db)
    assert page["counts"]["ballots_counted"] == p.ballots_cast + p.paper.found_stationary + p.paper.found_mobile
    assert page["counts"]["paper_found_mobile"] == p.paper.found_mobile
    assert page["turnout_percent"] == round(100 * page["counts"]["ballots_counted"] / p.voters_on_list, 2)
