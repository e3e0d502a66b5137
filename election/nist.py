"""NIST SP 1500-100 version 2 election results export (JSON form of the Common Data
Format), valid against the official v2 schema (usnistgov/ElectionResultsReporting,
branch `version2`, `NIST_V2_election_results_reporting.json`; tests validate every
export against it with 0 errors).

Mapping (`nist_results_report`):

- Geography: one `ReportingUnit` of Type country (the election scope); each region
  of the protocols' precincts (Type other, OtherType region); each single-member
  district they vote in (Type other, OtherType majilis-district or
  maslikhat-district), composed by its region, so every unit is reachable from the
  scope; each precinct (Type precinct). Names are InternationalizedText (kk, ru,
  en). A region or district lists the precincts *in this file*, and says with
  `TotalSubUnits` (precincts of the unit in the definition) and
  `SubUnitsReported` (in this file) how much of it that is: a single station's file
  does not pretend its region has one precinct.
- Precinct counts: `VotersRegistered` = voters on the list, `VotersParticipated` =
  voters who received a ballot (checked in at the table, card or paper, plus those
  who voted outside with the mobile box), not ballots counted. The election's
  `BallotCounts` per precinct: `BallotsCast` = ballots counted (cast by card + paper
  ballots found in the stationary and mobile boxes; the combined protocol's
  `ballots_counted`); `BallotsOutstanding` in its NIST
  meaning, ballots still to be counted: 0, since a signed protocol is a complete
  count (cards issued but never cast are not ballots, and the CDF has no line for
  them); `BallotsRejected` = ballots the count found invalid (Sailau rejects a
  whole ballot, so every contest of the precinct counts it), given when the
  contests agree on it.
- Contests: party lists are `PartyContest`s (VoteVariation proportional) of
  `PartySelection`s, single-member contests `CandidateContest`s (plurality, one
  seat); `ElectionDistrictId` is the country, the region (maslikhat list) or the
  district. The presidential race is a `CandidateContest` on the country
  (VoteVariation majority, one seat, one vote) with its round (1 or 2) as an
  ExternalIdentifier (Type other, OtherType round). Candidates of both kinds are
  the election's top-level `Candidate` list (BallotName kk/ru/en), chosen by
  `CandidateSelection`s. A referendum question is a `BallotMeasureContest` on the
  country, Type referendum, BallotTitle its name and FullText its printed text
  (kk/ru/en), of two `BallotMeasureSelection`s (yes, no), with its constitutional
  flag as an ExternalIdentifier (Type other, OtherType constitutional, Value
  "true" or "false"). "Against all" has no CDF class: it is a
  `BallotMeasureSelection` with that text. Blank ballots are the contest's
  `OtherCounts` Undervotes per precinct.
- Left out (no CDF field): cards issued, cancelled, replaced and not handed back,
  the paper protocol's own lines (received, spoiled, unused, requests; its votes are
  in the combined counts exported),
  the audit head, the receipt commitment, and the station signature (the CDF's
  signature slot is XML-DSig); the signed protocol.json is the record.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from .definition import Election
from .protocol import Protocol, ProtocolFormatError, ProtocolMismatchError, check_protocol

_T = "ElectionResults."

NIST_RESULTS_STATUS = ("certified", "correction", "pre-election", "recount", "unofficial-complete", "unofficial-partial")
AGAINST_ALL_TEXT = {"kk": "Барлығына қарсы", "ru": "Против всех", "en": "Against all"}
COUNTRY_TEXT = {"kk": "Қазақстан Республикасы", "ru": "Республика Казахстан", "en": "Republic of Kazakhstan"}
COUNTRY_ID = "gpu-kz"


def _precinct_text(n: int) -> dict[str, str]:
    return {"kk": f"№ {n} сайлау учаскесі", "ru": f"Избирательный участок № {n}", "en": f"Precinct {n}"}


def international(name: Any) -> dict[str, Any]:
    """A LocalizedText (kk/ru/en), a {language: text} mapping or a str (English) as
    the CDF's InternationalizedText."""
    if isinstance(name, str):
        items = [("en", name)]
    elif isinstance(name, Mapping):
        items = list(name.items())
    else:
        items = [(lang, name.get(lang)) for lang in ("kk", "ru", "en")]
    return {
        "@type": _T + "InternationalizedText",
        "Text": [{"@type": _T + "LanguageString", "Language": lang, "Content": text} for lang, text in items],
    }


def _other_id(kind: str, value: str) -> dict[str, str]:
    """An ExternalIdentifier of Type other named by `kind` (its OtherType)."""
    return {"@type": _T + "ExternalIdentifier", "Type": "other", "OtherType": kind, "Value": value}


def _vendor() -> str:
    try:
        from importlib.metadata import version

        return f"sailau {version('sailau')}"
    except Exception:  # pragma: no cover - not installed
        return "sailau"


