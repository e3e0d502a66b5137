"""Importing signed precinct protocols into the commission database.

Each file is checked (`checks.check_protocol_path`: size, depth and count bounds,
canonical form, election, enrolled station key for that precinct, signature,
control relations) before anything is written, so a refused file never reaches
a transaction: one bad file cannot roll back the chunk it would have been in,
and every count written fits the database (`protocol.MAX_PRECINCT_COUNT`). Then, per precinct:

- not in the database yet: imported;
- in the database with the same file bytes (SHA-256): unchanged (re-import is
  idempotent: the same files can be imported again after a crash or twice by two
  operators);
- in the database with other bytes: refused, `conflict` (a resubmission that
  contradicts what was imported; a correction needs a recount procedure, not an
  overwrite);
- twice in one import with other bytes: the first is kept, the next refused,
  `duplicate`.

Scale: files are checked and written in chunks (default 500), one transaction per
chunk: one SELECT for the chunk's precincts already present, then one multi-row
INSERT per table (SQLAlchemy's insertmanyvalues), never a round trip per row.
A chunk that loses a race with a concurrent importer (primary key violation) is
rolled back and decided again against what that importer committed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from sailau.election.definition import Election

from . import models
from .checks import CheckedProtocol, Reason, Refusal, check_protocol_path
from .db import CommissionDB
from .registry import StationRegistry

DEFAULT_CHUNK = 500


@dataclass
class ImportSummary:
    imported: list[int] = field(default_factory=list)  # precincts newly stored
    unchanged: list[int] = field(default_factory=list)  # identical files already stored
    refused: list[Refusal] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused


def protocol_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for its `protocols/*.json` (a published
    set) or else its own `*.json` files, sorted by name."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            sub = p / "protocols"
            out.extend(sorted((sub if sub.is_dir() else p).glob("*.json")))
        else:
            out.append(p)
    return out


def _rows(c: CheckedProtocol) -> tuple[dict, list[dict], list[dict]]:
    p = c.protocol
    prot = {
        "precinct": p.precinct,
        "region": p.region,
        "district": p.district,
        "station_key_id": c.signed.station_key_id.hex(),
        "digest": c.digest,
        "voters_on_list": p.voters_on_list,
        "voters_checked_in": p.voters_checked_in,
        "cards_issued": p.cards_issued,
        "ballots_cast": p.ballots_cast,
        "cards_cancelled": p.cards_cancelled,
        "cards_replaced": p.cards_replaced,
        "cards_not_returned": p.cards_not_returned,
        "signed": c.raw,
    }
    contests = [
        {"precinct": p.precinct, "contest_id": r.contest_id, "against_all": r.against_all, "blank": r.blank, "invalid": r.invalid, "ballots": p.ballots_cast}
        for r in p.contests
    ]
    options = [
        {"precinct": p.precinct, "contest_id": r.contest_id, "option_id": oid, "votes": n}
        for r in p.contests
        for oid, n in r.votes.items()
    ]
    return prot, contests, options


class _Importer:
    def __init__(self, db: CommissionDB, election: Election, registry: StationRegistry):
        self.db = db
        self.election = election
        self.registry = registry
        self.summary = ImportSummary()
        self.seen: dict[int, str] = {}  # precinct -> digest accepted in this run

    def check(self, path: Path) -> CheckedProtocol | None:
        result = check_protocol_path(path, self.election, self.registry)
        if isinstance(result, Refusal):
            self.summary.refused.append(result)
            return None
        n = result.protocol.precinct
        earlier = self.seen.get(n)
        if earlier is not None:
            if earlier == result.digest:
                self.summary.unchanged.append(n)
            else:
                self.summary.refused.append(
                    Refusal(str(path), n, Reason.DUPLICATE, f"a different protocol for precinct {n} came earlier in this import")
                )
            return None
        self.seen[n] = result.digest
        return result

    def write(self, chunk: Sequence[CheckedProtocol]) -> None:
        if not chunk:
            return
        for attempt in (1, 2):
            try:
                self._write_once(chunk)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _write_once(self, chunk: Sequence[CheckedProtocol]) -> None:
        imported: list[int] = []
        unchanged: list[int] = []
        refused: list[Refusal] = []
        with self.db.begin() as conn:
            numbers = [c.protocol.precinct for c in chunk]
            stored = dict(
                conn.execute(
                    select(models.protocols.c.precinct, models.protocols.c.digest).where(models.protocols.c.precinct.in_(numbers))
                ).all()
            )
            prot_rows: list[dict] = []
            contest_rows: list[dict] = []
            option_rows: list[dict] = []
            for c in chunk:
                n = c.protocol.precinct
                if n in stored:
                    if stored[n] == c.digest:
                        unchanged.append(n)
                    else:
                        refused.append(
                            Refusal(c.source, n, Reason.CONFLICT, f"precinct {n} was already imported from another protocol (sha256 {stored[n][:16]}...)")
                        )
                    continue
                prot, contests, options = _rows(c)
                prot_rows.append(prot)
                contest_rows.extend(contests)
                option_rows.extend(options)
                imported.append(n)
            if prot_rows:
                conn.execute(insert(models.protocols), prot_rows)
                conn.execute(insert(models.contest_results), contest_rows)
                conn.execute(insert(models.option_votes), option_rows)
        self.summary.imported.extend(imported)
        self.summary.unchanged.extend(unchanged)
        self.summary.refused.extend(refused)


def import_protocols(
    db: CommissionDB,
    paths: Iterable[str | Path],
    *,
    election: Election | None = None,
    registry: StationRegistry | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Check and store signed protocol files; see the module docstring.

    `election` and `registry` are required on the first import into a database
    (they are stored), optional afterwards (they must then match). `progress` is
    called with the number of files handled after each chunk.
    """
    election, registry = db.bind_election(election, registry)
    importer = _Importer(db, election, registry)
    chunk: list[CheckedProtocol] = []
    handled = 0
    for path in protocol_files(paths):
        checked = importer.check(path)
        handled += 1
        if checked is not None:
            chunk.append(checked)
        if handled % chunk_size == 0:
            importer.write(chunk)
            chunk = []
            if progress:
                progress(handled)
    importer.write(chunk)
    if progress:
        progress(handled)
    return importer.summary
