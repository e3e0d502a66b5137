"""Card record formats: issue block, ballot record, sealed ballot, receipt codes."""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.election import crypto, record
from sailau.election.record import (
    BadSignatureError,
    BallotDecryptionError,
    BallotRecord,
    IssueBlock,
    RecordFormatError,
    SealedBallot,
    UnknownTerminalError,
)

ELECTION = crypto.ElectionKeyPair.generate()
TERMINAL = crypto.generate_signing_key()
TERMINALS = {crypto.key_id(TERMINAL.public_key()): TERMINAL.public_key()}
FINGERPRINT = hashlib.sha256(b"an election definition").digest()

fingerprints = st.binary(min_size=32, max_size=32)
precincts = st.integers(min_value=0, max_value=2**32 - 1)
styles = st.integers(min_value=0, max_value=2**16 - 1)
tokens = st.binary(min_size=16, max_size=16)
issue_blocks = st.builds(IssueBlock, fingerprint=fingerprints, precinct=precincts, style=styles, token=tokens)
plaintexts = st.binary(min_size=0, max_size=record.MAX_PLAINTEXT_LEN)


def _issue(precinct: int = 4711, style: int = 2) -> IssueBlock:
    return record.new_issue_block(FINGERPRINT, precinct, style)


# --- issue block ---------------------------------------------------------------------------


@given(issue_blocks)
def test_issue_block_round_trip(block: IssueBlock) -> None:
    packed = block.pack()
    assert len(packed) == record.ISSUE_BLOCK_LEN == 55
    assert packed == (
        b"\x01" + block.fingerprint + struct.pack(">I", block.precinct) + struct.pack(">H", block.style) + block.token
    )
    assert IssueBlock.parse(packed) == block


def test_issue_block_parse_is_strict() -> None:
    packed = _issue().pack()
    with pytest.raises(RecordFormatError, match="issue block: unsupported version 2"):
        IssueBlock.parse(b"\x02" + packed[1:])
    with pytest.raises(RecordFormatError, match="issue block: too short, 54 bytes"):
        IssueBlock.parse(packed[:-1])
    with pytest.raises(RecordFormatError, match="issue block: too long, 56 bytes"):
        IssueBlock.parse(packed + b"\x00")
    with pytest.raises(RecordFormatError, match="issue block: empty"):
        IssueBlock.parse(b"")


def test_issue_block_fields_are_checked() -> None:
    with pytest.raises(RecordFormatError, match="precinct 4294967296 is not a u32"):
        IssueBlock(FINGERPRINT, 2**32, 1, bytes(16))
    with pytest.raises(RecordFormatError, match="ballot style 65536 is not a u16"):
        IssueBlock(FINGERPRINT, 1, 2**16, bytes(16))
    with pytest.raises(RecordFormatError, match="token must be 16 bytes, got 15"):
        IssueBlock(FINGERPRINT, 1, 1, bytes(15))
    with pytest.raises(RecordFormatError, match="fingerprint must be 32 bytes, got 31"):
        IssueBlock(FINGERPRINT[:31], 1, 1, bytes(16))


def test_new_issue_block_has_fresh_token_and_token_hash() -> None:
    blocks = [_issue() for _ in range(50)]
    assert len({b.token for b in blocks}) == 50
    b = blocks[0]
    assert (b.fingerprint, b.precinct, b.style, b.version) == (FINGERPRINT, 4711, 2, 1)
    assert record.token_hash(b.token) == hashlib.sha256(b"sailau/token/v1" + b.token).digest() == b.token_hash
    with pytest.raises(RecordFormatError):
        record.token_hash(b.token[:15])


# --- ballot record -------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(block=issue_blocks, plaintext=plaintexts)
def test_seal_verify_open_round_trip(block: IssueBlock, plaintext: bytes) -> None:
    rec = record.seal_ballot(block, plaintext, ELECTION.public_key_bytes, TERMINAL)
    packed = rec.pack()
    assert len(packed) == record.record_length(len(plaintext)) == 121 + len(plaintext)
    assert BallotRecord.parse(packed, len(plaintext)) == rec
    verified = record.verify_ballot_record(block, packed, TERMINALS, len(plaintext))
    assert verified == rec
    sealed = SealedBallot.from_record(block, verified)
    assert SealedBallot.parse(sealed.pack()) == sealed
    assert record.open_ballot(sealed, ELECTION.private_key) == plaintext


