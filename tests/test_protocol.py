"""Results protocol: control relations, canonical JSON, signature, totals, NIST export."""

from __future__ import annotations

import dataclasses
import datetime
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.election.crypto import ed25519_public_bytes, generate_signing_key, key_id
from sailau.election.definition import election_from_data
from sailau.election.law import allocate_list_seats
from nist_schema import nist_schema_errors
from sailau.election.nist import nist_results_report
from sailau.election.protocol import (
    ContestResult,
    Protocol,
    ProtocolFormatError,
    ProtocolMismatchError,
    ProtocolSignatureError,
    ProtocolTotals,
    ProtocolViolationError,
    undeclarable,
    SignedProtocol,
    check_protocol,
    party_list_votes,
    sign_protocol,
    sum_protocols,
    undeclared_violations,
    validate_protocol,
    verify_signed_protocol,
)
from sailau.election.protocol import MAX_PRECINCT_COUNT, AuditAnchor
from sailau.election.receipts import ReceiptCommitment, commit_receipts


def codes(n: int) -> list[str]:
    """n distinct stand-in receipt codes (the commitment takes any printable code)."""
    return [f"TEST-{i:07d}" for i in range(n)]


def _name(en: str) -> dict[str, str]:
    return {"kk": en + " (kk)", "ru": en + " (ru)", "en": en}


@pytest.fixture(scope="module")
def election():
    """A small 2023-law election: party list + two single-member districts."""
    from sailau.election.crypto import ElectionKeyPair

    return election_from_data(
        {
            "format": "sailau/election",
            "version": 1,
            "id": "test-2023",
            "date": "2023-03-19",
            "name": _name("Test Mäjilis election"),
            "law": "kz-majilis-2023",
            "parties": [
                {"id": "A", "registration_number": 1, "name": _name("Party A")},
                {"id": "B", "registration_number": 2, "name": _name("Party B")},
                {"id": "C", "registration_number": 3, "name": _name("Party C")},
            ],
            "contests": [
                {"id": "list", "kind": "party_list", "name": _name("Mäjilis"), "against_all": True, "options": ["A", "B", "C"]},
                {
                    "id": "smd-1",
                    "kind": "single_member",
                    "name": _name("District 1"),
                    "against_all": True,
                    "district": "D1",
                    "candidates": [
                        {"id": "ivanov", "name": _name("Ivanov"), "party": "A"},
                        {"id": "serikov", "name": _name("Serikov")},
                    ],
                },
                {
                    "id": "smd-2",
                    "kind": "single_member",
                    "name": _name("District 2"),
                    "against_all": True,
                    "district": "D2",
                    "candidates": [{"id": "nurlan", "name": _name("Nurlan"), "party": "B"}],
                },
            ],
            "territory": {
                "regions": [{"code": "R1", "name": _name("Region 1")}],
                "districts": [
                    {"code": "D1", "region": "R1", "name": _name("District 1")},
                    {"code": "D2", "region": "R1", "name": _name("District 2")},
                ],
            },
            "precincts": [
                {"number": 101, "region": "R1", "district": "D1", "address": _name("School 1"), "style": 1},
                {"number": 102, "region": "R1", "district": "D1", "address": _name("School 2"), "style": 1},
                {"number": 201, "region": "R1", "district": "D2", "address": _name("School 3"), "style": 2},
            ],
            "ballot_styles": [{"code": 1, "contests": ["list", "smd-1"]}, {"code": 2, "contests": ["list", "smd-2"]}],
            "public_key": ElectionKeyPair.generate().public_key_bytes.hex(),
        }
    )


def make_protocol(election, precinct=101, cast=100, **changes) -> Protocol:
    definition = election.precinct(precinct)
    smd = "smd-1" if definition.district == "D1" else "smd-2"
    smd_votes = {"ivanov": cast - 20, "serikov": 10} if smd == "smd-1" else {"nurlan": cast - 10}
    p = Protocol(
        election_id=election.id,
        election_fingerprint=election.fingerprint_hex,
        precinct=precinct,
        region=definition.region,
        district=definition.district,
        voters_on_list=2 * cast,
        voters_checked_in=cast + 5,
        cards_issued=cast + 3,
        ballots_cast=cast,
        cards_cancelled=2,
        contests=(
            ContestResult("list", {"A": cast - 40, "B": 25, "C": 5}, against_all=6, blank=3, invalid=1),
            ContestResult(smd, smd_votes, against_all=8, blank=2, invalid=0),
        ),
        receipts=commit_receipts(codes(cast)),
    )
    return dataclasses.replace(p, **changes) if changes else p


