"""`sailau bench`: the figures users and reviewers ask for, measured in one run.

Each benchmark reuses the component's own measuring function and this module
only orchestrates, summarises and reports:

| name | what | measured by |
|---|---|---|
| card | GET STATUS round trip, in-process and through pcscd + vpcd | `simulator.bench_card` |
| cast | ballot-box cast path (read, verify, one durable transaction, CLEAR) on SQLite and PostgreSQL | `ballot_box.bench.bench_cast` |
| seal | terminal seal + sign (encode, HPKE seal, Ed25519 sign), as `TerminalSession.cast` does | here |
| io | APDUs and bytes per voter (issue + terminal read/write/read-back + cast read/clear), terminal write time | here, with `IoStats` |
| close | close of polls (shares, decrypt + tally, sign, JSON/NIST/PDF/receipts) | `ballot_box.bench.bench_close` |
| commission | import of N signed precinct protocols | `commission.bench.run_commission_bench` |
| peer | the same ballots encrypted and tallied by ElectionGuard, as a ratio | `simulator.peers` |

Every figure is a median and a p95: over operations for per-operation figures
(one APDU, one cast, one seal), over repeated runs for whole-run figures (close
of polls, commission import, peer tally). A figure that cannot be measured
(no pcscd, no PostgreSQL server, peer not installed, disabled by a flag) is
listed under `unavailable` with the reason, never silently left out.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCHMARKS = ("card", "cast", "seal", "io", "close", "commission", "peer")

#: per-voter T=1 framing at a real card's 9600 bit/s: NAD, PCB, LEN, LRC per block
#: each way, 12 etu a character (DESIGN.md section 3)
T1_BLOCK_OVERHEAD = 4
CHAR_SECONDS_9600 = 12 / 9600


class BenchConfigError(ValueError):
    """A bench option names an unknown benchmark or an impossible size."""


@dataclass(frozen=True)
class BenchConfig:
    """What to run and how big; `quick` picks small sizes for tests and CI.
    A size left at None takes the quick or the full default."""

    quick: bool = False
    only: frozenset[str] = frozenset(BENCHMARKS)
    pcsc: bool = True
    postgres: bool = True
    pg_url: str | None = None
    runs: int | None = None
    apdus: int | None = None
    casts: int | None = None
    seals: int | None = None
    voters: int | None = None
    close_ballots: int | None = None
    commission_precincts: int | None = None
    peer_ballots: int | None = None

    def __post_init__(self) -> None:
        unknown = set(self.only) - set(BENCHMARKS)
        if unknown:
            raise BenchConfigError(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(BENCHMARKS)}")
        for name in ("runs", "apdus", "casts", "seals", "voters", "close_ballots", "commission_precincts", "peer_ballots"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise BenchConfigError(f"{name.replace('_', '-')} must be at least 1, got {value}")

    def size(self, name: str) -> int:
        value = getattr(self, name)
        if value is not None:
            return value
        return _QUICK[name] if self.quick else _FULL[name]

    def as_dict(self) -> dict[str, object]:
        out = {k: getattr(self, k) for k in ("quick", "pcsc", "postgres")}
        out["only"] = sorted(self.only)
        out["pg_url"] = _hide_password(self.pg_url) if self.pg_url else None
        out.update({k: self.size(k) for k in _FULL})
        return out


_FULL = {"runs": 3, "apdus": 1000, "casts": 300, "seals": 1000, "voters": 50,
         "close_ballots": 3000, "commission_precincts": 200, "peer_ballots": 10}
_QUICK = {"runs": 2, "apdus": 100, "casts": 10, "seals": 30, "voters": 3,
          "close_ballots": 20, "commission_precincts": 20, "peer_ballots": 2}


@dataclass(frozen=True)
class Figure:
    """One measured figure: median and 95th percentile of `samples` samples."""

    key: str
    label: str
    unit: str
    median: float
    p95: float
    samples: int
    over: str  # "operations", "runs", "voters", "ballots"


@dataclass
class BenchReport:
    config: BenchConfig
    figures: list[Figure] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, key: str, label: str, unit: str, samples: Iterable[float], over: str) -> Figure:
        values = sorted(samples)
        if not values:
            raise ValueError(f"figure {key} has no samples")
        figure = Figure(key, label, unit, statistics.median(values), percentile(values, 95), len(values), over)
        self.figures.append(figure)
        return figure

    def add_summary(self, key: str, label: str, unit: str, median: float, p95: float, samples: int, over: str) -> Figure:
        """A figure whose median/p95 a component's own bench function computed."""
        figure = Figure(key, label, unit, median, p95, samples, over)
        self.figures.append(figure)
        return figure

    def figure(self, key: str) -> Figure:
        for f in self.figures:
            if f.key == key:
                return f
        raise KeyError(key)

    def as_dict(self) -> dict[str, object]:
        return {
            "schema": "sailau-bench/1",
            "config": self.config.as_dict(),
            "machine": {"python": platform.python_version(), "platform": platform.platform(),
                        "cpus": os.cpu_count()},
            "seconds": round(self.seconds, 3),
            "figures": {f.key: {k: v for k, v in asdict(f).items() if k != "key"} for f in self.figures},
            "unavailable": dict(self.unavailable),
            "details": self.details,
        }


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = math.ceil(pct / 100 * len(sorted_values))
    return sorted_values[max(0, min(len(sorted_values), rank) - 1)]


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- the benchmarks ------------------------------------------------------------------


