"""`sailau simulate`: a whole polling day with fault injection (thin over sailau.simulator.simulation)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import click

_HELP_ELECTION = ("election definition JSON. Without --shares it is a template: a fresh election key is made "
                  "(so a new fingerprint). Default: the demo election (2021 Mäjilis list + two maslikhat races)")


@click.command()
@click.option("--election", "election_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=_HELP_ELECTION)
@click.option("--shares", "shares_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="folder with the election's key share files (sailau keys election): use --election as it is")
@click.option("--voters", type=click.IntRange(min=1), required=True, help="voters on the list (all of them vote)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed for voters, ballots and faults")
@click.option("--precinct", type=int, default=None, help="precinct number (default: the first of the election)")
@click.option("--pcsc", is_flag=True, help="run every card through real pcscd + vpcd (reader ports 35963/35964)")
@click.option("--faults", "faults_spec", default="",
              help="e.g. tear=0.02,pull=0.02,crash=0.01,corrupt=0.01,replay=0.01,foreign=0.01 (or 'all')")
@click.option("--party-shares", default=None,
              help="weights for the national list, e.g. NO=5148074,AZ=792828,BLANK=1000 (default: 2021 result)")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="keep the signed protocol, NIST JSON, PDF and receipts here")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="write the figures as JSON")
@click.option("--paper", "paper_share", type=click.FloatRange(0, 1), default=0.10, show_default=True,
              help="share of voters at the table who take a paper ballot instead of a card (0: cards only)")
@click.option("--mobile", "mobile_share", type=click.FloatRange(0, 1), default=0.02, show_default=True,
              help="share of voters who ask in writing to vote outside the station (the mobile ballot box)")
@click.option("--spoil", "spoil_share", type=click.FloatRange(0, 1), default=0.05, show_default=True,
              help="share of paper voters who spoil their ballot and exchange it")
@click.option("--count-mistakes", type=click.IntRange(0, 20), default=2, show_default=True,
              help="hand-count lines a member enters wrong (the double entry must catch each, then it is corrected)")
def simulate(election_path: Path | None, shares_dir: Path | None, voters: int, seed: int, precinct: int | None,
             pcsc: bool, faults_spec: str, party_shares: str | None, out_dir: Path | None,
             json_out: Path | None, paper_share: float, mobile_share: float, spoil_share: float,
             count_mistakes: int) -> None:
    """Simulate a polling day: check-in, issue, vote at the terminal, cast; paper voters,
    the mobile ballot box, the hand count entered twice; close, co-sign and compare.

    Exit status 1 if anything was lost, counted twice, differs from the intended
    ballots (or, for paper, from what the ballots in the boxes say), a fraudulent
    card got in, a hand-count mistake went uncaught, or the protocol is not valid.
    """
    from rich.console import Console

    from sailau.simulator.faults import FaultSpecError, parse_fault_spec
    from sailau.simulator.paper_day import PaperShares
    from sailau.simulator.pollbook_gen import SharesSpecError, parse_party_shares
    from sailau.simulator.simulation import PCSC_PORTS, SimulationConfig

    try:
        faults = parse_fault_spec(faults_spec)
        shares = parse_party_shares(party_shares) if party_shares else None
    except (FaultSpecError, SharesSpecError) as exc:
        raise click.BadParameter(str(exc)) from None
    if shares_dir is not None and election_path is None:
        raise click.UsageError("--shares needs --election (the definition those shares open)")
    config = SimulationConfig(voters=voters, seed=seed, election=election_path, shares_dir=shares_dir,
                              precinct=precinct, pcsc=pcsc, faults=faults, party_shares=shares, out_dir=out_dir,
                              paper=PaperShares(paper=paper_share, mobile=mobile_share, spoil=spoil_share,
                                                mistakes=count_mistakes))
    console = Console(stderr=True)
    with contextlib.ExitStack() as leases:
        if pcsc:  # the same locks as test sessions and `sailau bench`: pcscd and both reader slots
            from sailau.simulator.pcsc_lease import LeaseTimeout, SlotBusyError, pcscd_lease, reader_slot
            from sailau.simulator.vpcd import PcscdError

            try:
                leases.enter_context(pcscd_lease())
                for port in PCSC_PORTS:
                    leases.enter_context(reader_slot(port))
            except (PcscdError, LeaseTimeout, SlotBusyError) as exc:
                raise click.ClickException(f"cannot use pcscd + vpcd: {exc}") from None
        report = _run(config, console, voters)
    click.echo(summary(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_json(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    if not report.ok:
        raise SystemExit(1)


def _run(config, console, voters: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from sailau.simulator.simulation import SimulationError, run_simulation

    with Progress(TextColumn("[bold]polling day"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("voters", total=voters)
        try:
            report = run_simulation(config, progress=lambda done, total: bar.update(task, completed=done))
        except (SimulationError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    return report


def summary(report) -> str:  # SimulationReport
    """The readable end-of-day summary."""
    t = report.timings
    lines = [
        f"Polling day: {report.election_id} ({report.election_origin}), precinct {report.precinct}, {report.mode}",
        f"  voters {report.voters}, checked in {report.checked_in}, cards issued {report.issued}, "
        f"ballots cast {report.cast}, cancelled {report.cancelled}, outstanding {report.outstanding}",
        "  voters: " + ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in report.outcomes.items()),
        f"  protocol valid: {'yes' if report.protocol_valid else 'NO'}"
        + ("" if report.protocol_valid else " — " + "; ".join(report.problems)),
        f"  ballot positions {report.ballot_positions:,} (every markable place on every ballot), contest selections {report.contest_selections:,}",
        f"  discrepancies {report.discrepancies}, lost {report.lost}, double counted {report.double_counted}, "
        f"fraudulent cards accepted {report.fraud_accepted}",
    ]
    if report.paper.get("received") or report.mobile.get("requests"):
        pp, mb, hc = report.paper, report.mobile, report.hand_count
        lines += [
            f"  paper: received {pp['received']}, issued in the station {pp['issued_in_station']} "
            f"(voters {pp['voters_paper']}), outside {pp['issued_outside']}, spoiled {pp['spoiled']}, "
            f"unused {pp['unused']}; found in the stationary box {pp['found_stationary']}, "
            f"in the mobile box {pp['found_mobile']}",
            f"  mobile box: {mb['requests']} written requests, {mb['trips']} trip(s) with {mb['taken']} ballots, "
            f"{mb['voted_outside']} voted outside, {mb['not_at_home_came_in_person']} not at home (came in person)",
            f"  hand count: {hc.get('entries', 0)} entries, {hc.get('mistakes_injected', 0)} mistakes entered, "
            f"{hc.get('mistakes_caught', 0)} caught by the double entry"
            + (", signing refused until corrected" if hc.get("signing_blocked") else ""),
        ]
    if report.cosign:
        c = report.cosign
        lines.append(f"  co-signed by {c['cosigned']} of {c['members']} members (majority: "
                     f"{'yes' if c['majority'] else 'NO'}), dissenting opinions {c['dissents']}")
    for d in report.diffs[:10]:
        lines.append(f"    {d.contest} / {d.position}: intended {d.intended}, tallied {d.tallied}")
    faults = report.faults.as_dict()
    if any(f["injected"] for f in faults.values()):
        lines.append(f"  faults (station restarts {report.station_restarts}):")
        for kind, f in faults.items():
            if f["injected"]:
                ends = ", ".join(f"{k} {n}" for k, n in f["outcomes"].items())
                lines.append(f"    {kind:8} {f['injected']:4}  {ends}")
    lines.append(f"  time: total {t.get('total_s', 0):.1f} s (polling {t.get('polling_s', 0):.1f} s, close "
                 f"{t.get('close_s', 0):.1f} s), per voter median {t.get('voter_median_ms', 0):.1f} ms, "
                 f"p95 {t.get('voter_p95_ms', 0):.1f} ms, {t.get('voters_per_s', 0):.1f} voters/s")
    if report.protocol_file is not None:
        lines.append(f"  signed protocol: {report.protocol_file}")
    lines.append("RESULT: " + ("OK" if report.ok else "FAILED"))
    return "\n".join(lines)
