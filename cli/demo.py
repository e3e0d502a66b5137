"""`sailau demo`: the ballot box and the booth side by side in one window, for a newcomer.

    sailau demo [--pcsc] [--dir DIR] [--lang kk|ru|en] [--voters N]

Thin over `sailau.simulator.demo`: make the demo precinct in a fresh folder
(kept afterwards, with the signed protocol), pick the card path (in-process, or
pcscd + vpcd), run `DemoApp`.
"""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path

import click


@click.command("demo")
@click.option("--pcsc", is_flag=True,
              help="Carry the card through the real pcscd + vpcd readers 'Virtual PCD 00 00' (ballot box) and "
                   "'Virtual PCD 00 01' (booth); starts pcscd if it is not running.")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the demo's election, keys, shares, pollbook, database and protocol "
                   "(default: a new temporary folder, kept at exit).")
@click.option("--lang", "language", type=click.Choice(["kk", "ru", "en"]), default="en", show_default=True,
              help="Starting language of the ballot-box app (F2 there switches; the voter picks the booth's).")
@click.option("--voters", default=12, show_default=True, type=click.IntRange(1, 10_000),
              help="Voters on the demo pollbook.")
def demo(pcsc: bool, workdir: Path | None, language: str, voters: int) -> None:
    """A whole polling station in one window: open the polls, check a voter in, carry the card to the
    booth, vote, carry it back, cast, close the polls and see the signed protocol."""
    from sailau.simulator.demo import CardCarrier, DemoApp, InProcessCarrier, PcscCarrier, create_demo

    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="sailau-demo-"))
    else:
        workdir.mkdir(parents=True, exist_ok=True)
        if any(workdir.iterdir()):
            raise click.ClickException(f"{workdir} is not empty: the demo makes a fresh precinct in an empty folder")
    kit = create_demo(workdir, voters=voters)
    try:
        with ExitStack() as stack:
            if pcsc:
                from sailau.simulator.pcsc_lease import LeaseTimeout, SlotBusyError, pcscd_lease, reader_slot
                from sailau.simulator.vpcd import PcscdError

                try:  # pcscd (started if needed, stopped at the end if nobody else uses it), both readers ours
                    stack.enter_context(pcscd_lease())
                    stack.enter_context(reader_slot(35963))
                    stack.enter_context(reader_slot(35964))
                except (PcscdError, LeaseTimeout, SlotBusyError) as exc:
                    raise click.ClickException(f"cannot use pcscd + vpcd: {exc}") from None
                carrier: CardCarrier = PcscCarrier(kit.card)
            else:
                carrier = InProcessCarrier(kit.card)
            stack.callback(carrier.close)
            DemoApp(kit, carrier, language=language, pcsc=pcsc).run()
    finally:
        kit.close()
    click.echo(f"The demo precinct is in {workdir}")
    protocol = kit.out_dir / "protocol.json"
    if protocol.exists():
        click.echo(f"Signed protocol: {protocol}\n  check it: sailau protocol verify {protocol} "
                   f"--election {kit.election_path}")
