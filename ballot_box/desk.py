"""The clerk's desk at the registration table, as a headless object (no UI).

The ballot box's counterpart of `terminal/session.py::TerminalSession`: every rule
of the clerk's side lives here once, and the Textual app (app.py), the election-day
simulator and the tests all drive this one object:

- the reader: whether a card is in (`card_inserted` / `card_removed`, from the
  reader's events), whether the desk is working with it (do not remove it), and
  whether a BLANK card sits in it waiting for a voter;
- what each card means once read (`Station.on_card`'s `ActionKind`): ISSUED, a
  blank card nobody is waiting for (NEED_VOTER: it waits in the reader), a voted
  card cast, an issued card whose cancel is offered to the clerk, a card pulled
  before it was known;
- the auto-issue rule: a blank card waiting in the reader and a voter selected
  (checked in, picked from the queue, or just given the right to a replacement)
  means the card is issued at once; a card cleared by a cast, cancel or
  replacement is a blank card in the reader like any other;
- the cancel and replace flows' decisions (cancel only while the offered card is
  still in; replace with the old card only when one is in the reader);
- share entry at close of polls (each share checked as it is entered);
- sending the signed files to the commission (`send`, over `submit.py`): the file
  on disk stays the record, so a send that found nobody is simply done again later;
- what the clerk should read, as data: a `messages.Note` (a catalogue code, its
  fields and a severity), never a rendered string. `note_for_error` is the one
  mapping from what a station call raised to a note; the raw error of anything
  unexpected goes to the operator log (oplog.py) with its traceback.

Its parts: desk_state.py (the state under the desk's two locks, `view()`, what the
desk hands the UI: `DeskView`, `DeskStep`; threads are explained there),
desk_notes.py (outcomes -> notes), desk_paper.py (`PaperDesk`: paper ballots, the
additional list, the mobile box), desk_count.py (`CountDesk`: end of voting, the
hand count, co-signing). `ClerkDesk` is all of them; this module holds the card,
voter, opening, audit, share and sending operations, and is where the app, the
simulator and the tests import the desk's names from.

Expected card outcomes are results at this boundary: every method returns a
`DeskStep` and raises nothing a clerk can cause. Only a `BaseException` that is
not an `Exception` (the simulator's `StationCrash`, a KeyboardInterrupt) passes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sailau.election import crypto, shares
from sailau.election.shares import ShareError
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardRemovedError, NoCardError
from sailau.smartcard.transport import Transport

import httpx

from . import audit, oplog, submit
from .close import ShareRefused, check_share
from .desk_count import CountDesk
from .desk_notes import (
    note_for_cancel,
    note_for_cast,
    note_for_error,
    note_for_hand_count,
    note_for_issue,
    note_for_replace,
    note_for_share_refused,
    note_for_storage,
    note_for_submit,
    voter_name,
)
from .desk_paper import PaperDesk
from .desk_state import CardOpener, DeskStep, DeskView, EnteredShare, Reader, SentFile
from .messages import Note
from .models import BallotForm
from .pollbook import Voter
from .results import ActionKind, CardAction, IssueFailed, IssueResult, ReplaceReason, ReplaceResult
from .station import TerminalKey

__all__ = [
    "CardOpener",
    "ClerkDesk",
    "DeskStep",
    "DeskView",
    "EnteredShare",
    "SentFile",
    "Reader",
    "note_for_cancel",
    "note_for_cast",
    "note_for_error",
    "note_for_hand_count",
    "note_for_issue",
    "note_for_replace",
    "note_for_storage",
    "note_for_submit",
    "transport_opener",
]

T = TypeVar("T")


def transport_opener(transport: Transport) -> CardOpener:
    """Connect `transport` for one job and disconnect after it (the clerk app's reader)."""

    @contextmanager
    def open_card() -> Iterator[BallotCardClient]:
        client = BallotCardClient(transport)
        try:
            client.connect()
            yield client
        finally:
            transport.disconnect()

    return open_card


class ClerkDesk(PaperDesk, CountDesk):
    """The registration table over one `Station` and one reader slot (see the module doc);
    its state and `view()` are `DeskState`'s (desk_state.py)."""

    # -- the reader's events (any thread; no I/O) ----------------------------------------------

    def card_inserted(self) -> None:
        """A card went in. Call `read_card()` next (it ends the busy state this starts)."""
        with self._state:
            self._present = True
            self._blank_waiting = False
            self._busy += 1

    def card_removed(self) -> None:
        """The card left. A cancel offered for it is withdrawn: nothing was cancelled."""
        with self._state:
            self._present = False
            self._blank_waiting = False
            if self._cancel_offered:
                self._cancel_offered = False
                self._card_note = Note("cancel_withdrawn", "warn")

    # -- cards (blocking) ---------------------------------------------------------------------

    def _card_job(self, job: Callable[[BallotCardClient], T], what: str) -> tuple[T | None, Note | None]:
        """Run `job` on the card in the reader: (its value, None) or (None, the note for
        what it raised). A card pulled or lost mid-job is no longer a blank waiting."""
        with self._state:
            self._busy += 1
        try:
            with self._open_card() as client:
                return job(client), None
        except Exception as exc:  # every failure becomes a note, never a dead desk
            if isinstance(exc, (CardRemovedError, NoCardError, IssueFailed)):
                with self._state:
                    self._blank_waiting = False
            return None, note_for_error(exc, card=True, what=what)
        finally:
            with self._state:
                self._busy -= 1

    def read_card(self) -> DeskStep:
        """The card just inserted: its state decides what happens (`Station.on_card`)."""
        try:
            with self._work:
                action, failed = self._card_job(self.station.on_card, "read card")
                step = self._after_read(action) if action is not None else DeskStep(failed)
                if failed is not None:
                    self._set(card=failed)
                self._reload()
                return step
        finally:
            with self._state:
                self._busy -= 1

    def _after_read(self, action: CardAction) -> DeskStep:
        kind = action.kind
        if kind is ActionKind.ISSUED:
            assert action.issue is not None
            return DeskStep(self._issued(action.issue), action, issued=action.issue)
        if kind is ActionKind.REMOVED:
            note = Note("card_pulled", "error")
            self._set(card=note)
            return DeskStep(note, action)
        if kind is ActionKind.NEED_VOTER:
            note = Note("need_voter", "warn")
            with self._state:
                self._blank_waiting = self._present
                self._card_note = note
            return DeskStep(note, action)
        if kind is ActionKind.CAST:
            assert action.cast is not None
            note = note_for_cast(action.cast)
            self._set(card=note)
            issued = self._blank_in_reader() if action.cast.counted and action.cast.card_cleared else None
            return DeskStep(note if issued is None else note_for_issue(issued), action, issued=issued)
        note = Note("offer_cancel", "warn")
        with self._state:
            self._card_note = note
            self._cancel_offered = self._present
        return DeskStep(note, action)

    def _blank_in_reader(self) -> IssueResult | None:
        """The card in the reader was just cleared (cast, cancel, replace): it is a blank
        card now, exactly as if one were inserted. Issue it to the selected voter, or
        keep it for the next one checked in."""
        with self._state:
            if not self._present:
                return None
            self._blank_waiting = True
        if self.station.selected_voter is None:
            return None
        return self._issue_waiting_blank()

    def _issue_waiting_blank(self) -> IssueResult | None:
        """The auto-issue rule: a blank card waits in the reader and a voter is selected."""
        with self._state:
            if not (self._blank_waiting and self._present):
                return None
            self._blank_waiting = False
        result, failed = self._card_job(self.station.issue_card, "issue card")
        if result is None:
            self._set(card=failed)
        else:
            self._issued(result)
        return result

    def _issued(self, result: IssueResult) -> Note:
        """A card was issued: say so, and drop a desk note that still asks for a blank
        card for this voter ("Checked in: ... Insert a blank card.")."""
        note = note_for_issue(result)
        with self._state:
            self._card_note = note
            if self._desk_note is not None and self._desk_note.code in ("checked_in", "next_card_for"):
                self._desk_note = None
        return note

    def answer_offer(self) -> bool:
        """The clerk answered the cancel offer: it is closed (no I/O). True when the card is still in."""
        with self._state:
            self._cancel_offered = False
            return self._present

    def decline_cancel(self) -> DeskStep:
        """The clerk keeps the offered ISSUED card as it is (no I/O)."""
        with self._state:
            self._cancel_offered = False
            if not self._present:
                return DeskStep()
            self._card_note = Note("card_kept", "info")
            return DeskStep(self._card_note)

    def cancel_card(self) -> DeskStep:
        """The clerk confirmed: cancel the ISSUED card in the reader (token cancelled, card cleared)."""
        with self._state:
            self._cancel_offered = False
        with self._work:
            result, failed = self._card_job(self.station.cancel_card, "cancel card")
            if result is None:
                return self._finish(failed)
            return self._finish(note_for_cancel(result), cleared=result.card_cleared, cancelled=result)

    def _finish(self, note: Note | None, *, cleared: bool = False, **done: Any) -> DeskStep:
        """Show `note` as the card note; a card the step `cleared` is a blank card in the
        reader (issued at once to a selected voter); read the figures again."""
        self._set(card=note)
        issued = self._blank_in_reader() if cleared else None
        self._reload()
        return DeskStep(note if issued is None else note_for_issue(issued), issued=issued, **done)

    # -- replace a card ------------------------------------------------------------------------------

    def replace_in_reader(self, iin: str, reason: ReplaceReason = ReplaceReason.DAMAGED) -> DeskStep:
        """Replace `iin`'s card with the old card in the reader (its token is cancelled, the
        card cleared and, being blank in the reader, issued to the same voter)."""
        with self._state:
            if not self._present:
                self._card_note = Note("old_card_needed", "warn")
                return DeskStep(self._card_note)
            self._blank_waiting = False
        with self._work:
            result, failed = self._card_job(
                lambda client: self.station.replace_card(iin, reason, old_card=client), "replace card")
            return self._replaced(result, failed)

    def replace_not_returned(self, iin: str, reason: ReplaceReason) -> DeskStep:
        """Replace `iin`'s card that is not handed back (its token is revoked); the clerk
        has confirmed it. A blank card waiting in the reader is then theirs."""
        with self._work:
            try:
                result: ReplaceResult | None = self.station.replace_card(iin, reason, card_not_returned=True)
            except Exception as exc:
                return self._replaced(None, note_for_error(exc, card=True, what="replace card"))
            return self._replaced(result, None)

    def _replaced(self, result: ReplaceResult | None, failed: Note | None) -> DeskStep:
        if result is None:
            return self._finish(failed)
        with self._state:
            waiting = self._blank_waiting
        return self._finish(note_for_replace(result), cleared=result.card_cleared or waiting, replaced=result)

    # -- voters --------------------------------------------------------------------------------------

    def search(self, query: str) -> DeskStep:
        if not query.strip():
            note = Note("search_empty", "warn")
            self._set(desk=note)
            return DeskStep(note)
        with self._work:
            voters, failed = self._desk_call(lambda: self.station.search(query), "search")
            if voters is None:
                return DeskStep(failed)
            note = Note("found", "info", {"n": len(voters)}) if voters else Note("nobody_found", "warn")
            self._set(desk=note)
            return DeskStep(note, voters=tuple(voters))

    def check_in(self, iin: str, form: BallotForm = BallotForm.CARD) -> DeskStep:
        """Check a voter in for `form`. A card voter is selected, so a blank card waiting is
        issued to them; a paper voter is handed a paper ballot (no card)."""
        if BallotForm(form) is BallotForm.PAPER:
            return self._paper_step(lambda: self.station.check_in(iin, BallotForm.PAPER), "check in",
                                    lambda v: DeskStep(Note("checked_in_paper", "ok", {"name": voter_name(v)}), voter=v))
        return self._choose(lambda: self.station.check_in(iin), "checked_in", "check in")

    def select_voter(self, iin: str) -> DeskStep:
        """Make a checked-in voter the one the next blank card goes to (one waiting: issued now)."""
        return self._choose(lambda: self.station.select_voter(iin), "next_card_for", "select voter")

    def _choose(self, call: Callable[[], Voter], code: str, what: str) -> DeskStep:
        with self._work:
            voter, failed = self._desk_call(call, what)
            if voter is None:
                self._reload()
                return DeskStep(failed)
            note = Note(code, "ok", {"name": f"{voter.surname} {voter.given_name}"})
            self._set(desk=note)
            issued = self._issue_waiting_blank()
            self._reload()
            return DeskStep(note, voter=voter, issued=issued)

    # -- opening ---------------------------------------------------------------------------------------

    def add_terminal_key(self, path: str | Path) -> DeskStep:
        """Read a booth terminal's public key file to enrol when the polls open."""
        path = Path(path)
        try:
            key = crypto.load_verify_key(path)
        except crypto.KeyFileError as exc:
            return DeskStep(Note("terminal_key_unusable", "error", detail=str(exc)))
        self.terminal_keys.append(TerminalKey(crypto.ed25519_public_bytes(key), path.stem))
        return DeskStep(Note("terminal_key_added", "ok"))

    def open_polls(self) -> DeskStep:
        """Enrol the terminal keys, check the box is empty (zero report), open the polls."""
        with self._work:
            report, failed = self._call(lambda: self.station.open_polls(list(self.terminal_keys)), "open polls")
            self._reload()
            return DeskStep(failed or Note("polls_open", "ok"), report=report)

    # -- audit ----------------------------------------------------------------------------------------

    def read_audit(self) -> DeskStep:
        """The audit chain's events and whether the whole chain verifies."""
        db = self.station.db
        with self._work:
            value, failed = self._desk_call(lambda: (audit.read_events(db), audit.verify_db(db)), "read audit log")
            return DeskStep(failed, audit=value)

    # -- close of polls ---------------------------------------------------------------------------------

    def enter_share(self, *, path: str | Path | None = None, words: str | None = None) -> DeskStep:
        """Enter one share (a share file, or one member's typed words), checked against the
        election and the shares already entered (`close.check_share`): refused by name,
        or added."""
        try:
            if path is not None:
                source, entry = Path(path).name, shares.read_share_file(path)
            else:
                source, entry = "typed", " ".join((words or "").split())
                shares.parse_mnemonic(entry, "typed share")
        except (ShareError, OSError) as exc:
            code = "share_file_unusable" if path is not None else "share_words_invalid"
            return DeskStep(Note(code, "error", detail=str(exc)))
        with self._work:
            try:
                found = check_share(self.election, [s.entry for s in self._shares], entry)
            except ShareRefused as refused:
                return DeskStep(note_for_share_refused(refused, self._threshold))
            except ShareError as exc:
                return DeskStep(Note("share_words_invalid", "error", detail=str(exc)))
            added = EnteredShare(found.index, source, entry)
            with self._state:
                if self._threshold is None:
                    self._threshold = found.k
                self._shares.append(added)
            return DeskStep(Note("share_added", "ok", {"index": found.index}), share=added)

    def remove_share(self, row: int) -> DeskStep:
        """Remove the entered share at `row` (a member gave the wrong paper...)."""
        with self._state:
            if not 0 <= row < len(self._shares):
                return DeskStep(Note("share_highlight_first", "warn"))
            removed = self._shares.pop(row)
            if not self._shares:
                self._threshold = self._need  # a threshold learnt from the first share goes with it
        return DeskStep(Note("share_removed", "ok", {"index": removed.index}))

    def set_shares(self, entered: Sequence[EnteredShare]) -> None:
        """Replace the entered shares (already checked: a restored session, a test's set-up)."""
        with self._state:
            self._shares = list(entered)

    def close_polls(self) -> DeskStep:
        """Close the polls with the entered shares, count, sign and write the protocol."""
        with self._work:
            entries = [s.entry for s in self._shares]
            closing, failed = self._call(lambda: self.station.close_polls(entries, self.out_dir), "close polls")
            self._reload()
            return DeskStep(failed, closing=closing)

    # -- sending to the commission ----------------------------------------------------------------------

    #: the environment variable the commission's address is read from when none is given
    URL_ENV = "SAILAU_COMMISSION_URL"

    def signed_files(self) -> list[Path]:
        """The signed files this station has to send, from its protocol folder: the
        members' co-signatures beside the protocol (`protocol.<key id>.cosig`), the
        protocol (`protocol.json`, written at close) and any signed turnout reports put
        there as `turnout-HH.json` (`sailau station turnout --out`; the app itself writes
        none), in `submit.send_order` (co-signatures first). Only what exists; the kind
        of each is checked again by `submit`."""
        if self.out_dir is None:
            return []
        protocol = self.out_dir / "protocol.json"
        turnout = sorted(p for p in self.out_dir.glob("turnout-*.json") if p.is_file())
        return submit.send_order(([protocol] if protocol.is_file() else []) + turnout)

    def send(self, url: str | None = None) -> DeskStep:
        """Submit the signed files to the commission at `url` (else the desk's
        `commission_url`, else `$SAILAU_COMMISSION_URL`) with `submit.submit_file`'s
        retries: one `SentFile` per file, the step's note the worst of them. The files
        are only read, never changed, so sending again is always safe (the commission
        answers "unchanged"). Blocks up to the retries' waits; holds no desk lock, so
        the reader and the screens go on meanwhile."""
        url = url or self.commission_url or os.environ.get(self.URL_ENV) or None
        if url is None:
            return DeskStep(Note("send.no_address", "warn"))
        files = self.signed_files()
        if not any(p.name == "protocol.json" for p in files):
            return DeskStep(Note("send.nothing", "warn"))
        sent: list[SentFile] = []
        try:
            with httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
                for path in files:
                    result = submit.submit_file(client, url, path, attempts=self._send_attempts)
                    if result.outcome is submit.Outcome.UNREACHABLE:
                        oplog.log.warning("send %s to the commission: no answer (%s)", path.name, result.message)
                    sent.append(SentFile(path, result.outcome, note_for_submit(result)))
        except Exception as exc:  # a bad address (no scheme...), anything unexpected: logged, named plainly
            return DeskStep(note_for_error(exc, what="send to commission"), sent=tuple(sent))
        rank = ("ok", "info", "warn", "error")
        worst = max((s.note for s in sent), key=lambda n: rank.index(n.severity))
        return DeskStep(worst, sent=tuple(sent))
