"""Synthetic voters and the ballots they intend to cast, for the election-day simulation.

Voters get valid, distinct 12-digit IINs (`ballot_box.iin.make_iin`: real
checksum, birth date and century/sex digit), adult birth dates and Kazakh or
Russian names. Intended ballots are drawn with a seeded `random.Random`: the
national party list by party shares (default the 2021 national result), every
other contest uniformly over its options, "against all" where the contest has
it, and blank. Same seed, same voters, same ballots.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sailau.ballot_box.iin import Sex, make_iin
from sailau.election.ballot import Choice, Mark
from sailau.election.definition import Election

#: Votes of the 2021 Mäjilis election (CEC final result), the default party shares.
SHARES_2021: dict[str, int] = {"NO": 5_148_074, "AZ": 792_828, "QHP": 659_019, "AUYL": 383_023, "ADAL": 258_618}

#: Keys of a party-share spec that are not party ids.
AGAINST_ALL_KEY = "AGAINST_ALL"
BLANK_KEY = "BLANK"

_SURNAMES = ("Ахметов", "Сейітқали", "Жұмабаев", "Иванов", "Нұрланұлы", "Оспанова", "Қасымов", "Серікбаева",
             "Петрова", "Әбенов", "Төлеуова", "Ким", "Бекмұхамбетов", "Ғаббасова", "Үсенов", "Өтебаев")
_GIVEN = ("Айгүл", "Ерлан", "Дәурен", "Мария", "Нұрсұлтан", "Әсем", "Бауыржан", "Ольга", "Қайрат", "Жанар",
          "Тимур", "Гүлнар", "Сергей", "Іңкәр", "Арман", "Ләззат")
_LANGUAGES = ("kk", "kk", "kk", "ru", "ru", "en")


class SharesSpecError(ValueError):
    """A party-share spec names an unknown party or gives a weight that is not a non-negative number."""


@dataclass(frozen=True)
class SimVoter:
    """One voter on the synthetic list, with the language they vote in."""

    iin: str
    surname: str
    given_name: str
    birth_date: dt.date
    language: str


def generate_voters(count: int, rng: random.Random, *, polling_day: dt.date = dt.date(2021, 1, 10)) -> list[SimVoter]:
    """`count` voters with distinct valid IINs, aged 18 to 90 on `polling_day`."""
    if count < 0:
        raise ValueError(f"voter count must be >= 0, got {count}")
    voters: list[SimVoter] = []
    seen: set[str] = set()
    youngest = polling_day.replace(year=polling_day.year - 18) - dt.timedelta(days=1)
    span = (youngest - youngest.replace(year=youngest.year - 72)).days
    while len(voters) < count:
        birth = youngest - dt.timedelta(days=rng.randrange(span))
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        iin = make_iin(birth, sex, rng.randrange(10_000))
        if iin in seen:
            continue
        seen.add(iin)
        voters.append(SimVoter(iin, rng.choice(_SURNAMES), rng.choice(_GIVEN), birth, rng.choice(_LANGUAGES)))
    return voters


def write_pollbook_csv(voters: Sequence[SimVoter], path: str | Path) -> Path:
    """The station's pollbook CSV (`ballot_box.pollbook.import_voters` format)."""
    path = Path(path)
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(("iin", "surname", "given_name", "patronymic", "birth_date"))
        for v in voters:
            out.writerow((v.iin, v.surname, v.given_name, "", v.birth_date.isoformat()))
    return path


def parse_party_shares(text: str) -> dict[str, float]:
    """`"NO=5148074,AZ=792828,BLANK=1000"` -> weights (any non-negative numbers, not normalised)."""
    shares: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SharesSpecError(f"party share {item!r}: expected PARTY=WEIGHT")
        try:
            weight = float(value)
        except ValueError:
            raise SharesSpecError(f"party share {item!r}: weight {value!r} is not a number") from None
        if weight < 0 or weight != weight:
            raise SharesSpecError(f"party share {item!r}: weight must be a non-negative number")
        shares[name.strip()] = weight
    if not shares or not any(shares.values()):
        raise SharesSpecError(f"party shares {text!r}: at least one positive weight is needed")
    return shares


def _weighted_contest(election: Election):
    """The contest `--party-shares` weighs: the national party list, or else the
    presidential race, or else the first referendum question (shares then name
    candidate ids, or yes/no)."""
    for contest in election.contests:
        if contest.kind == "party_list" and contest.level == "national":
            return contest
    for kind in ("presidential", "referendum"):
        for contest in election.contests:
            if contest.kind == kind:
                return contest
    return election.party_list_contest  # raises ElectionLookupError, naming the election


@dataclass(frozen=True)
class BallotPlan:
    """How intended ballots are drawn for one ballot style (choices and weights per contest)."""

    style: int
    contests: tuple[tuple[str, tuple[Choice, ...], tuple[float, ...]], ...]

    @classmethod
    def for_style(cls, election: Election, style: int, party_shares: Mapping[str, float] | None = None) -> BallotPlan:
        """The national party list by `party_shares` (default `SHARES_2021`, or uniform when none of
        its parties is on this election's list), other contests uniform.

        Shares name party ids of the election (plus AGAINST_ALL / BLANK); a party
        of the list that the shares do not name gets weight 0. Shares that name no
        party of this election's list are refused: they were meant for another
        election (pass shares for this one).
        """
        national = _weighted_contest(election)
        if party_shares is None:
            # the 2021 result where its parties are on the list; another election's list uniformly
            listed = {o.id for o in election.options(national.id)}
            shares = {p: w for p, w in SHARES_2021.items() if p in listed} or {p: 1.0 for p in listed}
        else:
            shares = dict(party_shares)
        plan = []
        for contest in election.contests_for_style(style):
            options: list[Choice] = [o.id for o in election.options(contest.id)]
            if contest.id == national.id:
                unknown = set(shares) - set(options) - {AGAINST_ALL_KEY, BLANK_KEY}
                if unknown:
                    raise SharesSpecError(f"party shares name {sorted(unknown)}, not on list {contest.id!r} "
                                          f"(its parties: {', '.join(map(str, options))})")
                weights = [float(shares.get(str(o), 0.0)) for o in options]
                if contest.against_all:
                    options.append(Mark.AGAINST_ALL)
                    weights.append(float(shares.get(AGAINST_ALL_KEY, 0.0)))
                elif shares.get(AGAINST_ALL_KEY):
                    raise SharesSpecError(f"contest {contest.id!r} has no 'against all' under {election.law}")
                options.append(Mark.BLANK)
                weights.append(float(shares.get(BLANK_KEY, 0.0)))
                if not any(weights):
                    raise SharesSpecError(f"party shares give every choice of {contest.id!r} weight 0")
            else:
                if contest.against_all:
                    options.append(Mark.AGAINST_ALL)
                options.append(Mark.BLANK)
                weights = [1.0] * len(options)
            plan.append((contest.id, tuple(options), tuple(weights)))
        return cls(style, tuple(plan))

    def draw(self, rng: random.Random) -> dict[str, Choice]:
        """One intended ballot: contest id -> option id, AGAINST_ALL or BLANK."""
        return {cid: rng.choices(options, weights)[0] for cid, options, weights in self.contests}
