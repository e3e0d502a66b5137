"""Card record formats: the issue block, the ballot record, what the ballot box stores.

The byte layouts are the contract in election/README.md. Parsers are strict:
exact lengths, known version, nothing trailing (a record stuffed with extra
bytes is rejected, not truncated).

- `IssueBlock`: written by the ballot box at ISSUE; carries a fresh random token.
- `BallotRecord`: written by the terminal at WRITE BALLOT; HPKE ciphertext of the
  fixed-length plaintext, signed by the terminal over the issue block too, so a
  record cannot be moved onto another card.
- `SealedBallot`: what the ballot box keeps of an accepted card: the ciphertext and
  the HPKE info fields, no token, no terminal, no signature; it opens at close.
- `receipt_code`: a short public hash of a stored ciphertext, for the voter.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from . import crypto

VERSION = 1
FINGERPRINT_LEN = 32
TOKEN_LEN = 16
TOKEN_HASH_LEN = 32
MAX_CARD_RECORD_LEN = 255  # one short APDU (DESIGN.md section 3)

_ISSUE = struct.Struct(">B32sIH16s")
ISSUE_BLOCK_LEN = _ISSUE.size  # 55
_SEALED_HEAD = struct.Struct(">B32sIH")  # version, fingerprint, precinct, style

HPKE_INFO_LABEL = b"sailau/ballot/v1"
SIGNATURE_LABEL = b"sailau/ballot-record/v1"
RECEIPT_LABEL = b"sailau/receipt/v1"

_RECORD_HEAD_LEN = 1 + crypto.KEY_ID_LEN + crypto.ENC_LEN  # 41
RECORD_OVERHEAD = _RECORD_HEAD_LEN + crypto.AEAD_TAG_LEN + crypto.SIGNATURE_LEN  # 121
MAX_PLAINTEXT_LEN = MAX_CARD_RECORD_LEN - RECORD_OVERHEAD  # 134

PRECINCT_MAX = 0xFFFF_FFFF
STYLE_MAX = 0xFFFF


class BallotRecordError(Exception):
    """Base of every rejection of an issue block or ballot record."""


class RecordFormatError(BallotRecordError):
    """Bytes are not a well-formed issue block / ballot record (version, length, field)."""


class UnknownTerminalError(BallotRecordError):
    """The record names a terminal key id that is not enrolled at this ballot box."""


class BadSignatureError(BallotRecordError, crypto.SignatureError):
    """The terminal signature does not cover this issue block and record."""


class BallotDecryptionError(BallotRecordError, crypto.DecryptionError):
    """A stored ballot does not open under the election key (wrong key or altered)."""


class ReceiptCodeError(ValueError):
    """Text a voter typed is not a receipt code."""


def record_length(plaintext_len: int) -> int:
    """Bytes on the card for a ballot record of a style with this plaintext length."""
    return RECORD_OVERHEAD + plaintext_len


def _check_plaintext_len(plaintext_len: int) -> None:
    if not 0 <= plaintext_len <= MAX_PLAINTEXT_LEN:
        raise RecordFormatError(
            f"plaintext length {plaintext_len} does not fit a card record: at most "
            f"{MAX_PLAINTEXT_LEN} bytes ({RECORD_OVERHEAD} bytes overhead, "
            f"{MAX_CARD_RECORD_LEN}-byte APDU)"
        )


def _check_version(version: int, what: str) -> None:
    if version != VERSION:
        raise RecordFormatError(f"{what}: unsupported version {version}, expected {VERSION}")


def _check_header_fields(fingerprint: bytes, precinct: int, style: int, what: str) -> None:
    if len(fingerprint) != FINGERPRINT_LEN:
        raise RecordFormatError(
            f"{what}: election fingerprint must be {FINGERPRINT_LEN} bytes, got {len(fingerprint)}"
        )
    if not 0 <= precinct <= PRECINCT_MAX:
        raise RecordFormatError(f"{what}: precinct {precinct} is not a u32")
    if not 0 <= style <= STYLE_MAX:
        raise RecordFormatError(f"{what}: ballot style {style} is not a u16")


def hpke_info(version: int, fingerprint: bytes, precinct: int, style: int) -> bytes:
    """HPKE info: label ‖ version ‖ fingerprint ‖ precinct ‖ style (no token, see README)."""
    return HPKE_INFO_LABEL + _SEALED_HEAD.pack(version, fingerprint, precinct, style)


# --- issue block --------------------------------------------------------------


@dataclass(frozen=True)
class IssueBlock:
    """What ISSUE puts on a blank card: which election, precinct, style, and a token."""

    fingerprint: bytes
    precinct: int
    style: int
    token: bytes
    version: int = VERSION

    def __post_init__(self) -> None:
        _check_version(self.version, "issue block")
        _check_header_fields(self.fingerprint, self.precinct, self.style, "issue block")
        if len(self.token) != TOKEN_LEN:
            raise RecordFormatError(
                f"issue block: token must be {TOKEN_LEN} bytes, got {len(self.token)}"
            )

    def pack(self) -> bytes:
        return _ISSUE.pack(self.version, self.fingerprint, self.precinct, self.style, self.token)

    @classmethod
    def parse(cls, data: bytes) -> IssueBlock:
        data = bytes(data)
        if not data:
            raise RecordFormatError("issue block: empty")
        _check_version(data[0], "issue block")
        if len(data) < ISSUE_BLOCK_LEN:
            raise RecordFormatError(
                f"issue block: too short, {len(data)} bytes, expected {ISSUE_BLOCK_LEN}"
            )
        if len(data) > ISSUE_BLOCK_LEN:
            raise RecordFormatError(
                f"issue block: too long, {len(data)} bytes, expected {ISSUE_BLOCK_LEN}"
            )
        version, fingerprint, precinct, style, token = _ISSUE.unpack(data)
        return cls(fingerprint=fingerprint, precinct=precinct, style=style, token=token, version=version)

    @property
    def hpke_info(self) -> bytes:
        return hpke_info(self.version, self.fingerprint, self.precinct, self.style)

    @property
    def token_hash(self) -> bytes:
        return token_hash(self.token)


def new_issue_block(fingerprint: bytes, precinct: int, style: int) -> IssueBlock:
    """An issue block with a fresh random 16-byte token (from the OS CSPRNG)."""
    return IssueBlock(
        fingerprint=bytes(fingerprint),
        precinct=precinct,
        style=style,
        token=secrets.token_bytes(TOKEN_LEN),
    )


def token_hash(token: bytes) -> bytes:
    """What the ballot box stores as "issued, unused": SHA-256 of the token,
    domain-separated so the stored hash is useless as any other hash."""
    if len(token) != TOKEN_LEN:
        raise RecordFormatError(f"token must be {TOKEN_LEN} bytes, got {len(token)}")
    return hashlib.sha256(b"sailau/token/v1" + token).digest()


# --- ballot record ---------------------------------------------------------------


@dataclass(frozen=True)
class BallotRecord:
    """What WRITE BALLOT puts on an issued card."""

    terminal_key_id: bytes
    enc: bytes
    ciphertext: bytes
    signature: bytes
    version: int = VERSION

    def __post_init__(self) -> None:
        _check_version(self.version, "ballot record")
        if len(self.terminal_key_id) != crypto.KEY_ID_LEN:
            raise RecordFormatError(
                f"ballot record: terminal key id must be {crypto.KEY_ID_LEN} bytes, "
                f"got {len(self.terminal_key_id)}"
            )
        if len(self.enc) != crypto.ENC_LEN:
            raise RecordFormatError(
                f"ballot record: HPKE enc must be {crypto.ENC_LEN} bytes, got {len(self.enc)}"
            )
        if len(self.ciphertext) < crypto.AEAD_TAG_LEN:
            raise RecordFormatError(
                f"ballot record: ciphertext of {len(self.ciphertext)} bytes is shorter than "
                f"the {crypto.AEAD_TAG_LEN}-byte AEAD tag"
            )
        if len(self.signature) != crypto.SIGNATURE_LEN:
            raise RecordFormatError(
                f"ballot record: signature must be {crypto.SIGNATURE_LEN} bytes, "
                f"got {len(self.signature)}"
            )
        if len(self.unsigned_bytes()) + crypto.SIGNATURE_LEN > MAX_CARD_RECORD_LEN:
            raise RecordFormatError(
                f"ballot record: too long, {len(self.unsigned_bytes()) + crypto.SIGNATURE_LEN} "
                f"bytes, a card record holds at most {MAX_CARD_RECORD_LEN}"
            )

    @property
    def plaintext_len(self) -> int:
        return len(self.ciphertext) - crypto.AEAD_TAG_LEN

    def unsigned_bytes(self) -> bytes:
        """The record without its signature (what the signature covers, after the issue block)."""
        return bytes([self.version]) + self.terminal_key_id + self.enc + self.ciphertext

    def pack(self) -> bytes:
        return self.unsigned_bytes() + self.signature

    @classmethod
    def parse(cls, data: bytes, plaintext_len: int) -> BallotRecord:
        """Parse strictly for an election whose ballot plaintext is `plaintext_len` bytes."""
        _check_plaintext_len(plaintext_len)
        data = bytes(data)
        expected = record_length(plaintext_len)
        if not data:
            raise RecordFormatError("ballot record: empty")
        _check_version(data[0], "ballot record")
        if len(data) < expected:
            raise RecordFormatError(
                f"ballot record: too short, {len(data)} bytes, expected {expected} "
                f"(wrong ciphertext length for a {plaintext_len}-byte plaintext)"
            )
        if len(data) > expected:
            raise RecordFormatError(
                f"ballot record: too long, {len(data)} bytes, expected {expected} "
                f"(wrong ciphertext length for a {plaintext_len}-byte plaintext)"
            )
        ct_end = _RECORD_HEAD_LEN + plaintext_len + crypto.AEAD_TAG_LEN
        return cls(
            version=data[0],
            terminal_key_id=data[1 : 1 + crypto.KEY_ID_LEN],
            enc=data[1 + crypto.KEY_ID_LEN : _RECORD_HEAD_LEN],
            ciphertext=data[_RECORD_HEAD_LEN:ct_end],
            signature=data[ct_end:],
        )

    @property
    def enc_and_ciphertext(self) -> bytes:
        return self.enc + self.ciphertext

    @property
    def receipt_code(self) -> str:
        return receipt_code(self.enc_and_ciphertext)


def _signed_message(issue_block: IssueBlock, unsigned_record: bytes) -> bytes:
    return SIGNATURE_LABEL + issue_block.pack() + unsigned_record


def seal_ballot(
    issue_block: IssueBlock,
    plaintext: bytes,
    election_public_key: bytes | x25519.X25519PublicKey,
    terminal_private_key: ed25519.Ed25519PrivateKey,
) -> BallotRecord:
    """Encrypt the encoded ballot to the election key and sign it for this card."""
    _check_plaintext_len(len(plaintext))
    enc, ciphertext = crypto.seal(election_public_key, plaintext, issue_block.hpke_info)
    key_id = crypto.key_id(terminal_private_key.public_key())
    unsigned = bytes([VERSION]) + key_id + enc + ciphertext
    signature = crypto.sign(terminal_private_key, _signed_message(issue_block, unsigned))
    return BallotRecord(terminal_key_id=key_id, enc=enc, ciphertext=ciphertext, signature=signature)


def verify_ballot_record(
    issue_block: IssueBlock,
    record_bytes: bytes,
    terminal_public_keys: Mapping[bytes, ed25519.Ed25519PublicKey],
    plaintext_len: int,
) -> BallotRecord:
    """Check a record read from a card against the card's issue block.

    Order: format (RecordFormatError), enrolled terminal (UnknownTerminalError),
    signature over issue block + record (BadSignatureError). Returns the parsed
    record. It does not open the ciphertext: the ballot box has no private key.
    """
    record = BallotRecord.parse(record_bytes, plaintext_len)
    public_key = terminal_public_keys.get(record.terminal_key_id)
    if public_key is None:
        raise UnknownTerminalError(
            f"ballot record signed by terminal key id {record.terminal_key_id.hex()}, "
            "which is not enrolled at this ballot box"
        )
    try:
        crypto.verify_signature(
            public_key, record.signature, _signed_message(issue_block, record.unsigned_bytes())
        )
    except crypto.SignatureError:
        raise BadSignatureError(
            f"ballot record signature by terminal {record.terminal_key_id.hex()} does not "
            "verify for this card's issue block (altered record, or moved from another card)"
        ) from None
    return record


# --- what the ballot box stores ------------------------------------------------------


@dataclass(frozen=True)
class SealedBallot:
    """A stored ballot: HPKE enc ‖ ciphertext and the info fields needed to open it.

    No token, no terminal key id, no signature, no time: nothing that links it to a
    card's issue or to casting order. `pack` is a compact storage encoding:
    version ‖ fingerprint ‖ precinct (u32) ‖ style (u16) ‖ enc ‖ ciphertext.
    """

    fingerprint: bytes
    precinct: int
    style: int
    enc: bytes
    ciphertext: bytes
    version: int = VERSION

    def __post_init__(self) -> None:
        _check_version(self.version, "sealed ballot")
        _check_header_fields(self.fingerprint, self.precinct, self.style, "sealed ballot")
        if len(self.enc) != crypto.ENC_LEN:
            raise RecordFormatError(
                f"sealed ballot: HPKE enc must be {crypto.ENC_LEN} bytes, got {len(self.enc)}"
            )
        if len(self.ciphertext) < crypto.AEAD_TAG_LEN:
            raise RecordFormatError(
                f"sealed ballot: ciphertext of {len(self.ciphertext)} bytes is shorter than "
                f"the {crypto.AEAD_TAG_LEN}-byte AEAD tag"
            )

    @classmethod
    def from_record(cls, issue_block: IssueBlock, record: BallotRecord) -> SealedBallot:
        """Keep what is needed to open the ballot later; drop the token and the signature."""
        return cls(
            fingerprint=issue_block.fingerprint,
            precinct=issue_block.precinct,
            style=issue_block.style,
            enc=record.enc,
            ciphertext=record.ciphertext,
            version=issue_block.version,
        )

    @property
    def enc_and_ciphertext(self) -> bytes:
        return self.enc + self.ciphertext

    @property
    def hpke_info(self) -> bytes:
        return hpke_info(self.version, self.fingerprint, self.precinct, self.style)

    @property
    def receipt_code(self) -> str:
        return receipt_code(self.enc_and_ciphertext)

    def pack(self) -> bytes:
        return (
            _SEALED_HEAD.pack(self.version, self.fingerprint, self.precinct, self.style)
            + self.enc
            + self.ciphertext
        )

    @classmethod
    def parse(cls, data: bytes) -> SealedBallot:
        data = bytes(data)
        if not data:
            raise RecordFormatError("sealed ballot: empty")
        _check_version(data[0], "sealed ballot")
        minimum = _SEALED_HEAD.size + crypto.ENC_LEN + crypto.AEAD_TAG_LEN
        if len(data) < minimum:
            raise RecordFormatError(
                f"sealed ballot: too short, {len(data)} bytes, at least {minimum} expected"
            )
        version, fingerprint, precinct, style = _SEALED_HEAD.unpack_from(data)
        body = data[_SEALED_HEAD.size :]
        return cls(
            fingerprint=fingerprint,
            precinct=precinct,
            style=style,
            enc=body[: crypto.ENC_LEN],
            ciphertext=body[crypto.ENC_LEN :],
            version=version,
        )


def open_ballot(sealed: SealedBallot, private_key: x25519.X25519PrivateKey) -> bytes:
    """Decrypt a stored ballot with the reconstructed election key; returns the plaintext."""
    try:
        return crypto.open_sealed(private_key, sealed.enc, sealed.ciphertext, sealed.hpke_info)
    except crypto.DecryptionError as e:
        raise BallotDecryptionError(
            f"stored ballot {receipt_code(sealed.enc_and_ciphertext)} does not open: {e}"
        ) from None


# --- receipt codes ---------------------------------------------------------------------

# Crockford's base32 alphabet: no I, L, O, U, so a code read aloud or typed survives.
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = str.maketrans(_RFC4648, _CROCKFORD)
_TYPED = str.maketrans({"O": "0", "I": "1", "L": "1"})
RECEIPT_CODE_CHARS = 10  # 50 bits
RECEIPT_CODE_ALPHABET = _CROCKFORD  # in ascending ASCII order, so codes sort as their 50-bit numbers


def receipt_code(enc_and_ciphertext: bytes) -> str:
    """A short human code for a stored ballot, e.g. "K7Q2-M9XD-4A".

    First 50 bits of SHA-256("sailau/receipt/v1" ‖ enc ‖ ciphertext) in Crockford
    base32, grouped 4-4-2. It is a hash of a ciphertext, so it reveals nothing about
    the vote; anyone holding the published ciphertexts can recompute it.
    """
    digest = hashlib.sha256(RECEIPT_LABEL + bytes(enc_and_ciphertext)).digest()
    chars = base64.b32encode(digest).decode("ascii").translate(_TO_CROCKFORD)[:RECEIPT_CODE_CHARS]
    return f"{chars[0:4]}-{chars[4:8]}-{chars[8:10]}"


def normalize_receipt_code(text: str) -> str:
    """Canonical form of a code a voter typed: case, spaces, dashes, O/0 and I/L/1 forgiven."""
    chars = "".join(ch for ch in text.upper() if ch not in " -").translate(_TYPED)
    if len(chars) != RECEIPT_CODE_CHARS or any(ch not in _CROCKFORD for ch in chars):
        raise ReceiptCodeError(f"{text!r} is not a receipt code (10 characters like K7Q2-M9XD-4A)")
    return f"{chars[0:4]}-{chars[4:8]}-{chars[8:10]}"
