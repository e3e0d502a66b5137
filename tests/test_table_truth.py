"""Issue 11, items 4 and 8: the registration table learns nothing derived from the
ballot, and every failure at the table tells the clerk what happened to the ballot and
what to do, with the raw error in the operator log only (IINs masked, no vote data).

Screens are read as the clerk sees them (`screen_text`: the app's own screenshot, as
text). Storage failures are made real where a test can make them real (a database file
a non-root process cannot write; PostgreSQL with `default_transaction_read_only`; an
immutable file for root) and injected at the driver's COMMIT otherwise (disk full), so
the error travels the same way up through SQLAlchemy as a real one."""

from __future__ import annotations

import html
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import make_url
from textual.widgets import Button, DataTable, Input, TextArea

from clerk_support import (
    CARD_MASTER_KEY,
    FIXED_NOW,
    IINS,
    Desk,
    blank_card,
    card_note,
    desk_note,
    insert,
    make_desk,
    make_station,
    press,
    remove,
    rig,
    settle,
    vote,
)
from sailau.ballot_box import oplog, pollbook, store
from sailau.ballot_box.app import ClerkApp
from sailau.simulator.booth_rig import K as BENCH_K
from sailau.simulator.booth_rig import Rig
from sailau.ballot_box.db import StationDB, StorageProblem, StorageUnavailable, open_station_db
from sailau.ballot_box.screens import CloseScreen
from sailau.ballot_box.station import CastStatus, ClearOutcome, Station, StorageFailed
from sailau.election import crypto, shares
from sailau.election.crypto import ElectionKeyPair
from sailau.election.record import SealedBallot, new_issue_block
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.apdu import CardState, Ins
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport

SIZE = (120, 40)
RAW = ("Traceback", "OperationalError", "sqlite3", "psycopg", "[SQL", "INSERT INTO", "UPDATE ", "parameters")


def screen_text(app: ClerkApp) -> str:
    """Everything on the clerk's screen now, as plain text (from the app's own screenshot)."""
    svg = app.export_screenshot()
    return html.unescape(re.sub(r"<[^>]+>", "", svg)).replace("\xa0", " ")


@pytest.fixture
def operator_log(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "operator.log"
    handler = oplog.open_operator_log(path)
    try:
        yield path
    finally:
        oplog.close_operator_log(handler)


def spellings(code: str) -> set[str]:
    return {code, code.replace("-", ""), " ".join(code.replace("-", ""))}


def _station_and_desk(db: StationDB, tmp_path: Path, checked_in: str | None = None) -> tuple[Station, Desk, ClerkApp]:
    """The station on `db`, with voter `checked_in` checked in (None: nobody), its
    clerk's desk and that desk's app (not yet running)."""
    station = make_station(db, tmp_path)
    if checked_in is not None:
        station.check_in(checked_in)
    desk = make_desk(station)
    return station, desk, desk.app


# --- item 4: nothing ballot-derived at the table ---------------------------------------------


@pytest.mark.asyncio
async def test_the_clerk_sees_counted_and_nothing_derived_from_the_ballot(tmp_path: Path, operator_log: Path) -> None:
    """Before: the card note read "Ballot counted. Receipt code K7Q2-M9XD-4A." at the table."""
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW) as db:
        station, desk, app = _station_and_desk(db, tmp_path, IINS[0])
        async with app.run_test(size=SIZE) as pilot:
            card = blank_card()
            await insert(pilot, desk, card, "issue", lambda: "Card issued" in card_note(app))
            await remove(pilot, desk)
            code = vote(card, 0)
            card.tear_after_bytes = 1  # the CLEAR after the commit is cut: "already counted" next time
            await insert(pilot, desk, card, "cast", lambda: "Ballot counted" in card_note(app))
            first = screen_text(app)
            desk.slot.poll()
            await settle(pilot, lambda: not app.card_present, "torn card out")
            await insert(pilot, desk, card, "re-insert", lambda: "Already counted" in card_note(app))
            second = screen_text(app)
        assert card.state is CardState.BLANK and station.counters().cast == 1
    for shown in (first, second):
        assert not any(s in shown for s in spellings(code)), shown
    assert not any(s in operator_log.read_text() for s in spellings(code))


