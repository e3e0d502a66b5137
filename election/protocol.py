"""The precinct results protocol (DESIGN.md section 7): model, control relations,
canonical JSON, station signature and totals (the NIST SP 1500-100 export is nist.py).

A `Protocol` is what one ballot box produces at the close of polls. Before it is
signed its control relations are checked (`validate_protocol`); each violated
relation is reported by a stable name so stations, commissions and tests can
tell them apart:

    nonnegative:<field>                   a count is negative
    checked_in<=on_list                   voters checked in <= voters on the list
    issued<=checked_in+replaced           a voter gets one card, one more per replacement
    issued<=on_list+replaced
    cast<=checked_in                      a voter casts at most one ballot
    cast<=issued                          ballots cast <= cards issued
    cast+cancelled<=issued                a card is cast, cancelled or still out
    cast+cancelled+not_returned<=issued   a card not handed back was revoked: never cast nor cancelled
                                          (checked when cast+cancelled<=issued holds)
    not_returned<=replaced                replacements without the old card are replacements
    returned<=cancelled                   a replacement with the old card cancelled that card
    receipts:missing                      no commitment to the receipt list
    receipts==cast                        one receipt code per ballot cast
    contest:<id>:duplicate                a contest listed twice
    contest:<id>:nonnegative:<what>       <what> = option:<oid>, against_all, blank, invalid
    contest:<id>:sum==cast                options + against all + blank + invalid = ballots counted
                                          (cast by card + paper found in the boxes; Art. 44, confirm)
    voters:..., paper:..., electronic:... the paper and electronic protocols and the new voter
                                          counts: election/paper.py lists them with their articles
    contest:<id>:cast<=cast               (totals) a contest's ballots <= all ballots
  with the election definition:
    election:id, election:fingerprint     the protocol is for another election
    precinct:unknown, precinct:region, precinct:district
    contest:<id>:unknown                  no such contest in the election
    contest:<id>:not_on_style             not on the precinct's ballot style
    contest:<id>:missing                  on the style but not in the protocol
    contest:<id>:unknown_option:<oid>     no such option in the contest
    contest:<id>:missing_option:<oid>     option absent (a protocol lists every option, 0 too)
    contest:<id>:against_all_not_on_ballot

Three protocols in one (format 4, election/paper.py): the combined protocol is the
`Protocol` itself (`contests` = the result the commissions add up and the members
co-sign), the paper protocol its optional `paper` section (`PaperCount`, the hand
count), the electronic one its card counts and `electronic_contests` (combined minus
paper). `ballots_counted` = `ballots_cast` + paper found in the boxes is "voters who
took part". `voters_additional`, `voters_paper` and `voters_outside` are top-level
(0 when no paper was used; `paper` is then absent).

Every ballot at a precinct carries the same contests (one ballot style per
precinct in the definition), so per contest the counts add up to the precinct's
ballots cast. Totals over precincts with different styles keep a per-contest
ballot count instead.

Replaced cards (`cards_replaced`): a voter whose card was issued but not cast
(spoilt, damaged, lost, or an issue cut short by a crash) may get one more card.
When the old card was handed back its token was cancelled (it is among
`cards_cancelled`); `cards_not_returned` counts the replacements without it,
whose old token the station revoked: if that card comes back it is refused, so
it is neither cast nor cancelled. A voter may be replaced more than once (each
replacement kills the old card first), so there is no per-voter bound on it.

`discrepancies` (optional, absent when empty): the names of the control
relations above that the station found violated when it signed. A station does
not withhold its protocol when a relation fails (DESIGN.md §7): it signs what
it counted and says which relations fail, and the commission decides (import
and verify refuse it by name, `discrepancy`: commission/checks.py).
`validate_protocol` still reports those relations; `check_protocol` and
`sign_protocol` accept a protocol whose violations are exactly the ones it
declares. The receipt relations (`receipts:missing`, `receipts==cast`) cannot
be declared (`UNDECLARABLE_RELATIONS`): formats 3 and 4 are signed only with a
commitment that counts the ballots cast. Neither can any `paper:`, `electronic:`
or `voters:` relation (election/paper.py): hand-entered and pollbook figures are
corrected before signing, so the station refuses to sign and names the relation.

`receipts`: the commitment to the precinct's published receipt list (election/
receipts.py: how many codes and the Merkle root over them sorted), so a list
changed after signing is caught and a voter can prove their code is under what
the station signed. Every signed protocol carries one (since format 3); its count is
the ballots cast (`receipts==cast`), and a protocol without one breaks
`receipts:missing`: `sign_protocol` refuses it, and so do import and verify.

`audit` (optional): the station's audit chain head (seq and SHA-256 hash) at
the close of polls, so an exported audit log cut short or rewritten is caught
against the posted protocol (`sailau protocol verify --audit`). Commissions that synthesize
protocols leave it out.

Bounds (refused before anything is trusted, each by a stable `reason` on
`ProtocolFormatError`): a signed protocol file is at most
`MAX_SIGNED_PROTOCOL_BYTES` (`too_large`, measured before it is read), its JSON
at most `jsonfile.MAX_DEPTH` deep (`too_deep`, measured before it is parsed),
and every count at most `MAX_PRECINCT_COUNT` either way (`count_out_of_range`:
the control relations then bound every count by the voters on the list, and
any sum over distinct u32 precinct numbers stays below 2**63, so no database
column or SQL SUM of counts can overflow). Other malformations are `format`.

Canonical JSON: sorted keys, no whitespace, UTF-8 (not \\u-escaped), integers
only, contests ordered by id, options as an object. Parsing is strict: unknown or
missing keys, duplicate keys, floats, booleans as counts and non-canonical bytes
are refused. The station signs exactly the canonical bytes with Ed25519 (the
`format` member inside names what they are, so no separate context prefix is
needed and anyone can check the signature over the posted file with standard
tools).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ed25519

from . import canonical as _canonical
from . import filekind, jsonfile
from .canonical import CanonicalJSONError
from .crypto import (
    KEY_ID_LEN,
    SIGNATURE_LEN,
    KeyFormatError,
    KeyIdMismatch,
    SignatureError,
    ed25519_public_bytes,
    key_id,
    sign,
    verify_enclosed,
)
from .contest_result import (
    MAX_PRECINCT_COUNT,
    ContestResult,
    ProtocolError,
    ProtocolFormatError,
    ProtocolViolationError,
    Violation,
    _bound_contests,
    _contests_from_data,
    _find_contest,
    _is_int,
    _keys,
    _object,
    _require_count,
    _require_int,
    _require_str,
    _sorted_contests,
    contest_definition_violations,
    contest_sign_violations,
    sum_contests,
)
from .law import PartyVotes
from .paper import (
    PAPER_COUNTS,
    UNDECLARABLE_PREFIXES,
    VOTER_COUNTS,
    PaperCount,
    electronic_contests,
    paper_violations,
    sum_paper,
    voter_violations,
)
from .receipts import ReceiptCommitment, ReceiptListError

if TYPE_CHECKING:  # the definition is only read, never required to build a protocol
    from .definition import Election

PROTOCOL_FORMAT = "sailau/protocol"
TOTALS_FORMAT = "sailau/protocol-totals"
SIGNED_FORMAT = "sailau/signed-protocol"
FORMAT_VERSION = 4  # 2: cards_replaced, cards_not_returned, optional audit head; 3: receipts commitment, optional discrepancies;
#                    4: voters_additional, voters_paper, voters_outside, optional paper section (election/paper.py)

_FINGERPRINT_RE = re.compile(r"^[0-9a-f]{64}$")
_HASH_RE = _FINGERPRINT_RE
#: The largest signed protocol the definition allows is under 3 MB (134 contests
#: of 254 options with 64-character ids, DESIGN.md 4); a real one is a few KB.
MAX_SIGNED_PROTOCOL_BYTES = 4 * 1024 * 1024
PRECINCT_COUNTS = ("voters_on_list", "voters_checked_in", "cards_issued", "ballots_cast", "cards_cancelled",
                   "cards_replaced", "cards_not_returned", *VOTER_COUNTS)


class ProtocolMismatchError(ProtocolError):
    """Protocols that cannot be summed: another election or a precinct twice."""


class ProtocolSignatureError(ProtocolError):
    """A signed protocol does not verify, or its key is not the expected station key."""


def _check_election_ref(election_id: object, fingerprint: object) -> None:
    _require_str("election id", election_id)
    if not isinstance(fingerprint, str) or not _FINGERPRINT_RE.fullmatch(fingerprint):
        raise ProtocolFormatError(f"election fingerprint must be 64 lower-case hex digits, got {fingerprint!r}")


@dataclass(frozen=True)
class AuditAnchor:
    """The station audit chain's head when the protocol was made: event `seq` hashes to `hash`."""

    seq: int
    hash: str  # 64 lower-case hex digits (SHA-256)

    def __post_init__(self) -> None:
        _require_int("audit seq", self.seq)
        if self.seq < 0:
            raise ProtocolFormatError(f"audit seq must be >= 0, got {self.seq}")
        if not isinstance(self.hash, str) or not _HASH_RE.fullmatch(self.hash):
            raise ProtocolFormatError(f"audit hash must be 64 lower-case hex digits, got {self.hash!r}")

    def to_data(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash}

    @classmethod
    def from_data(cls, value: Any) -> AuditAnchor:
        d = _object(value, "audit")
        _keys(d, "audit", required={"seq", "hash"})
        return cls(seq=d["seq"], hash=d["hash"])


