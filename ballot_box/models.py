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
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .cardlink import CARD_LINK_LEN

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
    """Where a voter stands with ballot cards (a flag like ``checked_in``: no time).

    Set in the same transaction that records the issued token's hash, so a
    restarted station still gives a voter one card (DESIGN.md §2 step 1). While
    the voter holds a card, ``VoterRow.card_link`` names its token, encrypted under
    the station's key (`cardlink`), so a replacement can revoke exactly that
    token (`store.replace_card`); the replacement takes the voter back to NONE
    and clears the link. This is the "note against the voter's name" a paper list
    gets for a spoilt ballot.
    """

    NONE = "none"  # no card (not checked in, or checked in and waiting, or after a replacement)
    ISSUED = "issued"  # holds a card whose token was recorded

    @property
    def holds_card(self) -> bool:
        return self is VoterCard.ISSUED


class BallotForm(str, Enum):
    """Which ballot form a voter received (a flag like ``checked_in``: no time, nothing
    that links to a ballot). CARD and PAPER are set at check-in at the table (so a
    checked-in voter is exactly one of them); OUTSIDE is set when the mobile team
    comes back and marks the voter as having voted outside the station (never
    checked in). NONE: not yet."""

    NONE = "none"
    CARD = "card"
    PAPER = "paper"
    OUTSIDE = "outside"

    @property
    def voted(self) -> bool:
        """The voter received a ballot, in the station or outside it."""
        return self is not BallotForm.NONE


class PaperKind(str, Enum):
    """The paper-ballot counters (`paper_counts` rows; see paper.py for what each counts)."""

    RECEIVED = "received"  # sum of the signed acts of receipt
    ISSUED_IN_STATION = "issued_in_station"  # voters handed a paper ballot at the table
    SPOILED = "spoiled"  # spoiled ballots exchanged at the table
    MOBILE_TAKEN = "mobile_taken"  # ballots the mobile teams took out
    MOBILE_UNUSED = "mobile_unused"  # of those, brought back unused
    MOBILE_SPOILED = "mobile_spoiled"  # of those, brought back spoiled
    ISSUED_OUTSIDE = "issued_outside"  # of those, handed to voters outside (one per voter marked)


class MobileRequestState(str, Enum):
    """Where a written request to vote outside the station stands (mobile.py)."""

    PENDING = "pending"  # received, not yet with a team
    OUT = "out"  # on the list of a team that is out
    VOTED = "voted"  # the team came back and the voter voted outside
    NOT_VOTED = "not_voted"  # the team came back and the voter did not vote (may come in person)
    WITHDRAWN = "withdrawn"  # withdrawn before a team took it

    @property
    def open(self) -> bool:
        """Pending or out: the voter cannot check in at the table meanwhile."""
        return self in (MobileRequestState.PENDING, MobileRequestState.OUT)


class TripState(str, Enum):
    OUT = "out"
    RETURNED = "returned"


class ReplacementKind(str, Enum):
    """The two replacement counters (see `store.replace_card`)."""

    RETURNED = "returned"  # the old card was handed back: its token cancelled
    NOT_RETURNED = "not_returned"  # the old card was not handed back (crash, lost card): its token revoked


class TokenState(str, Enum):
    ISSUED = "issued"  # on a card that is out with a voter
    USED = "used"  # its ballot is in the box
    CANCELLED = "cancelled"  # the card was handed back unused (cleared, or to be cleared)
    REVOKED = "revoked"  # the card was replaced without being handed back: if it comes back it is refused


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
    # set once store.seal_storage finished after the polls closed; close.py signs nothing before
    storage_sealed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())


