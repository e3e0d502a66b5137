"""The public results site (issue 15, item 3) in headless Chromium (Debian's
chromium + chromedriver through Selenium), served by a real uvicorn on a loopback
port from a SQLite commission database. Protocols "arrive" by the real importer
(the checks of `sailau commission import`) into the same database while the page
is open; the expected seats come from `verify_published`, the observer's own
Python sums of the signed files, not from the SQL the site reads.

- the national page loads and its seat counts change as protocols arrive, with
  no reload;
- a refused protocol (tampered, or signed by a key the registry does not enrol)
  never shows, while a genuine one that arrives after it does;
- names in kk/ru/en with a working language switch; the keyboard reaches
  everything, the first Tab goes to the skip link, focus is visible; the text
  colours measured in the page meet WCAG AA contrast;
- every file is downloadable, and the published set checks with `sailau verify`;
- turnout by hour: "no turnout reports yet" until the server provides them, then
  the CEC's hours (through the `turnout_by_hour` interface of turnout.py).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import uvicorn
from click.testing import CliRunner
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from starlette.applications import Starlette

from browser_support import chromium, free_port, wait_until
from sailau.cli.main import cli
from sailau.commission.db import make_engine, open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.registry import load_registry
from sailau.commission.site import site_routes
from sailau.commission.site.turnout import CEC_HOURS, HourlyTurnout
from sailau.commission.synth import read_table, synthesize
from sailau.commission.verify import verify_published
from sailau.election.crypto import generate_signing_key
from sailau.election.definition import load_election
from sailau.election.protocol import SignedProtocol, sign_protocol

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"
PRECINCTS = 60
FIRST = 20  # imported before the page opens
BUILD = Path(__file__).parents[1] / "build"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 precincts of the 2021 example table (real names, kk/ru/en, party colours), a 500th of its size."""
    out = tmp_path_factory.mktemp("site") / "set"
    synthesize(read_table(TABLE).scaled(1, 500), PRECINCTS, 7, out)
    return out


def _subset(published: Path, dest: Path, numbers: set[int]) -> Path:
    """The published set restricted to some precincts (what an observer has at that moment)."""
    (dest / "protocols").mkdir(parents=True)
    (dest / "receipts").mkdir()
    for name in ("election.json", "stations.json"):
        shutil.copy(published / name, dest / name)
    for n in numbers:
        shutil.copy(published / "protocols" / f"precinct-{n:06d}.json", dest / "protocols")
        shutil.copy(published / "receipts" / f"precinct-{n:06d}.json", dest / "receipts")
    return dest


