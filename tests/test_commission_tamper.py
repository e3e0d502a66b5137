"""The tamper suite (issue 11): published sets changed as an attacker would, each
run through the observer's `sailau verify` AND the commission's import, which must
agree on every case: the same refusal names for the same files, the same precincts
counted (by the same protocol bytes), the same conflicts, the same receipt-list
problems and the same report. The only thing either takes on trust is the
election definition, which names the registry root.

Before issue 11 (the same tampering with the previous release's `sailau`): a
replaced station key with a doctored protocol verified "OK: every check passed"
and imported; a foreign receipt code verified "OK"; of two signed protocols for one
precinct, import counted whichever file name sorted first while verify counted
neither.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sailau.cli.main import cli
from sailau.commission import models
from sailau.commission.checks import Reason
from sailau.commission.conflicts import sign_decision
from sailau.commission.db import open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.registry import RegistryError, StationKey, load_registry, read_registry_draft, sign_registry, write_registry
from sailau.commission.report import commission_report, report_json_bytes
from sailau.commission.synth import VoteTable, read_table, synthesize
from sailau.commission.verify import VerifyError, verify_published
from sailau.election.crypto import ed25519_public_bytes, generate_signing_key, key_id, load_signing_key, save_signing_key, sign
from sailau.election.definition import election_from_data, load_election, write_election
from sailau.election.protocol import ContestResult, Protocol, SignedProtocol, canonical_json, sign_protocol, validate_protocol
from sailau.election.receipts import ReceiptCommitment
from sailau.election.record import receipt_code

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"
N = 40
LEVEL = "region"


def small_table() -> VoteTable:
    """The 2021 table at 1/1000 scale: the same parties and regions, seven thousand
    ballots rather than seven million (every receipt list is hashed in every case)."""
    return read_table(TABLE).scaled(1, 1000)


@pytest.fixture(scope="module")
def clean_set(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("published") / "set"
    synthesize(small_table(), N, 11, out)
    return out


@pytest.fixture(scope="module")
def root(clean_set: Path):
    return load_signing_key(clean_set / "private" / "registry-root.key")


@pytest.fixture(scope="module")
def official(clean_set: Path) -> dict:
    """The official report of the untampered set, computed by the commission."""
    with open_commission_db("sqlite://") as db:
        election = load_election(clean_set / "election.json")
        summary = import_protocols(db, [clean_set], election=election, registry=load_registry(clean_set / "stations.json", election))
        assert summary.ok and len(summary.imported) == N
        return commission_report(db, LEVEL)


def _path(d: Path, n: int) -> Path:
    return d / "protocols" / f"precinct-{n:06d}.json"


def _signed(d: Path, n: int) -> SignedProtocol:
    return SignedProtocol.from_canonical_json(_path(d, n).read_bytes())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _moved_votes(p: Protocol, k: int = 10) -> Protocol:
    """The same precinct with k votes moved from Ak Zhol to Nur Otan (relations still hold)."""
    c = p.contests[0]
    votes = dict(c.votes)
    votes["AZ"] -= k
    votes["NO"] += k
    return dataclasses.replace(p, contests=(ContestResult(c.contest_id, votes, c.against_all, c.blank, c.invalid),))


def _plus_votes(p: Protocol, k: int) -> Protocol:
    """k more votes for Nur Otan, kept consistent: more on the list, checked in, issued,
    cast, and k more receipt codes committed (an attacker who controls the key)."""
    c = p.contests[0]
    assert p.receipts is not None
    return dataclasses.replace(
        p,
        voters_on_list=p.voters_on_list + k, voters_checked_in=p.voters_checked_in + k, cards_issued=p.cards_issued + k,
        ballots_cast=p.ballots_cast + k,
        contests=(ContestResult(c.contest_id, {**c.votes, "NO": c.votes["NO"] + k}, c.against_all, c.blank, c.invalid),),
        receipts=ReceiptCommitment(p.receipts.count + k, p.receipts.root),
    )


# --- both tools over one set ----------------------------------------------------------------


@dataclass
class Both:
    """What the observer's verifier and the commission's import said about one set."""

    verify_error: str | None = None  # VerifyError.name: the set cannot be checked at all
    import_error: str | None = None  # RegistryError.name raised loading the set's own registry
    verify_refused: frozenset = frozenset()  # {(file name, reason)}
    import_refused: frozenset = frozenset()
    verify_conflicts: tuple = ()
    import_conflicts: tuple = ()
    verify_counted: dict | None = None  # precinct -> digest of the counted protocol
    import_counted: dict | None = None
    verify_receipts: frozenset = frozenset()  # {(kind, file or "precinct N")}
    import_receipts: frozenset = frozenset()
    verify_report: dict | None = None
    import_report: dict | None = None
    verify_kinds: frozenset = frozenset()
    import_ok: bool = False

    def assert_agree(self) -> None:
        assert self.verify_error == self.import_error
        assert self.verify_refused == self.import_refused
        assert self.verify_conflicts == self.import_conflicts
        assert self.verify_counted == self.import_counted
        assert self.verify_receipts == self.import_receipts
        assert self.verify_report == self.import_report


def run_both(d: Path, db_url: str = "sqlite://") -> Both:
    both = Both()
    try:
        result = verify_published(d, level=LEVEL)
    except VerifyError as e:
        both.verify_error = e.name
    else:
        both.verify_refused = frozenset((Path(f.subject).name, f.kind.removeprefix("refused:")) for f in result.findings if f.kind.startswith("refused:"))
        both.verify_conflicts = tuple(result.conflicts)
        both.verify_counted = {n: c.digest for n, c in result.counted.items()}
        both.verify_receipts = frozenset((f.kind, Path(f.subject).name if f.subject.endswith(".json") else f.subject)
                                         for f in result.findings if f.kind.startswith("receipts:"))
        both.verify_report = result.report
        both.verify_kinds = frozenset(f.kind for f in result.findings)
    election = load_election(d / "election.json")  # the set's own definition and registry, as `commission import DIR`
    try:
        registry = load_registry(d / "stations.json", election)
    except RegistryError as e:
        both.import_error = e.name
        return both
    with open_commission_db(db_url) as db:
        summary = import_protocols(db, [d], election=election, registry=registry)
        both.import_refused = frozenset((Path(r.source).name, r.reason.value) for r in summary.refused)
        both.import_conflicts = tuple(o.precinct for o in summary.conflicts)
        with db.begin() as conn:
            both.import_counted = {int(n): dg for n, dg in conn.execute(select(models.protocols.c.precinct, models.protocols.c.digest))}
        both.import_receipts = frozenset((f.kind, Path(f.source).name if f.source.endswith(".json") else f.source) for f in summary.receipts)
        both.import_report = commission_report(db, LEVEL)
        both.import_ok = summary.ok
    return both


# --- the cases --------------------------------------------------------------------------------

Tamper = Callable[[Path, dict, object], None]


def registry_key_replaced(d: Path, keys: dict, root: object) -> None:
    """Issue 11's first case: precinct 7's key replaced in stations.json, a doctored
    protocol (+2,000 votes) signed with the new key. The root's signature no longer
    verifies the registry."""
    mallory = generate_signing_key()
    draft = read_registry_draft(d / "stations.json")
    raw = json.loads((d / "stations.json").read_text())
    new_pub = ed25519_public_bytes(mallory.public_key())
    for s in raw["stations"]:
        if s["precinct"] == 7:
            s["public_key"], s["key_id"] = new_pub.hex(), key_id(new_pub).hex()
    (d / "stations.json").write_text(json.dumps(raw, indent=1))
    assert draft.by_precinct[7].public_key != new_pub
    _path(d, 7).write_bytes(sign_protocol(_plus_votes(_signed(d, 7).protocol, 2000), mallory).to_canonical_json())


def registry_resigned_by_another_root(d: Path, keys: dict, root: object) -> None:
    """The same, and the doctored registry signed again with the attacker's own root."""
    mallory = generate_signing_key()
    draft = read_registry_draft(d / "stations.json")
    new_pub = ed25519_public_bytes(mallory.public_key())
    stations = tuple(StationKey(7, key_id(new_pub), new_pub) if s.precinct == 7 else s for s in draft.stations)
    doctored = dataclasses.replace(draft, stations=stations)
    (d / "stations.json").unlink()
    write_registry(sign_registry(doctored, generate_signing_key()), d / "stations.json")
    _path(d, 7).write_bytes(sign_protocol(_plus_votes(_signed(d, 7).protocol, 2000), mallory).to_canonical_json())


