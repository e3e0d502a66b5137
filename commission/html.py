"""The report as one self-contained HTML page (charts inline as SVG; no scripts).

`write_html(report, path)` also writes the charts as PNG and SVG files into
`<path stem>-charts/` beside the page, for people who want the images alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from .charts import render_charts, svg_text
from .wording import LEVEL_HEADINGS, allocation_text

LEVEL_UNIT = {"national": "country", "region": "region", "district": "district"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}.warn{color:#a00;font-weight:bold}
.charts svg{max-width:100%;height:auto}
"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


def render_html(report: Mapping[str, Any]) -> str:
    names = report.get("parties", {})
    e = report["election"]
    pr = report["precincts"]
    status = (
        "<p>All precincts reported.</p>"
        if report["complete"]
        else f"<p class='warn'>Provisional: {pr['reported']:,} of {pr['expected']:,} precincts reported; "
        f"missing: {escape(', '.join(map(str, pr['missing'][:200])))}{' …' if len(pr['missing']) > 200 else ''}</p>"
    )
    parties = _table(
        ["party", "votes", "share %", "list seats", "Mäjilis seats"],
        [[names.get(p, p), v, report["shares_percent"].get(p), report["seats"].get(p, 0), report["majilis_seats"].get(p, 0)] for p, v in report["totals"].items()],
    )
    counts = _table(["", "count"], [[k.replace("_", " "), v] for k, v in report["counts"].items()] + [["turnout %", report["turnout_percent"]]])
    units = _table(
        [LEVEL_UNIT.get(report["level"], report["level"]), "precincts", "reported", "voters on list", "voters who took part", "turnout %", *[names.get(p, p) for p in report["totals"]]],
        [[u["name"], u["precincts_expected"], u["precincts_reported"], u["voters_on_list"], u["ballots_counted"], u["turnout_percent"], *u["totals"].values()] for u in report["units"]],
    )
    single = ""
    if report["single_member"]:
        single = "<h2>Single-member districts</h2>" + _table(
            ["district", "outcome", "winner", "party", "votes", "against all", "tied"],
            [[d["district"], d["outcome"], d["winner"], d["winner_party"], d["top_votes"], d["against_all"], ", ".join(d["tied"])] for d in report["single_member"]],
        )
    alloc_text = escape(allocation_text(report["allocation"], names))
    charts = "".join(f"<figure>{svg_text(report, n)}</figure>" for n in ("hemicycle", "vote-share", "turnout"))
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{escape(e['name'])}</title><style>{_CSS}</style></head><body>"
        f"<h1>{escape(e['name'])}</h1><p>Election <code>{escape(e['id'])}</code>, definition SHA-256 <code>{escape(e['fingerprint'])}</code>, "
        f"law <code>{escape(e['law'])}</code>.</p>{status}"
        f"<h2>Results</h2>{parties}<p>{alloc_text}</p>{single}<h2>Counts</h2>{counts}"
        f"<h2>{escape(LEVEL_HEADINGS.get(report['level'], report['level']))}</h2>{units}<div class='charts'>{charts}</div></body></html>\n"
    )


def write_html(report: Mapping[str, Any], path: str | Path) -> dict[str, dict[str, Path]]:
    path = Path(path)
    path.write_text(render_html(report), encoding="utf-8")
    return render_charts(report, path.with_name(path.stem + "-charts"))
