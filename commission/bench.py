"""Commission benchmark: synthesize, import and report a national election.

`run_commission_bench(db_url, precincts=10_060)` times, on the database given
(an empty PostgreSQL database is the case that matters; SQLite works too):

1. synth: N signed protocols from the 2021 region table (`examples/`), with their
   receipt lists; under 10,060 precincts the table is scaled to N/10,060 of the
   votes, so a precinct holds the ballots of a real one (about 730) whatever N,
2. import: every file checked (signature, station key, relations) and stored,
   and every receipt list hashed against its protocol's commitment,
3. re-import: the same files again (idempotent: all unchanged),
4. report national and by region (SQL GROUP BY + seat allocation),
5. verify: the observer's full recomputation from the files, compared with the
   official report.

`sailau bench` calls this; it returns figures, it asserts nothing about speed.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from sailau.election.definition import load_election

from .db import open_commission_db
from .importer import import_protocols
from .registry import load_registry
from .report import commission_report
from .synth import read_table, synthesize
from .verify import verify_published

EXAMPLE_TABLE = Path(__file__).with_name("examples") / "majilis-2021-regions.csv"
NATIONAL_PRECINCTS = 10_060  # the 2021 election's precincts: the table's votes spread over them


class BenchError(RuntimeError):
    """The benchmark run did not produce the expected result (it is then not a measurement)."""


@dataclass(frozen=True)
class CommissionBench:
    precincts: int
    backend: str
    synth_s: float
    import_s: float
    reimport_s: float
    report_national_s: float
    report_region_s: float
    verify_s: float
    seats: dict[str, int]

    @property
    def import_per_s(self) -> float:
        return self.precincts / self.import_s

    def as_dict(self) -> dict:
        return {**asdict(self), "import_protocols_per_s": round(self.import_per_s, 1)}


def run_commission_bench(
    db_url: str, precincts: int = 10_060, seed: int = 2021, table: str | Path = EXAMPLE_TABLE, workdir: str | Path | None = None
) -> CommissionBench:
    """Run the commission pipeline once on `db_url` (an empty database) and time each step."""
    with tempfile.TemporaryDirectory(prefix="sailau-commission-bench-") as tmp:
        out = Path(workdir) if workdir is not None else Path(tmp) / "published"
        t0 = time.perf_counter()
        votes = read_table(table)
        if precincts < NATIONAL_PRECINCTS:
            votes = votes.scaled(precincts, NATIONAL_PRECINCTS)
        synthesize(votes, precincts, seed, out)
        t1 = time.perf_counter()
        with open_commission_db(db_url) as db:
            election = load_election(out / "election.json")
            registry = load_registry(out / "stations.json", election)
            t2 = time.perf_counter()
            first = import_protocols(db, [out], election=election, registry=registry)
            t3 = time.perf_counter()
            again = import_protocols(db, [out])
            t4 = time.perf_counter()
            national = commission_report(db, "national")
            t5 = time.perf_counter()
            commission_report(db, "region")
            t6 = time.perf_counter()
            backend = db.dialect
        if first.refused or len(first.imported) != precincts or len(again.unchanged) != precincts:
            raise BenchError(f"import did not take every protocol once: {len(first.imported)} imported, {len(first.refused)} refused")
        t7 = time.perf_counter()
        checked = verify_published(out, national)
        t8 = time.perf_counter()
        if not checked.ok:
            raise BenchError(f"the verifier disagrees with the commission: {checked.findings[:3]}")
    return CommissionBench(
        precincts=precincts,
        backend=backend,
        synth_s=t1 - t0,
        import_s=t3 - t2,
        reimport_s=t4 - t3,
        report_national_s=t5 - t4,
        report_region_s=t6 - t5,
        verify_s=t8 - t7,
        seats=dict(national["seats"]),
    )
