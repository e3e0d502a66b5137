"""The receipt-list commitment (election/receipts.py): a Merkle root over the sorted
codes that a signed protocol carries, inclusion proofs a voter can check, and the
fast canonical-code check agreeing with the code-by-code one."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.election import receipts as r
from sailau.election.receipts import (
    PAGE_CODES,
    InclusionProof,
    ReceiptCommitment,
    ReceiptList,
    ReceiptListError,
    commit_receipts,
    malformed_codes,
    prove_inclusion,
    verify_inclusion,
)
from sailau.election.record import RECEIPT_CODE_ALPHABET, normalize_receipt_code, receipt_code

FP = "ab" * 32


def canonical_codes(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return sorted({receipt_code(rng.randbytes(16)) for _ in range(n)})


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1, recursively, as the RFC writes it."""
    if not leaves:
        return r.EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return r._node_hash(mth(leaves[:k]), mth(leaves[k:]))


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 129, 1000, 64 * 7 + 3])
def test_root_is_rfc9162_over_pages_of_sorted_codes(n: int) -> None:
    codes = canonical_codes(n, n)
    pages = [("".join(c + "\n" for c in codes[i : i + PAGE_CODES])).encode() for i in range(0, n, PAGE_CODES)]
    leaves = [hashlib.sha256(b"sailau/receipts/v1\x00" + p).digest() for p in pages]
    expected = mth(leaves) if leaves else hashlib.sha256(b"sailau/receipts/v1\x02").digest()
    shuffled = list(codes)
    random.Random(1).shuffle(shuffled)
    assert commit_receipts(shuffled) == ReceiptCommitment(n, expected.hex())  # order-free: sorted first


def test_any_change_to_the_list_changes_the_root() -> None:
    codes = canonical_codes(300)
    base = commit_receipts(codes)
    swapped = [*codes[:-1], receipt_code(b"someone else's ballot")]
    assert commit_receipts(swapped).root != base.root and commit_receipts(swapped).count == base.count
    assert commit_receipts(codes[:-1]).root != base.root
    assert commit_receipts([*codes, codes[0]]).root != base.root  # a code listed twice is a different list


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 700), st.data())
def test_every_code_has_a_proof_that_checks_and_only_against_its_root(n: int, data) -> None:
    codes = canonical_codes(n, n)
    listed = ReceiptList("e", FP, 7, tuple(codes))
    commitment = listed.commitment()
    code = data.draw(st.sampled_from(codes))
    proof = prove_inclusion(listed, code)
    assert proof is not None and proof.code == code and code in proof.page
    assert verify_inclusion(proof, commitment)
    assert verify_inclusion(InclusionProof.from_data(proof.to_data()), commitment)  # through its JSON
    other = commit_receipts([*codes[:-1], receipt_code(b"x")])
    assert not verify_inclusion(proof, other)
    if proof.path:
        flipped = (format(int(proof.path[0], 16) ^ 1, "064x"), *proof.path[1:])
        assert not verify_inclusion(InclusionProof(**{**proof.__dict__, "path": flipped}), commitment)
    forged_page = tuple(sorted({*proof.page, receipt_code(b"forged")}))[: len(proof.page)]
    if forged_page != proof.page:
        assert not verify_inclusion(InclusionProof(**{**proof.__dict__, "page": forged_page}), commitment)


def test_a_code_not_listed_has_no_proof_and_a_proof_cannot_be_moved_to_another_code() -> None:
    codes = canonical_codes(200)
    listed = ReceiptList("e", FP, 7, tuple(codes))
    assert prove_inclusion(listed, receipt_code(b"not there")) is None
    proof = prove_inclusion(listed, codes[5])
    assert proof is not None
    moved = InclusionProof(**{**proof.__dict__, "code": receipt_code(b"not there")})
    assert not verify_inclusion(moved, listed.commitment())


def test_codes_the_commitment_cannot_hold_are_refused_by_name() -> None:
    for bad in ["", "has space", "x" * 65, "línea", "a\nb"]:
        with pytest.raises(ReceiptListError, match="cannot be committed to"):
            commit_receipts(["K7Q2-M9XD-4A", bad])
    assert commit_receipts(["UNREADABLE-0a1b2c3d"]).count == 1  # a ballot box lists an unreadable ballot so


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(
    st.builds(lambda b: receipt_code(b), st.binary(min_size=1, max_size=8)),
    st.text(alphabet=RECEIPT_CODE_ALPHABET + "-ilo \n", max_size=14),
), max_size=40))
def test_fast_canonical_check_agrees_with_the_code_by_code_one(codes: list[str]) -> None:
    def slow(c: str) -> bool:
        try:
            return normalize_receipt_code(c) == c
        except ValueError:
            return False

    assert malformed_codes(codes) == [c for c in codes if not slow(c)]


def test_a_line_feed_inside_a_code_of_the_canonical_length_is_malformed() -> None:
    good = receipt_code(b"a")
    bad = good[:10] + "\n" + good[11]  # 12 characters, dashes in place
    assert malformed_codes([good, bad]) == [bad]


def test_list_file_round_trip_and_one_code_a_line() -> None:
    listed = ReceiptList("e", FP, 12, tuple(canonical_codes(5)))
    raw = listed.to_json_bytes()
    assert raw.count(b"\n") >= 5
    assert ReceiptList.from_data(__import__("json").loads(raw)) == listed