def test_station_results_carry_nothing_derived_from_the_ballot(tmp_path: Path) -> None:
    """The service itself hands the table no receipt code (nothing to show, log or keep)."""
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}") as db:
        station = make_station(db, tmp_path)
        card = blank_card()
        client = BallotCardClient(InProcessTransport(card))
        client.connect()
        station.check_in(IINS[1])
        station.on_card(client)
        code = rig().vote(client, rig().selections(1))
        result = station.on_card(client).cast
        assert result is not None and result.status is CastStatus.ACCEPTED
        assert not hasattr(result, "receipt_code")
        assert not any(s in repr(result) for s in spellings(code))


def test_public_pdf_lists_invalid_ballots_by_reason_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: the PDF printed "Invalid ballots (receipt code: reason): K7Q2-M9XD-4A: index_out_of_range"."""
    from fpdf import FPDF

    written: list[str] = []
    for name in ("cell", "multi_cell"):
        original = getattr(FPDF, name)

        def spy(self, *args, _original=original, **kwargs):  # noqa: ANN001, ANN002, ANN003
            text_arg = kwargs.get("text", args[2] if len(args) > 2 else "")
            written.append(str(text_arg))
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(FPDF, name, spy)
    big = Rig.create(voters=4)
    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db:
        station = big.open_station(db, tmp_path)
        style = station.style
        codes = []
        for i, first in enumerate((0x77, 0x78)):  # option indexes past the list: invalid at close
            block = new_issue_block(big.election.fingerprint, big.precinct, style)
            stuffed = bytes([first]) + bytes(big.election.plaintext_length - 1)
            enc, ciphertext = crypto.seal(big.election_key.public_key_bytes, stuffed, block.hpke_info)
            sealed = SealedBallot(big.election.fingerprint, big.precinct, style, enc, ciphertext)
            codes.append(sealed.receipt_code)
            pollbook.check_in(db, big.iins[i])
            store.record_issued(db, block.token_hash)
            store.cast_ballot(db, block.token_hash, style, sealed.pack())
        result = station.close_polls(big.shares[:BENCH_K], tmp_path / "out")
    assert len(result.invalid) == 2
    printed = "\n".join(written)
    assert "index_out_of_range: 2" in printed
    for code in codes:
        assert not any(s in printed for s in spellings(code))


def test_cli_close_prints_no_receipt_code_of_an_invalid_ballot(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from sailau.cli.main import cli
    from sailau.election.definition import write_election

    big = Rig.create(voters=2)
    url = f"sqlite:///{tmp_path / 's.db'}"
    with open_station_db(url) as db:
        station = big.open_station(db, tmp_path)
        block = new_issue_block(big.election.fingerprint, big.precinct, station.style)
        stuffed = bytes([0x77]) + bytes(big.election.plaintext_length - 1)
        enc, ciphertext = crypto.seal(big.election_key.public_key_bytes, stuffed, block.hpke_info)
        sealed = SealedBallot(big.election.fingerprint, big.precinct, station.style, enc, ciphertext)
        pollbook.check_in(db, big.iins[0])
        store.record_issued(db, block.token_hash)
        store.cast_ballot(db, block.token_hash, station.style, sealed.pack())
    write_election(big.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", big.station_key)
    share_args = []
    for share in big.shares[:BENCH_K]:
        shares.write_share_file(tmp_path / f"share-{share.index}.json", share)
        share_args += ["--share", str(tmp_path / f"share-{share.index}.json")]
    result = CliRunner().invoke(cli, ["station", "close", "--db", url, "--election", str(tmp_path / "election.json"),
                                      "--station-key", str(tmp_path / "station.pem"), *share_args,
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "index_out_of_range 1" in result.output
    assert not any(s in result.output for s in spellings(sealed.receipt_code))


# --- item 8: a card that refuses CLEAR after its ballot was committed --------------------------


class RefusesClear(VirtualBallotCard):
    """A worn card: everything works but CLEAR, which it answers 6581 (memory failure)."""

    refusing = True

    def execute(self, apdu: bytes) -> bytes:
        if self.refusing and len(apdu) > 1 and apdu[1] == Ins.CLEAR:
            return b"\x65\x81"
        return super().execute(apdu)


@pytest.mark.asyncio
async def test_a_counted_card_that_refuses_clear_is_reported_counted(tmp_path: Path, operator_log: Path) -> None:
    """Before: "This card cannot be read as a Sailau ballot card", again on every re-insert,
    and the voter never heard that the ballot was counted."""
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW) as db:
        station, desk, app = _station_and_desk(db, tmp_path, IINS[2])
        card = RefusesClear(serial=b"\x31" * 8, master_key=CARD_MASTER_KEY)
        async with app.run_test(size=SIZE) as pilot:
            await insert(pilot, desk, card, "issue", lambda: "Card issued" in card_note(app))
            await remove(pilot, desk)
            vote(card, 2)
            await insert(pilot, desk, card, "cast", lambda: app.card_note is not None and "issued" not in card_note(app))
            shown = screen_text(app)
            assert "Ballot counted" in card_note(app) and "could not be cleared" in card_note(app)
            assert "insert it again to clear it" in card_note(app) and "cannot be read" not in shown
            assert station.counters().cast == 1 and card.state is CardState.VOTED
            await remove(pilot, desk)

            await insert(pilot, desk, card, "re-insert", lambda: "Already counted" in card_note(app))
            assert "could not be cleared" in card_note(app) and station.counters().cast == 1

            await remove(pilot, desk)
            card.refusing = False  # the reader contacts were cleaned: it clears now
            await insert(pilot, desk, card, "re-insert, clears",
                         lambda: "Already counted" in card_note(app) and "now cleared" in card_note(app))
            assert card.state is CardState.BLANK and station.counters().cast == 1
    assert "6581" in operator_log.read_text()  # the raw card answer went to the technicians' log


def test_station_reports_a_refused_clear_as_counted(tmp_path: Path) -> None:
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}") as db:
        station = make_station(db, tmp_path)
        card = RefusesClear(serial=b"\x32" * 8, master_key=CARD_MASTER_KEY)
        client = BallotCardClient(InProcessTransport(card))
        client.connect()
        station.check_in(IINS[3])
        station.on_card(client)
        rig().vote(client, rig().selections(3))
        result = station.on_card(client).cast
        assert result is not None
        assert (result.status, result.clear, result.counted, result.card_cleared) == (
            CastStatus.ACCEPTED, ClearOutcome.REFUSED, True, False)
        again = station.cast_card(client)
        assert (again.status, again.clear) == (CastStatus.ALREADY_COUNTED, ClearOutcome.REFUSED)


# --- item 8: disk full and read-only storage during polls ---------------------------------------


def _fail_commits(db, monkeypatch: pytest.MonkeyPatch, problem: str) -> None:
    """Make the COMMIT of every write transaction fail as the driver reports it (the
    transaction is rolled back); reads still work, as on a full or read-only disk."""
    import threading

    from sqlalchemy import event

    dialect = db.engine.dialect
    if db.dialect == "sqlite":
        message = "database or disk is full" if problem == "disk_full" else "attempt to write a readonly database"
        error: Exception = sqlite3.OperationalError(message)
    else:
        error = (psycopg.errors.DiskFull("could not extend file \"base/16384/16385\": No space left on device")
                 if problem == "disk_full" else
                 psycopg.errors.ReadOnlySqlTransaction("cannot execute UPDATE in a read-only transaction"))
    writing = threading.local()

    def mark(connection) -> None:  # noqa: ANN001
        writing.now = connection.get_execution_options().get("sailau_begin") == "IMMEDIATE"

    original = dialect.do_commit

    def failing(connection) -> None:  # noqa: ANN001
        if getattr(writing, "now", False):
            dialect.do_rollback(connection)
            raise error
        original(connection)

    event.listen(db.engine, "commit", mark)
    monkeypatch.setattr(dialect, "do_commit", failing)
    monkeypatch.setattr(db, "_unlisten", lambda: event.remove(db.engine, "commit", mark), raising=False)


def _make_read_only_pg(db, url: str) -> None:
    """PostgreSQL refuses every write on new connections: a real read-only database."""
    name = make_url(url).database
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    db.engine.dispose()


def _make_writable_pg(db, url: str) -> None:
    name = make_url(url).database
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET default_transaction_read_only = off")
        connection.exec_driver_sql(f"ALTER DATABASE {name} SET default_transaction_read_only = off")
    db.engine.dispose()


CAUSES = {"disk_full": "disk is full", "read_only": "cannot be written"}


@pytest.mark.asyncio
@pytest.mark.parametrize("problem", ["disk_full", "read_only"])
async def test_storage_failure_at_cast_says_not_counted_and_keep_the_card(
        station_db_url: str, problem: str, tmp_path: Path, operator_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: "Unexpected error: OperationalError: (sqlite3.OperationalError) database or disk
    is full [SQL: ...]" on the clerk's screen, nothing about the ballot."""
    with open_station_db(station_db_url, clock=lambda: FIXED_NOW) as db:
        station, desk, app = _station_and_desk(db, tmp_path, IINS[4])
        card = blank_card(0x41)
        async with app.run_test(size=SIZE) as pilot:
            await insert(pilot, desk, card, "issue", lambda: "Card issued" in card_note(app))
            await remove(pilot, desk)
            code = vote(card, 4)
            real_read_only = problem == "read_only" and db.dialect == "postgresql"
            if real_read_only:
                _make_read_only_pg(db, station_db_url)
            else:
                _fail_commits(db, monkeypatch, problem)
            await insert(pilot, desk, card, "cast fails", lambda: "Not counted" in card_note(app))
            shown = screen_text(app)
            assert "keep it" in card_note(app) and "insert it again" in card_note(app)
            assert CAUSES[problem] in card_note(app)
            assert not any(raw in shown for raw in RAW), shown
            assert IINS[4] not in shown
            assert card.state is CardState.VOTED
            await remove(pilot, desk)

            if real_read_only:
                _make_writable_pg(db, station_db_url)
            else:
                monkeypatch.undo()
            await insert(pilot, desk, card, "cast again", lambda: "Ballot counted" in card_note(app))
            assert card.state is CardState.BLANK and station.counters().cast == 1
    logged = operator_log.read_text()
    assert ("database or disk is full" if problem == "disk_full" and db.dialect == "sqlite" else
            "No space left on device" if problem == "disk_full" else
            "readonly database" if db.dialect == "sqlite" else "read-only transaction") in logged
    assert IINS[4] not in logged and not any(s in logged for s in spellings(code))
    assert card.issue_block is None or card.issue_block.hex() not in logged


