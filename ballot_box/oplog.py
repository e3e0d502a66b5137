"""The operator log: raw errors for the station's technicians, never for the screen.

The clerk reads plain words about what happened to the ballot and what to do
(station.py decides, app.py draws); the exception behind them goes here, through
Python `logging` under the ``sailau.ballot_box`` logger, into a rotating file that
`open_operator_log` attaches (the clerk app's command does it at start, so an
unwritable log is found before the first voter).

What the log never holds: vote data (ballot bytes, receipt codes, tokens: the
station never passes them to a logger, and SQL parameters are hidden by the
engine, db.py) and IINs. As a second line of defence every formatted line, the
traceback included, is masked: runs of 12 digits or more (an IIN, also glued to
other digits) become ``<IIN>``, hex runs of
32 digits or more (hashes, keys, ciphertexts) become ``<hex>``. The file is created
mode 0600: it names the station's problems, not the public's business.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from pathlib import Path

LOGGER_NAME = "sailau.ballot_box"
MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_IIN = re.compile(r"\d{12,}")  # an IIN, also inside a longer digit run
_HEX = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32,}(?![0-9a-fA-F])")
_BYTES = re.compile(r"b'(?:[^'\\]|\\.){16,}'|b\"(?:[^\"\\]|\\.){16,}\"")

log = logging.getLogger(LOGGER_NAME)
log.addHandler(logging.NullHandler())  # a library logs nowhere until the app says where


def mask(text: str) -> str:
    """`text` with IINs, long hex runs and long bytes literals blotted out."""
    text = _BYTES.sub("<bytes>", text)
    text = _HEX.sub("<hex>", text)
    return _IIN.sub("<IIN>", text)


class MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks the whole line, traceback included (`mask`)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """A rotating file whose every new file (the first and each after a rollover) is 0600."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding)


def open_operator_log(path: str | os.PathLike[str], *, max_bytes: int = MAX_BYTES,
                      backups: int = BACKUPS) -> logging.Handler:
    """Attach a rotating, masked file handler for ``sailau.ballot_box`` at `path`
    (created 0600 if missing); returns it for `close_operator_log`. Raises OSError
    when the file cannot be opened for appending: check that at start."""
    handler = _RotatingFile(Path(path), maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.setFormatter(MaskingFormatter(FORMAT))
    handler.setLevel(logging.INFO)
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    return handler


def close_operator_log(handler: logging.Handler) -> None:
    log.removeHandler(handler)
    handler.close()


def failure(what: str, exc: BaseException) -> None:
    """Record `exc` (with its traceback) as the reason `what` failed. `what` is an
    operation name, never data."""
    log.error("%s failed: %s: %s", what, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__))
