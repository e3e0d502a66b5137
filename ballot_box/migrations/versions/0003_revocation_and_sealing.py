"""Revoked tokens, the voter's card link, and the storage-sealed flag.

* ``issued_tokens.state`` may be ``revoked``: a card replaced without being
  handed back (store.replace_card); if it comes back it is refused.
* ``voters.card_link``: the token of the card the voter holds, encrypted under
  a key derived from the station's card master key (see cardlink.py), so a
  replacement revokes exactly that token. ``voters.card`` is back to two values
  (none / issued): with revocation there is no "lost once" limit to remember.
  Existing rows: ``lost`` -> ``none`` (they may get a card), ``reissued`` ->
  ``issued``. A card issued before this revision has no link: replacing it
  needs the old card (store.ReplaceOutcome.UNLINKED), because its token
  cannot be named.
* ``station_state.storage_sealed``: set when sealing finished after the polls
  closed; close of polls signs nothing before it is set, and a resumed close
  seals again. A station closed before this revision counts as not sealed, so
  its next close run seals it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

CARD_LINK_LEN = 60  # cardlink.CARD_LINK_LEN, frozen here as migrations must be


def upgrade() -> None:
    op.execute("UPDATE voters SET card = 'none' WHERE card = 'lost'")
    op.execute("UPDATE voters SET card = 'issued' WHERE card = 'reissued'")
    with op.batch_alter_table("voters") as batch:
        batch.add_column(sa.Column("card_link", sa.LargeBinary(CARD_LINK_LEN), nullable=True))
        batch.drop_constraint(op.f("ck_voters_card"), type_="check")
        batch.create_check_constraint(op.f("ck_voters_card"), "card IN ('none', 'issued')")
        batch.create_check_constraint(op.f("ck_voters_link_needs_card"), "card = 'issued' OR card_link IS NULL")
    with op.batch_alter_table("issued_tokens", table_kwargs={"sqlite_with_rowid": False}) as batch:
        batch.drop_constraint(op.f("ck_issued_tokens_state"), type_="check")
        batch.create_check_constraint(op.f("ck_issued_tokens_state"),
                                      "state IN ('issued', 'used', 'cancelled', 'revoked')")
    with op.batch_alter_table("station_state") as batch:
        batch.add_column(sa.Column("storage_sealed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("station_state") as batch:
        batch.drop_column("storage_sealed")
    op.execute("UPDATE issued_tokens SET state = 'cancelled' WHERE state = 'revoked'")
    with op.batch_alter_table("issued_tokens", table_kwargs={"sqlite_with_rowid": False}) as batch:
        batch.drop_constraint(op.f("ck_issued_tokens_state"), type_="check")
        batch.create_check_constraint(op.f("ck_issued_tokens_state"), "state IN ('issued', 'used', 'cancelled')")
    with op.batch_alter_table("voters") as batch:
        batch.drop_constraint(op.f("ck_voters_link_needs_card"), type_="check")
        batch.drop_constraint(op.f("ck_voters_card"), type_="check")
        batch.create_check_constraint(op.f("ck_voters_card"), "card IN ('none', 'issued', 'lost', 'reissued')")
        batch.drop_column("card_link")