@pytest.mark.asyncio
@pytest.mark.parametrize("problem", ["disk_full", "read_only"])
async def test_storage_failure_at_check_in_says_not_checked_in(
        tmp_path: Path, problem: str, operator_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW) as db:
        station, desk, app = _station_and_desk(db, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            _fail_commits(db, monkeypatch, problem)
            app.check_in(IINS[5])
            await settle(pilot, lambda: "Not checked in" in desk_note(app), "check-in refused")
            shown = screen_text(app)
            assert CAUSES[problem] in desk_note(app) and "again" in desk_note(app)
            assert not any(raw in shown for raw in RAW) and IINS[5] not in shown
            assert station.counters().checked_in == 0
    logged = operator_log.read_text()
    assert "check_in" in logged and IINS[5] not in logged


@pytest.mark.asyncio
async def test_storage_failure_at_issue_says_no_card_issued(
        tmp_path: Path, operator_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW) as db:
        station, desk, app = _station_and_desk(db, tmp_path, IINS[0])
        card = blank_card(0x42)
        async with app.run_test(size=SIZE) as pilot:
            _fail_commits(db, monkeypatch, "disk_full")
            await insert(pilot, desk, card, "issue fails", lambda: "No card issued" in card_note(app))
            assert card.state is CardState.BLANK and "disk is full" in card_note(app)
            assert not any(raw in screen_text(app) for raw in RAW)


@pytest.mark.asyncio
async def test_unexpected_errors_go_to_the_log_not_the_screen(
        tmp_path: Path, operator_log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW) as db:
        station, desk, app = _station_and_desk(db, tmp_path)

        def broken(query: str, *, limit: int = 50):  # noqa: ARG001
            raise RuntimeError(f"internal failure while looking up {IINS[1]}")

        monkeypatch.setattr(station, "search", broken)
        async with app.run_test(size=SIZE) as pilot:
            app.search(IINS[1])
            await settle(pilot, lambda: "operator log" in desk_note(app), "generic note")
            assert "internal failure" not in screen_text(app) and "RuntimeError" not in screen_text(app)
    logged = operator_log.read_text()
    assert "RuntimeError: internal failure while looking up" in logged and IINS[1] not in logged


def test_operator_log_masks_iins_and_long_hex(tmp_path: Path) -> None:
    path = tmp_path / "op.log"
    handler = oplog.open_operator_log(path)
    try:
        logging.getLogger("sailau.ballot_box").error("voter %s, token %s", IINS[0], "ab" * 32)
        try:
            raise ValueError(f"row for {IINS[1]} with {'cd' * 40}")
        except ValueError:
            logging.getLogger("sailau.ballot_box.station").exception("failed")
    finally:
        oplog.close_operator_log(handler)
    logged = path.read_text()
    assert "failed" in logged and "ValueError" in logged
    assert IINS[0] not in logged and IINS[1] not in logged and "ab" * 32 not in logged and "cd" * 40 not in logged
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


# --- item 8: the station opens only on storage it can write ---------------------------------------


def _new_station_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    with open_station_db(url) as db:
        make_station(db, path.parent)
    return url


def _chattr(flag: str, path: Path) -> bool:
    tool = shutil.which("chattr")
    return tool is not None and subprocess.run([tool, flag, str(path)], capture_output=True).returncode == 0


def test_station_refuses_to_open_an_immutable_database(tmp_path: Path) -> None:
    """Root ignores mode bits, so 0444 does not stop root (and must not be refused: the
    check writes for real); an immutable file stops everyone."""
    url = _new_station_db(tmp_path / "station.db")
    db_file = tmp_path / "station.db"
    db_file.chmod(0o444)
    if os.geteuid() == 0:
        with open_station_db(url) as db:  # root can write it: the check does not go by the mode bits
            assert rig().station(db).counters().on_list == len(IINS)
        if not _chattr("+i", db_file):
            pytest.fail("chattr +i failed (e2fsprogs on a filesystem with the immutable flag is needed to test a root-proof read-only file)")
        try:
            with pytest.raises(StorageUnavailable) as refused:
                open_station_db(url)
        finally:
            _chattr("-i", db_file)
    else:
        with pytest.raises(StorageUnavailable) as refused:
            open_station_db(url)
    assert refused.value.problem is StorageProblem.READ_ONLY


def _run_as_nobody(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.fail("setpriv (util-linux) is needed to run as another user")
        args = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *args]
    env = {k: v for k, v in os.environ.items() if k not in ("SAILAU_DB_URL",)}
    env["HOME"] = str(cwd)
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_ballot_box_refuses_to_start_on_a_database_it_cannot_write(tmp_path: Path) -> None:
    """Before: the clerk app started and failed only at the first check-in ("attempt to
    write a readonly database"). Now `sailau ballot-box` stops at once, in plain words."""
    from sailau.election.definition import write_election

    work = tmp_path / "work"
    work.mkdir()
    work.chmod(0o777)
    url = _new_station_db(work / "station.db")
    write_election(rig().election, work / "election.json")
    crypto.save_signing_key(work / "station.pem", rig().station_key)
    (work / "master.hex").write_text(CARD_MASTER_KEY.hex() + "\n")
    (work / "master.hex").chmod(0o600)
    for path in work.iterdir():
        if os.geteuid() == 0:
            os.chown(path, 65534, 65534)
    for path in work.glob("station.db*"):
        path.chmod(0o444)
    tmp_path.chmod(0o755)
    sailau = Path(sys.executable).with_name("sailau")
    result = _run_as_nobody([str(sailau), "ballot-box", "--election", "election.json", "--db", url,
                             "--reader", "no such reader", "--station-key", "station.pem",
                             "--card-master-key", "master.hex", "--operator-log", "operator.log"], work)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "cannot be written" in output and "Traceback" not in output, output
    assert "reader" not in output.lower(), output  # it stopped before looking for the reader


@pytest.mark.postgres
def test_station_refuses_to_open_a_read_only_postgresql_database(postgres_url: str, tmp_path: Path) -> None:
    with open_station_db(postgres_url) as db:
        make_station(db, tmp_path)
        _make_read_only_pg(db, postgres_url)
    with pytest.raises(StorageUnavailable) as refused:
        open_station_db(postgres_url)
    assert refused.value.problem is StorageProblem.READ_ONLY
    assert "read-only" in str(refused.value)


def test_storage_failure_is_a_named_station_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}") as db:
        station = make_station(db, tmp_path)
        _fail_commits(db, monkeypatch, "disk_full")
        with pytest.raises(StorageFailed) as failed:
            station.check_in(IINS[0])
        assert failed.value.problem is StorageProblem.DISK_FULL and failed.value.operation.value == "check_in"
        assert IINS[0] not in str(failed.value)
        with db.read() as session:  # nothing was half-written
            assert session.execute(text("SELECT count(*) FROM voters WHERE checked_in")).scalar() == 0


