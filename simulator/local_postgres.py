"""A PostgreSQL server for benchmarks and simulations, and throw-away databases on it.

`local_server_url()` is what tests/fixtures_postgres.py and `sailau bench` both
stand on: start Debian's packaged cluster with `pg_ctlcluster` if it
is down (it runs the server as the postgres user; the server refuses root), and
create a loopback login role with CREATEDB through `runuser -u postgres -- psql`.
`fresh_database(url)` creates an empty database on any server whose role may
CREATE DATABASE and drops it (WITH FORCE) afterwards.

Failures raise `PostgresUnavailable` naming the step, so a caller can report
"PostgreSQL: not measured, because ..." instead of silently leaving it out.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

PG_VERSION = os.environ.get("SAILAU_PG_VERSION", "15")
PG_CLUSTER = os.environ.get("SAILAU_PG_CLUSTER", "main")
ROLE = "sailau_test"
PASSWORD = "sailau_test_pw"  # loopback-only role, the same the test fixtures use


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be had (the message says which step failed)."""


def _run(args: list[str], what: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PostgresUnavailable(f"{what} failed ({' '.join(args)}): {exc}") from exc
    if done.returncode != 0:
        raise PostgresUnavailable(f"{what} failed ({' '.join(args)}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _cluster_port() -> int:
    for line in _run(["pg_lsclusters", "--no-header"], "listing clusters").splitlines():
        fields = line.split()
        if fields[:2] == [PG_VERSION, PG_CLUSTER]:
            return int(fields[2])
    raise PostgresUnavailable(f"no cluster {PG_VERSION}/{PG_CLUSTER} (is Debian's postgresql-{PG_VERSION} installed?)")


def _ensure_running(port: int, timeout: float = 60.0) -> None:
    status = subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "status"], capture_output=True, text=True)
    if status.returncode != 0:
        start = subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "start"], capture_output=True, text=True, timeout=120)
        again = subprocess.run(["pg_ctlcluster", PG_VERSION, PG_CLUSTER, "status"], capture_output=True, text=True)
        if again.returncode != 0:  # a parallel starter may have won the race: only then is it fine
            raise PostgresUnavailable(f"cannot start cluster {PG_VERSION}/{PG_CLUSTER}: {start.stderr.strip()}")
    deadline = time.monotonic() + timeout
    while True:
        ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True, text=True)
        if ready.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise PostgresUnavailable(f"server on port {port} not ready after {timeout:g} s: {ready.stdout.strip()}")
        time.sleep(0.2)  # polling a readiness condition under a deadline


def superuser_psql(sql: str, what: str) -> str:
    """Run one SQL statement as the cluster's superuser (`runuser -u postgres -- psql`)."""
    return _run(["runuser", "-u", "postgres", "--", "psql", "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql], what)


def local_server_url() -> str:
    """SQLAlchemy URL of the packaged local cluster's `postgres` database, as a role
    that may create databases; starts the cluster if needed (needs root for runuser)."""
    for tool in ("pg_ctlcluster", "pg_lsclusters", "pg_isready", "runuser", "psql"):
        if shutil.which(tool) is None:
            raise PostgresUnavailable(f"{tool} not found (apt-get install postgresql-{PG_VERSION})")
    port = _cluster_port()
    _ensure_running(port)
    # idempotent, and safe when several processes race to create the role
    superuser_psql(
        f"DO $$ BEGIN CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'; "
        f"EXCEPTION WHEN duplicate_object OR unique_violation THEN "
        f"ALTER ROLE {ROLE} LOGIN CREATEDB PASSWORD '{PASSWORD}'; END $$;",
        "creating the login role",
    )
    # DROP DATABASE ... WITH (FORCE) must be able to end an autovacuum worker
    # busy in a throw-away database; without this the drop fails now and then.
    superuser_psql(f"GRANT pg_signal_backend TO {ROLE}", "granting pg_signal_backend to the login role")
    return f"postgresql+psycopg://{ROLE}:{PASSWORD}@127.0.0.1:{port}/postgres"


@contextmanager
def fresh_database(server_url: str, prefix: str = "sailau_bench") -> Iterator[str]:
    """An empty database on the server of `server_url` (its role needs CREATEDB),
    dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"{prefix}_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.Error as exc:
        raise PostgresUnavailable(f"cannot create a database on {url.render_as_string()}: {exc}") from exc
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
