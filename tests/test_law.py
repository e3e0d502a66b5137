"""Electoral law engine: published results, the law's rules as properties, and a
differential check against the `apportionment` package's Hamilton method."""

from __future__ import annotations

from fractions import Fraction
from math import ceil, floor

import pytest
from apportionment.methods import compute
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sailau.election.law import (
    LAWS,
    CandidateVotes,
    DistrictOutcome,
    DistrictVotes,
    InvalidVotesError,
    LawError,
    NoQualifyingPartyError,
    PartyVotes,
    UnknownLawError,
    allocate_list_seats,
    largest_remainder,
    single_member_result,
    single_member_winners,
)

P = PartyVotes

ELECTION_2012 = [P("NO", 5_621_436), P("AZ", 518_405), P("QKHP", 498_788)]
ELECTION_2021 = [
    P("NO", 5_148_074),
    P("AZ", 792_828),
    P("QHP", 659_019),
    P("AUYL", 383_023),
    P("ADAL", 258_618),
]
# CEC, 27 March 2023: party votes, against all, voters who took part.
ELECTION_2023 = [
    P("AMANAT", 3_431_510),
    P("AUYL", 693_938),
    P("RESPUBLICA", 547_154),
    P("AQJOL", 535_139),
    P("QHP", 432_920),
    P("JSDP", 331_058),
    P("BAITAQ", 146_431),
]


# --- published results ----------------------------------------------------------


def test_2012_reproduced_exactly():
    result = allocate_list_seats("kz-majilis-2009", ELECTION_2012)
    assert result.seats == {"NO": 83, "AZ": 8, "QKHP": 7}
    assert result.qualified == ["NO", "AZ", "QKHP"]
    assert result.quota == Fraction(6_638_629, 98)
    assert result.remainder_seats == ["NO", "AZ"]
    assert result.runner_up is None


def test_2021_reproduced_exactly():
    result = allocate_list_seats("kz-majilis-2009", ELECTION_2021)
    assert result.seats == {"NO": 76, "AZ": 12, "QHP": 10, "AUYL": 0, "ADAL": 0}
    assert result.qualified == ["NO", "AZ", "QHP"]
    # quota from the qualifying parties only
    assert result.quota == Fraction(5_148_074 + 792_828 + 659_019, 98)
    # with participated defaulted to the five parties' votes Auyl is at 5.29 %
    assert result.participated == sum(p.votes for p in ELECTION_2021)
    assert 100 * 383_023 < 7 * result.participated


@pytest.mark.parametrize("participated", [7_241_562, 7_300_000, 7_538_920, 9_414_557])
def test_2021_seats_hold_for_every_plausible_participation(participated):
    """A larger base only lowers shares: Auyl and Adal stay out, the three stay in
    up to 9,414,557 (7 % of that is exactly QHP's 659,019 votes). 7,538,920 is
    63.25 % turnout of 11,919,241 registered, the published figures."""
    result = allocate_list_seats("kz-majilis-2009", ELECTION_2021, participated=participated)
    assert result.seats == {"NO": 76, "AZ": 12, "QHP": 10, "AUYL": 0, "ADAL": 0}


def test_2021_one_voter_more_than_the_boundary_drops_qhp():
    result = allocate_list_seats("kz-majilis-2009", ELECTION_2021, participated=9_414_558)
    assert result.qualified == ["NO", "AZ"]
    assert result.seats["QHP"] == 0


def test_2023_list_seats_reproduced_exactly():
    result = allocate_list_seats("kz-majilis-2023", ELECTION_2023, participated=6_366_441, against_all=248_291)
    assert result.seats == {"AMANAT": 40, "AUYL": 8, "RESPUBLICA": 6, "AQJOL": 6, "QHP": 5, "JSDP": 4, "BAITAQ": 0}
    assert result.total == 69
    assert result.threshold_votes == Fraction(5, 100) * 6_366_441


def test_2023_against_all_counts_in_the_threshold_base_not_the_quota():
    parties = [P("A", 900), P("B", 52)]
    # 52 / (952 + 48) = 5.2 %: qualifies; with 100 against all, 52 / 1052 < 5 %
    assert allocate_list_seats("kz-majilis-2023", parties, against_all=48).qualified == ["A", "B"]
    result = allocate_list_seats("kz-majilis-2023", parties, against_all=100)
    assert result.qualified == ["A"]
    assert result.quota == Fraction(900, 69)