def registry_unsigned(d: Path, keys: dict, root: object) -> None:
    """The registry as it was published before issue 11: no root, no signature."""
    raw = json.loads((d / "stations.json").read_text())
    del raw["signature"], raw["root_key_id"]
    raw["version"] = 1
    (d / "stations.json").write_text(json.dumps(raw, indent=1))


def registry_of_another_election(d: Path, keys: dict, root: object) -> None:
    """A genuine registry signed by the same root, but made for another election."""
    draft = read_registry_draft(d / "stations.json")
    other = dataclasses.replace(draft, election_fingerprint="00" * 32)
    (d / "stations.json").unlink()
    write_registry(sign_registry(other, root), d / "stations.json")  # type: ignore[arg-type]


def definition_without_root(d: Path, keys: dict, root: object) -> None:
    """A definition that names no registry root: nothing can be trusted under it."""
    election = load_election(d / "election.json")
    data = election.model_dump(mode="json", exclude_none=True)
    del data["registry_root_key"]
    write_election(election_from_data(data), d / "election.json")


def receipt_code_replaced(d: Path, keys: dict, root: object) -> None:
    """Issue 11's second case: one code swapped for a foreign one (the count still right)."""
    path = d / "receipts" / "precinct-000012.json"
    data = json.loads(path.read_text())
    data["codes"][3] = receipt_code(b"a ballot cast somewhere else")
    path.write_text(json.dumps(data))


