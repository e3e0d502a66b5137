"""Importing signed precinct protocols (and the commission's conflict decisions)
into the commission database, and checking the receipt lists that come with them.

Each protocol file is checked (`checks.check_protocol_path`: size, depth and
count bounds, canonical form, election, station key enrolled for that precinct
in the root-signed registry, signature, control relations) before anything is
written, so a refused file never reaches a transaction: one bad file cannot roll
back the chunk it would have been in, and every count written fits the database
(`protocol.MAX_PRECINCT_COUNT`). A file that passes is kept as a *version* of
its precinct (`protocol_versions`, by SHA-256 of its bytes; the same bytes again
are `unchanged`, so re-import is idempotent). Which version counts is then
decided by the one rule of `conflicts.decide_precinct` over all versions and
decisions stored for the precinct, the same function `sailau verify` applies to
a published set:

- one version, no decision: it counts (`imported`);
- two or more different versions: a **conflict**, none counts, and a precinct
  that counted before stops counting (`withdrawn`) until
- a signed decision (`decisions/*.json`, `--decision`) that considered every
  version names the one that counts (`resolved`).

Nothing depends on file names, their order or chunk boundaries: the outcome is a
function of the stored sets, recomputed for every precinct a chunk touches.

Commission members' co-signatures (`*.cosig` beside the protocols or in a
published set's cosignatures/; cosignatures.py) are read first and handed to
each protocol's check by the SHA-256 they name: where the registry enrols
members for a precinct, a protocol without a majority of them is **refused**
(`cosign`), not held. A refused file is no version and stores nothing, so once
the missing members co-sign, importing the same set again takes it (re-import is
idempotent); a held state would be a second kind of "counted later" that the
conflict rule and the report would have to know about. A co-signature that is
unreadable, or names no protocol accepted in the import, is refused by itself.

Receipt lists given with the protocols (a published directory's `receipts/`) are
checked against the counted protocols' commitments by `checks.check_receipt_lists`,
as the observer's verifier does; lists are not stored.

Scale: files are checked and written in chunks (default 500), one transaction per
chunk: a few SELECTs for the chunk's precincts (versions, counted, decisions),
then one multi-row INSERT per table (SQLAlchemy's insertmanyvalues), never a
round trip per file. A chunk that loses a race with a concurrent importer
(primary key violation) is rolled back and decided again against what that
importer committed. Crash ordering: a chunk's versions and counted rows commit
together or not at all, so a re-run after a crash finds either none or all of
them and decides the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from sailau.election.definition import Election
from sailau.election.protocol import PAPER_COUNTS, ContestResult, SignedProtocol
from sailau.election.receipts import ReceiptCommitment

from . import models
from .aggregate import took_part
from .checks import CheckedProtocol, ReceiptFinding, Refusal, check_protocol_path, check_receipt_lists
from .conflicts import ConflictDecision, PrecinctOutcome, PrecinctStatus, check_decision_file, check_decision_path, decide_precinct
from .cosignatures import GatheredCosignatures, cosignature_files, gather, left_over
from .db import CommissionDB, CommissionDBError
from .registry import SignedRegistry, StationRegistry
from .turnout import TurnoutOutcome, import_turnout

DEFAULT_CHUNK = 500


@dataclass
class ImportSummary:
    imported: list[int] = field(default_factory=list)  # precincts whose counted protocol this import stored
    unchanged: list[int] = field(default_factory=list)  # files identical to a version already stored
    refused: list[Refusal] = field(default_factory=list)  # files that failed a check (protocols and decisions)
    conflicts: list[PrecinctOutcome] = field(default_factory=list)  # precincts left in conflict: none of theirs counts
    resolved: list[PrecinctOutcome] = field(default_factory=list)  # conflicts a decision settled in this import
    withdrawn: list[int] = field(default_factory=list)  # counted before this import, in conflict now
    decisions: list[int] = field(default_factory=list)  # precincts of the decisions newly stored
    receipts: list[ReceiptFinding] = field(default_factory=list)  # problems of the receipt lists given
    sources: dict[str, str] = field(default_factory=dict)  # protocol digest -> a file it came from in this import
    new_versions: list[str] = field(default_factory=list)  # digests of the protocol files this import stored first
    turnout: list[TurnoutOutcome] = field(default_factory=list)  # one per valid turnout report file given

    @property
    def ok(self) -> bool:
        return not self.refused and not self.conflicts and not self.receipts and not self.turnout_conflicts

    @property
    def turnout_conflicts(self) -> list[TurnoutOutcome]:
        return [t for t in self.turnout if t.status is PrecinctStatus.CONFLICT]


@dataclass(frozen=True)
class PublishedFiles:
    protocols: tuple[Path, ...]
    decisions: tuple[Path, ...]
    receipts: tuple[Path, ...]
    turnout: tuple[Path, ...] = ()


#: How every canonical signed turnout report begins (keys sorted, "format" first).
_TURNOUT_START = b'{"format":"sailau/signed-turnout"'


def _is_turnout(path: Path) -> bool:
    """A file given by name is a turnout report when it begins like one; anything
    else goes to the protocol checks, which name what it is."""
    try:
        with open(path, "rb") as f:
            return f.read(len(_TURNOUT_START)) == _TURNOUT_START
    except OSError:
        return False


def published_files(paths: Iterable[str | Path]) -> PublishedFiles:
    """Files as given (protocols); a directory stands for its `protocols/*.json`,
    `decisions/*.json`, `receipts/*.json` and `turnout/*.json` (a published set), or,
    without a protocols/ folder, for its own `*.json` files (turnout reports among
    them told apart by their first bytes). Sorted by name only so progress reads
    naturally: no outcome depends on the order."""
    protocols: list[Path] = []
    decisions: list[Path] = []
    receipts: list[Path] = []
    turnout: list[Path] = []

    def given(p: Path) -> None:
        (turnout if p.is_file() and _is_turnout(p) else protocols).append(p)

    for p in map(Path, paths):
        if p.is_dir():
            sub = p / "protocols"
            if sub.is_dir():
                protocols.extend(sorted(sub.glob("*.json")))
            else:
                for f in sorted(p.glob("*.json")):
                    given(f)
            decisions.extend(sorted((p / "decisions").glob("*.json")))
            receipts.extend(sorted((p / "receipts").glob("*.json")))
            turnout.extend(sorted((p / "turnout").glob("*.json")))
        else:
            given(p)
    return PublishedFiles(tuple(protocols), tuple(decisions), tuple(receipts), tuple(turnout))


def protocol_files(paths: Iterable[str | Path]) -> list[Path]:
    """The protocol files `published_files` finds in `paths`."""
    return list(published_files(paths).protocols)


def _rows(p_signed: SignedProtocol, digest: str) -> tuple[dict, list[dict], list[dict]]:
    p = p_signed.protocol
    assert p.receipts is not None  # checked: a protocol without a commitment breaks `receipts:missing`
    prot = {
        "precinct": p.precinct,
        "region": p.region,
        "district": p.district,
        "station_key_id": p_signed.station_key_id.hex(),
        "digest": digest,
        "voters_on_list": p.voters_on_list,
        "voters_checked_in": p.voters_checked_in,
        "cards_issued": p.cards_issued,
        "ballots_cast": p.ballots_cast,
        "cards_cancelled": p.cards_cancelled,
        "cards_replaced": p.cards_replaced,
        "cards_not_returned": p.cards_not_returned,
        "receipts_count": p.receipts.count,
        "receipts_root": p.receipts.root,
        "voters_additional": p.voters_additional,
        "voters_paper": p.voters_paper,
        "voters_outside": p.voters_outside,
        "ballots_counted": took_part(p),
        "has_paper": p.paper is not None,
        **{f"paper_{name}": (getattr(p.paper, name) if p.paper is not None else 0) for name in PAPER_COUNTS},
    }
    paper = {c.contest_id: c for c in p.paper.contests} if p.paper is not None else {}
    none = ContestResult("none", {})
    contests = [
        {"precinct": p.precinct, "contest_id": r.contest_id, "against_all": r.against_all, "blank": r.blank, "invalid": r.invalid,
         "ballots": took_part(p), **{f"paper_{w}": getattr(paper.get(r.contest_id, none), w) for w in ("against_all", "blank", "invalid")}}
        for r in p.contests
    ]
    options = [
        {"precinct": p.precinct, "contest_id": r.contest_id, "option_id": oid, "votes": n,
         "paper_votes": paper.get(r.contest_id, none).votes.get(oid, 0)}
        for r in p.contests
        for oid, n in r.votes.items()
    ]
    return prot, contests, options


@dataclass(frozen=True)
class _Settled:
    before: str | None  # digest counted when the transaction began
    outcome: PrecinctOutcome


class _Importer:
    def __init__(self, db: CommissionDB, election: Election, registry: StationRegistry,
                 cosignatures: GatheredCosignatures | None = None):
        self.cosignatures = cosignatures
        self.db = db
        self.election = election
        self.registry = registry
        self.summary = ImportSummary()
        self.first_counted: dict[int, str | None] = {}  # precinct -> digest counted before this import touched it
        self.latest: dict[int, PrecinctOutcome] = {}  # precinct -> outcome after the last chunk that touched it

    # -- checking ---------------------------------------------------------------------------

    def check(self, path: Path) -> CheckedProtocol | None:
        result = check_protocol_path(path, self.election, self.registry,
                                     None if self.cosignatures is None else self.cosignatures.by_digest)
        if isinstance(result, Refusal):
            self.summary.refused.append(result)
            return None
        self.summary.sources.setdefault(result.digest, result.source)
        return result

    def check_decision(self, path: Path) -> ConflictDecision | None:
        result = check_decision_path(path, self.election)
        if isinstance(result, Refusal):
            self.summary.refused.append(result)
            return None
        return result

    # -- writing ----------------------------------------------------------------------------

    def write(self, chunk: Sequence[CheckedProtocol], decisions: Sequence[ConflictDecision] = ()) -> None:
        if not chunk and not decisions:
            return
        for attempt in (1, 2):
            try:
                self._write_once(chunk, decisions)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    def _write_once(self, chunk: Sequence[CheckedProtocol], decisions: Sequence[ConflictDecision]) -> None:
        """One transaction: store new versions and decisions, then settle every
        precinct they touch with `decide_precinct` and make `protocols` agree."""
        V, D, P = models.protocol_versions, models.conflict_decisions, models.protocols
        unchanged: list[int] = []
        new_decisions: list[int] = []
        settled: dict[int, _Settled] = {}
        with self.db.begin() as conn:
            numbers = sorted({c.protocol.precinct for c in chunk} | {d.precinct for d in decisions})
            versions: dict[int, set[str]] = defaultdict(set)
            for n, digest in conn.execute(select(V.c.precinct, V.c.digest).where(V.c.precinct.in_(numbers))):
                versions[int(n)].add(digest)
            stored_decisions = {digest for (digest,) in conn.execute(select(D.c.digest).where(D.c.precinct.in_(numbers)))}
            counted = {int(n): d for n, d in conn.execute(select(P.c.precinct, P.c.digest).where(P.c.precinct.in_(numbers)))}

            by_digest: dict[str, CheckedProtocol] = {}
            version_rows = []
            for c in chunk:
                n = c.protocol.precinct
                if c.digest in versions[n]:
                    unchanged.append(n)
                    continue
                versions[n].add(c.digest)
                by_digest[c.digest] = c
                version_rows.append({"precinct": n, "digest": c.digest, "station_key_id": c.signed.station_key_id.hex(), "signed": c.raw})
            decision_rows = []
            for d in decisions:
                if d.digest not in stored_decisions:
                    stored_decisions.add(d.digest)
                    decision_rows.append({"digest": d.digest, "precinct": d.precinct, "signed": d.to_canonical_json()})
                    new_decisions.append(d.precinct)
            if version_rows:
                conn.execute(insert(V), version_rows)
            if decision_rows:
                conn.execute(insert(D), decision_rows)

            known = self._decisions(conn, numbers)
            outcomes = {n: decide_precinct(n, versions[n], known.get(n, ())) for n in numbers}
            changed = [n for n in numbers if outcomes[n].counted != counted.get(n)]
            drop = [n for n in changed if n in counted]
            if drop:
                for table in (models.option_votes, models.contest_results, P):
                    conn.execute(delete(table).where(table.c.precinct.in_(drop)))
            prot_rows: list[dict] = []
            contest_rows: list[dict] = []
            option_rows: list[dict] = []
            for n in changed:
                digest = outcomes[n].counted
                if digest is None:
                    continue
                signed = by_digest[digest].signed if digest in by_digest else self._stored_version(conn, n, digest)
                prot, contests, options = _rows(signed, digest)
                prot_rows.append(prot)
                contest_rows.extend(contests)
                option_rows.extend(options)
            for table, rows in ((P, prot_rows), (models.contest_results, contest_rows), (models.option_votes, option_rows)):
                if rows:
                    conn.execute(insert(table), rows)
            for n in numbers:
                settled[n] = _Settled(counted.get(n), outcomes[n])
        # committed: only now does the summary learn what happened
        self.summary.unchanged.extend(unchanged)
        self.summary.new_versions.extend(by_digest)
        self.summary.decisions.extend(new_decisions)
        for n, s in settled.items():
            self.first_counted.setdefault(n, s.before)
            self.latest[n] = s.outcome

    def _decisions(self, conn: Connection, numbers: Sequence[int]) -> Mapping[int, list[ConflictDecision]]:
        """The stored decisions of `numbers`, checked again as they were when stored."""
        out: dict[int, list[ConflictDecision]] = defaultdict(list)
        D = models.conflict_decisions
        for n, raw in conn.execute(select(D.c.precinct, D.c.signed).where(D.c.precinct.in_(numbers))):
            decision = check_decision_file(raw, "a decision stored in the commission database", self.election)
            if isinstance(decision, Refusal):
                raise CommissionDBError(f"{decision}: the database was changed outside Sailau; rebuild it by importing the published files")
            out[int(n)].append(decision)
        return out

    @staticmethod
    def _stored_version(conn: Connection, precinct: int, digest: str) -> SignedProtocol:
        V = models.protocol_versions
        raw = conn.execute(select(V.c.signed).where(V.c.precinct == precinct, V.c.digest == digest)).scalar_one()
        return SignedProtocol.from_canonical_json(raw)

    # -- the end --------------------------------------------------------------------------

    def finish(self) -> None:
        s = self.summary
        for n in sorted(self.latest):
            outcome, before = self.latest[n], self.first_counted[n]
            if outcome.counted is not None and outcome.counted != before:
                s.imported.append(n)
                if outcome.status is PrecinctStatus.RESOLVED:
                    s.resolved.append(outcome)
            if before is not None and outcome.counted is None:
                s.withdrawn.append(n)
            if outcome.status is PrecinctStatus.CONFLICT:
                s.conflicts.append(outcome)

    def check_receipts(self, paths: Sequence[Path]) -> None:
        """The lists given, against the commitments now counted; a list is expected for
        every precinct this import touched that counts."""
        P, V = models.protocols, models.protocol_versions
        with self.db.begin() as conn:
            commitments = {
                int(n): ReceiptCommitment(int(count), root)
                for n, count, root in conn.execute(select(P.c.precinct, P.c.receipts_count, P.c.receipts_root))
            }
            unsettled = {int(n) for (n,) in conn.execute(select(V.c.precinct).distinct())} - set(commitments)
        expected = {n for n in self.latest if n in commitments}
        self.summary.receipts.extend(check_receipt_lists(paths, self.election, commitments, unsettled, expected=expected))


def import_protocols(
    db: CommissionDB,
    paths: Iterable[str | Path],
    *,
    election: Election | None = None,
    registry: SignedRegistry | None = None,
    decisions: Iterable[str | Path] = (),
    receipts: Iterable[str | Path] = (),
    chunk_size: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Check and store signed protocol files, decisions and check receipt lists; see
    the module docstring. A directory in `paths` brings its protocols/, decisions/
    and receipts/; `decisions` and `receipts` add files of those kinds.

    `election` and `registry` (verified under the election's root: `load_registry`)
    are required on the first import into a database (they are stored), optional
    afterwards (they must then match). `progress` is called with the number of
    protocol files handled after each chunk.
    """
    election, signed_registry = db.bind_election(election, registry)
    paths = list(paths)
    found = published_files(paths)
    cosigs = gather(cosignature_files(paths))
    importer = _Importer(db, election, signed_registry.registry, cosigs)

    checked_decisions = [d for d in map(importer.check_decision, [*found.decisions, *map(Path, decisions)]) if d is not None]
    importer.write((), checked_decisions)

    chunk: list[CheckedProtocol] = []
    handled = 0
    for path in found.protocols:
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
    read = [*importer.summary.sources, *(r.digest for r in importer.summary.refused if r.digest)]
    importer.summary.refused.extend([*cosigs.refused, *left_over(cosigs, read)])
    importer.finish()
    lists = [*found.receipts, *map(Path, receipts)]
    if lists:
        importer.check_receipts(lists)
    if found.turnout:
        outcomes, refused = import_turnout(db, found.turnout, election, signed_registry.registry)
        importer.summary.turnout.extend(outcomes)
        importer.summary.refused.extend(refused)
    return importer.summary
