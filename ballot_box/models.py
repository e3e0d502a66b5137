"""The station's tables (SQLAlchemy 2.x declarative).

What is *not* here matters as much as what is (DESIGN.md §2, §5): no check-in
time, no link from a voter to a token or from a token to a ballot, no timestamp
on tokens or ballots. Tokens and ballots are keyed by random bytes and, on
SQLite, stored WITHOUT ROWID so the B-tree is ordered by that random key and not
by insertion. The Alembic migrations in ``migrations/versions`` create exactly
these tables; a test compares the two.
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so migrations and maintenance (CLUSTER ... USING
# pk_ballots) can name them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PollsState(str, Enum):
    SETUP = "setup"
    OPEN = "open"
    CLOSED = "closed"


class VoterCard(str, Enum):
    """Where a voter stands with ballot cards (a flag like ``checked_in``: no token, no time).

    Set in the same transaction that records the issued token's hash, so a
    restarted station still gives a voter one card (DESIGN.md §2 step 1). A
    replacement (`store.replace_card`) lets the voter get one more card: with the
    old card handed back (its token cancelled) the voter returns to NONE, or from
    REISSUED to LOST; without it (the old token cannot be named, it stays
    outstanding) the voter goes ISSUED -> LOST, and a voter may be LOST only once.
    This is the "note against the voter's name" a paper list gets for a spoilt
    ballot: it says nothing about which card or when.
    """

    NONE = "none"  # no card (not checked in, or checked in and waiting)
    ISSUED = "issued"  # holds a card whose token was recorded
    LOST = "lost"  # a card was replaced without being handed back; may get one more card
    REISSUED = "reissued"  # holds the card given after a LOST one: no second replacement without the card

    @property
    def holds_card(self) -> bool:
        return self in (VoterCard.ISSUED, VoterCard.REISSUED)


class ReplacementKind(str, Enum):
    """The two replacement counters (see `store.replace_card`)."""

    RETURNED = "returned"  # the old card was handed back: its token cancelled
    NOT_RETURNED = "not_returned"  # the old token is unknown (crash, lost or unreadable card): stays outstanding


class TokenState(str, Enum):
    ISSUED = "issued"  # on a card that is out with a voter
    USED = "used"  # its ballot is in the box
    CANCELLED = "cancelled"  # the card was cleared unused


class StationStateRow(Base):
    """The single row describing this station's election and polls state."""

    __tablename__ = "station_state"
    __table_args__ = (
        CheckConstraint("id = 1", name="singleton"),
        CheckConstraint("state IN ('setup', 'open', 'closed')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    election_fingerprint: Mapped[bytes] = mapped_column(LargeBinary(32))
    precinct: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(8))
    station_key_id: Mapped[bytes] = mapped_column(LargeBinary(8))


class VoterRow(Base):
    """A pollbook entry. ``checked_in`` and ``card`` are flags only: no time, no token."""

    __tablename__ = "voters"
    __table_args__ = (
        CheckConstraint("card IN ('none', 'issued', 'lost', 'reissued')", name="card"),
        CheckConstraint("checked_in OR card = 'none'", name="card_needs_check_in"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), unique=True)
    surname: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str] = mapped_column(String(200))
    patronymic: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    checked_in: Mapped[bool] = mapped_column(Boolean, default=False)
    card: Mapped[str] = mapped_column(String(8), default=VoterCard.NONE.value, server_default=VoterCard.NONE.value)
    # casefolded copies for prefix search: SQLite's lower()/LIKE only fold ASCII
    surname_key: Mapped[str] = mapped_column(String(200), index=True)
    given_name_key: Mapped[str] = mapped_column(String(200))


class TurnoutRow(Base):
    """Check-ins per clock hour: the coarse turnout figure reported during the day."""

    __tablename__ = "turnout"

    hour: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class ReplacementRow(Base):
    """How many cards were replaced, per kind: counters only (no voter, no token, no time)."""

    __tablename__ = "card_replacements"
    __table_args__ = (CheckConstraint("kind IN ('returned', 'not_returned')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(12), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class IssuedTokenRow(Base):
    """SHA-256 of a card's token. No time, no voter: only whether it was used."""

    __tablename__ = "issued_tokens"
    __table_args__ = (
        CheckConstraint("state IN ('issued', 'used', 'cancelled')", name="state"),
        {"sqlite_with_rowid": False},
    )

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(9))


class BallotRow(Base):
    """A sealed ballot under a random id. No time, no token, no voter."""

    __tablename__ = "ballots"
    __table_args__ = ({"sqlite_with_rowid": False},)

    id: Mapped[bytes] = mapped_column(LargeBinary(16), primary_key=True)
    style_code: Mapped[int] = mapped_column(Integer)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class TerminalRow(Base):
    """A booth terminal's Ed25519 public key, enrolled when polls open."""

    __tablename__ = "terminals"

    key_id: Mapped[bytes] = mapped_column(LargeBinary(8), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str] = mapped_column(String(200))


class AuditEventRow(Base):
    """One link of the audit hash chain (see audit.py for the encoding)."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(40))
    time: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain's last seq and hash. Appenders lock this row, which serialises
    appends on PostgreSQL; it also lets a reader notice a truncated tail."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
