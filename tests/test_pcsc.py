"""The ballot card over the real PC/SC stack: pcscd + Debian's vpcd + pyscard,
with the real virtual card, the real BallotCardClient and `sailau card serve`.
Fixtures (tests/fixtures_pcsc.py) start or reuse pcscd and never skip."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sailau.simulator.bench_card import bench_in_process, bench_pcsc
from sailau.simulator.card_app import ATR, TEST_MASTER_KEY, VirtualBallotCard
from sailau.simulator.faults import FaultyCard
from sailau.simulator.vpcd import VpcdBridge
from sailau.smartcard.apdu import AID, CardState, Ins
from sailau.smartcard.client import BallotCardClient, CardStatus
from sailau.smartcard.errors import (
    CardRemovedError,
    ConditionsNotSatisfiedError,
    NoCardError,
    ReaderNotFoundError,
)
from sailau.smartcard.events import CardInserted, CardRemoved, InProcessSlot, ReaderWatcher
from sailau.smartcard.pcsc import PcscTransport, list_readers, resolve_reader, wait_for_card
from sailau.smartcard.transport import InProcessTransport

WAIT = 10.0
ISSUE_BLOCK = b"\x01" + bytes(range(40))
RECORD = bytes(range(200))


def _client(reader: str) -> tuple[PcscTransport, BallotCardClient]:
    transport = PcscTransport(reader)
    client = BallotCardClient(transport)
    assert client.connect() == ATR
    client.select()
    return transport, client


@pytest.mark.pcsc
def test_vpcd_readers_are_listed(pcscd):
    assert {"Virtual PCD 00 00", "Virtual PCD 00 01"} <= set(list_readers())


@pytest.mark.pcsc
def test_full_card_cycle_through_pcscd(card_bridge, vpcd_slot, virtual_card):
    transport, client = _client(vpcd_slot.reader)
    try:
        assert client.status().state is CardState.BLANK
        client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
        client.write_ballot(RECORD, ISSUE_BLOCK)  # the card's digest matches
        with pytest.raises(ConditionsNotSatisfiedError):
            client.write_ballot(RECORD, ISSUE_BLOCK)  # once only
        assert client.select().state is CardState.VOTED
        data = client.read_data()  # 1+41+1+200 bytes: two READ BINARY
        assert (data.issue_block, data.record) == (ISSUE_BLOCK, RECORD)
        client.clear(TEST_MASTER_KEY)
        status = client.select()
        assert (status.state, status.serial, status.counter) == (CardState.BLANK, virtual_card.serial, 3)
    finally:
        transport.disconnect()
    assert virtual_card.state is CardState.BLANK  # the card itself agrees


def test_reader_names_resolve_exactly_or_by_unique_prefix():
    readers = ["ACS ACR39U 00 00", "Virtual PCD 00 00", "Virtual PCD 00 01"]
    assert resolve_reader("Virtual PCD 00 01", readers) == "Virtual PCD 00 01"
    assert resolve_reader("ACS", readers) == "ACS ACR39U 00 00"
    with pytest.raises(ReaderNotFoundError, match="ambiguous"):
        resolve_reader("Virtual PCD 00 0", readers)
    with pytest.raises(ReaderNotFoundError, match="'ACS ACR39U 00 00'"):
        resolve_reader("Omnikey", readers)


@pytest.mark.pcsc
def test_reader_names_fail_clearly_through_pcscd(card_bridge, vpcd_slot):
    with PcscTransport(vpcd_slot.reader) as transport:
        assert transport.reader == vpcd_slot.reader
    with pytest.raises(ReaderNotFoundError, match="ambiguous"):
        PcscTransport("Virtual PCD").connect()
    with pytest.raises(ReaderNotFoundError, match="Virtual PCD 00 01"):  # lists readers present
        PcscTransport("No Such Reader").connect()


@pytest.mark.pcsc
def test_empty_reader_raises_no_card(vpcd_slot):
    with pytest.raises(NoCardError, match=vpcd_slot.reader):
        PcscTransport(vpcd_slot.reader).connect()


class PullDuring(FaultyCard):
    """The simulator's fault-injecting card (`simulator.faults.FaultyCard`) pulled the
    way only a real reader can be: on one instruction it runs it, then the card is
    pulled from another thread through the vpcd bridge before the response goes back
    (a voter yanking the card while the host waits)."""

    def __init__(self, card: VirtualBallotCard, ins: int) -> None:
        super().__init__(card, label=f"pulled during INS {ins:#04x}")
        self.ins = ins
        self.bridge: VpcdBridge | None = None
        self.puller: threading.Thread | None = None

    def execute(self, apdu: bytes) -> bytes:
        response = self.card.execute(apdu)
        if apdu[1] == self.ins and self.puller is None:
            assert self.bridge is not None
            self.puller = threading.Thread(target=self.bridge.remove)
            self.puller.start()
            _until(lambda: not self.bridge.wants_inserted)  # the socket is shut now
        return response


def _until(condition, timeout: float = WAIT) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.001)  # poll another thread's progress


@pytest.mark.pcsc
def test_card_pulled_mid_issue_raises_and_reads_consistent_after_reinsertion(vpcd_slot):
    card = VirtualBallotCard()
    puller = PullDuring(card, Ins.ISSUE)
    bridge = VpcdBridge(puller, port=vpcd_slot.port)
    puller.bridge = bridge
    bridge.start()
    try:
        wait_for_card(vpcd_slot.reader, True, WAIT)
        transport, client = _client(vpcd_slot.reader)
        with pytest.raises(CardRemovedError, match="removed or lost power"):
            client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)  # one APDU (SELECT told the counter); pulled on it
        transport.disconnect()
        puller.puller.join(WAIT)
        wait_for_card(vpcd_slot.reader, False, WAIT)
        bridge.insert()
        wait_for_card(vpcd_slot.reader, True, WAIT)
        transport, client = _client(vpcd_slot.reader)
        try:
            # The card ran ISSUE before it was pulled: the host never heard,
            # but re-reading shows the whole new state, not a mix.
            assert client.status() == CardStatus(CardState.ISSUED, card.serial, 1)
            assert client.read_data().issue_block == ISSUE_BLOCK
        finally:
            transport.disconnect()
    finally:
        bridge.stop()
        wait_for_card(vpcd_slot.reader, False, WAIT)


@pytest.mark.pcsc
def test_torn_write_over_pcsc_is_card_removed_and_card_holds_old_or_new(card_bridge, vpcd_slot, virtual_card):
    transport, client = _client(vpcd_slot.reader)
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    virtual_card.tear_after_bytes = 20
    with pytest.raises(CardRemovedError):
        client.write_ballot(RECORD, ISSUE_BLOCK)
    transport.disconnect()
    assert not card_bridge.wants_inserted  # the torn card left the reader
    wait_for_card(vpcd_slot.reader, False, WAIT)
    card_bridge.insert()
    wait_for_card(vpcd_slot.reader, True, WAIT)
    transport, client = _client(vpcd_slot.reader)
    try:
        state = client.status().state
        data = client.read_data()
    finally:
        transport.disconnect()
    assert (state, data.issue_block, data.record) in (
        (CardState.ISSUED, ISSUE_BLOCK, None),
        (CardState.VOTED, ISSUE_BLOCK, RECORD),
    )


@pytest.mark.pcsc
def test_scriptor_selects_the_application(card_bridge, vpcd_slot, tmp_path):
    script = tmp_path / "select.txt"
    script.write_text(f"00 A4 04 0C 08 {AID.hex(' ').upper()}\n00 A4 04 00 08 {AID.hex(' ').upper()} 00\n")
    out = subprocess.run(
        ["scriptor", "-r", vpcd_slot.reader, str(script)],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # "< 90 00 : Normal processing." per response
    responses = [line[1:].split(":")[0].split() for line in out.stdout.splitlines() if line.startswith("<")]
    assert responses[0] == ["90", "00"], out.stdout  # SELECT, no data
    assert len(responses[1]) == 14 and responses[1][-2:] == ["90", "00"], out.stdout  # SELECT: state, serial, counter


@pytest.mark.pcsc
def test_reader_watcher_reports_insert_and_remove(card_bridge, vpcd_slot):
    seen: queue.Queue = queue.Queue()
    with ReaderWatcher(vpcd_slot.reader, seen.put):
        assert seen.get(timeout=WAIT) == CardInserted(vpcd_slot.reader, ATR)  # already in
        card_bridge.remove()
        assert seen.get(timeout=WAIT) == CardRemoved(vpcd_slot.reader)
        card_bridge.insert()
        assert seen.get(timeout=WAIT) == CardInserted(vpcd_slot.reader, ATR)
    card_bridge.remove()
    wait_for_card(vpcd_slot.reader, False, WAIT)
    assert seen.empty()  # stopped: nothing delivered after stop()


@pytest.mark.pcsc
def test_reader_watcher_stops_right_after_an_event(card_bridge, vpcd_slot):
    """stop() just after a callback races the thread re-entering its wait
    (SCardCancel is lost then): it must still end, and never deadlock."""
    for _ in range(20):
        seen: queue.Queue = queue.Queue()
        with ReaderWatcher(vpcd_slot.reader, seen.put):
            assert seen.get(timeout=WAIT) == CardInserted(vpcd_slot.reader, ATR)


@pytest.mark.pcsc
def test_reader_watcher_needs_a_real_reader(pcscd):
    with pytest.raises(ReaderNotFoundError, match="Virtual PCD 00 00"):
        ReaderWatcher("Omnikey 5421", print).start()


@contextmanager
def _card_serve(slot, *options: str) -> Iterator[subprocess.Popen]:
    """`sailau card serve` on the vpcd `slot` in a subprocess (output as text, stderr
    folded in); killed on leaving if it is still running."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sailau.cli.main", "card", "serve", "--port", str(slot.port), *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.pcsc
