"""`sailau commission`: import signed protocols, report results, synthesize an election.

Thin over `sailau.commission`; every refusal is printed with its named reason and
the command exits 1 if anything was refused (2 for unusable input).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .options import db_url_option


@click.group()
def commission() -> None:
    """Territorial and central election commissions: signed protocols in, seats out."""


@commission.command("import")
@click.argument("protocols", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_url_option("commission database")
@click.option("--election", "election_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Election definition (required on the first import).")
@click.option("--stations", "stations_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Station key registry (required on the first import).")
@click.option("--chunk", default=500, show_default=True, help="Protocols per transaction.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_cmd(protocols: tuple[Path, ...], db_url: str, election_path: Path | None, stations_path: Path | None, chunk: int, quiet: bool) -> None:
    """Check and import signed precinct PROTOCOL files (a directory stands for its protocols/*.json).

    On the first import into a new database give --election and --stations; if a
    single directory holding election.json and stations.json is given, they are
    taken from there.
    """
    from sailau.commission.db import CommissionDBError, open_commission_db
    from sailau.commission.importer import import_protocols, protocol_files
    from sailau.commission.registry import RegistryError, load_registry
    from sailau.election.definition import DefinitionError, load_election

    if election_path is None and len(protocols) == 1 and (protocols[0] / "election.json").is_file():
        election_path = protocols[0] / "election.json"
    if stations_path is None and len(protocols) == 1 and (protocols[0] / "stations.json").is_file():
        stations_path = protocols[0] / "stations.json"
    try:
        election = load_election(election_path) if election_path else None
        registry = load_registry(stations_path) if stations_path else None
    except (DefinitionError, RegistryError, OSError) as e:
        raise click.ClickException(str(e)) from None
    files = protocol_files(protocols)
    show = not quiet and len(files) >= 50
    try:
        with open_commission_db(db_url) as db:
            if show:
                with click.progressbar(length=len(files), label="importing protocols", file=sys.stderr) as bar:
                    last = [0]

                    def progress(n: int) -> None:
                        bar.update(n - last[0])
                        last[0] = n

                    summary = import_protocols(db, files, election=election, registry=registry, chunk_size=chunk, progress=progress)
            else:
                summary = import_protocols(db, files, election=election, registry=registry, chunk_size=chunk)
    except CommissionDBError as e:
        raise click.ClickException(str(e)) from None
    for refusal in summary.refused:
        click.echo(str(refusal), err=True)
    click.echo(f"imported {len(summary.imported)}, unchanged {len(summary.unchanged)}, refused {len(summary.refused)}")
    if summary.refused:
        sys.exit(1)


@commission.command("report")
@db_url_option("commission database")
@click.option("--level", type=click.Choice(["national", "region", "district"]), default="national", show_default=True,
              help="Territorial level of the totals: the whole country, each region, or each district.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the report JSON here ('-' for stdout).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Write an HTML report (charts as PNG/SVG beside it).")
def report_cmd(db_url: str, level: str, json_out: Path | None, html_out: Path | None) -> None:
    """Totals per unit, turnout, seats by the election's law, missing precincts."""
    from sailau.commission.aggregate import LevelError
    from sailau.commission.db import CommissionDBError, open_commission_db
    from sailau.commission.report import commission_report, report_json_bytes

    try:
        with open_commission_db(db_url) as db:
            report = commission_report(db, level)
    except (CommissionDBError, LevelError) as e:
        raise click.ClickException(str(e)) from None
    if json_out is not None:
        if str(json_out) == "-":
            sys.stdout.buffer.write(report_json_bytes(report))
        else:
            json_out.write_bytes(report_json_bytes(report))
    if html_out is not None:
        from sailau.commission.html import write_html

        charts = write_html(report, html_out)
        click.echo(f"wrote {html_out} and {len(charts)} charts in {html_out.with_name(html_out.stem + '-charts')}", err=True)
    if json_out is None or str(json_out) != "-":
        _print_summary(report)


def _print_summary(report: dict) -> None:
    pr = report["precincts"]
    click.echo(f"{report['election']['id']}: {pr['reported']} of {pr['expected']} precincts reported"
               + ("" if report["complete"] else f" ({len(pr['missing'])} missing)")
               + (f", turnout {report['turnout_percent']:.2f} %" if report["turnout_percent"] is not None else ""))
    for party, votes in report["totals"].items():
        click.echo(f"  {party:<12} {votes:>12,}  {report['seats'].get(party, 0):>3} seats")
    if "error" in report["allocation"]:
        click.echo(f"  no seat allocation: {report['allocation']['error']}")


@commission.command("synth")
@click.option("--table", "table_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CSV: region,<party id>... in registration order.")
@click.option("--precincts", required=True, type=click.IntRange(min=1),
              help="Number of precincts to make (at least one per region of the table).")
@click.option("--seed", required=True, type=int, help="Random seed: the same seed and table give the same set, byte for byte.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Empty directory for the published set (election.json, stations.json, protocols/) and, apart, private/.")
@click.option("--election-id", default="kz-majilis-synth", show_default=True, help="Id of the synthetic election.")
@click.option("--law", type=click.Choice(["kz-majilis-2007", "kz-majilis-2009"]), default="kz-majilis-2009", show_default=True,
              help="Electoral law the seats are allocated by.")
def synth_cmd(table_path: Path, precincts: int, seed: int, out: Path, election_id: str, law: str) -> None:
    """Write a synthetic published set whose per-region totals equal the table."""
    from sailau.commission.synth import SynthError, TableError, read_table, synthesize

    try:
        table = read_table(table_path)
        result = synthesize(table, precincts, seed, out, election_id=election_id, law=law)
    except (TableError, SynthError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {len(result.protocol_paths)} signed protocols, {result.election_path.name}, {result.registry_path.name} in {out}")
    click.echo(f"private station keys (not for publication): {result.private_keys_path}")
