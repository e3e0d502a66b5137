"""The station service on SQLite and on a real PostgreSQL: opening, check-in, the
card-state decision, issue (and a failed ISSUE), cast, cancel, counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from sailau.ballot_box import audit, pollbook, store
from sailau.simulator.booth_rig import Rig
from sailau.ballot_box.db import StationDB
from sailau.ballot_box.models import PollsState, TokenState
from sailau.ballot_box.station import (
    ActionKind,
    CancelStatus,
    CardNotBlank,
    CastStatus,
    IssueFailed,
    NoVoterSelected,
    Station,
    StationMismatch,
    VoterNotWaiting,
    ZeroReportFailed,
)
from sailau.election import crypto
from sailau.election.receipts import read_receipt_list
from sailau.election.record import IssueBlock, SealedBallot, token_hash
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport



@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=12)


def new_card(rig: Rig) -> tuple[VirtualBallotCard, BallotCardClient, InProcessTransport]:
    card = VirtualBallotCard(master_key=rig.card_master_key)
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    return card, client, transport


def test_open_polls_gives_a_zero_report_and_audits_it(rig: Rig, db: StationDB, tmp_path: Path) -> None:
    station = rig.station(db)
    pollbook.import_voters(db, rig.voters_csv(tmp_path / "v.csv"))
    report = station.open_polls([rig.terminal])
    assert (report.ballots_stored, report.cards_issued, report.voters_on_list) == (0, 0, len(rig.iins))
    assert report.terminals == (rig.terminal.key_id.hex(),)
    assert station.polls_state is PollsState.OPEN
    events = audit.read_events(db)
    assert events[-1].kind == "polls_opened" and events[-1].payload["ballots_stored"] == 0
    assert audit.verify_db(db).ok


def test_zero_report_refuses_without_terminals(rig: Rig, db: StationDB) -> None:
    station = rig.station(db)
    with pytest.raises(ZeroReportFailed, match="no voting terminal"):
        station.open_polls([])
    assert station.polls_state is PollsState.SETUP


def test_zero_report_refuses_a_box_that_is_not_empty(rig: Rig, db: StationDB) -> None:
    station = rig.station(db)
    with db.write() as session:  # a ballot smuggled in before opening
        from sailau.ballot_box.models import BallotRow

        session.add(BallotRow(id=b"\x01" * 16, style_code=1, sealed=b"x"))
    with pytest.raises(ZeroReportFailed, match="1 ballot"):
        station.open_polls([rig.terminal])
    assert station.polls_state is PollsState.SETUP


def test_station_refuses_a_database_of_another_election_precinct_or_key(rig: Rig, db: StationDB) -> None:
    rig.station(db)
    with pytest.raises(StationMismatch, match="precinct"):
        Station(db, rig.election, 7102, rig.station_key, rig.card_master_key)
    with pytest.raises(StationMismatch, match="station key"):
        Station(db, rig.election, rig.precinct, crypto.generate_signing_key(), rig.card_master_key)
    other = Rig.create(voters=1)
    with pytest.raises(StationMismatch, match="fingerprint"):
        Station(db, other.election, rig.precinct, rig.station_key, rig.card_master_key)
    assert Station.attach(db, rig.election, rig.station_key, None).precinct == rig.precinct


def test_one_voter_end_to_end_and_counters(rig: Rig, station: Station) -> None:
    card, client, _ = new_card(rig)
    voter = station.check_in(rig.iins[0])
    assert station.selected_voter == voter and station.waiting == [voter]
    action = station.on_card(client)
    assert action.kind is ActionKind.ISSUED and action.issue is not None and action.issue.voter.iin == voter.iin
    assert card.state is CardState.ISSUED and station.waiting == [] and station.selected_voter is None
    block = IssueBlock.parse(card.issue_block)
    assert (block.fingerprint, block.precinct, block.style) == (rig.election.fingerprint, rig.precinct, station.style)
    assert store.token_state(station.db, block.token_hash) is TokenState.ISSUED
    c = station.counters()
    assert (c.checked_in, c.issued, c.cast, c.outstanding) == (1, 1, 0, 1)

    receipt = rig.vote(client, rig.selections(0))
    action = station.on_card(client)
    assert action.kind is ActionKind.CAST and action.cast is not None
    assert action.cast.status is CastStatus.ACCEPTED and action.cast.card_cleared
    assert receipt not in repr(action)  # the table says "counted", nothing derived from the ballot
    assert card.state is CardState.BLANK and card.issue_block is None and card.record is None
    assert store.token_state(station.db, block.token_hash) is TokenState.USED
    c = station.counters()
    assert (c.checked_in, c.issued, c.cast, c.outstanding, c.cancelled) == (1, 1, 1, 0, 0)
    assert [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(station.db)] == [receipt]


def test_blank_card_without_a_waiting_voter_is_left_alone(rig: Rig, station: Station) -> None:
    card, client, _ = new_card(rig)
    action = station.on_card(client)
    assert action.kind is ActionKind.NEED_VOTER and card.state is CardState.BLANK
    with pytest.raises(NoVoterSelected):
        station.issue_card(client)
    assert station.counters().issued == 0


def test_a_voter_gets_one_card_per_session(rig: Rig, station: Station) -> None:
    _, client, _ = new_card(rig)
    station.check_in(rig.iins[0])
    station.issue_card(client)
    _, client2, _ = new_card(rig)
    with pytest.raises(VoterNotWaiting, match="already got a card"):
        station.issue_card(client2, rig.iins[0])
    with pytest.raises(VoterNotWaiting, match="not checked in"):
        station.issue_card(client2, rig.iins[1])
    with pytest.raises(pollbook.AlreadyCheckedIn):
        station.check_in(rig.iins[0])
    assert station.counters().issued == 1


def test_issue_needs_a_blank_card(rig: Rig, station: Station) -> None:
    _, client, _ = new_card(rig)
    station.check_in(rig.iins[0])
    station.issue_card(client)
    station.check_in(rig.iins[1])
    with pytest.raises(CardNotBlank):
        station.issue_card(client)
    assert [v.iin for v in station.waiting] == [rig.iins[1]]


def test_issued_card_is_offered_for_cancel_and_cancel_clears_it(rig: Rig, station: Station) -> None:
    card, client, _ = new_card(rig)
    station.check_in(rig.iins[0])
    station.on_card(client)
    token = IssueBlock.parse(card.issue_block).token
    action = station.on_card(client)
    assert action.kind is ActionKind.OFFER_CANCEL and card.state is CardState.ISSUED
    result = station.cancel_card(client)
    assert result.status is CancelStatus.CANCELLED and result.card_cleared and card.state is CardState.BLANK
    assert store.token_state(station.db, token_hash(token)) is TokenState.CANCELLED
    c = station.counters()
    assert (c.issued, c.cancelled, c.cast, c.outstanding) == (1, 1, 0, 0)
    assert audit.read_events(station.db)[-1].kind == "card_cancelled"


def test_cancel_after_a_crash_between_token_and_card_just_clears(rig: Rig, station: Station) -> None:
    """The token was cancelled but the process died before CLEAR: re-inserting clears."""
    card, client, _ = new_card(rig)
    station.check_in(rig.iins[0])
    station.on_card(client)
    token = IssueBlock.parse(card.issue_block).token
    store.cancel_issued(station.db, token_hash(token))  # as far as the crashed process got
    result = station.cancel_card(client)
    assert result.status is CancelStatus.ALREADY_CANCELLED and card.state is CardState.BLANK
    assert station.counters().cancelled == 1


class PullAt(InProcessTransport):
    """Pulls the card just before the n-th APDU from now (n=1: the next one)."""

    def __init__(self, card: VirtualBallotCard) -> None:
        super().__init__(card)
        self.pull_in: int | None = None

    def transmit(self, apdu: bytes) -> bytes:
        if self.pull_in is not None:
            self.pull_in -= 1
            if self.pull_in == 0:
                self.pull_in = None
                self.remove()
        return super().transmit(apdu)


def _issue_pulled_at_issue(rig: Rig, station: Station) -> tuple[VirtualBallotCard, PullAt, BallotCardClient]:
    """The first voter checked in and a blank card pulled at ISSUE: the issue fails."""
    card = VirtualBallotCard(master_key=rig.card_master_key)
    transport = PullAt(card)
    client = BallotCardClient(transport)
    client.connect()
    station.check_in(rig.iins[0])
    transport.pull_in = 2  # SELECT, then pulled at ISSUE
    with pytest.raises(IssueFailed):
        station.on_card(client)
    return card, transport, client


def test_failed_issue_retried_on_the_same_card_reuses_the_token(rig: Rig, station: Station) -> None:
    card, transport, client = _issue_pulled_at_issue(rig, station)
    assert card.state is CardState.BLANK and station.counters().issued == 1
    transport.insert(card)
    client.connect()
    action = station.on_card(client)
    assert action.kind is ActionKind.ISSUED and action.issue is not None and action.issue.reused_token
    c = station.counters()
    assert (c.issued, c.outstanding, c.cancelled) == (1, 1, 0)  # one voter, one token
    assert store.token_state(station.db, IssueBlock.parse(card.issue_block).token_hash) is TokenState.ISSUED


def test_failed_issue_that_did_land_is_recognised(rig: Rig, station: Station) -> None:
    card = VirtualBallotCard(master_key=rig.card_master_key)
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    station.check_in(rig.iins[0])
    original = transport.transmit  # the ISSUE commits on the card; its answer is lost

    def lose_answer(apdu: bytes) -> bytes:
        answer = original(apdu)
        if apdu[1] == 0x10:  # ISSUE
            transport.remove()
            from sailau.smartcard.errors import CardRemovedError

            raise CardRemovedError("pulled after ISSUE, before the answer")
        return answer

    transport.transmit = lose_answer  # type: ignore[method-assign]
    with pytest.raises(IssueFailed):
        station.issue_card(client)
    transport.transmit = original  # type: ignore[method-assign]
    transport.insert(card)
    client.connect()
    assert card.state is CardState.ISSUED
    action = station.on_card(client)
    assert action.kind is ActionKind.ISSUED and action.issue is not None and action.issue.reused_token
    assert station.counters().issued == 1 and station.waiting == []


def test_failed_issue_then_another_card_cancels_the_first_token(rig: Rig, station: Station) -> None:
    _issue_pulled_at_issue(rig, station)
    other, client2, _ = new_card(rig)
    result = station.issue_card(client2)
    assert not result.reused_token and other.state is CardState.ISSUED
    c = station.counters()
    assert (c.issued, c.cancelled, c.outstanding) == (2, 1, 1)


def test_select_voter_requeues_after_a_restart(rig: Rig, station: Station) -> None:
    station.check_in(rig.iins[3])
    restarted = Station.attach(station.db, rig.election, rig.station_key, rig.card_master_key)
    assert restarted.waiting == []
    restarted.select_voter(rig.iins[3])
    card, client, _ = new_card(rig)
    assert restarted.on_card(client).kind is ActionKind.ISSUED and card.state is CardState.ISSUED


def test_many_voters_interleaved(rig: Rig, station: Station) -> None:
    """Three cards in flight at once, cast in another order than issued."""
    cards = [new_card(rig) for _ in range(3)]
    for i, (_, client, _) in enumerate(cards):
        station.check_in(rig.iins[i])
        station.on_card(client)
    receipts = [rig.vote(client, rig.selections(i)) for i, (_, client, _) in enumerate(cards)]
    for i in (2, 0, 1):
        result = station.cast_card(cards[i][1])
        assert result.status is CastStatus.ACCEPTED
    assert sorted(SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(station.db)) == sorted(receipts)
    c = station.counters()
    assert (c.checked_in, c.issued, c.cast, c.outstanding) == (3, 3, 3, 0)
    assert all(card.state is CardState.BLANK for card, _, _ in cards)


def test_bench_functions_measure_real_runs(tmp_path: Path) -> None:
    """`sailau bench` calls these; here only that they run the real paths (no timing asserts)."""
    from sailau.simulator.booth_rig import bench_cast, bench_close

    cast = bench_cast(lambda master: VirtualBallotCard(master_key=master), casts=5)
    assert (cast.backend, cast.casts) == ("sqlite", 5) and cast.mean_ms > 0
    close = bench_close(ballots=20, out_dir=tmp_path / "out")
    assert close.ballots == 20 and close.pdf_bytes == (tmp_path / "out" / "protocol.pdf").stat().st_size
    assert len(read_receipt_list(tmp_path / "out" / "receipts.json").codes) == 20
