"""`sailau audit`: verify and export the ballot-box station's audit hash chain.

Thin over `sailau.ballot_box.audit`. `verify` exits 1 naming the first bad
event; reading a database never migrates it.
"""

from __future__ import annotations

from pathlib import Path

import click

from sailau.ballot_box import audit as chain
from sailau.ballot_box.db import SchemaNotCurrent, open_station_db

from .options import DbUrlSource, db_url_option, db_url_source


@click.group()
def audit() -> None:
    """Verify or export the station's audit log."""


@audit.command()
@db_url_option(required=False)
@click.option("--file", "file_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="exported JSON-lines file")
@click.option("--head", "head_hash", help="expected hash of the last event (e.g. from the signed protocol): catches a cut-off tail")
def verify(db_url: str | None, file_path: Path | None, head_hash: str | None) -> None:
    """Recompute every hash and link of the chain, in the station database or in an exported file."""
    if file_path is not None and db_url_source() is DbUrlSource.ENVIRONMENT:
        db_url = None  # SAILAU_DB_URL is a default, not a second source beside --file
    if (db_url is None) == (file_path is None):
        raise click.UsageError("give exactly one of --db URL or --file FILE.jsonl")
    if file_path is not None:
        try:
            report = chain.verify_file(file_path, expected_head=head_hash)
        except chain.AuditFileError as exc:
            raise click.ClickException(str(exc)) from None
        source = str(file_path)
    else:
        db = _open(db_url)
        try:
            report = chain.verify_db(db)
            if report.ok and head_hash is not None and report.head_hash != head_hash:
                report = chain.ChainReport(False, report.count, report.head_seq, report.head_hash, report.head_seq + 1,
                                           f"chain ends in {report.head_hash[:16]}... but the expected head is {head_hash[:16]}...")
        finally:
            db.close()
        source = "database"
    if not report.ok:
        click.echo(f"audit chain BROKEN at seq {report.first_bad_seq} ({source}): {report.problem}", err=True)
        raise SystemExit(1)
    click.echo(f"audit chain OK ({source}): {report.count} events, head seq {report.head_seq}, hash {report.head_hash}")


@audit.command()
@db_url_option()
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="JSON-lines file to write")
def export(db_url: str, out_path: Path) -> None:
    """Write the chain as JSON lines (one event per line, in seq order)."""
    db = _open(db_url)
    try:
        count = chain.export_jsonl(db, out_path)
        _, head = chain.read_head(db)
    finally:
        db.close()
    click.echo(f"exported {count} events to {out_path} (head hash {head})")


def _open(url: str):  # noqa: ANN202
    try:
        return open_station_db(url, migrate_schema=False)
    except SchemaNotCurrent as exc:
        raise click.ClickException(str(exc)) from None
