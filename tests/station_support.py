"""Helpers the station's test files share (fixtures are in fixtures_station.py)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import text

from sailau.ballot_box import audit
from sailau.ballot_box.cardlink import CardLinkKey
from sailau.ballot_box.db import StationDB
from sailau.ballot_box.station import Station
from sailau.simulator.booth_rig import Rig
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport


#: Almaty's offset (UTC+5), for station clocks in tests.
ALMATY = dt.timezone(dt.timedelta(hours=5))


class Clock:
    """A station clock the test sets (`clock.now = ...`); the station calls it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class Crash(Exception):
    """The station process 'dies' at a fault point."""


def client_of(card: VirtualBallotCard) -> BallotCardClient:
    """A connected client for a virtual card in an in-process reader."""
    client = BallotCardClient(InProcessTransport(card))
    client.connect()
    return client


def blank_card(rig: Rig) -> tuple[VirtualBallotCard, BallotCardClient]:
    """A fresh BLANK card of the rig's master key, connected."""
    card = VirtualBallotCard(master_key=rig.card_master_key)
    return card, client_of(card)


def restart(rig: Rig, station: Station, **kwargs: object) -> Station:
    """A new Station over the same database: the in-memory queue and pending issue are gone."""
    return Station.attach(station.db, rig.election, rig.station_key, rig.card_master_key, **kwargs)


def card_links(rig: Rig) -> CardLinkKey:
    return CardLinkKey.from_master_key(rig.card_master_key)


def audit_kinds(db: StationDB) -> list[tuple[str, dict]]:
    """The audit events as (kind, payload), in chain order."""
    return [(e.kind, e.payload) for e in audit.read_events(db)]


def wait_until_blocked_on_a_lock(db: StationDB, racer: str) -> None:
    """Wait (PostgreSQL) until some transaction waits on a row lock; fail naming `racer` if none does."""
    deadline = time.monotonic() + 30
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )).scalar()
            if waiting:
                return
            time.sleep(0.01)  # polling a condition under a deadline
    pytest.fail(f"the racing {racer} never blocked on the held row lock")
