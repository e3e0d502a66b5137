"""One rule for a precinct with more than one validly signed protocol, used by both
the commission's import and the observer's `sailau verify`.

A station key that signs two different protocols for its precinct (a crash and a
second close on another machine, a "correction", a stolen key) leaves two files
that both pass every check. Nobody can tell from the files which is the real
count, so the rule is: **two different validly signed protocols for one precinct
are a conflict, and neither is counted** until the commission records a signed
decision naming the one that counts. Never a choice by file name, file order,
arrival order or chunk boundaries: `decide_precinct` sees only the *set* of
protocol digests and the set of decisions.

A decision (`sailau commission decide`) is signed under the election's registry
root, the same key the definition names for the station registry, so an observer
checks it with nothing but the definition. It lists every protocol version the
commission considered (by SHA-256 of the signed file) and the one counted. It
settles the conflict only while every published version of that precinct is
among those it considered: a version that turns up later re-opens the conflict
until a new decision considers it too.

File (`decisions/precinct-NNNNNN.json` in a published set; canonical JSON, the
signature over the canonical bytes of the object without its `signature`):

    {"format": "sailau/conflict-decision", "version": 1,
     "election": {"id": "...", "fingerprint": "<64 hex>"},
     "precinct": 5, "considered": ["<sha256>", "<sha256>"], "counted": "<sha256>",
     "grounds": "recount of 12 January, act No. 3",
     "signer_key_id": "<16 hex>", "signature": "<128 hex>"}
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import filekind
from sailau.election.crypto import KeyFormatError, SignatureError, ed25519_public_bytes, key_id, sign, verify_key_from_bytes, verify_signature
from sailau.election.definition import Election
from sailau.election.protocol import ProtocolFormatError, canonical_json, parse_strict_json

from .checks import Reason, Refusal, read_or_refuse

DECISION_FORMAT = "sailau/conflict-decision"
DECISION_VERSION = 1
MAX_GROUNDS = 2000
_DIGEST_RE = re.compile(r"[0-9a-f]{64}")
_KEYS = {"format", "version", "election", "precinct", "considered", "counted", "grounds", "signer_key_id", "signature"}


class DecisionError(ValueError):
    """A conflict decision cannot be made as asked (bad digests, too few versions)."""


@dataclass(frozen=True)
class ConflictDecision:
    """The commission's signed word on which protocol of a precinct counts."""

    election_id: str
    election_fingerprint: str
    precinct: int
    considered: tuple[str, ...]  # SHA-256 (hex) of each signed protocol file considered, sorted
    counted: str  # one of `considered`
    grounds: str  # why (a recount act, a court ruling), for people
    signer_key_id: bytes = b""
    signature: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "considered", tuple(sorted(set(self.considered))))
        if not isinstance(self.precinct, int) or isinstance(self.precinct, bool) or self.precinct < 1:
            raise DecisionError(f"precinct must be a positive integer, got {self.precinct!r}")
        for d in (*self.considered, self.counted):
            if not isinstance(d, str) or not _DIGEST_RE.fullmatch(d):
                raise DecisionError(f"protocol digests are 64 lower-case hex digits (SHA-256 of the signed file), got {d!r}")
        if len(self.considered) < 2:
            raise DecisionError("a decision settles a conflict: it considers at least two different protocols")
        if self.counted not in self.considered:
            raise DecisionError("the protocol counted must be one of those considered")
        if not isinstance(self.grounds, str) or not self.grounds.strip() or len(self.grounds) > MAX_GROUNDS:
            raise DecisionError(f"grounds must say why, in 1 to {MAX_GROUNDS} characters")

    def signed_data(self) -> dict[str, Any]:
        return {
            "format": DECISION_FORMAT,
            "version": DECISION_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "precinct": self.precinct,
            "considered": list(self.considered),
            "counted": self.counted,
            "grounds": self.grounds,
            "signer_key_id": self.signer_key_id.hex(),
        }

    def to_canonical_json(self) -> bytes:
        return canonical_json(self.signed_data() | {"signature": self.signature.hex()})

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_canonical_json()).hexdigest()


def sign_decision(
    election: Election, precinct: int, considered: Iterable[str], counted: str, grounds: str,
    root_key: ed25519.Ed25519PrivateKey,
) -> ConflictDecision:
    """A decision signed with the registry root key (the one `election` names)."""
    signer = key_id(ed25519_public_bytes(root_key.public_key()))
    if election.registry_root_key is None or signer != key_id(election.registry_root_key):
        raise DecisionError(f"key {signer.hex()} is not the registry root election {election.id!r} names")
    unsigned = ConflictDecision(election.id, election.fingerprint_hex, precinct, tuple(considered), counted, grounds, signer)
    return ConflictDecision(**{**unsigned.__dict__, "signature": sign(root_key, canonical_json(unsigned.signed_data()))})


def _bytes_hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]*", value) or len(value) != 2 * length:
        raise ProtocolFormatError(f"{what} must be {length} bytes as lower-case hex")
    return bytes.fromhex(value)


def check_decision_path(path: Path, election: Election) -> ConflictDecision | Refusal:
    """`check_decision_file` on the file at `path`, read within the bound of the
    protocols it settles (`checks.read_or_refuse`)."""
    raw = read_or_refuse(path)
    return raw if isinstance(raw, Refusal) else check_decision_file(raw, str(path), election)


