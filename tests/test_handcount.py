"""The paper ballots' hand count and its double entry (issue 13, item 4): the
canonical JSON and its bounded strict reader, the line-by-line comparison, and the
rule that two different members must enter the same figures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.ballot_box.handcount import (
    MAX_COUNT,
    MAX_HAND_COUNT_BYTES,
    HandCount,
    HandCountDifference,
    HandCountError,
    compare,
    hand_count_state,
    parse_hand_count,
)
from sailau.election.definition import load_election
from sailau.election.protocol import ContestResult

EXAMPLE = Path(__file__).parents[1] / "election" / "examples" / "majilis-2023.json"
ELECTION = load_election(EXAMPLE)
STYLE = ELECTION.precinct(7101).style

counts = st.integers(0, 2000)


@st.composite
def hand_counts(draw) -> HandCount:
    """A hand count of precinct 7101's ballot with any figures."""
    contests = []
    for c in ELECTION.contests_for_style(STYLE):
        votes = {o.id: draw(counts) for o in ELECTION.options(c.id)}
        contests.append(ContestResult(c.id, votes, against_all=draw(counts) if c.against_all else 0, invalid=draw(counts)))
    return HandCount(draw(counts), draw(counts), draw(counts), tuple(contests))


def with_line(count: HandCount, key: str, value: int) -> HandCount:
    """`count` with the line `key` set to `value`."""
    if not key.startswith("contest:"):
        return dataclasses.replace(count, **{key: value})
    _, cid, what, *rest = key.split(":")
    contests = []
    for c in count.contests:
        if c.contest_id == cid:
            if what == "option":
                c = dataclasses.replace(c, votes={**c.votes, rest[0]: value})
            else:
                c = dataclasses.replace(c, **{what: value})
        contests.append(c)
    return dataclasses.replace(count, contests=tuple(contests))


M1, M2, M3 = b"\x01" * 8, b"\x02" * 8, b"\x03" * 8


@settings(max_examples=80, deadline=None)
@given(hand_counts(), st.data())
def test_any_single_line_change_is_found_as_exactly_that_line(count: HandCount, data) -> None:
    key, old = data.draw(st.sampled_from(count.lines()))
    new = data.draw(counts.filter(lambda n: n != old))
    changed = with_line(count, key, new)
    assert compare(count, changed) == (HandCountDifference(key, old, new),)
    assert compare(changed, count) == (HandCountDifference(key, new, old),)
    state = hand_count_state({M1: count, M2: changed})
    assert state.agreed is None and state.differences == (HandCountDifference(key, old, new),)


@settings(max_examples=60, deadline=None)
@given(hand_counts())
def test_equal_entries_by_two_members_agree(count: HandCount) -> None:
    again = parse_hand_count(count.to_json_bytes(), election=ELECTION, style=STYLE)  # as a second member typed it
    assert again == count and compare(count, again) == ()
    state = hand_count_state({M2: again, M1: count})
    assert state.agreed == count and state.differences == () and state.entries == (M1, M2) and state.needed == 0


@settings(max_examples=40, deadline=None)
@given(hand_counts(), st.integers(2, 5))
def test_the_same_member_twice_never_counts_as_two(count: HandCount, times: int) -> None:
    state = hand_count_state([(M1, count)] * times)
    assert state.entries == (M1,) and state.agreed is None and state.needed == 1


@settings(max_examples=40, deadline=None)
@given(hand_counts(), hand_counts())
def test_a_re_entry_replaces_the_members_own(wrong: HandCount, right: HandCount) -> None:
    state = hand_count_state([(M1, wrong), (M2, right), (M1, right)])
    assert state.agreed == right and state.entries == (M1, M2)


def test_three_entries_agree_only_when_all_do() -> None:
    count = HandCount.zero(ELECTION, STYLE)
    other = with_line(count, "found_mobile", 3)
    state = hand_count_state({M1: count, M2: count, M3: other})
    assert state.agreed is None and state.differences == (HandCountDifference("found_mobile", 0, 3),)
    assert hand_count_state({M1: count, M2: count, M3: count}).agreed == count
    assert hand_count_state({}).entries == () and hand_count_state({}).needed == 2


