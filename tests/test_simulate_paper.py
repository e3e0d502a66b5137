"""`sailau simulate` with paper voters, the mobile ballot box and the hand count
(issue 13, item 10): a simulated day whose every protocol line equals the
simulator's own ledger, the double entry catching each injected mistake (and
only those lines), the members co-signing by majority, the same seed giving the
same day, and the ledger's own rules (paper_day.py) as properties."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.ballot_box.handcount import HandCount, compare
from sailau.cli.main import cli
from sailau.election.ballot import Mark
from sailau.election.cosign import read_cosignature_file
from sailau.election.protocol import ContestResult, SignedProtocol
from sailau.simulator.election_kit import demo_election
from sailau.simulator.faults import parse_fault_spec
from sailau.simulator.paper_day import INVALID, NO_PAPER, PaperShares, ballots_to_receive, mark_paper, with_mistakes
from sailau.simulator.simulation import Outcome, SimulationConfig, run_simulation

HEAVY_PAPER = PaperShares(paper=0.3, mobile=0.08, not_home=0.25, spoil=0.15, invalid=0.05, additional=0.03, mistakes=3)


def figures(report) -> dict:
    """The report's JSON without the timings (they differ run to run)."""
    return {k: v for k, v in report.to_json().items() if k != "timings"}


@pytest.fixture(scope="module")
def paper_day(tmp_path_factory):
    out = tmp_path_factory.mktemp("paperday") / "protocol"
    faults = parse_fault_spec("tear=0.05,pull=0.05,crash=0.05,corrupt=0.02,replay=0.03,foreign=0.03")
    report = run_simulation(SimulationConfig(voters=160, seed=13, paper=HEAVY_PAPER, out_dir=out, faults=faults))
    return report, out


def test_a_day_with_paper_and_mobile_voters_is_exact(paper_day) -> None:
    report, out = paper_day
    assert report.ok, (report.problems, report.diffs)
    assert report.protocol_valid and report.discrepancies == 0 and report.lost == 0 and report.double_counted == 0
    p, m = report.paper, report.mobile
    assert p["voters_paper"] > 20 and p["spoiled"] > 0 and p["found_mobile"] > 0 and p["invalid_marks"] > 0
    assert m["requests"] > 5 and m["trips"] == 1 and m["voted_outside"] == p["issued_outside"] == p["found_mobile"]
    assert m["not_at_home_came_in_person"] > 0 and p["voters_additional"] > 0
    # every voter ended somewhere: by card, on paper at the table, or outside
    assert report.cast + report.outcomes[Outcome.REJECTED_CORRUPT] + p["voters_paper"] + m["voted_outside"] == report.voters
    assert (report.outcomes[Outcome.PAPER], report.outcomes[Outcome.OUTSIDE]) == (p["voters_paper"], m["voted_outside"])
    assert report.station_restarts > 0  # the card faults of the day went on around the paper voters
    # the signed protocol itself: the paper section is the ledger's, and its relations hold
    signed = SignedProtocol.from_canonical_json((out / "protocol.json").read_bytes())
    protocol = signed.protocol
    assert protocol.paper is not None
    assert (protocol.paper.received, protocol.paper.issued_in_station, protocol.paper.spoiled, protocol.paper.unused) == \
        (p["received"], p["issued_in_station"], p["spoiled"], p["unused"])
    assert protocol.paper.received == (protocol.paper.issued_in_station + protocol.paper.issued_outside
                                       + protocol.paper.spoiled + protocol.paper.unused)
    assert protocol.voters_paper == p["voters_paper"] and protocol.voters_outside == m["voted_outside"]
    assert protocol.ballots_counted == report.cast + p["found_stationary"] + p["found_mobile"]
    assert all(c.blank == 0 for c in protocol.paper.contests)  # paper has no blank: unmarked is invalid


def test_the_double_entry_catches_each_mistake_and_signing_waits(paper_day) -> None:
    report, _ = paper_day
    hc = report.hand_count
    assert hc["mistakes_injected"] == 3 and hc["mistakes_caught"] == 3 and hc["lines_shown_not_wrong"] == 0
    assert hc["signing_blocked"] is True and hc["corrected"] is True and hc["entries"] == 3
    assert report.double_entry_held


def test_a_majority_of_the_members_cosigns_with_a_dissent(paper_day) -> None:
    report, out = paper_day
    assert report.cosign == {"members": 5, "cosigned": 4, "dissents": 1, "majority": True, "problems": []}
    files = sorted(out.glob("protocol.*.cosig"))
    assert len(files) == 4
    assert sum(read_cosignature_file(f).dissent is not None for f in files) == 1


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    config = SimulationConfig(voters=60, seed=7, paper=HEAVY_PAPER)
    first, second = run_simulation(config), run_simulation(config)
    assert figures(first) == figures(second)
    other = run_simulation(SimulationConfig(voters=60, seed=8, paper=HEAVY_PAPER))
    assert figures(other) != figures(first)


