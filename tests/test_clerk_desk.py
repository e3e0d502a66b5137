"""The clerk's desk (ballot_box/desk.py) without a screen: its rules over an
in-process card and a SQLite station, a Hypothesis state machine over card
insert/remove, check-in, select, vote, cast and cancel; the message catalogue
covering every note the desk can produce in kk, ru and en; and the UI boundary:
no screen or widget reads the station, its storage or a file."""

from __future__ import annotations

import ast
import datetime as dt
import gettext
import logging
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from clerk_support import IINS, blank_card, make_station, open_db, vote
from sailau.ballot_box import desk as desk_module
from sailau.ballot_box import desk_notes
from sailau.ballot_box import i18n, oplog, pollbook, store
from sailau.ballot_box.close import ProtocolRefused, ShareRefusal, ShareRefused
from sailau.ballot_box.db import StorageProblem
from sailau.ballot_box.desk import (
    ClerkDesk,
    Reader,
    note_for_cancel,
    note_for_cast,
    note_for_error,
    note_for_replace,
    transport_opener,
)
from sailau.ballot_box.messages import TEXTS, Note
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.station import (
    ActionKind,
    CancelResult,
    CancelStatus,
    CardAlreadyIssued,
    CardNotBlank,
    CastResult,
    CastStatus,
    ClearOutcome,
    HandCountRefused,
    IssueFailed,
    NoVoterSelected,
    OldCardNeeded,
    Recorded,
    ReplaceResult,
    ReplacementRefused,
    StationError,
    StationOperation,
    StorageFailed,
    VoterNotWaiting,
    ZeroReportFailed,
)
from sailau.ballot_box.handcount import HandCount, hand_count_state
from sailau.ballot_box.models import BallotForm
from sailau.ballot_box.paper import EntryError
from sailau.ballot_box.refusal import CARD_REFUSALS, PAPER_REFUSALS, Refusal, Refused
from sailau.ballot_box.store import WrongPollsState
from sailau.ballot_box.submit import Outcome, SubmitResult
from sailau.election.protocol import ContestResult, Protocol, Violation
from sailau.election.shares import ShareError
from sailau.smartcard.apdu import CardState
from sailau.smartcard.errors import CardError, CardRemovedError, NoCardError
from sailau.smartcard.transport import InProcessTransport

BALLOT_BOX = Path(desk_module.__file__).parent
#: the clerk's modules: the desk (desk.py and its parts, desk_*.py) and the app's
CLERK_MODULES = (*sorted(p.name for p in BALLOT_BOX.glob("desk*.py")),
                 "app.py", "screens.py", "paper_screens.py", "count_screens.py", "widgets.py")


class Table:
    """A desk over an in-process reader, played as the app plays it (events, then the read)."""

    def __init__(self, station) -> None:  # noqa: ANN001
        self.transport = InProcessTransport()
        self.desk = ClerkDesk(station, transport_opener(self.transport))
        self.desk.refresh()

    def insert(self, card):  # noqa: ANN001, ANN201
        self.transport.insert(card)
        self.desk.card_inserted()
        return self.desk.read_card()

    def remove(self) -> None:
        self.transport.remove()
        self.desk.card_removed()

    def issue_to(self, iin: str):  # noqa: ANN201
        """Check `iin` in, issue them a blank card, and the card leaves with the voter."""
        self.desk.check_in(iin)
        card = blank_card()
        assert self.insert(card).issued is not None
        self.remove()
        return card


# --- the rules, without a screen --------------------------------------------------------------------


def test_a_blank_card_waits_in_the_reader_and_is_issued_at_check_in(tmp_path: Path) -> None:
    with open_db(tmp_path) as db:
        table = Table(make_station(db, tmp_path))
        card = blank_card()
        step = table.insert(card)
        assert step.action is not None and step.action.kind is ActionKind.NEED_VOTER
        view = table.desk.view()
        assert view.blank_card_waiting and view.reader is Reader.PRESENT and view.card_note.code == "need_voter"
        step = table.desk.check_in(IINS[3])
        assert step.voter is not None and step.issued is not None and step.issued.voter.iin == IINS[3]
        assert card.state is CardState.ISSUED and table.desk.view().card_note.code == "issued"
        assert table.desk.view().counters.issued == 1 and not table.desk.view().blank_card_waiting
        assert table.desk.view().desk_note is None  # "Insert a blank card" is done: no longer asked for


