"""`sailau card`: serve a virtual ballot card to pcscd, inspect cards and images."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from sailau.simulator.vpcd import DEFAULT_PORT, READER_BY_PORT, BridgeEvent, VpcdBridge

_SAY = {
    "inserted": "card inserted",
    "removed": "card removed",
    "power-lost": "card lost power (torn write): removed; SIGUSR2 reinserts",
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
def serve(port: int, image: Path | None, remove_after: float | None, host: str, master_key_path: Path | None) -> None:
    """Insert a virtual ballot card into pcscd's vpcd reader and serve it.

    SIGUSR1 pulls the card, SIGUSR2 reinserts it, SIGTERM or Ctrl-C stops.
    While pcscd is not running the card waits and retries."""
    from sailau.simulator.card_app import TEST_MASTER_KEY, VirtualBallotCard
    from sailau.smartcard.card_keys import InvalidKeyMaterialError, load_master_key

    try:
        master = load_master_key(master_key_path) if master_key_path else TEST_MASTER_KEY
    except (OSError, InvalidKeyMaterialError) as exc:
        raise click.BadParameter(str(exc), param_hint="--master-key") from None
    virtual = VirtualBallotCard.open_image(image, master_key=master) if image else VirtualBallotCard(master_key=master)
    where = str(image) if image else "memory"
    reader = READER_BY_PORT.get(port, f"port {port}")
    handled = {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM, signal.SIGINT}
    # Block the signals before the bridge thread starts (it inherits the mask),
    # then take them synchronously here: no handler runs inside bridge code.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, handled)

    def said(event: BridgeEvent) -> None:
        click.echo(f"{_SAY.get(event.kind, event.kind)} ({reader})")

    bridge = VpcdBridge(virtual, host=host, port=port, on_event=said)
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