def nist_results_report(
    protocols: Sequence[Protocol],
    election: Election,
    *,
    issuer: str,
    issuer_abbreviation: str,
    generated: datetime.datetime | None = None,
    status: str = "unofficial-complete",
) -> dict[str, Any]:
    """Precinct-level NIST SP 1500-100 v2 `ElectionResults.ElectionReport` of
    `protocols` (module docstring). Each protocol must hold its relations
    (`check_protocol`) and appear once."""
    if status not in NIST_RESULTS_STATUS:
        raise ProtocolFormatError(f"status must be one of {', '.join(NIST_RESULTS_STATUS)}, got {status!r}")
    protocols = sorted(protocols, key=lambda p: p.precinct)
    for p in protocols:
        check_protocol(p, election)
    numbers = [p.precinct for p in protocols]
    if len(set(numbers)) != len(numbers):
        raise ProtocolMismatchError("a precinct appears twice in the export")
    generated = generated or datetime.datetime.now(datetime.timezone.utc)
    if generated.tzinfo is None:
        raise ProtocolFormatError("generated must be timezone-aware")

    pct_id = {p.precinct: f"gpu-precinct-{p.precinct}" for p in protocols}
    regions: dict[str, list[str]] = {}
    districts: dict[str, list[str]] = {}  # single-member districts: precincts of this file voting in them
    for p in protocols:
        regions.setdefault(p.region, []).append(pct_id[p.precinct])
        for c in p.contests:
            contest = election.contest(c.contest_id)
            if contest.kind == "single_member":
                districts.setdefault(contest.district, []).append(pct_id[p.precinct])
    for contest in election.contests:  # a maslikhat list's region is its electoral district: it must be a unit
        if contest.kind == "party_list" and contest.region is not None and any(
                c.contest_id == contest.id for p in protocols for c in p.contests):
            regions.setdefault(contest.region, [])
    region_defs = {r.code: r for r in election.territory.regions}
    district_defs = {d.code: d for d in election.territory.districts}
    in_region: dict[str, int] = {}
    in_district: dict[str, int] = {}
    for pr in election.precincts:
        in_region[pr.region] = in_region.get(pr.region, 0) + 1
    for c in election.contests:
        if c.kind == "single_member":
            styles = {s.code for s in election.ballot_styles if c.id in s.contests}
            in_district[c.district] = in_district.get(c.district, 0) + sum(pr.style in styles for pr in election.precincts)
    districts_of_region: dict[str, list[str]] = {}
    for code in sorted(districts):
        districts_of_region.setdefault(district_defs[code].region, []).append(f"gpu-district-{code}")
        regions.setdefault(district_defs[code].region, [])

    gp_units: list[dict[str, Any]] = [
        {
            "@type": _T + "ReportingUnit",
            "@id": COUNTRY_ID,
            "Type": "country",
            "Name": international(COUNTRY_TEXT),
            "ComposingGpUnitIds": [f"gpu-region-{code}" for code in sorted(regions)],
            "TotalSubUnits": len(election.precincts),
            "SubUnitsReported": len(protocols),
        }
    ]
    for code in sorted(regions):
        gp_units.append(
            {
                "@type": _T + "ReportingUnit",
                "@id": f"gpu-region-{code}",
                "Type": "other",
                "OtherType": "region",
                "Name": international(region_defs[code].name if code in region_defs else code),
                "ComposingGpUnitIds": regions[code] + districts_of_region.get(code, []),
                "TotalSubUnits": in_region.get(code, 0),
                "SubUnitsReported": len(regions[code]),
            }
        )
    for code in sorted(districts):
        d = district_defs[code]
        gp_units.append(
            {
                "@type": _T + "ReportingUnit",
                "@id": f"gpu-district-{code}",
                "Type": "other",
                "OtherType": "majilis-district" if d.level == "national" else "maslikhat-district",
                "Name": international(d.name),
                "ComposingGpUnitIds": districts[code],
                "TotalSubUnits": in_district.get(code, 0),
                "SubUnitsReported": len(districts[code]),
            }
        )
    ballot_counts: list[dict[str, Any]] = []
    for p in protocols:
        gp_units.append(
            {
                "@type": _T + "ReportingUnit",
                "@id": pct_id[p.precinct],
                "Type": "precinct",
                "Number": str(p.precinct),
                "Name": international(_precinct_text(p.precinct)),
                "VotersRegistered": p.voters_on_list,
                "VotersParticipated": p.voters_checked_in + p.voters_outside,
            }
        )
        counts: dict[str, Any] = {"@type": _T + "BallotCounts", "Type": "total", "GpUnitId": pct_id[p.precinct],
                                  "BallotsCast": p.ballots_counted, "BallotsOutstanding": 0}
        invalid = {c.invalid for c in p.contests}
        if len(invalid) == 1:
            counts["BallotsRejected"] = invalid.pop()
        ballot_counts.append(counts)

    parties = [
        {
            "@type": _T + "Party",
            "@id": f"party-{party.id}",
            "Name": international(party.name),
            "ExternalIdentifier": [
                {"@type": _T + "ExternalIdentifier", "Type": "national-level", "Value": str(party.registration_number), "Label": "registration number"}
            ],
        }
        for party in election.parties
    ]

    candidates: list[dict[str, Any]] = []
    contests: list[dict[str, Any]] = []
    in_protocols = {c.contest_id for p in protocols for c in p.contests}
    order = {c.id: i for i, c in enumerate(election.contests)}
    for cid in sorted(in_protocols, key=lambda c: order[c]):
        contest = election.contest(cid)
        results = [(p, p.contest(cid)) for p in protocols if any(c.contest_id == cid for c in p.contests)]

        def vote_counts(option_id: str | None) -> list[dict[str, Any]]:
            return [
                {"@type": _T + "VoteCounts", "Type": "total", "GpUnitId": pct_id[p.precinct],
                 "Count": r.against_all if option_id is None else r.votes.get(option_id, 0)}
                for p, r in results
            ]

        selections: list[dict[str, Any]] = []
        for option in election.options(cid):
            sel_id = f"sel-{cid}-{option.id}"
            if contest.kind == "party_list":
                selections.append({"@type": _T + "PartySelection", "@id": sel_id, "PartyIds": [f"party-{option.id}"],
                                   "SequenceOrder": option.index + 1, "VoteCounts": vote_counts(option.id)})
            elif contest.kind == "referendum":
                selections.append({"@type": _T + "BallotMeasureSelection", "@id": sel_id,
                                   "Selection": international(option.name), "SequenceOrder": option.index + 1,
                                   "VoteCounts": vote_counts(option.id)})
            else:
                cand_id = f"cand-{cid}-{option.id}"
                cand: dict[str, Any] = {"@type": _T + "Candidate", "@id": cand_id, "BallotName": international(option.name)}
                if option.party is not None:
                    cand["PartyId"] = f"party-{option.party}"
                candidates.append(cand)
                sel: dict[str, Any] = {"@type": _T + "CandidateSelection", "@id": sel_id, "CandidateIds": [cand_id],
                                       "SequenceOrder": option.index + 1, "VoteCounts": vote_counts(option.id)}
                if option.party is not None:
                    sel["EndorsementPartyIds"] = [f"party-{option.party}"]
                selections.append(sel)
        if contest.against_all:
            selections.append({"@type": _T + "BallotMeasureSelection", "@id": f"sel-{cid}-against-all",
                               "Selection": international(AGAINST_ALL_TEXT), "SequenceOrder": len(selections) + 1,
                               "VoteCounts": vote_counts(None)})
        other = [{"@type": _T + "OtherCounts", "GpUnitId": pct_id[p.precinct], "Undervotes": r.blank} for p, r in results]
        if contest.kind == "party_list":
            district = COUNTRY_ID if contest.region is None else f"gpu-region-{contest.region}"
            entry: dict[str, Any] = {"@type": _T + "PartyContest", "VoteVariation": "proportional"}
        elif contest.kind == "presidential":
            district = COUNTRY_ID
            entry = {"@type": _T + "CandidateContest", "VoteVariation": "majority", "VotesAllowed": 1, "NumberElected": 1,
                     "ExternalIdentifier": [_other_id("round", str(contest.round))]}
        elif contest.kind == "referendum":
            district = COUNTRY_ID
            entry = {"@type": _T + "BallotMeasureContest", "Type": "referendum", "FullText": international(contest.text),
                     "ExternalIdentifier": [_other_id("constitutional", "true" if contest.constitutional else "false")]}
        elif contest.kind == "single_member":
            district = f"gpu-district-{contest.district}"
            entry = {"@type": _T + "CandidateContest", "VoteVariation": "plurality", "VotesAllowed": 1, "NumberElected": 1}
        else:  # pragma: no cover - a new contest kind must be mapped here, not exported half-described
            raise ProtocolFormatError(f"the NIST export has no mapping for a {contest.kind} contest ({cid!r})")
        entry.update({
            "@id": f"contest-{cid}",
            "Name": contest.name.en,
            "BallotTitle": international(contest.name),
            "ElectionDistrictId": district,
            "SequenceOrder": order[cid] + 1,
            "ContestSelection": selections,
            "OtherCounts": other,
        })
        contests.append(entry)

    election_entry: dict[str, Any] = {
        "@type": _T + "Election",
        "ElectionScopeId": COUNTRY_ID,
        "Name": international(election.name),
        "StartDate": election.date.isoformat(),
        "EndDate": election.date.isoformat(),
        "Type": "general",
        "ExternalIdentifier": [
            _other_id("sailau-election-id", election.id),
            _other_id("sailau-fingerprint-sha256", election.fingerprint_hex),
        ],
        "BallotCounts": ballot_counts,
        "Contest": contests,
    }
    if candidates:
        election_entry["Candidate"] = candidates
    return {
        "@type": _T + "ElectionReport",
        "Format": "precinct-level",
        "GeneratedDate": generated.isoformat(timespec="seconds"),
        "Issuer": issuer,
        "IssuerAbbreviation": issuer_abbreviation,
        "SequenceStart": 1,
        "SequenceEnd": 1,
        "Status": status,
        "VendorApplicationId": _vendor(),
        "Election": [election_entry],
        "GpUnit": gp_units,
        "Party": parties,
    }
