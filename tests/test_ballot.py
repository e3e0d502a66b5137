"""Ballot plaintext: exact layout, every refusal with its reason, and properties over
random elections (round trip, one encoding per ballot, no crash on any bytes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sailau.election import definition as d
from sailau.election.ballot import (
    AGAINST_ALL,
    BLANK,
    BallotEncodingError,
    Mark,
    Reason,
    ballot_positions,
    decode_ballot,
    encode_ballot,
)
from sailau.election.definition import Election, election_from_data, load_election

EXAMPLES = Path(d.__file__).parent / "examples"
E2021 = load_election(EXAMPLES / "majilis-2021.json")
E2023 = load_election(EXAMPLES / "majilis-2023.json")


def reason_of(call) -> Reason:
    with pytest.raises(BallotEncodingError) as info:
        call()
    return info.value.reason


# -- exact layout ------------------------------------------------------------------


def test_2021_layout_is_the_ballot_order_index():
    # ballot order QHP, NO, AUYL, AZ, ADAL
    assert encode_ballot(E2021, 1, {"majilis": "QHP"}) == b"\x00"
    assert encode_ballot(E2021, 1, {"majilis": "NO"}) == b"\x01"
    assert encode_ballot(E2021, 1, {"majilis": "ADAL"}) == b"\x04"
    assert encode_ballot(E2021, 1, {}) == b"\xff"
    assert decode_ballot(E2021, 1, b"\x03") == {"majilis": "AZ"}


def test_2023_layout_and_padding_are_election_wide():
    plaintext = encode_ballot(
        E2023, 2, {"majilis-list": "AUYL", "majilis-smd-ast-2": AGAINST_ALL, "maslikhat-astana-list": ["JSDP"]}
    )
    assert plaintext == bytes([0x01, 0xFE, 0x05])
    assert decode_ballot(E2023, 2, plaintext) == {
        "majilis-list": "AUYL",
        "majilis-smd-ast-2": AGAINST_ALL,
        "maslikhat-astana-list": "JSDP",
    }
    lengths = {len(encode_ballot(E2023, s.code, {})) for s in E2023.ballot_styles}
    assert lengths == {E2023.plaintext_length}


def short_and_long_styles() -> Election:
    """2023 plus a fourth style with only the party list: it gets zero padding."""
    data = __import__("json").loads((EXAMPLES / "majilis-2023.json").read_bytes())
    data["ballot_styles"].append({"code": 4, "contests": ["majilis-list"]})
    return election_from_data(data)


def test_short_style_is_padded_with_zeros():
    e = short_and_long_styles()
    assert encode_ballot(e, 4, {"majilis-list": "AZ"}) == bytes([5, 0, 0])
    assert decode_ballot(e, 4, bytes([5, 0, 0])) == {"majilis-list": "AZ"}
    assert reason_of(lambda: decode_ballot(e, 4, bytes([5, 0, 1]))) is Reason.NONZERO_PADDING
    assert reason_of(lambda: decode_ballot(e, 4, bytes([5, 0xFF, 0]))) is Reason.NONZERO_PADDING


def test_missing_contest_and_empty_choice_list_are_blank():
    blank = {"majilis-list": BLANK, "majilis-smd-ast-1": BLANK, "maslikhat-astana-list": BLANK}
    assert decode_ballot(E2023, 1, encode_ballot(E2023, 1, {})) == blank
    assert encode_ballot(E2023, 1, {"majilis-list": []}) == b"\xff\xff\xff"
    assert encode_ballot(E2023, 1, {"majilis-list": [BLANK]}) == b"\xff\xff\xff"


def test_positions_describe_the_layout():
    positions = ballot_positions(E2023, 3)
    assert [p.contest_id for p in positions] == list(E2023.style(3).contests)
    assert [p.position for p in positions] == [0, 1, 2]
    assert positions[1].option_ids == ("ala1-yessenova", "ala1-kim", "ala1-omarov", "ala1-sharipov")
    assert all(p.against_all for p in positions)
    assert ballot_positions(E2021, 1)[0].against_all is False


# -- encoder refusals ----------------------------------------------------------------


@pytest.mark.parametrize(
    "selections, reason",
    [
        ({"nope": "AZ"}, Reason.UNKNOWN_CONTEST),
        ({"majilis-smd-ast-2": "ast2-bekova"}, Reason.CONTEST_NOT_ON_STYLE),  # style 1 is AST-1
        ({"majilis-list": "NOPE"}, Reason.UNKNOWN_OPTION),
        ({"majilis-list": "ast1-seitov"}, Reason.UNKNOWN_OPTION),  # an option of another contest
        ({"majilis-list": ["AZ", "QHP"]}, Reason.OVERVOTE),
        ({"majilis-list": ["AZ", "AZ"]}, Reason.OVERVOTE),
        ({"majilis-list": ["AZ", AGAINST_ALL]}, Reason.OVERVOTE),
        ({"majilis-list": 3}, Reason.UNKNOWN_OPTION),
        ({"majilis-list": [["AZ"]]}, Reason.UNKNOWN_OPTION),
        ({"majilis-list": b"AZ"}, Reason.UNKNOWN_OPTION),
    ],
)
def test_encoder_refuses(selections, reason):
    assert reason_of(lambda: encode_ballot(E2023, 1, selections)) is reason


def test_encoder_refuses_against_all_where_the_law_has_none():
    assert reason_of(lambda: encode_ballot(E2021, 1, {"majilis": AGAINST_ALL})) is Reason.AGAINST_ALL_NOT_ALLOWED


def test_unknown_style():
    assert reason_of(lambda: encode_ballot(E2023, 9, {})) is Reason.UNKNOWN_STYLE
    assert reason_of(lambda: decode_ballot(E2023, 9, b"\xff\xff\xff")) is Reason.UNKNOWN_STYLE


def test_mark_strings_are_not_marks():
    """A string equal to a mark's value is an option id, never a mark."""
    assert reason_of(lambda: encode_ballot(E2023, 1, {"majilis-list": "against_all"})) is Reason.UNKNOWN_OPTION
    assert reason_of(lambda: encode_ballot(E2023, 1, {"majilis-list": "blank"})) is Reason.UNKNOWN_OPTION