def bench_card(config: BenchConfig, report: BenchReport) -> None:
    from sailau.simulator import bench_card as card

    n = config.size("apdus")
    rt = card.bench_in_process(n)
    report.add_summary("card.apdu.in_process", "APDU round trip, in-process", "ms", rt.median_ms, rt.p95_ms, n, "operations")
    key = "card.apdu.pcsc"
    if not config.pcsc:
        report.unavailable[key] = "not measured: disabled (--no-pcsc)"
        return
    from sailau.simulator.pcsc_lease import LeaseTimeout, SlotBusyError, pcscd_lease, reader_slot
    from sailau.simulator.vpcd import PcscdError
    from sailau.smartcard.errors import CardError

    try:
        with pcscd_lease(), reader_slot(35963) as slot:
            rt = card.bench_pcsc(n, port=slot.port)
    except (PcscdError, LeaseTimeout, SlotBusyError, CardError, TimeoutError) as exc:
        report.unavailable[key] = f"not measured: pcscd + vpcd unavailable ({exc})"
        return
    report.add_summary(key, "APDU round trip, pcscd + vpcd", "ms", rt.median_ms, rt.p95_ms, n, "operations")


def bench_cast(config: BenchConfig, report: BenchReport) -> None:
    from sailau.ballot_box import bench as station_bench
    from sailau.simulator.card_app import VirtualBallotCard

    def new_card(master_key: bytes) -> VirtualBallotCard:
        return VirtualBallotCard(master_key=master_key)

    n = config.size("casts")
    sqlite = station_bench.bench_cast(new_card, db_url=None, casts=n)
    report.add_summary("cast.sqlite", "ballot-box cast path, SQLite", "ms", sqlite.median_ms, sqlite.p95_ms, n, "operations")
    key = "cast.postgresql"
    if not config.postgres:
        report.unavailable[key] = "not measured: disabled (--no-postgres)"
        return
    from sqlalchemy.exc import OperationalError

    from sailau.simulator.local_postgres import PostgresUnavailable, fresh_database, local_server_url

    try:
        server = config.pg_url or local_server_url()
        with fresh_database(server) as url:
            pg = station_bench.bench_cast(new_card, db_url=url, casts=n)
    except (PostgresUnavailable, OperationalError) as exc:
        report.unavailable[key] = f"not measured: no PostgreSQL server could be had ({exc})"
        return
    report.add_summary(key, "ballot-box cast path, PostgreSQL", "ms", pg.median_ms, pg.p95_ms, n, "operations")


def bench_seal(config: BenchConfig, report: BenchReport) -> None:
    """The terminal's own steps of `TerminalSession.cast` before the card write."""
    from sailau.ballot_box.bench import Rig
    from sailau.election.ballot import encode_ballot
    from sailau.election.record import new_issue_block, seal_ballot

    rig = Rig.create(voters=1)
    election, style = rig.election, rig.election.precinct(rig.precinct).style
    public_key = rig.election_key.public_key_bytes
    times = []
    for i in range(config.size("seals")):
        block = new_issue_block(election.fingerprint, rig.precinct, style)
        selections = rig.selections(i)
        t0 = time.perf_counter()
        seal_ballot(block, encode_ballot(election, style, selections), public_key, rig.terminal_key).pack()  # type: ignore[arg-type]
        times.append((time.perf_counter() - t0) * 1000)
    report.add("terminal.seal_sign", "terminal seal + sign", "ms", times, "operations")


