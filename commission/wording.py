"""How the report's exact numbers read to a person.

The arithmetic stays exact (`Fraction`s in election/law.py, their `str` in the
report JSON, which `sailau verify` compares); only what is shown is rounded here:
`decimal_text(Fraction(25492509, 50))` is `509,850.18` (two places, half away
from zero, computed on the Fraction, never through a float), so the law lines
read "7 % of 7,283,574 = 509,850.18 votes" and "Hare quota 67,346.13 votes".
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from sailau.election.law import get_law

#: What a report level's units are called in a heading ("By national" is not English).
LEVEL_HEADINGS = {"national": "Whole country", "region": "By region", "district": "By single-member district"}
TURNOUT_TITLES = {"national": "Turnout, whole country", "region": "Turnout by region", "district": "Turnout by district"}


def grouped(n: int) -> str:
    """An integer with thousands separators: 7283574 -> '7,283,574'."""
    return f"{n:,}"


def decimal_text(value: Fraction | int | str, places: int = 2, grouping: bool = True) -> str:
    """`value` rounded to `places` decimals (half away from zero), with thousands
    separators unless `grouping` is False (then a plain decimal a program reads,
    for pages that group digits by their own language); trailing zeros kept."""
    f = Fraction(value)
    scale = 10**places
    sign = "-" if f < 0 else ""
    whole, rest = divmod(abs(f) * scale, 1)
    units = int(whole) + (1 if rest >= Fraction(1, 2) else 0)
    head, tail = divmod(units, scale)
    return (f"{sign}{head:,}" if grouping else f"{sign}{head}") + (f".{tail:0{places}d}" if places else "")


def percent_text(value: Fraction) -> str:
    """A law's rate as a person writes it: Fraction(7, 100) -> '7 %', 1/3 -> '33.33 %'."""
    pct = Fraction(value) * 100
    return (f"{pct.numerator}" if pct.denominator == 1 else decimal_text(pct)) + " %"


def threshold_line(allocation: Mapping[str, Any]) -> str:
    """'7 % of 7,283,574 = 509,850.18 votes' from a report's `allocation`."""
    rate = get_law(allocation["law"]).threshold
    return f"{percent_text(rate)} of {grouped(allocation['participated'])} = {decimal_text(Fraction(allocation['threshold_votes']))} votes"


def quota_line(allocation: Mapping[str, Any]) -> str:
    """'Hare quota 67,346.13 votes' from a report's `allocation`."""
    return f"Hare quota {decimal_text(Fraction(allocation['quota']))} votes"


def allocation_text(allocation: Mapping[str, Any], party_names: Mapping[str, str]) -> str:
    """The whole seat-allocation sentence of a report, names instead of ids."""
    if "error" in allocation:
        return str(allocation["error"])
    named = [party_names.get(p, p) for p in allocation["qualified"]]
    text = (f"{allocation['list_seats']} list seats by law {allocation['law']}. Threshold: {threshold_line(allocation)} "
            f"(of the voters who took part). {quota_line(allocation)}. Qualified: {', '.join(named) or 'none'}.")
    if allocation.get("runner_up"):
        text += f" Runner-up admitted: {party_names.get(allocation['runner_up'], allocation['runner_up'])}."
    return text
