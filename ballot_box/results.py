"""What the station's protocol steps return and raise: result types, errors, clerk texts.

The steps (issue.py, cast.py, cancel.py, replace.py, close.py) and the `Station`
façade (station.py) share these; the clerk app and the simulator read them. Every
refusal is a `Refusal` (refusal.py); these types say what happened around it.

Expected card outcomes are returned (cast and cancel results carry CARD_REMOVED
and every other refusal); errors are for what the clerk must do differently
(no voter selected, voter not waiting, old card needed) and for failures
(`StorageFailed`: the station's database, with what was recorded).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from sailau.election import crypto

from . import oplog
from .db import StorageProblem, StorageUnavailable, storage_problem
from .pollbook import Voter
from .messages import text_of
from .refusal import CARD_REFUSALS, Refusal
from sailau.smartcard.apdu import CardState

if TYPE_CHECKING:
    from .handcount import HandCountState

__all__ = [
    "ActionKind",
    "CAST_MESSAGES",
    "CLEAR_FAILED",
    "CancelResult",
    "CancelStatus",
    "CardAction",
    "CardAlreadyIssued",
    "CardNotBlank",
    "CastResult",
    "CastStatus",
    "ClearOutcome",
    "HandCountRefused",
    "IssueFailed",
    "IssueResult",
    "MESSAGES",
    "NoVoterSelected",
    "OldCardNeeded",
    "REPLACE_MESSAGES",
    "Recorded",
    "ReplaceReason",
    "ReplaceResult",
    "ReplacementRefused",
    "StationError",
    "StationMismatch",
    "StationOperation",
    "StorageFailed",
    "TerminalKey",
    "VoterNotWaiting",
    "ZeroReport",
    "ZeroReportFailed",
    "storage_guard",
]


# --- errors ---------------------------------------------------------------------------


class StationError(Exception):
    """Base of the station service errors (clerk-facing: the message says what to do)."""


class StationMismatch(StationError):
    """The database is set up for another election, precinct or station key."""


class ZeroReportFailed(StationError):
    """Opening the polls found the box not empty or the audit chain broken."""


class HandCountRefused(StationError):
    """The count at close refused (issue 13, item 4): `reason` is NOT_A_MEMBER (a hand
    count entered by a key that is no station member), HAND_COUNT_MISSING (paper was used
    and fewer than two members entered the hand count) or HAND_COUNT_MISMATCH (their
    entries differ: `state.differences` names the lines). Nothing was signed or written."""

    def __init__(self, reason: Refusal, message: str, state: HandCountState | None = None) -> None:
        super().__init__(message)
        self.reason, self.state = reason, state


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
    PAPER = "paper"  # paper ballots: act of receipt, exchange, additional list
    MOBILE = "mobile"  # the mobile box: requests, the team's trips
    CLOSE = "close_polls"
    SETUP = "setup"  # loading the commission's members
    HAND_COUNT = "hand_count"  # a member's hand count entry


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


def storage_guard(operation: StationOperation) -> Callable[[F], F]:
    """Turn a database failure inside a Station method or protocol step (first argument: the Station) into `StorageFailed(operation)`
    (recorded nothing: each write is one transaction), logging the raw error.
    A StationError raised inside (e.g. a narrower StorageFailed) passes unchanged."""

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def run(self: Any, *args: Any, **kwargs: Any) -> Any:
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


#: The station's plain-English texts for logs and the command line, taken from the one
#: message catalogue (`messages.TEXTS`, whose message ids are the English texts) so
#: that the clerk's screen, the log and the CLI never word one outcome two ways.
MESSAGES: dict[Refusal, str] = {r: text_of(f"card.{r.value}") for r in CARD_REFUSALS}

#: why a replacement was refused (the catalogue's ``replace.<refusal>`` texts)
REPLACE_MESSAGES: dict[Refusal, str] = {
    r: text_of(f"replace.{r.value}")
    for r in (Refusal.NO_CARD_TO_REPLACE, Refusal.NOT_CHECKED_IN, Refusal.UNKNOWN_VOTER, Refusal.ALREADY_COUNTED,
              Refusal.CARD_REVOKED, Refusal.UNKNOWN_TOKEN, Refusal.NOT_THEIR_CARD, Refusal.CARD_UNLINKED)
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
    (status, clear): text_of(f"cast.{status.value}.{clear.value}")
    for status in (CastStatus.ACCEPTED, CastStatus.ALREADY_COUNTED) for clear in ClearOutcome
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
