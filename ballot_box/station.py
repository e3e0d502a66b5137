"""The ballot-box station service: one class the clerk app, the simulator and the tests all use.

`Station` ties the storage (store.py, pollbook.py, audit.py) to the ballot card
(sailau.smartcard) and the record formats (sailau.election.record). It decides
what an inserted card means from the card's own state (DESIGN.md §2):

    BLANK  -> issue it to the selected checked-in voter
    ISSUED -> offer to cancel it (the voter left without voting)
    VOTED  -> cast it: verify, record exactly once, clear

Ordering rules that make a crash harmless (a crash = the process dies at any
instruction, the card is pulled at any APDU):

* Issue: the token hash is committed as "issued" BEFORE the card is written. A
  token recorded but never written is an outstanding card: it counts in
  `cards_issued`, is never cast, and is reported at close as outstanding
  (issued - cast - cancelled). While the process lives, a failed ISSUE is
  reconciled at once: the same issue block (same token) is retried on that card
  when it comes back BLANK, or the token is cancelled if the clerk takes
  another card; an ISSUED card carrying a token this station cancelled is
  cleared by `cancel_card` ("already cancelled").
* Cast: everything is verified from the card's bytes without writing anything;
  then ONE database transaction marks the token used, stores the sealed ballot
  and chains the audit event; only then is the card CLEARED. A crash before the
  commit leaves the card VOTED and nothing stored: re-inserting casts it. A
  crash after the commit leaves the card VOTED with a used token: re-inserting
  finds "already counted" and only clears it. So every ballot is stored exactly
  once. The result says "counted" and nothing derived from the ballot: no receipt
  code (that is the booth's, shown to the voter only), so the table, its screen and
  its logs cannot tie a voter to a ballot (ballot_box/README.md, "Secrecy at the
  table"). A CLEAR the card refuses after the commit is reported as such
  (`ClearOutcome.REFUSED`): the ballot IS counted, the card goes in again to clear.
* Cancel: the token is cancelled in the database first, then the card cleared;
  re-inserting a card whose token is already cancelled just clears it.
* One card per voter, across restarts: the voter row is marked as holding a
  card (`models.VoterCard`, a flag: no time) with its card link (the token,
  encrypted under a key derived from the card master key, `cardlink`) in the
  same transaction that records the token hash; a voter who holds a card is
  refused another (`CardAlreadyIssued`, an ``issue_refused`` audit event).
* Replace (`replace_card`): a voter whose card was issued but not cast (spoilt,
  damaged or lost card; an ISSUE cut short by a crash) may get one more card.
  The old token is first killed in the database: with the old card in hand it
  is cancelled, then the card cleared; without it (`card_not_returned=True`)
  the token the voter's card link names is revoked, so if that card ever comes
  back it is refused by name (``card_revoked``) and kept, not cleared. A card
  whose ballot is already counted is never replaced. So a replacement can never
  add a ballot, there is no limit per voter (a second crash while issuing is
  replaced like the first), and "ballots cast <= voters checked in" holds by
  construction. Every replacement is counted (`cards_replaced`, of which
  `cards_not_returned`) and audited.

Rejected cards are never written to: the reason is returned (a stable code and
a plain message) and a ``card_rejected`` audit event is chained.

Storage failures (disk full, read-only, unreachable database) never escape as raw
database errors: each public operation raises `StorageFailed` naming the
operation, the `StorageProblem` and what was recorded (`Recorded`): nothing
(every write is one transaction, so a failed one left nothing), or, for a cast
whose COMMIT failed in a way the driver cannot vouch for, what the token now says
(counted, or unknown when even that read fails; re-inserting the card settles it,
once). The raw error goes to the operator log (oplog.py), never to the clerk.

The ballot box cannot decrypt during polling hours: it checks the record's
format and the enrolled terminal's signature (which covers the issue block and
the ciphertext, so a tampered ciphertext fails it). Decryption happens only at
close of polls (close.py) with k of n commission shares.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy.exc import SQLAlchemyError

from sailau.election import crypto
from sailau.election.definition import Election, ElectionLookupError
from sailau.election.record import (
    BadSignatureError,
    IssueBlock,
    RecordFormatError,
    SealedBallot,
    UnknownTerminalError,
    new_issue_block,
    verify_ballot_record,
)
from sailau.election.shares import Share
from sailau.election.styles import PrecinctBallot, card_mismatch
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError, CardRemovedError

from . import audit, oplog, pollbook, store
from .audit import AuditDraft, AuditKind
from .cardlink import CardLinkKey
from .db import StationDB, StorageProblem, StorageUnavailable, storage_problem
from .models import PollsState, TokenState
from .pollbook import Voter
from .refusal import Refusal, for_mismatch
from .store import (
    CancelOutcome,
    CastRecorded,
    ProtocolCounters,
    ReplaceOutcome,
    StationInfo,
    WrongPollsState,
)

if TYPE_CHECKING:
    from .close import ClosingResult

__all__ = [
    "ActionKind",
    "CancelResult",
    "CancelStatus",
    "CardAction",
    "CastResult",
    "CastStatus",
    "CardAlreadyIssued",
    "ClearOutcome",
    "IssueResult",
    "OldCardNeeded",
    "ReplaceReason",
    "ReplaceResult",
    "ReplacementRefused",
    "Reason",
    "Refusal",
    "Recorded",
    "Station",
    "StationError",
    "StationOperation",
    "StorageFailed",
    "StationMismatch",
    "StationStatus",
    "read_status",
    "TerminalKey",
    "ZeroReport",
    "ZeroReportFailed",
    "NoVoterSelected",
    "VoterNotWaiting",
    "CardNotBlank",
    "IssueFailed",
]


# --- errors ---------------------------------------------------------------------------


class StationError(Exception):
    """Base of the station service errors (clerk-facing: the message says what to do)."""


class StationMismatch(StationError):
    """The database is set up for another election, precinct or station key."""


class ZeroReportFailed(StationError):
    """Opening the polls found the box not empty or the audit chain broken."""


class NoVoterSelected(StationError):
    """A blank card was inserted but no checked-in voter is waiting for a card."""


class VoterNotWaiting(StationError):
    """The voter is not checked in, or already holds a card."""


class CardAlreadyIssued(VoterNotWaiting):
    """The voter already holds an issued card (recorded in the database, so also after a
    restart): a second card needs `Station.replace_card`."""


class OldCardNeeded(StationError):
    """A replacement without the old card must be asked for explicitly (`card_not_returned=True`)."""


class ReplacementRefused(StationError):
    """The replacement was refused; `reason` says why (a `Refusal`)."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class CardNotBlank(StationError):
    """ISSUE needs a BLANK card."""


