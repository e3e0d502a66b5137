"""The host-side ballot card client through InProcessTransport to the virtual
card: operations, errors, byte/APDU counts, a card pulled mid-operation; and the
APDU types and card keys underneath."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailau.simulator.card_app import TEST_MASTER_KEY, VirtualBallotCard
from sailau.smartcard.apdu import (
    AID,
    SW,
    CardState,
    CommandAPDU,
    InvalidAPDUError,
    ResponseAPDU,
)
from sailau.smartcard.card_keys import (
    InvalidKeyMaterialError,
    cryptogram,
    diversify,
    verify_cryptogram,
)
from sailau.smartcard.client import BallotCardClient, CardData, CardStatus
from sailau.smartcard.errors import (
    CardRemovedError,
    ConditionsNotSatisfiedError,
    MalformedResponseError,
    NoCardError,
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    TransportError,
    status_word_error,
)
from sailau.smartcard.transport import InProcessTransport, Transport

SERIAL = bytes.fromhex("C0FFEE0000000001")
ISSUE_BLOCK = bytes(range(55))
RECORD = bytes((5 * i + 2) & 0xFF for i in range(150))


def connected(card: VirtualBallotCard | None = None) -> tuple[BallotCardClient, InProcessTransport]:
    card = card or VirtualBallotCard(serial=SERIAL)
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    client.select()
    return client, transport


# --- operations ---------------------------------------------------------------


def test_full_card_cycle_through_the_client():
    client, _ = connected()
    assert client.status() == CardStatus(CardState.BLANK, SERIAL)
    assert client.read_data() == CardData(None, None)
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    assert client.status().state == CardState.ISSUED
    assert client.read_data() == CardData(ISSUE_BLOCK, None)
    client.write_ballot(RECORD)
    assert client.status().state == CardState.VOTED
    assert client.read_data() == CardData(ISSUE_BLOCK, RECORD)
    client.clear(TEST_MASTER_KEY)
    assert client.status() == CardStatus(CardState.BLANK, SERIAL)
    assert client.read_data() == CardData(None, None)


def test_an_issued_card_can_be_cancelled():
    client, _ = connected()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    client.clear(TEST_MASTER_KEY)
    assert client.status().state == CardState.BLANK


def test_a_full_data_file_takes_two_read_binary():
    client, _ = connected()
    client.issue(b"\x11" * 64, TEST_MASTER_KEY)
    client.write_ballot(b"\x22" * 255)
    client.reset_stats()
    assert client.read_data() == CardData(b"\x11" * 64, b"\x22" * 255)
    stats = client.reset_stats()
    assert stats.apdus == 2
    assert stats.bytes_sent == 5 + 5
    assert stats.bytes_received == (256 + 2) + (65 + 2)


def test_status_word_errors_name_the_command():
    client, _ = connected()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    client.write_ballot(RECORD)
    with pytest.raises(ConditionsNotSatisfiedError, match="6985.*WRITE BALLOT") as info:
        client.write_ballot(RECORD)  # once only
    assert info.value.sw == 0x6985
    with pytest.raises(ConditionsNotSatisfiedError, match="ISSUE"):
        client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # not BLANK
    assert client.read_data() == CardData(ISSUE_BLOCK, RECORD)


def test_a_wrong_master_key_is_refused_and_changes_nothing():
    client, _ = connected()
    with pytest.raises(SecurityStatusNotSatisfiedError, match="EXTERNAL AUTHENTICATE"):
        client.issue(ISSUE_BLOCK, b"\x42" * 16)
    assert client.status().state == CardState.BLANK


def test_write_ballot_on_a_blank_card_is_refused():
    client, _ = connected()
    with pytest.raises(ConditionsNotSatisfiedError):
        client.write_ballot(RECORD)


def test_commands_before_select_are_refused():
    transport = InProcessTransport(VirtualBallotCard())
    client = BallotCardClient(transport)
    client.connect()
    with pytest.raises(ConditionsNotSatisfiedError, match="GET STATUS"):
        client.status()


def test_client_validates_lengths_before_sending():
    client, _ = connected()
    client.reset_stats()
    with pytest.raises(ValueError, match="1..64"):
        client.issue(b"x" * 65, TEST_MASTER_KEY)
    with pytest.raises(ValueError, match="1..255"):
        client.write_ballot(b"")
    assert client.stats.apdus == 0


# --- bytes and APDUs per operation --------------------------------------------


def test_apdu_and_byte_counts_per_operation():
    """The figures smartcard/README.md quotes (55-byte issue block, 150-byte record)."""
    client, _ = connected()
    client.reset_stats()
    client.select()
    select = client.reset_stats()
    assert (select.apdus, select.bytes_sent, select.bytes_received) == (1, 13, 2)

    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    issue = client.reset_stats()
    # GET STATUS (serial) + GET CHALLENGE + EXTERNAL AUTHENTICATE + ISSUE
    assert issue.apdus == 4
    assert issue.bytes_sent == 5 + 5 + (5 + 16) + (5 + 55)
    assert issue.bytes_received == (9 + 2) + (16 + 2) + 2 + 2

    client.write_ballot(RECORD)
    write = client.reset_stats()
    assert (write.apdus, write.bytes_sent, write.bytes_received) == (1, 5 + 150, 2)

    client.read_data()
    read = client.reset_stats()
    assert (read.apdus, read.bytes_sent, read.bytes_received) == (1, 5, 1 + 55 + 1 + 150 + 2)

    client.clear(TEST_MASTER_KEY)
    clear = client.reset_stats()
    # the serial is known from the ISSUE's GET STATUS: no GET STATUS this time
    assert clear.apdus == 3
    assert clear.bytes_sent == 5 + (5 + 16) + 4
    assert clear.bytes_received == (16 + 2) + 2 + 2

    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    client.select()  # a new session: the serial must be read again
    client.reset_stats()
    client.clear(TEST_MASTER_KEY)
    fresh_clear = client.reset_stats()
    assert (fresh_clear.apdus, fresh_clear.bytes_sent, fresh_clear.bytes_received) == (4, 35, 33)


def test_the_serial_cache_is_dropped_on_reselect_and_reconnect():
    client, transport = connected()
    client.status()
    client.select()
    client.reset_stats()
    client.authenticate(TEST_MASTER_KEY)
    assert client.reset_stats().apdus == 3  # GET STATUS again
    # another card in the same slot: the cached serial must not be used
    transport.remove()
    transport.insert(VirtualBallotCard())
    client.connect()
    client.select()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    assert client.status().state == CardState.ISSUED


# --- a card pulled mid-operation ---------------------------------------------


class PullAfter(InProcessTransport):
    """Pulls the card just before the n-th transmit from now."""

    def __init__(self, card: VirtualBallotCard) -> None:
        super().__init__(card)
        self.pull_before: int | None = None

    def transmit(self, apdu: bytes) -> bytes:
        if self.pull_before is not None:
            if self.pull_before == 0:
                self.pull_before = None
                self.remove()
            else:
                self.pull_before -= 1
        return super().transmit(apdu)


@pytest.mark.parametrize("pull_at", range(4))
def test_a_card_pulled_at_each_apdu_of_issue_raises_card_removed(pull_at):
    card = VirtualBallotCard(serial=SERIAL)
    transport = PullAfter(card)
    client = BallotCardClient(transport)
    client.connect()
    client.select()
    transport.pull_before = pull_at
    with pytest.raises(CardRemovedError):
        client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    assert transport.card is None and not card.powered
    with pytest.raises(CardRemovedError):
        client.status()
    transport.insert(card)
    client.connect()
    client.select()
    assert client.read_data() == CardData(None, None)
    assert client.status().state == CardState.BLANK
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # a fresh session works
    assert client.read_data() == CardData(ISSUE_BLOCK, None)


@pytest.mark.parametrize("operation", ["issue", "write_ballot", "clear"])
def test_a_power_cut_mid_write_raises_card_removed_and_leaves_old_or_new(operation):
    seen = set()
    for cut in (0, 1, 40, 100, 160, 163, 250, 400):
        card = VirtualBallotCard(serial=SERIAL)
        client, transport = connected(card)
        if operation != "issue":
            client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
        if operation == "clear":
            client.write_ballot(RECORD)
        before = client.read_data()
        card.tear_after_bytes = cut
        try:
            if operation == "issue":
                client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
            elif operation == "write_ballot":
                client.write_ballot(RECORD)
            else:
                client.clear(TEST_MASTER_KEY)
        except CardRemovedError:
            assert transport.card is None
            transport.insert(card)
        card.tear_after_bytes = None
        client.connect()
        client.select()
        after = client.read_data()
        expected_new = {
            "issue": CardData(ISSUE_BLOCK, None),
            "write_ballot": CardData(ISSUE_BLOCK, RECORD),
            "clear": CardData(None, None),
        }[operation]
        assert after in (before, expected_new), f"cut {cut}: {after}"
        seen.add(after == expected_new)
    assert seen == {False, True}  # the cuts hit both sides of the commit point


# --- InProcessTransport --------------------------------------------------------


def test_in_process_transport_is_a_transport():
    assert isinstance(InProcessTransport(), Transport)


def test_empty_slot_and_misuse_raise_named_errors():
    transport = InProcessTransport()
    with pytest.raises(NoCardError):
        transport.connect()
    with pytest.raises(NoCardError):
        transport.transmit(b"\x80\x40\x00\x00")
    transport.disconnect()  # always safe
    card = VirtualBallotCard()
    transport.insert(card)
    with pytest.raises(TransportError, match="before connect"):
        transport.transmit(b"\x80\x40\x00\x00")
    with pytest.raises(TransportError, match="already"):
        transport.insert(VirtualBallotCard())
    assert transport.connect() == card.atr()
    transport.disconnect()
    assert not card.powered
    assert transport.remove() is card
    assert transport.remove() is None


def test_a_torn_power_on_maps_to_card_removed():
    card = VirtualBallotCard(serial=SERIAL)
    client, transport = connected(card)
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    card.tear_after_bytes = 170  # just after WRITE BALLOT's commit marker
    with pytest.raises(CardRemovedError):
        client.write_ballot(RECORD)
    assert card.store.peek().state == CardState.VOTED  # committed, not yet applied
    transport.insert(card)
    card.tear_after_bytes = 5  # the recovery is cut too
    with pytest.raises(CardRemovedError, match="powering on"):
        transport.connect()
    transport.insert(card)
    client.connect()
    client.select()
    assert client.read_data() == CardData(ISSUE_BLOCK, RECORD)


def test_other_card_exceptions_are_not_disguised_as_removal():
    class Broken:
        def power_on(self) -> bytes:
            return b"\x3b\x00"

        def execute(self, apdu: bytes) -> bytes:
            raise RuntimeError("bug in the card")

        def power_off(self) -> None:
            pass

    transport = InProcessTransport(Broken())
    transport.connect()
    with pytest.raises(RuntimeError, match="bug in the card"):
        transport.transmit(b"\x00\x00\x00\x00")


def test_malformed_responses_are_reported():
    class Mute:
        def __init__(self, answer: bytes) -> None:
            self.answer = answer

        def power_on(self) -> bytes:
            return b"\x3b\x00"

        def execute(self, apdu: bytes) -> bytes:
            return self.answer

        def power_off(self) -> None:
            pass

    for answer, call in [
        (b"\x90", "status"),
        (b"\x00\x01\x90\x00", "status"),
        (b"\x07" + SERIAL + b"\x90\x00", "status"),
        (b"\x05\x01\x90\x00", "read_data"),
        (b"\x41" + b"\x00" * 70 + b"\x90\x00", "read_data"),
        (b"\x00\x00\x00\x90\x00", "read_data"),
    ]:
        client = BallotCardClient(InProcessTransport(Mute(answer)))
        client.connect()
        with pytest.raises(MalformedResponseError):
            getattr(client, call)()


# --- APDU types ------------------------------------------------------------------


def test_command_apdu_encodes_the_four_cases():
    assert CommandAPDU(0x80, 0x30).to_bytes() == bytes.fromhex("80300000")
    assert CommandAPDU(0x00, 0x84, le=16).to_bytes() == bytes.fromhex("0084000010")
    assert CommandAPDU(0x80, 0x40, le=256).to_bytes() == bytes.fromhex("8040000000")
    assert CommandAPDU(0x00, 0xA4, 4, 0, AID).to_bytes() == bytes.fromhex("00A4040008F05341494C415501")
    assert CommandAPDU(0x00, 0xA4, 4, 0, AID, 256).to_bytes().endswith(b"\x01\x00")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(cla=256, ins=0), "CLA"),
        (dict(cla=0, ins=-1), "INS"),
        (dict(cla=0, ins=0, p1=300), "P1"),
        (dict(cla=0, ins=0, data=b"x" * 256), "at most 255"),
        (dict(cla=0, ins=0, le=0), "Le"),
        (dict(cla=0, ins=0, le=257), "Le"),
        (dict(cla=0, ins=0, data="text"), "bytes"),
    ],
)
def test_command_apdu_rejects_what_a_short_apdu_cannot_carry(kwargs, message):
    with pytest.raises(InvalidAPDUError, match=message):
        CommandAPDU(**kwargs)


@given(
    header=st.tuples(*[st.integers(0, 255)] * 4),
    data=st.binary(max_size=255),
    le=st.none() | st.integers(1, 256),
)
def test_command_apdu_round_trips(header, data, le):
    apdu = CommandAPDU(*header, data=data, le=le)
    raw = apdu.to_bytes()
    assert len(raw) == 4 + (1 + len(data) if data else 0) + (1 if le else 0)
    assert CommandAPDU.from_bytes(raw) == apdu


@pytest.mark.parametrize("raw", ["", "0084", "00A40400000008" + AID.hex(), "00A4040005AABB", "00A4040001AABBCC"])
def test_command_apdu_decoder_rejects_malformed_bytes(raw):
    with pytest.raises(InvalidAPDUError):
        CommandAPDU.from_bytes(bytes.fromhex(raw))


@given(data=st.binary(max_size=256), sw=st.integers(0, 0xFFFF))
def test_response_apdu_round_trips(data, sw):
    raw = data + sw.to_bytes(2, "big")
    response = ResponseAPDU.from_bytes(raw)
    assert (response.data, response.sw, response.to_bytes()) == (data, sw, raw)
    assert response.ok == (sw == 0x9000)


def test_response_apdu_needs_a_status_word():
    with pytest.raises(MalformedResponseError, match="SW1 SW2"):
        ResponseAPDU.from_bytes(b"\x90")


def test_every_card_status_word_has_its_own_exception():
    kinds = {type(status_word_error(sw)) for sw in SW if sw != SW.OK}
    assert len(kinds) == len(SW) - 1 and StatusWordError not in kinds
    assert type(status_word_error(0x6F00)) is StatusWordError


# --- card keys -------------------------------------------------------------------


def test_cryptogram_is_aes_cmac_rfc4493_example_2():
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    message = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")
    assert cryptogram(key, message) == bytes.fromhex("070a16b46b4d4144f79bdd9dd04a287c")
    assert verify_cryptogram(key, message, bytes.fromhex("070a16b46b4d4144f79bdd9dd04a287c"))
    assert not verify_cryptogram(key, message, bytes(16))


def test_diversify_is_cmac_of_01_and_serial_and_differs_per_card():
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import algorithms

    mac = cmac.CMAC(algorithms.AES(TEST_MASTER_KEY))
    mac.update(b"\x01" + SERIAL)
    assert diversify(TEST_MASTER_KEY, SERIAL) == mac.finalize()
    assert diversify(TEST_MASTER_KEY, SERIAL) != diversify(TEST_MASTER_KEY, bytes(8))
    assert len(diversify(bytes(32), SERIAL)) == 16


@pytest.mark.parametrize(
    "call",
    [
        lambda: diversify(b"short", SERIAL),
        lambda: diversify(TEST_MASTER_KEY, b"1234567"),
        lambda: cryptogram(TEST_MASTER_KEY, b"c" * 15),
        lambda: cryptogram(b"k" * 15, b"c" * 16),
    ],
)
def test_key_material_lengths_are_checked(call):
    with pytest.raises(InvalidKeyMaterialError):
        call()


def test_one_master_key_format_takes_hex_or_raw_and_names_a_wrong_length() -> None:
    from sailau.smartcard.card_keys import InvalidKeyMaterialError, master_key_file_bytes, parse_master_key

    key = bytes(range(16))
    assert master_key_file_bytes(key) == key.hex().encode() + b"\n"
    raw_hex_lookalike = b"0123456789abcdef" * 2  # 32 raw bytes that are hex text: read as the 16-byte key
    assert parse_master_key(master_key_file_bytes(key), "hex") == key == parse_master_key(key, "raw")
    assert parse_master_key(raw_hex_lookalike, "lookalike") == bytes.fromhex(raw_hex_lookalike.decode())
    with pytest.raises(InvalidKeyMaterialError, match="^short: a card master key is 16, 24 or 32 bytes") as refused:
        parse_master_key(b"0011", "short")
    assert "0011" not in str(refused.value)  # the file is named, its content never
