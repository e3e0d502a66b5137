"""The trust root (issue 11): the definition names the registry root, `sailau keys
registry-root` makes it, `sailau registry sign` signs the precinct key registry
under it, and every reader refuses a registry that root does not vouch for, by
name. Then a voter's `sailau receipt check` on a published set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.commission.registry import RegistryError, RegistryProblem, load_registry, verify_registry
from sailau.commission.synth import parse_table, synthesize
from sailau.election import crypto
from sailau.election.definition import election_from_data, load_election, write_election
from sailau.election.receipts import read_inclusion_proof, read_receipt_list, verify_inclusion
from sailau.election.protocol import SignedProtocol

EXAMPLE_2021 = Path(__file__).parents[1] / "election" / "examples" / "majilis-2021.json"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_the_registry_ceremony_from_the_command_line(tmp_path: Path) -> None:
    out = run("keys", "registry-root", "--out", str(tmp_path / "root.key"))
    assert out.exit_code == 0, out.output
    assert (tmp_path / "root.key").stat().st_mode & 0o077 == 0 and (tmp_path / "root.pub").is_file()
    line = next(x for x in out.output.splitlines() if "registry_root_key" in x)
    root_hex = line.split('"registry_root_key": "')[1].rstrip('"')
    assert run("keys", "registry-root", "--out", str(tmp_path / "root.key")).exit_code != 0  # never overwrites

    data = json.loads(EXAMPLE_2021.read_bytes())
    write_election(election_from_data(dict(data, registry_root_key=root_hex)), tmp_path / "election.json")
    election = load_election(tmp_path / "election.json")
    n = election.precincts[0].number
    for name in ("station", "terminal"):
        assert run("keys", name, "--out", str(tmp_path / f"{name}.key")).exit_code == 0

    common = ["registry", "sign", "--election", str(tmp_path / "election.json"), "--root-key", str(tmp_path / "root.key")]
    out = run(*common, "--station", f"{n}={tmp_path / 'station.pub'}", "--terminal", f"{n}={tmp_path / 'terminal.pub'}",
              "--out", str(tmp_path / "stations.json"))
    assert out.exit_code == 0, out.output
    assert "signed the registry of 1 precinct(s)" in out.output and "have no station key" in out.output
    signed = load_registry(tmp_path / "stations.json", election)
    entry = signed.registry.by_precinct[n]
    assert entry.public_key == crypto.ed25519_public_bytes(crypto.load_verify_key(tmp_path / "station.pub"))
    assert [t.public_key for t in entry.terminals] == [crypto.ed25519_public_bytes(crypto.load_verify_key(tmp_path / "terminal.pub"))]
    out = run("registry", "check", str(tmp_path / "stations.json"), "--election", str(tmp_path / "election.json"))
    assert out.exit_code == 0 and "1 station(s), 1 terminal(s)" in out.output

    # re-signed from the published file as a draft, with one more member key: the entries carry over
    assert run("keys", "station", "--out", str(tmp_path / "member.key")).exit_code == 0
    out = run(*common, "--from", str(tmp_path / "stations.json"), "--member", f"{n}={tmp_path / 'member.pub'}",
              "--out", str(tmp_path / "stations2.json"))
    assert out.exit_code == 0, out.output
    again = load_registry(tmp_path / "stations2.json", election).registry.by_precinct[n]
    assert again.terminals == entry.terminals and len(again.members) == 1

    # another key than the one the definition names cannot sign it
    assert run("keys", "registry-root", "--out", str(tmp_path / "other.key")).exit_code == 0
    out = run("registry", "sign", "--election", str(tmp_path / "election.json"), "--root-key", str(tmp_path / "other.key"),
              "--station", f"{n}={tmp_path / 'station.pub'}", "--out", str(tmp_path / "x.json"))
    assert out.exit_code != 0 and "is not the registry root" in out.output and not (tmp_path / "x.json").exists()
    out = run(*common, "--station", f"99999={tmp_path / 'station.pub'}", "--out", str(tmp_path / "y.json"))
    assert out.exit_code != 0 and "99999 are not in" in out.output
    out = run(*common, "--station", "nonsense", "--out", str(tmp_path / "z.json"))
    assert out.exit_code == 2 and "PRECINCT=PUBLIC_KEY_FILE" in out.output


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trust") / "set"
    synthesize(parse_table("region,A,B\nR1,300,200\nR2,150,90\n"), 4, 3, out)
    return out


def test_the_same_registry_is_refused_under_another_root(published: Path) -> None:
    election = load_election(published / "election.json")
    raw = (published / "stations.json").read_bytes()
    assert verify_registry(raw, election).registry.election_id == election.id
    stranger = election.model_copy(update={"registry_root_key": crypto.ed25519_public_bytes(crypto.generate_signing_key().public_key()).hex()})
    with pytest.raises(RegistryError) as info:
        verify_registry(raw, stranger)
    assert info.value.problem is RegistryProblem.WRONG_ROOT and info.value.name == "registry:wrong_root"
    data = json.loads(raw)
    data["stations"][0]["terminals"] = []  # anything changed after signing
    with pytest.raises(RegistryError) as info:
        verify_registry(json.dumps(data).encode(), election)
    assert info.value.problem is RegistryProblem.SIGNATURE
    data = json.loads(raw)
    data["extra"] = 1
    with pytest.raises(RegistryError, match="unknown key"):
        verify_registry(json.dumps(data).encode(), election)
    out = run("registry", "check", str(published / "stations.json"), "--election", str(EXAMPLE_2021))
    assert out.exit_code == 1 and "refused (registry:no_root)" in out.output


def test_a_voter_finds_their_code_with_a_proof(published: Path, tmp_path: Path) -> None:
    listed = read_receipt_list(published / "receipts" / "precinct-000003.json")
    code = listed.codes[17]
    typed = code.lower().replace("0", "o")  # as a voter might type it
    out = run("receipt", "check", typed, "--dir", str(published), "--proof", str(tmp_path / "proof.json"))
    assert out.exit_code == 0, out.output
    assert f"{code}: found in precinct 3's receipt list" in out.output and "signed protocol" in out.output
    proof = read_inclusion_proof(tmp_path / "proof.json")
    signed = SignedProtocol.from_canonical_json((published / "protocols" / "precinct-000003.json").read_bytes())
    assert proof.code == code and verify_inclusion(proof, signed.protocol.receipts)  # checkable against the posted protocol

    out = run("receipt", "check", code, "--dir", str(published), "--precinct", "2")
    assert out.exit_code == 1 and "NOT found in precinct 2's list" in out.output
    out = run("receipt", "check", "not a code", "--dir", str(published))
    assert out.exit_code == 2 and "is not a receipt code" in out.output


def test_a_voter_is_told_when_the_list_was_changed(published: Path, tmp_path: Path) -> None:
    import shutil

    d = tmp_path / "set"
    shutil.copytree(published, d, ignore=shutil.ignore_patterns("private"))
    path = d / "receipts" / "precinct-000003.json"
    data = json.loads(path.read_text())
    code = data["codes"][0]
    data["codes"][1] = "0000-0000-00"  # someone else's code swapped out
    path.write_text(json.dumps(data))
    out = run("receipt", "check", code, "--dir", str(d))
    assert out.exit_code == 1 and "does NOT match the receipt commitment" in out.output and "Report it" in out.output
    (d / "stations.json").write_text((d / "stations.json").read_text().replace('"version": 2', '"version": 1'))
    out = run("receipt", "check", code, "--dir", str(d))
    assert out.exit_code == 2 and "registry:unsigned" in out.output
