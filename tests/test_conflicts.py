"""One rule for conflicting protocols (commission/conflicts.py), shared by import and
verify: it depends on the sets of protocols and decisions only, and the database an
import leaves behind agrees with it however the files are ordered, named, chunked
or split across imports."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from sailau.commission import models
from sailau.commission.checks import Reason, Refusal
from sailau.commission.conflicts import (
    ConflictDecision,
    DecisionError,
    PrecinctStatus,
    check_decision_file,
    decide_precinct,
    sign_decision,
)
from sailau.commission.db import open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.registry import load_registry
from sailau.commission.synth import load_private_keys, parse_table, synthesize
from sailau.commission.verify import verify_published
from sailau.election.crypto import generate_signing_key, load_signing_key
from sailau.election.definition import load_election
from sailau.election.protocol import ContestResult, SignedProtocol, sign_protocol

D = [hashlib.sha256(bytes([i])).hexdigest() for i in range(6)]


def decision(precinct: int, considered, counted: str, salt: str = "") -> ConflictDecision:
    return ConflictDecision("e", "ab" * 32, precinct, tuple(considered), counted, "grounds" + salt, b"\0" * 8, b"\0" * 64)


def test_the_rule_case_by_case() -> None:
    assert decide_precinct(1, [], []).status is PrecinctStatus.MISSING
    one = decide_precinct(1, [D[0], D[0]], [])
    assert (one.status, one.counted) == (PrecinctStatus.ACCEPTED, D[0])  # the same bytes twice are one protocol
    two = decide_precinct(1, [D[0], D[1]], [])
    assert (two.status, two.counted) == (PrecinctStatus.CONFLICT, None) and "none is counted" in two.why
    settled = decide_precinct(1, [D[1], D[0]], [decision(1, [D[0], D[1]], D[1])])
    assert (settled.status, settled.counted) == (PrecinctStatus.RESOLVED, D[1])
    assert decide_precinct(1, [D[0], D[1]], [decision(2, [D[0], D[1]], D[1])]).status is PrecinctStatus.CONFLICT  # another precinct's
    third = decide_precinct(1, [D[0], D[1], D[2]], [decision(1, [D[0], D[1]], D[1])])
    assert third.status is PrecinctStatus.CONFLICT and "did not consider" in third.why
    absent = decide_precinct(1, [D[0]], [decision(1, [D[0], D[1]], D[1])])
    assert absent.status is PrecinctStatus.CONFLICT and "not among those present" in absent.why
    only_chosen = decide_precinct(1, [D[1]], [decision(1, [D[0], D[1]], D[1])])
    assert (only_chosen.status, only_chosen.counted) == (PrecinctStatus.RESOLVED, D[1])
    disagree = decide_precinct(1, [D[0], D[1]], [decision(1, [D[0], D[1]], D[0]), decision(1, [D[0], D[1]], D[1], "x")])
    assert disagree.status is PrecinctStatus.CONFLICT and "disagree" in disagree.why
    wider = decide_precinct(1, [D[0], D[1]], [decision(1, [D[0], D[1]], D[0]), decision(1, [D[0], D[1], D[2]], D[0], "y")])
    assert (wider.status, wider.counted) == (PrecinctStatus.RESOLVED, D[0])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(D), max_size=8), st.lists(st.tuples(st.sets(st.sampled_from(D), min_size=2), st.integers(0, 5)), max_size=3),
       st.randoms())
def test_the_rule_depends_on_the_sets_only_and_never_counts_a_conflict(digests, raw_decisions, rnd) -> None:
    decisions = [decision(1, sorted(c), sorted(c)[i % len(c)], str(j)) for j, (c, i) in enumerate(raw_decisions)]
    outcome = decide_precinct(1, digests, decisions)
    shuffled_d, shuffled_x = list(digests), list(decisions)
    rnd.shuffle(shuffled_d)
    rnd.shuffle(shuffled_x)
    assert decide_precinct(1, shuffled_d, shuffled_x) == outcome
    if outcome.counted is not None:
        assert outcome.counted in digests
        assert outcome.status in (PrecinctStatus.ACCEPTED, PrecinctStatus.RESOLVED)
    if len(set(digests)) > 1:
        assert outcome.status is not PrecinctStatus.ACCEPTED  # two versions are never counted without a decision
    if outcome.status is PrecinctStatus.RESOLVED:
        assert any(set(digests) <= set(d.considered) and d.counted == outcome.counted for d in decisions)


def test_a_decision_must_settle_a_real_conflict() -> None:
    with pytest.raises(DecisionError, match="at least two"):
        decision(1, [D[0]], D[0])
    with pytest.raises(DecisionError, match="one of those considered"):
        decision(1, [D[0], D[1]], D[2])
    with pytest.raises(DecisionError, match="64 lower-case hex"):
        decision(1, [D[0], "x"], D[0])
    with pytest.raises(DecisionError, match="grounds"):
        dataclasses.replace(decision(1, [D[0], D[1]], D[0]), grounds=" ")


# --- over files and a database ---------------------------------------------------------------


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("conflicts") / "set"
    synthesize(parse_table("region,A,B\nR1,400,300\nR2,350,120\n"), 6, 4, d)
    keys = load_private_keys(d / "private" / "station-keys.json")
    for n, k in ((2, 5), (4, 7)):  # two versions for precinct 2, and for precinct 4
        s = SignedProtocol.from_canonical_json((d / "protocols" / f"precinct-{n:06d}.json").read_bytes())
        c = s.protocol.contests[0]
        moved = dataclasses.replace(s.protocol, contests=(ContestResult(c.contest_id, {"A": c.votes["A"] + k, "B": c.votes["B"] - k}, invalid=c.invalid),))
        (d / "protocols" / f"z-second-{n}.json").write_bytes(sign_protocol(moved, keys[n]).to_canonical_json())
    election = load_election(d / "election.json")
    versions = sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in (d / "protocols").glob("*") if p.name.endswith(("000002.json", "-2.json")))
    root = load_signing_key(d / "private" / "registry-root.key")
    (d / "decisions").mkdir()
    (d / "decisions" / "p2.json").write_bytes(sign_decision(election, 2, versions, versions[1], "recount", root).to_canonical_json())
    return d


def test_decision_files_are_checked_by_name(base: Path) -> None:
    election = load_election(base / "election.json")
    raw = (base / "decisions" / "p2.json").read_bytes()
    assert isinstance(check_decision_file(raw, "p2", election), ConflictDecision)
    assert check_decision_file(raw.replace(b'"recount"', b'"recounT"'), "p2", election).reason is Reason.SIGNATURE  # type: ignore[union-attr]
    assert check_decision_file(raw + b" ", "p2", election).reason is Reason.FORMAT  # type: ignore[union-attr]
    other = sign_decision(election, 2, [D[0], D[1]], D[0], "x", load_signing_key(base / "private" / "registry-root.key"))
    assert isinstance(check_decision_file(other.to_canonical_json(), "p", election), ConflictDecision)
    with pytest.raises(DecisionError, match="not the registry root"):
        sign_decision(election, 2, [D[0], D[1]], D[0], "x", generate_signing_key())
    refused = check_decision_file((base / "election.json").read_bytes(), "e.json", election)
    assert isinstance(refused, Refusal) and "is an election definition, not a commission decision" in refused.message


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(), st.integers(1, 4), st.integers(1, 3))
def test_import_agrees_with_verify_in_any_order_chunking_and_batches(base: Path, tmp_path_factory, rnd, chunk: int, batches: int) -> None:
    """Files shuffled, renamed, chunked and split over several imports (the decision
    in any batch): the database counts what the verifier counts."""
    d = tmp_path_factory.mktemp("shuffled") / "set"
    shutil.copytree(base, d, ignore=shutil.ignore_patterns("private"))
    files = sorted((d / "protocols").glob("*.json"))
    rnd.shuffle(files)
    renamed = []
    for i, f in enumerate(files):  # names that sort in the shuffled order
        target = f.with_name(f"{i:03d}-{rnd.getrandbits(16):04x}.json")
        f.rename(target)
        renamed.append(target)
    expected = verify_published(d)
    assert expected.conflicts == [4] and set(expected.counted) == {1, 2, 3, 5, 6}

    election = load_election(d / "election.json")
    registry = load_registry(d / "stations.json", election)
    parts = [renamed[i::batches] for i in range(batches)]
    decision_batch = rnd.randrange(batches)
    with open_commission_db("sqlite://") as db:
        for i, part in enumerate(parts):
            decisions = [d / "decisions" / "p2.json"] if i == decision_batch else []
            import_protocols(db, part, election=election, registry=registry, decisions=decisions, chunk_size=chunk)
        with db.begin() as conn:
            counted = {int(n): g for n, g in conn.execute(select(models.protocols.c.precinct, models.protocols.c.digest))}
    assert counted == {n: c.digest for n, c in expected.counted.items()}
