"""Published receipt-code lists, and the commitment a signed protocol makes to them.

The ballot box writes one list at the close of polls (beside the signed protocol);
commissions and observers read them. Both sides use this one format and this one
commitment.

After the close of polls each precinct publishes the receipt codes of the ballots
it counted (election/README.md, "Receipt code"), so a voter can find theirs. The
signed protocol carries a `ReceiptCommitment` (how many codes, and a Merkle root
over them in sorted order), so a list changed after signing no longer matches:
an observer recomputes the root from the published list, and a voter gets an
inclusion proof that their code is under the root the station signed.

List file (`receipts/precinct-NNNNNN.json` in a published set; `receipts.json`
in the ballot box's output folder), the codes in random order (sorted order would
do as well: neither says anything about the order ballots were cast in):

    {"format": "sailau/receipt-codes", "version": 1,
     "election": {"id": "...", "fingerprint": "<64 hex>"},
     "precinct": 12, "codes": ["K7Q2-M9XD-4A", ...]}

The commitment (RFC 9162 Merkle tree hash, SHA-256, with Sailau's label for
domain separation; every step is `hashlib`, nothing else):

- the codes are sorted (by their ASCII bytes) and cut into pages of
  `PAGE_CODES` (64) codes, the last page shorter; a page's bytes are its codes,
  each followed by a line feed;
- leaf hash = SHA-256("sailau/receipts/v1" ‖ 0x00 ‖ page bytes);
  node hash = SHA-256("sailau/receipts/v1" ‖ 0x01 ‖ left ‖ right);
  the tree over the pages is RFC 9162's (left subtree the largest power of two
  of leaves); the root of no codes is SHA-256("sailau/receipts/v1" ‖ 0x02);
- `ReceiptCommitment(count, root)`: the number of codes and the root (hex).

Why pages and not one leaf per code: a national set holds about 7 million codes;
one hash per page of 64 makes the root of all of them a fraction of a second in
Python instead of half a minute, and an inclusion proof shows the voter 63 other
codes that are public anyway. A code is printable ASCII without spaces, at most
`MAX_CODE_LENGTH` characters (a ballot box lists an unreadable stored ballot as
`UNREADABLE-<id>`, which the commitment covers like any other code).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import filekind, jsonfile
from .record import RECEIPT_CODE_ALPHABET, ReceiptCodeError, normalize_receipt_code

RECEIPTS_FORMAT = "sailau/receipt-codes"
RECEIPTS_VERSION = 1
PROOF_FORMAT = "sailau/receipt-proof"
PROOF_VERSION = 1
#: A receipt code takes 15 bytes in the list: 16 MiB holds a million, hundreds of
#: times a precinct's ballots.
MAX_RECEIPT_LIST_BYTES = 16 * 1024 * 1024

TREE_LABEL = b"sailau/receipts/v1"
PAGE_CODES = 64
MAX_CODE_LENGTH = 64
_CODE_RE = re.compile(r"[!-~]{1,%d}" % MAX_CODE_LENGTH)  # printable ASCII, no space
_HEX64_RE = re.compile(r"[0-9a-f]{64}")


class ReceiptListError(ValueError):
    """A receipt list (or an inclusion proof, or a commitment) is malformed; `reason`
    is `format` or the bound it broke (`too_large`, `too_deep`,
    `count_out_of_range`, as `jsonfile` names them)."""

    def __init__(self, message: str, reason: str = "format"):
        super().__init__(message)
        self.reason = "format" if reason == "malformed" else reason


# --- the commitment ----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptCommitment:
    """What a signed protocol says about its receipt list: how many codes, and the
    Merkle root over them in sorted order (module docstring)."""

    count: int
    root: str  # 64 lower-case hex digits

    def __post_init__(self) -> None:
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 0:
            raise ReceiptListError(f"receipt count must be a whole number >= 0, got {self.count!r}")
        if not isinstance(self.root, str) or not _HEX64_RE.fullmatch(self.root):
            raise ReceiptListError(f"receipt root must be 64 lower-case hex digits, got {self.root!r}")

    @property
    def pages(self) -> int:
        """The number of leaves of the tree."""
        return -(-self.count // PAGE_CODES)

    def to_data(self) -> dict[str, Any]:
        return {"count": self.count, "root": self.root}


def _leaf_hash(page: bytes) -> bytes:
    return hashlib.sha256(TREE_LABEL + b"\x00" + page).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(TREE_LABEL + b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(TREE_LABEL + b"\x02").digest()


def _check_codes(codes: Sequence[str]) -> None:
    """Refuse a code the commitment cannot hold. One scan of the joined text; the
    offending code is looked for one by one only when there is one."""
    try:
        text = "\n".join(codes).encode("ascii")
        n = len(codes)
        good = n == 0 or (
            not text.translate(None, _CODE_BYTES)  # printable ASCII, no space, between line feeds
            and text.count(b"\n") == n - 1  # and none inside a code
            and (
                (len(text) == 13 * n - 1 and text[12::13] == b"\n" * (n - 1))  # the canonical codes: 12 each
                or (0 < min(map(len, codes)) and max(map(len, codes)) <= MAX_CODE_LENGTH)
            )
        )
    except (TypeError, UnicodeEncodeError):
        good = False
    if good:
        return
    for code in codes:
        if not isinstance(code, str) or not _CODE_RE.fullmatch(code):
            raise ReceiptListError(
                f"{code!r} cannot be committed to: a code is printable ASCII without spaces, 1 to {MAX_CODE_LENGTH} characters"
            )


_CODE_BYTES = bytes(range(0x21, 0x7F)) + b"\n"


def _pages(sorted_codes: Sequence[str]) -> list[bytes]:
    return [
        ("\n".join(sorted_codes[i : i + PAGE_CODES]) + "\n").encode("ascii")
        for i in range(0, len(sorted_codes), PAGE_CODES)
    ]


def _root(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 Merkle tree hash of leaf hashes: pairing level by level and carrying
    an odd last node up unchanged builds exactly the RFC's left-complete tree."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [_node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def commit_receipts(codes: Iterable[str]) -> ReceiptCommitment:
    """The commitment to a list of codes (any order; duplicates are committed as they are)."""
    ordered = sorted(codes)
    _check_codes(ordered)
    root = _root([_leaf_hash(page) for page in _pages(ordered)])
    return ReceiptCommitment(len(ordered), root.hex())


# --- inclusion proofs --------------------------------------------------------------------


def _path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 section 2.1.3.1 PATH(m, D[n]) over leaf hashes."""
    n = len(leaves)
    if n <= 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two smaller than n
    if m < k:
        return _path(m, leaves[:k]) + [_root(leaves[k:])]
    return _path(m - k, leaves[k:]) + [_root(leaves[:k])]


