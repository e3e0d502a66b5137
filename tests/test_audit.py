"""Audit hash chain: tamper detection in the database and in exported files, the
CLI, and that events carry no voter identity or ballot content."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from sailau.election.record import token_hash
from sailau.ballot_box import audit, store
from sailau.ballot_box.audit import GENESIS_HASH, AuditDraft, AuditEvent, AuditKind, IdentifyingPayload
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.cli.main import cli

T0 = dt.datetime(2024, 3, 19, 8, 0, 41, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5)))


def build_chain(count: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    for i in range(count):
        seq, prev = (events[-1].seq, events[-1].hash) if events else (0, GENESIS_HASH)
        draft = AuditDraft(AuditKind.CARD_REJECTED, {"reason": "unknown_token", "n": i}) if i % 3 else AuditDraft(AuditKind.CARD_ISSUED)
        events.append(audit.chain_event(seq, prev, draft, T0 + dt.timedelta(minutes=i)))
    return events


@pytest.fixture
def station(station_db_url: str):
    db = open_station_db(station_db_url, clock=lambda: T0)
    store.setup_station(db, bytes(32), 5, b"station1")
    store.record_polls_opened(db)
    for i in range(4):
        token = token_hash(os.urandom(16))
        store.record_issued(db, token)
        store.cast_ballot(db, token, 1, b"sealed" + bytes([i]))
    store.cast_ballot(db, token, 1, b"again")
    yield db
    db.close()


def test_event_fields_and_coarse_time() -> None:
    first, second = build_chain(2)
    assert first.prev_hash == GENESIS_HASH and second.prev_hash == first.hash
    assert first.time == "2024-03-19T08:00+05:00"  # seconds dropped
    assert first.hash == audit.event_hash(1, "card_issued", first.time, {}, GENESIS_HASH)
    assert AuditEvent.from_json(second.to_json()) == second


def test_intact_chain_verifies() -> None:
    report = audit.verify_chain(build_chain(10))
    assert report.ok and report.count == 10 and report.head_seq == 10 and report.first_bad_seq is None


# --- tampering with a list of events (what a file holds) ---------------------------


def _replace(event: AuditEvent, **changes) -> AuditEvent:  # noqa: ANN003
    return AuditEvent(**{**event.__dict__, **changes})


@given(st.integers(3, 12).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
       st.sampled_from(["alter", "delete", "swap", "insert", "time"]))
def test_every_tamper_is_named_at_the_first_bad_seq(size_and_index: tuple[int, int], how: str) -> None:
    size, index = size_and_index
    events = build_chain(size)
    bad_seq = index + 1
    if how == "alter":
        events[index] = _replace(events[index], payload={"reason": "forged"})
    elif how == "time":
        events[index] = _replace(events[index], time="2024-03-19T23:59+05:00")
    elif how == "delete":
        if index == size - 1:
            # a cut-off tail is a valid shorter chain: only the head shows it
            assert audit.verify_chain(events[:-1]).ok
            report = audit.verify_chain(events[:-1], expected_head=events[-1].hash)
            assert not report.ok and report.first_bad_seq == size
            return
        del events[index]
    elif how == "swap":
        other = index + 1 if index + 1 < size else index - 1
        events[index], events[other] = events[other], events[index]
        bad_seq = min(index, other) + 1
    elif how == "insert":
        # a forger re-chains an event into position index (seq and prev right, hash right)
        prev_seq, prev_hash = (events[index - 1].seq, events[index - 1].hash) if index else (0, GENESIS_HASH)
        forged = audit.chain_event(prev_seq, prev_hash, AuditDraft(AuditKind.BALLOT_ACCEPTED), T0)
        events.insert(index, forged)
        bad_seq = index + 2  # the forged one is self-consistent; the next no longer follows
    report = audit.verify_chain(events)
    assert not report.ok
    assert report.first_bad_seq == bad_seq, report.problem
    assert f"{bad_seq}" in report.problem


# --- the database and its export ------------------------------------------------------


def test_database_chain_verifies_and_carries_no_ballot_or_token(station: StationDB, tmp_path: Path) -> None:
    report = audit.verify_db(station)
    assert report.ok and report.count == 2 + 4 * 2 + 1
    out = tmp_path / "audit.jsonl"
    assert audit.export_jsonl(station, out) == report.count
    assert audit.verify_file(out, expected_head=report.head_hash).ok
    exported = out.read_text(encoding="utf-8")
    for ballot in store.ballots(station):
        assert ballot.id.hex() not in exported and ballot.sealed.hex() not in exported
    accepted = [json.loads(line) for line in exported.splitlines() if '"ballot_accepted"' in line]
    assert len(accepted) == 4 and all(e["payload"] == {} for e in accepted)


def _sql(db: StationDB, statement: str, **params) -> None:  # noqa: ANN003
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


@pytest.mark.parametrize("how", ["alter", "delete", "reorder", "insert", "truncate"])
def test_tampering_in_the_database_is_detected(station: StationDB, how: str) -> None:
    events = audit.read_events(station)
    n = len(events)
    if how == "alter":
        _sql(station, "UPDATE audit_events SET payload = :p WHERE seq = 4", p='{"reason":"forged"}')
        expected = 4
    elif how == "delete":
        _sql(station, "DELETE FROM audit_events WHERE seq = 5")
        expected = 5
    elif how == "reorder":
        # swap the contents of rows 6 and 7, keeping their seq
        a, b = events[5], events[6]
        for seq, ev in ((6, b), (7, a)):
            _sql(station, "UPDATE audit_events SET kind=:k, time=:t, payload=:p, prev_hash=:ph, hash=:h WHERE seq=:s",
                 k=ev.kind, t=ev.time, p=audit.canonical_text(ev.payload), ph=ev.prev_hash, h=ev.hash, s=seq)
        expected = 6
    elif how == "insert":
        # make room after seq 3 and insert a well-formed forged event there
        for seq in range(n, 3, -1):
            _sql(station, "UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
        forged = audit.chain_event(3, events[2].hash, AuditDraft(AuditKind.BALLOT_ACCEPTED), T0)
        _sql(station, "INSERT INTO audit_events (seq, kind, time, payload, prev_hash, hash) VALUES (4, :k, :t, '{}', :ph, :h)",
             k=forged.kind, t=forged.time, ph=forged.prev_hash, h=forged.hash)
        expected = 5
    else:  # truncate: drop the last event; the chain left is valid but shorter than the head
        _sql(station, "DELETE FROM audit_events WHERE seq = :s", s=n)
        expected = n
    report = audit.verify_db(station)
    assert not report.ok and report.first_bad_seq == expected, report.problem


def _tamper_file(path: Path, how: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    if how == "alter":
        event = json.loads(lines[2])
        event["payload"] = {"reason": "forged"}
        lines[2] = json.dumps(event)
        bad = 3
    elif how == "delete":
        del lines[3]
        bad = 4
    elif how == "reorder":
        lines[4], lines[5] = lines[5], lines[4]
        bad = 5
    else:  # insert a copy of line 2 after it
        lines.insert(2, lines[1])
        bad = 3
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return bad


@pytest.mark.parametrize("how", ["alter", "delete", "reorder", "insert"])
def test_tampering_in_an_exported_file_is_detected(station: StationDB, tmp_path: Path, how: str) -> None:
    out = tmp_path / "audit.jsonl"
    audit.export_jsonl(station, out)
    bad = _tamper_file(out, how)
    report = audit.verify_file(out)
    assert not report.ok and report.first_bad_seq == bad, report.problem


def test_payloads_that_would_identify_are_refused() -> None:
    for payload in ({"iin": "061211600012"}, {"nested": {"Ballot_ID": "ab"}}, {"x": [{"token": "t"}]}, {"ratio": 0.5}):
        with pytest.raises(IdentifyingPayload):
            audit.chain_event(0, GENESIS_HASH, AuditDraft(AuditKind.CARD_ISSUED, payload), T0)


def test_malformed_file_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(build_chain(1)[0].to_json() + "\n{not json\n", encoding="utf-8")
    with pytest.raises(audit.AuditFileError, match=r"a.jsonl:2"):
        audit.load_jsonl(path)


# --- CLI ------------------------------------------------------------------------------


def test_cli_export_and_verify(station: StationDB, station_db_url: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "audit.jsonl"
    exported = runner.invoke(cli, ["audit", "export", "--db", station_db_url, "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    head = audit.read_head(station)[1]
    for args in (["--db", station_db_url], ["--file", str(out)], ["--file", str(out), "--head", head]):
        result = runner.invoke(cli, ["audit", "verify", *args])
        assert result.exit_code == 0 and "audit chain OK" in result.output, result.output
    cut = tmp_path / "cut.jsonl"
    cut.write_text("".join(out.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]), encoding="utf-8")
    result = runner.invoke(cli, ["audit", "verify", "--file", str(cut), "--head", head])
    assert result.exit_code == 1 and "BROKEN at seq" in result.output
    _tamper_file(out, "alter")
    result = runner.invoke(cli, ["audit", "verify", "--file", str(out)])
    assert result.exit_code == 1 and "BROKEN at seq 3" in result.output and "altered" in result.output
    result = runner.invoke(cli, ["audit", "verify"])
    assert result.exit_code == 2 and "exactly one of" in result.output


def test_cli_verify_does_not_create_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    result = CliRunner().invoke(cli, ["audit", "verify", "--db", f"sqlite:///{missing}"])
    assert result.exit_code == 1 and "no station database" in result.output
    assert not missing.exists()
