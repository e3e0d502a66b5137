"""The card's persistent store: journaled atomic updates, tearing at every byte,
recovery (itself torn), and file images that outlive the process object."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.simulator.card_app import TEST_MASTER_KEY, CardPowerLost, VirtualBallotCard
from sailau.simulator.eeprom import (
    COMMITTED,
    DATA_SIZE,
    IMAGE_SIZE,
    CardImage,
    CorruptImageError,
    FileStore,
    MemoryStore,
    TornWrite,
)
from sailau.smartcard.apdu import CardState
from sailau.smartcard.card_keys import command_proof, diversify

SERIAL = bytes.fromhex("A1A2A3A4A5A6A7A8")
KEY = diversify(TEST_MASTER_KEY, SERIAL)
ISSUE_BLOCK = bytes(range(100, 155))  # 55 bytes
RECORD = bytes((3 * i + 1) & 0xFF for i in range(150))
SELECT = bytes.fromhex("00A4040008F05341494C41550200")


def send(card: VirtualBallotCard, apdu: bytes) -> tuple[bytes, int]:
    out = card.execute(apdu)
    return out[:-2], int.from_bytes(out[-2:], "big")


def select_counter(card: VirtualBallotCard, key: bytes = KEY) -> int:
    """SELECT; the card's counter (what the next proof is made for)."""
    status, sw = send(card, SELECT)
    assert sw == 0x9000
    return int.from_bytes(status[9:12], "big")


def observed(card: VirtualBallotCard) -> tuple[int, int, bytes]:
    """What a host sees after power-on: (state, counter, data file), via APDUs."""
    status, sw = send(card, SELECT)
    assert sw == 0x9000 and status[1:9] == card.serial
    data, sw = send(card, bytes.fromhex("00B0000000"))
    assert sw == 0x9000
    return status[0], int.from_bytes(status[9:12], "big"), data


def data_file(issue: bytes = b"", record: bytes = b"") -> bytes:
    return bytes((len(issue),)) + issue + bytes((len(record),)) + record


BLANK_VIEW = (CardState.BLANK, 0, data_file())
ISSUED_VIEW = (CardState.ISSUED, 1, data_file(ISSUE_BLOCK))
VOTED_VIEW = (CardState.VOTED, 2, data_file(ISSUE_BLOCK, RECORD))
CLEARED_VIEW = (CardState.BLANK, 3, data_file())


def issue(card: VirtualBallotCard, key: bytes = KEY) -> None:
    counter = select_counter(card)
    body = ISSUE_BLOCK + command_proof(key, 0x10, counter, ISSUE_BLOCK)
    assert send(card, bytes.fromhex("80100000") + bytes((len(body),)) + body)[1] == 0x9000


def write_ballot(card: VirtualBallotCard) -> None:
    select_counter(card)
    assert send(card, bytes.fromhex("8020000096") + RECORD + b"\x08")[1] == 0x9000


def clear(card: VirtualBallotCard) -> None:
    counter = select_counter(card)
    assert send(card, bytes.fromhex("8030000008") + command_proof(KEY, 0x30, counter))[1] == 0x9000


OPERATIONS = {
    # name: (steps to reach the state before, the operation, view before, view after)
    "ISSUE": ([], issue, BLANK_VIEW, ISSUED_VIEW),
    "WRITE BALLOT": ([issue], write_ballot, ISSUED_VIEW, VOTED_VIEW),
    "CLEAR": ([issue, write_ballot], clear, VOTED_VIEW, CLEARED_VIEW),
}


class CardFactory:
    """Fresh powered cards in a given state, on a memory or a file store. For
    files, `reopen` opens the image afresh, as another process would."""

    def __init__(self, kind: str, tmp_path: Path, prepare: list[Callable]) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.prepare = prepare
        self.count = 0
        template = self._new_card(tmp_path / "template.card")
        self.template_image = (
            template.store.raw_image() if kind == "memory" else (tmp_path / "template.card").read_bytes()
        )
        template.close()

    def _new_card(self, path: Path) -> VirtualBallotCard:
        store = MemoryStore() if self.kind == "memory" else FileStore(path)
        card = VirtualBallotCard(serial=SERIAL, store=store)
        card.power_on()
        for step in self.prepare:
            step(card)
        card.power_off()
        return card

    def fresh(self) -> VirtualBallotCard:
        self.count += 1
        if self.kind == "memory":
            card = VirtualBallotCard(store=MemoryStore(self.template_image))
        else:
            path = self.tmp_path / f"card{self.count}.card"
            path.write_bytes(self.template_image)
            card = VirtualBallotCard.open_image(path)
        card.power_on()
        return card

    def reopen(self, card: VirtualBallotCard) -> VirtualBallotCard:
        if self.kind == "memory":
            return card
        card.close()
        return VirtualBallotCard.open_image(card.store.path)


