"""The VVSG accuracy volume (`-m slow`): polling days with faults until at least
1,549,703 ballot positions are tallied, with zero discrepancies, nothing lost and
nothing counted twice.

A ballot position is what VVSG means by it: a place on the ballot where a vote
can be marked (every option of every contest, against all where the law has it,
and the blank mark), counted over every ballot tallied: ballots × 17 on the demo
ballot (the report's `ballot_positions`). So the campaign reads every position of
about 91,000 ballots. Days have 3,000 voters (a large Kazakh precinct), every fault kind
at the issue's rates (`--faults all`), a fresh election key and station per day.

SAILAU_CAMPAIGN_POSITIONS (default the VVSG figure) and SAILAU_CAMPAIGN_DAY_VOTERS
scale it, e.g. to measure the rate; the figures are printed at the end (-s).
"""

from __future__ import annotations

import os
import time
from collections import Counter

import pytest

from sailau.simulator.faults import FAULT_KINDS, parse_fault_spec
from sailau.simulator.simulation import VVSG_POSITIONS, SimulationConfig, run_simulation


@pytest.mark.slow
@pytest.mark.timeout(0)
def test_vvsg_volume_campaign_has_zero_discrepancies() -> None:
    target = int(os.environ.get("SAILAU_CAMPAIGN_POSITIONS", VVSG_POSITIONS))
    day_voters = int(os.environ.get("SAILAU_CAMPAIGN_DAY_VOTERS", 3000))
    faults = parse_fault_spec("all")
    positions = ballots = voters = days = 0
    totals: Counter[str] = Counter()
    injected: Counter[str] = Counter()
    t0 = time.perf_counter()
    while positions < target:
        report = run_simulation(SimulationConfig(voters=day_voters, seed=days, faults=faults))
        assert report.protocol_valid, (days, report.problems)
        assert (report.discrepancies, report.lost, report.double_counted, report.fraud_accepted) == (0, 0, 0, 0), \
            (days, report.diffs)
        days += 1
        positions += report.ballot_positions
        ballots += report.cast
        voters += report.voters
        totals.update(report.outcomes)
        injected.update({k: report.faults.injected(k) for k in FAULT_KINDS})
        elapsed = time.perf_counter() - t0
        print(f"day {days}: {positions:,} positions, {ballots:,} ballots, {elapsed:,.0f} s", flush=True)
    elapsed = time.perf_counter() - t0
    assert positions >= target
    print(f"\nVVSG campaign: {days} polling days, {voters:,} voters, {ballots:,} ballots tallied, "
          f"{positions:,} ballot positions (target {target:,}), 0 discrepancies, 0 lost, 0 double counted; "
          f"outcomes {dict(totals)}; faults injected {dict(injected)}; {elapsed:,.0f} s "
          f"({voters / elapsed:,.1f} voters/s)")
