"""The host-side ballot card client through InProcessTransport to the virtual
card: operations, errors, byte/APDU counts, a card pulled mid-operation; and the
APDU types and card keys underneath."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from card_support import WRITING_COMMANDS, prepare_for, run_command
from sailau.simulator.card_app import TEST_MASTER_KEY, VirtualBallotCard
from sailau.simulator.defects import DEFECTS
from sailau.smartcard.apdu import (
    AID,
    SW,
    CardState,
    CommandAPDU,
    InvalidAPDUError,
    ResponseAPDU,
    data_file,
    write_digest,
)
from sailau.smartcard.card_keys import (
    InvalidKeyMaterialError,
    command_proof,
    diversify,
    verify_proof,
)
from sailau.smartcard.client import BallotCardClient, CardData, CardStatus
from sailau.smartcard.errors import (
    CardRemovedError,
    CardVersionError,
    ConditionsNotSatisfiedError,
    FileNotFoundOnCardError,
    MalformedResponseError,
    NoCardError,
    NotSelectedError,
    SecurityStatusNotSatisfiedError,
    StatusWordError,
    TransportError,
    WriteMismatchError,
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
    assert client.status() == CardStatus(CardState.BLANK, SERIAL, 0)
    assert client.read_data() == CardData(None, None)
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    assert client.status() == CardStatus(CardState.ISSUED, SERIAL, 1)
    assert client.read_data() == CardData(ISSUE_BLOCK, None)
    client.write_ballot(RECORD, ISSUE_BLOCK)
    assert client.status() == CardStatus(CardState.VOTED, SERIAL, 2)
    assert client.read_data() == CardData(ISSUE_BLOCK, RECORD)
    client.clear(TEST_MASTER_KEY)
    assert client.status() == CardStatus(CardState.BLANK, SERIAL, 3)
    assert client.select() == client.status()  # what the client kept is what the card says
    assert client.read_data() == CardData(None, None)


def test_the_data_file_says_the_state():
    assert CardData(None, None).state is CardState.BLANK
    assert CardData(ISSUE_BLOCK, None).state is CardState.ISSUED
    assert CardData(ISSUE_BLOCK, RECORD).state is CardState.VOTED


def test_an_issued_card_can_be_cancelled():
    client, _ = connected()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    client.clear(TEST_MASTER_KEY)
    assert client.select().state == CardState.BLANK


def test_a_full_data_file_takes_two_read_binary():
    client, _ = connected()
    client.issue(b"\x11" * 64, TEST_MASTER_KEY)
    client.write_ballot(b"\x22" * 255, b"\x11" * 64)
    client.reset_stats()
    assert client.read_data() == CardData(b"\x11" * 64, b"\x22" * 255)
    stats = client.reset_stats()
    assert stats.apdus == 2
    assert stats.bytes_sent == 5 + 5
    assert stats.bytes_received == (256 + 2) + (65 + 2)


def test_status_word_errors_name_the_command_and_change_nothing():
    client, _ = connected()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    client.write_ballot(RECORD, ISSUE_BLOCK)
    with pytest.raises(ConditionsNotSatisfiedError, match="6985.*WRITE BALLOT") as info:
        client.write_ballot(RECORD, ISSUE_BLOCK)  # once only
    assert info.value.sw == 0x6985
    with pytest.raises(ConditionsNotSatisfiedError, match="ISSUE"):
        client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # not BLANK
    assert client.status() == CardStatus(CardState.VOTED, SERIAL, 2) == client.select()
    assert client.read_data() == CardData(ISSUE_BLOCK, RECORD)


def test_a_wrong_master_key_is_refused_and_changes_nothing():
    client, _ = connected()
    with pytest.raises(SecurityStatusNotSatisfiedError, match="ISSUE"):
        client.issue(ISSUE_BLOCK, b"\x42" * 16)
    assert client.select() == CardStatus(CardState.BLANK, SERIAL, 0)


def test_write_ballot_on_a_blank_card_is_refused():
    client, _ = connected()
    with pytest.raises(ConditionsNotSatisfiedError):
        client.write_ballot(RECORD, ISSUE_BLOCK)


def test_status_before_select_is_refused_by_name_and_issue_selects_itself():
    transport = InProcessTransport(VirtualBallotCard(serial=SERIAL))
    client = BallotCardClient(transport)
    client.connect()
    with pytest.raises(NotSelectedError, match="select"):
        client.status()
    client.select_without_status()
    with pytest.raises(NotSelectedError):
        client.status()
    client.reset_stats()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # needs serial and counter: SELECT first
    assert client.reset_stats().apdus == 2
    assert client.status().state is CardState.ISSUED


def test_client_validates_lengths_before_sending():
    client, _ = connected()
    client.reset_stats()
    with pytest.raises(ValueError, match="1..64"):
        client.issue(b"x" * 65, TEST_MASTER_KEY)
    with pytest.raises(ValueError, match="1..255"):
        client.write_ballot(b"", ISSUE_BLOCK)
    assert client.stats.apdus == 0


# --- versions and digests -------------------------------------------------------


class V1Card:
    """What a v1 ballot card does on SELECT: its own AID (...01) answers 9000,
    any other 6A82 (the applet compares the whole AID)."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def power_on(self) -> bytes:
        return b"\x3b\x00"

    def power_off(self) -> None:
        pass

    def execute(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        if apdu[:2] == b"\x00\xa4" and apdu[5:13] == bytes.fromhex("F05341494C415501"):
            return b"\x90\x00"
        return b"\x6a\x82"


class NotABallotCard(V1Card):
    def execute(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        return b"\x6a\x82"


@pytest.mark.parametrize("how", ["select", "select_without_status"])
def test_a_v1_card_is_refused_by_name_and_nothing_is_written(how):
    card = V1Card()
    client = BallotCardClient(InProcessTransport(card))
    client.connect()
    with pytest.raises(CardVersionError, match="protocol v1.*v2") as refused:
        getattr(client, how)()
    assert (refused.value.version, refused.value.wanted) == (1, 2)
    assert [a[1] for a in card.seen] == [0xA4, 0xA4]  # our SELECT, then the v1 AID to name it: no write


def test_a_card_without_the_application_is_not_called_v1():
    client = BallotCardClient(InProcessTransport(NotABallotCard()))
    client.connect()
    with pytest.raises(FileNotFoundOnCardError, match="6A82.*SELECT"):
        client.select()


def test_a_digest_that_differs_from_what_was_written_raises_write_mismatch():
    card = DEFECTS["record-digest"].make(serial=SERIAL)
    client, _ = connected(card)
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    with pytest.raises(WriteMismatchError, match="does not hold this ballot"):
        client.write_ballot(RECORD, ISSUE_BLOCK)
    assert client.status().state is CardState.VOTED  # the card did change: it answered 9000


def test_write_digest_covers_the_issue_block_too():
    client, _ = connected()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    other_block = bytes(55)
    with pytest.raises(WriteMismatchError):
        client.write_ballot(RECORD, other_block)  # the booth believed it read another card
    assert write_digest(ISSUE_BLOCK, RECORD) == hashlib.sha256(data_file(ISSUE_BLOCK, RECORD)).digest()[:8]


# --- bytes and APDUs per operation --------------------------------------------


def test_a_voter_costs_8_apdus_and_600_bytes():
    """The figures smartcard/README.md quotes (55-byte issue block, 150-byte record)."""
    transport = InProcessTransport(VirtualBallotCard(serial=SERIAL))
    box, booth = BallotCardClient(transport), BallotCardClient(transport)

    box.connect()
    box.select()
    box.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    issue = box.reset_stats()
    assert (issue.apdus, issue.bytes_sent, issue.bytes_received) == (2, 14 + 68, 14 + 2)

    booth.connect()
    booth.select_without_status()
    data = booth.read_data()
    booth.write_ballot(RECORD, data.issue_block)
    vote = booth.reset_stats()
    assert (vote.apdus, vote.bytes_sent, vote.bytes_received) == (3, 13 + 5 + 156, 2 + 59 + 10)

    box.connect()
    box.select()
    box.read_data()
    box.clear(TEST_MASTER_KEY)
    cast = box.reset_stats()
    assert (cast.apdus, cast.bytes_sent, cast.bytes_received) == (3, 14 + 5 + 13, 14 + 209 + 2)

    assert issue.apdus + vote.apdus + cast.apdus == 8
    assert issue.total_bytes + vote.total_bytes + cast.total_bytes == 600


def test_the_status_is_dropped_on_reconnect_and_never_used_for_another_card():
    client, transport = connected()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    transport.remove()
    transport.insert(VirtualBallotCard())
    client.connect()
    with pytest.raises(NotSelectedError):
        client.status()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # selects the new card first: its serial and counter
    assert client.status().state == CardState.ISSUED and client.status().serial != SERIAL


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


@pytest.mark.parametrize("pull_at", range(2))
def test_a_card_pulled_at_each_apdu_of_issue_raises_card_removed(pull_at):
    card = VirtualBallotCard(serial=SERIAL)
    transport = PullAfter(card)
    client = BallotCardClient(transport)
    client.connect()
    transport.pull_before = pull_at  # SELECT (issue selects itself), ISSUE
    with pytest.raises(CardRemovedError):
        client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    assert transport.card is None and not card.powered
    with pytest.raises(NotSelectedError):
        client.status()  # what it knew is gone with the card
    transport.insert(card)
    client.connect()
    assert client.select().state == CardState.BLANK
    assert client.read_data() == CardData(None, None)
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # a fresh session works
    assert client.read_data() == CardData(ISSUE_BLOCK, None)


@pytest.mark.parametrize("operation", WRITING_COMMANDS)
def test_a_power_cut_mid_write_raises_card_removed_and_leaves_old_or_new(operation):
    seen = set()
    for cut in (0, 1, 40, 100, 160, 163, 250, 400):
        card = VirtualBallotCard(serial=SERIAL)
        client, transport = connected(card)
        prepare_for(client, operation, ISSUE_BLOCK, RECORD, TEST_MASTER_KEY)
        before = (client.select(), client.read_data())
        card.tear_after_bytes = cut
        try:
            run_command(client, operation, ISSUE_BLOCK, RECORD, TEST_MASTER_KEY)
        except CardRemovedError:
            assert transport.card is None
            transport.insert(card)
        card.tear_after_bytes = None
        client.connect()
        after = (client.select(), client.read_data())
        new_state, new_data = {
            "issue": (CardState.ISSUED, CardData(ISSUE_BLOCK, None)),
            "write_ballot": (CardState.VOTED, CardData(ISSUE_BLOCK, RECORD)),
            "clear": (CardState.BLANK, CardData(None, None)),
        }[operation]
        expected_new = (CardStatus(new_state, SERIAL, before[0].counter + 1), new_data)
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
    card.store.tear_after_commit = True  # just after WRITE BALLOT's commit marker
    with pytest.raises(CardRemovedError):
        client.write_ballot(RECORD, ISSUE_BLOCK)
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
        (b"\x90", "select"),
        (b"\x00\x01\x90\x00", "select"),
        (b"\x07" + SERIAL + b"\x00\x00\x00\x90\x00", "select"),  # state 07
        (b"\x00" + SERIAL + b"\x00\x90\x00", "select"),  # counter cut short
        (b"\x05\x01\x90\x00", "read_data"),
        (b"\x41" + b"\x00" * 70 + b"\x90\x00", "read_data"),
        (b"\x00\x00\x00\x90\x00", "read_data"),
        (b"\x00\x01\xaa\x90\x00", "read_data"),  # a record without an issue block
    ]:
        client = BallotCardClient(InProcessTransport(Mute(answer)))
        client.connect()
        with pytest.raises(MalformedResponseError):
            getattr(client, call)()
    client = BallotCardClient(InProcessTransport(Mute(b"\xaa\x90\x00")))
    client.connect()
    with pytest.raises(MalformedResponseError, match="8-byte digest"):
        client.write_ballot(RECORD, ISSUE_BLOCK)


# --- APDU types ------------------------------------------------------------------


def test_command_apdu_encodes_the_four_cases():
    assert CommandAPDU(0x80, 0x30).to_bytes() == bytes.fromhex("80300000")
    assert CommandAPDU(0x00, 0x84, le=16).to_bytes() == bytes.fromhex("0084000010")
    assert CommandAPDU(0x80, 0x40, le=256).to_bytes() == bytes.fromhex("8040000000")
    assert CommandAPDU(0x00, 0xA4, 4, 0, AID).to_bytes() == bytes.fromhex("00A4040008F05341494C415502")
    assert CommandAPDU(0x00, 0xA4, 4, 0, AID, 256).to_bytes().endswith(b"\x02\x00")


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


def test_command_proof_is_truncated_aes_cmac_over_label_ins_counter_and_data():
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import algorithms

    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")  # RFC 4493's key
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(b"SLU\x02" + b"\x10" + b"\x00\x01\x02" + ISSUE_BLOCK)
    expected = mac.finalize()[:8]
    assert command_proof(key, 0x10, 0x102, ISSUE_BLOCK) == expected
    assert verify_proof(key, 0x10, 0x102, ISSUE_BLOCK, expected)
    assert not verify_proof(key, 0x10, 0x103, ISSUE_BLOCK, expected)  # another counter
    assert not verify_proof(key, 0x30, 0x102, ISSUE_BLOCK, expected)  # another command
    assert not verify_proof(key, 0x10, 0x102, ISSUE_BLOCK[:-1], expected)  # another block
    assert not verify_proof(key, 0x10, 0x102, ISSUE_BLOCK, expected[:7])
    assert not verify_proof(key, 0x10, 1 << 24, ISSUE_BLOCK, expected)


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
        lambda: command_proof(TEST_MASTER_KEY, 0x10, -1),
        lambda: command_proof(TEST_MASTER_KEY, 0x10, 1 << 24),
        lambda: command_proof(b"k" * 15, 0x30, 0),
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
