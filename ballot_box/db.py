"""Engine and session setup for the station database.

SQLite is the embedded default; every connection gets WAL, ``synchronous=FULL``
(a committed ballot survives power loss), foreign keys, ``secure_delete`` (freed
pages are zeroed, so nothing old lingers in the file) and a busy timeout. The
driver's own implicit transaction handling is switched off and we emit BEGIN
ourselves, so that write transactions can be ``BEGIN IMMEDIATE``: they take the
write lock up front instead of failing to upgrade a read lock under contention.

PostgreSQL (``postgresql+psycopg://...``) is the scale path. Its default READ
COMMITTED isolation is what the store relies on: a conditional UPDATE that
waits on a concurrent one re-checks its WHERE clause against the committed row.

``open_station_db`` migrates the schema to head with Alembic, programmatically
(no alembic.ini at runtime), and then proves the database takes a write: it commits
an UPDATE that changes nothing (`probe_write`). A permission bit says little (root
writes a 0444 file; a read-only mount, an immutable file, a full disk or a read-only
PostgreSQL database stop everyone), so only a real commit is a check. A station
refuses to start on storage it cannot write (`StorageUnavailable`) instead of
failing at the first check-in.

Storage failures have one vocabulary, `StorageProblem` (disk full, read-only,
unavailable, failed), read from the driver's own error by `storage_problem`; the
station turns them into what happened to the ballot (station.py). Engines hide SQL
parameters in their errors (``hide_parameters``): an error text never carries an
IIN or ballot bytes, wherever it ends up.
(no alembic.ini at runtime).

The cast path is a handful of statements per voter, and building, compiling and
running each through SQLAlchemy (and the ORM's unit of work) cost ~0.2 ms apiece,
forty times the durable commit itself. So the statements of that path are
``PreparedStatement``s: built once, compiled once per dialect, and run straight
on the DBAPI cursor of the session's connection, inside the same transaction;
the drivers keep them prepared (sqlite3 caches the parsed statement per
connection, psycopg prepares it on the server after a few uses). Transactions
begin on the driver too (``BEGIN IMMEDIATE`` on SQLite), and PostgreSQL pings a
pooled connection only if it sat idle (``PING_AFTER_IDLE_SECONDS``), not before
every checkout: a server restart during busy hours fails one transaction before
its commit (nothing written; the clerk reinserts the card) instead of costing
every transaction a round trip.
"""

from __future__ import annotations

import datetime as dt
import errno
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, Engine, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from sailau.election import engine as engines
from sailau.election.engine import EngineSettings

SCRIPT_LOCATION = "sailau.ballot_box:migrations"
# pg_advisory_xact_lock key serialising concurrent migrations ("SAILAU" in ASCII)
_MIGRATION_LOCK = 0x5341494C4155

Clock = Callable[[], dt.datetime]
SQLITE_BUSY_TIMEOUT_MS = 30000  # how long a SQLite writer queues behind another

PING_AFTER_IDLE_SECONDS = 5.0
"""A pooled PostgreSQL connection idle longer than this is pinged before use."""


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migration head and we were asked not to migrate."""


class StorageProblem(str, Enum):
    """What kind of storage failure stopped an operation (one vocabulary for the
    station, the clerk app and the command line)."""

    DISK_FULL = "disk_full"  # no space left (SQLITE_FULL, PostgreSQL 53100, ENOSPC)
    READ_ONLY = "read_only"  # the database or its folder cannot be written (SQLITE_READONLY, 25006, EROFS)
    UNAVAILABLE = "unavailable"  # cannot be opened or reached, locked by another process, I/O error
    FAILED = "failed"  # any other database error


class StorageUnavailable(RuntimeError):
    """The station database cannot be used as the station needs it (found at open:
    it does not take a write). `problem` says why; the message is plain words with the
    driver's own reason, never SQL or its parameters."""

    def __init__(self, problem: StorageProblem, reason: str) -> None:
        self.problem, self.reason = problem, reason
        super().__init__(f"the station database {PROBLEM_WORDS[problem]} ({reason}); "
                         f"nothing was changed. {PROBLEM_FIX[problem]}")


PROBLEM_WORDS: dict[StorageProblem, str] = {
    StorageProblem.DISK_FULL: "cannot be written: the disk is full",
    StorageProblem.READ_ONLY: "cannot be written: it is read-only",
    StorageProblem.UNAVAILABLE: "cannot be reached",
    StorageProblem.FAILED: "failed",
}

