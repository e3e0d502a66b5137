"""`sailau bench`: the figures users and reviewers ask for, measured in one run.

Each benchmark reuses the component's own measuring function and this module
only orchestrates, summarises and reports:

| name | what | measured by |
|---|---|---|
| card | SELECT round trip, in-process and through pcscd + vpcd | `simulator.bench_card` |
| cast | ballot-box cast path (read, verify, one durable transaction, CLEAR) on SQLite and PostgreSQL, each beside a bare durable commit on the same database, and their ratio | `simulator.booth_rig.bench_cast` |
| seal | terminal seal + sign (encode, HPKE seal, Ed25519 sign), as `TerminalSession.cast` does | here |
| io | APDUs and bytes per voter (issue + terminal read/write + cast read/clear), wire time at 9,600 and 115,200 bit/s, terminal write time | here, with `IoStats` |
| close | close of polls (shares, decrypt + tally, sign, JSON/NIST/PDF/receipts) | `simulator.booth_rig.bench_close` |
| commission | import of N signed precinct protocols | `commission.bench.run_commission_bench` |
| network | N precincts submit protocols + 6 turnout reports each to the commission server | `commission.netbench.run_network_bench` |
| peer | the same ballots encrypted and tallied by ElectionGuard, as a ratio | `simulator.peers` |

Every figure is a median and a p95: over operations for per-operation figures
(one APDU, one cast, one seal), over repeated runs for whole-run figures (close
of polls, commission import, peer tally). Each figure stands beside its floor
(what cannot be beaten: the payload's bytes, a bare durable commit measured in
the same run, the in-process round trip) or its goal (the issue's 8 APDUs and
600 bytes, 1 ms and 8x for the cast path, or our own, with its reason), and the
JSON carries both with that reason (`basis`). A figure that cannot be measured
(no pcscd, no PostgreSQL server, peer not installed, disabled by a flag) is
listed under `unavailable` with the reason, never silently left out.

Wire time: every byte crosses at 12 etu (start, 8 data, parity, 2 guard), and
each APDU is one T=1 I-block each way (NAD, PCB, LEN, LRC: 4 bytes), which holds
when the card announces IFSC 254 in its ATR and the reader asks for IFSD 254
(PC/SC readers do, with an S(IFS) request); with the default 32-byte blocks the
larger APDUs are chained and cost a few more bytes. 9,600 bit/s is what every
card starts at; 115,200 is what a PPS exchange gets from a card whose TA1
offers Fi/Di = 372/12 at 3.57 MHz (the reader or its CCID driver does the PPS
itself when the card's TA1 allows).
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

BENCHMARKS = ("card", "cast", "seal", "io", "close", "commission", "network", "peer")

#: T=1 framing per APDU: NAD, PCB, LEN, LRC per block each way (IFSC/IFSD 254: one block)
T1_BLOCK_OVERHEAD = 4
ETU_PER_BYTE = 12
RATES = (9600, 115_200)

#: the issue's goals, at its 55-byte issue block and 150-byte record
GOAL_APDUS_PER_VOTER = 8
GOAL_BYTES_PER_VOTER = 600
GOAL_CAST_MS = 1.0
GOAL_CAST_RATIO = 8.0
#: the simulator's card must not be what a user waits for: 1 % of a real card's exchange
SELECT_EXCHANGE_BYTES = 14 + 14
#: a precinct's largest list, and 10,060 precincts (the 2021 Majilis election)
CLOSE_GOAL_SECONDS_PER_BALLOT = 60 / 3000
COMMISSION_GOAL_MS_PER_PROTOCOL = 600_000 / 10_060


def wire_ms(total_bytes: float, apdus: float, rate: int) -> float:
    """Milliseconds on the wire for `total_bytes` in `apdus` APDUs at `rate` bit/s (T=1, see the module doc)."""
    return (total_bytes + 2 * T1_BLOCK_OVERHEAD * apdus) * ETU_PER_BYTE / rate * 1000


def payload_bytes_per_voter(issue_block: int, record: int) -> int:
    """The floor: what must cross per voter: the issue block written, read by the
    booth and by the box; the record written and read by the box."""
    return 3 * issue_block + 2 * record


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
    network_precincts: int | None = None
    peer_ballots: int | None = None

    def __post_init__(self) -> None:
        unknown = set(self.only) - set(BENCHMARKS)
        if unknown:
            raise BenchConfigError(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(BENCHMARKS)}")
        for name in ("runs", "apdus", "casts", "seals", "voters", "close_ballots", "commission_precincts", "network_precincts",
                     "peer_ballots"):
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
         "close_ballots": 3000, "commission_precincts": 200, "network_precincts": 10_060, "peer_ballots": 10}
_QUICK = {"runs": 2, "apdus": 100, "casts": 10, "seals": 30, "voters": 3,
          "close_ballots": 20, "commission_precincts": 20, "network_precincts": 30, "peer_ballots": 2}


@dataclass(frozen=True)
class Mark:
    """A figure's floor (what cannot be beaten) and/or goal (what it should reach),
    and where they come from. `higher_is_better` for ratios against a peer."""

    floor: float | None = None
    goal: float | None = None
    basis: str = ""
    higher_is_better: bool = False


@dataclass(frozen=True)
class Figure:
    """One measured figure: median and 95th percentile of `samples` samples,
    beside its floor and/or goal."""

    key: str
    label: str
    unit: str
    median: float
    p95: float
    samples: int
    over: str  # "operations", "runs", "voters", "ballots"
    floor: float | None = None
    goal: float | None = None
    basis: str = ""
    higher_is_better: bool = False

    @property
    def meets_goal(self) -> bool | None:
        if self.goal is None:
            return None
        return self.median >= self.goal if self.higher_is_better else self.median <= self.goal


@dataclass
class BenchReport:
    config: BenchConfig
    figures: list[Figure] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    details: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, key: str, label: str, unit: str, samples: Iterable[float], over: str, mark: Mark) -> Figure:
        values = sorted(samples)
        if not values:
            raise ValueError(f"figure {key} has no samples")
        return self.add_summary(key, label, unit, statistics.median(values), percentile(values, 95), len(values),
                                over, mark)

    def add_summary(self, key: str, label: str, unit: str, median: float, p95: float, samples: int, over: str,
                    mark: Mark) -> Figure:
        """A figure whose median/p95 a component's own bench function computed."""
        if mark.floor is None and mark.goal is None and not mark.basis:
            raise ValueError(f"figure {key} needs a floor or a goal (or says why it has none)")
        figure = Figure(key, label, unit, median, p95, samples, over, mark.floor, mark.goal, mark.basis,
                        mark.higher_is_better)
        self.figures.append(figure)
        return figure

    def median_of(self, key: str) -> float | None:
        """The median of a figure measured earlier in this run, if it was."""
        return next((f.median for f in self.figures if f.key == key), None)

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
            "figures": {f.key: {**{k: v for k, v in asdict(f).items() if k != "key"}, "meets_goal": f.meets_goal}
                        for f in self.figures},
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