@pytest.mark.parametrize("kind", ["memory", "file"])
@pytest.mark.parametrize("name", list(OPERATIONS))
def test_a_power_cut_at_every_byte_leaves_old_or_new_never_a_mix(kind, name, tmp_path):
    prepare, operation, before, after = OPERATIONS[name]
    factory = CardFactory(kind, tmp_path, prepare)

    card = factory.fresh()
    written = card.store.bytes_written
    operation(card)
    total = card.store.bytes_written - written
    assert observed(card) == after
    card.close()
    assert total > 50  # a journaled update writes the data twice plus the marker

    outcomes = []
    for cut in range(total):
        card = factory.fresh()
        card.tear_after_bytes = cut
        with pytest.raises(CardPowerLost):
            operation(card)
        assert not card.powered
        card = factory.reopen(card)
        card.power_on()  # recovery
        view = observed(card)
        assert view in (before, after), f"cut after {cut} bytes left a mixed card: {view}"
        outcomes.append(view == after)
        card.close()

    # old up to the commit marker, new after it: exactly one switch point
    switch = outcomes.index(True)
    assert 0 < switch < total
    assert outcomes == [False] * switch + [True] * (total - switch)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_a_power_cut_during_recovery_is_recovered_again(kind, tmp_path):
    """Cut WRITE BALLOT just after its commit marker, then cut the recovery at
    every byte: every later power-on still ends with the new data."""
    factory = CardFactory(kind, tmp_path, [issue])
    probe = factory.fresh()
    before = probe.store.bytes_written
    write_ballot(probe)
    total = probe.store.bytes_written - before
    probe.close()

    # find the first cut that commits (its recovery has work to do)
    commit_cut = None
    for cut in range(total):
        card = factory.fresh()
        card.tear_after_bytes = cut
        with pytest.raises(CardPowerLost):
            write_ballot(card)
        if card.store.peek().state == CardState.VOTED:
            commit_cut = cut
            card.close()
            break
        card.close()
    assert commit_cut is not None

    recovery_bytes = None
    cut2 = 0
    while True:
        card = factory.fresh()
        card.tear_after_bytes = commit_cut
        with pytest.raises(CardPowerLost):
            write_ballot(card)
        card = factory.reopen(card)
        card.tear_after_bytes = cut2
        try:
            card.power_on()
        except CardPowerLost:
            card = factory.reopen(card)
            card.power_on()
            assert observed(card) == VOTED_VIEW
            card.close()
            cut2 += 1
            continue
        recovery_bytes = cut2
        assert observed(card) == VOTED_VIEW
        card.close()
        break
    assert recovery_bytes > 100  # the record is re-applied, then the marker cleared


def test_an_uncommitted_journal_is_discarded_and_a_committed_one_replayed():
    store = MemoryStore()
    old = CardImage(CardState.ISSUED, SERIAL, KEY, ISSUE_BLOCK)
    new = CardImage(CardState.VOTED, SERIAL, KEY, ISSUE_BLOCK, RECORD)
    store.format(old)
    # journal fully written, marker not yet set
    store.tear_after_bytes = 150
    with pytest.raises(TornWrite):
        store.save(new)
    assert store.raw_image()[DATA_SIZE] != COMMITTED
    assert store.recover() is False
    assert store.load() == old

    # marker set, apply torn half-way: data area is a mix until recovery
    store.tear_after_bytes = 161 + 1 + 80
    with pytest.raises(TornWrite):
        store.save(new)
    assert store.raw_image()[DATA_SIZE] == COMMITTED
    mixed = store.load()
    assert mixed != old and mixed != new
    assert store.peek() == new
    assert store.recover() is True
    assert store.load() == new
    assert store.raw_image()[DATA_SIZE] != COMMITTED
    assert store.recover() is False


