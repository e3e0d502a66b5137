"""Signed hourly turnout reports at the commission: check, store, sum by hour and region.

Checks, in order, named as a protocol's (checks.Reason): the size (`too_large`,
over `turnout.MAX_SIGNED_TURNOUT_BYTES`, refused unread), depth (`too_deep`),
integers (`count_out_of_range`), strict canonical form (`format`), election id
and fingerprint (`election`), key enrolled (`unknown_station`), same public key
(`station_key_mismatch`), enrolled for this precinct (`wrong_station`), signature
(`signature`), the report's relations (`relations`: precinct in the definition,
a CEC hour of election day, no more voters with a ballot than on the list).

A valid report is a *version* of its (precinct, hour) in `turnout_versions`; the
same bytes again change nothing (`unchanged`). Which version counts is the rule of
`conflicts.decide_precinct` with no decisions: one counts, two different ones are
a conflict and neither counts (a station signs one report per hour; a second,
different one means something is wrong there, and a person must look).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, tuple_

from sailau.election import jsonfile
from sailau.election.definition import Election
from sailau.election.turnout import (
    MAX_SIGNED_TURNOUT_BYTES,
    SignedTurnout,
    TurnoutError,
    TurnoutSignatureError,
    turnout_violations,
    verify_signed_turnout,
)

from . import models
from .checks import Reason, Refusal
from .conflicts import PrecinctStatus, decide_precinct
from .db import CommissionDB
from .registry import StationRegistry


@dataclass(frozen=True)
class CheckedTurnout:
    source: str
    signed: SignedTurnout
    raw: bytes
    digest: str
    region: str


def check_turnout_file(raw: bytes, source: str, election: Election, registry: StationRegistry) -> CheckedTurnout | Refusal:
    """Every check on one signed turnout report's bytes (module docstring, in order)."""
    try:
        signed = SignedTurnout.from_canonical_json(raw)
    except TurnoutError as e:
        return Refusal(source, None, Reason(e.reason), str(e))
    r = signed.report
    if r.election_id != election.id or r.election_fingerprint != election.fingerprint_hex:
        return Refusal(source, r.precinct, Reason.ELECTION,
                       f"turnout report is for election {r.election_id!r} with fingerprint {r.election_fingerprint[:16]}..., "
                       f"this is {election.id!r} with {election.fingerprint_hex[:16]}...")
    enrolled = registry.by_key_id.get(signed.station_key_id)
    if enrolled is None:
        return Refusal(source, r.precinct, Reason.UNKNOWN_STATION, f"station key {signed.station_key_id.hex()} is not in the station key registry")
    if enrolled.public_key != signed.public_key:
        return Refusal(source, r.precinct, Reason.STATION_KEY_MISMATCH,
                       f"station key id {signed.station_key_id.hex()} is enrolled with another public key")
    if enrolled.precinct != r.precinct:
        return Refusal(source, r.precinct, Reason.WRONG_STATION,
                       f"signed by the station key of precinct {enrolled.precinct} ({signed.station_key_id.hex()})")
    try:
        verify_signed_turnout(signed)
    except TurnoutSignatureError as e:
        return Refusal(source, r.precinct, Reason.SIGNATURE, str(e))
    problems = turnout_violations(r, election)
    if problems:
        return Refusal(source, r.precinct, Reason.RELATIONS, "; ".join(problems))
    return CheckedTurnout(source, signed, raw, hashlib.sha256(raw).hexdigest(), election.precinct(r.precinct).region)


def check_turnout_path(path: Path, election: Election, registry: StationRegistry) -> CheckedTurnout | Refusal:
    try:
        raw = jsonfile.read_bounded(path, MAX_SIGNED_TURNOUT_BYTES, "a signed turnout report", subject="")
    except jsonfile.InputError as e:
        return Refusal(str(path), None, Reason(e.reason), str(e))
    except OSError as e:
        return Refusal(str(path), None, Reason.FORMAT, f"cannot read file ({e.strerror})")
    return check_turnout_file(raw, str(path), election, registry)


@dataclass(frozen=True)
class TurnoutOutcome:
    """What storing one checked report did: `unchanged` (these bytes were stored
    already), else the (precinct, hour)'s status after it: accepted or conflict."""

    digest: str
    precinct: int
    hour: str
    unchanged: bool
    status: PrecinctStatus
    why: str