_SELECT_GOAL = wire_ms(SELECT_EXCHANGE_BYTES, 1, 9600) / 100
_WRITE_BALLOT_9600 = wire_ms(5 + 150 + 1 + 8 + 2, 1, 9600)


def bench_card(config: BenchConfig, report: BenchReport) -> None:
    from sailau.simulator import bench_card as card

    n = config.size("apdus")
    goal = Mark(goal=_SELECT_GOAL, basis="1 % of a real card's 9,600 bit/s SELECT exchange (28 bytes + T=1 framing)")
    rt = card.bench_in_process(n)
    report.add_summary("card.apdu.in_process", "APDU round trip, in-process", "ms", rt.median_ms, rt.p95_ms, n,
                       "operations", goal)
    key = "card.apdu.pcsc"
    if not config.pcsc:
        report.unavailable[key] = "not measured: disabled (--no-pcsc)"
        return
    from sailau.simulator.pcsc_lease import LeaseTimeout, SlotBusyError, pcscd_lease, reader_slot
    from sailau.simulator.vpcd import PcscdError
    from sailau.smartcard.errors import CardError

    try:
        with pcscd_lease(), reader_slot(35963) as slot:
            rt_pcsc = card.bench_pcsc(n, port=slot.port)
    except (PcscdError, LeaseTimeout, SlotBusyError, CardError, TimeoutError) as exc:
        report.unavailable[key] = f"not measured: pcscd + vpcd unavailable ({exc})"
        return
    report.add_summary(key, "APDU round trip, pcscd + vpcd", "ms", rt_pcsc.median_ms, rt_pcsc.p95_ms, n,
                       "operations", Mark(floor=rt.median_ms, goal=_SELECT_GOAL,
                                          basis="floor: the in-process round trip; " + goal.basis))


