"""Per-card keys and the proof that authorises ISSUE and CLEAR (AES-CMAC, NIST
SP 800-38B, from `cryptography`).

Each card holds only its own key, diversified from the station's card master
key by the card serial, so a key extracted from one card opens no other card.
Stations configure their own master key; the simulator's default test master
key (`sailau.simulator.card_app.TEST_MASTER_KEY`) is for tests and demos only.

Freshness without a challenge round trip (protocol v2): the card keeps a
counter of its state changes and tells it in SELECT's answer; a privileged
command carries `proof = AES-CMAC(card key, "SLU" 02 ‖ INS ‖ counter ‖ data)`
truncated to 8 bytes (as GlobalPlatform SCP03 truncates its C-MAC). The card
checks it against its current counter, and the command's own state change moves
the counter on, so a recorded proof is never accepted twice."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import cmac, constant_time
from cryptography.hazmat.primitives.ciphers import algorithms

from sailau.smartcard.apdu import COUNTER_LENGTH, MAX_COUNTER, PROOF_LENGTH, PROTOCOL_VERSION, SERIAL_LENGTH

CARD_KEY_LENGTH = 16
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


def load_master_key(path: str | os.PathLike[str]) -> bytes:
    """A station's card master key file: 16, 24 or 32 bytes as hex text (what
    `sailau demo` and `sailau keys` write), or those bytes raw.

    Hex is tried first and only at a key's exact hex length, so a raw key is never
    mistaken for hex of another length. Raises OSError when the file cannot be
    read, InvalidKeyMaterialError (naming the file, never the key) when it holds
    no key of an AES length."""
    data = Path(path).read_bytes()
    text = data.strip()
    if len(text) in (32, 48, 64):
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) in (16, 24, 32):
        return data
    raise InvalidKeyMaterialError(
        f"{path}: a card master key is 16, 24 or 32 bytes (raw or as hex text), found {len(data)} bytes"
    )
