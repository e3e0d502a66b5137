"""The two reader slots of a polling station as the simulation uses them: the
ballot box's and the booth terminal's. A card is carried by removing it from one
slot and inserting it into the other.

- `InProcessSlot`: an `InProcessTransport` (no pcscd, fast).
- `PcscSlot`: the real stack. Each insertion serves the card on one vpcd port
  with a fresh `VpcdBridge` and waits until pcscd reports it present (pcscd
  polls vpcd about every 400 ms, so an insertion costs up to that); the host
  talks to it through `PcscTransport` and pcscd. Removal stops the bridge
  (the card loses power) and the next insertion into the same slot first waits
  until pcscd has seen the slot empty.
"""

from __future__ import annotations

from typing import Protocol

from sailau.simulator.faults import FaultyCard
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport

CARD_WAIT = 10.0  # seconds; pcscd notices a vpcd card within ~400 ms


class ReaderSlot(Protocol):
    name: str
    client: BallotCardClient

    def insert(self, card: FaultyCard, *, connect: bool = True) -> None:
        """Put `card` in (taking out whatever is in; a card already in stays); connect the
        client unless told not to."""

    def remove(self) -> None:
        """Take the card out (safe when it already left, e.g. after a torn write)."""

    def close(self) -> None: ...


class InProcessSlot:
    def __init__(self, name: str) -> None:
        self.name = name
        self.transport = InProcessTransport()
        self.client = BallotCardClient(self.transport)

    def insert(self, card: FaultyCard, *, connect: bool = True) -> None:
        if self.transport.card is card:  # still in the reader: nothing to carry
            if connect:
                self.client.connect()
            return
        self.remove()
        self.transport.insert(card)
        if connect:
            self.client.connect()

    def remove(self) -> None:
        self.transport.remove()

    def close(self) -> None:
        self.remove()


class PcscSlot:
    """One vpcd reader port (35963 = "Virtual PCD 00 00", 35964 = "Virtual PCD 00 01")."""

    def __init__(self, name: str, port: int) -> None:
        from sailau.simulator.vpcd import READER_BY_PORT
        from sailau.smartcard.pcsc import PcscTransport

        self.name = name
        self.port = port
        self.reader = READER_BY_PORT[port]
        self.transport = PcscTransport(self.reader)
        self.client = BallotCardClient(self.transport)
        self._bridge = None
        self._maybe_present = True  # unknown until pcscd says the slot is empty

    def insert(self, card: FaultyCard, *, connect: bool = True) -> None:
        from sailau.simulator.vpcd import VpcdBridge
        from sailau.smartcard.pcsc import wait_for_card

        bridge = self._bridge
        if bridge is not None and bridge.card is card and bridge.wants_inserted and bridge.connected:
            if connect:  # still in the reader: nothing to carry
                self.client.connect()
            return
        self.remove()
        if self._maybe_present:
            wait_for_card(self.reader, present=False, timeout=CARD_WAIT)
        self._bridge = VpcdBridge(card, port=self.port).start()
        self._maybe_present = True
        wait_for_card(self.reader, present=True, timeout=CARD_WAIT)
        if connect:
            self.client.connect()

    def remove(self) -> None:
        self.transport.disconnect()
        bridge, self._bridge = self._bridge, None
        if bridge is not None:
            bridge.stop()

    def close(self) -> None:
        from sailau.smartcard.pcsc import wait_for_card

        self.remove()
        if self._maybe_present:
            wait_for_card(self.reader, present=False, timeout=CARD_WAIT)
            self._maybe_present = False
