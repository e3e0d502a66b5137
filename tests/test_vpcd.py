"""The vpcd bridge against a stand-in for pcscd's vpcd driver (a listening
socket in the test speaking the same frames), with the real virtual card.
Fast and deterministic: frame splitting, control codes, insert/remove,
reconnection and torn writes. The real pcscd is exercised in test_pcsc.py."""

from __future__ import annotations

import queue
import socket
import struct
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sailau.simulator.card_app import ATR, VirtualBallotCard
from sailau.simulator.vpcd import (
    CTRL_ATR,
    CTRL_OFF,
    CTRL_ON,
    CTRL_RESET,
    BridgeEvent,
    VpcdBridge,
)
from sailau.smartcard.apdu import AID, CardState

SELECT = bytes((0x00, 0xA4, 0x04, 0x00, len(AID))) + AID
SELECT_STATUS = SELECT + b"\x00"  # SELECT answering state, serial and counter
READ = bytes.fromhex("00B0000000")
OK = b"\x90\x00"


class FakeVpcd:
    """The server side of vpcd: accepts the card, sends frames, reads replies."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.port = self.listener.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> socket.socket:
        self.listener.settimeout(timeout)
        self.conn, _ = self.listener.accept()
        self.conn.settimeout(timeout)
        return self.conn

    def send(self, payload: bytes, cuts: list[int] | None = None) -> None:
        """Send one frame, optionally in pieces cut at the given offsets (as
        Debian's driver sends length and body in two writes)."""
        assert self.conn is not None
        wire = struct.pack(">H", len(payload)) + payload
        start = 0
        for cut in sorted(set(cuts or [])) + [len(wire)]:
            if start < cut <= len(wire):
                self.conn.sendall(wire[start:cut])
                start = cut

    def recv(self) -> bytes:
        assert self.conn is not None
        (length,) = struct.unpack(">H", self._exact(2))
        return self._exact(length)

    def _exact(self, n: int) -> bytes:
        assert self.conn is not None
        buf = b""
        while len(buf) < n:
            chunk = self.conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("card closed the connection")
            buf += chunk
        return buf

    def expect_closed(self) -> None:
        assert self.conn is not None
        assert self.conn.recv(1) == b"", "the card should have closed its connection"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.listener.close()

    def transact(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.recv()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def fake() -> FakeVpcd:
    server = FakeVpcd()
    yield server
    server.close()


@pytest.fixture
def events() -> queue.Queue[BridgeEvent]:
    return queue.Queue()


@pytest.fixture
def card() -> VirtualBallotCard:
    return VirtualBallotCard(serial=bytes.fromhex("0102030405060708"))


@pytest.fixture
def bridge(fake, card, events) -> VpcdBridge:
    b = VpcdBridge(card, port=fake.port, on_event=events.put).start()
    fake.accept()
    yield b
    b.stop()


def _next_kind(events: queue.Queue[BridgeEvent]) -> str:
    return events.get(timeout=5).kind


def test_answers_atr_and_apdus_after_power_on(bridge, fake, card, events):
    assert _next_kind(events) == "inserted"
    assert fake.transact(bytes([CTRL_ATR])) == ATR
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(SELECT) == OK
    assert fake.transact(SELECT_STATUS) == b"\x00" + card.serial + b"\x00\x00\x00" + OK
    assert bridge.apdus == 2


def test_power_off_and_reset_drop_the_selection(bridge, fake):
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(SELECT) == OK
    fake.send(bytes([CTRL_RESET]))
    assert fake.transact(READ) == b"\x69\x85"  # not selected after reset
    assert fake.transact(SELECT) == OK
    fake.send(bytes([CTRL_OFF]))
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(READ) == b"\x69\x85"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.lists(st.integers(1, 20), max_size=4), min_size=3, max_size=3))
def test_frames_split_anywhere_read_whole(bridge, fake, card, cuts):
    """However the bytes of a frame are split across TCP writes, the card sees
    whole frames (Debian's vpcd writes length and body separately)."""
    fake.send(bytes([CTRL_ON]), cuts[0])
    fake.send(SELECT, cuts[1])
    assert fake.recv() == OK
    fake.send(SELECT_STATUS, cuts[2])
    assert fake.recv() == b"\x00" + card.serial + b"\x00\x00\x00" + OK


