"""Signed hourly turnout reports: made at the station from the pollbook's hour
buckets, checked and summed by the commission (`commission import`, `commission
turnout`), and every way such a file can lie refused by name."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from nist_schema import nist_schema_errors
from sailau.ballot_box import pollbook, store
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.turnout import received_before, station_turnout
from sailau.cli.main import cli
from sailau.commission.checks import Reason
from sailau.commission.db import open_commission_db
from sailau.commission.export import commission_nist_report
from sailau.commission.importer import import_protocols, published_files
from sailau.commission.netbench import synthetic_turnout
from sailau.commission.registry import load_registry
from sailau.commission.synth import load_private_keys, parse_table, synthesize
from sailau.commission.turnout import check_turnout_file
from sailau.election import crypto
from sailau.election.definition import load_election
from sailau.election.turnout import (
    CEC_HOURS,
    SignedTurnout,
    TurnoutError,
    cec_hour,
    make_turnout_report,
    sign_turnout,
)
from station_support import ALMATY, Clock

EXAMPLE = Path(__file__).resolve().parents[1] / "election" / "examples" / "majilis-2021.json"


def voters_csv(path: Path, n: int) -> Path:
    from sailau.ballot_box.iin import Sex, make_iin

    rows = [f"{make_iin(dt.date(1970, 1, 1 + i), Sex('M'), i + 1)},Surname{i},Name{i},,1970-01-{1 + i:02d}" for i in range(n)]
    path.write_text("iin,surname,given_name,patronymic,birth_date\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_station_report_counts_the_hours_before_it(tmp_path: Path) -> None:
    election = load_election(EXAMPLE)
    key = crypto.generate_signing_key()
    precinct = election.precincts[0].number
    # the station's clock keeps the precinct's zone: Almaty was UTC+6 in 2021 (UTC+5 since March 2024)
    clock = Clock(dt.datetime.combine(election.date, dt.time(8, 5), tzinfo=ZoneInfo("Asia/Almaty")))
    with open_station_db(f"sqlite:///{tmp_path / 's.db'}", clock=clock) as db:
        store.setup_station(db, election.fingerprint, precinct, crypto.key_id(crypto.ed25519_public_bytes(key.public_key())))
        pollbook.import_voters(db, voters_csv(tmp_path / "v.csv", 6))
        store.record_polls_opened(db)
        rows = (tmp_path / "v.csv").read_text().splitlines()[1:]
        for row, (h, m) in zip(rows, [(8, 5), (9, 30), (9, 59), (10, 0), (11, 59)]):
            clock.now = clock.now.replace(hour=h, minute=m)
            pollbook.check_in(db, row.split(",")[0])
        clock.now = clock.now.replace(hour=11, minute=59)
        with pytest.raises(TurnoutError, match="has struck"):
            station_turnout(db, election, 12, key)
        clock.now = clock.now.replace(hour=12, minute=3)
        at10 = station_turnout(db, election, 10, key)
        at12 = station_turnout(db, election, 12, key)
        with pytest.raises(TurnoutError, match="not the station key"):
            station_turnout(db, election, 10, crypto.generate_signing_key())
    assert (at10.report.received_ballot, at10.report.voters_on_list) == (3, 6)
    assert at12.report.received_ballot == 5
    assert at10.report.hour == f"{election.date.isoformat()}T10:00+06:00" and at10.report.time_zone == "Asia/Almaty"
    assert SignedTurnout.from_canonical_json(at12.to_canonical_json()) == at12


@given(st.lists(st.tuples(st.integers(0, 23), st.integers(1, 50)), max_size=24, unique_by=lambda t: t[0]),
       st.sampled_from(CEC_HOURS))
def test_received_before_sums_whole_hours_before_the_mark(buckets, hour) -> None:
    at = dt.datetime(2024, 3, 19, hour, tzinfo=ALMATY)
    bs = [pollbook.TurnoutBucket(dt.datetime(2024, 3, 19, h, tzinfo=ALMATY).isoformat(timespec="minutes"), n) for h, n in buckets]
    assert received_before(bs, at) == sum(n for h, n in buckets if h < hour)


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("turnout") / "set"
    synthesize(parse_table("region,A,B\nR1,4000,3000\nR2,3500,1200\n"), 10, 3, d)
    synthetic_turnout(d, d / "turnout")
    return d


def test_every_lie_in_a_turnout_file_is_refused_by_name(published: Path) -> None:
    election = load_election(published / "election.json")
    registry = load_registry(published / "stations.json", election).registry
    keys = load_private_keys(published / "private" / "station-keys.json")
    good = make_turnout_report(election, 2, 14, 50, 90)
    raw = sign_turnout(good, keys[2]).to_canonical_json()
    assert check_turnout_file(raw, "f", election, registry).signed.report == good

    def reason(data: bytes) -> Reason:
        return check_turnout_file(data, "f", election, registry).reason

    assert reason(raw + b" ") is Reason.FORMAT
    assert reason(b" " * 20_000) is Reason.TOO_LARGE
    assert reason(b"[" * 100 + b"]" * 100) is Reason.TOO_DEEP
    assert reason(raw.replace(b'"received_ballot":50', b'"received_ballot":100000000000000000000')) is Reason.COUNT_OUT_OF_RANGE
    assert reason(raw.replace(b'"received_ballot":50', b'"received_ballot":51')) is Reason.SIGNATURE
    other = dataclasses.replace(good, election_id="another")
    assert reason(sign_turnout(other, keys[2]).to_canonical_json()) is Reason.ELECTION
    assert reason(sign_turnout(good, crypto.generate_signing_key()).to_canonical_json()) is Reason.UNKNOWN_STATION
    assert reason(sign_turnout(good, keys[3]).to_canonical_json()) is Reason.WRONG_STATION
    d = json.loads(raw)
    d["public_key"] = crypto.ed25519_public_bytes(keys[3].public_key()).hex()
    mismatch = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
    assert reason(mismatch) is Reason.STATION_KEY_MISMATCH
    next_day = (election.date + dt.timedelta(days=1)).isoformat()
    for lie, name in ((dataclasses.replace(good, received_ballot=91), "received<=list"),
                      (dataclasses.replace(good, hour=good.hour.replace("T14", "T15")), "hour"),
                      (dataclasses.replace(good, hour=next_day + good.hour[10:]), "hour")):
        refusal = check_turnout_file(sign_turnout(lie, keys[2]).to_canonical_json(), "f", election, registry)
        assert refusal.reason is Reason.RELATIONS and refusal.message.startswith(name), refusal
    with pytest.raises(TurnoutError, match="not at 11:00"):
        cec_hour(election, 11)


def test_commission_import_reports_turnout_by_hour_and_region(published: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    files = sorted((published / "turnout").glob("*.json"))
    assert published_files([published]).turnout == tuple(files)  # a published set's turnout/ comes with it
    r = CliRunner().invoke(cli, ["commission", "import", "--db", url, str(published)])
    assert r.exit_code == 0, r.output
    assert "turnout reports stored 60" in r.output and "turnout by hour (10 precincts expected)" in r.output
    r = CliRunner().invoke(cli, ["commission", "import", "--db", url, *map(str, files[:6])])
    assert r.exit_code == 0 and "turnout reports unchanged 6" in r.output
    r = CliRunner().invoke(cli, ["commission", "turnout", "--db", url, "--json", "-"])
    data = json.loads(r.output)
    election = load_election(published / "election.json")
    from sailau.election.protocol import SignedProtocol

    protocols = [SignedProtocol.from_canonical_json(p.read_bytes()).protocol for p in sorted((published / "protocols").glob("*.json"))]
    last = data["national"][cec_hour(election, 20).isoformat(timespec="minutes")]
    assert last["received_ballot"] == sum(p.voters_checked_in for p in protocols)
    assert last["voters_on_list"] == sum(p.voters_on_list for p in protocols) and last["precincts"] == 10
    assert set(data["regions"]) == {p.region for p in protocols}
    first = data["national"][cec_hour(election, 10).isoformat(timespec="minutes")]
    assert first["received_ballot"] < last["received_ballot"]


def test_commission_nist_export_validates(published: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    election = load_election(published / "election.json")
    with open_commission_db(url) as db:
        import_protocols(db, [published], election=election, registry=load_registry(published / "stations.json", election))
        report = commission_nist_report(db, "Test CEC", "CEC")
    assert nist_schema_errors(report) == []
    assert report["Status"] == "unofficial-complete"
    assert sum(u["Type"] == "precinct" for u in report["GpUnit"]) == 10
    out = tmp_path / "nist.json"
    r = CliRunner().invoke(cli, ["commission", "export", "--db", url, "--nist", str(out)])
    assert r.exit_code == 0 and "unofficial-complete, 10 precincts" in r.output
    assert nist_schema_errors(json.loads(out.read_text(encoding="utf-8"))) == []


def test_station_turnout_cli_writes_a_file_the_commission_takes(published: Path, tmp_path: Path) -> None:
    election = load_election(published / "election.json")
    keys = load_private_keys(published / "private" / "station-keys.json")
    key_file = tmp_path / "station.key"
    crypto.save_signing_key(key_file, keys[4])
    url = f"sqlite:///{tmp_path / 's.db'}"
    with open_station_db(url) as db:
        store.setup_station(db, election.fingerprint, 4, crypto.key_id(crypto.ed25519_public_bytes(keys[4].public_key())))
        pollbook.import_voters(db, voters_csv(tmp_path / "v.csv", 3))
    out = tmp_path / "turnout-10.json"
    r = CliRunner().invoke(cli, ["station", "turnout", "--db", url, "--election", str(published / "election.json"),
                                 "--station-key", str(key_file), "--hour", "10", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "0 of 3 voters received a ballot" in r.output
    registry = load_registry(published / "stations.json", election).registry
    assert check_turnout_file(out.read_bytes(), "f", election, registry).signed.report.voters_on_list == 3
    r = CliRunner().invoke(cli, ["station", "turnout", "--db", url, "--election", str(published / "election.json"),
                                 "--station-key", str(key_file), "--hour", "10", "--out", str(out)])
    assert r.exit_code == 1 and "refusing to overwrite" in r.output
