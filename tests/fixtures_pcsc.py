"""Fixtures that put virtual ballot cards on a real pcscd with the vpcd driver.

Several pytest sessions (engineers, CI jobs) may share one machine and so one
pcscd (its socket /run/pcscd/pcscd.comm is fixed) and the two vpcd ports. So:

- `pcscd` (session): the plugin's `sailau_pcscd` (simulator/pytest_plugin.py):
  reuses a pcscd that already shows the vpcd readers, or starts `pcscd -f` and
  stops it at the end unless another session still uses it. Every session holds
  a shared flock on /tmp/sailau-pcscd.lock; the starter stops pcscd only if it
  can take that lock exclusively.
- `vpcd_slot` (per test): an exclusive flock per vpcd port, so two sessions never
  insert two cards into one reader slot.
- `card_bridge` (per test): a fresh VirtualBallotCard behind a VpcdBridge in a
  thread, waited for through PC/SC and identified by its serial (the plugin's
  `served`, which other people's tests use through `sailau_pcsc_card`).

Nothing here skips: if pcscd cannot run, the tests fail and say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.pcsc_lease import LeaseTimeout, SlotBusyError, reader_slot
from sailau.simulator.pytest_plugin import served
from sailau.simulator.vpcd import Pcscd, VpcdBridge


@pytest.fixture(scope="session")
def pcscd(sailau_pcscd: Pcscd) -> Pcscd:
    """The lease logic (shared flock, start/stop) lives in sailau.simulator.pcsc_lease,
    shared with `sailau bench`, the simulator and the pytest plugin."""
    return sailau_pcscd


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


@pytest.fixture
def virtual_card() -> VirtualBallotCard:
    return VirtualBallotCard()


@pytest.fixture
def card_bridge(vpcd_slot: VpcdSlot, virtual_card: VirtualBallotCard) -> Iterator[VpcdBridge]:
    """`virtual_card` inserted into vpcd_slot through a VpcdBridge thread."""
    with served(virtual_card, vpcd_slot.port) as bridge:
        yield bridge
