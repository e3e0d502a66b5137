"""`sailau bench`: the JSON it writes has every figure, each a positive median and p95;
what cannot be measured is listed with a reason. No timing asserts (figures are
the benchmark's business, not the test's)."""

from __future__ import annotations

import json
import math
import sys

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.simulator import bench, peers

#: the figures the full set of benchmarks must produce without pcscd, PostgreSQL or the peer
CORE_FIGURES = {
    "card.apdu.in_process",
    "cast.sqlite",
    "cast.sqlite.commit",
    "cast.sqlite.ratio",
    "terminal.seal_sign",
    "terminal.write",
    "io.apdus_per_voter",
    "io.bytes_per_voter",
    "io.wire_ms_9600",
    "io.wire_ms_115200",
    "close.total",
    "close.decrypt_tally",
    "close.outputs",
    "commission.import",
    "commission.import_per_protocol",
}
PEER_FIGURES = {
    "peer.sailau.encrypt", "peer.electionguard.encrypt", "peer.ratio.encrypt",
    "peer.sailau.tally", "peer.electionguard.tally", "peer.ratio.tally",
}


def _run(tmp_path, *args: str) -> dict:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["bench", "--quick", "--json", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["schema"] == "sailau-bench/1"
    assert data["config"]["quick"] is True
    for key, figure in data["figures"].items():
        for field in ("median", "p95"):
            value = figure[field]
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, field, value)
        assert figure["p95"] >= figure["median"], key
        assert figure["samples"] >= 1 and figure["unit"] and figure["label"], key
        # each figure beside its floor or goal, and why
        assert figure["floor"] is not None or figure["goal"] is not None or figure["basis"], key
        assert figure["basis"], key
        if figure["goal"] is None:
            assert figure["meets_goal"] is None, key
        else:
            assert isinstance(figure["meets_goal"], bool), key
    return data


def test_quick_bench_reports_every_figure_positive(tmp_path):
    data = _run(tmp_path, "--no-pcsc", "--no-postgres", "--close-ballots", "8", "--runs", "1", "--peer-ballots", "1")
    assert CORE_FIGURES <= set(data["figures"])
    # what was not measured says so, by name and why
    assert "disabled (--no-pcsc)" in data["unavailable"]["card.apdu.pcsc"]
    assert "disabled (--no-postgres)" in data["unavailable"]["cast.postgresql"]
    if peers.electionguard_installed():
        assert PEER_FIGURES <= set(data["figures"])
        assert data["details"]["peer"]["counts_agree"] is True
    else:
        assert data["unavailable"]["peer.electionguard"].startswith("peer not installed")
    # a voter costs whole APDUs: issue, the terminal's read/write, the cast's read/clear
    steps = data["details"]["io_per_step"]
    assert set(steps) == {"issue", "terminal", "cast"}
    assert data["figures"]["io.apdus_per_voter"]["median"] == sum(s["apdus"] for s in steps.values())


def test_a_voter_costs_at_most_8_apdus_and_600_bytes_and_the_report_says_so(tmp_path):
    """Card protocol v2's budget (DESIGN.md section 3), measured through the real
    station and booth: 2 APDUs to issue, 3 in the booth, 3 to cast."""
    data = _run(tmp_path, "--only", "io")
    figures = data["figures"]
    assert figures["io.apdus_per_voter"]["median"] == 8 and figures["io.apdus_per_voter"]["goal"] == 8
    steps = data["details"]["io_per_step"]
    assert [steps[s]["apdus"] for s in ("issue", "terminal", "cast")] == [2, 3, 3]
    sizes = data["details"]["io_sizes"]
    # at this election's record size; 600 exactly at the 150-byte record (tests/test_card_client.py)
    assert figures["io.bytes_per_voter"]["median"] == 600 - 2 * (150 - sizes["record"])
    assert figures["io.bytes_per_voter"]["floor"] == 3 * sizes["issue_block"] + 2 * sizes["record"]
    for key in ("io.apdus_per_voter", "io.bytes_per_voter", "io.wire_ms_9600", "io.wire_ms_115200"):
        assert figures[key]["meets_goal"] is True, key
    assert figures["io.wire_ms_115200"]["median"] * 12 == pytest.approx(figures["io.wire_ms_9600"]["median"])


