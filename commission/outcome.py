"""The commission's report for elections that allocate no Mäjilis seats: a
presidential election (who is elected, or the second round) and a republican
referendum (each question adopted or not, with the regions that said yes).

`outcome_report` returns the same envelope as `report.build_report` (format,
election, level, precincts, counts, turnout, contests, units) with an `outcome`
member instead of seats, so `commission report --json`, `sailau verify` and the
field-by-field comparison treat both alike. Everything comes from totals (the
database's SQL sums or an observer's own sums of the published files) through the
law engine (`election/president.py`, `election/referendum.py`): the rules live
there, not here.

Readings fixed here:

- "Voters who took part" in a precinct protocol is its ballots counted
  (`aggregate.took_part`: cast by card + paper ballots found in the stationary and
  mobile boxes, blank and invalid included); for a contest, the ballots that carried
  it (`aggregate.contest_took_part`).
- A referendum's regions are the definition's territory regions, every one of
  them: a region with no protocol reported took part with 0 and says no, so an
  incomplete count can only under-state adoption (`complete` says whether it is
  final). `on_list` is the sum over the precincts reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sailau.election.definition import (
    Election,
    PartyListContest,
    PresidentialContest,
    ReferendumQuestion,
    SingleMemberContest,
)
from sailau.election.law import CandidateVotes, DistrictVotes, LawError, PartyVotes
from sailau.election.maslikhat import MaslikhatVotes, maslikhat_results
from sailau.election.president import presidential_result
from sailau.election.protocol import ContestResult, ProtocolTotals
from sailau.election.referendum import RegionVotes, referendum_result

from .aggregate import contest_took_part, report_coverage, unit_rows

OUTCOME_REPORT_VERSION = 3  # the commission report's envelope; 3: counts of protocol format 4


def _contest(totals: ProtocolTotals | None, contest_id: str) -> ContestResult | None:
    if totals is None:
        return None
    try:
        return totals.contest(contest_id)
    except KeyError:
        return None


def _ballots(totals: ProtocolTotals | None, contest_id: str) -> int:
    if totals is None:
        return 0
    return contest_took_part(totals, contest_id)


def presidential_outcome(election: Election, national: ProtocolTotals | None) -> dict[str, Any]:
    contest = election.presidential_contest
    r = _contest(national, contest.id)
    votes = [CandidateVotes(c.id, r.votes.get(c.id, 0) if r else 0) for c in contest.candidates]
    try:
        result = presidential_result(
            election.law, votes, _ballots(national, contest.id), r.against_all if r else 0, round=contest.round
        )
    except LawError as e:
        return {"kind": "presidential", "contest": contest.id, "error": str(e), "lines": [f"no outcome: {e}"]}
    out = {**result.outcome_data(), "contest": contest.id, "votes": dict(result.votes)}
    verdict = {
        "elected": f"elected: {result.winner}",
        "second_round": f"second round: {' and '.join(result.second_round or ())}",
    }.get(result.outcome.value, f"{result.outcome.value}: {', '.join(result.tied) or 'nobody'}")
    out["lines"] = [f"President ({contest.id}, round {result.round}): {verdict}"]
    return out


def referendum_outcome(
    election: Election, national: ProtocolTotals | None, regions: Mapping[str, ProtocolTotals]
) -> dict[str, Any]:
    on_list = national.voters_on_list if national is not None else 0
    questions = []
    lines = []
    for q in election.referendum_questions:
        counted = []
        for region in election.territory.regions:
            t = regions.get(region.code)
            r = _contest(t, q.id)
            counted.append(
                RegionVotes(region.code, _ballots(t, q.id), r.votes.get("yes", 0) if r else 0, r.votes.get("no", 0) if r else 0)
            )
        try:
            result = referendum_result("kz-referendum", q.constitutional, on_list, counted)
        except LawError as e:
            questions.append({"contest": q.id, "constitutional": q.constitutional, "error": str(e)})
            lines.append(f"{q.id}: no outcome: {e}")
            continue
        questions.append(
            {
                "contest": q.id,
                "constitutional": q.constitutional,
                "outcome": result.outcome.value,
                "on_list": result.on_list,
                "participated": result.participated,
                "yes": result.yes,
                "no": result.no,
                "regions": list(result.regions),
                "regions_yes": list(result.regions_yes),
                "regions_needed": result.regions_needed,
            }
        )
        lines.append(
            f"{q.id} ({'constitutional' if q.constitutional else 'not constitutional'}): {result.outcome.value}; "
            f"yes {result.yes:,} of {result.participated:,} who took part; "
            f"regions saying yes {len(result.regions_yes)} of {len(result.regions)}"
            + (f" (needed {result.regions_needed})" if q.constitutional else "")
        )
    return {"kind": "referendum", "questions": questions, "lines": lines}


def outcome_report(
    election: Election,
    level: str,
    units: Mapping[str, ProtocolTotals],
    national: ProtocolTotals | None,
    regions: Mapping[str, ProtocolTotals],
    conflicts: Iterable[int] = (),
) -> dict[str, Any]:
    """The report of a presidential election or a referendum (see the module doc)."""
    coverage = report_coverage(election, level, national, conflicts)
    contests = {
        c.contest_id: {"votes": dict(c.votes), "against_all": c.against_all, "blank": c.blank, "invalid": c.invalid,
                       "ballots": _ballots(national, c.contest_id)}
        for c in (national.contests if national is not None else ())
    }
    if any(isinstance(c, PresidentialContest) for c in election.contests):
        outcome = presidential_outcome(election, national)
    elif any(isinstance(c, ReferendumQuestion) for c in election.contests):
        outcome = referendum_outcome(election, national, regions)
    else:  # maslikhats alone (kz-maslikhat-2023)
        masl = maslikhat_report(election, national)
        outcome = {"kind": "maslikhat", "maslikhats": masl, "lines": [
            f"{m['contest'] or m['region']}: " + (m.get("error") or ", ".join(f"{p} {n}" for p, n in m["seats"].items())
                                                   or m["list_outcome"]) for m in masl]}
    rows = unit_rows(election, level, units, lambda t: {
        "contests": {r.contest_id: {"votes": dict(r.votes), "against_all": r.against_all}
                     for r in (t.contests if t is not None else ())},
    })
    return {
        "format": "sailau/commission-report",
        "version": OUTCOME_REPORT_VERSION,
        "election": {"id": election.id, "fingerprint": election.fingerprint_hex, "law": election.law, "name": election.name.en},
        "parties": {},
        "level": level,
        **coverage,
        "totals": {},
        "seats": {},
        "allocation": {"law": election.law},
        "outcome": outcome,
        "contests": contests,
        "units": rows,
    }


def has_maslikhats(election: Election) -> bool:
    return any(c.level == "maslikhat" for c in election.contests)


def maslikhat_report(election: Election, national: ProtocolTotals | None) -> list[dict[str, Any]]:
    """Each maslikhat list's seats (the `seats` its contest gives) and the winners of
    the maslikhat single-member races of its region, by `election/maslikhat.py`.
    Single-member maslikhat races of a region with no list are reported on their own."""
    law = "kz-maslikhat-2023"
    rank = {p.id: i for i, p in enumerate(election.parties)}
    lists = [c for c in election.contests if isinstance(c, PartyListContest) and c.level == "maslikhat"]
    races = [c for c in election.contests if isinstance(c, SingleMemberContest) and c.level == "maslikhat"]
    out: list[dict[str, Any]] = []

    def districts_of(region: str | None) -> list[DistrictVotes]:
        found = []
        for c in races:
            if c.region == region:
                r = _contest(national, c.id)
                found.append(DistrictVotes(c.district, [CandidateVotes(k.id, r.votes.get(k.id, 0) if r else 0)
                                                        for k in c.candidates], r.against_all if r else 0))
        return found

    regions_with_list = set()
    for c in lists:
        regions_with_list.add(c.region)
        r = _contest(national, c.id)
        parties = [PartyVotes(pid, r.votes.get(pid, 0) if r else 0) for pid in sorted(c.options, key=rank.__getitem__)]
        entry: dict[str, Any] = {"contest": c.id, "region": c.region}
        if c.seats is None:
            entry["error"] = "the definition gives this list no seats"
            out.append(entry)
            continue
        try:
            (res,) = maslikhat_results(law, [MaslikhatVotes(
                c.id, c.seats, parties, _ballots(national, c.id), r.against_all if r else 0, districts_of(c.region))])
        except LawError as e:
            entry["error"] = str(e)
            out.append(entry)
            continue
        entry.update(_maslikhat_json(res))
        out.append(entry)
    for region in sorted({c.region for c in races} - regions_with_list, key=str):
        try:
            (res,) = maslikhat_results(law, [MaslikhatVotes(f"maslikhat-{region}", 0, (), None, 0, districts_of(region))])
        except LawError as e:
            out.append({"contest": None, "region": region, "error": str(e)})
            continue
        out.append({"contest": None, "region": region, **_maslikhat_json(res)})
    return out


def _maslikhat_json(res) -> dict[str, Any]:
    return {
        "list_outcome": res.list_outcome,
        "seats": res.seats,
        "qualified": list(res.qualified),
        "quota": None if res.quota is None else str(res.quota),
        "participated": res.participated,
        "districts": [{"district": d.district, "outcome": d.outcome.value, "winner": d.winner, "tied": list(d.tied)}
                      for d in res.districts],
    }
