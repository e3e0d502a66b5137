"""Bridge a virtual card into the real PC/SC stack through vsmartcard's vpcd.

pcscd loads Debian's vpcd driver (`/etc/reader.conf.d/vpcd`), which listens on
TCP 35963 ("Virtual PCD 00 00") and 35964 ("Virtual PCD 00 01"). A virtual card
is a TCP *client* of that port: connecting inserts the card, closing the
connection pulls it. Every message either way is a frame: a 2-byte big-endian
length and that many bytes. A 1-byte frame from pcscd is a control code (0
power off, 1 power on, 2 reset, 4 "send your ATR", the only one answered);
anything longer is a command APDU answered by a response APDU frame.

vpcd polls presence by asking for the ATR about every 400 ms, and Debian's
driver writes length and body in two send() calls; with delayed ACKs on our side
the second write waits ~40 ms for the ACK of the first (Nagle), so we set
TCP_QUICKACK after every recv (Linux resets it on its own).

The bridge owns one socket and one thread that makes every call into the card,
so a card implementation needs no locking of its own; `insert()`/`remove()` may
be called from any thread.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 35963
#: vpcd's reader names, by port (Debian's reader.conf: one vpcd, two slots).
READER_BY_PORT = {35963: "Virtual PCD 00 00", 35964: "Virtual PCD 00 01"}

CTRL_OFF = 0
CTRL_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4

_LEN = struct.Struct(">H")


class VirtualCard(Protocol):
    """What the bridge needs of a card (`sailau.simulator.card_app.VirtualBallotCard`).

    `execute` and `power_on` may raise the card's power-lost exception (a torn
    write; its class has `card_removed = True`): the bridge treats it as the card
    leaving the reader, and it stays out until `insert()`."""

    def atr(self) -> bytes: ...

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def execute(self, apdu: bytes) -> bytes: ...


class VpcdProtocolError(Exception):
    """pcscd sent a frame the vpcd protocol does not define."""


class _Closed(Exception):
    """The connection ended (peer closed, or we pulled the card)."""


def _is_power_loss(exc: BaseException) -> bool:
    """A card's torn-write exception (`card_app.CardPowerLost`) carries the
    class attribute `card_removed = True`, as InProcessTransport also reads."""
    return getattr(type(exc), "card_removed", False) is True


@dataclass(frozen=True)
class BridgeEvent:
    """What happened to the card's connection; passed to `on_event`.

    kind: "inserted" (connected to vpcd), "removed" (we pulled it),
    "power-lost" (a torn write cut power: pulled), "card-error" (the card
    raised: pulled), "disconnected" (pcscd closed; the bridge reconnects)."""

    kind: str
    port: int


class VpcdBridge:
    """Serve one virtual card to pcscd on one vpcd port.

    `start()` runs the bridge in a background thread, `serve_forever()` in the
    caller's; both keep the card inserted (reconnecting with backoff while pcscd
    is absent or restarts) until `remove()` or `stop()`."""

    def __init__(
        self,
        card: VirtualCard,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        quickack: bool = True,
        inserted: bool = True,
        retry_initial: float = 0.02,
        retry_max: float = 0.5,
        on_event: Callable[[BridgeEvent], None] | None = None,
        reinsert_after_power_loss: float | None = None,
    ) -> None:
        """`reinsert_after_power_loss`: seconds after a torn write (the card's
        power-lost exception) until the card goes back in by itself; None keeps
        it out until `insert()`, as a voter would have to put it back."""
        self.card = card
        self.reinsert_after_power_loss = reinsert_after_power_loss
        self._hold_until = 0.0
        self.host = host
        self.port = port
        self.quickack = quickack
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.on_event = on_event
        self._cond = threading.Condition()
        self._want_inserted = inserted
        self._stopping = False
        self._sock: socket.socket | None = None
        self._connected = False
        self._thread: threading.Thread | None = None
        self._serving = False
        self.apdus = 0  # command APDUs answered, for benchmarks and tests

    # -- public state -------------------------------------------------------

    @property
    def reader_name(self) -> str:
        """The PC/SC reader this port shows up as (for Debian's vpcd config)."""
        return READER_BY_PORT.get(self.port, f"vpcd port {self.port}")

    @property
    def connected(self) -> bool:
        """True while the card's socket to vpcd is open (the card is 'in')."""
        with self._cond:
            return self._connected

    @property
    def wants_inserted(self) -> bool:
        """False from the moment `remove()` (or a power loss) pulled the card:
        its socket is shut by then, even if the bridge thread is still busy."""
        with self._cond:
            return self._want_inserted and not self._stopping

    def wait_connected(self, timeout: float) -> bool:
        """Block until the card is connected to vpcd, or `timeout` passes."""
        with self._cond:
            return self._cond.wait_for(lambda: self._connected, timeout)

    # -- insert / remove ----------------------------------------------------

    def insert(self) -> None:
        """Put the card (back) in the reader; returns at once, the bridge
        thread connects (see `wait_connected`)."""
        with self._cond:
            self._want_inserted = True
            self._cond.notify_all()

    def remove(self, timeout: float = 5.0) -> None:
        """Pull the card: close its connection now, even mid-APDU. Returns once
        the bridge thread has let go of the card (it is powered off)."""
        with self._cond:
            self._want_inserted = False
            self._shutdown_socket()
            self._cond.notify_all()
            if self._serving and threading.current_thread() is not self._thread:
                self._cond.wait_for(lambda: not self._connected, timeout)

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> VpcdBridge:
        """Run the bridge in a daemon thread. Returns self."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("bridge already started")
            self._stopping = False
            self._thread = threading.Thread(
                target=self.serve_forever, name=f"vpcd-bridge-{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Pull the card and end the bridge thread (or `serve_forever`)."""
        with self._cond:
            self._stopping = True
            self._shutdown_socket()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise RuntimeError(f"vpcd bridge on port {self.port} did not stop")

    def serve_forever(self) -> None:
        """Keep the card connected while it is wanted, until `stop()`."""
        with self._cond:
            self._serving = True
        try:
            delay = self.retry_initial
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping or self._want_inserted)
                    hold = self._hold_until - time.monotonic()
                    if hold > 0:  # out of the reader for a while after a power loss
                        self._cond.wait_for(lambda: self._stopping, hold)
                    if self._stopping:
                        return
                sock = self._connect()
                if sock is None:
                    with self._cond:
                        self._cond.wait_for(
                            lambda: self._stopping or not self._want_inserted, delay
                        )
                    delay = min(delay * 2, self.retry_max)
                    continue
                delay = self.retry_initial
                self._serve_connection(sock)
        finally:
            with self._cond:
                self._serving = False
                self._cond.notify_all()

    # -- internals ----------------------------------------------------------

    def _shutdown_socket(self) -> None:
        # Called with the lock held. shutdown() wakes a recv() blocked in the
        # bridge thread; that thread then closes the socket itself.
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _emit(self, kind: str) -> None:
        if self.on_event is not None:
            try:
                self.on_event(BridgeEvent(kind, self.port))
            except Exception:  # a listener must not take the card down
                log.exception("vpcd bridge event listener failed")

    def _connect(self) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2.0)
        except OSError as exc:
            log.debug("vpcd %s:%d not reachable: %s", self.host, self.port, exc)
            return None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._cond:
            if self._stopping or not self._want_inserted:
                sock.close()
                return None
            self._sock = sock
            self._connected = True
            self._cond.notify_all()
        log.info("card inserted into vpcd port %d", self.port)
        self._emit("inserted")
        return sock

    def _serve_connection(self, sock: socket.socket) -> None:
        kind = "disconnected"
        try:
            while True:
                frame = self._recv_frame(sock)
                reply = self._handle(frame)
                if reply is not None:
                    sock.sendall(_LEN.pack(len(reply)) + reply)
        except VpcdProtocolError:
            log.exception("vpcd port %d: protocol error, dropping the connection", self.port)
        except (_Closed, OSError) as exc:
            log.debug("vpcd connection on port %d ended: %s", self.port, exc)
        except Exception as exc:
            if _is_power_loss(exc):
                kind = "power-lost"
                log.info("card lost power on vpcd port %d (%s): pulled", self.port, exc)
            else:  # a bug in the card: pull it rather than kill the bridge
                kind = "card-error"
                log.exception("virtual card failed on vpcd port %d: pulled", self.port)
        finally:
            if kind != "power-lost":
                # A card out of the reader has no power; a torn card already
                # lost it inside execute().
                self.card.power_off()
            with self._cond:
                if kind == "power-lost" and self.reinsert_after_power_loss is not None:
                    self._hold_until = time.monotonic() + self.reinsert_after_power_loss
                elif kind in ("power-lost", "card-error"):
                    self._want_inserted = False
                elif not self._want_inserted or self._stopping:
                    kind = "removed"
                self._sock = None
                self._connected = False
                self._cond.notify_all()
            sock.close()
            self._emit(kind)

    def _recv_exact(self, sock: socket.socket, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if self.quickack:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not chunk:
                raise _Closed("peer closed the connection")
            buf += chunk
        return bytes(buf)

    def _recv_frame(self, sock: socket.socket) -> bytes:
        (length,) = _LEN.unpack(self._recv_exact(sock, 2))
        return self._recv_exact(sock, length)

    def _handle(self, frame: bytes) -> bytes | None:
        if len(frame) == 1:
            code = frame[0]
            if code == CTRL_ATR:
                return self.card.atr()
            if code == CTRL_ON:
                self.card.power_on()
                return None
            if code == CTRL_OFF:
                self.card.power_off()
                return None
            if code == CTRL_RESET:
                self.card.power_off()
                self.card.power_on()
                return None
            raise VpcdProtocolError(f"unknown vpcd control code {code}")
        if not frame:
            raise VpcdProtocolError("empty vpcd frame")
        response = self.card.execute(frame)
        self.apdus += 1
        return response


# -- pcscd ------------------------------------------------------------------

PCSCD_PIDFILE = "/run/pcscd/pcscd.pid"


class PcscdError(RuntimeError):
    """pcscd could not be started, or runs without the vpcd readers."""


@dataclass
class Pcscd:
    """A pcscd with the vpcd readers; `process` is set when we started it."""

    readers: list[str]
    process: subprocess.Popen[bytes] | None = None
    log_path: str | None = None

    @property
    def started_here(self) -> bool:
        return self.process is not None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop pcscd if we started it (SIGTERM, then SIGKILL)."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def _running_pcscd_pid() -> int | None:
    try:
        pid = int(open(PCSCD_PIDFILE).read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def _vpcd_readers() -> list[str] | None:
    from sailau.smartcard.errors import CardError
    from sailau.smartcard.pcsc import list_readers

    try:
        readers = list_readers()
    except CardError:
        return None
    return readers if all(r in readers for r in READER_BY_PORT.values()) else None


def ensure_pcscd(timeout: float = 15.0, log_path: str | None = None) -> Pcscd:
    """A running pcscd with both vpcd readers: the one already running, or a
    fresh `pcscd -f` (never -x: it would exit while idle) started here.

    Raises PcscdError naming the cause when that is not possible."""
    readers = _vpcd_readers()
    if readers is not None:
        return Pcscd(readers)
    pid = _running_pcscd_pid()
    if pid is not None:
        raise PcscdError(
            f"pcscd (pid {pid}) is running without the vpcd readers "
            f"{list(READER_BY_PORT.values())}: is vsmartcard-vpcd installed "
            "(/etc/reader.conf.d/vpcd)? Stop that pcscd and retry."
        )
    if shutil.which("pcscd") is None:
        raise PcscdError("pcscd is not installed (Debian: apt-get install pcscd vsmartcard-vpcd)")
    log_path = log_path or os.path.join(tempfile.gettempdir(), f"sailau-pcscd-{os.getpid()}.log")
    log_file = open(log_path, "ab")
    try:
        # A session of its own: Ctrl-C or `timeout` signal the starter's whole
        # process group, and other processes may still be using this pcscd.
        proc = subprocess.Popen(
            ["pcscd", "-f"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        log_file.close()
    deadline = time.monotonic() + timeout
    while True:
        readers = _vpcd_readers()
        if readers is not None:
            return Pcscd(readers, proc, log_path)
        if proc.poll() is not None:
            tail = open(log_path, errors="replace").read()[-2000:]
            raise PcscdError(f"pcscd -f exited with {proc.returncode}; its log:\n{tail}")
        if time.monotonic() > deadline:
            Pcscd([], proc).stop()
            raise PcscdError(f"pcscd started but the vpcd readers did not appear in {timeout:g} s")
        time.sleep(0.02)  # poll pcscd; readers appear within ~100 ms