PROBLEM_FIX: dict[StorageProblem, str] = {
    StorageProblem.DISK_FULL: "Free disk space, then start the station again.",
    StorageProblem.READ_ONLY: "Make the database file and its folder writable by this user (a read-only mount, "
                              "an immutable file or a read-only PostgreSQL database also stop it), then start again.",
    StorageProblem.UNAVAILABLE: "Check that the database is there and not held by another program, then start again.",
    StorageProblem.FAILED: "See the operator log, then start again.",
}

_SQLITE_NAMES: dict[str, StorageProblem] = {
    "SQLITE_FULL": StorageProblem.DISK_FULL,
    "SQLITE_READONLY": StorageProblem.READ_ONLY,
    "SQLITE_PERM": StorageProblem.READ_ONLY,
    "SQLITE_CANTOPEN": StorageProblem.UNAVAILABLE,
    "SQLITE_IOERR": StorageProblem.UNAVAILABLE,
    "SQLITE_BUSY": StorageProblem.UNAVAILABLE,
    "SQLITE_LOCKED": StorageProblem.UNAVAILABLE,
    "SQLITE_NOTADB": StorageProblem.UNAVAILABLE,
    "SQLITE_CORRUPT": StorageProblem.UNAVAILABLE,
}

_MESSAGES: tuple[tuple[str, StorageProblem], ...] = (  # driver texts, for errors that carry no code
    ("disk is full", StorageProblem.DISK_FULL),
    ("no space left on device", StorageProblem.DISK_FULL),
    ("readonly database", StorageProblem.READ_ONLY),
    ("read-only", StorageProblem.READ_ONLY),
    ("unable to open database", StorageProblem.UNAVAILABLE),
    ("disk i/o error", StorageProblem.UNAVAILABLE),
    ("database is locked", StorageProblem.UNAVAILABLE),
    ("connection", StorageProblem.UNAVAILABLE),
)

_ERRNO: dict[int, StorageProblem] = {
    errno.ENOSPC: StorageProblem.DISK_FULL,
    errno.EDQUOT: StorageProblem.DISK_FULL,
    errno.EROFS: StorageProblem.READ_ONLY,
    errno.EACCES: StorageProblem.READ_ONLY,
    errno.EPERM: StorageProblem.READ_ONLY,
}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def _sqlstate_problem(sqlstate: str) -> StorageProblem:
    if sqlstate == "53100":
        return StorageProblem.DISK_FULL
    if sqlstate == "25006":
        return StorageProblem.READ_ONLY
    if sqlstate[:2] in ("08", "53", "57", "58"):
        return StorageProblem.UNAVAILABLE
    return StorageProblem.FAILED