@dataclass(frozen=True)
class Protocol:
    """One precinct's results protocol, as the ballot box signs it."""

    election_id: str
    election_fingerprint: str  # hex SHA-256 of the definition file
    precinct: int
    region: str
    district: str | None  # the Mäjilis single-member district, where the law has them
    voters_on_list: int
    voters_checked_in: int
    cards_issued: int
    ballots_cast: int
    cards_cancelled: int
    contests: tuple[ContestResult, ...]
    cards_replaced: int = 0  # replacements: each let a voter get one more card
    cards_not_returned: int = 0  # of those, without the old card (its token revoked)
    audit: AuditAnchor | None = None  # the station's audit chain head at close
    receipts: ReceiptCommitment | None = None  # the receipt list's commitment; required to sign
    discrepancies: tuple[str, ...] = ()  # control relations the station found violated (sorted names)
    voters_additional: int = 0  # of voters_on_list, those on the additional list
    voters_paper: int = 0  # voters who took a paper ballot in the station (pollbook marks)
    voters_outside: int = 0  # voters marked in the pollbook as having voted outside (mobile box)
    paper: PaperCount | None = None  # the paper protocol (election/paper.py); None when no paper was used

    def __post_init__(self) -> None:
        _check_election_ref(self.election_id, self.election_fingerprint)
        _require_int("precinct", self.precinct)
        if not isinstance(self.discrepancies, tuple) or not all(isinstance(n, str) and n for n in self.discrepancies):
            raise ProtocolFormatError("discrepancies must be a tuple of relation names")
        if list(self.discrepancies) != sorted(set(self.discrepancies)):
            raise ProtocolFormatError("discrepancies must be sorted and listed once each")
        if self.audit is not None and not isinstance(self.audit, AuditAnchor):
            raise ProtocolFormatError(f"audit must be an AuditAnchor, got {type(self.audit).__name__}")
        if self.receipts is not None and not isinstance(self.receipts, ReceiptCommitment):
            raise ProtocolFormatError(f"receipts must be a ReceiptCommitment, got {type(self.receipts).__name__}")
        if self.precinct < 1:
            raise ProtocolFormatError(f"precinct number must be >= 1, got {self.precinct}")
        _require_str("region", self.region)
        if self.district is not None:
            _require_str("district", self.district)
        for name in PRECINCT_COUNTS:
            _require_int(name, getattr(self, name))
            _require_count(name, getattr(self, name))
        object.__setattr__(self, "contests", _sorted_contests(self.contests))
        _bound_contests(self.contests)
        if self.paper is not None and not isinstance(self.paper, PaperCount):
            raise ProtocolFormatError(f"paper must be a PaperCount, got {type(self.paper).__name__}")

    def contest(self, contest_id: str) -> ContestResult:
        return _find_contest(self.contests, contest_id, f"the protocol of precinct {self.precinct}")

    @property
    def ballots_counted(self) -> int:
        """Voters who took part: ballots cast by card + paper ballots found in the boxes."""
        return self.ballots_cast + (self.paper.found if self.paper is not None else 0)

    @property
    def electronic_contests(self) -> tuple[ContestResult, ...]:
        """The electronic protocol's results: combined minus paper (election/paper.py)."""
        return electronic_contests(self.contests, self.paper)

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": PROTOCOL_FORMAT,
            "version": FORMAT_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "precinct": self.precinct,
            "region": self.region,
            **{name: getattr(self, name) for name in PRECINCT_COUNTS},
            "contests": [c.to_data() for c in self.contests],
        }
        if self.district is not None:
            data["district"] = self.district
        if self.audit is not None:
            data["audit"] = self.audit.to_data()
        if self.receipts is not None:
            data["receipts"] = self.receipts.to_data()
        if self.discrepancies:
            data["discrepancies"] = list(self.discrepancies)
        if self.paper is not None:
            data["paper"] = self.paper.to_data()
        return data

    def to_canonical_json(self) -> bytes:
        return canonical_json(self.to_data())

    @classmethod
    def from_data(cls, data: Any) -> Protocol:
        d = _object(data, "protocol")
        _kind(d, filekind.PROTOCOL)
        _keys(d, "protocol", required={"format", "version", "election", "precinct", "region", *PRECINCT_COUNTS, "contests"},
              optional={"district", "audit", "receipts", "discrepancies", "paper"})
        _format(d, PROTOCOL_FORMAT)
        el = _object(d["election"], "election")
        _keys(el, "election", required={"id", "fingerprint"})
        try:
            return cls(
                election_id=el["id"],
                election_fingerprint=el["fingerprint"],
                precinct=d["precinct"],
                region=d["region"],
                district=d.get("district"),
                **{name: d[name] for name in PRECINCT_COUNTS},
                contests=_contests_from_data(d["contests"]),
                audit=None if "audit" not in d else AuditAnchor.from_data(d["audit"]),
                receipts=None if "receipts" not in d else _receipts_from_data(d["receipts"]),
                discrepancies=_discrepancies_from_data(d.get("discrepancies", [])),
                paper=None if "paper" not in d else PaperCount.from_data(d["paper"]),
            )
        except TypeError as e:  # pragma: no cover - guarded by _keys
            raise ProtocolFormatError(str(e)) from None

    @classmethod
    def from_canonical_json(cls, raw: bytes) -> Protocol:
        """Parse strictly; the bytes must be exactly the canonical encoding."""
        protocol = cls.from_data(_parse_as(raw, filekind.PROTOCOL))
        if protocol.to_canonical_json() != raw:
            raise ProtocolFormatError("protocol JSON is not in canonical form (sorted keys, no whitespace, contests by id)")
        return protocol


