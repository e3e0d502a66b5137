"""The one membership rule (election/styles.py): the booth, the station and the close
give the same answer for the same card, in the same order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sailau.ballot_box.refusal import Refusal, for_mismatch
from sailau.election.styles import Mismatch, PrecinctBallot, card_mismatch
from sailau.terminal.session import CardCheck

OURS = PrecinctBallot(b"\x01" * 32, 7101, 1)


def test_each_mismatch_is_named_in_order() -> None:
    assert card_mismatch(OURS, OURS.fingerprint, 7101, 1) is None
    assert card_mismatch(OURS, b"\x02" * 32, 7102, 2) is Mismatch.WRONG_ELECTION  # election first
    assert card_mismatch(OURS, OURS.fingerprint, 7102, 2) is Mismatch.WRONG_PRECINCT  # then precinct
    assert card_mismatch(OURS, OURS.fingerprint, 7101, 2) is Mismatch.WRONG_STYLE
    assert card_mismatch(OURS, OURS.fingerprint, 7101, 1, 2) is Mismatch.WRONG_STYLE  # every stated style counts


@given(fp=st.sampled_from([OURS.fingerprint, b"\x02" * 32]), precinct=st.sampled_from([7101, 7102]),
       styles=st.lists(st.sampled_from([1, 2]), min_size=1, max_size=2))
def test_the_booth_and_the_station_agree(fp: bytes, precinct: int, styles: list[int]) -> None:
    mismatch = card_mismatch(OURS, fp, precinct, *styles)
    belongs = fp == OURS.fingerprint and precinct == OURS.precinct and set(styles) == {OURS.style}
    assert (mismatch is None) == belongs
    assert (for_mismatch(mismatch) is None) == belongs
    if mismatch is not None:
        assert CardCheck(mismatch.value).value == mismatch.value  # the booth names it as the rule does
        refusal = for_mismatch(mismatch)
        # the station files a style mismatch under wrong_precinct (audit logs on disk say so)
        expected = Refusal.WRONG_ELECTION if mismatch is Mismatch.WRONG_ELECTION else Refusal.WRONG_PRECINCT
        assert refusal is expected
