"""The one SQLAlchemy engine factory, for the station's and the commission's databases.

Both accept ``sqlite:///FILE`` (or in-memory ``sqlite://``) and
``postgresql+psycopg://...``; what differs between them is stated as
`EngineSettings`, one constant per use (``ballot_box.db.STATION_ENGINE``,
``commission.db.COMMISSION_ENGINE``), so the two cannot drift apart unseen.

Always, for every use:

- SQLite: ``journal_mode=WAL``, ``synchronous=FULL`` (a committed transaction
  survives a power cut), ``foreign_keys=ON`` and a busy timeout, set on every new
  connection; an in-memory database is one shared connection (else every checkout
  would see an empty database).
- Statement parameters are hidden from SQLAlchemy's error messages: they can hold
  IINs or ballot bytes, and error messages reach logs.

This module is SQLAlchemy plumbing only: it knows no table of either app.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

__all__ = ["EngineSettings", "UnsupportedDatabaseError", "make_engine"]


class UnsupportedDatabaseError(ValueError):
    """The URL names a database other than SQLite or PostgreSQL."""


@dataclass(frozen=True)
class EngineSettings:
    """What one use of a database needs from its engine."""

    what: str  # "station database": for the refusal of another backend
    url_hint: str  # the URLs to use instead, e.g. "sqlite:/// or postgresql+psycopg://"
    sqlite_busy_timeout_ms: int  # how long a SQLite writer queues behind another
    #: overwrite deleted content on SQLite (the station clears card links at close)
    sqlite_secure_delete: bool = False
    #: the driver's implicit transactions are off and BEGIN is emitted per
    #: transaction, in the mode named by the execution option ``sailau_begin``
    #: (DEFERRED by default, IMMEDIATE for a writer that must queue up front)
    sqlite_explicit_begin: bool = False
    #: PostgreSQL: ping a pooled connection before use only when it sat idle this
    #: long (seconds); None: ping before every use (``pool_pre_ping``)
    postgres_ping_after_idle_s: float | None = None
    #: PostgreSQL: rows per multi-row INSERT of an executemany (None: SQLAlchemy's default)
    postgres_insert_page_size: int | None = None


def make_engine(url: str, settings: EngineSettings) -> Engine:
    """An engine for `url` set up as `settings` state; `UnsupportedDatabaseError` for
    a backend other than SQLite or PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        kwargs: dict[str, Any] = {}
        if parsed.database in (None, "", ":memory:"):
            kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        engine = create_engine(url, hide_parameters=True, **kwargs)
        _install_sqlite_pragmas(engine, settings)
        return engine
    if backend == "postgresql":
        kwargs = {}
        if settings.postgres_insert_page_size is not None:
            kwargs["insertmanyvalues_page_size"] = settings.postgres_insert_page_size
        if settings.postgres_ping_after_idle_s is None:
            return create_engine(url, hide_parameters=True, pool_pre_ping=True, **kwargs)
        engine = create_engine(url, hide_parameters=True, **kwargs)
        _install_idle_ping(engine, settings.postgres_ping_after_idle_s)
        return engine
    raise UnsupportedDatabaseError(f"unsupported {settings.what} {backend!r}: use {settings.url_hint}")


def _install_sqlite_pragmas(engine: Engine, settings: EngineSettings) -> None:
    pragmas = ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"]
    if settings.sqlite_secure_delete:
        pragmas.append("PRAGMA secure_delete=ON")
    pragmas.append(f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        if settings.sqlite_explicit_begin:
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    if settings.sqlite_explicit_begin:
        @event.listens_for(engine, "begin")
        def _on_begin(connection) -> None:  # noqa: ANN001
            mode = connection.get_execution_options().get("sailau_begin", "DEFERRED")
            connection.connection.driver_connection.execute(f"BEGIN {mode}")


def _install_idle_ping(engine: Engine, after_s: float) -> None:
    """Ping a pooled connection before use only if it sat idle `after_s` seconds;
    a dead one is replaced by the pool (DisconnectionError)."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection, record) -> None:  # noqa: ANN001
        record.info["sailau_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, proxy) -> None:  # noqa: ANN001
        since = record.info.get("sailau_idle_since")
        if since is None or time.monotonic() - since < after_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as failed:
            raise exc.DisconnectionError(f"pooled connection is dead: {failed}") from failed
