"""Short ISO 7816-4 APDUs and the ballot card application's constants.

One source of truth for the numbers in smartcard/README.md: the host client
builds commands from these and the virtual card (simulator/) decodes with them.
Only short APDUs exist here (Lc 1..255, Le 1..256 with 256 sent as 00): every
ballot-card command fits one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sailau.smartcard.errors import MalformedResponseError

AID = bytes.fromhex("F0534149 4C415501")
"""Application identifier of the ballot card application (proprietary RID F0)."""

CLA_ISO = 0x00
CLA_PROPRIETARY = 0x80

SERIAL_LENGTH = 8
CHALLENGE_LENGTH = 16
CRYPTOGRAM_LENGTH = 16
STATUS_LENGTH = 1 + SERIAL_LENGTH
MAX_ISSUE_BLOCK = 64
MAX_RECORD = 255
MAX_DATA_FILE = 1 + MAX_ISSUE_BLOCK + 1 + MAX_RECORD
MAX_SHORT_LC = 255
MAX_SHORT_LE = 256


class Ins(IntEnum):
    """Instruction bytes; SELECT..READ_BINARY are ISO (CLA 00), the rest CLA 80."""

    SELECT = 0xA4
    GET_CHALLENGE = 0x84
    EXTERNAL_AUTHENTICATE = 0x82
    READ_BINARY = 0xB0
    GET_STATUS = 0x40
    ISSUE = 0x10
    WRITE_BALLOT = 0x20
    CLEAR = 0x30


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
    """Life-cycle state of a ballot card, as GET STATUS encodes it."""

    BLANK = 0x00
    ISSUED = 0x01
    VOTED = 0x02


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
