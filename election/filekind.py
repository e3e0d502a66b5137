"""Which kind of Sailau JSON file is this? One place that recognises every kind.

Each command takes one kind of JSON file (an election definition, a signed
protocol, a seats input, ...). Given another kind, a strict reader would list
the keys it does not know, which tells a person nothing they can act on. So
every reader asks `wrong_kind(data, EXPECTED, subject)` before (or instead of)
listing problems, and says plainly "FILE is an election definition, not a seats
input (a seats input holds ...)".

Recognition uses each kind's distinguishing marks only: the `format` member
where the kind has one (every Sailau file does, except the seats input), the
NIST report's `@type`, and, for hand-edited files that lost their `format` line,
the keys no other kind has. It never validates: an unrecognised file returns
None and the reader's own strict checks name its problems.

The format strings here are the ones the writers use (definition.FORMAT,
protocol.*_FORMAT, turnout.SIGNED_TURNOUT_FORMAT, receipts.RECEIPTS_FORMAT and PROOF_FORMAT, shares.SHARE_FORMAT and the
commission's registry, decision and report formats); tests/test_filekind.py keeps them
equal. Bytes are parsed by the one bounded reader (`jsonfile.py`, which imports
nothing of ours), so recognising a file can never exhaust the stack; this module
imports only that, so every reader may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import jsonfile

__all__ = [
    "FileKind",
    "ELECTION",
    "SIGNED_PROTOCOL",
    "SIGNED_TURNOUT",
    "PROTOCOL",
    "PROTOCOL_TOTALS",
    "STATION_KEYS",
    "RECEIPT_CODES",
    "RECEIPT_PROOF",
    "CONFLICT_DECISION",
    "KEY_SHARE",
    "COMMISSION_REPORT",
    "SYNTH_PRIVATE_KEYS",
    "NIST_RESULTS",
    "SEATS_INPUT",
    "KINDS",
    "recognise",
    "recognise_bytes",
    "wrong_kind",
    "wrong_kind_of_bytes",
]


@dataclass(frozen=True)
class FileKind:
    """One kind of JSON file: how people call it and what it looks like.

    `title` carries its article ("an election definition") so messages read
    naturally; `looks_like` is one sentence a person can check a file against.
    """

    key: str
    title: str
    looks_like: str
    format: str | None = None


ELECTION = FileKind(
    "election", "an election definition",
    'an election definition has "format": "sailau/election" and lists the parties, contests, territory, '
    "precincts, ballot_styles and the election public_key",
    "sailau/election",
)
SIGNED_PROTOCOL = FileKind(
    "signed-protocol", "a signed precinct protocol",
    'a signed protocol has "format": "sailau/signed-protocol", the precinct\'s protocol, and the station_key_id, '
    "public_key and signature; the ballot box writes it as protocol.json at the close of polls",
    "sailau/signed-protocol",
)
SIGNED_TURNOUT = FileKind(
    "signed-turnout", "a signed hourly turnout report",
    'a signed turnout report has "format": "sailau/signed-turnout", one precinct\'s voters who received a ballot '
    "by a CEC hour, of those on the list, and the station's signature (sailau station turnout writes it)",
    "sailau/signed-turnout",
)
PROTOCOL = FileKind(
    "protocol", "an unsigned precinct protocol",
    'an unsigned protocol has "format": "sailau/protocol" and one precinct\'s counts and contests, without a signature',
    "sailau/protocol",
)
PROTOCOL_TOTALS = FileKind(
    "protocol-totals", "a sum of protocols",
    'a sum of protocols has "format": "sailau/protocol-totals" and the counts of many precincts added up',
    "sailau/protocol-totals",
)
STATION_KEYS = FileKind(
    "station-keys", "a station key registry",
    'a station key registry has "format": "sailau/station-keys", each precinct\'s station and terminal public keys '
    "and the registry root's signature; a published set holds it as stations.json (sailau registry sign writes it)",
    "sailau/station-keys",
)
RECEIPT_CODES = FileKind(
    "receipt-codes", "a receipt-code list",
    'a receipt-code list has "format": "sailau/receipt-codes", one precinct and its ballots\' receipt codes',
    "sailau/receipt-codes",
)
RECEIPT_PROOF = FileKind(
    "receipt-proof", "a receipt inclusion proof",
    'a receipt inclusion proof has "format": "sailau/receipt-proof", one code, the page of the sorted list '
    "holding it and the path to the root its precinct's signed protocol commits to (sailau receipt check --proof writes it)",
    "sailau/receipt-proof",
)
CONFLICT_DECISION = FileKind(
    "conflict-decision", "a commission decision on conflicting protocols",
    'a conflict decision has "format": "sailau/conflict-decision", one precinct, the protocols considered and the one '
    "counted, signed under the election's registry root (sailau commission decide writes it)",
    "sailau/conflict-decision",
)
KEY_SHARE = FileKind(
    "key-share", "an election key share",
    'a key share has "format": "sailau-election-key-share/v1" and one commission member\'s mnemonic '
    "(sailau keys election writes them)",
    "sailau-election-key-share/v1",
)
COMMISSION_REPORT = FileKind(
    "commission-report", "a commission report",
    'a commission report has "format": "sailau/commission-report" and the totals, turnout and seats '
    "(sailau commission report --json writes it)",
    "sailau/commission-report",
)
SYNTH_PRIVATE_KEYS = FileKind(
    "synth-private-keys", "a file of synthetic station private keys",
    'synthetic station private keys have "format": "sailau/synth-station-private-keys" '
    "(sailau commission synth writes them, never for publication)",
    "sailau/synth-station-private-keys",
)
NIST_RESULTS = FileKind(
    "nist-results", "a NIST SP 1500-100 results report",
    'a NIST results report has "@type": "ElectionResults.ElectionReport" (protocol.nist.json)',
)
SEATS_INPUT = FileKind(
    "seats-input", "a seats input",
    'a seats input holds {"law": "kz-majilis-2009", "parties": [{"id": "NO", "name": "Nur Otan", "votes": 5148074}, '
    '...]} with the parties in registration order and, optionally, "participated", "against_all" and "source"',
)

#: Every kind, the ones with a `format` member first.
KINDS: tuple[FileKind, ...] = (
    ELECTION, SIGNED_PROTOCOL, SIGNED_TURNOUT, PROTOCOL, PROTOCOL_TOTALS, STATION_KEYS, RECEIPT_CODES, RECEIPT_PROOF,
    CONFLICT_DECISION, KEY_SHARE,
    COMMISSION_REPORT, SYNTH_PRIVATE_KEYS, NIST_RESULTS, SEATS_INPUT,
)
_BY_FORMAT: dict[str, FileKind] = {k.format: k for k in KINDS if k.format is not None}
_NIST_TYPE = "ElectionResults.ElectionReport"

# Keys that only one kind has, for files whose `format` line is missing: a kind is
# recognised when at least `need` of its marks are present; first match wins (a
# sum of protocols also has "contests" and "precincts", so protocols come first).
_MARKS: tuple[tuple[FileKind, frozenset[str], int], ...] = (
    (SIGNED_TURNOUT, frozenset({"report"}), 1),  # before the protocol: both carry signature and station_key_id
    (SIGNED_PROTOCOL, frozenset({"protocol", "signature", "station_key_id"}), 2),
    (PROTOCOL, frozenset({"voters_on_list", "voters_checked_in", "cards_issued", "ballots_cast", "cards_cancelled",
                          "voters_paper", "voters_outside", "paper"}), 3),
    (ELECTION, frozenset({"contests", "precincts", "ballot_styles", "territory", "key_ceremony"}), 2),
    (STATION_KEYS, frozenset({"stations"}), 1),
    (RECEIPT_CODES, frozenset({"codes"}), 1),
    (RECEIPT_PROOF, frozenset({"page_index", "page", "path"}), 2),
    (CONFLICT_DECISION, frozenset({"considered", "counted", "grounds"}), 2),
    (KEY_SHARE, frozenset({"mnemonic", "election_public_key"}), 1),
)


def recognise(data: Any) -> FileKind | None:
    """The kind of parsed JSON `data`, or None when nothing marks it as one.

    A `format` member decides alone (an unknown format is None, not a guess);
    without one, the NIST `@type`, then the kind-only keys, then the seats
    input's `law` + `parties` list decide. Pure: no I/O, never raises.
    """
    if not isinstance(data, Mapping):
        return None
    fmt = data.get("format")
    if isinstance(fmt, str):
        return _BY_FORMAT.get(fmt)
    if fmt is not None:
        return None
    if data.get("@type") == _NIST_TYPE:
        return NIST_RESULTS
    keys = set(data)
    for kind, marks, need in _MARKS:
        if len(keys & marks) >= need:
            return kind
    if isinstance(data.get("law"), str) and isinstance(data.get("parties"), list):
        return SEATS_INPUT
    return None


def recognise_bytes(raw: bytes | str) -> FileKind | None:
    """`recognise` on file contents; None when they are not JSON or out of bounds
    (the strict reader says why)."""
    try:
        return recognise(jsonfile.parse_json(raw, integers_only=False))
    except jsonfile.InputError:
        return None


def wrong_kind(data: Any, expected: FileKind, subject: str = "this file") -> str | None:
    """None when `data` may be `expected` (it is, or nothing says otherwise); else the
    plain sentence "<subject> is <found>, not <expected> (<what expected looks like>)"."""
    found = recognise(data)
    if found is None or found is expected:
        return None
    return f"{subject} is {found.title}, not {expected.title} ({expected.looks_like})"


def wrong_kind_of_bytes(raw: bytes | str, expected: FileKind, subject: str = "this file") -> str | None:
    """`wrong_kind` on file contents; None when they are not JSON."""
    try:
        data = jsonfile.parse_json(raw, integers_only=False)
    except jsonfile.InputError:
        return None
    return wrong_kind(data, expected, subject)