def test_record_layout_matches_readme() -> None:
    block = _issue()
    plaintext = bytes([3, 0xFE, 0xFF])
    rec = record.seal_ballot(block, plaintext, ELECTION.public_key, TERMINAL)
    packed = rec.pack()
    assert packed[0] == 1
    assert packed[1:9] == crypto.key_id(TERMINAL.public_key())
    assert packed[9:41] == rec.enc
    assert packed[41:-64] == rec.ciphertext and len(rec.ciphertext) == len(plaintext) + 16
    assert packed[-64:] == rec.signature
    # HPKE info is label ‖ version ‖ fingerprint ‖ precinct ‖ style, without the token
    info = b"sailau/ballot/v1" + b"\x01" + FINGERPRINT + struct.pack(">IH", block.precinct, block.style)
    assert block.hpke_info == info
    assert crypto.open_sealed(ELECTION.private_key, rec.enc, rec.ciphertext, info) == plaintext
    with pytest.raises(crypto.DecryptionError):
        crypto.open_sealed(ELECTION.private_key, rec.enc, rec.ciphertext, info + block.token)
    # the signature covers label ‖ issue block ‖ record without signature
    message = b"sailau/ballot-record/v1" + block.pack() + packed[:-64]
    crypto.verify_signature(TERMINAL.public_key(), rec.signature, message)


def test_max_plaintext_fills_exactly_one_short_apdu() -> None:
    block = _issue()
    assert record.MAX_PLAINTEXT_LEN == 134
    rec = record.seal_ballot(block, bytes(134), ELECTION.public_key_bytes, TERMINAL)
    assert len(rec.pack()) == 255
    record.verify_ballot_record(block, rec.pack(), TERMINALS, 134)
    with pytest.raises(RecordFormatError, match="plaintext length 135 does not fit"):
        record.seal_ballot(block, bytes(135), ELECTION.public_key_bytes, TERMINAL)
    with pytest.raises(RecordFormatError, match="plaintext length 135 does not fit"):
        BallotRecord.parse(rec.pack() + b"\x00", 135)


def test_record_parse_is_strict_and_names_the_problem() -> None:
    block = _issue()
    packed = record.seal_ballot(block, bytes(5), ELECTION.public_key_bytes, TERMINAL).pack()
    with pytest.raises(RecordFormatError, match="ballot record: unsupported version 0"):
        record.verify_ballot_record(block, b"\x00" + packed[1:], TERMINALS, 5)
    with pytest.raises(RecordFormatError, match="too short, 125 bytes, expected 126"):
        record.verify_ballot_record(block, packed[:-1], TERMINALS, 5)
    with pytest.raises(RecordFormatError, match="too long, 127 bytes, expected 126"):
        record.verify_ballot_record(block, packed + b"\x00", TERMINALS, 5)
    with pytest.raises(RecordFormatError, match="wrong ciphertext length for a 6-byte plaintext"):
        record.verify_ballot_record(block, packed, TERMINALS, 6)
    with pytest.raises(RecordFormatError, match="wrong ciphertext length for a 4-byte plaintext"):
        record.verify_ballot_record(block, packed, TERMINALS, 4)
    with pytest.raises(RecordFormatError, match="empty"):
        record.verify_ballot_record(block, b"", TERMINALS, 5)


def test_unknown_terminal_is_named() -> None:
    block = _issue()
    stranger = crypto.generate_signing_key()
    packed = record.seal_ballot(block, bytes(3), ELECTION.public_key_bytes, stranger).pack()
    with pytest.raises(UnknownTerminalError, match=crypto.key_id(stranger.public_key()).hex()):
        record.verify_ballot_record(block, packed, TERMINALS, 3)


def _assert_every_mutation_rejected(block: IssueBlock, packed: bytes, plaintext_len: int, masks) -> int:
    rejected = 0
    for i in range(len(packed)):
        for mask in masks:
            bad = bytearray(packed)
            bad[i] ^= mask
            with pytest.raises((RecordFormatError, UnknownTerminalError, BadSignatureError)):
                record.verify_ballot_record(block, bytes(bad), TERMINALS, plaintext_len)
            rejected += 1
    for cut in range(len(packed)):
        with pytest.raises(RecordFormatError):
            record.verify_ballot_record(block, packed[:cut], TERMINALS, plaintext_len)
    with pytest.raises(RecordFormatError):
        record.verify_ballot_record(block, packed + b"\x00", TERMINALS, plaintext_len)
    return rejected