class Server:
    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def __enter__(self) -> Server:
        self.thread.start()
        wait_until(lambda: self.server.started, "uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def serving(published: Path, url: str):
    """A commission database at `url` holding the first 20 protocols, the site served from it, and an importer for more."""
    election = load_election(published / "election.json")
    registry = load_registry(published / "stations.json", election)
    with open_commission_db(url) as db:
        summary = import_protocols(db, [published / "protocols" / f"precinct-{n:06d}.json" for n in range(1, FIRST + 1)],
                                   election=election, registry=registry)
        assert len(summary.imported) == FIRST and summary.ok
    engine = make_engine(url)
    ctx = SimpleNamespace(engine=engine, setup_dir=published, definition=election, registry=registry)

    def importer(paths: list[Path]):
        with open_commission_db(url) as db:
            return import_protocols(db, paths)

    try:
        with Server(Starlette(routes=site_routes(ctx))) as server:
            yield SimpleNamespace(url=server.url, importer=importer, election=election, ctx=ctx, db_url=url)
    finally:
        engine.dispose()


@pytest.fixture
def site(published: Path, tmp_path: Path):
    with serving(published, f"sqlite:///{tmp_path / 'commission.db'}") as s:
        yield s


@pytest.fixture
def browser(tmp_path: Path):
    with chromium(tmp_path, "1280,2200") as driver:
        yield driver


def _seats(driver) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#seats-table tbody tr")
    return {r.get_attribute("data-party"): int(r.find_element(By.CSS_SELECTOR, "td.seats").get_attribute("data-value")) for r in rows}


def _reported(driver) -> int | None:
    value = driver.execute_script("return document.getElementById('status').dataset.reported")
    return None if value is None else int(value)


def _nonzero(seats: dict[str, int]) -> dict[str, int]:
    return {p: n for p, n in seats.items() if n}


def test_national_page_loads_and_seats_change_as_protocols_arrive(site, published: Path, browser, tmp_path: Path) -> None:
    _seats_change_as_protocols_arrive(site, published, browser, tmp_path, "site-national")


@pytest.mark.postgres
def test_the_same_on_postgresql(published: Path, browser, tmp_path: Path, postgres_url: str) -> None:
    with serving(published, postgres_url) as site:
        _seats_change_as_protocols_arrive(site, published, browser, tmp_path, "site-national-postgresql")


def _seats_change_as_protocols_arrive(site, published: Path, browser, tmp_path: Path, shot: str) -> None:
    from selenium.webdriver.common.by import By

    expected_first = verify_published(_subset(published, tmp_path / "first", set(range(1, FIRST + 1)))).report
    expected_all = verify_published(published).report
    assert _nonzero(expected_first["majilis_seats"]) != _nonzero(expected_all["majilis_seats"])  # so arriving results must move seats

    browser.get(site.url + "?lang=en")
    wait_until(lambda: _reported(browser) == FIRST, "the page to show the first 20 precincts")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Whole country"
    assert browser.find_element(By.ID, "status").text == f"{FIRST} of {PRECINCTS} precincts reported"
    assert browser.find_element(By.ID, "provisional").is_displayed()
    assert _seats(browser) == _nonzero(expected_first["majilis_seats"])
    assert int(browser.find_element(By.ID, "seats-filled").get_attribute("data-value")) == 98
    assert len(browser.find_elements(By.CSS_SELECTOR, "#hemicycle circle")) == 98
    missing = {int(li.get_attribute("data-precinct")) for li in browser.find_elements(By.CSS_SELECTOR, "#missing li")}
    assert missing == set(range(FIRST + 1, PRECINCTS + 1))
    assert "No turnout reports yet" in browser.find_element(By.ID, "turnout").text
    # names, not ids: parties and regions as people write them, with the threshold line
    results = browser.find_element(By.ID, "results-table").text
    assert "Nur Otan" in results and "People's Party of Kazakhstan" in results and "QHP" not in results
    assert "Akmola Region" in browser.find_element(By.ID, "regions-table").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map svg a")) == 17
    line = browser.find_element(By.ID, "threshold-line")  # the threshold line, at 7 % on the bars' scale
    assert line.get_attribute("stroke-dasharray")
    first_bar = browser.find_element(By.CSS_SELECTOR, "#shares rect")  # Nur Otan's, drawn from x=4
    share = float(browser.find_element(By.CSS_SELECTOR, "#results-table tbody tr td:nth-of-type(2)").text)
    x_line, width = float(line.get_attribute("x1")), float(first_bar.get_attribute("width"))
    assert abs((x_line - 4) / width - 7 / share) < 0.01  # the line sits at 7 % on the bars' own scale
    alloc = expected_first["allocation"]
    participated = f"{alloc['participated']:,}"
    assert f"Threshold: 7 % of {participated} who took part" in browser.find_element(By.ID, "allocation").text
    stamp = browser.execute_script("return document.body.dataset.stamp")
    nav_start = browser.execute_script("return performance.timeOrigin")

    BUILD.mkdir(exist_ok=True)
    browser.save_screenshot(str(BUILD / f"{shot}-partial.png"))

    # the rest arrives while the page is open
    summary = site.importer([published / "protocols" / f"precinct-{n:06d}.json" for n in range(FIRST + 1, PRECINCTS + 1)])
    assert summary.ok and len(summary.imported) == PRECINCTS - FIRST
    wait_until(lambda: _reported(browser) == PRECINCTS, "the page to show every precinct")
    wait_until(lambda: _seats(browser) == _nonzero(expected_all["majilis_seats"]), "the seats to change to the complete result")
    assert browser.execute_script("return performance.timeOrigin") == nav_start  # no reload
    assert browser.execute_script("return document.body.dataset.stamp") != stamp
    assert browser.find_element(By.ID, "status").text == "All precincts have reported"
    assert not browser.find_element(By.ID, "provisional").is_displayed()
    assert browser.find_element(By.ID, "missing").text == "None"
    browser.save_screenshot(str(BUILD / f"{shot}.png"))


def _tampered(published: Path, number: int, dest: Path) -> Path:
    """A genuine protocol with one vote moved between parties, the signature kept."""
    data = json.loads((published / "protocols" / f"precinct-{number:06d}.json").read_bytes())
    votes = data["protocol"]["contests"][0]["votes"]
    a, b = list(votes)[:2]
    votes[a], votes[b] = votes[a] - 1, votes[b] + 1
    path = dest / f"tampered-{number}.json"
    path.write_bytes(json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode())
    return path


def _foreign(published: Path, number: int, dest: Path) -> Path:
    """The precinct's protocol, counts unchanged, signed by a key no registry enrols."""
    signed = SignedProtocol.from_canonical_json((published / "protocols" / f"precinct-{number:06d}.json").read_bytes())
    path = dest / f"foreign-{number}.json"
    path.write_bytes(sign_protocol(signed.protocol, generate_signing_key()).to_canonical_json())
    return path


def test_a_refused_protocol_never_shows(site, published: Path, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site.url + "?lang=en")
    wait_until(lambda: _reported(browser) == FIRST, "the page to load")
    before = _seats(browser)
    stamp = browser.execute_script("return document.body.dataset.stamp")

    refused = site.importer([_tampered(published, 41, tmp_path), _foreign(published, 42, tmp_path)])
    assert {(r.precinct, r.reason.value) for r in refused.refused} == {(41, "signature"), (42, "unknown_station")}
    assert refused.imported == []
    # a genuine protocol after them: once the page shows it, it has polled past the refused ones
    assert site.importer([published / "protocols" / "precinct-000043.json"]).imported
    wait_until(lambda: _reported(browser) == FIRST + 1, "the genuine protocol to show")
    assert browser.execute_script("return document.body.dataset.stamp") != stamp
    missing = {int(li.get_attribute("data-precinct")) for li in browser.find_elements(By.CSS_SELECTOR, "#missing li")}
    assert {41, 42} <= missing and 43 not in missing
    assert _seats(browser) == _nonzero(verify_published(_subset(published, tmp_path / "s", set(range(1, FIRST + 1)) | {43})).report["majilis_seats"])
    assert before  # the page showed seats before too

    browser.get(site.url + "precinct/41?lang=en")
    wait_until(lambda: browser.execute_script("return document.getElementById('status').dataset.state"), "the precinct page")
    assert browser.find_element(By.ID, "status").text == "Protocol not yet received"
    assert not browser.find_element(By.ID, "protocol-files").is_displayed()
    assert browser.find_elements(By.CSS_SELECTOR, "#results-table tbody tr") == []
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(site.url + "files/protocols/precinct-000041.json", timeout=10)
    assert e.value.code == 404


def test_languages_keyboard_and_contrast(site, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(site.url)  # Kazakh by default
    wait_until(lambda: _reported(browser) == FIRST, "the page to load")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "kk"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Бүкіл ел"
    assert "Қазақстан Халық партиясы" in browser.find_element(By.ID, "results-table").text
    assert "Ақмола облысы" in browser.find_element(By.ID, "regions-table").text
    assert browser.find_element(By.ID, "status").text == f"{FIRST} / {PRECINCTS} учаске хаттамасы келді"

    browser.find_element(By.CSS_SELECTOR, "a[hreflang=ru]").click()
    wait_until(lambda: browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ru" and _reported(browser) == FIRST, "the Russian page")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Вся страна"
    assert "Народная партия Казахстана" in browser.find_element(By.ID, "results-table").text
    assert "Акмолинская область" in browser.find_element(By.ID, "regions-table").text

    # keyboard: the first Tab reaches the skip link; it moves focus to the main content
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    active = browser.switch_to.active_element
    assert active.get_attribute("class") == "skip" and active.is_displayed()
    assert browser.execute_script("return getComputedStyle(document.activeElement).outlineWidth") == "3px"
    active.send_keys(Keys.ENTER)
    assert browser.switch_to.active_element.get_attribute("id") == "main"
    # every map tile is a link the keyboard reaches
    reached = set()
    for _ in range(120):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        region = browser.switch_to.active_element.get_attribute("data-region")
        if region:
            reached.add(region)
    assert len(reached) == 17
    # the region page through a tile, by keyboard
    tile = browser.find_element(By.CSS_SELECTOR, "#map a[data-region='akmola-region']")
    browser.execute_script("arguments[0].focus()", tile)
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    wait_until(lambda: "/region/akmola-region" in browser.current_url, "the region page")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Акмолинская область"

    # WCAG AA: every text element's colour against its effective background
    ratios = browser.execute_script(CONTRAST_JS)
    assert ratios, "no text measured"
    low = [r for r in ratios if r["ratio"] < (3.0 if r["large"] else 4.5)]
    assert low == [], low[:5]


CONTRAST_JS = """
function lum(rgb) {
  const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number).map(c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function bg(el) {
  for (; el; el = el.parentElement) { const c = getComputedStyle(el).backgroundColor; if (c && !/rgba\\(.*, 0\\)/.test(c) && c !== 'transparent') return c; }
  return 'rgb(255, 255, 255)';
}
const out = [];
for (const el of document.querySelectorAll('body *')) {
  if (el.closest('svg') || el.closest('script') || !el.childNodes.length) continue;
  const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const s = getComputedStyle(el);
  if (!own || s.visibility === 'hidden' || s.display === 'none' || el.getClientRects().length === 0) continue;
  const a = lum(s.color), b = lum(bg(el));
  const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
  out.push({tag: el.tagName, text: el.textContent.trim().slice(0, 30), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), large: size >= 24 || (bold && size >= 18.66)});
}
for (const t of document.querySelectorAll('svg text')) {  // chart labels on white
  const a = lum(getComputedStyle(t).fill), b = lum('rgb(255, 255, 255)');
  out.push({tag: 'svg-text', text: t.textContent.slice(0, 30), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), large: false});
}
return out;
"""


def test_files_download_and_verify(site, published: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def get(path: str) -> bytes:
        with urllib.request.urlopen(site.url + path, timeout=30) as r:
            return r.read()

    assert get("files/election.json") == (published / "election.json").read_bytes()
    assert get("files/stations.json") == (published / "stations.json").read_bytes()
    work = tmp_path / "dl"
    work.mkdir()
    (work / "precinct-000007.json").write_bytes(get("files/protocols/precinct-000007.json"))
    assert (work / "precinct-000007.json").read_bytes() == (published / "protocols" / "precinct-000007.json").read_bytes()
    (work / "station-000007.pem").write_bytes(get("files/keys/station-000007.pem"))
    (work / "election.json").write_bytes(get("files/election.json"))
    page = get("precinct/7?lang=en").decode()
    recipe = re.search(r"<pre><code>(sailau protocol verify [^<]+)</code></pre>", page).group(1)
    runner = CliRunner()
    monkeypatch.chdir(work)  # the recipe names the files as downloaded, in the current directory
    out = runner.invoke(cli, recipe.split()[1:])
    assert out.exit_code == 0, out.output
    # the same line fails on another precinct's key
    (work / "station-000007.pem").write_bytes(get("files/keys/station-000008.pem"))
    out = runner.invoke(cli, recipe.split()[1:])
    assert out.exit_code != 0 and "signature" in out.output

    # the whole published set: verify finds only the missing precincts now, nothing once all are in
    def extract(dest: Path) -> Path:
        with tarfile.open(fileobj=io.BytesIO(get("files/published.tar"))) as tar:
            tar.extractall(dest, filter="data")
        return dest

    partial = verify_published(extract(tmp_path / "set1"), tmp_path / "set1" / "report.json")
    assert {f.kind for f in partial.findings} == {"missing"}
    assert len(partial.findings) == PRECINCTS - FIRST and partial.protocols_counted == FIRST
    site.importer([published / "protocols" / f"precinct-{n:06d}.json" for n in range(FIRST + 1, PRECINCTS + 1)])
    done = verify_published(extract(tmp_path / "set2"), tmp_path / "set2" / "report.json")
    assert done.findings == [] and done.protocols_counted == PRECINCTS
    assert "sailau verify set --report set/report.json" in get("?lang=en").decode()


def test_turnout_by_hour_through_the_interface(site, browser) -> None:
    """The site reads turnout only through ctx.turnout_by_hour (turnout.py). Here it
    reads a table of hourly counts this test writes into the commission database,
    standing in for the server's store of signed turnout reports."""
    from selenium.webdriver.common.by import By

    meta = MetaData()
    hourly = Table("test_hourly_turnout", meta, Column("precinct", Integer, primary_key=True), Column("hour", Integer, primary_key=True),
                   Column("region", String(64)), Column("voted", Integer), Column("on_list", Integer))
    meta.create_all(site.ctx.engine)

    def turnout_by_hour(engine, level, unit):
        where = [] if level == "national" else [hourly.c.region == unit]
        with engine.begin() as conn:
            rows = conn.execute(select(hourly.c.hour, func.sum(hourly.c.voted), func.sum(hourly.c.on_list), func.count())
                                .where(*where).group_by(hourly.c.hour).order_by(hourly.c.hour)).all()
        return [HourlyTurnout(int(h), int(v), int(n), int(c)) for h, v, n, c in rows]

    browser.get(site.url + "?lang=en")
    wait_until(lambda: _reported(browser) == FIRST, "the page to load")
    assert browser.find_element(By.ID, "no-turnout").text == "No turnout reports yet"

    site.ctx.turnout_by_hour = turnout_by_hour
    region_of = {p.number: p.region for p in site.election.precincts}
    rows = [{"precinct": n, "hour": h, "region": region_of[n], "voted": 10 * i + n % 7, "on_list": 200}
            for n in range(1, 11) for i, h in enumerate(CEC_HOURS[:3], start=1)]
    with site.ctx.engine.begin() as conn:
        conn.execute(hourly.insert(), rows)
    # turnout reports arrive before any further protocol: the page shows them all the same
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#turnout-table tbody tr"), "the turnout table")
    shown = {int(r.get_attribute("data-hour")): float(r.find_element(By.CSS_SELECTOR, "td.num").get_attribute("data-value"))
             for r in browser.find_elements(By.CSS_SELECTOR, "#turnout-table tbody tr")}
    expected = {h: round(100 * sum(r["voted"] for r in rows if r["hour"] == h) / (200 * 10), 2) for h in CEC_HOURS[:3]}
    assert shown == expected
    # by region and hour: the regions of precincts 1-10 have figures at 10, 12, 14; the hours not yet reported are blank
    table = {row.get_attribute("data-region"): [td.get_attribute("data-value") for td in row.find_elements(By.TAG_NAME, "td")]
             for row in browser.find_elements(By.CSS_SELECTOR, "#turnout-regions-table tbody tr")}
    assert len(table) == 17 and all(len(v) == len(CEC_HOURS) for v in table.values())
    for code, values in table.items():
        mine = [r for r in rows if r["region"] == code]
        for hour, value in zip(CEC_HOURS, values):
            at = [r for r in mine if r["hour"] == hour]
            got = None if value is None else float(value)
            assert got == (round(100 * sum(r["voted"] for r in at) / (200 * len(at)), 2) if at else None), (code, hour)
    browser.get(site.url + f"region/{region_of[1]}?lang=en")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#turnout-table tbody tr"), "the region's turnout table")


# -- without a browser: single-member districts, refusals of bad paths, words, tiles ----------------

from test_commission_report import set_2023  # noqa: E402,F401 - the 2023 published set fixture


def _get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
        return json.loads(r.read())


def test_single_member_districts_with_candidate_names(set_2023: Path, tmp_path: Path) -> None:
    """The 2023 law: AST-1 elected, AST-2 a tie, ALA-1 against all (test_commission_report's set)."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    election = load_election(set_2023 / "election.json")
    with open_commission_db(url) as db:
        assert import_protocols(db, [set_2023], election=election, registry=load_registry(set_2023 / "stations.json", election)).ok
    engine = make_engine(url)
    ctx = SimpleNamespace(engine=engine, setup_dir=set_2023, definition=election, registry=None)
    try:
        with Server(Starlette(routes=site_routes(ctx))) as server:
            data = _get_json(server.url + "site-api/national")
            by = {d["district"]: d for d in data["single_member"]}
            assert {k: v["outcome"] for k, v in by.items()} == {"AST-1": "elected", "AST-2": "tie", "ALA-1": "against_all"}
            contest = next(c for c in election.contests if getattr(c, "district", None) == "AST-1")
            winner = next(k for k in contest.candidates if k.id == "akhmetov" or k.name.en.lower().startswith("akhmetov"))
            assert by["AST-1"]["winner"] == {"kk": winner.name.kk, "ru": winner.name.ru, "en": winner.name.en}
            assert by["AST-1"]["top_votes"] == 400 and len(by["AST-2"]["tied"]) == 2
            seats = {p["id"]: p["majilis_seats"] for p in data["parties"]}
            assert sum(seats.values()) + sum(1 for d in by.values() if d["outcome"] == "elected" and d["party"] is None) == \
                sum(data["hemicycle"]["seats"][i]["party"] is not None for i in range(data["hemicycle"]["total"]))
            assert {r["code"] for r in data["regions"]} == {"KZ-71", "KZ-75"}
            assert data["regions"][0]["tile"] != data["regions"][1]["tile"]
            # the registry comes from the database when the context has none
            with urllib.request.urlopen(server.url + "files/keys/station-007101.pem", timeout=10) as r:
                assert r.read().startswith(b"-----BEGIN PUBLIC KEY-----")
    finally:
        engine.dispose()


@pytest.mark.parametrize("path", ["region/nowhere", "precinct/999999", "site-api/region/nowhere", "site-api/precinct/999999",
                                  "files/protocols/precinct-000099.json", "files/protocols/../../etc/passwd", "files/keys/station-x.pem",
                                  "files/secret.key", "files/private/station-keys.json", "site-static/../routes.py"])
def test_unknown_paths_are_404_and_never_leak_files(site, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(site.url + path, timeout=10)
    assert e.value.code == 404


def test_every_label_in_three_languages_with_the_same_fields() -> None:
    from sailau.commission.site.i18n import LANGS, TEXTS

    for key, by_lang in TEXTS.items():
        assert set(by_lang) == set(LANGS), key
        assert all(by_lang[k].strip() for k in LANGS), key
        fields = {k: sorted(re.findall(r"\{(\w+)\}", by_lang[k])) for k in LANGS}
        assert fields["kk"] == fields["ru"] == fields["en"], key


def test_tiles_place_every_region_once() -> None:
    from sailau.commission.site.tiles import tile_layout

    election = load_election(published_2021 := Path(__file__).parents[1] / "election" / "examples" / "majilis-2021.json")
    assert published_2021.is_file()
    table = read_table(TABLE)
    names = [(r, table.named(r).en) for r in table.regions]
    layout = tile_layout(names)
    spots = [(t["col"], t["row"]) for t in layout.values()]
    assert len(set(spots)) == len(names) == 17 and max(r for _, r in spots) <= 4  # all on the map, none below it
    assert layout["Almaty"] != layout["almaty-region"] and layout["akmola-region"] == {"col": 3, "row": 1}
    new = names + [("abai", "Abai Region"), ("jetisu", "Jetisu Region"), ("ulytau", "Ulytau Region"), ("R1", "R1"), ("R2", "R2")]
    layout = tile_layout(new)
    assert len({(t["col"], t["row"]) for t in layout.values()}) == len(new)
    assert layout["R1"]["row"] == layout["R2"]["row"] == 5  # unknown regions go below the map
    assert tile_layout([(p.region, p.region) for p in election.precincts[:1]])  # a definition with codes only still lays out


def test_a_precinct_in_conflict_is_shown_as_such_and_counts_for_nobody(site, published: Path, browser, tmp_path: Path) -> None:
    """Two different protocols validly signed by precinct 5's own station key: the
    conflict rule (conflicts.py) withdraws the precinct, and the site says so."""
    import dataclasses

    from selenium.webdriver.common.by import By

    from sailau.commission.synth import load_private_keys

    browser.get(site.url + "?lang=en")
    wait_until(lambda: _reported(browser) == FIRST, "the page to load")
    original = SignedProtocol.from_canonical_json((published / "protocols" / "precinct-000005.json").read_bytes()).protocol
    contest = original.contests[0]
    a, b = list(contest.votes)[:2]
    votes = dict(contest.votes) | {a: contest.votes[a] - 1, b: contest.votes[b] + 1}  # every relation still holds
    other = dataclasses.replace(original, contests=(dataclasses.replace(contest, votes=votes),))
    key = load_private_keys(published / "private" / "station-keys.json")[5]
    path = tmp_path / "precinct-000005-recount.json"
    path.write_bytes(sign_protocol(other, key, site.election).to_canonical_json())
    summary = site.importer([path])
    assert [o.precinct for o in summary.conflicts] == [5] and summary.withdrawn == [5]

    wait_until(lambda: _reported(browser) == FIRST - 1, "the withdrawn precinct to leave the count")
    item = browser.find_element(By.CSS_SELECTOR, "#missing li[data-precinct='5']")
    assert "in conflict" in item.text
    data = _get_json(site.url + "site-api/national")
    assert data["status"]["conflicts"] == [5] and 5 in data["missing"]
    assert _get_json(site.url + "site-api/precinct/5")["status"] == "conflict"
    # the published set holds both versions, and the observer's verify finds the same conflict
    with urllib.request.urlopen(site.url + "files/published.tar", timeout=30) as r:
        with tarfile.open(fileobj=io.BytesIO(r.read())) as tar:
            tar.extractall(tmp_path / "set", filter="data")
    found = verify_published(tmp_path / "set", tmp_path / "set" / "report.json")
    versions = sorted(p.name for p in (tmp_path / "set" / "protocols").glob("precinct-000005*.json"))
    assert len(versions) == 2
    assert sorted(Path(f.subject).name for f in found.findings if f.kind == "conflict") == versions
    assert {f.kind for f in found.findings} == {"conflict", "missing"}


def test_region_and_precinct_json_match_the_observers_sums(site, published: Path, tmp_path: Path) -> None:
    expected = verify_published(_subset(published, tmp_path / "first", set(range(1, FIRST + 1))), level="region").report
    for unit in expected["units"]:
        data = _get_json(site.url + f"site-api/region/{unit['code']}")
        assert {p["id"]: p["votes"] for p in data["parties"]} == unit["totals"]
        assert (data["status"]["reported"], data["status"]["expected"]) == (unit["precincts_reported"], unit["precincts_expected"])
        assert data["missing"] == unit["missing"] and data["turnout_percent"] == unit["turnout_percent"]
        assert [p["number"] for p in data["precincts"] if p["reported"]] == sorted(set(range(1, FIRST + 1)) - set(unit["missing"]) & {
            p.number for p in site.election.precincts if p.region == unit["code"]})
    signed = SignedProtocol.from_canonical_json((published / "protocols" / "precinct-000007.json").read_bytes()).protocol
    data = _get_json(site.url + "site-api/precinct/7")
    assert data["status"] == "counted" and data["counts"]["ballots_cast"] == signed.ballots_cast
    assert {p["id"]: p["votes"] for p in data["parties"]} == dict(signed.contests[0].votes)
