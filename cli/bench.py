"""`sailau bench`: thin CLI over sailau.simulator.bench (see its docstring)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sailau.simulator.bench import BENCHMARKS, LABELS, BenchConfig, BenchConfigError, render_table, run_bench

from .options import warn_password_on_command_line

PG_URL_ENV = "SAILAU_BENCH_PG_URL"


def _only(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset(BENCHMARKS)
    return frozenset(name.strip() for name in value.split(",") if name.strip())


@click.command("bench")
@click.option("--quick", is_flag=True, help="Few iterations and small sizes (tests, CI).")
@click.option("--only", "only", metavar="NAME,...", help=f"Run only these benchmarks: {', '.join(BENCHMARKS)}.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the figures as JSON here.")
@click.option("--pcsc/--no-pcsc", default=True, show_default=True, help="Also time APDUs through pcscd + vpcd (started if needed).")
@click.option("--postgres/--no-postgres", default=True, show_default=True, help="Also time the cast path on PostgreSQL.")
@click.option("--pg-url", envvar=PG_URL_ENV, show_envvar=True, metavar="URL",
              help="PostgreSQL server URL whose role may CREATE DATABASE (default: start the local packaged cluster). "
                   f"With a password, set {PG_URL_ENV} instead: a command line is visible to other users.")
@click.option("--runs", type=int, help="Repeats of whole-run benchmarks (close, commission, peer); default 3, quick 2.")
@click.option("--close-ballots", type=int, help="Ballots at close of polls (default 3,000).")
@click.option("--commission-precincts", type=int, help="Precinct protocols to import (default 200; commission/bench.py measures 10,060).")
@click.option("--network-precincts", type=int,
              help="Precincts submitting over loopback to the commission server (default 10,060; quick 30).")
@click.option("--peer-ballots", type=int, help="Ballots per run for the ElectionGuard comparison (default 10).")
def bench(quick: bool, only: str | None, json_out: Path | None, pcsc: bool, postgres: bool, pg_url: str | None,
          runs: int | None, close_ballots: int | None, commission_precincts: int | None, network_precincts: int | None,
          peer_ballots: int | None) -> None:
    """Measure card round trips, the cast path, seal + sign, bytes per voter, close of
    polls, commission import and ElectionGuard side by side (median and p95)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if click.get_current_context().get_parameter_source("pg_url") is click.core.ParameterSource.COMMANDLINE:
        warn_password_on_command_line(pg_url, "--pg-url", f"set {PG_URL_ENV} instead")
    try:
        config = BenchConfig(quick=quick, only=_only(only), pcsc=pcsc, postgres=postgres, pg_url=pg_url, runs=runs,
                             close_ballots=close_ballots, commission_precincts=commission_precincts,
                             network_precincts=network_precincts, peer_ballots=peer_ballots)
    except BenchConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    selected = [name for name in BENCHMARKS if name in config.only]
    console = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(selected))
        done = {"n": 0}

        def step(name: str) -> None:
            if done["n"]:
                progress.advance(task)
            done["n"] += 1
            progress.update(task, description=f"{name}: {LABELS[name]}")

        report = run_bench(config, on_step=step)
        progress.advance(task)
    Console().print(render_table(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        console.print(f"figures written to {json_out}")
