"""IIN validation: the official two-pass checksum, the date/century digit, the generator."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailau.ballot_box.iin import (
    WEIGHTS_FIRST,
    InvalidIIN,
    Sex,
    check_digit,
    checksum_ok,
    make_iin,
    validate_iin,
)

# 061211600012: published example (kz-iin-validator README). By hand: weights 1..11
# give 0+12+3+8+5+6+42+0+0+0+11 = 87 = 10 (mod 11), so the second pass decides:
# weights 3..11,1,2 give 0+24+5+12+7+8+54+0+0+0+2 = 112 = 2 (mod 11) -> check digit 2.
SECOND_PASS_EXAMPLE = "061211600012"
# 850302400173 by hand: 8*1+5*2+0*3+3*4+0*5+2*6+4*7+0*8+0*9+1*10+7*11 = 157
# = 3 (mod 11), first pass -> check digit 3.
FIRST_PASS_EXAMPLE = "850302400173"


def test_known_valid_examples() -> None:
    second = validate_iin(SECOND_PASS_EXAMPLE)
    assert second.birth_date == dt.date(2006, 12, 11) and second.sex is Sex.FEMALE and second.serial == 1
    first = validate_iin(FIRST_PASS_EXAMPLE)
    assert first.birth_date == dt.date(1985, 3, 2) and first.sex is Sex.FEMALE and first.serial == 17
    assert sum(int(d) * w for d, w in zip(FIRST_PASS_EXAMPLE, WEIGHTS_FIRST)) % 11 == 3


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("06121160001", "wrong length"),
        ("0612116000122", "wrong length"),
        ("06121160001a", "non-digit"),
        ("０６１２１１６０００１２", "non-digit"),  # full-width digits are not ASCII digits
        ("061211600013", "bad checksum"),
        ("850302400172", "bad checksum"),
    ],
)
def test_rejections_name_the_reason(value: str, reason: str) -> None:
    with pytest.raises(InvalidIIN) as caught:
        validate_iin(value)
    assert reason in caught.value.reason
    assert value in str(caught.value)


def _with_check(head: str) -> str:
    return head + str(check_digit(head))


@pytest.mark.parametrize("head", ["8513024001", "8502304001", "8502293001", "0000003001", "8503020001", "8503027001"])
def test_impossible_dates_with_a_correct_checksum(head: str) -> None:
    value = _with_check(head + "7")
    assert checksum_ok(value)
    with pytest.raises(InvalidIIN, match="impossible date"):
        validate_iin(value)


def test_leap_day_depends_on_the_century_digit() -> None:
    assert validate_iin(_with_check("0002295001" + "2")).birth_date == dt.date(2000, 2, 29)
    with pytest.raises(InvalidIIN, match="impossible date"):
        validate_iin(_with_check("0002291001" + "2"))  # 1800-02-29 does not exist


def test_no_check_digit_when_both_passes_give_ten() -> None:
    heads = [f"8503024{s:04d}" for s in range(10000)]
    unusable = [h for h in heads if not any(checksum_ok(h + str(d)) for d in range(10))]
    assert unusable, "some serials must have no check digit (second pass = 10)"
    for head in unusable[:5]:
        with pytest.raises(InvalidIIN, match="bad checksum"):
            validate_iin(head + "0")


dates = st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2099, 12, 31))


@given(dates, st.sampled_from(list(Sex)), st.integers(0, 9999))
def test_make_iin_is_valid_and_round_trips(birth: dt.date, sex: Sex, serial: int) -> None:
    parsed = validate_iin(make_iin(birth, sex, serial))
    assert parsed.birth_date == birth and parsed.sex is sex


@given(dates, st.sampled_from(list(Sex)), st.integers(0, 9999), st.integers(0, 11), st.integers(1, 9))
def test_single_digit_changes(birth: dt.date, sex: Sex, serial: int, position: int, delta: int) -> None:
    """What the algorithm guarantees, no more: a change of the check digit is
    always caught; a change of digits 1-10 is caught when both numbers use the
    same checksum pass (within a pass the weights are non-zero mod 11); digit 11
    has first-pass weight 11 = 0 (mod 11), so it is caught only when both use the
    second pass (weight 2)."""
    valid = make_iin(birth, sex, serial)
    digit = (int(valid[position]) + delta) % 10
    changed = valid[:position] + str(digit) + valid[position + 1 :]

    def uses_second_pass(value: str) -> bool:
        return sum(int(d) * w for d, w in zip(value[:11], WEIGHTS_FIRST)) % 11 == 10

    same_pass = uses_second_pass(valid) == uses_second_pass(changed)
    if position == 11:
        assert not checksum_ok(changed)
    elif position == 10:
        if uses_second_pass(valid) and uses_second_pass(changed):
            assert not checksum_ok(changed)
        elif not uses_second_pass(valid):
            assert checksum_ok(changed)  # weight 0: the first-pass sum does not move
    elif same_pass:
        assert not checksum_ok(changed)


def test_documented_blind_spots_of_the_checksum() -> None:
    # So nobody relies on more than the scheme gives: a change that moves the
    # number across passes can escape, and the 11th digit is invisible to pass one.
    assert checksum_ok(SECOND_PASS_EXAMPLE) and checksum_ok("361211600012")
    assert checksum_ok(FIRST_PASS_EXAMPLE) and checksum_ok("850302400183")
