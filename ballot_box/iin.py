"""Kazakh individual identification number (IIN, ЖСН/ИИН).

Twelve digits: ``YYMMDD`` birth date, one century-and-sex digit, a four-digit
serial, one check digit. The check digit is the weighted sum of the first eleven
digits modulo 11 with weights 1..11; if that is 10, a second pass with weights
3..11, 1, 2 is used; if the second pass also gives 10 the number is never
issued, so it is invalid (Government decree of 11 June 2003 No. 565).

The clerk types IINs by hand, so the pollbook rejects a mistyped one with the
reason rather than "not found".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum

WEIGHTS_FIRST = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
WEIGHTS_SECOND = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)

# century-and-sex digit -> (first year of the century, sex)
_CENTURY_SEX = {1: (1800, "M"), 2: (1800, "F"), 3: (1900, "M"), 4: (1900, "F"), 5: (2000, "M"), 6: (2000, "F")}


class Sex(str, Enum):
    MALE = "M"
    FEMALE = "F"


class InvalidIIN(ValueError):
    """The string is not a valid IIN; ``reason`` says why in words a clerk can act on."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"invalid IIN {value!r}: {reason}")
        self.value = value
        self.reason = reason


class CheckDigitUnavailable(ValueError):
    """Both checksum passes give 10: no IIN is issued with these eleven digits."""


@dataclass(frozen=True)
class IIN:
    """A validated IIN and what it encodes."""

    value: str
    birth_date: dt.date
    sex: Sex
    serial: int

    def __str__(self) -> str:
        return self.value


def check_digit(first_eleven: str) -> int:
    """The check digit for eleven leading digits (raises CheckDigitUnavailable if none exists)."""
    if len(first_eleven) != 11 or not first_eleven.isascii() or not first_eleven.isdigit():
        raise ValueError(f"need exactly 11 ASCII digits, got {first_eleven!r}")
    digits = [int(c) for c in first_eleven]
    first = sum(d * w for d, w in zip(digits, WEIGHTS_FIRST)) % 11
    if first != 10:
        return first
    second = sum(d * w for d, w in zip(digits, WEIGHTS_SECOND)) % 11
    if second == 10:
        raise CheckDigitUnavailable(f"no check digit exists for {first_eleven}")
    return second


def checksum_ok(value: str) -> bool:
    """True if twelve ASCII digits carry a correct check digit (date not considered)."""
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        return False
    try:
        return check_digit(value[:11]) == int(value[11])
    except CheckDigitUnavailable:
        return False


def validate_iin(value: str) -> IIN:
    """Parse and validate an IIN; raise InvalidIIN naming the first problem found."""
    if not isinstance(value, str):
        raise InvalidIIN(repr(value), "not a string")
    if len(value) != 12:
        raise InvalidIIN(value, f"wrong length: {len(value)} characters, an IIN has 12 digits")
    if not (value.isascii() and value.isdigit()):
        raise InvalidIIN(value, "non-digit characters: an IIN has only the digits 0-9")
    try:
        expected = check_digit(value[:11])
    except CheckDigitUnavailable:
        raise InvalidIIN(value, "bad checksum: both checksum passes give 10, no such IIN is issued") from None
    if expected != int(value[11]):
        raise InvalidIIN(value, f"bad checksum: check digit is {value[11]}, expected {expected}")
    code = int(value[6])
    if code not in _CENTURY_SEX:
        raise InvalidIIN(value, f"impossible date: century/sex digit {code} is not 1-6")
    century, sex = _CENTURY_SEX[code]
    try:
        birth = dt.date(century + int(value[0:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        raise InvalidIIN(value, f"impossible date: {value[0:6]} (YYMMDD) in the {century}s") from None
    return IIN(value=value, birth_date=birth, sex=Sex(sex), serial=int(value[7:11]))


def century_sex_digit(birth_date: dt.date, sex: Sex | str) -> int:
    """The 7th digit for a birth date and sex (1-6)."""
    sex = Sex(sex)
    base = {1800: 1, 1900: 3, 2000: 5}.get(birth_date.year // 100 * 100)
    if base is None:
        raise ValueError(f"IINs encode birth years 1800-2099, not {birth_date.year}")
    return base + (1 if sex is Sex.FEMALE else 0)


def make_iin(birth_date: dt.date, sex: Sex | str, serial: int) -> str:
    """A valid IIN for a birth date, sex and serial (for tests and the simulator).

    Serials whose eleven digits have no check digit (both passes give 10, about 1
    in 11) are skipped: the next serial up is used, as the registry does.
    """
    if not 0 <= serial <= 9999:
        raise ValueError(f"serial must be 0..9999, got {serial}")
    prefix = f"{birth_date.year % 100:02d}{birth_date.month:02d}{birth_date.day:02d}"
    code = century_sex_digit(birth_date, sex)
    for candidate in range(serial, serial + 10000):
        head = f"{prefix}{code}{candidate % 10000:04d}"
        try:
            return head + str(check_digit(head))
        except CheckDigitUnavailable:
            continue
    raise AssertionError("unreachable: some serial always has a check digit")
