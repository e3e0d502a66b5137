"""`sailau card`: serve a virtual ballot card to pcscd, inspect cards and images,
run the conformance kit against any card in a reader."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from sailau.simulator.vpcd import DEFAULT_PORT, READER_BY_PORT, BridgeEvent, VpcdBridge

TEAR_REINSERT_SECONDS = 1.0
"""Longer than pcscd's presence poll (~400 ms), so pcscd sees the torn card leave and come back."""


def _defect_names() -> list[str]:
    from sailau.simulator.defects import DEFECTS

    return list(DEFECTS)


def _master_key(path: Path | None) -> bytes:
    """The master key file (a secret file: `options.read_card_master_key`), or the
    simulator's test master key."""
    from sailau.simulator.card_app import TEST_MASTER_KEY

    from .options import read_card_master_key

    return read_card_master_key(path, "--master-key") if path else TEST_MASTER_KEY


_SAY = {
    "inserted": "card inserted",
    "removed": "card removed",
    "power-lost": "card lost power (torn write): removed; SIGUSR2 reinserts (with --tear-hook it goes back by itself)",
    "card-error": "the virtual card failed (see the log): removed",
    "disconnected": "pcscd closed the connection: reinserting when it is back",
}


@click.group()
def card() -> None:
    """Virtual ballot card: serve it to pcscd, inspect cards and images."""


@card.command()
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True,
              help="vpcd port: 35963 is 'Virtual PCD 00 00', 35964 'Virtual PCD 00 01'.")
@click.option("--image", type=click.Path(dir_okay=False, path_type=Path),
              help="Card image file (created as a fresh BLANK card if missing). "
                   "Default: a fresh card in memory.")
@click.option("--remove-after", type=float, metavar="SECONDS",
              help="Pull the card this many seconds after starting (SIGUSR2 reinserts).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where pcscd listens.")
@click.option("--master-key", "master_key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The station's card master key file (as --card-master-key of `sailau ballot-box`): a new card "
                   "is personalised for that station. Default: the simulator's test master key.")
@click.option("--defect", type=click.Choice(sorted(_defect_names())), metavar="NAME",
              help="Serve a deliberately broken card, to see `sailau card conformance` fail exactly the clauses "
                   f"it breaks: {', '.join(sorted(_defect_names()))}.")
@click.option("--tear-hook", is_flag=True,
              help="Answer the test-only TEST TEAR command (the conformance kit cuts the power with it); a torn "
                   f"card goes back in by itself after {TEAR_REINSERT_SECONDS:g} s. Never on a production card.")
def serve(port: int, image: Path | None, remove_after: float | None, host: str, master_key_path: Path | None,
          defect: str | None, tear_hook: bool) -> None:
    """Insert a virtual ballot card into pcscd's vpcd reader and serve it.

    SIGUSR1 pulls the card, SIGUSR2 reinserts it, SIGTERM or Ctrl-C stops.
    While pcscd is not running the card waits and retries."""
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.simulator.defects import DEFECTS

    master = _master_key(master_key_path)
    if defect is not None:
        broken = DEFECTS[defect]
        virtual = (broken.open_image(image, master_key=master, tear_hook=tear_hook) if image
                   else broken.make(master_key=master, tear_hook=tear_hook))
        click.echo(f"defect {defect}: {broken.description}")
    elif image:
        virtual = VirtualBallotCard.open_image(image, master_key=master, tear_hook=tear_hook)
    else:
        virtual = VirtualBallotCard(master_key=master, tear_hook=tear_hook)
    where = str(image) if image else "memory"
    reader = READER_BY_PORT.get(port, f"port {port}")
    handled = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT}
    # Block the signals before the bridge thread starts (it inherits the mask),
    # then take them synchronously here: no handler runs inside bridge code.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, handled)

    def said(event: BridgeEvent) -> None:
        click.echo(f"{_SAY.get(event.kind, event.kind)} ({reader})")

    bridge = VpcdBridge(virtual, host=host, port=port, on_event=said,
                        reinsert_after_power_loss=TEAR_REINSERT_SECONDS if tear_hook else None)
    click.echo(
        f"serving card {virtual.serial.hex()} ({virtual.state.name}) from {where} "
        f"to {host}:{port} ({reader}); SIGUSR1 pulls, SIGUSR2 reinserts, SIGTERM stops"
    )
    bridge.start()
    try:
        pending_removal = remove_after
        while True:
            if pending_removal is not None:
                sig = signal.sigtimedwait(handled, max(0.0, pending_removal))
                if sig is None:
                    click.echo(f"pulling the card after {remove_after:g} s")
                    bridge.remove()
                    pending_removal = None
                    continue
                signo = sig.si_signo
            else:
                signo = signal.sigwait(handled)
            if signo == signal.SIGUSR1:
                click.echo("SIGUSR1: pulling the card")
                bridge.remove()
            elif signo == signal.SIGUSR2:
                click.echo("SIGUSR2: inserting the card")
                bridge.insert()
            else:
                click.echo(f"{signal.Signals(signo).name}: stopping")
                break
    finally:
        bridge.stop()
        virtual.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    click.echo(f"stopped; card {virtual.serial.hex()} is {virtual.state.name}")


