"""Commission members' co-signatures of a signed protocol, and the majority rule.

The station signs the protocol first (protocol.py); its members then co-sign
*that*: the exact bytes of the signed protocol file (`SignedProtocol.
to_canonical_json()`, station signature included), by their SHA-256. A
co-signature is a small file of its own (a sidecar, `*.cosig`), so the signed
protocol's bytes never change when members sign, members may sign one by one on
the station or on another machine from the protocol file (or from the wall
copy's QR code), and a dissenting opinion is signed with the co-signature and
travels with it.

File format (canonical JSON: sorted keys, no whitespace, UTF-8; one trailing
newline is accepted on reading, as a scanner or editor adds it):

    {"format": "sailau/protocol-cosignature", "version": 1,
     "election": "<election id>", "precinct": 7101,
     "protocol_sha256": "<64 hex: SHA-256 of the signed protocol file's bytes>",
     "member_key_id": "<16 hex>", "role": "secretary",
     "signed_at": "2026-12-01T20:41:07+05:00", "time_zone": "Asia/Almaty",
     "dissent": "<optional text>",
     "public_key": "<64 hex>", "signature": "<128 hex>"}

`signature` is the member's Ed25519 signature over the canonical JSON of the
file without its `signature` member. `signed_at` is the local time of signing in
`time_zone` (an IANA zone, by default the precinct's: Asia/Almaty), to the
second, with the offset that zone had at that instant (checked on reading).

The majority rule (`check_cosignatures`, the one check `sailau protocol verify`
and the commission's import both apply): a protocol is signed by the commission
when more than half of the members the trusted registry enrols for its precinct
co-signed it, each counted once. Every co-signature given must hold; each one
that does not is named (`CosignProblem`, printed as ``cosign:<name>``):
`not_enrolled`, `other_precinct` (a member key enrolled for another precinct),
`signature` (the member's signature does not verify: the file, its dissent
included, was changed), `other_bytes` (a co-signature over another protocol
file of the precinct), `role` (a role other than the enrolled one),
`duplicate_member` (the same member twice), and `no_majority` for the protocol;
the commission's store adds `too_many` (a member's co-signatures past the files a
precinct can have).
A precinct with no members enrolled has no rule to apply (`CosignCheck.applies`).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from . import jsonfile
from .crypto import KeyFormatError, SignatureError, ed25519_public_bytes, key_id, sign, verify_key_from_bytes, verify_signature
from .members import Member, MemberIndex, MembersError, Role, parse_role
from .protocol import SignedProtocol, canonical_json

COSIGN_FORMAT = "sailau/protocol-cosignature"
COSIGN_VERSION = 1
COSIGN_SUFFIX = ".cosig"
DEFAULT_TIME_ZONE = "Asia/Almaty"
MAX_DISSENT_CHARS = 4000
#: A co-signature with the longest dissent (4000 characters of up to 4 UTF-8 bytes) is under 17 KB.
MAX_COSIGNATURE_BYTES = 24 * 1024
#: More co-signature files than any commission has members are refused unread.
MAX_COSIGNATURES = 64
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FIELDS = {"format", "version", "election", "precinct", "protocol_sha256", "member_key_id", "role", "signed_at",
           "time_zone", "public_key", "signature"}


class CosignProblem(str, enum.Enum):
    """Why a co-signature (or a protocol's set of them) does not hold. Stable names."""

    FORMAT = "format"  # not a readable co-signature file
    NOT_ENROLLED = "not_enrolled"  # the signing key is no member key of the registry
    OTHER_PRECINCT = "other_precinct"  # a member key, but enrolled for another precinct
    SIGNATURE = "signature"  # the member's signature does not verify (changed after signing)
    OTHER_BYTES = "other_bytes"  # signs another protocol file than this one
    ROLE = "role"  # names a role other than the member's enrolled role
    DUPLICATE_MEMBER = "duplicate_member"  # the member co-signed twice
    NO_MAJORITY = "no_majority"  # fewer than a majority of the enrolled members co-signed
    # the member has co-signed as many protocol files of their precinct as a store keeps
    # (commission/cosignstore.py: MAX_FILES_PER_MEMBER, each recount is one); refused on arrival
    TOO_MANY = "too_many"


class CosignError(ValueError):
    """A co-signature cannot be read or made; `problem` names why."""

    def __init__(self, message: str, problem: CosignProblem = CosignProblem.FORMAT):
        super().__init__(message)
        self.problem = problem


def protocol_digest(signed_bytes: bytes) -> str:
    """What members sign: hex SHA-256 of the signed protocol file's canonical bytes."""
    return hashlib.sha256(signed_bytes).hexdigest()


def check_dissent(text: object) -> str:
    if not isinstance(text, str) or not text.strip():
        raise CosignError(f"a dissenting opinion must be non-empty text, got {text!r}")
    if len(text) > MAX_DISSENT_CHARS:
        raise CosignError(f"a dissenting opinion is at most {MAX_DISSENT_CHARS} characters, got {len(text)}")
    bad = [c for c in text if unicodedata.category(c).startswith("C") and c not in "\n"]
    if bad:
        raise CosignError(f"a dissenting opinion may hold line breaks but no other control characters ({bad[0]!r})")
    return text


def local_time(when: datetime.datetime, time_zone: str) -> datetime.datetime:
    """`when` (timezone-aware) in `time_zone`, to the second."""
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CosignError(f"unknown time zone {time_zone!r} (an IANA name such as {DEFAULT_TIME_ZONE})") from None
    if when.tzinfo is None:
        raise CosignError("the time of signing must be timezone-aware")
    return when.astimezone(zone).replace(microsecond=0)


@dataclass(frozen=True)
class Cosignature:
    """One member's co-signature of one signed protocol file (see the module docstring)."""

    election_id: str
    precinct: int
    protocol_sha256: str
    role: Role
    signed_at: datetime.datetime  # local, aware, whole seconds
    time_zone: str
    public_key: bytes
    signature: bytes = field(repr=False)
    dissent: str | None = None

    @property
    def member_key_id(self) -> bytes:
        return key_id(self.public_key)

    def signed_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": COSIGN_FORMAT, "version": COSIGN_VERSION, "election": self.election_id, "precinct": self.precinct,
            "protocol_sha256": self.protocol_sha256, "member_key_id": self.member_key_id.hex(), "role": self.role.value,
            "signed_at": self.signed_at.isoformat(), "time_zone": self.time_zone, "public_key": self.public_key.hex(),
        }
        if self.dissent is not None:
            data["dissent"] = self.dissent
        return data

    def to_bytes(self) -> bytes:
        return canonical_json(self.signed_data() | {"signature": self.signature.hex()})

    def verifies(self) -> bool:
        try:
            verify_signature(verify_key_from_bytes(self.public_key), self.signature, canonical_json(self.signed_data()))
        except (SignatureError, KeyFormatError):
            return False
        return True


