"""Cast exactly once (issue 4 item 4): every rejection leaves the card's bytes
untouched, stores nothing and chains a card_rejected event with its reason; an
already-counted card is only cleared; a crash after the commit never counts twice."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sailau.ballot_box import audit, store
from sailau.simulator.booth_rig import Rig
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.station import CastStatus, Station
from sailau.ballot_box.store import WrongPollsState
from sailau.election import crypto
from sailau.election.record import IssueBlock, SealedBallot, seal_ballot, token_hash
from sailau.election.ballot import encode_ballot
from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.eeprom import MemoryStore
from sailau.smartcard.apdu import CardState
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport



@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=8)


class Slot(InProcessTransport):
    """A reader that can pull the card just before the APDU whose INS matches."""

    def __init__(self, card: VirtualBallotCard) -> None:
        super().__init__(card)
        self.pull_before_ins: int | None = None

    def transmit(self, apdu: bytes) -> bytes:
        if self.pull_before_ins is not None and apdu[1] == self.pull_before_ins:
            self.pull_before_ins = None
            self.remove()
        return super().transmit(apdu)


class Card:
    def __init__(self, rig: Rig) -> None:
        self.store = MemoryStore()
        self.card = VirtualBallotCard(store=self.store, master_key=rig.card_master_key)
        self.slot = Slot(self.card)
        self.client = BallotCardClient(self.slot)
        self.client.connect()
        self.client.select()

    def image(self) -> bytes:
        return self.store.raw_image()

    def reinsert(self) -> None:
        if self.slot.card is None:
            self.slot.insert(self.card)
        self.client.connect()


def issued_by_station(rig: Rig, station: Station, voter: int = 0) -> Card:
    card = Card(rig)
    station.check_in(rig.iins[voter])
    station.issue_card(card.client)
    return card


def voted_by_station(rig: Rig, station: Station, voter: int = 0) -> tuple[Card, str]:
    card = issued_by_station(rig, station, voter)
    receipt = rig.vote(card.client, rig.selections(voter))
    return card, receipt


def forged(rig: Rig, block: bytes, record: bytes) -> Card:
    """A card carrying exactly these bytes (written with the real master key)."""
    card = Card(rig)
    card.client.issue(block, rig.card_master_key)
    card.client.write_ballot(record, block)
    return card


def good_block(rig: Rig, station: Station, **changes: object) -> IssueBlock:
    fields = dict(fingerprint=rig.election.fingerprint, precinct=rig.precinct, style=station.style,
                  token=secrets.token_bytes(16))
    fields.update(changes)
    return IssueBlock(**fields)  # type: ignore[arg-type]


def stored_receipts(station: Station) -> list[str]:
    """The receipt codes of the ballots in the box (the station's results carry none)."""
    return [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(station.db)]


def assert_rejected(station: Station, card: Card, reason: Refusal) -> None:
    before_image, before_counts = card.image(), station.counters()
    before_events = audit.read_head(station.db)[0]
    card.reinsert()
    result = station.cast_card(card.client)
    assert result.status is CastStatus.REJECTED and result.reason is reason, result
    assert result.message and result.clear is None and not result.card_cleared
    assert card.image() == before_image, "a rejected card must not be written to"
    assert station.counters() == before_counts
    events = audit.read_events(station.db)
    assert len(events) == before_events + 1
    assert events[-1].kind == "card_rejected" and events[-1].payload["reason"] == reason.value
    assert audit.verify_db(station.db).ok


def flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index] ^= 0x01
    return bytes(out)


def test_foreign_election_is_rejected_untouched(rig: Rig, station: Station) -> None:
    other = Rig.create(voters=1)
    block = good_block(rig, station, fingerprint=other.election.fingerprint)
    assert_rejected(station, forged(rig, block.pack(), rig.seal(block, {})), Refusal.WRONG_ELECTION)


def test_other_precinct_is_rejected_untouched(rig: Rig, station: Station) -> None:
    block = good_block(rig, station, precinct=7102)  # same election, same style, other station
    assert_rejected(station, forged(rig, block.pack(), rig.seal(block, {})), Refusal.WRONG_PRECINCT)