# --- threshold and validation ---------------------------------------------------------


def test_threshold_is_at_least_seven_percent_exactly():
    at = allocate_list_seats("kz-majilis-2007", [P("A", 93), P("B", 7)])
    assert at.qualified == ["A", "B"]
    below = allocate_list_seats("kz-majilis-2007", [P("A", 93), P("B", 7)], participated=101)
    assert below.qualified == ["A"]
    assert below.seats == {"A": 98, "B": 0}


def test_one_party_takes_every_seat_under_2007_law():
    result = allocate_list_seats("kz-majilis-2007", [P("A", 880), P("B", 60), P("C", 60)])
    assert result.seats == {"A": 98, "B": 0, "C": 0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(law_id="kz-majilis-1995", parties=[P("A", 1)]), "unknown law 'kz-majilis-1995'"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", 5), P("B", -1)]), "votes of party 'B' must not be negative"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", 5), P("A", 3)]), "duplicate party id 'A'"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", 5), P("B", 3)], participated=7), "participated (7) is less"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", 5)], participated=-3), "participated must not be negative"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", 5)], against_all=2), "no 'against all'"),
        (dict(law_id="kz-majilis-2023", parties=[P("A", 5)], against_all=-2), "against_all must not be negative"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", True)]), "must be an integer"),
        (dict(law_id="kz-majilis-2009", parties=[P("A", 5.0)]), "must be an integer"),
        (dict(law_id="kz-majilis-2009", parties=[P("", 5)]), "non-empty string"),
        (dict(law_id="kz-majilis-2009", parties=[]), "no parties"),
    ],
)
def test_invalid_input_is_named(kwargs, message):
    with pytest.raises(LawError) as info:
        allocate_list_seats(**kwargs)
    assert message in str(info.value)
    expected = UnknownLawError if "unknown law" in message else InvalidVotesError
    assert isinstance(info.value, expected)


def test_no_qualifying_party_is_an_error():
    with pytest.raises(NoQualifyingPartyError):
        allocate_list_seats("kz-majilis-2009", [P("A", 0), P("B", 0)])
    fifteen = [P(f"P{i}", 100) for i in range(15)]  # each 6.67 %
    with pytest.raises(NoQualifyingPartyError, match="7 % threshold"):
        allocate_list_seats("kz-majilis-2009", fifteen)


# --- the 2009 runner-up rule ---------------------------------------------------------


def test_runner_up_raised_to_two_seats_taken_from_the_leader():
    result = allocate_list_seats("kz-majilis-2009", [P("A", 9_900), P("B", 60), P("C", 40)])
    assert result.runner_up == "B"
    assert result.qualified == ["A", "B"]
    assert result.quota == Fraction(9_960, 98)
    assert result.seats == {"A": 96, "B": 2, "C": 0}
    # the same votes under the 2007 law: A alone
    assert allocate_list_seats("kz-majilis-2007", [P("A", 9_900), P("B", 60), P("C", 40)]).seats["A"] == 98


def test_runner_up_keeps_a_hare_share_above_two():
    result = allocate_list_seats("kz-majilis-2009", [P("A", 900), P("B", 50), P("C", 50)])
    # B ties C for runner-up and was registered first; its share 50*98/950 = 5.16
    assert result.runner_up == "B"
    assert result.seats == {"A": 93, "B": 5, "C": 0}


def test_runner_up_tie_goes_to_the_party_registered_first():
    result = allocate_list_seats("kz-majilis-2009", [P("C", 50), P("A", 900), P("B", 50)])
    assert result.runner_up == "C"
    assert result.qualified == ["C", "A"]


def test_runner_up_rule_needs_a_party_with_votes():
    result = allocate_list_seats("kz-majilis-2009", [P("A", 900), P("B", 0)])
    assert result.runner_up is None
    assert result.seats == {"A": 98, "B": 0}


def test_runner_up_rule_only_when_exactly_one_party_passes():
    result = allocate_list_seats("kz-majilis-2009", [P("A", 800), P("B", 120), P("C", 60)])
    assert result.runner_up is None
    assert result.seats["C"] == 0


