"""The ballot box's cast path at the database: one durable transaction of six
prepared statements run on the driver (no SQLAlchemy statement building or ORM
flush per cast), the polls-state read one statement outside a transaction, the
durability settings kept, errors reported as SQLAlchemy's without the values,
and a dead pooled PostgreSQL connection replaced after an idle ping. Timing is
`sailau bench`'s business (cast path beside a bare durable commit); these pin
down what made it fast."""

from __future__ import annotations

import dataclasses
import os
import secrets

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from sailau.ballot_box import db as dbmodule
from sailau.ballot_box import store
from sailau.ballot_box.store import CastRecorded
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.election.record import token_hash

FINGERPRINT = bytes(range(32))


def opened(url: str) -> StationDB:
    db = open_station_db(url)
    store.setup_station(db, FINGERPRINT, 1234, b"station1")
    store.record_polls_opened(db)
    return db


class Statements:
    """Every SQL statement the driver runs (sqlite3's trace callback), and every
    statement that went through SQLAlchemy's execution (its cursor event)."""

    def __init__(self, db: StationDB) -> None:
        self.driver: list[str] = []
        self.sqlalchemy: list[str] = []
        event.listen(db.engine, "checkout", self._traced)
        event.listen(db.engine, "before_cursor_execute", self._through_sqlalchemy)
        db.engine.dispose()  # pooled connections come back traced

    def _traced(self, dbapi_connection, record, proxy) -> None:  # noqa: ANN001
        dbapi_connection.set_trace_callback(self.driver.append)

    def _through_sqlalchemy(self, connection, cursor, statement, *args) -> None:  # noqa: ANN001
        self.sqlalchemy.append(statement)

    def clear(self) -> None:
        self.driver.clear()
        self.sqlalchemy.clear()

    def verbs(self) -> list[str]:
        """Each statement as its verb and table ("UPDATE issued_tokens", "SELECT audit_head")."""
        out = []
        for sql in self.driver:
            words = sql.replace(",", " ").split()
            verb = words[0].upper()
            if verb == "SELECT":
                table = words[[w.upper() for w in words].index("FROM") + 1]
            elif verb in ("INSERT", "UPDATE"):
                table = words[2] if verb == "INSERT" else words[1]
            else:
                table = " ".join(words[1:2])
            out.append(f"{verb} {table}".strip())
        return out


def test_a_cast_is_one_transaction_of_six_prepared_statements(tmp_path) -> None:
    db = opened(f"sqlite:///{tmp_path / 's.db'}")
    th = token_hash(os.urandom(16))
    store.record_issued(db, th)
    seen = Statements(db)
    seen.clear()
    assert store.cast_ballot(db, th, 1, b"sealed" * 20) is CastRecorded.ACCEPTED
    assert seen.verbs() == ["BEGIN IMMEDIATE", "SELECT station_state", "UPDATE issued_tokens", "INSERT ballots",
                            "SELECT audit_head", "INSERT audit_events", "UPDATE audit_head", "COMMIT"]
    assert seen.sqlalchemy == []  # nothing built, compiled or flushed per cast
    seen.clear()
    assert store.cast_ballot(db, th, 1, b"sealed" * 20) is CastRecorded.ALREADY_COUNTED
    assert store.counters(db).cast == 1
    db.close()


def test_the_polls_state_read_is_one_statement_outside_a_transaction(tmp_path) -> None:
    db = opened(f"sqlite:///{tmp_path / 's.db'}")
    seen = Statements(db)
    seen.clear()
    assert store.station_info(db).precinct == 1234
    assert seen.verbs() == ["SELECT station_state"] and seen.sqlalchemy == []
    db.close()


def test_a_failed_prepared_statement_is_sqlalchemy_s_error_without_the_values(tmp_path) -> None:
    db = opened(f"sqlite:///{tmp_path / 's.db'}")
    ballot_id, sealed = secrets.token_bytes(16), b"\xab" * 40
    with db.write() as session:
        store._INSERT_BALLOT.execute(session, ballot_id=ballot_id, ballot_style=1, ballot_sealed=sealed)
    with pytest.raises(IntegrityError) as failed, db.write() as session:
        store._INSERT_BALLOT.execute(session, ballot_id=ballot_id, ballot_style=1, ballot_sealed=sealed)
    assert "UNIQUE" in str(failed.value) and sealed.hex() not in str(failed.value) and "abab" not in str(failed.value)
    assert len(store.ballots(db)) == 1  # the failed transaction rolled back
    db.close()


def test_prepared_statements_flush_pending_orm_changes_first(tmp_path) -> None:
    """Inside a transaction that also uses the ORM, a prepared statement sees the
    ORM's pending rows, as Session.execute would (autoflush)."""
    from sailau.ballot_box.models import IssuedTokenRow

    db = opened(f"sqlite:///{tmp_path / 's.db'}")
    th = token_hash(os.urandom(16))
    with db.write() as session:
        session.add(IssuedTokenRow(token_hash=th, state="issued"))
        assert store._move_issued_token(session, th, store.TokenState.USED) is store._MOVED
    assert store.token_state(db, th) is store.TokenState.USED
    db.close()


@pytest.mark.postgres
def test_postgresql_keeps_synchronous_commit_and_the_cast_path_works(postgres_url: str) -> None:
    db = opened(postgres_url)
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert connection.exec_driver_sql("SHOW fsync").scalar() == "on"
    th = token_hash(os.urandom(16))
    store.record_issued(db, th)
    assert store.cast_ballot(db, th, 1, b"sealed") is CastRecorded.ACCEPTED
    assert store.cast_ballot(db, th, 1, b"sealed") is CastRecorded.ALREADY_COUNTED
    assert store.station_info(db).state is store.PollsState.OPEN
    db.close()


@pytest.mark.postgres
def test_a_dead_idle_postgresql_connection_is_pinged_and_replaced(postgres_url: str, monkeypatch) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    # ping every pooled connection that sat idle at all (the station's setting is seconds)
    monkeypatch.setattr(dbmodule, "STATION_ENGINE", dataclasses.replace(dbmodule.STATION_ENGINE,
                                                                        postgres_ping_after_idle_s=0.0))
    db = opened(postgres_url)
    with db.engine.connect() as connection:
        backend = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    killer = create_engine(postgres_url, poolclass=NullPool)  # not the pool's: its one connection is idle in it
    with killer.connect() as other:  # the server drops the pooled connection (a restart, a timeout)
        assert other.exec_driver_sql(f"SELECT pg_terminate_backend({backend})").scalar() is True
    killer.dispose()
    th = token_hash(os.urandom(16))
    store.record_issued(db, th)  # would fail on the dead connection without the ping
    assert store.cast_ballot(db, th, 1, b"sealed") is CastRecorded.ACCEPTED
    db.close()