class IssueFailed(StationError):
    """The card could not be issued (pulled or failed mid-ISSUE). The token is kept for
    this voter: re-insert the same card and issue again."""


class StationOperation(str, Enum):
    """What the station was doing when its storage failed (`StorageFailed.operation`)."""

    OPEN = "open_polls"
    ENROL = "enrol_terminal"
    SEARCH = "search"
    CHECK_IN = "check_in"
    SELECT = "select_voter"
    ISSUE = "issue"
    CAST = "cast"
    CANCEL = "cancel"
    REPLACE = "replace"
    READ = "read"  # counters, polls state, the card's state
    CLOSE = "close_polls"


class Recorded(str, Enum):
    """What a failed operation left recorded (`StorageFailed.recorded`)."""

    NOTHING = "nothing"  # the transaction did not commit: nothing changed; a card in the reader is as it was
    COUNTED = "counted"  # cast: the ballot is in the box, the card was not cleared
    UNKNOWN = "unknown"  # cast: the commit's fate cannot be read back now; the card is still VOTED


class StorageFailed(StationError):
    """The station's database failed (disk full, read-only, unreachable, ...). Names
    the operation, the problem and what was recorded; the raw error is in the
    operator log and in ``__cause__``, never in the message (no SQL, no IIN)."""

    def __init__(self, operation: StationOperation, problem: StorageProblem,
                 recorded: Recorded = Recorded.NOTHING) -> None:
        self.operation, self.problem, self.recorded = operation, problem, recorded
        super().__init__(f"{operation.value}: the station database failed ({problem.value}); recorded: {recorded.value}")


F = TypeVar("F", bound=Callable[..., Any])


def _storage(operation: StationOperation) -> Callable[[F], F]:
    """Turn a database failure inside a Station method into `StorageFailed(operation)`
    (recorded nothing: each write is one transaction), logging the raw error.
    A StationError raised inside (e.g. a narrower StorageFailed) passes unchanged."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def run(self: Station, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except StationError:
                raise
            except (SQLAlchemyError, StorageUnavailable) as exc:
                problem = storage_problem(exc)
                if problem is None:
                    raise
                oplog.failure(operation.value, exc)
                raise StorageFailed(operation, problem) from exc

        return run  # type: ignore[return-value]

    return decorate


# --- results --------------------------------------------------------------------------


Reason = Refusal  # compatibility name for ballot_box/app.py until the clerk's desk (issue 12) is merged


MESSAGES: dict[Refusal, str] = {
    Refusal.WRONG_ELECTION: "This card belongs to another election. It was not counted and not changed.",
    Refusal.WRONG_PRECINCT: "This card was issued for another polling station. It was not counted and not changed.",
    Refusal.UNKNOWN_TOKEN: "This card was not issued at this polling station. It was not counted and not changed.",
    Refusal.CARD_CANCELLED: "This card was cancelled here and cannot be cast. It was not counted and not changed.",
    Refusal.CARD_REVOKED: "Revoked: this card was replaced, so it cannot be used. It was not counted and not changed: "
                         "keep it for the commission, do not give it back.",
    Refusal.UNKNOWN_TERMINAL: "The ballot was written by a voting terminal that is not enrolled here. Not counted, card not changed.",
    Refusal.BAD_SIGNATURE: "The ballot on this card fails its terminal signature (altered or copied). Not counted, card not changed.",
    Refusal.MALFORMED_RECORD: "The data on this card is not a valid ballot. It was not counted and not changed.",
    Refusal.CARD_NOT_VOTED: "This card holds no ballot to cast.",
    Refusal.CARD_NOT_ISSUED: "Only an issued, unused card can be cancelled.",
    Refusal.CARD_REMOVED: "The card was removed while being read. Nothing was recorded: insert it again.",
    Refusal.ALREADY_COUNTED: "This card's ballot is already counted; it cannot be cancelled.",
}


#: why a replacement was refused, where the replacement needs other words than MESSAGES
REPLACE_MESSAGES: dict[Refusal, str] = {
    Refusal.NO_CARD_TO_REPLACE: "This voter holds no issued card to replace (none issued yet, or already replaced).",
    Refusal.NOT_CHECKED_IN: "This voter is not checked in.",
    Refusal.UNKNOWN_VOTER: "This voter is not on this precinct's list.",
    Refusal.ALREADY_COUNTED: "This voter's card is already counted (its ballot is in the box): no replacement.",
    Refusal.CARD_REVOKED: "Revoked: the card in the reader was replaced before. Keep it for the commission; "
                          "to replace this voter's current card, insert that card or confirm it is not "
                          "handed back.",
    Refusal.UNKNOWN_TOKEN: "The handed-back card was not issued at this polling station.",
    Refusal.NOT_THEIR_CARD: "The card in the reader is not the card this voter holds: nothing was changed.",
    Refusal.CARD_UNLINKED: "This voter's card was issued before this station was updated, so its token cannot be "
                           "revoked: the old card is needed to replace it.",
}


class CastStatus(str, Enum):
    """What a cast did. REJECTED is not a reason: the result's `reason` (a `Refusal`) is."""

    ACCEPTED = "accepted"  # stored now; then the card is cleared (see `clear`)
    ALREADY_COUNTED = "already_counted"  # stored earlier; card only cleared
    REJECTED = "rejected"  # nothing stored, card untouched