def receipt_list_shortened(d: Path, keys: dict, root: object) -> None:
    path = d / "receipts" / "precinct-000013.json"
    data = json.loads(path.read_text())
    data["codes"] = data["codes"][:-1]
    path.write_text(json.dumps(data))


def receipt_list_dropped(d: Path, keys: dict, root: object) -> None:
    (d / "receipts" / "precinct-000014.json").unlink()


def two_protocols_one_precinct(d: Path, keys: dict, root: object) -> None:
    """Issue 11's third case: the right key signs a second, different protocol, under a
    name that sorts before the first."""
    second = sign_protocol(_moved_votes(_signed(d, 5).protocol), keys[5])
    (d / "protocols" / "precinct-000005-a.json").write_bytes(second.to_canonical_json())


def two_protocols_names_swapped(d: Path, keys: dict, root: object) -> None:
    """The same two protocols with their names swapped: nothing may change."""
    first = _path(d, 5).read_bytes()
    second = sign_protocol(_moved_votes(_signed(d, 5).protocol), keys[5])
    _path(d, 5).write_bytes(second.to_canonical_json())
    (d / "protocols" / "precinct-000005-a.json").write_bytes(first)


def _decide(d: Path, root: object, counted_path: Path, name: str = "precinct-000005.json") -> None:
    election = load_election(d / "election.json")
    versions = [_digest(p) for p in sorted((d / "protocols").glob("precinct-000005*.json"))]
    decision = sign_decision(election, 5, versions, _digest(counted_path), "recount act No. 5", root)  # type: ignore[arg-type]
    (d / "decisions").mkdir(exist_ok=True)
    (d / "decisions" / name).write_bytes(decision.to_canonical_json())


def conflict_resolved_by_decision(d: Path, keys: dict, root: object) -> None:
    two_protocols_one_precinct(d, keys, root)
    _decide(d, root, _path(d, 5))