def _cast_figures(report: BenchReport, backend: str, name: str, figures) -> None:  # noqa: ANN001 (CastFigures)
    n = figures.casts
    commit = statistics.median(figures.commit_ms)
    report.add(f"cast.{backend}.commit", f"bare durable commit (200-byte row), {name}", "ms", figures.commit_ms,
               "operations", Mark(basis="the floor of the cast path: one durable commit on the same database, "
                                        "measured right after each cast"))
    report.add_summary(f"cast.{backend}", f"ballot-box cast path, {name}", "ms", figures.median_ms, figures.p95_ms, n,
                       "operations", Mark(floor=commit, goal=GOAL_CAST_MS,
                                          basis="floor: the bare durable commit; goal: the issue's 1 ms"))
    report.add(f"cast.{backend}.ratio", f"cast path / bare commit, {name}", "x", figures.ratios, "operations",
               Mark(floor=1.0, goal=GOAL_CAST_RATIO, basis="goal: the issue's 8x (it was 40x)"))


def bench_cast(config: BenchConfig, report: BenchReport) -> None:
    from sailau.simulator import booth_rig as station_bench
    from sailau.simulator.card_app import VirtualBallotCard

    def new_card(master_key: bytes) -> VirtualBallotCard:
        return VirtualBallotCard(master_key=master_key)

    n = config.size("casts")
    _cast_figures(report, "sqlite", "SQLite", station_bench.bench_cast(new_card, db_url=None, casts=n))
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
    _cast_figures(report, "postgresql", "PostgreSQL", pg)


_SEAL_GOAL = Mark(goal=_WRITE_BALLOT_9600 / 10,
                  basis="our goal: a tenth of the WRITE BALLOT's own wire time at 9,600 bit/s")


def bench_seal(config: BenchConfig, report: BenchReport) -> None:
    """The terminal's own steps of `TerminalSession.cast` before the card write."""
    from sailau.simulator.booth_rig import Rig
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
    report.add("terminal.seal_sign", "terminal seal + sign", "ms", times, "operations", _SEAL_GOAL)


def bench_io(config: BenchConfig, report: BenchReport) -> None:
    """Whole voters through the real station and terminal session over one
    in-process card, counting every APDU and byte each side sends."""
    from sailau.simulator.booth_rig import Rig
    from sailau.ballot_box.db import open_station_db
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.smartcard.client import BallotCardClient, IoStats
    from sailau.smartcard.transport import InProcessTransport
    from sailau.terminal.session import CastOutcome, CardCheck, TerminalConfig, TerminalSession

    from sailau.election.record import ISSUE_BLOCK_LEN, record_length

    voters = config.size("voters")
    rig = Rig.create(voters=voters)
    record = record_length(rig.election.plaintext_length)
    payload = payload_bytes_per_voter(ISSUE_BLOCK_LEN, record)
    steps: dict[str, list[IoStats]] = {"issue": [], "terminal": [], "cast": []}
    per_voter_apdus, per_voter_bytes, write_ms = [], [], []
    wire: dict[int, list[float]] = {rate: [] for rate in RATES}
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
            apdus, total = sum(s.apdus for s in trio), sum(s.total_bytes for s in trio)
            per_voter_apdus.append(apdus)
            per_voter_bytes.append(total)
            for rate in RATES:
                wire[rate].append(wire_ms(total, apdus, rate))
    report.add("io.apdus_per_voter", "APDUs per voter (issue + vote + cast)", "APDUs", per_voter_apdus, "voters",
               Mark(goal=GOAL_APDUS_PER_VOTER, basis="goal: the issue's 8 APDUs (16 in protocol v1)"))
    report.add("io.bytes_per_voter", "bytes per voter on the wire", "bytes", per_voter_bytes, "voters",
               Mark(floor=payload, goal=GOAL_BYTES_PER_VOTER,
                    basis=f"floor: the {ISSUE_BLOCK_LEN}-byte issue block written and read by the booth, the "
                          f"{record}-byte record written, both read by the box; goal: the issue's 600 at a "
                          "150-byte record"))
    for rate in RATES:
        report.add(f"io.wire_ms_{rate}", f"est. wire time per voter at {rate:,} bit/s", "ms", wire[rate], "voters",
                   Mark(floor=payload * ETU_PER_BYTE / rate * 1000,
                        goal=wire_ms(GOAL_BYTES_PER_VOTER, GOAL_APDUS_PER_VOTER, rate),
                        basis="floor: the payload alone; goal: 600 bytes in 8 APDUs with T=1 framing"))
    report.details["io_sizes"] = {"issue_block": ISSUE_BLOCK_LEN, "record": record, "payload_per_voter": payload}
    seal = report.median_of("terminal.seal_sign")
    report.add("terminal.write", "terminal seal + WRITE BALLOT (digest checked)", "ms", write_ms, "voters",
               Mark(floor=seal, goal=_SEAL_GOAL.goal,
                    basis=("floor: seal + sign alone, this run; " if seal is not None else "") + _SEAL_GOAL.basis))
    report.details["io_per_step"] = {
        name: {"apdus": statistics.median(s.apdus for s in stats),
               "bytes_sent": statistics.median(s.bytes_sent for s in stats),
               "bytes_received": statistics.median(s.bytes_received for s in stats)}
        for name, stats in steps.items()
    }


