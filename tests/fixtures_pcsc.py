"""Fixtures that put virtual ballot cards on a real pcscd with the vpcd driver.

Several pytest sessions (engineers, CI jobs) may share one machine and so one
pcscd (its socket /run/pcscd/pcscd.comm is fixed) and the two vpcd ports. So:

- `pcscd` (session): reuses a pcscd that already shows the vpcd readers, or
  starts `pcscd -f` and stops it at the end unless another session still uses
  it. Every session holds a shared flock on /tmp/sailau-pcscd.lock; the starter
  stops pcscd only if it can take that lock exclusively.
- `vpcd_slot` (per test): an exclusive flock per vpcd port, so two sessions never
  insert two cards into one reader slot.
- `card_bridge` (per test): a fresh VirtualBallotCard behind a VpcdBridge in a
  thread, waited for through PC/SC and identified by its serial.

Nothing here skips: if pcscd cannot run, the tests fail and say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.pcsc_lease import CARD_WAIT, LeaseTimeout, SlotBusyError, pcscd_lease, reader_slot
from sailau.simulator.vpcd import Pcscd, PcscdError, VpcdBridge
from sailau.smartcard.apdu import AID
from sailau.smartcard.pcsc import PcscTransport, wait_for_card


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    """The lease logic (shared flock, start/stop) lives in sailau.simulator.pcsc_lease,
    shared with `sailau bench` and the simulator."""
    try:
        with pcscd_lease() as service:
            yield service
    except (PcscdError, LeaseTimeout) as exc:
        pytest.fail(f"cannot run pcscd with vpcd: {exc}")


@dataclass(frozen=True)
class VpcdSlot:
    port: int
    reader: str


def _slot(port: int) -> Iterator[VpcdSlot]:
    try:
        with reader_slot(port) as slot:
            yield VpcdSlot(slot.port, slot.reader)
    except (LeaseTimeout, SlotBusyError) as exc:
        pytest.fail(str(exc))


@pytest.fixture
def vpcd_slot(pcscd: Pcscd) -> Iterator[VpcdSlot]:
    """Reader slot 'Virtual PCD 00 00' (port 35963), empty and ours for one test."""
    yield from _slot(35963)


@pytest.fixture
def vpcd_slot_2(pcscd: Pcscd) -> Iterator[VpcdSlot]:
    """Reader slot 'Virtual PCD 00 01' (port 35964), empty and ours for one test."""
    yield from _slot(35964)


def card_serial_via_pcsc(reader: str) -> bytes:
    """The serial of the card in `reader`, read through PC/SC (SELECT answers it)."""
    with PcscTransport(reader) as transport:
        status = transport.transmit(bytes((0x00, 0xA4, 0x04, 0x00, len(AID))) + AID + b"\x00")
        assert status[-2:] == b"\x90\x00", f"SELECT answered {status.hex()}"
        return status[1:9]


@pytest.fixture
def virtual_card() -> VirtualBallotCard:
    return VirtualBallotCard()


@pytest.fixture
def card_bridge(vpcd_slot: VpcdSlot, virtual_card: VirtualBallotCard) -> Iterator[VpcdBridge]:
    """`virtual_card` inserted into vpcd_slot through a VpcdBridge thread."""
    bridge = VpcdBridge(virtual_card, port=vpcd_slot.port).start()
    try:
        wait_for_card(vpcd_slot.reader, present=True, timeout=CARD_WAIT)
        serial = card_serial_via_pcsc(vpcd_slot.reader)
        assert serial == virtual_card.serial, (
            f"{vpcd_slot.reader!r} serves card {serial.hex()}, not ours: "
            f"is another `sailau card serve --port {vpcd_slot.port}` running?"
        )
        yield bridge
    finally:
        bridge.stop()
        wait_for_card(vpcd_slot.reader, present=False, timeout=CARD_WAIT)
