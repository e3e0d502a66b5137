"""Operator logs: raw errors for a station's technicians, never for the screen.

Both apps keep one (the ballot box's clerk app, `ballot_box/oplog.py`, and the
booth kiosk, `terminal/oplog.py`): a rotating file, through Python `logging`,
that an app's command opens at start (so an unwritable log is found before the
first voter). The screen shows plain words about what happened and what to do;
the exception behind them, with its traceback, goes here. It lives in `election`
because both apps may import `election` and neither may import the other (as
the gettext loader, `election/i18n.py`).

What a log never holds: vote data (ballot bytes, receipt codes, tokens, choices:
no caller passes them to a logger) and IINs. As a second line of defence every
record is masked before it is written (`MaskingFilter`, on the handler), its
traceback included: runs of 12 digits or more (an IIN, also glued to other
digits) become ``<IIN>``, hex runs of 32 digits or more (hashes, keys,
ciphertexts) ``<hex>``, long bytes literals ``<bytes>``. The file is created mode
0600 (also after each rollover): it names the station's problems, not the
public's business.

Where and how much: `LogSettings.resolve(path, level, default)`: the command's
option, else the environment (``SAILAU_OPERATOR_LOG``, ``SAILAU_LOG_LEVEL``), else
the app's default (next to the station's database for the ballot box).
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BACKUPS",
    "ENV_LEVEL",
    "ENV_PATH",
    "LEVELS",
    "LogSettings",
    "MAX_BYTES",
    "MaskingFilter",
    "close_operator_log",
    "failure",
    "mask",
    "open_operator_log",
]

MAX_BYTES = 1_000_000
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ENV_PATH = "SAILAU_OPERATOR_LOG"
ENV_LEVEL = "SAILAU_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_IIN = re.compile(r"\d{12,}")  # an IIN, also inside a longer digit run
_HEX = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32,}(?![0-9a-fA-F])")
_BYTES = re.compile(r"b'(?:[^'\\]|\\.){16,}'|b\"(?:[^\"\\]|\\.){16,}\"")


def mask(text: str) -> str:
    """`text` with IINs, long hex runs and long bytes literals blotted out."""
    text = _BYTES.sub("<bytes>", text)
    text = _HEX.sub("<hex>", text)
    return _IIN.sub("<IIN>", text)


class MaskingFilter(logging.Filter):
    """Masks a record in place before any formatter sees it (`mask`): the message with
    its arguments, the traceback and the stack. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class _MaskingFormatter(logging.Formatter):
    """Formats as usual, then masks the whole line once more (what a filter cannot reach)."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


class _RotatingFile(logging.handlers.RotatingFileHandler):
    """A rotating file whose every new file (the first and each after a rollover) is 0600."""

    def _open(self):  # type: ignore[no-untyped-def]
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding)


@dataclass(frozen=True)
class LogSettings:
    """Where an operator log goes and from which level it records."""

    path: Path
    level: str = "INFO"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"log level {self.level!r} is not one of {', '.join(LEVELS)}")

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None, level: str | None, default: Path) -> LogSettings:
        """The command's option, else the environment, else `default` (level: INFO)."""
        env_path = os.environ.get(ENV_PATH) or None
        chosen = Path(path) if path is not None else Path(env_path) if env_path else default
        return cls(chosen, (level or os.environ.get(ENV_LEVEL) or "INFO").upper())


def open_operator_log(logger_name: str, settings: LogSettings, *, max_bytes: int = MAX_BYTES,
                      backups: int = BACKUPS) -> logging.Handler:
    """Attach a rotating, masked file handler to logger `logger_name` (records at
    `settings.level` and above; the file created 0600 if missing); returns it for
    `close_operator_log`. Raises OSError when the file cannot be opened for
    appending: check that at start."""
    handler = _RotatingFile(settings.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
    handler.addFilter(MaskingFilter())
    handler.setFormatter(_MaskingFormatter(FORMAT))
    level = logging.getLevelName(settings.level)
    handler.setLevel(level)
    log = logging.getLogger(logger_name)
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > level:
        log.setLevel(level)
    return handler


def close_operator_log(logger_name: str, handler: logging.Handler) -> None:
    logging.getLogger(logger_name).removeHandler(handler)
    handler.close()


def failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    """Record `exc` (with its traceback) as the reason `what` failed. `what` is an
    operation name, never data."""
    log.error("%s failed: %s: %s", what, type(exc).__name__, exc, exc_info=(type(exc), exc, exc.__traceback__))
