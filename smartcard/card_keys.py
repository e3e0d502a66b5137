"""Per-card keys and the proof that authorises ISSUE and CLEAR (AES-CMAC, NIST
SP 800-38B, from `cryptography`).

Each card holds only its own key, diversified from the station's card master
key by the card serial, so a key extracted from one card opens no other card.
Stations configure their own master key; the simulator's default test master
key (`sailau.simulator.card_app.TEST_MASTER_KEY`) is for tests and demos only.

The card master key file (what `sailau keys card-master` writes) is a secret
file: this module owns its format (`master_key_file_bytes`, `parse_master_key`)
and imports nothing of ours, so the file itself is read by the caller through
`sailau.election.secretfile.read_secret_file` (mode checked, size bounded by
`MAX_MASTER_KEY_FILE_BYTES`): the CLI's `read_card_master_key` does both.

Freshness without a challenge round trip (protocol v2): the card keeps a
counter of its state changes and tells it in SELECT's answer; a privileged
command carries `proof = AES-CMAC(card key, "SLU" 02 ‖ INS ‖ counter ‖ data)`
truncated to 8 bytes (as GlobalPlatform SCP03 truncates its C-MAC). The card
checks it against its current counter, and the command's own state change moves
the counter on, so a recorded proof is never accepted twice."""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import cmac, constant_time
from cryptography.hazmat.primitives.ciphers import algorithms

from sailau.smartcard.apdu import COUNTER_LENGTH, MAX_COUNTER, PROOF_LENGTH, PROTOCOL_VERSION, SERIAL_LENGTH

CARD_KEY_LENGTH = 16
MASTER_KEY_LENGTHS = (16, 24, 32)  # AES-128/192/256 for the CMAC diversification
#: A hex key with a newline is at most 65 bytes; anything much larger is no key file.
MAX_MASTER_KEY_FILE_BYTES = 4096
DIVERSIFICATION_TAG = b"\x01"
PROOF_LABEL = b"SLU" + bytes((PROTOCOL_VERSION,))


class InvalidKeyMaterialError(ValueError):
    """A key, serial or counter has the wrong length or range."""


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


def proof_message(ins: int, counter: int, data: bytes) -> bytes:
    """What a proof covers: "SLU" 02 ‖ INS ‖ counter (3 bytes, big-endian) ‖ data."""
    if not 0 <= counter <= MAX_COUNTER:
        raise InvalidKeyMaterialError(f"card counter must be 0..{MAX_COUNTER}, got {counter}")
    if not 0 <= ins <= 0xFF:
        raise InvalidKeyMaterialError(f"INS must be a byte, got {ins}")
    return PROOF_LABEL + bytes((ins,)) + counter.to_bytes(COUNTER_LENGTH, "big") + bytes(data)


def command_proof(card_key: bytes, ins: int, counter: int, data: bytes = b"") -> bytes:
    """The 8-byte proof a privileged command (ISSUE, CLEAR) carries."""
    _check_aes_key("card key", card_key)
    return _cmac(card_key, proof_message(ins, counter, data))[:PROOF_LENGTH]


def verify_proof(card_key: bytes, ins: int, counter: int, data: bytes, candidate: bytes) -> bool:
    """Constant-time check of a command proof (card side)."""
    _check_aes_key("card key", card_key)
    if len(candidate) != PROOF_LENGTH or not 0 <= counter <= MAX_COUNTER:
        return False
    return constant_time.bytes_eq(command_proof(card_key, ins, counter, data), bytes(candidate))


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
