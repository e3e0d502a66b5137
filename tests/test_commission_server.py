"""The commission server (commission/server.py) against a real uvicorn process on a
free loopback port, on SQLite and on PostgreSQL: every refusal of `commission import`
by the same name, idempotent resubmission, conflicts, turnout reports, results equal
to `commission report`, forwarding upstream through a durable outbox, and
`sailau station submit`'s status lines."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sailau.cli.main import cli
from sailau.commission import models
from sailau.commission.checks import check_protocol_path
from sailau.commission.db import open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.netbench import free_port, start_server, stop_server, synthetic_turnout
from sailau.commission.registry import load_registry
from sailau.commission.report import commission_report
from sailau.commission.synth import load_private_keys, parse_table, synthesize
from sailau.commission.turnout import check_turnout_file, turnout_report
from sailau.election.definition import load_election
from sailau.election.protocol import ContestResult, SignedProtocol, sign_protocol
from sailau.election.turnout import SignedTurnout, make_turnout_report, sign_turnout

TABLE = "region,A,B\nR1,4000,3000\nR2,3500,1200\n"


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("server") / "set"
    synthesize(parse_table(TABLE), 12, 7, d)
    synthetic_turnout(d, d / "turnout")
    return d


@pytest.fixture(scope="module")
def expected_national(published: Path, tmp_path_factory) -> dict:
    """`commission import` + `commission report` over the same files: the reference."""
    db_path = tmp_path_factory.mktemp("reference") / "ref.db"
    with open_commission_db(f"sqlite:///{db_path}") as db:
        election = load_election(published / "election.json")
        import_protocols(db, [published, *sorted((published / "turnout").glob("*.json"))], election=election,
                         registry=load_registry(published / "stations.json", election))
        return {"national": commission_report(db, "national"), "region": commission_report(db, "region"),
                "turnout": json.loads(json.dumps(turnout_report(db, election)))}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'commission.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def server(published: Path, db_url: str, tmp_path):
    port = free_port()
    proc = start_server(db_url, published, port, log=tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", db_url
    finally:
        stop_server(proc)


def post(base: str, kind: str, raw: bytes) -> httpx.Response:
    return httpx.post(f"{base}/api/{kind}", content=raw, headers={"content-type": "application/json"}, timeout=30)


def protocols(published: Path) -> list[Path]:
    return sorted((published / "protocols").glob("*.json"))


def test_files_in_results_out_same_as_commission_report(server, published: Path, expected_national: dict) -> None:
    base, _ = server
    for path in protocols(published):
        r = post(base, "protocols", path.read_bytes())
        assert (r.status_code, r.json()["status"]) == (200, "accepted"), r.text
        assert r.json()["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()
    for path in sorted((published / "turnout").glob("*.json")):
        assert post(base, "turnout", path.read_bytes()).json()["status"] == "accepted"
    assert httpx.get(f"{base}/api/results/national").json() == expected_national["national"]
    assert httpx.get(f"{base}/api/results/region").json() == expected_national["region"]
    assert httpx.get(f"{base}/api/turnout").json() == expected_national["turnout"]
    assert expected_national["national"]["complete"] is True
    # the same file again: already have it, nothing changes
    again = post(base, "protocols", protocols(published)[0].read_bytes())
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    assert httpx.get(f"{base}/api/results/national").json() == expected_national["national"]
    one = httpx.get(f"{base}/api/results/precinct/1").json()
    assert one["status"] == "accepted" and one["signed_protocol"] == json.loads(protocols(published)[0].read_bytes())
    assert httpx.get(f"{base}/api/results/precinct/999999").status_code == 404
    assert httpx.get(f"{base}/api/results/planet").status_code == 404


def _bad_files(published: Path, tmp: Path) -> list[Path]:
    """One file for each way a protocol can lie or break, made from a good one."""
    good = protocols(published)[0].read_bytes()
    data = json.loads(good)
    out: list[Path] = []

    def write(name: str, raw: bytes) -> None:
        p = tmp / name
        p.write_bytes(raw)
        out.append(p)

    flipped = bytearray(good)
    i = good.index(b'"signature":"') + 14
    flipped[i] = ord("0") if flipped[i] != ord("0") else ord("1")
    write("signature.json", bytes(flipped))
    write("format.json", good + b" ")
    write("deep.json", b"[" * 5000 + b"]" * 5000)
    write("count.json", good.replace(b'"version":4', b'"version":99999999999999999999999'))
    other = dict(data, protocol=dict(data["protocol"], election=dict(data["protocol"]["election"], id="another-election")))
    write("election.json", json.dumps(other, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    # precinct 2's file claiming to be precinct 1 (signed by 2's key: wrong station, or signature)
    second = json.loads(protocols(published)[1].read_bytes())
    write("wrong.json", json.dumps(dict(second, protocol=dict(second["protocol"], precinct=1)), sort_keys=True,
                                   separators=(",", ":"), ensure_ascii=False).encode())
    write("unknown.json", good.replace(data["station_key_id"].encode(), b"00" * 8))
    return out


def test_every_refusal_is_the_imports_by_name(server, published: Path, tmp_path: Path) -> None:
    base, _ = server
    election = load_election(published / "election.json")
    registry = load_registry(published / "stations.json", election).registry
    seen = set()
    for path in _bad_files(published, tmp_path):
        expected = check_protocol_path(path, election, registry)
        assert not hasattr(expected, "signed"), f"{path.name} should be refused by import"
        r = post(base, "protocols", path.read_bytes())
        body = r.json()
        assert body["status"] == "refused" and body["reason"] == expected.reason.value, (path.name, body)
        assert r.status_code == 422 and body["message"]
        seen.add(body["reason"])
    assert {"signature", "format", "too_deep", "count_out_of_range", "election", "unknown_station"} <= seen
    # bounded: a body larger than any protocol is refused unread
    r = post(base, "protocols", b" " * (4 * 1024 * 1024 + 1))
    assert (r.status_code, r.json()["reason"]) == (413, "too_large")
    r = post(base, "turnout", b" " * (64 * 1024))
    assert (r.status_code, r.json()["reason"]) == (413, "too_large")
    # a turnout report is not a protocol, and the other way round
    r = post(base, "protocols", next((published / "turnout").glob("*.json")).read_bytes())
    assert r.json()["reason"] == "format" and "turnout" in r.json()["message"]
    assert post(base, "turnout", protocols(published)[0].read_bytes()).json()["reason"] == "format"
    # nothing refused reached the results
    assert httpx.get(f"{base}/api/results/national").json()["precincts"]["reported"] == 0


def test_a_second_valid_protocol_is_a_conflict_and_neither_counts(server, published: Path) -> None:
    base, db_url = server
    keys = load_private_keys(published / "private" / "station-keys.json")
    first = protocols(published)[2].read_bytes()
    s = SignedProtocol.from_canonical_json(first)
    c = s.protocol.contests[0]
    moved = dataclasses.replace(s.protocol, contests=(ContestResult(c.contest_id, {"A": c.votes["A"] + 1, "B": c.votes["B"] - 1},
                                                                     invalid=c.invalid),))
    second = sign_protocol(moved, keys[s.protocol.precinct]).to_canonical_json()
    assert post(base, "protocols", first).json()["status"] == "accepted"
    r = post(base, "protocols", second)
    assert (r.status_code, r.json()["status"]) == (409, "conflict")
    assert post(base, "protocols", second).json()["status"] == "unchanged"
    report = httpx.get(f"{base}/api/results/national").json()
    assert report["precincts"]["reported"] == 0 and report["precincts"]["conflicts"] == [s.protocol.precinct]
    with open_commission_db(db_url) as db, db.begin() as conn:  # both versions kept, byte for byte
        stored = {bytes(r) for (r,) in conn.execute(select(models.protocol_versions.c.signed))}
    assert stored == {first, second}


def test_turnout_reports_checked_and_summed(server, published: Path) -> None:
    base, _ = server
    election = load_election(published / "election.json")
    keys = load_private_keys(published / "private" / "station-keys.json")
    good = make_turnout_report(election, 3, 12, 40, 100)
    assert post(base, "turnout", sign_turnout(good, keys[3]).to_canonical_json()).json()["status"] == "accepted"
    # signed by precinct 4's station: wrong station
    r = post(base, "turnout", sign_turnout(good, keys[4]).to_canonical_json()).json()
    assert (r["status"], r["reason"]) == ("refused", "wrong_station")
    # a lie about the list, validly signed: relations
    lie = dataclasses.replace(good, hour=good.hour.replace("T12", "T14"), received_ballot=101)
    r = post(base, "turnout", sign_turnout(lie, keys[3]).to_canonical_json()).json()
    assert (r["status"], r["reason"]) == ("refused", "relations") and "received<=list" in r["message"]
    odd = dataclasses.replace(good, hour=good.hour.replace("T12", "T13"))
    r = post(base, "turnout", sign_turnout(odd, keys[3]).to_canonical_json()).json()
    assert r["reason"] == "relations" and "hour" in r["message"]
    # another count for the same hour: conflict, neither counts
    other = dataclasses.replace(good, received_ballot=41)
    assert post(base, "turnout", sign_turnout(other, keys[3]).to_canonical_json()).json()["status"] == "conflict"
    t = httpx.get(f"{base}/api/turnout").json()
    assert t["national"] == {} and t["conflicts"] == [{"precinct": 3, "hour": good.hour}]
    later = make_turnout_report(election, 3, 14, 60, 100)
    assert post(base, "turnout", sign_turnout(later, keys[3]).to_canonical_json()).json()["status"] == "accepted"
    t = httpx.get(f"{base}/api/turnout").json()
    assert t["national"] == {later.hour: {"precincts": 1, "received_ballot": 60, "voters_on_list": 100, "percent": 60.0}}
    region = election.precinct(3).region
    assert t["regions"][region][later.hour]["received_ballot"] == 60


def test_station_submit_says_what_happened_to_each_file(server, published: Path, tmp_path: Path) -> None:
    base, _ = server
    files = [str(p) for p in protocols(published)[:2]] + [str(sorted((published / "turnout").glob("*.json"))[0])]
    r = CliRunner().invoke(cli, ["station", "submit", "--url", base, *files])
    assert r.exit_code == 0, r.output
    assert r.output.count(": accepted (") == 3
    r = CliRunner().invoke(cli, ["station", "submit", "--url", base, files[0]])
    assert r.exit_code == 0 and ": already had it (" in r.output
    bad = tmp_path / "bad.json"
    bad.write_bytes(protocols(published)[3].read_bytes().replace(b'"signature":"', b'"signature":"00', 1)[:-3] + b'"}')
    r = CliRunner().invoke(cli, ["station", "submit", "--url", base, str(bad)])
    assert r.exit_code == 1 and "refused: format" in r.output
    r = CliRunner().invoke(cli, ["station", "submit", "--url", base, str(published / "election.json")])
    assert r.exit_code == 1 and "refused: format" in r.output and "election definition" in r.output


def test_station_submit_to_nowhere_keeps_the_file_and_says_retry(published: Path) -> None:
    path = protocols(published)[0]
    before = path.read_bytes()
    r = CliRunner().invoke(cli, ["station", "submit", "--url", f"http://127.0.0.1:{free_port()}", "--attempts", "2", str(path)])
    assert r.exit_code == 3, r.output
    assert "unreachable: will retry later" in r.output and "2 attempts" in r.output
    assert path.read_bytes() == before


def test_forwarding_upstream_survives_an_absent_cec(published: Path, tmp_path: Path) -> None:
    """Territorial server first, CEC down: files are accepted and kept; when the CEC
    comes up it receives every original signed file, byte for byte."""
    cec_port = free_port()
    cec_url = f"http://127.0.0.1:{cec_port}"
    tec = start_server(f"sqlite:///{tmp_path / 'tec.db'}", published, free_port(), upstream=cec_url, log=tmp_path / "tec.log")
    try:
        tec_url = f"http://127.0.0.1:{tec.args[tec.args.index('--port') + 1]}"
        sent = [p.read_bytes() for p in protocols(published)[:5]] + [p.read_bytes() for p in sorted((published / "turnout").glob("*.json"))[:6]]
        for raw in sent:
            kind = "turnout" if b"signed-turnout" in raw[:40] else "protocols"
            assert post(tec_url, kind, raw).json()["status"] == "accepted"
        log = tmp_path / "tec.log"  # the forwarder has tried the absent CEC and failed at least once
        deadline = time.monotonic() + 30
        while b"not delivered" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert b"not delivered" in log.read_bytes(), "the forwarder never tried the absent CEC"
        cec = start_server(f"sqlite:///{tmp_path / 'cec.db'}", published, cec_port, log=tmp_path / "cec.log")
        try:
            deadline = time.monotonic() + 60
            while True:
                with open_commission_db(f"sqlite:///{tmp_path / 'cec.db'}") as db, db.begin() as conn:
                    held = {bytes(r) for (r,) in conn.execute(select(models.protocol_versions.c.signed))}
                    held |= {bytes(r) for (r,) in conn.execute(select(models.turnout_versions.c.signed))}
                if held == set(sent) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert held == set(sent)
        finally:
            stop_server(cec)
        with open_commission_db(f"sqlite:///{tmp_path / 'tec.db'}") as db, db.begin() as conn:
            answers = {a for (a,) in conn.execute(select(models.upstream_forwarded.c.answer))}
            assert answers == {"accepted"}
    finally:
        stop_server(tec)


def test_turnout_file_round_trip_and_kind(published: Path) -> None:
    election = load_election(published / "election.json")
    registry = load_registry(published / "stations.json", election).registry
    raw = sorted((published / "turnout").glob("*.json"))[0].read_bytes()
    signed = SignedTurnout.from_canonical_json(raw)
    assert signed.to_canonical_json() == raw
    from sailau.election import filekind

    assert filekind.recognise_bytes(raw) is filekind.SIGNED_TURNOUT
    assert not hasattr(check_turnout_file(raw + b"\n", "x", election, registry), "signed")
    assert check_turnout_file(raw, "x", election, registry).signed == signed


@pytest.mark.postgres
def test_network_bench_300_precincts_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The bounded network run (CI): 300 precincts and 1,800 turnout reports over 64
    connections to one server process; every file accepted and the API's national
    result equal to `commission report` over the same files (else BenchError)."""
    from sailau.commission.netbench import run_network_bench

    run = run_network_bench(postgres_url, 300, workdir=tmp_path / "work")
    assert (run.precincts, run.turnout_reports, run.backend) == (300, 1800, "postgresql")
    assert run.seats == {"NO": 76, "AUYL": 0, "QHP": 10, "ADAL": 0, "AZ": 12}  # the 2021 result, from the network
    assert 0 < run.protocols_s <= run.all_files_s and run.server_cpu_s > 0


