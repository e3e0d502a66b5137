"""The count at close (issue 13, items 4-6, the station's side): voting ends without
the shares so the boxes are opened and counted by hand first; then close of polls
counts the electronic ballots and signs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sailau.ballot_box import audit, store
from sailau.ballot_box.desk import ClerkDesk
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.station import Station
from sailau.ballot_box.store import WrongPollsState
from sailau.simulator.booth_rig import K, Rig

from station_support import blank_card, restart


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=6)


def vote(rig: Rig, station: Station, voters: int) -> None:
    _, client = blank_card(rig)
    for i in range(voters):
        station.check_in(rig.iins[i])
        station.on_card(client)
        rig.vote(client, rig.selections(i))
        assert station.on_card(client).cast.counted  # type: ignore[union-attr]


def test_voting_ends_without_the_shares_and_close_resumes_from_there(rig: Rig, station: Station, tmp_path: Path) -> None:
    vote(rig, station, 3)
    station.end_voting()
    info = store.station_info(station.db)
    assert info.state is PollsState.CLOSED and info.storage_sealed
    with pytest.raises(WrongPollsState):
        station.check_in(rig.iins[4])  # nobody votes after the end of voting
    station.end_voting()  # again: nothing to do
    assert [e.kind for e in station_events(station)].count("polls_closed") == 1
    result = restart(rig, station).close_polls(rig.shares[:K], tmp_path / "out")
    assert result.protocol.ballots_cast == 3 and (tmp_path / "out" / "protocol.json").is_file()
    assert [e.kind for e in station_events(station)].count("polls_closed") == 1  # the anchor is the end of voting


def station_events(station: Station) -> list[audit.AuditEvent]:
    return audit.read_events(station.db)


def test_voting_ended_while_sealing_failed_seals_on_the_next_call(rig: Rig, station: Station) -> None:
    store.record_polls_closed(station.db, seal=False)  # as if the process died before sealing
    assert not store.station_info(station.db).storage_sealed
    station.end_voting()
    assert store.station_info(station.db).storage_sealed


def test_voting_cannot_end_before_the_polls_open(rig: Rig, tmp_path: Path) -> None:
    from sailau.ballot_box.db import open_station_db

    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db:
        station = rig.station(db)
        with pytest.raises(WrongPollsState):
            station.end_voting()


def test_the_desk_ends_voting_and_says_what_comes_next(rig: Rig, station: Station) -> None:
    desk = ClerkDesk(station, lambda: None)  # type: ignore[arg-type,return-value]  # no card is touched
    step = desk.end_voting()
    assert step.note is not None and step.note.code == "voting_ended"
    assert desk.view().polls is PollsState.CLOSED
    again = desk.end_voting()
    assert again.note is not None and again.note.code == "voting_ended"
    fresh = ClerkDesk(restart(rig, station), lambda: None)  # type: ignore[arg-type,return-value]
    assert fresh.refresh().polls is PollsState.CLOSED
