"""The PC/SC transport: real readers through pcscd, via pyscard's `smartcard.scard`
(the thin SCard* API, so every failure keeps its PC/SC return code and maps to
our error classes without guessing from message text).

A card pulled mid-APDU shows up as SCARD_W_REMOVED_CARD, or, when the reader
driver only notices while waiting for the answer (vpcd does), as
SCARD_E_NOT_TRANSACTED / SCARD_F_COMM_ERROR, or (Debian's vpcd, when the card
closes its connection while pcscd waits for the answer) as a "successful"
transmit that returned no bytes at all. For the caller all of these mean
the same thing: the command's effect on the card is unknown until the card is
read again, so they all raise CardRemovedError.
"""

from __future__ import annotations

import time

from smartcard import scard  # pyscard (our package is sailau.smartcard)

from sailau.smartcard.errors import (
    CardRemovedError,
    NoCardError,
    ReaderNotFoundError,
    TransportError,
)

_NO_SERVICE = {scard.SCARD_E_NO_SERVICE, scard.SCARD_E_SERVICE_STOPPED}
_NO_READER = {scard.SCARD_E_UNKNOWN_READER, scard.SCARD_E_READER_UNAVAILABLE}
_NO_CARD = {
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
}
_GONE_DURING_IO = {
    scard.SCARD_W_REMOVED_CARD,
    scard.SCARD_W_RESET_CARD,
    scard.SCARD_W_UNPOWERED_CARD,
    scard.SCARD_W_UNRESPONSIVE_CARD,
    scard.SCARD_E_NO_SMARTCARD,
    scard.SCARD_E_NOT_TRANSACTED,
    scard.SCARD_F_COMM_ERROR,
}


def _message(hresult: int) -> str:
    return f"{scard.SCardGetErrorMessage(hresult).strip()} (0x{hresult & 0xFFFFFFFF:08X})"