# --- item 8: shares are checked when entered, and can be removed ----------------------------------


async def _open_close_screen(pilot, app: ClerkApp) -> CloseScreen:
    await pilot.press("f4")
    await settle(pilot, lambda: isinstance(app.screen, CloseScreen), "close screen")
    return app.screen  # type: ignore[return-value]


def close_note(app: ClerkApp) -> str:
    return str(app.screen.query_one("#close-note").render())


async def _add_file(pilot, path: Path) -> None:
    pilot.app.screen.query_one("#share-file", Input).value = str(path)
    await press(pilot, "#add-file")


async def _add_words(pilot, words: str) -> None:
    pilot.app.screen.query_one("#mnemonic", TextArea).text = words
    await press(pilot, "#add-words")


@asynccontextmanager
async def _at_the_close_screen(tmp_path: Path, **desk_options: Any) -> AsyncIterator[tuple[Any, ClerkApp, Any, CloseScreen]]:
    """A fresh station (SQLite in tmp_path) whose clerk has opened the close screen:
    (station, app, pilot, screen)."""
    with open_station_db(f"sqlite:///{tmp_path / 'station.db'}", clock=lambda: FIXED_NOW) as db:
        station = make_station(db, tmp_path)
        app = make_desk(station, **desk_options).app
        async with app.run_test(size=SIZE) as pilot:
            yield station, app, pilot, await _open_close_screen(pilot, app)


