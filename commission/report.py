"""The commission's results report: totals per unit, turnout, seats, what is missing.

`build_report` takes totals (from the database, or an observer's own sums) and
returns plain JSON-able data; `commission report --json` writes it, `--html`
renders it with charts, and `sailau verify` rebuilds it from the published files
and compares the two field by field. Integers are exact; percentages are
rounded to 2 decimals from those integers (so both sides get the same value).
Seats are allocated on whatever has been reported; `complete` says whether
every precinct of the definition is in. `precincts.conflicts` names the
precincts with different validly signed protocols and no decision settling them
(conflicts.py): they are among `missing`, since none of their protocols counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sailau.election.definition import MAJILIS_LAWS, Election, SingleMemberContest
from sailau.election.law import (
    CandidateVotes,
    DistrictVotes,
    LawError,
    allocate_list_seats,
    get_law,
    single_member_winners,
)
from sailau.election.protocol import ProtocolTotals, party_list_votes

from . import models
from .outcome import has_maslikhats as _has_maslikhats
from .outcome import maslikhat_report as _maslikhats
from .aggregate import NATIONAL, check_level, contest_took_part, db_unit_totals, percent, report_coverage, unit_rows
from .db import CommissionDB

REPORT_FORMAT = "sailau/commission-report"
REPORT_VERSION = 4  # 2: precincts.conflicts; 3: party_colours; 4: counts of protocol format 4 (ballots_counted, paper_found, voter counts)
#: A district-level report of a national election is a few MB.
MAX_REPORT_BYTES = 64 * 1024 * 1024


#: Colours for parties whose definition gives none, by registration order; each
#: has at least 3:1 contrast on white (WCAG 1.4.11, graphics) and white text on it
#: at least 3:1 too.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#c2185b", "#616161", "#b35900", "#00838f", "#5d4037")
INDEPENDENT_COLOUR = "#555555"


def party_colours(election: Election) -> dict[str, str]:
    """party id -> "#rrggbb": the definition's `colour`, else PALETTE by registration order."""
    ordered = sorted(election.parties, key=lambda p: p.registration_number)
    return {p.id: p.colour or PALETTE[i % len(PALETTE)] for i, p in enumerate(ordered)}


def _party_totals(totals: ProtocolTotals | None, election: Election) -> dict[str, int]:
    contest = election.party_list_contest
    ids = [p.id for p in election.parties if p.id in contest.options]  # registration order
    if totals is None:
        return dict.fromkeys(ids, 0)
    try:
        result = totals.contest(contest.id)
    except KeyError:
        return dict.fromkeys(ids, 0)
    return {pid: result.votes.get(pid, 0) for pid in ids}


def _seats(totals: ProtocolTotals | None, election: Election) -> tuple[dict[str, int], dict[str, Any]]:
    zero = dict.fromkeys(_party_totals(None, election), 0)
    if totals is None:
        return zero, {"law": election.law, "error": "no protocols reported"}
    try:
        parties, participated, against_all = party_list_votes(totals, election)
        a = allocate_list_seats(election.law, parties, participated, against_all)
    except (KeyError, LawError) as e:
        return zero, {"law": election.law, "error": str(e)}
    return dict(a.seats), {
        "law": a.law.id,
        "list_seats": a.law.list_seats,
        "participated": a.participated,
        "threshold_votes": str(a.threshold_votes),
        "quota": str(a.quota),
        "qualified": a.qualified,
        "remainder_seats": a.remainder_seats,
        "runner_up": a.runner_up,
    }


def _single_member(totals: ProtocolTotals | None, election: Election) -> list[dict[str, Any]]:
    law = get_law(election.law)
    races = [c for c in election.contests if isinstance(c, SingleMemberContest) and c.level == "national"]
    if not law.single_member_seats or not races:
        return []
    districts = []
    for c in races:
        try:
            r = totals.contest(c.id) if totals is not None else None
        except KeyError:
            r = None
        districts.append(
            DistrictVotes(c.district, [CandidateVotes(k.id, r.votes.get(k.id, 0) if r else 0) for k in c.candidates], r.against_all if r else 0)
        )
    out = []
    for c, res in zip(races, single_member_winners(election.law, districts)):
        party = {k.id: k.party for k in c.candidates}
        out.append(
            {
                "district": res.district,
                "contest": c.id,
                "outcome": res.outcome.value,
                "winner": res.winner,
                "winner_party": party.get(res.winner) if res.winner else None,
                "tied": list(res.tied) if res.outcome.value == "tie" else [],
                "top_votes": res.top_votes,
                "against_all": res.against_all,
            }
        )
    return out


