"""The election a simulation runs: a demo election with fresh keys, a given definition
with its commission shares, or a given definition used as a template (fresh key).

Why three: the shipped example definitions carry public keys whose private halves
were not kept, so they cannot be counted; a real definition comes with k of its
n share files (`sailau keys election`), which is the only way to close its polls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import definition
from sailau.election.crypto import ElectionKeyPair, ed25519_public_bytes, generate_signing_key
from sailau.election.definition import Election, load_election, write_election
from sailau.election.shares import (
    Share,
    ShareError,
    ShareFileExposedError,
    read_share_file,
    reconstruct_election_key,
    split_election_key,
)

EXAMPLE_2021 = Path(definition.__file__).parent / "examples" / "majilis-2021.json"
K, N = 3, 5


class ElectionKitError(ValueError):
    """The election for the simulation cannot be used (no shares that open it, bad files)."""


@dataclass(frozen=True)
class ElectionKit:
    election: Election
    path: Path  # the definition file the stations load
    shares: tuple[Share, ...]  # exactly k shares: what the commission brings to the close
    origin: str  # "demo" | "definition+shares" | "template (fresh key)"
    #: the trust root the definition names (registry_root_key), when made here; None for a
    #: given definition, whose root is held elsewhere
    registry_root: ed25519.Ed25519PrivateKey | None = None


def _fresh_key(data: dict, workdir: Path, origin: str) -> ElectionKit:
    """A new election key split K of N and a new registry root, both named in the definition."""
    pair = ElectionKeyPair.generate()
    root = generate_signing_key()
    data = dict(data, public_key=pair.public_key_bytes.hex(), key_ceremony={"threshold": K, "shares": N},
                registry_root_key=ed25519_public_bytes(root.public_key()).hex())
    election = definition.election_from_data(data)
    shares = split_election_key(pair.private_key, K, N, election.id, pair.public_key_bytes)
    path = workdir / "election.json"
    write_election(election, path)
    return ElectionKit(election, path, tuple(shares[:K]), origin, root)


def demo_election_data() -> dict:
    """The 2021 Mäjilis election (parties in the drawn ballot order, 2009 law) with two
    local races on the same ballot, as 2021 voters in Nur-Sultan had: the city
    maslikhat party list and a district maslikhat seat (candidates fictional)."""
    data = json.loads(EXAMPLE_2021.read_text(encoding="utf-8"))
    data["id"] = "kz-majilis-2021-sim"
    city = "Нұр-Сұлтан қалалық мәслихаты", "Маслихат города Нур-Султан", "Nur-Sultan city maslikhat"
    data["contests"].append({
        "id": "maslikhat-nur-sultan", "kind": "party_list", "level": "maslikhat", "region": "KZ-71",
        "against_all": False, "name": dict(zip(("kk", "ru", "en"), city)),
        "options": ["NO", "AZ", "QHP", "AUYL", "ADAL"],
    })
    data["territory"]["districts"] = [{
        "code": "NS-M-7", "region": "KZ-71", "level": "maslikhat",
        "name": {"kk": "№ 7 сайлау округі", "ru": "Избирательный округ № 7", "en": "Electoral district No. 7"},
    }]
    people = [("Abenova", "Әбенова Гүлнар", "Абенова Гульнар", "Gulnar Abenova", "NO"),
              ("Ivanov", "Иванов Сергей", "Иванов Сергей", "Sergei Ivanov", None),
              ("Qasymov", "Қасымов Ерлан", "Касымов Ерлан", "Yerlan Kasymov", "AZ"),
              ("Seitkali", "Сейітқали Дәурен", "Сейиткали Даурен", "Dauren Seitkali", "AUYL")]
    data["contests"].append({
        "id": "maslikhat-ns-7", "kind": "single_member", "level": "maslikhat", "region": "KZ-71",
        "district": "NS-M-7", "against_all": False,
        "name": {"kk": "№ 7 округ бойынша мәслихат депутаты", "ru": "Депутат маслихата по округу № 7",
                 "en": "Maslikhat deputy, district No. 7"},
        "candidates": [dict({"id": cid, "name": {"kk": kk, "ru": ru, "en": en}}, **({"party": p} if p else {}))
                       for cid, kk, ru, en, p in people],
    })
    data["ballot_styles"] = [{"code": 1, "contests": ["majilis", "maslikhat-nur-sultan", "maslikhat-ns-7"]},
                             {"code": 2, "contests": ["majilis"]}]
    for p in data["precincts"]:
        if p["region"] != "KZ-71":
            p["style"] = 2
    return data


def demo_election(workdir: Path) -> ElectionKit:
    """The demo election (see `demo_election_data`) with a fresh key split 3 of 5."""
    return _fresh_key(demo_election_data(), workdir, "demo")


def template_election(path: Path, workdir: Path) -> ElectionKit:
    """Definition `path` with a fresh election key and registry root (so a new
    fingerprint): for definitions whose shares are not at hand, like the shipped examples."""
    source = load_election(path)
    data = source.model_dump(mode="json", exclude_none=True)
    return _fresh_key(data, workdir, "template (fresh key)")


def election_with_shares(path: Path, shares_dir: Path) -> ElectionKit:
    """Definition `path` as it is, closed with the share files (*.json) in `shares_dir`
    or its subdirectories (`sailau keys election` puts each member's share in its own
    member-I/): they must rebuild its key (checked now, not at the close). A share
    file others may read is refused, not skipped."""
    election = load_election(path)
    files = sorted(p for p in shares_dir.rglob("*.json") if p.is_file())
    shares = []
    for f in files:
        try:
            share = read_share_file(f)
        except ShareFileExposedError as exc:
            raise ElectionKitError(str(exc)) from None
        except ShareError:
            continue  # not a share file (e.g. other JSON in the folder)
        if share.election_id == election.id:
            shares.append(share)
    if not shares:
        raise ElectionKitError(f"{shares_dir}: no share file of election {election.id!r}")
    k = shares[0].k
    if len(shares) < k:
        raise ElectionKitError(f"{shares_dir}: {len(shares)} share(s) of {election.id!r}, the close needs {k}")
    try:
        reconstruct_election_key(shares[:k], election.public_key, election.id)
    except ShareError as exc:
        raise ElectionKitError(f"the shares in {shares_dir} do not open {path}: {exc}") from None
    return ElectionKit(election, Path(path), tuple(shares[:k]), "definition+shares")
