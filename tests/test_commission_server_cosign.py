"""Members' co-signatures over the network (commission/cosignstore.py, `POST
/api/cosignatures`) against a real uvicorn process on a free loopback port: a
precinct whose registry enrols commission members is decided at once when its
co-signatures come first, and is "pending co-signatures" (held, not refused, not
counted) when the protocol comes first, until the co-signature that makes the
majority arrives; every per-file problem refused by the import's name; idempotent
either way; `sailau station submit` sends the co-signatures beside a protocol
before it; held protocols survive a restart; forwarded upstream byte for byte."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sailau.cli.main import cli
from sailau.commission import models
from sailau.commission.cosignstore import MAX_FILES_PER_MEMBER
from sailau.commission.db import open_commission_db
from sailau.commission.netbench import free_port, start_server, stop_server
from sailau.commission.registry import build_registry, load_registry, sign_registry, write_registry
from sailau.commission.synth import parse_table, synthesize
from sailau.election import crypto
from sailau.election.cosign import MAX_COSIGNATURE_BYTES, CosignProblem, cosign, cosignature_file_name, write_cosignature
from sailau.election.definition import load_election
from sailau.election.members import Member, Role
from sailau.election.protocol import SignedProtocol

ROLES = (Role.CHAIR, Role.DEPUTY_CHAIR, Role.SECRETARY)
NAMES = ("Әсел Нұрланқызы Серікова", "Ерлан Болатұлы Жақсылықов", "Ирина Викторовна Ким")
AT = datetime.datetime(2026, 12, 1, 15, 41, 7, tzinfo=datetime.timezone.utc)


@dataclasses.dataclass
class CosignSet:
    dir: Path  # a published set whose registry enrols three members for precinct 1 and one for precinct 2
    keys: list  # precinct 1's members' private keys, by ROLES
    foreign_key: object  # precinct 2's chair
    stranger_key: object  # a key no registry enrols

    def protocol(self, n: int = 1) -> Path:
        return next(p for p in (self.dir / "protocols").glob("*.json")
                    if SignedProtocol.from_canonical_json(p.read_bytes()).protocol.precinct == n)

    def signed(self, n: int = 1) -> SignedProtocol:
        return SignedProtocol.from_canonical_json(self.protocol(n).read_bytes())

    def cosig(self, i: int, **kw) -> bytes:
        """Member i's co-signature of precinct 1's protocol, as the file on disk (with its newline)."""
        return cosign(self.signed(), self.keys[i], ROLES[i], when=AT, **kw).to_bytes() + b"\n"


@pytest.fixture(scope="module")
def cset(tmp_path_factory) -> CosignSet:
    out = tmp_path_factory.mktemp("servercosign") / "set"
    synthesize(parse_table("region,A,B\nR1,300,200\nR2,150,90\n"), 3, 5, out)
    election = load_election(out / "election.json")
    registry = load_registry(out / "stations.json", election).registry
    keys = [crypto.generate_signing_key() for _ in ROLES]
    members = [Member(1, r, n, crypto.ed25519_public_bytes(k.public_key())) for r, n, k in zip(ROLES, NAMES, keys)]
    foreign_key = crypto.generate_signing_key()
    foreign = Member(2, Role.CHAIR, "Нұрлан Серікұлы Ахметов", crypto.ed25519_public_bytes(foreign_key.public_key()))
    root = crypto.load_signing_key(out / "private" / "registry-root.key")
    rebuilt = build_registry(election.id, election.fingerprint_hex, [(s.precinct, s.public_key) for s in registry.stations],
                             {s.precinct: [t.public_key for t in s.terminals] for s in registry.stations},
                             {1: members, 2: [foreign]})
    (out / "stations.json").unlink()
    write_registry(sign_registry(rebuilt, root), out / "stations.json")
    return CosignSet(out, keys, foreign_key, crypto.generate_signing_key())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'commission.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def server(cset: CosignSet, db_url: str, tmp_path: Path):
    port = free_port()
    proc = start_server(db_url, cset.dir, port, log=tmp_path / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", db_url
    finally:
        stop_server(proc)


def post(base: str, kind: str, raw: bytes) -> httpx.Response:
    return httpx.post(f"{base}/api/{kind}", content=raw, headers={"content-type": "application/json"}, timeout=30)


def reported(base: str) -> int:
    return httpx.get(f"{base}/api/results/national", timeout=30).json()["precincts"]["reported"]


def test_cosignatures_first_decide_the_protocol_at_once(server, cset: CosignSet) -> None:
    base, _ = server
    raw = cset.protocol().read_bytes()
    first = post(base, "cosignatures", cset.cosig(0))
    assert (first.status_code, first.json()["status"]) == (200, "accepted"), first.text
    assert "has not arrived yet" in first.json()["message"] and first.json()["precinct"] == 1
    assert post(base, "cosignatures", cset.cosig(2, dissent="Пересчёт не проводился.")).json()["status"] == "accepted"
    r = post(base, "protocols", raw)
    assert (r.status_code, r.json()["status"]) == (200, "accepted"), r.text
    assert r.json()["digest"] == hashlib.sha256(raw).hexdigest()
    assert reported(base) == 1
    # everything again: already have it, nothing changes; a third member co-signing late is kept
    assert post(base, "cosignatures", cset.cosig(0)).json()["status"] == "unchanged"
    assert post(base, "protocols", raw).json()["status"] == "unchanged"
    late = post(base, "cosignatures", cset.cosig(1)).json()
    assert late["status"] == "accepted" and "its protocol counts (3 of 3 members co-signed)" in late["message"]
    status = httpx.get(f"{base}/api/results/precinct/1").json()
    assert status["status"] == "accepted" and status["pending_cosignatures"] == []


def test_a_protocol_before_its_majority_is_pending_then_counts(server, cset: CosignSet) -> None:
    base, db_url = server
    raw = cset.protocol().read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    r = post(base, "protocols", raw)
    assert (r.status_code, r.json()["status"]) == (202, "pending"), r.text
    assert "0 of the 3" in r.json()["message"] and "a majority is 2" in r.json()["message"]
    # precincts without enrolled members are not held up
    assert post(base, "protocols", cset.protocol(3).read_bytes()).json()["status"] == "accepted"
    assert reported(base) == 1
    status = httpx.get(f"{base}/api/results/precinct/1").json()
    assert status["pending_cosignatures"] == [digest] and status["versions"] == [] and status["counted"] is None
    one = post(base, "cosignatures", cset.cosig(1)).json()
    assert one["status"] == "accepted" and "pending co-signatures: 1 of 3" in one["message"], one
    again = post(base, "protocols", raw)  # the station retries: still held, still not refused
    assert (again.status_code, again.json()["status"]) == (202, "pending") and "1 of the 3" in again.json()["message"]
    assert reported(base) == 1
    two = post(base, "cosignatures", cset.cosig(0)).json()
    assert two["status"] == "accepted" and "its protocol counts (2 of 3" in two["message"], two
    assert reported(base) == 2
    status = httpx.get(f"{base}/api/results/precinct/1").json()
    assert status["counted"] == digest and status["pending_cosignatures"] == []
    assert post(base, "protocols", raw).json()["status"] == "unchanged"
    with open_commission_db(db_url) as db, db.begin() as conn:  # kept byte for byte, the held row gone
        kept = {bytes(s) for (s,) in conn.execute(select(models.cosignatures.c.signed))}
        held = conn.execute(select(models.pending_protocols.c.digest)).all()
    assert kept == {cset.cosig(0)[:-1], cset.cosig(1)[:-1]} and held == []


def test_every_cosignature_problem_is_refused_by_the_imports_name(server, cset: CosignSet) -> None:
    base, _ = server
    signed = cset.signed()

    def refused(raw: bytes, status: int = 422) -> str:
        r = post(base, "cosignatures", raw)
        body = r.json()
        assert (r.status_code, body["status"]) == (status, "refused"), body
        return body["reason"] + " " + body["message"]

    assert refused(b'{"format":"sailau/protocol-cosignature"').startswith("cosign cosign:format")
    assert refused(b"[" * 5000).startswith("cosign cosign:format")
    assert refused(b" " * (MAX_COSIGNATURE_BYTES + 1), 413).startswith("too_large")
    # a member of precinct 2 co-signing precinct 1's protocol
    assert "cosign:other_precinct" in refused(cosign(signed, cset.foreign_key, Role.CHAIR, when=AT).to_bytes())
    assert "cosign:not_enrolled" in refused(cosign(signed, cset.stranger_key, Role.MEMBER, when=AT).to_bytes())
    assert "cosign:role" in refused(cosign(signed, cset.keys[0], Role.SECRETARY, when=AT).to_bytes())
    # a dissent changed after signing: the member's signature no longer holds
    with_dissent = json.loads(cset.cosig(2, dissent="Не согласна с итогом."))
    with_dissent["dissent"] = "Согласна с итогом."
    forged = json.dumps(with_dissent, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert "cosign:signature" in refused(forged)
    # a member co-signs a protocol file once: another co-signature of the same file is refused
    assert post(base, "cosignatures", cset.cosig(0)).json()["status"] == "accepted"
    assert "cosign:duplicate_member" in refused(cset.cosig(0, dissent="Передумал."))
    # of another election (the same member key reused): other bytes
    other = dataclasses.replace(signed, protocol=dataclasses.replace(signed.protocol, election_id="another-election"))
    assert "cosign:other_bytes" in refused(cosign(other, cset.keys[1], ROLES[1], when=AT).to_bytes())
    # nothing refused is kept, and the protocol still lacks its majority
    r = post(base, "protocols", cset.protocol().read_bytes()).json()
    assert r["status"] == "pending" and "1 of the 3" in r["message"]


def test_a_members_cosignature_past_the_files_a_precinct_can_have_is_refused_as_too_many(server, cset: CosignSet) -> None:
    """A member co-signs at most MAX_FILES_PER_MEMBER protocol files of their precinct; the
    next one is refused on arrival by its `CosignProblem` name, `cosign:too_many`."""
    base, _ = server
    signed = cset.signed()
    # protocol files of precinct 1 that differ only in their bytes (never here: each is kept, waiting)
    files = [dataclasses.replace(signed, signature=bytes([i]) * 64) for i in range(MAX_FILES_PER_MEMBER + 1)]
    for f in files[:MAX_FILES_PER_MEMBER]:
        r = post(base, "cosignatures", cosign(f, cset.keys[1], ROLES[1], when=AT).to_bytes())
        assert (r.status_code, r.json()["status"]) == (200, "accepted"), r.text
    r = post(base, "cosignatures", cosign(files[-1], cset.keys[1], ROLES[1], when=AT).to_bytes())
    body = r.json()
    assert (r.status_code, body["status"], body["reason"]) == (422, "refused", "cosign"), body
    assert body["message"].startswith(f"cosign:{CosignProblem.TOO_MANY.value}:") and "cosign:too_many" in body["message"]
    # another member is not held to this member's count
    assert post(base, "cosignatures", cosign(files[-1], cset.keys[0], ROLES[0], when=AT).to_bytes()).json()["status"] == "accepted"


def test_station_submit_sends_the_cosignatures_beside_the_protocol_first(server, cset: CosignSet, tmp_path: Path) -> None:
    base, _ = server
    folder = tmp_path / "out"
    folder.mkdir()
    protocol = folder / "protocol.json"
    protocol.write_bytes(cset.protocol().read_bytes())
    c = cosign(cset.signed(), cset.keys[1], ROLES[1], when=AT)
    write_cosignature(c, folder / cosignature_file_name(protocol.name, c))
    r = CliRunner().invoke(cli, ["station", "submit", "--url", base, str(protocol)])
    assert r.exit_code == 4, r.output  # one member of three: pending co-signatures
    lines = r.output.strip().splitlines()
    assert lines[0].startswith(str(folder / cosignature_file_name(protocol.name, c))) and ": accepted (" in lines[0]
    assert lines[1].startswith(f"{protocol}: pending co-signatures (")
    c2 = cosign(cset.signed(), cset.keys[2], ROLES[2], when=AT)
    write_cosignature(c2, folder / cosignature_file_name(protocol.name, c2))
    r = CliRunner().invoke(cli, ["station", "submit", "--url", base, str(protocol)])
    assert r.exit_code == 0, r.output
    assert r.output.count(": accepted (") == 1 and "its protocol counts (2 of 3" in r.output
    assert r.output.count(": already had it (") == 2  # the first co-signature, and the protocol counted by the second
    assert reported(base) == 1


def test_a_held_protocol_survives_a_restart_and_counts_when_its_majority_arrives(cset: CosignSet, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    port = free_port()
    proc = start_server(db_url, cset.dir, port, log=tmp_path / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        assert post(base, "protocols", cset.protocol().read_bytes()).json()["status"] == "pending"
    finally:
        stop_server(proc)
    proc = start_server(db_url, cset.dir, port, log=tmp_path / "server.log")
    try:
        assert post(base, "cosignatures", cset.cosig(0)).json()["status"] == "accepted"
        assert "its protocol counts" in post(base, "cosignatures", cset.cosig(1)).json()["message"]
        assert reported(base) == 1
    finally:
        stop_server(proc)


def test_a_majority_kept_before_a_crash_is_released_at_start(cset: CosignSet, tmp_path: Path) -> None:
    """The crash window: the co-signatures that make the majority are kept but the
    held protocol was not yet stored as a version. The server settles it at start."""
    from sailau.commission.cosignstore import check_cosignature_file, keep
    from sailau.commission.server import load_setup

    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    election, signed_registry = load_setup(cset.dir)
    raw = cset.protocol().read_bytes()
    with open_commission_db(db_url) as db:
        db.bind_election(election, signed_registry)
        kept = keep(db, [check_cosignature_file(cset.cosig(i), f"m{i}", election, signed_registry.registry) for i in (0, 2)])
        assert all(k.new and k.refusal is None for k in kept)
        with db.begin() as conn:
            conn.execute(models.pending_protocols.insert().values(digest=hashlib.sha256(raw).hexdigest(), precinct=1, signed=raw))
    port = free_port()
    proc = start_server(db_url, cset.dir, port, log=tmp_path / "server.log")
    try:
        assert reported(f"http://127.0.0.1:{port}") == 1
        assert httpx.get(f"http://127.0.0.1:{port}/api/results/precinct/1").json()["pending_cosignatures"] == []
    finally:
        stop_server(proc)


def test_cosignatures_and_released_protocols_are_forwarded_upstream(cset: CosignSet, tmp_path: Path) -> None:
    """The territorial commission holds the protocol until its majority, then forwards
    the protocol and every co-signature (dissent included) unchanged; the CEC counts it."""
    cec_port = free_port()
    cec = start_server(f"sqlite:///{tmp_path / 'cec.db'}", cset.dir, cec_port, log=tmp_path / "cec.log")
    tec_port = free_port()
    tec = start_server(f"sqlite:///{tmp_path / 'tec.db'}", cset.dir, tec_port, upstream=f"http://127.0.0.1:{cec_port}",
                       log=tmp_path / "tec.log")
    tec_url, cec_url = f"http://127.0.0.1:{tec_port}", f"http://127.0.0.1:{cec_port}"
    raw = cset.protocol().read_bytes()
    sent = [cset.cosig(0), cset.cosig(2, dissent="Бір бюллетень даулы.")]
    try:
        assert post(tec_url, "protocols", raw).json()["status"] == "pending"
        assert post(tec_url, "cosignatures", sent[0]).json()["status"] == "accepted"
        assert post(tec_url, "cosignatures", sent[1]).json()["status"] == "accepted"
        deadline = time.monotonic() + 60
        while reported(cec_url) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert reported(cec_url) == 1
        with open_commission_db(f"sqlite:///{tmp_path / 'cec.db'}") as db, db.begin() as conn:
            protocols = {bytes(s) for (s,) in conn.execute(select(models.protocol_versions.c.signed))}
            cosigs = {bytes(s) for (s,) in conn.execute(select(models.cosignatures.c.signed))}
        assert protocols == {raw} and cosigs == {c[:-1] for c in sent}
    finally:
        stop_server(tec)
        stop_server(cec)


def test_the_published_set_carries_the_cosignatures_verify_needs(server, cset: CosignSet, tmp_path: Path) -> None:
    """/files/published.tar holds the co-signatures the server kept beside the versions,
    so the observer's `sailau verify` finds precinct 1's majority (no cosign finding)."""
    import io
    import tarfile

    from sailau.commission.verify import verify_published

    base, _ = server
    for i in (0, 1):
        post(base, "cosignatures", cset.cosig(i))
    assert post(base, "protocols", cset.protocol().read_bytes()).json()["status"] == "accepted"
    tar = httpx.get(f"{base}/files/published.tar", timeout=30).content
    out = tmp_path / "set"
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        names = t.getnames()
        t.extractall(out, filter="data")
    assert sum(n.startswith("cosignatures/") for n in names) == 2
    result = verify_published(out)
    assert [f.kind for f in result.findings if "cosign" in f.kind] == []
    assert 1 in result.counted
