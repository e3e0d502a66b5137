"""Reports: a 2023-law election with single-member seats (elected, tie, against
all) by district, the HTML page and its charts, the level errors, and receipt-code
lists checked by the verifier."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.commission.aggregate import LevelError
from sailau.commission.charts import hemicycle_positions
from sailau.commission.db import open_commission_db
from sailau.commission.importer import import_protocols
from sailau.election.receipts import ReceiptList, commit_receipts
from sailau.commission.registry import build_registry, load_registry, sign_registry, write_registry
from sailau.commission.report import commission_report
from sailau.commission.synth import parse_table, synthesize
from sailau.commission.verify import verify_published
from sailau.election.crypto import ed25519_public_bytes, generate_signing_key
from sailau.election.record import receipt_code
from sailau.election.definition import load_election, write_election
from sailau.election.protocol import ContestResult, Protocol, sign_protocol

EXAMPLE_2023 = Path(__file__).parents[1] / "election" / "examples" / "majilis-2023.json"

# per precinct: contest -> votes per option (in ballot order), against all, blank, invalid
SMD = {
    7101: {"majilis-smd-ast-1": ([300, 120, 40], 20)},
    7102: {"majilis-smd-ast-1": ([100, 250, 40], 10)},  # AST-1: akhmetov 400, zhumabayeva 370 -> elected
    7103: {"majilis-smd-ast-2": ([200, 200, 50], 30)},  # AST-2: a tie between bekova and kurmanov
    7501: {"majilis-smd-ala-1": ([100, 90, 80, 70], 150)},  # ALA-1: against all 150 >= 100
}


def _protocol(election, number: int, rng: random.Random) -> Protocol:
    pr = election.precinct(number)
    smd_votes = SMD[number]
    cast = sum(sum(v) + a for v, a in smd_votes.values()) + 5  # + 5 blank in the district race
    contests = []
    for contest in election.contests_for_style(pr.style):
        options = [o.id for o in election.options(contest.id)]
        if contest.id in smd_votes:
            votes, against = smd_votes[contest.id]
            contests.append(ContestResult(contest.id, dict(zip(options, votes)), against_all=against, blank=5))
        else:
            weights = [rng.randint(1, 100) for _ in options]
            against = rng.randint(0, 30)
            invalid = rng.randint(0, 10)
            left = cast - against - invalid
            votes = [left * w // sum(weights) for w in weights]
            votes[0] += left - sum(votes)
            contests.append(ContestResult(contest.id, dict(zip(options, votes)), against_all=against, invalid=invalid))
    codes = [receipt_code(rng.randbytes(16)) for _ in range(cast)]
    return Protocol(election.id, election.fingerprint_hex, number, pr.region, pr.district, cast * 2, cast + 3, cast + 3, cast, 2,
                    tuple(contests), receipts=commit_receipts(codes)), codes


def _trust(d: Path) -> dict:
    election = load_election(d / "election.json")
    return {"election": election, "registry": load_registry(d / "stations.json", election)}


@pytest.fixture
def set_2023(tmp_path: Path) -> Path:
    """A published set of the 2023 example (with a registry root of our own, so a new
    fingerprint): four signed protocols, their receipt lists, the signed registry."""
    d = tmp_path / "set2023"
    (d / "protocols").mkdir(parents=True)
    (d / "receipts").mkdir()
    root = generate_signing_key()
    election = load_election(EXAMPLE_2023).model_copy(update={"registry_root_key": ed25519_public_bytes(root.public_key()).hex()})
    write_election(election, d / "election.json")
    rng = random.Random(23)
    pubs = []
    for number in SMD:
        key = generate_signing_key()
        protocol, codes = _protocol(election, number, rng)
        signed = sign_protocol(protocol, key, election)
        (d / "protocols" / f"precinct-{number}.json").write_bytes(signed.to_canonical_json())
        (d / "receipts" / f"precinct-{number}.json").write_bytes(ReceiptList(election.id, election.fingerprint_hex, number, tuple(codes)).to_json_bytes())
        pubs.append((number, signed.public_key))
    write_registry(sign_registry(build_registry(election.id, election.fingerprint_hex, pubs), root), d / "stations.json")
    return d


def test_2023_single_member_outcomes_and_district_level(set_2023: Path) -> None:
    with open_commission_db("sqlite://") as db:
        summary = import_protocols(db, [set_2023], **_trust(set_2023))
        assert summary.ok and sorted(summary.imported) == [7101, 7102, 7103, 7501]
        report = commission_report(db, "district")
    outcomes = {d["district"]: (d["outcome"], d["winner"], d["winner_party"], d["tied"]) for d in report["single_member"]}
    assert outcomes == {
        "AST-1": ("elected", "ast1-akhmetov", "AMANAT", []),
        "AST-2": ("tie", None, None, ["ast2-bekova", "ast2-kurmanov"]),
        "ALA-1": ("against_all", None, None, []),
    }
    assert sum(report["seats"].values()) == 69
    assert report["majilis_seats"]["AMANAT"] == report["seats"]["AMANAT"] + 1
    units = {u["code"]: u for u in report["units"]}
    assert set(units) == {"AST-1", "AST-2", "ALA-1"}
    assert units["AST-1"]["precincts_reported"] == 2 and units["AST-1"]["ballots_counted"] == (460 + 20) + (390 + 10) + 2 * 5
    assert report["contests"]["majilis-smd-ala-1"]["against_all"] == 150
    assert report["contests"]["maslikhat-astana-list"]["ballots"] == sum(units[c]["ballots_counted"] for c in ("AST-1", "AST-2"))

    result = verify_published(set_2023, report)
    assert result.findings == []


def test_district_level_needs_districts(tmp_path: Path) -> None:
    d = tmp_path / "s"
    synthesize(parse_table("region,A,B\nR1,50,30\n"), 2, 1, d)
    with open_commission_db("sqlite://") as db:
        import_protocols(db, [d], **_trust(d))
        with pytest.raises(LevelError, match="no Mäjilis single-member districts: report by region or national"):
            commission_report(db, "district")
    out = CliRunner().invoke(cli, ["commission", "report", "--db", "sqlite://", "--level", "national"])
    assert out.exit_code == 1 and "holds no election yet" in out.output


def test_html_report_and_charts(tmp_path: Path) -> None:
    d = tmp_path / "s"
    synthesize(parse_table("region,A,B,C\nR1,5000,3000,100\nR2,4000,900,800\n"), 8, 4, d)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["commission", "import", str(d), "--db", url]).exit_code == 0
    out = runner.invoke(cli, ["commission", "report", "--db", url, "--level", "region", "--html", str(tmp_path / "r.html"), "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    assert "8 of 8 precincts reported" in out.output
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") == 3 and "Vote share by party" in page and "R2" in page
    charts = tmp_path / "r-charts"
    for name in ("hemicycle", "vote-share", "turnout"):
        assert (charts / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (charts / f"{name}.svg").read_bytes()
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["level"] == "region" and sum(report["seats"].values()) == 98


@pytest.mark.parametrize("seats", [1, 2, 29, 69, 98, 150])
def test_hemicycle_has_one_place_per_seat(seats: int) -> None:
    pts = hemicycle_positions(seats)
    assert len(pts) == seats
    assert len({(round(x, 6), round(y, 6)) for x, y in pts}) == seats  # no two seats on one spot
    assert all(y >= -1e-9 for _, y in pts)  # a half circle
    xs = [x for x, _ in pts]
    assert xs[0] <= xs[-1]  # filled left to right


def test_receipt_lists_checked_against_protocols(tmp_path: Path) -> None:
    """Each list is checked against the commitment its signed protocol carries: a code
    replaced by a foreign one (same count, every code well-formed) is caught, which
    the count alone did not catch before issue 11."""
    d = tmp_path / "s"
    synthesize(parse_table("region,A,B\nR1,20,10\nR2,15,5\n"), 3, 2, d)
    assert verify_published(d).findings == []

    def edit(n: int, change) -> None:
        path = d / "receipts" / f"precinct-{n:06d}.json"
        data = json.loads(path.read_text())
        data["codes"] = change(data["codes"])
        path.write_text(json.dumps(data))

    edit(1, lambda codes: codes[1:] + ["not-a-code"])
    edit(2, lambda codes: codes[:-1])
    edit(3, lambda codes: codes[1:] + [receipt_code(b"a ballot of another precinct")])
    kinds = sorted((f.kind, Path(f.subject).name) for f in verify_published(d).findings)
    assert kinds == [
        ("receipts:commitment", "precinct-000001.json"),
        ("receipts:commitment", "precinct-000003.json"),
        ("receipts:count", "precinct-000002.json"),
        ("receipts:malformed", "precinct-000001.json"),
    ]
    (d / "receipts" / "precinct-000003.json").unlink()
    assert ("receipts:missing", "precinct 3") in [(f.kind, f.subject) for f in verify_published(d).findings]
