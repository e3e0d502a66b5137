"""Whether a card (or a sealed ballot) belongs to a precinct: the one membership rule.

Every issued card carries (election fingerprint, precinct, ballot style) in its
issue block, and every sealed ballot repeats them. The booth (terminal/session.py)
checks them before it lets a voter vote, the ballot box before it casts, cancels
or takes back a card, and the close of polls before it counts a stored ballot.
All three ask `card_mismatch`, so they give the same answer for the same card,
in the same order: the election first, then the precinct, then the ballot style.

A precinct has exactly one ballot style (`Election.style_for_precinct`), so a
right precinct with a wrong style is a forgery or a bug; it is named for what is
wrong (WRONG_STYLE). The booth tells the voter so; the ballot box files it under
its ``wrong_precinct`` refusal (ballot_box/refusal.py says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Mismatch", "PrecinctBallot", "card_mismatch"]


class Mismatch(str, Enum):
    """What does not match; the values are the refusal codes the apps use."""

    WRONG_ELECTION = "wrong_election"
    WRONG_PRECINCT = "wrong_precinct"
    WRONG_STYLE = "wrong_style"


@dataclass(frozen=True)
class PrecinctBallot:
    """What a card for one precinct must carry: the definition's fingerprint, the
    precinct number and that precinct's ballot style code."""

    fingerprint: bytes
    precinct: int
    style: int


def card_mismatch(expected: PrecinctBallot, fingerprint: bytes, precinct: int, *styles: int) -> Mismatch | None:
    """None when (fingerprint, precinct, every one of `styles`) is `expected`'s, else
    the first thing that differs: election, then precinct, then style. Several
    `styles` are for a sealed ballot that states its style twice (the sealed
    bytes and the stored row); each must be the precinct's."""
    if bytes(fingerprint) != expected.fingerprint:
        return Mismatch.WRONG_ELECTION
    if precinct != expected.precinct:
        return Mismatch.WRONG_PRECINCT
    if any(style != expected.style for style in styles):
        return Mismatch.WRONG_STYLE
    return None
