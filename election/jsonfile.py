"""The one reader for files that come from outside, within bounds.

Protocols, station registries, receipt lists, election definitions, key shares,
seats inputs, commission reports and audit logs reach a station, a commission or
an observer from other people. Read naively, a 6 KB file of nested brackets
killed every tool with RecursionError and a 102 MB protocol took 45 s and 2 GB
before it was refused. Every reader of such a file goes through here, and each
bound is a refusal with a stable name (`InputError.reason`):

``too_large``
    More bytes than the limit of the file's kind. A file is measured with
    `fstat` before anything is read, and the read itself never takes more than
    limit + 1 bytes, so a file that grows, or a device, is caught as well.
``too_deep``
    JSON arrays/objects nested deeper than `MAX_DEPTH`. Measured on the raw bytes
    before parsing by a scan that skips strings (linear, no recursion), so the
    parser is never handed anything deeper: an over-deep file cannot exhaust the
    stack however it is built.
``count_out_of_range``
    An integer outside the signed 64-bit range every database column of counts
    takes (BIGINT). Checked on each number's digits as it is parsed, before
    Python converts them (so a 100,000-digit number costs nothing either).
``malformed``
    Not UTF-8, not JSON, a key given twice (two readers could take different
    values), NaN or Infinity, and, where `integers_only` (every Sailau format
    except the commission report, which carries percentages), a fraction.

Each format's size limit is a constant in the module that owns the format
(`protocol.MAX_SIGNED_PROTOCOL_BYTES`, `definition.MAX_DEFINITION_BYTES`, ...;
the table is in election/README.md); depth and integer range are the same for
all. Bounds on what the numbers mean (a precinct count at most
`protocol.MAX_PRECINCT_COUNT`) belong to the format too.

Files that cannot be opened raise `OSError` as `open` does (callers word it),
and so does a path that is not a regular file (a directory, a FIFO: opened
non-blocking, so a FIFO never hangs a reader). Imports nothing of ours.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from collections.abc import Callable
from itertools import accumulate
from typing import Any, ClassVar

__all__ = [
    "MAX_DEPTH",
    "INT64_MIN",
    "INT64_MAX",
    "InputError",
    "TooLargeError",
    "TooDeepError",
    "CountOutOfRangeError",
    "MalformedJsonError",
    "WrongFormatError",
    "read_bounded",
    "check_size",
    "check_depth",
    "json_depth",
    "parse_headed",
    "parse_json",
    "read_json",
]

#: Deepest nesting of arrays and objects any Sailau file needs is 5 (a contest's
#: names in a definition); 32 leaves room for formats to grow, and stays far below
#: the interpreter's recursion limit whatever calls the parser.
MAX_DEPTH = 32
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_INT64_DIGITS = len(str(INT64_MIN))  # 20 characters with the sign


class InputError(ValueError):
    """A file or its bytes refused within bounds; `reason` is the stable name."""

    reason: ClassVar[str] = "malformed"


class TooLargeError(InputError):
    reason = "too_large"


class TooDeepError(InputError):
    reason = "too_deep"


class CountOutOfRangeError(InputError):
    reason = "count_out_of_range"


class MalformedJsonError(InputError):
    reason = "malformed"


class WrongFormatError(InputError):
    """Well-formed JSON that is not an object headed by the expected `format` and `version`."""

    reason = "format"


def _prefix(subject: str) -> str:
    return f"{subject}: " if subject else ""


def check_size(size: int, max_bytes: int, what: str, subject: str = "") -> None:
    """Raise `TooLargeError` when `size` bytes exceed `max_bytes` for `what` (e.g. "a signed protocol")."""
    if size > max_bytes:
        raise TooLargeError(
            f"{_prefix(subject)}too large for {what}: {size:,} bytes, at most {max_bytes:,}; refused unread"
        )


def read_bounded(
    path: str | os.PathLike[str],
    max_bytes: int,
    what: str,
    *,
    check_stat: Callable[[os.stat_result], None] | None = None,
    subject: str | None = None,
) -> bytes:
    """The bytes of the regular file `path`, at most `max_bytes` of them.

    Order: open (non-blocking, so a FIFO cannot hang us) -> fstat of the open
    file: not a regular file is an OSError, `check_stat(st)` runs (the secret-file
    mode check), a size over the limit is `TooLargeError` -> read at most
    `max_bytes` + 1 bytes, and a file that grew past the limit meanwhile is
    `TooLargeError` too. Nothing is read before the checks pass. Messages start
    with `subject` (default: the path; "" when the caller names the file itself).
    """
    subject = os.fspath(path) if subject is None else subject
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", subject)
        if check_stat is not None:
            check_stat(st)
        check_size(st.st_size, max_bytes, what, subject)
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    check_size(len(data), max_bytes, what, subject)
    return data


# A JSON string (escapes included), or an unterminated one running to the end of
# the text: every alternative starts with a different byte, so matching is linear
# and never backtracks. What is left once strings are removed holds the brackets.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"?', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
for _b in b"[{":
    _STEP[_b] = 1
for _b in b"]}":
    _STEP[_b] = -1


def json_depth(raw: bytes | str) -> int:
    """The deepest nesting of arrays/objects in `raw`, brackets inside strings not
    counted; linear time, no recursion. On text that is not valid JSON this is an
    upper bound of what a parser reaches before it stops at the first error."""
    data = _as_bytes(raw)
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    return max(accumulate(map(_STEP.__getitem__, brackets), initial=0))


def _as_bytes(raw: bytes | bytearray | memoryview | str) -> bytes:
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)


def check_depth(raw: bytes | str, subject: str = "", max_depth: int = MAX_DEPTH) -> None:
    """Raise `TooDeepError` when `raw` nests arrays/objects deeper than `max_depth`.
    Text with no more opening brackets than that (most files) is not scanned."""
    data = _as_bytes(raw)
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    depth = json_depth(data)
    if depth > max_depth:
        raise TooDeepError(
            f"{_prefix(subject)}JSON nested {depth} levels deep, at most {max_depth}: "
            "no Sailau file is built like this; refused unparsed"
        )


def _pairs(subject: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise MalformedJsonError(f"{_prefix(subject)}duplicate key {key!r}")
            out[key] = value
        return out

    return hook


def _int(subject: str) -> Callable[[str], int]:
    def hook(text: str) -> int:
        if len(text) <= _INT64_DIGITS:
            value = int(text)
            if INT64_MIN <= value <= INT64_MAX:
                return value
        shown = text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"
        raise CountOutOfRangeError(
            f"{_prefix(subject)}the number {shown} does not fit a 64-bit integer (at most {INT64_MAX:,})"
        )

    return hook


def _no_float(subject: str) -> Callable[[str], Any]:
    def hook(text: str) -> Any:
        shown = text if len(text) <= 24 else text[:24] + "..."
        raise MalformedJsonError(f"{_prefix(subject)}numbers must be whole numbers (integers), got {shown}")

    return hook


def _no_constant(subject: str) -> Callable[[str], Any]:
    def hook(text: str) -> Any:
        raise MalformedJsonError(f"{_prefix(subject)}{text} is not allowed")

    return hook


def parse_json(
    raw: bytes | str,
    subject: str = "",
    *,
    integers_only: bool = True,
    max_bytes: int | None = None,
    what: str = "this kind of file",
) -> Any:
    """Parse `raw` (UTF-8 bytes, or text) as JSON within bounds; see the module doc.

    Order: size (only when `max_bytes` is given: bytes handed over by a caller,
    not read here) -> depth -> UTF-8 -> JSON with every number, key and constant
    checked as it is parsed. Raises an `InputError` naming `subject`.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview, str)):
        raise MalformedJsonError(f"{_prefix(subject)}JSON must be given as bytes or text, got {type(raw).__name__}")
    if max_bytes is not None:
        check_size(len(_as_bytes(raw)), max_bytes, what, subject)
    check_depth(raw, subject)
    if isinstance(raw, str):
        text = raw
    else:
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            raise MalformedJsonError(f"{_prefix(subject)}not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_pairs(subject),
            parse_int=_int(subject),
            parse_float=_no_float(subject) if integers_only else float,
            parse_constant=_no_constant(subject),
        )
    except json.JSONDecodeError as e:
        raise MalformedJsonError(f"{_prefix(subject)}malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:  # pragma: no cover - check_depth keeps the parser far from the limit
        raise TooDeepError(f"{_prefix(subject)}JSON nested too deep to parse") from None


def parse_headed(
    raw: bytes | str, subject: str, format_: str, version: int, *, max_bytes: int, what: str
) -> dict[str, Any]:
    """`parse_json`, then the header: an object whose `format` and `version` are
    `format_` and `version`, else `WrongFormatError` "SUBJECT: not a FORMAT vVERSION
    file". Other keys are the caller's to check."""
    data = parse_json(raw, subject, max_bytes=max_bytes, what=what)
    if not isinstance(data, dict) or data.get("format") != format_ or data.get("version") != version:
        raise WrongFormatError(f"{subject}: not a {format_} v{version} file")
    return data


def read_json(
    path: str | os.PathLike[str], max_bytes: int, what: str, *, integers_only: bool = True
) -> tuple[bytes, Any]:
    """`read_bounded` then `parse_json`: the file's exact bytes and their data."""
    raw = read_bounded(path, max_bytes, what)
    return raw, parse_json(raw, os.fspath(path), integers_only=integers_only)