def test_the_card_cleared_by_a_cast_goes_to_the_voter_waiting(tmp_path: Path) -> None:
    with open_db(tmp_path) as db:
        table = Table(make_station(db, tmp_path))
        card = table.issue_to(IINS[0])
        table.desk.check_in(IINS[1])  # waits: no card in the reader
        assert table.desk.view().selected == IINS[1] and [v.iin for v in table.desk.view().waiting] == [IINS[1]]
        vote(card, 0)
        step = table.insert(card)
        assert step.action.kind is ActionKind.CAST and step.action.cast.status is CastStatus.ACCEPTED
        assert step.issued is not None and step.issued.voter.iin == IINS[1] and card.state is CardState.ISSUED
        assert step.note.code == "issued"
        c = table.desk.view().counters
        assert (c.issued, c.cast, c.outstanding) == (2, 1, 1)


def test_a_cancel_offer_is_withdrawn_when_the_card_leaves(tmp_path: Path) -> None:
    with open_db(tmp_path) as db:
        table = Table(make_station(db, tmp_path))
        card = table.issue_to(IINS[4])
        step = table.insert(card)
        assert step.action.kind is ActionKind.OFFER_CANCEL and table.desk.view().cancel_offered
        table.remove()
        view = table.desk.view()
        assert not view.cancel_offered and view.card_note.code == "cancel_withdrawn"
        assert table.desk.decline_cancel().note is None  # nothing to keep: the card is gone
        table.insert(card)
        assert table.desk.answer_offer() is True
        step = table.desk.cancel_card()
        assert step.cancelled is not None and step.cancelled.status is CancelStatus.CANCELLED
        assert step.note.code == "cancel.cancelled.cleared" and card.state is CardState.BLANK
        assert table.desk.view().blank_card_waiting  # the cleared card is a blank card in the reader


def test_replace_needs_the_old_card_in_the_reader(tmp_path: Path) -> None:
    with open_db(tmp_path) as db:
        table = Table(make_station(db, tmp_path))
        card = table.issue_to(IINS[2])
        assert table.desk.replace_in_reader(IINS[2]).note.code == "old_card_needed"
        table.insert(card)  # offered for cancel; the clerk replaces instead
        step = table.desk.replace_in_reader(IINS[2])
        assert step.replaced is not None and step.replaced.card_returned
        assert step.issued is not None and step.issued.voter.iin == IINS[2]  # cleared, blank in the reader: theirs
        assert table.desk.view().counters.replaced == 1


