"""The clerk's desk's state (desk.py's `ClerkDesk`) and what it hands the UI.

Threads. Every method that talks to the station or the card blocks (card I/O at
9600 bit/s, database commits): the app runs them in worker threads, the simulator
calls them directly. `_work` (re-entrant) serialises them: the station's in-memory
queue of waiting voters is not shared between threads otherwise. The reader
events and `view()` never wait for it: they take only `_state`, a short lock over
the flags, so the UI thread never blocks behind a card. Storage figures
(counters, the waiting queue, the polls state, the paper and mobile figures, the
count's) are read after each operation, under `_work`, and kept: `view()` returns
them without touching storage.

`DeskState` holds that state, `view()` over it, and the helpers every operation
shares (`_set`, `_reload`, `_call`, `_desk_call`); the operations are in desk.py
(`ClerkDesk`), desk_paper.py (`PaperDesk`) and desk_count.py (`CountDesk`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TypeVar

from sailau.election.cosign import CosignCheck
from sailau.election.members import Member
from sailau.election.shares import Share
from sailau.smartcard.client import BallotCardClient

from . import audit, submit
from .close import ClosingResult
from .desk_notes import note_for_error, note_for_storage
from .handcount import HandCountState
from .messages import Note
from .mobile import MobileRequest, MobileTrip
from .models import PollsState
from .paper import PaperLedger
from .pollbook import Voter
from .results import CancelResult, CardAction, IssueResult, ReplaceResult, StorageFailed
from .station import Station, TerminalKey, ZeroReport
from .store import ProtocolCounters

__all__ = ["CardOpener", "DeskState", "DeskStep", "DeskView", "EnteredShare", "Reader", "SentFile"]

T = TypeVar("T")

#: Opens the card in the reader: a context manager giving a connected client.
CardOpener = Callable[[], AbstractContextManager[BallotCardClient]]


class Reader(str, Enum):
    """The reader line the clerk sees."""

    EMPTY = "empty"
    PRESENT = "present"
    BUSY = "busy"  # the desk is working with the card: do not remove it


@dataclass(frozen=True)
class EnteredShare:
    """One share entered at close: the member's number, where it came from (a file
    name, or "typed"), and the share (a share file's `Share` or the typed words,
    which are never shown)."""

    index: int
    source: str
    entry: Share | str = field(repr=False)


@dataclass(frozen=True)
class DeskView:
    """Everything the desk screen draws, as of the last operation (no storage read)."""

    reader: Reader
    card_present: bool
    card_busy: int
    blank_card_waiting: bool
    cancel_offered: bool  # an ISSUED card is in: the clerk is asked whether to cancel it
    card_note: Note | None
    desk_note: Note | None
    counters: ProtocolCounters | None  # None: the database cannot be read now
    waiting: tuple[Voter, ...]
    selected: str | None  # IIN of the voter the next blank card goes to
    polls: PollsState | None  # None: unknown (the database failed)
    shares: tuple[EnteredShare, ...]
    threshold: int | None  # shares needed (None: learnt from the first share)
    paper: PaperLedger | None = None  # the paper figures (None: the database cannot be read now)
    mobile: tuple[MobileRequest, ...] = ()  # the written requests to vote outside, in list order
    trips: tuple[MobileTrip, ...] = ()  # the mobile team's trips, in order
    # the count at close (issue 13): the commission, the hand count's double entry, the co-signatures
    members: tuple[Member, ...] = ()  # the precinct commission loaded at set-up, in role order
    hand_count: HandCountState | None = None  # None: the storage could not be read
    cosignatures: CosignCheck | None = None  # None: no signed protocol in the out folder yet


@dataclass(frozen=True)
class DeskStep:
    """What one desk operation did. `note` is what the clerk reads about it (also kept
    as the desk's card or desk note where it belongs); the other fields are set by
    the operations that produce them."""

    note: Note | None = None
    action: CardAction | None = None  # read_card: what the station made of the card (None: it raised, see note)
    voter: Voter | None = None  # check_in, select_voter
    voters: tuple[Voter, ...] = ()  # search
    issued: IssueResult | None = None  # a card issued by this step (read, or the auto-issue after it)
    cancelled: CancelResult | None = None
    replaced: ReplaceResult | None = None
    report: ZeroReport | None = None  # open_polls
    closing: ClosingResult | None = None  # close_polls
    audit: tuple[list[audit.AuditEvent], audit.ChainReport] | None = None  # read_audit
    share: EnteredShare | None = None  # enter_share: the share added
    sent: tuple[SentFile, ...] = ()  # send: one status per signed file, in the order sent
    hand_count: HandCountState | None = None  # enter_hand_count: the double entry after this entry
    cosignature: Path | None = None  # cosign: the co-signature file written
    paper: PaperLedger | None = None  # exchange_paper, receive_paper: the figures after the step
    receipt: Path | None = None  # receive_paper: the signed act's file (None: no out dir)
    request: MobileRequest | None = None  # request_mobile, withdraw_mobile
    trip: MobileTrip | None = None  # send_mobile_team, return_mobile_team


@dataclass(frozen=True)
class SentFile:
    """One signed file `send` offered the commission: its outcome and what the clerk reads."""

    path: Path
    outcome: submit.Outcome
    note: Note


class DeskState:
    """The desk's state and the helpers every operation shares; `ClerkDesk` (desk.py) is
    this with its operations (`PaperDesk`, `CountDesk` and its own: cards, voters,
    opening, audit, shares, sending)."""

    def __init__(self, station: Station, open_card: CardOpener, *, terminal_keys: Iterable[TerminalKey] = (),
                 out_dir: str | Path | None = None, commission_url: str | None = None,
                 send_attempts: int = 5) -> None:
        self.station = station
        #: where `send` submits (None: not set; the clerk is told so)
        self.commission_url = commission_url or None
        self._send_attempts = send_attempts
        self.election = station.election
        self.precinct = station.precinct
        self.terminal_keys: list[TerminalKey] = list(terminal_keys)
        self.out_dir = None if out_dir is None else Path(out_dir)
        self._open_card = open_card
        self._work = threading.RLock()
        self._state = threading.Lock()
        # reader flags and notes (under _state)
        self._present = False
        self._busy = 0
        self._blank_waiting = False
        self._cancel_offered = False
        self._card_note: Note | None = None
        self._desk_note: Note | None = None
        # storage figures as of the last operation (written under _work, read under _state)
        self._counters: ProtocolCounters | None = None
        self._waiting: tuple[Voter, ...] = ()
        self._selected: str | None = None
        self._polls: PollsState | None = None
        self._paper: PaperLedger | None = None
        self._mobile: tuple[MobileRequest, ...] = ()
        self._trips: tuple[MobileTrip, ...] = ()
        # share entry at close
        ceremony = station.election.key_ceremony
        self._need: int | None = None if ceremony is None else ceremony.threshold
        self._threshold = self._need
        self._shares: list[EnteredShare] = []
        # the count at close (under _state; read by _reload_count)
        self._members: tuple[Member, ...] = ()
        self._hand_count: HandCountState | None = None
        self._cosignatures: CosignCheck | None = None

    # -- what the UI draws ------------------------------------------------------------------

    def view(self) -> DeskView:
        """A snapshot of the desk (cheap: no storage, no card; safe from any thread)."""
        with self._state:
            reader = Reader.BUSY if self._busy else Reader.PRESENT if self._present else Reader.EMPTY
            return DeskView(reader, self._present, self._busy, self._blank_waiting, self._cancel_offered,
                            self._card_note, self._desk_note, self._counters, self._waiting, self._selected,
                            self._polls, tuple(self._shares), self._threshold, self._paper, self._mobile,
                            self._trips, members=self._members, hand_count=self._hand_count,
                            cosignatures=self._cosignatures)

    def refresh(self) -> DeskView:
        """Read the storage figures again (blocking) and return the view. At start (the
        app's first refresh) closed polls are said: F4 counts again."""
        with self._work:
            self._reload()
            with self._state:
                if self._polls is PollsState.CLOSED and self._desk_note is None:
                    self._desk_note = Note("polls_closed", "warn")
        return self.view()

    def note(self, note: Note | None) -> None:
        """Set the desk note (a hint the screen asked for: "find the voter first")."""
        with self._state:
            self._desk_note = note

    def _set(self, *, card: Note | None = None, desk: Note | None = None) -> None:
        with self._state:
            if card is not None:
                self._card_note = card
            if desk is not None:
                self._desk_note = desk

    def _reload(self) -> None:
        """Counters, queue, selection and polls state, read under `_work` after each operation
        (`CountDesk._reload` reads the count's figures after these)."""
        station = self.station
        paper: PaperLedger | None = None
        requests: tuple[MobileRequest, ...] = ()
        trips: tuple[MobileTrip, ...] = ()
        try:
            counters: ProtocolCounters | None = station.counters()
            polls: PollsState | None = station.polls_state
            paper = station.paper_ledger()
            requests, trips = tuple(station.mobile_requests()), tuple(station.mobile_trips())
        except StorageFailed as exc:
            counters, polls = None, None
            self._set(desk=note_for_storage(exc))
        waiting, selected = tuple(station.waiting), station.selected_voter
        with self._state:
            self._counters, self._polls = counters, polls
            self._paper, self._mobile, self._trips = paper, requests, trips
            self._waiting, self._selected = waiting, None if selected is None else selected.iin

    # -- calling the station --------------------------------------------------------------------

    @staticmethod
    def _call(call: Callable[[], T], what: str) -> tuple[T | None, Note | None]:
        """(value, None), or (None, the note for what `call` raised)."""
        try:
            return call(), None
        except Exception as exc:
            return None, note_for_error(exc, what=what)

    def _desk_call(self, call: Callable[[], T], what: str) -> tuple[T | None, Note | None]:
        value, failed = self._call(call, what)
        if failed is not None:
            self._set(desk=failed)
        return value, failed
