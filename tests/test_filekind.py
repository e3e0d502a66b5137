"""Which kind of JSON file is this (election/filekind.py): every reader given another
kind of Sailau file says so in one plain sentence, naming the file, instead of
listing the keys it does not know."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.election import filekind
from sailau.election.filekind import recognise, wrong_kind

ROOT = Path(__file__).resolve().parents[1]
ELECTION_JSON = ROOT / "election" / "examples" / "majilis-2021.json"
SEATS_JSON = ROOT / "election" / "examples" / "seats-2021.json"
TABLE = ROOT / "commission" / "examples" / "majilis-2021-regions.csv"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic published set: election.json, stations.json, protocols/."""
    from sailau.commission.synth import read_table, synthesize

    out = tmp_path_factory.mktemp("kinds") / "set"
    synthesize(read_table(TABLE), 20, 7, out)
    return out


def a_protocol(published: Path) -> Path:
    return sorted((published / "protocols").glob("*.json"))[0]


# --- recognition ----------------------------------------------------------------------


def test_format_strings_are_the_writers_own() -> None:
    """filekind.py imports nothing of ours; these keep its strings equal to the writers'."""
    from sailau.commission import conflicts, registry, report
    from sailau.election import cosign, definition, protocol, receipts, shares, turnout

    assert filekind.ELECTION.format == definition.FORMAT
    assert filekind.SIGNED_PROTOCOL.format == protocol.SIGNED_FORMAT
    assert filekind.SIGNED_TURNOUT.format == turnout.SIGNED_TURNOUT_FORMAT
    assert filekind.PROTOCOL_COSIGNATURE.format == cosign.COSIGN_FORMAT
    assert filekind.PROTOCOL.format == protocol.PROTOCOL_FORMAT
    assert filekind.PROTOCOL_TOTALS.format == protocol.TOTALS_FORMAT
    assert filekind.RECEIPT_CODES.format == receipts.RECEIPTS_FORMAT
    assert filekind.RECEIPT_PROOF.format == receipts.PROOF_FORMAT
    assert filekind.CONFLICT_DECISION.format == conflicts.DECISION_FORMAT
    assert filekind.KEY_SHARE.format == shares.SHARE_FORMAT
    assert filekind.STATION_KEYS.format == registry.REGISTRY_FORMAT
    assert filekind.COMMISSION_REPORT.format == report.REPORT_FORMAT
    assert len({k.key for k in filekind.KINDS}) == len(filekind.KINDS)


def test_the_shipped_examples_are_recognised(published: Path) -> None:
    assert filekind.recognise_bytes(ELECTION_JSON.read_bytes()) is filekind.ELECTION
    assert filekind.recognise_bytes(SEATS_JSON.read_bytes()) is filekind.SEATS_INPUT
    assert filekind.recognise_bytes(a_protocol(published).read_bytes()) is filekind.SIGNED_PROTOCOL
    assert filekind.recognise_bytes((published / "stations.json").read_bytes()) is filekind.STATION_KEYS
    assert filekind.recognise_bytes(sorted((published / "receipts").glob("*.json"))[0].read_bytes()) is filekind.RECEIPT_CODES
    assert filekind.recognise_bytes((published / "election.json").read_bytes()) is filekind.ELECTION


def test_a_file_without_its_format_line_is_known_by_its_keys() -> None:
    election = json.loads(ELECTION_JSON.read_bytes())
    del election["format"]
    assert recognise(election) is filekind.ELECTION
    assert recognise({"protocol": {}, "signature": "00", "station_key_id": "00"}) is filekind.SIGNED_PROTOCOL
    assert recognise({"voters_on_list": 1, "voters_checked_in": 1, "ballots_cast": 1, "contests": [],
                      "precincts": [1, 2]}) is filekind.PROTOCOL  # a sum of protocols is not a definition
    assert recognise({"@type": "ElectionResults.ElectionReport"}) is filekind.NIST_RESULTS


@pytest.mark.parametrize("data", [
    {"format": "something/else", "law": "kz-majilis-2009", "parties": []},  # an unknown format is not guessed
    {"law": "kz-majilis-2009"},
    {"parties": [{"id": "A", "votes": 1}]},
    {"format": 7},
    [1, 2],
    "text",
    None,
])
def test_nothing_is_guessed(data: object) -> None:
    assert recognise(data) is None
    assert wrong_kind(data, filekind.SEATS_INPUT) is None


