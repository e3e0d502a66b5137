"""`sailau verify DIR`: the observer's check of a published set of results.

Exit 0 when every check passes (and the official report, if given, matches the
recomputation), 1 when there are findings, 2 when the set cannot be read or its
station key registry is not signed under the root the definition names (the
error names `registry:<problem>`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command("verify")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--report", "official", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="The commission's official report JSON to compare with.")
@click.option("--level", type=click.Choice(["national", "region", "district"]), help="Level to recompute (default: the official report's, else national).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the recomputed report here.")
@click.option("--max-findings", default=50, show_default=True, help="Findings printed per kind (all are counted).")
def verify(directory: Path, official: Path | None, level: str | None, json_out: Path | None, max_findings: int) -> None:
    """Recompute every signature, relation, total and seat from the published files in DIRECTORY
    (election.json, stations.json, protocols/, receipts/, decisions/) and report every difference.
    Only the election definition is taken on trust: it names the key the registry must be signed by."""
    from sailau.commission.report import report_json_bytes
    from sailau.commission.verify import VerifyError, verify_published

    try:
        result = verify_published(directory, official, level)
    except VerifyError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(2)
    if json_out is not None:
        json_out.write_bytes(report_json_bytes(result.report))
    shown: dict[str, int] = {}
    for f in result.findings:
        shown[f.kind] = shown.get(f.kind, 0) + 1
        if shown[f.kind] <= max_findings:
            click.echo(str(f))
    for kind, n in sorted(shown.items()):
        if n > max_findings:
            click.echo(f"[{kind}] ... {n - max_findings} more")
    for note in result.notes:
        click.echo(f"note: {note}")
    r = result.report
    click.echo(
        f"{result.election.id}: {result.protocols_counted} protocols counted of {r['precincts']['expected']}; "
        + ", ".join(f"{r['parties'].get(p, p)} {v:,} ({r['seats'].get(p, 0)} seats)" for p, v in r["totals"].items())
    )
    for line in r.get("outcome", {}).get("lines", []):  # presidential and referendum: recomputed here
        click.echo(f"  {line}")
    if result.ok:
        click.echo("OK: every check passed" + (" and the official report matches" if official else ""))
    else:
        click.echo(f"FAILED: {len(result.findings)} findings ({', '.join(f'{k} {n}' for k, n in sorted(shown.items()))})")
        sys.exit(1)