@pytest.mark.parametrize("record", [RECORD, bytes(len(RECORD)), bytes(range(len(RECORD)))])
def test_tear_after_commit_leaves_the_new_data_whatever_the_journal_size(record: bytes):
    """The switch cuts right after the marker however many segments the change has
    (a record with zero bytes merges or splits them)."""
    store = MemoryStore()
    old = CardImage(CardState.ISSUED, SERIAL, KEY, ISSUE_BLOCK)
    new = CardImage(CardState.VOTED, SERIAL, KEY, ISSUE_BLOCK, record)
    store.format(old)
    store.tear_after_commit = True
    with pytest.raises(TornWrite, match="commit marker"):
        store.save(new)
    assert store.raw_image()[DATA_SIZE] == COMMITTED and store.load() == old and store.peek() == new
    assert store.recover() is True and store.load() == new
    assert store.tear_after_commit is False  # one shot
    store.save(old)
    assert store.load() == old


def test_writes_are_counted_and_the_tear_switch_is_one_shot():
    store = MemoryStore()
    store.format(CardImage(CardState.BLANK, SERIAL, KEY))
    assert store.bytes_written == 0  # personalisation is not a journaled write
    store.tear_after_bytes = 3
    with pytest.raises(TornWrite, match="after 3"):
        store.save(CardImage(CardState.ISSUED, SERIAL, KEY, b"\x01\x02"))
    assert store.bytes_written == 3
    assert store.tear_after_bytes is None
    store.recover()
    store.save(CardImage(CardState.ISSUED, SERIAL, KEY, b"\x01\x02"))
    assert store.load().issue_block == b"\x01\x02"
    with pytest.raises(ValueError):
        store.tear_after_bytes = -1


def test_saving_an_unchanged_image_writes_nothing():
    store = MemoryStore()
    image = CardImage(CardState.BLANK, SERIAL, KEY)
    store.format(image)
    store.save(image)
    assert store.bytes_written == 0


@settings(max_examples=200, deadline=None)
@given(
    images=st.lists(
        st.tuples(
            st.sampled_from(list(CardState)),
            st.none() | st.binary(min_size=1, max_size=64),
            st.none() | st.binary(min_size=1, max_size=255),
        ),
        min_size=2,
        max_size=2,
    ),
    cut=st.integers(min_value=0, max_value=800),
    recovery_cut=st.none() | st.integers(min_value=0, max_value=400),
)
def test_any_update_torn_anywhere_recovers_to_old_or_new(images, cut, recovery_cut):
    old, new = (CardImage(state, SERIAL, KEY, issue, record) for state, issue, record in images)
    store = MemoryStore()
    store.format(old)
    store.tear_after_bytes = cut
    try:
        store.save(new)
    except TornWrite:
        pass
    store.tear_after_bytes = recovery_cut
    try:
        store.recover()
    except TornWrite:
        store.recover()
    store.tear_after_bytes = None
    assert store.load() in (old, new)
    assert store.recover() is False


def test_file_image_survives_a_new_virtual_card(tmp_path):
    path = tmp_path / "voter.card"
    card = VirtualBallotCard.open_image(path)
    assert path.stat().st_size == IMAGE_SIZE
    serial = card.serial
    card.power_on()
    issue(card, diversify(TEST_MASTER_KEY, serial))
    write_ballot(card)
    card.close()

    again = VirtualBallotCard.open_image(path)
    assert again.serial == serial
    assert again.state == CardState.VOTED  # readable while unpowered
    again.power_on()
    assert observed(again) == (CardState.VOTED, 2, data_file(ISSUE_BLOCK, RECORD))
    again.close()


def test_an_image_file_carries_its_serial_and_refuses_another(tmp_path):
    path = tmp_path / "c.card"
    card = VirtualBallotCard(serial=SERIAL, store=FileStore(path))
    card.close()
    assert VirtualBallotCard.open_image(path).serial == SERIAL
    with pytest.raises(ValueError, match="a1a2a3a4a5a6a7a8"):
        VirtualBallotCard(serial=b"\x00" * 8, store=FileStore(path))
    assert not (tmp_path / "c.card.tmp").exists()


