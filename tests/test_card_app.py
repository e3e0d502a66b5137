"""The virtual ballot card against the APDU contract in smartcard/README.md
(protocol v2).

APDUs are written out as hex here on purpose (not built from the constants in
sailau.smartcard.apdu), and proofs and digests are computed here with
`cryptography` and hashlib, so the tests check the contract, not the code
against itself. tests/test_conformance.py runs the conformance kit, which
covers the same ground clause by clause."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sailau.simulator.card_app import ATR, TEST_MASTER_KEY, CardPowerLost, VirtualBallotCard

SERIAL = bytes.fromhex("0102030405060708")
AID = "F05341494C415502"
SELECT = "00A4040008" + AID + "00"
SELECT_QUIET = "00A4040C08" + AID
ISSUE_BLOCK = bytes(range(1, 56))  # 55 bytes, like election/README.md's issue block
RECORD = bytes((i * 7) & 0xFF for i in range(150))

BLANK, ISSUED, VOTED = 0, 1, 2


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def aes_cmac(key: bytes, message: bytes) -> bytes:
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def card_key(master: bytes = TEST_MASTER_KEY, serial: bytes = SERIAL) -> bytes:
    return aes_cmac(master, b"\x01" + serial)


def proof(ins: int, counter: int, data: bytes = b"", key: bytes | None = None) -> bytes:
    """AES-CMAC(card key, "SLU" 02 ‖ INS ‖ counter(3) ‖ data), first 8 bytes."""
    key = key if key is not None else card_key()
    return aes_cmac(key, b"SLU\x02" + bytes((ins,)) + counter.to_bytes(3, "big") + data)[:8]


def digest(issue: bytes, record: bytes) -> bytes:
    return hashlib.sha256(bytes((len(issue),)) + issue + bytes((len(record),)) + record).digest()[:8]


def run(card: VirtualBallotCard, apdu: str | bytes) -> tuple[bytes, int]:
    raw = h(apdu) if isinstance(apdu, str) else apdu
    out = card.execute(raw)
    return out[:-2], int.from_bytes(out[-2:], "big")


def sw(card: VirtualBallotCard, apdu: str | bytes) -> int:
    return run(card, apdu)[1]


def select(card: VirtualBallotCard) -> tuple[int, bytes, int]:
    data, s = run(card, SELECT)
    assert s == 0x9000 and len(data) == 12, (data.hex(), hex(s))
    return data[0], data[1:9], int.from_bytes(data[9:], "big")


def issue_apdu(counter: int, block: bytes = ISSUE_BLOCK, key: bytes | None = None) -> str:
    body = block + proof(0x10, counter, block, key)
    return f"80100000{len(body):02X}" + body.hex()


def clear_apdu(counter: int, key: bytes | None = None) -> str:
    return "8030000008" + proof(0x30, counter, b"", key).hex()


def write_apdu(record: bytes = RECORD, le: str = "08") -> str:
    return f"80200000{len(record):02X}" + record.hex() + le


def card_in_state(state: int) -> VirtualBallotCard:
    """A powered, selected card in `state` (counter = number of changes made)."""
    card = VirtualBallotCard(serial=SERIAL)
    card.power_on()
    assert select(card) == (BLANK, SERIAL, 0)
    if state >= ISSUED:
        assert sw(card, issue_apdu(0)) == 0x9000
    if state == VOTED:
        assert run(card, write_apdu()) == (digest(ISSUE_BLOCK, RECORD), 0x9000)
    return card


# --- every (state, command, proof) combination -------------------------------

def commands(counter: int) -> dict[str, str]:
    other_master = card_key(b"\x11" * 16)
    return {
        "SELECT": SELECT,
        "SELECT no data": SELECT_QUIET,
        "SELECT v1 AID": "00A4040008F05341494C41550100",
        "ISSUE": issue_apdu(counter),
        "ISSUE other key": issue_apdu(counter, key=other_master),
        "ISSUE other counter": issue_apdu(counter + 1),
        "WRITE BALLOT": write_apdu(),
        "CLEAR": clear_apdu(counter),
        "CLEAR other key": clear_apdu(counter, key=other_master),
        "CLEAR other counter": clear_apdu(counter + 1),
        "READ BINARY": "00B0000000",
    }


# command: (SW when not selected, SWs when selected for BLANK/ISSUED/VOTED)
EXPECTED = {
    "SELECT": (0x9000, (0x9000,) * 3),
    "SELECT no data": (0x9000, (0x9000,) * 3),
    "SELECT v1 AID": (0x6A82, (0x6A82,) * 3),
    "ISSUE": (0x6985, (0x9000, 0x6985, 0x6985)),
    "ISSUE other key": (0x6985, (0x6982,) * 3),
    "ISSUE other counter": (0x6985, (0x6982,) * 3),
    "WRITE BALLOT": (0x6985, (0x6985, 0x9000, 0x6985)),
    "CLEAR": (0x6985, (0x6985, 0x9000, 0x9000)),
    "CLEAR other key": (0x6985, (0x6982,) * 3),
    "CLEAR other counter": (0x6985, (0x6982,) * 3),
    "READ BINARY": (0x6985, (0x9000,) * 3),
}

NEXT_STATE = {"ISSUE": ISSUED, "WRITE BALLOT": VOTED, "CLEAR": BLANK}


@pytest.mark.parametrize("state", [BLANK, ISSUED, VOTED], ids=["BLANK", "ISSUED", "VOTED"])
@pytest.mark.parametrize("mode", ["unselected", "selected"])
@pytest.mark.parametrize("command", list(EXPECTED))
def test_every_state_command_and_proof_gives_the_specified_status_word(state, mode, command):
    card = card_in_state(state)
    counter = state  # one change per state reached
    before = (card.state, card.counter, card.issue_block, card.record)
    if mode == "unselected":
        card.power_off()
        card.power_on()
        expected = EXPECTED[command][0]
    else:
        expected = EXPECTED[command][1][state]

    data, status = run(card, commands(counter)[command])
    assert status == expected

    if expected == 0x9000 and command in NEXT_STATE:
        assert (card.state, card.counter) == (NEXT_STATE[command], counter + 1)
        assert data == (digest(ISSUE_BLOCK, RECORD) if command == "WRITE BALLOT" else b"")
    else:
        assert (card.state, card.counter, card.issue_block, card.record) == before  # a refusal changes nothing
    if expected != 0x9000:
        assert data == b""


def test_expected_table_covers_every_command_of_the_contract():
    inses = {h(apdu)[:2].hex() for apdu in commands(0).values()}
    assert inses == {"00a4", "8010", "8020", "8030", "00b0"}


# --- SELECT ---------------------------------------------------------------------


def test_select_answers_state_serial_and_counter_and_le_rules():
    card = card_in_state(VOTED)
    assert run(card, SELECT) == (bytes((VOTED,)) + SERIAL + b"\x00\x00\x02", 0x9000)
    assert run(card, SELECT[:-2]) == (b"", 0x9000)  # no Le: no data wanted
    assert run(card, SELECT[:-2] + "0B") == (b"", 0x6700)
    assert run(card, SELECT[:-2] + "0C")[0] == bytes((VOTED,)) + SERIAL + b"\x00\x00\x02"
    assert run(card, SELECT_QUIET) == (b"", 0x9000)
    assert run(card, SELECT_QUIET + "00") == (b"", 0x9000)  # Le ignored with P2 0C


def test_a_failed_select_deselects():
    card = card_in_state(BLANK)
    assert sw(card, "00A4040008F05341494C415503") == 0x6A82
    assert sw(card, "00B0000000") == 0x6985
    assert sw(card, SELECT_QUIET) == 0x9000
    assert sw(card, "00B0000000") == 0x9000


# --- the order of checks ---------------------------------------------------


def test_unknown_cla_beats_everything():
    card = VirtualBallotCard()
    card.power_on()  # not selected
    assert sw(card, "A0A4040008" + AID) == 0x6E00
    assert sw(card, "01B0000000") == 0x6E00  # logical channel bits: another class
    assert sw(card, "8410000000") == 0x6E00


def test_unknown_ins_for_that_cla_comes_before_selection():
    card = VirtualBallotCard()
    card.power_on()
    assert sw(card, "00CA000000") == 0x6D00
    assert sw(card, "8040000000") == 0x6D00  # v1's GET STATUS is gone
    assert sw(card, "0084000010") == 0x6D00  # v1's GET CHALLENGE is gone
    assert sw(card, "0010000001AA") == 0x6D00  # ISSUE is CLA 80 only
    assert sw(card, "80A4040008" + AID) == 0x6D00
    assert sw(card, "807E000002FFFF") == 0x6D00  # TEST TEAR: test builds only


def test_selection_comes_before_p1p2_and_length():
    card = VirtualBallotCard()
    card.power_on()
    assert sw(card, "80100101") == 0x6985
    assert sw(card, "00B08000") == 0x6985


def test_p1p2_comes_before_length():
    card = card_in_state(BLANK)
    assert sw(card, "00A4000008" + AID) == 0x6A86
    assert sw(card, "00A40401") == 0x6A86
    assert sw(card, "8010010000") == 0x6A86  # wrong P1 and malformed Lc
    assert sw(card, "8030000101") == 0x6A86
    assert sw(card, "00B0800000") == 0x6A86  # SFI addressing


def test_length_comes_before_the_proof_and_the_proof_before_the_state():
    card = card_in_state(VOTED)
    assert sw(card, "80100000") == 0x6700  # ISSUE without data
    assert sw(card, "8010000008" + "00" * 8) == 0x6700  # a proof but no issue block
    assert sw(card, "80300000") == 0x6700  # CLEAR without its proof
    assert sw(card, issue_apdu(2, key=card_key(b"\x22" * 16))) == 0x6982  # wrong state too, but proof first
    assert sw(card, issue_apdu(2)) == 0x6985


@pytest.mark.parametrize(
    "apdu",
    [
        "00A40400",  # SELECT without data
        "00A40400000008" + AID,  # extended length (Lc 00 then two bytes)
        "00A4040000",  # Le only: SELECT needs the AID
        "00A4040009" + AID,  # Lc longer than data
        "00A4040006" + AID,  # Lc two short of the data (so not data + Le either)
        "80100000",  # ISSUE without data
        "8010000049" + "00" * 73,  # issue block over 64 (with its proof)
        "80200000",  # WRITE BALLOT without data
        "8020000001AA07",  # WRITE BALLOT asking for less than the digest
        "8030000007" + "00" * 7,  # CLEAR proof too short
        "8030000009" + "00" * 9,  # CLEAR proof too long
        "00B00000",  # READ BINARY without Le
        "00B0000001AA00",  # READ BINARY with data
        "00B0",  # not even a header
        "",
    ],
)
def test_bad_lengths_answer_6700_and_change_nothing(apdu):
    card = card_in_state(ISSUED)
    assert run(card, apdu) == (b"", 0x6700)
    assert (card.state, card.counter, card.record) == (ISSUED, 1, None)


def test_le_is_ignored_where_nothing_is_answered_and_write_ballot_may_skip_its_digest():
    card = card_in_state(BLANK)
    assert sw(card, issue_apdu(0) + "00") == 0x9000
    assert run(card, write_apdu(b"\x01" * 255, le="")) == (b"", 0x9000)
    assert sw(card, clear_apdu(2) + "10") == 0x9000
    assert card.state == BLANK and card.counter == 3


def test_largest_lengths_are_accepted():
    card = card_in_state(BLANK)
    assert sw(card, issue_apdu(0, b"\xaa" * 64)) == 0x9000
    assert run(card, write_apdu(b"\xbb" * 255, le="00")) == (digest(b"\xaa" * 64, b"\xbb" * 255), 0x9000)
    assert card.issue_block == b"\xaa" * 64 and card.record == b"\xbb" * 255


# --- proofs and the counter -------------------------------------------------


def test_each_state_change_moves_the_counter_by_one_and_refusals_do_not():
    card = card_in_state(BLANK)
    assert sw(card, write_apdu()) == 0x6985
    assert sw(card, clear_apdu(0)) == 0x6985
    assert select(card)[2] == 0
    assert sw(card, issue_apdu(0)) == 0x9000
    assert select(card)[2] == 1
    assert sw(card, write_apdu()) == 0x9000
    assert select(card)[2] == 2
    assert sw(card, clear_apdu(2)) == 0x9000
    assert select(card) == (BLANK, SERIAL, 3)


def test_a_proof_is_good_once_and_a_recorded_issue_cannot_be_replayed():
    card = card_in_state(BLANK)
    recorded = issue_apdu(0)
    assert sw(card, recorded) == 0x9000
    assert sw(card, clear_apdu(1)) == 0x9000
    assert sw(card, clear_apdu(1)) == 0x6982  # the same CLEAR again
    assert sw(card, recorded) == 0x6982  # the first ISSUE, replayed on the BLANK card
    assert card.state == BLANK and card.counter == 2


def test_a_clear_proof_made_before_the_ballot_was_written_is_stale():
    card = card_in_state(ISSUED)
    early = clear_apdu(1)
    assert sw(card, write_apdu()) == 0x9000
    assert sw(card, early) == 0x6982
    assert card.state == VOTED


def test_proofs_bind_the_card_the_command_and_the_issue_block():
    card = card_in_state(BLANK)
    other_card = card_key(serial=bytes.fromhex("0102030405060709"))
    assert sw(card, issue_apdu(0, key=other_card)) == 0x6982
    body = ISSUE_BLOCK + proof(0x10, 0, b"another block")
    assert sw(card, f"80100000{len(body):02X}" + body.hex()) == 0x6982
    assert sw(card, issue_apdu(0)) == 0x9000
    assert sw(card, "8030000008" + proof(0x10, 1).hex()) == 0x6982  # an ISSUE proof on CLEAR
    assert card.state == ISSUED


def test_a_card_personalised_with_another_master_key_needs_that_key():
    station_key = bytes(range(32))
    card = VirtualBallotCard(serial=SERIAL, master_key=station_key)
    card.power_on()
    select(card)
    assert sw(card, issue_apdu(0)) == 0x6982  # the test master key does not open it
    assert sw(card, issue_apdu(0, key=card_key(station_key))) == 0x9000


def test_an_exhausted_counter_refuses_every_state_change():
    from sailau.simulator.eeprom import CardImage, MemoryStore
    from sailau.smartcard.apdu import CardState

    store = MemoryStore()
    store.format(CardImage(CardState.ISSUED, SERIAL, card_key(), ISSUE_BLOCK, counter=0xFFFFFF))
    card = VirtualBallotCard(store=store)
    card.power_on()
    assert select(card) == (ISSUED, SERIAL, 0xFFFFFF)
    assert sw(card, write_apdu()) == 0x6985
    assert sw(card, clear_apdu(0xFFFFFF)) == 0x6985
    assert (card.state, card.counter) == (ISSUED, 0xFFFFFF)


# --- data file and READ BINARY ---------------------------------------------


def test_read_binary_returns_the_data_file_layout():
    card = card_in_state(VOTED)
    data, s = run(card, "00B0000000")
    assert s == 0x9000
    assert data == bytes((55,)) + ISSUE_BLOCK + bytes((150,)) + RECORD


def test_read_binary_offsets_and_le():
    card = card_in_state(BLANK)
    assert sw(card, issue_apdu(0, b"\x11" * 64)) == 0x9000
    assert sw(card, write_apdu(b"\x22" * 255)) == 0x9000
    whole = bytes((64,)) + b"\x11" * 64 + bytes((255,)) + b"\x22" * 255
    assert len(whole) == 321
    first, _ = run(card, "00B0000000")
    assert first == whole[:256]
    rest, _ = run(card, "00B0010000")  # offset 256, Le 256: the 65 bytes left
    assert rest == whole[256:]
    assert run(card, "00B0000510") == (whole[5:21], 0x9000)
    assert run(card, "00B0014100") == (b"", 0x9000)  # offset == size: nothing left
    assert run(card, "00B0014200") == (b"", 0x6B00)  # offset > size
    assert run(card, "00B07FFF01") == (b"", 0x6B00)


def test_blank_card_data_file_is_two_zero_lengths():
    card = card_in_state(BLANK)
    assert run(card, "00B0000000") == (b"\x00\x00", 0x9000)
    assert run(card, "00B0000300") == (b"", 0x6B00)


def test_clear_wipes_issue_block_and_record_from_storage():
    card = card_in_state(VOTED)
    assert sw(card, clear_apdu(2)) == 0x9000
    raw = card.store.raw_image()
    assert ISSUE_BLOCK[:20] not in raw and RECORD[:20] not in raw  # journal included
    assert run(card, "00B0000000") == (b"\x00\x00", 0x9000)


# --- the test tearing hook ------------------------------------------------------


def test_the_tearing_hook_cuts_the_next_command_only_and_only_on_a_test_build():
    card = VirtualBallotCard(serial=SERIAL, tear_hook=True)
    card.power_on()
    select(card)
    assert sw(card, "807E0000") == 0x6700  # it wants its 2 bytes
    assert sw(card, "807E0000020005") == 0x9000
    with pytest.raises(CardPowerLost):
        run(card, issue_apdu(0))
    card.power_on()
    assert select(card) == (BLANK, SERIAL, 0)  # cut before the commit marker: old data
    assert sw(card, "807E000002FFFF") == 0x9000  # armed far beyond the command's writes
    assert sw(card, issue_apdu(0)) == 0x9000
    assert card.tear_after_bytes is None  # disarmed after that one command
    assert sw(card, write_apdu()) == 0x9000


# --- power and identity -------------------------------------------------------


def test_atr_is_t1_with_sailau_historical_bytes_and_a_valid_tck():
    card = VirtualBallotCard()
    atr = card.power_on()
    assert atr == card.atr() == ATR
    assert atr[0] == 0x3B
    t0 = atr[1]
    assert t0 & 0x80 and not t0 & 0x70  # only TD1 follows
    assert atr[2] == 0x80 and atr[3] == 0x01  # TD1 -> TD2, TD2 says T=1
    k = t0 & 0x0F
    historical = atr[4 : 4 + k]
    assert b"Sailau" in historical
    assert len(atr) == 4 + k + 1
    tck = 0
    for b in atr[1:]:
        tck ^= b
    assert tck == 0


def test_persistent_data_survives_power_off_the_selection_does_not():
    card = card_in_state(VOTED)
    card.power_off()
    with pytest.raises(CardPowerLost):
        card.execute(h(SELECT))
    card.power_on()
    assert sw(card, "00B0000000") == 0x6985  # selection lost
    assert select(card) == (VOTED, SERIAL, 2)
    assert card.record == RECORD


def test_random_serials_differ_and_serial_is_validated():
    assert VirtualBallotCard().serial != VirtualBallotCard().serial
    with pytest.raises(ValueError, match="8 bytes"):
        VirtualBallotCard(serial=b"\x01\x02")


def test_card_power_lost_is_marked_as_a_card_removal():
    assert CardPowerLost.card_removed is True


# --- random command sequences against a model -----------------------------


class CardModel(RuleBasedStateMachine):
    """Random APDU sequences, proofs good, stale or forged, power cuts inside
    every state change; a small independent model predicts every SW, and the
    counter moves with (and only with) the state."""

    def __init__(self) -> None:
        super().__init__()
        self.card = VirtualBallotCard(serial=SERIAL)
        self.card.power_on()
        self.state = BLANK
        self.counter = 0
        self.issue_block: bytes | None = None
        self.record_data: bytes | None = None
        self.selected = False
        self.recorded: list[str] = []  # privileged APDUs seen on the wire, for replay

    def expect(self, apdu: str | bytes, expected: int) -> bytes:
        data, s = run(self.card, apdu)
        assert s == expected, f"{apdu!r}: got {s:04X}, model says {expected:04X}"
        return data

    def _privileged(self, apdu: str, allowed: int | tuple[int, ...], good: bool) -> bool:
        """Send ISSUE/CLEAR; True if the model says it succeeds."""
        states = allowed if isinstance(allowed, tuple) else (allowed,)
        if not self.selected:
            self.expect(apdu, 0x6985)
            return False
        if not good:
            self.expect(apdu, 0x6982)
            return False
        if self.state not in states:
            self.expect(apdu, 0x6985)
            return False
        self.expect(apdu, 0x9000)
        self.recorded.append(apdu)
        return True

    @rule()
    def power_cycle(self) -> None:
        self.card.power_off()
        self.card.power_on()
        self.selected = False

    @rule(good=st.booleans(), quiet=st.booleans())
    def select(self, good: bool, quiet: bool) -> None:
        if not good:
            self.expect("00A4040008F05341494C41550100", 0x6A82)
            self.selected = False
            return
        data = self.expect(SELECT_QUIET if quiet else SELECT, 0x9000)
        assert data == (b"" if quiet else bytes((self.state,)) + SERIAL + self.counter.to_bytes(3, "big"))
        self.selected = True

    def _proof_args(self, how: str) -> tuple[int, bytes | None]:
        """good: the card's counter and key; other-counter: a value the card is
        not at; forged: another master key."""
        if how == "other-counter":
            return self.counter + 1, None
        return self.counter, card_key(b"\x33" * 16) if how == "forged" else None

    @rule(block=st.binary(min_size=1, max_size=64), how=st.sampled_from(["good", "other-counter", "forged"]))
    def issue(self, block: bytes, how: str) -> None:
        counter, key = self._proof_args(how)
        if self._privileged(issue_apdu(counter, block, key), BLANK, how == "good"):
            self.state, self.issue_block, self.record_data = ISSUED, block, None
            self.counter += 1

    @rule(record=st.binary(min_size=1, max_size=255))
    def write_ballot(self, record: bytes) -> None:
        if not self.selected or self.state != ISSUED:
            self.expect(write_apdu(record), 0x6985)
            return
        data = self.expect(write_apdu(record), 0x9000)
        assert data == digest(self.issue_block or b"", record)
        self.state, self.record_data = VOTED, record
        self.counter += 1

    @rule(how=st.sampled_from(["good", "other-counter", "forged"]))
    def clear(self, how: str) -> None:
        counter, key = self._proof_args(how)
        if self._privileged(clear_apdu(counter, key), (ISSUED, VOTED), how == "good"):
            self.state, self.issue_block, self.record_data = BLANK, None, None
            self.counter += 1

    @precondition(lambda self: bool(self.recorded))
    @rule(pick=st.integers(min_value=0))
    def replay(self, pick: int) -> None:
        """A privileged APDU recorded earlier is never accepted again."""
        apdu = self.recorded[pick % len(self.recorded)]
        self.expect(apdu, 0x6982 if self.selected else 0x6985)

    @rule()
    def read_binary(self) -> None:
        data = self.expect("00B0000000", 0x9000 if self.selected else 0x6985)
        if self.selected:
            issue, record = self.issue_block or b"", self.record_data or b""
            assert data == bytes((len(issue),)) + issue + bytes((len(record),)) + record

    @precondition(lambda self: self.selected)
    @rule(op=st.sampled_from(["issue", "write", "clear"]), cut=st.integers(min_value=0, max_value=600),
          record=st.binary(min_size=1, max_size=255))
    def torn_state_change(self, op: str, cut: int, record: bytes) -> None:
        """A power cut during a state change: afterwards the card shows the old
        state, data and counter or the new ones."""
        apdu, allowed, after = {
            "issue": (issue_apdu(self.counter, record[:64]), BLANK, (ISSUED, record[:64], None)),
            "write": (write_apdu(record), ISSUED, (VOTED, self.issue_block, record)),
            "clear": (clear_apdu(self.counter), (ISSUED, VOTED), (BLANK, None, None)),
        }[op]
        if self.state not in (allowed if isinstance(allowed, tuple) else (allowed,)):
            return
        self.card.tear_after_bytes = cut
        try:
            self.expect(apdu, 0x9000)
            self.card.tear_after_bytes = None
        except CardPowerLost:
            pass
        self.card.power_off()
        self.card.power_on()
        self.selected = False
        if self.card.counter == self.counter + 1:
            self.state, self.issue_block, self.record_data = after
            self.counter += 1
            if op != "write":
                self.recorded.append(apdu)
        else:
            assert self.card.counter == self.counter  # old: the invariants check the rest

    @invariant()
    def persistent_data_matches_the_model(self) -> None:
        assert self.card.state == self.state
        assert self.card.counter == self.counter
        assert self.card.issue_block == self.issue_block
        assert self.card.record == self.record_data
        assert self.card.serial == SERIAL

    @invariant()
    def the_data_file_says_the_state(self) -> None:
        assert (self.issue_block is not None, self.record_data is not None) == {
            BLANK: (False, False), ISSUED: (True, False), VOTED: (True, True)}[self.state]


CardModel.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCardModel = CardModel.TestCase


def test_model_rules_walk_a_full_card_cycle():
    """The model's rules themselves reach VOTED and back (so the stateful test
    can reach every state)."""
    machine = CardModel()
    machine.select(True, False)
    machine.issue(b"\x01", "good")
    machine.write_ballot(b"\x02")
    assert machine.card.state == VOTED
    machine.clear("good")
    machine.replay(0)
    machine.persistent_data_matches_the_model()
    assert machine.card.state == BLANK and machine.card.counter == 3