def test_an_unexpected_error_is_logged_with_its_traceback_and_named_plainly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: "Unexpected error: ..." on the screen once, and nowhere else."""
    path = tmp_path / "operator.log"
    handler = oplog.open_operator_log(path)
    try:
        with open_db(tmp_path) as db:
            station = make_station(db, tmp_path)
            table = Table(station)

            def broken(client):  # noqa: ANN001, ARG001
                raise RuntimeError(f"internal failure for {IINS[0]}")

            monkeypatch.setattr(station, "on_card", broken)
            step = table.insert(blank_card())
    finally:
        oplog.close_operator_log(handler)
    assert step.action is None and step.note.code == "unexpected.card" and step.note.detail == ""
    assert table.desk.view().card_busy == 0 and table.desk.view().card_note == step.note
    logged = path.read_text()
    assert "Traceback" in logged and "RuntimeError: internal failure for <IIN>" in logged and IINS[0] not in logged


def test_a_share_is_checked_when_entered_and_a_bad_file_is_named(tmp_path: Path) -> None:
    from clerk_support import rig
    from sailau.election import shares

    shares.write_share_file(tmp_path / "one.json", rig().shares[0])
    (tmp_path / "junk.json").write_text("{}")
    with open_db(tmp_path) as db:
        table = Table(make_station(db, tmp_path))
        assert table.desk.enter_share(path=tmp_path / "junk.json").note.code == "share_file_unusable"
        assert table.desk.enter_share(path=tmp_path / "one.json").share.index == 1
        assert table.desk.enter_share(words=rig().shares[0].mnemonic).note.code == "share.duplicate"
        assert table.desk.enter_share(words="not a share").note.code == "share_words_invalid"
        view = table.desk.view()
        assert [s.index for s in view.shares] == [1] and view.threshold == 2
        assert table.desk.remove_share(5).note.code == "share_highlight_first"
        assert table.desk.remove_share(0).note.code == "share_removed" and table.desk.view().shares == ()


# --- a state machine over the table ---------------------------------------------------------------


class DeskMachine(RuleBasedStateMachine):
    """Cards in and out, voters checked in and selected, votes at the booth, casts and
    cancels, in any order: the desk never leaves a rule broken at rest."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        path = Path(self.dir.name)
        self.db = open_db(path)
        self.station = make_station(self.db, path)
        self.table = Table(self.station)
        self.cards = [blank_card(0x50 + i) for i in range(2)]
        self.in_reader: int | None = None
        self.checked_in: set[str] = set()

    def teardown(self) -> None:
        self.db.close()
        self.dir.cleanup()

    @rule(i=st.integers(0, 1))
    def insert(self, i: int) -> None:
        if self.in_reader is not None:
            self.table.remove()
        self.in_reader = i
        step = self.table.insert(self.cards[i])
        assert step.note is not None

    @precondition(lambda self: self.in_reader is not None)
    @rule()
    def remove(self) -> None:
        self.table.remove()
        self.in_reader = None

    @rule(v=st.integers(0, len(IINS) - 1))
    def check_in(self, v: int) -> None:
        step = self.table.desk.check_in(IINS[v])
        assert (step.voter is not None) == (IINS[v] not in self.checked_in)
        self.checked_in.add(IINS[v])

    @rule(v=st.integers(0, len(IINS) - 1))
    def select(self, v: int) -> None:
        self.table.desk.select_voter(IINS[v])

    @rule(i=st.integers(0, 1), v=st.integers(0, len(IINS) - 1))
    def vote_at_the_booth(self, i: int, v: int) -> None:
        if self.in_reader != i and self.cards[i].state is CardState.ISSUED:
            vote(self.cards[i], v)

    @precondition(lambda self: self.table.desk.view().cancel_offered)
    @rule(yes=st.booleans())
    def answer_cancel(self, yes: bool) -> None:
        if yes and self.table.desk.answer_offer():
            self.table.desk.cancel_card()
        else:
            self.table.desk.decline_cancel()

    @invariant()
    def the_desk_is_at_rest_and_consistent(self) -> None:
        view = self.table.desk.view()
        card = None if self.in_reader is None else self.cards[self.in_reader]
        assert view.card_busy == 0 and view.card_present == (card is not None)
        if view.blank_card_waiting:  # a blank card waits in the reader...
            assert card is not None and card.state is CardState.BLANK
            assert view.selected is None  # ...only while nobody is selected (else it is issued at once)
        if view.cancel_offered:
            assert card is not None and card.state is CardState.ISSUED
        c = view.counters
        assert c is not None and c.cast <= c.checked_in == len(self.checked_in) and c.issued <= c.checked_in + c.replaced
        for note in (view.card_note, view.desk_note):
            if note is not None:
                for language in i18n.LANGUAGES:
                    note.render(lambda msgid, **f: i18n.t(language, msgid, **f))


TestDeskMachine = DeskMachine.TestCase
TestDeskMachine.settings = settings(max_examples=30, stateful_step_count=25, deadline=None,
                                    suppress_health_check=[HealthCheck.too_slow])