# --- properties ------------------------------------------------------------------------

votes_lists = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=12)
law_ids = st.sampled_from(sorted(LAWS))


def _parties(votes: list[int]) -> list[PartyVotes]:
    return [P(f"p{i}", v) for i, v in enumerate(votes)]


def _allocate(law_id, votes, extra_participation=0, against_all=0):
    parties = _parties(votes)
    participated = sum(votes) + against_all + extra_participation
    try:
        return parties, allocate_list_seats(law_id, parties, participated, against_all)
    except NoQualifyingPartyError:
        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(law_ids, votes_lists, st.integers(0, 10**6))
def test_seats_sum_to_the_law_total(law_id, votes, extra):
    _, result = _allocate(law_id, votes, extra)
    assert result.total == LAWS[law_id].list_seats
    assert all(s >= 0 for s in result.seats.values())


@settings(max_examples=300, deadline=None)
@given(law_ids, votes_lists, st.integers(0, 10**6), st.integers(0, 10**6))
def test_every_party_gets_floor_or_ceil_of_its_quota_share_or_nothing(law_id, votes, extra, against):
    law = LAWS[law_id]
    against = against if law.against_all else 0
    parties, result = _allocate(law_id, votes, extra, against)
    q_total = sum(p.votes for p in parties if p.id in result.qualified)
    for p in parties:
        passes = p.votes > 0 and Fraction(p.votes, result.participated) >= law.threshold
        if p.id not in result.qualified:
            assert not passes
            assert result.seats[p.id] == 0
            continue
        assert passes or p.id == result.runner_up
        share = Fraction(p.votes * law.list_seats, q_total)
        assert result.shares[p.id] == share
        if result.runner_up is None:
            assert result.seats[p.id] in (floor(share), ceil(share))
        elif p.id == result.runner_up:
            floor_2 = max(law.runner_up_min_seats, floor(share))
            assert result.seats[p.id] in (floor_2, max(law.runner_up_min_seats, ceil(share)))


@settings(max_examples=300, deadline=None)
@given(law_ids, votes_lists, st.integers(0, 10**6))
def test_equal_remainders_go_to_the_party_registered_first(law_id, votes, extra):
    parties, result = _allocate(law_id, votes, extra)
    assume(result.runner_up is None)
    rem = {pid: share - floor(share) for pid, share in result.shares.items()}
    order = {p.id: i for i, p in enumerate(parties)}
    winners = set(result.remainder_seats)
    for a in winners:
        for b in set(result.qualified) - winners:
            assert rem[a] > rem[b] or (rem[a] == rem[b] and order[a] < order[b])


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**6), st.integers(3, 7), st.permutations(range(7)))
def test_tie_of_remainders_favours_registration_order(v, n, perm):
    """n parties with equal votes: 98 = n * q + r; the first r registered get the extra seat."""
    ids = [f"x{i}" for i in perm[:n]]
    result = allocate_list_seats("kz-majilis-2007", [P(i, v) for i in ids])
    q, r = divmod(98, n)
    assert [result.seats[i] for i in ids] == [q + 1] * r + [q] * (n - r)
    assert result.remainder_seats == ids[:r]


@settings(max_examples=300, deadline=None)
@given(votes_lists.filter(lambda v: len(v) >= 2), st.integers(0, 10**5))
def test_one_party_rule_of_2009(votes, extra):
    parties, result = _allocate("kz-majilis-2009", votes, extra)
    passing = [p for p in parties if p.votes > 0 and 100 * p.votes >= 7 * result.participated]
    others = [p for p in parties if p not in passing and p.votes > 0]
    if len(passing) != 1 or not others:
        assert result.runner_up is None
        return
    best = max(p.votes for p in others)
    expected = next(p.id for p in parties if p in others and p.votes == best)
    assert result.runner_up == expected
    assert result.seats[expected] >= 2
    leader = passing[0].id
    assert result.seats[leader] + result.seats[expected] == 98
    assert set(result.qualified) == {leader, expected}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["kz-majilis-2007", "kz-majilis-2023"]), votes_lists)
