"""The commission members' co-signatures that come with protocols to import or
verify: found, read within their bounds, and attached to the protocol file whose
SHA-256 they name.

Where they are found: a published set's `cosignatures/*.cosig` and the
`*.cosig` files beside its protocols (`protocols/`), and for a protocol file
given by itself, the `<stem>.*.cosig` files beside it (the names `sailau
protocol cosign` writes). Which protocol a co-signature belongs to depends on its
content only (`protocol_sha256`), never on its name. The check itself is
`election.cosign.check_cosignatures`, applied by `checks.check_protocol_file`,
the same function `sailau protocol verify` calls.

A co-signature that cannot be read is refused by itself (`cosign`, named
`cosign:format`); one that names no protocol file read in the same import or
verification is refused as `cosign:other_bytes` (`left_over`): it co-signs
different bytes than any protocol the commission was given. (One that names a
protocol file refused for another reason goes with that refusal.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sailau.election.cosign import COSIGN_SUFFIX, Cosignature, CosignError, CosignProblem, read_cosignature_file

from .checks import Reason, Refusal


@dataclass(frozen=True)
class GatheredCosignatures:
    by_digest: Mapping[str, tuple[tuple[str, Cosignature], ...]]  # protocol file SHA-256 -> (source, co-signature)
    refused: tuple[Refusal, ...]  # unreadable co-signature files


def cosignature_files(paths: Iterable[str | Path]) -> list[Path]:
    """The co-signature files that go with the protocol files or published sets in `paths`.

    Each directory is listed once however many protocol files are given from it (a
    national import names 10,000 files of one directory: listing it per file was
    quadratic, minutes of directory scans)."""
    out: list[Path] = []
    listed: dict[Path, list[Path]] = {}

    def cosigs_in(directory: Path) -> list[Path]:
        if directory not in listed:
            listed[directory] = sorted(directory.glob(f"*{COSIGN_SUFFIX}"))
        return listed[directory]

    for p in map(Path, paths):
        if p.is_dir():
            sub = p / "protocols"
            out.extend(cosigs_in(sub if sub.is_dir() else p))
            out.extend(cosigs_in(p / "cosignatures"))
        else:
            stem = p.name[:-5] if p.name.endswith(".json") else p.name
            out.extend(f for f in cosigs_in(p.parent)  # as the glob f"{stem}.*{COSIGN_SUFFIX}"
                       if f.name.startswith(f"{stem}.") and len(f.name) >= len(stem) + 1 + len(COSIGN_SUFFIX))
    return list({f.resolve(): f for f in out}.values())


def gather(files: Iterable[Path]) -> GatheredCosignatures:
    by_digest: dict[str, list[tuple[str, Cosignature]]] = {}
    refused: list[Refusal] = []
    for f in files:
        try:
            c = read_cosignature_file(f)
        except CosignError as e:
            refused.append(Refusal(str(f), None, Reason.COSIGN, f"cosign:{e.problem.value}: {e}"))
            continue
        by_digest.setdefault(c.protocol_sha256, []).append((str(f), c))
    return GatheredCosignatures({d: tuple(v) for d, v in by_digest.items()}, tuple(refused))


def left_over(gathered: GatheredCosignatures, read: Iterable[str]) -> list[Refusal]:
    """A refusal for each co-signature whose protocol file is not among the digests of the files `read`."""
    accepted = set(read)
    return [
        Refusal(source, c.precinct, Reason.COSIGN,
                f"cosign:{CosignProblem.OTHER_BYTES.value}: co-signs protocol file {digest[:16]}... of precinct "
                f"{c.precinct}, which is not among the protocol files given")
        for digest, items in sorted(gathered.by_digest.items()) if digest not in accepted
        for source, c in items
    ]


def for_digest(gathered: GatheredCosignatures | None, digest: str) -> Sequence[tuple[str, Cosignature]]:
    return () if gathered is None else gathered.by_digest.get(digest, ())
