"""Secret files: made private, read only while private.

Signing keys (station, terminal), election key shares, the card master key and a
database URL file holding a password are secrets on disk. One rule for all of
them, here and nowhere else:

- **Written** with mode 0600 from the start (`os.open(..., O_CREAT | O_EXCL,
  0o600)`: never briefly readable, never over an existing file, since a replaced
  key is a lost key) and fsynced before the writer reports success.
- **Read** only when neither group nor others may read or write the file
  (mode & 0o077 == 0). The mode is taken from the open file (`fstat`), so a file
  swapped between a check and the read is still the file checked. A refusal is
  `SecretFileExposedError` naming the file, its mode and the fix:
  ``chmod 600 FILE``. A key that others could read may already be theirs, so
  a tool would rather stop than use it quietly.

Reads are bounded like every input (`jsonfile.read_bounded`). Callers wrap
these errors into their own (`crypto.KeyFileError`, `shares.ShareFileError`,
a click error) keeping the message. The card master key's format is the
smartcard package's (`card_keys.parse_master_key`), which imports nothing of
ours: the CLI reads the file here and hands the bytes over.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from .jsonfile import InputError, read_bounded

__all__ = [
    "PRIVATE_MODE",
    "SecretFileError",
    "SecretFileExposedError",
    "exposure_problem",
    "check_private_mode",
    "read_secret_file",
    "write_secret_file",
]

PRIVATE_MODE = 0o600
_SHARED_BITS = 0o077  # any permission for group or others


class SecretFileError(ValueError):
    """A secret file cannot be used as it is (exposed, too large, or it exists already)."""


class SecretFileExposedError(SecretFileError):
    """A secret file may be read or written by group or others."""


def exposure_problem(path: str | os.PathLike[str], mode: int, what: str) -> str | None:
    """None when `mode` keeps the file private to its owner; else the sentence that
    says so and how to fix it."""
    if not mode & _SHARED_BITS:
        return None
    return (
        f"{os.fspath(path)}: this {what} may be read by other users of this computer "
        f"(mode {stat.S_IMODE(mode):04o}); make it private first: chmod 600 {os.fspath(path)}"
    )


def check_private_mode(path: str | os.PathLike[str], mode: int, what: str) -> None:
    """Raise `SecretFileExposedError` unless `mode` keeps the file private (0600 or 0400)."""
    problem = exposure_problem(path, mode, what)
    if problem is not None:
        raise SecretFileExposedError(problem)


def read_secret_file(
    path: str | os.PathLike[str],
    what: str,
    max_bytes: int,
    not_this_kind: Callable[[bytes], str | None] | None = None,
) -> bytes:
    """The bytes of secret file `path` (a `what`, e.g. "key share").

    OSError when it cannot be opened or is not a regular file; `SecretFileError`
    when it is larger than `max_bytes` (no key file is); `SecretFileExposedError`
    when group or others have any permission on it. Before that last refusal,
    `not_this_kind(data)` may name a file that is no such secret at all (a public
    definition given as a share): then that sentence is the error, since
    "chmod 600" would be the wrong fix.
    """
    modes: list[int] = []
    try:
        data = read_bounded(path, max_bytes, what, check_stat=lambda st: modes.append(st.st_mode))
    except InputError as e:  # too large: the size of a secret file is no JSON matter
        raise SecretFileError(str(e)) from None
    if exposure_problem(path, modes[0], what) is not None and not_this_kind is not None:
        other = not_this_kind(data)
        if other is not None:
            raise SecretFileError(other)
    check_private_mode(path, modes[0], what)
    return data


def write_secret_file(path: str | os.PathLike[str], data: bytes, what: str) -> None:
    """Create `path` holding `data` with mode 0600, refusing to overwrite.

    Raises `SecretFileError` when the file exists, OSError when it cannot be
    created. The file is fsynced before returning; if writing fails half-way the
    partial file is removed, so a retry is not refused as "exists".
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), PRIVATE_MODE)
    except FileExistsError:
        raise SecretFileError(f"{os.fspath(path)}: already exists, refusing to overwrite a {what}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(path)
        raise
