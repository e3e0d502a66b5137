"""Turnout by hour: the interface the results site needs from the turnout store.

Stations send signed hourly turnout reports at the CEC's hours (`CEC_HOURS`,
local time of the polling day); the commission server verifies and stores them
(that store is the server's, not the site's). The site reads them through ONE
function, which the server's context provides as the attribute
`turnout_by_hour`:

    turnout_by_hour(engine, level, unit) -> Sequence[HourlyTurnout-like] | None

- `engine`: the SQLAlchemy engine of the commission database (`ctx.engine`);
- `level`: "national" (unit None) or "region" (unit = a region code of the
  definition);
- returns, for each CEC hour that at least one precinct of the unit has
  reported, an object with the attributes of `HourlyTurnout` (hour, voted,
  voters_on_list, precincts_reported; `voted` = voters who had received a ballot
  by that hour, summed over the reporting precincts, `voters_on_list` = the same
  precincts' list sizes), in hour order; an empty sequence or None when nothing
  has been reported yet. Only verified (signed, enrolled) reports may count.

While the context has no such function (or it returns nothing) the site shows
"no turnout reports yet". The percentage is computed here, from the integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sailau.election.turnout import CEC_HOURS  # the hours at which the CEC publishes turnout

from ..aggregate import percent


@dataclass(frozen=True)
class HourlyTurnout:
    hour: int  # one of CEC_HOURS
    voted: int  # received a ballot by that hour, over the reporting precincts
    voters_on_list: int  # the reporting precincts' lists
    precincts_reported: int  # precincts whose report for this hour arrived


class TurnoutByHour(Protocol):
    def __call__(self, engine: Any, level: str, unit: str | None) -> Sequence[Any] | None: ...


def turnout_payload(ctx: Any, level: str, unit: str | None) -> dict[str, Any] | None:
    """The hours for a page, or None ("no turnout reports yet")."""
    source: TurnoutByHour | None = getattr(ctx, "turnout_by_hour", None)
    if source is None:
        return None
    rows = source(ctx.engine, level, unit) or []
    hours = []
    for r in rows:
        if int(r.hour) not in CEC_HOURS:
            continue  # not a published hour
        hours.append({"hour": int(r.hour), "voted": int(r.voted), "voters_on_list": int(r.voters_on_list),
                      "precincts_reported": int(r.precincts_reported), "percent": percent(int(r.voted), int(r.voters_on_list))})
    hours.sort(key=lambda h: h["hour"])
    return {"hours": hours, "cec_hours": list(CEC_HOURS)} if hours else None
