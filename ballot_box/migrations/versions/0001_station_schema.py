"""Station schema: pollbook, turnout, issued tokens, ballots, terminals, station state, audit chain.

Tokens and ballots are WITHOUT ROWID on SQLite (ordered by their random key,
not by insertion). No table has a timestamp column except the audit chain's
coarse event time; no column links a voter, a token and a ballot.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("election_fingerprint", sa.LargeBinary(32), nullable=False),
        sa.Column("precinct", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("station_key_id", sa.LargeBinary(8), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_station_state_singleton")),
        sa.CheckConstraint("state IN ('setup', 'open', 'closed')", name=op.f("ck_station_state_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_state")),
    )
    op.create_table(
        "voters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("iin", sa.String(12), nullable=False),
        sa.Column("surname", sa.String(200), nullable=False),
        sa.Column("given_name", sa.String(200), nullable=False),
        sa.Column("patronymic", sa.String(200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("checked_in", sa.Boolean(), nullable=False),
        sa.Column("surname_key", sa.String(200), nullable=False),
        sa.Column("given_name_key", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voters")),
        sa.UniqueConstraint("iin", name=op.f("uq_voters_iin")),
    )
    op.create_index(op.f("ix_voters_surname_key"), "voters", ["surname_key"], unique=False)
    op.create_table(
        "turnout",
        sa.Column("hour", sa.String(40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour", name=op.f("pk_turnout")),
    )
    op.create_table(
        "issued_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("state", sa.String(9), nullable=False),
        sa.CheckConstraint("state IN ('issued', 'used', 'cancelled')", name=op.f("ck_issued_tokens_state")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_issued_tokens")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "ballots",
        sa.Column("id", sa.LargeBinary(16), nullable=False),
        sa.Column("style_code", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ballots")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "terminals",
        sa.Column("key_id", sa.LargeBinary(8), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_terminals")),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_events")),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    # the empty chain: seq 0, all-zero hash (the first event's prev_hash)
    op.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '" + "0" * 64 + "')")


def downgrade() -> None:
    for table in ("audit_head", "audit_events", "terminals", "ballots", "issued_tokens", "turnout"):
        op.drop_table(table)
    op.drop_index(op.f("ix_voters_surname_key"), table_name="voters")
    op.drop_table("voters")
    op.drop_table("station_state")