class PaperDeskMachine(RuleBasedStateMachine):
    """Paper receipts, check-ins by card or paper, exchanges, requests to vote outside,
    withdrawals, the team sent and back (with right and wrong counts), in any order.
    Always: a voter gets at most one ballot form, and keeps it; a voter who voted outside
    cannot check in; a request for a voter who voted is refused; the paper figures are
    never negative and received = issued (in and outside) + spoiled + in hand + out with
    the teams."""

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        path = Path(self.dir.name)
        self.db = open_db(path)
        self.desk = Table(make_station(self.db, path)).desk
        self.form: dict[str, BallotForm] = {}  # what each voter received, once and for all
        self.received = 0
        self.trip: tuple[int, tuple[str, ...], int] | None = None  # id, the requests it carries, ballots taken

    def teardown(self) -> None:
        self.db.close()
        self.dir.cleanup()

    def _code(self, step) -> str:  # noqa: ANN001
        assert step.note is not None
        return step.note.code

    @rule(n=st.integers(1, 3))
    def receive(self, n: int) -> None:
        assert self._code(self.desk.receive_paper(n, "TEC", "Secretary")) == "paper_received"
        self.received += n

    @rule(v=st.integers(0, len(IINS) - 1), paper=st.booleans())
    def check_in(self, v: int, paper: bool) -> None:
        iin = IINS[v]
        code = self._code(self.desk.check_in(iin, BallotForm.PAPER if paper else BallotForm.CARD))
        if self.form.get(iin) is BallotForm.OUTSIDE:
            assert code == "refused.voted_outside"
        elif iin in self.form:
            assert code == "already_checked_in"
        elif code in ("checked_in", "checked_in_paper"):
            self.form[iin] = BallotForm.PAPER if paper else BallotForm.CARD
        else:
            assert code in ("refused.mobile_requested", "refused.no_paper_left"), code

    @rule(v=st.integers(0, len(IINS) - 1))
    def exchange(self, v: int) -> None:
        code = self._code(self.desk.exchange_paper(IINS[v]))
        assert code in (("paper_exchanged", "refused.no_paper_left") if self.form.get(IINS[v]) is BallotForm.PAPER
                        else ("refused.no_paper_ballot",)), code

    @rule(v=st.integers(0, len(IINS) - 1))
    def request(self, v: int) -> None:
        code = self._code(self.desk.request_mobile(IINS[v], "ill", "Member"))
        if IINS[v] in self.form:
            assert code == "refused.already_voted"
        else:
            assert code in ("mobile_requested", "refused.already_requested"), code

    @rule(v=st.integers(0, len(IINS) - 1))
    def withdraw(self, v: int) -> None:
        assert self._code(self.desk.withdraw_mobile(IINS[v])) in ("mobile_withdrawn", "refused.request_not_pending")

    @precondition(lambda self: self.trip is None)
    @rule(extra=st.integers(0, 2))
    def send(self, extra: int) -> None:
        pending = [r.iin for r in self.desk.view().mobile if r.state.value == "pending"]
        step = self.desk.send_mobile_team(["Member 1", "Member 2"], len(pending) + extra)
        if step.trip is not None:
            self.trip = (step.trip.id, step.trip.iins, step.trip.ballots)
        else:
            assert self._code(step) in ("refused.no_requests", "refused.no_paper_left", "invalid_entry")

    @precondition(lambda self: self.trip is not None)
    @rule(data=st.data(), off=st.sampled_from([0, 0, 0, 1]))
    def come_back(self, data: st.DataObject, off: int) -> None:
        assert self.trip is not None
        trip_id, carried, taken = self.trip
        voted = data.draw(st.lists(st.sampled_from(carried), unique=True)) if carried else []
        spoiled = data.draw(st.integers(0, taken - len(voted)))
        unused = taken - len(voted) - spoiled + off
        step = self.desk.return_mobile_team(trip_id, voted, unused, spoiled)
        if off == 0:
            assert step.trip is not None, step.note
            self.form.update({iin: BallotForm.OUTSIDE for iin in voted})
            self.trip = None
        else:
            assert self._code(step) == "refused.mobile_counts_mismatch"

    @invariant()
    def the_figures_add_up(self) -> None:
        view = self.desk.view()
        ledger, counters = view.paper, view.counters
        assert ledger is not None and counters is not None
        assert ledger.balances() and ledger.received == self.received
        assert ledger.voters_paper == sum(f is BallotForm.PAPER for f in self.form.values()) == ledger.issued_in_station
        assert ledger.voters_outside == sum(f is BallotForm.OUTSIDE for f in self.form.values()) == ledger.issued_outside
        assert counters.checked_in == sum(f in (BallotForm.CARD, BallotForm.PAPER) for f in self.form.values())
        on_list = {v.iin: v for v in (self.desk.station.search(i)[0] for i in IINS)}
        for iin, voter in on_list.items():
            assert voter.ballot_form is self.form.get(iin, BallotForm.NONE)
            assert voter.checked_in == (voter.ballot_form in (BallotForm.CARD, BallotForm.PAPER))
        for request in view.mobile:
            if request.state.value in ("pending", "out"):
                assert request.iin not in self.form


