"""Checking one signed protocol file: the commission's import and the observer's
verifier apply exactly these checks, in this order, and name a refusal the same way.

Order: the file fits (`protocol.MAX_SIGNED_PROTOCOL_BYTES`, measured before it is
read) -> its JSON is not too deep and every integer fits 64 bits (measured before
and while parsing) -> the bytes parse strictly (canonical JSON, every count within
`protocol.MAX_PRECINCT_COUNT`) -> the protocol is for this
election (id and fingerprint) -> the signing key is enrolled -> it is the key
enrolled for that very precinct -> the signature verifies -> the control relations
hold, with the definition (precinct known, region, district, contests of its
ballot style, every option listed). The first failing step names the refusal.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from pathlib import Path

from sailau.election.definition import Election
from sailau.election.protocol import (
    Protocol,
    ProtocolFormatError,
    ProtocolSignatureError,
    SignedProtocol,
    read_protocol_file,
    validate_protocol,
    verify_signed_protocol,
)

from .registry import StationRegistry


class Reason(str, enum.Enum):
    """Why a protocol is refused. Stable names: scripts and tests match on them."""

    FORMAT = "format"  # not a strictly canonical signed protocol file (or not readable)
    TOO_LARGE = "too_large"  # more bytes than any protocol has (refused unread)
    TOO_DEEP = "too_deep"  # JSON nested deeper than any Sailau file (refused unparsed)
    COUNT_OUT_OF_RANGE = "count_out_of_range"  # a count beyond any precinct, or beyond 64 bits
    ELECTION = "election"  # another election id or definition fingerprint
    UNKNOWN_STATION = "unknown_station"  # signing key not in the station key registry
    STATION_KEY_MISMATCH = "station_key_mismatch"  # key id enrolled, but another public key
    WRONG_STATION = "wrong_station"  # an enrolled key, but enrolled for another precinct
    SIGNATURE = "signature"  # the Ed25519 signature does not verify
    RELATIONS = "relations"  # control relations violated (names in the message)
    DUPLICATE = "duplicate"  # a second, different protocol for a precinct in the same batch
    CONFLICT = "conflict"  # a different protocol for a precinct already imported


@dataclass(frozen=True)
class Refusal:
    source: str  # file name (or a caller's label)
    precinct: int | None  # when the bytes parsed far enough to say
    reason: Reason
    message: str

    def __str__(self) -> str:
        where = f"precinct {self.precinct}" if self.precinct is not None else "precinct ?"
        return f"{self.source}: {where}: refused ({self.reason.value}): {self.message}"


@dataclass(frozen=True)
class CheckedProtocol:
    """A protocol that passed every check, with the exact bytes it came from."""

    source: str
    signed: SignedProtocol
    raw: bytes
    digest: str  # hex SHA-256 of the signed file bytes: identity for idempotent re-import

    @property
    def protocol(self) -> Protocol:
        return self.signed.protocol


def relation_violations(protocol: Protocol, election: Election) -> list[str]:
    """`validate_protocol` with the definition, as 'name: message' lines."""
    return [f"{v.name}: {v.message}" for v in validate_protocol(protocol, election)]


def check_protocol_file(raw: bytes, source: str, election: Election, registry: StationRegistry) -> CheckedProtocol | Refusal:
    """Every check on one file's bytes; a `CheckedProtocol` or the first `Refusal`."""
    try:
        signed = SignedProtocol.from_canonical_json(raw)
    except ProtocolFormatError as e:
        return Refusal(source, None, Reason(e.reason), str(e))
    except ValueError as e:
        return Refusal(source, None, Reason.FORMAT, str(e))
    p = signed.protocol
    if p.election_id != election.id or p.election_fingerprint != election.fingerprint_hex:
        return Refusal(
            source, p.precinct, Reason.ELECTION,
            f"protocol is for election {p.election_id!r} with fingerprint {p.election_fingerprint[:16]}..., "
            f"this is {election.id!r} with {election.fingerprint_hex[:16]}...",
        )
    enrolled = registry.by_key_id.get(signed.station_key_id)
    if enrolled is None:
        return Refusal(source, p.precinct, Reason.UNKNOWN_STATION, f"station key {signed.station_key_id.hex()} is not in the station key registry")
    if enrolled.public_key != signed.public_key:
        return Refusal(
            source, p.precinct, Reason.STATION_KEY_MISMATCH,
            f"station key id {signed.station_key_id.hex()} is enrolled with another public key",
        )
    if enrolled.precinct != p.precinct:
        return Refusal(
            source, p.precinct, Reason.WRONG_STATION,
            f"signed by the station key of precinct {enrolled.precinct} ({signed.station_key_id.hex()})",
        )
    try:
        verify_signed_protocol(signed, {enrolled.key_id: enrolled.public_key})
    except ProtocolSignatureError as e:
        return Refusal(source, p.precinct, Reason.SIGNATURE, str(e))
    violations = relation_violations(p, election)
    if violations:
        return Refusal(source, p.precinct, Reason.RELATIONS, "; ".join(violations))
    return CheckedProtocol(source, signed, raw, hashlib.sha256(raw).hexdigest())


def check_protocol_path(path: Path, election: Election, registry: StationRegistry) -> CheckedProtocol | Refusal:
    """`check_protocol_file` on the file at `path`, read within its bound: a file that
    cannot be read is refused as `format`, one too large as `too_large`, unread."""
    try:
        raw = read_protocol_file(path)
    except ProtocolFormatError as e:
        return Refusal(str(path), None, Reason(e.reason), str(e))
    except OSError as e:
        return Refusal(str(path), None, Reason.FORMAT, f"cannot read file ({e.strerror})")
    return check_protocol_file(raw, str(path), election, registry)
