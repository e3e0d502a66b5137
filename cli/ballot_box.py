"""`sailau ballot-box`: the clerk app of the registration-table station.

Thin: load the election, the keys and the database, bind a `Station`, wire the
PC/SC reader (transport + ReaderWatcher) and run `ClerkApp`.

Everything the station will need is checked before the first voter, in this order,
each failure a plain error and exit 1: the operator log can be appended to; the
election and the key files can be read; the database takes a write (db.probe_write:
a real commit, since a mode bit says nothing to root); the protocol folder can be
written; the reader is there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from sailau.election import crypto
from sailau.election.definition import DefinitionError, load_election

from .log_options import log_options
from .options import db_url_option, read_card_master_key


@click.command("ballot-box")
@click.option("--election", "election_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, help="Election definition JSON.")
@db_url_option()
@click.option("--reader", "reader", required=True, help="PC/SC reader name (or a unique prefix) of the ballot-box reader.")
@click.option("--precinct", type=int, default=None, help="Precinct number (needed the first time; later read from the database).")
@click.option("--station-key", "station_key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, envvar="SAILAU_STATION_KEY", help="Station Ed25519 private key (PEM), signs the protocol.")
@click.option("--card-master-key", "master_key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              required=True, envvar="SAILAU_CARD_MASTER_KEY", help="Card master key file (AES, raw or hex): issues and clears cards.")
@click.option("--terminal-key", "terminal_keys", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              multiple=True, help="A booth terminal's public key (.pub PEM) to enrol when the polls open; repeatable.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the protocol files at close of polls (default: ./protocol-<precinct>).")
@click.option("--lang", "language", type=click.Choice(["kk", "ru", "en"]), default="kk", show_default=True,
              help="Starting UI language (F2 switches).")
@click.option("--commission-url", "commission_url", envvar="SAILAU_COMMISSION_URL", default=None, metavar="URL",
              help="The commission server the protocol screen's \"Send to commission\" submits to "
                   "(e.g. https://tik-7.example.kz); also $SAILAU_COMMISSION_URL. Optional: without it "
                   "the files stay in --out for `sailau station submit`.")
@log_options("sailau-operator.log next to a SQLite station database, else in the working folder")
def ballot_box(election_path: Path, db_url: str, reader: str, precinct: int | None, station_key_path: Path,
               master_key_path: Path, terminal_keys: tuple[Path, ...], out_dir: Path | None, language: str,
               commission_url: str | None, operator_log: Path | None, log_level: str | None) -> None:
    """Run the clerk app: open polls, check voters in, issue and cast cards, close polls."""
    from sailau.ballot_box import oplog
    from sailau.ballot_box.app import ClerkApp
    from sailau.ballot_box.db import open_station_db
    from sailau.ballot_box.station import Station, StationMismatch, TerminalKey
    from sailau.ballot_box.store import StationNotSetUp
    from sailau.smartcard.errors import CardError
    from sailau.smartcard.events import CardEventCallback, ReaderWatcher
    from sailau.smartcard.pcsc import PcscTransport, list_readers, resolve_reader

    log = oplog.LogSettings.resolve(operator_log, log_level, oplog.default_path(db_url))
    try:
        log_handler = oplog.open_operator_log(log)
    except OSError as exc:
        raise click.BadParameter(f"{log.path}: cannot be written ({exc.strerror})",
                                 param_hint="--operator-log") from None
    try:
        election = load_election(election_path)
        station_key = crypto.load_signing_key(station_key_path)
        terminals = [TerminalKey(crypto.ed25519_public_bytes(crypto.load_verify_key(p)), p.stem) for p in terminal_keys]
    except (DefinitionError, crypto.KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    master_key = read_card_master_key(master_key_path, "--card-master-key")
    db = open_station_db(db_url)
    try:
        if precinct is None:
            try:
                station = Station.attach(db, election, station_key, master_key)
            except StationNotSetUp:
                raise click.UsageError("this database is new: give --precinct N the first time") from None
        else:
            station = Station(db, election, precinct, station_key, master_key)
    except StationMismatch as exc:
        db.close()
        raise click.ClickException(str(exc)) from None
    except BaseException:
        db.close()
        raise

    def watch(callback: CardEventCallback) -> Callable[[], None]:
        watcher = ReaderWatcher(resolved, callback)
        watcher.start()
        return watcher.stop

    out_dir = out_dir or Path(f"protocol-{station.precinct}")
    problem = _unwritable_folder(out_dir)
    if problem is not None:
        db.close()
        raise click.BadParameter(f"{out_dir}: the protocol cannot be written there ({problem})", param_hint="--out")
    try:  # fail before the UI if pcscd or the reader is missing
        resolved = resolve_reader(reader, list_readers())
    except CardError as exc:
        db.close()
        raise click.ClickException(str(exc)) from None
    app = ClerkApp(station, PcscTransport(resolved), terminal_keys=terminals, language=language,
                   out_dir=out_dir, watch=watch, commission_url=commission_url)
    try:
        app.run()
    finally:
        db.close()
        oplog.close_operator_log(log_handler)


def _unwritable_folder(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (made if missing), or None: a real file
    is created and removed, since a permission bit says nothing to root."""
    import os
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".sailau-write-check-", dir=folder)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
