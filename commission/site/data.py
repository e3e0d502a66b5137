"""What the results site shows, as JSON-able data, from the commission database.

Every figure comes from report.py (`commission_report`: the same SQL sums, seat
allocation and missing-precinct list as `sailau commission report`); this module
only selects and arranges it for a page, adds the names in kk/ru/en and the
colours from the definition, and the seat positions of the hemicycle. Nothing is
counted here. A refused protocol never reaches the database (importer.py), so it
cannot appear on any page.

`Snapshot` caches the report per database state: the state is the number of
rows of `protocols`, `protocol_versions` and `conflict_decisions` (every import
that changes what counts changes one of them: a new precinct, a new version that
withdraws one, a decision), so polling pages cost three COUNTs until something
arrives. While results pour in (the state changes between every two polls) the
report is recomputed at most once every `MIN_REFRESH_SECONDS`: a national report
over 10,000 precincts takes about a second, and every open page asks every few
seconds.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from sailau.election.definition import Election
from sailau.election.law import get_law
from sailau.election.protocol import PAPER_COUNTS, SignedProtocol

from .. import models
from ..charts import hemicycle_positions
from ..db import CommissionDB
from ..aggregate import percent, took_part
from ..report import commission_report, party_colours
from ..wording import decimal_text, quota_line, threshold_line
from .tiles import tile_layout
from .turnout import turnout_payload

LANGS = ("kk", "ru", "en")
MIN_REFRESH_SECONDS = 2.0


def _names(text: Any) -> dict[str, str]:
    return {k: getattr(text, k) for k in LANGS}


class Snapshot:
    """The region-level report of the current database state, cached by state."""

    def __init__(self, db: CommissionDB) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int, int], dict[str, Any]] | None = None  # (state, report), replaced whole
        self._at = 0.0

    def state(self) -> tuple[int, int, int]:
        with self.db.begin() as conn:
            return tuple(  # type: ignore[return-value]
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (models.protocols, models.protocol_versions, models.conflict_decisions)
            )

    def report(self) -> tuple[str, dict[str, Any]]:
        """(stamp, region-level report); the stamp changes whenever the report may.
        While one request recomputes, the others get the previous report at once."""
        cached = self._cached
        if not self._lock.acquire(blocking=cached is None):
            assert cached is not None
            return "-".join(map(str, cached[0])), cached[1]
        try:
            if self._cached is None or time.monotonic() - self._at >= MIN_REFRESH_SECONDS:
                state = self.state()  # before the report: the report is never older than its stamp
                if self._cached is None or state != self._cached[0]:
                    self._cached = (state, commission_report(self.db, "region"))
                self._at = time.monotonic()
            state, report = self._cached
            return "-".join(map(str, state)), report
        finally:
            self._lock.release()


def _parties(election: Election, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    colours = party_colours(election)
    participated = report["allocation"].get("participated")
    out = []
    for pid, votes in report["totals"].items():
        party = election.party(pid)
        out.append({
            "id": pid,
            "names": _names(party.name),
            "colour": colours[pid],
            "votes": votes,
            "share_percent": percent(votes, participated) if participated else None,
            "list_seats": report["seats"].get(pid, 0),
            "majilis_seats": report["majilis_seats"].get(pid, 0),
            "qualified": pid in report["allocation"].get("qualified", []),
        })
    return out


def _hemicycle(election: Election, report: Mapping[str, Any], colours: Mapping[str, str]) -> dict[str, Any]:
    law = get_law(election.law)
    order = [p for p in report["totals"] if report["majilis_seats"].get(p)]
    order += [p for p, n in report["majilis_seats"].items() if n and p not in order]
    seats = [p for p in order for _ in range(report["majilis_seats"][p])]
    seats += [None] * (law.total_seats - len(seats))
    return {
        "total": law.total_seats,
        "seats": [{"x": round(x, 4), "y": round(y, 4), "party": p} for (x, y), p in zip(hemicycle_positions(law.total_seats), seats)],
        "colours": {p: colours.get(p, "#555555") for p in order},
    }


def _allocation(report: Mapping[str, Any]) -> dict[str, Any]:
    a = dict(report["allocation"])
    law = get_law(report["election"]["law"])
    a["threshold_percent"] = float(law.threshold * 100)
    if "error" not in a:  # exact Fractions rounded once, here (wording.py); the page only groups digits
        a["threshold_votes_decimal"] = decimal_text(a["threshold_votes"], grouping=False)
        a["quota_decimal"] = decimal_text(a["quota"], grouping=False)
        a["threshold_line"] = threshold_line(a)  # the English sentence, as in the report
        a["quota_line"] = quota_line(a)
    return a


def _single_member(election: Election, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Single-member districts (2023 law): the report's outcomes with names in three languages."""
    districts = {d.code: d for d in election.territory.districts}
    contests = {c.id: c for c in election.contests}
    out = []
    for d in report["single_member"]:
        candidates = {k.id: k for k in getattr(contests[d["contest"]], "candidates", ())}
        winner = candidates.get(d["winner"]) if d["winner"] else None
        out.append({
            "district": d["district"], "names": _names(districts[d["district"]].name) if d["district"] in districts else {k: d["district"] for k in LANGS},
            "outcome": d["outcome"], "winner": _names(winner.name) if winner else None, "party": d["winner_party"],
            "tied": [_names(candidates[t].name) for t in d["tied"] if t in candidates],
            "top_votes": d["top_votes"], "against_all": d["against_all"],
        })
    return out


