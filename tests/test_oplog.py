"""The operator logs of both apps (`sailau.election.oplog`, wrapped by
`ballot_box/oplog.py` and `terminal/oplog.py`): where they go (option, environment,
default next to the station database), which level they record, and that no IIN
survives into the file, whether it is in the message, an argument or a traceback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.ballot_box import oplog as box_log
from sailau.election.oplog import ENV_LEVEL, ENV_PATH, LogSettings, MaskingFilter
from sailau.terminal import oplog as booth_log

IIN = "900115300123"


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("sailau.test", logging.ERROR, __file__, 1, msg, args, info)


@settings(max_examples=200, deadline=None)
@given(before=st.text(max_size=20), after=st.text(max_size=20), digits=st.text("0123456789", min_size=12, max_size=30))
def test_the_filter_masks_every_run_of_twelve_digits(before: str, after: str, digits: str) -> None:
    record = _record("voter %s", f"{before}{digits}{after}")
    assert MaskingFilter().filter(record) is True  # masks, never drops
    masked = record.getMessage()
    assert digits not in masked and ("<IIN>" in masked or "<hex>" in masked)  # 32+ digits read as hex


def test_the_filter_masks_the_traceback_too() -> None:
    try:
        raise ValueError(f"row for {IIN}")
    except ValueError as exc:
        record = _record("check-in failed", exc=exc)
    MaskingFilter().filter(record)
    assert record.exc_text is not None and "ValueError" in record.exc_text and IIN not in record.exc_text
    assert IIN not in logging.Formatter().format(record)


def test_settings_come_from_the_option_then_the_environment_then_the_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_PATH, raising=False)
    monkeypatch.delenv(ENV_LEVEL, raising=False)
    default = tmp_path / "default.log"
    assert LogSettings.resolve(None, None, default) == LogSettings(default, "INFO")
    monkeypatch.setenv(ENV_PATH, str(tmp_path / "env.log"))
    monkeypatch.setenv(ENV_LEVEL, "warning")
    assert LogSettings.resolve(None, None, default) == LogSettings(tmp_path / "env.log", "WARNING")
    assert LogSettings.resolve(tmp_path / "opt.log", "debug", default) == LogSettings(tmp_path / "opt.log", "DEBUG")
    with pytest.raises(ValueError, match="not one of"):
        LogSettings.resolve(None, "loud", default)


def test_the_station_log_defaults_to_the_database_folder(tmp_path: Path) -> None:
    assert box_log.default_path(f"sqlite:///{tmp_path / 'station.db'}") == tmp_path / "sailau-operator.log"
    assert box_log.default_path("postgresql+psycopg://clerk@db/station") == Path("sailau-operator.log")


@pytest.mark.parametrize("module", [box_log, booth_log], ids=["ballot_box", "terminal"])
def test_each_app_logs_at_its_level_masked_and_0600(module, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "op.log"
    handler = module.open_operator_log(LogSettings(path, "WARNING"))
    try:
        logging.getLogger(module.LOGGER_NAME).info("routine %s", "not recorded")
        try:
            raise RuntimeError(f"looking up {IIN}")
        except RuntimeError as exc:
            module.failure("search", exc)
    finally:
        module.close_operator_log(handler)
    logged = path.read_text()
    assert "not recorded" not in logged
    assert "search failed: RuntimeError" in logged and "Traceback" in logged and IIN not in logged
    assert path.stat().st_mode & 0o777 == 0o600


def test_terminal_command_refuses_an_unwritable_log_before_the_kiosk(tmp_path: Path) -> None:
    from clerk_support import PRECINCT, rig
    from sailau.cli.main import cli
    from sailau.election import crypto
    from sailau.election.definition import write_election

    write_election(rig().election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "booth.key", rig().terminal_key)
    blocked = tmp_path / "file"
    blocked.write_text("")
    result = CliRunner().invoke(cli, ["terminal", "--election", str(tmp_path / "election.json"),
                                      "--terminal-key", str(tmp_path / "booth.key"), "--reader", "No Such Reader",
                                      "--precinct", str(PRECINCT), "--operator-log", str(blocked / "op.log")])
    assert result.exit_code == 2 and "cannot be written" in result.output and "--operator-log" in result.output
