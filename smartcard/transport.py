"""Transports move raw APDUs between the host and one card. The ballot-card
client is written against `Transport` only, so the same code runs over real
PC/SC (`sailau.smartcard.pcsc.PcscTransport`) and in-process to a virtual card
(`InProcessTransport`, for fast tests)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from sailau.smartcard.errors import CardRemovedError, NoCardError, TransportError


@runtime_checkable
class Transport(Protocol):
    """One reader slot.

    connect() powers the card and returns its ATR (raises NoCardError,
    ReaderNotFoundError); transmit() sends one command APDU and returns the
    response APDU including SW1 SW2 (raises CardRemovedError when the card goes
    away, TransportError otherwise); disconnect() is always safe to call."""

    def connect(self) -> bytes: ...

    def transmit(self, apdu: bytes) -> bytes: ...

    def disconnect(self) -> None: ...


class InProcessCard(Protocol):
    """What InProcessTransport needs from a card (the virtual ballot card
    fits): power_on() returns the ATR, execute() one APDU, power_off().

    A card that loses power mid-command (a torn write) raises an exception whose
    class has the attribute `card_removed = True`; the transport maps it to
    CardRemovedError and drops the card, as a reader would see a card vanish.
    Duck typing keeps `smartcard` free of imports from `simulator`."""

    def power_on(self) -> bytes: ...

    def execute(self, apdu: bytes) -> bytes: ...

    def power_off(self) -> None: ...


def _is_card_removal(exc: BaseException) -> bool:
    return getattr(type(exc), "card_removed", False) is True


class InProcessTransport:
    """A reader slot wired straight to a card object in this process: no pcscd,
    no sockets, for fast tests and the simulation. `remove()` pulls the card
    (the next transmit raises CardRemovedError), `insert(card)` puts one in."""

    def __init__(self, card: InProcessCard | None = None) -> None:
        self._card = card
        self._connected = False
        self._removed_while_connected = False

    @property
    def card(self) -> InProcessCard | None:
        """The card in the slot, or None."""
        return self._card

    @property
    def connected(self) -> bool:
        return self._connected

    def insert(self, card: InProcessCard) -> None:
        if self._card is not None:
            raise TransportError("a card is already in the slot; remove() it first")
        self._card = card
        self._connected = False
        self._removed_while_connected = False

    def remove(self) -> InProcessCard | None:
        """Pull the card (it loses power); returns it, or None if the slot was empty."""
        card, self._card = self._card, None
        if card is not None:
            card.power_off()
            self._removed_while_connected = self._connected
        self._connected = False
        return card

    def connect(self) -> bytes:
        if self._card is None:
            raise NoCardError("no card in the in-process reader")
        if self._connected:
            self._card.power_off()
        self._connected = False
        try:
            atr = self._card.power_on()
        except Exception as exc:
            if _is_card_removal(exc):
                self._lose_card()
                raise CardRemovedError(f"card lost power while powering on: {exc}") from exc
            raise
        self._connected = True
        self._removed_while_connected = False
        return bytes(atr)

    def transmit(self, apdu: bytes) -> bytes:
        if self._card is None:
            if self._removed_while_connected:
                raise CardRemovedError("the card was removed from the in-process reader")
            raise NoCardError("no card in the in-process reader")
        if not self._connected:
            raise TransportError("transmit before connect(): the card is not powered")
        try:
            return bytes(self._card.execute(bytes(apdu)))
        except Exception as exc:
            if _is_card_removal(exc):
                self._lose_card()
                raise CardRemovedError(f"card lost power during a command: {exc}") from exc
            raise

    def disconnect(self) -> None:
        if self._card is not None and self._connected:
            self._card.power_off()
        self._connected = False

    def _lose_card(self) -> None:
        self._card = None
        self._connected = False
        self._removed_while_connected = True
