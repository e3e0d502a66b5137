"""The commission server: stations and lower commissions submit signed files over
HTTP; anyone reads the results. Starlette on uvicorn (`sailau commission serve`).

Endpoints (JSON answers; a refusal carries the name `commission import` gives it):

- `POST /api/protocols`: one signed protocol file as the body (the exact bytes
  the ballot box wrote). `POST /api/turnout`: one signed hourly turnout report.
  Answer `{"status": "accepted"|"unchanged"|"conflict"|"refused", "message",
  "precinct", "reason", "digest"}` with HTTP 200 (accepted, unchanged), 409
  (conflict), 413 (`too_large`), 422 (any other refusal). There are no passwords:
  a file is taken when the station key the registry enrols for its precinct signed
  it, and for nothing else. Bodies are bounded before they are read
  (`MAX_SIGNED_PROTOCOL_BYTES`, `MAX_SIGNED_TURNOUT_BYTES`). Idempotent: the same
  file again is `unchanged`, so a station may retry until it hears an answer.
- `POST /api/cosignatures`: one commission member's co-signature of a protocol
  (`*.cosig`, election/cosign.py), at most `MAX_COSIGNATURE_BYTES`. Checked on
  arrival (a member of the precinct it names, its signature, role) and kept
  whether or not its protocol is here yet (cosignstore.py). Where the registry
  enrols members for a precinct, a protocol without a majority of their
  co-signatures is answered `pending` (HTTP 202: held, not a version, not
  counted) and counts as soon as the co-signatures that make the majority
  arrive; a station sends its co-signatures first, so its protocol is decided at
  once. The same co-signature again is `unchanged`; a member's second, different
  one of the same protocol file is refused (`cosign`, `cosign:duplicate_member`).
- `GET /api/results/{national|region|district}`: exactly the JSON of
  `sailau commission report --level L --json -` (commission/report.py).
- `GET /api/results/precinct/{n}`: the precinct's status and the signed protocol
  that counts (verbatim), if any.
- `GET /api/turnout`: turnout by the CEC's hours, national and by region.
- `GET /healthz`.

The results site (another module, `sailau.commission.site`) is mounted here when
it is installed: `site_routes(ctx: ServerContext) -> list[BaseRoute]`, appended
after the API routes (see `_site_routes`).

`--upstream URL` (upstream.py) forwards every file stored here, unchanged, to the
next level up, from a durable outbox (the stored versions and co-signatures
themselves; co-signatures before protocols, so the upstream decides at once too).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sailau.election.cosign import MAX_COSIGNATURE_BYTES
from sailau.election.definition import DefinitionError, Election, load_election
from sailau.election.protocol import MAX_SIGNED_PROTOCOL_BYTES
from sailau.election.turnout import MAX_SIGNED_TURNOUT_BYTES

from . import models
from .aggregate import LEVELS, LevelError
from .conflicts import decide_precinct
from .cosignstore import held_in_precinct
from .db import CommissionDB, open_commission_db
from .ingest import Answer, Ingest, Status
from .registry import RegistryError, SignedRegistry, load_registry
from .report import commission_report, report_json_bytes
from .turnout import HourTotals, turnout_by_hour, turnout_report
from .upstream import Forwarder

SITE_MODULE = "sailau.commission.site"


class SetupError(RuntimeError):
    """The set-up directory cannot be used (missing files, a registry the root did not sign)."""


@dataclass(frozen=True)
class ServerContext:
    """What the routes of this server, and the results site mounted on it, share.

    `engine` is the commission database's SQLAlchemy engine (read it through
    commission/report.py and models.py); `definition` and `registry` are the ones
    the database is bound to, the registry verified under the definition's root."""

    engine: Engine
    setup_dir: Path
    definition: Election
    registry: SignedRegistry
    db: CommissionDB = field(repr=False, compare=False, default=None)  # type: ignore[assignment]

    _turnout: list[Any] = field(default_factory=lambda: [0.0, None], repr=False, compare=False)  # [read at, report]
    _turnout_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def turnout_by_hour(self, engine: Engine, level: str, unit: str | None) -> list[HourTotals]:
        """The results site's turnout source (`commission/site/turnout.py`): the
        signed turnout reports that count, by CEC hour, for the nation or a region.
        One page asks for the nation and every region at once, so the report is
        read once and reused for `TURNOUT_FRESH_S` (as the site's own results cache)."""
        with self._turnout_lock:
            read_at, report = self._turnout
            if report is None or time.monotonic() - read_at > TURNOUT_FRESH_S:
                report = turnout_report(self.db, self.definition)
                self._turnout[:] = [time.monotonic(), report]
        return turnout_by_hour(report, level, unit)