@dataclass(frozen=True)
class InclusionProof:
    """That `code` is in a precinct's committed list: the page (leaf) holding it,
    its index among `commitment.pages` leaves, and the audit path to the root."""

    election_id: str
    election_fingerprint: str
    precinct: int
    code: str
    commitment: ReceiptCommitment
    page_index: int
    page: tuple[str, ...]
    path: tuple[str, ...]  # hex node hashes, leaf to root

    def to_data(self) -> dict[str, Any]:
        return {
            "format": PROOF_FORMAT,
            "version": PROOF_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "precinct": self.precinct,
            "code": self.code,
            "receipts": self.commitment.to_data(),
            "page_index": self.page_index,
            "page": list(self.page),
            "path": list(self.path),
        }

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_data(), indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_data(cls, data: Any, subject: str = "this file") -> InclusionProof:
        _check_header(data, filekind.RECEIPT_PROOF, PROOF_FORMAT, PROOF_VERSION, subject)
        try:
            el, receipts = data["election"], data["receipts"]
            proof = cls(
                el["id"], el["fingerprint"], data["precinct"], data["code"],
                ReceiptCommitment(receipts["count"], receipts["root"]),
                data["page_index"], tuple(data["page"]), tuple(data["path"]),
            )
        except (KeyError, TypeError) as e:
            raise ReceiptListError(f"{subject}: inclusion proof is missing or mistypes {e}") from None
        if not all(isinstance(h, str) and _HEX64_RE.fullmatch(h) for h in proof.path):
            raise ReceiptListError(f"{subject}: path must be a list of 64-hex-digit hashes")
        if not all(isinstance(c, str) for c in proof.page) or not isinstance(proof.code, str):
            raise ReceiptListError(f"{subject}: code and page must be text")
        for name in ("precinct", "page_index"):
            value = getattr(proof, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ReceiptListError(f"{subject}: {name} must be a whole number, got {value!r}")
        return proof


def prove_inclusion(receipts: ReceiptList, code: str) -> InclusionProof | None:
    """The proof that `code` is in `receipts` (None when it is not there)."""
    ordered = sorted(receipts.codes)
    _check_codes(ordered)
    at = bisect.bisect_left(ordered, code)
    if at == len(ordered) or ordered[at] != code:
        return None
    index = at // PAGE_CODES
    leaves = [_leaf_hash(page) for page in _pages(ordered)]
    return InclusionProof(
        receipts.election_id, receipts.election_fingerprint, receipts.precinct, code,
        ReceiptCommitment(len(ordered), _root(leaves).hex()), index,
        tuple(ordered[index * PAGE_CODES : (index + 1) * PAGE_CODES]),
        tuple(h.hex() for h in _path(index, leaves)),
    )


def verify_inclusion(proof: InclusionProof, commitment: ReceiptCommitment) -> bool:
    """True when the proof's page holds its code, is sorted, has the size its index
    implies, and its audit path leads to `commitment.root` (RFC 9162 section 2.1.3.2)."""
    if proof.commitment != commitment or proof.code not in proof.page:
        return False
    try:
        _check_codes(proof.page)
    except ReceiptListError:
        return False
    tree_size, index = commitment.pages, proof.page_index
    if not isinstance(index, int) or not 0 <= index < tree_size or list(proof.page) != sorted(proof.page):
        return False
    expected = min(PAGE_CODES, commitment.count - index * PAGE_CODES)
    if len(proof.page) != expected:
        return False
    fn, sn = index, tree_size - 1
    r = _leaf_hash(_pages(proof.page)[0])
    for sibling_hex in proof.path:
        sibling = bytes.fromhex(sibling_hex)
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node_hash(sibling, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node_hash(r, sibling)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r.hex() == commitment.root


# --- the list file -----------------------------------------------------------------------


def malformed_codes(codes: Sequence[str]) -> list[str]:
    """The codes not in canonical form (`K7Q2-M9XD-4A`), in list order.

    A few passes over one joined string, so a national set's seven million codes
    are checked in well under a second; code by code only when something is off.
    """
    n = len(codes)
    if n == 0:
        return []
    if _all_text(codes):
        joined = "\n".join(codes)
        if (
            len(joined) == 13 * n - 1
            and joined[4::13] == "-" * n
            and joined[9::13] == "-" * n
            and joined[12::13] == "\n" * (n - 1)
            and joined.count("\n") == n - 1
            and not joined.translate(_CANONICAL_DROP)
        ):
            return []
    bad = []
    for code in codes:
        try:
            if normalize_receipt_code(code) != code:
                bad.append(code)
        except (ReceiptCodeError, AttributeError, TypeError):
            bad.append(code)
    return bad


_CANONICAL_DROP = str.maketrans(dict.fromkeys(RECEIPT_CODE_ALPHABET + "-\n"))


def _all_text(items: Sequence[Any]) -> bool:
    return set(map(type, items)) <= {str}


@dataclass(frozen=True)
class ReceiptList:
    election_id: str
    election_fingerprint: str
    precinct: int
    codes: tuple[str, ...]

    def commitment(self) -> ReceiptCommitment:
        return commit_receipts(self.codes)

    def to_json_bytes(self) -> bytes:
        """One code a line; `json`'s C encoder (an `indent` would take the slow one)."""
        data = {
            "format": RECEIPTS_FORMAT,
            "version": RECEIPTS_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "precinct": self.precinct,
            "codes": list(self.codes),
        }
        return (json.dumps(data, separators=(",\n", ": ")) + "\n").encode("utf-8")

    @classmethod
    def from_data(cls, data: Any, subject: str = "this file") -> ReceiptList:
        _check_header(data, filekind.RECEIPT_CODES, RECEIPTS_FORMAT, RECEIPTS_VERSION, subject)
        el = data.get("election")
        precinct = data.get("precinct")
        codes = data.get("codes")
        if not isinstance(el, dict) or not isinstance(el.get("id"), str) or not isinstance(el.get("fingerprint"), str):
            raise ReceiptListError("election must be {id, fingerprint}")
        if not isinstance(precinct, int) or isinstance(precinct, bool) or precinct < 1:
            raise ReceiptListError(f"precinct must be a positive integer, got {precinct!r}")
        if not isinstance(codes, list) or not _all_text(codes):
            raise ReceiptListError("codes must be a list of strings")
        return cls(el["id"], el["fingerprint"], precinct, tuple(codes))


def _check_header(data: Any, kind: filekind.FileKind, format_name: str, version: int, subject: str) -> None:
    """Refuse another kind of file by name, then any format or version but this one."""
    other = filekind.wrong_kind(data, kind, subject)
    if other is not None:
        raise ReceiptListError(other)
    if not isinstance(data, dict) or data.get("format") != format_name or data.get("version") != version:
        raise ReceiptListError(f"not a {format_name} v{version} file")


def _read_json(path: Path, what: str) -> Any:
    """A receipt list or proof through the one bounded reader (`jsonfile.read_json`);
    every refusal is a `ReceiptListError` naming the file (and `reason`, for a bound)."""
    try:
        _, data = jsonfile.read_json(path, MAX_RECEIPT_LIST_BYTES, f"a {what}")
    except OSError as e:
        raise ReceiptListError(f"{path}: cannot read {what} ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise ReceiptListError(str(e), reason=e.reason) from None
    return data


def read_receipt_list(path: str | Path) -> ReceiptList:
    """Read one list through the bounded reader (`jsonfile.read_json`); every
    refusal is a `ReceiptListError` naming the file (and `reason`, for a bound)."""
    path = Path(path)
    data = _read_json(path, "receipt-code list")
    other = filekind.wrong_kind(data, filekind.RECEIPT_CODES, str(path))
    if other is not None:
        raise ReceiptListError(other)
    try:
        return ReceiptList.from_data(data)
    except ReceiptListError as e:
        raise ReceiptListError(f"{path}: {e}") from None


def read_inclusion_proof(path: str | Path) -> InclusionProof:
    path = Path(path)
    return InclusionProof.from_data(_read_json(path, "inclusion proof"), str(path))