def test_other_style_is_rejected_untouched(rig: Rig, station: Station) -> None:
    block = good_block(rig, station, style=2)
    assert_rejected(station, forged(rig, block.pack(), rig.seal(block, {})), Refusal.WRONG_PRECINCT)


def test_unknown_token_is_rejected_untouched(rig: Rig, station: Station) -> None:
    block = good_block(rig, station)  # well signed, but this station never issued the token
    assert_rejected(station, forged(rig, block.pack(), rig.seal(block, {})), Refusal.UNKNOWN_TOKEN)


def test_cancelled_token_is_rejected_untouched(rig: Rig, station: Station) -> None:
    card = issued_by_station(rig, station)
    token = IssueBlock.parse(card.card.issue_block).token
    store.cancel_issued(station.db, token_hash(token))
    rig.vote(card.client, rig.selections(0))
    assert_rejected(station, card, Refusal.CARD_CANCELLED)


def test_unenrolled_terminal_is_rejected_untouched(rig: Rig, station: Station) -> None:
    card = issued_by_station(rig, station)
    block = IssueBlock.parse(card.card.issue_block)
    plaintext = encode_ballot(rig.election, block.style, {})
    record = seal_ballot(block, plaintext, rig.election_key.public_key_bytes, crypto.generate_signing_key())
    card.client.write_ballot(record.pack(), card.card.issue_block)
    assert_rejected(station, card, Refusal.UNKNOWN_TERMINAL)


def test_bad_signature_is_rejected_untouched(rig: Rig, station: Station) -> None:
    card = issued_by_station(rig, station)
    block = IssueBlock.parse(card.card.issue_block)
    record = rig.seal(block, {})
    card.client.write_ballot(flip(record, len(record) - 1), card.card.issue_block)
    assert_rejected(station, card, Refusal.BAD_SIGNATURE)


def test_tampered_ciphertext_is_caught_by_the_signature(rig: Rig, station: Station) -> None:
    card = issued_by_station(rig, station)
    block = IssueBlock.parse(card.card.issue_block)
    record = rig.seal(block, {})
    card.client.write_ballot(flip(record, 1 + 8 + 32 + 1), card.card.issue_block)  # a ciphertext byte
    assert_rejected(station, card, Refusal.BAD_SIGNATURE)


def test_record_moved_from_another_card_is_rejected(rig: Rig, station: Station) -> None:
    card = issued_by_station(rig, station, 0)
    other = issued_by_station(rig, station, 1)
    other_record = rig.seal(IssueBlock.parse(other.card.issue_block), {})
    card.client.write_ballot(other_record, card.card.issue_block)  # a genuine record, signed for the other card's token
    assert_rejected(station, card, Refusal.BAD_SIGNATURE)


@pytest.mark.parametrize("mangle", [
    pytest.param(lambda r: r[:-1], id="short"),
    pytest.param(lambda r: r + b"\x00", id="long"),
    pytest.param(lambda r: b"\x02" + r[1:], id="version"),
])
def test_malformed_record_is_rejected_untouched(rig: Rig, station: Station, mangle: Callable[[bytes], bytes]) -> None:
    card = issued_by_station(rig, station)
    record = rig.seal(IssueBlock.parse(card.card.issue_block), {})
    card.client.write_ballot(mangle(record), card.card.issue_block)
    assert_rejected(station, card, Refusal.MALFORMED_RECORD)


def test_malformed_issue_block_is_rejected_untouched(rig: Rig, station: Station) -> None:
    block = good_block(rig, station)
    assert_rejected(station, forged(rig, block.pack()[:-1], rig.seal(block, {})), Refusal.MALFORMED_RECORD)


def test_card_pulled_mid_read_is_rejected_then_counts_once_reinserted(rig: Rig, station: Station) -> None:
    card, receipt = voted_by_station(rig, station)
    before = card.image()
    card.slot.pull_before_ins = 0xB0  # READ BINARY
    result = station.cast_card(card.client)
    assert result.status is CastStatus.REJECTED and result.reason is Refusal.CARD_REMOVED
    assert card.image() == before and station.counters().cast == 0
    assert audit.read_events(station.db)[-1].payload == {"reason": "card_removed"}
    card.reinsert()
    again = station.cast_card(card.client)
    assert again.status is CastStatus.ACCEPTED and stored_receipts(station) == [receipt]
    assert station.counters().cast == 1


