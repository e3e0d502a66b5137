"""The virtual ballot card: the card side of smartcard/README.md (protocol v2),
executing raw APDUs the way the applet on a real card would.

Persistent data (state, serial, counter, card key, issue block, record) lives
in a journaled `CardStore`; only the selection (and the test tearing hook's
pending cut) is volatile and vanishes at power off. The vpcd bridge and
`InProcessTransport` drive it through power_on / execute / power_off only.

Every state change (ISSUE, WRITE BALLOT, CLEAR) moves the counter on by one in
the same atomic update, and a privileged command's proof is checked against the
counter before the change: so a proof is good for one command only.

Deliberately broken cards for the conformance kit are subclasses in
`simulator/defects.py`; the hooks they override are the `_`-methods marked
"(a defect overrides this)"."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from sailau.simulator.eeprom import CardImage, CardStore, FileStore, MemoryStore, TornWrite
from sailau.smartcard.apdu import (
    AID,
    CLA_ISO,
    CLA_PROPRIETARY,
    COUNTER_LENGTH,
    DIGEST_LENGTH,
    MAX_COUNTER,
    MAX_ISSUE_BLOCK,
    MAX_RECORD,
    PROOF_LENGTH,
    SELECT_P1_BY_NAME,
    SELECT_P2_NO_DATA,
    SELECT_P2_STATUS,
    SERIAL_LENGTH,
    STATUS_LENGTH,
    SW,
    CardState,
    CommandAPDU,
    Ins,
    InvalidAPDUError,
    write_digest,
)
from sailau.smartcard.card_keys import diversify, verify_proof

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


def _le_for(length: int) -> Callable[[CommandAPDU], bool]:
    """Le rule of a command that answers `length` bytes: absent (no data wanted),
    00 (up to 256) or at least `length`; 1..length-1 -> 6700."""
    return lambda apdu: apdu.le is None or apdu.le >= length


@dataclass(frozen=True)
class _Command:
    """How one instruction is checked: P1/P2, Lc (allowed data lengths, None =
    no data field allowed), Le, whether a proof is needed, allowed states."""

    name: str
    handler: str  # the method's name, so a subclass (a defect) may override it
    lc: tuple[int, int] | None = None
    le_check: Callable[[CommandAPDU], bool] | None = None
    p1p2_check: Callable[[int, int], bool] = lambda p1, p2: p1 == 0 and p2 == 0
    needs_proof: bool = False
    states: frozenset[CardState] = frozenset(CardState)


class VirtualBallotCard:
    """One virtual ballot card. Thread-unsafe by design: a card has one reader."""

    COMMANDS: ClassVar[dict[tuple[int, int], _Command]]
    """The command table (set below the class; a defect may replace entries)."""

    def __init__(
        self,
        serial: bytes | None = None,
        store: CardStore | None = None,
        *,
        master_key: bytes = TEST_MASTER_KEY,
        card_key: bytes | None = None,
        tear_hook: bool = False,
    ) -> None:
        """Use the card in `store` (default: a fresh in-memory store). A store
        without an image is personalised here: a BLANK card with `serial`
        (random if None), counter 0 and `card_key` (default: diversified from
        `master_key`, which is not kept). `tear_hook` answers the test-only
        TEST TEAR command (the conformance kit's way to cut the power); a card
        without it answers 6D00 like a production applet."""
        self.store = store if store is not None else MemoryStore()
        self.tear_hook = tear_hook
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
        cls,
        path: str | os.PathLike[str],
        *,
        master_key: bytes = TEST_MASTER_KEY,
        fsync: bool = True,
        tear_hook: bool = False,
    ) -> VirtualBallotCard:
        """The card whose image is the file `path`, created (a fresh BLANK card
        with a random serial) if missing. The file is the card: another process
        opening it gets the same card."""
        return cls(store=FileStore(Path(path), fsync=fsync), master_key=master_key, tear_hook=tear_hook)

    # -- identity and inspection ------------------------------------------
    @property
    def serial(self) -> bytes:
        return self._persistent().serial

    @property
    def state(self) -> CardState:
        return self._persistent().state

    @property
    def counter(self) -> int:
        return self._persistent().counter

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
        """Run one command APDU; returns response data ‖ SW1 SW2.

        A cut armed by TEST TEAR applies to this command only (then disarms)."""
        if not self._powered:
            raise CardPowerLost("the card is not powered")
        armed, self._tear_next = self._tear_next, None
        if armed is not None:
            self.store.tear_after_bytes = armed
        try:
            data, sw = self._dispatch(bytes(apdu))
        except TornWrite as exc:
            self.power_off()
            raise CardPowerLost(str(exc)) from exc
        finally:
            if armed is not None:
                self.store.tear_after_bytes = None
        return data + sw.to_bytes(2, "big")

    # -- command processing -----------------------------------------------
    def _reset_volatile(self) -> None:
        self._selected = False
        self._tear_next: int | None = None

    def _dispatch(self, raw: bytes) -> tuple[bytes, int]:
        try:
            return self._process(raw), SW.OK
        except _Reject as reject:
            return b"", reject.sw

    def _process(self, raw: bytes) -> bytes:
        """Checks, in the contract's order: length of the header, CLA, INS,
        selection, P1/P2, Lc/Le, proof, state."""
        if len(raw) < 4:
            raise _Reject(SW.WRONG_LENGTH)
        cla, ins, p1, p2 = raw[:4]
        if cla not in (CLA_ISO, CLA_PROPRIETARY):
            raise _Reject(SW.CLA_NOT_SUPPORTED)
        command = self.COMMANDS.get((cla, ins))
        if command is None or (ins == Ins.TEST_TEAR and not self.tear_hook):
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
        if command.le_check is not None and not command.le_check(apdu):
            raise _Reject(SW.WRONG_LENGTH)
        assert self._image is not None
        if command.needs_proof:
            signed, proof = apdu.data[:-PROOF_LENGTH], apdu.data[-PROOF_LENGTH:]
            if not self._check_proof(ins, signed, proof):
                raise _Reject(SW.SECURITY_STATUS_NOT_SATISFIED)
        if self._image.state not in command.states:
            raise _Reject(SW.CONDITIONS_NOT_SATISFIED)
        handler: Callable[[CommandAPDU], bytes] = getattr(self, command.handler)
        return handler(apdu)

    def _check_proof(self, ins: int, data: bytes, proof: bytes) -> bool:
        """The proof of the card key over this command and the current counter
        (a defect overrides this)."""
        assert self._image is not None
        return verify_proof(self._image.card_key, ins, self._image.counter, data, proof)

    def _next_counter(self, counter: int) -> int:
        """The counter after one state change (a defect overrides this)."""
        return counter + 1

    def _change(self, **fields: object) -> CardImage:
        """Make one state change atomically, the counter moved on with it."""
        assert self._image is not None
        if self._image.counter >= MAX_COUNTER:
            raise _Reject(SW.CONDITIONS_NOT_SATISFIED)  # worn out: no more state changes
        image = replace(self._image, counter=self._next_counter(self._image.counter), **fields)  # type: ignore[arg-type]
        self.store.save(image)
        self._image = image
        return image

    def _select(self, apdu: CommandAPDU) -> bytes:
        """(a defect overrides this)"""
        self._reset_volatile()
        if apdu.data != AID:
            raise _Reject(SW.FILE_NOT_FOUND)
        self._selected = True
        if apdu.p2 == SELECT_P2_NO_DATA or apdu.le is None:
            return b""
        image = self._image
        assert image is not None
        return bytes((image.state,)) + image.serial + image.counter.to_bytes(COUNTER_LENGTH, "big")

    def _issue(self, apdu: CommandAPDU) -> bytes:
        self._change(state=CardState.ISSUED, issue_block=apdu.data[:-PROOF_LENGTH], record=None)
        return b""

    def _write_ballot(self, apdu: CommandAPDU) -> bytes:
        image = self._change(state=CardState.VOTED, record=apdu.data)
        return b"" if apdu.le is None else self._digest(image)

    def _digest(self, image: CardImage) -> bytes:
        """WRITE BALLOT's answer: the digest of the data file now stored (a defect overrides this)."""
        return write_digest(image.issue_block, image.record)

    def _clear(self, apdu: CommandAPDU) -> bytes:
        self._change(state=CardState.BLANK, issue_block=None, record=None)
        return b""

    def _read_binary(self, apdu: CommandAPDU) -> bytes:
        assert self._image is not None and apdu.le is not None
        offset = ((apdu.p1 & 0x7F) << 8) | apdu.p2
        data = self._image.data_file()
        if offset > len(data):
            raise _Reject(SW.OFFSET_OUT_OF_RANGE)
        return data[offset : offset + apdu.le]

    def _test_tear(self, apdu: CommandAPDU) -> bytes:
        """Arm a power cut after N persistent bytes of the next command (test builds only)."""
        self._tear_next = int.from_bytes(apdu.data, "big")
        return b""


VirtualBallotCard.COMMANDS = {
    (CLA_ISO, Ins.SELECT): _Command(
        "SELECT",
        "_select",
        lc=(1, 255),
        le_check=lambda apdu: apdu.p2 == SELECT_P2_NO_DATA or _le_for(STATUS_LENGTH)(apdu),
        p1p2_check=lambda p1, p2: p1 == SELECT_P1_BY_NAME and p2 in (SELECT_P2_STATUS, SELECT_P2_NO_DATA),
    ),
    (CLA_PROPRIETARY, Ins.ISSUE): _Command(
        "ISSUE",
        "_issue",
        lc=(1 + PROOF_LENGTH, MAX_ISSUE_BLOCK + PROOF_LENGTH),
        needs_proof=True,
        states=frozenset({CardState.BLANK}),
    ),
    (CLA_PROPRIETARY, Ins.WRITE_BALLOT): _Command(
        "WRITE BALLOT",
        "_write_ballot",
        lc=(1, MAX_RECORD),
        le_check=_le_for(DIGEST_LENGTH),
        states=frozenset({CardState.ISSUED}),
    ),
    (CLA_PROPRIETARY, Ins.CLEAR): _Command(
        "CLEAR",
        "_clear",
        lc=(PROOF_LENGTH, PROOF_LENGTH),
        needs_proof=True,
        states=frozenset({CardState.ISSUED, CardState.VOTED}),
    ),
    (CLA_ISO, Ins.READ_BINARY): _Command(
        "READ BINARY",
        "_read_binary",
        le_check=lambda apdu: apdu.le is not None,
        p1p2_check=lambda p1, p2: not p1 & 0x80,
    ),
    (CLA_PROPRIETARY, Ins.TEST_TEAR): _Command(
        "TEST TEAR",
        "_test_tear",
        lc=(2, 2),
    ),
}
