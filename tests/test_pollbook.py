"""Pollbook: all-or-nothing import that reports every bad row, Cyrillic/Kazakh
search, one check-in per voter, hourly turnout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sailau.ballot_box import audit, pollbook, store
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.iin import InvalidIIN, Sex, make_iin
from sailau.ballot_box.pollbook import AlreadyCheckedIn, PollbookImportError, VoterNotFound
from station_support import ALMATY, Clock


def iin(year: int, month: int, day: int, sex: str, serial: int) -> str:
    return make_iin(dt.date(year, month, day), Sex(sex), serial)


VOTERS = [
    (iin(1961, 4, 12, "M", 1), "Әбілқасымов", "Нұрлан", "Серікұлы", "1961-04-12"),
    (iin(1975, 9, 30, "F", 2), "Әбілқасымова", "Гүлнар", "Қайратқызы", "1975-09-30"),
    (iin(1990, 1, 1, "M", 3), "Иванов", "Пётр", "Сергеевич", "1990-01-01"),
    (iin(2001, 12, 31, "F", 4), "Өмірбекова", "Ұлжан", "", "2001-12-31"),
    (iin(1958, 7, 7, "M", 5), "Ёлкин", "Ілияс", "", "1958-07-07"),
]


def write_csv(path: Path, rows: list[tuple[str, ...]], header: bool = True) -> Path:
    lines = ["iin,surname,given_name,patronymic,birth_date"] if header else []
    lines += [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2024, 3, 19, 8, 5, tzinfo=ALMATY))


@pytest.fixture
def station(station_db_url: str, tmp_path: Path, clock: Clock):
    db = open_station_db(station_db_url, clock=clock)
    store.setup_station(db, bytes(32), 77, b"station1")
    assert pollbook.import_voters(db, write_csv(tmp_path / "list.csv", VOTERS)) == len(VOTERS)
    store.record_polls_opened(db)
    yield db
    db.close()


def test_import_reports_every_bad_row_and_imports_nothing(tmp_path: Path) -> None:
    good = VOTERS[0]
    bad_checksum = good[0][:11] + str((int(good[0][11]) + 1) % 10)
    rows = [
        good,                                                               # line 2: fine
        (bad_checksum, "Сейтов", "Ерлан", "", "1961-04-12"),                # line 3
        ("12345", "Қасымов", "Арман", "", "1980-01-01"),                    # line 4
        (VOTERS[1][0], "", "Гүлнар", "", "1975-09-30"),                     # line 5: no surname
        (VOTERS[2][0], "Иванов", "Пётр", "Сергеевич", "1990-13-01"),        # line 6: bad date
        (VOTERS[3][0], "Өмірбекова", "Ұлжан", "", "2001-12-30"),            # line 7: IIN says 31st
        (good[0], "Әбілқасымов", "Нұрлан", "Серікұлы", "1961-04-12"),       # line 8: duplicate
        ("only", "three", "columns"),                                       # line 9
    ]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(PollbookImportError) as caught:
        pollbook.parse_voters_csv(path)
    by_line = {}
    for error in caught.value.errors:
        by_line.setdefault(error.line, []).append(error.reason)
    assert sorted(by_line) == [3, 4, 5, 6, 7, 8, 9]
    assert "bad checksum" in by_line[3][0]
    assert "wrong length" in by_line[4][0]
    assert by_line[5] == ["surname is empty"]
    assert "not an ISO date" in by_line[6][0]
    assert "encodes birth date 2001-12-31" in by_line[7][0]
    assert "duplicates line 2" in by_line[8][0]
    assert "expected 5 columns" in by_line[9][0]
    assert "line 9:" in str(caught.value) and "nothing imported" in str(caught.value)

    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db:
        with pytest.raises(PollbookImportError):
            pollbook.import_voters(db, path)
        assert store.counters(db).on_list == 0


def test_a_voter_already_on_the_list_fails_the_whole_import(station: StationDB, tmp_path: Path) -> None:
    fresh = (iin(1999, 5, 5, "F", 9), "Жаңа", "Айгерім", "", "1999-05-05")
    path = write_csv(tmp_path / "more.csv", [fresh, VOTERS[2]], header=False)
    with pytest.raises(PollbookImportError) as caught:
        pollbook.import_voters(station, path)
    assert [(e.line, "already in the pollbook" in e.reason) for e in caught.value.errors] == [(2, True)]
    assert store.counters(station).on_list == len(VOTERS)
    assert pollbook.search(station, fresh[0]) == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Әбілқасымов", ["Әбілқасымов", "Әбілқасымова"]),
        ("әбіл", ["Әбілқасымов", "Әбілқасымова"]),
        ("ӘБІЛҚАСЫМОВА", ["Әбілқасымова"]),
        ("Әбілқасымов гүл", ["Әбілқасымова"]),
        ("өмір ұл", ["Өмірбекова"]),
        ("елкин", ["Ёлкин"]),  # Ё is searched as Е
        ("иван", ["Иванов"]),
        ("%", []),  # LIKE wildcards are literal
        ("Смагулов", []),
    ],
)
def test_name_search_is_case_insensitive_for_kazakh_and_russian(station: StationDB, query: str, expected: list[str]) -> None:
    assert [v.surname for v in pollbook.search(station, query)] == expected


def test_search_by_iin(station: StationDB) -> None:
    found = pollbook.search(station, VOTERS[3][0])
    assert [(v.surname, v.given_name, v.birth_date) for v in found] == [("Өмірбекова", "Ұлжан", dt.date(2001, 12, 31))]
    with pytest.raises(InvalidIIN, match="bad checksum"):
        pollbook.search(station, VOTERS[3][0][:11] + str((int(VOTERS[3][0][11]) + 1) % 10))


def test_check_in_once(station: StationDB) -> None:
    voter = pollbook.check_in(station, VOTERS[0][0])
    assert voter.checked_in and voter.surname == "Әбілқасымов"
    with pytest.raises(AlreadyCheckedIn, match="already checked in"):
        pollbook.check_in(station, VOTERS[0][0])
    refused = audit.read_events(station)[-1]
    assert (refused.kind, refused.payload) == ("check_in_refused", {"reason": "already_checked_in"})
    assert VOTERS[0][0] not in refused.to_json()
    with pytest.raises(VoterNotFound):
        pollbook.check_in(station, iin(1980, 2, 2, "M", 42))
    assert store.counters(station).checked_in == 1
    assert pollbook.find_by_iin(station, VOTERS[0][0]).checked_in


def test_check_in_needs_open_polls(station_db_url: str, tmp_path: Path) -> None:
    with open_station_db(station_db_url) as db:
        store.setup_station(db, bytes(32), 1, b"station1")
        pollbook.import_voters(db, write_csv(tmp_path / "l.csv", VOTERS[:1]))
        with pytest.raises(store.WrongPollsState, match="check in a voter"):
            pollbook.check_in(db, VOTERS[0][0])


def test_hourly_turnout_is_coarse(station: StationDB, clock: Clock) -> None:
    for (value, *_), minute_of_day in zip(VOTERS, [8 * 60 + 5, 8 * 60 + 59, 9 * 60 + 0, 11 * 60 + 30]):
        clock.now = clock.now.replace(hour=minute_of_day // 60, minute=minute_of_day % 60)
        pollbook.check_in(station, value)
    assert [(b.hour, b.count) for b in pollbook.turnout(station)] == [
        ("2024-03-19T08:00+05:00", 2), ("2024-03-19T09:00+05:00", 1), ("2024-03-19T11:00+05:00", 1)]


def test_cli_import_find_turnout(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sailau.cli.main import cli

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    bad = write_csv(tmp_path / "bad.csv", [VOTERS[0], ("123", "X", "Y", "", "1990-01-01")])
    result = runner.invoke(cli, ["pollbook", "import", "--db", url, str(bad)])
    assert result.exit_code == 1 and "line 3:" in result.output and "nothing imported" in result.output
    result = runner.invoke(cli, ["pollbook", "import", "--db", url, str(write_csv(tmp_path / "ok.csv", VOTERS))])
    assert result.exit_code == 0 and "imported 5 voters" in result.output
    result = runner.invoke(cli, ["pollbook", "find", "--db", url, "әбілқ гүл"])
    assert result.exit_code == 0 and "Әбілқасымова Гүлнар" in result.output and "Нұрлан" not in result.output
    result = runner.invoke(cli, ["pollbook", "find", "--db", url, "123456789012"])
    assert result.exit_code == 1 and "bad checksum" in result.output
    result = runner.invoke(cli, ["pollbook", "turnout", "--db", url])
    assert result.exit_code == 0 and result.output == ""