def _status(report: Mapping[str, Any]) -> dict[str, Any]:
    pr = report["precincts"]
    return {"expected": pr["expected"], "reported": pr["reported"], "missing_count": len(pr["missing"]),
            "conflicts": pr["conflicts"], "complete": report["complete"]}


def national_payload(election: Election, stamp: str, report: Mapping[str, Any], turnout: Any,
                     region_turnout: Mapping[str, Any] | None = None) -> dict[str, Any]:
    colours = party_colours(election)
    regions = {r.code: r for r in election.territory.regions}
    tiles = tile_layout([(r.code, r.name.en) for r in election.territory.regions])
    units = []
    for u in report["units"]:
        leading = max(u["totals"].items(), key=lambda kv: (kv[1], -list(u["totals"]).index(kv[0])), default=(None, 0))
        units.append({
            "code": u["code"], "names": _names(regions[u["code"]].name),
            "expected": u["precincts_expected"], "reported": u["precincts_reported"],
            "missing": u["missing"], "turnout_percent": u["turnout_percent"],
            "leading": leading[0] if leading[1] > 0 else None,
            "tile": tiles[u["code"]],
            "turnout_by_hour": (region_turnout or {}).get(u["code"]),
        })
    return {
        "kind": "national",
        "stamp": stamp,
        "election": {"id": election.id, "names": _names(election.name), "law": election.law, "date": election.date.isoformat(),
                     "fingerprint": election.fingerprint_hex},
        "status": _status(report),
        "turnout_percent": report["turnout_percent"],
        "counts": report["counts"],
        "parties": _parties(election, report),
        "allocation": _allocation(report),
        "hemicycle": _hemicycle(election, report, colours),
        "regions": units,
        "single_member": _single_member(election, report),
        "missing": report["precincts"]["missing"],
        "turnout_by_hour": turnout,
    }


def region_payload(election: Election, stamp: str, report: Mapping[str, Any], code: str, db: CommissionDB, turnout: Any) -> dict[str, Any] | None:
    unit = next((u for u in report["units"] if u["code"] == code), None)
    if unit is None:
        return None
    region = next(r for r in election.territory.regions if r.code == code)
    numbers = [p.number for p in election.precincts if p.region == code]
    P = models.protocols
    with db.begin() as conn:
        rows = {int(r.precinct): r for r in conn.execute(
            select(P.c.precinct, P.c.voters_on_list, P.c.ballots_counted).where(P.c.region == code))}
    colours = party_colours(election)
    parties = [{"id": pid, "names": _names(election.party(pid).name), "colour": colours[pid], "votes": v,
                "share_percent": percent(v, unit["ballots_counted"])} for pid, v in unit["totals"].items()]  # of those who took part
    return {
        "kind": "region",
        "stamp": stamp,
        "election": {"id": election.id, "names": _names(election.name)},
        "region": {"code": code, "names": _names(region.name)},
        "status": {"expected": unit["precincts_expected"], "reported": unit["precincts_reported"],
                   "missing_count": len(unit["missing"]), "complete": not unit["missing"]},
        "turnout_percent": unit["turnout_percent"],
        "counts": {k: unit[k] for k in report["counts"]},
        "parties": parties,
        "precincts": [{"number": n, "reported": n in rows,
                       "turnout_percent": percent(int(rows[n].ballots_counted), int(rows[n].voters_on_list)) if n in rows else None}
                      for n in numbers],
        "missing": unit["missing"],
        "turnout_by_hour": turnout,
    }


