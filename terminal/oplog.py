"""The booth terminal's operator log: raw errors for technicians, never for the voter.

The kiosk shows the voter plain words; what went wrong underneath (a card
service failure, an exception in a worker) goes here, through Python `logging`
under the ``sailau.terminal`` logger, into a rotating, masked file (0600; no vote
data, IINs and long hex masked). `sailau terminal` opens it at start. The
machinery is shared with the ballot box's log: `sailau.election.oplog`. The
session itself logs no choice, ever (session.py).
"""

from __future__ import annotations

import logging
from sailau.election import oplog as _shared
from sailau.election.oplog import LogSettings

__all__ = ["FILE_NAME", "LOGGER_NAME", "close_operator_log", "failure", "log", "open_operator_log"]

LOGGER_NAME = "sailau.terminal"
FILE_NAME = "sailau-terminal.log"  # by default next to the terminal's key file (its data folder)

log = logging.getLogger(LOGGER_NAME)
log.addHandler(logging.NullHandler())


def open_operator_log(settings: LogSettings) -> logging.Handler:
    return _shared.open_operator_log(LOGGER_NAME, settings)


def close_operator_log(handler: logging.Handler) -> None:
    _shared.close_operator_log(LOGGER_NAME, handler)


def failure(what: str, exc: BaseException) -> None:
    """Record `exc` (with its traceback) as the reason `what` failed; `what` names an operation, never data."""
    _shared.failure(log, what, exc)