class ClearOutcome(str, Enum):
    """How the CLEAR after a cast, cancel or replacement went. It never changes what was
    recorded: the database step came first."""

    CLEARED = "cleared"  # the card is BLANK again
    REMOVED = "removed"  # pulled (or lost power) during CLEAR: insert it again to clear it
    REFUSED = "refused"  # the card answered CLEAR with an error: insert it again; if it keeps refusing, set it aside


@dataclass(frozen=True)
class CastResult:
    """What happened to a voted card. Carries nothing derived from the ballot (no
    receipt code): the table learns "counted", "already counted" or why not."""

    status: CastStatus
    message: str
    reason: Refusal | None = None
    clear: ClearOutcome | None = None  # None: not tried (REJECTED leaves the card untouched)

    @property
    def counted(self) -> bool:
        """The ballot is in the box (now or before)."""
        return self.status is not CastStatus.REJECTED

    @property
    def card_cleared(self) -> bool:
        return self.clear is ClearOutcome.CLEARED


CLEAR_FAILED: dict[ClearOutcome, str] = {
    ClearOutcome.REMOVED: " The card was removed before it was cleared: insert it again to clear it.",
    ClearOutcome.REFUSED: " The card could not be cleared: insert it again to clear it; if it keeps refusing, "
                          "set it aside.",
}

CAST_MESSAGES: dict[tuple[CastStatus, ClearOutcome], str] = {
    (status, clear): head + ("" if clear is ClearOutcome.CLEARED else CLEAR_FAILED[clear])
    for status, head in ((CastStatus.ACCEPTED, "Ballot counted."),
                         (CastStatus.ALREADY_COUNTED, "This ballot was already counted: nothing was added."))
    for clear in ClearOutcome
}

class CancelStatus(str, Enum):
    """What a cancel did. REJECTED is not a reason: the result's `reason` (a `Refusal`) is."""

    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already_cancelled"  # cancelled before (crash, or failed issue): card only cleared
    REJECTED = "rejected"  # card untouched


@dataclass(frozen=True)
class CancelResult:
    status: CancelStatus
    message: str
    reason: Refusal | None = None
    clear: ClearOutcome | None = None  # None: not tried (REJECTED)

    @property
    def card_cleared(self) -> bool:
        return self.clear is ClearOutcome.CLEARED


@dataclass(frozen=True)
class IssueResult:
    voter: Voter
    style: int
    serial: bytes
    reused_token: bool = False  # a retry after a failed ISSUE wrote the same token


class ReplaceReason(str, Enum):
    """Why a card is replaced (audit payload; the clerk picks one)."""

    DAMAGED = "damaged"  # torn, corrupted, unreadable, or otherwise spoilt before voting
    ISSUE_INTERRUPTED = "issue_interrupted"  # the station or the card failed while it was being issued
    LOST = "lost"  # the voter has no card to hand back
    ISSUE_FAILED = "issue_failed"  # (automatic) a failed ISSUE whose card the clerk did not retry


@dataclass(frozen=True)
class ReplaceResult:
    voter: Voter  # now waiting and selected: the next blank card is theirs
    reason: ReplaceReason
    card_returned: bool  # the old token was cancelled (False: it was revoked)
    clear: ClearOutcome | None = None  # the handed-back card's CLEAR (None: no card in hand)
    message: str = ""

    @property
    def card_cleared(self) -> bool:
        """The handed-back card is BLANK again (it can be the new card)."""
        return self.clear is ClearOutcome.CLEARED


class ActionKind(str, Enum):
    ISSUED = "issued"  # blank card issued to the selected voter (see `issue`)
    NEED_VOTER = "need_voter"  # blank card, nobody waiting: nothing written
    CAST = "cast"  # voted card handled (see `cast`: accepted, already counted or rejected)
    OFFER_CANCEL = "offer_cancel"  # issued card: ask the clerk, then call cancel_card
    REMOVED = "removed"  # pulled before its state was known (or while checked): nothing written or recorded


@dataclass(frozen=True)
class CardAction:
    kind: ActionKind
    state: CardState | None  # None only for REMOVED before SELECT answered
    serial: bytes  # b"" when unknown (REMOVED)
    issue: IssueResult | None = None
    cast: CastResult | None = None