def bench_close(config: BenchConfig, report: BenchReport) -> None:
    from sailau.simulator import booth_rig as station_bench

    ballots = config.size("close_ballots")
    runs = [station_bench.bench_close(ballots) for _ in range(config.size("runs"))]
    goal = ballots * CLOSE_GOAL_SECONDS_PER_BALLOT
    basis = "our goal: a minute at a 3,000-voter precinct, pro rata"
    report.add("close.total", f"close of polls, {ballots:,} ballots", "s", [r.seconds for r in runs], "runs",
               Mark(goal=goal, basis=basis))
    report.add("close.decrypt_tally", "  of which decrypt + tally", "s", [r.decrypt_tally_seconds for r in runs], "runs",
               Mark(goal=goal, basis="part of close.total (its goal)"))
    report.add("close.outputs", "  of which sign + JSON/NIST/PDF/receipts", "s", [r.outputs_seconds for r in runs],
               "runs", Mark(goal=goal, basis="part of close.total (its goal)"))
    report.details["close_pdf_bytes"] = runs[-1].pdf_bytes


def bench_commission(config: BenchConfig, report: BenchReport) -> None:
    from sailau.commission.bench import run_commission_bench

    precincts = config.size("commission_precincts")
    runs = []
    for _ in range(config.size("runs")):
        with tempfile.TemporaryDirectory(prefix="sailau-bench-commission-") as tmp:
            runs.append(run_commission_bench(f"sqlite:///{Path(tmp) / 'commission.db'}", precincts))
    basis = "our goal: all 10,060 precincts of 2021 in ten minutes"
    report.add("commission.import", f"commission import, {precincts:,} protocols (SQLite)", "s",
               [r.import_s for r in runs], "runs",
               Mark(goal=precincts * COMMISSION_GOAL_MS_PER_PROTOCOL / 1000, basis=basis))
    report.add("commission.import_per_protocol", "  per protocol", "ms",
               [r.import_s / precincts * 1000 for r in runs], "runs",
               Mark(goal=COMMISSION_GOAL_MS_PER_PROTOCOL, basis=basis))
    report.details["commission_seats"] = runs[-1].seats


#: issue 15: every precinct's protocol in ten seconds, at the 2021 election's 10,060 precincts
NETWORK_GOAL_PROTOCOLS_PER_S = 1000.0


def bench_network(config: BenchConfig, report: BenchReport) -> None:
    """N precincts submit their protocols and six turnout reports each, concurrently,
    over loopback, to one commission server process (commission/netbench.py), on
    PostgreSQL (SQLite with --no-postgres); the API's national result must equal
    `commission report` over the same files."""
    from sailau.commission.netbench import run_network_bench

    n = config.size("network_precincts")
    backend = "SQLite"
    with tempfile.TemporaryDirectory(prefix="sailau-bench-network-") as tmp:
        if config.postgres:
            from sqlalchemy.exc import OperationalError

            from sailau.simulator.local_postgres import PostgresUnavailable, fresh_database, local_server_url

            try:
                server = config.pg_url or local_server_url()
                with fresh_database(server) as url:
                    run = run_network_bench(url, n, workdir=Path(tmp) / "work")
                backend = "PostgreSQL"
            except (PostgresUnavailable, OperationalError) as exc:
                report.unavailable["network"] = f"not measured: no PostgreSQL server could be had ({exc})"
                return
        else:
            run = run_network_bench(f"sqlite:///{Path(tmp) / 'commission.db'}", n, workdir=Path(tmp) / "work")
    files = n + run.turnout_reports
    report.add("network.protocols_per_s", f"network ingest, {n:,} protocols over loopback ({backend})", "protocols/s",
               [run.protocols_per_s], "runs",
               Mark(goal=NETWORK_GOAL_PROTOCOLS_PER_S, basis="issue 15: 1,000 protocols/s on a 2-core machine",
                    higher_is_better=True))
    report.add("network.files_per_s", f"  all {files:,} files (protocols + 6 turnout reports each)", "files/s",
               [run.files_per_s], "runs", Mark(basis="server and load generator share the cores"))
    report.add("network.complete_result", "  first request to the complete national result", "s",
               [run.complete_result_s], "runs", Mark(goal=n / NETWORK_GOAL_PROTOCOLS_PER_S + 1,
                                                     basis="the protocols at the goal rate, plus a second"))
    report.add("network.server_cpu_per_file", "  server CPU per file", "ms", [run.server_cpu_ms_per_file], "runs",
               Mark(basis="what the server alone spends: 1,000 / this = files/s on one free core"))
    report.details["network"] = run.as_dict()