def storage_problem(exc: BaseException) -> StorageProblem | None:
    """The kind of storage failure `exc` is (its chain is searched: SQLAlchemy's
    wrapper, the driver's error, an OSError), or None when it is not one.

    Codes first (sqlite3's ``sqlite_errorname``, PostgreSQL's SQLSTATE, errno), then
    the driver's words for errors raised without a code."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    found: StorageProblem | None = None
    for e in _chain(exc):
        if isinstance(e, StorageUnavailable):
            return e.problem
        name = getattr(e, "sqlite_errorname", None)
        if isinstance(name, str):
            for prefix, problem in _SQLITE_NAMES.items():
                if name.startswith(prefix):
                    return problem
        sqlstate = getattr(e, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate:
            problem = _sqlstate_problem(sqlstate)
            if problem is not StorageProblem.FAILED:
                return problem
        if isinstance(e, OSError) and e.errno in _ERRNO:
            return _ERRNO[e.errno]
        if isinstance(e, PoolTimeout):
            return StorageProblem.UNAVAILABLE
        if isinstance(e, SQLAlchemyError) or type(e).__module__.split(".")[0] in ("sqlite3", "psycopg", "psycopg2"):
            text = str(e).lower()
            for words, problem in _MESSAGES:
                if words in text:
                    return problem
            found = found or StorageProblem.FAILED
    return found


def driver_reason(exc: BaseException) -> str:
    """The database driver's own first line for `exc` (no SQL, no parameters)."""
    orig = getattr(exc, "orig", None)
    lines = str(orig if orig is not None else exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def local_now() -> dt.datetime:
    """The station's wall clock, timezone-aware (local offset)."""
    return dt.datetime.now().astimezone()


@dataclass
class StationDB:
    """An open station database: the engine, transaction helpers and the clock.

    ``clock`` is injectable so tests and the simulator control the hour buckets
    and audit times.
    """

    engine: Engine
    clock: Clock = field(default=local_now)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One read-write transaction; commits on normal exit, rolls back on error.

        On SQLite it starts with BEGIN IMMEDIATE (writers queue on the busy
        timeout instead of failing mid-transaction).
        """
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """One read transaction (a consistent snapshot on both backends)."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> StationDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @cached_property
    def _write_engine(self) -> Engine:
        return self.engine.execution_options(sailau_begin="IMMEDIATE")


_CONNECTION_OF = "sailau_prepared_connection"  # session.info key: (transaction, its Connection)


class PreparedStatement:
    """A Core statement built once, compiled once per dialect, and run on the
    DBAPI cursor of a session's connection (inside the session's transaction,
    which it begins if needed; pending ORM changes are flushed first, as
    ``Session.execute`` would). For the statements of the hot path only: it
    skips SQLAlchemy's per-call construction, compilation and result
    processing, so parameters and results are the driver's own (bytes, int,
    str), and no SQLAlchemy cursor events run.

    Bind values fixed in the statement (``state == 'issued'``) are kept; the
    others are given by name to ``execute``."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup) if dialect.positional and compiled.positiontup else None
            fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
            found = self._compiled[dialect.name] = (str(compiled), order, fixed)
        return found

    def execute(self, session: Session, **params: Any) -> Any:
        """Run it in the session's transaction; returns the DBAPI cursor (``rowcount``, ``fetchone()``)."""
        if session.new or session.dirty or session.deleted:
            session.flush()
        transaction = session.get_transaction()
        cached = session.info.get(_CONNECTION_OF)
        if cached is None or cached[0] is not transaction:  # asking the session costs ~20 us a statement
            cached = session.info[_CONNECTION_OF] = (transaction, session.connection())
        return self._run(cached[1], params)

    def fetch_one(self, engine: Engine, **params: Any) -> Any:
        """Run a one-row read on a pooled connection, outside any transaction of
        ours (one statement is consistent by itself; on SQLite it runs in
        autocommit), and return that row or None: for the read every cast does."""
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":  # no BEGIN and ROLLBACK round trips around it
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            return self._run(connection, params).fetchone()

    def _run(self, connection: Connection, params: Mapping[str, Any]) -> Any:
        sql, order, fixed = self._for(connection.dialect)
        values: Mapping[str, Any] = {**fixed, **params} if fixed else params
        args = tuple(values[name] for name in order) if order is not None else values
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        dbapi = connection.dialect.loaded_dbapi
        try:
            cursor.execute(sql, args)
        except dbapi.Error as failed:  # as SQLAlchemy reports it (IntegrityError, ...), never with the values
            raise exc.DBAPIError.instance(sql, args, failed, dbapi.Error, hide_parameters=True,
                                          dialect=connection.dialect) from failed
        return cursor


STATION_ENGINE = EngineSettings(
    what="station database",
    url_hint="sqlite:/// or postgresql+psycopg://",
    sqlite_busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS,
    sqlite_secure_delete=True,  # cleared card links and rewritten rows leave no bytes behind
    sqlite_explicit_begin=True,  # writers BEGIN IMMEDIATE (see the module doc)
    postgres_ping_after_idle_s=PING_AFTER_IDLE_SECONDS,
)


def make_engine(url: str) -> Engine:
    """An engine for a station URL (election.engine with `STATION_ENGINE`)."""
    return engines.make_engine(url, STATION_ENGINE)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head in one transaction (serialised on PostgreSQL)."""
    config = alembic_config()
    with engine.execution_options(sailau_begin="IMMEDIATE").begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def probe_write(engine: Engine) -> None:
    """Commit a write that changes nothing (the Alembic version row set to itself), or
    raise `StorageUnavailable`: the only honest test that the station can record."""
    try:
        with engine.execution_options(sailau_begin="IMMEDIATE").begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = version_num")
    except Exception as exc:
        problem = storage_problem(exc)
        if problem is None:
            raise
        raise StorageUnavailable(problem, driver_reason(exc)) from exc


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_station_db(url: str, *, migrate_schema: bool = True, clock: Clock = local_now) -> StationDB:
    """Open (and by default migrate to head) the station database at ``url``.

    With ``migrate_schema=False`` (read-only tools such as ``sailau audit verify``)
    the schema must already be at head, else SchemaNotCurrent. Otherwise the
    database must take a write (`probe_write`), else StorageUnavailable.
    """
    parsed = make_url(url)
    if not migrate_schema and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise SchemaNotCurrent(f"no station database at {parsed.database}")  # and do not create one
    engine = make_engine(url)
    try:
        if migrate_schema:
            migrate(engine)
            probe_write(engine)
        else:
            found, head = current_revision(engine), head_revision()
            if found != head:
                raise SchemaNotCurrent(f"station database schema is at {found or 'nothing'}, expected {head}: open it with the station once to migrate")
    except BaseException:
        engine.dispose()
        raise
    return StationDB(engine=engine, clock=clock)
