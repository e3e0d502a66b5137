"""Share one pcscd and its two vpcd reader slots between processes.

pcscd's socket (/run/pcscd/pcscd.comm) and the vpcd ports are machine-wide, and
test sessions, `sailau bench` and `sailau simulate --pcsc` may run at the same
time. Two file locks keep them apart (the test fixtures in tests/fixtures_pcsc.py
use these same functions, so everyone agrees):

- `pcscd_lease()`: a *shared* flock on /tmp/sailau-pcscd.lock held while pcscd is
  in use; reuses a pcscd that shows the vpcd readers or starts `pcscd -f`, and on
  exit stops the one it started only if it can take the lock *exclusively* (no
  other holder is left).
- `reader_slot(port)`: an *exclusive* flock per vpcd port, so two processes never
  insert two cards into one reader; it waits until the reader is empty.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sailau.simulator.vpcd import READER_BY_PORT, Pcscd, ensure_pcscd

LOCK_DIR = tempfile.gettempdir()
LOCK_WAIT = 120.0  # another session's pcsc work takes seconds, not minutes
CARD_WAIT = 10.0  # pcscd polls vpcd every ~400 ms


class LeaseTimeout(TimeoutError):
    """A pcscd or reader-slot lock stayed held by another process too long."""


class SlotBusyError(RuntimeError):
    """A reader slot holds a card that nobody holding its lock inserted."""


def _flock(path: str, mode: int, timeout: float, what: str) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise LeaseTimeout(f"{what} is held by another process for over {timeout:g} s ({path})") from None
            time.sleep(0.05)  # poll the lock holder


@contextmanager
def pcscd_lease(timeout: float = LOCK_WAIT) -> Iterator[Pcscd]:
    """A running pcscd with the vpcd readers for the duration of the block.

    Raises `vpcd.PcscdError` when pcscd cannot run, `LeaseTimeout` when the lock
    cannot be had."""
    fd = _flock(os.path.join(LOCK_DIR, "sailau-pcscd.lock"), fcntl.LOCK_SH, timeout, "pcscd")
    try:
        service = ensure_pcscd()
        yield service
        if service.started_here:
            try:  # stop it only if no other process holds the shared lock
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            service.stop()
    finally:
        os.close(fd)


@dataclass(frozen=True)
class ReaderSlot:
    port: int
    reader: str


@contextmanager
def reader_slot(port: int, timeout: float = LOCK_WAIT, card_wait: float = CARD_WAIT) -> Iterator[ReaderSlot]:
    """Vpcd reader slot `port`, empty and ours alone for the block (pcscd must run).

    Raises `LeaseTimeout`, or `SlotBusyError` if a card is still in the reader
    after `card_wait` seconds (someone outside the lock, e.g. `sailau card serve`)."""
    from sailau.smartcard.pcsc import wait_for_card

    reader = READER_BY_PORT[port]
    fd = _flock(os.path.join(LOCK_DIR, f"sailau-vpcd-{port}.lock"), fcntl.LOCK_EX, timeout, reader)
    try:
        try:  # a card of an earlier user may still be seen until pcscd's next poll
            wait_for_card(reader, present=False, timeout=card_wait)
        except TimeoutError:
            raise SlotBusyError(f"{reader!r} holds a card nobody holding its lock inserted (port {port} busy)") from None
        yield ReaderSlot(port, reader)
    finally:
        os.close(fd)
