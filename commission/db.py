"""Opening the commission database (SQLite for a district, PostgreSQL at national scale)
and binding it to one election.

A database tabulates exactly one election: the first import stores the election
definition and the station key registry, signed under the root the definition
names; later imports must bring the same ones or none. Reports and aggregation
read them back from here (the registry's signature checked again), so a report
is always computed under the definition its protocols were checked against.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, select

from sailau.election import engine as engines
from sailau.election.definition import Election, parse_election
from sailau.election.engine import EngineSettings

from . import models
from .registry import SignedRegistry, verify_registry


class CommissionDBError(RuntimeError):
    """Base of the commission database errors."""


class SchemaVersionError(CommissionDBError):
    """The database was made by another schema version (rebuild it by re-importing)."""


class NoElectionError(CommissionDBError):
    """Nothing has been imported yet: the database is bound to no election."""


class ElectionMismatchError(CommissionDBError):
    """The definition or station registry given is not the one this database holds."""


COMMISSION_ENGINE = EngineSettings(
    what="commission database",
    url_hint="sqlite:///FILE or postgresql+psycopg://...",
    sqlite_busy_timeout_ms=10000,
    postgres_insert_page_size=1000,  # executemany becomes multi-row INSERTs, 1000 rows per round trip
)


def make_engine(url: str) -> Engine:
    """An engine for a commission URL (election.engine with `COMMISSION_ENGINE`)."""
    try:
        return engines.make_engine(url, COMMISSION_ENGINE)
    except engines.UnsupportedDatabaseError as exc:
        raise CommissionDBError(str(exc)) from None


@dataclass
class CommissionDB:
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction; commits on normal exit, rolls back on error."""
        with self.engine.begin() as conn:
            yield conn

    def bound_election(self) -> tuple[Election, SignedRegistry]:
        """The election and station registry stored by the first import."""
        with self.begin() as conn:
            row = conn.execute(select(models.election)).first()
        if row is None:
            raise NoElectionError("the commission database holds no election yet: import protocols with --election and --stations first")
        return self._stored(row)

    @staticmethod
    def _stored(row: Any) -> tuple[Election, SignedRegistry]:
        election = parse_election(row.definition)
        return election, verify_registry(row.registry, election, "the registry stored in the commission database")

    def bind_election(self, election: Election | None, registry: SignedRegistry | None) -> tuple[Election, SignedRegistry]:
        """Store the election on first use; afterwards the given ones must match.
        `registry` must come from `verify_registry`/`load_registry` for `election`."""
        with self.begin() as conn:
            row = conn.execute(select(models.election)).first()
            if row is None:
                if election is None or registry is None:
                    raise NoElectionError(
                        "the commission database holds no election yet: the first import needs --election and --stations"
                    )
                inner = registry.registry
                if (inner.election_id, inner.election_fingerprint) != (election.id, election.fingerprint_hex):
                    raise ElectionMismatchError(
                        f"the station key registry is for election {inner.election_id!r} "
                        f"({inner.election_fingerprint[:16]}...), not {election.id!r} ({election.fingerprint_hex[:16]}...)"
                    )
                conn.execute(
                    models.election.insert().values(
                        id=election.id,
                        fingerprint=election.fingerprint_hex,
                        definition=election.raw_bytes,
                        registry=registry.to_json_bytes(),
                    )
                )
                return election, registry
        stored_election, stored_registry = self._stored(row)
        if election is not None and election.fingerprint_hex != stored_election.fingerprint_hex:
            raise ElectionMismatchError(
                f"this database tabulates election {stored_election.id!r} ({stored_election.fingerprint_hex[:16]}...); "
                f"the definition given is {election.id!r} ({election.fingerprint_hex[:16]}...)"
            )
        if registry is not None and registry.registry != stored_registry.registry:
            raise ElectionMismatchError("the station key registry given differs from the one this database was opened with")
        return stored_election, stored_registry

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CommissionDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_commission_db(url: str) -> CommissionDB:
    """Open (creating the tables if new) and check the schema version."""
    engine = make_engine(url)
    models.metadata.create_all(engine)
    with engine.begin() as conn:
        versions = [r.version for r in conn.execute(select(models.schema_version.c.version))]
        if not versions:
            conn.execute(models.schema_version.insert().values(version=models.SCHEMA_VERSION))
        elif versions != [models.SCHEMA_VERSION]:
            engine.dispose()
            raise SchemaVersionError(
                f"commission database schema version {versions} is not {models.SCHEMA_VERSION}: "
                "rebuild it by importing the signed protocol files into a new database"
            )
    return CommissionDB(engine)
