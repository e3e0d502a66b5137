"""The precinct commission's members at the station, and the hand count's entries.

* ``station_members``: the members (key id, role, name, public key) loaded at
  set-up from the precinct's members file (`sailau station init --members FILE`);
  public data only. Who may enter the hand count and co-sign on the station.
* ``hand_count_entries``: each member's entry of the paper ballots' hand count
  (canonical JSON, ballot_box/handcount.py), one per member key (a re-entry
  replaces it); no time.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "station_members",
        sa.Column("key_id", sa.LargeBinary(8), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(32), nullable=False),
        sa.CheckConstraint("role IN ('chair', 'deputy_chair', 'secretary', 'member')", name=op.f("ck_station_members_role")),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_station_members")),
    )
    op.create_table(
        "hand_count_entries",
        sa.Column("member_key_id", sa.LargeBinary(8), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("member_key_id", name=op.f("pk_hand_count_entries")),
    )


def downgrade() -> None:
    op.drop_table("hand_count_entries")
    op.drop_table("station_members")
