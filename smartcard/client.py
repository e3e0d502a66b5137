"""Host side of the ballot card application: one method per card operation,
over any `Transport` (PC/SC or in-process).

Every method sends the fewest APDUs the contract allows, because at a real
card's 9600 bit/s each byte is user-visible time; `stats` counts APDUs and
bytes so the cost per operation can be measured. A status word other than 9000
raises the matching `StatusWordError` subclass; a pulled card raises
CardRemovedError from the transport, after which the card's state is unknown
until it is read again."""

from __future__ import annotations

from dataclasses import dataclass

from sailau.smartcard.apdu import (
    AID,
    CHALLENGE_LENGTH,
    CLA_ISO,
    CLA_PROPRIETARY,
    MAX_ISSUE_BLOCK,
    MAX_RECORD,
    MAX_SHORT_LE,
    SERIAL_LENGTH,
    STATUS_LENGTH,
    CardState,
    CommandAPDU,
    Ins,
    ResponseAPDU,
)
from sailau.smartcard.card_keys import cryptogram, diversify
from sailau.smartcard.errors import MalformedResponseError, status_word_error
from sailau.smartcard.transport import Transport

__all__ = ["BallotCardClient", "CardData", "CardState", "CardStatus", "IoStats"]


@dataclass(frozen=True)
class CardStatus:
    state: CardState
    serial: bytes


@dataclass(frozen=True)
class CardData:
    """The card's data file: issue block and ballot record, None when absent."""

    issue_block: bytes | None
    record: bytes | None


@dataclass
class IoStats:
    """APDUs and bytes over the wire (command and response, SW included)."""

    apdus: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0

    @property
    def total_bytes(self) -> int:
        return self.bytes_sent + self.bytes_received


class BallotCardClient:
    """The ballot card application as Python calls. The transport must already
    be connected (`connect()` here does it and starts a fresh session)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.stats = IoStats()
        self._serial: bytes | None = None

    def reset_stats(self) -> IoStats:
        """Return the counters so far and start new ones."""
        stats, self.stats = self.stats, IoStats()
        return stats

    # -- session --------------------------------------------------------
    def connect(self) -> bytes:
        """Power the card (transport.connect) and forget the previous card; returns the ATR."""
        self._serial = None
        return self.transport.connect()

    def select(self) -> None:
        """SELECT the ballot card application (drops any authentication)."""
        self._serial = None
        self._send("SELECT", CommandAPDU(CLA_ISO, Ins.SELECT, 0x04, 0x00, AID))

    def status(self) -> CardStatus:
        data = self._send("GET STATUS", CommandAPDU(CLA_PROPRIETARY, Ins.GET_STATUS, le=MAX_SHORT_LE))
        if len(data) != STATUS_LENGTH:
            raise MalformedResponseError(
                f"GET STATUS answered {len(data)} bytes, expected {STATUS_LENGTH}: {data.hex()}"
            )
        try:
            state = CardState(data[0])
        except ValueError:
            raise MalformedResponseError(f"GET STATUS answered unknown state {data[0]:02X}") from None
        self._serial = data[1:]
        return CardStatus(state, data[1:])

    def get_challenge(self) -> bytes:
        data = self._send(
            "GET CHALLENGE", CommandAPDU(CLA_ISO, Ins.GET_CHALLENGE, le=CHALLENGE_LENGTH)
        )
        if len(data) != CHALLENGE_LENGTH:
            raise MalformedResponseError(
                f"GET CHALLENGE answered {len(data)} bytes, expected {CHALLENGE_LENGTH}"
            )
        return data

    def authenticate(self, master_key: bytes) -> None:
        """GET CHALLENGE + EXTERNAL AUTHENTICATE with the key diversified for
        this card (GET STATUS first if the serial is not known yet). Allows
        exactly one ISSUE or CLEAR."""
        serial = self._serial if self._serial is not None else self.status().serial
        assert len(serial) == SERIAL_LENGTH
        card_key = diversify(master_key, serial)
        challenge = self.get_challenge()
        self._send(
            "EXTERNAL AUTHENTICATE",
            CommandAPDU(CLA_ISO, Ins.EXTERNAL_AUTHENTICATE, data=cryptogram(card_key, challenge)),
        )

    # -- card operations ------------------------------------------------
    def issue(self, issue_block: bytes, master_key: bytes) -> None:
        """Authenticate and ISSUE: BLANK → ISSUED with `issue_block` (1..64 bytes)."""
        _check_length("issue block", issue_block, MAX_ISSUE_BLOCK)
        self.authenticate(master_key)
        self._send("ISSUE", CommandAPDU(CLA_PROPRIETARY, Ins.ISSUE, data=issue_block))

    def write_ballot(self, record: bytes) -> None:
        """WRITE BALLOT: ISSUED → VOTED with `record` (1..255 bytes); once per issue."""
        _check_length("ballot record", record, MAX_RECORD)
        self._send("WRITE BALLOT", CommandAPDU(CLA_PROPRIETARY, Ins.WRITE_BALLOT, data=record))

    def clear(self, master_key: bytes) -> None:
        """Authenticate and CLEAR: ISSUED or VOTED → BLANK, data wiped."""
        self.authenticate(master_key)
        self._send("CLEAR", CommandAPDU(CLA_PROPRIETARY, Ins.CLEAR))

    def read_data(self) -> CardData:
        """READ BINARY the data file: one APDU up to 256 bytes, a second for the rest."""
        data = self._send("READ BINARY", CommandAPDU(CLA_ISO, Ins.READ_BINARY, 0, 0, le=MAX_SHORT_LE))
        size = _data_file_size(data)
        if size > len(data) and len(data) == MAX_SHORT_LE:
            offset = len(data)
            data += self._send(
                "READ BINARY",
                CommandAPDU(CLA_ISO, Ins.READ_BINARY, offset >> 8, offset & 0xFF, le=size - offset),
            )
        if len(data) != _data_file_size(data):
            raise MalformedResponseError(
                f"data file is {len(data)} bytes but its lengths say {_data_file_size(data)}"
            )
        issue_len = data[0]
        issue = data[1 : 1 + issue_len]
        record = data[2 + issue_len :]
        return CardData(issue or None, record or None)

    # -- wire -----------------------------------------------------------
    def _send(self, name: str, command: CommandAPDU) -> bytes:
        raw = command.to_bytes()
        self.stats.apdus += 1
        self.stats.bytes_sent += len(raw)
        answer = self.transport.transmit(raw)
        self.stats.bytes_received += len(answer)
        response = ResponseAPDU.from_bytes(answer)
        if not response.ok:
            raise status_word_error(response.sw, name)
        return response.data


def _check_length(what: str, data: bytes, maximum: int) -> None:
    if not 1 <= len(data) <= maximum:
        raise ValueError(f"{what} must be 1..{maximum} bytes, got {len(data)}")


def _data_file_size(data: bytes) -> int:
    """Size the data file claims from its length bytes (what is readable so far)."""
    if not data:
        raise MalformedResponseError("READ BINARY answered an empty data file")
    issue_len = data[0]
    if issue_len > MAX_ISSUE_BLOCK:
        raise MalformedResponseError(f"issue block length {issue_len} exceeds {MAX_ISSUE_BLOCK}")
    if len(data) < 2 + issue_len:
        raise MalformedResponseError(
            f"data file is cut short: {len(data)} bytes, issue block alone needs {1 + issue_len} + 1"
        )
    return 2 + issue_len + data[1 + issue_len]
