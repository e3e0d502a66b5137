"""Checking one signed protocol file, and the published receipt lists against the
protocols' commitments: the commission's import and the observer's verifier apply
exactly these checks, in this order, and name a refusal the same way.

Protocol, in order: the file fits (`protocol.MAX_SIGNED_PROTOCOL_BYTES`, measured
before it is read) -> its JSON is not too deep and every integer fits 64 bits
(measured before and while parsing) -> the bytes parse strictly (canonical JSON,
every count within `protocol.MAX_PRECINCT_COUNT`) -> the protocol is for this
election (id and fingerprint) -> the signing key is enrolled (in a registry
already verified under the election's root, registry.py) -> it is the key
enrolled for that very precinct -> the signature verifies -> the control
relations hold, with the definition (precinct known, region, district, contests
of its ballot style, every option listed, the receipt commitment counting the
ballots cast), except those the protocol declares in `discrepancies` (a declared
relation that holds, or a receipt relation, is itself a violation:
`protocol.undeclared_violations`) -> the protocol declares no discrepancy -> where
the registry enrols commission members for the precinct, a majority of them
co-signed these very bytes and every co-signature given holds
(`election.cosign.check_cosignatures`, as `sailau protocol verify --registry`;
refused as `cosign`, each problem named `cosign:<name>`). The
first failing step names the refusal. Which of several valid protocols of one
precinct counts is not decided here but by conflicts.py.

A protocol that declares discrepancies (a station whose count broke a control
relation signs it and says so rather than leave its precinct with no protocol)
is genuine and honest, but its count does not add up, so it is not summed: it
is refused as `discrepancy`, the declared relations named, apart from
`relations` (a violation the station did not declare, or a declaration that is
false). The commission sees it among the refusals, the precinct stays missing
until a count that adds up is signed, and a later valid protocol of the precinct
is not in conflict with it (a refused file is no version).

Receipt lists (`check_receipt_lists`): each list must parse, be of this election,
be the only list of its precinct, belong to a precinct whose counted protocol
commits to it, hold canonical codes, none twice, as many as the commitment
counts, and hash to the committed Merkle root; every counted protocol needs its
list. Problems are `receipts:<ReceiptProblem>`.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sailau.election.cosign import Cosignature, check_cosignatures
from sailau.election.definition import Election
from sailau.election.protocol import (
    Protocol,
    ProtocolFormatError,
    ProtocolSignatureError,
    SignedProtocol,
    read_protocol_file,
    undeclared_violations,
    validate_protocol,
    verify_signed_protocol,
)
from sailau.election.receipts import ReceiptCommitment, ReceiptListError, malformed_codes, read_receipt_list

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
    RELATIONS = "relations"  # control relations violated and not declared, or declared falsely (names in the message)
    DISCREPANCY = "discrepancy"  # the station declares failing control relations (names in the message): not summed
    NOT_ROOT = "not_root"  # a conflict decision signed by a key other than the registry root
    COSIGN = "cosign"  # the members' co-signatures do not hold or make no majority (cosign:<name> in the message)


@dataclass(frozen=True)
class Refusal:
    source: str  # file name (or a caller's label)
    precinct: int | None  # when the bytes parsed far enough to say
    reason: Reason
    message: str
    digest: str | None = None  # hex SHA-256 of the file's bytes, when they were read (check_protocol_path)

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
    """The violations the protocol does not declare (`undeclared_violations` with the
    definition: a declared relation that holds, or a receipt relation declared, is
    one too), as 'name: message' lines."""
    return [f"{v.name}: {v.message}" for v in undeclared_violations(protocol, election)]


def declared_discrepancies(protocol: Protocol, election: Election) -> list[str]:
    """The relations the protocol declares violated (and which are), as 'name: message'
    lines; empty for a protocol that declares none."""
    declared = set(protocol.discrepancies)
    return [f"{v.name}: {v.message}" for v in validate_protocol(protocol, election) if v.name in declared]


def check_protocol_file(raw: bytes, source: str, election: Election, registry: StationRegistry,
                        cosignatures: Sequence[tuple[str, Cosignature]] = ()) -> CheckedProtocol | Refusal:
    """Every check on one file's bytes; a `CheckedProtocol` or the first `Refusal`.
    `cosignatures`: the members' co-signatures (source, parsed) that name this file."""
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
    if p.discrepancies:
        return Refusal(
            source, p.precinct, Reason.DISCREPANCY,
            "the station signed a count that breaks the control relations it declares, so it is not summed: "
            + "; ".join(declared_discrepancies(p, election)),
        )
    cosigned = check_cosignatures(signed, cosignatures, registry.member_index)
    if cosigned.findings:
        return Refusal(source, p.precinct, Reason.COSIGN, "; ".join(f"{f.name}: {f.source}: {f.message}" for f in cosigned.findings))
    return CheckedProtocol(source, signed, raw, hashlib.sha256(raw).hexdigest())


def read_or_refuse(path: Path) -> bytes | Refusal:
    """The bytes of a protocol (or decision) file, read within the protocol bound; a
    file that cannot be read is refused as `format`, one too large as `too_large`, unread."""
    try:
        return read_protocol_file(path)
    except ProtocolFormatError as e:
        return Refusal(str(path), None, Reason(e.reason), str(e))
    except OSError as e:
        return Refusal(str(path), None, Reason.FORMAT, f"cannot read file ({e.strerror})")