def names(violations) -> list[str]:
    return [v.name for v in violations]


# --- control relations -----------------------------------------------------------------


def test_valid_protocol_has_no_violations(election):
    p = make_protocol(election)
    assert validate_protocol(p) == []
    assert validate_protocol(p, election) == []
    check_protocol(p, election)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (dict(voters_checked_in=300, cards_issued=250), ["checked_in<=on_list", "issued<=on_list+replaced"]),
        (dict(cards_issued=110), ["issued<=checked_in+replaced"]),
        (dict(voters_on_list=102, voters_checked_in=102, cards_issued=103),
         ["issued<=checked_in+replaced", "issued<=on_list+replaced"]),
        (dict(voters_checked_in=150, cards_issued=99, cards_cancelled=0), ["cast<=issued", "cast+cancelled<=issued"]),
        (dict(cards_cancelled=4), ["cast+cancelled<=issued"]),
        (dict(voters_on_list=-1), ["nonnegative:voters_on_list", "checked_in<=on_list", "issued<=on_list+replaced"]),
        (dict(cards_cancelled=-1), ["nonnegative:cards_cancelled", "returned<=cancelled"]),
        # replacements: 10 cards replaced without being handed back (revoked) let 113 cards go to 105 voters
        (dict(cards_issued=113, cards_replaced=10, cards_not_returned=10), []),
        (dict(cards_issued=107, cards_replaced=2), []),  # two handed back: both among the 2 cancelled
        (dict(cards_replaced=3), ["returned<=cancelled"]),  # 3 handed back but only 2 cards cancelled
        (dict(cards_issued=106, cards_replaced=2, cards_not_returned=3), ["not_returned<=replaced"]),
        # a revoked card is neither cast nor cancelled: 100 + 2 + 106 revoked cannot come out of 103 cards
        (dict(cards_replaced=106, cards_not_returned=106), ["cast+cancelled+not_returned<=issued"]),
        # a double vote through a replaced card (the revocation failed): more ballots than voters, and a
        # revoked card among the ballots
        (dict(voters_checked_in=99, cards_issued=102, cards_replaced=3, cards_not_returned=3),
         ["cast<=checked_in", "cast+cancelled+not_returned<=issued"]),
        (dict(cards_not_returned=-1), ["nonnegative:cards_not_returned"]),
        # the receipt list it signs: one code per ballot cast, and there must be one
        (dict(receipts=commit_receipts(codes(99))), ["receipts==cast"]),
        (dict(receipts=None), ["receipts:missing"]),
    ],
)
def test_each_count_relation_is_detected(election, changes, expected):
    assert names(validate_protocol(make_protocol(election, **changes))) == expected


def test_contest_sum_detected_and_named(election):
    p = make_protocol(election)
    bad = dataclasses.replace(
        p, contests=(ContestResult("list", {"A": 60, "B": 25, "C": 5}, against_all=6, blank=3, invalid=0), p.contests[1])
    )
    violations = validate_protocol(bad)
    assert names(violations) == ["contest:list:sum==cast"]
    assert "= 99, but 100 ballots counted" in violations[0].message
    with pytest.raises(ProtocolViolationError) as info:
        check_protocol(bad)
    assert info.value.violations == tuple(violations)
    assert "contest:list:sum==cast" in str(info.value)


def test_contest_negative_counts_detected(election):
    p = make_protocol(election)
    bad = dataclasses.replace(
        p,
        contests=(
            ContestResult("list", {"A": 62, "B": 25, "C": -2}, against_all=6, blank=-1, invalid=10),
            p.contests[1],
        ),
    )
    assert names(validate_protocol(bad)) == ["contest:list:nonnegative:option:C", "contest:list:nonnegative:blank"]


def test_duplicate_contest_detected(election):
    p = make_protocol(election)
    bad = dataclasses.replace(p, contests=(p.contests[0], p.contests[0], p.contests[1]))
    assert names(validate_protocol(bad)) == ["contest:list:duplicate"]


