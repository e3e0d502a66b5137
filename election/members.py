"""A precinct election commission's members: who they are, in which role, and
the Ed25519 key each made at the key ceremony (`sailau keys member`).

Where the list lives. Each member's entry (precinct, role, full name, key id,
public key) is written at the ceremony as a one-member *members file* beside the
member's key; `sailau registry members` joins a precinct's entries into its
members file (`members.json`, the station's set-up: the wall copy prints names
and roles from it), and `sailau registry sign --members members.json` enrols
them, names and roles included, in the root-signed registry (stations.json), the
one list a commission and `sailau protocol verify` trust: co-signatures are
checked against the registry, never against a members file alone.

File format (UTF-8 JSON, pretty-printed; public data only, no secret):

    {"format": "sailau/commission-members", "version": 1, "precinct": 7101,
     "members": [{"role": "chair", "name": "Әсел Нұрланқызы Серікова",
                  "key_id": "<16 hex>", "public_key": "<64 hex>"}, ...]}

Invariants of a `CommissionMembers`: one precinct; at most one chair, one
deputy chair and one secretary; no key twice; every key id names its public key;
names are 1..`MAX_NAME_CHARS` printable characters (no control characters, no
leading or trailing space); at most `MAX_MEMBERS` members (the law's precinct
commissions have 5 to 11). Members are kept in role order (chair, deputy chair,
secretary, members) and then by name, so the same set always writes the same bytes.
"""

from __future__ import annotations

import enum
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import jsonfile
from .crypto import KeyFormatError, key_id

MEMBERS_FORMAT = "sailau/commission-members"
MEMBERS_VERSION = 1
MAX_NAME_CHARS = 200
MAX_MEMBERS = 64
MAX_MEMBERS_FILE_BYTES = 64 * 1024


class Role(str, enum.Enum):
    """A member's role on the commission, in the order the protocol lists them."""

    CHAIR = "chair"
    DEPUTY_CHAIR = "deputy_chair"
    SECRETARY = "secretary"
    MEMBER = "member"


#: Roles a commission has at most one of.
SINGLE_ROLES = (Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY)
ROLE_TITLES = {
    "kk": {Role.CHAIR: "Төраға", Role.DEPUTY_CHAIR: "Төрағаның орынбасары", Role.SECRETARY: "Хатшы", Role.MEMBER: "Мүше"},
    "ru": {Role.CHAIR: "Председатель", Role.DEPUTY_CHAIR: "Заместитель председателя", Role.SECRETARY: "Секретарь",
           Role.MEMBER: "Член комиссии"},
    "en": {Role.CHAIR: "Chair", Role.DEPUTY_CHAIR: "Deputy chair", Role.SECRETARY: "Secretary", Role.MEMBER: "Member"},
}


class MembersError(ValueError):
    """A members file or entry is malformed or contradicts itself (the message says how)."""


def check_name(name: object) -> str:
    """The member's full name, or `MembersError` saying why it cannot be one."""
    if not isinstance(name, str) or not name.strip():
        raise MembersError(f"a member's name must be non-empty text, got {name!r}")
    if name != name.strip():
        raise MembersError(f"a member's name must not start or end with a space: {name!r}")
    if len(name) > MAX_NAME_CHARS:
        raise MembersError(f"a member's name is at most {MAX_NAME_CHARS} characters, got {len(name)}")
    bad = [c for c in name if unicodedata.category(c).startswith("C")]
    if bad:
        raise MembersError(f"a member's name must not hold control characters ({bad[0]!r})")
    return name


def parse_role(value: object) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise MembersError(f"role must be one of {', '.join(r.value for r in Role)}, got {value!r}") from None


@dataclass(frozen=True)
class Member:
    """One commission member: precinct, role, full name and Ed25519 public key."""

    precinct: int
    role: Role
    name: str
    public_key: bytes  # raw 32-byte Ed25519 key

    def __post_init__(self) -> None:
        if not isinstance(self.precinct, int) or isinstance(self.precinct, bool) or self.precinct < 1:
            raise MembersError(f"precinct must be a positive integer, got {self.precinct!r}")
        object.__setattr__(self, "role", parse_role(self.role))
        check_name(self.name)
        try:
            key_id(self.public_key)
        except KeyFormatError as e:
            raise MembersError(f"member {self.name!r}: {e}") from None

    @property
    def key_id(self) -> bytes:
        return key_id(self.public_key)

    def title(self, language: str) -> str:
        return ROLE_TITLES[language][self.role]

    def to_data(self) -> dict[str, Any]:
        return {"role": self.role.value, "name": self.name, "key_id": self.key_id.hex(), "public_key": self.public_key.hex()}


def role_order(m: Member) -> tuple[int, str, bytes]:
    return (list(Role).index(m.role), m.name, m.key_id)