def bench_io(config: BenchConfig, report: BenchReport) -> None:
    """Whole voters through the real station and terminal session over one
    in-process card, counting every APDU and byte each side sends."""
    from sailau.ballot_box.bench import Rig
    from sailau.ballot_box.db import open_station_db
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.smartcard.client import BallotCardClient, IoStats
    from sailau.smartcard.transport import InProcessTransport
    from sailau.terminal.session import CastOutcome, CardCheck, TerminalConfig, TerminalSession

    voters = config.size("voters")
    rig = Rig.create(voters=voters)
    steps: dict[str, list[IoStats]] = {"issue": [], "terminal": [], "cast": []}
    per_voter_apdus, per_voter_bytes, wire_ms, write_ms = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="sailau-bench-io-") as tmpname, \
            open_station_db(f"sqlite:///{Path(tmpname) / 'station.db'}") as db:
        station = rig.open_station(db, Path(tmpname))
        session = TerminalSession(TerminalConfig(rig.election, rig.precinct, rig.terminal_key))
        transport = InProcessTransport(VirtualBallotCard(master_key=rig.card_master_key))
        clerk, booth = BallotCardClient(transport), BallotCardClient(transport)
        for i, iin in enumerate(rig.iins[:voters]):
            clerk.connect()
            station.check_in(iin)
            station.issue_card(clerk)
            issue = clerk.reset_stats()
            inserted = session.on_card_inserted(booth)
            if inserted.check is not CardCheck.ACCEPTED:
                raise RuntimeError(f"bench voter {i}: the terminal refused the card ({inserted.check}: {inserted.detail})")
            session.vote(rig.selections(i))  # type: ignore[arg-type]
            t0 = time.perf_counter()
            written = session.cast()
            write_ms.append((time.perf_counter() - t0) * 1000)
            if written.outcome is not CastOutcome.WRITTEN:
                raise RuntimeError(f"bench voter {i}: the terminal did not write ({written.detail})")
            session.on_card_removed()  # the voter carries the card to the ballot box
            terminal = booth.reset_stats()
            clerk.connect()
            counted = station.cast_card(clerk)
            if not counted.counted:
                raise RuntimeError(f"bench voter {i}: the ballot box did not count the card ({counted.message})")
            cast = clerk.reset_stats()
            for name, stats in (("issue", issue), ("terminal", terminal), ("cast", cast)):
                steps[name].append(stats)
            trio = (issue, terminal, cast)
            per_voter_apdus.append(sum(s.apdus for s in trio))
            per_voter_bytes.append(sum(s.total_bytes for s in trio))
            wire_ms.append(sum(s.total_bytes + 2 * T1_BLOCK_OVERHEAD * s.apdus for s in trio) * CHAR_SECONDS_9600 * 1000)
    report.add("io.apdus_per_voter", "APDUs per voter (issue + vote + cast)", "APDUs", per_voter_apdus, "voters")
    report.add("io.bytes_per_voter", "bytes per voter on the wire", "bytes", per_voter_bytes, "voters")
    report.add("io.wire_ms_9600", "est. wire time per voter at 9600 bit/s", "ms", wire_ms, "voters")
    report.add("terminal.write", "terminal seal + WRITE + read-back", "ms", write_ms, "voters")
    report.details["io_per_step"] = {
        name: {"apdus": statistics.median(s.apdus for s in stats),
               "bytes_sent": statistics.median(s.bytes_sent for s in stats),
               "bytes_received": statistics.median(s.bytes_received for s in stats)}
        for name, stats in steps.items()
    }


def bench_close(config: BenchConfig, report: BenchReport) -> None:
    from sailau.ballot_box import bench as station_bench

    ballots = config.size("close_ballots")
    runs = [station_bench.bench_close(ballots) for _ in range(config.size("runs"))]
    report.add("close.total", f"close of polls, {ballots:,} ballots", "s", [r.seconds for r in runs], "runs")
    report.add("close.decrypt_tally", "  of which decrypt + tally", "s", [r.decrypt_tally_seconds for r in runs], "runs")
    report.add("close.outputs", "  of which sign + JSON/NIST/PDF/receipts", "s", [r.outputs_seconds for r in runs], "runs")
    report.details["close_pdf_bytes"] = runs[-1].pdf_bytes


