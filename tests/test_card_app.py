"""The virtual ballot card against the APDU contract in smartcard/README.md.

APDUs are written out as hex here on purpose (not built from the constants in
sailau.smartcard.apdu) so the tests check the contract, not the code against
itself."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sailau.simulator.card_app import ATR, TEST_MASTER_KEY, CardPowerLost, VirtualBallotCard
from sailau.smartcard.card_keys import cryptogram, diversify

SERIAL = bytes.fromhex("0102030405060708")
AID = "F05341494C415501"
SELECT = "00A4040008" + AID
ISSUE_BLOCK = bytes(range(1, 56))  # 55 bytes, like election/README.md's issue block
RECORD = bytes((i * 7) & 0xFF for i in range(150))

BLANK, ISSUED, VOTED = 0, 1, 2


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


def run(card: VirtualBallotCard, apdu: str | bytes) -> tuple[bytes, int]:
    raw = h(apdu) if isinstance(apdu, str) else apdu
    out = card.execute(raw)
    return out[:-2], int.from_bytes(out[-2:], "big")


def sw(card: VirtualBallotCard, apdu: str | bytes) -> int:
    return run(card, apdu)[1]


def authenticate(card: VirtualBallotCard, key: bytes | None = None) -> int:
    challenge, status = run(card, "0084000010")
    assert status == 0x9000 and len(challenge) == 16
    key = key if key is not None else diversify(TEST_MASTER_KEY, card.serial)
    return sw(card, "0082000010" + cryptogram(key, challenge).hex())


def issue_apdu(block: bytes = ISSUE_BLOCK) -> str:
    return f"80100000{len(block):02X}" + block.hex()


def write_apdu(record: bytes = RECORD) -> str:
    return f"80200000{len(record):02X}" + record.hex()


def card_in_state(state: int) -> VirtualBallotCard:
    """A powered, selected, unauthenticated card in `state`."""
    card = VirtualBallotCard(serial=SERIAL)
    card.power_on()
    assert sw(card, SELECT) == 0x9000
    if state >= ISSUED:
        assert authenticate(card) == 0x9000
        assert sw(card, issue_apdu()) == 0x9000
    if state == VOTED:
        assert sw(card, write_apdu()) == 0x9000
    return card


def status(card: VirtualBallotCard) -> tuple[int, bytes]:
    data, s = run(card, "8040000000")
    assert s == 0x9000 and len(data) == 9
    return data[0], data[1:]


# --- every (state, command) pair ------------------------------------------

COMMANDS = {
    "SELECT": SELECT,
    "SELECT other AID": "00A4040008F05341494C415502",
    "GET STATUS": "8040000000",
    "GET CHALLENGE": "0084000010",
    "EXTERNAL AUTHENTICATE (no challenge)": "0082000010" + "00" * 16,
    "ISSUE": issue_apdu(),
    "WRITE BALLOT": write_apdu(),
    "CLEAR": "80300000",
    "READ BINARY": "00B0000000",
}

# command: (SW when not selected, SWs when selected and not authenticated for
# BLANK/ISSUED/VOTED, SWs when selected and authenticated for BLANK/ISSUED/VOTED)
EXPECTED = {
    "SELECT": (0x9000, (0x9000,) * 3, (0x9000,) * 3),
    "SELECT other AID": (0x6A82, (0x6A82,) * 3, (0x6A82,) * 3),
    "GET STATUS": (0x6985, (0x9000,) * 3, (0x9000,) * 3),
    "GET CHALLENGE": (0x6985, (0x9000,) * 3, (0x9000,) * 3),
    "EXTERNAL AUTHENTICATE (no challenge)": (0x6985, (0x6982,) * 3, (0x6982,) * 3),
    "ISSUE": (0x6985, (0x6982,) * 3, (0x9000, 0x6985, 0x6985)),
    "WRITE BALLOT": (0x6985, (0x6985, 0x9000, 0x6985), (0x6985, 0x9000, 0x6985)),
    "CLEAR": (0x6985, (0x6982,) * 3, (0x6985, 0x9000, 0x9000)),
    "READ BINARY": (0x6985, (0x9000,) * 3, (0x9000,) * 3),
}

# state after a 9000 answer
NEXT_STATE = {"ISSUE": ISSUED, "WRITE BALLOT": VOTED, "CLEAR": BLANK}


@pytest.mark.parametrize("state", [BLANK, ISSUED, VOTED], ids=["BLANK", "ISSUED", "VOTED"])
@pytest.mark.parametrize("mode", ["unselected", "selected", "authenticated"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_state_and_command_gives_the_specified_status_word(state, mode, command):
    card = card_in_state(state)
    if mode == "unselected":
        card.power_off()
        card.power_on()
        expected = EXPECTED[command][0]
    elif mode == "selected":
        expected = EXPECTED[command][1][state]
    else:
        assert authenticate(card) == 0x9000
        expected = EXPECTED[command][2][state]

    assert sw(card, COMMANDS[command]) == expected

    want_state = NEXT_STATE.get(command, state) if expected == 0x9000 else state
    assert card.state == want_state
    if not (command == "SELECT other AID" or mode == "unselected"):
        if command != "SELECT":
            # still selected: a status read works
            assert status(card) == (want_state, SERIAL)


def test_expected_table_covers_every_command_of_the_contract():
    inses = {h(apdu)[:2].hex() for apdu in COMMANDS.values()}
    assert inses == {"00a4", "8040", "0084", "0082", "8010", "8020", "8030", "00b0"}


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
    assert sw(card, "8084000010") == 0x6D00  # GET CHALLENGE is CLA 00 only
    assert sw(card, "0010000001AA") == 0x6D00  # ISSUE is CLA 80 only
    assert sw(card, "80A4040008" + AID) == 0x6D00


def test_selection_comes_before_p1p2_and_length():
    card = VirtualBallotCard()
    card.power_on()
    assert sw(card, "80400101") == 0x6985
    assert sw(card, "00B08000") == 0x6985


def test_p1p2_comes_before_length():
    card = card_in_state(BLANK)
    assert sw(card, "00A4000008" + AID) == 0x6A86
    assert sw(card, "00A40401") == 0x6A86
    assert sw(card, "80400001FFFF") == 0x6A86
    assert sw(card, "8010010000") == 0x6A86  # wrong P1 and malformed Lc
    assert sw(card, "8030000101") == 0x6A86
    assert sw(card, "00B0800000") == 0x6A86  # SFI addressing


def test_length_comes_before_authentication_and_authentication_before_state():
    card = card_in_state(VOTED)
    assert sw(card, "80100000") == 0x6700  # ISSUE without data, unauthenticated
    assert sw(card, "803000000101") == 0x6700  # CLEAR with data, unauthenticated
    assert sw(card, issue_apdu()) == 0x6982  # wrong state too, but auth first
    assert authenticate(card) == 0x9000
    assert sw(card, issue_apdu()) == 0x6985


@pytest.mark.parametrize(
    "apdu",
    [
        "00A40400",  # SELECT without data
        "00A40400000008" + AID,  # extended length (Lc 00 then two bytes)
        "00A4040000",  # Le only: SELECT needs the AID
        "00A4040009" + AID,  # Lc longer than data
        "00A4040006" + AID,  # Lc two short of the data (so not data + Le either)
        "8040000001AA",  # GET STATUS with data
        "8040000008",  # GET STATUS Le 8 < 9 status bytes
        "00840000",  # GET CHALLENGE without Le
        "0084000008",  # GET CHALLENGE Le != 16
        "0084000000",  # Le 256
        "0082000000",  # EXTERNAL AUTHENTICATE Le only
        "008200000F" + "00" * 15,
        "0082000011" + "00" * 17,
        "80100000",  # ISSUE without data
        "8010000041" + "00" * 65,  # issue block over 64
        "80200000",  # WRITE BALLOT without data
        "803000000101",  # CLEAR with data
        "00B00000",  # READ BINARY without Le
        "00B0000001AA00",  # READ BINARY with data
        "00B0",  # not even a header
        "",
    ],
)
def test_bad_lengths_answer_6700(apdu):
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    assert run(card, apdu) == (b"", 0x6700)
    # nothing changed, and the failed command did not consume the authentication
    assert card.state == BLANK
    assert sw(card, issue_apdu()) == 0x9000


def test_le_is_ignored_on_commands_without_response_data_and_accepted_on_status():
    card = card_in_state(BLANK)
    assert sw(card, SELECT + "00") == 0x9000
    assert authenticate(card) == 0x9000
    assert sw(card, issue_apdu() + "00") == 0x9000
    assert sw(card, write_apdu(b"\x01" * 255) + "10") == 0x9000
    for le in ("", "00", "09", "FF"):
        data, s = run(card, "80400000" + le)
        assert (s, len(data)) == (0x9000, 9)


def test_largest_lengths_are_accepted():
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    assert sw(card, issue_apdu(b"\xaa" * 64)) == 0x9000
    assert sw(card, write_apdu(b"\xbb" * 255)) == 0x9000
    assert card.issue_block == b"\xaa" * 64 and card.record == b"\xbb" * 255


# --- authentication ---------------------------------------------------------


def test_authentication_allows_exactly_one_privileged_command():
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    assert sw(card, issue_apdu()) == 0x9000
    assert sw(card, "80300000") == 0x6982
    assert authenticate(card) == 0x9000
    assert sw(card, "80300000") == 0x9000
    assert card.state == BLANK and card.issue_block is None


def test_a_privileged_command_failing_on_state_still_consumes_the_authentication():
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    assert sw(card, "80300000") == 0x6985  # CLEAR on a BLANK card
    assert sw(card, issue_apdu()) == 0x6982


def test_write_ballot_does_not_consume_the_authentication():
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    assert sw(card, issue_apdu()) == 0x9000
    assert authenticate(card) == 0x9000
    assert sw(card, write_apdu()) == 0x9000
    assert sw(card, "80300000") == 0x9000


@pytest.mark.parametrize("how", ["reselect", "failed select", "power cycle"])
def test_authentication_is_dropped_by(how):
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    if how == "reselect":
        assert sw(card, SELECT) == 0x9000
    elif how == "failed select":
        assert sw(card, "00A4040008F05341494C415502") == 0x6A82
        assert sw(card, "8040000000") == 0x6985  # and the application is deselected
        assert sw(card, SELECT) == 0x9000
    else:
        card.power_off()
        card.power_on()
        assert sw(card, SELECT) == 0x9000
    assert sw(card, issue_apdu()) == 0x6982


def test_challenge_is_good_for_one_external_authenticate_only():
    card = card_in_state(BLANK)
    challenge, _ = run(card, "0084000010")
    good = "0082000010" + cryptogram(diversify(TEST_MASTER_KEY, SERIAL), challenge).hex()
    assert sw(card, good) == 0x9000
    assert sw(card, good) == 0x6982  # replay
    assert sw(card, issue_apdu()) == 0x6982  # the failed attempt dropped the authentication


def test_a_wrong_cryptogram_fails_and_burns_the_challenge():
    card = card_in_state(BLANK)
    challenge, _ = run(card, "0084000010")
    key = diversify(TEST_MASTER_KEY, SERIAL)
    assert sw(card, "0082000010" + bytes(16).hex()) == 0x6982
    assert sw(card, "0082000010" + cryptogram(key, challenge).hex()) == 0x6982


def test_only_the_latest_challenge_counts_and_challenges_are_fresh():
    card = card_in_state(BLANK)
    first, _ = run(card, "0084000010")
    second, _ = run(card, "0084000010")
    assert first != second
    key = diversify(TEST_MASTER_KEY, SERIAL)
    assert sw(card, "0082000010" + cryptogram(key, first).hex()) == 0x6982


def test_another_cards_key_or_another_master_key_is_refused():
    card = card_in_state(BLANK)
    other_card_key = diversify(TEST_MASTER_KEY, bytes.fromhex("0102030405060709"))
    assert authenticate(card, other_card_key) == 0x6982
    assert authenticate(card, diversify(b"\x11" * 16, SERIAL)) == 0x6982
    assert sw(card, issue_apdu()) == 0x6982


def test_a_card_personalised_with_another_master_key_needs_that_key():
    station_key = bytes(range(32))
    card = VirtualBallotCard(serial=SERIAL, master_key=station_key)
    card.power_on()
    assert sw(card, SELECT) == 0x9000
    assert authenticate(card) == 0x6982  # the test master key does not open it
    assert authenticate(card, diversify(station_key, SERIAL)) == 0x9000


# --- data file and READ BINARY ---------------------------------------------


def test_read_binary_returns_the_data_file_layout():
    card = card_in_state(VOTED)
    data, s = run(card, "00B0000000")
    assert s == 0x9000
    assert data == bytes((55,)) + ISSUE_BLOCK + bytes((150,)) + RECORD


def test_read_binary_offsets_and_le():
    card = card_in_state(BLANK)
    assert authenticate(card) == 0x9000
    assert sw(card, issue_apdu(b"\x11" * 64)) == 0x9000
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


def test_get_status_reports_state_and_serial():
    for state in (BLANK, ISSUED, VOTED):
        assert status(card_in_state(state)) == (state, SERIAL)


def test_clear_wipes_issue_block_and_record_from_storage():
    card = card_in_state(VOTED)
    assert authenticate(card) == 0x9000
    assert sw(card, "80300000") == 0x9000
    raw = card.store.raw_image()
    assert ISSUE_BLOCK[:20] not in raw and RECORD[:20] not in raw  # journal included
    assert run(card, "00B0000000") == (b"\x00\x00", 0x9000)


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


def test_persistent_data_survives_power_off_volatile_state_does_not():
    card = card_in_state(VOTED)
    card.power_off()
    with pytest.raises(CardPowerLost):
        card.execute(h("8040000000"))
    card.power_on()
    assert sw(card, "8040000000") == 0x6985  # selection lost
    assert sw(card, SELECT) == 0x9000
    assert status(card) == (VOTED, SERIAL)
    assert card.record == RECORD


def test_random_serials_differ_and_serial_is_validated():
    assert VirtualBallotCard().serial != VirtualBallotCard().serial
    with pytest.raises(ValueError, match="8 bytes"):
        VirtualBallotCard(serial=b"\x01\x02")


def test_card_power_lost_is_marked_as_a_card_removal():
    assert CardPowerLost.card_removed is True


# --- random command sequences against a model -----------------------------


class CardModel(RuleBasedStateMachine):
    """Random APDU sequences; a small independent model predicts every SW."""

    def __init__(self) -> None:
        super().__init__()
        self.card = VirtualBallotCard(serial=SERIAL)
        self.card.power_on()
        self.key = diversify(TEST_MASTER_KEY, SERIAL)
        self.state = BLANK
        self.issue_block: bytes | None = None
        self.record_data: bytes | None = None
        self.selected = False
        self.challenge: bytes | None = None
        self.authed = False
        self.ever_issued_since_blank = False

    def expect(self, apdu: str | bytes, expected: int) -> bytes:
        data, s = run(self.card, apdu)
        assert s == expected, f"{apdu!r}: got {s:04X}, model says {expected:04X}"
        return data

    @rule()
    def power_cycle(self) -> None:
        self.card.power_off()
        self.card.power_on()
        self.selected, self.challenge, self.authed = False, None, False

    @rule(good=st.booleans())
    def select(self, good: bool) -> None:
        self.expect(SELECT if good else "00A4040008F05341494C415503", 0x9000 if good else 0x6A82)
        self.selected, self.challenge, self.authed = good, None, False

    @rule()
    def get_challenge(self) -> None:
        data = self.expect("0084000010", 0x9000 if self.selected else 0x6985)
        if self.selected:
            self.challenge = data

    @rule(correct=st.booleans())
    def external_authenticate(self, correct: bool) -> None:
        if correct and self.challenge is not None:
            crypt = cryptogram(self.key, self.challenge)
        else:
            crypt = bytes(16)
        if not self.selected:
            self.expect("0082000010" + crypt.hex(), 0x6985)
            return
        ok = correct and self.challenge is not None
        self.expect("0082000010" + crypt.hex(), 0x9000 if ok else 0x6982)
        self.challenge, self.authed = None, ok

    @rule(block=st.binary(min_size=1, max_size=64))
    def issue(self, block: bytes) -> None:
        if not self.selected:
            self.expect(issue_apdu(block), 0x6985)
            return
        if not self.authed:
            self.expect(issue_apdu(block), 0x6982)
            return
        self.authed = False
        if self.state != BLANK:
            self.expect(issue_apdu(block), 0x6985)
            return
        self.expect(issue_apdu(block), 0x9000)
        self.state, self.issue_block, self.record_data = ISSUED, block, None
        self.ever_issued_since_blank = True

    @rule(record=st.binary(min_size=1, max_size=255))
    def write_ballot(self, record: bytes) -> None:
        if not self.selected:
            self.expect(write_apdu(record), 0x6985)
        elif self.state != ISSUED:
            self.expect(write_apdu(record), 0x6985)
        else:
            self.expect(write_apdu(record), 0x9000)
            self.state, self.record_data = VOTED, record

    @rule()
    def clear(self) -> None:
        if not self.selected:
            self.expect("80300000", 0x6985)
            return
        if not self.authed:
            self.expect("80300000", 0x6982)
            return
        self.authed = False
        if self.state == BLANK:
            self.expect("80300000", 0x6985)
            return
        self.expect("80300000", 0x9000)
        self.state, self.issue_block, self.record_data = BLANK, None, None
        self.ever_issued_since_blank = False

    @rule()
    def read_binary(self) -> None:
        data = self.expect("00B0000000", 0x9000 if self.selected else 0x6985)
        if self.selected:
            issue, record = self.issue_block or b"", self.record_data or b""
            assert data == bytes((len(issue),)) + issue + bytes((len(record),)) + record

    @rule()
    def get_status(self) -> None:
        data = self.expect("8040000000", 0x9000 if self.selected else 0x6985)
        if self.selected:
            assert data == bytes((self.state,)) + SERIAL

    @precondition(lambda self: self.selected and self.state == ISSUED)
    @rule(record=st.binary(min_size=1, max_size=255), cut=st.integers(min_value=0, max_value=600))
    def torn_write_ballot(self, record: bytes, cut: int) -> None:
        """A power cut during WRITE BALLOT: afterwards the card holds the old
        (ISSUED, no record) or the new (VOTED, record) data."""
        self.card.tear_after_bytes = cut
        try:
            self.expect(write_apdu(record), 0x9000)
            self.card.tear_after_bytes = None
        except CardPowerLost:
            self.card.power_on()
        else:
            self.card.power_off()
            self.card.power_on()
        self.selected, self.challenge, self.authed = False, None, False
        if self.card.state == VOTED:
            self.state, self.record_data = VOTED, record
        else:
            assert self.card.state == ISSUED and self.card.record is None

    @invariant()
    def persistent_data_matches_the_model(self) -> None:
        assert self.card.state == self.state
        assert self.card.issue_block == self.issue_block
        assert self.card.record == self.record_data
        assert self.card.serial == SERIAL

    @invariant()
    def voted_only_after_issue(self) -> None:
        if self.state == VOTED:
            assert self.ever_issued_since_blank and self.issue_block is not None
            assert self.record_data is not None
        if self.state == BLANK:
            assert self.issue_block is None and self.record_data is None


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
    machine.select(True)
    machine.get_challenge()
    machine.external_authenticate(True)
    machine.issue(b"\x01")
    machine.write_ballot(b"\x02")
    assert machine.card.state == VOTED
    machine.get_challenge()
    machine.external_authenticate(True)
    machine.clear()
    machine.persistent_data_matches_the_model()
    assert machine.card.state == BLANK
