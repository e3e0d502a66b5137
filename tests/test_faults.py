"""Fault injectors of the election-day simulation (simulator/faults.py): the spec, the
pull and tear switches, corrupted, cloned and foreign cards against the real station
and terminal, the crash switch, and every crash point in a polling day."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from card_support import WRITING_COMMANDS, prepare_for, run_command
from sailau.simulator.booth_rig import Rig
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.station import CastStatus
from sailau.ballot_box import store
from sailau.election.record import SealedBallot
from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.election_kit import demo_election
from sailau.simulator.faults import (
    CRASH_POINTS,
    FAULT_KINDS,
    CrashSwitch,
    FaultLedger,
    FaultSpecError,
    FaultyCard,
    StationCrash,
    clone_card,
    corrupt_card,
    foreign_card,
    parse_fault_spec,
    tear_point,
)
from sailau.simulator.simulation import FaultPlan, Outcome, PollingDay, SimulationConfig
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardRemovedError
from sailau.smartcard.transport import InProcessTransport
from sailau.terminal.session import CardCheck, TerminalConfig, TerminalSession

# --- the spec -----------------------------------------------------------------------------


def test_spec_parses_rates_all_and_none() -> None:
    spec = parse_fault_spec("tear=0.02,pull=0.5 , crash=0")
    assert (spec.rate("tear"), spec.rate("pull"), spec.rate("crash"), spec.rate("foreign")) == (0.02, 0.5, 0.0, 0.0)
    every = parse_fault_spec("all")
    assert all(every.rate(k) > 0 for k in FAULT_KINDS)
    assert parse_fault_spec("all,crash=0.3").rate("crash") == 0.3
    assert not parse_fault_spec("").any and not parse_fault_spec("all,none").any


@pytest.mark.parametrize("text, fragment", [
    ("teer=0.1", "unknown fault kind 'teer'"), ("tear", "needs a rate"), ("tear=x", "not a number"),
    ("tear=1.5", "not a probability"), ("pull=-0.1", "not a probability"), ("crash=nan", "not a probability"),
])
def test_spec_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(FaultSpecError, match=fragment):
        parse_fault_spec(text)


@given(st.dictionaries(st.sampled_from(FAULT_KINDS), st.floats(0, 1, allow_nan=False)))
def test_spec_text_round_trips(rates: dict[str, float]) -> None:
    spec = parse_fault_spec(",".join(f"{k}={v!r}" for k, v in rates.items()))
    again = parse_fault_spec(str(spec))
    for kind in FAULT_KINDS:
        assert math.isclose(again.rate(kind), rates.get(kind, 0.0), rel_tol=1e-5, abs_tol=1e-9)


def test_ledger_counts_by_kind_and_ending() -> None:
    ledger = FaultLedger()
    ledger.record("tear", "box:issue", "lost_reissued_same_token")
    ledger.record("tear", "terminal:write", "write_completed")
    ledger.record("replay", "box", "already_counted")
    assert ledger.injected("tear") == 2 and ledger.injected("crash") == 0
    assert ledger.ended("replay", "already_counted") == 1
    assert set(ledger.as_dict()) == set(FAULT_KINDS)
    assert ledger.as_dict()["tear"]["outcomes"] == {"box:issue:lost_reissued_same_token": 1,
                                                   "terminal:write:write_completed": 1}
    with pytest.raises(ValueError):
        ledger.record("meteor", "box", "x")


# --- card switches ------------------------------------------------------------------------


def _client(card: FaultyCard) -> BallotCardClient:
    client = BallotCardClient(InProcessTransport(card))
    client.connect()
    return client


@pytest.mark.parametrize("after", [0, 1, 2])
def test_pull_lets_n_apdus_through_then_the_card_is_gone(after: int) -> None:
    card = FaultyCard(VirtualBallotCard())
    client = _client(card)
    card.arm_pull(after)
    done = 0
    with pytest.raises(CardRemovedError):
        for op in (client.select, client.read_data, client.read_data):
            op()
            done += 1
    assert done == after and card.pulled and not card.card.powered
    assert client.transport.card is None  # the reader saw it leave
    card.disarm()
    assert not card.pulled


def test_a_pull_with_the_answer_lost_runs_the_command_first() -> None:
    master = bytes(16)
    card = FaultyCard(VirtualBallotCard(master_key=master))
    client = _client(card)
    client.select()
    card.arm_pull(0, answer_lost=True)
    with pytest.raises(CardRemovedError):
        client.issue(b"\x01" * 55, master)
    assert card.pulled and card.card.state is CardState.ISSUED  # it ran; nobody heard


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.sampled_from(WRITING_COMMANDS))
def test_a_tear_point_always_cuts_the_write_and_leaves_old_or_new(seed: int, op: str) -> None:
    rng = random.Random(seed)
    master = bytes(16)
    card = FaultyCard(VirtualBallotCard(master_key=master))
    client = _client(card)
    client.select()
    issue, record = rng.randbytes(55), rng.randbytes(124)
    prepare_for(client, op, issue, record, master)
    before = card.card.state
    card.arm_tear(tear_point(rng, {"issue": 55, "write_ballot": 124, "clear": 55 + 124}[op]))
    with pytest.raises(CardRemovedError):
        run_command(client, op, issue, record, master)
    assert card.card.tear_after_bytes is None  # it fired
    after = {"issue": CardState.ISSUED, "write_ballot": CardState.VOTED, "clear": CardState.BLANK}[op]
    client = _client(card)
    client.select()
    assert client.status().state in (before, after)


# --- fraudulent cards against the real station and terminal --------------------------------


@pytest.fixture
def box(tmp_path: Path):
    rig = Rig.create(voters=20)
    db = open_station_db(f"sqlite:///{tmp_path / 'box.db'}")
    station = rig.open_station(db, tmp_path)
    yield rig, db, station
    db.close()


def _voted_card(rig: Rig, station, i: int) -> tuple[FaultyCard, str]:
    card = FaultyCard(VirtualBallotCard(master_key=rig.card_master_key))
    client = _client(card)
    station.check_in(rig.iins[i])
    station.issue_card(client)
    receipt = rig.vote(client, rig.selections(i))
    client.transport.disconnect()
    return card, receipt


def test_every_corrupted_card_is_rejected_and_nothing_is_stored(box) -> None:
    rig, db, station = box
    rng = random.Random(7)
    wheres = set()
    for i in range(12):
        card, _ = _voted_card(rig, station, i)
        before = card.card.store.peek()
        wheres.add(corrupt_card(card, rng).split("[")[0])
        assert card.card.store.peek() != before
        result = station.cast_card(_client(card))
        assert result.status is CastStatus.REJECTED, result
        assert card.card.state is CardState.VOTED  # refused cards are not written to
    assert store.counters(db).cast == 0
    assert wheres == {"record", "issue"}


def test_a_clone_cast_after_the_original_is_already_counted(box) -> None:
    rig, db, station = box
    card, receipt = _voted_card(rig, station, 0)
    clone = clone_card(card)
    assert clone.serial == card.serial and clone.card.record == card.card.record
    first = station.cast_card(_client(card))
    assert first.status is CastStatus.ACCEPTED
    again = station.cast_card(_client(clone))
    assert again.status is CastStatus.ALREADY_COUNTED
    assert [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(db)] == [receipt]
    assert store.counters(db).cast == 1 and clone.card.state is CardState.BLANK


@pytest.mark.parametrize("seed", range(6))
def test_foreign_cards_are_refused_by_ballot_box_and_terminal(tmp_path: Path, seed: int) -> None:
    kit = demo_election(tmp_path)
    rng = random.Random(seed)
    voted = foreign_card(kit.election, 7101, rng, voted=True)
    issued = foreign_card(kit.election, 7101, rng, voted=False)
    assert voted.card.card.state is CardState.VOTED and issued.card.card.state is CardState.ISSUED
    from sailau.election import crypto
    from sailau.ballot_box.station import Station, TerminalKey

    with open_station_db(f"sqlite:///{tmp_path / 'box.db'}") as db:
        key = crypto.generate_signing_key()
        station = Station(db, kit.election, 7101, crypto.generate_signing_key(), bytes(16))
        station.open_polls([TerminalKey(crypto.ed25519_public_bytes(key.public_key()))])
        result = station.cast_card(_client(voted.card))
        expected = Refusal.WRONG_PRECINCT if voted.origin == "precinct" else Refusal.WRONG_ELECTION
        assert result.status is CastStatus.REJECTED and result.reason is expected
        session = TerminalSession(TerminalConfig(kit.election, 7101, key))
        check = session.on_card_inserted(BallotCardClient(InProcessTransport(issued.card))).check
        assert check is (CardCheck.WRONG_PRECINCT if issued.origin == "precinct" else CardCheck.WRONG_ELECTION)


def test_crash_switch_fires_once_at_the_armed_point() -> None:
    switch = CrashSwitch()
    switch("cast:read")  # not armed: nothing
    switch.arm("cast:committed")
    switch("cast:read")
    with pytest.raises(StationCrash, match="cast:committed"):
        switch("cast:committed")
    switch("cast:committed")  # one shot
    assert not switch.disarm()


# --- every crash point in a polling day -------------------------------------------------------


def test_every_crash_point_ends_accounted(tmp_path: Path) -> None:
    """Voter i meets a crash at CRASH_POINTS[i]; the day still closes exact."""
    config = SimulationConfig(voters=len(CRASH_POINTS) + 1, seed=11)
    kit = demo_election(tmp_path)
    plans = {i: FaultPlan(crash=point) for i, point in enumerate(CRASH_POINTS)}
    day = PollingDay(config, kit, tmp_path, plan_for=plans.get)
    report = day.run()
    assert report.ok, (report.problems, report.diffs)
    outcomes = {CRASH_POINTS[i]: v.outcome for i, v in enumerate(day.voters[:-1])}
    # a crash while issuing costs no vote: the card is replaced (blank: not handed back, its
    # token revoked; issued: handed back, its token cancelled) and issued again
    assert outcomes["issue:recorded"] is Outcome.ACKNOWLEDGED
    assert outcomes["issue:written"] is Outcome.ACKNOWLEDGED
    assert outcomes["cast:cleared"] is Outcome.COUNTED_UNACKNOWLEDGED  # committed and cleared, no answer seen
    for point in ("cast:start", "cast:read", "cast:verified", "cast:committed"):
        assert outcomes[point] is Outcome.ACKNOWLEDGED
    assert report.station_restarts == len(CRASH_POINTS)
    assert report.faults.injected("crash") == len(CRASH_POINTS)
    assert Outcome.NOT_ISSUED_AFTER_CRASH not in outcomes.values()
    issue_crashes = sum(1 for point in CRASH_POINTS if point.startswith("issue"))
    endings = report.faults.as_dict()["crash"]["outcomes"]
    assert sum(n for key, n in endings.items() if "restart_card_replaced" in key) == issue_crashes
    blank = sum(n for key, n in endings.items() if key.endswith("restart_card_replaced_token_revoked"))
    assert blank >= 1  # issue:recorded left the card blank
    assert report.cast == config.voters and report.outstanding == blank
