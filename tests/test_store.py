"""Station storage: schema, exactly-once casting, cancellation, secrecy of storage order.

Runs on SQLite and on a real PostgreSQL (``station_db_url`` is parametrized).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule
from sqlalchemy import inspect, text
from sqlalchemy.exc import OperationalError

from sailau.election.record import token_hash
from sailau.ballot_box import audit, store
from sailau.ballot_box.audit import AuditDraft, AuditKind, IdentifyingPayload
from sailau.ballot_box.db import SchemaNotCurrent, StationDB, open_station_db
from sailau.ballot_box.models import Base, TokenState
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.store import CancelOutcome, CastRecorded

FINGERPRINT = bytes(range(32))
STATION_KEY = b"station1"
from station_support import wait_until_blocked_on_a_lock


def open_station(url: str) -> StationDB:
    db = open_station_db(url)
    store.setup_station(db, FINGERPRINT, 1234, STATION_KEY)
    store.record_polls_opened(db)
    return db


def issue(db: StationDB) -> bytes:
    th = token_hash(os.urandom(16))
    store.record_issued(db, th)
    return th


@pytest.fixture
def db(station_db_url: str):
    station = open_station(station_db_url)
    yield station
    station.close()


# --- schema -----------------------------------------------------------------------


def test_migrations_create_exactly_the_models(station_db_url: str) -> None:
    with open_station_db(station_db_url) as db, db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_reopening_is_idempotent_and_read_only_open_checks_the_schema(station_db_url: str) -> None:
    with pytest.raises(SchemaNotCurrent, match=r"expected 00\d\d|no station database"):
        open_station_db(station_db_url, migrate_schema=False)
    with open_station(station_db_url):
        pass
    with open_station_db(station_db_url) as again:
        assert store.station_info(again).precinct == 1234
    with open_station_db(station_db_url, migrate_schema=False) as read_only:
        assert audit.verify_db(read_only).ok


def test_sqlite_connections_are_durable(tmp_path: Path) -> None:
    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db, db.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 2  # FULL
        assert pragma("foreign_keys") == 1
        assert pragma("secure_delete") == 1


def test_no_column_links_voter_token_and_ballot(station_db_url: str) -> None:
    with open_station_db(station_db_url) as db:
        schema = inspect(db.engine)
        columns = {t: {c["name"]: c for c in schema.get_columns(t)} for t in schema.get_table_names()}
        foreign_keys = {t: schema.get_foreign_keys(t) for t in schema.get_table_names()}
    assert set(columns["ballots"]) == {"id", "style_code", "sealed"}
    assert set(columns["issued_tokens"]) == {"token_hash", "state"}
    # the one reference between tables: a written request to vote outside names its voter
    # (by law), never a ballot or a token; nothing refers to ballots or tokens
    references = {(t, fk["referred_table"]) for t, fks in foreign_keys.items() for fk in fks}
    assert references == {("mobile_requests", "voters")}
    assert not set(columns["paper_counts"]) & {"voter_id", "iin"}
    assert not set(columns["mobile_trips"]) & {"voter_id", "iin"}
    for table in ("ballots", "issued_tokens", "voters", "turnout", "terminals", "station_state"):
        for name, column in columns[table].items():
            type_name = type(column["type"]).__name__.upper()
            if name == "birth_date":
                continue
            assert "TIME" not in type_name and "DATE" not in type_name, f"{table}.{name} is a time column"
            assert not set(name.split("_")) & {"time", "created", "at", "timestamp", "ts", "when", "hour"} or (
                table == "turnout"
            ), f"{table}.{name} looks like a time"
    # no table but the audit chain has a time, and nothing else holds a token or ballot id
    # (voters.ballot_form names a form, one of four words: card, paper, outside, none)
    holders = {t for t, cols in columns.items()
               if any(("token" in c or "ballot" in c) and (t, c) != ("voters", "ballot_form") for c in cols)}
    assert holders == {"issued_tokens"}


# --- exactly once -----------------------------------------------------------------


def test_cast_once_then_already_counted(db: StationDB) -> None:
    token = issue(db)
    assert store.cast_ballot(db, token, 3, b"sealed-ballot") is CastRecorded.ACCEPTED
    assert store.cast_ballot(db, token, 3, b"another ballot") is CastRecorded.ALREADY_COUNTED
    stored = store.ballots(db)
    assert [(b.style_code, b.sealed) for b in stored] == [(3, b"sealed-ballot")]
    assert len(stored[0].id) == 16
    assert store.token_state(db, token) is TokenState.USED
    kinds = [(e.kind, e.payload) for e in audit.read_events(db)][-3:]
    assert kinds == [("card_issued", {}), ("ballot_accepted", {}), ("card_rejected", {"reason": "already_counted"})]


def test_unknown_token_stores_nothing(db: StationDB) -> None:
    assert store.cast_ballot(db, token_hash(os.urandom(16)), 1, b"x") is Refusal.UNKNOWN_TOKEN
    assert store.ballots(db) == []
    assert store.counters(db).issued == 0
    last = audit.read_events(db)[-1]
    assert (last.kind, last.payload) == ("card_rejected", {"reason": "unknown_token"})


def test_cancel_counts_and_blocks_a_later_cast(db: StationDB) -> None:
    cancelled, cast, outstanding = issue(db), issue(db), issue(db)
    assert store.cast_ballot(db, cast, 1, b"b") is CastRecorded.ACCEPTED
    assert store.cancel_issued(db, cancelled) is CancelOutcome.CANCELLED
    assert store.cancel_issued(db, cancelled) is CancelOutcome.ALREADY_CANCELLED
    assert store.cancel_issued(db, cast) is Refusal.ALREADY_COUNTED
    assert store.cancel_issued(db, token_hash(os.urandom(16))) is Refusal.UNKNOWN_TOKEN
    assert store.cast_ballot(db, cancelled, 1, b"late") is Refusal.CARD_CANCELLED
    assert store.counters(db) == store.ProtocolCounters(on_list=0, checked_in=0, issued=3, cast=1, cancelled=1, outstanding=1)
    assert store.token_state(db, outstanding) is TokenState.ISSUED


def test_a_failure_inside_the_cast_transaction_stores_nothing(db: StationDB) -> None:
    token = issue(db)
    leaky = AuditDraft(AuditKind.BALLOT_ACCEPTED, {"receipt_code": "ABCD-1234"})
    with pytest.raises(IdentifyingPayload, match="receipt_code"):
        store.cast_ballot(db, token, 1, b"sealed", leaky)
    assert store.ballots(db) == []
    assert store.token_state(db, token) is TokenState.ISSUED  # the UPDATE was rolled back with it
    assert store.cast_ballot(db, token, 1, b"sealed") is CastRecorded.ACCEPTED


def test_duplicate_token_and_polls_state_are_enforced(station_db_url: str) -> None:
    with open_station_db(station_db_url) as db:
        with pytest.raises(store.StationNotSetUp):
            store.record_issued(db, bytes(32))
        store.setup_station(db, FINGERPRINT, 1, STATION_KEY)
        with pytest.raises(store.StationAlreadySetUp):
            store.setup_station(db, FINGERPRINT, 1, STATION_KEY)
        with pytest.raises(store.WrongPollsState, match="polls are setup, must be open"):
            store.record_issued(db, bytes(32))
        store.record_polls_opened(db)
        token = issue(db)
        with pytest.raises(store.DuplicateToken):
            store.record_issued(db, token)
        with pytest.raises(store.WrongPollsState):
            store.record_polls_opened(db)
        store.record_polls_closed(db)
        with pytest.raises(store.WrongPollsState, match="closed"):
            store.cast_ballot(db, token, 1, b"after close")
        assert store.ballots(db) == [] and store.token_state(db, token) is TokenState.ISSUED
        closed = [e for e in audit.read_events(db) if e.kind == "polls_closed"]
        assert closed[0].payload == {"on_list": 0, "checked_in": 0, "issued": 1, "cast": 0, "cancelled": 0, "outstanding": 1,
                                      "replaced": 0, "not_returned": 0}


def test_terminal_enrolment(db: StationDB) -> None:
    store.enrol_terminal(db, b"term0001", bytes(32), "booth 1")
    store.enrol_terminal(db, b"term0001", bytes(32), "booth 1")  # same key again: no-op
    with pytest.raises(store.DuplicateTerminal):
        store.enrol_terminal(db, b"term0001", b"\x01" * 32, "impostor")
    assert store.terminal_key(db, b"term0001") == bytes(32)
    assert store.terminal_key(db, b"unknown!") is None
    assert [t.label for t in store.terminals(db)] == ["booth 1"]


def test_concurrent_casts_of_one_token_from_two_threads(db: StationDB) -> None:
    tokens = [issue(db) for _ in range(12)]
    for token in tokens:
        outcomes: list[CastRecorded | Refusal] = []
        barrier = threading.Barrier(2)

        def cast(token: bytes = token) -> None:
            barrier.wait()
            outcomes.append(store.cast_ballot(db, token, 1, b"ballot"))

        threads = [threading.Thread(target=cast) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(outcomes) == sorted([CastRecorded.ACCEPTED, CastRecorded.ALREADY_COUNTED])
    assert len(store.ballots(db)) == len(tokens)
    assert audit.verify_db(db).ok


@pytest.mark.postgres
def test_postgres_cast_waiting_on_a_concurrent_mark_recounts_nothing(postgres_url: str) -> None:
    """Deterministic race: connection A marks the token used and holds its row
    lock; cast_ballot on B must block on it, then see the committed row and store
    nothing. (If A rolls back instead, B's re-check finds the token issued.)"""
    db = open_station(postgres_url)
    try:
        for commit_first in (True, False):
            token = issue(db)
            before = len(store.ballots(db))
            with db.engine.connect() as holder:
                holder.execute(text("UPDATE issued_tokens SET state = 'used' WHERE token_hash = :h"), {"h": token})
                outcome: list[CastRecorded | Refusal] = []
                racer = threading.Thread(target=lambda: outcome.append(store.cast_ballot(db, token, 1, b"ballot")))
                racer.start()
                wait_until_blocked_on_a_lock(db, "cast")
                assert outcome == []  # still waiting on A's row lock
                holder.commit() if commit_first else holder.rollback()
                racer.join(timeout=60)
            expected = CastRecorded.ALREADY_COUNTED if commit_first else CastRecorded.ACCEPTED
            assert outcome == [expected]
            assert len(store.ballots(db)) == before + (0 if commit_first else 1)
    finally:
        db.close()


# --- secrecy of order -------------------------------------------------------------


def _kendall_tau(order: list[int]) -> float:
    n = len(order)
    concordant = sum(1 for i in range(n) for j in range(i + 1, n) if order[i] < order[j])
    pairs = n * (n - 1) // 2
    return (2 * concordant - pairs) / pairs


N_SECRECY = 150


def test_ballots_read_back_independent_of_cast_order(db: StationDB) -> None:
    for index in range(N_SECRECY):
        token = issue(db)
        assert store.cast_ballot(db, token, 1, index.to_bytes(4, "big")) is CastRecorded.ACCEPTED
    order = [int.from_bytes(b.sealed, "big") for b in store.ballots(db)]
    assert sorted(order) == list(range(N_SECRECY))
    assert order != sorted(order)
    # random ids: tau ~ N(0, 0.055) for n = 150; |tau| >= 0.3 would be a 5.4-sigma event
    assert abs(_kendall_tau(order)) < 0.3
    ids = [b.id for b in store.ballots(db)]
    assert ids == sorted(ids)

    if db.dialect == "sqlite":
        with db.engine.connect() as connection:
            physical = [int.from_bytes(r[0], "big") for r in connection.exec_driver_sql("SELECT sealed FROM ballots")]
            assert abs(_kendall_tau(physical)) < 0.3  # WITHOUT ROWID: stored in random-key order
            with pytest.raises(OperationalError, match="rowid"):
                connection.exec_driver_sql("SELECT rowid FROM ballots").all()


def test_close_of_polls_seals_physical_order(db: StationDB, station_db_url: str) -> None:
    for index in range(60):
        store.cast_ballot(db, issue(db), 1, index.to_bytes(4, "big"))
    store.record_polls_closed(db)
    if db.dialect == "postgresql":
        with db.engine.connect() as connection:
            xmins = connection.exec_driver_sql("SELECT DISTINCT xmin::text FROM ballots").all()
            assert len(xmins) == 1  # one rewrite transaction: no per-cast transaction ids left
            heap = [r[0] for r in connection.exec_driver_sql("SELECT id FROM ballots ORDER BY ctid")]
            assert heap == sorted(heap)  # clustered on the random id
            token_xmins = connection.exec_driver_sql("SELECT DISTINCT xmin::text FROM issued_tokens").all()
            assert len(token_xmins) == 1
    else:
        wal = Path(station_db_url.removeprefix("sqlite:///") + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0  # no commit-ordered frames left
    assert len(store.ballots(db)) == 60
    assert audit.verify_db(db).ok


# --- a state machine over the token lifecycle ---------------------------------------


class TokenLifecycle(RuleBasedStateMachine):
    """Any interleaving of issue / cast / cancel keeps the counters equal to a model
    and every ballot counted once."""

    issued = Bundle("issued")

    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(os.environ.get("TMPDIR", "/tmp")) / f"sailau-fsm-{os.getpid()}-{id(self)}"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.db = open_station(f"sqlite:///{self.directory / 's.db'}")
        self.model: dict[bytes, TokenState] = {}

    @rule(target=issued)
    def issue(self) -> bytes:
        token = issue(self.db)
        self.model[token] = TokenState.ISSUED
        return token

    @rule(token=issued)
    def cast(self, token: bytes) -> None:
        outcome = store.cast_ballot(self.db, token, 1, b"b")
        expected = {TokenState.ISSUED: CastRecorded.ACCEPTED, TokenState.USED: CastRecorded.ALREADY_COUNTED,
                    TokenState.CANCELLED: Refusal.CARD_CANCELLED}[self.model[token]]
        assert outcome is expected
        if outcome is CastRecorded.ACCEPTED:
            self.model[token] = TokenState.USED

    @rule(token=issued)
    def cancel(self, token: bytes) -> None:
        outcome = store.cancel_issued(self.db, token)
        expected = {TokenState.ISSUED: CancelOutcome.CANCELLED, TokenState.USED: Refusal.ALREADY_COUNTED,
                    TokenState.CANCELLED: CancelOutcome.ALREADY_CANCELLED}[self.model[token]]
        assert outcome is expected
        if outcome is CancelOutcome.CANCELLED:
            self.model[token] = TokenState.CANCELLED

    @rule(data=st.data())
    def cast_unknown(self, data: st.DataObject) -> None:
        token = data.draw(st.binary(min_size=32, max_size=32))
        if token not in self.model:
            assert store.cast_ballot(self.db, token, 1, b"b") is Refusal.UNKNOWN_TOKEN

    @invariant()
    def counters_match_the_model(self) -> None:
        counts = store.counters(self.db)
        states = list(self.model.values())
        assert counts.issued == len(states)
        assert counts.cast == states.count(TokenState.USED)
        assert counts.cancelled == states.count(TokenState.CANCELLED)
        assert counts.outstanding == states.count(TokenState.ISSUED)

    def teardown(self) -> None:
        assert audit.verify_db(self.db).ok
        self.db.close()
        for path in self.directory.iterdir():
            path.unlink()
        self.directory.rmdir()


TestTokenLifecycle = TokenLifecycle.TestCase
TestTokenLifecycle.settings = settings(max_examples=15, stateful_step_count=15, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