# -- decoder refusals ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", Reason.WRONG_LENGTH),
        (b"\x00\x00", Reason.WRONG_LENGTH),
        (b"\x00\x00\x00\x00", Reason.WRONG_LENGTH),
        (bytes([7, 0, 0]), Reason.INDEX_OUT_OF_RANGE),  # 7 parties: 0..6
        (bytes([0, 3, 0]), Reason.INDEX_OUT_OF_RANGE),  # 3 candidates in AST-1
        (bytes([0, 0, 6]), Reason.INDEX_OUT_OF_RANGE),  # Respublica is not on the maslikhat list
        (bytes([0xFD, 0, 0]), Reason.INDEX_OUT_OF_RANGE),
    ],
)
def test_decoder_refuses(data, reason):
    assert reason_of(lambda: decode_ballot(E2023, 1, data)) is reason


def test_decoder_refuses_against_all_where_not_allowed():
    assert reason_of(lambda: decode_ballot(E2021, 1, b"\xfe")) is Reason.AGAINST_ALL_NOT_ALLOWED


def test_decoder_refuses_non_bytes():
    assert reason_of(lambda: decode_ballot(E2021, 1, "\x00")) is Reason.NOT_BYTES


def test_error_carries_reason_and_message():
    with pytest.raises(BallotEncodingError) as info:
        decode_ballot(E2023, 1, bytes([9, 0, 0]))
    assert info.value.reason == "index_out_of_range"
    assert "majilis-list" in str(info.value) and "0x09" in str(info.value)


# -- properties over random elections --------------------------------------------------

TEXT = {"kk": "атауы", "ru": "название", "en": "name"}