def decision_by_another_key(d: Path, keys: dict, root: object) -> None:
    two_protocols_one_precinct(d, keys, root)
    election = load_election(d / "election.json")
    versions = [_digest(p) for p in sorted((d / "protocols").glob("precinct-000005*.json"))]
    unsigned = sign_decision(election, 5, versions, versions[1], "decided by nobody", root)  # type: ignore[arg-type]
    mallory = generate_signing_key()
    forged = dataclasses.replace(unsigned, signer_key_id=key_id(ed25519_public_bytes(mallory.public_key())), signature=b"")
    forged = dataclasses.replace(forged, signature=sign(mallory, canonical_json(forged.signed_data())))
    (d / "decisions").mkdir()
    (d / "decisions" / "precinct-000005.json").write_bytes(forged.to_canonical_json())


def decision_then_a_third_protocol(d: Path, keys: dict, root: object) -> None:
    conflict_resolved_by_decision(d, keys, root)
    third = sign_protocol(_moved_votes(_signed(d, 5).protocol, 3), keys[5])
    (d / "protocols" / "precinct-000005-b.json").write_bytes(third.to_canonical_json())


def one_number_changed(d: Path, keys: dict, root: object) -> None:
    data = json.loads(_path(d, 7).read_bytes())
    data["protocol"]["contests"][0]["votes"]["NO"] += 1
    data["protocol"]["contests"][0]["invalid"] -= 1  # keep the control relation, so only the signature can tell
    _path(d, 7).write_bytes(canonical_json(data))


def protocol_dropped(d: Path, keys: dict, root: object) -> None:
    _path(d, 12).unlink()
    (d / "receipts" / "precinct-000012.json").unlink()


def identical_copy(d: Path, keys: dict, root: object) -> None:
    shutil.copy(_path(d, 3), d / "protocols" / "precinct-000003-copy.json")


def unknown_station(d: Path, keys: dict, root: object) -> None:
    _path(d, 9).write_bytes(sign_protocol(_moved_votes(_signed(d, 9).protocol), generate_signing_key()).to_canonical_json())


def another_precincts_station(d: Path, keys: dict, root: object) -> None:
    _path(d, 9).write_bytes(sign_protocol(_moved_votes(_signed(d, 9).protocol), keys[10]).to_canonical_json())


def relation_broken(d: Path, keys: dict, root: object) -> None:
    """A station (or whoever holds its key) signs counts that do not add up."""
    s = _signed(d, 4)
    bad = dataclasses.replace(s.protocol, ballots_cast=s.protocol.ballots_cast + 1)
    _path(d, 4).write_bytes(dataclasses.replace(s, protocol=bad, signature=sign(keys[4], bad.to_canonical_json())).to_canonical_json())


def no_receipt_commitment(d: Path, keys: dict, root: object) -> None:
    """A protocol signed by the right key that commits to no receipt list."""
    s = _signed(d, 6)
    bare = dataclasses.replace(s.protocol, receipts=None)
    _path(d, 6).write_bytes(dataclasses.replace(s, protocol=bare, signature=sign(keys[6], bare.to_canonical_json())).to_canonical_json())


def old_format_protocol(d: Path, keys: dict, root: object) -> None:
    """A protocol in format 2 (before receipt commitments), properly signed."""
    data = json.loads(_path(d, 8).read_bytes())
    del data["protocol"]["receipts"]
    data["protocol"]["version"] = data["version"] = 2
    data["signature"] = sign(keys[8], canonical_json(data["protocol"])).hex()
    _path(d, 8).write_bytes(canonical_json(data))


def _resigned(d: Path, keys: dict, n: int, protocol: Protocol) -> None:
    """Precinct n's protocol replaced by `protocol`, signed by its own station key
    without `sign_protocol`'s relation check (what a doctored station could do)."""
    s = _signed(d, n)
    _path(d, n).write_bytes(dataclasses.replace(s, protocol=protocol, signature=sign(keys[n], protocol.to_canonical_json())).to_canonical_json())


def discrepancy_declared(d: Path, keys: dict, root: object) -> None:
    """A station whose count breaks relations signs it and declares them (close.py's
    way out of a dead end): genuine and honest, but it does not add up, so neither
    tool sums it; both name it apart from a hidden violation."""
    election = load_election(d / "election.json")
    p = _signed(d, 4).protocol
    bad = dataclasses.replace(p, voters_checked_in=p.ballots_cast - 1)
    declared = tuple(sorted({v.name for v in validate_protocol(bad, election)}))
    assert "cast<=checked_in" in declared
    signed = sign_protocol(dataclasses.replace(bad, discrepancies=declared), keys[4], election)
    _path(d, 4).write_bytes(signed.to_canonical_json())


