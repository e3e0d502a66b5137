"""Published receipt-code lists: one file per precinct, the codes in random order.

The ballot box writes one at the close of polls (beside the signed protocol);
commissions and observers read them. Both sides use this one format.

After the close of polls each precinct publishes the receipt codes of the ballots
it counted (election/README.md, "Receipt code"), so a voter can find theirs. An
observer checks each list against the precinct's signed protocol: as many codes as
ballots cast, each well-formed, none twice.

File (`receipts/precinct-NNNNNN.json` in a published set):

    {"format": "sailau/receipt-codes", "version": 1,
     "election": {"id": "...", "fingerprint": "<64 hex>"},
     "precinct": 12, "codes": ["K7Q2-M9XD-4A", ...]}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import filekind, jsonfile

RECEIPTS_FORMAT = "sailau/receipt-codes"
RECEIPTS_VERSION = 1
#: A receipt code takes 15 bytes in the list: 16 MiB holds a million, hundreds of
#: times a precinct's ballots.
MAX_RECEIPT_LIST_BYTES = 16 * 1024 * 1024


class ReceiptListError(ValueError):
    """A receipt list file is malformed; `reason` is `format` or the bound it broke
    (`too_large`, `too_deep`, `count_out_of_range`, as `jsonfile` names them)."""

    def __init__(self, message: str, reason: str = "format"):
        super().__init__(message)
        self.reason = "format" if reason == "malformed" else reason


@dataclass(frozen=True)
class ReceiptList:
    election_id: str
    election_fingerprint: str
    precinct: int
    codes: tuple[str, ...]

    def to_json_bytes(self) -> bytes:
        data = {
            "format": RECEIPTS_FORMAT,
            "version": RECEIPTS_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "precinct": self.precinct,
            "codes": list(self.codes),
        }
        return (json.dumps(data, indent=0) + "\n").encode("utf-8")

    @classmethod
    def from_data(cls, data: Any, subject: str = "this file") -> ReceiptList:
        other = filekind.wrong_kind(data, filekind.RECEIPT_CODES, subject)
        if other is not None:
            raise ReceiptListError(other)
        if not isinstance(data, dict) or data.get("format") != RECEIPTS_FORMAT or data.get("version") != RECEIPTS_VERSION:
            raise ReceiptListError(f"not a {RECEIPTS_FORMAT} v{RECEIPTS_VERSION} file")
        el = data.get("election")
        precinct = data.get("precinct")
        codes = data.get("codes")
        if not isinstance(el, dict) or not isinstance(el.get("id"), str) or not isinstance(el.get("fingerprint"), str):
            raise ReceiptListError("election must be {id, fingerprint}")
        if not isinstance(precinct, int) or isinstance(precinct, bool) or precinct < 1:
            raise ReceiptListError(f"precinct must be a positive integer, got {precinct!r}")
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ReceiptListError("codes must be a list of strings")
        return cls(el["id"], el["fingerprint"], precinct, tuple(codes))


def read_receipt_list(path: str | Path) -> ReceiptList:
    """Read one list through the bounded reader (`jsonfile.read_json`); every
    refusal is a `ReceiptListError` naming the file (and `reason`, for a bound)."""
    path = Path(path)
    try:
        _, data = jsonfile.read_json(path, MAX_RECEIPT_LIST_BYTES, "a receipt-code list")
    except OSError as e:
        raise ReceiptListError(f"{path}: cannot read receipt list ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise ReceiptListError(str(e), reason=e.reason) from None
    other = filekind.wrong_kind(data, filekind.RECEIPT_CODES, str(path))
    if other is not None:
        raise ReceiptListError(other)
    try:
        return ReceiptList.from_data(data)
    except ReceiptListError as e:
        raise ReceiptListError(f"{path}: {e}") from None
