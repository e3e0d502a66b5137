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
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from sailau.election.protocol import PAPER_COUNTS

SCHEMA_VERSION = 5  # 2: cards_replaced, cards_not_returned (protocol format 2)
#                    3: every valid protocol version kept, conflict decisions, receipt commitments,
#                       the registry signed under the election's root (protocol format 3)
#                    4: signed hourly turnout reports, the upstream forwarding ledger (commission server)
#                    5: protocol format 4: voter counts, the paper protocol, ballots counted

metadata = MetaData()

schema_version = Table(
    "commission_schema",
    metadata,
    Column("version", Integer, primary_key=True),
)

#: The one election this database tabulates: its definition and signed station key
#: registry, as published (the fingerprint is SHA-256 of `definition`; the registry
#: is checked again under the definition's root whenever it is read back).
election = Table(
    "commission_election",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("definition", LargeBinary, nullable=False),
    Column("registry", LargeBinary, nullable=False),
)

#: Every validly signed protocol file ever imported, by precinct and SHA-256 of its
#: bytes: a precinct with two of them is in conflict (conflicts.py) until a decision.
protocol_versions = Table(
    "protocol_versions",
    metadata,
    Column("precinct", BigInteger, primary_key=True, autoincrement=False),
    Column("digest", String(64), primary_key=True),  # SHA-256 of the signed file bytes
    Column("station_key_id", String(16), nullable=False),
    Column("signed", LargeBinary, nullable=False),  # the exact signed file, for republication
)

#: The commission's signed conflict decisions (conflicts.py), exact canonical bytes.
conflict_decisions = Table(
    "conflict_decisions",
    metadata,
    Column("digest", String(64), primary_key=True),  # SHA-256 of the decision file
    Column("precinct", BigInteger, nullable=False),
    Column("signed", LargeBinary, nullable=False),
    Index("ix_conflict_decisions_precinct", "precinct"),
)

#: The protocol that counts, per precinct (`decide_precinct` said accepted or resolved),
#: with its counts for the GROUP BY sums; its bytes are in protocol_versions.
protocols = Table(
    "protocols",
    metadata,
    Column("precinct", BigInteger, primary_key=True, autoincrement=False),
    Column("region", String(64), nullable=False),
    Column("district", String(64), nullable=True),
    Column("station_key_id", String(16), nullable=False),
    Column("digest", String(64), nullable=False),  # SHA-256 of the signed file bytes (a protocol_versions row)
    Column("voters_on_list", BigInteger, nullable=False),
    Column("voters_checked_in", BigInteger, nullable=False),
    Column("cards_issued", BigInteger, nullable=False),
    Column("ballots_cast", BigInteger, nullable=False),
    Column("cards_cancelled", BigInteger, nullable=False),
    Column("cards_replaced", BigInteger, nullable=False),
    Column("cards_not_returned", BigInteger, nullable=False),
    Column("receipts_count", BigInteger, nullable=False),  # the receipt-list commitment it signs
    Column("receipts_root", String(64), nullable=False),
    # protocol format 4: the voter counts and the paper protocol (all 0 and has_paper false
    # when the precinct used no paper); ballots_counted = ballots_cast + paper found, "voters
    # who took part" (aggregate.took_part), kept as a column for the per-precinct SQL reads
    Column("voters_additional", BigInteger, nullable=False),
    Column("voters_paper", BigInteger, nullable=False),
    Column("voters_outside", BigInteger, nullable=False),
    Column("ballots_counted", BigInteger, nullable=False),
    Column("has_paper", Boolean, nullable=False),
    *(Column(f"paper_{name}", BigInteger, nullable=False) for name in PAPER_COUNTS),
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
    Column("ballots", BigInteger, nullable=False),  # ballots that carried the contest (= counted at the precinct)
    # the paper protocol's share of the combined counts above (0 without paper)
    Column("paper_against_all", BigInteger, nullable=False),
    Column("paper_blank", BigInteger, nullable=False),
    Column("paper_invalid", BigInteger, nullable=False),
)

option_votes = Table(
    "option_votes",
    metadata,
    Column("precinct", BigInteger, ForeignKey("protocols.precinct"), primary_key=True, autoincrement=False),
    Column("contest_id", String(64), primary_key=True),
    Column("option_id", String(64), primary_key=True),
    Column("votes", BigInteger, nullable=False),  # combined (card + paper)
    Column("paper_votes", BigInteger, nullable=False),  # of those, on paper (0 without paper)
)

#: Every validly signed hourly turnout report (election/turnout.py), by precinct, local
#: hour and SHA-256 of its bytes. One version of a (precinct, hour) counts; two different
#: ones are a conflict and neither counts (the rule of conflicts.decide_precinct).
turnout_versions = Table(
    "turnout_versions",
    metadata,
    Column("precinct", BigInteger, primary_key=True, autoincrement=False),
    Column("hour", String(32), primary_key=True),  # local ISO hour with offset, "2024-03-19T10:00+05:00"
    Column("digest", String(64), primary_key=True),  # SHA-256 of the signed file bytes
    Column("region", String(64), nullable=False),
    Column("station_key_id", String(16), nullable=False),
    Column("received_ballot", BigInteger, nullable=False),
    Column("voters_on_list", BigInteger, nullable=False),
    Column("signed", LargeBinary, nullable=False),
)

#: The upstream ledger of a commission server with `--upstream`: a signed file (a
#: protocol_versions or turnout_versions row, by digest) is in the outbox until a row
#: here records the upstream's definite answer. The versions tables are the outbox
#: itself, so a file accepted here is never lost by a crash before it is forwarded.
upstream_forwarded = Table(
    "upstream_forwarded",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # "protocol" | "turnout"
    Column("answer", String(32), nullable=False),  # the upstream's status: accepted, unchanged, conflict, refused
    Column("message", String(2000), nullable=False),
)