@dataclass(frozen=True)
class ProtocolTotals:
    """Protocols summed over precincts (a territorial or the central commission)."""

    election_id: str
    election_fingerprint: str
    precincts: tuple[int, ...]
    voters_on_list: int
    voters_checked_in: int
    cards_issued: int
    ballots_cast: int
    cards_cancelled: int
    contests: tuple[ContestResult, ...]
    #: ballots counted (card + paper) that carried each contest (differs from ballots_counted across styles)
    contest_ballots: Mapping[str, int] = field(default_factory=dict)
    cards_replaced: int = 0
    cards_not_returned: int = 0
    voters_additional: int = 0
    voters_paper: int = 0
    voters_outside: int = 0
    paper: PaperCount | None = None  # the paper sections summed; None when no precinct used paper

    def __post_init__(self) -> None:
        _check_election_ref(self.election_id, self.election_fingerprint)
        for n in self.precincts:
            _require_int("precinct", n)
        object.__setattr__(self, "precincts", tuple(sorted(self.precincts)))
        for name in PRECINCT_COUNTS:
            _require_int(name, getattr(self, name))
        object.__setattr__(self, "contests", _sorted_contests(self.contests))
        object.__setattr__(self, "contest_ballots", dict(sorted(self.contest_ballots.items())))
        if self.paper is not None and not isinstance(self.paper, PaperCount):
            raise ProtocolFormatError(f"paper must be a PaperCount, got {type(self.paper).__name__}")

    def contest(self, contest_id: str) -> ContestResult:
        return _find_contest(self.contests, contest_id, "these totals")

    @property
    def ballots_counted(self) -> int:
        """Voters who took part: ballots cast by card + paper ballots found in the boxes."""
        return self.ballots_cast + (self.paper.found if self.paper is not None else 0)

    @property
    def electronic_contests(self) -> tuple[ContestResult, ...]:
        """The electronic results: combined minus paper (election/paper.py)."""
        return electronic_contests(self.contests, self.paper)

    def to_data(self) -> dict[str, Any]:
        data = {
            "format": TOTALS_FORMAT,
            "version": FORMAT_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "precincts": list(self.precincts),
            **{name: getattr(self, name) for name in PRECINCT_COUNTS},
            "contests": [c.to_data() for c in self.contests],
            "contest_ballots": dict(self.contest_ballots),
        }
        if self.paper is not None:
            data["paper"] = self.paper.to_data()
        return data

    def to_canonical_json(self) -> bytes:
        return canonical_json(self.to_data())


