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
    if summary.turnout:
        from sailau.commission.turnout import turnout_report

        with open_commission_db(db_url) as db:
            _print_turnout(turnout_report(db, db.bound_election()[0]), by_region=True)
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
    for t in summary.turnout_conflicts:
        click.echo(f"precinct {t.precinct}: turnout at {t.hour}: conflict: {t.why}", err=True)
    line = f"imported {len(summary.imported)}, unchanged {len(summary.unchanged)}, refused {len(summary.refused)}"
    extra = [(len(summary.conflicts), "in conflict"), (len(summary.resolved), "resolved by decision"),
             (len(summary.decisions), "decisions stored"), (len(summary.receipts), "receipt-list problems"),
             (sum(not t.unchanged for t in summary.turnout), "turnout reports stored"),
             (sum(t.unchanged for t in summary.turnout), "turnout reports unchanged")]
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
    if html_out is not None and "outcome" in report:
        raise click.ClickException(f"--html draws Mäjilis seats; the report of {report['election']['id']} "
                                   f"(law {report['election']['law']}) is in --json and the summary")
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
    for line in report.get("outcome", {}).get("lines", []):  # presidential and referendum (commission/outcome.py)
        click.echo(f"  {line}")
    if "error" in report["allocation"]:
        click.echo(f"  no seat allocation: {report['allocation']['error']}")
    elif "outcome" not in report:  # a party-list report: the law's lines in words
        click.echo(f"  {allocation_text(report['allocation'], names)}")


def _print_turnout(report: dict, by_region: bool) -> None:
    """Turnout by the CEC's hours: national, then (by_region) one line per region."""
    click.echo(f"turnout by hour ({report['expected_precincts']} precincts expected):")
    for hour, e in report["national"].items():
        pct = f"{e['percent']:.2f} %" if e["percent"] is not None else "-"
        click.echo(f"  {hour}  {pct:>8}  {e['received_ballot']:>12,} of {e['voters_on_list']:>12,}  ({e['precincts']} precincts)")
    if by_region:
        for region, hours in report["regions"].items():
            cells = "  ".join(f"{h[11:16]} {e['percent']:.2f} %" if e["percent"] is not None else f"{h[11:16]} -"
                              for h, e in hours.items())
            click.echo(f"  {region:<16} {cells}")
    for c in report["conflicts"]:
        click.echo(f"  precinct {c['precinct']} at {c['hour']}: two different signed reports, neither counts", err=True)


@commission.command("turnout")
@db_url_option("commission database")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write turnout by hour and region as JSON here ('-' for stdout).")
def turnout_cmd(db_url: str, json_out: Path | None) -> None:
    """Turnout at the CEC's hours, nationally and by region, from the signed turnout reports imported."""
    import json

    from sailau.commission.db import CommissionDBError, open_commission_db
    from sailau.commission.turnout import turnout_report

    try:
        with open_commission_db(db_url) as db:
            report = turnout_report(db, db.bound_election()[0])
    except CommissionDBError as e:
        raise click.ClickException(str(e)) from None
    data = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if json_out is not None and str(json_out) == "-":
        sys.stdout.buffer.write(data)
        return
    if json_out is not None:
        json_out.write_bytes(data)
    _print_turnout(report, by_region=True)


@commission.command("export")
@db_url_option("commission database")
@click.option("--nist", "nist_out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Write the NIST SP 1500-100 v2 results report (JSON) of every counted protocol here ('-' for stdout).")
@click.option("--issuer", default="Central Election Commission of the Republic of Kazakhstan", show_default=True,
              help="The commission issuing the report (the report's Issuer).")