def test_single_byte_mutations_are_rejected() -> None:
    """Bounded: three masks (low bit, high bit, all bits) at every position."""
    block = _issue()
    packed = record.seal_ballot(block, bytes([1, 2, 3, 4]), ELECTION.public_key_bytes, TERMINAL).pack()
    assert _assert_every_mutation_rejected(block, packed, 4, (0x01, 0x80, 0xFF)) == 3 * 125


@pytest.mark.slow
def test_every_single_byte_mutation_is_rejected() -> None:
    """Exhaustive: all 255 other values at every position of a full-size record."""
    block = _issue()
    packed = record.seal_ballot(block, bytes(134), ELECTION.public_key_bytes, TERMINAL).pack()
    assert _assert_every_mutation_rejected(block, packed, 134, range(1, 256)) == 255 * 255


@settings(max_examples=60, deadline=None)
@given(plaintext=plaintexts, position=st.integers(min_value=0), value=st.integers(min_value=1, max_value=255))
def test_random_single_byte_mutation_is_rejected(plaintext: bytes, position: int, value: int) -> None:
    block = _issue()
    packed = bytearray(record.seal_ballot(block, plaintext, ELECTION.public_key_bytes, TERMINAL).pack())
    packed[position % len(packed)] ^= value
    with pytest.raises((RecordFormatError, UnknownTerminalError, BadSignatureError)):
        record.verify_ballot_record(block, bytes(packed), TERMINALS, len(plaintext))


def test_record_moved_to_another_card_fails() -> None:
    block = _issue()
    packed = record.seal_ballot(block, bytes([7]), ELECTION.public_key_bytes, TERMINAL).pack()
    record.verify_ballot_record(block, packed, TERMINALS, 1)
    other_card = record.new_issue_block(block.fingerprint, block.precinct, block.style)
    with pytest.raises(BadSignatureError, match="moved from another card"):
        record.verify_ballot_record(other_card, packed, TERMINALS, 1)
    for changed in (
        IssueBlock(block.fingerprint, block.precinct + 1, block.style, block.token),
        IssueBlock(block.fingerprint, block.precinct, block.style + 1, block.token),
        IssueBlock(hashlib.sha256(b"other").digest(), block.precinct, block.style, block.token),
    ):
        with pytest.raises(BadSignatureError):
            record.verify_ballot_record(changed, packed, TERMINALS, 1)


def test_bad_signature_is_also_a_crypto_signature_error() -> None:
    block = _issue()
    packed = bytearray(record.seal_ballot(block, bytes(2), ELECTION.public_key_bytes, TERMINAL).pack())
    packed[-1] ^= 0x40
    with pytest.raises(crypto.SignatureError):
        record.verify_ballot_record(block, bytes(packed), TERMINALS, 2)


# --- sealed ballot (what the ballot box stores) -----------------------------------------------


def test_sealed_ballot_keeps_no_token_or_terminal() -> None:
    block = _issue()
    rec = record.seal_ballot(block, bytes([1, 0xFF]), ELECTION.public_key_bytes, TERMINAL)
    sealed = SealedBallot.from_record(block, rec)
    stored = sealed.pack()
    assert block.token not in stored
    assert rec.terminal_key_id not in stored
    assert rec.signature not in stored
    assert stored == b"\x01" + FINGERPRINT + struct.pack(">IH", block.precinct, block.style) + rec.enc + rec.ciphertext
    assert sealed.enc_and_ciphertext == rec.enc_and_ciphertext
    assert record.open_ballot(SealedBallot.parse(stored), ELECTION.private_key) == bytes([1, 0xFF])


def test_sealed_ballot_opens_only_with_its_own_info_and_key() -> None:
    block = _issue(precinct=10, style=3)
    sealed = SealedBallot.from_record(
        block, record.seal_ballot(block, b"\x05", ELECTION.public_key_bytes, TERMINAL)
    )
    moved = SealedBallot(sealed.fingerprint, 11, sealed.style, sealed.enc, sealed.ciphertext)
    with pytest.raises(BallotDecryptionError, match="does not open"):
        record.open_ballot(moved, ELECTION.private_key)
    restyled = SealedBallot(sealed.fingerprint, sealed.precinct, 4, sealed.enc, sealed.ciphertext)
    with pytest.raises(BallotDecryptionError):
        record.open_ballot(restyled, ELECTION.private_key)
    with pytest.raises(BallotDecryptionError):
        record.open_ballot(sealed, crypto.ElectionKeyPair.generate().private_key)