def test_remove_closes_and_insert_reconnects(bridge, fake, card, events):
    assert _next_kind(events) == "inserted"
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(SELECT) == OK
    bridge.remove()
    assert not bridge.connected and not bridge.wants_inserted
    assert not card.powered  # a pulled card has no power
    fake.expect_closed()
    assert _next_kind(events) == "removed"
    bridge.insert()
    fake.accept()
    assert bridge.wait_connected(5)
    assert _next_kind(events) == "inserted"
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(READ) == b"\x69\x85"  # fresh power: nothing selected


def test_retries_until_pcscd_listens(card, events):
    port = _free_port()
    bridge = VpcdBridge(card, port=port, on_event=events.put, retry_max=0.05).start()
    try:
        assert not bridge.wait_connected(0.2)  # nobody listens yet: retrying
        server = FakeVpcd(port)
        try:
            server.accept()
            assert bridge.wait_connected(5)
            assert server.transact(bytes([CTRL_ATR])) == ATR
        finally:
            server.close()
    finally:
        bridge.stop()


def test_reconnects_when_pcscd_drops_the_connection(bridge, fake, events):
    assert _next_kind(events) == "inserted"
    fake.conn.close()  # pcscd restarted, or vpcd ejected the card after an error
    assert _next_kind(events) == "disconnected"
    fake.accept()
    assert _next_kind(events) == "inserted"
    assert fake.transact(bytes([CTRL_ATR])) == ATR


def _tear_a_write(fake, card) -> None:
    """Power the card on, make it ISSUED directly in its store (ISSUE needs a proof,
    covered over PC/SC in test_pcsc.py), then tear a WRITE BALLOT: the card answers
    nothing and the bridge closes the connection."""
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(SELECT) == OK
    card.store.save(replace(card.store.peek(), state=CardState.ISSUED, issue_block=b"issue"))
    fake.send(bytes([CTRL_RESET]))
    assert fake.transact(SELECT) == OK
    card.tear_after_bytes = 3
    fake.send(bytes((0x80, 0x20, 0x00, 0x00, 4)) + b"vote")
    fake.expect_closed()


def test_torn_write_pulls_the_card_and_keeps_it_consistent(bridge, fake, card, events):
    assert _next_kind(events) == "inserted"
    _tear_a_write(fake, card)  # no response: the card lost power
    assert _next_kind(events) == "power-lost"
    assert not bridge.wants_inserted  # stays out until reinserted
    bridge.insert()
    fake.accept()
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(SELECT) == OK
    status = fake.transact(SELECT_STATUS)
    data = fake.transact(READ)
    old = (CardState.ISSUED, bytes([5]) + b"issue" + bytes([0]))
    new = (CardState.VOTED, bytes([5]) + b"issue" + bytes([4]) + b"vote")
    assert (status[0], data[:-2]) in (old, new)


def test_unknown_control_code_drops_the_connection(bridge, fake, events):
    assert _next_kind(events) == "inserted"
    fake.send(bytes([9]))
    fake.expect_closed()
    assert _next_kind(events) == "disconnected"
    fake.accept()  # and the card comes back on its own
    assert fake.transact(bytes([CTRL_ATR])) == ATR


def test_stop_ends_a_bridge_blocked_in_recv(bridge, fake, card):
    fake.send(bytes([CTRL_ON]))
    assert fake.transact(bytes([CTRL_ATR])) == ATR  # the ON before it was handled
    assert card.powered
    bridge.stop()  # raises if the thread does not end: stop() must wake recv()
    assert not bridge.connected and not card.powered
    fake.expect_closed()


def test_a_torn_card_comes_back_by_itself_when_the_bridge_is_told_to(card, fake, events):
    """`reinsert_after_power_loss`: the conformance kit's cuts through pcscd need
    the card back without a human (`sailau card serve --tear-hook`)."""
    bridge = VpcdBridge(card, port=fake.port, on_event=events.put, reinsert_after_power_loss=0.05).start()
    try:
        fake.accept()
        assert _next_kind(events) == "inserted"
        _tear_a_write(fake, card)
        assert _next_kind(events) == "power-lost"
        fake.accept()  # no insert() call: it reconnects on its own
        assert _next_kind(events) == "inserted"
        fake.send(bytes([CTRL_ON]))
        assert fake.transact(SELECT_STATUS)[0] in (CardState.ISSUED, CardState.VOTED)
    finally:
        bridge.stop()