def test_cards_only_carries_no_paper_section(tmp_path: Path) -> None:
    report = run_simulation(SimulationConfig(voters=20, seed=3, paper=NO_PAPER, out_dir=tmp_path))
    assert report.ok and report.paper["received"] == 0 and report.hand_count == {}
    protocol = SignedProtocol.from_canonical_json((tmp_path / "protocol.json").read_bytes()).protocol
    assert protocol.paper is None and protocol.voters_paper == 0 and protocol.voters_outside == 0


def test_cli_json_reports_the_paper_figures(tmp_path: Path) -> None:
    out = tmp_path / "day.json"
    result = CliRunner().invoke(cli, ["simulate", "--voters", "40", "--seed", "2", "--paper", "0.3", "--mobile", "0.1",
                                      "--count-mistakes", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "hand count: 3 entries, 2 mistakes entered, 2 caught by the double entry" in result.output
    assert "co-signed by 4 of 5 members (majority: yes)" in result.output
    data = json.loads(out.read_text())
    assert data["discrepancies"] == 0 and data["hand_count"]["mistakes_caught"] == 2
    assert data["paper"]["voters_paper"] > 0 and data["mobile"]["requests"] > 0 and data["cosign"]["majority"] is True


# --- the ledger's rules ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def election(tmp_path_factory):
    return demo_election(tmp_path_factory.mktemp("paperkit")).election


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(0, 8))
def test_mistakes_change_exactly_the_lines_they_name(election, seed: int, k: int) -> None:
    rng = random.Random(seed)
    style = election.precincts[0].style
    contests = tuple(ContestResult(c.id, {o.id: rng.randrange(40) for o in election.options(c.id)},
                                   against_all=rng.randrange(5) if c.against_all else 0, invalid=rng.randrange(5))
                     for c in election.contests_for_style(style))
    truth = HandCount(rng.randrange(30), rng.randrange(200), rng.randrange(20), contests)
    wrong, lines = with_mistakes(truth, k, rng, election)
    assert len(lines) == k and len(set(lines)) == k
    assert sorted(d.line_key for d in compare(truth, wrong)) == sorted(lines)
    wrong.check_against(election, style)  # still a count the form can hold (no 'against all' where there is none)


@given(seed=st.integers(0, 2**32 - 1))
def test_a_paper_ballot_has_no_blank(election, seed: int) -> None:
    rng = random.Random(seed)
    style = election.precincts[0].style
    intended = {c.id: rng.choice([Mark.BLANK, Mark.AGAINST_ALL, *[o.id for o in election.options(c.id)]])
                for c in election.contests_for_style(style)}
    marked = mark_paper(intended, rng, 0.0)
    for cid, choice in intended.items():
        assert marked[cid] == (INVALID if choice is Mark.BLANK else "against_all" if choice is Mark.AGAINST_ALL else choice)
    assert set(mark_paper(intended, rng, 1.0).values()) == {INVALID}


@given(st.integers(0, 100_000))
def test_the_act_of_receipt_covers_the_need_in_packs_of_ten(need: int) -> None:
    got = ballots_to_receive(need)
    assert got % 10 == 0 and (got == 0) == (need == 0)
    if need:
        spare = max(10, -(-need // 10))  # a tenth, rounded up, at least 10
        assert got >= need + 10 and 10 * got >= 11 * need and got < need + spare + 10


def test_a_share_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="paper must be a share"):
        PaperShares(paper=1.5)
    result = CliRunner().invoke(cli, ["simulate", "--voters", "3", "--paper", "2"])
    assert result.exit_code == 2 and "--paper" in result.output


@pytest.mark.slow
def test_a_campaign_of_paper_days_stays_exact() -> None:
    """The long run (-m slow): five 1,000-voter days with every card fault and the
    command's paper day (`DAY_SHARES`), each exact line by line, every mistake caught."""
    from sailau.simulator.paper_day import DAY_SHARES

    faults = parse_fault_spec("all")
    for day in range(5):
        report = run_simulation(SimulationConfig(voters=1000, seed=500 + day, paper=DAY_SHARES, faults=faults))
        assert report.ok, (day, report.problems, report.diffs[:5])
        assert report.paper["found_stationary"] > 50 and report.hand_count["mistakes_caught"] == DAY_SHARES.mistakes