class VoterRow(Base):
    """A pollbook entry. ``checked_in`` and ``card`` are flags: no time. ``card_link`` is
    the token of the card the voter holds, encrypted under the station's key (see
    `cardlink`); NULL when the voter holds no card, and for every voter once the
    storage is sealed at close."""

    __tablename__ = "voters"
    __table_args__ = (
        CheckConstraint("card IN ('none', 'issued')", name="card"),
        CheckConstraint("checked_in OR card = 'none'", name="card_needs_check_in"),
        CheckConstraint("card = 'issued' OR card_link IS NULL", name="link_needs_card"),
        CheckConstraint("ballot_form IN ('none', 'card', 'paper', 'outside')", name="ballot_form"),
        CheckConstraint("(checked_in AND ballot_form IN ('card', 'paper')) OR "
                        "(NOT checked_in AND ballot_form IN ('none', 'outside'))", name="form_matches_check_in"),
        CheckConstraint("card = 'none' OR ballot_form = 'card'", name="card_needs_card_form"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    iin: Mapped[str] = mapped_column(String(12), unique=True)
    surname: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str] = mapped_column(String(200))
    patronymic: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    checked_in: Mapped[bool] = mapped_column(Boolean, default=False)
    card: Mapped[str] = mapped_column(String(8), default=VoterCard.NONE.value, server_default=VoterCard.NONE.value)
    card_link: Mapped[bytes | None] = mapped_column(LargeBinary(CARD_LINK_LEN), nullable=True)
    # which form the voter received (BallotForm), and whether they were added on election day
    ballot_form: Mapped[str] = mapped_column(String(8), default=BallotForm.NONE.value,
                                             server_default=BallotForm.NONE.value)
    additional: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
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


class PaperCountRow(Base):
    """The paper-ballot counters, per kind (`PaperKind`): counts only, no voter, no time."""

    __tablename__ = "paper_counts"
    __table_args__ = (
        CheckConstraint("kind IN ('received', 'issued_in_station', 'spoiled', 'mobile_taken', 'mobile_unused', "
                        "'mobile_spoiled', 'issued_outside')", name="kind"),
        CheckConstraint("count >= 0", name="count"),
    )

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class PaperReceiptRow(Base):
    """One signed act of receipt of paper ballots (paper.py): who handed over how many,
    to whom, when (local time with offset), and the act as signed by the station key."""

    __tablename__ = "paper_receipts"
    __table_args__ = (CheckConstraint("count > 0", name="count"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(Integer)
    from_whom: Mapped[str] = mapped_column(String(200))
    received_by: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[str] = mapped_column(String(40))
    signed: Mapped[bytes] = mapped_column(LargeBinary)


class MobileRequestRow(Base):
    """A written request to vote outside the station (mobile.py): the voter, the reason,
    when it was received (local time with offset) and by whom, where it stands, and the
    trip that carries it. A request names a voter, never a ballot."""

    __tablename__ = "mobile_requests"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'out', 'voted', 'not_voted', 'withdrawn')", name="state"),
        CheckConstraint("state NOT IN ('out', 'voted', 'not_voted') OR trip IS NOT NULL", name="trip_needed"),
    )

    voter_id: Mapped[int] = mapped_column(ForeignKey("voters.id"), primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(400))
    received_at: Mapped[str] = mapped_column(String(40))
    received_by: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10))
    trip: Mapped[int | None] = mapped_column(Integer, nullable=True)


class MobileTripRow(Base):
    """One trip of the mobile team: its members (canonical JSON list of names), the
    ballots it took, and on return the unused and spoiled ballots it brought back."""

    __tablename__ = "mobile_trips"
    __table_args__ = (
        CheckConstraint("state IN ('out', 'returned')", name="state"),
        CheckConstraint("taken >= 0", name="taken"),
        CheckConstraint("(state = 'out' AND unused IS NULL AND spoiled IS NULL) OR "
                        "(state = 'returned' AND unused >= 0 AND spoiled >= 0)", name="return_counts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    members: Mapped[str] = mapped_column(Text)
    # "taken", not "ballots_taken": no column but the token table's names a ballot or token
    taken: Mapped[int] = mapped_column(Integer)
    unused: Mapped[int | None] = mapped_column(Integer, nullable=True)
    spoiled: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(8))


class IssuedTokenRow(Base):
    """SHA-256 of a card's token. No time, no voter: only what became of the card."""

    __tablename__ = "issued_tokens"
    __table_args__ = (
        CheckConstraint("state IN ('issued', 'used', 'cancelled', 'revoked')", name="state"),
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


# --- the commission at the station and the hand count (issue 13; migration 0005) ------------------


class StationMemberRow(Base):
    """One member of the precinct commission, loaded at set-up from the members file
    (`sailau station init --members FILE`, `Station.load_members`): public data only."""

    __tablename__ = "station_members"
    __table_args__ = (CheckConstraint("role IN ('chair', 'deputy_chair', 'secretary', 'member')", name="role"),)

    key_id: Mapped[bytes] = mapped_column(LargeBinary(8), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))


class HandCountEntryRow(Base):
    """A member's entry of the paper ballots' hand count (handcount.py's canonical JSON):
    one per member, a re-entry replaces it. No time: only who entered what. The key id is
    a station member's (checked when entered; loading another list clears the entries);
    no foreign key, so the schema keeps its one reference (a request names its voter)."""

    __tablename__ = "hand_count_entries"

    member_key_id: Mapped[bytes] = mapped_column(LargeBinary(8), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
