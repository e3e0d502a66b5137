"""Kazakh presidential elections: who is elected, or who goes to a second round.

The rules (election/README.md, "Presidential elections", cites the articles):

- First round: a candidate is elected with **more than half of the votes of the
  voters who took part** (Constitution art. 41(5); Constitutional Law "On
  Elections" art. 62). The base is `participated`, the voters who took part
  (ballots issued / cast, blank, spoiled and "against all" included), never the
  valid votes alone: `2 * votes > participated`, exactly, in integers. (The CEC's
  published percentages are shares of the valid votes; both are reported, the
  outcome follows the base the text names.)
- Otherwise a second round (art. 63) between the two candidates with the most
  votes. When the two places are not settled by the counts, the outcome is a
  named tie and nobody is picked: `tie_for_second` (two or more share the
  second-best count behind one leader) or `tie_for_first` (three or more share
  the best count). The law gives no lot or order rule for this, so the engine
  never guesses.
- Second round (`round=2`, exactly two candidates): elected is the candidate
  with more votes than the other (Constitution art. 41(5)); equal counts are
  `tie`, after which the law calls repeat elections (art. 64).
- A first round that elects nobody and leaves fewer than two candidates with
  votes for a second round is `repeat_election` (art. 64).
- "Against all" is on the ballot under `kz-president-2022` only (first on a
  presidential ballot on 20 Nov 2022); under `kz-president-1995` such votes are
  refused. It is a vote cast, so it is in `participated`; it is never a
  candidate and never enters a second round.

Everything is exact integer arithmetic; percentages are reported as
`Fraction`s, and only printed as decimals.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from .law import CandidateVotes, InvalidVotesError, _check_count, _check_ids, lookup_law

__all__ = [
    "PresidentialLaw",
    "PRESIDENTIAL_LAWS",
    "PresidentialOutcome",
    "PresidentialResult",
    "get_presidential_law",
    "presidential_result",
]


@dataclass(frozen=True)
class PresidentialLaw:
    id: str
    title: str
    against_all: bool  # "against all" is on the presidential ballot


PRESIDENTIAL_LAWS: Mapping[str, PresidentialLaw] = MappingProxyType(
    {
        law.id: law
        for law in (
            PresidentialLaw(
                "kz-president-1995",
                "President, absolute majority of voters who took part, second round of the two leaders (1995-2021)",
                against_all=False,
            ),
            PresidentialLaw(
                "kz-president-2022",
                "President, absolute majority of voters who took part, second round, 'against all' on the ballot (2022-)",
                against_all=True,
            ),
        )
    }
)


def get_presidential_law(law_id: str) -> PresidentialLaw:
    return lookup_law(PRESIDENTIAL_LAWS, law_id, "unknown presidential law {law_id!r}; known: {known}")


class PresidentialOutcome(enum.Enum):
    ELECTED = "elected"
    SECOND_ROUND = "second_round"
    TIE_FOR_SECOND = "tie_for_second"  # who joins the leader in the second round is not settled
    TIE_FOR_FIRST = "tie_for_first"  # three or more share the most votes: the two are not settled
    TIE = "tie"  # second round: both candidates have the same count (art. 64: repeat elections)
    REPEAT_ELECTION = "repeat_election"  # nobody elected and no two candidates for a second round


@dataclass(frozen=True)
class PresidentialResult:
    law: PresidentialLaw
    round: int
    outcome: PresidentialOutcome
    winner: str | None  # only when ELECTED
    second_round: tuple[str, str] | None  # only when SECOND_ROUND, leader first
    tied: tuple[str, ...]  # the candidates sharing the unsettled place (ties only)
    participated: int  # the base of the majority
    valid: int  # candidate votes + against all
    against_all: int
    votes: dict[str, int]  # candidate id -> votes, in ballot order
    ranking: tuple[str, ...]  # most votes first; equal counts keep ballot order (display only)

    def outcome_data(self) -> dict[str, Any]:
        """The outcome as JSON (what `sailau results` and the commission's report both
        carry; each adds its own keys around it)."""
        return {
            "kind": "presidential",
            "round": self.round,
            "outcome": self.outcome.value,
            "winner": self.winner,
            "second_round": list(self.second_round) if self.second_round else None,
            "tied": list(self.tied),
            "participated": self.participated,
            "valid": self.valid,
            "against_all": self.against_all,
        }

    def share_of_participated(self, candidate: str) -> Fraction:
        return Fraction(self.votes[candidate], self.participated) if self.participated else Fraction(0)

    def share_of_valid(self, candidate: str) -> Fraction:
        """The share the CEC publishes (votes / valid votes incl. against all)."""
        return Fraction(self.votes[candidate], self.valid) if self.valid else Fraction(0)


def presidential_result(
    law_id: str,
    candidates: Sequence[CandidateVotes],
    participated: int,
    against_all: int = 0,
    round: int = 1,
) -> PresidentialResult:
    """The outcome of one presidential round; `candidates` in ballot order.

    Raises `UnknownLawError` or `InvalidVotesError` (negative counts, duplicate
    ids, participation below the votes cast, "against all" under a law without it,
    a second round without exactly two candidates).
    """
    law = get_presidential_law(law_id)
    candidates = list(candidates)
    if round not in (1, 2):
        raise InvalidVotesError(f"round must be 1 or 2, got {round!r}")
    if not candidates:
        raise InvalidVotesError("no candidates given")
    if round == 2 and len(candidates) != 2:
        raise InvalidVotesError(f"a second round has exactly two candidates, got {len(candidates)}")
    _check_ids("candidate", [c.id for c in candidates])
    for c in candidates:
        _check_count(f"votes of candidate {c.id!r}", c.votes)
    _check_count("against_all", against_all)
    _check_count("participated", participated)
    if against_all and not law.against_all:
        raise InvalidVotesError(f"law {law.id} has no 'against all' on the ballot, got {against_all} such votes")
    valid = sum(c.votes for c in candidates) + against_all
    if participated < valid:
        raise InvalidVotesError(
            f"participated ({participated}) is less than the votes cast for candidates"
            f"{' and against all' if against_all else ''} ({valid})"
        )

    votes = {c.id: c.votes for c in candidates}
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i].votes, i))
    ranking = tuple(candidates[i].id for i in order)

    def result(outcome: PresidentialOutcome, winner=None, pair=None, tied=()) -> PresidentialResult:
        return PresidentialResult(
            law=law, round=round, outcome=outcome, winner=winner, second_round=pair, tied=tuple(tied),
            participated=participated, valid=valid, against_all=against_all, votes=votes, ranking=ranking,
        )

    top = candidates[order[0]].votes
    leaders = [c.id for c in candidates if c.votes == top]
    if round == 2:
        if len(leaders) == 1 and top > 0:
            return result(PresidentialOutcome.ELECTED, winner=leaders[0])
        return result(PresidentialOutcome.TIE, tied=leaders)

    if 2 * top > participated and len(leaders) == 1:
        return result(PresidentialOutcome.ELECTED, winner=leaders[0])
    with_votes = [c for c in candidates if c.votes > 0]
    if len(with_votes) < 2:
        return result(PresidentialOutcome.REPEAT_ELECTION)
    if len(leaders) >= 3:
        return result(PresidentialOutcome.TIE_FOR_FIRST, tied=leaders)
    if len(leaders) == 2:
        return result(PresidentialOutcome.SECOND_ROUND, pair=(leaders[0], leaders[1]))
    second = max(c.votes for c in candidates if c.id != leaders[0])
    seconds = [c.id for c in candidates if c.votes == second and c.id != leaders[0]]
    if len(seconds) > 1:
        return result(PresidentialOutcome.TIE_FOR_SECOND, tied=seconds)
    return result(PresidentialOutcome.SECOND_ROUND, pair=(leaders[0], seconds[0]))
