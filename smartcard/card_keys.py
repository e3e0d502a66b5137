"""Per-card keys and the EXTERNAL AUTHENTICATE cryptogram (AES-CMAC, NIST SP
800-38B, from `cryptography`).

Each card holds only its own key, diversified from the station's card master
key by the card serial, so a key extracted from one card opens no other card.
Stations configure their own master key; the simulator's default test master
key (`sailau.simulator.card_app.TEST_MASTER_KEY`) is for tests and demos only.

The card master key file (what `sailau keys card-master` writes) is a secret
file: this module owns its format (`master_key_file_bytes`, `parse_master_key`)
and imports nothing of ours, so the file itself is read by the caller through
`sailau.election.secretfile.read_secret_file` (mode checked, size bounded by
`MAX_MASTER_KEY_FILE_BYTES`): the CLI's `read_card_master_key` does both."""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms

from sailau.smartcard.apdu import CHALLENGE_LENGTH, SERIAL_LENGTH

CARD_KEY_LENGTH = 16
MASTER_KEY_LENGTHS = (16, 24, 32)  # AES-128/192/256 for the CMAC diversification
#: A hex key with a newline is at most 65 bytes; anything much larger is no key file.
MAX_MASTER_KEY_FILE_BYTES = 4096
DIVERSIFICATION_TAG = b"\x01"


class InvalidKeyMaterialError(ValueError):
    """A key, serial or challenge has the wrong length."""


def _check_aes_key(name: str, key: bytes) -> None:
    if len(key) not in (16, 24, 32):
        raise InvalidKeyMaterialError(f"{name} must be an AES key of 16, 24 or 32 bytes, got {len(key)}")


def _cmac(key: bytes, message: bytes) -> bytes:
    mac = cmac.CMAC(algorithms.AES(key))
    mac.update(message)
    return mac.finalize()


def diversify(master_key: bytes, serial: bytes) -> bytes:
    """Card key = AES-CMAC(master key, 01 ‖ serial): 16 bytes, an AES-128 key."""
    _check_aes_key("master key", master_key)
    if len(serial) != SERIAL_LENGTH:
        raise InvalidKeyMaterialError(f"card serial must be {SERIAL_LENGTH} bytes, got {len(serial)}")
    return _cmac(master_key, DIVERSIFICATION_TAG + serial)


def cryptogram(card_key: bytes, challenge: bytes) -> bytes:
    """The EXTERNAL AUTHENTICATE cryptogram: AES-CMAC(card key, challenge)."""
    _check_aes_key("card key", card_key)
    if len(challenge) != CHALLENGE_LENGTH:
        raise InvalidKeyMaterialError(
            f"challenge must be {CHALLENGE_LENGTH} bytes, got {len(challenge)}"
        )
    return _cmac(card_key, challenge)


def verify_cryptogram(card_key: bytes, challenge: bytes, candidate: bytes) -> bool:
    """Constant-time check of a cryptogram (card side)."""
    _check_aes_key("card key", card_key)
    if len(challenge) != CHALLENGE_LENGTH:
        return False
    mac = cmac.CMAC(algorithms.AES(card_key))
    mac.update(challenge)
    try:
        mac.verify(candidate)
    except InvalidSignature:
        return False
    return True


def generate_master_key(length: int = 32) -> bytes:
    """A fresh card master key of `length` bytes (16, 24 or 32) from the operating
    system's CSPRNG (`secrets.token_bytes`)."""
    if length not in MASTER_KEY_LENGTHS:
        raise InvalidKeyMaterialError(f"a card master key is 16, 24 or 32 bytes, not {length}")
    return secrets.token_bytes(length)


def master_key_file_bytes(key: bytes) -> bytes:
    """What a card master key file holds: the key as lower-case hex and a newline."""
    _check_aes_key("master key", key)
    return key.hex().encode("ascii") + b"\n"


def parse_master_key(data: bytes, source: str) -> bytes:
    """A card master key from a file's bytes: 16, 24 or 32 bytes as hex text (what
    `sailau keys card-master` and `sailau demo` write), or those bytes raw.

    Hex is tried first and only at a key's exact hex length, so a raw key is never
    mistaken for hex of another length. Raises InvalidKeyMaterialError (naming
    `source`, never the key) when the bytes hold no key of an AES length."""
    text = data.strip()
    if len(text) in (32, 48, 64):
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) in MASTER_KEY_LENGTHS:
        return data
    raise InvalidKeyMaterialError(
        f"{source}: a card master key is 16, 24 or 32 bytes (raw or as hex text), found {len(data)} bytes"
    )
