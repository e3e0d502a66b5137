"""Protocol format 4: the paper protocol (election/paper.py) beside the card counts.

Hypothesis draws consistent precinct protocols with paper and mobile-box voting;
every control relation holds on them, and breaking one line fires exactly the
relation named for it. Canonical JSON round trips; the strict parser refuses every
way a paper section can lie; totals add paper and card; NIST still validates.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from nist_schema import nist_schema_errors

from sailau.election.nist import nist_results_report
from sailau.election.paper import combined_contests, electronic_contests
from sailau.election.protocol import (
    MAX_PRECINCT_COUNT,
    undeclarable,
    ContestResult,
    PaperCount,
    Protocol,
    ProtocolFormatError,
    ProtocolViolationError,
    check_protocol,
    sign_protocol,
    sum_protocols,
    validate_protocol,
)
from sailau.election.crypto import generate_signing_key
from sailau.election.receipts import commit_receipts
from test_protocol import codes, election, make_protocol, names  # noqa: F401  (the election fixture)

BUCKETS = {"list": ("A", "B", "C"), "smd-1": ("ivanov", "serikov")}


def _split(draw, total: int, parts: int) -> list[int]:
    cuts = sorted(draw(st.lists(st.integers(0, total), min_size=parts - 1, max_size=parts - 1)))
    edges = [0, *cuts, total]
    return [b - a for a, b in zip(edges, edges[1:])]


def _contest(cid: str, sizes: list[int], paper: bool) -> ContestResult:
    options = BUCKETS[cid]
    votes = dict(zip(options, sizes))
    rest = sizes[len(options):]
    if paper:  # against all, invalid (blank is always 0 on paper)
        return ContestResult(cid, votes, against_all=rest[0], blank=0, invalid=rest[1])
    return ContestResult(cid, votes, against_all=rest[0], blank=rest[1], invalid=rest[2])


def _add(a: ContestResult, b: ContestResult) -> ContestResult:
    return ContestResult(a.contest_id, {k: a.votes[k] + b.votes[k] for k in a.votes},
                         a.against_all + b.against_all, a.blank + b.blank, a.invalid + b.invalid)


@st.composite
def protocols(draw, tight: bool = False) -> Protocol:
    """A consistent protocol of precinct 101 with paper: `tight` leaves no slack in
    the card counts and at least one ballot in each box, so one changed line
    breaks one relation."""
    small = st.integers(0, 0) if tight else st.integers(0, 3)
    cast = draw(st.integers(1 if tight else 0, 60))
    fs = draw(st.integers(1 if tight else 0, 30))
    fm = draw(st.integers(1 if tight else 0, 8))
    took_away, spoiled, unused, extra_requests = draw(small), draw(st.integers(0, 5)), draw(st.integers(0, 50)), draw(small)
    cancelled, taken_out, idle = draw(small), draw(small), draw(small)
    combined, paper_contests = [], []
    for cid, options in BUCKETS.items():
        card = _contest(cid, _split(draw, cast, len(options) + 3), paper=False)
        paper = _contest(cid, _split(draw, fs + fm, len(options) + 2), paper=True)
        combined.append(_add(card, paper))
        paper_contests.append(paper)
    iis = fs + took_away
    issued = cast + cancelled + taken_out
    checked_in = issued + iis + idle
    on_list = checked_in + fm + draw(st.integers(1, 20))
    p = make_protocol(draw(st.just(ELECTION)), cast=cast)
    return dataclasses.replace(
        p, voters_on_list=on_list, voters_checked_in=checked_in, cards_issued=issued, ballots_cast=cast,
        cards_cancelled=cancelled + taken_out if not tight else 0, contests=tuple(combined),
        receipts=commit_receipts(codes(cast)), voters_additional=draw(st.integers(0, checked_in)),
        voters_paper=iis, voters_outside=fm,
        paper=PaperCount(received=iis + fm + spoiled + unused, issued_in_station=iis, issued_outside=fm, spoiled=spoiled,
                         unused=unused, mobile_requests=fm + extra_requests, found_stationary=fs, found_mobile=fm,
                         contests=tuple(paper_contests)),
    )


ELECTION = None  # set by the autouse fixture below (hypothesis strategies cannot take fixtures)


@pytest.fixture(autouse=True)
def _election(election):
    global ELECTION
    ELECTION = election
    yield


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(protocols())
def test_every_relation_holds_for_consistent_protocols(p):
    assert validate_protocol(p, ELECTION) == []
    assert p.ballots_counted == p.ballots_cast + p.paper.found_stationary + p.paper.found_mobile
    for c, e, pc in zip(p.contests, p.electronic_contests, p.paper.contests):
        assert e.total == p.ballots_cast and pc.total == p.paper.found and c.total == p.ballots_counted
    check_protocol(p, ELECTION)


@SETTINGS
@given(protocols())
def test_canonical_json_round_trip(p):
    raw = p.to_canonical_json()
    again = Protocol.from_canonical_json(raw)
    assert again == p and again.to_canonical_json() == raw
    data = json.loads(raw)
    assert data["version"] == 4 and set(data["paper"]) == {
        "received", "issued_in_station", "issued_outside", "spoiled", "unused", "mobile_requests",
        "found_stationary", "found_mobile", "contests"}


def _paper(p: Protocol, **changes) -> Protocol:
    return dataclasses.replace(p, paper=dataclasses.replace(p.paper, **changes))


def _contests(contests, cid, **changes):
    return tuple(dataclasses.replace(c, **changes) if c.contest_id == cid else c for c in contests)


def _votes(contests, cid, oid, delta):
    return tuple(dataclasses.replace(c, votes={**c.votes, oid: c.votes[oid] + delta}) if c.contest_id == cid else c
                 for c in contests)


def _electronic(p: Protocol, cid: str) -> ContestResult:
    return next(c for c in p.electronic_contests if c.contest_id == cid)


def _paper_contest(p: Protocol, cid: str) -> ContestResult:
    return next(c for c in p.paper.contests if c.contest_id == cid)


def _break_paper_sum(p):
    e = _electronic(p, "list")
    oid = next((o for o, n in e.votes.items() if n >= 1), None)
    assume(oid is not None)
    return _paper(p, contests=_votes(p.paper.contests, "list", oid, 1))


def _break_blank(p):
    pc = _paper_contest(p, "list")
    oid = next((o for o, n in pc.votes.items() if n >= 1), None)
    assume(oid is not None)
    paper = _votes(_contests(p.paper.contests, "list", blank=1), "list", oid, -1)
    combined = _votes(_contests(p.contests, "list", blank=p.contest("list").blank + 1), "list", oid, -1)
    return dataclasses.replace(_paper(p, contests=paper), contests=combined)


def _electronic_negative(p):
    assume(_paper_contest(p, "list").votes["A"] >= 1)  # so the combined count stays >= 0
    k = _electronic(p, "list").votes["A"] + 1
    combined = _votes(_contests(p.contests, "list", invalid=p.contest("list").invalid + k), "list", "A", -k)
    return dataclasses.replace(p, contests=combined)


def _missing_option(p):
    v = _paper_contest(p, "list").votes["C"]
    pc = _paper_contest(p, "list")
    paper = _contests(p.paper.contests, "list", votes={k: n for k, n in pc.votes.items() if k != "C"}, invalid=pc.invalid + v)
    combined = _votes(_contests(p.contests, "list", invalid=p.contest("list").invalid + v), "list", "C", -v)
    return dataclasses.replace(_paper(p, contests=paper), contests=combined)


def _paper_negative(p):
    pc, c = _paper_contest(p, "list"), p.contest("list")
    assume(c.invalid - pc.invalid >= 1)  # a card ballot counted invalid, so the combined stays >= 0
    k = pc.invalid + 1
    paper = _votes(_contests(p.paper.contests, "list", invalid=-1), "list", "A", k)
    combined = _votes(_contests(p.contests, "list", invalid=c.invalid - k), "list", "A", k)
    return dataclasses.replace(_paper(p, contests=paper), contests=combined)


BREAKS = {
    "voters:additional<=on_list": lambda p: dataclasses.replace(p, voters_additional=p.voters_on_list + 1),
    "voters:received<=on_list": lambda p: dataclasses.replace(p, voters_on_list=p.voters_checked_in + p.voters_outside - 1),
    "voters:card+paper<=checked_in": lambda p: dataclasses.replace(p, voters_checked_in=p.voters_checked_in - 1),
    "paper:missing": lambda p: dataclasses.replace(p, paper=None, contests=p.electronic_contests),
    "paper:nonnegative:unused": lambda p: _paper(p, unused=-1, received=p.paper.received - p.paper.unused - 1),
    "paper:nonnegative:spoiled": lambda p: _paper(p, spoiled=-1, received=p.paper.received - p.paper.spoiled - 1),
    "paper:received==issued+spoiled+unused": lambda p: _paper(p, received=p.paper.received + 1),
    "paper:issued_in_station==voters_paper":
        lambda p: dataclasses.replace(p, voters_paper=p.voters_paper + 1, voters_checked_in=p.voters_checked_in + 1),
    "paper:issued_outside==voters_outside": lambda p: dataclasses.replace(p, voters_outside=p.voters_outside + 1),
    "paper:issued_outside<=requests": lambda p: _paper(p, mobile_requests=p.paper.issued_outside - 1),
    "paper:found_stationary<=issued_in_station":
        lambda p: _paper(p, found_stationary=p.paper.found_stationary + 1, found_mobile=p.paper.found_mobile - 1),
    "paper:found_mobile<=issued_outside":
        lambda p: _paper(p, found_stationary=p.paper.found_stationary - 1, found_mobile=p.paper.found_mobile + 1),
    "paper:contest:list:sum==found": _break_paper_sum,
    "paper:contest:list:blank==0": _break_blank,
    "paper:contest:list:nonnegative:invalid": _paper_negative,
    "paper:contest:list:duplicate": lambda p: _paper(p, contests=(*p.paper.contests, _paper_contest(p, "list"))),
    "paper:contest:smd-1:missing":
        lambda p: _paper(p, contests=tuple(c for c in p.paper.contests if c.contest_id != "smd-1")),
    "paper:contest:zzz:unknown":
        lambda p: _paper(p, contests=(*p.paper.contests, ContestResult("zzz", {}, invalid=p.paper.found))),
    "paper:contest:list:missing_option:C": _missing_option,
    "paper:contest:list:unknown_option:Z": lambda p: _paper(p, contests=_contests(
        p.paper.contests, "list", votes={**_paper_contest(p, "list").votes, "Z": 0})),
    "electronic:contest:list:nonnegative:option:A": _electronic_negative,
    "contest:list:sum==cast": lambda p: dataclasses.replace(p, contests=_votes(p.contests, "list", "A", 1)),
}


@pytest.mark.parametrize("relation", sorted(BREAKS))
def test_breaking_one_line_fires_exactly_its_relation(relation):
    @SETTINGS
    @given(protocols(tight=True))
    def check(p):
        assert validate_protocol(p, ELECTION) == []
        broken = BREAKS[relation](p)
        assert names(validate_protocol(broken, ELECTION)) == [relation]
        if relation != "contest:list:sum==cast":  # hand-entered figures: refused, never declared
            assert undeclarable(relation)
            declared = dataclasses.replace(broken, discrepancies=(relation,))
            with pytest.raises(ProtocolViolationError) as info:
                sign_protocol(declared, generate_signing_key(), ELECTION)
            assert f"discrepancy:{relation}" in [v.name for v in info.value.violations]

    check()


def test_without_paper_the_file_is_format_3_plus_zeros(election):
    p = make_protocol(election)
    data = json.loads(p.to_canonical_json())
    assert "paper" not in data and data["version"] == 4
    assert (data["voters_additional"], data["voters_paper"], data["voters_outside"]) == (0, 0, 0)
    assert p.ballots_counted == p.ballots_cast and p.electronic_contests == p.contests


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["paper"].update(extra=1), "paper: unknown key(s) extra"),
        (lambda d: d["paper"].pop("unused"), "paper: missing key(s) unused"),
        (lambda d: d["paper"].update(unused=1.5), "must be whole numbers"),
        (lambda d: d["paper"].update(unused=True), "paper unused must be an integer"),
        (lambda d: d["paper"].update(unused=MAX_PRECINCT_COUNT + 1), "beyond any precinct"),
        (lambda d: d["paper"].update(unused=-MAX_PRECINCT_COUNT - 1), "beyond any precinct"),
        (lambda d: d["paper"]["contests"][0].update(blank=False), "blank must be an integer"),
        (lambda d: d["paper"]["contests"][0]["votes"].update(A=MAX_PRECINCT_COUNT + 1), "beyond any precinct"),
        (lambda d: d["paper"]["contests"][0].update(extra=0), "paper.contests[0]: unknown key(s) extra"),
        (lambda d: d["paper"].update(contests={}), "paper.contests must be a JSON list"),
        (lambda d: d.update(paper=[]), "paper must be a JSON object"),
        (lambda d: d.update(voters_outside=2**40), "beyond any precinct"),
        (lambda d: d.pop("voters_paper"), "missing key(s) voters_paper"),
    ],
)
def test_strict_parse_refuses_a_lying_paper_section(election, mutate, message):
    p = _fixed(election)
    data = json.loads(p.to_canonical_json())
    mutate(data)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    with pytest.raises(ProtocolFormatError) as info:
        Protocol.from_canonical_json(raw)
    assert message in str(info.value)


def _fixed(election, precinct=101, cast=100) -> Protocol:
    """Precinct `precinct` with `cast` card ballots and 12 paper ballots (2 from the mobile box)."""
    p = make_protocol(election, precinct=precinct, cast=cast)
    smd = p.contests[1].contest_id
    smd_paper = {"ivanov": 8, "serikov": 2} if smd == "smd-1" else {"nurlan": 10}
    paper = PaperCount(received=40, issued_in_station=10, issued_outside=2, spoiled=1, unused=27, mobile_requests=3,
                       found_stationary=10, found_mobile=2,
                       contests=(ContestResult("list", {"A": 7, "B": 3, "C": 0}, against_all=1, invalid=1),
                                 ContestResult(smd, smd_paper, against_all=2, invalid=0)))
    return dataclasses.replace(
        p, voters_checked_in=p.voters_checked_in + 10, voters_paper=10, voters_outside=2, voters_additional=4, paper=paper,
        contests=tuple(_add(c, pc) for c, pc in zip(p.contests, paper.contests)))


def test_fixed_protocol_with_paper_holds(election):
    p = _fixed(election)
    assert validate_protocol(p, election) == [] and p.ballots_counted == 112


def test_totals_with_and_without_paper(election):
    with_paper, without = _fixed(election, 101), make_protocol(election, 102, cast=50)
    totals = sum_protocols([with_paper, without])
    assert totals.paper is not None and totals.paper.found == 12 and totals.paper.received == 40
    assert totals.ballots_counted == 100 + 12 + 50 and totals.voters_paper == 10 and totals.voters_outside == 2
    assert totals.contest_ballots["list"] == totals.ballots_counted == totals.contest("list").total
    assert validate_protocol(totals, election) == []
    assert totals.contest("list").votes["A"] == with_paper.contest("list").votes["A"] + without.contest("list").votes["A"]
    assert totals.electronic_contests[0].total == totals.ballots_cast
    # sums of sums; and totals of card-only protocols have no paper section
    assert sum_protocols([totals]).paper == totals.paper
    card_only = sum_protocols([make_protocol(election, 101), without])
    assert card_only.paper is None and "paper" not in card_only.to_data()
    assert card_only.ballots_counted == card_only.ballots_cast


def test_nist_export_with_paper_validates(election):
    p, q = _fixed(election, 101), make_protocol(election, 201, cast=40)
    report = nist_results_report([p, q], election, issuer="Test TEC", issuer_abbreviation="TEC")
    assert nist_schema_errors(report) == []
    counts = {c["GpUnitId"]: c for c in report["Election"][0]["BallotCounts"]}
    assert sorted(c["BallotsCast"] for c in counts.values()) == [40, 112]
    units = {u.get("Number"): u for u in report["GpUnit"] if u.get("Type") == "precinct"}
    assert units["101"]["VotersParticipated"] == p.voters_checked_in + 2


@given(protocols())
def test_combined_and_electronic_are_inverse(p):
    """The station adds its tally and the hand count (`combined_contests`); the protocol
    gives the tally back (`electronic_contests`) exactly, option by option."""
    electronic = p.electronic_contests
    assert combined_contests(electronic, p.paper) == p.contests
    assert electronic_contests(combined_contests(electronic, p.paper), p.paper) == electronic
    assert combined_contests(electronic, None) == electronic