# --- canonical JSON --------------------------------------------------------------------


def canonical_json(data: Any) -> bytes:
    """The canonical bytes (election/canonical.py: sorted keys, no whitespace, UTF-8,
    integers only); a float is refused as a `ProtocolFormatError`, the error protocol
    callers see."""
    try:
        return _canonical.canonical_json(data)
    except CanonicalJSONError as e:
        raise ProtocolFormatError(str(e)) from None


def parse_strict_json(raw: bytes) -> Any:
    """The protocol's JSON through the one bounded reader (`jsonfile.parse_json`):
    at most `MAX_SIGNED_PROTOCOL_BYTES`, not too deep, UTF-8, integers only (each
    fitting 64 bits), no duplicate keys, NaN or Infinity. A refusal keeps the
    reader's name for it (`too_large`, `too_deep`, `count_out_of_range`; else `format`)."""
    if not isinstance(raw, (bytes, bytearray)):
        raise ProtocolFormatError("protocol JSON must be given as bytes")
    try:
        return jsonfile.parse_json(raw, max_bytes=MAX_SIGNED_PROTOCOL_BYTES, what="a signed protocol")
    except jsonfile.InputError as e:
        raise ProtocolFormatError(str(e), reason=_REASONS.get(e.reason, "format")) from None


#: jsonfile's refusals that keep their name in a protocol refusal ("malformed" is `format`).
_REASONS = {r: r for r in ("too_large", "too_deep", "count_out_of_range")}


