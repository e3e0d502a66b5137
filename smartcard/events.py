"""Card insert/remove events for one reader slot.

A station reacts to cards, it does not poll them: the clerk app wants "a card
arrived in the ballot-box reader" as an event. Two sources share one callback
shape, `callback(event)` with `event` a CardInserted or CardRemoved:

- `ReaderWatcher` watches a PC/SC reader through pyscard's CardMonitor. The
  callback runs on pyscard's monitoring thread (the first snapshot, a card
  already in the reader when `start()` is called, runs on the caller's thread).
  A Textual app hands events to its own loop:
  `ReaderWatcher(name, lambda e: app.call_from_thread(app.post_message, Wrap(e)))`.
- `InProcessSlot` wraps an `InProcessTransport`: its `insert()`/`remove()` put
  the card in or pull it and report the same events synchronously.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sailau.smartcard.transport import InProcessCard, InProcessTransport


@dataclass(frozen=True)
class CardInserted:
    reader: str
    atr: bytes


@dataclass(frozen=True)
class CardRemoved:
    reader: str


CardEvent = CardInserted | CardRemoved
CardEventCallback = Callable[[CardEvent], None]


class ReaderWatcher:
    """Report cards inserted into / removed from one PC/SC reader.

    `reader_name` must be the exact reader name (see
    `sailau.smartcard.pcsc.resolve_reader`). pyscard's CardMonitor is a
    process-wide singleton whose thread lives as long as the process; start()
    and stop() only (un)subscribe, so they are cheap and stop() is immediate."""

    def __init__(self, reader_name: str, callback: CardEventCallback) -> None:
        self.reader_name = reader_name
        self.callback = callback
        self._monitor: Any = None
        self._observer: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> ReaderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Subscribe. Raises pyscard's exception if pcscd is not running."""
        from smartcard.CardMonitoring import CardMonitor, CardObserver  # pyscard

        watcher = self

        class _Observer(CardObserver):
            def update(self, observable: object, handlers: Any) -> None:
                added, removed = handlers
                watcher._deliver(added, removed)

        with self._lock:
            if self._observer is not None:
                return
            self._monitor = CardMonitor()
            self._observer = _Observer()
        self._monitor.addObserver(self._observer)

    def stop(self) -> None:
        """Unsubscribe; no callback starts after this returns."""
        with self._lock:
            observer, monitor = self._observer, self._monitor
            self._observer = self._monitor = None
        if observer is not None:
            monitor.deleteObserver(observer)

    def _deliver(self, added: list[Any], removed: list[Any]) -> None:
        with self._lock:
            if self._observer is None:
                return
        # Removals first: a card swapped between two polls reads as out, then in.
        for card in removed:
            if card.reader == self.reader_name:
                self.callback(CardRemoved(card.reader))
        for card in added:
            if card.reader == self.reader_name:
                self.callback(CardInserted(card.reader, bytes(card.atr)))


class InProcessSlot:
    """An `InProcessTransport` that reports insert/remove like a ReaderWatcher.

    A card that tears (loses power mid-command) leaves the transport on its own;
    `poll()` reports that as CardRemoved (call it after a CardRemovedError)."""

    def __init__(
        self,
        transport: InProcessTransport,
        callback: CardEventCallback,
        reader_name: str = "in-process",
    ) -> None:
        self.transport = transport
        self.callback = callback
        self.reader_name = reader_name
        self._had_card = transport.card is not None

    def insert(self, card: InProcessCard) -> None:
        """Put `card` in the slot and report it (with the card's `atr()` if it
        has one: an in-process card is not powered until connect())."""
        self.transport.insert(card)
        self._had_card = True
        atr_of = getattr(card, "atr", None)
        self.callback(CardInserted(self.reader_name, bytes(atr_of()) if atr_of else b""))

    def remove(self) -> InProcessCard | None:
        """Pull the card (if any) and report it."""
        card = self.transport.remove()
        if card is not None or self._had_card:
            self._had_card = False
            self.callback(CardRemoved(self.reader_name))
        return card

    def poll(self) -> None:
        """Report a card that left the transport by itself (a torn write)."""
        if self._had_card and self.transport.card is None:
            self._had_card = False
            self.callback(CardRemoved(self.reader_name))
