"""Totals per territorial unit, summed by the database (GROUP BY), as `ProtocolTotals`.

The result has the same type `election.protocol.sum_protocols` returns, so the
report is built the same way from the commission's SQL sums and from an
observer's own sums of the published files (`verify.py`), and the two can be
compared field by field.

"Voters who took part" is `took_part` (ballots counted: cast by card + paper ballots
found in the stationary and mobile boxes), and a contest's is `contest_took_part`:
every report, the site, the outcome and the turnout read it there.

Levels: `national` (one unit), `region` (territory.regions), `district` (the
Mäjilis single-member districts; only elections under a law that has them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import func, literal, select

from sailau.election.definition import Election
from sailau.election.protocol import (
    PAPER_COUNTS,
    PRECINCT_COUNTS,
    ContestResult,
    PaperCount,
    Protocol,
    ProtocolTotals,
    sum_protocols,
)

from . import models
from .db import CommissionDB

LEVELS = ("national", "region", "district")
NATIONAL = "national"


class LevelError(ValueError):
    """A report level the election cannot be broken down by."""


def unit_key_of(election: Election, level: str) -> dict[int, str]:
    """precinct number -> unit code at `level`, for every precinct of the definition."""
    check_level(election, level)
    if level == "national":
        return {p.number: NATIONAL for p in election.precincts}
    if level == "region":
        return {p.number: p.region for p in election.precincts}
    return {p.number: p.district for p in election.precincts if p.district is not None}


def check_level(election: Election, level: str) -> None:
    if level not in LEVELS:
        raise LevelError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    if level == "district" and not any(d.level == "national" for d in election.territory.districts):
        raise LevelError(
            f"election {election.id} (law {election.law}) has no Mäjilis single-member districts: report by region or national"
        )


def unit_names(election: Election, level: str) -> dict[str, str]:
    """unit code -> English name, in definition order."""
    if level == "national":
        return {NATIONAL: "Kazakhstan"}
    if level == "region":
        return {r.code: r.name.en for r in election.territory.regions}
    return {d.code: d.name.en for d in election.territory.districts if d.level == "national"}


def took_part(p: Protocol | ProtocolTotals) -> int:
    """Voters who took part: the ballots counted (card + paper found in the boxes)."""
    return p.ballots_counted


def contest_took_part(totals: ProtocolTotals, contest_id: str) -> int:
    """Voters who took part in a contest: the ballots counted that carried it."""
    return totals.contest_ballots.get(contest_id, took_part(totals))


def _totals(election: Election, precincts: Iterable[int], counts: Mapping[str, int], contests: Mapping[str, list[int]],
            votes: Mapping[str, dict[str, int]], paper: PaperCount | None) -> ProtocolTotals:
    return ProtocolTotals(
        election_id=election.id,
        election_fingerprint=election.fingerprint_hex,
        precincts=tuple(precincts),
        **{name: int(counts[name]) for name in PRECINCT_COUNTS},
        contests=tuple(ContestResult(cid, votes.get(cid, {}), against_all=o[0], blank=o[1], invalid=o[2]) for cid, o in contests.items()),
        contest_ballots={cid: o[3] for cid, o in contests.items()},
        paper=paper,
    )


def db_unit_totals(db: CommissionDB, election: Election, level: str) -> dict[str, ProtocolTotals]:
    """Totals per unit at `level` from the database; units with no protocol are absent."""
    check_level(election, level)
    P, C, O = models.protocols, models.contest_results, models.option_votes
    key = {"national": literal(NATIONAL), "region": P.c.region, "district": P.c.district}[level].label("unit")
    with db.begin() as conn:
        precincts: dict[str, list[int]] = defaultdict(list)
        for unit, n in conn.execute(select(key, P.c.precinct).order_by(P.c.precinct)):
            precincts[unit].append(int(n))
        counts = {
            row.unit: {name: int(getattr(row, name)) for name in PRECINCT_COUNTS}
            for row in conn.execute(select(key, *(func.sum(getattr(P.c, n)).label(n) for n in PRECINCT_COUNTS)).group_by(key))
        }
        contests: dict[str, dict[str, list[int]]] = defaultdict(dict)
        for row in conn.execute(
            select(key, C.c.contest_id, func.sum(C.c.against_all), func.sum(C.c.blank), func.sum(C.c.invalid), func.sum(C.c.ballots))
            .join_from(C, P, C.c.precinct == P.c.precinct)
            .group_by(key, C.c.contest_id)
        ):
            contests[row[0]][row[1]] = [int(x) for x in row[2:]]
        votes: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
        for unit, cid, oid, n in conn.execute(
            select(key, O.c.contest_id, O.c.option_id, func.sum(O.c.votes))
            .join_from(O, P, O.c.precinct == P.c.precinct)
            .group_by(key, O.c.contest_id, O.c.option_id)
        ):
            votes[unit][cid][oid] = int(n)
        paper = _db_paper(conn, key)
    return {
        unit: _totals(election, precincts[unit], counts[unit], contests.get(unit, {}), votes.get(unit, {}), paper.get(unit))
        for unit in counts
        if unit is not None
    }


def _db_paper(conn: Any, key: Any) -> dict[str, PaperCount]:
    """The paper sections summed per unit over the precincts that used paper (as
    `sum_protocols` adds them); a unit with none is absent."""
    P, C, O = models.protocols, models.contest_results, models.option_votes
    counts = {
        row[0]: [int(x) for x in row[1:]]
        for row in conn.execute(select(key, *(func.sum(getattr(P.c, f"paper_{n}")) for n in PAPER_COUNTS))
                                .where(P.c.has_paper).group_by(key))
    }
    others: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for row in conn.execute(
        select(key, C.c.contest_id, func.sum(C.c.paper_against_all), func.sum(C.c.paper_blank), func.sum(C.c.paper_invalid))
        .join_from(C, P, C.c.precinct == P.c.precinct).where(P.c.has_paper).group_by(key, C.c.contest_id)
    ):
        others[row[0]][row[1]] = [int(x) for x in row[2:]]
    votes: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for unit, cid, oid, n in conn.execute(
        select(key, O.c.contest_id, O.c.option_id, func.sum(O.c.paper_votes))
        .join_from(O, P, O.c.precinct == P.c.precinct).where(P.c.has_paper).group_by(key, O.c.contest_id, O.c.option_id)
    ):
        votes[unit][cid][oid] = int(n)
    return {
        unit: PaperCount(**dict(zip(PAPER_COUNTS, c)),
                         contests=tuple(ContestResult(cid, votes[unit].get(cid, {}), *o) for cid, o in others[unit].items()))
        for unit, c in counts.items()
        if unit is not None
    }


def python_unit_totals(protocols: Iterable[Protocol], election: Election, level: str) -> dict[str, ProtocolTotals]:
    """The same totals summed in Python from protocols (the observer's path)."""
    keys = unit_key_of(election, level)
    groups: dict[str, list[Protocol]] = defaultdict(list)
    for p in protocols:
        unit = keys.get(p.precinct)
        if unit is not None:
            groups[unit].append(p)
    return {unit: sum_protocols(ps) for unit, ps in groups.items()}


def percent(part: int, whole: int) -> float | None:
    """A share in percent, two decimals, for reports (None when there is no whole)."""
    return None if whole == 0 else round(100 * part / whole, 2)


def counts_of(totals: ProtocolTotals | None) -> dict[str, int]:
    """The precinct counts of a unit's totals (zeros for a unit nothing came from),
    with `ballots_counted` (voters who took part) and the paper ballots found."""
    counts = {name: (getattr(totals, name) if totals is not None else 0) for name in PRECINCT_COUNTS}
    counts["ballots_counted"] = took_part(totals) if totals is not None else 0
    counts["paper_found"] = totals.paper.found if totals is not None and totals.paper is not None else 0
    return counts


def report_coverage(election: Election, level: str, national: ProtocolTotals | None, conflicts: Iterable[int]) -> dict[str, Any]:
    """The coverage part of a commission report (either kind), in report key order:
    `complete`, `precincts` (expected, reported, missing, conflicts), `counts`,
    `turnout_percent`. Checks `level` first (LevelError), before anything is summed."""
    check_level(election, level)
    expected = sorted(p.number for p in election.precincts)
    reported = set(national.precincts) if national is not None else set()
    missing = [n for n in expected if n not in reported]
    counts = counts_of(national)
    return {
        "complete": not missing,
        "precincts": {"expected": len(expected), "reported": len(reported), "missing": missing,
                      "conflicts": sorted(set(conflicts))},
        "counts": counts,
        "turnout_percent": percent(counts["ballots_counted"], counts["voters_on_list"]),
    }


def unit_rows(
    election: Election, level: str, units: Mapping[str, ProtocolTotals],
    extra: Callable[[ProtocolTotals | None], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every unit's row at `level`, in definition order: `unit_row` plus what
    `extra` says of the unit's totals (None for a unit nothing came from)."""
    keys = unit_key_of(election, level)
    return [
        {**unit_row(code, name, (n for n, k in keys.items() if k == code), units.get(code)), **extra(units.get(code))}
        for code, name in unit_names(election, level).items()
    ]


def unit_row(code: str, name: str, precincts: Iterable[int], totals: ProtocolTotals | None) -> dict[str, Any]:
    """One unit's row of a commission report (either kind): its precincts expected,
    reported and missing, its counts and turnout. Callers add the votes."""
    mine = sorted(precincts)
    got = set(totals.precincts) if totals is not None else set()
    c = counts_of(totals)
    return {
        "code": code,
        "name": name,
        "precincts_expected": len(mine),
        "precincts_reported": len(got),
        "missing": [n for n in mine if n not in got],
        **c,
        "turnout_percent": percent(c["ballots_counted"], c["voters_on_list"]),
    }
