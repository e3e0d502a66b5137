"""The station's signed hourly turnout report (issue 13, item 8; format in
election/turnout.py): at a CEC hour, voters who received a ballot before it
struck, of the voters on the list, signed with the station key.

The count is the pollbook's hourly check-in buckets (pollbook.turnout) summed
over the hours before the report's hour, so a report made late (the clerk was
busy at 12:00) still says what was true at 12:00. A report for an hour that has
not struck yet on the station's clock is refused: it would undercount.
"""

from __future__ import annotations

import datetime as dt

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import crypto
from sailau.election.definition import Election
from sailau.election.turnout import SignedTurnout, TurnoutError, cec_hour, make_turnout_report, sign_turnout

from . import pollbook, store
from .db import StationDB


def received_before(buckets: list[pollbook.TurnoutBucket], at: dt.datetime) -> int:
    """Check-ins in the hour buckets that ended by `at` (aware datetime)."""
    return sum(b.count for b in buckets if dt.datetime.fromisoformat(b.hour) + dt.timedelta(hours=1) <= at)


def station_turnout(db: StationDB, election: Election, hour: int, key: ed25519.Ed25519PrivateKey) -> SignedTurnout:
    """The signed report of CEC hour `hour` (10, 12, ..., 20) for this station's precinct."""
    info = store.station_info(db)
    if crypto.key_id(crypto.ed25519_public_bytes(key.public_key())) != info.station_key_id:
        raise TurnoutError("this is not the station key this database was set up with")
    at = cec_hour(election, hour)
    now = db.clock()
    if now < at:
        raise TurnoutError(f"it is {now.isoformat(timespec='minutes')} on the station's clock: the {hour}:00 report "
                           "can only be made once that hour has struck")
    counters = store.counters(db)
    report = make_turnout_report(election, info.precinct, hour, received_before(pollbook.turnout(db), at), counters.on_list)
    return sign_turnout(report, key)
