"""The precinct key registry: which keys may sign for which precinct, signed under
the election's trust root.

A signed protocol carries its own public key, so its signature alone proves only
that the file was not changed after signing. Origin needs a list fixed before
election day: per precinct, the Ed25519 key of its ballot-box station, the keys
of its booth terminals and, where enrolled, of its commission members. That list
is only as good as whoever vouches for it, so it is signed by the **registry
root**: the key the election definition names (`registry_root_key`), which the
definition's fingerprint covers. An observer who trusts the definition can
therefore check the registry, and through it every protocol, with nothing else
taken on trust; a registry that is unsigned, signed by another key, altered after
signing, or made for another election is refused by name (`RegistryProblem`).

File format (UTF-8 JSON, `stations.json` in a published set; written with
`sailau registry sign`):

    {"format": "sailau/station-keys", "version": 2,
     "election": {"id": "...", "fingerprint": "<64 hex>"},
     "root_key_id": "<16 hex>",
     "stations": [{"precinct": 1, "key_id": "<16 hex>", "public_key": "<64 hex>",
                   "terminals": [{"key_id": ..., "public_key": ...}, ...],
                   "members": [{"key_id": ..., "public_key": ...,
                                "role": "chair", "name": "..."}, ...]}, ...],
     "signature": "<128 hex>"}

The signature is Ed25519 by the root over the canonical JSON (sorted keys, no
whitespace, UTF-8) of the file without its `signature` member; the file itself
may be pretty-printed. A member entry's `role` and `name` (election/members.py)
are optional, both or neither, so registries signed before they existed still
verify. Version 1 (no root, no signature) is read only as a draft
for `sailau registry sign --from`, never trusted.

Invariants of a `StationRegistry`: one station key per precinct; no key (station,
terminal or member) enrolled twice anywhere in it; every key id is
`crypto.key_id` of its public key.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import filekind, jsonfile
from sailau.election.crypto import (
    KeyFormatError,
    SignatureError,
    ed25519_public_bytes,
    key_id,
    sign,
    verify_key_from_bytes,
    verify_signature,
)
from sailau.election.definition import Election
from sailau.election.members import Member, MemberIndex, MembersError, Role, check_name, parse_role
from sailau.election.protocol import canonical_json

REGISTRY_FORMAT = "sailau/station-keys"
REGISTRY_VERSION = 2
#: One entry is a few hundred bytes: 64 MiB holds over 100,000 precincts (Kazakhstan has ~10,000).
MAX_REGISTRY_BYTES = 64 * 1024 * 1024
_DRAFT_VERSIONS = (1, 2)


class RegistryProblem(str, enum.Enum):
    """Why a registry is refused. Stable names (`registry:<name>` in messages and
    in `sailau verify`'s findings): scripts and tests match on them."""

    FORMAT = "format"  # not a readable registry file
    UNSIGNED = "unsigned"  # no root signature (a version 1 file, or the signature removed)
    NO_ROOT = "no_root"  # the election definition names no registry root key
    WRONG_ROOT = "wrong_root"  # signed, but by a key that is not the definition's root
    SIGNATURE = "signature"  # the root's signature does not verify: changed after signing
    ELECTION = "election"  # a genuine registry, but of another election (id or fingerprint)


class RegistryError(ValueError):
    """The registry is malformed, contradicts itself, or is not trusted; `problem` names why."""

    def __init__(self, message: str, problem: RegistryProblem = RegistryProblem.FORMAT):
        super().__init__(message)
        self.problem = problem

    @property
    def name(self) -> str:
        return f"registry:{self.problem.value}"


@dataclass(frozen=True)
class EnrolledKey:
    """An Ed25519 public key and its id (first 8 bytes of its SHA-256). A commission
    member's entry may also carry the member's `role` and full `name`
    (election/members.py), both or neither; they are signed with the registry."""

    key_id: bytes
    public_key: bytes
    role: Role | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.role is None) != (self.name is None):
            raise RegistryError(f"key {self.key_id.hex()}: a member's role and name go together")

    @classmethod
    def of(cls, public_key: bytes) -> EnrolledKey:
        return cls(key_id(public_key), bytes(public_key))

    @classmethod
    def of_member(cls, member: Member) -> EnrolledKey:
        return cls(member.key_id, member.public_key, member.role, member.name)

    def to_data(self) -> dict[str, str]:
        named = {} if self.role is None or self.name is None else {"role": self.role.value, "name": self.name}
        return {"key_id": self.key_id.hex(), "public_key": self.public_key.hex()} | named


