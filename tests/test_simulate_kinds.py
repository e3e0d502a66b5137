"""`sailau simulate --election` on a presidential day and a referendum day, with
every fault: exact (nothing lost or counted twice, the protocol equals the intended
ballots), and the protocol's counts give the law engine its input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from nist_schema import nist_schema_errors

from sailau.cli.main import cli
from sailau.election.law import CandidateVotes
from sailau.election.president import PresidentialOutcome, presidential_result
from sailau.election.referendum import ReferendumOutcome, RegionVotes, referendum_result
from sailau.simulator.faults import FAULT_KINDS, parse_fault_spec
from sailau.simulator.simulation import Outcome, SimulationConfig, run_simulation

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"
HEAVY = "tear=0.05,pull=0.05,crash=0.05,corrupt=0.02,replay=0.03,foreign=0.03"


def exact(report) -> None:
    assert report.protocol_valid, report.problems
    assert (report.lost, report.double_counted, report.discrepancies, report.fraud_accepted) == (0, 0, 0, 0), \
        report.diffs
    assert report.cast + report.outcomes[Outcome.REJECTED_CORRUPT] + report.outcomes[Outcome.NOT_ISSUED_AFTER_CRASH] \
        == report.voters


def test_presidential_day_with_every_fault(tmp_path):
    shares = {"TOKAYEV": 80.0, "DAIRABAYEV": 4.0, "ABDEN": 3.0, "AGAINST_ALL": 6.0, "BLANK": 1.0}
    report = run_simulation(SimulationConfig(
        voters=200, seed=2022, election=EXAMPLES / "president-2022.json", faults=parse_fault_spec(HEAVY),
        party_shares=shares, out_dir=tmp_path,
    ))
    exact(report)
    assert sum(report.faults.injected(k) for k in FAULT_KINDS) > 0
    assert report.contest_selections == report.cast  # one contest on the ballot
    signed = json.loads((tmp_path / "protocol.json").read_text())
    (race,) = signed["protocol"]["contests"]
    assert race["id"] == "president" and race["against_all"] > 0
    assert nist_schema_errors(json.loads((tmp_path / "protocol.nist.json").read_text(encoding="utf-8"))) == []
    total = sum(race["votes"].values()) + race["against_all"] + race["blank"] + race["invalid"]
    assert total == signed["protocol"]["ballots_cast"]
    result = presidential_result(
        "kz-president-2022", [CandidateVotes(k, v) for k, v in race["votes"].items()],
        participated=signed["protocol"]["ballots_cast"], against_all=race["against_all"],
    )
    assert result.outcome is PresidentialOutcome.ELECTED and result.winner == "TOKAYEV"


def test_referendum_day_with_every_fault(tmp_path):
    report = run_simulation(SimulationConfig(
        voters=200, seed=2024, election=EXAMPLES / "referendum-2022.json", faults=parse_fault_spec(HEAVY),
        party_shares={"yes": 3.0, "no": 1.0, "BLANK": 0.2}, out_dir=tmp_path,
    ))
    exact(report)
    p = json.loads((tmp_path / "protocol.json").read_text())["protocol"]
    (q,) = p["contests"]
    assert set(q["votes"]) == {"yes", "no"} and q["against_all"] == 0
    r = referendum_result("kz-referendum", True, p["voters_on_list"],
                          [RegionVotes(p["region"], p["ballots_cast"], q["votes"]["yes"], q["votes"]["no"])])
    assert r.outcome is ReferendumOutcome.ADOPTED


def test_simulate_cli_runs_a_referendum_day():
    r = CliRunner().invoke(cli, ["simulate", "--election", str(EXAMPLES / "referendum-2022.json"), "--voters", "30",
                                 "--seed", "3", "--faults", "all", "--party-shares", "yes=2,no=1"])
    assert r.exit_code == 0, r.output
    assert "RESULT: OK" in r.output
