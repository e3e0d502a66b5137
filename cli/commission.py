"""`sailau commission`: import signed protocols, decide conflicts, report results,
synthesize an election.

Thin over `sailau.commission`; every refusal, conflict and receipt-list problem is
printed with its name and the command exits 1 if there was any (2 for unusable
input).
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
@click.option("--stations", "stations_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Station key registry signed under the election's registry root (required on the first import).")
@click.option("--decision", "decision_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A signed conflict decision (sailau commission decide) to import too; repeatable. "
                   "A published directory brings its decisions/ by itself.")
@click.option("--receipts", "receipt_paths", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A precinct's receipt list (the receipts.json a ballot box writes) to check against the commitment "
                   "its imported protocol signs; repeatable. A published directory brings its receipts/ by itself.")
@click.option("--chunk", default=500, show_default=True, help="Protocols per transaction.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def import_cmd(protocols: tuple[Path, ...], db_url: str, election_path: Path | None, stations_path: Path | None,
               decision_paths: tuple[Path, ...], receipt_paths: tuple[Path, ...], chunk: int, quiet: bool) -> None:
    """Check and import signed precinct PROTOCOL files (a directory stands for its
    protocols/, and brings its decisions/ and receipts/ to check too).

    On the first import into a new database give --election and --stations; if a
    single directory holding election.json and stations.json is given, they are
    taken from there. The registry must be signed under the root the definition
    names. Two different valid protocols for one precinct are a conflict: neither
    counts until a signed decision names one.
    """
    from sailau.commission.db import CommissionDBError, open_commission_db
    from sailau.commission.importer import import_protocols, published_files
    from sailau.commission.registry import RegistryError, load_registry
    from sailau.election.definition import DefinitionError, load_election

    if election_path is None and len(protocols) == 1 and (protocols[0] / "election.json").is_file():
        election_path = protocols[0] / "election.json"
    if stations_path is None and len(protocols) == 1 and (protocols[0] / "stations.json").is_file():
        stations_path = protocols[0] / "stations.json"
    try:
        election = load_election(election_path) if election_path else None
    except (DefinitionError, OSError) as e:
        raise click.ClickException(str(e)) from None
    files = published_files(protocols)
    show = not quiet and len(files.protocols) >= 50
    try:
        with open_commission_db(db_url) as db:
            registry = None
            if stations_path is not None:
                trusted = election if election is not None else db.bound_election()[0]
                try:
                    registry = load_registry(stations_path, trusted)
                except RegistryError as e:
                    raise click.ClickException(f"refused ({e.name}): {e}") from None
            kwargs = {"election": election, "registry": registry, "decisions": decision_paths, "receipts": receipt_paths,
                      "chunk_size": chunk}
            if show:
                with click.progressbar(length=len(files.protocols), label="importing protocols", file=sys.stderr) as bar:
                    last = [0]

                    def progress(n: int) -> None:
                        bar.update(n - last[0])
                        last[0] = n

                    summary = import_protocols(db, protocols, progress=progress, **kwargs)
            else:
                summary = import_protocols(db, protocols, **kwargs)
    except CommissionDBError as e:
        raise click.ClickException(str(e)) from None
    _print_import(summary)
    if not summary.ok:
        sys.exit(1)


def _print_import(summary) -> None:  # noqa: ANN001 - ImportSummary, imported lazily
    for refusal in summary.refused:
        click.echo(str(refusal), err=True)
    for outcome in summary.conflicts:
        files = ", ".join(summary.sources.get(d, f"sha256 {d[:16]}... (imported earlier)") for d in outcome.versions)
        click.echo(f"precinct {outcome.precinct}: conflict: {outcome.why}; protocols: {files}", err=True)
    for n in summary.withdrawn:
        click.echo(f"precinct {n}: its protocol counted until now and no longer does (conflict)", err=True)
    for outcome in summary.resolved:
        click.echo(f"precinct {outcome.precinct}: resolved: {outcome.why}")
    for finding in summary.receipts:
        click.echo(str(finding), err=True)
    line = f"imported {len(summary.imported)}, unchanged {len(summary.unchanged)}, refused {len(summary.refused)}"
    extra = [(len(summary.conflicts), "in conflict"), (len(summary.resolved), "resolved by decision"),
             (len(summary.decisions), "decisions stored"), (len(summary.receipts), "receipt-list problems")]
    click.echo(line + "".join(f", {label} {n}" for n, label in extra if n))


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
    conflicts = f", {len(pr['conflicts'])} of them in conflict: {', '.join(map(str, pr['conflicts'][:10]))}" if pr["conflicts"] else ""
    click.echo(f"{report['election']['id']}: {pr['reported']} of {pr['expected']} precincts reported"
               + ("" if report["complete"] else f" ({len(pr['missing'])} missing{conflicts})")
               + (f", turnout {report['turnout_percent']:.2f} %" if report["turnout_percent"] is not None else ""))
    from sailau.commission.wording import allocation_text

    names = report.get("parties", {})
    width = max((len(names.get(p, p)) for p in report["totals"]), default=12)
    for party, votes in report["totals"].items():
        click.echo(f"  {names.get(party, party):<{width}} {votes:>12,}  {report['seats'].get(party, 0):>3} seats")
    if "error" in report["allocation"]:
        click.echo(f"  no seat allocation: {report['allocation']['error']}")
    else:
        click.echo(f"  {allocation_text(report['allocation'], names)}")


@commission.command("synth")
@click.option("--table", "table_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CSV: region,<party>... in registration order; regions and parties by name "
                   "('Akmola Region', 'Ақмола облысы / Акмолинская область / Akmola Region', 'NO = Nur Otan #1565c0'), ids made from names.")
@click.option("--precincts", required=True, type=click.IntRange(min=1),
              help="Number of precincts to make (at least one per region of the table).")
@click.option("--seed", required=True, type=int, help="Random seed: the same seed and table give the same set, byte for byte.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Empty directory for the published set (election.json, stations.json, protocols/, receipts/) and, apart, private/.")
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
    click.echo(f"wrote {len(result.protocol_paths)} signed protocols and their receipt lists, {result.election_path.name}, "
               f"{result.registry_path.name} (signed by the registry root) in {out}")
    click.echo(f"private keys (not for publication): {result.private_keys_path}, {result.root_key_path}")


@commission.command("decide")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--precinct", required=True, type=click.IntRange(min=1), help="The precinct in conflict.")
@click.option("--count", "counted_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The signed protocol file that counts (one of the precinct's protocols in DIRECTORY).")
@click.option("--grounds", required=True, help="Why, for people: the recount act, the ruling, its number and date.")
@click.option("--root-key", "root_key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The registry root's private key (PKCS#8 PEM): the key the election definition names.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the decision (default DIRECTORY/decisions/precinct-NNNNNN.json).")
def decide_cmd(directory: Path, precinct: int, counted_path: Path, grounds: str, root_key_path: Path, out_path: Path | None) -> None:
    """Sign the commission's decision on a precinct with conflicting protocols.

    DIRECTORY is the published set (election.json, stations.json, protocols/). The
    decision considers every validly signed protocol of PRECINCT found there and
    names the one that counts (--count); import and verify then count it, until
    another version turns up. Never overwrites a file.
    """
    import hashlib

    from sailau.commission.checks import Refusal, check_protocol_file
    from sailau.commission.conflicts import DecisionError, sign_decision
    from sailau.commission.verify import VerifyError, load_published_trust
    from sailau.election import crypto

    try:
        election, registry = load_published_trust(directory)
    except VerifyError as e:
        raise click.ClickException(str(e)) from None
    versions: dict[str, str] = {}
    for path in sorted((directory / "protocols").glob("*.json")):
        checked = check_protocol_file(path.read_bytes(), str(path), election, registry)
        if not isinstance(checked, Refusal) and checked.protocol.precinct == precinct:
            versions.setdefault(checked.digest, str(path))
    counted = hashlib.sha256(counted_path.read_bytes()).hexdigest()
    if counted not in versions:
        raise click.ClickException(f"{counted_path} is not a validly signed protocol of precinct {precinct} in {directory / 'protocols'}")
    if len(versions) < 2:
        raise click.ClickException(f"precinct {precinct} has one valid protocol in {directory}: there is no conflict to decide")
    try:
        root = crypto.load_signing_key(root_key_path)
        decision = sign_decision(election, precinct, versions, counted, grounds, root)
    except (crypto.KeyFileError, DecisionError) as e:
        raise click.ClickException(str(e)) from None
    out = out_path or directory / "decisions" / f"precinct-{precinct:06d}.json"
    if out.exists():
        raise click.ClickException(f"refusing to overwrite {out}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(decision.to_canonical_json())
    click.echo(f"precinct {precinct}: {len(versions)} protocols considered ({', '.join(sorted(versions.values()))}); "
               f"{counted_path} counts")
    click.echo(f"wrote {out}")