@dataclass(frozen=True)
class StationKey:
    """One precinct's enrolment: its station key, its terminals and commission members."""

    precinct: int
    key_id: bytes  # crypto.key_id(public_key)
    public_key: bytes  # raw 32-byte Ed25519 key
    terminals: tuple[EnrolledKey, ...] = ()
    members: tuple[EnrolledKey, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            "precinct": self.precinct,
            "key_id": self.key_id.hex(),
            "public_key": self.public_key.hex(),
            "terminals": [t.to_data() for t in self.terminals],
            "members": [m.to_data() for m in self.members],
        }


@dataclass(frozen=True)
class StationRegistry:
    """The enrolled keys of one election (trusted only once `verify_registry` said so)."""

    election_id: str
    election_fingerprint: str
    stations: tuple[StationKey, ...]

    def __post_init__(self) -> None:
        seen_p: set[int] = set()
        seen_k: dict[bytes, str] = {}
        for s in self.stations:
            if s.precinct in seen_p:
                raise RegistryError(f"precinct {s.precinct} has more than one station key")
            seen_p.add(s.precinct)
            roles = [("station", EnrolledKey(s.key_id, s.public_key))]
            roles += [("terminal", t) for t in s.terminals] + [("member", m) for m in s.members]
            for role, k in roles:
                try:
                    actual = key_id(k.public_key)
                except KeyFormatError as e:
                    raise RegistryError(f"precinct {s.precinct}: {role} key: {e}") from None
                if actual != k.key_id:
                    raise RegistryError(f"precinct {s.precinct}: {role} key id {k.key_id.hex()} does not name its public key")
                if k.key_id in seen_k:
                    raise RegistryError(f"key {k.key_id.hex()} is enrolled twice ({seen_k[k.key_id]}, and {role} of precinct {s.precinct})")
                seen_k[k.key_id] = f"{role} of precinct {s.precinct}"
        object.__setattr__(self, "stations", tuple(sorted(self.stations, key=lambda s: s.precinct)))

    @cached_property
    def by_key_id(self) -> Mapping[bytes, StationKey]:
        return {s.key_id: s for s in self.stations}

    @cached_property
    def by_precinct(self) -> Mapping[int, StationKey]:
        return {s.precinct: s for s in self.stations}

    @cached_property
    def member_index(self) -> MemberIndex:
        """`members()` indexed by key id and precinct (built once per registry)."""
        return MemberIndex(self.members())

    def members(self) -> tuple[Member, ...]:
        """Every enrolled commission member with a role and name, of every precinct
        (what `cosign.check_cosignatures` checks co-signatures against). A member key
        enrolled without them (a registry made before names were enrolled) still
        counts towards its precinct's majority, as an ordinary member named by key id."""
        return tuple(
            Member(s.precinct, m.role or Role.MEMBER, m.name or f"member {m.key_id.hex()}", m.public_key)
            for s in self.stations for m in s.members
        )

    def trusted_keys(self) -> dict[bytes, bytes]:
        """station key id -> raw public key, as `verify_signed_protocol` takes it."""
        return {s.key_id: s.public_key for s in self.stations}

    def signed_data(self, root_key_id: bytes) -> dict[str, Any]:
        """Everything the root signs (the file without its `signature`)."""
        return {
            "format": REGISTRY_FORMAT,
            "version": REGISTRY_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "root_key_id": root_key_id.hex(),
            "stations": [s.to_data() for s in self.stations],
        }


@dataclass(frozen=True)
class SignedRegistry:
    """A registry with the root's signature, as published."""

    registry: StationRegistry
    root_key_id: bytes
    signature: bytes = field(repr=False)

    def to_json_bytes(self) -> bytes:
        data = self.registry.signed_data(self.root_key_id) | {"signature": self.signature.hex()}
        return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode("utf-8")


