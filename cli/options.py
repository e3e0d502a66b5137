"""Options several `sailau` subcommands share: where the database URL comes from,
the secret files they read (the card master key), and reading the election
definition a command is given (`read_election`).

A database URL may hold a password (``postgresql+psycopg://USER:PASSWORD@HOST/DB``),
and a command line is visible to every user of the machine (``ps``, /proc) and
lands in shell history. So every command that opens a database takes its URL
from, in this order:

1. ``--db URL`` on the command line: fine for ``sqlite:///station.db``; with a
   password it still works but prints a warning to stderr;
2. ``--db-url-file FILE``: a file holding the URL on one line; refused when the
   URL has a password and the file is readable by group or others (mode & 0o077);
3. the ``SAILAU_DB_URL`` environment variable.

``--db`` and ``--db-url-file`` together are refused. The URL itself is never
echoed in an error or a warning (it may hold the password), and a URL that is
not ``sqlite://`` or ``postgresql://`` is refused in plain words before anything
is opened. `db_url_option` resolves all this once and hands the command a single
``db_url`` argument, and turns a database that cannot be reached or used into a
plain error (`database_errors`).

Secret files follow one rule (`sailau.election.secretfile`): refused when group
or others may read them, with ``chmod 600 FILE`` in the message. The URL file is
judged by it when its URL has a password; `read_card_master_key` reads the card
master key through it (the smartcard package, which imports nothing of ours,
owns only the key's format).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from sailau.election import jsonfile, secretfile

if TYPE_CHECKING:
    from sailau.election.definition import Election

DB_URL_ENV = "SAILAU_DB_URL"
_SOURCE_KEY = "sailau.db_url_source"
_BACKENDS = ("sqlite", "postgresql")

F = TypeVar("F", bound=Callable[..., Any])


class DbUrlSource(str, Enum):
    """Where the database URL came from (`db_url_source`)."""

    COMMAND_LINE = "--db"
    FILE = "--db-url-file"
    ENVIRONMENT = DB_URL_ENV


def url_has_password(url: str) -> bool:
    """True when the URL carries a password (in its user part or as ?password=).

    A URL SQLAlchemy cannot parse is judged by its text: a ``user:secret@`` part
    counts, so a malformed URL with a password is still kept off the screen.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        authority = url.partition("://")[2].partition("/")[0]
        return "@" in authority and ":" in authority.rpartition("@")[0]
    return parsed.password is not None or "password" in parsed.query


def check_db_url(url: str, origin: str) -> str:
    """`url` if it is a sqlite or postgresql URL, else a plain BadParameter naming
    `origin` (--db, --db-url-file or SAILAU_DB_URL), never the URL itself."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    example = "sqlite:///station.db or postgresql+psycopg://HOST/DB"
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        raise click.BadParameter(f"not a database URL; expected one like {example}", param_hint=origin) from None
    if backend not in _BACKENDS:
        raise click.BadParameter(f"{backend!r} databases are not supported; use {example}", param_hint=origin)
    return url


def read_db_url_file(path: Path) -> str:
    """The URL held in `path` (one line). Refused, in plain words, when the file is
    empty or holds more than one line, and when the URL has a password but the file
    may be read by group or others (the mode is checked on the open file)."""
    modes: list[int] = []
    try:
        raw = jsonfile.read_bounded(path, MAX_DB_URL_FILE_BYTES, "a database URL file",
                                    check_stat=lambda st: modes.append(st.st_mode))
        text = raw.decode("utf-8")
    except OSError as exc:
        raise click.BadParameter(f"{path}: cannot read ({exc.strerror})", param_hint="--db-url-file") from None
    except jsonfile.InputError as exc:
        raise click.BadParameter(str(exc), param_hint="--db-url-file") from None
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path}: not a text file", param_hint="--db-url-file") from None
    url = text.strip()
    if not url or "\n" in url:
        raise click.BadParameter(f"{path}: expected one database URL on one line", param_hint="--db-url-file")
    problem = secretfile.exposure_problem(path, modes[0], "database URL file, which holds a password,")
    if problem is not None and url_has_password(url):
        raise click.BadParameter(problem, param_hint="--db-url-file")
    return url


#: A URL is a line; a file much longer than this is not a URL file.
MAX_DB_URL_FILE_BYTES = 64 * 1024


def read_card_master_key(path: Path, option: str) -> bytes:
    """The card master key in `path` (given as `option`): a secret file, refused in
    plain words when missing, exposed to group or others (with the chmod fix), too
    large, or holding no key of an AES length. Never echoes the key."""
    from sailau.smartcard.card_keys import MAX_MASTER_KEY_FILE_BYTES, InvalidKeyMaterialError, parse_master_key

    try:
        data = secretfile.read_secret_file(path, "card master key", MAX_MASTER_KEY_FILE_BYTES)
        return parse_master_key(data, str(path))
    except OSError as exc:
        raise click.BadParameter(f"{path}: cannot read ({exc.strerror})", param_hint=option) from None
    except (secretfile.SecretFileError, InvalidKeyMaterialError) as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None


_DB_REMEDY = f"put the URL in the {DB_URL_ENV} environment variable or in a file given with --db-url-file (chmod 600)"


def warn_password_on_command_line(url: str | None, option: str, remedy: str = _DB_REMEDY) -> None:
    """Print a warning to stderr when a URL given as `option` on the command line
    holds a password. It is not refused: tests and one-off runs may do that."""
    if url is not None and url_has_password(url):
        click.echo(
            f"Warning: the password in {option} is visible to other users of this computer (process list, "
            f"shell history); {remedy}.",
            err=True,
        )


def resolve_db_url(db_url: str | None, db_url_file: Path | None, source: ParameterSource | None) -> tuple[str, DbUrlSource] | None:
    """The URL and where it came from (see the module doc for the order), or None
    when none was given. `source` is click's source of the --db value."""
    from_command_line = db_url is not None and source is ParameterSource.COMMANDLINE
    if db_url_file is not None:
        if from_command_line:
            raise click.UsageError("give the database as --db or as --db-url-file, not both")
        return check_db_url(read_db_url_file(db_url_file), "--db-url-file"), DbUrlSource.FILE
    if db_url is None:
        return None
    if from_command_line:
        warn_password_on_command_line(db_url, "--db")
        return check_db_url(db_url, "--db"), DbUrlSource.COMMAND_LINE
    return check_db_url(db_url, DB_URL_ENV), DbUrlSource.ENVIRONMENT