def test_election_relations_detected(election):
    p = make_protocol(election)
    other = dataclasses.replace(p, election_id="other", election_fingerprint="00" * 32, region="R9", district="D2")
    assert names(validate_protocol(other, election)) == [
        "election:id",
        "election:fingerprint",
        "precinct:region",
        "precinct:district",
    ]
    assert names(validate_protocol(dataclasses.replace(p, precinct=999), election)) == ["precinct:unknown"]

    smd = p.contests[1]
    wrong = dataclasses.replace(
        p,
        contests=(
            ContestResult("list", {"A": 60, "B": 25, "X": 5}, against_all=6, blank=3, invalid=1),
            ContestResult("smd-2", {"nurlan": 90}, against_all=8, blank=2),
            ContestResult("mayor", {"x": 100}),
        ),
    )
    assert names(validate_protocol(wrong, election)) == [
        "contest:list:unknown_option:X",
        "contest:list:missing_option:C",
        "contest:mayor:unknown",
        "contest:smd-2:not_on_style",
        "contest:smd-1:missing",
    ]
    assert smd.contest_id == "smd-1"


def test_against_all_only_where_the_ballot_has_it():
    from sailau.election.crypto import ElectionKeyPair

    e2009 = election_from_data(
        {
            "format": "sailau/election",
            "version": 1,
            "id": "t-2009",
            "date": "2021-01-10",
            "name": _name("T"),
            "law": "kz-majilis-2009",
            "parties": [{"id": "A", "registration_number": 1, "name": _name("A")}],
            "contests": [{"id": "list", "kind": "party_list", "name": _name("M"), "against_all": False, "options": ["A"]}],
            "territory": {"regions": [{"code": "R", "name": _name("R")}]},
            "precincts": [{"number": 1, "region": "R", "address": _name("x"), "style": 1}],
            "ballot_styles": [{"code": 1, "contests": ["list"]}],
            "public_key": ElectionKeyPair.generate().public_key_bytes.hex(),
        }
    )
    p = Protocol(e2009.id, e2009.fingerprint_hex, 1, "R", None, 10, 5, 5, 5, 0, (ContestResult("list", {"A": 3}, against_all=2),),
                 receipts=commit_receipts(codes(5)))
    assert names(validate_protocol(p, e2009)) == ["contest:list:against_all_not_on_ballot"]


# --- canonical JSON ---------------------------------------------------------------------------


def test_canonical_json_shape_and_round_trip(election):
    p = make_protocol(election)
    raw = p.to_canonical_json()
    assert b" " not in raw.replace(b"Party ", b"")
    data = json.loads(raw)
    assert list(data) == sorted(data)
    assert data["format"] == "sailau/protocol" and data["version"] == 4
    assert (data["cards_replaced"], data["cards_not_returned"]) == (0, 0) and "audit" not in data
    assert data["receipts"] == {"count": 100, "root": commit_receipts(codes(100)).root}
    assert Protocol.from_canonical_json(raw) == p
    assert Protocol.from_canonical_json(raw).to_canonical_json() == raw


def test_canonical_bytes_do_not_depend_on_input_order(election):
    p = make_protocol(election)
    shuffled = dataclasses.replace(
        p,
        contests=(p.contests[1], ContestResult("list", {"C": 5, "B": 25, "A": 60}, against_all=6, blank=3, invalid=1)),
    )
    assert shuffled.to_canonical_json() == p.to_canonical_json()
    assert shuffled == p


