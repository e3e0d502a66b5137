"""The booth terminal's session as a plain state machine, with in-process cards."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import terminal_support as ts
from sailau.election.ballot import Mark, decode_ballot
from sailau.election.record import BallotRecord, IssueBlock, SealedBallot, open_ballot, receipt_code
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardRemovedError
from sailau.smartcard.transport import InProcessTransport
from sailau.terminal.session import (
    CardCheck,
    CastOutcome,
    IdleState,
    Phase,
    SessionStateError,
    TerminalConfig,
    TerminalSession,
    WriteStep,
)

STYLE = ts.election().precinct(ts.PRECINCT).style
LIST, SMD, MASLIKHAT = (c.id for c in ts.election().contests_for_style(STYLE))


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened(card: VirtualBallotCard) -> dict:
    """Decrypt the ballot on a VOTED card with the election key (as the count would)."""
    state, data = ts.card_data(card)
    assert state is CardState.VOTED
    e = ts.election()
    issue = IssueBlock.parse(data.issue_block)
    record = BallotRecord.parse(data.record, e.plaintext_length)
    plaintext = open_ballot(SealedBallot.from_record(issue, record), ts.election_keys().private_key)
    return decode_ballot(e, issue.style, plaintext)


def start(card: VirtualBallotCard | None = None, **config) -> tuple[TerminalSession, ts.Slot]:
    slot = ts.slot(card or ts.issued_card())
    session = TerminalSession(ts.config(**config), clock=FakeClock())
    return session, slot


def test_full_vote_writes_the_sealed_ballot_and_forgets_the_choices() -> None:
    session, slot = start()
    assert session.on_card_inserted(slot.client).check is CardCheck.ACCEPTED
    assert session.phase is Phase.LANGUAGE
    session.choose_language("kk")
    view = session.contest_view()
    assert view.title == ts.election().contest(LIST).name.kk
    assert [o.number for o in view.options[:-1]] == [
        ts.election().party(o.choice).registration_number for o in view.options[:-1]
    ]
    assert view.options[-1].choice is Mark.AGAINST_ALL and view.options[-1].label == "Барлығына қарсы"
    session.select("AMANAT")
    assert session.next() is Phase.CONTEST
    session.select_position(2)
    session.next()
    session.select(Mark.AGAINST_ALL)
    assert session.next() is Phase.REVIEW
    rows = session.review_rows()
    assert [r.contest_id for r in rows] == [LIST, SMD, MASLIKHAT]
    assert rows[2].choice_label == "Барлығына қарсы" and not any(r.blank for r in rows)
    steps: list[WriteStep] = []
    result = session.cast(steps.append)
    assert result.outcome is CastOutcome.WRITTEN
    assert steps == [WriteStep.SEALING, WriteStep.WRITING, WriteStep.VERIFYING, WriteStep.DONE]
    assert session.phase is Phase.DONE and not session.holds_choices
    second = ts.election().options(SMD)[1].id
    assert opened(slot.card) == {LIST: "AMANAT", SMD: second, MASLIKHAT: Mark.AGAINST_ALL}
    _, data = ts.card_data(slot.card)
    record = BallotRecord.parse(data.record, ts.election().plaintext_length)
    assert result.receipt_code == session.receipt_code == receipt_code(record.enc + record.ciphertext)
    session.on_card_removed()
    assert session.phase is Phase.IDLE and session.receipt_code is None and session.language is None


def test_progress_is_reported_outside_the_lock_so_the_ui_thread_never_deadlocks() -> None:
    """The app's progress callback waits for the UI thread (call_from_thread); the UI
    thread may at that moment be handing the session a reader status, which takes the
    session's lock. Before: SEALING was reported inside the lock, and a CI run hung
    there for good (worker in `report`, UI thread in `on_reader`)."""
    import threading

    session, slot = start()
    session.on_card_inserted(slot.client)
    session.choose_language("en")
    session.select("AMANAT")
    session.next()
    session.select_position(2)
    session.next()
    session.select(Mark.AGAINST_ALL)
    assert session.next() is Phase.REVIEW
    finished: list[WriteStep] = []

    def progress(step: WriteStep) -> None:  # as the app's: wait for the "UI thread" to run
        ui = threading.Thread(target=session.on_reader, args=(None,), daemon=True)
        ui.start()
        ui.join(timeout=10)
        assert not ui.is_alive(), f"the UI thread waits for the session's lock while {step.name} is reported"
        finished.append(step)

    assert session.cast(progress).outcome is CastOutcome.WRITTEN
    assert finished == [WriteStep.SEALING, WriteStep.WRITING, WriteStep.VERIFYING, WriteStep.DONE]


def test_a_vote_costs_two_reads_and_one_apdu_to_write() -> None:
    session, slot = start()
    session.on_card_inserted(slot.client)
    read = slot.client.reset_stats()
    assert (read.apdus, read.total_bytes) == (2, 15 + 64)  # SELECT (no data), READ BINARY
    session.vote({LIST: "QHP"})
    session.cast()
    write = slot.client.stats
    record = len(slot.card.record)
    assert (write.apdus, write.total_bytes) == (1, 6 + record + 10)  # WRITE BALLOT answering its digest: no read-back


@pytest.mark.parametrize(("make_card", "check"), ts.refused_cards())
def test_refused_cards_are_named_and_never_written(make_card, check) -> None:
    card = make_card()
    before = ts.card_data(card)
    session, slot = start(card)
    result = session.on_card_inserted(slot.client)
    assert result.check is check and session.phase is Phase.REFUSED and session.check is check
    with pytest.raises(SessionStateError):
        session.choose_language("ru")
    assert ts.card_data(card) == before
    session.on_card_removed()
    assert session.phase is Phase.IDLE and session.check is None


def test_an_already_voted_card_is_refused_unchanged() -> None:
    card = ts.issued_card()
    first, slot = start(card)
    first.on_card_inserted(slot.client)
    first.vote({})
    first.cast()
    before = ts.card_data(card)
    session, slot2 = start(card)
    assert session.on_card_inserted(slot2.client).check is CardCheck.ALREADY_VOTED
    assert session.phase is Phase.REFUSED
    assert ts.card_data(card) == before


def test_a_card_with_a_malformed_issue_block_is_unreadable() -> None:
    card = VirtualBallotCard()
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    client.select()
    from sailau.simulator.card_app import TEST_MASTER_KEY

    client.issue(b"\x01junk", TEST_MASTER_KEY)
    session, slot = start(card)
    result = session.on_card_inserted(slot.client)
    assert result.check is CardCheck.UNREADABLE and "issue block" in result.detail


def test_a_card_pulled_while_being_read_is_unreadable_and_unchanged() -> None:
    session, slot = start()
    slot.pull()
    assert session.on_card_inserted(slot.client).check is CardCheck.UNREADABLE


def test_an_unmarked_contest_needs_confirmation_and_is_counted_blank() -> None:
    session, slot = start()
    session.on_card_inserted(slot.client)
    session.choose_language("ru")
    assert session.next() is Phase.CONFIRM_BLANK
    session.cancel_blank()
    assert session.phase is Phase.CONTEST and session.contest_index == 0
    session.next()
    assert session.confirm_blank() is Phase.CONTEST and session.contest_index == 1
    session.select_position(1)
    session.unselect()  # tapped twice: unmarked again
    session.next()
    session.confirm_blank()
    session.select("AZ")
    session.next()
    rows = session.review_rows()
    assert [r.blank for r in rows] == [True, True, False]
    assert rows[0].choice_label == "Без отметки"
    session.cast()
    assert opened(slot.card) == {LIST: Mark.BLANK, SMD: Mark.BLANK, MASLIKHAT: "AZ"}


def test_review_edit_returns_to_review_and_back_walks_the_contests() -> None:
    session, slot = start()
    session.on_card_inserted(slot.client)
    session.vote({LIST: "AUYL", SMD: ts.election().options(SMD)[0].id, MASLIKHAT: "QHP"}, language="en")
    session.edit(0)
    assert session.phase is Phase.CONTEST and session.contest_view().selected == "AUYL"
    session.select("JSDP")
    assert session.next() is Phase.REVIEW
    assert session.back() is Phase.CONTEST and session.contest_index == 2
    assert session.back() is Phase.CONTEST and session.contest_index == 1
    session.back()
    assert session.back() is Phase.LANGUAGE
    session.choose_language("kk")
    assert session.contest_view().selected == "JSDP"  # choices kept while the card stays
    with pytest.raises(SessionStateError):
        session.select("NOT-A-PARTY")
    with pytest.raises(SessionStateError):
        session.cast()


def test_removing_the_card_mid_vote_drops_every_choice_and_says_so() -> None:
    session, slot = start()
    session.on_card_inserted(slot.client)
    session.choose_language("kk")
    session.adjust(text_size=3, audio=True)
    session.select("AMANAT")
    assert session.holds_choices
    slot.pull()
    session.on_card_removed()
    # the choices are gone at once; the voter is told in their language and with their settings
    assert session.phase is Phase.CARD_PULLED and not session.holds_choices
    assert session.language == "kk" and session.settings.text_size == 3 and session.settings.audio
    slot.put_back()
    assert session.on_card_inserted(slot.client).check is CardCheck.ACCEPTED
    assert session.phase is Phase.LANGUAGE and session.settings.audio  # the same card: the same voter
    session.choose_language("kk")
    assert session.contest_view().selected is None


def test_idle_timeout_warns_then_clears_the_choices() -> None:
    clock = FakeClock()
    session = TerminalSession(ts.config(idle_timeout=120, idle_warning=30), clock=clock)
    slot = ts.slot(ts.issued_card())
    session.on_card_inserted(slot.client)
    session.choose_language("kk")
    session.select("AMANAT")
    clock.now += 89
    assert session.check_idle() is IdleState.ACTIVE
    clock.now += 2
    assert session.check_idle() is IdleState.WARNING
    session.touch()  # the voter taps: the timer starts again
    clock.now += 119
    assert session.check_idle() is IdleState.WARNING
    clock.now += 1
    assert session.check_idle() is IdleState.TIMED_OUT
    assert session.phase is Phase.TIMED_OUT and not session.holds_choices
    session.restart()
    assert session.phase is Phase.LANGUAGE
    session.vote({LIST: "BAITAQ"})
    session.cast()
    assert opened(slot.card)[LIST] == "BAITAQ"


def test_config_is_checked() -> None:
    from sailau.election.definition import ElectionLookupError

    with pytest.raises(ElectionLookupError):
        ts.config(precinct=99)
    with pytest.raises(ValueError, match="idle warning"):
        ts.config(idle_timeout=10, idle_warning=10)
    assert TerminalConfig(ts.election(), ts.PRECINCT, ts.terminal_key()).idle_timeout == 120


def _vote_until_torn(tear_after: int) -> tuple[TerminalSession, ts.Slot]:
    card = ts.issued_card()
    session, slot = start(card)
    session.on_card_inserted(slot.client)
    session.vote({LIST: "RESPUBLICA"}, language="ru")
    card.tear_after_bytes = tear_after
    return session, slot


def test_card_torn_at_every_byte_of_the_write_is_either_still_issued_or_fully_voted() -> None:
    seen = []
    tear = 0
    while True:
        session, slot = _vote_until_torn(tear)
        result = session.cast()
        if result.outcome is CastOutcome.WRITTEN:
            break
        assert result.outcome is CastOutcome.INTERRUPTED and session.phase is Phase.INTERRUPTED
        assert session.language == "ru" and not session.holds_choices
        assert slot.transport.card is None  # the torn card left the reader
        session.on_card_removed()  # the reader's event arrives late: still waiting for the card
        assert session.phase is Phase.INTERRUPTED
        slot.put_back()
        again = session.on_card_inserted(slot.client)
        seen.append(again.check)
        if again.check is CardCheck.STILL_ISSUED:
            assert session.phase is Phase.LANGUAGE and session.language == "ru"
            session.vote({LIST: "QHP"}, language="ru")
            assert session.cast().outcome is CastOutcome.WRITTEN
            assert opened(slot.card)[LIST] == "QHP"
        else:
            assert again.check is CardCheck.WRITE_COMPLETED
            assert session.phase is Phase.DONE and again.receipt_code == session.receipt_code
            assert opened(slot.card)[LIST] == "RESPUBLICA"
        tear += 1
    # one switch point: not written up to the commit, fully written after it
    assert CardCheck.STILL_ISSUED in seen and CardCheck.WRITE_COMPLETED in seen
    switch = seen.index(CardCheck.WRITE_COMPLETED)
    assert set(seen[:switch]) == {CardCheck.STILL_ISSUED} and set(seen[switch:]) == {CardCheck.WRITE_COMPLETED}


class PullBeforeTheAnswer:
    """A transport whose card runs WRITE BALLOT and is pulled before its answer
    (the digest) comes back."""

    def __init__(self, inner: InProcessTransport) -> None:
        self.inner = inner
        self.armed = False

    def connect(self) -> bytes:
        return self.inner.connect()

    def disconnect(self) -> None:
        self.inner.disconnect()

    def transmit(self, apdu: bytes) -> bytes:
        if self.armed and apdu[1] == 0x20:
            self.inner.transmit(apdu)
            self.inner.remove()
            raise CardRemovedError("pulled before the answer came back")
        return self.inner.transmit(apdu)


def test_card_pulled_before_write_ballot_answered_holds_the_full_record() -> None:
    card = ts.issued_card()
    transport = PullBeforeTheAnswer(InProcessTransport(card))
    client = BallotCardClient(transport)
    session = TerminalSession(ts.config(), clock=FakeClock())
    session.on_card_inserted(client)
    session.vote({SMD: ts.election().options(SMD)[2].id}, language="en")
    transport.armed = True
    assert session.cast().outcome is CastOutcome.INTERRUPTED
    transport.armed = False
    transport.inner.insert(card)
    result = session.on_card_inserted(client)
    assert result.check is CardCheck.WRITE_COMPLETED and session.phase is Phase.DONE
    _, data = ts.card_data(card)
    record = BallotRecord.parse(data.record, ts.election().plaintext_length)
    assert result.receipt_code == record.receipt_code


def test_another_voted_card_after_an_interruption_is_just_already_voted() -> None:
    session, slot = _vote_until_torn(0)
    session.cast()
    other = ts.issued_card()
    first, other_slot = start(other)
    first.on_card_inserted(other_slot.client)
    first.vote({})
    first.cast()
    assert session.on_card_inserted(ts.slot(other).client).check is CardCheck.ALREADY_VOTED


class CorruptDigest(InProcessTransport):
    def transmit(self, apdu: bytes) -> bytes:
        answer = super().transmit(apdu)
        if apdu[1] == 0x20 and answer[-2:] == b"\x90\x00":
            answer = bytes([answer[0] ^ 1]) + answer[1:]
        return answer


def _write_with(card: VirtualBallotCard, transport: InProcessTransport) -> tuple[TerminalSession, object]:
    session = TerminalSession(ts.config(), clock=FakeClock())
    session.on_card_inserted(BallotCardClient(transport))
    session.vote({})
    return session, session.cast()


def test_a_digest_that_differs_from_what_was_written_is_a_failed_write() -> None:
    card = ts.issued_card()
    session, result = _write_with(card, CorruptDigest(card))
    assert result.outcome is CastOutcome.FAILED and "does not hold this ballot" in result.detail
    assert session.phase is Phase.WRITE_FAILED and not session.holds_choices and session.receipt_code is None


def test_a_card_that_stores_something_else_than_it_was_sent_is_a_failed_write() -> None:
    from sailau.simulator.defects import DEFECTS

    card = DEFECTS["record-digest"].make()
    ts.issue(card)
    session, result = _write_with(card, InProcessTransport(card))
    assert result.outcome is CastOutcome.FAILED and session.phase is Phase.WRITE_FAILED


def test_a_card_voted_behind_the_terminal_s_back_refuses_the_write() -> None:
    card = ts.issued_card()
    session, slot = start(card)
    session.on_card_inserted(slot.client)
    session.vote({LIST: "AMANAT"})
    slot.client.write_ballot(b"\x01" * 10, card.issue_block)  # someone else writes between read and write
    result = session.cast()
    assert result.outcome is CastOutcome.FAILED and "refused" in result.detail
    assert session.phase is Phase.WRITE_FAILED


# -- property: any sequence of voter actions encodes exactly the choices on screen --

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("pick"), st.integers(1, 9)),
        st.tuples(st.sampled_from(["next", "back", "blank-yes", "blank-no", "unselect", "edit0", "edit2"]), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ACTIONS)
def test_any_action_sequence_casts_what_the_review_showed(actions) -> None:
    session, slot = start()
    session.on_card_inserted(slot.client)
    session.choose_language("en")
    for name, arg in actions:
        try:
            if name == "pick":
                session.select_position(arg)
            elif name == "next":
                session.next()
            elif name == "back":
                if session.phase is Phase.LANGUAGE:
                    session.choose_language("en")
                else:
                    session.back()
            elif name == "blank-yes":
                session.confirm_blank()
            elif name == "blank-no":
                session.cancel_blank()
            elif name == "unselect":
                session.unselect()
            elif name.startswith("edit"):
                session.edit(int(name[-1]))
        except SessionStateError:
            pass
    # finish: confirm everything left, blank where unmarked
    while session.phase is not Phase.REVIEW:
        if session.phase is Phase.LANGUAGE:
            session.choose_language("en")
        elif session.phase is Phase.CONFIRM_BLANK:
            session.confirm_blank()
        else:
            session.next()
    shown = {r.contest_id: r for r in session.review_rows()}
    session.cast()
    cast = opened(slot.card)
    for contest_id, row in shown.items():
        choice = cast[contest_id]
        assert row.blank == (choice is Mark.BLANK)
        assert row.choice_label == session.choice_label(contest_id, choice, "en")
