"""APDU round-trip time: through the real PC/SC stack (pcscd + vpcd) and
in-process, for `sailau bench` and the README's figures.

One round trip is one SELECT with its status answer (14-byte command, 14-byte
response) through `BallotCardClient`, so the figure includes our client, the
transport and the card, as every station operation pays it per APDU."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.vpcd import DEFAULT_PORT, READER_BY_PORT, VpcdBridge
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport


@dataclass(frozen=True)
class RoundTrip:
    """Round-trip times of `n` SELECT commands, in milliseconds."""

    path: str
    n: int
    median_ms: float
    p95_ms: float
    max_ms: float

    def line(self) -> str:
        return (
            f"{self.path:<32} n={self.n:<5} median {self.median_ms:8.3f} ms"
            f"   p95 {self.p95_ms:8.3f} ms   max {self.max_ms:8.3f} ms"
        )


def _time_status(client: BallotCardClient, n: int, path: str) -> RoundTrip:
    client.select()  # warm up
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.select()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(n - 1, int(0.95 * n))]
    return RoundTrip(path, n, statistics.median(times), p95, times[-1])


def bench_in_process(n: int = 1000) -> RoundTrip:
    """SELECT round trips straight into a VirtualBallotCard (no pcscd)."""
    transport = InProcessTransport(VirtualBallotCard())
    client = BallotCardClient(transport)
    client.connect()
    try:
        return _time_status(client, n, "in-process")
    finally:
        transport.disconnect()


def bench_pcsc(
    n: int = 1000,
    *,
    quickack: bool = True,
    port: int = DEFAULT_PORT,
    wait: float = 10.0,
) -> RoundTrip:
    """SELECT round trips through pcscd and vpcd to a fresh virtual card
    served on `port` by a bridge thread (with or without TCP_QUICKACK).

    pcscd must be running with the vpcd readers (`vpcd.ensure_pcscd()`) and
    the slot must be free; the card is pulled again at the end."""
    from sailau.smartcard.pcsc import PcscTransport, wait_for_card

    reader = READER_BY_PORT[port]
    bridge = VpcdBridge(VirtualBallotCard(), port=port, quickack=quickack).start()
    try:
        wait_for_card(reader, present=True, timeout=wait)
        transport = PcscTransport(reader)
        client = BallotCardClient(transport)
        client.connect()
        try:
            label = "pcscd+vpcd, TCP_QUICKACK" if quickack else "pcscd+vpcd, no TCP_QUICKACK"
            return _time_status(client, n, label)
        finally:
            transport.disconnect()
    finally:
        bridge.stop()
        wait_for_card(reader, present=False, timeout=wait)