def check_decision_file(raw: bytes, source: str, election: Election) -> ConflictDecision | Refusal:
    """A decision that is well-formed, of this election, signed by its registry root;
    else the `Refusal` naming why (format, election, not_root, signature)."""
    other = filekind.wrong_kind_of_bytes(raw, filekind.CONFLICT_DECISION, source)
    if other is not None:
        return Refusal(source, None, Reason.FORMAT, other)
    try:
        data = parse_strict_json(raw)
        if not isinstance(data, dict):
            raise ProtocolFormatError("a decision is a JSON object")
        missing, unknown = sorted(_KEYS - set(data)), sorted(set(data) - _KEYS)
        if missing or unknown:
            raise ProtocolFormatError(f"missing key(s) {missing}, unknown key(s) {unknown}")
        if data["format"] != DECISION_FORMAT or data["version"] != DECISION_VERSION:
            raise ProtocolFormatError(f"not a {DECISION_FORMAT} v{DECISION_VERSION} file")
        el = data["election"]
        if not isinstance(el, dict) or set(el) != {"id", "fingerprint"}:
            raise ProtocolFormatError("election must be {id, fingerprint}")
        if not isinstance(data["considered"], list):
            raise ProtocolFormatError("considered must be a list of digests")
        decision = ConflictDecision(
            el["id"], el["fingerprint"], data["precinct"], tuple(data["considered"]), data["counted"], data["grounds"],
            _bytes_hex(data["signer_key_id"], 8, "signer_key_id"), _bytes_hex(data["signature"], 64, "signature"),
        )
        if decision.to_canonical_json() != raw:
            raise ProtocolFormatError("a decision file is exactly its canonical JSON (sorted keys, no whitespace)")
    except (ProtocolFormatError, DecisionError) as e:
        return Refusal(source, None, Reason.FORMAT, f"not a valid conflict decision: {e}")
    except RecursionError:
        return Refusal(source, None, Reason.FORMAT, "not a valid conflict decision: nested too deeply")
    n = decision.precinct
    if (decision.election_id, decision.election_fingerprint) != (election.id, election.fingerprint_hex):
        return Refusal(source, n, Reason.ELECTION, f"decision is for election {decision.election_id!r}, not {election.id!r} of this definition")
    try:
        election.precinct(n)
    except LookupError:
        return Refusal(source, n, Reason.ELECTION, f"precinct {n} is not in election {election.id!r}")
    root = election.registry_root_key
    if root is None or decision.signer_key_id != key_id(root):
        return Refusal(source, n, Reason.NOT_ROOT, f"decision is signed by key {decision.signer_key_id.hex()}, not by the election's registry root")
    try:
        verify_signature(verify_key_from_bytes(root), decision.signature, canonical_json(decision.signed_data()))
    except (SignatureError, KeyFormatError):
        return Refusal(source, n, Reason.SIGNATURE, "the registry root's signature on the decision does not verify")
    return decision


# --- the rule -----------------------------------------------------------------------------


class PrecinctStatus(str, enum.Enum):
    ACCEPTED = "accepted"  # exactly one valid protocol, no decision about the precinct: it counts
    CONFLICT = "conflict"  # different valid protocols (or a decision that does not settle them): none counts
    RESOLVED = "resolved"  # a signed decision that considered every version names the one that counts
    MISSING = "missing"  # no valid protocol at all


@dataclass(frozen=True)
class PrecinctOutcome:
    precinct: int
    status: PrecinctStatus
    counted: str | None  # digest of the protocol that counts, if any
    versions: tuple[str, ...]  # the distinct valid protocol digests, sorted
    decision: ConflictDecision | None  # the decision that settled it (RESOLVED)
    why: str  # plain words, for operators and observers


def decide_precinct(precinct: int, digests: Iterable[str], decisions: Iterable[ConflictDecision]) -> PrecinctOutcome:
    """The one rule (module docstring). `digests`: SHA-256 of every validly signed
    protocol file seen for `precinct` (repeats are the same protocol); `decisions`:
    checked decisions (others' precincts are ignored). Depends on the two sets only."""
    versions = tuple(sorted(set(digests)))
    mine = sorted((d for d in decisions if d.precinct == precinct), key=lambda d: d.digest)

    def out(status: PrecinctStatus, counted: str | None, why: str, decision: ConflictDecision | None = None) -> PrecinctOutcome:
        return PrecinctOutcome(precinct, status, counted, versions, decision, why)

    if not versions:
        return out(PrecinctStatus.MISSING, None, "no valid signed protocol")
    if not mine:
        if len(versions) == 1:
            return out(PrecinctStatus.ACCEPTED, versions[0], "one signed protocol")
        return out(
            PrecinctStatus.CONFLICT, None,
            f"{len(versions)} different validly signed protocols ({_short(versions)}); none is counted until the "
            "commission records a signed decision (sailau commission decide)",
        )
    covering = [d for d in mine if set(versions) <= set(d.considered)]
    if not covering:
        unseen = sorted(set(versions) - set().union(*(d.considered for d in mine)))
        return out(
            PrecinctStatus.CONFLICT, None,
            f"the commission's decision did not consider protocol {_short(unseen or versions)}; none is counted until a decision does",
        )
    chosen = {d.counted for d in covering}
    if len(chosen) > 1:
        return out(PrecinctStatus.CONFLICT, None, f"signed decisions disagree on which protocol counts ({_short(sorted(chosen))}); none is counted")
    counted = covering[0].counted
    if counted not in versions:
        return out(
            PrecinctStatus.CONFLICT, None,
            f"the commission's decision counts protocol {_short([counted])}, which is not among those present; none is counted",
        )
    return out(PrecinctStatus.RESOLVED, counted, f"the commission's signed decision counts protocol {_short([counted])}", covering[0])


def _short(digests: Iterable[str]) -> str:
    return ", ".join(f"sha256 {d[:16]}..." for d in digests)