def _contests(totals: ProtocolTotals | None) -> dict[str, Any]:
    if totals is None:
        return {}
    return {
        c.contest_id: {
            "votes": dict(c.votes),
            "against_all": c.against_all,
            "blank": c.blank,
            "invalid": c.invalid,
            "ballots": contest_took_part(totals, c.contest_id),
        }
        for c in totals.contests
    }


def build_report(
    election: Election,
    level: str,
    units: Mapping[str, ProtocolTotals],
    national: ProtocolTotals | None,
    conflicts: Iterable[int] = (),
    regions: Mapping[str, ProtocolTotals] | None = None,
) -> dict[str, Any]:
    """The report data for `level`, from per-unit and national totals and the
    precincts left in conflict. A presidential election or a referendum has no
    seats: its report is `outcome.outcome_report` (which needs the totals per
    region, `regions`, for a referendum's two-thirds rule)."""
    if election.law not in MAJILIS_LAWS:
        from .outcome import outcome_report

        return outcome_report(election, level, units, national, regions or {}, conflicts)
    coverage = report_coverage(election, level, national, conflicts)
    totals = _party_totals(national, election)
    seats, allocation = _seats(national, election)
    contest = election.party_list_contest
    plist = _contests(national).get(contest.id, {"votes": {}, "against_all": 0, "blank": 0, "invalid": 0, "ballots": 0})
    single = _single_member(national, election)

    majilis: dict[str, int] = dict(seats)
    for d in single:
        if d["outcome"] == "elected":
            who = d["winner_party"] or "independent"
            majilis[who] = majilis.get(who, 0) + 1

    rows = unit_rows(election, level, units, lambda t: {"totals": _party_totals(t, election)})

    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "election": {"id": election.id, "fingerprint": election.fingerprint_hex, "law": election.law, "name": election.name.en},
        "parties": {pid: election.party(pid).name.en for pid in totals},
        "party_colours": {pid: c for pid, c in party_colours(election).items() if pid in totals},
        "level": level,
        **coverage,
        "totals": totals,
        "shares_percent": {pid: percent(v, plist["ballots"]) for pid, v in totals.items()},
        "party_list": {k: plist[k] for k in ("against_all", "blank", "invalid", "ballots")},
        "seats": seats,
        "allocation": allocation,
        "single_member": single,
        "majilis_seats": majilis,
        "contests": _contests(national),
        "units": rows,
        **({"maslikhats": _maslikhats(election, national)} if _has_maslikhats(election) else {}),
    }


def commission_report(db: CommissionDB, level: str = "national") -> dict[str, Any]:
    """The report from the database's SQL sums."""
    election, _ = db.bound_election()
    check_level(election, level)
    national = db_unit_totals(db, election, "national").get(NATIONAL)
    units = {NATIONAL: national} if level == "national" and national else db_unit_totals(db, election, level)
    regions = db_unit_totals(db, election, "region") if election.law not in MAJILIS_LAWS else None
    return build_report(election, level, units, national, db_conflicts(db), regions)


def db_conflicts(db: CommissionDB) -> list[int]:
    """Precincts with a valid protocol stored but none counted: in conflict (conflicts.py)."""
    V, P = models.protocol_versions, models.protocols
    with db.begin() as conn:
        rows = conn.execute(select(V.c.precinct).distinct().where(V.c.precinct.not_in(select(P.c.precinct))))
        return sorted(int(n) for (n,) in rows)


def report_json_bytes(report: Mapping[str, Any]) -> bytes:
    return (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_report_json(report: Mapping[str, Any], path: str | Path) -> None:
    Path(path).write_bytes(report_json_bytes(report))
