"""The national-scale generator: exact per-region totals, valid signed protocols,
unique precinct numbers, a registry signed under the root the definition names,
committed receipt lists, determinism, and the table's named errors."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sailau.commission.registry import load_registry
from sailau.commission.synth import SynthError, TableError, parse_table, read_table, split_exact, synthesize
from sailau.commission.verify import verify_published
from sailau.election.crypto import ed25519_public_bytes, key_id, load_signing_key
from sailau.election.definition import load_election
from sailau.election.protocol import SignedProtocol, validate_protocol, verify_signed_protocol
from sailau.election.receipts import malformed_codes, read_receipt_list

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"
PUBLISHED_2021 = {"NO": 5_148_074, "AZ": 792_828, "QHP": 659_019, "AUYL": 383_023, "ADAL": 258_618}


def test_example_table_sums_to_the_published_2021_totals() -> None:
    table = read_table(TABLE)
    assert table.parties == ("NO", "AUYL", "QHP", "ADAL", "AZ")  # registration order of the 2021 definition
    assert len(table.regions) == 17
    assert table.party_totals() == PUBLISHED_2021


@given(st.integers(0, 10**7), st.lists(st.integers(1, 10**6), min_size=1, max_size=60))
def test_split_exact_sums_and_stays_proportional(total: int, weights: list[int]) -> None:
    parts = split_exact(total, weights)
    assert sum(parts) == total
    w = sum(weights)
    for part, x in zip(parts, weights):
        assert abs(part * w - total * x) < w  # within one of the exact share


def test_protocols_sum_to_the_table_per_region(tmp_path: Path) -> None:
    table = parse_table("region,A,B,C\nR1,1000,300,0\nR2,800,500,20\nR3,0,0,0\n")
    result = synthesize(table, 25, 5, tmp_path / "out")
    election = load_election(result.election_path)
    registry = load_registry(result.registry_path, election).registry
    assert election.fingerprint_hex == result.election.fingerprint_hex
    assert [p.id for p in sorted(election.parties, key=lambda p: p.registration_number)] == ["A", "B", "C"]
    assert election.law == "kz-majilis-2009"

    sums: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    numbers = []
    for path in result.protocol_paths:
        signed = SignedProtocol.from_canonical_json(path.read_bytes())
        p = verify_signed_protocol(signed, registry.trusted_keys())
        assert registry.by_precinct[p.precinct].key_id == signed.station_key_id
        assert len(registry.by_precinct[p.precinct].terminals) == 1
        assert validate_protocol(p, election) == []
        listed = read_receipt_list(tmp_path / "out" / "receipts" / path.name)
        assert listed.precinct == p.precinct and len(listed.codes) == p.ballots_cast
        assert listed.commitment() == p.receipts  # the signed protocol commits to the published list
        assert malformed_codes(listed.codes) == [] and len(set(listed.codes)) == len(listed.codes)
        numbers.append(p.precinct)
        for party, n in p.contests[0].votes.items():
            sums[p.region][party] += n
    assert sorted(numbers) == sorted(p.number for p in election.precincts) and len(set(numbers)) == 25
    assert {r: dict(v) for r, v in sums.items()} == table.votes
    assert {p.region for p in election.precincts} == {"R1", "R2", "R3"}  # every region has a precinct
    # a complete publication: the observer finds nothing to say
    assert verify_published(tmp_path / "out").findings == []


def test_the_registry_root_signs_the_registry_and_the_definition_names_it(tmp_path: Path) -> None:
    result = synthesize(parse_table("region,A,B\nR1,10,5\n"), 3, 9, tmp_path / "out")
    root = load_signing_key(result.root_key_path)
    assert result.root_key_path.stat().st_mode & 0o077 == 0
    assert result.election.registry_root_key == ed25519_public_bytes(root.public_key())
    assert load_registry(result.registry_path, result.election).root_key_id == key_id(result.election.registry_root_key)


def test_private_keys_are_kept_apart(tmp_path: Path) -> None:
    result = synthesize(parse_table("region,A,B\nR1,10,5\n"), 3, 1, tmp_path / "out")
    published = {p.relative_to(tmp_path / "out").parts[0] for p in (tmp_path / "out").iterdir()}
    assert published == {"election.json", "stations.json", "protocols", "receipts", "private"}
    assert result.private_keys_path.parent.name == "private"
    assert result.private_keys_path.stat().st_mode & 0o077 == 0
    secrets = json.loads(result.private_keys_path.read_text())["keys"].values()
    assert len(secrets) == 3
    root_pem = result.root_key_path.read_text()
    for path in [result.election_path, result.registry_path, *result.protocol_paths, *result.receipt_paths]:
        text = path.read_text()
        assert not any(secret in text for secret in secrets) and root_pem not in text, path


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    table = parse_table("region,A,B\nR1,100,50\nR2,70,90\n")
    a = synthesize(table, 6, 42, tmp_path / "a")
    b = synthesize(table, 6, 42, tmp_path / "b")
    c = synthesize(table, 6, 43, tmp_path / "c")
    assert [p.read_bytes() for p in a.protocol_paths] == [p.read_bytes() for p in b.protocol_paths]
    assert a.election_path.read_bytes() == b.election_path.read_bytes()
    assert a.registry_path.read_bytes() == b.registry_path.read_bytes()
    assert [p.read_bytes() for p in a.receipt_paths] == [p.read_bytes() for p in b.receipt_paths]
    assert [p.read_bytes() for p in a.protocol_paths] != [p.read_bytes() for p in c.protocol_paths]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty table"),
        ("district,A\nR1,1\n", "must start with 'region'"),
        ("region\nR1\n", "no party columns"),
        ("region,A,A\nR1,1,2\n", "appears twice"),
        ("region,A,B\nR1,1\n", "line 2: 2 cells, the header has 3"),
        ("region,A\nR1,1.5\n", "line 2, column A: '1.5' is not a whole number"),
        ("region,A\nR1,-3\n", "negative votes"),
        ("region,A\nR1,1\nR1,2\n", "line 3: region 'R1' appears twice"),
        ("region,A\n", "no region rows"),
    ],
)
def test_table_errors_are_named(text: str, message: str) -> None:
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_table(text)


def test_too_few_precincts_and_non_empty_output_refused(tmp_path: Path) -> None:
    table = parse_table("region,A\nR1,1\nR2,1\n")
    with pytest.raises(SynthError, match="cannot cover 2 regions"):
        synthesize(table, 1, 1, tmp_path / "x")
    synthesize(table, 2, 1, tmp_path / "y")
    with pytest.raises(SynthError, match="already holds a published set"):
        synthesize(table, 2, 1, tmp_path / "y")
    with pytest.raises(SynthError, match="party-list elections only"):
        synthesize(table, 2, 1, tmp_path / "z", law="kz-majilis-2023")
