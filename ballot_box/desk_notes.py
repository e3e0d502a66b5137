"""What the clerk reads: one mapping from what the station returned or raised to a
`messages.Note` (a catalogue code, its fields, a severity), never a rendered string.

`note_for_error` is the one table from what a station call raised to a note; the raw
error of anything unexpected goes to the operator log (oplog.py) with its traceback,
and the clerk reads what happened to the card or ballot and what to do. The other
`note_for_*` turn a step's result (issue, cast, cancel, replace, the hand count, a
file sent) into its note. Used by the desk (desk.py and its parts); imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sailau.election.shares import ShareError
from sailau.smartcard.errors import CardError, CardRemovedError, NoCardError

from . import oplog, pollbook, store, submit
from .close import ProtocolRefused, ShareRefusal, ShareRefused
from .handcount import HandCountState
from .iin import InvalidIIN
from .messages import TEXTS, Note
from .paper import EntryError
from .pollbook import Voter
from .refusal import Refused
from .results import (
    CancelResult,
    CancelStatus,
    CardAlreadyIssued,
    CardNotBlank,
    CastResult,
    CastStatus,
    ClearOutcome,
    HandCountRefused,
    IssueFailed,
    IssueResult,
    NoVoterSelected,
    OldCardNeeded,
    Recorded,
    ReplaceResult,
    ReplacementRefused,
    StationError,
    StorageFailed,
    VoterNotWaiting,
    ZeroReportFailed,
)
from .store import WrongPollsState

__all__ = [
    "note_for_cancel",
    "note_for_cast",
    "note_for_error",
    "note_for_hand_count",
    "note_for_issue",
    "note_for_refused_protocol",
    "note_for_replace",
    "note_for_share_refused",
    "note_for_storage",
    "note_for_submit",
    "voter_name",
]


def voter_name(voter: Voter) -> str:
    """Surname and given name, as the clerk's notes name a voter."""
    return " ".join(p for p in (voter.surname, voter.given_name) if p)


def note_for_storage(exc: StorageFailed) -> Note:
    """What a storage failure did (to the ballot, when a card was in play), what to do, and why."""
    code = f"storage.{exc.operation.value}.{exc.recorded.value}"
    severity = "warn" if exc.recorded is Recorded.COUNTED else "error"
    return Note(code if code in TEXTS else "storage.other", severity, cause=f"cause.{exc.problem.value}")


def _replace_refused(exc: ReplacementRefused) -> Note:
    code = f"replace.{getattr(exc.reason, 'value', exc.reason)}"
    if code in TEXTS:
        return Note(code, "error")
    return Note("replace.refused", "error", detail=str(exc))


#: what a station call raised -> the note; first match wins (subclasses before their bases)
_RAISED: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[Any], Note]], ...] = (
    (StorageFailed, note_for_storage),
    (pollbook.AlreadyCheckedIn, lambda e: Note("already_checked_in", "error")),
    (pollbook.VoterNotFound, lambda e: Note("voter_not_found", "error", detail=str(e))),
    (InvalidIIN, lambda e: Note("invalid_iin", "error", detail=str(e))),
    (CardAlreadyIssued, lambda e: Note("card_already_issued", "error")),
    (ReplacementRefused, _replace_refused),
    (OldCardNeeded, lambda e: Note("old_card_needed", "warn")),
    (VoterNotWaiting, lambda e: Note("voter_not_waiting", "error", detail=str(e))),
    (NoVoterSelected, lambda e: Note("no_voter_selected", "warn")),
    (CardNotBlank, lambda e: Note("card_not_blank", "warn", detail=str(e))),
    (IssueFailed, lambda e: Note("issue_failed", "error")),
    ((CardRemovedError, NoCardError), lambda e: Note("card_pulled", "error")),
    (WrongPollsState, lambda e: Note("wrong_polls_state", "error", {"state": e.state.value})),
    (ZeroReportFailed, lambda e: Note("zero_report_failed", "error", detail=str(e))),
    (HandCountRefused, lambda e: Note(f"hand_count.{e.reason.value}", "error",
                                      {"n": len(e.state.differences) if e.state is not None else 0})),
    (ProtocolRefused, lambda e: note_for_refused_protocol(e)),
    (store.SealingFailed, lambda e: Note("sealing_failed", "error", detail=str(e))),
    (ShareError, lambda e: Note("shares_do_not_rebuild", "error", detail=str(e))),
    (Refused, lambda e: Note(f"refused.{e.reason.value}", "error")),
    ((EntryError, pollbook.InvalidVoterEntry), lambda e: Note("invalid_entry", "error", detail=str(e))),
    (StationError, lambda e: Note("station_refused", "error", {"detail": str(e)})),
)


