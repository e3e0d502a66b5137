"""`sailau simulate`: bounded polling days (in-process with every fault, through real
pcscd + vpcd), the --json figures, the other ways to give an election, and a
comparison that does catch a ballot that differs from the voter's intention."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.election.shares import split_election_key, write_share_file
from sailau.simulator.election_kit import demo_election
from sailau.simulator.faults import FAULT_KINDS, FRAUD_KINDS, parse_fault_spec
from sailau.election import definition
from sailau.simulator.pollbook_gen import SHARES_2021, BallotPlan, SharesSpecError, generate_voters, parse_party_shares
from sailau.simulator.simulation import (
    Outcome,
    PollingDay,
    SimulationConfig,
    run_simulation,
)

JSON_KEYS = {"voters", "checked_in", "issued", "cast", "cancelled", "protocol_valid", "discrepancies", "lost",
             "double_counted", "ballot_positions", "faults_injected", "paper", "mobile", "hand_count", "cosign", "timings"}
# every kind often enough that 300 voters meet each one several times
HEAVY = "tear=0.05,pull=0.05,crash=0.05,corrupt=0.02,replay=0.03,foreign=0.03"
FRAUD_ENDINGS = {"corrupt": "rejected_", "replay": "already_counted", "foreign": ("rejected_", "refused_")}


def assert_exact(report) -> None:
    assert report.protocol_valid, report.problems
    assert (report.lost, report.double_counted, report.discrepancies, report.fraud_accepted) == (0, 0, 0, 0), \
        report.diffs
    assert report.cast + report.outcomes[Outcome.REJECTED_CORRUPT] + report.outcomes[Outcome.NOT_ISSUED_AFTER_CRASH] \
        == report.voters  # every voter is accounted for, none silently dropped
    for kind in FRAUD_KINDS:  # every fraudulent card was refused
        for key, n in report.faults.as_dict()[kind]["outcomes"].items():
            assert key.split(":")[-1].startswith(FRAUD_ENDINGS[kind]), (kind, key)


def test_300_voters_in_process_with_every_fault() -> None:
    report = run_simulation(SimulationConfig(voters=300, seed=2021, faults=parse_fault_spec(HEAVY)))
    assert_exact(report)
    for kind in FAULT_KINDS:
        assert report.faults.injected(kind) > 0, kind
    assert report.checked_in == 300 and report.station_restarts == report.faults.injected("crash")
    # a crash while issuing is a replaced card, not a lost voter; a blank card's token is revoked
    assert report.outcomes[Outcome.NOT_ISSUED_AFTER_CRASH] == 0 and report.replaced >= report.not_returned > 0
    assert report.outstanding == report.outcomes[Outcome.REJECTED_CORRUPT] + report.not_returned
    assert report.contest_selections == report.cast * 3  # three contests on the demo ballot
    assert report.ballot_positions == report.cast * 17  # 5 parties + blank, two local races with their options + blank
    assert set(report.to_json()) == JSON_KEYS


def test_intended_party_votes_follow_the_2021_shares(tmp_path: Path) -> None:
    election = demo_election(tmp_path).election
    plan = BallotPlan.for_style(election, 1)
    rng = random.Random(1)
    ballots = [plan.draw(rng) for _ in range(20_000)]
    share_no = sum(b["majilis"] == "NO" for b in ballots) / len(ballots)
    assert abs(share_no - SHARES_2021["NO"] / sum(SHARES_2021.values())) < 0.015  # 71.1 %
    assert all(b["majilis"] in SHARES_2021 for b in ballots)  # 2021 shares have no blank
    voters = generate_voters(500, random.Random(3))
    assert len({v.iin for v in voters}) == 500
    with pytest.raises(SharesSpecError, match="NOPE"):
        BallotPlan.for_style(election, 1, parse_party_shares("NOPE=3"))


def test_a_ballot_unlike_the_voters_intention_is_a_discrepancy(tmp_path: Path) -> None:
    """The comparison can fail: voter 3 'intends' one party but the terminal is made to
    mark another, so two positions of the national list differ (one short, one over)."""

    class Swapped(PollingDay):
        def _vote(self, v, card, plan):
            if v is self.voters[3]:
                real = dict(v.intended)
                v.intended = dict(real, majilis="ADAL" if real["majilis"] != "ADAL" else "NO")
                try:
                    return super()._vote(v, card, plan)
                finally:
                    v.intended = real
            return super()._vote(v, card, plan)

    report = Swapped(SimulationConfig(voters=8, seed=5), demo_election(tmp_path), tmp_path).run()
    assert report.protocol_valid and report.lost == 0
    assert report.discrepancies == 2 and not report.ok
    assert {d.contest for d in report.diffs} == {"majilis"}
    assert sorted(d.tallied - d.intended for d in report.diffs) == [-1, 1]


def test_cli_json_has_exactly_the_documented_keys(tmp_path: Path) -> None:
    out = tmp_path / "day.json"
    result = CliRunner().invoke(cli, ["simulate", "--voters", "25", "--seed", "4", "--faults", "all,tear=0.2",
                                      "--json", str(out), "--out", str(tmp_path / "protocol")])
    assert result.exit_code == 0, result.output
    assert "RESULT: OK" in result.output and "protocol valid: yes" in result.output
    figures = json.loads(out.read_text())
    assert set(figures) == JSON_KEYS
    assert figures["voters"] == 25 and figures["protocol_valid"] is True and figures["lost"] == 0
    assert set(figures["faults_injected"]) == set(FAULT_KINDS)
    assert figures["faults_injected"]["tear"]["injected"] > 0
    assert (tmp_path / "protocol" / "protocol.json").exists()


def test_cli_refuses_bad_fault_spec() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--voters", "3", "--faults", "meteor=0.1"])
    assert result.exit_code != 0 and "unknown fault kind 'meteor'" in result.output


def test_given_definition_with_its_shares(tmp_path: Path) -> None:
    """--election FILE --shares DIR: the definition as it is, closed with its own shares."""
    from sailau.election.crypto import ElectionKeyPair
    from sailau.election.definition import election_from_data, write_election
    from sailau.simulator.election_kit import demo_election_data

    pair = ElectionKeyPair.generate()
    data = dict(demo_election_data(), public_key=pair.public_key_bytes.hex(),
                key_ceremony={"threshold": 2, "shares": 3})
    election = election_from_data(data)
    write_election(election, tmp_path / "e.json")
    (tmp_path / "shares").mkdir()
    for share in split_election_key(pair.private_key, 2, 3, election.id, pair.public_key_bytes):
        write_share_file(tmp_path / "shares" / f"share-{share.index}.json", share)
    report = run_simulation(SimulationConfig(voters=12, seed=1, election=tmp_path / "e.json",
                                             shares_dir=tmp_path / "shares", precinct=7501))
    assert_exact(report)
    assert report.election_origin == "definition+shares" and report.precinct == 7501
    assert report.contest_selections == 12  # precinct 7501's style carries the Mäjilis list only


def test_shipped_2023_example_as_a_template() -> None:
    """The 2023 example (against all, single-member races) cannot be decrypted as shipped;
    as a template it gets a fresh key. Parties are not 2021's, so the list is drawn uniformly."""
    example = Path(definition.__file__).parent / "examples" / "majilis-2023.json"
    report = run_simulation(SimulationConfig(voters=15, seed=9, election=example, precinct=7103,
                                             faults=parse_fault_spec("pull=0.3,replay=0.2")))
    assert_exact(report)
    assert report.election_origin == "template (fresh key)" and report.contest_selections == 15 * 3


@pytest.mark.pcsc
def test_30_voters_through_pcscd_and_vpcd(vpcd_slot, vpcd_slot_2) -> None:
    """Every card goes through pcscd: served by a VpcdBridge, carried between the two
    reader ports (the fixtures hold both slots for this test)."""
    assert (vpcd_slot.port, vpcd_slot_2.port) == (35963, 35964)
    spec = "tear=0.1,pull=0.1,crash=0.05,corrupt=0.03,replay=0.05,foreign=0.05"
    report = run_simulation(SimulationConfig(voters=30, seed=35963, pcsc=True, faults=parse_fault_spec(spec)))
    assert report.mode == "pcscd+vpcd"
    assert_exact(report)
    assert sum(report.faults.injected(k) for k in FAULT_KINDS) > 0