def test_canonical_json_is_utf8_not_escaped():
    p = Protocol("e", "ab" * 32, 1, "Алматы", None, 1, 1, 1, 1, 0, (ContestResult("c", {"Қ": 1}),))
    raw = p.to_canonical_json()
    assert "Алматы".encode() in raw and b"\\u" not in raw
    assert Protocol.from_canonical_json(raw) == p


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.replace('"precinct":101', '"precinct":101.0'), "integers"),
        (lambda s: s.replace('"blank":3', '"blank":true'), "blank must be an integer"),
        (lambda s: s.replace('"region":"R1"', '"region":"R1","region":"R1"'), "duplicate key 'region'"),
        (lambda s: s.replace('"region":"R1"', '"region":"R1","extra":1'), "unknown key(s) extra"),
        (lambda s: s.replace('"region":"R1",', ""), "missing key(s) region"),
        (lambda s: s.replace('"version":4', '"version":2'), "version 2 is an old format without a receipt commitment"),
        (lambda s: s.replace('"version":4', '"version":3'), "version 3 is the format before the paper protocol"),
        (lambda s: s.replace('"version":4', '"version":5'), "unsupported sailau/protocol version 5"),
        (lambda s: s.replace('"count":100', '"count":-1'), "receipt count must be a whole number"),
        (lambda s: s.replace('"count":100', '"count":"100"'), "receipts count must be an integer"),
        (lambda s: s.replace('"count":100', '"count":100,"codes":[]'), "receipts: unknown key(s) codes"),
        (lambda s: re.sub('"root":"[0-9a-f]+"', '"root":"00"', s), "receipt root must be 64 lower-case hex"),
        (lambda s: s.replace('"cards_replaced":0,', ""), "missing key(s) cards_replaced"),
        (lambda s: s.replace('"cards_replaced":0', '"cards_replaced":false'), "cards_replaced must be an integer"),
        (lambda s: s.replace('"format":"sailau/protocol"', '"format":"other"'), "format must be"),
        (lambda s: s.replace('"cards_cancelled":2', '"cards_cancelled":NaN'), "NaN is not allowed"),
        (lambda s: s.replace(",", ", ", 1), "not in canonical form"),
        (lambda s: s[:-1], "malformed JSON"),
    ],
)
def test_strict_parse_refuses(election, mutate, message):
    raw = mutate(make_protocol(election).to_canonical_json().decode()).encode()
    with pytest.raises(ProtocolFormatError) as info:
        Protocol.from_canonical_json(raw)
    assert message in str(info.value)


HEAD = "c0ffee" + "0" * 58


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.replace(f'"hash":"{HEAD}"', f'"hash":"{HEAD.upper()}"'), "64 lower-case hex"),
        (lambda s: s.replace('"seq":41', '"seq":-1'), "audit seq must be >= 0"),
        (lambda s: s.replace('"seq":41', '"seq":41,"time":"x"'), "audit: unknown key(s) time"),
        (lambda s: s.replace(',"seq":41', ""), "audit: missing key(s) seq"),
        (lambda s: s.replace('"seq":41', '"seq":"41"'), "audit seq must be an integer"),
    ],
)
def test_audit_anchor_is_carried_and_parsed_strictly(election, mutate, message):
    p = make_protocol(election, audit=AuditAnchor(41, HEAD))
    raw = p.to_canonical_json()
    assert json.loads(raw)["audit"] == {"hash": HEAD, "seq": 41}
    assert Protocol.from_canonical_json(raw) == p and p != make_protocol(election)
    with pytest.raises(ProtocolFormatError, match=re.escape(message)):
        Protocol.from_canonical_json(mutate(raw.decode()).encode())


def test_strict_parse_refuses_bad_utf8():
    with pytest.raises(ProtocolFormatError, match="not UTF-8"):
        Protocol.from_canonical_json(b'{"a":"\xff"}')


counts = st.integers(min_value=-5, max_value=MAX_PRECINCT_COUNT)
ident = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,10}", fullmatch=True)


@st.composite
def protocols(draw):
    contests = draw(
        st.lists(
            st.builds(
                ContestResult,
                ident,
                st.dictionaries(st.text(min_size=1, max_size=8), counts, max_size=5),
                counts,
                counts,
                counts,
            ),
            max_size=4,
            unique_by=lambda c: c.contest_id,
        )
    )
    return Protocol(
        election_id=draw(st.text(min_size=1, max_size=20)),
        election_fingerprint=draw(st.binary(min_size=32, max_size=32)).hex(),
        precinct=draw(st.integers(1, 2**32 - 1)),
        region=draw(st.text(min_size=1, max_size=10)),
        district=draw(st.none() | st.text(min_size=1, max_size=10)),
        voters_on_list=draw(counts),
        voters_checked_in=draw(counts),
        cards_issued=draw(counts),
        ballots_cast=draw(counts),
        cards_cancelled=draw(counts),
        contests=tuple(contests),
        cards_replaced=draw(counts),
        cards_not_returned=draw(counts),
        audit=draw(st.none() | st.builds(AuditAnchor, st.integers(0, 2**40), st.binary(min_size=32, max_size=32).map(bytes.hex))),
        receipts=draw(st.none() | st.builds(ReceiptCommitment, st.integers(0, 10**7), st.binary(min_size=32, max_size=32).map(bytes.hex))),
    )