def test_card_not_voted_is_rejected_untouched(rig: Rig, station: Station) -> None:
    card = issued_by_station(rig, station)
    assert_rejected(station, card, Refusal.CARD_NOT_VOTED)


class Died(Exception):
    """Stands for the process dying at a fault point (the crash tests use real SIGKILL)."""


def test_crash_after_commit_then_reinsert_is_already_counted_and_cleared(rig: Rig, station: Station) -> None:
    card, receipt = voted_by_station(rig, station)

    def die(point: str) -> None:
        if point == "cast:committed":
            raise Died(point)

    station.fault_hook = die
    with pytest.raises(Died):
        station.cast_card(card.client)
    assert card.card.state is CardState.VOTED and station.counters().cast == 1
    station.fault_hook = lambda _p: None
    card.reinsert()
    result = station.on_card(card.client).cast
    assert result is not None and result.status is CastStatus.ALREADY_COUNTED and result.card_cleared
    assert stored_receipts(station) == [receipt] and "already counted" in result.message.lower()
    assert card.card.state is CardState.BLANK
    assert station.counters().cast == 1 and len(store.ballots(station.db)) == 1


def test_crash_before_commit_stores_nothing_and_reinsert_counts(rig: Rig, station: Station) -> None:
    card, _ = voted_by_station(rig, station)

    def die(point: str) -> None:
        if point == "cast:verified":
            raise Died(point)

    station.fault_hook = die
    with pytest.raises(Died):
        station.cast_card(card.client)
    assert station.counters().cast == 0 and card.card.state is CardState.VOTED
    station.fault_hook = lambda _p: None
    card.reinsert()
    assert station.cast_card(card.client).status is CastStatus.ACCEPTED
    assert station.counters().cast == 1


def test_card_pulled_before_clear_counts_once_and_reinsert_clears(rig: Rig, station: Station) -> None:
    card, receipt = voted_by_station(rig, station)
    card.slot.pull_before_ins = 0x30  # CLEAR
    result = station.cast_card(card.client)
    assert result.status is CastStatus.ACCEPTED and not result.card_cleared and "insert it again" in result.message
    assert card.card.state is CardState.VOTED
    card.reinsert()
    again = station.cast_card(card.client)
    assert again.status is CastStatus.ALREADY_COUNTED and again.card_cleared and stored_receipts(station) == [receipt]
    assert station.counters().cast == 1 and card.card.state is CardState.BLANK


def test_cast_needs_open_polls(rig: Rig, station: Station) -> None:
    card, _ = voted_by_station(rig, station)
    store.record_polls_closed(station.db, seal=False)
    with pytest.raises(WrongPollsState):
        station.cast_card(card.client)
    assert card.card.state is CardState.VOTED and station.polls_state is PollsState.CLOSED


@pytest.fixture(scope="module")
def sqlite_station(rig: Rig, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("mut")
    with open_station_db(f"sqlite:///{tmp / 's.db'}") as db:
        station = rig.open_station(db, tmp)
        block = good_block(rig, station)
        store.record_issued(db, block.token_hash)
        yield station, block, rig.seal(block, rig.selections(1))  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_of_the_card_is_refused_untouched(rig: Rig, sqlite_station, data: st.DataObject) -> None:
    """Change any byte of the issue block or the record: never counted, card never written."""
    station, block, record = sqlite_station
    packed = block.pack()
    where = data.draw(st.sampled_from(["block", "record"]))
    target = packed if where == "block" else record
    i = data.draw(st.integers(0, len(target) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != target[i]))
    mutated = target[:i] + bytes([value]) + target[i + 1:]
    card = forged(rig, mutated if where == "block" else packed, mutated if where == "record" else record)
    before = card.image()
    result = station.cast_card(card.client)
    assert result.status is CastStatus.REJECTED and card.image() == before
    assert station.counters().cast == 0