@dataclass(frozen=True)
class TerminalKey:
    """A booth terminal's Ed25519 public key to enrol, with a label for people."""

    public_key: bytes
    label: str = ""

    @property
    def key_id(self) -> bytes:
        return crypto.key_id(self.public_key)


@dataclass(frozen=True)
class ZeroReport:
    """What the opening check found: an empty box, an intact audit chain."""

    election_id: str
    election_fingerprint: str
    precinct: int
    ballots_stored: int
    cards_issued: int
    voters_on_list: int
    terminals: tuple[str, ...]  # enrolled key ids (hex)
    audit_events: int
    audit_head: str
    opened_at: str


@dataclass
class _PendingIssue:
    """A failed ISSUE whose token is already recorded (see module doc)."""

    iin: str
    block: IssueBlock
    serial: bytes


FaultHook = Callable[[str], None]


def _no_fault(_point: str) -> None:
    return None


@dataclass
class _Session:
    """In-memory only: the queue of checked-in voters waiting for a card, in check-in
    order, and a failed ISSUE's token. Who holds a card is in the database (the voter
    row's card flag); after a restart the queue is empty and `select_voter`
    re-queues a checked-in voter who holds no card.
    """

    waiting: dict[str, Voter] = field(default_factory=dict)  # iin -> voter, in check-in order
    selected: str | None = None
    pending: _PendingIssue | None = None


# --- read-only status -----------------------------------------------------------------


@dataclass(frozen=True)
class StationStatus:
    """What a station database says about itself: binding, polls state, counters."""

    info: StationInfo
    counters: ProtocolCounters


def _fingerprint_problem(info: StationInfo, election: Election) -> str | None:
    if info.election_fingerprint == election.fingerprint:
        return None
    return (f"election fingerprint {info.election_fingerprint.hex()[:16]}... "
            f"is not this definition's {election.fingerprint_hex[:16]}...")


def read_status(db: StationDB, election: Election | None = None) -> StationStatus:
    """The polls state and live counters, read from the database alone.

    Needs no station key and no card master key: nothing is signed, written or
    migrated here (open the database with ``migrate_schema=False``). With
    `election`, the database must be bound to that definition, else
    StationMismatch; `store.StationNotSetUp` when no election is set up.
    """
    info = store.station_info(db)
    if election is not None:
        problem = _fingerprint_problem(info, election)
        if problem is not None:
            raise StationMismatch("this station database is set up for " + problem)
    return StationStatus(info, store.counters(db))


# --- the service ----------------------------------------------------------------------


