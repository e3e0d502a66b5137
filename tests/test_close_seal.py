"""Close of polls always seals before it signs, and never dead-ends (issue 11, "Close of
polls commits CLOSED before storage is sealed"; build item 6) — on SQLite and on a real
PostgreSQL (``station_db_url``).

Before: store.record_polls_closed committed CLOSED, then sealed; when sealing failed (a reader
holding the SQLite file, any error in the PostgreSQL rewrite/CLUSTER) the resumed close
saw CLOSED, skipped sealing and signed: the casting order stayed in the SQLite WAL and
in PostgreSQL's xmin (equal to each ballot's audit event's). Now sealing ends by setting
``storage_sealed``; a resumed close seals again before counting, nothing is signed while
the flag is unset, and the resumed close signs the very bytes an uninterrupted close of
the same database signs.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from sailau.ballot_box import audit, oplog, store
from sailau.simulator.booth_rig import K, Rig
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.station import Station
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport

VOTERS = 30  # the issue recovered the cast order of 30 of 30 ballots on PostgreSQL (the main test)
NOON = dt.datetime(2026, 3, 15, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))
CLOSING = dt.datetime(2026, 3, 15, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=5)))


class Clock:
    """A station clock the test moves by hand, so two copies of a database close at the
    same minute and their audit chains (hence protocols) can be compared byte for byte."""

    def __init__(self) -> None:
        self.now = NOON

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=VOTERS)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sealing waits SEAL_WAIT_S (30 s) for another connection before it fails; here 0.3 s."""
    monkeypatch.setattr(store, "SEAL_WAIT_S", 0.3)


@pytest.fixture
def voters() -> int:
    """Voters who cast before close (the main test parametrizes it to VOTERS)."""
    return 8


@contextmanager
def station_with_votes(rig: Rig, url: str, tmp_path: Path, clock: Clock, voters: int) -> Iterator[Station]:
    """An open station at `url` where `voters` voters cast, its clock at closing time."""
    with open_station_db(url, clock=clock) as db:
        station = rig.open_station(db, tmp_path)
        card = VirtualBallotCard(master_key=rig.card_master_key)
        client = BallotCardClient(InProcessTransport(card))
        client.connect()
        for i in range(voters):
            station.check_in(rig.iins[i])
            station.on_card(client)
            rig.vote(client, rig.selections(i))
            assert station.on_card(client).cast.counted  # type: ignore[union-attr]
        clock.now = CLOSING
        yield station


@pytest.fixture
def station(rig: Rig, station_db_url: str, tmp_path: Path, clock: Clock, voters: int) -> Iterator[Station]:
    """On each backend (``station_db_url``: SQLite, then PostgreSQL)."""
    with station_with_votes(rig, station_db_url, tmp_path, clock, voters) as station:
        yield station


@pytest.fixture
def sqlite_station(rig: Rig, tmp_path: Path, clock: Clock, voters: int) -> Iterator[Station]:
    """For a case only SQLite has: a plain SQLite file."""
    with station_with_votes(rig, f"sqlite:///{tmp_path / 'station.db'}", tmp_path, clock, voters) as station:
        yield station


@pytest.fixture
def postgres_station(rig: Rig, postgres_url: str, tmp_path: Path, clock: Clock, voters: int) -> Iterator[Station]:
    """For a case only PostgreSQL has: a fresh PostgreSQL database (tests marked postgres)."""
    with station_with_votes(rig, postgres_url, tmp_path, clock, voters) as station:
        yield station


