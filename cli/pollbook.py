"""`sailau pollbook`: import the precinct's voter list, search it, show turnout.

Thin over `sailau.ballot_box.pollbook`; a bad file lists every bad row and
imports nothing.
"""

from __future__ import annotations

from pathlib import Path

import click

from sailau.ballot_box import pollbook as book
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.iin import InvalidIIN
from sailau.ballot_box.refusal import Refused
from sailau.ballot_box.store import StoreError

from .options import db_url_option


@click.group()
def pollbook() -> None:
    """The station's list of voters."""


@pollbook.command("import")
@db_url_option()
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_(db_url: str, csv_path: Path) -> None:
    """Import CSV_PATH (IIN, surname, given name, patronymic, birth date YYYY-MM-DD)."""
    with open_station_db(db_url) as db:
        try:
            count = book.import_voters(db, csv_path)
        except book.PollbookImportError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"imported {count} voters from {csv_path}")


@pollbook.command()
@db_url_option()
@click.argument("query")
def find(db_url: str, query: str) -> None:
    """Find voters by IIN (12 digits) or by "surname [given name]" prefix."""
    with open_station_db(db_url) as db:
        try:
            voters = book.search(db, query)
        except InvalidIIN as exc:
            raise click.ClickException(str(exc)) from None
    if not voters:
        click.echo("no voter found")
    for v in voters:
        mark = "checked in" if v.checked_in else ""
        click.echo(f"{v.iin}  {v.surname} {v.given_name} {v.patronymic}  {v.birth_date.isoformat()}  {mark}".rstrip())


@pollbook.command()
@db_url_option()
def turnout(db_url: str) -> None:
    """Check-ins per hour."""
    with open_station_db(db_url) as db:
        buckets = book.turnout(db)
    total = 0
    for bucket in buckets:
        total += bucket.count
        click.echo(f"{bucket.hour}  {bucket.count:6d}  (total {total})")


@pollbook.command()
@db_url_option()
@click.option("--iin", required=True, help="the voter's IIN (12 digits)")
@click.option("--surname", required=True, help="surname as in the identity document")
@click.option("--given-name", required=True, help="given name as in the identity document")
@click.option("--patronymic", default="", help="patronymic (may be empty)")
@click.option("--birth-date", required=True, help="birth date YYYY-MM-DD (must match the IIN)")
def add(db_url: str, iin: str, surname: str, given_name: str, patronymic: str, birth_date: str) -> None:
    """Add a voter to the additional list on election day."""
    with open_station_db(db_url) as db:
        try:
            voter = book.add_voter(db, iin, surname, given_name, patronymic, birth_date)
        except (Refused, book.InvalidVoterEntry, InvalidIIN, StoreError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"added to the additional list: {voter.surname} {voter.given_name}")
