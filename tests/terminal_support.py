"""Shared setup for the terminal tests: an election with a fresh key, issued
virtual cards (ISSUE with the card's own test master key, as the ballot box
would), and an in-process reader slot."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from sailau.election import crypto
from sailau.election.definition import Election, load_election
from sailau.election.record import IssueBlock, new_issue_block
from sailau.simulator.card_app import TEST_MASTER_KEY, VirtualBallotCard
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport
from sailau.terminal.session import CardCheck, TerminalConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "election" / "examples" / "majilis-2023.json"
PRECINCT = 7101  # Astana, style 1: Mäjilis list, single-member district 1, Astana maslikhat list
OTHER_PRECINCT_SAME_STYLE = 7102


@lru_cache(maxsize=1)
def election_keys() -> crypto.ElectionKeyPair:
    return crypto.ElectionKeyPair.generate()


@lru_cache(maxsize=1)
def election() -> Election:
    """The 2023 example with a fresh election key (the example's private half is gone)."""
    return load_election(EXAMPLE).model_copy(update={"public_key": election_keys().public_key_bytes.hex()})


@lru_cache(maxsize=1)
def terminal_key():
    return crypto.generate_signing_key()


def config(**overrides) -> TerminalConfig:
    values = dict(election=election(), precinct=PRECINCT, terminal_key=terminal_key())
    values.update(overrides)
    return TerminalConfig(**values)


def issue_block(precinct: int = PRECINCT, style: int | None = None, fingerprint: bytes | None = None) -> IssueBlock:
    e = election()
    return new_issue_block(
        e.fingerprint if fingerprint is None else fingerprint,
        precinct,
        e.precinct(PRECINCT).style if style is None else style,
    )


def issue(card: VirtualBallotCard, block: IssueBlock | None = None) -> IssueBlock:
    """ISSUE `card` through its own APDUs with the test master key."""
    block = block or issue_block()
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    client.select()
    client.issue(block.pack(), TEST_MASTER_KEY)
    transport.disconnect()
    return block


def issued_card(**kwargs) -> VirtualBallotCard:
    card = VirtualBallotCard()
    issue(card, issue_block(**kwargs) if kwargs else None)
    return card


@dataclass
class Slot:
    """An in-process reader with one card in it and a client over it."""

    card: VirtualBallotCard
    transport: InProcessTransport
    client: BallotCardClient

    def pull(self) -> None:
        self.transport.remove()

    def put_back(self) -> None:
        self.transport.insert(self.card)


def slot(card: VirtualBallotCard) -> Slot:
    transport = InProcessTransport(card)
    return Slot(card, transport, BallotCardClient(transport))


def card_data(card: VirtualBallotCard):
    """The card's state and data file, read through a fresh client."""
    transport = InProcessTransport(card)
    client = BallotCardClient(transport)
    client.connect()
    client.select()
    status = client.status()
    data = client.read_data()
    transport.disconnect()
    return status.state, data


def refused_cards() -> list:
    """The cards a terminal refuses, with what it names (`CardCheck`): a
    `(make_card, check)` parametrization shared by the session and app tests."""
    return [
        pytest.param(lambda: VirtualBallotCard(), CardCheck.NOT_ISSUED, id="blank"),
        pytest.param(lambda: issued_card(fingerprint=bytes(32)), CardCheck.WRONG_ELECTION, id="wrong-election"),
        pytest.param(lambda: issued_card(precinct=OTHER_PRECINCT_SAME_STYLE), CardCheck.WRONG_PRECINCT,
                     id="wrong-precinct"),
        pytest.param(lambda: issued_card(style=2), CardCheck.WRONG_STYLE, id="wrong-style"),
    ]