def establish_context() -> int:
    """A PC/SC context (release it with scard.SCardReleaseContext)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult in _NO_SERVICE:
        raise ReaderNotFoundError(f"pcscd is not running: {_message(hresult)}")
    if hresult != scard.SCARD_S_SUCCESS:
        raise TransportError(f"cannot reach pcscd: {_message(hresult)}")
    return context


def reader_names(context: int) -> list[str]:
    """The readers pcscd knows, through an open context."""
    hresult, readers = scard.SCardListReaders(context, [])
    if hresult in (scard.SCARD_E_NO_READERS_AVAILABLE,):
        return []
    if hresult != scard.SCARD_S_SUCCESS:
        raise TransportError(f"cannot list readers: {_message(hresult)}")
    return list(readers)


def list_readers() -> list[str]:
    """Names of the readers pcscd knows now (raises ReaderNotFoundError when
    pcscd is not running)."""
    context = establish_context()
    try:
        return reader_names(context)
    finally:
        scard.SCardReleaseContext(context)


def resolve_reader(name: str, readers: list[str]) -> str:
    """`name` if it is a reader, else the one reader whose name starts with it."""
    if name in readers:
        return name
    matches = [r for r in readers if r.startswith(name)]
    if len(matches) == 1:
        return matches[0]
    present = ", ".join(repr(r) for r in readers) or "none"
    if matches:
        raise ReaderNotFoundError(f"reader name {name!r} is ambiguous: matches {matches}")
    raise ReaderNotFoundError(f"no reader {name!r}; readers present: {present}")


def card_present(reader_name: str) -> bool:
    """Whether a card is in the reader now (as pcscd last saw it)."""
    context = establish_context()
    try:
        reader = resolve_reader(reader_name, reader_names(context))
        return _present(context, reader)
    finally:
        scard.SCardReleaseContext(context)


def _present(context: int, reader: str, timeout_ms: int = 0) -> bool:
    hresult, states = scard.SCardGetStatusChange(
        context, timeout_ms, [(reader, scard.SCARD_STATE_UNAWARE)]
    )
    if hresult != scard.SCARD_S_SUCCESS:
        raise TransportError(f"cannot read the state of {reader!r}: {_message(hresult)}")
    return _is(states[0][1], present=True)


def _is(state: int, present: bool) -> bool:
    """A card answering in the reader, or an empty reader. Both can be false at
    once (a mute card, or UNKNOWN after pcscd failed to reset a vanished card)."""
    if present:
        return bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE
    return bool(state & scard.SCARD_STATE_EMPTY)


def wait_for_card(reader_name: str, present: bool = True, timeout: float = 10.0) -> None:
    """Block until a card is in (present=True) or out of the reader.

    Uses SCardGetStatusChange, so it wakes on pcscd's own notification, not on a
    poll of ours. Raises TimeoutError after `timeout` seconds."""
    context = establish_context()
    try:
        reader = resolve_reader(reader_name, reader_names(context))
        deadline = time.monotonic() + timeout
        hresult, states = scard.SCardGetStatusChange(
            context, 0, [(reader, scard.SCARD_STATE_UNAWARE)]
        )
        while True:
            if hresult not in (scard.SCARD_S_SUCCESS, scard.SCARD_E_TIMEOUT):
                raise TransportError(f"cannot watch {reader!r}: {_message(hresult)}")
            state = states[0][1]
            if _is(state, present):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                what = "inserted" if present else "removed"
                raise TimeoutError(f"no card {what} in {reader!r} within {timeout:g} s")
            known = state & ~scard.SCARD_STATE_CHANGED
            hresult, states = scard.SCardGetStatusChange(
                context, max(1, int(left * 1000)), [(reader, known)]
            )
    finally:
        scard.SCardReleaseContext(context)


class PcscTransport:
    """One PC/SC reader slot, T=1, shared access (the `Transport` protocol).

    `reader_name` is a full reader name or a unique prefix of one, resolved at
    each connect() (readers come and go with pcscd)."""

    def __init__(self, reader_name: str) -> None:
        self.reader_name = reader_name
        self.reader: str | None = None  # the resolved name, once connected
        self._context: int | None = None
        self._card: int | None = None
        self._protocol = scard.SCARD_PROTOCOL_T1

    def __enter__(self) -> PcscTransport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.disconnect()

    def connect(self) -> bytes:
        """Power the card and return its ATR."""
        self.disconnect()
        context = establish_context()
        try:
            reader = resolve_reader(self.reader_name, reader_names(context))
            hresult, card, protocol = scard.SCardConnect(
                context, reader, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T1
            )
            if hresult in _NO_CARD:
                raise NoCardError(f"no card in {reader!r}: {_message(hresult)}")
            if hresult in _NO_READER:
                raise ReaderNotFoundError(f"reader {reader!r} went away: {_message(hresult)}")
            if hresult == scard.SCARD_E_PROTO_MISMATCH:
                raise TransportError(f"the card in {reader!r} does not offer T=1")
            if hresult != scard.SCARD_S_SUCCESS:
                raise TransportError(f"cannot connect to {reader!r}: {_message(hresult)}")
            atr = self._atr(card, reader)
        except BaseException:
            scard.SCardReleaseContext(context)
            raise
        self._context, self._card, self._protocol = context, card, protocol
        self.reader = reader
        return atr

    def _atr(self, card: int, reader: str) -> bytes:
        hresult, _name, _state, _protocol, atr = scard.SCardStatus(card)
        if hresult != scard.SCARD_S_SUCCESS:
            scard.SCardDisconnect(card, scard.SCARD_LEAVE_CARD)
            if hresult in _GONE_DURING_IO:
                raise NoCardError(f"the card left {reader!r} while connecting: {_message(hresult)}")
            raise TransportError(f"cannot read the ATR in {reader!r}: {_message(hresult)}")
        return bytes(atr)

    def transmit(self, apdu: bytes) -> bytes:
        """Send one command APDU; return the response including SW1 SW2."""
        if self._card is None:
            raise TransportError(f"not connected to {self.reader_name!r}: call connect() first")
        hresult, response = scard.SCardTransmit(self._card, self._protocol, list(apdu))
        where = self.reader or self.reader_name
        if hresult == scard.SCARD_S_SUCCESS:
            if len(response) >= 2:
                return bytes(response)
            # No status word: the card never answered. vpcd reports a card
            # that left mid-command exactly so (success, 0 bytes).
            self._lost()
            raise CardRemovedError(
                f"card in {where!r} gave no answer ({len(response)} bytes): removed or lost "
                "power during a command; read it again to learn the outcome"
            )
        if hresult in _GONE_DURING_IO:
            self._lost()
            raise CardRemovedError(
                f"card in {where!r} was removed or lost power during a command "
                f"({_message(hresult)}); read it again to learn the outcome"
            )
        if hresult in _NO_READER or hresult in _NO_SERVICE:
            self._lost()
            raise ReaderNotFoundError(f"reader {where!r} went away: {_message(hresult)}")
        raise TransportError(f"transmit to {where!r} failed: {_message(hresult)}")

    def disconnect(self) -> None:
        """Release the card and the context. The card is reset on the way out, so
        a selection or an EXTERNAL AUTHENTICATE never outlives this session."""
        self._release(scard.SCARD_RESET_CARD)

    def _release(self, disposition: int) -> None:
        card, context = self._card, self._context
        self._card = self._context = None
        if card is not None:
            scard.SCardDisconnect(card, disposition)
        if context is not None:
            scard.SCardReleaseContext(context)

    def _lost(self) -> None:
        # The card is gone: do not ask pcscd to reset it (a failed reset leaves
        # the reader's state UNKNOWN until its next presence poll).
        self._release(scard.SCARD_LEAVE_CARD)