def bench_peer(config: BenchConfig, report: BenchReport) -> None:
    from sailau.simulator.booth_rig import Rig
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
    peer_basis = Mark(basis="the peer's own figure: compared against, not a goal of ours")
    faster = Mark(goal=1.0, higher_is_better=True, basis="goal: Sailau no slower than the peer (ratio >= 1)")
    report.add_summary("peer.sailau.encrypt", "Sailau encrypt (seal + sign) per ballot", "ms",
                       last.sailau_encrypt.median_ms, last.sailau_encrypt.p95_ms, n, "ballots", _SEAL_GOAL)
    report.add_summary("peer.electionguard.encrypt", "ElectionGuard encrypt + proofs per ballot", "ms",
                       last.peer_encrypt.median_ms, last.peer_encrypt.p95_ms, n, "ballots", peer_basis)
    report.add("peer.ratio.encrypt", "ElectionGuard / Sailau, encrypt", "x", [c.encrypt_ratio for c in comparisons],
               "runs", faster)
    report.add("peer.sailau.tally", f"Sailau open + count {n} ballots", "ms",
               [c.sailau_tally_s * 1000 for c in comparisons], "runs",
               Mark(goal=n * CLOSE_GOAL_SECONDS_PER_BALLOT * 1000, basis="the close-of-polls goal, pro rata"))
    report.add("peer.electionguard.tally", f"ElectionGuard tally + decrypt {n} ballots", "ms",
               [c.peer_tally_s * 1000 for c in comparisons], "runs", peer_basis)
    report.add("peer.ratio.tally", "ElectionGuard / Sailau, tally", "x", [c.tally_ratio for c in comparisons], "runs",
               faster)
    report.details["peer"] = {"package": "electionguard 1.4.0", "selections_per_ballot": last.selections_per_ballot,
                              "counts_agree": True}


RUNNERS: dict[str, Callable[[BenchConfig, BenchReport], None]] = {
    "card": bench_card, "cast": bench_cast, "seal": bench_seal, "io": bench_io,
    "close": bench_close, "commission": bench_commission, "network": bench_network, "peer": bench_peer,
}

LABELS = {
    "card": "APDU round trips", "cast": "cast path", "seal": "terminal seal + sign", "io": "voters over a card",
    "close": "close of polls", "commission": "commission import", "network": "commission server over loopback",
    "peer": "ElectionGuard peer",
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


def _mark(f: Figure) -> str:
    parts = []
    if f.floor is not None:
        parts.append(f"floor {_fmt(f.floor, f.unit)}")
    if f.goal is not None:
        sign = ">=" if f.higher_is_better else "<="
        met = f.meets_goal
        parts.append(f"goal {sign} {_fmt(f.goal, f.unit)}" + ("" if met else " [red](missed)[/]"))
    return " · ".join(parts) or f"[dim]{f.basis}[/]"


def render_table(report: BenchReport):  # noqa: ANN201 (rich renderable)
    from rich.table import Table

    mode = "quick" if report.config.quick else "full"
    table = Table(title=f"sailau bench ({mode}, {report.seconds:.0f} s)", title_justify="left")
    table.add_column("figure")
    table.add_column("median", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("unit")
    table.add_column("floor / goal")
    table.add_column("over", justify="right")
    for f in report.figures:
        table.add_row(f.label, _fmt(f.median, f.unit), _fmt(f.p95, f.unit), "" if f.unit == "x" else f.unit,
                      _mark(f), f"{f.samples:,} {f.over}")
    for key, reason in report.unavailable.items():
        table.add_row(f"[yellow]{key}[/]", "-", "-", "", "", f"[yellow]{reason}[/]")
    return table
