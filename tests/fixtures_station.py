"""Station fixtures shared by the station's test files (test_station, test_replace,
test_revocation, test_cast, test_close): an open station database on each backend and
a station with polls open over it. Each file keeps its own module-scoped ``rig``
(`sailau.simulator.booth_rig.Rig`, sized for its tests); ``station`` uses that one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.station import Station
from sailau.simulator.booth_rig import Rig


@pytest.fixture
def db(station_db_url: str) -> Iterator[StationDB]:
    """The station database on each backend (``station_db_url``), open, at schema head."""
    with open_station_db(station_db_url) as database:
        yield database


@pytest.fixture
def station(rig: Rig, db: StationDB, tmp_path: Path) -> Station:
    """A station of the module's rig with the pollbook imported and the polls open."""
    return rig.open_station(db, tmp_path)