def bench_commission(config: BenchConfig, report: BenchReport) -> None:
    from sailau.commission.bench import run_commission_bench

    precincts = config.size("commission_precincts")
    runs = []
    for _ in range(config.size("runs")):
        with tempfile.TemporaryDirectory(prefix="sailau-bench-commission-") as tmp:
            runs.append(run_commission_bench(f"sqlite:///{Path(tmp) / 'commission.db'}", precincts))
    report.add("commission.import", f"commission import, {precincts:,} protocols (SQLite)", "s",
               [r.import_s for r in runs], "runs")
    report.add("commission.import_per_protocol", "  per protocol", "ms",
               [r.import_s / precincts * 1000 for r in runs], "runs")
    report.details["commission_seats"] = runs[-1].seats


def bench_peer(config: BenchConfig, report: BenchReport) -> None:
    from sailau.ballot_box.bench import Rig
    from sailau.simulator import peers

    if not peers.electionguard_installed():
        report.unavailable["peer.electionguard"] = f"peer not installed ({peers.INSTALL_HINT})"
        return
    n = config.size("peer_ballots")
    rig = Rig.create(voters=1)
    comparisons = []
    for run in range(config.size("runs")):
        ballots = [rig.selections(run * n + i) for i in range(n)]
        comparisons.append(peers.compare_with_electionguard(rig.election, rig.precinct, ballots))  # type: ignore[arg-type]
    last = comparisons[-1]
    report.add_summary("peer.sailau.encrypt", "Sailau encrypt (seal + sign) per ballot", "ms",
                       last.sailau_encrypt.median_ms, last.sailau_encrypt.p95_ms, n, "ballots")
    report.add_summary("peer.electionguard.encrypt", "ElectionGuard encrypt + proofs per ballot", "ms",
                       last.peer_encrypt.median_ms, last.peer_encrypt.p95_ms, n, "ballots")
    report.add("peer.ratio.encrypt", "ElectionGuard / Sailau, encrypt", "x", [c.encrypt_ratio for c in comparisons], "runs")
    report.add("peer.sailau.tally", f"Sailau open + count {n} ballots", "ms",
               [c.sailau_tally_s * 1000 for c in comparisons], "runs")
    report.add("peer.electionguard.tally", f"ElectionGuard tally + decrypt {n} ballots", "ms",
               [c.peer_tally_s * 1000 for c in comparisons], "runs")
    report.add("peer.ratio.tally", "ElectionGuard / Sailau, tally", "x", [c.tally_ratio for c in comparisons], "runs")
    report.details["peer"] = {"package": "electionguard 1.4.0", "selections_per_ballot": last.selections_per_ballot,
                              "counts_agree": True}


RUNNERS: dict[str, Callable[[BenchConfig, BenchReport], None]] = {
    "card": bench_card, "cast": bench_cast, "seal": bench_seal, "io": bench_io,
    "close": bench_close, "commission": bench_commission, "peer": bench_peer,
}

LABELS = {
    "card": "APDU round trips", "cast": "cast path", "seal": "terminal seal + sign", "io": "voters over a card",
    "close": "close of polls", "commission": "commission import", "peer": "ElectionGuard peer",
}


def run_bench(config: BenchConfig, on_step: Callable[[str], None] | None = None) -> BenchReport:
    """Run the selected benchmarks in a fixed order; `on_step(name)` before each."""
    report = BenchReport(config)
    start = time.perf_counter()
    for name in BENCHMARKS:
        if name not in config.only:
            continue
        if on_step is not None:
            on_step(name)
        RUNNERS[name](config, report)
    report.seconds = time.perf_counter() - start
    return report


# --- presentation -------------------------------------------------------------------


def _fmt(value: float, unit: str) -> str:
    if unit in ("APDUs", "bytes"):
        return f"{value:,.0f}"
    if unit == "x":
        return f"{value:,.1f}x"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def render_table(report: BenchReport):  # noqa: ANN201 (rich renderable)
    from rich.table import Table

    mode = "quick" if report.config.quick else "full"
    table = Table(title=f"sailau bench ({mode}, {report.seconds:.0f} s)", title_justify="left")
    table.add_column("figure")
    table.add_column("median", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("unit")
    table.add_column("over", justify="right")
    for f in report.figures:
        table.add_row(f.label, _fmt(f.median, f.unit), _fmt(f.p95, f.unit), "" if f.unit == "x" else f.unit,
                      f"{f.samples:,} {f.over}")
    for key, reason in report.unavailable.items():
        table.add_row(f"[yellow]{key}[/]", "-", "-", "", f"[yellow]{reason}[/]")
    return table