def read_protocol_file(path: str | Path) -> bytes:
    """A protocol file's bytes, measured before reading: `ProtocolFormatError`
    (`too_large`) over `MAX_SIGNED_PROTOCOL_BYTES`; OSError when it cannot be read.
    Messages do not repeat the path: callers name the file."""
    try:
        return jsonfile.read_bounded(path, MAX_SIGNED_PROTOCOL_BYTES, "a signed protocol", subject="")
    except jsonfile.InputError as e:
        raise ProtocolFormatError(str(e), reason=e.reason) from None


def without_scanner_newline(raw: bytes) -> bytes:
    """The signed protocol's bytes as a QR scanner or a text editor gives them: one
    trailing newline (LF or CRLF), which a scanner types as Enter, is not part of the
    canonical bytes and is dropped; anything else is left for the strict parser."""
    return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw


def _parse_as(raw: bytes, expected: filekind.FileKind) -> Any:
    """`parse_strict_json`; when that fails on another kind of file (a report with
    percentages, say), the file's kind is the reason given."""
    try:
        return parse_strict_json(raw)
    except ProtocolFormatError as e:
        if e.reason != "format":  # a bound: nothing more is read from these bytes
            raise
        other = filekind.wrong_kind_of_bytes(raw, expected) if isinstance(raw, (bytes, bytearray)) else None
        if other is not None:
            raise ProtocolFormatError(other) from None
        raise


def _kind(d: Mapping[str, Any], expected: filekind.FileKind) -> None:
    """Another kind of Sailau file is named plainly, before its keys are listed as unknown."""
    other = filekind.wrong_kind(d, expected)
    if other is not None:
        raise ProtocolFormatError(other)


def _format(d: Mapping[str, Any], expected: str) -> None:
    if d["format"] != expected:
        raise ProtocolFormatError(f"format must be {expected!r}, got {d['format']!r}")
    if _is_int(d["version"]) and d["version"] in (1, 2):
        raise ProtocolFormatError(
            f"{expected} version {d['version']} is an old format without a receipt commitment; this code reads "
            f"version {FORMAT_VERSION} only (the station must close with a current release to sign one)"
        )
    if _is_int(d["version"]) and d["version"] == 3:
        raise ProtocolFormatError(
            f"{expected} version 3 is the format before the paper protocol; this code reads version {FORMAT_VERSION} "
            "only (close the station with a current release, or regenerate the file)"
        )
    if not _is_int(d["version"]) or d["version"] != FORMAT_VERSION:
        raise ProtocolFormatError(f"unsupported {expected} version {d['version']!r}; this code reads {FORMAT_VERSION}")


def _receipts_from_data(value: Any) -> ReceiptCommitment:
    d = _object(value, "receipts")
    _keys(d, "receipts", required={"count", "root"})
    _require_int("receipts count", d["count"])
    try:
        return ReceiptCommitment(count=d["count"], root=d["root"])
    except ReceiptListError as e:
        raise ProtocolFormatError(str(e)) from None