def wal_size(db: StationDB) -> int:
    wal = Path(str(make_url(str(db.engine.url)).database) + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def assert_sealed(db: StationDB) -> None:
    """Physical storage says nothing about casting order (what the issue recovered it from)."""
    if db.dialect == "postgresql":
        with db.engine.connect() as connection:
            sql = connection.exec_driver_sql
            assert len(sql("SELECT DISTINCT xmin::text FROM ballots").all()) == 1  # one rewrite, not one per cast
            assert len(sql("SELECT DISTINCT xmin::text FROM issued_tokens").all()) == 1
            joined = sql("SELECT count(*) FROM ballots b JOIN audit_events a ON a.xmin::text = b.xmin::text").scalar()
            assert joined == 0, f"{joined} ballots still share a transaction id with their audit event"
            heap = [bytes(r[0]) for r in sql("SELECT id FROM ballots ORDER BY ctid")]
            assert heap == sorted(heap)  # clustered on the random id
            assert sql("SELECT count(*) FROM voters WHERE card_link IS NOT NULL").scalar() == 0
    else:
        assert wal_size(db) == 0, f"{wal_size(db)} bytes of commit-ordered WAL frames left"
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT count(*) FROM voters WHERE card_link IS NOT NULL").scalar() == 0
    assert store.station_info(db).storage_sealed


def twin(request: pytest.FixtureRequest, db: StationDB, tmp_path: Path) -> str:
    """A byte-for-byte copy of the station database (before it closes), for an uninterrupted close."""
    if db.dialect == "sqlite":
        target = tmp_path / "twin.db"
        with sqlite3.connect(make_url(str(db.engine.url)).database) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
        return f"sqlite:///{target}"
    from fixtures_postgres import _drop_database

    server = request.getfixturevalue("postgres_server")
    source = make_url(str(db.engine.url)).database
    name = f"{source}_twin"
    db.engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the source without sessions
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {source}")
    request.addfinalizer(lambda: _drop_database(server, name))
    return server.url(name)


def signed_by_an_uninterrupted_close(rig: Rig, url: str, clock: Clock, out: Path) -> bytes:
    with open_station_db(url, clock=clock) as db:
        closing = Station.attach(db, rig.election, rig.station_key, None).close_polls(rig.shares[:K], out)
        assert_sealed(db)
        return closing.files.protocol.read_bytes()  # type: ignore[union-attr]


@pytest.mark.parametrize("voters", [VOTERS])
def test_a_close_whose_sealing_failed_seals_again_and_signs_what_an_uninterrupted_close_signs(
        rig: Rig, station: Station, voters: int, clock: Clock, tmp_path: Path, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    copy = twin(request, station.db, tmp_path)
    real = store.seal_storage
    failures: list[str] = []

    def fails_once(db: StationDB) -> None:
        if not failures:
            failures.append("sealing")
            raise store.StoreError("injected: the sealing step failed")
        real(db)

    monkeypatch.setattr(store, "seal_storage", fails_once)
    with pytest.raises(store.StoreError, match="injected"):
        station.close_polls(rig.shares[:K], tmp_path / "out")
    assert station.polls_state is PollsState.CLOSED and not store.station_info(station.db).storage_sealed
    assert not (tmp_path / "out").exists()  # nothing signed, nothing written

    clock.now = CLOSING + dt.timedelta(minutes=7)  # resumed a few minutes later
    resumed = Station.attach(station.db, rig.election, rig.station_key, None)
    result = resumed.close_polls(rig.shares[:K], tmp_path / "out")
    assert failures == ["sealing"] and result.protocol.ballots_cast == voters
    assert_sealed(station.db)
    assert audit.verify_db(station.db).ok

    clock.now = CLOSING
    uninterrupted = signed_by_an_uninterrupted_close(rig, copy, clock, tmp_path / "twin-out")
    assert result.files.protocol.read_bytes() == uninterrupted  # type: ignore[union-attr]


@pytest.mark.parametrize("step", ["first", "second"])
def test_a_failure_inside_sealing_is_named_and_repaired_by_the_next_close(
        rig: Rig, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, voters: int,
        caplog: pytest.LogCaptureFixture) -> None:
    """The failure lands between two sealing steps (PostgreSQL: rows rewritten, CLUSTER fails;
    SQLite: links cleared, the WAL/VACUUM step fails, or the flag's own write fails)."""
    name = {"postgresql": {"first": "_cluster_tables", "second": "_mark_sealed"},
            "sqlite": {"first": "_compact_sqlite", "second": "_mark_sealed"}}[station.db.dialect][step]
    real = getattr(store, name)
    calls: list[int] = []

    def fails_once(db: StationDB) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("CLUSTER ballots", {}, Exception("disk I/O error"))
        real(db)

    monkeypatch.setattr(store, name, fails_once)
    with caplog.at_level(logging.ERROR, logger=oplog.LOGGER_NAME), pytest.raises(store.SealingFailed) as failed:
        station.close_polls(rig.shares[:K], tmp_path / "out")
    message = str(failed.value)
    assert "could not be sealed" in message and "nothing was signed" in message and "run close again" in message
    assert "CLUSTER" not in message and "disk I/O" not in message  # the raw error is the cause, not the words
    logged = [r for r in caplog.records if r.name == oplog.LOGGER_NAME]
    assert any("seal the storage failed" in r.getMessage() and "disk I/O error" in r.getMessage() for r in logged)
    assert station.polls_state is PollsState.CLOSED and not store.station_info(station.db).storage_sealed
    assert not (tmp_path / "out").exists()

    result = station.close_polls(rig.shares[:K], tmp_path / "out")
    assert result.files is not None and result.protocol.ballots_cast == voters
    assert_sealed(station.db)


def test_sqlite_a_reader_holding_the_file_stops_the_signature_until_it_lets_go(
        rig: Rig, sqlite_station: Station, tmp_path: Path) -> None:
    """A reader pinning WAL frames is SQLite's case (PostgreSQL's is the lock test below)."""
    station = sqlite_station
    assert station.db.dialect == "sqlite"
    reader = sqlite3.connect(make_url(str(station.db.engine.url)).database)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM ballots").fetchall()  # a read snapshot pins the WAL
    try:
        with pytest.raises(store.StoreError, match="another program holds the database"):
            station.close_polls(rig.shares[:K], tmp_path / "out")
        assert station.polls_state is PollsState.CLOSED and not (tmp_path / "out").exists()
        with pytest.raises(store.StoreError):  # still held: still nothing signed
            station.close_polls(rig.shares[:K], tmp_path / "out")
        assert not (tmp_path / "out").exists()
    finally:
        reader.close()
    result = station.close_polls(rig.shares[:K], tmp_path / "out")
    assert result.files is not None
    assert_sealed(station.db)


@pytest.mark.postgres
def test_postgresql_a_lock_held_on_the_ballots_stops_the_signature_until_it_is_released(
        rig: Rig, postgres_station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLUSTER waiting on another connection's lock is PostgreSQL's case."""
    station = postgres_station
    assert station.db.dialect == "postgresql"
    monkeypatch.setattr(store, "SEAL_WAIT_S", 0.3)
    holder = psycopg.connect(station.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False))
    holder.execute("SELECT count(*) FROM ballots").fetchall()  # an open transaction keeps its lock
    try:
        with pytest.raises(store.SealingFailed, match="another program holds the database"):
            station.close_polls(rig.shares[:K], tmp_path / "out")
        assert station.polls_state is PollsState.CLOSED and not (tmp_path / "out").exists()
    finally:
        holder.close()
    result = station.close_polls(rig.shares[:K], tmp_path / "out")
    assert result.files is not None
    assert_sealed(station.db)


def test_sealing_is_refused_while_the_polls_are_open(rig: Rig, station: Station) -> None:
    with pytest.raises(store.WrongPollsState, match="seal the storage"):
        store.seal_storage(station.db)
    assert not store.station_info(station.db).storage_sealed


def test_an_uninterrupted_close_is_sealed_and_a_rerun_does_not_seal_again(
        rig: Rig, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = station.close_polls(rig.shares[:K], tmp_path / "a")
    assert_sealed(station.db)

    def must_not_run(db: StationDB) -> None:
        raise AssertionError("sealed storage is not sealed again")

    monkeypatch.setattr(store, "seal_storage", must_not_run)
    again = station.close_polls(rig.shares[:K], tmp_path / "b")
    assert again.files.protocol.read_bytes() == first.files.protocol.read_bytes()  # type: ignore[union-attr]


# --- the command line -------------------------------------------------------------------------


def test_sailau_station_close_says_what_happened_and_the_next_run_signs(
        rig: Rig, station: Station, tmp_path: Path) -> None:
    """`sailau station close`: a sealing failure is one plain sentence (nothing signed, run
    again), a discrepancy is printed with the protocol it is signed into."""
    from click.testing import CliRunner

    from sailau.cli.main import cli
    from sailau.election import crypto
    from sailau.election.definition import write_election
    from sailau.election.shares import write_share_file

    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    shares = []
    for share in rig.shares[:K]:
        write_share_file(tmp_path / f"share-{share.index}.json", share)
        shares += ["--share", str(tmp_path / f"share-{share.index}.json")]
    rig.seed_ballots(station.db, 1)  # a ballot with no voter checked in: cast 9 > checked in 8
    url = station.db.engine.url.render_as_string(hide_password=False)
    args = ["station", "close", "--db", url, "--election", str(tmp_path / "election.json"),
            "--station-key", str(tmp_path / "station.pem"), *shares, "--out", str(tmp_path / "out")]
    runner = CliRunner()
    holder = None
    if station.db.dialect == "sqlite":
        holder = sqlite3.connect(make_url(url).database)
        holder.execute("BEGIN")
        holder.execute("SELECT count(*) FROM ballots").fetchall()
        refused = runner.invoke(cli, args)
        holder.close()
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        assert "could not be sealed (another program holds the database); nothing was signed" in refused.output
        assert not (tmp_path / "out").exists()
        status = runner.invoke(cli, ["station", "status", "--db", url])
        assert "polls closed (storage NOT sealed: run sailau station close again" in status.output
    out = runner.invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "DISCREPANCY: the count breaks control relations cast<=checked_in, issued<=checked_in+replaced" in out.output
    assert (tmp_path / "out" / "protocol.json").exists()
    assert "polls closed (storage sealed);" in runner.invoke(cli, ["station", "status", "--db", url]).output