@settings(max_examples=200, deadline=None)
@given(protocols())
def test_canonical_round_trip_property(p):
    raw = p.to_canonical_json()
    back = Protocol.from_canonical_json(raw)
    assert back == p
    assert back.to_canonical_json() == raw
    raw.decode("utf-8")


# --- signing -------------------------------------------------------------------------------------


def test_sign_and_verify(election):
    key = generate_signing_key()
    p = make_protocol(election)
    signed = sign_protocol(p, key, election)
    assert signed.public_key == ed25519_public_bytes(key.public_key())
    assert signed.station_key_id == key_id(signed.public_key)
    assert verify_signed_protocol(signed) == p
    assert verify_signed_protocol(signed, {signed.station_key_id: signed.public_key}) == p
    raw = signed.to_canonical_json()
    assert SignedProtocol.from_canonical_json(raw) == signed
    # the signature is over exactly the protocol's canonical bytes
    key.public_key().verify(signed.signature, p.to_canonical_json())


def test_signing_refuses_a_protocol_that_breaks_relations(election):
    with pytest.raises(ProtocolViolationError, match="cast<=issued"):
        sign_protocol(make_protocol(election, cards_issued=50, cards_cancelled=0), generate_signing_key())


def test_a_protocol_may_be_signed_only_when_it_declares_exactly_the_relations_it_breaks(election):
    """Issue 11, item 6: a station whose count breaks a relation still signs, naming it in
    `discrepancies`; a declaration that hides a violation, or names one that holds, is refused."""
    key = generate_signing_key()
    broken = make_protocol(election, cards_issued=50, cards_cancelled=0)  # cast 100 > issued 50
    names_ = sorted({v.name for v in validate_protocol(broken, election)})
    assert names_ == ["cast+cancelled<=issued", "cast<=issued"]
    declared = dataclasses.replace(broken, discrepancies=tuple(names_))
    signed = sign_protocol(declared, key, election)
    check_protocol(declared, election)  # honest about itself: exportable
    assert names(validate_protocol(declared, election)) == ["cast<=issued", "cast+cancelled<=issued"]  # still reported
    raw = signed.to_canonical_json()
    assert b'"discrepancies":["cast+cancelled<=issued","cast<=issued"]' in raw
    assert SignedProtocol.from_canonical_json(raw) == signed and verify_signed_protocol(signed) == declared
    with pytest.raises(ProtocolViolationError, match="cast<=issued"):  # declares one, hides the other
        sign_protocol(dataclasses.replace(broken, discrepancies=("cast+cancelled<=issued",)), key, election)
    with pytest.raises(ProtocolViolationError, match="discrepancy:checked_in<=on_list"):  # names one that holds
        sign_protocol(dataclasses.replace(declared, discrepancies=("cast+cancelled<=issued", "cast<=issued",
                                                                   "checked_in<=on_list")), key, election)
    # no discrepancies: the key is absent, so protocols without it keep their bytes
    assert b"discrepancies" not in make_protocol(election).to_canonical_json()


@pytest.mark.parametrize("bare", [
    {"receipts": None},  # no commitment at all
    {"receipts": ReceiptCommitment(99, "ab" * 32)},  # a commitment that does not count the ballots cast
])
def test_the_receipt_commitment_cannot_be_declared_away(election, bare):
    """Format 3 is signed only with a commitment that counts the ballots cast: declaring
    `receipts:missing` or `receipts==cast` a discrepancy does not make such a protocol
    signable (the relation is still reported, and the declaration itself is one)."""
    key = generate_signing_key()
    broken = make_protocol(election, **bare)
    (name,) = names(validate_protocol(broken, election))
    assert undeclarable(name)
    declared = dataclasses.replace(broken, discrepancies=(name,))
    assert names(undeclared_violations(declared, election)) == [name, f"discrepancy:{name}"]
    with pytest.raises(ProtocolViolationError, match=f"discrepancy:{re.escape(name)}"):
        sign_protocol(declared, key, election)
    # declaring it next to a relation that may be declared changes nothing
    both = make_protocol(election, cards_issued=50, cards_cancelled=0, **bare)
    declarable = sorted({v.name for v in validate_protocol(both, election) if not undeclarable(v.name)})
    with pytest.raises(ProtocolViolationError, match=re.escape(name)):
        sign_protocol(dataclasses.replace(both, discrepancies=tuple(sorted([*declarable, name]))), key, election)