#: how long the site's turnout figures are reused before the database is read again (seconds)
TURNOUT_FRESH_S = 2.0


def load_setup(setup_dir: Path) -> tuple[Election, SignedRegistry]:
    """`election.json` and `stations.json` of DIR, as `commission synth` and the publication write them."""
    election_path, registry_path = setup_dir / "election.json", setup_dir / "stations.json"
    for p in (election_path, registry_path):
        if not p.is_file():
            raise SetupError(f"{setup_dir} holds no {p.name}: give the directory `sailau commission synth` or the publication wrote")
    try:
        election = load_election(election_path)
        return election, load_registry(registry_path, election)
    except DefinitionError as e:
        raise SetupError(f"{election_path}: {e}") from None
    except RegistryError as e:
        raise SetupError(f"refused ({e.name}): {e}") from None


def _site_routes(ctx: ServerContext) -> list[BaseRoute]:
    """The results site's routes when `sailau.commission.site` is installed, else none.
    A site that is there but fails to import is an error, not silently absent."""
    try:
        site = importlib.import_module(SITE_MODULE)
    except ModuleNotFoundError as e:
        if e.name != SITE_MODULE:
            raise
        return []
    return list(site.site_routes(ctx))


def _answer(a: Answer) -> JSONResponse:
    return JSONResponse(a.to_json(), status_code=a.http_status)


