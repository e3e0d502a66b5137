"""Canonical JSON: the one byte encoding that is hashed or signed.

Sorted keys, no whitespace, UTF-8 (not \\u-escaped), integers only: a float has
more than one text for one value, so it is refused (`CanonicalJSONError`), as are
NaN and Infinity. Used for the audit chain's event hashes (ballot_box/audit.py) and
for what the results protocol, the key registry and the commission's decisions
sign: `election.protocol.canonical_json` calls this one and turns the float refusal
into its `ProtocolFormatError` (tests/test_canonical.py holds the two to the same
bytes).

Invariant: the encoding of a value never changes. Audit logs and signatures on
disk were made over these bytes; a change would break every one of them.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["CanonicalJSONError", "canonical_json"]


class CanonicalJSONError(ValueError):
    """The value has no canonical encoding (a float)."""


def canonical_json(value: Any) -> bytes:
    """The canonical bytes of a JSON value (dicts, lists/tuples, str, int, bool, None)."""
    _no_floats(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _no_floats(value: Any) -> None:
    if isinstance(value, float):
        raise CanonicalJSONError(f"canonical JSON holds integers only, got {value!r}")
    if isinstance(value, dict):
        for inner in value.values():
            _no_floats(inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            _no_floats(inner)
