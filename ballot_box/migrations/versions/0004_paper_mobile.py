"""Paper ballots beside cards, the additional list and the mobile ballot box (issue 13).

* ``voters.ballot_form``: which form the voter received (none / card / paper /
  outside, models.BallotForm), a flag like ``checked_in``: no time, nothing that
  links to a ballot. Existing rows: a checked-in voter took a card (paper did not
  exist before this revision), everyone else none.
* ``voters.additional``: added to the list on election day (the additional list).
* ``paper_counts``: the paper-ballot counters per kind (paper.py).
* ``paper_receipts``: the signed acts of receipt of paper ballots.
* ``mobile_requests``: written requests to vote outside the station, one per
  voter (mobile.py); ``mobile_trips``: the mobile team's trips.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("voters") as batch:
        batch.add_column(sa.Column("ballot_form", sa.String(8), server_default="none", nullable=False))
        batch.add_column(sa.Column("additional", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute("UPDATE voters SET ballot_form = 'card' WHERE checked_in")
    with op.batch_alter_table("voters") as batch:
        batch.create_check_constraint(op.f("ck_voters_ballot_form"),
                                      "ballot_form IN ('none', 'card', 'paper', 'outside')")
        batch.create_check_constraint(op.f("ck_voters_form_matches_check_in"),
                                      "(checked_in AND ballot_form IN ('card', 'paper')) OR "
                                      "(NOT checked_in AND ballot_form IN ('none', 'outside'))")
        batch.create_check_constraint(op.f("ck_voters_card_needs_card_form"), "card = 'none' OR ballot_form = 'card'")
    op.create_table(
        "paper_counts",
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('received', 'issued_in_station', 'spoiled', 'mobile_taken', 'mobile_unused', "
                           "'mobile_spoiled', 'issued_outside')", name=op.f("ck_paper_counts_kind")),
        sa.CheckConstraint("count >= 0", name=op.f("ck_paper_counts_count")),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_paper_counts")),
    )
    op.create_table(
        "paper_receipts",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("from_whom", sa.String(200), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("count > 0", name=op.f("ck_paper_receipts_count")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_paper_receipts")),
    )
    op.create_table(
        "mobile_requests",
        sa.Column("voter_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(400), nullable=False),
        sa.Column("received_at", sa.String(40), nullable=False),
        sa.Column("received_by", sa.String(200), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("trip", sa.Integer(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'out', 'voted', 'not_voted', 'withdrawn')",
                           name=op.f("ck_mobile_requests_state")),
        sa.CheckConstraint("state NOT IN ('out', 'voted', 'not_voted') OR trip IS NOT NULL",
                           name=op.f("ck_mobile_requests_trip_needed")),
        sa.ForeignKeyConstraint(["voter_id"], ["voters.id"], name=op.f("fk_mobile_requests_voter_id_voters")),
        sa.PrimaryKeyConstraint("voter_id", name=op.f("pk_mobile_requests")),
    )
    op.create_table(
        "mobile_trips",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("members", sa.Text(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("unused", sa.Integer(), nullable=True),
        sa.Column("spoiled", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.CheckConstraint("state IN ('out', 'returned')", name=op.f("ck_mobile_trips_state")),
        sa.CheckConstraint("taken >= 0", name=op.f("ck_mobile_trips_taken")),
        sa.CheckConstraint("(state = 'out' AND unused IS NULL AND spoiled IS NULL) OR "
                           "(state = 'returned' AND unused >= 0 AND spoiled >= 0)",
                           name=op.f("ck_mobile_trips_return_counts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mobile_trips")),
    )


def downgrade() -> None:
    op.drop_table("mobile_trips")
    op.drop_table("mobile_requests")
    op.drop_table("paper_receipts")
    op.drop_table("paper_counts")
    with op.batch_alter_table("voters") as batch:
        batch.drop_constraint(op.f("ck_voters_card_needs_card_form"), type_="check")
        batch.drop_constraint(op.f("ck_voters_form_matches_check_in"), type_="check")
        batch.drop_constraint(op.f("ck_voters_ballot_form"), type_="check")
        batch.drop_column("additional")
        batch.drop_column("ballot_form")