@pytest.mark.parametrize("value", [("b", "a"), ("a", "a"), ("",), ["a"]])
def test_discrepancies_are_sorted_unique_names(election, value):
    with pytest.raises(ProtocolFormatError, match="discrepancies"):
        dataclasses.replace(make_protocol(election), discrepancies=value)


def test_tampered_count_is_detected(election):
    signed = sign_protocol(make_protocol(election), generate_signing_key(), election)
    p = signed.protocol
    forged = dataclasses.replace(
        p, contests=(ContestResult("list", {"A": 59, "B": 26, "C": 5}, against_all=6, blank=3, invalid=1), p.contests[1])
    )
    with pytest.raises(ProtocolSignatureError, match="does not verify"):
        verify_signed_protocol(dataclasses.replace(signed, protocol=forged))
    # the same through the JSON a commission receives
    raw = signed.to_canonical_json().replace(b'"B":25', b'"B":26').replace(b'"A":60', b'"A":59')
    with pytest.raises(ProtocolSignatureError):
        verify_signed_protocol(SignedProtocol.from_canonical_json(raw))


def test_tampered_signature_and_substituted_key_are_detected(election):
    key = generate_signing_key()
    signed = sign_protocol(make_protocol(election), key, election)
    flipped = bytes([signed.signature[0] ^ 1]) + signed.signature[1:]
    with pytest.raises(ProtocolSignatureError):
        verify_signed_protocol(dataclasses.replace(signed, signature=flipped))
    # an attacker re-signs with their own key: integrity holds, origin does not
    mallory = sign_protocol(make_protocol(election, cast=90), generate_signing_key(), election)
    enrolled = {signed.station_key_id: signed.public_key}
    assert verify_signed_protocol(mallory).ballots_cast == 90
    with pytest.raises(ProtocolSignatureError, match="not enrolled"):
        verify_signed_protocol(mallory, enrolled)
    with pytest.raises(ProtocolSignatureError, match="does not name the enclosed public key"):
        verify_signed_protocol(dataclasses.replace(mallory, station_key_id=signed.station_key_id), enrolled)


# --- totals -----------------------------------------------------------------------------------------


def test_sum_protocols(election):
    parts = [make_protocol(election, 101, cast=100), make_protocol(election, 102, cast=50), make_protocol(election, 201, cast=70)]
    totals = sum_protocols(parts)
    assert totals.precincts == (101, 102, 201)
    assert totals.ballots_cast == 220
    assert totals.voters_on_list == 440
    assert totals.contest("list").votes == {"A": 100 - 40 + 50 - 40 + 70 - 40, "B": 75, "C": 15}
    assert totals.contest("list").against_all == 18
    assert totals.contest_ballots == {"list": 220, "smd-1": 150, "smd-2": 70}
    assert totals.contest("smd-1").votes == {"ivanov": 80 + 30, "serikov": 20}
    assert validate_protocol(totals, election) == []
    # totals of totals: a central commission over territorial ones
    again = sum_protocols([sum_protocols(parts[:2]), parts[2]])
    assert again == totals
    assert json.loads(totals.to_canonical_json())["format"] == "sailau/protocol-totals"


def test_sum_refuses_mixing(election):
    p = make_protocol(election)
    with pytest.raises(ProtocolMismatchError, match="precinct 101 is counted twice"):
        sum_protocols([p, p])
    with pytest.raises(ProtocolMismatchError, match="cannot be summed"):
        sum_protocols([p, dataclasses.replace(make_protocol(election, 102), election_fingerprint="11" * 32)])
    with pytest.raises(ProtocolMismatchError, match="no protocols"):
        sum_protocols([])


def test_totals_relations_detect_a_contest_over_all_ballots(election):
    totals = sum_protocols([make_protocol(election, 101)])
    bad = dataclasses.replace(totals, contest_ballots={"list": 100, "smd-1": 101})
    assert "contest:smd-1:cast<=cast" in names(validate_protocol(bad))
    assert isinstance(bad, ProtocolTotals)