def test_agrees_with_apportionment_package_hamilton_with_threshold(law_id, votes):
    """Differential: `apportionment` applies the threshold to sum(votes) (our default
    base without against-all) and allocates by Hamilton; compare away from ties."""
    law = LAWS[law_id]
    total = sum(votes)
    assume(total > 0)
    q_votes = [v for v in votes if v > 0 and Fraction(v, total) >= law.threshold]
    assume(q_votes)
    q_total = sum(q_votes)
    remainders = [Fraction(v * law.list_seats, q_total) % 1 for v in q_votes]
    assume(len(set(remainders)) == len(remainders))
    theirs = compute(
        "largest_remainder", votes, law.list_seats, fractions=True, threshold=law.threshold, tiesallowed=False
    )
    ours = allocate_list_seats(law_id, _parties(votes))
    assert [ours.seats[f"p{i}"] for i in range(len(votes))] == [int(x) for x in theirs]


def test_largest_remainder_helper_reports_award_order():
    seats, awarded = largest_remainder([5, 3, 2], 4)  # shares 2.0, 1.2, 0.8
    assert seats == [2, 1, 1]
    assert awarded == [2]


# --- single-member districts ----------------------------------------------------------


def _district(name, against=0, **votes):
    return DistrictVotes(name, [CandidateVotes(c, v) for c, v in votes.items()], against)


def test_plurality_winner():
    r = single_member_result("kz-majilis-2023", _district("d1", 10, a=30, b=25))
    assert (r.outcome, r.winner, r.tied) == (DistrictOutcome.ELECTED, "a", ("a",))


def test_tie_is_reported_not_guessed():
    r = single_member_result("kz-majilis-2023", _district("d1", 5, a=30, b=30, c=2))
    assert r.outcome is DistrictOutcome.TIE
    assert r.winner is None
    assert r.tied == ("a", "b")


def test_against_all_at_or_above_the_best_candidate_elects_nobody():
    for against in (30, 31):
        r = single_member_result("kz-majilis-2023", _district("d1", against, a=30, b=10))
        assert r.outcome is DistrictOutcome.AGAINST_ALL
        assert r.winner is None


def test_no_votes_elects_nobody():
    r = single_member_result("kz-majilis-2023", _district("d1", 0, a=0, b=0))
    assert r.outcome is DistrictOutcome.NO_VOTES and r.winner is None


def test_single_member_input_checks():
    with pytest.raises(LawError, match="no single-member districts"):
        single_member_winners("kz-majilis-2009", [_district("d1", a=1)])
    with pytest.raises(InvalidVotesError, match="29 single-member districts, got 30"):
        single_member_winners("kz-majilis-2023", [_district(f"d{i}", a=1) for i in range(30)])
    with pytest.raises(InvalidVotesError, match="duplicate district id 'd1'"):
        single_member_winners("kz-majilis-2023", [_district("d1", a=1), _district("d1", b=1)])
    with pytest.raises(InvalidVotesError, match="duplicate candidate id 'a'"):
        single_member_result("kz-majilis-2023", DistrictVotes("d1", [CandidateVotes("a", 1), CandidateVotes("a", 2)]))
    with pytest.raises(InvalidVotesError, match="must not be negative"):
        single_member_result("kz-majilis-2023", _district("d1", a=-1))
    with pytest.raises(InvalidVotesError, match="no candidates"):
        single_member_result("kz-majilis-2023", DistrictVotes("d1", []))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 1000), min_size=1, max_size=8), st.integers(0, 1000))
def test_plurality_properties(votes, against):
    d = DistrictVotes("d", [CandidateVotes(f"c{i}", v) for i, v in enumerate(votes)], against)
    r = single_member_result("kz-majilis-2023", d)
    top = max(votes)
    if r.outcome is DistrictOutcome.ELECTED:
        assert votes.count(top) == 1 and top > against
        assert r.winner == f"c{votes.index(top)}"
    else:
        assert r.winner is None
        assert votes.count(top) > 1 or top <= against


def test_lookup_law_words_the_refusal_as_its_caller_says_and_lists_known_ids_sorted():
    from sailau.election.law import UnknownLawError, lookup_law

    table = {"b-law": 2, "a-law": 1}
    assert lookup_law(table, "b-law", "no {law_id!r}; known: {known}") == 2
    with pytest.raises(UnknownLawError, match=r"^no 'c-law'; known: a-law, b-law$"):
        lookup_law(table, "c-law", "no {law_id!r}; known: {known}")
