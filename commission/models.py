"""The commission database: one election, its signed protocols, their counts.

The signed protocol files are the record; this database is an index over them for
summing at scale (GROUP BY in the server instead of 10,000 files in Python). It
keeps each file's exact bytes and SHA-256, so a re-import can tell an identical
resubmission (accepted, nothing changes) from a conflicting one (refused).

Why `metadata.create_all` and a schema version row instead of Alembic (which the
ballot box uses): a ballot-box database is the only copy of the ballots and must be
migrated in place; a commission database is derived, and can always be rebuilt by
importing the same signed files again. So a database of another schema version is
refused by name (`SchemaVersionError`) rather than migrated.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

SCHEMA_VERSION = 2  # 2: cards_replaced, cards_not_returned (protocol format 2)

metadata = MetaData()

schema_version = Table(
    "commission_schema",
    metadata,
    Column("version", Integer, primary_key=True),
)

#: The one election this database tabulates: its definition and station key
#: registry bytes, as published (the fingerprint is SHA-256 of `definition`).
election = Table(
    "commission_election",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("definition", LargeBinary, nullable=False),
    Column("registry", LargeBinary, nullable=False),
)

protocols = Table(
    "protocols",
    metadata,
    Column("precinct", BigInteger, primary_key=True, autoincrement=False),
    Column("region", String(64), nullable=False),
    Column("district", String(64), nullable=True),
    Column("station_key_id", String(16), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the signed file bytes
    Column("voters_on_list", BigInteger, nullable=False),
    Column("voters_checked_in", BigInteger, nullable=False),
    Column("cards_issued", BigInteger, nullable=False),
    Column("ballots_cast", BigInteger, nullable=False),
    Column("cards_cancelled", BigInteger, nullable=False),
    Column("cards_replaced", BigInteger, nullable=False),
    Column("cards_not_returned", BigInteger, nullable=False),
    Column("signed", LargeBinary, nullable=False),  # the exact signed file, for republication
    Index("ix_protocols_region", "region"),
    Index("ix_protocols_district", "district"),
)

contest_results = Table(
    "contest_results",
    metadata,
    Column("precinct", BigInteger, ForeignKey("protocols.precinct"), primary_key=True, autoincrement=False),
    Column("contest_id", String(64), primary_key=True),
    Column("against_all", BigInteger, nullable=False),
    Column("blank", BigInteger, nullable=False),
    Column("invalid", BigInteger, nullable=False),
    Column("ballots", BigInteger, nullable=False),  # ballots that carried the contest (= cast at the precinct)
)

option_votes = Table(
    "option_votes",
    metadata,
    Column("precinct", BigInteger, ForeignKey("protocols.precinct"), primary_key=True, autoincrement=False),
    Column("contest_id", String(64), primary_key=True),
    Column("option_id", String(64), primary_key=True),
    Column("votes", BigInteger, nullable=False),
)