def test_sealed_ballot_parse_is_strict() -> None:
    block = _issue()
    sealed = SealedBallot.from_record(
        block, record.seal_ballot(block, b"", ELECTION.public_key_bytes, TERMINAL)
    )
    stored = sealed.pack()
    assert len(stored) == 1 + 32 + 4 + 2 + 32 + 16
    with pytest.raises(RecordFormatError, match="too short"):
        SealedBallot.parse(stored[:-1])
    with pytest.raises(RecordFormatError, match="unsupported version 9"):
        SealedBallot.parse(b"\x09" + stored[1:])


# --- receipt codes ---------------------------------------------------------------------------

CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{2}$")


def test_receipt_code_is_stable() -> None:
    """Pinned: the published list and every terminal must agree on this mapping forever."""
    assert record.receipt_code(bytes(48)) == "34XF-DMFN-RB"
    assert record.receipt_code(bytes(range(200))) == "7TGP-R85C-FQ"


@given(st.binary(min_size=48, max_size=200))
def test_receipt_code_is_the_documented_hash(data: bytes) -> None:
    """First 50 bits of SHA-256("sailau/receipt/v1" ‖ data), Crockford base32, 4-4-2."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    bits = int.from_bytes(hashlib.sha256(b"sailau/receipt/v1" + data).digest(), "big") >> (256 - 50)
    chars = "".join(alphabet[(bits >> (45 - 5 * i)) & 31] for i in range(10))
    assert record.receipt_code(data) == f"{chars[:4]}-{chars[4:8]}-{chars[8:]}"


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=48, max_size=200))
def test_receipt_code_format(data: bytes) -> None:
    code = record.receipt_code(data)
    assert CODE.match(code), code
    assert record.receipt_code(data) == code
    assert record.normalize_receipt_code(code.lower().replace("-", " ")) == code


def test_receipt_code_same_at_terminal_and_ballot_box() -> None:
    block = _issue()
    rec = record.seal_ballot(block, b"\x01", ELECTION.public_key_bytes, TERMINAL)
    sealed = SealedBallot.from_record(block, rec)
    assert rec.receipt_code == sealed.receipt_code == record.receipt_code(rec.enc + rec.ciphertext)
    # same vote, same card: a fresh encryption gives a different code (it is not a vote hash)
    again = record.seal_ballot(block, b"\x01", ELECTION.public_key_bytes, TERMINAL)
    assert again.receipt_code != rec.receipt_code


def test_normalize_receipt_code_forgives_typing() -> None:
    assert record.normalize_receipt_code("k7q2 m9xd 4a") == "K7Q2-M9XD-4A"
    assert record.normalize_receipt_code("1o0L-M9XD-4A") == "1001-M9XD-4A"
    with pytest.raises(record.ReceiptCodeError, match="not a receipt code"):
        record.normalize_receipt_code("K7Q2-M9XD-4")
    with pytest.raises(record.ReceiptCodeError):
        record.normalize_receipt_code("K7Q2-M9XD-4U")


# --- with a real definition and ballot encoding ------------------------------------------------


def test_example_election_ballot_through_card_record_and_back() -> None:
    """The 2023 example: encode, seal for a card, verify at the box, store, open, decode."""
    from sailau.election import ballot, definition

    election = definition.load_election(Path(definition.__file__).parent / "examples" / "majilis-2023.json")
    precinct = election.precincts[0]
    style = precinct.style
    plaintext = ballot.encode_ballot(election, style, {"majilis-list": "QHP"})
    assert len(plaintext) == election.plaintext_length == 3
    block = record.new_issue_block(election.fingerprint, precinct.number, style)
    card = record.IssueBlock.parse(block.pack())  # what the terminal reads back from the card
    rec = record.seal_ballot(card, plaintext, ELECTION.public_key_bytes, TERMINAL)
    assert len(rec.pack()) == record.record_length(election.plaintext_length) == 124
    verified = record.verify_ballot_record(block, rec.pack(), TERMINALS, election.plaintext_length)
    stored = SealedBallot.parse(SealedBallot.from_record(block, verified).pack())
    opened = record.open_ballot(stored, ELECTION.private_key)
    assert opened == plaintext
    assert ballot.decode_ballot(election, stored.style, opened)["majilis-list"] == "QHP"