class Station:
    """The registration-table station for one election and precinct.

    Construct with an open `StationDB`; the first construction on an empty
    database binds it to (election, precinct, station key); later ones must
    match, else StationMismatch. `card_master_key` may be None for ops tools
    that never touch a card (open, close). `fault_hook(point)` is called at
    named points of the cast, issue and replace paths (crash tests kill the
    process there).
    """

    def __init__(
        self,
        db: StationDB,
        election: Election,
        precinct: int,
        station_key: ed25519.Ed25519PrivateKey,
        card_master_key: bytes | None,
        *,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self.db = db
        self.election = election
        self.station_key = station_key
        self.card_master_key = None if card_master_key is None else bytes(card_master_key)
        self._links = None if card_master_key is None else CardLinkKey.from_master_key(self.card_master_key)
        self.fault_hook = fault_hook or _no_fault
        try:
            definition = election.precinct(precinct)
        except ElectionLookupError as exc:  # "precinct N is not in election X": says it all
            raise StationMismatch(str(exc)) from None
        self.precinct = definition.number
        self.style = definition.style
        self.plaintext_len = election.plaintext_length
        self.station_key_id = crypto.key_id(station_key.public_key())
        self.info = self._bind()
        self._session = _Session()
        self._terminals: dict[bytes, ed25519.Ed25519PublicKey] = {}

    @classmethod
    def attach(
        cls,
        db: StationDB,
        election: Election,
        station_key: ed25519.Ed25519PrivateKey,
        card_master_key: bytes | None,
        **kwargs: object,
    ) -> Station:
        """A Station over a database already set up (precinct read from it)."""
        info = store.station_info(db)
        return cls(db, election, info.precinct, station_key, card_master_key, **kwargs)  # type: ignore[arg-type]

    def _bind(self) -> StationInfo:
        try:
            info = store.station_info(self.db)
        except store.StationNotSetUp:
            return store.setup_station(self.db, self.election.fingerprint, self.precinct, self.station_key_id)
        problems = [p for p in (_fingerprint_problem(info, self.election),) if p is not None]
        if info.precinct != self.precinct:
            problems.append(f"precinct {info.precinct}, not {self.precinct}")
        if info.station_key_id != self.station_key_id:
            problems.append(f"station key {info.station_key_id.hex()}, not {self.station_key_id.hex()}")
        if problems:
            raise StationMismatch("this station database is set up for " + "; ".join(problems))
        return info

    # -- state and counters -------------------------------------------------------

    @property
    @_storage(StationOperation.READ)
    def polls_state(self) -> PollsState:
        return store.station_info(self.db).state

    @_storage(StationOperation.READ)
    def counters(self) -> ProtocolCounters:
        """Live counts for the clerk: on list, checked in, issued, cast, cancelled, outstanding."""
        return store.counters(self.db)

    @property
    def waiting(self) -> list[Voter]:
        """Checked-in voters still waiting for a card (this session), in check-in order."""
        return list(self._session.waiting.values())

    @property
    def selected_voter(self) -> Voter | None:
        s = self._session
        return None if s.selected is None else s.waiting.get(s.selected)

    # -- opening --------------------------------------------------------------------

    @_storage(StationOperation.ENROL)
    def enrol_terminal(self, terminal: TerminalKey) -> bytes:
        """Enrol one booth terminal key (setup or open polls); returns its key id."""
        key_id = terminal.key_id
        store.enrol_terminal(self.db, key_id, terminal.public_key, terminal.label or key_id.hex())
        self._terminals.pop(key_id, None)
        return key_id

    @_storage(StationOperation.OPEN)
    def open_polls(self, terminals: Iterable[TerminalKey | bytes]) -> ZeroReport:
        """Enrol the terminals, check the box is empty (zero report), open the polls."""
        for t in terminals:
            self.enrol_terminal(t if isinstance(t, TerminalKey) else TerminalKey(bytes(t)))
        state = self.polls_state
        if state is not PollsState.SETUP:
            raise WrongPollsState("open the polls", state, (PollsState.SETUP,))
        counts = store.counters(self.db)
        ballots = len(store.ballots(self.db))
        chain = audit.verify_db(self.db)
        enrolled = tuple(t.key_id.hex() for t in store.terminals(self.db))
        problems = []
        if ballots or counts.cast:
            problems.append(f"{ballots} ballot(s) already stored")
        if counts.issued:
            problems.append(f"{counts.issued} card(s) already issued")
        if counts.checked_in:
            problems.append(f"{counts.checked_in} voter(s) already checked in")
        if not chain.ok:
            problems.append(f"audit chain broken: {chain.problem}")
        if not enrolled:
            problems.append("no voting terminal enrolled")
        if problems:
            raise ZeroReportFailed("zero report failed, polls not opened: " + "; ".join(problems))
        payload = {"ballots_stored": 0, "cards_issued": 0, "voters_on_list": counts.on_list,
                   "terminals": list(enrolled)}
        event = store.open_polls(self.db, AuditDraft(AuditKind.POLLS_OPENED, payload))
        return ZeroReport(
            election_id=self.election.id, election_fingerprint=self.election.fingerprint_hex,
            precinct=self.precinct, ballots_stored=0, cards_issued=0, voters_on_list=counts.on_list,
            terminals=enrolled, audit_events=event.seq, audit_head=event.hash, opened_at=event.time,
        )

    # -- voters ---------------------------------------------------------------------

    @_storage(StationOperation.SEARCH)
    def search(self, query: str, *, limit: int = 50) -> list[Voter]:
        return pollbook.search(self.db, query, limit=limit)

    @_storage(StationOperation.CHECK_IN)
    def check_in(self, iin: str) -> Voter:
        """Check a voter in (pollbook rules) and queue them for a card; they become selected."""
        voter = pollbook.check_in(self.db, iin)
        self._session.waiting[voter.iin] = voter
        self._session.selected = voter.iin
        return voter

    @_storage(StationOperation.SELECT)
    def select_voter(self, iin: str) -> Voter:
        """Make a checked-in voter the one the next blank card is issued to.

        Also re-queues a voter checked in before a restart (the queue is not
        stored). Refused for a voter not checked in, and for one who holds a card
        (`CardAlreadyIssued`, audited; the database says so, also after a restart).
        """
        voter = pollbook.find_by_iin(self.db, iin)
        if voter is None:
            raise pollbook.VoterNotFound(f"IIN {iin} is not on this precinct's list")
        if not voter.checked_in:
            raise VoterNotWaiting(f"voter {voter.iin} is not checked in: check them in first")
        if voter.card.holds_card:
            self._session.waiting.pop(voter.iin, None)
            audit.record(self.db, AuditDraft(AuditKind.ISSUE_REFUSED, {"reason": Refusal.CARD_ALREADY_ISSUED.value}))
            raise CardAlreadyIssued(f"voter {voter.iin} already got a card: a second card only by replacing the first")
        self._session.waiting[voter.iin] = voter
        self._session.selected = voter.iin
        return voter

    # -- cards ----------------------------------------------------------------------

    @_storage(StationOperation.READ)
    def on_card(self, client: BallotCardClient) -> CardAction:
        """A card was inserted (transport connected): its state decides what happens.

        A card pulled while it is being looked at gives REMOVED (nothing written,
        nothing recorded), a voted card pulled while it is read gives CAST with a
        ``card_removed`` rejection (audited, as `cast_card`). Raises IssueFailed
        when a blank card is pulled mid-ISSUE (see `issue_card`).
        """
        try:
            client.select()
            status = client.status()
        except CardRemovedError:
            return CardAction(ActionKind.REMOVED, None, b"")
        if status.state is CardState.VOTED:
            return CardAction(ActionKind.CAST, status.state, status.serial, cast=self._cast(client))
        if status.state is CardState.ISSUED:
            pending = self._session.pending
            if pending is not None and pending.serial == status.serial:
                try:
                    data = client.read_data()
                except CardRemovedError:
                    return CardAction(ActionKind.REMOVED, status.state, status.serial)
                if data.issue_block == pending.block.pack():
                    # the failed ISSUE did land: the card is the voter's
                    return CardAction(ActionKind.ISSUED, status.state, status.serial,
                                      issue=self._issue_done(pending.iin, status.serial, reused=True))
            return CardAction(ActionKind.OFFER_CANCEL, status.state, status.serial)
        if self.selected_voter is None:
            return CardAction(ActionKind.NEED_VOTER, status.state, status.serial)
        return CardAction(ActionKind.ISSUED, status.state, status.serial,
                          issue=self._issue(client, self.selected_voter, status.serial))

    @_storage(StationOperation.ISSUE)
    def issue_card(self, client: BallotCardClient, voter: Voter | str | None = None) -> IssueResult:
        """ISSUE a blank card to `voter` (default: the selected voter); see the module doc."""
        client.select()
        status = client.status()
        if status.state is not CardState.BLANK:
            raise CardNotBlank(f"card {status.serial.hex()} is {status.state.name}, not BLANK: it cannot be issued")
        if voter is None:
            voter = self.selected_voter
            if voter is None:
                raise NoVoterSelected("no checked-in voter is waiting for a card: check a voter in first")
        iin = voter if isinstance(voter, str) else voter.iin
        return self._issue(client, self._waiting_voter(iin), status.serial)

    def _waiting_voter(self, iin: str) -> Voter:
        voter = self._session.waiting.get(iin)
        if voter is None:
            voter = self.select_voter(iin)
        return voter

    @_storage(StationOperation.ISSUE)
    def _issue(self, client: BallotCardClient, voter: Voter, serial: bytes) -> IssueResult:
        master = self._master_key()
        s = self._session
        pending = s.pending
        reused = False
        if pending is not None and pending.iin == voter.iin and pending.serial == serial:
            block, reused = pending.block, True  # the same card came back BLANK: same token
        else:
            if pending is not None:
                self._abandon_pending()
            block = new_issue_block(self.election.fingerprint, self.precinct, self.style)
            outcome = store.issue_to_voter(self.db, voter.iin, block.token_hash,
                                           AuditDraft(AuditKind.CARD_ISSUED, {"style": self.style}),
                                           links=self._card_links())
            if isinstance(outcome, Refusal):
                s.waiting.pop(voter.iin, None)
                if s.selected == voter.iin:
                    s.selected = next(iter(s.waiting), None)
                if outcome is Refusal.CARD_ALREADY_ISSUED:
                    raise CardAlreadyIssued(f"voter {voter.iin} already got a card: "
                                            "a second card only by replacing the first")
                raise VoterNotWaiting(f"voter {voter.iin} cannot get a card: {outcome.value}")
            s.pending = _PendingIssue(voter.iin, block, serial)
        self.fault_hook("issue:recorded")
        try:
            client.issue(block.pack(), master)
        except CardError as exc:
            raise IssueFailed(
                f"the card was not issued ({exc}). Insert the same card again to retry; "
                "with another card the first card's token is cancelled"
            ) from exc
        self.fault_hook("issue:written")
        return self._issue_done(voter.iin, serial, reused=reused)

    def _issue_done(self, iin: str, serial: bytes, *, reused: bool) -> IssueResult:
        s = self._session
        s.pending = None
        voter = s.waiting.pop(iin, None)
        if voter is None:  # pragma: no cover - pending always belongs to a waiting voter
            voter = pollbook.find_by_iin(self.db, iin)
        if s.selected == iin:
            s.selected = next(iter(s.waiting), None)
        return IssueResult(voter=voter, style=self.style, serial=serial, reused_token=reused)

    def _abandon_pending(self) -> None:
        """The clerk moved on from a failed ISSUE: its token is cancelled as a replacement
        with the token known (the voter was marked as holding that card; they may get
        another). Its card, if the ISSUE did land, is cleared when next inserted."""
        pending = self._session.pending
        assert pending is not None
        store.replace_card(self.db, pending.iin, ReplaceReason.ISSUE_FAILED.value,
                           old_token_hash=pending.block.token_hash, links=self._card_links())
        self._session.pending = None

    def cast_card(self, client: BallotCardClient) -> CastResult:
        """Read, verify, record exactly once, clear (see the module doc)."""
        try:
            client.select()
        except CardRemovedError:
            return self._reject(Refusal.CARD_REMOVED)
        return self._cast(client)

    @_storage(StationOperation.CAST)
    def _cast(self, client: BallotCardClient) -> CastResult:
        state = self.polls_state
        if state is not PollsState.OPEN:
            raise WrongPollsState("cast a ballot", state, (PollsState.OPEN,))
        self.fault_hook("cast:start")
        try:
            status = client.status()
            if status.state is not CardState.VOTED:
                return self._reject(Refusal.CARD_NOT_VOTED)
            data = client.read_data()
        except CardRemovedError:
            return self._reject(Refusal.CARD_REMOVED)
        self.fault_hook("cast:read")
        if data.issue_block is None or data.record is None:
            return self._reject(Refusal.MALFORMED_RECORD)
        try:
            block = IssueBlock.parse(data.issue_block)
        except RecordFormatError:
            return self._reject(Refusal.MALFORMED_RECORD)
        refusal = self._check_block(block)
        if refusal is not None:
            return self._reject(refusal)
        try:
            record = verify_ballot_record(block, data.record, self._terminal_keys(data.record), self.plaintext_len)
        except RecordFormatError:
            return self._reject(Refusal.MALFORMED_RECORD)
        except UnknownTerminalError:
            return self._reject(Refusal.UNKNOWN_TERMINAL)
        except BadSignatureError:
            return self._reject(Refusal.BAD_SIGNATURE)
        sealed = SealedBallot.from_record(block, record)
        self.fault_hook("cast:verified")
        try:
            outcome = store.cast_ballot(self.db, block.token_hash, block.style, sealed.pack())
        except SQLAlchemyError as exc:
            raise self._cast_not_recorded(exc, block.token_hash) from exc
        self.fault_hook("cast:committed")
        if isinstance(outcome, Refusal):  # UNKNOWN_TOKEN, CARD_CANCELLED, CARD_REVOKED (kept, not cleared)
            return self._rejected(outcome)  # store chained the audit event
        cleared = self._clear(client)
        self.fault_hook("cast:cleared")
        status_ = CastStatus.ACCEPTED if outcome is CastRecorded.ACCEPTED else CastStatus.ALREADY_COUNTED
        return CastResult(status_, CAST_MESSAGES[status_, cleared], clear=cleared)

    def _cast_not_recorded(self, exc: BaseException, token_hash: bytes) -> BaseException:
        """The cast transaction failed: what does the token say now? (A failed COMMIT
        is a rollback on SQLite; on a lost PostgreSQL connection it may have landed.)"""
        problem = storage_problem(exc)
        if problem is None:
            return exc
        oplog.failure(StationOperation.CAST.value, exc)
        try:
            state = store.token_state(self.db, token_hash)
        except SQLAlchemyError as again:
            oplog.failure("cast: reading the token back", again)
            return StorageFailed(StationOperation.CAST, problem, Recorded.UNKNOWN)
        recorded = Recorded.COUNTED if state is TokenState.USED else Recorded.NOTHING
        return StorageFailed(StationOperation.CAST, problem, recorded)

    @_storage(StationOperation.CANCEL)
    def cancel_card(self, client: BallotCardClient) -> CancelResult:
        """Cancel an ISSUED card (the voter left without voting): token cancelled, card cleared."""
        try:
            client.select()
            status = client.status()
            if status.state is not CardState.ISSUED:
                return self._reject_cancel(Refusal.CARD_NOT_ISSUED,
                                           f"The card is {status.state.name}: only an issued, unused card can be cancelled.")
            data = client.read_data()
        except CardRemovedError:
            return self._reject_cancel(Refusal.CARD_REMOVED)
        try:
            block = IssueBlock.parse(data.issue_block or b"")
        except RecordFormatError:
            return self._reject_cancel(Refusal.MALFORMED_RECORD)
        refusal = self._check_block(block)
        if refusal is not None:
            return self._reject_cancel(refusal)
        token_hash = block.token_hash
        pending = self._session.pending
        if pending is not None and pending.block.token == block.token:
            self._session.pending = None
        outcome = store.cancel_issued(self.db, token_hash)
        if isinstance(outcome, Refusal):  # UNKNOWN_TOKEN, ALREADY_COUNTED, CARD_REVOKED (kept, not cleared)
            return self._reject_cancel(outcome)
        cleared = self._clear(client)
        done = cleared is ClearOutcome.CLEARED
        if outcome is CancelOutcome.CANCELLED:
            status_ = CancelStatus.CANCELLED
            message = "Card cancelled and cleared." if done else "Card cancelled." + CLEAR_FAILED[cleared]
        else:
            status_ = CancelStatus.ALREADY_CANCELLED
            message = ("This card was already cancelled; it is now cleared." if done else
                       "This card was already cancelled." + CLEAR_FAILED[cleared])
        return CancelResult(status_, message, clear=cleared)

    @_storage(StationOperation.REPLACE)
    def replace_card(
        self,
        voter: Voter | str,
        reason: ReplaceReason | str,
        *,
        old_card: BallotCardClient | None = None,
        card_not_returned: bool = False,
    ) -> ReplaceResult:
        """Give a checked-in voter whose card was issued but not cast the right to one
        more card (see the module doc); the voter becomes the selected, waiting one.

        `old_card` (connected): the old card, handed back. It must be ISSUED with
        the token this voter's card carries, unused; the token is cancelled, then
        the card cleared (it may be the new card). Without it the clerk states the
        card is not returned (`card_not_returned=True`, else `OldCardNeeded`): the
        voter's token is revoked, so that card is refused if it comes back. If
        this process still knows the voter's failed ISSUE token, that token is
        cancelled instead. Raises `ReplacementRefused` (with a `reason` code) and
        audits every refusal; a card already counted is never replaced.
        """
        reason = ReplaceReason(reason)
        iin = voter if isinstance(voter, str) else voter.iin
        found = pollbook.find_by_iin(self.db, iin)
        if found is None:
            raise pollbook.VoterNotFound(f"IIN {iin} is not on this precinct's list")
        old_token: bytes | None = None
        pending = self._session.pending
        if old_card is not None:
            old_token = self._old_card_token(old_card)
        elif pending is not None and pending.iin == found.iin:
            old_token = pending.block.token_hash  # a failed ISSUE of this process: its token is known
        elif not card_not_returned:
            raise OldCardNeeded(
                "insert the old card to replace it; if it cannot be handed back, confirm that it is not "
                "returned (its token is then revoked: that card is refused if it comes back)")
        outcome = store.replace_card(self.db, found.iin, reason.value, old_token_hash=old_token,
                                     links=self._card_links())
        if isinstance(outcome, Refusal):
            raise ReplacementRefused(outcome, REPLACE_MESSAGES[outcome])
        self.fault_hook("replace:recorded")  # old token cancelled/revoked, handed-back card not yet cleared
        if pending is not None and (pending.iin == found.iin or pending.block.token_hash == old_token):
            self._session.pending = None
        cleared = self._clear(old_card) if old_card is not None else None
        voter_now = pollbook.find_by_iin(self.db, found.iin)
        assert voter_now is not None
        self._session.waiting[found.iin] = voter_now
        self._session.selected = found.iin
        returned = outcome is ReplaceOutcome.REPLACED
        if returned:
            message = "Old card cancelled" + (" and cleared" if cleared is ClearOutcome.CLEARED else "") + \
                ": the voter may get a new card." + ("" if cleared in (None, ClearOutcome.CLEARED) else CLEAR_FAILED[cleared])
        else:
            message = ("Card replaced without the old card: its token is revoked, so that card is refused if it "
                       "comes back. The voter may get a new card.")
        return ReplaceResult(voter_now, reason, card_returned=returned, clear=cleared, message=message)

    def _old_card_token(self, client: BallotCardClient) -> bytes:
        """The token hash of a handed-back ISSUED card of this election and precinct."""
        try:
            client.select()
            status = client.status()
            if status.state is not CardState.ISSUED:
                self._audit_rejection(Refusal.CARD_NOT_ISSUED, during="replace")
                hint = (" It holds a ballot: cast it." if status.state is CardState.VOTED else
                        " A blank card carries no token: replace without the old card." if status.state is CardState.BLANK
                        else "")
                raise ReplacementRefused(Refusal.CARD_NOT_ISSUED,
                                         f"The card is {status.state.name}: only an issued card can be handed back.{hint}")
            data = client.read_data()
        except CardRemovedError:
            self._audit_rejection(Refusal.CARD_REMOVED, during="replace")
            raise ReplacementRefused(Refusal.CARD_REMOVED, MESSAGES[Refusal.CARD_REMOVED]) from None
        try:
            block = IssueBlock.parse(data.issue_block or b"")
        except RecordFormatError:
            refusal: Refusal | None = Refusal.MALFORMED_RECORD
        else:
            refusal = self._check_block(block)
        if refusal is not None:
            self._audit_rejection(refusal, during="replace")
            raise ReplacementRefused(refusal, MESSAGES[refusal])
        return block.token_hash

    # -- close ------------------------------------------------------------------------

    @_storage(StationOperation.CLOSE)
    def close_polls(self, shares: Sequence[Share | str], out_dir: str | Path | None = None) -> ClosingResult:
        """Close the polls, decrypt and tally with k shares, sign the protocol, write outputs.

        See `sailau.ballot_box.close.close_polls`.
        """
        from .close import close_polls

        return close_polls(self, shares, out_dir)

    # -- helpers ----------------------------------------------------------------------

    def _master_key(self) -> bytes:
        if self.card_master_key is None:
            raise StationError("this station was opened without the card master key: it cannot write cards")
        return self.card_master_key

    def _card_links(self) -> CardLinkKey:
        if self._links is None:
            raise StationError("this station was opened without the card master key: it cannot issue or replace cards")
        return self._links

    @property
    def ballot(self) -> PrecinctBallot:
        """What this station's cards carry: election fingerprint, precinct, ballot style."""
        return PrecinctBallot(self.election.fingerprint, self.precinct, self.style)

    def _check_block(self, block: IssueBlock) -> Refusal | None:
        return for_mismatch(card_mismatch(self.ballot, block.fingerprint, block.precinct, block.style))

    def _terminal_keys(self, record_bytes: bytes) -> dict[bytes, ed25519.Ed25519PublicKey]:
        """Enrolled keys, cached; a key id not in the cache is looked up again (enrolled since)."""
        wanted = bytes(record_bytes[1:1 + crypto.KEY_ID_LEN])
        if wanted not in self._terminals:
            raw = store.terminal_key(self.db, wanted)
            if raw is not None:
                self._terminals[wanted] = crypto.verify_key_from_bytes(raw)
        return self._terminals

    def _clear(self, client: BallotCardClient) -> ClearOutcome:
        """CLEAR after the database step; its failure changes nothing recorded."""
        try:
            client.clear(self._master_key())
        except CardRemovedError:
            return ClearOutcome.REMOVED
        except CardError as exc:  # answered, but refused: the raw answer is for technicians
            oplog.failure("clear card", exc)
            return ClearOutcome.REFUSED
        return ClearOutcome.CLEARED

    def _audit_rejection(self, reason: Refusal, *, during: str | None = None) -> None:
        store.record_rejection(self.db, reason, None if during is None else {"during": during})

    def _reject(self, reason: Refusal) -> CastResult:
        self._audit_rejection(reason)
        return self._rejected(reason)

    @staticmethod
    def _rejected(reason: Refusal) -> CastResult:
        return CastResult(CastStatus.REJECTED, MESSAGES[reason], reason=reason)

    def _reject_cancel(self, reason: Refusal, message: str | None = None) -> CancelResult:
        self._audit_rejection(reason, during="cancel")
        return CancelResult(CancelStatus.REJECTED, message or MESSAGES[reason], reason=reason)