def test_the_cast_path_is_measured_beside_a_bare_durable_commit_on_the_same_database(tmp_path):
    data = _run(tmp_path, "--only", "cast", "--no-postgres")
    cast, commit, ratio = (data["figures"][k] for k in ("cast.sqlite", "cast.sqlite.commit", "cast.sqlite.ratio"))
    assert cast["goal"] == 1.0 and ratio["goal"] == 8.0
    assert cast["floor"] == commit["median"]  # the same run's floor
    assert cast["samples"] == commit["samples"] == ratio["samples"]


def test_only_runs_the_named_benchmarks(tmp_path):
    data = _run(tmp_path, "--only", "seal,io")
    assert set(data["figures"]) == {"terminal.seal_sign", "terminal.write", "io.apdus_per_voter",
                                    "io.bytes_per_voter", "io.wire_ms_9600", "io.wire_ms_115200"}
    write, seal = data["figures"]["terminal.write"], data["figures"]["terminal.seal_sign"]
    assert write["floor"] == seal["median"]  # seal ran first in the same run
    assert data["unavailable"] == {}


def test_unknown_benchmark_is_a_usage_error():
    result = CliRunner().invoke(cli, ["bench", "--only", "card,warp"])
    assert result.exit_code == 2
    assert "warp" in result.output and "card" in result.output


@pytest.mark.pcsc
@pytest.mark.postgres
def test_pcscd_and_postgresql_figures(tmp_path, pcscd, postgres_url):
    data = _run(tmp_path, "--only", "card,cast", "--pg-url", postgres_url)
    assert {"card.apdu.in_process", "card.apdu.pcsc", "cast.sqlite", "cast.postgresql", "cast.postgresql.commit",
            "cast.postgresql.ratio"} <= set(data["figures"])
    assert data["figures"]["card.apdu.pcsc"]["floor"] == data["figures"]["card.apdu.in_process"]["median"]
    assert data["unavailable"] == {}
    assert "sailau_test_pw" not in json.dumps(data["config"])  # the password never lands in the report


def test_unreachable_postgresql_is_reported_not_omitted(tmp_path):
    data = _run(tmp_path, "--only", "cast", "--pg-url", "postgresql+psycopg://nobody:x@127.0.0.1:9/none")
    assert "cast.sqlite" in data["figures"]
    assert "cast.postgresql" not in data["figures"]
    assert data["unavailable"]["cast.postgresql"].startswith("not measured: no PostgreSQL server")


def test_missing_peer_is_reported_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "electionguard_installed", lambda: False)
    report = bench.run_bench(bench.BenchConfig(quick=True, only=frozenset({"peer"})))
    assert report.figures == []
    assert report.unavailable["peer.electionguard"] == f"peer not installed ({peers.INSTALL_HINT})"


def test_percentile_is_nearest_rank():
    values = sorted(float(v) for v in range(1, 101))
    assert bench.percentile(values, 95) == 95.0
    assert bench.percentile([3.0], 95) == 3.0
    assert bench.percentile([1.0, 2.0], 50) == 1.0


def test_electionguard_peer_counts_the_same_ballots():
    """With the peer installed: the import shim loads ElectionGuard 1.4.0 on this
    Python and both systems tally the same ballots to the intended counts. Without
    it: the comparison refuses with PeerNotInstalled naming the install command."""
    from sailau.simulator.booth_rig import Rig

    rig = Rig.create(voters=1)
    ballots = [rig.selections(i) for i in range(3)]
    if not peers.electionguard_installed():
        with pytest.raises(peers.PeerNotInstalled, match="electionguard==1.4.0"):
            peers.compare_with_electionguard(rig.election, rig.precinct, ballots)  # type: ignore[arg-type]
        return
    eg = peers.load_electionguard()
    assert eg.__version__ == "1.4.0" and "encrypt" in dir(eg)
    assert peers.load_electionguard() is sys.modules["electionguard"]  # idempotent
    comparison = peers.compare_with_electionguard(rig.election, rig.precinct, ballots)  # type: ignore[arg-type]
    assert comparison.counts == peers.sailau_counts(rig.election, rig.election.precinct(rig.precinct).style, ballots)  # type: ignore[arg-type]
    marked = sum(1 for b in ballots if "majilis-list" in b)  # the others left it blank
    assert marked >= 1 and sum(comparison.counts["majilis-list"].values()) == marked
    assert comparison.encrypt_ratio > 0 and comparison.tally_ratio > 0