@st.composite
def elections(draw) -> Election:
    """Random valid elections: a national list, maybe Mäjilis districts (2023 law),
    maslikhat contests with or without against-all (2009 law), several styles."""
    law = draw(st.sampled_from(["kz-majilis-2009", "kz-majilis-2023"]))
    n_parties = draw(st.integers(1, 6))
    parties = [f"P{i}" for i in range(n_parties)]

    def against_all() -> bool:
        return True if law == "kz-majilis-2023" else draw(st.booleans())

    def party_subset() -> list[str]:
        return draw(st.permutations(parties).flatmap(lambda p: st.integers(1, len(p)).map(lambda k: p[:k])))

    contests = [{"kind": "party_list", "id": "list", "level": "national", "name": TEXT,
                 "against_all": law == "kz-majilis-2023", "options": party_subset()}]
    n_districts = draw(st.integers(0, 3)) if law == "kz-majilis-2023" else 0
    districts = [{"code": f"D{i}", "region": "R", "name": TEXT} for i in range(n_districts)]
    for i in range(n_districts):
        n_cand = draw(st.integers(1, 5))
        contests.append({"kind": "single_member", "id": f"smd{i}", "level": "national", "name": TEXT,
                         "against_all": True, "district": f"D{i}",
                         "candidates": [{"id": f"c{i}-{j}", "name": TEXT} for j in range(n_cand)]})
    n_local = draw(st.integers(0, 3))
    local_ids = []
    for i in range(n_local):
        local_ids.append(f"m{i}")
        if draw(st.booleans()):
            contests.append({"kind": "party_list", "id": f"m{i}", "level": "maslikhat", "region": "R",
                             "name": TEXT, "against_all": against_all(), "options": party_subset()})
        else:
            districts.append({"code": f"MD{i}", "region": "R", "level": "maslikhat", "name": TEXT})
            n_cand = draw(st.integers(1, 4))
            contests.append({"kind": "single_member", "id": f"m{i}", "level": "maslikhat", "region": "R",
                             "name": TEXT, "against_all": against_all(), "district": f"MD{i}",
                             "candidates": [{"id": f"mc{i}-{j}", "name": TEXT} for j in range(n_cand)]})
    n_styles = max(1, n_districts, draw(st.integers(1, 3)))
    styles, precincts = [], []
    for s in range(n_styles):
        ids = ["list"] + ([f"smd{s}"] if s < n_districts else [])
        ids += [m for m in local_ids if draw(st.booleans())]
        if s == n_styles - 1:  # every contest is on some style
            covered = {c for st_ in styles for c in st_["contests"]} | set(ids)
            ids += [m for m in local_ids if m not in covered]
        styles.append({"code": s + 1, "contests": draw(st.permutations(ids))})
        precinct = {"number": 100 + s, "region": "R", "style": s + 1, "address": TEXT}
        if n_districts:
            precinct["district"] = f"D{min(s, n_districts - 1)}"
        precincts.append(precinct)
    # style s >= n_districts carries no Mäjilis district race: its precinct may be anywhere
    data = {
        "format": "sailau/election", "version": 1, "id": "random", "date": "2023-03-19",
        "name": TEXT, "law": law,
        "parties": [{"id": p, "registration_number": i + 1, "name": TEXT} for i, p in enumerate(parties)],
        "contests": contests,
        "territory": {"regions": [{"code": "R", "name": TEXT}], "districts": districts},
        "precincts": precincts, "ballot_styles": styles,
        "public_key": "11" * 32,
    }
    return election_from_data(data)


@st.composite
def ballots(draw):
    """(election, style code, selections input, the selections it means)."""
    election = draw(elections())
    style = draw(st.sampled_from([s.code for s in election.ballot_styles]))
    given_, meant = {}, {}
    for contest in election.contests_for_style(style):
        ids = [o.id for o in election.options(contest.id)]
        choices = [*ids, BLANK] + ([AGAINST_ALL] if contest.against_all else [])
        choice = draw(st.sampled_from(choices))
        form = draw(st.sampled_from(["plain", "list", "omit"] if choice is BLANK else ["plain", "list"]))
        meant[contest.id] = choice
        if form == "plain":
            given_[contest.id] = choice
        elif form == "list":
            given_[contest.id] = [] if choice is BLANK and draw(st.booleans()) else [choice]
    return election, style, given_, meant


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(ballots())
def test_round_trip(case):
    election, style, given_, meant = case
    plaintext = encode_ballot(election, style, given_)
    assert len(plaintext) == election.plaintext_length
    decoded = decode_ballot(election, style, plaintext)
    assert decoded == meant
    assert list(decoded) == list(election.style(style).contests)
    assert encode_ballot(election, style, decoded) == plaintext


@FAST
@given(ballots())
def test_every_byte_mutation_is_another_ballot_or_refused(case):
    """Exhaustive over positions and values: one plaintext per ballot, nothing lenient."""
    election, style, given_, meant = case
    plaintext = encode_ballot(election, style, given_)
    for position in range(len(plaintext)):
        for value in range(256):
            if value == plaintext[position]:
                continue
            mutated = plaintext[:position] + bytes([value]) + plaintext[position + 1:]
            try:
                decoded = decode_ballot(election, style, mutated)
            except BallotEncodingError as exc:
                assert isinstance(exc.reason, Reason)
                continue
            assert decoded != meant
            assert encode_ballot(election, style, decoded) == mutated
    for cut in (plaintext[:-1], plaintext + b"\x00", plaintext + b"\xff"):
        with pytest.raises(BallotEncodingError) as info:
            decode_ballot(election, style, cut)
        assert info.value.reason is Reason.WRONG_LENGTH


@FAST
@given(elections(), st.data())
def test_random_bytes_never_crash_the_decoder(election, data):
    style = data.draw(st.one_of(st.sampled_from([s.code for s in election.ballot_styles]), st.integers(0, 70000)))
    length = data.draw(st.one_of(st.just(election.plaintext_length), st.integers(0, 2 * election.plaintext_length + 2)))
    raw = data.draw(st.binary(min_size=length, max_size=length))
    try:
        decoded = decode_ballot(election, style, raw)
    except BallotEncodingError as exc:
        assert isinstance(exc.reason, Reason) and exc.message
        return
    # whatever decodes is a ballot the encoder would have written, byte for byte
    assert encode_ballot(election, style, decoded) == raw
    assert all(isinstance(v, (str, Mark)) for v in decoded.values())
