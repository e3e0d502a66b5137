"""Starlette routes of the results site (see the package docstring)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..db import CommissionDB
from .data import Site, Snapshot, counted_protocol
from .files import key_name, protocol_name, protocol_recipe, published_tar, read_published, set_recipe, setup_file, station_key_pem
from .i18n import LANG_NAMES, LANGS, texts

HERE = Path(__file__).parent
#: Every page and file: no third-party origin, no inline script, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: How often an open page asks for new results (milliseconds).
POLL_MS = 3000


def _lang(request: Request) -> str:
    lang = request.query_params.get("lang", "kk")
    return lang if lang in LANGS else "kk"


def _registry(ctx: Any, db: CommissionDB) -> Any:
    reg = getattr(ctx, "registry", None)
    if reg is None:
        reg = db.bound_election()[1]
    return getattr(reg, "registry", reg)  # a SignedRegistry or the StationRegistry itself


def site_routes(ctx: Any) -> list[BaseRoute]:
    db = CommissionDB(ctx.engine)
    election = ctx.definition
    setup_dir = Path(ctx.setup_dir)
    snapshot = Snapshot(db)
    site = Site(db, election, snapshot, ctx)
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def headers(extra: dict[str, str] | None = None) -> dict[str, str]:
        return SECURITY_HEADERS | (extra or {})

    def page(request: Request, kind: str, api: str, heading: dict[str, str], status: int = 200, **extra: Any) -> Response:
        lang = _lang(request)
        t = texts(lang)
        base = str(request.url_for("site-national"))
        context = {
            "lang": lang, "t": t, "langs": LANG_NAMES, "kind": kind, "api": api, "poll_ms": POLL_MS,
            "texts_json": json.dumps(t, ensure_ascii=False).replace("<", "\\u003c"), "election_name": election.name.get(lang),
            "heading": heading[lang], "base": base, "path": request.url.path,
            "set_recipe": set_recipe(base), **extra,
        }
        return templates.TemplateResponse(request, "page.html", context, status_code=status, headers=headers())

    async def national_page(request: Request) -> Response:
        return page(request, "national", str(request.url_for("site-api-national")), {k: texts(k)["national"] for k in LANGS})

    async def region_page(request: Request) -> Response:
        code = request.path_params["code"]
        region = next((r for r in election.territory.regions if r.code == code), None)
        if region is None:
            return page(request, "missing", "", {k: texts(k)["not_found"] for k in LANGS}, status=404)
        return page(request, "region", str(request.url_for("site-api-region", code=code)), {k: region.name.get(k) for k in LANGS})

    async def precinct_page(request: Request) -> Response:
        number = request.path_params["number"]
        if not any(p.number == number for p in election.precincts):
            return page(request, "missing", "", {k: texts(k)["not_found"] for k in LANGS}, status=404)
        return page(request, "precinct", str(request.url_for("site-api-precinct", number=number)),
                    {k: f"{texts(k)['precinct']} {number}" for k in LANGS},
                    recipe=protocol_recipe(number), protocol_file=protocol_name(number), key_file=key_name(number))

    def api(data: dict[str, Any] | None) -> Response:
        if data is None:
            return JSONResponse({"error": "not found"}, status_code=404, headers=headers())
        return JSONResponse(data, headers=headers({"Cache-Control": "no-store"}))

    async def api_national(request: Request) -> Response:
        return api(await run_in_threadpool(site.national))

    async def api_region(request: Request) -> Response:
        return api(await run_in_threadpool(site.region, request.path_params["code"]))

    async def api_precinct(request: Request) -> Response:
        return api(await run_in_threadpool(site.precinct, request.path_params["number"]))

    def not_found() -> Response:
        return Response("not found\n", status_code=404, media_type="text/plain", headers=headers())

    async def setup_files(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("election.json", "stations.json"):
            return not_found()
        data = await run_in_threadpool(setup_file, setup_dir, name, db)
        return Response(data, media_type="application/json", headers=headers({"Content-Disposition": f'attachment; filename="{name}"'}))

    async def protocol_file(request: Request) -> Response:
        m = re.fullmatch(r"precinct-(\d{1,10})\.json", request.path_params["name"])
        if not m:
            return not_found()
        counted = await run_in_threadpool(counted_protocol, db, int(m.group(1)))
        if counted is None:
            return not_found()
        return Response(counted[1], media_type="application/json",
                        headers=headers({"Content-Disposition": f'attachment; filename="{protocol_name(int(m.group(1)))}"'}))

    async def key_file(request: Request) -> Response:
        m = re.fullmatch(r"station-(\d{1,10})\.pem", request.path_params["name"])
        if not m:
            return not_found()
        registry = await run_in_threadpool(_registry, ctx, db)
        station = registry.by_precinct.get(int(m.group(1)))
        if station is None:
            return not_found()
        return Response(station_key_pem(station.public_key), media_type="application/x-pem-file",
                        headers=headers({"Content-Disposition": f'attachment; filename="{key_name(station.precinct)}"'}))

    async def tar_file(request: Request) -> Response:
        parts = await run_in_threadpool(read_published, db, snapshot.state)
        return StreamingResponse(published_tar(setup_dir, db, parts), media_type="application/x-tar",
                                 headers=headers({"Content-Disposition": 'attachment; filename="published.tar"'}))

    return [
        Route("/", national_page, name="site-national"),
        Route("/region/{code}", region_page, name="site-region"),
        Route("/precinct/{number:int}", precinct_page, name="site-precinct"),
        Route("/site-api/national", api_national, name="site-api-national"),
        Route("/site-api/region/{code}", api_region, name="site-api-region"),
        Route("/site-api/precinct/{number:int}", api_precinct, name="site-api-precinct"),
        Route("/files/published.tar", tar_file, name="site-tar"),
        Route("/files/protocols/{name}", protocol_file, name="site-protocol"),
        Route("/files/keys/{name}", key_file, name="site-key"),
        Route("/files/{name}", setup_files, name="site-setup-file"),
        Mount("/site-static", app=StaticFiles(directory=str(HERE / "static")), name="site-static"),
    ]