@settings(max_examples=60, deadline=None)
@given(hand_counts())
def test_canonical_json_round_trips_exactly(count: HandCount) -> None:
    raw = count.to_json_bytes()
    assert parse_hand_count(raw) == count and parse_hand_count(raw).to_json_bytes() == raw
    assert b" " not in raw.replace(b'" ', b"")  # no whitespace between tokens


def test_lines_are_in_form_order_with_every_option() -> None:
    count = HandCount.zero(ELECTION, STYLE)
    keys = [k for k, _ in count.lines()]
    assert keys[:3] == ["unused", "found_stationary", "found_mobile"]
    for c in ELECTION.contests_for_style(STYLE):
        for o in ELECTION.options(c.id):
            assert f"contest:{c.id}:option:{o.id}" in keys
        assert f"contest:{c.id}:invalid" in keys
    assert len(keys) == len(set(keys))


def raw_of(**change) -> bytes:
    """A hand count's JSON (spaced, as any editor writes it) with `change` applied."""
    return json.dumps(HandCount.zero(ELECTION, STYLE).to_data() | change).encode()


@pytest.mark.parametrize("raw, words", [
    (b"[]", "not a sailau/hand-count v1 file"),
    (b'{"format": "sailau/hand-count", "version": 2}', "not a sailau/hand-count v1 file"),
    (b"{" * 100, "too_deep"),
    (b"x" * (MAX_HAND_COUNT_BYTES + 1), "too_large"),
    (b'{"format": "sailau/hand-count", "format": "x"}', "malformed"),
    (raw_of(unused=1.5), "malformed"),
    (raw_of(unused=-1), "unused must be between 0"),
    (raw_of(unused=MAX_COUNT + 1), "unused must be between 0"),
    (raw_of(unused=True), "unused must be a whole number"),
    (raw_of(extra=1), "unknown key(s) extra"),
    (raw_of(contests={}), "contests must be a list"),
    (raw_of(contests=[{"id": "x", "votes": {}, "against_all": 0}]), "missing invalid"),
    (raw_of(contests=[{"id": "x", "votes": {"a": -3}, "against_all": 0, "invalid": 0}]), "votes for a must be between"),
    (raw_of(contests=[{"id": "", "votes": {}, "against_all": 0, "invalid": 0}]), "id must be a contest id"),
    (raw_of(contests=[{"id": "x", "votes": {}, "against_all": 0, "invalid": 0}] * 2), "listed twice"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_a_file_that_lies_is_refused_by_name(raw: bytes, words: str) -> None:
    with pytest.raises(HandCountError) as caught:
        parse_hand_count(raw)
    assert words in str(caught.value)


def test_a_count_for_another_ballot_is_refused_against_the_definition() -> None:
    count = HandCount.zero(ELECTION, STYLE)
    first = count.contests[0]
    option = next(iter(first.votes))
    missing = dataclasses.replace(count, contests=(dataclasses.replace(
        first, votes={k: v for k, v in first.votes.items() if k != option}), *count.contests[1:]))
    with pytest.raises(HandCountError, match=f"option {option} is missing"):
        parse_hand_count(missing.to_json_bytes(), election=ELECTION, style=STYLE)
    extra = with_line(count, f"contest:{first.contest_id}:option:nobody", 0)
    with pytest.raises(HandCountError, match="option nobody is not on the ballot"):
        parse_hand_count(extra.to_json_bytes(), election=ELECTION, style=STYLE)
    with pytest.raises(HandCountError, match="is missing from the hand count"):
        parse_hand_count(dataclasses.replace(count, contests=count.contests[1:]).to_json_bytes(),
                         election=ELECTION, style=STYLE)
    plain = load_election(EXAMPLE.with_name("majilis-2021.json"))  # its party list has no "against all"
    (contest,) = plain.contests_for_style(plain.precinct(7101).style)
    assert not contest.against_all
    zero = HandCount.zero(plain, plain.precinct(7101).style)
    zero.check_against(plain, plain.precinct(7101).style)
    with pytest.raises(HandCountError, match="'against all' is not on this ballot"):
        with_line(zero, f"contest:{contest.id}:against_all", 1).check_against(plain, plain.precinct(7101).style)


def test_a_paper_ballot_has_no_blank() -> None:
    c = HandCount.zero(ELECTION, STYLE).contests[0]
    with pytest.raises(HandCountError, match="no blank"):
        HandCount(0, 0, 0, (dataclasses.replace(c, blank=1),))
