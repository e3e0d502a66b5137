"""Charts of a commission report (matplotlib, Agg backend: no display needed).

- `hemicycle`: the Mäjilis seats as dots on concentric arcs, parties left to
  right in registration order (list seats plus single-member winners by party).
- `vote_share`: horizontal bars of each party's share of the party-list ballots,
  with the law's threshold as a line.
- `turnout`: turnout (ballots cast / voters on the list) per unit of the report.

`render_charts(report, out_dir)` writes each as PNG and SVG and returns the paths.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sailau.election.law import get_law  # noqa: E402

from .report import INDEPENDENT_COLOUR, PALETTE  # noqa: E402
from .wording import TURNOUT_TITLES, decimal_text  # noqa: E402

FORMATS = ("png", "svg")
_OTHER = "#bbbbbb"


def _party_colours(report: Mapping[str, Any]) -> dict[str, str]:
    """The report's party colours (the definition's, else report.PALETTE), plus independents."""
    parties = list(report["totals"])
    given = report.get("party_colours", {})
    colors = {p: given.get(p) or PALETTE[i % len(PALETTE)] for i, p in enumerate(parties)}
    colors["independent"] = INDEPENDENT_COLOUR
    return colors


def hemicycle_positions(seats: int) -> list[tuple[float, float]]:
    """Seat centres on concentric half rings, ordered left to right by angle."""
    if seats <= 0:
        return []
    rows = max(1, round(math.sqrt(seats / 4)))
    radii = [1.0 + 0.6 * i for i in range(rows)]
    per_row = [max(1, round(seats * r / sum(radii))) for r in radii]
    per_row[-1] += seats - sum(per_row)  # the outer row absorbs rounding
    points = []
    for r, n in zip(radii, per_row):
        for k in range(n):
            angle = math.pi * (1 - (k + 0.5) / n) if n > 1 else math.pi / 2
            points.append((angle, r))
    points.sort(key=lambda p: (-p[0], p[1]))
    return [(r * math.cos(a), r * math.sin(a)) for a, r in points]


def hemicycle(report: Mapping[str, Any]) -> Figure:
    seats: dict[str, int] = {p: n for p, n in report["majilis_seats"].items() if n}
    law = get_law(report["election"]["law"])
    filled = sum(seats.values())
    colors = _party_colours(report)
    order = [p for p in report["totals"] if p in seats] + [p for p in seats if p not in report["totals"]]
    fills = [colors.get(p, _OTHER) for p in order for _ in range(seats[p])]
    fills += [_OTHER] * (law.total_seats - filled)
    fig, ax = plt.subplots(figsize=(8, 4.6))
    pts = hemicycle_positions(law.total_seats)
    ax.scatter([x for x, _ in pts], [y for _, y in pts], c=fills, s=90, edgecolors="white", linewidths=0.5)
    ax.set_aspect("equal")
    ax.axis("off")
    names = report.get("parties", {})
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colors.get(p, _OTHER), label=f"{names.get(p, p)}: {seats[p]}") for p in order]
    if filled < law.total_seats:
        handles.append(plt.Line2D([], [], marker="o", linestyle="", color=_OTHER, label=f"not allocated: {law.total_seats - filled}"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=3, frameon=False, fontsize=9)
    ax.set_title(f"Mäjilis seats ({law.total_seats}) — {report['election']['name']}", fontsize=10)
    ax.text(0, 0.3, f"{filled}", ha="center", fontsize=22, fontweight="bold")
    fig.tight_layout()
    return fig


def vote_share(report: Mapping[str, Any]) -> Figure:
    parties = list(report["totals"])
    names = report.get("parties", {})
    shares = [report["shares_percent"].get(p) or 0.0 for p in parties]
    colors = _party_colours(report)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(parties) + 1.5))
    y = range(len(parties))
    ax.barh(list(y), shares, color=[colors[p] for p in parties])
    ax.set_yticks(list(y), [names.get(p, p) for p in parties])
    ax.invert_yaxis()
    threshold = float(get_law(report["election"]["law"]).threshold * 100)
    for i, (p, s) in enumerate(zip(parties, shares)):
        ax.text(max(s, threshold) + 0.7, i, f"{s:.2f} %  ({report['totals'][p]:,} votes, {report['seats'].get(p, 0)} seats)", va="center", fontsize=8)
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1)
    alloc = report["allocation"]
    label = f"threshold {threshold:g} %" + (f" = {decimal_text(alloc['threshold_votes'])} votes" if "threshold_votes" in alloc else "")
    ax.text(threshold, -0.7, label, fontsize=8)
    ax.set_xlim(0, max(shares + [threshold]) * 1.45 + 1)
    ax.set_xlabel("share of party-list ballots, %")
    ax.set_title("Vote share by party", fontsize=10)
    fig.tight_layout()
    return fig


def turnout(report: Mapping[str, Any]) -> Figure:
    units = [u for u in report["units"] if u["turnout_percent"] is not None]
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(units) + 1.5))
    y = list(range(len(units)))
    ax.barh(y, [u["turnout_percent"] for u in units], color="#3b75af")
    ax.set_yticks(y, [u["name"] for u in units], fontsize=8)
    ax.invert_yaxis()
    national = report.get("turnout_percent")
    if national is not None:
        ax.axvline(national, color="black", linestyle="--", linewidth=1, label=f"overall {national:.2f} %")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("turnout, % of voters on the list")
    ax.set_title(TURNOUT_TITLES.get(report["level"], "Turnout"), fontsize=10)
    fig.tight_layout()
    return fig


CHARTS = {"hemicycle": hemicycle, "vote-share": vote_share, "turnout": turnout}


def render_charts(report: Mapping[str, Any], out_dir: str | Path) -> dict[str, dict[str, Path]]:
    """Write every chart as PNG and SVG into `out_dir`; name -> format -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Path]] = {}
    for name, make in CHARTS.items():
        fig = make(report)
        try:
            for fmt in FORMATS:
                path = out / f"{name}.{fmt}"
                fig.savefig(path, format=fmt, dpi=120)
                written.setdefault(name, {})[fmt] = path
        finally:
            plt.close(fig)
    return written


def svg_text(report: Mapping[str, Any], name: str) -> str:
    """One chart as inline SVG markup (for the HTML report)."""
    fig = CHARTS[name](report)
    try:
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]
