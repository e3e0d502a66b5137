"""Network benchmark: N precincts submit their protocols and six hourly turnout
reports each, concurrently, over loopback, to one commission server.

`run_network_bench(db_url, precincts)`:

1. synth: N signed protocols (`synth.synthesize`, the 2021 table scaled as in
   commission/bench.py) and, signed with each precinct's synthetic station key,
   its six turnout reports (`synthetic_turnout`: cumulative shares of the
   voters the protocol says checked in, all of them by 20:00);
2. a real server (`sailau commission serve`, its own process, uvicorn) on the
   database given, on a free loopback port;
3. clients: `concurrency` HTTP/1.1 keep-alive connections (aiohttp, the lighter
   client: the load generator shares the cores with the server) sending every
   protocol and every turnout report, interleaved, as fast as answers come;
   every answer must be `accepted`;
4. the national result over the API, compared key by key with
   `commission_report` over the same files imported with `commission import`
   into a separate SQLite database: it must be equal (else `BenchError`).

Figures: protocols/s (protocols over the time until the last protocol was
answered), files/s overall, seconds until the API's national result was
complete and equal, and the server's own CPU seconds per file (/proc): the
server and the load generator share the machine's cores, as they would not in
the field, so files / server CPU second is what the server alone needs. It
returns figures and asserts nothing about speed.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import httpx

from sailau.election.definition import load_election
from sailau.election.protocol import SignedProtocol
from sailau.election.turnout import CEC_HOURS, make_turnout_report, sign_turnout

from .bench import EXAMPLE_TABLE, NATIONAL_PRECINCTS, BenchError
from .db import open_commission_db
from .importer import import_protocols
from .registry import load_registry
from .report import commission_report
from .synth import load_private_keys, read_table, synthesize

#: Share of the day's voters who had received a ballot by each CEC hour (cumulative; 20:00 = all).
TURNOUT_SHARES = (0.14, 0.33, 0.52, 0.70, 0.86, 1.0)


def synthetic_turnout(published: Path, out: Path) -> list[Path]:
    """Six signed turnout reports per protocol of a `commission synth` set, signed with
    its synthetic station keys (`private/station-keys.json`), written to `out`."""
    election = load_election(published / "election.json")
    keys = load_private_keys(published / "private" / "station-keys.json")
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for path in sorted((published / "protocols").glob("*.json")):
        p = SignedProtocol.from_canonical_json(path.read_bytes()).protocol
        key = keys[p.precinct]
        for hour, share in zip(CEC_HOURS, TURNOUT_SHARES):
            report = make_turnout_report(election, p.precinct, hour, int(p.voters_checked_in * share), p.voters_on_list)
            target = out / f"turnout-{p.precinct:06d}-{hour}.json"
            target.write_bytes(sign_turnout(report, key).to_canonical_json())
            paths.append(target)
    return paths


@dataclass(frozen=True)
class NetworkBench:
    precincts: int
    turnout_reports: int
    backend: str
    workers: int
    concurrency: int
    synth_s: float
    protocols_s: float  # from the first request until the last protocol was answered
    all_files_s: float  # until every file (protocols and turnout) was answered
    complete_result_s: float  # from the first request until the API's national result (complete, equal) arrived
    server_cpu_s: float  # CPU seconds the server processes spent while the files were sent
    seats: dict[str, int]

    @property
    def protocols_per_s(self) -> float:
        return self.precincts / self.protocols_s

    @property
    def files_per_s(self) -> float:
        return (self.precincts + self.turnout_reports) / self.all_files_s

    @property
    def server_cpu_ms_per_file(self) -> float:
        return 1000 * self.server_cpu_s / (self.precincts + self.turnout_reports)

    def as_dict(self) -> dict:
        return {**asdict(self), "protocols_per_s": round(self.protocols_per_s, 1), "files_per_s": round(self.files_per_s, 1),
                "server_cpu_ms_per_file": round(self.server_cpu_ms_per_file, 3)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db_url: str, setup: Path, port: int, workers: int = 1, upstream: str | None = None,
                 log: Path | None = None) -> subprocess.Popen:
    """`sailau commission serve` in its own process; returns once /healthz answers."""
    env = {**os.environ, "SAILAU_DB_URL": db_url}
    args = [sys.executable, "-m", "sailau.cli.main", "commission", "serve", "--setup", str(setup), "--port", str(port),
            "--workers", str(workers)]
    if upstream:
        args += ["--upstream", upstream]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the commission server exited with {proc.returncode}" + (f"; see {log}" if log else ""))
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise BenchError("the commission server did not answer within 60 s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, IndexError, ValueError):
            continue
    return total


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def _send(base: str, protocols: list[bytes], turnout: list[bytes], concurrency: int) -> tuple[float, float, float, dict]:
    """Every file over `concurrency` connections, all in flight together: the protocols
    first in the queue (the close of polls), the turnout reports after them. Once the
    last protocol is answered, the national result is fetched while the turnout
    reports still flow. (Seconds until the last protocol was answered, until every
    file was, until that national result arrived; the result.)"""
    jobs = [("/api/protocols", raw) for raw in protocols] + [("/api/turnout", raw) for raw in turnout]
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    left = {"protocols": len(protocols)}
    marks: dict[str, float] = {}
    bad: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"content-type": "application/json"}
    async with aiohttp.ClientSession(base, connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
        start = time.perf_counter()

        async def national() -> None:  # on a connection of its own, as an observer's browser would be
            async with aiohttp.ClientSession(base) as observer, observer.get("/api/results/national") as r:
                marks["result"] = await r.json()
            marks["result_s"] = time.perf_counter() - start

        fetch: list[asyncio.Task] = []

        async def worker() -> None:
            while not queue.empty():
                path, raw = queue.get_nowait()
                async with session.post(path, data=raw, headers=headers) as r:
                    answer = await r.json()
                if answer.get("status") != "accepted":
                    bad.append(f"{path}: {r.status} {answer}")
                if path == "/api/protocols":
                    left["protocols"] -= 1
                    if left["protocols"] == 0:
                        marks["protocols"] = time.perf_counter() - start
                        fetch.append(asyncio.create_task(national()))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        done = time.perf_counter() - start
        await asyncio.gather(*fetch)
    if bad:
        raise BenchError(f"{len(bad)} files not accepted, e.g. {bad[0]}")
    return marks["protocols"], done, marks["result_s"], marks["result"]


def run_network_bench(db_url: str, precincts: int = NATIONAL_PRECINCTS, *, seed: int = 2021, concurrency: int = 64,
                      workers: int = 1, workdir: str | Path | None = None) -> NetworkBench:
    """One run on `db_url` (an empty database); see the module docstring."""
    with tempfile.TemporaryDirectory(prefix="sailau-network-bench-") as tmp:
        out = Path(workdir) if workdir is not None else Path(tmp)
        published = out / "published"
        t0 = time.perf_counter()
        if (out / "turnout").is_dir():  # a workdir of an earlier run with the same N and seed: its files again
            turnout_paths = sorted((out / "turnout").glob("*.json"))
        else:
            votes = read_table(EXAMPLE_TABLE)
            if precincts < NATIONAL_PRECINCTS:
                votes = votes.scaled(precincts, NATIONAL_PRECINCTS)
            synthesize(votes, precincts, seed, published)
            turnout_paths = synthetic_turnout(published, out / "turnout")
        synth_s = time.perf_counter() - t0
        protocols = [p.read_bytes() for p in sorted((published / "protocols").glob("*.json"))]
        turnout = [p.read_bytes() for p in turnout_paths]

        # the reference: the same files through `commission import` into SQLite
        (out / "reference.db").unlink(missing_ok=True)
        with open_commission_db(f"sqlite:///{out / 'reference.db'}") as ref:
            election = load_election(published / "election.json")
            import_protocols(ref, [published, *turnout_paths], election=election,
                             registry=load_registry(published / "stations.json", election))
            expected = commission_report(ref, "national")

        port = free_port()
        server = start_server(db_url, published, port, workers=workers, log=out / "server.log")
        try:
            base = f"http://127.0.0.1:{port}"
            cpu0 = cpu_seconds(server.pid)
            protocols_s, all_s, complete_s, national = asyncio.run(_send(base, protocols, turnout, concurrency))
            server_cpu = cpu_seconds(server.pid) - cpu0
            if national != expected or not national.get("complete"):
                raise BenchError("the server's national result is not the import's: "
                                 + ", ".join(k for k in expected if national.get(k) != expected[k]))
        finally:
            stop_server(server)
        with open_commission_db(db_url) as db:
            backend = db.dialect
    return NetworkBench(precincts, len(turnout), backend, workers, concurrency, synth_s, protocols_s, all_s, complete_s,
                        server_cpu, dict(expected["seats"]))
