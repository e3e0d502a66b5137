"""The signed files behind the results, for download, and how to check them.

- `election.json` (the definition: the trust root; not signed, its SHA-256 is the
  fingerprint in every protocol) and `stations.json` (the registry, signed by the
  root the definition names): the setup directory's exact files;
- `protocols/precinct-NNNNNN.json`: the exact signed bytes the importer stored
  (every valid version of a precinct is kept; the one that counts by default);
- `keys/station-NNNNNN.pem`: the precinct's station key as `stations.json` enrols
  it (PEM), for `sailau protocol verify --station-key`;
- `published.tar`: the whole published set as `sailau verify` reads it: the two
  files above, every stored protocol version, the signed conflict decisions, the
  receipt lists of the setup directory for precincts with a protocol, the
  members' co-signatures of those versions (`cosignatures/`, as the server kept
  them: commission/cosignstore.py), and `report.json` (the national report now). `sailau verify set --report
  set/report.json` then recomputes everything from the signed files; until every
  precinct is in, it names the missing ones and exits 1.
"""

from __future__ import annotations

import tarfile
import tempfile
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select

from .. import models
from ..db import CommissionDB
from ..report import commission_report, report_json_bytes

CHUNK = 1 << 16


def protocol_name(number: int) -> str:
    return f"precinct-{number:06d}.json"


def key_name(number: int) -> str:
    return f"station-{number:06d}.pem"


def protocol_recipe(number: int) -> str:
    """The one line that checks a downloaded protocol (signature, key, relations)."""
    return f"sailau protocol verify {protocol_name(number)} --election election.json --station-key {key_name(number)}"


def set_recipe(base_url: str) -> str:
    """The one line that checks every published file and the report against them."""
    return f"mkdir -p set && curl -fsS {base_url}files/published.tar | tar -x -C set && sailau verify set --report set/report.json"


def station_key_pem(public_key: bytes) -> bytes:
    key = ed25519.Ed25519PublicKey.from_public_bytes(public_key)
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def setup_file(setup_dir: Path, name: str, db: CommissionDB) -> bytes:
    """election.json or stations.json: the setup directory's bytes, else those stored at the first import."""
    path = Path(setup_dir) / name
    if path.is_file():
        return path.read_bytes()
    with db.begin() as conn:
        row = conn.execute(select(models.election)).first()
    if row is None:
        raise FileNotFoundError(name)
    return bytes(row.definition if name == "election.json" else row.registry)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, BytesIO(data))


def read_published(db: CommissionDB, state) -> tuple[list, list, bytes]:  # noqa: ANN001 - Snapshot.state
    """Protocol versions, decisions and the national report of one database state:
    read again while an import changed the state in between (at most 5 times)."""
    V, D = models.protocol_versions, models.conflict_decisions
    for _ in range(5):
        before = state()
        report = report_json_bytes(commission_report(db, "national"))
        with db.begin() as conn:
            versions = [(int(r.precinct), r.digest, bytes(r.signed))
                        for r in conn.execute(select(V.c.precinct, V.c.digest, V.c.signed).order_by(V.c.precinct, V.c.digest))]
            decisions = [(int(r.precinct), r.digest, bytes(r.signed))
                         for r in conn.execute(select(D.c.precinct, D.c.digest, D.c.signed).order_by(D.c.precinct, D.c.digest))]
        if state() == before:
            return versions, decisions, report
    raise RuntimeError("results kept arriving while the published set was being read; try again")


def _cosignatures(db: CommissionDB, protocol_digests: list[str]) -> list[tuple[int, str, bytes]]:
    """The co-signatures kept for these protocol versions (none of a held protocol:
    verify would find it co-signing bytes the set does not hold)."""
    C = models.cosignatures
    wanted = set(protocol_digests)
    with db.begin() as conn:
        rows = conn.execute(select(C.c.precinct, C.c.digest, C.c.protocol_sha256, C.c.signed)
                            .order_by(C.c.precinct, C.c.digest)).all()
    return [(int(n), d, bytes(s)) for n, d, target, s in rows if target in wanted]


def published_tar(setup_dir: Path, db: CommissionDB, parts: tuple[list, list, bytes]) -> Iterator[bytes]:
    """The published set (`read_published`'s parts) as a tar stream, built in a temporary file."""
    versions, decisions, report = parts
    now = time.time()
    with tempfile.TemporaryFile() as tmp:
        with tarfile.open(fileobj=tmp, mode="w") as tar:
            for name in ("election.json", "stations.json"):
                _add(tar, name, setup_file(setup_dir, name, db), now)
            precincts: set[int] = set()
            for n, digest, signed in versions:
                name = protocol_name(n) if n not in precincts else f"precinct-{n:06d}-{digest[:16]}.json"
                precincts.add(n)
                _add(tar, f"protocols/{name}", signed, now)
            for n, digest, signed in decisions:
                _add(tar, f"decisions/precinct-{n:06d}-{digest[:16]}.json", signed, now)
            for n, digest, signed in _cosignatures(db, [d for _, d, _ in versions]):
                _add(tar, f"cosignatures/precinct-{n:06d}-{digest[:16]}.cosig", signed + b"\n", now)
            receipts = Path(setup_dir) / "receipts"
            for n in sorted(precincts):
                path = receipts / protocol_name(n)
                if path.is_file():
                    _add(tar, f"receipts/{path.name}", path.read_bytes(), now)
            _add(tar, "report.json", report, now)
        tmp.seek(0)
        while chunk := tmp.read(CHUNK):
            yield chunk
