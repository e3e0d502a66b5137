"""The presidential, referendum and maslikhat rules (election/president.py,
referendum.py, maslikhat.py): properties over random counts, and the edge cases
the law's wording decides (exactly half, two thirds of the regions minus one,
ties for first and second place)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sailau.election.law import CandidateVotes, DistrictVotes, InvalidVotesError, PartyVotes, UnknownLawError
from sailau.election.maslikhat import MaslikhatVotes, maslikhat_results
from sailau.election.president import PresidentialOutcome, presidential_result
from sailau.election.referendum import ReferendumOutcome, RegionVotes, referendum_result, regions_needed

P22 = "kz-president-2022"
P95 = "kz-president-1995"


@st.composite
def presidential_counts(draw, min_candidates=1, max_candidates=8):
    n = draw(st.integers(min_candidates, max_candidates))
    votes = draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
    against = draw(st.integers(0, 10**6))
    extra = draw(st.integers(0, 10**5))  # blank and spoiled ballots
    cands = [CandidateVotes(f"C{i}", v) for i, v in enumerate(votes)]
    return cands, against, sum(votes) + against + extra


@given(presidential_counts())
def test_an_elected_candidate_has_more_than_half_of_those_who_took_part(counts):
    cands, against, participated = counts
    r = presidential_result(P22, cands, participated, against)
    votes = {c.id: c.votes for c in cands}
    if r.outcome is PresidentialOutcome.ELECTED:
        assert 2 * votes[r.winner] > participated
        assert r.second_round is None
    else:
        assert r.winner is None
        assert all(2 * v <= participated for v in votes.values())


@given(presidential_counts(min_candidates=2), st.randoms())
def test_permuting_the_ballot_order_does_not_change_the_outcome(counts, rnd):
    cands, against, participated = counts
    shuffled = list(cands)
    rnd.shuffle(shuffled)
    a = presidential_result(P22, cands, participated, against)
    b = presidential_result(P22, shuffled, participated, against)
    assert a.outcome == b.outcome
    assert a.winner == b.winner
    assert set(a.tied) == set(b.tied)
    assert (set(a.second_round) if a.second_round else None) == (set(b.second_round) if b.second_round else None)


@given(presidential_counts(min_candidates=2))
def test_a_second_round_is_between_the_two_with_most_votes(counts):
    cands, against, participated = counts
    r = presidential_result(P22, cands, participated, against)
    if r.outcome is PresidentialOutcome.SECOND_ROUND:
        pair = set(r.second_round)
        inside = min(c.votes for c in cands if c.id in pair)
        assert all(c.votes < inside for c in cands if c.id not in pair)  # settled: nobody outside ties


def test_exactly_half_is_not_more_than_half():
    cands = [CandidateVotes("A", 500), CandidateVotes("B", 300), CandidateVotes("C", 200)]
    r = presidential_result(P95, cands, participated=1000)
    assert r.outcome is PresidentialOutcome.SECOND_ROUND
    assert r.second_round == ("A", "B")
    assert presidential_result(P95, [CandidateVotes("A", 501), *cands[1:]], 1001).outcome is PresidentialOutcome.ELECTED


def test_the_base_is_those_who_took_part_not_valid_votes():
    # 520 of 1000 valid votes is more than half of the valid votes, but 60 spoiled
    # ballots make 1060 who took part: 520 is not more than half of them.
    cands = [CandidateVotes("A", 520), CandidateVotes("B", 480)]
    r = presidential_result(P95, cands, participated=1060)
    assert r.outcome is PresidentialOutcome.SECOND_ROUND
    assert r.share_of_valid("A") > r.share_of_participated("A")


def test_against_all_counts_in_the_base_and_never_enters_a_second_round():
    cands = [CandidateVotes("A", 450), CandidateVotes("B", 100), CandidateVotes("C", 50)]
    r = presidential_result(P22, cands, participated=1000, against_all=400)
    assert r.outcome is PresidentialOutcome.SECOND_ROUND
    assert r.second_round == ("A", "B")


def test_a_tie_for_second_place_is_named_not_guessed():
    cands = [CandidateVotes("A", 400), CandidateVotes("B", 300), CandidateVotes("C", 300)]
    r = presidential_result(P95, cands, participated=1000)
    assert r.outcome is PresidentialOutcome.TIE_FOR_SECOND
    assert r.tied == ("B", "C")
    assert r.second_round is None and r.winner is None


def test_a_tie_of_two_for_first_goes_to_the_second_round_three_is_a_named_tie():
    two = presidential_result(P95, [CandidateVotes("A", 400), CandidateVotes("B", 400), CandidateVotes("C", 200)], 1000)
    assert two.outcome is PresidentialOutcome.SECOND_ROUND and set(two.second_round) == {"A", "B"}
    three = presidential_result(P95, [CandidateVotes(x, 300) for x in "ABC"], 1000)
    assert three.outcome is PresidentialOutcome.TIE_FOR_FIRST and three.tied == ("A", "B", "C")


def test_second_round_more_votes_wins_a_tie_is_reported():
    r = presidential_result(P22, [CandidateVotes("A", 400), CandidateVotes("B", 401)], 1000, against_all=150, round=2)
    assert r.outcome is PresidentialOutcome.ELECTED and r.winner == "B"
    t = presidential_result(P22, [CandidateVotes("A", 400), CandidateVotes("B", 400)], 1000, round=2)
    assert t.outcome is PresidentialOutcome.TIE and t.winner is None
    with pytest.raises(InvalidVotesError, match="exactly two"):
        presidential_result(P22, [CandidateVotes("A", 1)], 1, round=2)


def test_one_candidate_without_a_majority_means_repeat_elections():
    r = presidential_result(P22, [CandidateVotes("A", 400)], participated=1000, against_all=600)
    assert r.outcome is PresidentialOutcome.REPEAT_ELECTION


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"law_id": "kz-president-2030"}, "unknown presidential law"),
        ({"against_all": 5, "law_id": P95}, "no 'against all'"),
        ({"participated": 10}, "less than the votes cast"),
        ({"candidates": [CandidateVotes("A", 1), CandidateVotes("A", 2)]}, "duplicate candidate id 'A'"),
        ({"candidates": [CandidateVotes("A", -1)]}, "must not be negative"),
        ({"participated": -3}, "must not be negative"),
    ],
)
def test_bad_presidential_input_is_named(kwargs, message):
    args = {"law_id": P22, "candidates": [CandidateVotes("A", 10), CandidateVotes("B", 5)], "participated": 20}
    args.update(kwargs)
    with pytest.raises((InvalidVotesError, UnknownLawError), match=message):
        presidential_result(**args)


# -- referendum -------------------------------------------------------------------


@st.composite
def referendum_counts(draw):
    n = draw(st.integers(1, 25))
    regions = []
    for i in range(n):
        participated = draw(st.integers(0, 10**5))
        yes = draw(st.integers(0, participated))
        no = draw(st.integers(0, participated - yes))
        regions.append(RegionVotes(f"R{i}", participated, yes, no))
    total = sum(r.participated for r in regions)
    on_list = total + draw(st.integers(0, total + 10))
    return regions, on_list


@given(referendum_counts(), st.booleans(), st.data())
def test_referendum_outcome_is_monotone_in_yes_votes(counts, constitutional, data):
    regions, on_list = counts
    before = referendum_result("kz-referendum", constitutional, on_list, regions)
    # turn some "no" (or blank) votes into "yes" in one region
    i = data.draw(st.integers(0, len(regions) - 1))
    r = regions[i]
    room = r.participated - r.yes
    assume(room > 0)
    k = data.draw(st.integers(1, room))
    moved = min(k, r.no)
    more = list(regions)
    more[i] = RegionVotes(r.id, r.participated, r.yes + k, r.no - moved)
    after = referendum_result("kz-referendum", constitutional, on_list, more)
    if before.outcome is ReferendumOutcome.ADOPTED:
        assert after.outcome is ReferendumOutcome.ADOPTED
    assert before.valid == after.valid
    assert set(before.regions_yes) <= set(after.regions_yes)


@given(referendum_counts(), st.booleans(), st.randoms())
def test_region_order_does_not_change_the_referendum_outcome(counts, constitutional, rnd):
    regions, on_list = counts
    shuffled = list(regions)
    rnd.shuffle(shuffled)
    a = referendum_result("kz-referendum", constitutional, on_list, regions)
    b = referendum_result("kz-referendum", constitutional, on_list, shuffled)
    assert a.outcome == b.outcome and set(a.regions_yes) == set(b.regions_yes)


@given(referendum_counts())
def test_an_invalid_referendum_adopts_nothing_and_a_valid_one_had_more_than_half(counts):
    regions, on_list = counts
    r = referendum_result("kz-referendum", False, on_list, regions)
    assert r.valid == (2 * r.participated > on_list)
    if r.outcome is ReferendumOutcome.ADOPTED:
        assert r.valid and 2 * r.yes > r.participated


def _regions(yes_flags: list[bool]) -> list[RegionVotes]:
    return [RegionVotes(f"R{i}", 100, 51 if y else 50, 49 if y else 50) for i, y in enumerate(yes_flags)]


@pytest.mark.parametrize("count", [17, 20, 3, 1, 14])
def test_two_thirds_of_the_regions_adopts_and_one_fewer_rejects(count):
    need = regions_needed(count)
    assert 3 * need >= 2 * count and 3 * (need - 1) < 2 * count
    on_list = 100 * count
    adopted = referendum_result("kz-referendum", True, on_list, _regions([True] * need + [False] * (count - need)))
    assert adopted.outcome is ReferendumOutcome.ADOPTED and len(adopted.regions_yes) == need
    if need:
        short = referendum_result(
            "kz-referendum", True, on_list, _regions([True] * (need - 1) + [False] * (count - need + 1))
        )
        assert short.outcome is ReferendumOutcome.REJECTED


def test_regions_needed_for_the_kazakh_counts():
    assert regions_needed(17) == 12  # June 2022: 14 oblasts, 2 cities, the capital
    assert regions_needed(20) == 14  # since 8 June 2022: 17 oblasts, 2 cities, the capital


def test_exactly_half_yes_in_a_region_is_not_a_yes_and_exactly_half_turnout_is_not_valid():
    half = referendum_result("kz-referendum", False, 200, [RegionVotes("R", 100, 50, 50)])
    assert half.outcome is ReferendumOutcome.INVALID_TURNOUT
    r = referendum_result("kz-referendum", False, 199, [RegionVotes("R", 100, 50, 49)])
    assert r.valid and r.outcome is ReferendumOutcome.REJECTED and r.regions_yes == ()


def test_a_national_majority_without_two_thirds_of_the_regions_fails_a_constitutional_question():
    # one huge region says yes, two small ones say no: 1 of 3 regions
    regions = [RegionVotes("BIG", 1000, 900, 100), RegionVotes("S1", 100, 10, 90), RegionVotes("S2", 100, 10, 90)]
    assert referendum_result("kz-referendum", False, 2000, regions).outcome is ReferendumOutcome.ADOPTED
    assert referendum_result("kz-referendum", True, 2000, regions).outcome is ReferendumOutcome.REJECTED


@pytest.mark.parametrize(
    ("regions", "on_list", "message"),
    [
        ([RegionVotes("A", 10, 5, 5), RegionVotes("A", 10, 5, 5)], 100, "region 'A' is listed twice"),
        ([RegionVotes("A", 10, 8, 5)], 100, "is more than those who took part"),
        ([RegionVotes("A", 10, -1, 5)], 100, "must not be negative"),
        ([RegionVotes("A", 200, 100, 50)], 100, "more took part"),
        ([RegionVotes("A", 20, 10, 5, on_list=10)], 100, "more took part"),
        ([RegionVotes("A", 5, 3, 2, on_list=10), RegionVotes("B", 5, 3, 2, on_list=10)], 100, "add up to 20"),
        ([], 100, "no regions"),
    ],
)
def test_bad_referendum_input_is_named(regions, on_list, message):
    with pytest.raises(InvalidVotesError, match=message):
        referendum_result("kz-referendum", True, on_list, regions)


# -- maslikhat --------------------------------------------------------------------


def test_maslikhat_lists_and_districts_per_maslikhat():
    results = maslikhat_results(
        "kz-maslikhat-2023",
        [
            MaslikhatVotes(
                "astana", 15, [PartyVotes("A", 600), PartyVotes("B", 300), PartyVotes("C", 40)], 1000, 60,
                [DistrictVotes("d1", [CandidateVotes("x", 10), CandidateVotes("y", 10)], 0),
                 DistrictVotes("d2", [CandidateVotes("x", 11), CandidateVotes("y", 10)], 3)],
            ),
            MaslikhatVotes("tiny", 4, [PartyVotes("A", 4), PartyVotes("B", 4)], 200),
            MaslikhatVotes("district-only", 0, (), None, 0, [DistrictVotes("d", [CandidateVotes("z", 1)], 2)]),
        ],
    )
    astana, tiny, only = results
    assert astana.seats == {"A": 10, "B": 5, "C": 0}  # C has 4 % < 5 %
    assert astana.qualified == ("A", "B")
    assert [d.outcome.value for d in astana.districts] == ["tie", "elected"]
    assert tiny.list_outcome == "no_qualifying_party" and tiny.seats == {"A": 0, "B": 0}
    assert only.list_outcome == "no_list" and only.districts[0].outcome.value == "against_all"


@given(st.lists(st.integers(0, 10**5), min_size=1, max_size=10), st.integers(1, 60))
def test_maslikhat_list_seats_add_up_when_a_party_qualifies(votes, seats):
    (r,) = maslikhat_results(
        "kz-maslikhat-2023", [MaslikhatVotes("m", seats, [PartyVotes(f"P{i}", v) for i, v in enumerate(votes)])]
    )
    if r.list_outcome == "allocated":
        assert sum(r.seats.values()) == seats
        assert all(20 * votes[int(p[1:])] >= sum(votes) for p in r.qualified)
    else:
        assert sum(r.seats.values()) == 0


def test_bad_maslikhat_input_is_named():
    with pytest.raises(UnknownLawError):
        maslikhat_results("kz-maslikhat-1999", [MaslikhatVotes("m", 1, [PartyVotes("A", 1)])])
    with pytest.raises(InvalidVotesError, match="duplicate maslikhat id"):
        maslikhat_results("kz-maslikhat-2023", [MaslikhatVotes("m", 1, [PartyVotes("A", 1)])] * 2)
    with pytest.raises(InvalidVotesError, match="no parties"):
        maslikhat_results("kz-maslikhat-2023", [MaslikhatVotes("m", 3)])