def cosign(signed: SignedProtocol, private_key: ed25519.Ed25519PrivateKey, role: Role | str, *,
           when: datetime.datetime | None = None, time_zone: str = DEFAULT_TIME_ZONE,
           dissent: str | None = None) -> Cosignature:
    """The member's co-signature of `signed` (its canonical bytes), at `when` (now) in `time_zone`."""
    role = parse_role(role)
    local = local_time(when or datetime.datetime.now(datetime.timezone.utc), time_zone)
    if dissent is not None:
        check_dissent(dissent)
    p = signed.protocol
    unsigned = Cosignature(p.election_id, p.precinct, protocol_digest(signed.to_canonical_json()), role, local, time_zone,
                           ed25519_public_bytes(private_key.public_key()), b"", dissent)
    return dataclasses.replace(unsigned, signature=sign(private_key, canonical_json(unsigned.signed_data())))


def _hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length or not re.fullmatch(r"[0-9a-f]*", value):
        raise CosignError(f"{what} must be {length} bytes as lower-case hex, got {value!r}")
    return bytes.fromhex(value)


def parse_cosignature(raw: bytes, subject: str = "co-signature") -> Cosignature:
    """A co-signature from its file bytes (canonical JSON, optionally one trailing newline).
    Checks the form only (the key id names the key, the time has its zone's offset);
    the signature and the member are `check_cosignatures`'s."""
    if len(raw) > MAX_COSIGNATURE_BYTES:
        raise CosignError(f"{subject}: {len(raw)} bytes, a co-signature is at most {MAX_COSIGNATURE_BYTES}")
    body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
    try:
        d = jsonfile.parse_headed(body, subject, COSIGN_FORMAT, COSIGN_VERSION,
                                  max_bytes=MAX_COSIGNATURE_BYTES, what="a co-signature")
    except jsonfile.WrongFormatError as e:
        raise CosignError(str(e)) from None
    except jsonfile.InputError as e:
        raise CosignError(f"{subject}: {e}") from None
    unknown, missing = sorted(set(d) - _FIELDS - {"dissent"}), sorted(_FIELDS - set(d))
    if unknown or missing:
        raise CosignError(f"{subject}: " + "; ".join(
            ([f"unknown key(s) {', '.join(unknown)}"] if unknown else []) + ([f"missing {', '.join(missing)}"] if missing else [])))
    try:
        if not isinstance(d["election"], str) or not d["election"]:
            raise CosignError("election must be an election id")
        precinct = d["precinct"]
        if not isinstance(precinct, int) or isinstance(precinct, bool) or precinct < 1:
            raise CosignError(f"precinct must be a positive integer, got {precinct!r}")
        if not isinstance(d["protocol_sha256"], str) or not _HEX64.fullmatch(d["protocol_sha256"]):
            raise CosignError("protocol_sha256 must be 64 lower-case hex digits")
        try:
            role = parse_role(d["role"])
        except MembersError as e:
            raise CosignError(str(e)) from None
        if not isinstance(d["time_zone"], str) or not isinstance(d["signed_at"], str):
            raise CosignError("signed_at and time_zone must be text")
        try:
            at = datetime.datetime.fromisoformat(d["signed_at"])
        except ValueError:
            raise CosignError(f"signed_at is not an ISO 8601 time: {d['signed_at']!r}") from None
        if at.tzinfo is None or at != local_time(at, d["time_zone"]) or at.utcoffset() != local_time(at, d["time_zone"]).utcoffset():
            raise CosignError(f"signed_at {d['signed_at']!r} is not a whole-second local time of {d['time_zone']}")
        public_key = _hex(d["public_key"], 32, "public_key")
        cosig = Cosignature(d["election"], precinct, d["protocol_sha256"], role, at, d["time_zone"], public_key,
                            _hex(d["signature"], 64, "signature"),
                            None if "dissent" not in d else check_dissent(d["dissent"]))
        try:
            named = cosig.member_key_id
        except KeyFormatError as e:
            raise CosignError(str(e)) from None
        if _hex(d["member_key_id"], 8, "member_key_id") != named:
            raise CosignError(f"member_key_id {d['member_key_id']} does not name the enclosed public key")
    except CosignError as e:
        raise CosignError(f"{subject}: {e}") from None
    if cosig.to_bytes() != body:
        raise CosignError(f"{subject}: not in canonical form")
    return cosig