@dataclass(frozen=True)
class CommissionMembers:
    """One precinct's commission (see the module docstring for the invariants)."""

    precinct: int
    members: tuple[Member, ...]

    def __post_init__(self) -> None:
        if len(self.members) > MAX_MEMBERS:
            raise MembersError(f"at most {MAX_MEMBERS} members, got {len(self.members)}")
        seen: set[bytes] = set()
        for m in self.members:
            if m.precinct != self.precinct:
                raise MembersError(f"member {m.name!r} is of precinct {m.precinct}, not {self.precinct}")
            if m.key_id in seen:
                raise MembersError(f"key {m.key_id.hex()} is listed twice")
            seen.add(m.key_id)
        for role in SINGLE_ROLES:
            holders = [m.name for m in self.members if m.role is role]
            if len(holders) > 1:
                raise MembersError(f"precinct {self.precinct} has more than one {role.value}: {', '.join(holders)}")
        object.__setattr__(self, "members", tuple(sorted(self.members, key=role_order)))

    def to_json_bytes(self) -> bytes:
        data = {"format": MEMBERS_FORMAT, "version": MEMBERS_VERSION, "precinct": self.precinct,
                "members": [m.to_data() for m in self.members]}
        return (json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")


class MemberIndex:
    """Members of every precinct, looked up by key id and by precinct (built once,
    then each protocol's check is proportional to its own commission)."""

    def __init__(self, members: Iterable[Member]):
        self.by_key: dict[bytes, Member] = {}
        self.by_precinct: dict[int, tuple[Member, ...]] = {}
        grouped: dict[int, list[Member]] = {}
        for m in members:
            self.by_key[m.key_id] = m
            grouped.setdefault(m.precinct, []).append(m)
        self.by_precinct = {n: tuple(ms) for n, ms in grouped.items()}

    def of(self, precinct: int) -> tuple[Member, ...]:
        return self.by_precinct.get(precinct, ())


def _hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise MembersError(f"{what} must be {length} bytes as hex, got {value!r}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise MembersError(f"{what} must be hex, got {value!r}") from None


def member_from_data(precinct: int, d: Any) -> Member:
    """A member entry (role, name, key_id, public_key) of `precinct`; the key id must name the key."""
    if not isinstance(d, dict):
        raise MembersError("each member must be an object")
    unknown = sorted(set(d) - {"role", "name", "key_id", "public_key"})
    if unknown:
        raise MembersError(f"unknown key(s) {', '.join(unknown)}")
    missing = sorted({"role", "name", "key_id", "public_key"} - set(d))
    if missing:
        raise MembersError(f"missing {', '.join(missing)}")
    m = Member(precinct, parse_role(d["role"]), check_name(d["name"]), _hex(d["public_key"], 32, "public_key"))
    if _hex(d["key_id"], 8, "key_id") != m.key_id:
        raise MembersError(f"member {m.name!r}: key id {d['key_id']} does not name its public key")
    return m


def parse_members(raw: bytes, subject: str) -> CommissionMembers:
    try:
        data = jsonfile.parse_headed(raw, subject, MEMBERS_FORMAT, MEMBERS_VERSION,
                                     max_bytes=MAX_MEMBERS_FILE_BYTES, what="a commission members file")
    except jsonfile.WrongFormatError as e:
        raise MembersError(str(e)) from None
    except jsonfile.InputError as e:
        raise MembersError(f"members file refused ({e.reason}): {e}") from None
    unknown = sorted(set(data) - {"format", "version", "precinct", "members"})
    if unknown:
        raise MembersError(f"{subject}: unknown key(s) {', '.join(unknown)}")
    precinct, entries = data.get("precinct"), data.get("members")
    if not isinstance(precinct, int) or isinstance(precinct, bool) or precinct < 1:
        raise MembersError(f"{subject}: precinct must be a positive integer, got {precinct!r}")
    if not isinstance(entries, list) or len(entries) > MAX_MEMBERS:
        raise MembersError(f"{subject}: members must be a list of at most {MAX_MEMBERS}")
    out = []
    for i, d in enumerate(entries):
        try:
            out.append(member_from_data(precinct, d))
        except MembersError as e:
            raise MembersError(f"{subject}: members[{i}]: {e}") from None
    try:
        return CommissionMembers(precinct, tuple(out))
    except MembersError as e:
        raise MembersError(f"{subject}: {e}") from None


def read_members_file(path: str | Path) -> CommissionMembers:
    path = Path(path)
    try:
        raw = jsonfile.read_bounded(path, MAX_MEMBERS_FILE_BYTES, "a commission members file")
    except OSError as e:
        raise MembersError(f"{path}: cannot read ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise MembersError(f"members file refused ({e.reason}): {e}") from None
    return parse_members(raw, str(path))


def join_members(parts: Iterable[CommissionMembers]) -> CommissionMembers:
    """One precinct's members from several files (each member's ceremony entry)."""
    parts = list(parts)
    if not parts:
        raise MembersError("no members to join")
    precincts = sorted({p.precinct for p in parts})
    if len(precincts) != 1:
        raise MembersError(f"members of different precincts ({', '.join(map(str, precincts))}) cannot be one commission")
    return CommissionMembers(precincts[0], tuple(m for p in parts for m in p.members))


def write_members_file(members: CommissionMembers, path: str | Path) -> None:
    """Write a members file; never over an existing file."""
    try:
        with open(path, "xb") as f:
            f.write(members.to_json_bytes())
    except FileExistsError:
        raise MembersError(f"{path}: already exists, refusing to overwrite") from None