def note_for_error(exc: BaseException, *, card: bool = False, what: str = "clerk desk") -> Note:
    """A plain-words note for an error a station call raised. Our own services explain
    themselves (detail: their text); anything raw (a card's status word, an unexpected
    exception) goes to the operator log with its traceback and the clerk reads what
    happened and what to do. `card`: the error came from work with the card in the
    reader; `what`: the operation, for the log (never data)."""
    for kinds, note in _RAISED:
        if isinstance(exc, kinds):
            return note(exc)
    if isinstance(exc, CardError):
        oplog.failure(f"{what} (card)", exc)
        return Note("card_unreadable", "error")
    if isinstance(exc, OSError) and not card:  # the protocol files at close (the database is a StorageFailed)
        oplog.failure(what, exc)
        return Note("file_not_written", "error", {"reason": exc.strerror or type(exc).__name__})
    oplog.failure(what, exc)
    return Note("unexpected.card" if card else "unexpected", "error")


def note_for_issue(result: IssueResult) -> Note:
    return Note("issued", "ok", {"name": voter_name(result.voter)})


def note_for_cast(result: CastResult) -> Note:
    """"Counted" (now or before) and how the CLEAR went, or why the card was refused."""
    if result.status is CastStatus.REJECTED:
        assert result.reason is not None
        return Note(f"card.{result.reason.value}", "error")
    assert result.clear is not None
    severity = "ok" if result.status is CastStatus.ACCEPTED and result.card_cleared else "warn"
    return Note(f"cast.{result.status.value}.{result.clear.value}", severity)


def note_for_cancel(result: CancelResult) -> Note:
    if result.status is CancelStatus.REJECTED:
        assert result.reason is not None
        return Note(f"card.{result.reason.value}", "error")
    assert result.clear is not None
    if result.status is CancelStatus.CANCELLED:
        return Note(f"cancel.cancelled.{result.clear.value}", "ok" if result.card_cleared else "warn")
    refused = result.clear is ClearOutcome.REFUSED
    return Note("cancel.already_cancelled.refused" if refused else "cancel.already_cancelled.cleared", "warn")


def note_for_replace(result: ReplaceResult) -> Note:
    fields = {"name": voter_name(result.voter)}
    if not result.card_returned:
        return Note("replaced.not_returned", "warn", fields)
    if result.clear is ClearOutcome.REFUSED:
        return Note("replaced.returned_not_cleared", "warn", fields)
    return Note("replaced.returned", "ok", fields)


def note_for_hand_count(state: HandCountState) -> Note:
    """Where the double entry stands after an entry: agreed, the lines differ, or more entries needed."""
    if state.agreed is not None:
        return Note("hand_count.agreed", "ok", {"n": len(state.entries)})
    if state.differences:
        return Note("hand_count.hand_count_mismatch", "warn", {"n": len(state.differences)})
    return Note("hand_count.entered", "info", {"needed": state.needed})


def note_for_refused_protocol(exc: ProtocolRefused) -> Note:
    """Close refused to sign: relations that fail on the hand-entered figures (the members
    correct the count, every failing relation named), or an inconsistent read (close again)."""
    if exc.hand_entered:
        return Note("hand_count.relations", "error", {"names": ", ".join(v.name for v in exc.violations)})
    return Note("protocol_refused", "error", detail=str(exc))


#: submit.Outcome -> the severity of its note (the code is `send.<outcome>`)
_SENT_SEVERITY = {submit.Outcome.ACCEPTED: "ok", submit.Outcome.UNCHANGED: "ok", submit.Outcome.PENDING: "warn",
                  submit.Outcome.CONFLICT: "warn",
                  submit.Outcome.REFUSED: "error", submit.Outcome.UNREACHABLE: "warn"}


def note_for_submit(result: submit.SubmitResult) -> Note:
    """One file sent to the commission: its status by `submit.Outcome`, the refusal's name
    (the one `commission import` uses) as a field. The commission's own explanation of a
    refusal is shown as detail; why nobody answered (a raw connection error) is not: it
    goes to the operator log."""
    fields: dict[str, Any] = {"file": result.path.name}
    if result.outcome is submit.Outcome.REFUSED:
        fields["reason"] = result.reason or "refused"
        return Note("send.refused", "error", fields, detail=result.message)
    return Note(f"send.{result.outcome.value}", _SENT_SEVERITY[result.outcome], fields)


#: the share refusal -> its severity (a duplicate is a slip, the rest a wrong paper)
def note_for_share_refused(refused: ShareRefused, threshold: int | None) -> Note:
    severity = "warn" if refused.reason is ShareRefusal.DUPLICATE else "error"
    return Note(f"share.{refused.reason.value}", severity,
                {"index": refused.index, "k": refused.k or "–", "need": threshold if threshold is not None else "–"})
