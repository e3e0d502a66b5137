"""Forwarding every accepted signed file, unchanged, to the next commission up
(territorial -> regional -> CEC), so the CEC holds every original signature.

The outbox is the database itself: every valid signed file a commission stores
is a row of `protocol_versions`, `turnout_versions` or `cosignatures` (members'
co-signatures; a protocol held for them is no version and waits here until its
majority arrives), and it stays "to send"
until `upstream_forwarded` records the upstream's definite answer for its digest.
So nothing accepted here is lost when the upstream is down or this server
crashes: after a restart the forwarder finds the same rows unsent and sends them
again, and the upstream, idempotent, answers "unchanged" for any it already had.

A definite answer is any JSON answer from the upstream's submit endpoints
(accepted, unchanged, conflict, refused: the upstream checked the file itself);
it is recorded and never retried. No answer (connection refused, a timeout, a
5xx) is retried with bounded exponential backoff (1 s doubling to 60 s).
Conflicts and versions both travel: the upstream decides as every level does.
Co-signatures are sent before protocols (first the batch's co-signatures, then
the rest), so the upstream decides a protocol with its co-signatures at once
rather than holding it as pending for a moment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from anyio import to_thread
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from . import models
from .db import CommissionDB
from .tasks import cancel_and_wait

log = logging.getLogger("sailau.commission.upstream")

PROTOCOLS_PATH = "/api/protocols"
TURNOUT_PATH = "/api/turnout"
COSIGNATURES_PATH = "/api/cosignatures"
PATHS = {"protocol": PROTOCOLS_PATH, "turnout": TURNOUT_PATH, "cosignature": COSIGNATURES_PATH}
MAX_BACKOFF = 60.0
BATCH = 200


@dataclass(frozen=True)
class Pending:
    digest: str
    kind: str  # "cosignature" | "protocol" | "turnout"
    signed: bytes


def pending(db: CommissionDB, limit: int = BATCH) -> list[Pending]:
    """Stored signed files the upstream has not answered yet (co-signatures first)."""
    F = models.upstream_forwarded
    out: list[Pending] = []
    with db.begin() as conn:
        for kind, table in (("cosignature", models.cosignatures), ("protocol", models.protocol_versions),
                            ("turnout", models.turnout_versions)):
            q = (select(table.c.digest, table.c.signed)
                 .where(table.c.digest.not_in(select(F.c.digest))).limit(limit - len(out)))
            out.extend(Pending(d, kind, bytes(s)) for d, s in conn.execute(q))
            if len(out) >= limit:
                break
    return out


def record(db: CommissionDB, answers: Sequence[tuple[Pending, str, str]]) -> None:
    """Record the upstream's answers; one another worker of this server recorded
    meanwhile is left as it is (the upstream said the same to both)."""
    if not answers:
        return
    try:
        _record(db, answers)
    except IntegrityError:
        _record(db, answers)


def _record(db: CommissionDB, answers: Sequence[tuple[Pending, str, str]]) -> None:
    with db.begin() as conn:
        known = {d for (d,) in conn.execute(select(models.upstream_forwarded.c.digest).where(
            models.upstream_forwarded.c.digest.in_([p.digest for p, _, _ in answers])))}
        rows = [{"digest": p.digest, "kind": p.kind, "answer": status, "message": message[:2000]}
                for p, status, message in answers if p.digest not in known]
        if rows:
            conn.execute(insert(models.upstream_forwarded), rows)


class Forwarder:
    """The background task that empties the outbox into `upstream` (a base URL)."""

    def __init__(self, db: CommissionDB, upstream: str, *, concurrency: int = 8, timeout: float = 30.0):
        self.db = db
        self.upstream = upstream.rstrip("/")
        self.concurrency = concurrency
        self.timeout = timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.backoff = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    def wake(self) -> None:
        """Something new is stored (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while True:
                batch = await to_thread.run_sync(pending, self.db)
                if not batch:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=30)
                    except asyncio.TimeoutError:
                        pass
                    continue
                answers, failed = await self._send_all(client, batch)
                await to_thread.run_sync(record, self.db, answers)
                if failed:
                    self.backoff = min(MAX_BACKOFF, max(1.0, self.backoff * 2))
                    log.warning("upstream %s: %d files not delivered (%s); retrying in %.0f s",
                                self.upstream, len(failed), failed[0], self.backoff)
                    await asyncio.sleep(self.backoff)
                else:
                    self.backoff = 0.0

    async def _send_all(self, client: httpx.AsyncClient, batch: list[Pending]) -> tuple[list[tuple[Pending, str, str]], list[str]]:
        sem = asyncio.Semaphore(self.concurrency)
        answers: list[tuple[Pending, str, str]] = []
        failed: list[str] = []

        async def one(p: Pending) -> None:
            path = PATHS[p.kind]
            async with sem:
                try:
                    r = await client.post(self.upstream + path, content=p.signed, headers={"content-type": "application/json"})
                except httpx.HTTPError as e:
                    failed.append(f"{type(e).__name__}: {e}")
                    return
            if r.status_code >= 500:
                failed.append(f"HTTP {r.status_code}")
                return
            try:
                data = r.json()
                status, message = str(data["status"]), str(data.get("message", ""))
            except (ValueError, KeyError, TypeError):
                failed.append(f"HTTP {r.status_code} without a Sailau answer")
                return
            if status == "refused":
                log.warning("upstream refused a %s file (sha256 %s): %s (%s)", p.kind, p.digest[:16], data.get("reason"), message)
            answers.append((p, status, message))

        # co-signatures first: the upstream then finds them when their protocol arrives
        await asyncio.gather(*(one(p) for p in batch if p.kind == "cosignature"))
        await asyncio.gather(*(one(p) for p in batch if p.kind != "cosignature"))
        return answers, failed
