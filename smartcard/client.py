"""Host side of the ballot card application (protocol v2): one method per card
operation, over any `Transport` (PC/SC or in-process).

Every method sends the fewest APDUs the contract allows, because at a real
card's 9600 bit/s each byte is user-visible time; `stats` counts APDUs and
bytes so the cost per operation can be measured. A voter costs 8 APDUs:

    ballot box, issue:  SELECT (status)      ISSUE + proof
    booth:              SELECT (no data)     READ BINARY     WRITE BALLOT -> digest
    ballot box, cast:   SELECT (status)      READ BINARY     CLEAR + proof

A status word other than 9000 raises the matching `StatusWordError` subclass
and leaves the card unchanged (the card's contract); a pulled card raises
CardRemovedError from the transport, after which the card's state is unknown
until it is selected again.

The client keeps what SELECT said (state, serial, counter) and updates it after
each ISSUE, WRITE BALLOT and CLEAR it sends, because those are the only things
that change a card and this client is the only one talking to it on this
connection. `status()` returns that, without an APDU."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sailau.smartcard.apdu import (
    AID,
    AID_V1,
    CLA_ISO,
    CLA_PROPRIETARY,
    DIGEST_LENGTH,
    MAX_COUNTER,
    MAX_ISSUE_BLOCK,
    MAX_RECORD,
    MAX_SHORT_LE,
    PROTOCOL_VERSION,
    SELECT_P1_BY_NAME,
    SELECT_P2_NO_DATA,
    SELECT_P2_STATUS,
    SERIAL_LENGTH,
    STATUS_LENGTH,
    SW,
    CardState,
    CommandAPDU,
    Ins,
    ResponseAPDU,
    write_digest,
)
from sailau.smartcard.card_keys import command_proof, diversify
from sailau.smartcard.errors import (
    CardRemovedError,
    CardVersionError,
    FileNotFoundOnCardError,
    MalformedResponseError,
    NotSelectedError,
    WriteMismatchError,
    status_word_error,
)
from sailau.smartcard.transport import Transport

__all__ = ["BallotCardClient", "CardData", "CardState", "CardStatus", "IoStats"]


@dataclass(frozen=True)
class CardStatus:
    """What SELECT answers: the card's state, serial and state-change counter."""

    state: CardState
    serial: bytes
    counter: int = 0