def counted_protocol(db: CommissionDB, number: int) -> tuple[str, bytes] | None:
    """(digest, exact signed bytes) of the protocol that counts for precinct `number`."""
    P, V = models.protocols, models.protocol_versions
    with db.begin() as conn:
        row = conn.execute(select(V.c.digest, V.c.signed).join_from(P, V, (P.c.precinct == V.c.precinct) & (P.c.digest == V.c.digest))
                           .where(P.c.precinct == number)).first()
    return None if row is None else (row.digest, bytes(row.signed))


def precinct_payload(election: Election, stamp: str, report: Mapping[str, Any], number: int, db: CommissionDB) -> dict[str, Any] | None:
    try:
        precinct = election.precinct(number)
    except LookupError:
        return None
    region = next(r for r in election.territory.regions if r.code == precinct.region)
    counted = counted_protocol(db, number)
    status = "counted" if counted else ("conflict" if number in report["precincts"]["conflicts"] else "missing")
    out: dict[str, Any] = {
        "kind": "precinct", "stamp": stamp,
        "election": {"id": election.id, "names": _names(election.name)},
        "precinct": {"number": number, "address": _names(precinct.address), "region": {"code": region.code, "names": _names(region.name)}},
        "status": status,
    }
    if counted:
        digest, raw = counted
        p = SignedProtocol.from_canonical_json(raw).protocol  # verified by the importer before it was stored
        colours = party_colours(election)
        contest = election.party_list_contest
        result = next((c for c in p.contests if c.contest_id == contest.id), None)
        votes = dict(result.votes) if result else {}
        ballots = sum(votes.values()) + (result.against_all + result.blank + result.invalid if result else 0)
        out["protocol"] = {"digest": digest, "file": f"precinct-{number:06d}.json"}
        out["counts"] = {"voters_on_list": p.voters_on_list, "voters_additional": p.voters_additional,
                         "voters_checked_in": p.voters_checked_in, "voters_outside": p.voters_outside,
                         "cards_issued": p.cards_issued, "ballots_cast": p.ballots_cast, "cards_cancelled": p.cards_cancelled,
                         "voters_paper": p.voters_paper, "ballots_counted": took_part(p)}
        if p.paper is not None:  # the paper protocol's lines, as the wall copy numbers them
            out["counts"].update({f"paper_{name}": getattr(p.paper, name) for name in PAPER_COUNTS})
        out["turnout_percent"] = percent(took_part(p), p.voters_on_list)
        out["parties"] = [{"id": pid, "names": _names(election.party(pid).name), "colour": colours[pid], "votes": votes.get(pid, 0),
                           "share_percent": percent(votes.get(pid, 0), ballots)}
                          for pid in report["totals"]]
    return out


def _with(stamp: str, turnout: Any) -> str:
    """The page stamp covers turnout too: hourly reports arrive before any protocol."""
    if turnout is None:
        return stamp
    return stamp + "-" + hashlib.sha256(json.dumps(turnout, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Site:
    """What the routes need: the database, the definition, where the published files are."""

    db: CommissionDB
    election: Election
    snapshot: Snapshot
    turnout_source: Any  # ctx, for turnout.turnout_payload

    def national(self) -> dict[str, Any]:
        stamp, report = self.snapshot.report()
        turnout = turnout_payload(self.turnout_source, "national", None)
        regions = {r.code: turnout_payload(self.turnout_source, "region", r.code) for r in self.election.territory.regions} if turnout else {}
        return national_payload(self.election, _with(stamp, [turnout, regions]), report, turnout, regions)

    def region(self, code: str) -> dict[str, Any] | None:
        stamp, report = self.snapshot.report()
        turnout = turnout_payload(self.turnout_source, "region", code)
        return region_payload(self.election, _with(stamp, turnout), report, code, self.db, turnout)

    def precinct(self, number: int) -> dict[str, Any] | None:
        stamp, report = self.snapshot.report()
        return precinct_payload(self.election, stamp, report, number, self.db)
