"""Fixtures that start the packaged PostgreSQL cluster and hand out fresh databases.

``postgres_server`` (session): ``sailau.simulator.local_postgres.local_server_url``
starts Debian's cluster if it is down and makes the login role (the same code
``sailau bench`` uses); the fixture adds a per-session empty template database. If PostgreSQL cannot start the fixture
fails with the reason: nothing is skipped.

``postgres_url`` (function): a fresh database copied from the template, dropped
(WITH FORCE) after the test. ``station_db_url`` runs a test on SQLite (a file in
tmp_path) and on PostgreSQL (marked ``postgres``).
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from sqlalchemy.engine import make_url

from sailau.simulator.local_postgres import PostgresUnavailable, local_server_url, superuser_psql


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


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        url = make_url(local_server_url())
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL fixture: {exc} (see /var/log/postgresql/)", pytrace=False)
    template = f"sailau_tpl_{os.getpid()}_{secrets.token_hex(3)}"
    _psql(f"CREATE DATABASE {template} OWNER {url.username}", "creating the template database")
    server = PostgresServer(url.host, url.port, url.username, url.password, template)
    try:
        yield server
    finally:
        _psql(f"DROP DATABASE IF EXISTS {template} WITH (FORCE)", "dropping the template database")


def _psql(sql: str, what: str) -> str:
    try:
        return superuser_psql(sql, what)
    except PostgresUnavailable as exc:
        pytest.fail(f"PostgreSQL fixture: {exc}", pytrace=False)


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
