"""The ballot box's operator log: raw errors for the station's technicians, never for the screen.

The clerk reads plain words about what happened to the ballot and what to do
(desk.py decides, app.py draws); the exception behind them goes here, through
Python `logging` under the ``sailau.ballot_box`` logger, into a rotating, masked
file (0600; no vote data, IINs and long hex masked) that `open_operator_log`
attaches. The command (`sailau ballot-box`) opens it at start, so an unwritable
log is found before the first voter; its default place is next to the station's
database. The machinery is shared with the booth's log: `sailau.election.oplog`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sailau.election import oplog as _shared
from sailau.election.oplog import LogSettings, mask

__all__ = ["LOGGER_NAME", "LogSettings", "close_operator_log", "default_path", "failure", "log", "mask",
           "open_operator_log"]

LOGGER_NAME = "sailau.ballot_box"
FILE_NAME = "sailau-operator.log"

log = logging.getLogger(LOGGER_NAME)
log.addHandler(logging.NullHandler())  # a library logs nowhere until the app says where


def default_path(db_url: str) -> Path:
    """The station's data folder: next to a SQLite database file, else the working folder."""
    prefix = "sqlite:///"
    if db_url.startswith(prefix) and db_url[len(prefix):] not in ("", ":memory:"):
        return Path(db_url[len(prefix):]).parent / FILE_NAME
    return Path(FILE_NAME)


def open_operator_log(path: str | os.PathLike[str] | LogSettings, **kwargs: int) -> logging.Handler:
    """Attach the rotating, masked file handler (see `sailau.election.oplog.open_operator_log`)."""
    settings = path if isinstance(path, LogSettings) else LogSettings(Path(path))
    return _shared.open_operator_log(LOGGER_NAME, settings, **kwargs)


def close_operator_log(handler: logging.Handler) -> None:
    _shared.close_operator_log(LOGGER_NAME, handler)


def failure(what: str, exc: BaseException) -> None:
    """Record `exc` (with its traceback) as the reason `what` failed; `what` names an operation, never data."""
    _shared.failure(log, what, exc)