@card.command()
def pcscd() -> None:
    """Make sure pcscd runs with the vpcd readers 'Virtual PCD 00 00' and 'Virtual PCD 00 01'.

    Uses the pcscd that is running (Debian starts it on demand), or starts
    `pcscd -f` in a session of its own, which keeps running after this command
    ends; prints the readers."""
    from sailau.simulator.vpcd import PcscdError, ensure_pcscd

    try:
        service = ensure_pcscd()
    except PcscdError as exc:
        raise click.ClickException(f"cannot run pcscd with the vpcd readers: {exc}") from None
    how = f"started pcscd -f (pid {service.process.pid}, log {service.log_path})" if service.process else "pcscd is running"
    click.echo(f"{how}; readers: {', '.join(service.readers)}")


@card.command()
def readers() -> None:
    """List the PC/SC readers pcscd knows, and whether a card is in each."""
    from sailau.smartcard.errors import CardError
    from sailau.smartcard.pcsc import card_present, list_readers

    try:
        names = list_readers()
    except CardError as exc:
        raise click.ClickException(str(exc)) from exc
    if not names:
        click.echo("no readers")
    for name in names:
        click.echo(f"{name}\t{'card' if card_present(name) else 'empty'}")


@card.command()
@click.option("--reader", help="Reader name or unique prefix (see `sailau card readers`).")
@click.option("--image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Inspect a card image file instead of a card in a reader.")
def status(reader: str | None, image: Path | None) -> None:
    """Show a card's state, serial and data: from a reader (via PC/SC) or an image."""
    if (reader is None) == (image is None):
        raise click.UsageError("give exactly one of --reader or --image")
    if image is not None:
        from sailau.simulator.card_app import VirtualBallotCard

        virtual = VirtualBallotCard.open_image(image)
        try:
            _show(str(image), None, virtual.state.name, virtual.serial,
                  virtual.issue_block, virtual.record)
        finally:
            virtual.close()
        return

    from sailau.smartcard.client import BallotCardClient
    from sailau.smartcard.errors import CardError
    from sailau.smartcard.pcsc import PcscTransport

    transport = PcscTransport(reader)
    client = BallotCardClient(transport)
    try:
        atr = client.connect()
        card_status = client.select()
        data = client.read_data()
    except CardError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        transport.disconnect()
    _show(transport.reader or reader, atr, card_status.state.name, card_status.serial,
          data.issue_block, data.record)


def _show(where: str, atr: bytes | None, state: str, serial: bytes,
          issue: bytes | None, record: bytes | None) -> None:
    click.echo(f"card in:     {where}")
    if atr is not None:
        click.echo(f"ATR:         {atr.hex(' ').upper()}")
    click.echo(f"serial:      {serial.hex()}")
    click.echo(f"state:       {state}")
    click.echo(f"issue block: {len(issue)} bytes" if issue else "issue block: none")
    click.echo(f"record:      {len(record)} bytes" if record else "record:      none")


@card.command()
@click.option("--reader", required=True, help="Reader name or unique prefix (see `sailau card readers`).")
@click.option("--master-key", "master_key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The card master key the card was personalised with (the station's --card-master-key). "
                   "Default: the simulator's test master key, which virtual cards use.")
@click.option("--without-key", is_flag=True,
              help="Run only the clauses that need no master key (nothing is written to the card).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write every clause's result as JSON here.")
@click.option("--every-byte", is_flag=True,
              help="Cut the power at every byte offset of ISSUE, WRITE BALLOT and CLEAR instead of a sample "
                   "(each cut is a reinsertion: minutes through pcscd).")
def conformance(reader: str, master_key_path: Path | None, without_key: bool, json_out: Path | None,
                every_byte: bool) -> None:
    """Test the card in a PC/SC reader against the ballot card contract (smartcard/README.md).

    Every clause gets one result: pass, fail (with what the card did) or skip
    (with why). The card is left BLANK. Exit status 1 if any clause failed."""
    import json

    from sailau.smartcard.conformance import ClauseResult, Outcome, run_conformance
    from sailau.smartcard.errors import CardError
    from sailau.smartcard.pcsc import PcscTransport

    if without_key and master_key_path is not None:
        raise click.UsageError("--without-key and --master-key exclude each other")
    master = None if without_key else _master_key(master_key_path)
    mark = {Outcome.PASS: "pass", Outcome.FAIL: click.style("FAIL", fg="red", bold=True),
            Outcome.SKIP: click.style("skip", fg="yellow")}

    def said(result: ClauseResult) -> None:
        click.echo(f"{mark[result.outcome]}  {result.id:<38} {result.title}")
        if result.detail:
            click.echo(f"      {result.detail}")

    transport = PcscTransport(reader)
    try:
        report = run_conformance(transport, master, every_byte=every_byte, progress=said)
    except CardError as exc:
        raise click.ClickException(f"cannot test the card in {reader!r}: {exc}") from None
    finally:
        transport.disconnect()
    key = "none (--without-key)" if master is None else (str(master_key_path) if master_key_path
                                                         else "the simulator's test master key")
    click.echo(f"card {report.serial.hex() if report.serial else '(no v2 ballot card answered)'} in "
               f"{transport.reader or reader}; master key: {key}; tearing hook: {'yes' if report.tear_hook else 'no'}")
    click.echo(f"{report.summary()} in {report.seconds:.1f} s")
    if json_out is not None:
        json_out.write_text(json.dumps(report.as_dict(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"results written to {json_out}")
    if not report.ok:
        raise SystemExit(1)