@pytest.mark.slow
@pytest.mark.postgres
def test_network_bench_all_10060_precincts(postgres_url: str, tmp_path: Path) -> None:
    from sailau.commission.netbench import run_network_bench

    run = run_network_bench(postgres_url, 10_060, workdir=tmp_path / "work")
    assert run.turnout_reports == 60_360 and run.seats == {"NO": 76, "AUYL": 0, "QHP": 10, "ADAL": 0, "AZ": 12}


def test_the_results_site_is_mounted_with_the_server_context(published: Path, tmp_path: Path, monkeypatch) -> None:
    """The hook the results site plugs into: `sailau.commission.site.site_routes(ctx)`."""
    import sys
    import types

    import asyncio

    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from sailau.commission.server import ServerContext, create_app

    seen: list[ServerContext] = []

    def site_routes(ctx: ServerContext) -> list:
        seen.append(ctx)
        return [Route("/", lambda request: PlainTextResponse(f"{ctx.definition.id} {len(ctx.registry.registry.stations)}"))]

    fake = types.ModuleType("sailau.commission.site")
    fake.site_routes = site_routes
    monkeypatch.setitem(sys.modules, "sailau.commission.site", fake)
    app = create_app(f"sqlite:///{tmp_path / 'c.db'}", published)

    async def ask() -> tuple[str, dict]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sailau") as client:
            return (await client.get("/")).text, (await client.get("/healthz")).json()

    try:
        page, health = asyncio.run(ask())
    finally:
        app.state.ctx.db.close()
    assert page == "kz-majilis-synth 12" and health["election"] == "kz-majilis-synth"
    (ctx,) = seen
    assert ctx.setup_dir == published and ctx.engine.url.database.endswith("c.db")