@contextmanager
def database_errors() -> Iterator[None]:
    """A database that cannot be reached or used (server down, wrong password, no
    such file, locked) ends the command with the driver's own words, not a traceback;
    one that cannot be written (the write check at open: read-only, disk full) with
    what to fix. Only those: anything else is a bug and keeps its traceback."""
    from sqlalchemy.exc import OperationalError

    from sailau.ballot_box.db import StorageUnavailable

    try:
        yield
    except StorageUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except OperationalError as exc:
        reason = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
        raise click.ClickException(f"cannot use the database: {reason[0] if reason else type(exc).__name__}") from None


def db_url_source(ctx: click.Context | None = None) -> DbUrlSource | None:
    """Where the running command's database URL came from (None: not given)."""
    ctx = ctx or click.get_current_context()
    return ctx.meta.get(_SOURCE_KEY)


def db_url_option(what: str = "station database", *, required: bool = True) -> Callable[[F], F]:
    """Add --db (also read from SAILAU_DB_URL) and --db-url-file to a command; the
    command receives one resolved ``db_url`` (None only when not `required`).

    Use it in place of a ``click.option("--db", "db_url", ...)``.
    """
    what_cap = what[:1].upper() + what[1:]

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, db_url: str | None, db_url_file: Path | None, **kwargs: Any) -> Any:
            ctx = click.get_current_context()
            resolved = resolve_db_url(db_url, db_url_file, ctx.get_parameter_source("db_url"))
            if resolved is None:
                if required:
                    raise click.UsageError(
                        f"no {what} given: pass --db URL or --db-url-file FILE, or set {DB_URL_ENV}"
                    )
                return command(*args, db_url=None, **kwargs)
            ctx.meta[_SOURCE_KEY] = resolved[1]
            with database_errors():
                return command(*args, db_url=resolved[0], **kwargs)

        wrapper = click.option(
            "--db-url-file", "db_url_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help=f"File holding the {what} URL on one line, instead of --db (chmod 600 if it has a password).",
        )(wrapper)
        wrapper = click.option(
            "--db", "db_url", envvar=DB_URL_ENV, show_envvar=True, metavar="URL",
            help=f"{what_cap} URL: sqlite:///FILE or postgresql+psycopg://HOST/DB. A URL with a password "
                 f"belongs in {DB_URL_ENV} or --db-url-file, not on the command line (other users can see it).",
        )(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def read_election(path: Path) -> Election:
    """The election definition at `path`; a definition that is refused, or a file that
    cannot be read, is a plain error naming it (never a traceback)."""
    from sailau.election.definition import DefinitionError, load_election

    try:
        return load_election(path)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{path}: cannot read ({exc.strerror})") from None