def store_turnout(db: CommissionDB, checked: Sequence[CheckedTurnout]) -> list[TurnoutOutcome]:
    """Store the new versions among `checked` in one transaction; an outcome per item, in order."""
    if not checked:
        return []
    T = models.turnout_versions
    keys = sorted({(c.signed.report.precinct, c.signed.report.hour) for c in checked})
    out: list[TurnoutOutcome] = []
    with db.begin() as conn:
        versions: dict[tuple[int, str], set[str]] = defaultdict(set)
        numbers = sorted({k[0] for k in keys})
        for n, hour, digest in conn.execute(select(T.c.precinct, T.c.hour, T.c.digest).where(T.c.precinct.in_(numbers))):
            versions[(int(n), hour)].add(digest)
        rows = []
        fresh: list[bool] = []
        for c in checked:
            r = c.signed.report
            key = (r.precinct, r.hour)
            new = c.digest not in versions[key]
            fresh.append(new)
            if new:
                versions[key].add(c.digest)
                rows.append({"precinct": r.precinct, "hour": r.hour, "digest": c.digest, "region": c.region,
                             "station_key_id": c.signed.station_key_id.hex(), "received_ballot": r.received_ballot,
                             "voters_on_list": r.voters_on_list, "signed": c.raw})
        if rows:
            conn.execute(insert(T), rows)
    for c, new in zip(checked, fresh):
        r = c.signed.report
        outcome = decide_precinct(r.precinct, versions[(r.precinct, r.hour)], ())
        why = outcome.why if outcome.status is PrecinctStatus.CONFLICT else "counted"
        out.append(TurnoutOutcome(c.digest, r.precinct, r.hour, not new, outcome.status, why))
    return out


def import_turnout(db: CommissionDB, paths: Iterable[Path], election: Election, registry: StationRegistry,
                   chunk_size: int = 2000) -> tuple[list[TurnoutOutcome], list[Refusal]]:
    """Check and store turnout report files in chunks; (outcomes, refusals)."""
    outcomes: list[TurnoutOutcome] = []
    refused: list[Refusal] = []
    chunk: list[CheckedTurnout] = []
    for path in paths:
        result = check_turnout_path(Path(path), election, registry)
        if isinstance(result, Refusal):
            refused.append(result)
        else:
            chunk.append(result)
        if len(chunk) >= chunk_size:
            outcomes.extend(store_turnout(db, chunk))
            chunk = []
    outcomes.extend(store_turnout(db, chunk))
    return outcomes, refused


def turnout_report(db: CommissionDB, election: Election) -> dict[str, Any]:
    """Turnout by local hour, nationally and by region, from the reports that count
    (one version per precinct and hour). Percent is of the voters on the lists of
    the precincts that reported that hour; `precincts` says how many did."""
    T = models.turnout_versions
    single = (select(T.c.precinct, T.c.hour).group_by(T.c.precinct, T.c.hour).having(func.count() == 1)).subquery()
    q = (select(T.c.hour, T.c.region, func.count(), func.sum(T.c.received_ballot), func.sum(T.c.voters_on_list))
         .where(tuple_(T.c.precinct, T.c.hour).in_(select(single.c.precinct, single.c.hour)))
         .group_by(T.c.hour, T.c.region))
    conflicts = (select(T.c.precinct, T.c.hour).group_by(T.c.precinct, T.c.hour).having(func.count() > 1))
    with db.begin() as conn:
        rows = [(h, reg, int(n), int(rec), int(lst)) for h, reg, n, rec, lst in conn.execute(q)]
        in_conflict = [{"precinct": int(n), "hour": h} for n, h in conn.execute(conflicts)]

    def entry(n: int, rec: int, lst: int) -> dict[str, Any]:
        return {"precincts": n, "received_ballot": rec, "voters_on_list": lst,
                "percent": round(100 * rec / lst, 2) if lst else None}

    national: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    regions: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for hour, region, n, rec, lst in rows:
        acc = national[hour]
        acc[0] += n
        acc[1] += rec
        acc[2] += lst
        regions[region][hour] = entry(n, rec, lst)
    return {
        "format": "sailau/turnout-by-hour",
        "election": {"id": election.id, "fingerprint": election.fingerprint_hex},
        "expected_precincts": len(election.precincts),
        "national": {hour: entry(*acc) for hour, acc in sorted(national.items())},
        "regions": {code: dict(sorted(hours.items())) for code, hours in sorted(regions.items())},
        "conflicts": sorted(in_conflict, key=lambda c: (c["precinct"], c["hour"])),
    }


@dataclass(frozen=True)
class HourTotals:
    """One CEC hour's turnout over the precincts whose report for it counts (the
    shape the results site reads, `commission/site/turnout.py`)."""

    hour: int  # local wall-clock hour, one of election.turnout.CEC_HOURS
    voted: int  # received a ballot before that hour
    voters_on_list: int
    precincts_reported: int


def turnout_by_hour(report: dict[str, Any], level: str, unit: str | None) -> list[HourTotals]:
    """One unit of a `turnout_report` ("national", or "region" with its code) by
    local hour: reports of one local hour under different UTC offsets (two time
    zones, or a change of zone) are the same CEC hour and are added up."""
    hours = report["national"] if level == "national" else report["regions"].get(unit or "", {})
    acc: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for hour, e in hours.items():
        row = acc[int(hour[11:13])]
        row[0] += e["received_ballot"]
        row[1] += e["voters_on_list"]
        row[2] += e["precincts"]
    return [HourTotals(h, *acc[h]) for h in sorted(acc)]