def sign_registry(registry: StationRegistry, root_key: ed25519.Ed25519PrivateKey) -> SignedRegistry:
    root_id = key_id(ed25519_public_bytes(root_key.public_key()))
    return SignedRegistry(registry, root_id, sign(root_key, canonical_json(registry.signed_data(root_id))))


def _hex(value: Any, length: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise ValueError(f"expected {length} bytes as hex, got {value!r}")
    return bytes.fromhex(value)


def _enrolled(items: Any, what: str) -> tuple[EnrolledKey, ...]:
    if not isinstance(items, list):
        raise ValueError(f"{what} must be a list")
    out = []
    for t in items:
        if not isinstance(t, dict):
            raise ValueError(f"each of {what} must be an object")
        named = what == "members" and ("role" in t or "name" in t)
        unknown = sorted(set(t) - {"key_id", "public_key"} - ({"role", "name"} if what == "members" else set()))
        if unknown:
            raise ValueError(f"{what}: unknown key(s) {', '.join(unknown)}")
        try:
            role, name = (parse_role(t.get("role")), check_name(t.get("name"))) if named else (None, None)
        except MembersError as e:
            raise ValueError(f"{what}: {e}") from None
        out.append(EnrolledKey(_hex(t["key_id"], 8), _hex(t["public_key"], 32), role, name))
    return tuple(out)


def _parse(raw: bytes, subject: str) -> dict[str, Any]:
    other = filekind.wrong_kind_of_bytes(raw, filekind.STATION_KEYS, subject)
    if other is not None:
        raise RegistryError(other)
    try:
        data = jsonfile.parse_json(raw, subject, max_bytes=MAX_REGISTRY_BYTES, what="a station key registry")
    except jsonfile.InputError as e:
        raise RegistryError(f"station key registry refused ({e.reason}): {e}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{subject}: station key registry must be a JSON object")
    if data.get("format") != REGISTRY_FORMAT or data.get("version") not in _DRAFT_VERSIONS:
        raise RegistryError(
            f"{subject}: not a {REGISTRY_FORMAT} v{REGISTRY_VERSION} file (format {data.get('format')!r}, version {data.get('version')!r})"
        )
    return data


def _registry_of(data: dict[str, Any], subject: str) -> StationRegistry:
    election = data.get("election")
    if not isinstance(election, dict) or not isinstance(election.get("id"), str) or not isinstance(election.get("fingerprint"), str):
        raise RegistryError(f"{subject}: election must be {{id, fingerprint}}")
    stations = data.get("stations")
    if not isinstance(stations, list):
        raise RegistryError(f"{subject}: stations must be a list")
    known = {"precinct", "key_id", "public_key", "terminals", "members"}
    out = []
    for i, s in enumerate(stations):
        try:
            if not isinstance(s, dict):
                raise ValueError("each station must be an object")
            unknown = sorted(set(s) - known)
            if unknown:
                raise ValueError(f"unknown key(s) {', '.join(unknown)}")
            precinct = s["precinct"]
            if not isinstance(precinct, int) or isinstance(precinct, bool) or precinct < 1:
                raise ValueError(f"precinct must be a positive integer, got {precinct!r}")
            out.append(
                StationKey(
                    precinct, _hex(s["key_id"], 8), _hex(s["public_key"], 32),
                    _enrolled(s.get("terminals", []), "terminals"), _enrolled(s.get("members", []), "members"),
                )
            )
        except (KeyError, TypeError, ValueError) as e:
            raise RegistryError(f"{subject}: stations[{i}]: {e}") from None
    try:
        return StationRegistry(election["id"], election["fingerprint"], tuple(out))
    except RegistryError as e:
        raise RegistryError(f"{subject}: {e}") from None


def verify_registry(raw: bytes, election: Election, subject: str = "stations.json") -> SignedRegistry:
    """The registry in `raw`, trusted: signed by the root `election` names, unchanged
    since, and made for this election. Otherwise `RegistryError` with its problem:
    format, no_root, unsigned, wrong_root, signature, election (checked in that order)."""
    data = _parse(raw, subject)
    if election.registry_root_key is None:
        raise RegistryError(
            f"election {election.id!r} names no registry root key (registry_root_key in the definition), "
            "so no station key registry can be trusted for it",
            RegistryProblem.NO_ROOT,
        )
    if data.get("version") != REGISTRY_VERSION or "signature" not in data:
        raise RegistryError(
            f"{subject} is not signed by a registry root: a station key registry must be signed under the root "
            "the election definition names (sailau registry sign)",
            RegistryProblem.UNSIGNED,
        )
    unknown = sorted(set(data) - {"format", "version", "election", "root_key_id", "stations", "signature"})
    if unknown:
        raise RegistryError(f"{subject}: unknown key(s) {', '.join(unknown)}")
    try:
        root_id = _hex(data.get("root_key_id"), 8)
        signature = _hex(data.get("signature"), 64)
    except ValueError as e:
        raise RegistryError(f"{subject}: root_key_id and signature: {e}") from None
    registry = _registry_of(data, subject)
    root = election.registry_root_key
    if root_id != key_id(root):
        raise RegistryError(
            f"{subject} is signed by key {root_id.hex()}, not by the registry root {key_id(root).hex()} "
            f"that election {election.id!r} names",
            RegistryProblem.WRONG_ROOT,
        )
    try:
        verify_signature(verify_key_from_bytes(root), signature, canonical_json(registry.signed_data(root_id)))
    except (SignatureError, KeyFormatError):
        raise RegistryError(
            f"{subject}: the registry root's signature does not verify: the registry was changed after it was signed",
            RegistryProblem.SIGNATURE,
        ) from None
    if (registry.election_id, registry.election_fingerprint) != (election.id, election.fingerprint_hex):
        raise RegistryError(
            f"{subject} is the registry of election {registry.election_id!r} ({registry.election_fingerprint[:16]}...), "
            f"not of {election.id!r} ({election.fingerprint_hex[:16]}...)",
            RegistryProblem.ELECTION,
        )
    return SignedRegistry(registry, root_id, signature)


def read_registry_draft(path: str | Path) -> StationRegistry:
    """The entries of a registry file of either version, signed or not, NOT trusted:
    the input of `sailau registry sign --from`, never of a check."""
    path = Path(path)
    return _registry_of(_parse(_read_registry_file(path), str(path)), str(path))


def build_registry(
    election_id: str,
    fingerprint: str,
    keys: Iterable[tuple[int, bytes]],
    terminals: Mapping[int, Iterable[bytes]] | None = None,
    members: Mapping[int, Iterable[bytes | Member]] | None = None,
) -> StationRegistry:
    """A registry from (precinct, raw station public key) pairs and, per precinct,
    raw terminal and member public keys (a member as a `Member`: with role and name)."""
    terminals, members = terminals or {}, members or {}
    return StationRegistry(
        election_id,
        fingerprint,
        tuple(
            StationKey(
                p, key_id(pk), pk,
                tuple(EnrolledKey.of(t) for t in terminals.get(p, ())),
                tuple(EnrolledKey.of_member(m) if isinstance(m, Member) else EnrolledKey.of(m) for m in members.get(p, ())),
            )
            for p, pk in keys
        ),
    )


def load_registry(path: str | Path, election: Election) -> SignedRegistry:
    """Read and verify (`verify_registry`) the registry file at `path`."""
    path = Path(path)
    return verify_registry(_read_registry_file(path), election, str(path))


def _read_registry_file(path: Path) -> bytes:
    """A registry file's bytes within `MAX_REGISTRY_BYTES`, or a `RegistryError` in words."""
    try:
        return jsonfile.read_bounded(path, MAX_REGISTRY_BYTES, "a station key registry")
    except OSError as e:
        raise RegistryError(f"{path}: cannot read station key registry ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise RegistryError(f"station key registry refused ({e.reason}): {e}") from None


def write_registry(signed: SignedRegistry, path: str | Path) -> None:
    Path(path).write_bytes(signed.to_json_bytes())