def test_totals_feed_the_law(election):
    totals = sum_protocols([make_protocol(election, 101), make_protocol(election, 201, cast=70)])
    parties, participated, against = party_list_votes(totals, election)
    assert [p.id for p in parties] == ["A", "B", "C"]
    assert participated == 170 and against == 12
    result = allocate_list_seats(election.law, parties, participated, against)
    # A 90, B 50, C 10 (5.9 % of 170 >= 5 %): shares 41.4, 23, 4.6 of 69
    assert result.seats == {"A": 41, "B": 23, "C": 5}


# --- NIST SP 1500-100 -------------------------------------------------------------------------------

def test_nist_export_structure(election):
    parts = [make_protocol(election, 101), make_protocol(election, 201, cast=70)]
    when = datetime.datetime(2023, 3, 20, 8, 0, tzinfo=datetime.timezone.utc)
    report = nist_results_report(parts, election, issuer="Test TEC", issuer_abbreviation="TEC", generated=when)
    assert nist_schema_errors(report) == []
    assert report["@type"] == "ElectionResults.ElectionReport"
    assert report["Format"] == "precinct-level"
    assert report["GeneratedDate"] == "2023-03-20T08:00:00+00:00"
    units = {u["@id"]: u for u in report["GpUnit"]}
    assert all(u["@type"] == "ElectionResults.ReportingUnit" for u in units.values())
    p101 = units["gpu-precinct-101"]
    assert p101["Type"] == "precinct" and p101["VotersRegistered"] == 200
    # voters who received a ballot (checked in), not ballots cast
    assert p101["VotersParticipated"] == parts[0].voters_checked_in == 105
    assert {t["Language"]: t["Content"] for t in p101["Name"]["Text"]}["en"] == "Precinct 101"
    assert units["gpu-kz"]["Type"] == "country"
    assert units["gpu-region-R1"]["ComposingGpUnitIds"][:2] == ["gpu-precinct-101", "gpu-precinct-201"]
    assert units["gpu-district-D2"]["ComposingGpUnitIds"] == ["gpu-precinct-201"]
    parties = {p["@id"]: p for p in report["Party"]}
    assert set(parties) == {"party-A", "party-B", "party-C"}
    assert {t["Language"] for t in parties["party-A"]["Name"]["Text"]} == {"kk", "ru", "en"}

    # every unit is reachable from the election scope
    (el,) = report["Election"]
    reached, todo = set(), [el["ElectionScopeId"]]
    while todo:
        u = todo.pop()
        if u not in reached:
            reached.add(u)
            todo.extend(units[u].get("ComposingGpUnitIds", []))
    assert reached == set(units)

    assert el["@type"] == "ElectionResults.Election"
    assert el["ElectionScopeId"] == "gpu-kz" and el["StartDate"] == "2023-03-19" and el["Type"] == "general"
    assert {"Value": election.fingerprint_hex} .items() <= el["ExternalIdentifier"][1].items()
    counts = {b["GpUnitId"]: b for b in el["BallotCounts"]}
    # the contests disagree on invalid ballots (1 and 0): no one BallotsRejected to give
    assert counts["gpu-precinct-101"] == {"@type": "ElectionResults.BallotCounts", "Type": "total", "GpUnitId": "gpu-precinct-101",
                                          "BallotsCast": 100, "BallotsOutstanding": 0}
    same = make_protocol(election, 101)
    same = dataclasses.replace(same, contests=(same.contests[0], dataclasses.replace(same.contests[1], invalid=1, blank=1)))
    whole = nist_results_report([same], election, issuer="x", issuer_abbreviation="x")
    assert whole["Election"][0]["BallotCounts"][0]["BallotsRejected"] == 1 and nist_schema_errors(whole) == []
    contests = {c["@id"]: c for c in el["Contest"]}
    assert set(contests) == {"contest-list", "contest-smd-1", "contest-smd-2"}
    lst = contests["contest-list"]
    assert lst["@type"] == "ElectionResults.PartyContest" and lst["ElectionDistrictId"] == "gpu-kz"
    sels = {s["@id"]: s for s in lst["ContestSelection"]}
    assert sels["sel-list-A"]["@type"] == "ElectionResults.PartySelection"
    assert sels["sel-list-A"]["PartyIds"] == ["party-A"]
    assert [(v["GpUnitId"], v["Count"], v["Type"]) for v in sels["sel-list-A"]["VoteCounts"]] == [
        ("gpu-precinct-101", 60, "total"),
        ("gpu-precinct-201", 30, "total"),
    ]
    against = sels["sel-list-against-all"]
    assert against["@type"] == "ElectionResults.BallotMeasureSelection"
    assert sum(v["Count"] for v in against["VoteCounts"]) == 12
    other = {s["GpUnitId"]: s for s in lst["OtherCounts"]}
    assert other["gpu-precinct-101"] == {"@type": "ElectionResults.OtherCounts", "GpUnitId": "gpu-precinct-101", "Undervotes": 3}
    smd = contests["contest-smd-1"]
    assert smd["@type"] == "ElectionResults.CandidateContest"
    assert smd["VotesAllowed"] == 1 and smd["ElectionDistrictId"] == "gpu-district-D1"
    assert [s["CandidateIds"] for s in smd["ContestSelection"][:2]] == [["cand-smd-1-ivanov"], ["cand-smd-1-serikov"]]
    assert [v["GpUnitId"] for v in smd["ContestSelection"][0]["VoteCounts"]] == ["gpu-precinct-101"]
    cands = {c["@id"]: c for c in el["Candidate"]}
    assert cands["cand-smd-1-ivanov"]["PartyId"] == "party-A"
    assert "PartyId" not in cands["cand-smd-1-serikov"]

    # every count in the protocols appears once: option votes + against all + blank + invalid == cast
    for c in el["Contest"]:
        for s in c["OtherCounts"]:
            unit = s["GpUnitId"]
            votes = sum(v["Count"] for sel in c["ContestSelection"] for v in sel["VoteCounts"] if v["GpUnitId"] == unit)
            p = next(p for p in parts if f"gpu-precinct-{p.precinct}" == unit)
            invalid = p.contest(c["@id"].removeprefix("contest-")).invalid
            assert votes + s["Undervotes"] + invalid == counts[unit]["BallotsCast"]

    # every reference resolves, every object is typed
    ids = set(units) | set(parties) | set(cands)
    def walk(node):
        if isinstance(node, dict):
            if "@id" in node or "Name" in node and isinstance(node.get("Name"), dict):
                assert node["@type"].startswith("ElectionResults.")
            for k, v in node.items():
                if k in ("GpUnitId", "ElectionDistrictId", "ElectionScopeId", "PartyId"):
                    assert v in ids, (k, v)
                if k in ("ComposingGpUnitIds", "PartyIds", "CandidateIds", "EndorsementPartyIds"):
                    assert set(v) <= ids, (k, v)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(report)
    json.dumps(report)  # plain JSON