@click.option("--issuer-abbreviation", default="CEC", show_default=True, help="Its abbreviation (IssuerAbbreviation).")
def export_cmd(db_url: str, nist_out: Path, issuer: str, issuer_abbreviation: str) -> None:
    """Export the counted protocols as a precinct-level NIST SP 1500-100 v2 results report."""
    import json

    from sailau.commission.db import CommissionDBError, open_commission_db
    from sailau.commission.export import commission_nist_report

    try:
        with open_commission_db(db_url) as db:
            report = commission_nist_report(db, issuer, issuer_abbreviation)
    except CommissionDBError as e:
        raise click.ClickException(str(e)) from None
    data = (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    if str(nist_out) == "-":
        sys.stdout.buffer.write(data)
        return
    nist_out.write_bytes(data)
    click.echo(f"wrote {nist_out}: {report['Status']}, {sum(u['Type'] == 'precinct' for u in report['GpUnit'])} precincts")


@commission.command("serve")
@db_url_option("commission database")
@click.option("--setup", "setup_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Directory holding election.json and stations.json (as commission synth and the publication write them).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep loopback behind a TLS reverse proxy).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port to listen on.")
@click.option("--upstream", metavar="URL", help="Base URL of the next commission up: every file stored here is forwarded to it unchanged.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (each checks signatures on its own core; they share the database).")
@click.option("--forwarded-allow-ips", default="127.0.0.1", show_default=True,
              help="Proxies whose X-Forwarded-For/-Proto headers are believed (the reverse proxy's address).")
def serve_cmd(db_url: str, setup_dir: Path, host: str, port: int, upstream: str | None, workers: int,
              forwarded_allow_ips: str) -> None:
    """Serve the commission: stations POST signed protocols and turnout reports, anyone GETs results.

    Plain HTTP on HOST:PORT; put it behind a TLS reverse proxy (commission/README.md).
    """
    import os

    import uvicorn

    from sailau.commission.db import CommissionDBError
    from sailau.commission.server import SetupError, create_app

    common = {"host": host, "port": port, "proxy_headers": True, "forwarded_allow_ips": forwarded_allow_ips,
              "log_level": "info", "access_log": False}
    try:
        if workers == 1:
            app = create_app(db_url, setup_dir, upstream=upstream)
            click.echo(f"commission server for {app.state.ctx.definition.id} on http://{host}:{port}", err=True)
            uvicorn.run(app, **common)
            return
        create_app(db_url, setup_dir, upstream=upstream).state.ctx.db.close()  # refuse a bad set-up before forking
    except (SetupError, CommissionDBError) as e:
        raise click.ClickException(str(e)) from None
    os.environ.update({"SAILAU_DB_URL": db_url, "SAILAU_SETUP_DIR": str(setup_dir), "SAILAU_UPSTREAM": upstream or ""})
    uvicorn.run("sailau.commission.server:app_from_environment", factory=True, workers=workers, **common)


@commission.command("synth")
@click.option("--table", "table_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="CSV: region,<party>... in registration order; regions and parties by name "
                   "('Akmola Region', 'Ақмола облысы / Акмолинская область / Akmola Region', 'NO = Nur Otan #1565c0'), ids made from names.")
@click.option("--precincts", required=True, type=click.IntRange(min=1),
              help="Number of precincts to make (at least one per region of the table).")
@click.option("--seed", required=True, type=int, help="Random seed: the same seed and table give the same set, byte for byte.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Empty directory for the published set (election.json, stations.json, protocols/, receipts/) and, apart, private/.")
@click.option("--election-id", default=None, help="Id of the synthetic election [default: kz-majilis-synth, or <law>-synth].")
@click.option("--law", type=click.Choice(["kz-majilis-2007", "kz-majilis-2009", "kz-president-1995", "kz-president-2022",
                                          "kz-referendum"]), default="kz-majilis-2009", show_default=True,
              help="Electoral law: Mäjilis list seats, a presidential election (columns: candidate ids, and AGAINST_ALL "
                   "under 2022) or a referendum question (columns: yes,no).")
@click.option("--constitutional/--not-constitutional", default=True, show_default=True,
              help="Referendum: whether the question amends the Constitution (two thirds of the regions).")
def synth_cmd(table_path: Path, precincts: int, seed: int, out: Path, election_id: str | None, law: str,
              constitutional: bool) -> None:
    """Write a synthetic published set whose per-region totals equal the table."""
    from sailau.commission.synth import SynthError, TableError, read_table, synthesize

    if election_id is None:
        election_id = "kz-majilis-synth" if law.startswith("kz-majilis") else f"{law}-synth"
    try:
        table = read_table(table_path)
        result = synthesize(table, precincts, seed, out, election_id=election_id, law=law, constitutional=constitutional)
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