def _discrepancies_from_data(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ProtocolFormatError("discrepancies must be a list of relation names")
    for name in value:
        _require_str("discrepancy", name)
    return tuple(value)


# --- control relations ---------------------------------------------------------------


def validate_protocol(protocol: Protocol | ProtocolTotals, election: Election | None = None) -> list[Violation]:
    """Every violated control relation, in a stable order; empty when the protocol holds."""
    out: list[Violation] = []

    def add(name: str, message: str) -> None:
        out.append(Violation(name, message))

    p = protocol
    for name in PRECINCT_COUNTS:
        if getattr(p, name) < 0:
            add(f"nonnegative:{name}", f"{name} is {getattr(p, name)}")
    if p.voters_checked_in > p.voters_on_list:
        add("checked_in<=on_list", f"{p.voters_checked_in} voters checked in but {p.voters_on_list} on the list")
    if p.cards_issued > p.voters_checked_in + p.cards_replaced:
        add("issued<=checked_in+replaced",
            f"{p.cards_issued} cards issued to {p.voters_checked_in} voters checked in with {p.cards_replaced} replaced")
    if p.cards_issued > p.voters_on_list + p.cards_replaced:
        add("issued<=on_list+replaced",
            f"{p.cards_issued} cards issued but {p.voters_on_list} voters on the list and {p.cards_replaced} replaced")
    if p.ballots_cast > p.voters_checked_in:
        add("cast<=checked_in", f"{p.ballots_cast} ballots cast but {p.voters_checked_in} voters checked in")
    if p.ballots_cast > p.cards_issued:
        add("cast<=issued", f"{p.ballots_cast} ballots cast but {p.cards_issued} cards issued")
    if p.ballots_cast + p.cards_cancelled > p.cards_issued:
        add(
            "cast+cancelled<=issued",
            f"{p.ballots_cast} cast + {p.cards_cancelled} cancelled exceed {p.cards_issued} cards issued",
        )
    elif p.ballots_cast + p.cards_cancelled + p.cards_not_returned > p.cards_issued:
        add("cast+cancelled+not_returned<=issued",
            f"{p.ballots_cast} cast + {p.cards_cancelled} cancelled + {p.cards_not_returned} revoked "
            f"exceed {p.cards_issued} cards issued")
    if p.cards_not_returned > p.cards_replaced:
        add("not_returned<=replaced", f"{p.cards_not_returned} cards not returned but {p.cards_replaced} replaced")
    if p.cards_replaced - p.cards_not_returned > p.cards_cancelled:
        add("returned<=cancelled",
            f"{p.cards_replaced - p.cards_not_returned} replaced cards handed back but {p.cards_cancelled} cancelled")
    if isinstance(p, Protocol):
        if p.receipts is None:
            add("receipts:missing", "the protocol does not commit to its receipt list")
        elif p.receipts.count != p.ballots_cast:
            add("receipts==cast", f"{p.receipts.count} receipt codes committed but {p.ballots_cast} ballots cast")

    out.extend(voter_violations(p))

    out.extend(contest_sign_violations(p.contests))
    seen: set[str] = set()
    counted = p.ballots_counted
    for c in p.contests:
        cid = c.contest_id
        if cid in seen:
            continue
        seen.add(cid)
        if isinstance(p, ProtocolTotals):
            cast = p.contest_ballots.get(cid, counted)
            if cast > counted:
                add(f"contest:{cid}:cast<=cast", f"{cast} ballots carried contest {cid!r} of {counted} counted")
        else:
            cast = counted
        if c.total != cast:
            add(
                f"contest:{cid}:sum==cast",
                f"options {sum(c.votes.values())} + against all {c.against_all} + blank {c.blank} "
                f"+ invalid {c.invalid} = {c.total}, but {cast} ballots counted ({p.ballots_cast} by card)",
            )

    style_contests: tuple[str, ...] | None = None
    if election is not None:
        out.extend(_election_violations(p, election))
        style_contests = _style_contests(p, election)
    out.extend(paper_violations(p, election, style_contests, getattr(p, "precinct", None),
                                per_contest_sum=isinstance(p, Protocol)))
    return out


def _style_contests(p: Protocol | ProtocolTotals, election: Election) -> tuple[str, ...] | None:
    """The contests on the precinct's ballot style; None for totals or an unknown precinct."""
    if not isinstance(p, Protocol):
        return None
    try:
        return tuple(election.style(election.precinct(p.precinct).style).contests)
    except LookupError:
        return None


def _election_violations(p: Protocol | ProtocolTotals, election: Election) -> list[Violation]:
    out: list[Violation] = []

    def add(name: str, message: str) -> None:
        out.append(Violation(name, message))

    if p.election_id != election.id:
        add("election:id", f"protocol is for election {p.election_id!r}, not {election.id!r}")
    if p.election_fingerprint != election.fingerprint_hex:
        add("election:fingerprint", f"protocol fingerprint {p.election_fingerprint} is not {election.fingerprint_hex}")
    if isinstance(p, Protocol):
        try:
            definition = election.precinct(p.precinct)
        except LookupError:
            definition = None
        if definition is None:
            add("precinct:unknown", f"precinct {p.precinct} is not in election {election.id}")
        else:
            if definition.region != p.region:
                add("precinct:region", f"precinct {p.precinct} is in region {definition.region!r}, protocol says {p.region!r}")
            if definition.district != p.district:
                add(
                    "precinct:district",
                    f"precinct {p.precinct} is in district {definition.district!r}, protocol says {p.district!r}",
                )
    else:
        numbers = {pr.number for pr in election.precincts}
        for n in p.precincts:
            if n not in numbers:
                add("precinct:unknown", f"precinct {n} is not in election {election.id}")
    out.extend(contest_definition_violations(p.contests, election, _style_contests(p, election),
                                             getattr(p, "precinct", None)))
    return out


#: Relations a protocol cannot declare as discrepancies: the receipt commitment is
#: the station's own output, not a count that can come out wrong, and the format is
#: signed only with it; every `paper:`, `electronic:` and `voters:` relation is on
#: hand-entered or pollbook figures, which the members correct before signing (issue
#: 13 item 5: the station refuses to sign and shows which). Machine-counted card
#: relations keep the declare-and-sign rule (DESIGN.md section 7). A protocol
#: declaring one of these is still refused by it. The exact names are here, the
#: families by prefix in `UNDECLARABLE_PREFIXES`: ask `undeclarable(name)`, which
#: answers for both.
UNDECLARABLE_RELATIONS = frozenset({"receipts:missing", "receipts==cast"})


def undeclarable(name: str) -> bool:
    """Whether the relation `name` can never be declared as a discrepancy (see above)."""
    return name in UNDECLARABLE_RELATIONS or name.startswith(UNDECLARABLE_PREFIXES)


def undeclared_violations(protocol: Protocol | ProtocolTotals, election: Election | None = None) -> list[Violation]:
    """The violated relations the protocol does not declare in `discrepancies`, a
    ``discrepancy:<name>`` violation for each declared relation that in fact holds,
    and one for each declared relation that cannot be declared (`UNDECLARABLE_RELATIONS`:
    such a relation, when it fails, is reported as well)."""
    declared = set(getattr(protocol, "discrepancies", ()))
    violations = validate_protocol(protocol, election)
    out = [v for v in violations if v.name not in declared or undeclarable(v.name)]
    found = {v.name for v in violations}
    refused = {name for name in declared if undeclarable(name)}
    out += [Violation(f"discrepancy:{name}",
                      f"{name} cannot be declared: "
                      + ("the receipt commitment is required to sign" if name.startswith("receipts")
                         else "hand-entered and pollbook figures are corrected before signing"))
            for name in sorted(refused)]
    out += [Violation(f"discrepancy:{name}", f"declared violated, but {name} holds")
            for name in sorted(declared - found - refused)]
    return out


def check_protocol(protocol: Protocol | ProtocolTotals, election: Election | None = None) -> None:
    """Raise `ProtocolViolationError` unless every control relation holds, or fails
    only where the protocol says so (`discrepancies`)."""
    violations = undeclared_violations(protocol, election)
    if violations:
        raise ProtocolViolationError(violations)


# --- signing --------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedProtocol:
    """A protocol with the station's Ed25519 signature over its canonical bytes."""

    protocol: Protocol
    station_key_id: bytes  # first 8 bytes of SHA-256 of the public key (crypto.key_id)
    public_key: bytes  # raw 32-byte Ed25519 public key
    signature: bytes  # 64 bytes

    def to_data(self) -> dict[str, Any]:
        return {
            "format": SIGNED_FORMAT,
            "version": FORMAT_VERSION,
            "protocol": self.protocol.to_data(),
            "station_key_id": self.station_key_id.hex(),
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }

    def to_canonical_json(self) -> bytes:
        return canonical_json(self.to_data())

    @classmethod
    def from_canonical_json(cls, raw: bytes) -> SignedProtocol:
        """Parse strictly (canonical bytes only). Does not verify: call `verify_signed_protocol`."""
        d = _object(_parse_as(raw, filekind.SIGNED_PROTOCOL), "signed protocol")
        _kind(d, filekind.SIGNED_PROTOCOL)
        _keys(d, "signed protocol", required={"format", "version", "protocol", "station_key_id", "public_key", "signature"})
        _format(d, SIGNED_FORMAT)
        signed = cls(
            protocol=Protocol.from_data(d["protocol"]),
            station_key_id=_hex(d["station_key_id"], KEY_ID_LEN, "station_key_id"),
            public_key=_hex(d["public_key"], 32, "public_key"),
            signature=_hex(d["signature"], SIGNATURE_LEN, "signature"),
        )
        if signed.to_canonical_json() != raw:
            raise ProtocolFormatError("signed protocol JSON is not in canonical form")
        return signed


def _hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]*", value) or len(value) != 2 * length:
        raise ProtocolFormatError(f"{what} must be {length} bytes as lower-case hex, got {value!r}")
    return bytes.fromhex(value)