def test_not_json_is_left_to_the_strict_reader() -> None:
    assert filekind.recognise_bytes(b"{not json") is None
    assert filekind.wrong_kind_of_bytes(b"\xff\xfe", filekind.ELECTION) is None


def test_the_sentence_names_both_kinds_and_what_the_expected_one_looks_like() -> None:
    data = json.loads(ELECTION_JSON.read_bytes())
    message = wrong_kind(data, filekind.SEATS_INPUT, "e.json")
    assert message == f"e.json is an election definition, not a seats input ({filekind.SEATS_INPUT.looks_like})"
    assert wrong_kind(data, filekind.ELECTION, "e.json") is None


# --- the readers and the commands -------------------------------------------------------


def test_seats_given_an_election_definition() -> None:
    out = CliRunner().invoke(cli, ["seats", str(ELECTION_JSON)])
    assert out.exit_code == 1
    assert f"{ELECTION_JSON} is an election definition, not a seats input (a seats input holds" in out.output
    assert "unknown key" not in out.output and "Traceback" not in out.output


def test_seats_given_a_report_with_fractions_names_the_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"format": "sailau/commission-report", "version": 1, "turnout_percent": 63.25}))
    out = CliRunner().invoke(cli, ["seats", str(report)])
    assert out.exit_code == 1 and "is a commission report, not a seats input" in out.output


def test_seats_given_a_signed_protocol(published: Path) -> None:
    out = CliRunner().invoke(cli, ["seats", str(a_protocol(published))])
    assert out.exit_code == 1 and "is a signed precinct protocol, not a seats input" in out.output


def test_load_election_given_a_seats_input() -> None:
    from sailau.election.definition import DefinitionError, load_election

    with pytest.raises(DefinitionError) as caught:
        load_election(SEATS_JSON)
    assert str(caught.value).startswith(f"{SEATS_JSON} is a seats input, not an election definition (")


def test_an_invalid_definition_still_lists_its_problems(tmp_path: Path) -> None:
    from sailau.election.definition import DefinitionError, load_election

    data = json.loads(ELECTION_JSON.read_bytes())
    data["surplus"] = 1
    bad = tmp_path / "e.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(DefinitionError, match=r"invalid election definition \(1 problem\)"):
        load_election(bad)


def test_signed_protocol_parser_given_a_definition() -> None:
    from sailau.election.protocol import ProtocolFormatError, SignedProtocol

    with pytest.raises(ProtocolFormatError, match="is an election definition, not a signed precinct protocol"):
        SignedProtocol.from_canonical_json(ELECTION_JSON.read_bytes())


def test_registry_and_share_readers_given_a_definition(published: Path) -> None:
    from sailau.commission.registry import RegistryError, load_registry
    from sailau.election.definition import load_election
    from sailau.election.shares import ShareFileError, read_share_file

    with pytest.raises(RegistryError, match=f"^{ELECTION_JSON} is an election definition, not a station key registry"):
        load_registry(ELECTION_JSON, load_election(published / "election.json"))
    with pytest.raises(ShareFileError, match=f"^{ELECTION_JSON} is an election definition, not an election key share"):
        read_share_file(ELECTION_JSON)


def test_commission_import_given_the_files_swapped(published: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    out = CliRunner().invoke(cli, ["commission", "import", str(a_protocol(published)), "--db", db,
                                   "--election", str(published / "stations.json"),
                                   "--stations", str(published / "election.json")])
    assert out.exit_code == 1
    assert "stations.json is a station key registry, not an election definition (" in out.output
    out = CliRunner().invoke(cli, ["commission", "import", str(published / "election.json"), "--db", db,
                                   "--election", str(published / "election.json"),
                                   "--stations", str(published / "stations.json")])
    assert out.exit_code == 1
    assert "refused (format): this file is an election definition, not a signed precinct protocol" in out.output


def test_verify_given_a_protocol_as_the_official_report(published: Path) -> None:
    out = CliRunner().invoke(cli, ["verify", str(published), "--report", str(a_protocol(published))])
    assert out.exit_code == 2
    assert "is a signed precinct protocol, not a commission report (" in out.output
