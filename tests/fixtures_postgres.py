"""Fixtures that start the packaged PostgreSQL cluster and hand out fresh databases.

``postgres_server`` (session): starts Debian's cluster with ``pg_ctlcluster`` if
it is down (it switches to the postgres user itself: the server refuses root),
creates a login role with CREATEDB through ``runuser -u postgres -- psql`` and a
per-session empty template database. If PostgreSQL cannot start the fixture
fails with the reason: nothing is skipped.

``postgres_url`` (function): a fresh database copied from the template, dropped
(WITH FORCE) after the test. ``station_db_url`` runs a test on SQLite (a file in
tmp_path) and on PostgreSQL (marked ``postgres``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

PG_VERSION = os.environ.get("SAILAU_PG_VERSION", "15")
PG_CLUSTER = os.environ.get("SAILAU_PG_CLUSTER", "main")
ROLE = "sailau_test"
PASSWORD = "sailau_test_pw"  # loopback-only test role


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    role: str
    password: str
    template: str

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.role}:{self.password}@{self.host}:{self.port}/{database}"

    def admin_conninfo(self) -> str:
        return f"host={self.host} port={self.port} user={self.role} password={self.password} dbname=postgres"


def _run(args: list[str], what: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        pytest.fail(f"PostgreSQL fixture: {what} failed ({' '.join(args)}): {done.stderr.strip() or done.stdout.strip()}", pytrace=False)
    return done.stdout


def _psql(sql: str, what: str) -> str:
    return _run(["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql], what)


def _cluster_port() -> int:
    for line in _run(["pg_lsclusters", "--no-header"], "listing clusters").splitlines():
        fields = line.split()
        if fields[:2] == [PG_VERSION, PG_CLUSTER]:
            return int(fields[2])
    pytest.fail(f"PostgreSQL fixture: no cluster {PG_VERSION}/{PG_CLUSTER} (is Debian's postgresql-{PG_VERSION} installed?)", pytrace=False)


def _ensure_running(port: int) -> None:
    status = subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "status"], capture_output=True, text=True)
    if status.returncode != 0:
        start = subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "start"], capture_output=True, text=True, timeout=120)
        # a parallel session may have started it between our status and start
        again = subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "status"], capture_output=True, text=True)
        if again.returncode != 0:
            pytest.fail(f"PostgreSQL fixture: cannot start cluster {PG_VERSION}/{PG_CLUSTER}: {start.stderr.strip()}"
                        f" (see /var/log/postgresql/postgresql-{PG_VERSION}-{PG_CLUSTER}.log)", pytrace=False)
    deadline = time.monotonic() + 60
    while True:
        ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True, text=True)
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"PostgreSQL fixture: server on port {port} not ready after 60 s: {ready.stdout.strip()}", pytrace=False)
        time.sleep(0.2)  # polling a readiness condition under a deadline


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    for tool in ("pg_ctlcluster", "pg_lsclusters", "pg_isready", "runuser"):
        if shutil.which(tool) is None:
            pytest.fail(f"PostgreSQL fixture: {tool} not found (apt-get install postgresql-{PG_VERSION})", pytrace=False)
    port = _cluster_port()
    _ensure_running(port)
    # idempotent, and safe when several test sessions race to create the role
    _psql(
        f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'; "
        f"EXCEPTION WHEN duplicate_object OR unique_violation THEN "
        f"ALTER ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'; END $$;",
        "creating the test role",
    )
    # DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker
    # that is busy in a test database; without this the drop fails now and then.
    _psql(f"GRANT pg_signal_backend TO {ROLE}", "granting pg_signal_backend to the test role")
    template = f"sailau_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    _psql(f"CREATE DATABASE {template} OWNER {ROLE}", "creating the template database")
    server = PostgresServer("127.0.0.1", port, ROLE, PASSWORD, template)
    try:
        yield server
    finally:
        _psql(f"DROP DATABASE IF EXISTS {template} WITH (FORCE)", "dropping the template database")


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for this test only."""
    name = f"sailau_t_{secrets.token_hex(6)}"
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {postgres_server.template}")
    try:
        yield postgres_server.url(name)
    finally:
        _drop_database(postgres_server, name)


def _drop_database(server: PostgresServer, name: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            return
        except psycopg.errors.InsufficientPrivilege:
            raise
        except psycopg.Error as exc:  # e.g. a backend still exiting: retry under a deadline
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL fixture: cannot drop test database {name}: {exc}", pytrace=False)
            time.sleep(0.1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def station_db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The station database URL on each backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'station.db'}"
    return request.getfixturevalue("postgres_url")