def sign_protocol(
    protocol: Protocol, private_key: ed25519.Ed25519PrivateKey, election: Election | None = None
) -> SignedProtocol:
    """Check the control relations (raising `ProtocolViolationError` for any failing
    relation the protocol does not declare in `discrepancies`), then sign."""
    check_protocol(protocol, election)
    public = ed25519_public_bytes(private_key.public_key())
    return SignedProtocol(
        protocol=protocol,
        station_key_id=key_id(public),
        public_key=public,
        signature=sign(private_key, protocol.to_canonical_json()),
    )


def verify_signed_protocol(
    signed: SignedProtocol, trusted_keys: Mapping[bytes, bytes] | None = None
) -> Protocol:
    """Verify the signature and return the protocol; raise `ProtocolSignatureError`.

    The public key travels with the protocol, so a valid signature alone proves
    only integrity. `trusted_keys` (key id -> raw public key, the stations enrolled
    for this election) makes it prove origin too; commissions must pass it.
    """

    def enrolled() -> None:
        if trusted_keys is None:
            return
        trusted = trusted_keys.get(signed.station_key_id)
        if trusted is None:
            raise ProtocolSignatureError(f"station key {signed.station_key_id.hex()} is not enrolled")
        if bytes(trusted) != signed.public_key:
            raise ProtocolSignatureError(f"station key {signed.station_key_id.hex()} differs from the enrolled key")

    try:
        verify_enclosed(signed.station_key_id, signed.public_key, signed.signature,
                        signed.protocol.to_canonical_json(), enrolled)
    except KeyIdMismatch as e:
        raise ProtocolSignatureError(f"station {e}") from None
    except (SignatureError, KeyFormatError) as e:
        raise ProtocolSignatureError(f"protocol of precinct {signed.protocol.precinct}: {e}") from None
    return signed.protocol


