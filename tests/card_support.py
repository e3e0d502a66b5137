"""Helpers the smart-card test files share: the three commands that write the card's
EEPROM, by name, so tear and power-cut tests drive each one the same way."""

from __future__ import annotations

from sailau.smartcard.client import BallotCardClient

#: The commands that write the card: ISSUE, WRITE BALLOT, CLEAR.
WRITING_COMMANDS = ("issue", "write_ballot", "clear")


def prepare_for(client: BallotCardClient, command: str, issue_block: bytes, record: bytes, master: bytes) -> None:
    """Bring a blank, selected card to the state `command` starts from: blank for
    issue, issued for write_ballot, voted for clear."""
    if command != "issue":
        client.issue(issue_block, master)
    if command == "clear":
        client.write_ballot(record, issue_block)


def run_command(client: BallotCardClient, command: str, issue_block: bytes, record: bytes, master: bytes) -> None:
    """Send `command` (one of WRITING_COMMANDS) with these arguments."""
    if command == "issue":
        client.issue(issue_block, master)
    elif command == "write_ballot":
        client.write_ballot(record, issue_block)
    elif command == "clear":
        client.clear(master)
    else:
        raise ValueError(f"not a writing command: {command!r}")
