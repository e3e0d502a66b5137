"""The election definition: one JSON file every station loads, validated strictly.

Every app (terminal, ballot box, commission) loads the same file and binds its
work to the file's SHA-256 (the *fingerprint*, written into every issued card),
so two stations with different definitions can never silently mix ballots.
Structure is checked by pydantic (strict, unknown keys rejected); cross
references (parties, contests, styles, territory, precincts) and the electoral
law's requirements are checked after that, and every problem is reported at once
with its path, because a definition is written by people and fixed in one pass.

Build definitions in code with `election_from_data(dict)` and write them with
`write_election`; the fingerprint of a built election is that of the canonical
bytes `Election.to_json_bytes()` returns, so write-then-load keeps it.

A definition comes from outside like any input: its file is at most
`MAX_DEFINITION_BYTES` and its bytes pass the one bounded JSON reader
(`jsonfile.parse_json`: depth, 64-bit integers, no duplicate key, no fraction)
before pydantic validates them; a refusal is `DefinitionInputError` with the
reader's `reason`. A key given twice matters here more than anywhere: the
fingerprint pins the bytes, and two JSON readers that kept different values of
the same key would read two elections under one fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)

from . import filekind, jsonfile

FORMAT = "sailau/election"
FORMAT_VERSION = 1

LawId = Literal[
    "kz-majilis-2007", "kz-majilis-2009", "kz-majilis-2023",
    "kz-maslikhat-2023", "kz-president-1995", "kz-president-2022", "kz-referendum",
]
LAW_IDS: tuple[str, ...] = (
    "kz-majilis-2007", "kz-majilis-2009", "kz-majilis-2023",
    "kz-maslikhat-2023", "kz-president-1995", "kz-president-2022", "kz-referendum",
)
#: What each law elects or decides (the kind of election a definition is).
MAJILIS_LAWS: tuple[str, ...] = ("kz-majilis-2007", "kz-majilis-2009", "kz-majilis-2023")
PRESIDENTIAL_LAWS: tuple[str, ...] = ("kz-president-1995", "kz-president-2022")
#: "Against all" is on the presidential ballot since the 2022 amendments.
PRESIDENTIAL_AGAINST_ALL: frozenset[str] = frozenset({"kz-president-2022"})
Language = Literal["kk", "ru", "en"]
LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")
Level = Literal["national", "maslikhat"]

#: Largest plaintext that fits one card record in one short APDU: 255 bytes
#: minus 121 bytes of record overhead (election/README.md, "Ballot record").
MAX_PLAINTEXT_LENGTH = 134
#: One byte per contest; 0xFE (against all) and 0xFF (blank) are reserved, so a
#: contest has at most 254 options (indices 0x00..0xFD).
MAX_OPTIONS = 0xFE
#: shamir-mnemonic splits into at most 16 shares.
MAX_KEY_SHARES = 16
PRECINCT_NUMBER_MAX = 2**32 - 1  # u32 in the issue block
STYLE_CODE_MAX = 2**16 - 1  # u16 in the issue block; 0 is not a style

Identifier = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]
#: A national definition (10,000 precincts, three-language addresses) is a few MB.
MAX_DEFINITION_BYTES = 64 * 1024 * 1024


class DefinitionError(ValueError):
    """An election definition is invalid; `problems` lists each (path, message)."""

    def __init__(self, problems: Iterable[tuple[str, str]]):
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        lines = [f"  {path or '<root>'}: {message}" for path, message in self.problems]
        count = len(self.problems)
        super().__init__(
            f"invalid election definition ({count} problem{'s' if count != 1 else ''}):\n"
            + "\n".join(lines)
        )


class NotAnElectionDefinition(DefinitionError):
    """The file is another kind of Sailau JSON (a protocol, a seats input, ...):
    one plain sentence instead of a list of unknown keys (see filekind.py)."""

    def __init__(self, message: str):
        ValueError.__init__(self, message)
        self.problems = (("", message),)


class DefinitionInputError(DefinitionError):
    """The definition's bytes break a bound of the reader (`jsonfile.py`): `reason` is
    `too_large`, `too_deep`, `count_out_of_range` or `malformed`; one plain sentence."""

    def __init__(self, message: str, reason: str):
        ValueError.__init__(self, message)
        self.problems = (("", message),)
        self.reason = reason


class ElectionLookupError(LookupError):
    """A precinct, style, contest, party or option is not in this election."""


def _decode_public_key(value: Any) -> Any:
    """Accept a 32-byte public key (X25519 or Ed25519) as hex (64 digits) or standard base64."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if re.fullmatch(r"[0-9a-fA-F]*", text) and len(text) % 2 == 0:
        raw = bytes.fromhex(text)
    else:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("public key is neither hex nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"public key must be 32 bytes, got {len(raw)}")
    return raw


PublicKeyBytes = Annotated[
    bytes,
    BeforeValidator(_decode_public_key),
    PlainSerializer(lambda raw: raw.hex(), return_type=str, when_used="json"),
]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class LocalizedText(_Model):
    """A name in the three languages a Kazakh ballot is printed in."""

    kk: Text
    ru: Text
    en: Text

    def get(self, language: str) -> str:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        return getattr(self, language)


class Party(_Model):
    id: Identifier
    registration_number: int = Field(ge=1)
    name: LocalizedText
    #: The party's own colour for charts and the results site, "#rrggbb"; optional
    #: (absent: the site derives one from registration order). Left out of the
    #: definition bytes when absent, so older definitions keep their fingerprint.
    colour: Annotated[str, StringConstraints(pattern=r"^#[0-9a-f]{6}$")] | None = None


class Candidate(_Model):
    """A single-member candidate; ballots list them alphabetically in Kazakh (CEC 2023)."""

    id: Identifier
    name: LocalizedText
    party: Identifier | None = None


class _ContestBase(_Model):
    id: Identifier
    name: LocalizedText
    level: Level = "national"
    #: The territory of a maslikhat (local council) contest: a region code.
    region: Identifier | None = None
    against_all: bool


class PartyListContest(_ContestBase):
    kind: Literal["party_list"]
    #: Party ids in ballot order. Kazakhstan's CEC draws this order by lot (2021:
    #: QHP, Nur Otan, Auyl, Ak Zhol, Adal), so it is not the registration order that
    #: `Party.registration_number` records for seat-allocation ties.
    options: tuple[Identifier, ...]
    #: Seats the list fills: a maslikhat's list seats (its size is set for each
    #: maslikhat, so it comes from the definition). The Mäjilis list's seats come from
    #: the law and are not given here.
    seats: int | None = Field(default=None, ge=1, le=1000)


class SingleMemberContest(_ContestBase):
    kind: Literal["single_member"]
    #: The single-member district (territory.districts code) electing this seat.
    district: Identifier
    candidates: tuple[Candidate, ...]


class PresidentialContest(_ContestBase):
    """The presidential race: candidates in ballot order; `round` 2 is a second
    round between the two candidates the first round left (election/president.py)."""

    kind: Literal["presidential"]
    candidates: tuple[Candidate, ...]
    round: Literal[1, 2] = 1


class ReferendumQuestion(_ContestBase):
    """One yes/no question of a republican referendum. `name` is its short title,
    `text` the question as printed; the options are always yes (index 0) and no
    (index 1). `constitutional`: it amends the Constitution, so it needs a yes
    majority in two thirds of the regions (election/referendum.py)."""

    kind: Literal["referendum"]
    text: LocalizedText
    constitutional: bool


#: The two answers of every referendum question, in ballot order (index 0, 1).
REFERENDUM_ANSWERS: tuple[tuple[str, dict[str, str]], ...] = (
    ("yes", {"kk": "Иә", "ru": "Да", "en": "Yes"}),
    ("no", {"kk": "Жоқ", "ru": "Нет", "en": "No"}),
)


Contest = Annotated[
    Union[PartyListContest, SingleMemberContest, PresidentialContest, ReferendumQuestion],
    Field(discriminator="kind"),
]
AnyContest = Union[PartyListContest, SingleMemberContest, PresidentialContest, ReferendumQuestion]


class Region(_Model):
    code: Identifier
    name: LocalizedText


class District(_Model):
    """A single-member electoral district (Mäjilis, or maslikhat if level says so)."""

    code: Identifier
    region: Identifier
    level: Level = "national"
    name: LocalizedText


class Territory(_Model):
    regions: tuple[Region, ...]
    districts: tuple[District, ...] = ()


class Precinct(_Model):
    number: int = Field(ge=1, le=PRECINCT_NUMBER_MAX)
    region: Identifier
    #: The Mäjilis single-member district the precinct lies in (laws with such districts).
    district: Identifier | None = None
    address: LocalizedText
    style: int = Field(ge=1, le=STYLE_CODE_MAX)


class BallotStyle(_Model):
    code: int = Field(ge=1, le=STYLE_CODE_MAX)
    #: Contest ids in ballot order; the plaintext has one byte per contest in this order.
    contests: tuple[Identifier, ...]


class KeyCeremony(_Model):
    """k-of-n split of the election private key among commission members."""

    threshold: int = Field(ge=1, le=MAX_KEY_SHARES)
    shares: int = Field(ge=1, le=MAX_KEY_SHARES)


@dataclass(frozen=True)
class BallotOption:
    """One choice of a contest as the voter sees it; `index` is its plaintext byte."""

    index: int
    id: str
    name: LocalizedText
    party: str | None


class Election(_Model):
    format: Literal["sailau/election"]
    version: Literal[1]
    id: Identifier
    date: datetime.date
    name: LocalizedText
    law: LawId
    #: Parties in registration order (ascending registration number); the law breaks
    #: equal remainders in favour of the party registered first.
    parties: tuple[Party, ...]
    contests: tuple[Contest, ...]
    territory: Territory
    precincts: tuple[Precinct, ...]
    ballot_styles: tuple[BallotStyle, ...]
    #: The election public key (X25519, raw 32 bytes; hex or base64 in JSON).
    public_key: PublicKeyBytes
    key_ceremony: KeyCeremony | None = None
    #: The trust root (Ed25519, raw 32 bytes; hex or base64 in JSON): the key that signs
    #: the precinct registry (stations.json) and the commission's conflict decisions.
    #: The fingerprint covers it, so the definition alone tells an observer which
    #: registry to believe. Without it a published set cannot be imported or verified.
    registry_root_key: PublicKeyBytes | None = None

    _raw: bytes | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check_references(self) -> Election:
        problems = _reference_problems(self)
        if problems:
            raise DefinitionError(problems)
        return self

    # -- identity -------------------------------------------------------------

    @property
    def raw_bytes(self) -> bytes:
        """The bytes this election was parsed from (canonical bytes if built in code)."""
        if self._raw is None:
            self._raw = self.to_json_bytes()
        return self._raw

    @cached_property
    def fingerprint(self) -> bytes:
        """SHA-256 of the definition file's bytes, written into every issued card."""
        return hashlib.sha256(self.raw_bytes).digest()

    @property
    def fingerprint_hex(self) -> str:
        return self.fingerprint.hex()

    def to_json_bytes(self) -> bytes:
        """Canonical UTF-8 JSON (field order, 2-space indent, trailing newline)."""
        data = self.model_dump(mode="json", exclude_none=True)
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Election:
        """A changed election is a new definition: validate it again and drop the old
        bytes and fingerprint (pydantic's copy would carry both over, stale)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data.update(update or {})
        return election_from_data(data)

    @property
    def x25519_public_key(self) -> X25519PublicKey:
        return X25519PublicKey.from_public_bytes(self.public_key)

    # -- lookups ---------------------------------------------------------------

    @cached_property
    def _precincts(self) -> dict[int, Precinct]:
        return {p.number: p for p in self.precincts}

    @cached_property
    def _styles(self) -> dict[int, BallotStyle]:
        return {s.code: s for s in self.ballot_styles}

    @cached_property
    def _contests(self) -> dict[str, AnyContest]:
        return {c.id: c for c in self.contests}

    @cached_property
    def _parties(self) -> dict[str, Party]:
        return {p.id: p for p in self.parties}

    @cached_property
    def _options(self) -> dict[str, tuple[BallotOption, ...]]:
        return {c.id: _options_of(c, self._parties) for c in self.contests}

    def precinct(self, number: int) -> Precinct:
        try:
            return self._precincts[number]
        except KeyError:
            raise ElectionLookupError(f"precinct {number} is not in election {self.id}") from None

    def style(self, code: int) -> BallotStyle:
        try:
            return self._styles[code]
        except KeyError:
            raise ElectionLookupError(f"ballot style {code} is not in election {self.id}") from None

    def contest(self, contest_id: str) -> AnyContest:
        try:
            return self._contests[contest_id]
        except KeyError:
            raise ElectionLookupError(f"contest {contest_id!r} is not in election {self.id}") from None

    def party(self, party_id: str) -> Party:
        try:
            return self._parties[party_id]
        except KeyError:
            raise ElectionLookupError(f"party {party_id!r} is not in election {self.id}") from None

    def contests_for_style(self, code: int) -> tuple[AnyContest, ...]:
        """The contests printed on a ballot style, in ballot order."""
        return tuple(self._contests[c] for c in self.style(code).contests)

    def style_for_precinct(self, number: int) -> BallotStyle:
        return self.style(self.precinct(number).style)

    def options(self, contest_id: str) -> tuple[BallotOption, ...]:
        """A contest's options in ballot order; `index` is the plaintext byte."""
        self.contest(contest_id)
        return self._options[contest_id]

    def option(self, contest_id: str, option_id: str) -> BallotOption:
        for option in self.options(contest_id):
            if option.id == option_id:
                return option
        raise ElectionLookupError(f"option {option_id!r} is not in contest {contest_id!r}")

    def option_label(self, contest_id: str, option_id: str, language: str) -> str:
        """The option's name as printed on the ballot in `language`."""
        return self.option(contest_id, option_id).name.get(language)

    @property
    def presidential_contest(self) -> PresidentialContest:
        """The presidential race of a presidential election."""
        for contest in self.contests:
            if isinstance(contest, PresidentialContest):
                return contest
        raise ElectionLookupError(f"election {self.id} has no presidential contest")

    @property
    def referendum_questions(self) -> tuple[ReferendumQuestion, ...]:
        return tuple(c for c in self.contests if isinstance(c, ReferendumQuestion))

    @property
    def party_list_contest(self) -> PartyListContest:
        """The national (Mäjilis) party-list contest, the one seats are allocated in."""
        for contest in self.contests:
            if isinstance(contest, PartyListContest) and contest.level == "national":
                return contest
        raise ElectionLookupError(f"election {self.id} has no national party list")

    @cached_property
    def plaintext_length(self) -> int:
        """Election-wide ballot plaintext length: the most contests on any style."""
        return max((len(s.contests) for s in self.ballot_styles), default=0)


def _options_of(
    contest: AnyContest, parties: Mapping[str, Party]
) -> tuple[BallotOption, ...]:
    if isinstance(contest, PartyListContest):
        return tuple(
            BallotOption(i, pid, parties[pid].name, pid) for i, pid in enumerate(contest.options)
        )
    if isinstance(contest, ReferendumQuestion):
        return tuple(
            BallotOption(i, oid, LocalizedText(**names), None) for i, (oid, names) in enumerate(REFERENDUM_ANSWERS)
        )
    return tuple(
        BallotOption(i, c.id, c.name, c.party) for i, c in enumerate(contest.candidates)
    )


# -- cross-reference and law checks --------------------------------------------


def _check_candidates(c: Any, path: str, party_rank: Mapping[str, int], add: Callable[[str, str], None]) -> None:
    """A candidate contest's candidates (presidential or single-member): ids once each,
    parties known."""
    for cand in _duplicates(x.id for x in c.candidates):
        add(f"{path}.candidates", f"contest {c.id!r} has duplicate candidate id {cand!r}")
    for j, cand in enumerate(c.candidates):
        if cand.party is not None and cand.party not in party_rank:
            add(f"{path}.candidates[{j}].party", f"candidate {cand.id!r} names unknown party {cand.party!r}")


def _duplicates(values: Iterable[Any]) -> list[Any]:
    return [v for v, n in Counter(values).items() if n > 1]


def _reference_problems(e: Election) -> list[tuple[str, str]]:
    """Everything pydantic cannot see: references between parts and the law."""
    problems: list[tuple[str, str]] = []

    def add(path: str, message: str) -> None:
        problems.append((path, message))

    # parties
    for pid in _duplicates(p.id for p in e.parties):
        add("parties", f"duplicate party id {pid!r}")
    for number in _duplicates(p.registration_number for p in e.parties):
        add("parties", f"duplicate registration number {number}")
    numbers = [p.registration_number for p in e.parties]
    if numbers != sorted(numbers):
        add("parties", "parties must be listed in registration order (ascending registration_number)")
    party_rank = {p.id: i for i, p in enumerate(e.parties)}

    # territory
    regions = {r.code for r in e.territory.regions}
    districts = {d.code: d for d in e.territory.districts}
    for code in _duplicates(r.code for r in e.territory.regions):
        add("territory.regions", f"duplicate region code {code!r}")
    for code in _duplicates(d.code for d in e.territory.districts):
        add("territory.districts", f"duplicate district code {code!r}")
    for i, d in enumerate(e.territory.districts):
        if d.region not in regions:
            add(f"territory.districts[{i}].region", f"district {d.code!r} names unknown region {d.region!r}")

    # contests
    for cid in _duplicates(c.id for c in e.contests):
        add("contests", f"duplicate contest id {cid!r}")
    national_lists = 0
    kinds = Counter(c.kind for c in e.contests)
    for i, c in enumerate(e.contests):
        path = f"contests[{i}]"
        if c.level == "maslikhat":
            if c.region is None:
                add(f"{path}.region", f"maslikhat contest {c.id!r} must name its region")
            elif c.region not in regions:
                add(f"{path}.region", f"contest {c.id!r} names unknown region {c.region!r}")
        elif c.region is not None:
            add(f"{path}.region", f"national contest {c.id!r} must not name a region")
        if isinstance(c, (PresidentialContest, ReferendumQuestion)):
            if c.level != "national":
                add(f"{path}.level", f"{c.kind} contest {c.id!r} is national, not {c.level}")
            if isinstance(c, ReferendumQuestion):
                count = len(REFERENDUM_ANSWERS)
                if c.against_all:
                    add(f"{path}.against_all", f"a referendum question has no 'against all' ({c.id!r})")
            else:
                count = len(c.candidates)
                _check_candidates(c, path, party_rank, add)
                if c.round == 2 and len(c.candidates) != 2:
                    add(f"{path}.candidates", f"a second round has exactly two candidates, found {len(c.candidates)}")
                if e.law in PRESIDENTIAL_LAWS and c.against_all != (e.law in PRESIDENTIAL_AGAINST_ALL):
                    add(
                        f"{path}.against_all",
                        f"law {e.law} {'requires' if e.law in PRESIDENTIAL_AGAINST_ALL else 'has no'} "
                        f"'against all' on the presidential ballot ({c.id!r})",
                    )
        elif isinstance(c, PartyListContest):
            count = len(c.options)
            if c.level == "national":
                national_lists += 1
                if c.seats is not None:
                    add(f"{path}.seats", f"the Mäjilis list's seats come from law {e.law}, not the definition ({c.id!r})")
            for j, pid in enumerate(c.options):
                if pid not in party_rank:
                    add(f"{path}.options[{j}]", f"contest {c.id!r} names unknown party {pid!r}")
            for pid in _duplicates(c.options):
                add(f"{path}.options", f"contest {c.id!r} lists party {pid!r} twice")
        else:
            count = len(c.candidates)
            _check_candidates(c, path, party_rank, add)
            district = districts.get(c.district)
            if district is None:
                add(f"{path}.district", f"contest {c.id!r} names unknown district {c.district!r}")
            else:
                if district.level != c.level:
                    add(f"{path}.district", f"{c.level} contest {c.id!r} names {district.level} district {c.district!r}")
                if c.region is not None and district.region != c.region:
                    add(f"{path}.district", f"district {c.district!r} is not in contest region {c.region!r}")
        if count == 0:
            add(path, f"contest {c.id!r} has no options")
        elif count > MAX_OPTIONS:
            add(path, f"contest {c.id!r} has {count} options; the ballot encoding allows at most {MAX_OPTIONS}")
        # the law
        if e.law not in MAJILIS_LAWS:
            pass  # presidential, referendum and maslikhat laws: checked per election below
        elif isinstance(c, (PresidentialContest, ReferendumQuestion)):
            add(path, f"law {e.law} elects the Mäjilis; a {c.kind} contest ({c.id!r}) needs its own election")
        elif e.law == "kz-majilis-2023":
            if not c.against_all:
                add(f"{path}.against_all", f"law {e.law} requires 'against all' on every contest ({c.id!r})")
        elif c.level == "national":
            if c.against_all:
                add(f"{path}.against_all", f"law {e.law} has no 'against all' on Mäjilis ballots ({c.id!r})")
            if isinstance(c, SingleMemberContest):
                add(path, f"law {e.law} elects the Mäjilis by party lists only; no single-member contest ({c.id!r})")
    if e.law in MAJILIS_LAWS:
        if national_lists != 1:
            add("contests", f"a Mäjilis election needs exactly one national party_list contest, found {national_lists}")
    elif e.law in PRESIDENTIAL_LAWS:
        if kinds["presidential"] != 1 or len(e.contests) != 1:
            add("contests", f"a presidential election (law {e.law}) holds exactly one presidential contest and nothing else")
    elif e.law == "kz-referendum":
        others = len(e.contests) - kinds["referendum"]
        if not kinds["referendum"] or others:
            add("contests", "a republican referendum holds one or more referendum questions and nothing else")
    elif e.law == "kz-maslikhat-2023":
        for i, c in enumerate(e.contests):
            if c.level != "maslikhat" or c.kind not in ("party_list", "single_member"):
                add(f"contests[{i}]", f"a maslikhat election holds maslikhat party lists and seats only ({c.id!r})")
            elif not c.against_all:
                add(f"contests[{i}].against_all", f"law {e.law} requires 'against all' on every contest ({c.id!r})")

    # ballot styles
    contests = {c.id: c for c in e.contests}
    for code in _duplicates(s.code for s in e.ballot_styles):
        add("ballot_styles", f"duplicate ballot style code {code}")
    on_a_style: set[str] = set()
    for i, s in enumerate(e.ballot_styles):
        path = f"ballot_styles[{i}]"
        if not s.contests:
            add(f"{path}.contests", f"ballot style {s.code} has no contests")
        for cid in _duplicates(s.contests):
            add(f"{path}.contests", f"ballot style {s.code} lists contest {cid!r} twice")
        for j, cid in enumerate(s.contests):
            if cid not in contests:
                add(f"{path}.contests[{j}]", f"ballot style {s.code} names missing contest {cid!r}")
        on_a_style.update(s.contests)
        if len(s.contests) > MAX_PLAINTEXT_LENGTH:
            add(
                f"{path}.contests",
                f"ballot style {s.code} has {len(s.contests)} contests; one card record holds at most "
                f"{MAX_PLAINTEXT_LENGTH} (one plaintext byte per contest)",
            )
    for i, c in enumerate(e.contests):
        if c.id not in on_a_style:
            add(f"contests[{i}]", f"contest {c.id!r} is on no ballot style")

    # precincts
    styles = {s.code: s for s in e.ballot_styles}
    for number in _duplicates(p.number for p in e.precincts):
        add("precincts", f"duplicate precinct number {number}")
    for i, p in enumerate(e.precincts):
        path = f"precincts[{i}]"
        if p.region not in regions:
            add(f"{path}.region", f"precinct {p.number} names unknown region {p.region!r}")
        district = districts.get(p.district) if p.district is not None else None
        if p.district is not None and district is None:
            add(f"{path}.district", f"precinct {p.number} names unknown district {p.district!r}")
        elif district is not None:
            if district.level != "national":
                add(f"{path}.district", f"precinct {p.number}: district {p.district!r} is not a Mäjilis district")
            if district.region != p.region:
                add(f"{path}.district", f"precinct {p.number}: district {p.district!r} is not in region {p.region!r}")
        style = styles.get(p.style)
        if style is None:
            add(f"{path}.style", f"precinct {p.number} names missing ballot style {p.style}")
            continue
        for cid in style.contests:
            c = contests.get(cid)
            if c is None:
                continue
            if isinstance(c, SingleMemberContest) and c.level == "national":
                # A precinct lies in one Mäjilis district: its voters get that district's race.
                if c.district != p.district:
                    add(
                        f"{path}.style",
                        f"precinct {p.number} (district {p.district!r}) gets style {style.code} with "
                        f"contest {c.id!r} of district {c.district!r}",
                    )
            elif c.region is not None and c.region != p.region:
                # Maslikhat races (several levels may share a ballot) stay in their region.
                add(
                    f"{path}.style",
                    f"precinct {p.number} (region {p.region!r}) gets style {style.code} with "
                    f"contest {c.id!r} of region {c.region!r}",
                )

    # the key
    if len(e.public_key) != 32:
        add("public_key", f"X25519 public key must be 32 bytes, got {len(e.public_key)}")
    elif e.public_key == bytes(32):
        add("public_key", "the all-zero X25519 public key is not a key")
    if e.registry_root_key is not None and e.registry_root_key == bytes(32):
        add("registry_root_key", "the all-zero key is not a registry root key")
    if e.key_ceremony is not None:
        k, n = e.key_ceremony.threshold, e.key_ceremony.shares
        if k > n:
            add("key_ceremony", f"threshold {k} exceeds the number of shares {n}")
        elif k == 1 and n > 1:
            add("key_ceremony", "threshold 1 with several shares would hand the key to each member; use k >= 2")
    return problems


# -- loading and writing ---------------------------------------------------------


def _path_of(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("party_list", "single_member", "presidential", "referendum"):
            continue  # discriminated-union tag, not a field
        else:
            out += f".{part}" if out else str(part)
    return out


def _definition_error(exc: ValidationError) -> DefinitionError:
    problems: list[tuple[str, str]] = []
    for err in exc.errors():
        inner = (err.get("ctx") or {}).get("error")
        if isinstance(inner, DefinitionError):
            problems.extend(inner.problems)
            continue
        message = err["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append((_path_of(err["loc"]), message))
    return DefinitionError(problems)


def parse_election(raw: bytes, subject: str = "this file") -> Election:
    """Validate definition bytes; the fingerprint is SHA-256 of exactly these bytes.

    Bytes of another kind of Sailau file raise `NotAnElectionDefinition` naming
    `subject` (only looked at once validation failed: the good path pays nothing).
    Bytes out of the reader's bounds raise `DefinitionInputError` first.
    """
    try:
        jsonfile.parse_json(raw, subject, max_bytes=MAX_DEFINITION_BYTES, what="an election definition")
    except jsonfile.InputError as e:
        raise DefinitionInputError(str(e), e.reason) from None
    try:
        election = Election.model_validate_json(raw)
    except ValidationError as exc:
        other = filekind.wrong_kind_of_bytes(raw, filekind.ELECTION, subject)
        if other is not None:
            raise NotAnElectionDefinition(other) from None
        raise _definition_error(exc) from None
    election._raw = bytes(raw)
    return election


def load_election(path: str | Path) -> Election:
    """Read (at most `MAX_DEFINITION_BYTES`) and validate an election definition file.
    OSError when it cannot be read."""
    try:
        raw = jsonfile.read_bounded(path, MAX_DEFINITION_BYTES, "an election definition")
    except jsonfile.InputError as e:
        raise DefinitionInputError(str(e), e.reason) from None
    try:
        return parse_election(raw, subject=str(path))
    except (NotAnElectionDefinition, DefinitionInputError):
        raise
    except DefinitionError as exc:
        raise DefinitionError(((f"{path}: {p}" if p else str(path), m) for p, m in exc.problems)) from None


def election_from_data(data: Mapping[str, Any]) -> Election:
    """Build an election from plain JSON-able data (tests, demo, synthetic elections).

    Validated exactly as a file is; its raw bytes are the canonical serialisation,
    so `write_election` then `load_election` gives the same fingerprint.
    """
    try:
        election = Election.model_validate_json(json.dumps(data, default=_json_default))
    except ValidationError as exc:
        raise _definition_error(exc) from None
    election._raw = election.to_json_bytes()
    return election


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    raise TypeError(f"cannot put {type(value).__name__} into an election definition")


def write_election(election: Election, path: str | Path | None = None) -> bytes:
    """The bytes of `election` (written to `path` if given); they hash to its fingerprint.

    These are the bytes it was parsed from, or the canonical serialisation if it was
    built in code; `Election.to_json_bytes()` always gives the canonical form.
    """
    raw = election.raw_bytes
    if path is not None:
        Path(path).write_bytes(raw)
    return raw
