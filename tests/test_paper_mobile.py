"""Paper ballots beside cards, the additional list and the mobile ballot box (issue 13, items 2-3):
the station's rules, the signed act of receipt, the ledger, the audit events, the migration
from 0003. Runs on SQLite and a real PostgreSQL (``station_db_url``)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from sailau.ballot_box import audit, paper, pollbook, store
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.iin import Sex, make_iin
from sailau.ballot_box.models import BallotForm, MobileRequestState, TripState
from sailau.ballot_box.paper import MAX_PAPER_COUNT, EntryError, ReceiptActError
from sailau.ballot_box.refusal import PAPER_REFUSALS, Refusal, Refused
from sailau.ballot_box.station import Station
from sailau.election.canonical import canonical_json
from sailau.simulator.booth_rig import Rig

ALMATY_NOON = dt.datetime(2026, 3, 15, 7, 0, tzinfo=dt.timezone.utc)  # Almaty is UTC+5 since March 2024


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=8)


class _Refusal:
    """`with refusal(R):` the block raises Refused with reason R."""

    def __init__(self, reason: Refusal) -> None:
        self.reason = reason

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        assert isinstance(exc, Refused), f"expected Refused({self.reason.value}), got {exc!r}"
        assert exc.reason is self.reason, (exc.reason, self.reason)
        return True


def no_iin_in_audit(station: Station, iins: list[str]) -> None:
    for event in audit.read_events(station.db):
        line = event.to_json()
        assert not any(i in line for i in iins), event


def test_a_station_that_never_touches_paper_keeps_its_figures(station: Station) -> None:
    ledger = station.paper_ledger()
    assert ledger == paper.PaperLedger() and not ledger.used and ledger.balances()
    counters = station.counters()
    assert (counters.voters_additional, counters.voters_paper, counters.voters_outside) == (0, 0, 0)
    assert set(counters.as_payload()) == {"on_list", "checked_in", "issued", "cast", "cancelled", "outstanding",
                                          "replaced", "not_returned"}


def test_paper_check_in_needs_paper_at_the_table_and_records_the_form_only(rig: Rig, station: Station,
                                                                            tmp_path: Path) -> None:
    with _Refusal(Refusal.NO_PAPER_LEFT):
        station.check_in(rig.iins[0], BallotForm.PAPER)
    assert not station.search(rig.iins[0])[0].checked_in  # nothing recorded
    act = station.receive_paper(2, "Territorial commission", "Secretary Ахметова", now=ALMATY_NOON)
    assert (act.seq, act.count, act.received_at) == (1, 2, "2026-03-15T12:00:00+05:00")
    voter = station.check_in(rig.iins[0], BallotForm.PAPER)
    assert voter.checked_in and voter.ballot_form is BallotForm.PAPER and not voter.card.holds_card
    assert station.waiting == []  # a paper voter waits for no card
    station.check_in(rig.iins[1], BallotForm.PAPER)
    with _Refusal(Refusal.NO_PAPER_LEFT):
        station.check_in(rig.iins[2], BallotForm.PAPER)
    card_voter = station.check_in(rig.iins[2])
    assert card_voter.ballot_form is BallotForm.CARD and station.selected_voter == card_voter
    ledger = station.paper_ledger()
    assert (ledger.received, ledger.issued_in_station, ledger.in_hand, ledger.voters_paper) == (2, 2, 0, 2)
    assert ledger.balances()
    counters = station.counters()
    assert (counters.checked_in, counters.voters_paper) == (3, 2)
    with pytest.raises(pollbook.AlreadyCheckedIn):
        station.check_in(rig.iins[0], BallotForm.CARD)  # one form per voter
    with _Refusal(Refusal.NO_PAPER_LEFT):
        station.exchange_paper(rig.iins[0])
    kinds = [e.kind for e in audit.read_events(station.db)]
    assert kinds.count("paper_issued") == 2 and kinds.count("paper_received") == 1
    assert kinds.count("paper_refused") == 1 and kinds.count("check_in_refused") == 3
    no_iin_in_audit(station, rig.iins)


def test_exchange_cancels_the_spoiled_ballot_and_needs_a_paper_voter(rig: Rig, station: Station) -> None:
    station.receive_paper(3, "TEC", "Member", now=ALMATY_NOON)
    station.check_in(rig.iins[0], BallotForm.PAPER)
    station.check_in(rig.iins[1])
    with _Refusal(Refusal.NO_PAPER_BALLOT):
        station.exchange_paper(rig.iins[1])
    with _Refusal(Refusal.NO_PAPER_BALLOT):
        station.exchange_paper(rig.iins[2])  # not checked in
    with pytest.raises(pollbook.VoterNotFound):
        station.exchange_paper(make_iin(dt.date(1950, 1, 1), Sex.FEMALE, 77))
    ledger = station.exchange_paper(rig.iins[0])
    assert (ledger.spoiled, ledger.in_hand, ledger.issued_in_station) == (1, 1, 1) and ledger.balances()


def test_the_act_of_receipt_is_signed_stored_and_refuses_any_edit(rig: Rig, station: Station, tmp_path: Path) -> None:
    act = station.receive_paper(500, "Территориялық комиссия", "Хатшы", now=ALMATY_NOON)
    path = act.write(tmp_path / "out")
    assert path.name == "paper-receipt-1.json" and act.write(tmp_path / "out") == path
    raw = path.read_bytes()
    again = paper.read_receipt_act(raw)
    assert again == act and station.paper_receipts() == [act]
    data = json.loads(raw)
    assert data["format"] == paper.RECEIPT_ACT_FORMAT and data["act"]["time_zone"] == "Asia/Almaty"
    assert data["act"]["received_at"] == "2026-03-15T12:00:00+05:00"
    assert data["station_key_id"] == station.station_key_id.hex()
    for forged in ({**data, "act": {**data["act"], "count": 5000}},
                   {**data, "act": {**data["act"], "received_by": "Someone else"}}):
        with pytest.raises(ReceiptActError, match="signature"):
            paper.read_receipt_act(canonical_json(forged))
    with pytest.raises(ReceiptActError, match="canonical"):
        paper.read_receipt_act(json.dumps(data, indent=1).encode())
    with pytest.raises(ReceiptActError):
        paper.read_receipt_act(b"[" * 100_000)
    with pytest.raises(ReceiptActError):
        paper.read_receipt_act(canonical_json({**data, "extra": 1}))
    for count in (0, -1, paper.MAX_PAPER_COUNT + 1, "10", True):
        with pytest.raises(EntryError):
            station.receive_paper(count, "TEC", "Member")  # type: ignore[arg-type]
    for who in ("", "   ", "x" * 201, "bad\x00name"):
        with pytest.raises(EntryError):
            station.receive_paper(1, who, "Member")
    assert station.paper_ledger().received == 500


def test_the_additional_list(rig: Rig, station: Station) -> None:
    new = make_iin(dt.date(1988, 5, 17), Sex.MALE, 41)
    voter = station.add_voter(new, "Сейітов", "Қанат", "", "1988-05-17")
    assert voter.additional and not voter.checked_in
    with _Refusal(Refusal.ALREADY_ON_LIST):
        station.add_voter(new, "Сейітов", "Қанат", "", "1988-05-17")
    with _Refusal(Refusal.ALREADY_ON_LIST):
        station.add_voter(rig.iins[0], "Voter0", "Test", "", pollbook.validate_iin(rig.iins[0]).birth_date)
    with pytest.raises(pollbook.InvalidVoterEntry, match="birth date"):
        station.add_voter(make_iin(dt.date(1990, 1, 1), Sex.MALE, 5), "A", "B", "", "1991-01-01")
    station.check_in(new)
    counters = station.counters()
    assert (counters.on_list, counters.voters_additional, counters.checked_in) == (len(rig.iins) + 1, 1, 1)
    assert counters.as_payload()["voters_additional"] == 1
    no_iin_in_audit(station, [new, *rig.iins])


def test_the_mobile_box_day(rig: Rig, station: Station) -> None:
    a, b, c, d = rig.iins[:4]
    station.receive_paper(10, "TEC", "Chair", now=ALMATY_NOON)
    request = station.request_mobile(a, "ill, at home", "Secretary", now=ALMATY_NOON)
    assert request.state is MobileRequestState.PENDING and request.received_at == "2026-03-15T12:00:00+05:00"
    with _Refusal(Refusal.ALREADY_REQUESTED):
        station.request_mobile(a, "again", "Secretary")
    with _Refusal(Refusal.MOBILE_REQUESTED):
        station.check_in(a)  # a voter who asked to vote outside is not checked in at the table
    station.request_mobile(b, "disabled", "Secretary")
    station.request_mobile(c, "caring for a child", "Member")
    station.check_in(d)
    with _Refusal(Refusal.ALREADY_VOTED):
        station.request_mobile(d, "late", "Member")  # a request for a voter who voted
    assert station.withdraw_mobile(c).state is MobileRequestState.WITHDRAWN
    with _Refusal(Refusal.REQUEST_NOT_PENDING):
        station.withdraw_mobile(c)
    station.check_in(c, BallotForm.PAPER)  # withdrawn: they came in person
    with _Refusal(Refusal.TOO_FEW_BALLOTS):
        station.send_mobile_team(["Member 1", "Member 2"], 1)
    with _Refusal(Refusal.NO_PAPER_LEFT):
        station.send_mobile_team(["Member 1"], 10)  # 9 at the table
    with pytest.raises(EntryError):
        station.send_mobile_team([], 3)
    with pytest.raises(EntryError, match="at most 100,000"):  # bounded before any IIN is read
        station.send_mobile_team(["Member 1"], 3, ["not an IIN"] * (MAX_PAPER_COUNT + 1))
    trip = station.send_mobile_team(["Member 1", "Member 2"], 3)
    assert trip.state is TripState.OUT and set(trip.iins) == {a, b} and trip.ballots == 3
    with _Refusal(Refusal.REQUEST_NOT_PENDING):
        station.withdraw_mobile(a)  # with the team: it cannot be withdrawn now
    with _Refusal(Refusal.NO_REQUESTS):
        station.send_mobile_team(["Member 3"], 1)
    ledger = station.paper_ledger()
    assert (ledger.out_with_teams, ledger.in_hand, ledger.mobile_taken) == (3, 6, 3) and ledger.balances()
    with _Refusal(Refusal.MOBILE_COUNTS_MISMATCH):
        station.return_mobile_team(trip.id, [a], 1, 0)
    with _Refusal(Refusal.NOT_ON_TRIP):
        station.return_mobile_team(trip.id, [a, d], 1, 0)
    with _Refusal(Refusal.UNKNOWN_TRIP):
        station.return_mobile_team(trip.id + 1, [a], 2, 0)
    back = station.return_mobile_team(trip.id, [a], 1, 1)
    assert (back.state, back.voted, back.unused, back.spoiled) == (TripState.RETURNED, 1, 1, 1)
    with _Refusal(Refusal.TRIP_RETURNED):
        station.return_mobile_team(trip.id, [a], 1, 1)
    with _Refusal(Refusal.VOTED_OUTSIDE):
        station.check_in(a)  # voted outside: not again inside
    with _Refusal(Refusal.ALREADY_VOTED):
        station.request_mobile(a, "again", "Secretary")
    states = {r.iin: r.state for r in station.mobile_requests()}
    assert states == {a: MobileRequestState.VOTED, b: MobileRequestState.NOT_VOTED, c: MobileRequestState.WITHDRAWN}
    station.check_in(b)  # the team did not find them: they came in
    ledger = station.paper_ledger()
    assert (ledger.received, ledger.issued_in_station, ledger.issued_outside, ledger.spoiled, ledger.in_hand,
            ledger.out_with_teams, ledger.requests, ledger.voters_outside) == (10, 1, 1, 1, 7, 0, 2, 1)
    assert ledger.balances()
    counters = station.counters()
    assert (counters.voters_outside, counters.voters_paper, counters.checked_in) == (1, 1, 3)
    [listed] = station.mobile_trips()
    assert listed == back
    kinds = [e.kind for e in audit.read_events(station.db)]
    for kind in ("mobile_requested", "mobile_withdrawn", "mobile_sent", "mobile_returned", "mobile_refused"):
        assert kind in kinds
    no_iin_in_audit(station, rig.iins)


def test_every_paper_refusal_has_a_plain_text() -> None:
    assert len(set(PAPER_REFUSALS)) == len(PAPER_REFUSALS)
    for reason in PAPER_REFUSALS:
        assert str(Refused(reason)) and "_" not in str(Refused(reason))


def test_migration_from_0003_keeps_card_voters_as_card_voters(station_db_url: str) -> None:
    """A 0003 database: a checked-in voter took a card (paper did not exist), the others none."""
    from alembic import command

    from sailau.ballot_box.db import alembic_config, make_engine

    engine = make_engine(station_db_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
        for i, checked in enumerate((True, False)):
            connection.execute(text(
                "INSERT INTO voters (id, iin, surname, given_name, patronymic, birth_date, checked_in, surname_key, "
                "given_name_key, card) VALUES (:id, :iin, 'S', 'G', '', '1980-01-01', :c, 's', 'g', :card)"),
                {"id": i + 1, "iin": f"80010130000{i}", "c": checked, "card": "issued" if checked else "none"})
    engine.dispose()
    with open_station_db(station_db_url) as db:
        with db.read() as session:
            rows = session.execute(text("SELECT ballot_form, additional FROM voters ORDER BY id")).all()
        assert [(form, bool(extra)) for form, extra in rows] == [("card", False), ("none", False)]
        assert store.counters(db).voters_paper == 0 and paper.ledger(db) == paper.PaperLedger()


# --- the commands a clerk runs without the app ------------------------------------------------------


def test_cli_paper_receipt_mobile_box_and_additional_list(rig: Rig, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sailau.cli.main import cli
    from sailau.election import crypto
    from sailau.election.definition import write_election

    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    url = f"sqlite:///{tmp_path / 'station.db'}"
    runner = CliRunner()
    common = ["--db", url]
    signed = ["--election", str(tmp_path / "election.json"), "--station-key", str(tmp_path / "station.pem")]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, list(args))
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, result.output

    code, out = run("station", "mobile", "withdraw", *common, "--iin", rig.iins[0])
    assert code == 1 and "station init" in out  # no station yet: said plainly
    assert run("station", "init", *common, *signed, "--precinct", str(rig.precinct),
               "--voters", str(rig.voters_csv(tmp_path / "voters.csv")))[0] == 0
    code, out = run("station", "paper-receipt", *common, *signed, "--count", "40", "--from", "TEC",
                    "--received-by", "Secretary", "--out", str(tmp_path / "out"))
    assert code == 0 and "paper-receipt-1.json" in out and "at the table 40" in out
    act = paper.read_receipt_act((tmp_path / "out" / "paper-receipt-1.json").read_bytes())
    assert (act.count, act.from_whom, act.received_by) == (40, "TEC", "Secretary")
    (tmp_path / "out" / "paper-receipt-1.json").unlink()
    code, out = run("station", "paper-acts", *common, "--out", str(tmp_path / "out"))
    assert code == 0 and paper.read_receipt_act((tmp_path / "out" / "paper-receipt-1.json").read_bytes()) == act
    (tmp_path / "blocked").write_text("a file, not a folder")
    code, out = run("station", "paper-receipt", *common, *signed, "--count", "1", "--from", "TEC",
                    "--received-by", "Secretary", "--out", str(tmp_path / "blocked" / "out"))
    assert code == 1 and "act 2 is recorded, do not record it again" in out and "paper-acts" in out
    code, out = run("station", "paper-receipt", *common, *signed, "--count", "0", "--from", "TEC",
                    "--received-by", "Secretary")
    assert code == 1 and "between 1 and" in out
    code, out = run("station", "mobile", "request", *common, "--election", str(tmp_path / "election.json"),
                    "--iin", rig.iins[0], "--reason", "ill", "--received-by", "Secretary")
    assert code == 0 and "request recorded for Voter0 Test" in out
    code, out = run("station", "mobile", "request", *common, "--election", str(tmp_path / "election.json"),
                    "--iin", rig.iins[0], "--reason", "ill", "--received-by", "Secretary")
    assert code == 1 and "already has an open request" in out
    code, out = run("station", "mobile", "send", *common, "--member", "A", "--member", "B", "--ballots", "2")
    assert code == 1 and "polls are setup" in out  # the team goes out while the polls are open
    with open_station_db(url) as db:
        rig.station(db).open_polls([rig.terminal])
    code, out = run("station", "mobile", "send", *common, "--member", "A", "--member", "B", "--ballots", "2")
    assert code == 0 and "trip 1: A, B took 2 paper ballots and 1 requests" in out
    code, out = run("station", "mobile", "return", *common, "--trip", "1", "--voted", rig.iins[0], "--unused", "0",
                    "--spoiled", "0")
    assert code == 1 and "must equal the ballots the team took" in out
    code, out = run("station", "mobile", "return", *common, "--trip", "1", "--voted", rig.iins[0], "--unused", "1",
                    "--spoiled", "0")
    assert code == 0 and "1 voted outside, 1 unused, 0 spoiled" in out
    code, out = run("station", "mobile", "withdraw", *common, "--iin", "123")
    assert code == 1 and "IIN" in out
    new = make_iin(dt.date(1970, 2, 2), Sex.FEMALE, 12)
    add = ["pollbook", "add", *common, "--iin", new, "--surname", "Омарова", "--given-name", "Айгүл",
           "--birth-date", "1970-02-02"]
    code, out = run(*add)
    assert code == 0 and "additional list: Омарова Айгүл" in out
    code, out = run(*add)
    assert code == 1 and "already on the list" in out
    code, out = run("pollbook", "add", *common, "--iin", new[:-1] + "0", "--surname", "X", "--given-name", "Y",
                    "--birth-date", "1970-02-02")
    assert code == 1 and "cannot be added" in out
    code, out = run("station", "status", *common)
    assert code == 0 and "additional list 1, paper 0, outside 1" in out and "at the table 40" in out
    with open_station_db(url) as db:
        ledger, counters = paper.ledger(db), store.counters(db)
    assert (ledger.received, ledger.issued_outside, ledger.in_hand, ledger.balances()) == (41, 1, 40, True)
    assert (counters.voters_outside, counters.voters_additional) == (1, 1)


def test_the_last_paper_ballot_goes_to_one_voter_when_two_race(rig: Rig, station: Station) -> None:
    """Two paper check-ins for the last ballot: the second waits for the first (PostgreSQL:
    on the counter rows' lock, then reads the counter the first one inserted; SQLite: the
    write lock) and is refused NO_PAPER_LEFT. The first one here is held open by hand at the
    point a check-in has bumped the counter's first row and not committed yet."""
    import threading

    from station_support import wait_until_blocked_on_a_lock

    station.receive_paper(1, "TEC", "Chair", now=ALMATY_NOON)
    if station.db.dialect != "postgresql":
        station.check_in(rig.iins[0], BallotForm.PAPER)
        with _Refusal(Refusal.NO_PAPER_LEFT):
            station.check_in(rig.iins[1], BallotForm.PAPER)
        return
    with station.db.engine.connect() as holder:  # the first check-in's transaction, not committed yet
        holder.execute(text("SELECT count FROM paper_counts FOR UPDATE")).all()
        holder.execute(text("UPDATE voters SET checked_in = true, ballot_form = 'paper' WHERE iin = :i"),
                       {"i": rig.iins[0]})
        holder.execute(text("INSERT INTO paper_counts (kind, count) VALUES ('issued_in_station', 1)"))
        outcome: list[object] = []

        def second() -> None:
            try:
                outcome.append(station.check_in(rig.iins[1], BallotForm.PAPER))
            except Refused as exc:
                outcome.append(exc.reason)

        racer = threading.Thread(target=second)
        racer.start()
        wait_until_blocked_on_a_lock(station.db, "paper check-in")
        assert outcome == []
        holder.commit()
        racer.join(timeout=60)
    assert outcome == [Refusal.NO_PAPER_LEFT]
    ledger = station.paper_ledger()
    assert (ledger.issued_in_station, ledger.in_hand, ledger.voters_paper) == (1, 0, 1) and ledger.balances()