@dataclass(frozen=True)
class CardData:
    """The card's data file: issue block and ballot record, None when absent.

    The data file determines the state (the card keeps them in one atomic
    update): nothing = BLANK, issue block only = ISSUED, both = VOTED."""

    issue_block: bytes | None
    record: bytes | None

    @property
    def state(self) -> CardState:
        if self.issue_block is None:
            return CardState.BLANK
        return CardState.ISSUED if self.record is None else CardState.VOTED


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
        self._status: CardStatus | None = None

    def reset_stats(self) -> IoStats:
        """Return the counters so far and start new ones."""
        stats, self.stats = self.stats, IoStats()
        return stats

    # -- session --------------------------------------------------------
    def connect(self) -> bytes:
        """Power the card (transport.connect) and forget the previous card; returns the ATR."""
        self._status = None
        return self.transport.connect()

    def select(self) -> CardStatus:
        """SELECT the ballot card application; the card answers its state, serial
        and counter (one APDU). A v1 card is refused by name (CardVersionError,
        one more SELECT to tell it from a card that is no ballot card at all)."""
        self._status = None
        command = CommandAPDU(CLA_ISO, Ins.SELECT, SELECT_P1_BY_NAME, SELECT_P2_STATUS, AID, le=MAX_SHORT_LE)
        data = self._select(command)
        self._status = _parse_status(data)
        return self._status

    def select_without_status(self) -> None:
        """SELECT asking for no answer data (P2 0C), for a host that reads the
        data file next and needs neither serial nor counter (the booth): 13 bytes
        out, 2 back. A v1 card is refused by name as in `select()`."""
        self._status = None
        self._select(CommandAPDU(CLA_ISO, Ins.SELECT, SELECT_P1_BY_NAME, SELECT_P2_NO_DATA, AID))

    def status(self) -> CardStatus:
        """The card's status as of the last `select()` on this connection, kept
        current by this client's own ISSUE, WRITE BALLOT and CLEAR (no APDU:
        protocol v2 has no GET STATUS; SELECT answers it)."""
        if self._status is None:
            raise NotSelectedError("the card's status is not known on this connection: select() first")
        return self._status

    # -- card operations ------------------------------------------------
    def issue(self, issue_block: bytes, master_key: bytes) -> None:
        """ISSUE with a proof of the card key: BLANK → ISSUED with `issue_block`
        (1..64 bytes). Needs the serial and counter from `select()` (selects
        first if they are not known)."""
        _check_length("issue block", issue_block, MAX_ISSUE_BLOCK)
        proof = self._proof(Ins.ISSUE, issue_block, master_key)
        self._send("ISSUE", CommandAPDU(CLA_PROPRIETARY, Ins.ISSUE, data=issue_block + proof))
        self._changed(CardState.ISSUED)

    def write_ballot(self, record: bytes, issue_block: bytes) -> None:
        """WRITE BALLOT: ISSUED → VOTED with `record` (1..255 bytes); once per issue.

        The card answers a digest of its data file after the write; it must be
        that of `issue_block` (as read from this card) and `record`, else
        WriteMismatchError: the card holds something other than this ballot."""
        _check_length("ballot record", record, MAX_RECORD)
        answer = self._send(
            "WRITE BALLOT", CommandAPDU(CLA_PROPRIETARY, Ins.WRITE_BALLOT, data=record, le=DIGEST_LENGTH)
        )
        if len(answer) != DIGEST_LENGTH:
            raise MalformedResponseError(
                f"WRITE BALLOT answered {len(answer)} bytes, expected a {DIGEST_LENGTH}-byte digest"
            )
        self._changed(CardState.VOTED)
        if answer != write_digest(issue_block, record):
            raise WriteMismatchError(
                "the card's digest of what it stored differs from the ballot record written: "
                "the card does not hold this ballot"
            )

    def clear(self, master_key: bytes) -> None:
        """CLEAR with a proof of the card key: ISSUED or VOTED → BLANK, data wiped.
        Needs the serial and counter from `select()` (selects first if unknown)."""
        proof = self._proof(Ins.CLEAR, b"", master_key)
        self._send("CLEAR", CommandAPDU(CLA_PROPRIETARY, Ins.CLEAR, data=proof))
        self._changed(CardState.BLANK)

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
        if record and not issue:
            raise MalformedResponseError("data file holds a ballot record but no issue block")
        return CardData(issue or None, record or None)

    # -- internals ------------------------------------------------------
    def _select(self, command: CommandAPDU) -> bytes:
        try:
            return self._send("SELECT", command)
        except FileNotFoundOnCardError:
            self._name_other_version()
            raise

    def _name_other_version(self) -> None:
        """After 6A82 to our AID: a v1 card answers its own AID (then CardVersionError)."""
        probe = CommandAPDU(CLA_ISO, Ins.SELECT, SELECT_P1_BY_NAME, SELECT_P2_NO_DATA, AID_V1)
        if ResponseAPDU.from_bytes(self._transmit(probe)).sw == SW.OK:
            raise CardVersionError(AID_V1[-1], PROTOCOL_VERSION)

    def _proof(self, ins: Ins, data: bytes, master_key: bytes) -> bytes:
        status = self._status if self._status is not None else self.select()
        assert len(status.serial) == SERIAL_LENGTH
        return command_proof(diversify(master_key, status.serial), ins, status.counter, data)

    def _changed(self, state: CardState) -> None:
        """The card made a state change: its counter moved on by one."""
        if self._status is not None:
            self._status = replace(self._status, state=state, counter=min(self._status.counter + 1, MAX_COUNTER))

    def _transmit(self, command: CommandAPDU) -> bytes:
        raw = command.to_bytes()
        self.stats.apdus += 1
        self.stats.bytes_sent += len(raw)
        try:
            answer = self.transport.transmit(raw)
        except CardRemovedError:
            self._status = None
            raise
        self.stats.bytes_received += len(answer)
        return answer

    def _send(self, name: str, command: CommandAPDU) -> bytes:
        response = ResponseAPDU.from_bytes(self._transmit(command))
        if not response.ok:
            raise status_word_error(response.sw, name)
        return response.data


def _parse_status(data: bytes) -> CardStatus:
    if len(data) != STATUS_LENGTH:
        raise MalformedResponseError(
            f"SELECT answered {len(data)} bytes, expected state, serial and counter ({STATUS_LENGTH}): {data.hex()}"
        )
    try:
        state = CardState(data[0])
    except ValueError:
        raise MalformedResponseError(f"SELECT answered unknown card state {data[0]:02X}") from None
    return CardStatus(state, bytes(data[1 : 1 + SERIAL_LENGTH]), int.from_bytes(data[1 + SERIAL_LENGTH :], "big"))


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
