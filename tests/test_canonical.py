"""One canonical JSON (election/canonical.py): byte-identical to the protocol's, which
signatures on disk are made over, and to the audit chain's old text encoding, which
audit logs on disk are hashed over."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailau.election import protocol
from sailau.election.canonical import CanonicalJSONError, canonical_json

values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**63, max_value=2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(values)
def test_the_same_bytes_as_the_protocol_and_the_audit_chain_made(value: object) -> None:
    ours = canonical_json(value)
    assert ours == protocol.canonical_json(value)
    audit_text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert ours == audit_text.encode("utf-8")
    assert json.loads(ours) == value


def test_the_shape_is_sorted_compact_and_not_escaped() -> None:
    assert canonical_json({"b": [1, True, None], "a": "Сайлау"}) == '{"a":"Сайлау","b":[1,true,null]}'.encode()
    assert canonical_json(("a", 1)) == b'["a",1]'


@pytest.mark.parametrize("value", [1.5, {"a": [0.0]}, [float("nan")], {"x": {"y": (2.0,)}}])
def test_a_float_has_no_canonical_form(value: object) -> None:
    with pytest.raises(CanonicalJSONError, match="integers only"):
        canonical_json(value)
    with pytest.raises(protocol.ProtocolFormatError):
        protocol.canonical_json(value)
