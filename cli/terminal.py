"""`sailau terminal`: the voting-booth kiosk on a PC/SC reader, or served to a
kiosk browser with textual-serve (`--serve`).

    sailau terminal --election FILE --terminal-key FILE --reader NAME --precinct N

Thin over `sailau.terminal`: loads the definition and the terminal's signing
key, checks the precinct, runs the app. Every setup problem (definition, key,
precinct, timeouts) exits non-zero with a message naming it. The card service
and the reader are not setup problems: they come and go while the booth is open,
so the kiosk starts without them, shows voters and poll workers what is missing
(in the browser too: never a splash screen that stays), and goes on by itself
when they are back; the problem is also printed here for the technician.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from .log_options import log_options


@click.command("terminal")
@click.option("--election", "election_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Election definition JSON (the same file every station loads).")
@click.option("--terminal-key", "key_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="This terminal's Ed25519 signing key (sailau keys terminal).")
@click.option("--reader", required=True, help="PC/SC reader name, or a unique prefix of one.")
@click.option("--precinct", required=True, type=int, help="Number of the precinct this booth stands in.")
@click.option("--idle-timeout", default=120.0, show_default=True, type=click.FloatRange(min=5),
              help="Seconds of inactivity after which the voter's choices are cleared.")
@click.option("--idle-warning", default=30.0, show_default=True, type=click.FloatRange(min=0),
              help="Warn this many seconds before the timeout.")
@click.option("--serve", is_flag=True, help="Serve the kiosk over HTTP for a kiosk browser (textual-serve).")
@click.option("--host", default="127.0.0.1", show_default=True, help="With --serve: address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="With --serve: port to listen on.")
@log_options("sailau-terminal.log next to the terminal key file")
def terminal(election_path: Path, key_path: Path, reader: str, precinct: int, idle_timeout: float,
             idle_warning: float, serve: bool, host: str, port: int, operator_log: Path | None,
             log_level: str | None) -> None:
    """Run the voting-booth kiosk."""
    from sailau.election.crypto import KeyFileError, load_signing_key
    from sailau.election.definition import DefinitionError, ElectionLookupError, load_election
    from sailau.terminal.session import TerminalConfig

    try:
        election = load_election(election_path)
    except OSError as exc:
        raise click.ClickException(f"cannot read election definition {election_path}: {exc.strerror}") from None
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        key = load_signing_key(key_path)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        config = TerminalConfig(election, precinct, key, idle_timeout=idle_timeout, idle_warning=idle_warning)
    except ElectionLookupError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None

    from sailau.terminal.cards import PcscCardSource

    source = PcscCardSource(reader)
    status = source.status()
    if not status.ready:
        click.echo(f"card reader {reader!r} not ready ({status.problem}): {status.detail}; "
                   "the kiosk shows it and goes on once it is fixed", err=True)

    if serve:
        from textual_serve.server import Server

        command = shlex.join([
            sys.executable, "-m", "sailau.cli.main", "terminal",
            "--election", str(election_path.resolve()), "--terminal-key", str(key_path.resolve()),
            "--reader", reader, "--precinct", str(precinct),
            "--idle-timeout", str(idle_timeout), "--idle-warning", str(idle_warning),
            *(["--operator-log", str(operator_log.resolve())] if operator_log else []),
            *(["--log-level", log_level] if log_level else []),
        ])
        click.echo(f"serving the kiosk on http://{host}:{port}", err=True)
        Server(command, host=host, port=port, title=f"Sailau {election.id} / {precinct}").serve()
        return

    from sailau.election.oplog import LogSettings
    from sailau.terminal import oplog
    from sailau.terminal.app import KioskApp
    from sailau.terminal.session import TerminalSession

    log = LogSettings.resolve(operator_log, log_level, key_path.parent / oplog.FILE_NAME)
    try:
        handler = oplog.open_operator_log(log)
    except OSError as exc:
        raise click.BadParameter(f"{log.path}: cannot be written ({exc.strerror})", param_hint="--operator-log") from None
    try:
        KioskApp(TerminalSession(config), source).run()
    except Exception as exc:  # the kiosk died: the technician finds why in the log
        oplog.failure("kiosk", exc)
        raise
    finally:
        oplog.close_operator_log(handler)
