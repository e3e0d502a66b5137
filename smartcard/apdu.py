"""Short ISO 7816-4 APDUs and the ballot card application's constants.

One source of truth for the numbers in smartcard/README.md: the host client
builds commands from these and the virtual card (simulator/) decodes with them.
Only short APDUs exist here (Lc 1..255, Le 1..256 with 256 sent as 00): every
ballot-card command fits one.

`data_file()` and `write_digest()` are the two byte layouts both sides compute:
what READ BINARY returns, and the digest WRITE BALLOT answers with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

from sailau.smartcard.errors import MalformedResponseError

PROTOCOL_VERSION = 2
"""The ballot card application's protocol version; it is the AID's last byte."""

AID_PREFIX = bytes.fromhex("F0534149 4C4155")
"""Proprietary RID F0 and "SAILAU": every version of the application shares it."""

AID = AID_PREFIX + bytes((PROTOCOL_VERSION,))
"""Application identifier of the ballot card application, protocol v2."""

AID_V1 = AID_PREFIX + b"\x01"
"""The v1 application (GET CHALLENGE + EXTERNAL AUTHENTICATE, read-back): a host
selects it only to name a v1 card it refuses."""

CLA_ISO = 0x00
CLA_PROPRIETARY = 0x80

SELECT_P1_BY_NAME = 0x04
SELECT_P2_STATUS = 0x00
"""SELECT answers `state ‖ serial ‖ counter` (when Le asks for it)."""
SELECT_P2_NO_DATA = 0x0C
"""SELECT answers no data (ISO 7816-4: "no response data")."""

SERIAL_LENGTH = 8
COUNTER_LENGTH = 3
MAX_COUNTER = (1 << (8 * COUNTER_LENGTH)) - 1
STATUS_LENGTH = 1 + SERIAL_LENGTH + COUNTER_LENGTH
PROOF_LENGTH = 8
DIGEST_LENGTH = 8
MAX_ISSUE_BLOCK = 64
MAX_RECORD = 255
MAX_DATA_FILE = 1 + MAX_ISSUE_BLOCK + 1 + MAX_RECORD
MAX_SHORT_LC = 255
MAX_SHORT_LE = 256


class Ins(IntEnum):
    """Instruction bytes; SELECT and READ BINARY are ISO (CLA 00), the rest CLA 80."""

    SELECT = 0xA4
    READ_BINARY = 0xB0
    ISSUE = 0x10
    WRITE_BALLOT = 0x20
    CLEAR = 0x30
    TEST_TEAR = 0x7E
    """Optional, test builds only (the virtual card served with a tearing hook):
    cut the power after N persistent bytes of the next command."""


class SW(IntEnum):
    """The status words the ballot card answers with (ISO 7816-4 meanings)."""

    OK = 0x9000
    WRONG_LENGTH = 0x6700
    SECURITY_STATUS_NOT_SATISFIED = 0x6982
    CONDITIONS_NOT_SATISFIED = 0x6985
    FILE_NOT_FOUND = 0x6A82
    WRONG_P1P2 = 0x6A86
    OFFSET_OUT_OF_RANGE = 0x6B00
    INS_NOT_SUPPORTED = 0x6D00
    CLA_NOT_SUPPORTED = 0x6E00


class CardState(IntEnum):
    """Life-cycle state of a ballot card, as SELECT encodes it."""

    BLANK = 0x00
    ISSUED = 0x01
    VOTED = 0x02


def data_file(issue_block: bytes | None, record: bytes | None) -> bytes:
    """The file READ BINARY reads: len(issue) ‖ issue ‖ len(record) ‖ record
    (a length 0 when that part is absent)."""
    issue, rec = issue_block or b"", record or b""
    return bytes((len(issue),)) + issue + bytes((len(rec),)) + rec


def write_digest(issue_block: bytes | None, record: bytes | None) -> bytes:
    """WRITE BALLOT's answer: the first 8 bytes of SHA-256 over the data file the
    card holds after the write. It tells the writer what the card stored (both
    parts), so a torn or wrong write is caught without reading the record back."""
    return hashlib.sha256(data_file(issue_block, record)).digest()[:DIGEST_LENGTH]


class InvalidAPDUError(ValueError):
    """A command APDU cannot be encoded (or decoded) as a short APDU."""


@dataclass(frozen=True)
class CommandAPDU:
    """A short command APDU. `data` empty means no Lc field; `le` is Ne, the
    number of response bytes expected (1..256, encoded 01..FF and 00 for 256),
    None when no Le field is sent."""

    cla: int
    ins: int
    p1: int = 0
    p2: int = 0
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise InvalidAPDUError(f"{name.upper()} must be a byte 0..255, got {value!r}")
        if not isinstance(self.data, bytes | bytearray):
            raise InvalidAPDUError(f"data must be bytes, got {type(self.data).__name__}")
        object.__setattr__(self, "data", bytes(self.data))
        if len(self.data) > MAX_SHORT_LC:
            raise InvalidAPDUError(
                f"data is {len(self.data)} bytes; a short APDU carries at most {MAX_SHORT_LC}"
            )
        if self.le is not None and (
            not isinstance(self.le, int) or not 1 <= self.le <= MAX_SHORT_LE
        ):
            raise InvalidAPDUError(f"Le must be 1..{MAX_SHORT_LE} or None, got {self.le!r}")

    def to_bytes(self) -> bytes:
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le % MAX_SHORT_LE,))
        return out

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandAPDU:
        """Decode a short APDU (cases 1-4). Extended length (Lc byte 00 followed
        by more bytes) and an Lc that disagrees with the length are rejected."""
        raw = bytes(raw)
        if len(raw) < 4:
            raise InvalidAPDUError(f"a command APDU has at least 4 header bytes, got {len(raw)}")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or MAX_SHORT_LE)
        lc = body[0]
        if lc == 0:
            raise InvalidAPDUError("extended-length APDUs are not supported (Lc byte is 00)")
        rest = body[1:]
        if len(rest) == lc:
            return cls(cla, ins, p1, p2, rest)
        if len(rest) == lc + 1:
            return cls(cla, ins, p1, p2, rest[:lc], rest[lc] or MAX_SHORT_LE)
        raise InvalidAPDUError(f"Lc says {lc} data bytes but {len(rest)} bytes follow it")


@dataclass(frozen=True)
class ResponseAPDU:
    """A response APDU: data then SW1 SW2."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == SW.OK

    def to_bytes(self) -> bytes:
        return self.data + bytes((self.sw1, self.sw2))

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseAPDU:
        raw = bytes(raw)
        if len(raw) < 2:
            raise MalformedResponseError(
                f"a response APDU ends with SW1 SW2, got only {len(raw)} byte(s): {raw.hex()}"
            )
        return cls(raw[:-2], raw[-2], raw[-1])