def test_sailau_card_serve_subprocess(vpcd_slot_2, tmp_path):
    image = tmp_path / "card.img"
    reader = vpcd_slot_2.reader
    try:
        with _card_serve(vpcd_slot_2, "--image", str(image)) as proc:
            wait_for_card(reader, True, WAIT)
            transport, client = _client(reader)
            client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
            serial = client.status().serial
            transport.disconnect()
            proc.send_signal(signal.SIGUSR1)
            wait_for_card(reader, False, WAIT)
            proc.send_signal(signal.SIGUSR2)
            wait_for_card(reader, True, WAIT)
            transport, client = _client(reader)
            assert client.status().state is CardState.ISSUED
            transport.disconnect()
            proc.send_signal(signal.SIGTERM)
            out, _ = proc.communicate(timeout=WAIT)
    finally:
        wait_for_card(reader, False, WAIT)
    assert proc.returncode == 0, out
    for said in ("serving card", "SIGUSR1: pulling", "SIGUSR2: inserting", "SIGTERM: stopping"):
        assert said in out, out
    reopened = VirtualBallotCard.open_image(image)  # the file is the card
    try:
        assert (reopened.serial, reopened.state) == (serial, CardState.ISSUED)
        assert reopened.issue_block == ISSUE_BLOCK
    finally:
        reopened.close()