TestPaperDeskMachine = PaperDeskMachine.TestCase
TestPaperDeskMachine.settings = settings(max_examples=25, stateful_step_count=30, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])


# --- one catalogue for every note the desk can produce ----------------------------------------------

_ONE = HandCount(0, 1, 0, (ContestResult("c", {"a": 1}),))
_TWO = HandCount(0, 1, 0, (ContestResult("c", {"a": 0}, invalid=1),))
#: the double entry: one entry, agreed, differing
HAND_COUNT_STATES = (hand_count_state({b"1" * 8: _ONE}), hand_count_state({b"1" * 8: _ONE, b"2" * 8: _ONE}),
                     hand_count_state({b"1" * 8: _ONE, b"2" * 8: _TWO}))
PROTOCOL_STUB = Protocol("e", "0" * 64, 1, "R", None, 0, 0, 0, 0, 0, ())



def _every_note() -> list[Note]:
    notes = [note_for_cast(CastResult(CastStatus.REJECTED, "", reason=r)) for r in CARD_REFUSALS]
    notes += [note_for_cancel(CancelResult(CancelStatus.REJECTED, "", reason=r)) for r in CARD_REFUSALS]
    notes += [note_for_cast(CastResult(s, "", clear=c)) for s in (CastStatus.ACCEPTED, CastStatus.ALREADY_COUNTED)
              for c in ClearOutcome]
    notes += [note_for_cancel(CancelResult(s, "", clear=c))
              for s in (CancelStatus.CANCELLED, CancelStatus.ALREADY_CANCELLED) for c in ClearOutcome]
    voter = pollbook.Voter(IINS[0], "Абаев", "Нұрлан", "", dt.date(1975, 4, 2), checked_in=True)
    notes += [note_for_replace(ReplaceResult(voter, "damaged", returned, clear))  # type: ignore[arg-type]
              for returned in (True, False) for clear in (None, *ClearOutcome)]
    raised: list[BaseException] = [
        StorageFailed(op, problem, recorded) for op in StationOperation for problem in StorageProblem
        for recorded in Recorded]
    raised += [ReplacementRefused(r, "") for r in Refusal] + [ReplacementRefused("something new", "x")]  # type: ignore[arg-type]
    raised += [Refused(r) for r in PAPER_REFUSALS] + [EntryError("x"), pollbook.InvalidVoterEntry("x")]
    raised += [pollbook.AlreadyCheckedIn("x"), pollbook.VoterNotFound("x"), CardAlreadyIssued("x"),
               OldCardNeeded("x"), VoterNotWaiting("x"), NoVoterSelected("x"), CardNotBlank("x"), IssueFailed("x"),
               CardRemovedError("x"), NoCardError("x"), WrongPollsState("cast", PollsState.CLOSED, (PollsState.OPEN,)),
               ZeroReportFailed("x"), store.SealingFailed("x"), ShareError("x"), StationError("x"),
               CardError("x"), OSError(28, "No space left on device"), RuntimeError("x")]
    logging.getLogger(oplog.LOGGER_NAME).disabled = True  # the raw ones are logged: not the point here
    try:
        notes += [note_for_error(exc, card=card) for exc in raised for card in (False, True)]
    finally:
        logging.getLogger(oplog.LOGGER_NAME).disabled = False
    notes += [desk_notes.note_for_share_refused(ShareRefused(r, 1, "x", k=3), 2) for r in ShareRefusal]
    # the count at close (issue 13): the double entry's states, its refusals, a close refused on hand-entered figures
    notes += [desk_notes.note_for_hand_count(state) for state in HAND_COUNT_STATES]
    notes += [note_for_error(HandCountRefused(r, "x", state)) for r in
              (Refusal.NOT_A_MEMBER, Refusal.HAND_COUNT_MISSING, Refusal.HAND_COUNT_MISMATCH)
              for state in (None, HAND_COUNT_STATES[-1])]
    refused = ProtocolRefused([Violation("paper:received==issued+spoiled+unused", "x")], PROTOCOL_STUB, hand_entered=True)
    notes += [note_for_error(refused)]
    notes += [desk_notes.note_for_submit(SubmitResult(Path("protocol.json"), outcome, "x", reason))
              for outcome in Outcome for reason in (None, "signature")]
    return notes