def read_cosignature_file(path: str | Path) -> Cosignature:
    """`parse_cosignature` of the file at `path`, measured before it is read."""
    try:
        raw = jsonfile.read_bounded(path, MAX_COSIGNATURE_BYTES, "a co-signature", subject=str(path))
    except OSError as e:
        raise CosignError(f"{path}: cannot read ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise CosignError(str(e)) from None
    return parse_cosignature(raw, str(path))


def cosignature_file_name(protocol_name: str, cosig: Cosignature) -> str:
    """`protocol.json` -> `protocol.<member key id>.cosig` (beside the protocol)."""
    stem = protocol_name[:-5] if protocol_name.endswith(".json") else protocol_name
    return f"{stem}.{cosig.member_key_id.hex()}{COSIGN_SUFFIX}"


@dataclass(frozen=True)
class CosignFinding:
    source: str  # the co-signature file (or "precinct N" for the majority)
    problem: CosignProblem
    message: str

    @property
    def name(self) -> str:
        return f"cosign:{self.problem.value}"

    def __str__(self) -> str:
        return f"{self.name}: {self.source}: {self.message}"


@dataclass(frozen=True)
class CosignCheck:
    """The outcome of `check_cosignatures` for one protocol."""

    enrolled: tuple[Member, ...]  # the precinct's members in the registry
    valid: tuple[tuple[Member, Cosignature], ...]  # counted co-signatures, one per member
    findings: tuple[CosignFinding, ...]

    @property
    def applies(self) -> bool:
        """False when the registry enrols no member for the precinct (nothing to check)."""
        return bool(self.enrolled)

    @property
    def majority(self) -> bool:
        return is_majority(len(self.valid), len(self.enrolled))

    @property
    def ok(self) -> bool:
        return not self.findings

    def dissents(self) -> list[tuple[Member, Cosignature]]:
        return [(m, c) for m, c in self.valid if c.dissent is not None]


def is_majority(signed: int, enrolled: int) -> bool:
    """More than half of the enrolled members (Kazakh election law: the protocol is
    signed by the commission's members; a majority makes it the commission's)."""
    return enrolled > 0 and 2 * signed > enrolled


def check_signer(c: Cosignature, index: MemberIndex, precinct: int, *, election_id: str,
                 protocol_sha256: str | None = None) -> tuple[Member, None] | tuple[None, tuple[CosignProblem, str]]:
    """One co-signature against the registry's members, in this order: the key is a
    member key (`not_enrolled`), of `precinct` (`other_precinct`), the signature
    verifies (`signature`), it co-signs this election's protocol of that precinct
    and, when `protocol_sha256` is given, those very bytes (`other_bytes`), in the
    enrolled role (`role`). The member, or the first problem and its message. The
    one per-file rule: `check_cosignatures` applies it to each file given with a
    protocol, and a commission that receives co-signatures before or after their
    protocol (commission/cosignstore.py) applies it to each on arrival."""
    kid = c.member_key_id
    member = index.by_key.get(kid)
    if member is None or member.public_key != c.public_key:
        return None, (CosignProblem.NOT_ENROLLED, f"key {kid.hex()} is not a commission member key in the registry")
    if member.precinct != precinct:
        return None, (CosignProblem.OTHER_PRECINCT,
                      f"key {kid.hex()} ({member.name}) is a member of precinct {member.precinct}, not of {precinct}")
    if not c.verifies():
        return None, (CosignProblem.SIGNATURE, f"the signature of {member.name} ({kid.hex()}) does not verify: "
                                               "the co-signature (or its dissenting opinion) was changed after signing")
    if (c.election_id, c.precinct) != (election_id, precinct) or (
            protocol_sha256 is not None and c.protocol_sha256 != protocol_sha256):
        this = f"this one is {protocol_sha256[:16]}..." if protocol_sha256 is not None else f"this is election {election_id}"
        return None, (CosignProblem.OTHER_BYTES, f"{member.name} signed protocol file {c.protocol_sha256[:16]}... of "
                                                 f"precinct {c.precinct} of election {c.election_id}, {this}")
    if c.role is not member.role:
        return None, (CosignProblem.ROLE, f"{member.name} signs as {c.role.value}, enrolled as {member.role.value}")
    return member, None


def check_cosignatures(signed: SignedProtocol, cosignatures: Sequence[tuple[str, Cosignature]],
                       members: MemberIndex | Iterable[Member]) -> CosignCheck:
    """Check every co-signature (source, parsed) of `signed` against `members` (all
    members the trusted registry enrols, of every precinct) and apply the majority
    rule for the protocol's precinct. Every problem is a finding, named; see the
    module docstring for the order of the per-file checks."""
    p = signed.protocol
    index = members if isinstance(members, MemberIndex) else MemberIndex(members)
    enrolled = index.of(p.precinct)
    if not enrolled and not cosignatures:  # nothing to check (most precincts of an import without members)
        return CosignCheck((), (), ())
    digest = protocol_digest(signed.to_canonical_json())
    findings: list[CosignFinding] = []
    valid: dict[bytes, tuple[Member, Cosignature]] = {}
    if len(cosignatures) > MAX_COSIGNATURES:
        findings.append(CosignFinding(f"precinct {p.precinct}", CosignProblem.FORMAT,
                                      f"{len(cosignatures)} co-signatures: more than any commission has members ({MAX_COSIGNATURES})"))
        cosignatures = ()
    for source, c in cosignatures:
        member, problem = check_signer(c, index, p.precinct, election_id=p.election_id, protocol_sha256=digest)
        if problem is not None:
            findings.append(CosignFinding(source, *problem))
        elif member.key_id in valid:
            findings.append(CosignFinding(source, CosignProblem.DUPLICATE_MEMBER,
                                          f"{member.name} ({member.key_id.hex()}) co-signed more than once"))
        else:
            valid[member.key_id] = (member, c)
    if enrolled and not is_majority(len(valid), len(enrolled)):
        findings.append(CosignFinding(
            f"precinct {p.precinct}", CosignProblem.NO_MAJORITY,
            f"{len(valid)} of the {len(enrolled)} members enrolled co-signed; a majority is {len(enrolled) // 2 + 1}"))
    return CosignCheck(enrolled, tuple(valid.values()), tuple(findings))


def write_cosignature(cosig: Cosignature, path: str | Path) -> None:
    """Write the co-signature (canonical bytes and one newline); never over an existing file."""
    try:
        with open(path, "xb") as f:
            f.write(cosig.to_bytes() + b"\n")
    except FileExistsError:
        raise CosignError(f"{path}: already exists, refusing to overwrite") from None
