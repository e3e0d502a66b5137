"""Card insert/remove events for one reader slot.

A station reacts to cards, it does not poll them: the clerk app wants "a card
arrived in the ballot-box reader" as an event. Two sources share one callback
shape, `callback(event)` with `event` a CardInserted or CardRemoved:

- `ReaderWatcher` watches one PC/SC reader (SCardGetStatusChange in a thread of
  its own). The callback runs on that thread, so a Textual app hands events to
  its own loop. Textual's `post_message` is thread-safe and does not block:
  `ReaderWatcher(name, lambda e: app.post_message(CardEventMessage(e)))`, with
  `CardEventMessage` defined here once for both apps (the clerk's and the booth's;
  each may import smartcard, neither the other).
  (`app.call_from_thread(app.post_message, ...)` works too, but blocks the
  watcher thread until the app runs it: then never call `stop()` from the app's
  loop while a callback may be pending, or the two wait for each other.)
- `InProcessSlot` wraps an `InProcessTransport`: its `insert()`/`remove()` put
  the card in or pull it and report the same events synchronously.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from smartcard import scard  # pyscard
from textual.message import Message

from sailau.smartcard.pcsc import establish_context, reader_names, resolve_reader
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


class CardEventMessage(Message):
    """A card went in or out of the reader, posted to a Textual app's loop from any thread."""

    def __init__(self, event: CardEvent) -> None:
        super().__init__()
        self.event = event


class ReaderWatcher:
    """Report cards inserted into / removed from one PC/SC reader.

    A thread blocks in SCardGetStatusChange on just this reader and calls
    `callback` on every change (so it wakes on pcscd's notification, polls
    nothing, and stop() cancels the wait with SCardCancel). A card
    already in the reader is reported as CardInserted first. A card swapped
    between two of pcscd's polls is seen through the reader's event counter and
    reported as CardRemoved then CardInserted. If pcscd or the reader goes away
    the watcher reports CardRemoved (if a card was in) and ends.

    We do not use pyscard's CardMonitor: it is a process-wide singleton whose
    thread never ends, waits up to 60 s per call, watches every reader, and
    prints tracebacks to stderr when pcscd stops."""

    WAIT_MS = 1000
    """Longest single wait: bounds stop() if its SCardCancel is lost in a race."""

    def __init__(self, reader_name: str, callback: CardEventCallback) -> None:
        self.reader_name = reader_name
        self.callback = callback
        self.reader: str | None = None  # resolved name, once started
        self._context: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def __enter__(self) -> ReaderWatcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start watching. Raises ReaderNotFoundError if pcscd or the reader is missing."""
        if self._thread is not None:
            return
        context = establish_context()
        try:
            self.reader = resolve_reader(self.reader_name, reader_names(context))
        except BaseException:
            scard.SCardReleaseContext(context)
            raise
        self._context = context
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(context, self.reader), name=f"card-watch {self.reader}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; no callback runs after this returns (unless called
        from the callback itself)."""
        thread, context = self._thread, self._context
        if thread is None or context is None:
            return
        self._stopping.set()
        # SCardCancel wakes a pending wait, but one that lands just before the
        # thread re-enters SCardGetStatusChange is lost (pcsc-lite cancels only
        # a pending call): so cancel again until the thread is gone (each wait
        # is also bounded by WAIT_MS). The thread releases the context itself:
        # releasing it here while the thread is inside a call deadlocks.
        if thread is not threading.current_thread():
            deadline = time.monotonic() + timeout
            while thread.is_alive():
                scard.SCardCancel(context)
                thread.join(0.02)
                if time.monotonic() > deadline and thread.is_alive():
                    raise RuntimeError(f"card watcher for {self.reader!r} did not stop")
        self._thread = None
        self._context = None

    def _run(self, context: int, reader: str) -> None:
        try:
            self._watch(context, reader)
        finally:
            scard.SCardReleaseContext(context)

    def _watch(self, context: int, reader: str) -> None:
        known = scard.SCARD_STATE_UNAWARE
        present = False
        while not self._stopping.is_set():
            hresult, states = scard.SCardGetStatusChange(context, self.WAIT_MS, [(reader, known)])
            if self._stopping.is_set() or hresult == scard.SCARD_E_CANCELLED:
                return
            if hresult == scard.SCARD_E_TIMEOUT:
                continue
            if hresult != scard.SCARD_S_SUCCESS:  # pcscd stopped, reader unplugged
                if present:
                    self.callback(CardRemoved(reader))
                return
            _name, state, atr = states[0]
            now = bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
            events_between = ((state >> 16) - (known >> 16)) & 0xFFFF
            if present and (not now or events_between >= 2):
                self.callback(CardRemoved(reader))
                present = False
            if now and not present:
                self.callback(CardInserted(reader, bytes(atr)))
                present = True
            known = state & ~scard.SCARD_STATE_CHANGED


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
