"""The virtual ballot card: the card side of smartcard/README.md, executing raw
APDUs the way the applet on a real card would.

Persistent data (state, serial, card key, issue block, record) lives in a
journaled `CardStore`; selection, the challenge and the authentication are
volatile and vanish at power off. The vpcd bridge and `InProcessTransport`
drive it through power_on / execute / power_off only."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sailau.simulator.store import CardImage, CardStore, FileStore, MemoryStore, TornWrite
from sailau.smartcard.apdu import (
    AID,
    CHALLENGE_LENGTH,
    CLA_ISO,
    CLA_PROPRIETARY,
    CRYPTOGRAM_LENGTH,
    MAX_ISSUE_BLOCK,
    MAX_RECORD,
    SERIAL_LENGTH,
    STATUS_LENGTH,
    SW,
    CardState,
    CommandAPDU,
    Ins,
    InvalidAPDUError,
)
from sailau.smartcard.card_keys import diversify, verify_cryptogram

TEST_MASTER_KEY = bytes.fromhex("5341494c41552d544553542d4d4b2d31")
"""Default card master key of virtual cards ("SAILAU-TEST-MK-1"): for tests and
demos only. A station personalises and authenticates cards with its own key."""

HISTORICAL_BYTES = bytes((0x80, 0x56)) + b"Sailau"
"""Category 80 (COMPACT-TLV follows), tag 5 "card issuer's data", length 6."""


def _build_atr() -> bytes:
    # TS 3B direct convention; T0: TD1 present, K historical bytes;
    # TD1 80: TD2 present, T=0 offered; TD2 01: T=1. TCK because T=1 is offered.
    body = bytes((0x80 | len(HISTORICAL_BYTES), 0x80, 0x01)) + HISTORICAL_BYTES
    tck = 0
    for b in body:
        tck ^= b
    return bytes((0x3B,)) + body + bytes((tck,))


ATR = _build_atr()


class CardPowerLost(Exception):
    """The card lost power in the middle of a command (a torn write): no
    response was sent and the card is off. The host must treat it as removed."""

    card_removed = True
    """Duck-typed marker read by `sailau.smartcard.transport.InProcessTransport`."""


class _Reject(Exception):
    def __init__(self, sw: SW) -> None:
        self.sw = sw


@dataclass(frozen=True)
class _Command:
    """How one instruction is checked: P1/P2, Lc (allowed data lengths, None =
    no data field allowed), Le (None = ignored), auth, allowed states."""

    name: str
    handler: Callable[[VirtualBallotCard, CommandAPDU], bytes]
    lc: tuple[int, int] | None = None
    le_check: Callable[[int | None], bool] | None = None
    p1p2_check: Callable[[int, int], bool] = lambda p1, p2: p1 == 0 and p2 == 0
    needs_auth: bool = False
    states: frozenset[CardState] = frozenset(CardState)


class VirtualBallotCard:
    """One virtual ballot card. Thread-unsafe by design: a card has one reader."""

    def __init__(
        self,
        serial: bytes | None = None,
        store: CardStore | None = None,
        *,
        master_key: bytes = TEST_MASTER_KEY,
        card_key: bytes | None = None,
    ) -> None:
        """Use the card in `store` (default: a fresh in-memory store). A store
        without an image is personalised here: a BLANK card with `serial`
        (random if None) and `card_key` (default: diversified from
        `master_key`, which is not kept)."""
        self.store = store if store is not None else MemoryStore()
        if self.store.is_formatted():
            image = self.store.peek()
            if serial is not None and serial != image.serial:
                raise ValueError(
                    f"store holds card {image.serial.hex()}, not the requested {serial.hex()}"
                )
        else:
            serial = os.urandom(SERIAL_LENGTH) if serial is None else bytes(serial)
            if len(serial) != SERIAL_LENGTH:
                raise ValueError(f"card serial must be {SERIAL_LENGTH} bytes, got {len(serial)}")
            key = card_key if card_key is not None else diversify(master_key, serial)
            self.store.format(CardImage(CardState.BLANK, serial, key))
        self._powered = False
        self._image: CardImage | None = None
        self._reset_volatile()

    @classmethod
    def open_image(
        cls, path: str | os.PathLike[str], *, master_key: bytes = TEST_MASTER_KEY, fsync: bool = True
    ) -> VirtualBallotCard:
        """The card whose image is the file `path`, created (a fresh BLANK card
        with a random serial) if missing. The file is the card: another process
        opening it gets the same card."""
        return cls(store=FileStore(Path(path), fsync=fsync), master_key=master_key)

    # -- identity and inspection ------------------------------------------
    @property
    def serial(self) -> bytes:
        return self._persistent().serial

    @property
    def state(self) -> CardState:
        return self._persistent().state

    @property
    def issue_block(self) -> bytes | None:
        return self._persistent().issue_block

    @property
    def record(self) -> bytes | None:
        return self._persistent().record

    @property
    def powered(self) -> bool:
        return self._powered

    @property
    def tear_after_bytes(self) -> int | None:
        """Tearing switch: cut the power after this many more bytes of
        persistent writes (one shot); see `CardStore.tear_after_bytes`."""
        return self.store.tear_after_bytes

    @tear_after_bytes.setter
    def tear_after_bytes(self, value: int | None) -> None:
        self.store.tear_after_bytes = value

    def close(self) -> None:
        """Power off and release the store's file."""
        self.power_off()
        self.store.close()

    def _persistent(self) -> CardImage:
        return self._image if self._powered and self._image is not None else self.store.peek()

    # -- the reader's view ------------------------------------------------
    def atr(self) -> bytes:
        return ATR

    def power_on(self) -> bytes:
        """Cold reset: finish or discard an interrupted transaction, reset the
        volatile state, answer the ATR. Raises CardPowerLost if the tearing
        switch fires during recovery."""
        self._reset_volatile()
        try:
            self.store.recover()
        except TornWrite as exc:
            self._powered = False
            raise CardPowerLost(str(exc)) from exc
        self._image = self.store.load()
        self._powered = True
        return ATR

    def power_off(self) -> None:
        self._powered = False
        self._image = None
        self._reset_volatile()

    def execute(self, apdu: bytes) -> bytes:
        """Run one command APDU; returns response data ‖ SW1 SW2."""
        if not self._powered:
            raise CardPowerLost("the card is not powered")
        try:
            data, sw = self._dispatch(bytes(apdu))
        except TornWrite as exc:
            self.power_off()
            raise CardPowerLost(str(exc)) from exc
        return data + sw.to_bytes(2, "big")

    # -- command processing -----------------------------------------------
    def _reset_volatile(self) -> None:
        self._selected = False
        self._challenge: bytes | None = None
        self._authenticated = False

    def _dispatch(self, raw: bytes) -> tuple[bytes, int]:
        try:
            return self._process(raw), SW.OK
        except _Reject as reject:
            return b"", reject.sw

    def _process(self, raw: bytes) -> bytes:
        if len(raw) < 4:
            raise _Reject(SW.WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        if cla not in (CLA_ISO, CLA_PROPRIETARY):
            raise _Reject(SW.CLA_NOT_SUPPORTED)
        command = _COMMANDS.get((cla, ins))
        if command is None:
            raise _Reject(SW.INS_NOT_SUPPORTED)
        if ins != Ins.SELECT and not self._selected:
            raise _Reject(SW.CONDITIONS_NOT_SATISFIED)
        if not command.p1p2_check(p1, p2):
            raise _Reject(SW.WRONG_P1P2)
        try:
            apdu = CommandAPDU.from_bytes(raw)
        except InvalidAPDUError:
            raise _Reject(SW.WRONG_LENGTH) from None
        if command.lc is None:
            if apdu.data:
                raise _Reject(SW.WRONG_LENGTH)
        elif not command.lc[0] <= len(apdu.data) <= command.lc[1]:
            raise _Reject(SW.WRONG_LENGTH)
        if command.le_check is not None and not command.le_check(apdu.le):
            raise _Reject(SW.WRONG_LENGTH)
        if command.needs_auth:
            if not self._authenticated:
                raise _Reject(SW.SECURITY_STATUS_NOT_SATISFIED)
            self._authenticated = False  # one privileged command per authentication
        assert self._image is not None
        if self._image.state not in command.states:
            raise _Reject(SW.CONDITIONS_NOT_SATISFIED)
        return command.handler(self, apdu)

    def _save(self, image: CardImage) -> None:
        self.store.save(image)
        self._image = image

    def _select(self, apdu: CommandAPDU) -> bytes:
        self._reset_volatile()
        if apdu.data != AID:
            raise _Reject(SW.FILE_NOT_FOUND)
        self._selected = True
        return b""

    def _get_status(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None
        return bytes((self._image.state,)) + self._image.serial

    def _get_challenge(self, apdu: CommandAPDU) -> bytes:
        self._challenge = os.urandom(CHALLENGE_LENGTH)
        return self._challenge

    def _external_authenticate(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None
        challenge, self._challenge = self._challenge, None
        self._authenticated = challenge is not None and verify_cryptogram(
            self._image.card_key, challenge, apdu.data
        )
        if not self._authenticated:
            raise _Reject(SW.SECURITY_STATUS_NOT_SATISFIED)
        return b""

    def _issue(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None
        self._save(replace(self._image, state=CardState.ISSUED, issue_block=apdu.data, record=None))
        return b""

    def _write_ballot(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None
        self._save(replace(self._image, state=CardState.VOTED, record=apdu.data))
        return b""

    def _clear(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None
        self._save(replace(self._image, state=CardState.BLANK, issue_block=None, record=None))
        return b""

    def _read_binary(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None and apdu.le is not None
        offset = ((apdu.p1 & 0x7F) << 8) | apdu.p2
        data = self._image.data_file()
        if offset > len(data):
            raise _Reject(SW.OFFSET_OUT_OF_RANGE)
        return data[offset : offset + apdu.le]


def _status_le(le: int | None) -> bool:
    return le is None or le >= STATUS_LENGTH


_COMMANDS: dict[tuple[int, int], _Command] = {
    (CLA_ISO, Ins.SELECT): _Command(
        "SELECT",
        VirtualBallotCard._select,
        lc=(1, 255),
        p1p2_check=lambda p1, p2: p1 == 0x04 and p2 == 0x00,
    ),
    (CLA_PROPRIETARY, Ins.GET_STATUS): _Command(
        "GET STATUS", VirtualBallotCard._get_status, le_check=_status_le
    ),
    (CLA_ISO, Ins.GET_CHALLENGE): _Command(
        "GET CHALLENGE",
        VirtualBallotCard._get_challenge,
        le_check=lambda le: le == CHALLENGE_LENGTH,
    ),
    (CLA_ISO, Ins.EXTERNAL_AUTHENTICATE): _Command(
        "EXTERNAL AUTHENTICATE",
        VirtualBallotCard._external_authenticate,
        lc=(CRYPTOGRAM_LENGTH, CRYPTOGRAM_LENGTH),
    ),
    (CLA_PROPRIETARY, Ins.ISSUE): _Command(
        "ISSUE",
        VirtualBallotCard._issue,
        lc=(1, MAX_ISSUE_BLOCK),
        needs_auth=True,
        states=frozenset({CardState.BLANK}),
    ),
    (CLA_PROPRIETARY, Ins.WRITE_BALLOT): _Command(
        "WRITE BALLOT",
        VirtualBallotCard._write_ballot,
        lc=(1, MAX_RECORD),
        states=frozenset({CardState.ISSUED}),
    ),
    (CLA_PROPRIETARY, Ins.CLEAR): _Command(
        "CLEAR",
        VirtualBallotCard._clear,
        needs_auth=True,
        states=frozenset({CardState.ISSUED, CardState.VOTED}),
    ),
    (CLA_ISO, Ins.READ_BINARY): _Command(
        "READ BINARY",
        VirtualBallotCard._read_binary,
        le_check=lambda le: le is not None,
        p1p2_check=lambda p1, p2: not p1 & 0x80,
    ),
}
