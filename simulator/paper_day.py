"""The paper side of a simulated polling day: what the simulator itself knows
about every paper ballot, so the protocol can be checked line by line.

A voter either takes a card (simulation.py) or, at check-in, a paper ballot:
marked in the booth with the same intention a card voter has, folded and put in
the stationary box. A voter who cannot come asks in writing; the mobile team
takes a counted number of ballots and the list, and each voter at home marks one
for the mobile box. Some voters spoil a ballot and exchange it (cancelled, a new
one handed over). Paper has no "blank": a contest left unmarked, or marked for
more than one option, is invalid (relation `paper:contest:<id>:blank==0`).

`PaperTally` is the simulator's own ledger of all of it (never read back from
the station): the figures every paper line of the protocol must equal, and the
hand count the members would arrive at (`hand_count`). `with_mistakes` makes
the entry of a member who slipped: `k` distinct lines off, each named by its
hand-count line key, so the test can check that the double entry names exactly
those lines and nothing else.
"""

from __future__ import annotations

import enum
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from sailau.ballot_box.handcount import HandCount
from sailau.election.ballot import Choice, Mark
from sailau.election.definition import Election
from sailau.election.protocol import ContestResult

#: what a paper ballot says for one contest when it is not a vote for an option or against all
INVALID = "invalid"

#: reasons a voter gives in a written request to vote outside (Art. 43: illness, age, caring for someone)
MOBILE_REASONS = ("illness", "old age, cannot walk to the station", "caring for a sick family member",
                  "disability", "recovering at home after an operation")


class Form(enum.StrEnum):
    """How one simulated voter votes."""

    CARD = "card"
    PAPER = "paper"  # a paper ballot at the table, the stationary box
    OUTSIDE = "outside"  # a written request; the mobile team comes
    NOT_HOME = "not_home"  # asked to vote outside, not at home when the team came: comes in person later, by card


@dataclass(frozen=True)
class PaperShares:
    """Per-voter probabilities of the paper day (`sailau simulate --paper/--mobile/--spoil`)."""

    paper: float = 0.10  # a voter at the table takes paper instead of a card
    mobile: float = 0.02  # a voter asks in writing to vote outside the station
    not_home: float = 0.2  # of those, not at home when the team came (they come in person later)
    spoil: float = 0.05  # a paper voter spoils the ballot and exchanges it (at most once)
    invalid: float = 0.02  # a contest on a paper ballot marked so it cannot count (two marks, a note)
    additional: float = 0.01  # a voter not on the list, added to the additional list at the table
    mistakes: int = 2  # hand-count lines a member enters wrong (caught by the double entry, then corrected)

    def __post_init__(self) -> None:
        for name in ("paper", "mobile", "not_home", "spoil", "invalid", "additional"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1, got {value}")
        if self.mistakes < 0:
            raise ValueError(f"mistakes must be >= 0, got {self.mistakes}")

    @property
    def any(self) -> bool:
        return self.paper > 0 or self.mobile > 0


#: `sailau simulate`'s default day: a tenth on paper, a fiftieth at home, two slips in the hand count
DAY_SHARES = PaperShares()
#: a day of cards only (the library's default: benches and the card fault tests)
NO_PAPER = PaperShares(paper=0.0, mobile=0.0, spoil=0.0, invalid=0.0, additional=0.0, mistakes=0)


def mark_paper(intended: Mapping[str, Choice], rng: random.Random, invalid_share: float) -> dict[str, str]:
    """What the voter's paper ballot says per contest: the option id, "against_all", or
    `INVALID` (left unmarked: a blank intention; or spoilt by a second mark)."""
    marked: dict[str, str] = {}
    for cid, choice in intended.items():
        spoilt = rng.random() < invalid_share
        if spoilt or choice is Mark.BLANK:
            marked[cid] = INVALID
        elif choice is Mark.AGAINST_ALL:
            marked[cid] = "against_all"
        else:
            marked[cid] = str(choice)
    return marked


@dataclass
class PaperTally:
    """The simulator's ledger of the paper ballots (module doc)."""

    received: int = 0
    issued_in_station: int = 0
    issued_outside: int = 0
    spoiled: int = 0  # exchanged at the table + spoiled outside and brought back
    requests: int = 0  # written requests not withdrawn
    taken_by_teams: int = 0
    returned_unused: int = 0
    stationary: list[dict[str, str]] = field(default_factory=list)  # each ballot in the stationary box
    mobile: list[dict[str, str]] = field(default_factory=list)  # each ballot in the mobile box

    @property
    def unused(self) -> int:
        """Ballots never handed to a voter: at the table, and brought back unused by the teams."""
        return self.received - self.issued_in_station - self.issued_outside - self.spoiled

    def contests(self, election: Election, style: int | str) -> tuple[ContestResult, ...]:
        """Per contest of the style: votes for every option (0 too), against all, invalid; blank 0."""
        out = []
        for contest in election.contests_for_style(style):
            seen = Counter(ballot[contest.id] for ballot in (*self.stationary, *self.mobile))
            out.append(ContestResult(contest.id, {o.id: seen[o.id] for o in election.options(contest.id)},
                                     against_all=seen["against_all"], blank=0, invalid=seen[INVALID]))
        return tuple(out)

    def hand_count(self, election: Election, style: int | str) -> HandCount:
        """What the members count by hand at close: the mobile box, then the stationary box."""
        return HandCount(self.unused, len(self.stationary), len(self.mobile), self.contests(election, style))


def ballots_to_receive(expected_paper: int) -> int:
    """The act of receipt's count: the ballots the day needs and a tenth spare (at least 10),
    in whole packs of 10."""
    if expected_paper <= 0:
        return 0
    return 10 * math.ceil((expected_paper + max(10, math.ceil(expected_paper / 10))) / 10)


def with_mistakes(count: HandCount, k: int, rng: random.Random, election: Election) -> tuple[HandCount, list[str]]:
    """`count` with `k` distinct lines entered wrong (a slip of one to three either way,
    never below 0), and the keys of those lines (HandCount.lines order). Only lines the
    form has: no "against all" for a contest whose ballot has none."""
    lines = count.lines()
    no_against = {f"contest:{c.contest_id}:against_all" for c in count.contests
                  if not election.contest(c.contest_id).against_all}
    candidates = [i for i, (key, _) in enumerate(lines) if key not in no_against]
    chosen = sorted(rng.sample(candidates, min(k, len(candidates))))
    wrong = dict(lines)
    for i in chosen:
        key, value = lines[i]
        slip = rng.choice((-3, -2, -1, 1, 2, 3))
        wrong[key] = value + slip if value + slip >= 0 else value + abs(slip)
    contests = []
    for c in count.contests:
        contests.append(replace(
            c, votes={oid: wrong[f"contest:{c.contest_id}:option:{oid}"] for oid in c.votes},
            against_all=wrong[f"contest:{c.contest_id}:against_all"], invalid=wrong[f"contest:{c.contest_id}:invalid"]))
    entered = HandCount(wrong["unused"], wrong["found_stationary"], wrong["found_mobile"], tuple(contests))
    return entered, [lines[i][0] for i in chosen]