# --- totals ---------------------------------------------------------------------------


def sum_protocols(protocols: Iterable[Protocol | ProtocolTotals]) -> ProtocolTotals:
    """Add precinct protocols (or earlier totals) of one election into totals.

    Refuses an empty input, another election or fingerprint, and any precinct
    counted twice. Does not validate: check the inputs (and the result) with
    `validate_protocol`; sums of valid protocols are valid.
    """
    items = list(protocols)
    if not items:
        raise ProtocolMismatchError("no protocols to sum")
    first = items[0]
    precincts: list[int] = []
    counts = dict.fromkeys(PRECINCT_COUNTS, 0)
    contest_ballots: dict[str, int] = {}
    for p in items:
        if (p.election_id, p.election_fingerprint) != (first.election_id, first.election_fingerprint):
            raise ProtocolMismatchError(
                f"protocol of election {p.election_id!r} ({p.election_fingerprint[:16]}...) cannot be summed with "
                f"election {first.election_id!r} ({first.election_fingerprint[:16]}...)"
            )
        mine = [p.precinct] if isinstance(p, Protocol) else list(p.precincts)
        for n in mine:
            if n in precincts:
                raise ProtocolMismatchError(f"precinct {n} is counted twice")
            precincts.append(n)
        for name in PRECINCT_COUNTS:
            counts[name] += getattr(p, name)
        for c in p.contests:
            carried = (p.contest_ballots.get(c.contest_id, p.ballots_counted) if isinstance(p, ProtocolTotals)
                       else p.ballots_counted)
            contest_ballots[c.contest_id] = contest_ballots.get(c.contest_id, 0) + carried
    return ProtocolTotals(
        election_id=first.election_id,
        election_fingerprint=first.election_fingerprint,
        precincts=tuple(precincts),
        **counts,
        contests=sum_contests(p.contests for p in items),
        contest_ballots=contest_ballots,
        paper=sum_paper(p.paper for p in items),
    )


def party_list_votes(
    totals: Protocol | ProtocolTotals, election: Election
) -> tuple[list[PartyVotes], int, int]:
    """Input for `law.allocate_list_seats` from the national party-list contest:
    (parties in registration order, voters who took part in it, against all)."""
    contest = election.party_list_contest
    result = totals.contest(contest.id)
    parties = [PartyVotes(p.id, result.votes.get(p.id, 0)) for p in election.parties if p.id in contest.options]
    if isinstance(totals, ProtocolTotals):
        participated = totals.contest_ballots.get(contest.id, totals.ballots_counted)
    else:
        participated = totals.ballots_counted
    return parties, participated, result.against_all
