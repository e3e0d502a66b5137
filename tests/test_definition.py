"""Election definition: examples load, fingerprint is of the bytes, every invalid
definition is refused with its problem and path."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from importlib import resources
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from sailau.election import definition as d
from sailau.election.definition import (
    DefinitionError,
    Election,
    ElectionLookupError,
    election_from_data,
    load_election,
    parse_election,
    write_election,
)

EXAMPLES = Path(d.__file__).parent / "examples"


def example_data(name: str) -> dict:
    return json.loads((EXAMPLES / f"majilis-{name}.json").read_bytes())


def fresh_public_key_hex() -> str:
    key = X25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def problems_of(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as info:
        election_from_data(data)
    assert isinstance(info.value, ValueError)
    return list(info.value.problems)


def assert_problem(data: dict, path: str, fragment: str) -> None:
    problems = problems_of(data)
    assert any(p == path and fragment in m for p, m in problems), problems


# -- the examples ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["2021", "2023"])
def test_examples_load_and_fingerprint_is_sha256_of_file(name):
    path = EXAMPLES / f"majilis-{name}.json"
    election = load_election(path)
    digest = hashlib.sha256(path.read_bytes()).digest()
    assert election.fingerprint == digest
    assert len(election.fingerprint) == 32
    assert election.fingerprint_hex == digest.hex()
    # the examples are stored in canonical form
    assert election.to_json_bytes() == path.read_bytes()


def test_examples_are_package_data():
    files = resources.files("sailau.election") / "examples"
    assert (files / "majilis-2021.json").is_file()
    assert (files / "majilis-2023.json").is_file()


def test_2021_example_parties_registration_and_ballot_order():
    e = load_election(EXAMPLES / "majilis-2021.json")
    assert e.law == "kz-majilis-2009"
    assert [p.id for p in e.parties] == ["NO", "AUYL", "QHP", "ADAL", "AZ"]
    assert [p.registration_number for p in e.parties] == [1, 2, 3, 4, 5]
    # the order the CEC drew for the 2021 ballot
    assert [o.id for o in e.options("majilis")] == ["QHP", "NO", "AUYL", "AZ", "ADAL"]
    assert e.party_list_contest.id == "majilis"
    assert not e.party_list_contest.against_all
    assert e.plaintext_length == 1
    assert {p.region for p in e.precincts} == {"KZ-71", "KZ-75"}


def test_2023_example_styles_follow_districts():
    e = load_election(EXAMPLES / "majilis-2023.json")
    assert e.law == "kz-majilis-2023"
    assert all(c.against_all for c in e.contests)
    assert len(e.precincts) >= 3 and len({p.region for p in e.precincts}) == 2
    same_district = [e.precinct(7101), e.precinct(7102)]
    assert {p.style for p in same_district} == {1}
    assert e.precinct(7103).style != 1
    smd = [c for c in e.contests_for_style(e.precinct(7103).style) if c.kind == "single_member"]
    assert [c.district for c in smd] == ["AST-2"]
    assert any(c.level == "maslikhat" for c in e.contests)
    assert e.plaintext_length == 3


def test_lookups_and_labels():
    e = load_election(EXAMPLES / "majilis-2023.json")
    assert e.precinct(7501).region == "KZ-75"
    assert e.style(3).contests[0] == "majilis-list"
    assert [c.id for c in e.contests_for_style(3)] == list(e.style(3).contests)
    assert e.style_for_precinct(7501).code == 3
    assert e.option_label("majilis-list", "QHP", "kk") == "Қазақстан Халық партиясы"
    assert e.option_label("majilis-list", "QHP", "ru") == "Народная партия Казахстана"
    assert e.option_label("majilis-list", "QHP", "en") == "People's Party of Kazakhstan"
    assert e.option("majilis-smd-ala-1", "ala1-kim").party is None
    assert e.option("majilis-smd-ala-1", "ala1-omarov").party == "AMANAT"
    assert [o.index for o in e.options("majilis-list")] == list(range(7))
    assert e.x25519_public_key.public_bytes(Encoding.Raw, PublicFormat.Raw) == e.public_key
    for bad in (lambda: e.precinct(1), lambda: e.style(99), lambda: e.contest("x"),
                lambda: e.party("x"), lambda: e.option("majilis-list", "x")):
        with pytest.raises(ElectionLookupError):
            bad()
    with pytest.raises(ValueError, match="unknown language"):
        e.option_label("majilis-list", "QHP", "de")


def test_plaintext_limit_matches_card_record_format():
    from sailau.election import record

    assert d.MAX_PLAINTEXT_LENGTH == record.MAX_PLAINTEXT_LEN == 134


# -- writing, building, fingerprints ---------------------------------------------


def test_built_election_write_then_load_keeps_fingerprint(tmp_path):
    data = example_data("2023")
    data["public_key"] = fresh_public_key_hex()
    built = election_from_data(data)
    raw = write_election(built, tmp_path / "e.json")
    assert raw == (tmp_path / "e.json").read_bytes()
    loaded = load_election(tmp_path / "e.json")
    assert loaded.fingerprint == built.fingerprint == hashlib.sha256(raw).digest()
    assert loaded.model_dump() == built.model_dump()


def test_fingerprint_is_of_the_exact_bytes_not_the_content():
    canonical = (EXAMPLES / "majilis-2021.json").read_bytes()
    compact = json.dumps(json.loads(canonical), separators=(",", ":")).encode()
    a, b = parse_election(canonical), parse_election(compact)
    assert a.model_dump() == b.model_dump()
    assert b.fingerprint == hashlib.sha256(compact).digest() != a.fingerprint
    # writing a loaded election gives back the bytes it came from
    assert write_election(b) == compact


def test_public_key_base64_and_hex_are_the_same_key():
    data = example_data("2021")
    raw = bytes.fromhex(data["public_key"])
    data["public_key"] = base64.b64encode(raw).decode()
    assert election_from_data(data).public_key == raw


def test_built_from_models_and_bytes():
    e = load_election(EXAMPLES / "majilis-2021.json")
    data = {name: getattr(e, name) for name in Election.model_fields}
    rebuilt = election_from_data(data)
    assert rebuilt.to_json_bytes() == e.to_json_bytes()


# -- invalid definitions ------------------------------------------------------------


def test_unknown_party_in_contest():
    data = example_data("2023")
    data["contests"][0]["options"][2] = "NOPE"
    assert_problem(data, "contests[0].options[2]", "unknown party 'NOPE'")


def test_unknown_candidate_party():
    data = example_data("2023")
    data["contests"][1]["candidates"][0]["party"] = "NOPE"
    assert_problem(data, "contests[1].candidates[0].party", "unknown party 'NOPE'")


@pytest.mark.parametrize(
    "mutate, path, fragment",
    [
        (lambda x: x["parties"].append(copy.deepcopy(x["parties"][0]) | {"registration_number": 99}),
         "parties", "duplicate party id 'QHP'"),
        (lambda x: x["parties"][1].update(registration_number=1), "parties", "duplicate registration number 1"),
        (lambda x: x["parties"].reverse(), "parties", "registration order"),
        (lambda x: x["contests"][2].update(id="majilis-smd-ast-1"), "contests", "duplicate contest id"),
        (lambda x: x["territory"]["regions"][1].update(code="KZ-71"), "territory.regions", "duplicate region code"),
        (lambda x: x["territory"]["districts"][1].update(code="AST-1"), "territory.districts", "duplicate district code"),
        (lambda x: x["precincts"][1].update(number=7101), "precincts", "duplicate precinct number 7101"),
        (lambda x: x["ballot_styles"][1].update(code=1), "ballot_styles", "duplicate ballot style code 1"),
        (lambda x: x["contests"][0]["options"].append("QHP"), "contests[0].options", "lists party 'QHP' twice"),
    ],
)
def test_duplicates(mutate, path, fragment):
    data = example_data("2023")
    mutate(data)
    assert_problem(data, path, fragment)


def test_style_naming_missing_contest():
    data = example_data("2023")
    data["ballot_styles"][0]["contests"].append("ghost")
    assert_problem(data, "ballot_styles[0].contests[3]", "missing contest 'ghost'")


def test_style_listing_a_contest_twice_or_none():
    data = example_data("2023")
    data["ballot_styles"][0]["contests"].append("majilis-list")
    assert_problem(data, "ballot_styles[0].contests", "twice")
    data = example_data("2023")
    data["ballot_styles"].append({"code": 9, "contests": []})
    assert_problem(data, "ballot_styles[3].contests", "no contests")


@pytest.mark.parametrize(
    "field, value, fragment",
    [
        ("style", 42, "missing ballot style 42"),
        ("district", "NOWHERE", "unknown district 'NOWHERE'"),
        ("region", "KZ-99", "unknown region 'KZ-99'"),
    ],
)
def test_precinct_naming_missing_parts(field, value, fragment):
    data = example_data("2023")
    data["precincts"][2][field] = value
    assert_problem(data, f"precincts[2].{field}", fragment)


def test_precinct_gets_another_districts_candidates():
    data = example_data("2023")
    data["precincts"][2]["style"] = 1  # 7103 lies in AST-2, style 1 carries AST-1's race
    assert_problem(data, "precincts[2].style", "contest 'majilis-smd-ast-1' of district 'AST-1'")


def test_precinct_district_in_other_region():
    data = example_data("2023")
    data["precincts"][3]["district"] = "AST-1"
    assert_problem(data, "precincts[3].district", "not in region 'KZ-75'")


def test_precinct_gets_other_regions_maslikhat():
    data = example_data("2023")
    data["ballot_styles"][2]["contests"][2] = "maslikhat-astana-list"
    problems = problems_of(data)
    assert any(p == "precincts[3].style" and "region 'KZ-71'" in m for p, m in problems), problems
    assert any("'maslikhat-almaty-list' is on no ballot style" in m for _, m in problems), problems


def test_district_in_missing_region():
    data = example_data("2023")
    data["territory"]["districts"][0]["region"] = "KZ-00"
    assert_problem(data, "territory.districts[0].region", "unknown region 'KZ-00'")


def test_maslikhat_contest_needs_region_national_must_not_have_one():
    data = example_data("2023")
    del data["contests"][4]["region"]
    assert_problem(data, "contests[4].region", "must name its region")
    data = example_data("2023")
    data["contests"][0]["region"] = "KZ-71"
    assert_problem(data, "contests[0].region", "must not name a region")


@pytest.mark.parametrize(
    "key, fragment",
    [
        ("00" * 31, "must be 32 bytes, got 31"),
        ("00" * 33, "must be 32 bytes, got 33"),
        (base64.b64encode(b"x" * 16).decode(), "must be 32 bytes, got 16"),
        ("not a key!", "neither hex nor base64"),
        ("00" * 32, "all-zero"),
    ],
)
def test_bad_public_key(key, fragment):
    data = example_data("2021")
    data["public_key"] = key
    assert_problem(data, "public_key", fragment)


def test_the_registry_root_key_is_part_of_the_fingerprint():
    """The definition names the key that signs the station registry, so its fingerprint
    (what every card, protocol and registry is bound to) pins the trust root too."""
    from sailau.election.crypto import ed25519_public_bytes, generate_signing_key

    root = ed25519_public_bytes(generate_signing_key().public_key())
    data = example_data("2021")
    plain = election_from_data(data)
    assert plain.registry_root_key is None
    rooted = election_from_data(dict(data, registry_root_key=root.hex()))
    assert rooted.registry_root_key == root
    assert rooted.fingerprint != plain.fingerprint
    assert election_from_data(dict(data, registry_root_key=base64.b64encode(root).decode())).registry_root_key == root
    assert parse_election(write_election(rooted)).registry_root_key == root
    other = election_from_data(dict(data, registry_root_key=ed25519_public_bytes(generate_signing_key().public_key()).hex()))
    assert other.fingerprint != rooted.fingerprint


@pytest.mark.parametrize(
    "key, fragment",
    [("00" * 31, "must be 32 bytes, got 31"), ("00" * 32, "all-zero key is not a registry root key"), ("zz", "neither hex nor base64")],
)
def test_bad_registry_root_key(key, fragment):
    data = example_data("2021")
    data["registry_root_key"] = key
    assert_problem(data, "registry_root_key", fragment)


def test_2023_law_requires_against_all_everywhere():
    data = example_data("2023")
    data["contests"][4]["against_all"] = False
    assert_problem(data, "contests[4].against_all", "requires 'against all'")


def test_earlier_laws_have_no_against_all_on_majilis_lists():
    data = example_data("2021")
    data["contests"][0]["against_all"] = True
    assert_problem(data, "contests[0].against_all", "no 'against all'")


def test_earlier_laws_have_no_single_member_majilis_seats():
    data = example_data("2023")
    data["law"] = "kz-majilis-2007"
    for c in data["contests"]:
        c["against_all"] = False
    problems = problems_of(data)
    assert any(p == "contests[1]" and "party lists only" in m for p, m in problems), problems
    # maslikhat contests may keep whatever the data says; only Mäjilis contests are constrained
    assert not any(p.startswith("contests[4]") for p, _ in problems), problems


def test_exactly_one_national_party_list():
    data = example_data("2023")
    data["contests"][0]["level"] = "maslikhat"
    data["contests"][0]["region"] = "KZ-71"
    assert_problem(data, "contests", "exactly one national party_list contest, found 0")


def test_empty_contest():
    data = example_data("2023")
    data["contests"][1]["candidates"] = []
    assert_problem(data, "contests[1]", "has no options")
    data = example_data("2021")
    data["contests"][0]["options"] = []
    assert_problem(data, "contests[0]", "has no options")


def candidates(n: int) -> list[dict]:
    return [{"id": f"c{i}", "name": {"kk": f"К{i}", "ru": f"К{i}", "en": f"C{i}"}} for i in range(n)]


def test_option_count_limit_of_the_encoding():
    data = example_data("2023")
    data["contests"][1]["candidates"] = candidates(d.MAX_OPTIONS)
    e = election_from_data(data)
    assert e.options("majilis-smd-ast-1")[-1].index == 0xFD
    data["contests"][1]["candidates"] = candidates(d.MAX_OPTIONS + 1)
    assert_problem(data, "contests[1]", "at most 254")


def many_contests(count: int) -> dict:
    """2021 plus `count - 1` maslikhat lists on one style: a long ballot."""
    data = example_data("2021")
    for i in range(count - 1):
        data["contests"].append(
            {"kind": "party_list", "id": f"m{i}", "level": "maslikhat", "region": "KZ-71",
             "against_all": False, "name": data["contests"][0]["name"], "options": ["NO", "AZ"]}
        )
        data["ballot_styles"][0]["contests"].append(f"m{i}")
    for p in data["precincts"]:
        p["region"] = "KZ-71"
    return data


def test_plaintext_too_long_for_one_card_record():
    assert election_from_data(many_contests(134)).plaintext_length == 134
    assert_problem(many_contests(135), "ballot_styles[0].contests", "at most 134")


def test_structure_errors_name_their_path():
    data = example_data("2023")
    data["parties"][0]["registration_number"] = "1"  # strict: no coercion
    data["contests"][0]["name"].pop("en")
    data["precincts"][0]["colour"] = "blue"
    data["law"] = "kz-majilis-2099"
    data["contests"][1]["kind"] = "ranked"
    problems = dict(problems_of(data))
    assert "valid integer" in problems["parties[0].registration_number"]
    assert "required" in problems["contests[0].name.en"].lower()
    assert "extra" in problems["precincts[0].colour"].lower()
    assert "kz-majilis-2023" in problems["law"]
    assert "'ranked'" in problems["contests[1]"]


def test_every_problem_is_reported_at_once():
    data = example_data("2023")
    data["contests"][0]["options"][0] = "NOPE"
    data["precincts"][0]["style"] = 77
    data["key_ceremony"] = {"threshold": 6, "shares": 5}
    with pytest.raises(DefinitionError) as info:
        election_from_data(data)
    paths = {p for p, _ in info.value.problems}
    assert {"contests[0].options[0]", "precincts[0].style", "key_ceremony"} <= paths
    text = str(info.value)
    assert "3 problems" in text and "unknown party 'NOPE'" in text and "missing ballot style 77" in text


def test_key_ceremony_bounds():
    data = example_data("2023")
    data["key_ceremony"] = {"threshold": 1, "shares": 3}
    assert_problem(data, "key_ceremony", "threshold 1")
    data["key_ceremony"] = {"threshold": 3, "shares": 17}
    assert_problem(data, "key_ceremony.shares", "16")


def test_load_names_the_file(tmp_path):
    data = example_data("2021")
    data["precincts"][0]["style"] = 5
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DefinitionError) as info:
        load_election(path)
    assert str(path) in str(info.value) and "missing ballot style 5" in str(info.value)


def test_not_json_is_a_definition_error():
    with pytest.raises(DefinitionError, match="JSON"):
        parse_election(b"{not json")


def test_wrong_format_tag_or_version():
    data = example_data("2021")
    data["format"] = "something/else"
    assert any(p == "format" for p, _ in problems_of(data))
    data = example_data("2021")
    data["version"] = 2
    assert any(p == "version" for p, _ in problems_of(data))


def test_model_copy_revalidates_and_refingerprints():
    e = load_election(EXAMPLES / "majilis-2021.json")
    changed = e.model_copy(update={"id": "kz-majilis-2021-rerun"})
    assert changed.id == "kz-majilis-2021-rerun"
    assert changed.fingerprint == hashlib.sha256(changed.to_json_bytes()).digest() != e.fingerprint
    precincts = [p.model_copy(update={"style": 2}) for p in e.precincts]
    with pytest.raises(DefinitionError, match="missing ballot style 2"):
        e.model_copy(update={"precincts": precincts})