def discrepancy_declared_falsely(d: Path, keys: dict, root: object) -> None:
    """A protocol whose counts add up, declaring a relation broken that holds."""
    _resigned(d, keys, 6, dataclasses.replace(_signed(d, 6).protocol, discrepancies=("cast<=checked_in",)))


def receipts_declared_away(d: Path, keys: dict, root: object) -> None:
    """No receipt commitment, and `receipts:missing` declared a discrepancy: still refused
    as `relations` (the commitment cannot be declared away)."""
    bare = dataclasses.replace(_signed(d, 8).protocol, receipts=None, discrepancies=("receipts:missing",))
    _resigned(d, keys, 8, bare)


@dataclass(frozen=True)
class Expect:
    error: str | None = None  # the registry refusal both name
    refused: frozenset = frozenset()  # {(file name, reason)}
    conflicts: tuple = ()
    receipts: frozenset = frozenset()
    not_counted: tuple = ()  # precincts of the definition that count nothing
    counted_file: dict | None = None  # precinct -> file whose bytes count


CASES: dict[str, tuple[Tamper, Expect]] = {
    "registry_key_replaced": (registry_key_replaced, Expect(error="registry:signature")),
    "registry_resigned_by_another_root": (registry_resigned_by_another_root, Expect(error="registry:wrong_root")),
    "registry_unsigned": (registry_unsigned, Expect(error="registry:unsigned")),
    "registry_of_another_election": (registry_of_another_election, Expect(error="registry:election")),
    "definition_without_root": (definition_without_root, Expect(error="registry:no_root")),
    "receipt_code_replaced": (receipt_code_replaced, Expect(receipts=frozenset({("receipts:commitment", "precinct-000012.json")}))),
    "receipt_list_shortened": (receipt_list_shortened, Expect(receipts=frozenset({("receipts:count", "precinct-000013.json")}))),
    "receipt_list_dropped": (receipt_list_dropped, Expect(receipts=frozenset({("receipts:missing", "precinct 14")}))),
    "two_protocols_one_precinct": (two_protocols_one_precinct, Expect(conflicts=(5,), not_counted=(5,))),
    "two_protocols_names_swapped": (two_protocols_names_swapped, Expect(conflicts=(5,), not_counted=(5,))),
    "conflict_resolved_by_decision": (conflict_resolved_by_decision, Expect(counted_file={5: "precinct-000005.json"})),
    "decision_by_another_key": (decision_by_another_key, Expect(
        refused=frozenset({("precinct-000005.json", Reason.NOT_ROOT.value)}), conflicts=(5,), not_counted=(5,))),
    "decision_then_a_third_protocol": (decision_then_a_third_protocol, Expect(conflicts=(5,), not_counted=(5,))),
    "one_number_changed": (one_number_changed, Expect(
        refused=frozenset({("precinct-000007.json", "signature")}), not_counted=(7,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000007.json")}))),
    "protocol_dropped": (protocol_dropped, Expect(not_counted=(12,))),
    "identical_copy": (identical_copy, Expect()),
    "unknown_station": (unknown_station, Expect(
        refused=frozenset({("precinct-000009.json", "unknown_station")}), not_counted=(9,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000009.json")}))),
    "another_precincts_station": (another_precincts_station, Expect(
        refused=frozenset({("precinct-000009.json", "wrong_station")}), not_counted=(9,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000009.json")}))),
    "relation_broken": (relation_broken, Expect(
        refused=frozenset({("precinct-000004.json", "relations")}), not_counted=(4,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000004.json")}))),
    "no_receipt_commitment": (no_receipt_commitment, Expect(
        refused=frozenset({("precinct-000006.json", "relations")}), not_counted=(6,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000006.json")}))),
    "discrepancy_declared": (discrepancy_declared, Expect(
        refused=frozenset({("precinct-000004.json", Reason.DISCREPANCY.value)}), not_counted=(4,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000004.json")}))),
    "discrepancy_declared_falsely": (discrepancy_declared_falsely, Expect(
        refused=frozenset({("precinct-000006.json", "relations")}), not_counted=(6,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000006.json")}))),
    "receipts_declared_away": (receipts_declared_away, Expect(
        refused=frozenset({("precinct-000008.json", "relations")}), not_counted=(8,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000008.json")}))),
    "old_format_protocol": (old_format_protocol, Expect(
        refused=frozenset({("precinct-000008.json", "format")}), not_counted=(8,),
        receipts=frozenset({("receipts:no_protocol", "precinct-000008.json")}))),
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    return "sqlite://" if request.param == "sqlite" else request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("case", sorted(CASES))
def test_verify_and_import_agree(case: str, published: Path, keys, root, db_url: str) -> None:
    tamper, expect = CASES[case]
    tamper(published, keys, root)
    both = run_both(published, db_url)
    both.assert_agree()

    assert both.verify_error == expect.error
    if expect.error is not None:
        return
    assert both.verify_refused == expect.refused
    assert both.verify_conflicts == expect.conflicts
    assert both.verify_receipts == expect.receipts
    counted = both.verify_counted or {}
    assert sorted(set(range(1, N + 1)) - set(counted)) == sorted(expect.not_counted)
    for n, name in (expect.counted_file or {}).items():
        assert counted[n] == _digest(published / "protocols" / name)
    assert both.verify_report is not None and both.verify_report["precincts"]["conflicts"] == list(expect.conflicts)
    # the import exits 1 exactly when it has something to name (a dropped file it cannot know of)
    assert both.import_ok == (not expect.refused and not expect.conflicts and not expect.receipts)
    assert ("missing" in both.verify_kinds) == bool(set(expect.not_counted) - set(expect.conflicts))


def test_clean_set_verifies_and_matches_the_official_report(clean_set: Path, official: dict) -> None:
    result = verify_published(clean_set, official)
    assert result.findings == [] and result.notes == []
    assert result.report == official
    assert result.protocols_counted == N


def test_a_decision_restores_the_official_count(published: Path, keys, root, official: dict) -> None:
    conflict_resolved_by_decision(published, keys, root)
    result = verify_published(published, official)
    assert result.findings == []  # the set-aside version is a note, not a problem
    assert result.notes and "precinct 5" in result.notes[0] and "precinct-000005-a.json" in result.notes[0]


def test_conflict_outcome_does_not_depend_on_file_names(published: Path, keys, root, tmp_path: Path) -> None:
    two_protocols_one_precinct(published, keys, root)
    swapped = tmp_path / "swapped"
    shutil.copytree(published, swapped)
    a, b = swapped / "protocols" / "precinct-000005.json", swapped / "protocols" / "precinct-000005-a.json"
    first, second = a.read_bytes(), b.read_bytes()
    a.write_bytes(second)
    b.write_bytes(first)
    one, two = run_both(published), run_both(swapped)
    assert (one.verify_counted, one.verify_report, one.import_counted) == (two.verify_counted, two.verify_report, two.import_counted)


def test_official_report_with_a_seat_moved(clean_set: Path, official: dict) -> None:
    doctored = json.loads(report_json_bytes(official))
    doctored["seats"]["NO"] -= 1
    doctored["seats"]["AUYL"] += 1
    result = verify_published(clean_set, doctored)
    assert sorted(f.subject for f in result.findings) == ["$.seats.AUYL", "$.seats.NO"]
    assert {f.kind for f in result.findings} == {"report:differs"}


def test_cli_refuses_the_doctored_registry_by_name(published: Path, keys, root, tmp_path: Path, official: dict) -> None:
    """Issue 11, verbatim: `sailau verify DIR` printed "OK: every check passed" and
    `sailau commission import DIR` accepted the +2,000 votes."""
    registry_key_replaced(published, keys, root)
    (tmp_path / "official.json").write_bytes(report_json_bytes(official))
    runner = CliRunner()
    out = runner.invoke(cli, ["verify", str(published)])
    assert out.exit_code == 2 and "OK" not in out.output
    assert "refused (registry:signature)" in out.output and "changed after it was signed" in out.output
    out = runner.invoke(cli, ["commission", "import", str(published), "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert out.exit_code == 1 and "refused (registry:signature)" in out.output and "imported" not in out.output


def test_cli_names_a_conflict_and_a_decision_settles_it(published: Path, keys, root, tmp_path: Path) -> None:
    two_protocols_one_precinct(published, keys, root)
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'c.db'}"
    out = runner.invoke(cli, ["verify", str(published)])
    assert out.exit_code == 1 and out.output.count("[conflict]") == 2 and "FAILED" in out.output
    out = runner.invoke(cli, ["commission", "import", str(published), "--db", db])
    assert out.exit_code == 1 and "precinct 5: conflict:" in out.output and "in conflict 1" in out.output
    assert f"imported {N - 1}, unchanged 0, refused 0" in out.output
    out = runner.invoke(cli, ["commission", "report", "--db", db])
    assert out.exit_code == 0 and f"{N - 1} of {N} precincts reported (1 missing, 1 of them in conflict: 5)" in out.output

    root_file = tmp_path / "root.key"
    save_signing_key(root_file, root)
    out = runner.invoke(cli, ["commission", "decide", str(published), "--precinct", "5", "--count", str(_path(published, 5)),
                              "--grounds", "recount act No. 5", "--root-key", str(root_file)])
    assert out.exit_code == 0, out.output
    assert (published / "decisions" / "precinct-000005.json").is_file()
    out = runner.invoke(cli, ["verify", str(published)])
    assert out.exit_code == 0 and "note: precinct 5" in out.output, out.output
    out = runner.invoke(cli, ["commission", "import", str(published), "--db", db])
    assert out.exit_code == 0, out.output
    assert "precinct 5: resolved" in out.output and "imported 1, unchanged 41, refused 0" in out.output


def test_cli_names_a_declared_discrepancy_apart_from_a_broken_relation(published: Path, keys, root, tmp_path: Path) -> None:
    """A protocol that declares its discrepancies is neither counted silently nor called
    malformed: verify and import both refuse it as `discrepancy`, naming the relations
    the station declared, and a hidden violation next to it stays `relations`."""
    discrepancy_declared(published, keys, root)  # precinct 4
    s = _signed(published, 11)  # precinct 11: a violation not declared
    _resigned(published, keys, 11, dataclasses.replace(s.protocol, voters_checked_in=s.protocol.ballots_cast - 1))
    declared = ", ".join(_signed(published, 4).protocol.discrepancies)
    runner = CliRunner()
    out = runner.invoke(cli, ["verify", str(published)])
    assert out.exit_code == 1, out.output
    assert "[refused:discrepancy]" in out.output and "[refused:relations]" in out.output, out.output
    line = next(x for x in out.output.splitlines() if "[refused:discrepancy]" in x)
    assert "precinct-000004.json" in line and "cast<=checked_in:" in line and "not summed" in line
    out = runner.invoke(cli, ["commission", "import", str(published), "--db", f"sqlite:///{tmp_path / 'c.db'}"])
    assert out.exit_code == 1, out.output
    assert "precinct 4: refused (discrepancy)" in out.output and "refused (relations)" in out.output, out.output
    assert all(name in out.output for name in declared.split(", "))


def test_an_unreadable_definition_is_named_once(published: Path) -> None:
    """The reason is said once: no wrapper repeating the file name or "election definition"."""
    definition = published / "election.json"
    data = json.loads(definition.read_bytes())
    data["surprise"] = 1
    definition.write_text(json.dumps(data))
    out = CliRunner().invoke(cli, ["verify", str(published)])
    assert out.exit_code == 2
    assert out.output.count(str(definition)) == 1 and out.output.count("election definition") == 1, out.output
    definition.unlink()
    out = CliRunner().invoke(cli, ["verify", str(published)])
    assert out.exit_code == 2 and out.output.count(str(definition)) == 1, out.output
    assert "No such file or directory" in out.output
