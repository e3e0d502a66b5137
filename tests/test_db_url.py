"""Database URLs off the command line (cli/options.py): every --db also reads
SAILAU_DB_URL and has --db-url-file; a password-bearing URL file others may read
is refused, a password on the command line draws a warning; nothing ever echoes
the URL (or its password)."""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sailau.simulator.booth_rig import Rig
from sailau.cli.main import cli
from sailau.cli.options import DB_URL_ENV, db_url_option, url_has_password
from sailau.election import crypto
from sailau.election.definition import write_election

SECRET = "s3cret-pw"
PG_WITH_PASSWORD = f"postgresql+psycopg://sailau:{SECRET}@127.0.0.1:1/none"  # port 1: nothing listens


@pytest.fixture(autouse=True)
def _no_inherited_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DB_URL_ENV, raising=False)


@pytest.fixture
def station_db(tmp_path: Path) -> str:
    """A station database set up for one precinct, made through SAILAU_DB_URL."""
    rig = Rig.create(voters=2)
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    url = f"sqlite:///{tmp_path / 'station.db'}"
    out = CliRunner().invoke(cli, ["station", "init", "--election", str(tmp_path / "election.json"),
                                   "--station-key", str(tmp_path / "station.pem"), "--precinct", str(rig.precinct),
                                   "--voters", str(rig.voters_csv(tmp_path / "voters.csv"))],
                             env={DB_URL_ENV: url})
    assert out.exit_code == 0, out.output
    return url


def url_file(path: Path, url: str, mode: int) -> Path:
    path.write_text(url + "\n")
    path.chmod(mode)
    return path


def test_the_environment_variable_is_read(station_db: str) -> None:
    out = CliRunner().invoke(cli, ["station", "status"], env={DB_URL_ENV: station_db})
    assert out.exit_code == 0, out.output
    assert "polls setup; on list 2" in out.output and "Warning" not in out.output


def test_a_url_file_is_read(station_db: str, tmp_path: Path) -> None:
    f = url_file(tmp_path / "db.url", station_db, 0o600)
    out = CliRunner().invoke(cli, ["pollbook", "turnout", "--db-url-file", str(f)])
    assert out.exit_code == 0, out.output
    out = CliRunner().invoke(cli, ["station", "status", "--db-url-file", str(f)],
                             env={DB_URL_ENV: "sqlite:///elsewhere.db"})  # the file beats the environment
    assert out.exit_code == 0 and "on list 2" in out.output, out.output


def test_a_readable_file_with_a_password_is_refused(tmp_path: Path) -> None:
    f = url_file(tmp_path / "db.url", PG_WITH_PASSWORD, 0o644)
    out = CliRunner().invoke(cli, ["commission", "report", "--db-url-file", str(f)])
    assert out.exit_code == 2
    assert "may be read by other users of this computer (mode 0644)" in out.output and f"chmod 600 {f}" in out.output
    assert SECRET not in out.output and "Traceback" not in out.output


def test_a_private_file_with_a_password_is_used(tmp_path: Path) -> None:
    f = url_file(tmp_path / "db.url", PG_WITH_PASSWORD, 0o600)
    out = CliRunner().invoke(cli, ["pollbook", "turnout", "--db-url-file", str(f)])
    assert out.exit_code == 1  # accepted, then the (absent) server is named in plain words
    assert "cannot use the database: connection failed" in out.output
    assert SECRET not in out.output and "Warning" not in out.output and "Traceback" not in out.output


def test_a_readable_file_without_a_password_is_fine(station_db: str, tmp_path: Path) -> None:
    f = url_file(tmp_path / "db.url", station_db, 0o644)
    assert CliRunner().invoke(cli, ["station", "status", "--db-url-file", str(f)]).exit_code == 0


def test_a_password_on_the_command_line_draws_a_warning() -> None:
    out = CliRunner().invoke(cli, ["pollbook", "turnout", "--db", PG_WITH_PASSWORD])
    assert "Warning: the password in --db is visible to other users" in out.stderr
    assert DB_URL_ENV in out.stderr and "--db-url-file" in out.stderr
    assert SECRET not in out.output
    assert out.exit_code == 1 and "cannot use the database" in out.output  # not refused: it was tried


def test_no_warning_for_a_password_from_the_environment() -> None:
    out = CliRunner().invoke(cli, ["pollbook", "turnout"], env={DB_URL_ENV: PG_WITH_PASSWORD})
    assert "Warning" not in out.stderr and SECRET not in out.output


def test_db_and_db_url_file_together_are_refused(station_db: str, tmp_path: Path) -> None:
    f = url_file(tmp_path / "db.url", station_db, 0o600)
    out = CliRunner().invoke(cli, ["station", "status", "--db", station_db, "--db-url-file", str(f)])
    assert out.exit_code == 2 and "not both" in out.output


