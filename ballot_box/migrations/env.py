"""Alembic environment for the station database.

The station runs migrations programmatically (``db.migrate``) and hands us its
open connection in ``config.attributes["connection"]``; the transaction is the
caller's. For developers generating a revision by hand, a URL in
``sqlalchemy.url`` (``alembic -x`` style configs) works too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from sailau.ballot_box.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and no sqlalchemy.url set for the station migrations")
    engine = create_engine(url)
    with engine.begin() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("station migrations run online only (open_station_db)")
run_migrations()