def _shares_of_another_key() -> list[shares.Share]:
    """Shares of another election key, labelled with this election's id."""
    other = ElectionKeyPair.generate()
    return shares.split_election_key(other.private_key, 2, 3, rig().election.id, other.public_key_bytes)


@pytest.mark.asyncio
async def test_a_share_of_another_election_is_refused_when_entered(tmp_path: Path) -> None:
    """Before: "Share 1 added", counted toward k; refused only after "Close the polls now?"."""
    other = ElectionKeyPair.generate()
    election = rig().election
    other_election = shares.split_election_key(other.private_key, 2, 3, "another-election", other.public_key_bytes)
    other_key = shares.split_election_key(other.private_key, 2, 3, election.id, other.public_key_bytes)
    shares.write_share_file(tmp_path / "other-election.json", other_election[0])
    shares.write_share_file(tmp_path / "other-key.json", other_key[0])
    shares.write_share_file(tmp_path / "mine-1.json", rig().shares[0])
    async with _at_the_close_screen(tmp_path, out_dir=tmp_path / "out") as (station, app, pilot, screen):
        close = screen.query_one("#close", Button)

        await _add_file(pilot, tmp_path / "other-election.json")
        assert "another election" in close_note(app) and screen.entered == []
        await _add_file(pilot, tmp_path / "other-key.json")
        assert "another election key" in close_note(app) and screen.entered == []

        await _add_file(pilot, tmp_path / "mine-1.json")
        assert "added" in close_note(app) and len(screen.entered) == 1
        await _add_file(pilot, tmp_path / "mine-1.json")
        assert "already entered" in close_note(app) and len(screen.entered) == 1
        await _add_words(pilot, other_key[1].mnemonic)  # typed words of another key ceremony
        assert "another key ceremony" in close_note(app) and len(screen.entered) == 1
        assert close.disabled

        await _add_words(pilot, rig().shares[2].mnemonic)
        assert len(screen.entered) == 2 and not close.disabled
    assert not (tmp_path / "out").exists()