async def _bounded_body(request: Request, limit: int) -> bytes | Answer:
    """The body, at most `limit` bytes: a declared or actual size over it is refused
    as `too_large` without reading on."""
    declared = request.headers.get("content-length")
    too_large = Answer(Status.REFUSED, f"the body is larger than any such file (at most {limit:,} bytes); refused unread",
                       reason="too_large")
    if declared is not None:
        if not declared.isdigit():
            return Answer(Status.REFUSED, "Content-Length is not a number", reason="format")
        if int(declared) > limit:
            return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(db_url: str, setup_dir: Path, *, upstream: str | None = None, batch: int | None = None) -> Starlette:
    """The server's ASGI app: opens the database, binds it to DIR's election and
    registry (a database bound to another election is refused), mounts the API,
    then the results site if installed. `upstream` starts the forwarder."""
    election, registry = load_setup(setup_dir)
    db = open_commission_db(db_url)
    election, registry = db.bind_election(election, registry)
    ctx = ServerContext(db.engine, setup_dir, election, registry, db)
    state: dict[str, Any] = {"cache": {}}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        forwarder = Forwarder(db, upstream) if upstream else None
        ingest = Ingest(db, election, registry.registry, on_stored=forwarder.wake if forwarder else None,
                        **({"batch": batch} if batch else {}))
        state["ingest"] = ingest
        await _thread(ingest.release_ready)  # held protocols whose majority arrived before a crash
        ingest.start()
        if forwarder:
            forwarder.start()
        try:
            yield
        finally:
            await ingest.stop()
            if forwarder:
                await forwarder.stop()
            db.close()

    def source(request: Request) -> str:
        host = request.client.host if request.client else "?"
        return f"a file submitted from {host}"

    async def post_protocol(request: Request) -> Response:
        body = await _read(request, MAX_SIGNED_PROTOCOL_BYTES)
        if isinstance(body, Answer):
            return _answer(body)
        return _answer(await state["ingest"].submit_protocol(body, source(request)))

    async def post_turnout(request: Request) -> Response:
        body = await _read(request, MAX_SIGNED_TURNOUT_BYTES)
        if isinstance(body, Answer):
            return _answer(body)
        return _answer(await state["ingest"].submit_turnout(body, source(request)))

    async def post_cosignature(request: Request) -> Response:
        body = await _read(request, MAX_COSIGNATURE_BYTES)
        if isinstance(body, Answer):
            return _answer(body)
        return _answer(await state["ingest"].submit_cosignature(body, source(request)))

    def cached(key: str, make: Any) -> bytes:
        """Reports are recomputed only when something was stored since (versions or
        decisions counted, by any process writing this database)."""
        with db.begin() as conn:
            stamp = (conn.execute(select(func.count()).select_from(models.protocol_versions)).scalar_one(),
                     conn.execute(select(func.count()).select_from(models.conflict_decisions)).scalar_one(),
                     conn.execute(select(func.count()).select_from(models.turnout_versions)).scalar_one())
        hit = state["cache"].get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        data = make()
        state["cache"][key] = (stamp, data)
        return data

    async def results(request: Request) -> Response:
        level = request.path_params["level"]
        if level not in LEVELS:
            return JSONResponse({"error": f"level must be one of {', '.join(LEVELS)}"}, status_code=404)
        try:
            data = await _thread(cached, f"results:{level}", lambda: report_json_bytes(commission_report(db, level)))
        except LevelError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        return Response(data, media_type="application/json")

    async def precinct(request: Request) -> Response:
        n = request.path_params["n"]
        try:
            election.precinct(n)
        except LookupError:
            return JSONResponse({"error": f"precinct {n} is not in election {election.id}"}, status_code=404)
        return JSONResponse(await _thread(_precinct_status, db, n))

    async def turnout(_request: Request) -> Response:
        data = await _thread(cached, "turnout", lambda: json.dumps(turnout_report(db, election), ensure_ascii=False).encode())
        return Response(data, media_type="application/json")

    async def health(_request: Request) -> Response:
        return JSONResponse({"status": "ok", "election": election.id, "fingerprint": election.fingerprint_hex})

    routes: list[BaseRoute] = [
        Route("/api/protocols", post_protocol, methods=["POST"]),
        Route("/api/turnout", post_turnout, methods=["POST"]),
        Route("/api/cosignatures", post_cosignature, methods=["POST"]),
        Route("/api/turnout", turnout, methods=["GET"]),
        Route("/api/results/precinct/{n:int}", precinct, methods=["GET"]),
        Route("/api/results/{level}", results, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
    ]
    routes.extend(_site_routes(ctx))  # the results site (sailau.commission.site), when installed
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.ctx = ctx
    return app


async def _read(request: Request, limit: int) -> bytes | Answer:
    try:
        return await _bounded_body(request, limit)
    except ClientDisconnect:
        return Answer(Status.REFUSED, "the client went away before the file arrived", reason="format")


async def _thread(fn: Any, *args: Any) -> Any:
    from anyio import to_thread

    return await to_thread.run_sync(fn, *args)


def _precinct_status(db: CommissionDB, n: int) -> dict[str, Any]:
    V, P, D = models.protocol_versions, models.protocols, models.conflict_decisions
    with db.begin() as conn:
        versions = [d for (d,) in conn.execute(select(V.c.digest).where(V.c.precinct == n))]
        counted = conn.execute(select(P.c.digest).where(P.c.precinct == n)).scalar_one_or_none()
        signed = conn.execute(select(V.c.signed).where(V.c.precinct == n, V.c.digest == counted)).scalar_one_or_none() \
            if counted else None
        decided = conn.execute(select(func.count()).select_from(D).where(D.c.precinct == n)).scalar_one()
    status = decide_precinct(n, versions, ()).status.value if not decided else ("resolved" if counted else "conflict")
    out: dict[str, Any] = {"precinct": n, "status": status, "versions": sorted(versions), "counted": counted,
                           "pending_cosignatures": held_in_precinct(db, n)}
    if signed is not None:
        out["signed_protocol"] = json.loads(bytes(signed))
    return out


def app_from_environment() -> Starlette:
    """Factory for `uvicorn --factory --workers N`: SAILAU_DB_URL, SAILAU_SETUP_DIR and
    optionally SAILAU_UPSTREAM (what `sailau commission serve` sets for its workers)."""
    import os

    return create_app(os.environ["SAILAU_DB_URL"], Path(os.environ["SAILAU_SETUP_DIR"]),
                      upstream=os.environ.get("SAILAU_UPSTREAM") or None)
