"""Voter card state and card replacement counters.

``voters.card`` persists that a voter's card was issued (none / issued / lost /
reissued, see models.VoterCard), set in the transaction that records the token
hash, so the one-card rule survives a station restart. It is a flag like
``checked_in``: no token, no time. ``card_replacements`` counts replaced cards
per kind (returned: old token cancelled; not_returned: old token stays
outstanding) for the protocol's ``cards_replaced`` lines.

Existing rows: a database from 0001 has no record of which checked-in voter got
a card, so every checked-in voter is taken to hold one (the safe side: nobody
gets a second card without a replacement, which is counted and audited).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voters") as batch:
        batch.add_column(sa.Column("card", sa.String(8), server_default="none", nullable=False))
    op.execute("UPDATE voters SET card = 'issued' WHERE checked_in")
    with op.batch_alter_table("voters") as batch:
        batch.create_check_constraint(op.f("ck_voters_card"), "card IN ('none', 'issued', 'lost', 'reissued')")
        batch.create_check_constraint(op.f("ck_voters_card_needs_check_in"), "checked_in OR card = 'none'")
    op.create_table(
        "card_replacements",
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('returned', 'not_returned')", name=op.f("ck_card_replacements_kind")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_card_replacements")),
    )


def downgrade() -> None:
    op.drop_table("card_replacements")
    with op.batch_alter_table("voters") as batch:
        batch.drop_constraint("ck_voters_card_needs_check_in", type_="check")
        batch.drop_constraint("ck_voters_card", type_="check")
        batch.drop_column("card")
