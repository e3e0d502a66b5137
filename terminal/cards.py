"""Where the kiosk's cards come from: one reader slot with insert/remove events
and a `BallotCardClient` over it. PC/SC for the booth, in-process for tests and
the simulation. No UI here."""

from __future__ import annotations

from typing import Protocol

from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.events import CardEventCallback, InProcessSlot, ReaderWatcher
from sailau.smartcard.transport import InProcessCard, InProcessTransport


class CardSource(Protocol):
    client: BallotCardClient

    def start(self, callback: CardEventCallback) -> None: ...

    def stop(self) -> None: ...

    def poll(self) -> None:
        """Report a card that left without an event (a torn in-process write)."""


class PcscCardSource:
    """A PC/SC reader: events from pyscard's monitor, APDUs through pcscd."""

    def __init__(self, reader: str) -> None:
        from sailau.smartcard.pcsc import PcscTransport, list_readers, resolve_reader

        self.reader = resolve_reader(reader, list_readers())
        self.client = BallotCardClient(PcscTransport(self.reader))
        self._watcher: ReaderWatcher | None = None

    def start(self, callback: CardEventCallback) -> None:
        self._watcher = ReaderWatcher(self.reader, callback)
        self._watcher.start()

    def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
        self.client.transport.disconnect()

    def poll(self) -> None:
        pass  # pcscd reports removals itself


class InProcessCardSource:
    """An in-process slot: `insert(card)` / `remove()` raise the same events."""

    def __init__(self) -> None:
        self.transport = InProcessTransport()
        self.client = BallotCardClient(self.transport)
        self._slot: InProcessSlot | None = None

    def start(self, callback: CardEventCallback) -> None:
        self._slot = InProcessSlot(self.transport, callback)

    def stop(self) -> None:
        self._slot = None

    def insert(self, card: InProcessCard) -> None:
        assert self._slot is not None, "start() first"
        self._slot.insert(card)

    def remove(self) -> InProcessCard | None:
        assert self._slot is not None, "start() first"
        return self._slot.remove()

    def poll(self) -> None:
        if self._slot is not None:
            self._slot.poll()