def check_protocol_path(path: Path, election: Election, registry: StationRegistry,
                        cosignatures: Mapping[str, Sequence[tuple[str, Cosignature]]] | None = None) -> CheckedProtocol | Refusal:
    """`check_protocol_file` on the file at `path`, read by `read_or_refuse`.
    `cosignatures`: protocol file SHA-256 -> the co-signatures naming it."""
    raw = read_or_refuse(path)
    if isinstance(raw, Refusal):
        return raw
    digest = hashlib.sha256(raw).hexdigest()
    result = check_protocol_file(raw, str(path), election, registry, (cosignatures or {}).get(digest, ()))
    return dataclasses.replace(result, digest=digest) if isinstance(result, Refusal) else result


# --- receipt lists ------------------------------------------------------------------------


class ReceiptProblem(str, enum.Enum):
    """What is wrong with a published receipt list. Stable names (`receipts:<name>`)."""

    FORMAT = "format"  # not a readable receipt list
    TOO_LARGE = "too_large"  # more bytes than any list has (refused unread)
    TOO_DEEP = "too_deep"  # JSON nested deeper than any list (refused unparsed)
    COUNT_OUT_OF_RANGE = "count_out_of_range"  # an integer beyond 64 bits
    ELECTION = "election"  # a list of another election
    DUPLICATE = "duplicate"  # a second list for one precinct
    NO_PROTOCOL = "no_protocol"  # no counted protocol commits to a list of this precinct
    MALFORMED = "malformed"  # codes not in canonical form
    REPEATED_CODE = "repeated_code"  # a code listed twice
    COUNT = "count"  # not as many codes as the protocol commits to (= ballots cast)
    COMMITMENT = "commitment"  # the codes do not hash to the committed root: the list was changed
    MISSING = "missing"  # a counted protocol's list is not published


@dataclass(frozen=True)
class ReceiptFinding:
    source: str  # the list file, or "precinct N" for a missing list
    precinct: int | None
    problem: ReceiptProblem
    message: str

    @property
    def kind(self) -> str:
        return f"receipts:{self.problem.value}"

    def __str__(self) -> str:
        return f"{self.source}: {self.kind}: {self.message}"


def check_receipt_lists(
    paths: Iterable[Path],
    election: Election,
    commitments: Mapping[int, ReceiptCommitment],
    unsettled: Iterable[int] = (),
    expected: Iterable[int] | None = None,
) -> list[ReceiptFinding]:
    """Every problem of the published lists in `paths` against the commitments of the
    counted protocols (`commitments`: precinct -> the counted protocol's commitment).
    Lists of `unsettled` precincts (in conflict: which commitment would count is not
    decided) are neither checked nor missed. A list must be there for each precinct
    of `expected` that counts (default: every one in `commitments`)."""
    out: list[ReceiptFinding] = []
    unsettled = set(unsettled)
    seen: dict[int, str] = {}

    def add(source: str, precinct: int | None, problem: ReceiptProblem, message: str) -> None:
        out.append(ReceiptFinding(source, precinct, problem, message))

    for path in paths:
        name = str(path)
        try:
            lst = read_receipt_list(path)
        except ReceiptListError as e:
            add(name, None, ReceiptProblem(e.reason), str(e))
            continue
        n = lst.precinct
        if (lst.election_id, lst.election_fingerprint) != (election.id, election.fingerprint_hex):
            add(name, n, ReceiptProblem.ELECTION, f"list is for election {lst.election_id!r}, not this definition")
            continue
        if n in seen:
            add(name, n, ReceiptProblem.DUPLICATE, f"precinct {n} already has a list in {seen[n]}")
            continue
        seen[n] = name
        if n in unsettled:
            continue
        commitment = commitments.get(n)
        if commitment is None:
            add(name, n, ReceiptProblem.NO_PROTOCOL, f"precinct {n} has no counted protocol to check the list against")
            continue
        bad = malformed_codes(lst.codes)
        if bad:
            add(name, n, ReceiptProblem.MALFORMED, f"{len(bad)} codes not in canonical form, e.g. {bad[0]!r}")
        repeated = len(lst.codes) - len(set(lst.codes))
        if repeated:
            add(name, n, ReceiptProblem.REPEATED_CODE, f"{repeated} codes appear more than once")
        if len(lst.codes) != commitment.count:
            add(name, n, ReceiptProblem.COUNT,
                f"{len(lst.codes)} receipt codes, but the signed protocol of precinct {n} commits to {commitment.count}")
            continue
        try:
            root = lst.commitment().root
        except ReceiptListError as e:
            add(name, n, ReceiptProblem.COMMITMENT, str(e))
            continue
        if root != commitment.root:
            add(name, n, ReceiptProblem.COMMITMENT,
                f"the codes hash to root {root[:16]}..., the signed protocol of precinct {n} commits to {commitment.root[:16]}...: "
                "the list was changed after the protocol was signed")
    must = set(commitments) if expected is None else set(expected) & set(commitments)
    for n in sorted(must - set(seen) - unsettled):
        add(f"precinct {n}", n, ReceiptProblem.MISSING, "the receipt list its signed protocol commits to is not published")
    return out