def test_no_database_given_says_all_three_ways() -> None:
    out = CliRunner().invoke(cli, ["audit", "export", "--out", "x.jsonl"])
    assert out.exit_code == 2
    assert "--db URL" in out.output and "--db-url-file FILE" in out.output and DB_URL_ENV in out.output


@pytest.mark.parametrize(("url", "said"), [
    (f"mysql://root:{SECRET}@db/x", "'mysql' databases are not supported"),
    (f"not a url {SECRET}", "not a database URL"),
])
def test_a_bad_url_is_named_without_echoing_it(url: str, said: str) -> None:
    out = CliRunner().invoke(cli, ["pollbook", "turnout"], env={DB_URL_ENV: url})
    assert out.exit_code == 2 and said in out.output and DB_URL_ENV in out.output
    assert SECRET not in out.output


def test_audit_verify_of_a_file_ignores_the_environment(station_db: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["audit", "export", "--out", str(tmp_path / "a.jsonl")], env={DB_URL_ENV: station_db})
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["audit", "verify", "--file", str(tmp_path / "a.jsonl")], env={DB_URL_ENV: station_db})
    assert out.exit_code == 0 and "audit chain OK (" in out.output and str(tmp_path / "a.jsonl") in out.output
    out = runner.invoke(cli, ["audit", "verify", "--db", station_db, "--file", str(tmp_path / "a.jsonl")])
    assert out.exit_code == 2 and "exactly one" in out.output  # both on the command line: still refused


def test_every_db_option_reads_the_environment_and_has_a_file_option() -> None:
    from test_cli_help import COMMANDS_TREE

    seen = 0
    for path, command in COMMANDS_TREE:
        names = {p.name: p for p in command.params if isinstance(p, click.Option)}
        if "db_url" in names:
            seen += 1
            assert names["db_url"].envvar == DB_URL_ENV, path
            assert "db_url_file" in names, path
            assert ":PW@" not in (names["db_url"].help or "") and "USER:" not in (names["db_url"].help or "")
    assert seen >= 10  # audit 2, pollbook 3, station 4, ballot-box, commission 2


@pytest.mark.parametrize(("url", "has"), [
    ("sqlite:///station.db", False),
    ("postgresql+psycopg://sailau@host/db", False),
    ("postgresql+psycopg://sailau:pw@host/db", True),
    ("postgresql+psycopg://host/db?password=pw", True),
    ("garbage://u:pw@", True),
])
def test_url_has_password(url: str, has: bool) -> None:
    assert url_has_password(url) is has


def test_the_decorator_hands_one_url() -> None:
    @click.command()
    @db_url_option("test database")
    def show(db_url: str) -> None:
        click.echo(f"url={db_url}")

    assert CliRunner().invoke(show, ["--db", "sqlite:///a.db"]).output == "url=sqlite:///a.db\n"
    assert CliRunner().invoke(show, [], env={DB_URL_ENV: "sqlite:///b.db"}).output == "url=sqlite:///b.db\n"
    assert "no test database given" in CliRunner().invoke(show, []).output
    assert os.environ.get(DB_URL_ENV) is None


# --- the one engine factory (election/engine.py) ------------------------------------------


def test_each_use_gets_the_sqlite_settings_it_states(tmp_path) -> None:
    """The station and the commission share one factory; what differs is stated in
    their settings, and a connection carries exactly that."""
    import pytest
    from sqlalchemy import text

    from sailau.ballot_box.db import STATION_ENGINE
    from sailau.ballot_box.db import make_engine as station_engine
    from sailau.commission.db import COMMISSION_ENGINE, CommissionDBError
    from sailau.commission.db import make_engine as commission_engine
    from sailau.election.engine import UnsupportedDatabaseError

    for name, make, settings in (("station", station_engine, STATION_ENGINE),
                                 ("commission", commission_engine, COMMISSION_ENGINE)):
        engine = make(f"sqlite:///{tmp_path / name}.db")
        try:
            with engine.connect() as conn:
                pragma = {p: conn.execute(text(f"PRAGMA {p}")).scalar() for p in
                          ("journal_mode", "synchronous", "foreign_keys", "busy_timeout", "secure_delete")}
        finally:
            engine.dispose()
        secure = pragma.pop("secure_delete")  # the station asks for it; a SQLite build may default to it
        assert pragma == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1,
                          "busy_timeout": settings.sqlite_busy_timeout_ms}, name
        assert secure == 1 or not settings.sqlite_secure_delete, name
        assert engine.hide_parameters  # IINs and ballot bytes never reach an error message
    with pytest.raises(UnsupportedDatabaseError, match="unsupported station database 'mysql'"):
        station_engine("mysql://h/db")
    with pytest.raises(CommissionDBError, match="unsupported commission database 'mysql'"):
        commission_engine("mysql://h/db")