@pytest.mark.asyncio
async def test_typed_shares_that_rebuild_another_key_are_refused_before_closing(tmp_path: Path) -> None:
    foreign = _shares_of_another_key()
    async with _at_the_close_screen(tmp_path) as (station, app, pilot, screen):
        await _add_words(pilot, foreign[0].mnemonic)  # one typed share alone cannot be told apart
        assert len(screen.entered) == 1
        await _add_words(pilot, foreign[1].mnemonic)  # the k-th: the set rebuilds another key
        assert "another election" in close_note(app) and len(screen.entered) == 1
        assert screen.query_one("#close", Button).disabled
        assert station.polls_state.value == "open"


@pytest.mark.asyncio
async def test_an_entered_share_can_be_removed(tmp_path: Path) -> None:
    foreign = _shares_of_another_key()
    async with _at_the_close_screen(tmp_path) as (station, app, pilot, screen):
        await _add_words(pilot, foreign[0].mnemonic)  # a member typed the wrong paper
        table = screen.query_one("#shares", DataTable)
        assert table.row_count == 1
        table.move_cursor(row=0)
        await press(pilot, "#remove-share")
        assert screen.entered == [] and table.row_count == 0 and "removed" in close_note(app)
        await _add_words(pilot, rig().shares[0].mnemonic)
        await _add_words(pilot, rig().shares[1].mnemonic)
        assert not screen.query_one("#close", Button).disabled


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=40), after=st.text(max_size=40), index=st.integers(0, len(IINS) - 1),
       blob=st.binary(min_size=16, max_size=64))
def test_masking_never_lets_an_iin_or_a_long_hex_through(before: str, after: str, index: int, blob: bytes) -> None:
    """Whatever surrounds them (digits included), an IIN and a hex dump of 16+ bytes never
    survive `oplog.mask` whole."""
    text = f"{before}{IINS[index]}{after} {blob.hex()} {blob!r}"
    masked = oplog.mask(text)
    assert IINS[index] not in masked
    assert blob.hex() not in masked