@pytest.mark.pcsc
def test_sailau_card_serve_remove_after(vpcd_slot_2, tmp_path):
    reader = vpcd_slot_2.reader
    with _card_serve(vpcd_slot_2, "--remove-after", "1") as proc:
        wait_for_card(reader, True, WAIT)
        wait_for_card(reader, False, WAIT)  # pulled by the timer, no signal
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, out
    assert "pulling the card after 1 s" in out, out


@pytest.mark.pcsc
def test_round_trip_bench_runs_both_paths(vpcd_slot):
    """Bounded run of the benchmark `sailau bench` uses (figures: simulator/README.md)."""
    for result in (bench_pcsc(20, port=vpcd_slot.port), bench_in_process(20)):
        assert result.n == 20
        assert 0 < result.median_ms <= result.p95_ms <= result.max_ms


def test_in_process_slot_reports_the_same_events():
    seen: list = []
    slot = InProcessSlot(InProcessTransport(), seen.append, reader_name="booth")
    card = VirtualBallotCard()
    slot.insert(card)
    client = BallotCardClient(slot.transport)
    client.connect()
    client.select()
    client.issue(ISSUE_BLOCK, TEST_MASTER_KEY)
    card.tear_after_bytes = 5
    with pytest.raises(CardRemovedError):
        client.write_ballot(RECORD, ISSUE_BLOCK)
    slot.poll()
    assert seen == [CardInserted("booth", ATR), CardRemoved("booth")]
    slot.insert(card)
    assert slot.remove() is card
    assert seen[2:] == [CardInserted("booth", ATR), CardRemoved("booth")]
    slot.remove()  # empty: nothing to report
    assert len(seen) == 4


def test_pcsc_errors_name_pcscd_when_it_is_absent(monkeypatch):
    """No pcscd (a socket path nobody listens on): a clear ReaderNotFoundError."""
    code = (
        "from sailau.smartcard.pcsc import list_readers\n"
        "from sailau.smartcard.errors import ReaderNotFoundError\n"
        "try:\n    list_readers()\nexcept ReaderNotFoundError as e:\n    print('ERR', e)\n"
    )
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(Path("/nonexistent/pcscd.comm")))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert out.stdout.startswith("ERR pcscd is not running"), out.stdout + out.stderr
