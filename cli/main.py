"""`sailau` entry point.

Subcommands are registered lazily (module path, attribute) so that `sailau seats`
does not import Textual or pyscard, and a broken optional component does not take
the whole CLI down.
"""

from __future__ import annotations

import importlib

import click

# name -> (module, attribute, one-line help shown by `sailau --help`)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "card": ("sailau.cli.card", "card", "Virtual ballot card: serve it to pcscd, inspect images."),
    "audit": ("sailau.cli.audit", "audit", "Verify or export the ballot-box station's audit hash chain."),
    "pollbook": ("sailau.cli.pollbook", "pollbook", "Import, search and show turnout of the station's voter list."),
    "keys": ("sailau.cli.keys", "keys", "Election key ceremony (k-of-n shares), terminal, station and registry root keys."),
    "station": ("sailau.cli.station", "station", "Headless ballot-box station: init, open polls, status, close polls."),
    "ballot-box": ("sailau.cli.ballot_box", "ballot_box", "Clerk app of the ballot-box station (Textual): check-in, cards, audit, close of polls."),
    "protocol": ("sailau.cli.protocol", "protocol", "Verify a signed precinct results protocol (signature, control relations)."),
    "election": ("sailau.cli.results", "election", "Election definitions derived from results: the presidential second round."),
    "results": ("sailau.cli.results", "results", "Outcome of any Kazakh election or referendum (president, referendum, maslikhats, Mäjilis) from a JSON file of counts."),
    "seats": ("sailau.cli.seats", "seats", "Allocate Mäjilis party-list seats by Kazakh law from a JSON file of votes."),
    "terminal": ("sailau.cli.terminal", "terminal", "Voting-booth kiosk: read the card, take the vote, write the sealed ballot."),
    "commission": ("sailau.cli.commission", "commission", "Commissions: import signed protocols, report totals and seats, synthesize a national election."),
    "verify": ("sailau.cli.verify", "verify", "Observer: recompute and check a published results set (protocols, station keys, definition, receipts)."),
    "registry": ("sailau.cli.registry", "registry", "Sign the precinct key registry under the election's registry root; check a signed one."),
    "receipt": ("sailau.cli.receipt", "receipt", "Voter: find a receipt code in the published lists, with proof it is under the signed count."),
    "bench": ("sailau.cli.bench", "bench", "Benchmarks: card round trips, cast path, seal + sign, bytes per voter, close of polls, ElectionGuard side by side."),
    "simulate": ("sailau.cli.simulate", "simulate", "Simulate a polling day end to end with fault injection; compare the protocol with the intended ballots."),
    "demo": ("sailau.cli.demo", "demo", "Try it: the ballot box and the booth side by side with a virtual card, in one window."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="sailau")
def cli() -> None:
    """Sailau: polling-station electronic voting with smart-card ballots."""


if __name__ == "__main__":
    cli()