def test_the_results_site_shows_what_the_server_took(server, published: Path, expected_national: dict, tmp_path: Path) -> None:
    """The real site on the real server: protocols and turnout reports posted to the
    API appear on the site's JSON (turnout by CEC hour from the signed reports, the
    same counts as `commission report`), and a refused protocol changes nothing."""
    base, _ = server
    first = httpx.get(f"{base}/site-api/national", timeout=30).json()
    assert first["status"]["reported"] == 0 and first["turnout_by_hour"] is None  # "no turnout reports yet"
    for path in protocols(published):
        assert post(base, "protocols", path.read_bytes()).json()["status"] == "accepted"
    for path in sorted((published / "turnout").glob("*.json")):
        assert post(base, "turnout", path.read_bytes()).json()["status"] == "accepted"
    tampered = bytearray(protocols(published)[1].read_bytes())
    i = bytes(tampered).index(b'"signature":"') + 14
    tampered[i] = ord("0") if tampered[i] != ord("0") else ord("1")
    assert post(base, "protocols", bytes(tampered)).json()["reason"] == "signature"

    deadline = time.monotonic() + 30  # the site recomputes at most every 2 s
    while True:
        page = httpx.get(f"{base}/site-api/national", timeout=30).json()
        if page["turnout_by_hour"] is not None and page["status"]["reported"] == 12 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    national = expected_national["national"]
    assert page["status"] == {"expected": 12, "reported": 12, "missing_count": 0, "conflicts": [], "complete": True}
    assert {p["id"]: p["votes"] for p in page["parties"]} == national["totals"]
    hours: dict[int, list[int]] = {}
    for hour, e in expected_national["turnout"]["national"].items():
        row = hours.setdefault(int(hour[11:13]), [0, 0])
        row[0] += e["received_ballot"]
        row[1] += e["voters_on_list"]
    shown = {h["hour"]: [h["voted"], h["voters_on_list"]] for h in page["turnout_by_hour"]["hours"]}
    assert shown == hours and sorted(shown) == [10, 12, 14, 16, 18, 20]
    by_region = {u["code"]: u["turnout_by_hour"] for u in page["regions"]}
    assert set(by_region) == {"R1", "R2"} and all(t is not None for t in by_region.values())
    assert sum(h["voted"] for t in by_region.values() for h in t["hours"] if h["hour"] == 20) == hours[20][0]
