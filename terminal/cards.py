"""Where the kiosk's cards come from: one reader slot with insert/remove events,
a `BallotCardClient` over it, and whether the slot can be used at all. PC/SC for
the booth, in-process for tests and the simulation. No UI here.

A source never fails to start: with the card service down or the reader
unplugged it starts anyway and `status()` names the problem, so the kiosk shows
it (and a poll worker can fix it) instead of exiting behind a splash screen.
The app asks for `status()` about once a second; a source that was down starts
watching its reader by itself once the service and reader are back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.errors import CardError
from sailau.smartcard.events import CardEventCallback, InProcessSlot, ReaderWatcher
from sailau.smartcard.transport import InProcessCard, InProcessTransport
from sailau.terminal.session import ReaderProblem


@dataclass(frozen=True)
class ReaderStatus:
    """Whether the booth's reader can take cards; if not, which problem and what the
    card service said (technical words for a poll worker, never vote content)."""

    problem: ReaderProblem | None = None
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.problem is None


READY = ReaderStatus()


class CardSource(Protocol):
    client: BallotCardClient

    def start(self, callback: CardEventCallback) -> None: ...

    def stop(self) -> None: ...

    def poll(self) -> None:
        """Report a card that left without an event (a torn in-process write)."""

    def status(self) -> ReaderStatus:
        """Whether the reader can take cards now (may block briefly: call it off the UI loop)."""


class PcscCardSource:
    """A PC/SC reader: events from a `ReaderWatcher`, APDUs through pcscd.

    `reader` is a full reader name or a unique prefix, resolved whenever the
    watcher starts (readers come and go with pcscd)."""

    def __init__(self, reader: str) -> None:
        from sailau.smartcard.pcsc import PcscTransport

        self.reader = reader
        self.client = BallotCardClient(PcscTransport(reader))
        self._callback: CardEventCallback | None = None
        self._watcher: ReaderWatcher | None = None
        self._last = READY

    def start(self, callback: CardEventCallback) -> None:
        self._callback = callback
        self.status()

    def stop(self) -> None:
        self._callback = None
        self._stop_watching()
        self.client.transport.disconnect()

    def poll(self) -> None:
        pass  # pcscd reports removals itself

    def status(self) -> ReaderStatus:
        """Ask pcscd whether it runs and knows the reader; (re)start watching when it
        does. A watcher ends by itself when pcscd or the reader goes away, so after
        any problem the next ready status starts a new one."""
        from sailau.smartcard.pcsc import establish_context, reader_names, resolve_reader
        from smartcard import scard  # pyscard

        try:
            context = establish_context()
        except CardError as exc:
            return self._became(ReaderStatus(ReaderProblem.NO_SERVICE, str(exc)))
        try:
            resolve_reader(self.reader, reader_names(context))
        except CardError as exc:
            return self._became(ReaderStatus(ReaderProblem.NO_READER, str(exc)))
        finally:
            scard.SCardReleaseContext(context)
        return self._became(READY)

    def _became(self, status: ReaderStatus) -> ReaderStatus:
        if not status.ready:
            self._stop_watching()
        elif self._watcher is None and self._callback is not None:
            watcher = ReaderWatcher(self.reader, self._callback)
            try:
                watcher.start()
            except CardError as exc:  # gone again between the probe and the start
                return self._became(ReaderStatus(ReaderProblem.NO_READER, str(exc)))
            self._watcher = watcher
        self._last = status
        return status

    def _stop_watching(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()


class InProcessCardSource:
    """An in-process slot: `insert(card)` / `remove()` raise the same events;
    `fail(problem)` / `fail(None)` play the card service going away and back."""

    def __init__(self) -> None:
        self.transport = InProcessTransport()
        self.client = BallotCardClient(self.transport)
        self._slot: InProcessSlot | None = None
        self._status = READY

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

    def fail(self, problem: ReaderProblem | None, detail: str = "") -> None:
        """The reader's service stops (`problem`) or comes back (None)."""
        self._status = ReaderStatus(problem, detail) if problem is not None else READY

    def status(self) -> ReaderStatus:
        return self._status
