"""The voter's session at the booth terminal, as a plain state machine (no UI).

The Textual app renders it and the election-day simulator drives it directly,
so every rule of DESIGN.md §2 step 3 lives here once:

- a card is read and checked (election fingerprint, precinct, ballot style,
  card state); a refused card gets a named `CardCheck` and nothing is written;
- the voter picks a language, marks each contest of the card's ballot style (or
  leaves it blank after confirming), reviews, confirms;
- the ballot is encoded, sealed to the election key, signed and written with
  one WRITE BALLOT, whose answer is the card's digest of what it now holds
  (issue block and record), checked against what was written; the receipt
  code follows;
- a card pulled mid-write is read again when it comes back: still ISSUED (vote
  again) or holding the full VOTED record (take it to the ballot box). The card
  is recognised by its issue block, whose random token is unique to one issue;
- a card pulled before the write (or lost with its reader) drops the choices at
  once; the terminal says so in the voter's language and waits for it
  (`Phase.CARD_PULLED`);
- the voter's settings (`sailau.terminal.settings`) last until their card (known
  by its issue block) leaves for good; settings made while idle are a poll
  worker's preset for the next card;
- the card service or reader being unavailable is a named condition
  (`reader_problem`) shown over every screen until it is fixed.

No vote state: the choices live only in this object, and are dropped when the
card leaves, when the voter is idle too long, and right after the write. Nothing
here logs or writes a choice anywhere.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import crypto
from sailau.election.ballot import Choice, Mark, encode_ballot
from sailau.election.definition import LANGUAGES, Election, ElectionLookupError, PartyListContest
from sailau.election.styles import PrecinctBallot, card_mismatch
from sailau.election.record import (
    BallotRecordError,
    IssueBlock,
    seal_ballot,
    verify_ballot_record,
)
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError, CardRemovedError, WriteMismatchError
from sailau.terminal.i18n import N_, t
from sailau.terminal.settings import DEFAULT_SETTINGS, VoterSettings

DEFAULT_IDLE_TIMEOUT = 120.0
DEFAULT_IDLE_WARNING = 30.0


class Phase(enum.StrEnum):
    """Where the voter is; each phase is one screen of the kiosk."""

    IDLE = "idle"  # no card: "insert your card"
    REFUSED = "refused"  # the card cannot be voted here; `check` says why
    LANGUAGE = "language"
    CONTEST = "contest"
    CONFIRM_BLANK = "confirm_blank"  # "leave this contest unmarked?"
    REVIEW = "review"
    WRITING = "writing"
    DONE = "done"  # written and verified: receipt code, take the card to the ballot box
    INTERRUPTED = "interrupted"  # the card left during the write: put it back in
    WRITE_FAILED = "write_failed"  # the card answered but the record is not right: call a poll worker
    TIMED_OUT = "timed_out"  # choices cleared after inactivity; the card is still in
    # The card left (pulled, or lost with the reader) before the write: choices
    # dropped, nothing written; waiting for it to come back.
    CARD_PULLED = "card_pulled"


class CardCheck(enum.StrEnum):
    """The result of reading an inserted card: accepted, or why not."""

    ACCEPTED = "accepted"
    UNREADABLE = "unreadable"  # not a ballot card, or its data is malformed, or I/O failed
    NOT_ISSUED = "not_issued"  # BLANK: the clerk has not issued it
    WRONG_ELECTION = "wrong_election"
    WRONG_PRECINCT = "wrong_precinct"
    WRONG_STYLE = "wrong_style"
    ALREADY_VOTED = "already_voted"
    # A card that was pulled during the write, inserted again:
    STILL_ISSUED = "still_issued"  # nothing was written: vote again
    WRITE_COMPLETED = "write_completed"  # the full record is on it: take it to the ballot box


REFUSALS = frozenset(
    {
        CardCheck.UNREADABLE,
        CardCheck.NOT_ISSUED,
        CardCheck.WRONG_ELECTION,
        CardCheck.WRONG_PRECINCT,
        CardCheck.WRONG_STYLE,
        CardCheck.ALREADY_VOTED,
    }
)


class WriteStep(enum.StrEnum):
    """Progress of the write, reported to the screen."""

    SEALING = "sealing"
    WRITING = "writing"
    VERIFYING = "verifying"
    DONE = "done"


class CastOutcome(enum.StrEnum):
    WRITTEN = "written"  # verified on the card; `receipt_code` set
    INTERRUPTED = "interrupted"  # the card left mid-write: insert it again to learn the state
    FAILED = "failed"  # the card refused the write or its digest shows it holds something else


class SessionStateError(RuntimeError):
    """A voter action that the current phase does not allow (a UI or driver bug)."""


class IdleState(enum.StrEnum):
    ACTIVE = "active"
    WARNING = "warning"
    TIMED_OUT = "timed_out"


class ReaderProblem(enum.StrEnum):
    """Why the terminal cannot take cards now (shown over every screen until fixed)."""

    NO_SERVICE = "no_service"  # the card service (pcscd) is not running
    NO_READER = "no_reader"  # the service runs but the booth's reader is not connected


#: Phases in which an accepted card is in the reader and nothing is written yet:
#: the card leaving now drops the choices and the voter is told (CARD_PULLED).
_BEFORE_WRITE = frozenset({Phase.LANGUAGE, Phase.CONTEST, Phase.CONFIRM_BLANK, Phase.REVIEW, Phase.TIMED_OUT})


@dataclass(frozen=True)
class TerminalConfig:
    """What one booth terminal is set up with when polls open."""

    election: Election
    precinct: int
    terminal_key: ed25519.Ed25519PrivateKey
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    #: Seconds before the timeout at which the voter is warned.
    idle_warning: float = DEFAULT_IDLE_WARNING

    def __post_init__(self) -> None:
        self.election.precinct(self.precinct)  # ElectionLookupError if not in the election
        if self.idle_timeout <= 0:
            raise ValueError(f"idle timeout must be positive, got {self.idle_timeout}")
        if not 0 <= self.idle_warning < self.idle_timeout:
            raise ValueError(
                f"idle warning ({self.idle_warning} s) must be below the timeout ({self.idle_timeout} s)"
            )

    @property
    def style(self) -> int:
        return self.election.precinct(self.precinct).style


@dataclass(frozen=True)
class InsertResult:
    check: CardCheck
    #: The card's receipt code when the check is WRITE_COMPLETED.
    receipt_code: str | None = None
    #: For UNREADABLE: what went wrong (no vote content, ever).
    detail: str = ""


@dataclass(frozen=True)
class CastResult:
    outcome: CastOutcome
    receipt_code: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class OptionView:
    """One choice of a contest as the screen shows it."""

    choice: Choice  # option id, or Mark.AGAINST_ALL
    label: str
    #: Registration number of a party (party lists), shown beside the name.
    number: int | None
    #: A candidate's party, if any.
    detail: str | None
    #: 1-based position on the screen (the number key that picks it).
    position: int


@dataclass(frozen=True)
class ContestView:
    id: str
    index: int
    count: int
    title: str
    kind: str
    options: tuple[OptionView, ...]
    selected: Choice | None


@dataclass(frozen=True)
class ReviewRow:
    index: int
    contest_id: str
    title: str
    choice_label: str
    blank: bool


AGAINST_ALL = N_("Against all")
LEFT_BLANK = N_("Left blank")


class TerminalSession:
    """One booth terminal's voter flow. Not thread-safe by design except that
    `on_card_removed` may arrive from a reader thread while `cast` runs."""

    def __init__(self, config: TerminalConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.RLock()
        self.phase = Phase.IDLE
        self.check: CardCheck | None = None
        self.check_detail = ""
        self._settings = DEFAULT_SETTINGS
        self.reader_problem: ReaderProblem | None = None
        #: What the card service said (technical, for the poll worker; never vote content).
        self.reader_detail = ""
        self.receipt_code: str | None = None
        self.contest_index = 0
        self._client: BallotCardClient | None = None
        self._issue: IssueBlock | None = None
        self._issue_raw: bytes | None = None
        self._choices: dict[str, Choice] = {}
        self._editing_from_review = False
        self._interrupted_issue: bytes | None = None  # issue block of the card pulled mid-write
        #: The issue block of the card in the reader, once read (its token makes it unique).
        self._card_id: bytes | None = None
        #: The card whose voter the settings belong to (None: idle, a preset or the defaults).
        self._voter_card: bytes | None = None
        self._removed_during_write = False
        self._last_activity = clock()
        key = config.terminal_key.public_key()
        self._own_keys = {crypto.key_id(key): key}

    # -- card events -------------------------------------------------------

    def on_card_inserted(self, client: BallotCardClient) -> InsertResult:
        """Power and read the card in the reader; decide whether it can be voted.

        The voter's settings belong to their card: they carry over to the same
        card (pulled, or torn mid-write, and back) and to the first card after the
        terminal was idle (a poll worker's preset); a card known to be another one
        than the current voter's starts from the defaults, whatever the terminal
        missed in between (a removal during a card service outage)."""
        with self._lock:
            if self._client is not None:
                self._forget_card()
            self.touch()
            waiting_since = self.phase
            interrupted = self._interrupted_issue is not None
            result = self._read_card(client)
            card = self._card_id
            returning = card is not None and card == self._voter_card
            if card is not None and self._voter_card is not None and not returning:
                self._end_settings()  # another voter's card
            self._client = client
            self._interrupted_issue = None
            # After a pulled write the voter's language explains what happened (a
            # language is no vote content); any other accepted card chooses again.
            if not (interrupted and result.check in (CardCheck.STILL_ISSUED, CardCheck.WRITE_COMPLETED)):
                if result.check is CardCheck.ACCEPTED and not (waiting_since is Phase.IDLE or returning):
                    self._settings = self._settings.changed(language=None)
            if result.check in (CardCheck.ACCEPTED, CardCheck.STILL_ISSUED):
                self.phase = Phase.LANGUAGE
            elif result.check is CardCheck.WRITE_COMPLETED:
                self.receipt_code = result.receipt_code
                self.phase = Phase.DONE
            else:
                self.phase = Phase.REFUSED
            if self.phase is not Phase.REFUSED:
                self._voter_card = card
            self.check = result.check
            self.check_detail = result.detail
            return result

    def on_card_removed(self) -> None:
        """The card left the reader.

        After the vote (or a refused card): back to idle, and a voted card ends
        the voter's settings. Before the write: the choices are dropped now and
        the terminal waits for the card (CARD_PULLED), keeping the settings to
        say so in the voter's language. During the write `cast` sees it."""
        with self._lock:
            if self.phase is Phase.WRITING:
                # `cast` is inside a card command and will see the card gone.
                self._removed_during_write = True
                return
            if self.phase in (Phase.INTERRUPTED, Phase.CARD_PULLED):
                return  # already waiting for the card to come back
            if self.phase in _BEFORE_WRITE:
                self._forget_card()
                self.touch()  # the notice stays up for one idle timeout
                self.phase = Phase.CARD_PULLED
                return
            ended = self.phase is not Phase.REFUSED and self.phase is not Phase.IDLE
            self._forget_card()
            if ended:
                self._end_settings()
            self.phase = Phase.IDLE

    def end_voter(self) -> None:
        """The pulled card is not coming back ("finish" on the notice, or its timeout):
        idle, with default settings for the next voter."""
        with self._lock:
            self._require(Phase.CARD_PULLED)
            self._forget_card()
            self._end_settings()
            self.phase = Phase.IDLE

    def on_reader(self, problem: ReaderProblem | None, detail: str = "") -> None:
        """The card service's state, as the card source last saw it.

        A problem while a voter is marking is the card leaving: the choices are
        dropped at once (they could never be written) and the voter is told when
        the reader is back. During the write `cast` sees the card I/O fail."""
        with self._lock:
            self.reader_problem = problem
            self.reader_detail = detail if problem is not None else ""
            if problem is not None and self.phase in _BEFORE_WRITE:
                self.on_card_removed()

    def _read_card(self, client: BallotCardClient) -> InsertResult:
        election = self.config.election
        self._card_id = None
        try:
            client.connect()
            client.select_without_status()
            data = client.read_data()
        except CardRemovedError as exc:
            return InsertResult(CardCheck.UNREADABLE, detail=f"card removed while reading: {exc}")
        except CardError as exc:
            return InsertResult(CardCheck.UNREADABLE, detail=str(exc))
        if data.issue_block is None:
            return InsertResult(CardCheck.NOT_ISSUED)
        self._card_id = bytes(data.issue_block)
        try:
            issue = IssueBlock.parse(data.issue_block)
        except BallotRecordError as exc:
            return InsertResult(CardCheck.UNREADABLE, detail=str(exc))
        mismatch = card_mismatch(PrecinctBallot(election.fingerprint, self.config.precinct, self.config.style),
                                 issue.fingerprint, issue.precinct, issue.style)
        if mismatch is not None:  # the one membership rule (election/styles.py), named as it names it
            return InsertResult(CardCheck(mismatch.value))
        if data.state is CardState.VOTED:
            if self._interrupted_issue == data.issue_block and data.record is not None:
                try:
                    record = verify_ballot_record(
                        issue, data.record, self._own_keys, election.plaintext_length
                    )
                except BallotRecordError:
                    return InsertResult(CardCheck.ALREADY_VOTED)
                return InsertResult(CardCheck.WRITE_COMPLETED, receipt_code=record.receipt_code)
            return InsertResult(CardCheck.ALREADY_VOTED)
        self._issue = issue
        self._issue_raw = bytes(data.issue_block)
        if self._interrupted_issue == self._issue_raw:
            return InsertResult(CardCheck.STILL_ISSUED)
        return InsertResult(CardCheck.ACCEPTED)

    # -- settings ---------------------------------------------------------------

    @property
    def settings(self) -> VoterSettings:
        return self._settings

    @property
    def language(self) -> str | None:
        """The voter's language (chosen, or preset by a poll worker), or None."""
        return self._settings.language

    @language.setter
    def language(self, language: str | None) -> None:
        self._settings = self._settings.changed(language=language)

    def adjust(self, **changes: object) -> VoterSettings:
        """Change some settings (any phase; while idle it is the next voter's preset).
        Raises SettingsError for a value out of range."""
        with self._lock:
            self.touch()
            self._settings = self._settings.changed(**changes)
            return self._settings

    def apply(self, settings: VoterSettings) -> None:
        """Replace every setting at once (a poll worker's preset, or the voter's reset)."""
        with self._lock:
            self.touch()
            self._settings = settings

    def reset_settings(self) -> VoterSettings:
        """The voter's "default settings": all back, language and choices kept (VVSG 7.1-B)."""
        self.apply(self._settings.reset_keeping_language())
        return self._settings

    # -- idle timeout ---------------------------------------------------------

    def touch(self) -> None:
        """The voter did something: restart the idle timer."""
        self._last_activity = self.clock()

    @property
    def _voting(self) -> bool:
        return self.phase in (Phase.LANGUAGE, Phase.CONTEST, Phase.CONFIRM_BLANK, Phase.REVIEW)

    @property
    def idle_timeout(self) -> float:
        """Seconds of inactivity before the choices are cleared, for this voter."""
        return self.config.idle_timeout * self._settings.time_factor

    @property
    def idle_warning(self) -> float:
        """Seconds before the timeout at which this voter is warned."""
        return self.config.idle_warning * self._settings.time_factor

    def idle_seconds_left(self) -> float:
        return self.idle_timeout - (self.clock() - self._last_activity)

    def check_idle(self) -> IdleState:
        """Call periodically: warns near the timeout, and at the timeout drops every
        choice (the card stays in; the voter may start again). A pulled card's
        notice ends after one timeout (TIMED_OUT is returned, the phase is IDLE)."""
        with self._lock:
            if self.phase is Phase.CARD_PULLED:
                if self.idle_seconds_left() <= 0:
                    self.end_voter()
                    return IdleState.TIMED_OUT
                return IdleState.ACTIVE
            if not self._voting:
                return IdleState.ACTIVE
            left = self.idle_seconds_left()
            if left <= 0:
                self._drop_choices()
                self.phase = Phase.TIMED_OUT
                return IdleState.TIMED_OUT
            if left <= self.idle_warning:
                return IdleState.WARNING
            return IdleState.ACTIVE

    def restart(self) -> None:
        """After a timeout or STILL_ISSUED: start voting again with the card in the reader."""
        with self._lock:
            self._require(Phase.TIMED_OUT)
            self.touch()
            self.phase = Phase.LANGUAGE

    # -- voting ---------------------------------------------------------------

    def choose_language(self, language: str) -> None:
        with self._lock:
            self._require(Phase.LANGUAGE)
            if language not in LANGUAGES:
                raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
            self.touch()
            self.language = language
            self.contest_index = 0
            self._editing_from_review = False
            self.phase = Phase.CONTEST

    def set_language(self, language: str) -> None:
        """Switch the display language at any point of the vote (choices kept)."""
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        self.adjust(language=language)

    @property
    def contests(self) -> tuple:
        return self.config.election.contests_for_style(self.config.style)

    def _current_contest(self):
        return self.contests[self.contest_index]

    def select(self, choice: Choice) -> None:
        """Mark `choice` (an option id or Mark.AGAINST_ALL) in the current contest."""
        with self._lock:
            self._require(Phase.CONTEST)
            self.touch()
            contest = self._current_contest()
            if choice is Mark.AGAINST_ALL:
                if not contest.against_all:
                    raise SessionStateError(f"contest {contest.id!r} has no 'against all'")
            elif isinstance(choice, str):
                try:
                    self.config.election.option(contest.id, choice)
                except ElectionLookupError:
                    raise SessionStateError(f"contest {contest.id!r} has no such option") from None
            else:
                raise SessionStateError("a choice is an option id or Mark.AGAINST_ALL")
            self._choices[contest.id] = choice

    def select_position(self, position: int) -> None:
        """Mark the option at 1-based `position` on the screen (number keys)."""
        options = self._option_choices(self._current_contest())
        if not 1 <= position <= len(options):
            raise SessionStateError(f"no option at position {position}")
        self.select(options[position - 1])

    def unselect(self) -> None:
        with self._lock:
            self._require(Phase.CONTEST)
            self.touch()
            self._choices.pop(self._current_contest().id, None)

    def next(self) -> Phase:
        """Go on from the current contest; an unmarked contest asks for confirmation first."""
        with self._lock:
            self._require(Phase.CONTEST)
            self.touch()
            contest = self._current_contest()
            if contest.id not in self._choices or self._choices[contest.id] is Mark.BLANK:
                self.phase = Phase.CONFIRM_BLANK
                return self.phase
            return self._advance()

    def confirm_blank(self) -> Phase:
        """Yes, leave the current contest unmarked (counted blank)."""
        with self._lock:
            self._require(Phase.CONFIRM_BLANK)
            self.touch()
            self._choices[self._current_contest().id] = Mark.BLANK
            return self._advance()

    def cancel_blank(self) -> None:
        with self._lock:
            self._require(Phase.CONFIRM_BLANK)
            self.touch()
            self.phase = Phase.CONTEST

    def _advance(self) -> Phase:
        if self._editing_from_review or self.contest_index + 1 >= len(self.contests):
            self._editing_from_review = False
            self.phase = Phase.REVIEW
        else:
            self.contest_index += 1
            self.phase = Phase.CONTEST
        return self.phase

    def back(self) -> Phase:
        """One step back (Esc): previous contest, the language screen, or the contest being confirmed."""
        with self._lock:
            self.touch()
            if self.phase is Phase.CONFIRM_BLANK:
                self.phase = Phase.CONTEST
            elif self.phase is Phase.CONTEST:
                if self._editing_from_review:
                    self._editing_from_review = False
                    self.phase = Phase.REVIEW
                elif self.contest_index > 0:
                    self.contest_index -= 1
                else:
                    self.phase = Phase.LANGUAGE
            elif self.phase is Phase.REVIEW:
                self.contest_index = len(self.contests) - 1
                self.phase = Phase.CONTEST
            elif self.phase is not Phase.LANGUAGE:
                raise SessionStateError(f"cannot go back from {self.phase}")
            return self.phase

    def edit(self, index: int) -> None:
        """From the review screen: change one contest, then come back to the review."""
        with self._lock:
            self._require(Phase.REVIEW)
            if not 0 <= index < len(self.contests):
                raise SessionStateError(f"no contest {index}")
            self.touch()
            self.contest_index = index
            self._editing_from_review = True
            self.phase = Phase.CONTEST

    def vote(self, choices: dict[str, Choice], language: str = "kk") -> None:
        """Convenience for drivers (the simulator): language, every contest in order
        (a contest missing from `choices` is confirmed blank), up to the review."""
        self.choose_language(language)
        while self.phase is Phase.CONTEST:
            choice = choices.get(self._current_contest().id)
            if choice is not None and choice is not Mark.BLANK:
                self.select(choice)
            if self.next() is Phase.CONFIRM_BLANK:
                self.confirm_blank()
        self._require(Phase.REVIEW)

    # -- views (computed on demand, never stored) ------------------------------

    def _lang(self, language: str | None) -> str:
        lang = language or self.language or "kk"
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        return lang

    def _option_choices(self, contest) -> list[Choice]:
        ids: list[Choice] = [o.id for o in self.config.election.options(contest.id)]
        return ids + ([Mark.AGAINST_ALL] if contest.against_all else [])

    def contest_view(self, index: int | None = None, language: str | None = None) -> ContestView:
        lang = self._lang(language)
        i = self.contest_index if index is None else index
        contest = self.contests[i]
        election = self.config.election
        options = []
        for position, option in enumerate(election.options(contest.id), start=1):
            number = detail = None
            if isinstance(contest, PartyListContest):
                number = election.party(option.id).registration_number
            elif option.party is not None:
                detail = election.party(option.party).name.get(lang)
            options.append(OptionView(option.id, option.name.get(lang), number, detail, position))
        if contest.against_all:
            options.append(
                OptionView(Mark.AGAINST_ALL, t(lang, AGAINST_ALL), None, None, len(options) + 1)
            )
        return ContestView(
            id=contest.id,
            index=i,
            count=len(self.contests),
            # a referendum question is shown as printed (its full text), other contests by name
            title=(contest.text if contest.kind == "referendum" else contest.name).get(lang),
            kind=contest.kind,
            options=tuple(options),
            selected=self._choices.get(contest.id),
        )

    def review_rows(self, language: str | None = None) -> tuple[ReviewRow, ...]:
        lang = self._lang(language)
        with self._lock:
            self._require(Phase.REVIEW, Phase.CONTEST, Phase.CONFIRM_BLANK)
            rows = []
            for i, contest in enumerate(self.contests):
                choice = self._choices.get(contest.id, Mark.BLANK)
                rows.append(
                    ReviewRow(i, contest.id, contest.name.get(lang), self.choice_label(contest.id, choice, lang), choice is Mark.BLANK)
                )
            return tuple(rows)

    def choice_label(self, contest_id: str, choice: Choice, language: str | None = None) -> str:
        lang = self._lang(language)
        if choice is Mark.BLANK:
            return t(lang, LEFT_BLANK)
        if choice is Mark.AGAINST_ALL:
            return t(lang, AGAINST_ALL)
        return self.config.election.option_label(contest_id, choice, lang)

    # -- the write --------------------------------------------------------------

    def cast(self, progress: Callable[[WriteStep], None] | None = None) -> CastResult:
        """Confirmed on the review screen: seal, WRITE BALLOT, check the card's digest.

        The choices are dropped before the card is touched, whatever happens next."""
        report = progress or (lambda step: None)
        with self._lock:
            self._require(Phase.REVIEW)
            assert self._issue is not None and self._client is not None and self._issue_raw is not None
            self.phase = Phase.WRITING
            self._removed_during_write = False
            client, issue, issue_raw = self._client, self._issue, self._issue_raw
            plaintext = bytearray(encode_ballot(self.config.election, self.config.style, self._choices))
            self._drop_choices()
        # `progress` is called only outside the lock: the app's callback waits for the UI
        # thread, which may itself be waiting for this lock (a reader status arriving).
        report(WriteStep.SEALING)
        try:
            record = seal_ballot(issue, plaintext, self.config.election.public_key, self.config.terminal_key)
        finally:
            plaintext[:] = bytes(len(plaintext))
            del plaintext
        packed = record.pack()
        report(WriteStep.WRITING)
        try:
            client.write_ballot(packed, issue_raw)
        except CardRemovedError:
            return self._interrupted(issue_raw, "the card left during the write")
        except WriteMismatchError as exc:
            return self._failed(str(exc))
        except CardError as exc:
            return self._failed(f"the card refused the ballot record: {exc}")
        report(WriteStep.VERIFYING)  # the card's digest matched what was written
        with self._lock:
            self.receipt_code = record.receipt_code
            if self._removed_during_write:
                self._forget_card()
                self._end_settings()
                self.phase = Phase.IDLE
            else:
                self.phase = Phase.DONE
        report(WriteStep.DONE)
        return CastResult(CastOutcome.WRITTEN, receipt_code=record.receipt_code)

    def _interrupted(self, issue_raw: bytes, detail: str) -> CastResult:
        with self._lock:
            self._forget_card()  # the settings (language too) stay: to explain when the card returns
            self._interrupted_issue = issue_raw
            self.phase = Phase.INTERRUPTED
        return CastResult(CastOutcome.INTERRUPTED, detail=detail)

    def _failed(self, detail: str) -> CastResult:
        with self._lock:
            self.phase = Phase.WRITE_FAILED
            self.check_detail = detail
        return CastResult(CastOutcome.FAILED, detail=detail)

    # -- forgetting ---------------------------------------------------------------

    def _drop_choices(self) -> None:
        self._choices.clear()
        self._choices = {}
        self._editing_from_review = False
        self.contest_index = 0

    def _end_settings(self) -> None:
        """The voter is gone: the next one starts from the defaults (VVSG 7.1-A)."""
        self._settings = DEFAULT_SETTINGS
        self._voter_card = None

    def _forget_card(self) -> None:
        self._drop_choices()
        client, self._client = self._client, None
        if client is not None:
            try:
                client.transport.disconnect()
            except CardError:
                pass
        self._issue = self._issue_raw = self._card_id = None
        self._interrupted_issue = None
        self.check = None
        self.check_detail = ""
        self.receipt_code = None

    @property
    def holds_choices(self) -> bool:
        """Whether any choice is in memory (tests and the secrecy check use this)."""
        return bool(self._choices)

    def _require(self, *phases: Phase) -> None:
        if self.phase not in phases:
            allowed = " or ".join(p.value for p in phases)
            raise SessionStateError(f"this needs phase {allowed}; the session is in {self.phase.value}")
