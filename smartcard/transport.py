"""Transports move raw APDUs between the host and one card. The ballot-card
client is written against `Transport` only, so the same code runs over real
PC/SC (`sailau.smartcard.pcsc.PcscTransport`) and in-process to a virtual card
(`InProcessTransport`, for fast tests)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


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