def test_nist_single_station_file_does_not_shrink_its_region(election):
    """One station's file validates, and says its region has more precincts than it reports."""
    report = nist_results_report([make_protocol(election, 101)], election, issuer="PEC 101", issuer_abbreviation="PEC")
    assert nist_schema_errors(report) == []
    units = {u["@id"]: u for u in report["GpUnit"]}
    region = units["gpu-region-R1"]
    total = sum(p.region == "R1" for p in election.precincts)
    assert total > 1
    assert (region["TotalSubUnits"], region["SubUnitsReported"]) == (total, 1)
    assert (units["gpu-kz"]["TotalSubUnits"], units["gpu-kz"]["SubUnitsReported"]) == (len(election.precincts), 1)


def test_nist_schema_catches_a_v1_name(election):
    """The validation is real: the v1 name the export once used is an error."""
    report = nist_results_report([make_protocol(election, 101)], election, issuer="x", issuer_abbreviation="x")
    contest = report["Election"][0]["Contest"][0]
    contest["BallotSelection"] = contest.pop("ContestSelection")
    assert nist_schema_errors(report) != []


def test_nist_export_refuses_invalid_protocols(election):
    with pytest.raises(ProtocolViolationError):
        nist_results_report([make_protocol(election, cards_issued=10)], election, issuer="x", issuer_abbreviation="x")
    with pytest.raises(ProtocolFormatError, match="status must be one of"):
        nist_results_report([make_protocol(election)], election, issuer="x", issuer_abbreviation="x", status="final")
