"""Taking signed files over the network: the same checks as `commission import`,
one answer per file, many files per transaction.

A submitted file is checked at once with the import's own functions
(`checks.check_protocol_file`, `turnout.check_turnout_file`: the same refusals by
the same names); a refused file never reaches the database. A file that passes
waits in a queue; one writer takes everything queued (up to `batch` files) and
stores it in one transaction with the import's own writer (`importer._Importer`,
which settles each precinct by `conflicts.decide_precinct`), so a thousand
stations submitting at once cost a few transactions, not a thousand. Each
submitter is answered only after that transaction commits: an answer
"accepted" means the file is on disk in the database.

Idempotent: the same bytes again are `unchanged` ("already have it"), whether
they were stored a second ago in the same batch or last week. A different valid
file for a precinct is kept as a version and the precinct is in `conflict`
(neither counts) until a signed decision, exactly as on import.

Members' co-signatures (`submit_cosignature`, cosignstore.py) go through the same
writer: a batch keeps its co-signatures first, then decides the protocols that
await a majority (those arriving now, and those held whose co-signatures just
came), so a protocol and its co-signatures in one batch, in any order, are decided
together. A protocol of a precinct with enrolled members and no majority yet is
`pending` (held, not a version), not refused.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread

from sailau.election.definition import Election

from . import cosignstore
from .checks import CheckedProtocol, Refusal
from .conflicts import PrecinctStatus
from .cosignstore import AwaitingMajority, CheckedCosignature
from .db import CommissionDB
from .importer import _Importer
from .registry import StationRegistry
from .tasks import cancel_and_wait
from .turnout import CheckedTurnout, check_turnout_file, store_turnout

DEFAULT_BATCH = 1000


class Status(str, enum.Enum):
    """What the commission says about one submitted file. Stable names."""

    ACCEPTED = "accepted"  # stored, and it is what counts for its precinct (and hour)
    UNCHANGED = "unchanged"  # these very bytes were stored before: already have it
    CONFLICT = "conflict"  # stored as a version, but the precinct has another valid one: neither counts
    REFUSED = "refused"  # a check failed; `reason` names it as `commission import` does
    PENDING = "pending"  # a protocol held until a majority of its commission's members co-sign (not a version yet)


@dataclass(frozen=True)
class Answer:
    status: Status
    message: str
    precinct: int | None = None
    reason: str | None = None  # the refusal name (checks.Reason) when refused
    digest: str | None = None  # SHA-256 of the file, when it was read

    @property
    def http_status(self) -> int:
        return {Status.ACCEPTED: 200, Status.UNCHANGED: 200, Status.PENDING: 202, Status.CONFLICT: 409}.get(
            self.status, 413 if self.reason == "too_large" else 422)

    def to_json(self) -> dict:
        out: dict = {"status": self.status.value, "message": self.message}
        for key in ("precinct", "reason", "digest"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def refused(r: Refusal) -> Answer:
    return Answer(Status.REFUSED, r.message, r.precinct, r.reason.value)


@dataclass
class _Item:
    checked: CheckedProtocol | AwaitingMajority | CheckedCosignature | CheckedTurnout
    done: asyncio.Future


class Ingest:
    """Checks submitted files and writes them in batches (module docstring). Create it
    inside the running event loop; `start()` the writer, `stop()` at shutdown.
    `on_stored` is called (in the writer's thread) after a batch stored new files."""

    def __init__(self, db: CommissionDB, election: Election, registry: StationRegistry, *, batch: int = DEFAULT_BATCH,
                 on_stored: Callable[[], None] | None = None):
        self.db = db
        self.election = election
        self.registry = registry
        self.batch = batch
        self.on_stored = on_stored
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._writer())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def submit_protocol(self, raw: bytes, source: str) -> Answer:
        checked = cosignstore.check_protocol_awaiting(raw, source, self.election, self.registry)
        if isinstance(checked, Refusal):
            return refused(checked)
        return await self._enqueue(checked)

    async def submit_cosignature(self, raw: bytes, source: str) -> Answer:
        checked = cosignstore.check_cosignature_file(raw, source, self.election, self.registry)
        if isinstance(checked, Refusal):
            return refused(checked)
        return await self._enqueue(checked)

    def release_ready(self) -> None:
        """Store as versions the held protocols whose majority is already kept (a crash
        between storing a released version and forgetting its held row, or two
        processes racing). Run once at start, in a worker thread."""
        self._store([], sweep=True)

    async def submit_turnout(self, raw: bytes, source: str) -> Answer:
        checked = check_turnout_file(raw, source, self.election, self.registry)
        if isinstance(checked, Refusal):
            return refused(checked)
        return await self._enqueue(checked)

    async def _enqueue(self, checked: CheckedProtocol | AwaitingMajority | CheckedCosignature | CheckedTurnout) -> Answer:
        done = asyncio.get_running_loop().create_future()
        await self._queue.put(_Item(checked, done))
        return await done

    async def _writer(self) -> None:
        while True:
            items = [await self._queue.get()]
            while len(items) < self.batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                answers = await to_thread.run_sync(self._store, [i.checked for i in items])
            except Exception as e:  # the database is down: every waiting submitter hears it, nothing is half-stored
                for item in items:
                    if not item.done.done():
                        item.done.set_exception(e)
                continue
            for item, answer in zip(items, answers):
                if not item.done.done():
                    item.done.set_result(answer)

    def _store(self, checked: list[CheckedProtocol | AwaitingMajority | CheckedCosignature | CheckedTurnout],
               *, sweep: bool = False) -> list[Answer]:
        """One batch: co-signatures kept first (cosignstore.keep), then the protocols
        awaiting a majority settled against them (held or ready), then protocols
        through the import's writer, turnout reports through `store_turnout`; an
        answer per item, in order. `sweep`: also settle every held protocol (at
        start). Runs in a worker thread."""
        index = self.registry.member_index
        cosigs = [c for c in checked if isinstance(c, CheckedCosignature)]
        awaiting = [c for c in checked if isinstance(c, AwaitingMajority)]
        protocols = [c for c in checked if isinstance(c, CheckedProtocol)]
        turnouts = [c for c in checked if isinstance(c, CheckedTurnout)]
        answers: dict[int, Answer] = {}
        stored_new = False
        kept = cosignstore.keep(self.db, cosigs) if cosigs else []
        for c, k in zip(cosigs, kept):
            if k.refusal is not None:
                answers[id(c)] = refused(k.refusal)
            stored_new = stored_new or k.new
        named = {c.cosignature.protocol_sha256 for c, k in zip(cosigs, kept) if k.refusal is None}
        candidates = [a.checked for a in awaiting] + cosignstore.held_for(self.db, named)
        if sweep:
            candidates += cosignstore.all_held(self.db)
        settled = cosignstore.settle(self.db, candidates, index)
        held = {c.digest: check for c, check in settled.held}
        released = [c for c in settled.ready if c.digest not in {a.checked.digest for a in awaiting}]
        writing = protocols + [a.checked for a in awaiting if a.checked.digest not in held] + released
        if writing:
            importer = _Importer(self.db, self.election, self.registry)
            importer.write(writing)
            cosignstore.release(self.db, [c.digest for c in settled.ready])
            new = set(importer.summary.new_versions)
            stored_new = stored_new or bool(new)
            seen: set[str] = set()
            answered = [(c, c) for c in protocols] + [(a, a.checked) for a in awaiting if a.checked.digest not in held]
            for item, c in answered:
                n = c.protocol.precinct
                outcome = importer.latest[n]
                first = c.digest in new and c.digest not in seen
                seen.add(c.digest)
                if not first:
                    status, msg = Status.UNCHANGED, f"precinct {n}: {outcome.status.value}"
                elif outcome.counted == c.digest:
                    status, msg = Status.ACCEPTED, f"precinct {n}: counted" + (
                        f" ({outcome.why})" if outcome.status is PrecinctStatus.RESOLVED else "")
                else:
                    status, msg = Status.CONFLICT, f"precinct {n}: stored, not counted: {outcome.why}"
                answers[id(item)] = Answer(status, msg, n, None, c.digest)
        for a in awaiting:
            if a.checked.digest in held:
                check = held[a.checked.digest]
                n = a.checked.protocol.precinct
                answers[id(a)] = Answer(
                    Status.PENDING, f"precinct {n}: pending co-signatures: {len(check.valid)} of the {len(check.enrolled)} "
                                    f"members enrolled co-signed, a majority is {len(check.enrolled) // 2 + 1}; "
                                    "held until the members' co-signatures arrive", n, None, a.checked.digest)
        if cosigs:
            where = cosignstore.states(self.db, named, index)
            for c, k in zip(cosigs, kept):
                if k.refusal is None:
                    what = f"precinct {c.precinct}: {c.member.role.value} {c.member.name}: " + \
                        where[c.cosignature.protocol_sha256].words()
                    answers[id(c)] = Answer(Status.ACCEPTED if k.new else Status.UNCHANGED, what, c.precinct, None, c.digest)
        if turnouts:
            for c, t in zip(turnouts, store_turnout(self.db, turnouts)):
                if t.unchanged:
                    status, msg = Status.UNCHANGED, f"precinct {t.precinct} at {t.hour}"
                elif t.status is PrecinctStatus.ACCEPTED:
                    status, msg = Status.ACCEPTED, f"precinct {t.precinct}: turnout at {t.hour} counted"
                else:
                    status, msg = Status.CONFLICT, f"precinct {t.precinct} at {t.hour}: stored, not counted: {t.why}"
                answers[id(c)] = Answer(status, msg, t.precinct, None, c.digest)
        if self.on_stored is not None and (stored_new or any(a.status in (Status.ACCEPTED, Status.CONFLICT)
                                                              for a in answers.values())):
            self.on_stored()
        return [answers[id(c)] for c in checked]
