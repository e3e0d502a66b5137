"""The commission's members and their co-signatures (issue 13, items 1 and 6):
the key ceremony, the members enrolled with names and roles in the signed
registry, `sailau protocol cosign`, the majority rule and each named refusal in
`sailau protocol verify --registry` and in `sailau commission import`, which
apply the one check (`election.cosign.check_cosignatures`)."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from sailau.cli.main import cli
from sailau.commission.db import open_commission_db
from sailau.commission.importer import import_protocols
from sailau.commission.registry import build_registry, load_registry, sign_registry, write_registry
from sailau.commission.synth import parse_table, synthesize
from sailau.election import crypto
from sailau.election.cosign import (
    CosignError,
    CosignProblem,
    check_cosignatures,
    cosign,
    cosignature_file_name,
    is_majority,
    parse_cosignature,
    protocol_digest,
    write_cosignature,
)
from sailau.election.definition import election_from_data, load_election, write_election
from sailau.election.members import CommissionMembers, Member, MembersError, Role, read_members_file
from sailau.election.protocol import ContestResult, Protocol, SignedProtocol, canonical_json, sign_protocol
from sailau.election.receipts import commit_receipts

EXAMPLE_2023 = Path(__file__).parents[1] / "election" / "examples" / "majilis-2023.json"
ROLES = (Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY, Role.MEMBER, Role.MEMBER)
NAMES = ("Әсел Нұрланқызы Серікова", "Ерлан Болатұлы Жақсылықов", "Ирина Викторовна Ким", "Дәурен Асқарұлы Беков",
         "Гүлнар Сейітқызы Омарова")
AT = datetime.datetime(2023, 3, 19, 21, 5, 7, tzinfo=datetime.timezone.utc)


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def codes(n: int) -> list[str]:
    """n distinct stand-in receipt codes (the commitment takes any printable code)."""
    return [f"TEST-{i:07d}" for i in range(n)]


def make_protocol(election, precinct: int, cast: int = 40, shift: int = 0) -> Protocol:
    contests = []
    for cid in election.style_for_precinct(precinct).contests:
        options = [o.id for o in election.options(cid)]
        votes = {oid: 0 for oid in options}
        for i in range(cast - 3):
            votes[options[(i * 7 + shift) % len(options)]] += 1
        contests.append(ContestResult(cid, votes, against_all=1 if election.contest(cid).against_all else 0,
                                      blank=1, invalid=1 if election.contest(cid).against_all else 2))
    definition = election.precinct(precinct)
    return Protocol(election.id, election.fingerprint_hex, precinct, definition.region, definition.district,
                    voters_on_list=max(120, cast + 300), voters_checked_in=cast + 2, cards_issued=cast + 2, ballots_cast=cast,
                    cards_cancelled=2, contests=tuple(contests), receipts=commit_receipts(codes(cast)))


@dataclasses.dataclass
class Rig:
    dir: Path
    election: object
    station_keys: dict
    signed: SignedProtocol  # precinct 7101
    other: SignedProtocol  # another version of 7101's protocol
    keys: list  # the five members of 7101
    members: tuple[Member, ...]
    foreign_key: object  # the chair of 7102
    foreign: Member

    @property
    def everyone(self) -> tuple[Member, ...]:
        return (*self.members, self.foreign)


@pytest.fixture(scope="module")
def rig(tmp_path_factory) -> Rig:
    d = tmp_path_factory.mktemp("cosign")
    root = crypto.generate_signing_key()
    data = json.loads(EXAMPLE_2023.read_bytes())
    data["registry_root_key"] = crypto.ed25519_public_bytes(root.public_key()).hex()
    write_election(election_from_data(data), d / "election.json")
    election = load_election(d / "election.json")
    station_keys = {n: crypto.generate_signing_key() for n in (7101, 7102)}
    signed = sign_protocol(make_protocol(election, 7101), station_keys[7101], election)
    other = sign_protocol(make_protocol(election, 7101, shift=1), station_keys[7101], election)
    keys = [crypto.generate_signing_key() for _ in ROLES]
    members = tuple(Member(7101, r, n, crypto.ed25519_public_bytes(k.public_key())) for r, n, k in zip(ROLES, NAMES, keys))
    foreign_key = crypto.generate_signing_key()
    foreign = Member(7102, Role.CHAIR, "Нұрлан Серікұлы Ахметов", crypto.ed25519_public_bytes(foreign_key.public_key()))
    registry = build_registry(election.id, election.fingerprint_hex,
                              [(n, crypto.ed25519_public_bytes(k.public_key())) for n, k in station_keys.items()],
                              members={7101: members, 7102: [foreign]})
    write_registry(sign_registry(registry, root), d / "stations.json")
    (d / "protocol.json").write_bytes(signed.to_canonical_json())
    for i, k in enumerate(keys):
        crypto.save_signing_key(d / f"m{i}.key", k)
    crypto.save_signing_key(d / "foreign.key", foreign_key)
    return Rig(d, election, station_keys, signed, other, keys, members, foreign_key, foreign)


def sigs(rig: Rig, indices, signed: SignedProtocol | None = None, **kw):
    return [(f"m{i}", cosign(signed or rig.signed, rig.keys[i], rig.members[i].role, when=AT, **kw)) for i in indices]


def problems(check) -> list[str]:
    return [f.problem.value for f in check.findings]


# --- the ceremony and the registry ----------------------------------------------------------


def test_member_key_ceremony_and_enrolment_from_the_command_line(tmp_path: Path, rig: Rig) -> None:
    for i, (role, name) in enumerate(zip(ROLES[:3], NAMES[:3])):
        out = run("keys", "member", "--precinct", 7101, "--role", role.value, "--name", name, "--out", tmp_path / f"m{i}")
        assert out.exit_code == 0, out.output
        assert (tmp_path / f"m{i}" / "member.key").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / f"m{i}").stat().st_mode & 0o777 == 0o700
    again = run("keys", "member", "--precinct", 7101, "--role", "member", "--name", "X", "--out", tmp_path / "m0")
    assert again.exit_code != 0 and "refusing to overwrite" in again.output
    bad = run("keys", "member", "--precinct", 7101, "--role", "member", "--name", "A\x07B", "--out", tmp_path / "bad")
    assert bad.exit_code == 2 and "control characters" in bad.output and not (tmp_path / "bad" / "member.key").exists()

    second_chair = run("keys", "member", "--precinct", 7101, "--role", "chair", "--name", "Second Chair", "--out", tmp_path / "c2")
    assert second_chair.exit_code == 0
    out = run("registry", "members", tmp_path / "m0/member.json", tmp_path / "c2/member.json", "--out", tmp_path / "no.json")
    assert out.exit_code != 0 and "more than one chair" in out.output and not (tmp_path / "no.json").exists()

    out = run("registry", "members", *[tmp_path / f"m{i}/member.json" for i in range(3)], "--out", tmp_path / "members.json")
    assert out.exit_code == 0, out.output
    listed = read_members_file(tmp_path / "members.json")
    assert [(m.role, m.name) for m in listed.members] == list(zip(ROLES[:3], NAMES[:3]))

    root = tmp_path / "root.key"
    assert run("keys", "registry-root", "--out", root).exit_code == 0
    data = json.loads(EXAMPLE_2023.read_bytes())
    data["registry_root_key"] = crypto.ed25519_public_bytes(crypto.load_signing_key(root).public_key()).hex()
    write_election(election_from_data(data), tmp_path / "election.json")
    assert run("keys", "station", "--out", tmp_path / "station.key").exit_code == 0
    out = run("registry", "sign", "--election", tmp_path / "election.json", "--root-key", root,
              "--station", f"7101={tmp_path / 'station.pub'}", "--members", tmp_path / "members.json", "--out", tmp_path / "s.json")
    assert out.exit_code == 0, out.output
    check = run("registry", "check", tmp_path / "s.json", "--election", tmp_path / "election.json")
    assert check.exit_code == 0 and "3 member key(s)" in check.output
    enrolled = load_registry(tmp_path / "s.json", load_election(tmp_path / "election.json")).registry.members()
    assert sorted((m.role, m.name) for m in enrolled) == sorted(zip(ROLES[:3], NAMES[:3]))
    # signed with the registry: a renamed member breaks the root's signature
    data = json.loads((tmp_path / "s.json").read_bytes())
    renamed = [m for s in data["stations"] for m in s["members"] if m["name"] == NAMES[2]]
    assert len(renamed) == 1
    renamed[0]["name"] = "Someone Else"
    (tmp_path / "s2.json").write_text(json.dumps(data), encoding="utf-8")
    out = run("registry", "check", tmp_path / "s2.json", "--election", tmp_path / "election.json")
    assert out.exit_code != 0 and "registry:signature" in out.output

    # the member's role comes from member.json beside the key when not given
    (tmp_path / "protocol.json").write_bytes(rig.signed.to_canonical_json())
    out = run("protocol", "cosign", tmp_path / "protocol.json", "--key-file", tmp_path / "m2/member.key", "--out", tmp_path / "c.cosig")
    assert out.exit_code == 0 and "as secretary" in out.output
    assert parse_cosignature((tmp_path / "c.cosig").read_bytes()).role is Role.SECRETARY


def test_a_members_file_refuses_what_cannot_be_a_commission(rig: Rig) -> None:
    with pytest.raises(MembersError, match="of precinct 7102"):
        CommissionMembers(7101, (rig.members[0], rig.foreign))
    with pytest.raises(MembersError, match="listed twice"):
        CommissionMembers(7101, (rig.members[3], rig.members[3]))
    with pytest.raises(MembersError, match="role must be one of"):
        Member(7101, "treasurer", "X", rig.members[0].public_key)


# --- the majority rule and each refusal ----------------------------------------------------


def test_a_majority_of_the_enrolled_members_signs_the_protocol(rig: Rig) -> None:
    check = check_cosignatures(rig.signed, sigs(rig, [0, 2, 4]), rig.everyone)
    assert check.ok and check.majority and len(check.valid) == 3 and len(check.enrolled) == 5


def test_no_majority_is_refused(rig: Rig) -> None:
    check = check_cosignatures(rig.signed, sigs(rig, [0, 1]), rig.everyone)
    assert problems(check) == ["no_majority"] and "2 of the 5" in check.findings[0].message


def test_a_member_key_of_another_precinct_is_refused(rig: Rig) -> None:
    foreign = ("foreign", cosign(rig.signed, rig.foreign_key, Role.CHAIR, when=AT))
    check = check_cosignatures(rig.signed, [*sigs(rig, [0, 1, 2]), foreign], rig.everyone)
    assert problems(check) == ["other_precinct"] and "precinct 7102" in check.findings[0].message


def test_a_key_not_enrolled_is_refused(rig: Rig) -> None:
    stranger = ("stranger", cosign(rig.signed, crypto.generate_signing_key(), Role.MEMBER, when=AT))
    assert problems(check_cosignatures(rig.signed, [*sigs(rig, [0, 1, 2]), stranger], rig.everyone)) == ["not_enrolled"]


def test_a_signature_over_different_bytes_is_refused(rig: Rig) -> None:
    over_other = sigs(rig, [3], signed=rig.other)
    check = check_cosignatures(rig.signed, [*sigs(rig, [0, 1, 2]), *over_other], rig.everyone)
    assert problems(check) == ["other_bytes"]
    # and it does not count towards the majority either
    assert problems(check_cosignatures(rig.signed, [*sigs(rig, [0, 1]), *over_other], rig.everyone)) == ["other_bytes", "no_majority"]


def test_a_duplicated_member_is_refused_and_counted_once(rig: Rig) -> None:
    later = ("m0-again", cosign(rig.signed, rig.keys[0], Role.CHAIR, when=AT + datetime.timedelta(minutes=5)))
    check = check_cosignatures(rig.signed, [*sigs(rig, [0, 1]), later], rig.everyone)
    assert problems(check) == ["duplicate_member", "no_majority"]


def test_another_role_than_the_enrolled_one_is_refused(rig: Rig) -> None:
    posing = ("m3", cosign(rig.signed, rig.keys[3], Role.CHAIR, when=AT))
    assert problems(check_cosignatures(rig.signed, [*sigs(rig, [0, 1, 2]), posing], rig.everyone)) == ["role"]


def test_a_dissent_survives_and_an_altered_dissent_is_refused(rig: Rig) -> None:
    text = "Не согласна: две карты погашены без акта.\nПрошу приложить акт к протоколу."
    (source, dissenting), = sigs(rig, [2], dissent=text)
    parsed = parse_cosignature(dissenting.to_bytes() + b"\n")
    check = check_cosignatures(rig.signed, [*sigs(rig, [0, 1]), (source, parsed)], rig.everyone)
    assert check.ok and [(m.name, c.dissent) for m, c in check.dissents()] == [(NAMES[2], text)]

    data = json.loads(dissenting.to_bytes())
    data["dissent"] = "Согласна."
    altered = parse_cosignature(canonical_json(data))  # well-formed, but not what the member signed
    check = check_cosignatures(rig.signed, [*sigs(rig, [0, 1]), ("altered", altered)], rig.everyone)
    assert problems(check) == ["signature", "no_majority"]
    del data["dissent"]  # a dissent removed is a change too
    assert problems(check_cosignatures(rig.signed, [*sigs(rig, [0, 1, 3]), ("cut", parse_cosignature(canonical_json(data)))],
                                       rig.everyone)) == ["signature"]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(signed_at="2023-03-20T02:05:07+05:00"), "not a whole-second local time"),  # Almaty was UTC+6
    (lambda d: d.update(signed_at="2023-03-20T03:05:07.250000+06:00"), "not a whole-second local time"),
    (lambda d: d.update(signed_at="2023-03-20T03:05:07"), "not a whole-second local time"),
    (lambda d: d.update(time_zone="Mars/Olympus"), "unknown time zone"),
    (lambda d: d.update(member_key_id="00" * 8), "does not name the enclosed public key"),
    (lambda d: d.update(dissent="x" * 4001), "at most 4000 characters"),
    (lambda d: d.update(dissent="a\x1bb"), "no other control characters"),
    (lambda d: d.update(extra=1), "unknown key"),
    (lambda d: d.pop("role"), "missing role"),
])
def test_a_malformed_cosignature_is_refused_by_name(rig: Rig, mutate, message) -> None:
    data = json.loads(sigs(rig, [0])[0][1].to_bytes())
    mutate(data)
    with pytest.raises(CosignError, match=message) as info:
        parse_cosignature(canonical_json(data))
    assert info.value.problem is CosignProblem.FORMAT


def test_the_time_of_signing_is_local_to_the_precincts_zone(rig: Rig) -> None:
    c = sigs(rig, [0])[0][1]
    assert c.signed_at.isoformat() == "2023-03-20T03:05:07+06:00" and c.time_zone == "Asia/Almaty"  # UTC+6 in 2023
    later = cosign(rig.signed, rig.keys[0], Role.CHAIR, when=datetime.datetime(2026, 3, 1, 15, 0, tzinfo=datetime.timezone.utc))
    assert later.signed_at.isoformat() == "2026-03-01T20:00:00+05:00"  # Kazakhstan moved to UTC+5 in March 2024
    oral = cosign(rig.signed, rig.keys[0], Role.CHAIR, when=AT, time_zone="Asia/Oral")
    assert oral.signed_at.isoformat() == "2023-03-20T02:05:07+05:00"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_majority_rule_over_subsets_of_the_members(rig: Rig, data) -> None:
    n = data.draw(st.integers(min_value=1, max_value=len(rig.members)), label="enrolled")
    chosen = data.draw(st.lists(st.integers(min_value=0, max_value=n - 1), unique=True), label="signers")
    check = check_cosignatures(rig.signed, [(f"m{i}", _ALL[i]) for i in chosen], rig.members[:n])
    assert check.ok == (2 * len(chosen) > n) == is_majority(len(chosen), n)
    assert {m.key_id for m, _ in check.valid} == {rig.members[i].key_id for i in chosen}


_ALL: list = []


@pytest.fixture(scope="module", autouse=True)
def _all_cosignatures(rig: Rig) -> None:
    _ALL[:] = [c for _, c in sigs(rig, range(len(rig.members)))]


# --- the command line -----------------------------------------------------------------------


def verify(rig: Rig, path: Path, *more):
    return run("protocol", "verify", path, "--election", rig.dir / "election.json", "--registry", rig.dir / "stations.json", *more)


def test_cosign_and_verify_from_the_command_line(rig: Rig, tmp_path: Path) -> None:
    path = tmp_path / "protocol.json"
    path.write_bytes(rig.signed.to_canonical_json())
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    out = verify(rig, path)
    assert out.exit_code == 1 and "cosign:no_majority" in out.output and "0 of the 5" in out.output

    assert run("protocol", "cosign", path, "--key-file", rig.dir / "m0.key", "--role", "chair").exit_code == 0
    dissent = tmp_path / "dissent.txt"
    dissent.write_text("Особое мнение: урна была опечатана с опозданием.\n", encoding="utf-8")
    out = run("protocol", "cosign", path, "--key-file", rig.dir / "m2.key", "--role", "secretary", "--dissent-file", dissent)
    assert out.exit_code == 0, out.output and "with a dissenting opinion" in out.output
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # members sign; the station's bytes never change
    out = verify(rig, path)
    assert out.exit_code == 1 and "2 of the 5" in out.output

    assert run("protocol", "cosign", path, "--key-file", rig.dir / "m4.key", "--role", "member").exit_code == 0
    out = verify(rig, path)
    assert out.exit_code == 0, out.output
    assert "co-signed by 3 of 5 members" in out.output and "урна была опечатана с опозданием" in out.output
    assert "dissenting opinion of secretary Ирина Викторовна Ким" in out.output
    link = tmp_path / "linked-name.cosig"  # the same file found beside the protocol and given again counts once
    link.symlink_to(next(tmp_path.glob("protocol.*.cosig")))
    out = verify(rig, path, "--cosig", link)
    assert out.exit_code == 0 and "cosign:duplicate_member" not in out.output, out.output

    foreign = tmp_path / "foreign.cosig"
    assert run("protocol", "cosign", path, "--key-file", rig.dir / "foreign.key", "--role", "chair", "--out", foreign).exit_code == 0
    out = verify(rig, path, "--cosig", foreign)
    assert out.exit_code == 1 and "cosign:other_precinct" in out.output
    twice = run("protocol", "cosign", path, "--key-file", rig.dir / "m0.key", "--role", "chair")
    assert twice.exit_code != 0 and "refusing to overwrite" in twice.output

    # the dissent edited in the sidecar file: refused by name
    sidecar = next(tmp_path.glob("protocol.*.cosig"))
    for f in tmp_path.glob("protocol.*.cosig"):
        if b"dissent" in f.read_bytes():
            sidecar = f
    data = json.loads(sidecar.read_bytes())
    data["dissent"] = "Замечаний нет."
    sidecar.write_bytes(canonical_json(data) + b"\n")
    out = verify(rig, path)
    assert out.exit_code == 1 and "cosign:signature" in out.output and "cosign:no_majority" in out.output


def test_verify_accepts_the_protocol_as_a_scanner_gives_it(rig: Rig, tmp_path: Path) -> None:
    from sailau.ballot_box.outputs import qr_payload

    payload = qr_payload(rig.signed)
    for i, ending in enumerate((b"", b"\n", b"\r\n")):
        scanned = tmp_path / f"scan{i}.txt"
        scanned.write_bytes(payload + ending)
        out = run("protocol", "verify", scanned, "--election", rig.dir / "election.json")
        assert out.exit_code == 0, out.output
    scanned.write_bytes(payload + b"\n\n")  # more than a scanner adds is not the signed protocol
    assert run("protocol", "verify", scanned).exit_code != 0
    # a co-signature made from the scan signs the same bytes as one made from the file
    c = cosign(SignedProtocol.from_canonical_json(payload), rig.keys[1], Role.DEPUTY_CHAIR, when=AT)
    assert c.protocol_sha256 == protocol_digest(rig.signed.to_canonical_json())


# --- the commission ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("synthcosign") / "set"
    synthesize(parse_table("region,A,B\nR1,300,200\nR2,150,90\n"), 3, 5, out)
    election = load_election(out / "election.json")
    registry = load_registry(out / "stations.json", election).registry
    keys = [crypto.generate_signing_key() for _ in range(3)]
    members = [Member(1, r, n, crypto.ed25519_public_bytes(k.public_key())) for r, n, k in zip(ROLES, NAMES, keys)]
    root = crypto.load_signing_key(out / "private" / "registry-root.key")
    rebuilt = build_registry(election.id, election.fingerprint_hex, [(s.precinct, s.public_key) for s in registry.stations],
                             {s.precinct: [t.public_key for t in s.terminals] for s in registry.stations}, {1: members})
    (out / "stations.json").unlink()
    write_registry(sign_registry(rebuilt, root), out / "stations.json")
    return out, keys


def test_commission_import_refuses_without_a_majority_and_takes_it_once_cosigned(synth_set, tmp_path: Path) -> None:
    out, keys = synth_set
    election = load_election(out / "election.json")
    signed_registry = load_registry(out / "stations.json", election)
    path = next(p for p in (out / "protocols").glob("*.json") if SignedProtocol.from_canonical_json(p.read_bytes()).protocol.precinct == 1)
    signed = SignedProtocol.from_canonical_json(path.read_bytes())
    with open_commission_db(f"sqlite:///{tmp_path / 'c.db'}") as db:
        lone = cosign(signed, keys[0], Role.CHAIR, when=AT)
        write_cosignature(lone, path.with_name(cosignature_file_name(path.name, lone)))
        summary = import_protocols(db, [out], election=election, registry=signed_registry)
        refused = {r.precinct: r for r in summary.refused}
        assert 1 not in summary.imported and refused[1].reason.value == "cosign"
        assert "cosign:no_majority" in refused[1].message and "1 of the 3" in refused[1].message
        assert sorted(summary.imported) == [2, 3]  # precincts without enrolled members are not held up

        second = cosign(signed, keys[2], Role.SECRETARY, when=AT, dissent="Пересчёт не проводился.")
        (out / "cosignatures").mkdir(exist_ok=True)
        write_cosignature(second, out / "cosignatures" / "any-name-at-all.cosig")  # found by content, not by name
        summary = import_protocols(db, [out])
        assert summary.imported == [1] and not [r for r in summary.refused if r.precinct == 1]

    # the observer's verifier applies the same check
    from sailau.commission.verify import verify_published

    result = verify_published(out)
    assert not [f for f in result.findings if "cosign" in f.kind], result.findings


def test_a_cosignature_over_bytes_no_protocol_has_is_refused_by_the_commission(synth_set, tmp_path: Path) -> None:
    out, keys = synth_set
    election = load_election(out / "election.json")
    path = next(p for p in (out / "protocols").glob("*.json") if SignedProtocol.from_canonical_json(p.read_bytes()).protocol.precinct == 1)
    signed = SignedProtocol.from_canonical_json(path.read_bytes())
    other = dataclasses.replace(signed, signature=bytes(64))  # the same counts, but other bytes than the published file
    stray = cosign(other, keys[1], Role.DEPUTY_CHAIR, when=AT)
    assert stray.protocol_sha256 != protocol_digest(signed.to_canonical_json())
    target = out / "cosignatures" / "stray.cosig"
    target.parent.mkdir(exist_ok=True)
    write_cosignature(stray, target)
    try:
        with open_commission_db(f"sqlite:///{tmp_path / 'c.db'}") as db:
            summary = import_protocols(db, [out], election=election, registry=load_registry(out / "stations.json", election))
        named = [r for r in summary.refused if r.source == str(target)]
        assert len(named) == 1 and named[0].message.startswith("cosign:other_bytes")
    finally:
        target.unlink()


def test_cosignature_files_lists_a_directory_once(tmp_path, monkeypatch):
    """Regression: a national import names 10,000 protocol files of one directory, and
    the co-signatures beside each were found by globbing that directory per file
    (quadratic: the 10,060-precinct network bench timed out in it). Now each directory
    is listed once, and a file still finds only its own co-signatures."""
    import pathlib

    from sailau.commission.cosignatures import cosignature_files

    files = []
    for n in range(1, 41):
        f = tmp_path / f"precinct-{n:06d}.json"
        f.write_bytes(b"{}")
        files.append(f)
    mine = tmp_path / "precinct-000007.0011223344556677.cosig"
    mine.write_bytes(b"x")
    (tmp_path / "precinct-0000070.0011223344556677.cosig").write_bytes(b"x")  # another stem with mine as prefix
    (tmp_path / "precinct-000008.cosig").write_bytes(b"x")  # not <stem>.<something>.cosig
    calls = []
    real_glob = pathlib.Path.glob
    monkeypatch.setattr(pathlib.Path, "glob", lambda self, pattern: calls.append(pattern) or real_glob(self, pattern))
    assert cosignature_files(files) == [mine]
    assert len(calls) == 1
