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
(no alembic.ini at runtime).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

SCRIPT_LOCATION = "sailau.ballot_box:migrations"
# pg_advisory_xact_lock key serialising concurrent migrations ("SAILAU" in ASCII)
_MIGRATION_LOCK = 0x5341494C4155

Clock = Callable[[], dt.datetime]
SQLITE_BUSY_TIMEOUT_MS = 30000  # how long a SQLite writer queues behind another


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migration head and we were asked not to migrate."""


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

    @property
    def _write_engine(self) -> Engine:
        return self.engine.execution_options(sailau_begin="IMMEDIATE")


def make_engine(url: str) -> Engine:
    """An engine for a station URL with the SQLite connection pragmas installed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        kwargs: dict = {}
        if in_memory:
            # one shared connection, or every checkout would see an empty database
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        engine = create_engine(url, **kwargs)
        _install_sqlite_pragmas(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise ValueError(f"unsupported station database {parsed.get_backend_name()!r}: use sqlite:/// or postgresql+psycopg://")


def _install_sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA secure_delete=ON",
            f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # noqa: ANN001
        mode = connection.get_execution_options().get("sailau_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


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


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_station_db(url: str, *, migrate_schema: bool = True, clock: Clock = local_now) -> StationDB:
    """Open (and by default migrate to head) the station database at ``url``.

    With ``migrate_schema=False`` (read-only tools such as ``sailau audit verify``)
    the schema must already be at head, else SchemaNotCurrent.
    """
    parsed = make_url(url)
    if not migrate_schema and parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if not Path(parsed.database).is_file():
            raise SchemaNotCurrent(f"no station database at {parsed.database}")  # and do not create one
    engine = make_engine(url)
    try:
        if migrate_schema:
            migrate(engine)
        else:
            found, head = current_revision(engine), head_revision()
            if found != head:
                raise SchemaNotCurrent(f"station database schema is at {found or 'nothing'}, expected {head}: open it with the station once to migrate")
    except BaseException:
        engine.dispose()
        raise
    return StationDB(engine=engine, clock=clock)