def test_a_file_of_the_wrong_size_or_magic_is_refused(tmp_path):
    short = tmp_path / "short.card"
    short.write_bytes(b"\0" * 100)
    with pytest.raises(CorruptImageError, match="100 bytes"):
        VirtualBallotCard.open_image(short)
    junk = tmp_path / "junk.card"
    junk.write_bytes(b"\0" * IMAGE_SIZE)
    with pytest.raises(CorruptImageError, match="magic"):
        VirtualBallotCard.open_image(junk)


def test_a_committed_journal_in_a_file_is_replayed_by_another_process_object(tmp_path):
    path = tmp_path / "torn.card"
    card = VirtualBallotCard.open_image(path)
    key = diversify(TEST_MASTER_KEY, card.serial)
    card.power_on()
    card.store.tear_after_commit = True  # ISSUE's journal and marker written, not applied
    with pytest.raises(CardPowerLost):
        issue(card, key)
    card.close()
    copy = tmp_path / "copy.card"
    shutil.copy(path, copy)
    raw = copy.read_bytes()
    assert raw[DATA_SIZE] == COMMITTED
    other = VirtualBallotCard.open_image(copy)
    other.power_on()
    assert other.state == CardState.ISSUED and other.issue_block == ISSUE_BLOCK and other.counter == 1
    assert copy.read_bytes()[DATA_SIZE] != COMMITTED
    other.close()


def test_card_image_encoding_round_trips_and_rejects_bad_fields():
    image = CardImage(CardState.VOTED, SERIAL, KEY, ISSUE_BLOCK, RECORD, counter=0x012345)
    assert CardImage.decode(image.encode()) == image
    raw = bytearray(image.encode())
    assert raw[13:16] == b"\x01\x23\x45"  # the counter, after the serial
    raw[4] = 7
    with pytest.raises(CorruptImageError, match="state byte 07"):
        CardImage.decode(bytes(raw))
    raw = bytearray(image.encode())
    raw[3] = 1
    with pytest.raises(CorruptImageError, match="protocol v1"):
        CardImage.decode(bytes(raw))
    with pytest.raises(ValueError, match="counter"):
        CardImage(CardState.BLANK, SERIAL, KEY, counter=1 << 24)
    raw = bytearray(image.encode())
    raw[32] = 65
    with pytest.raises(CorruptImageError, match="issue length 65"):
        CardImage.decode(bytes(raw))
    with pytest.raises(ValueError):
        CardImage(CardState.BLANK, SERIAL, KEY, b"x" * 65)
    with pytest.raises(ValueError):
        CardImage(CardState.BLANK, b"short", KEY)


def _reference_segments(old: bytes, new: bytes, merge_gap: int = 4) -> list[tuple[int, bytes]]:
    """The journal's changed ranges, byte by byte (what `_segments` computes faster)."""
    runs: list[list[int]] = []
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        if a != b:
            if runs and i - runs[-1][1] <= merge_gap:
                runs[-1][1] = i + 1
            else:
                runs.append([i, i + 1])
    return [(start, new[start:end]) for start, end in runs]


@settings(max_examples=300, deadline=None)
@given(base=st.binary(min_size=DATA_SIZE, max_size=DATA_SIZE),
       changes=st.lists(st.tuples(st.integers(0, DATA_SIZE - 1), st.binary(min_size=1, max_size=40)), max_size=12))
def test_journal_segments_are_the_changed_ranges_merged_across_small_gaps(base, changes):
    from sailau.simulator.eeprom import _segments

    new = bytearray(base)
    for offset, data in changes:
        new[offset : offset + len(data)] = data
        del new[DATA_SIZE:]
    new = bytes(new)
    expected = _reference_segments(base, new)
    size = 2 + sum(4 + len(d) for _, d in expected)
    if size <= DATA_SIZE + 6 and len(expected) <= 255:
        assert _segments(base, new) == expected
    for offset, data in _segments(base, new):  # whatever the split, applying it gives `new`
        assert new[offset : offset + len(data)] == data
    patched = bytearray(base)
    for offset, data in _segments(base, new):
        patched[offset : offset + len(data)] = data
    assert bytes(patched) == new