def test_the_desk_writes_each_act_and_says_when_a_file_could_not_be_written(rig: Rig, station: Station,
                                                                             tmp_path: Path) -> None:
    from sailau.ballot_box.desk import ClerkDesk

    def no_reader():  # noqa: ANN202 - paper steps never touch the reader
        raise AssertionError("a paper step opened the card reader")

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the out dir should be")
    desk = ClerkDesk(station, no_reader, out_dir=blocked)
    step = desk.receive_paper(5, "TEC", "Chair", now=ALMATY_NOON)
    assert step.note is not None and step.note.code == "paper_receipt_not_written" and step.receipt is None
    assert step.paper is not None and step.paper.received == 5  # recorded all the same
    desk.out_dir = tmp_path / "out"
    step = desk.receive_paper(3, "TEC", "Chair", now=ALMATY_NOON)
    assert step.note is not None and step.note.code == "paper_received"
    assert step.receipt == tmp_path / "out" / "paper-receipt-2.json"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["paper-receipt-1.json", "paper-receipt-2.json"]
    view = desk.view()
    assert view.paper is not None and (view.paper.received, view.paper.in_hand) == (8, 8)
    step = desk.check_in(rig.iins[0], BallotForm.PAPER)
    assert step.note is not None and step.note.code == "checked_in_paper" and step.issued is None
    assert desk.view().waiting == ()
    assert desk.exchange_paper(rig.iins[0]).note.code == "paper_exchanged"  # type: ignore[union-attr]
    assert desk.request_mobile(rig.iins[1], "ill", "Secretary").note.code == "mobile_requested"  # type: ignore[union-attr]
    assert [r.iin for r in desk.view().mobile] == [rig.iins[1]]
    sent = desk.send_mobile_team(["A"], 1)
    assert sent.trip is not None and desk.view().trips == (sent.trip,)
    back = desk.return_mobile_team(sent.trip.id, [rig.iins[1]], 0, 0)
    assert back.note is not None and back.note.code == "mobile_returned" and desk.view().trips == (back.trip,)
    refused = desk.check_in(rig.iins[1])
    assert refused.note is not None and refused.note.code == "refused.voted_outside"
    assert desk.view().desk_note == refused.note