def _literal_codes() -> set[str]:
    """Codes written as literals in `Note(...)` calls of the clerk's modules."""
    codes = set()
    for name in CLERK_MODULES:
        for node in ast.walk(ast.parse((BALLOT_BOX / name).read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Note"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                codes.add(node.args[0].value)
    return codes


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_every_code_the_desk_can_emit_has_a_text_in_each_language(language: str) -> None:
    codes = {n.code for n in _every_note()} | {n.cause for n in _every_note() if n.cause} | _literal_codes()
    assert len(codes) > 80 and codes <= set(TEXTS), sorted(codes - set(TEXTS))
    catalog = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=[language])
    for code in codes:
        msgid = TEXTS[code]
        assert msgid in catalog._catalog, f"{language}: {code} ({msgid!r}) is not in the catalog"  # type: ignore[attr-defined]
        if language != "en":
            assert catalog.gettext(msgid) != msgid, f"{language}: {code} is left in English"


def test_the_catalogue_has_no_unused_code() -> None:
    named = set()  # every string the clerk's modules write (codes passed on through a variable too)
    for name in CLERK_MODULES:
        tree = ast.parse((BALLOT_BOX / name).read_text(encoding="utf-8"))
        named |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    emitted = {n.code for n in _every_note()} | {n.cause for n in _every_note() if n.cause} | named
    assert set(TEXTS) <= emitted, sorted(set(TEXTS) - emitted)


# --- the UI boundary ------------------------------------------------------------------------------

#: modules a screen or widget must not use at run time (annotations only, under TYPE_CHECKING)
STORAGE_MODULES = {"station", "store", "db", "audit", "pollbook", "close", "desk", "desk_state", "desk_notes",
                   "desk_paper", "desk_count", "outputs", "models", "submit", "httpx",
                   "sailau.election.shares", "sailau.election.crypto", "sailau.ballot_box.station"}
#: names a screen or widget must not touch: the station, its storage, the desk's operations, file readers
FORBIDDEN = {"station", "db", "desk", "counters_now", "selected_voter", "read_share_file", "load_verify_key",
             "check_share", "parse_mnemonic", "read_events", "verify_db", "open", "read_text", "read_bytes",
             "submit_file", "signed_files"}


def _runtime_nodes(tree: ast.Module) -> list[ast.AST]:
    """Every node except those under `if TYPE_CHECKING:`."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return [n for n in ast.walk(tree) if id(n) not in skip]


def storage_calls(source: str) -> list[str]:
    problems = []
    for node in _runtime_nodes(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            base = (node.module or "").split(".")[-1] if node.level else node.module or ""
            if base in STORAGE_MODULES or module in STORAGE_MODULES or any(
                    f"{module}.{a.name}".lstrip(".") in STORAGE_MODULES for a in node.names):
                problems.append(f"line {node.lineno}: imports {module}")
        elif isinstance(node, ast.Import):
            problems += [f"line {node.lineno}: imports {a.name}" for a in node.names if a.name in STORAGE_MODULES]
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN:
            problems.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN:
            problems.append(f"line {node.lineno}: {node.id}")
    return problems


@pytest.mark.parametrize("module", ["screens.py", "paper_screens.py", "count_screens.py", "widgets.py"])
def test_no_screen_or_widget_calls_into_storage(module: str) -> None:
    problems = storage_calls((BALLOT_BOX / module).read_text(encoding="utf-8"))
    assert not problems, f"{module} reaches past the desk's view:\n" + "\n".join(problems)


def test_the_storage_scan_finds_what_the_old_screens_did() -> None:
    """The scan is not vacuous: the desk screen of before (counters on every refresh, the
    queue, a share file read and checked on the UI thread) is caught on each count."""
    old = '''
from .close import check_share
from sailau.election import shares

class DeskScreen:
    def refresh_state(self):
        app = self.clerk
        self.show(app.counters_now())
        for voter in app.station.waiting:
            pass
        share = shares.read_share_file(path)
'''
    found = "\n".join(storage_calls(old))
    for expected in ("imports .close", ".counters_now", ".station", ".read_share_file"):
        assert expected in found, found
