"""A national-scale synthetic election from a table of votes per region.

`synthesize(table, precincts=N, seed=S, out=DIR)` writes a complete published set:

    DIR/election.json        definition: the table's parties (registration order = column
                             order), its regions, N precincts, one national party list,
                             and the registry root key (the set's trust root)
    DIR/stations.json        station key registry, one station and one terminal Ed25519 key
                             per precinct, signed by the registry root
    DIR/protocols/precinct-NNNNNN.json   N signed precinct protocols, each committing to
                             its receipt list
    DIR/receipts/precinct-NNNNNN.json    N receipt-code lists, one code per ballot cast
    DIR/private/station-keys.json        the stations' private keys (mode 0600) and
    DIR/private/registry-root.key        the registry root's (PKCS#8 PEM, 0600): NOT part of
                             the published set; `sailau verify` never reads them, `sailau
                             commission decide --root-key` signs conflict decisions with it

The protocols sum, per region and party, to the table exactly: each region's
votes are split over its precincts by largest remainder on random precinct
weights (with per-party noise, so precincts differ in composition). Around them
each precinct gets realistic counts that satisfy every control relation: a few
invalid ballots, cancelled cards, cards taken out, 55-80 % turnout of the list.
About a quarter of the precincts (`PAPER_SHARE_OF_PRECINCTS`) voted partly on paper:
their protocols carry a paper section (5-30 % of each line, a few ballots from the
mobile box, spoiled and unused ballots), so reports, the site and the benches see
real paper figures; the combined counts still sum to the table.

Receipt codes are random 50-bit numbers from the seed (there are no ciphertexts
to hash), written in sorted order, which says nothing about casting order either.
A national set holds about 7 million of them: they are drawn, sorted and spelled
in numpy (a matplotlib dependency, already installed), one precinct at a time.

Deterministic: the same table, N and seed give the same bytes. Every key (station
and terminal Ed25519 keys, the registry root, the election's X25519 key) is
derived from the seed with SHA-256: synthetic keys for synthetic data, never for a
real election. The election key's private half is not written (nothing here is
encrypted).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from sailau.election import jsonfile, secretfile
from sailau.election.crypto import ed25519_public_bytes, save_signing_key, x25519_public_bytes
from sailau.election.definition import Election, election_from_data, write_election
from sailau.election.protocol import ContestResult, PaperCount, Protocol, sign_protocol
from sailau.election.receipts import ReceiptList, commit_receipts
from sailau.election.record import RECEIPT_CODE_ALPHABET

from .names import CellError, NamedCell, make_ids, parse_cell
from .registry import build_registry, sign_registry, write_registry

CONTEST_ID = "majilis"
SYNTH_LAWS = ("kz-majilis-2007", "kz-majilis-2009")  # party lists only: no districts to invent
#: Elections of one national contest the table's columns fill: candidates (and an
#: AGAINST_ALL column under the 2022 law) or the answers yes,no of one question.
SYNTH_OTHER_LAWS = ("kz-president-1995", "kz-president-2022", "kz-referendum")
AGAINST_ALL_COLUMN = "AGAINST_ALL"
MAX_PRIVATE_KEYS_BYTES = 64 * 1024 * 1024  # about 90 bytes a precinct


class TableError(ValueError):
    """The vote table CSV is malformed; the message names the line and column."""


class SynthError(ValueError):
    """The synthesis cannot be done as asked (too few precincts, output exists, ...)."""


@dataclass(frozen=True)
class VoteTable:
    parties: tuple[str, ...]  # ids, registration order
    regions: tuple[str, ...]  # ids
    votes: dict[str, dict[str, int]]  # region id -> party id -> votes
    #: id -> the name as written (names.py); an id missing here is named by itself
    names: dict[str, NamedCell] = field(default_factory=dict)

    def named(self, id_: str) -> NamedCell:
        return self.names.get(id_) or NamedCell(id_, id_, id_, id_)

    def party_totals(self) -> dict[str, int]:
        return {p: sum(self.votes[r][p] for r in self.regions) for p in self.parties}

    def region_total(self, region: str) -> int:
        return sum(self.votes[region].values())

    def scaled(self, numerator: int, denominator: int) -> VoteTable:
        """Every cell times numerator/denominator, rounded down: the same parties and
        regions with fewer ballots (a sample of precincts of a realistic size)."""
        return VoteTable(self.parties, self.regions,
                         {r: {p: n * numerator // denominator for p, n in v.items()} for r, v in self.votes.items()}, self.names)


def _cells(cells: list[str], where: str, source: str, colours: bool) -> list[NamedCell]:
    out = []
    for i, cell in enumerate(cells):
        try:
            named = parse_cell(cell)
        except CellError as e:
            raise TableError(f"{source}: {where(i)}: {e}") from None
        if named.colour is not None and not colours:
            raise TableError(f"{source}: {where(i)}: a colour is for party columns only")
        out.append(named)
    return out


def parse_table(text: str, source: str = "table") -> VoteTable:
    """Read the CSV: a header `region,<party>...` (parties in registration order),
    then one row per region. Region and party cells are names by the grammar of
    names.py (`[ID =] NAME` or `kk / ru / en`; parties may end in `#rrggbb`); ids
    are made from names where not given."""
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise TableError(f"{source}: empty table")
    header = [c.strip() for c in rows[0]]
    if not header or header[0] != "region":
        raise TableError(f"{source}: line 1: the header must start with 'region', got {header[:1]}")
    if len(header) == 1:
        raise TableError(f"{source}: line 1: no party columns")
    party_cells = _cells(header[1:], lambda i: f"line 1, column {i + 2}", source, colours=True)
    written = [c.id if c.id is not None else c.en for c in party_cells]
    if len(set(written)) != len(written):
        raise TableError(f"{source}: line 1: a party column appears twice")
    parties = tuple(make_ids(party_cells))
    if len(set(parties)) != len(parties):
        raise TableError(f"{source}: line 1: a party column appears twice")
    region_cells: list[NamedCell] = []
    lines: list[int] = []
    counts_by_row: list[dict[str, int]] = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise TableError(f"{source}: line {i}: {len(row)} cells, the header has {len(header)}")
        region_cells += _cells(row[:1], lambda _: f"line {i}, column region", source, colours=False)
        lines.append(i)
        counts = {}
        for party, cell in zip(parties, row[1:]):
            try:
                n = int(cell.strip().replace("_", ""))
            except ValueError:
                raise TableError(f"{source}: line {i}, column {party}: {cell!r} is not a whole number") from None
            if n < 0:
                raise TableError(f"{source}: line {i}, column {party}: negative votes {n}")
            counts[party] = n
        counts_by_row.append(counts)
    if not region_cells:
        raise TableError(f"{source}: no region rows")
    seen: dict[str, int] = {}
    for cell, line in zip(region_cells, lines):  # the same region written twice, by id or by name
        key = cell.id if cell.id is not None else cell.en
        if key in seen:
            raise TableError(f"{source}: line {line}: region {key!r} appears twice")
        seen[key] = line
    regions = tuple(make_ids(region_cells))
    if len(set(regions)) != len(regions):
        dup = next(r for r in regions if regions.count(r) > 1)
        raise TableError(f"{source}: line {lines[regions.index(dup, regions.index(dup) + 1)]}: region {dup!r} appears twice")
    names = dict(zip(parties, party_cells)) | dict(zip(regions, region_cells))
    return VoteTable(parties, regions, dict(zip(regions, counts_by_row)), names)


def read_table(path: str | Path) -> VoteTable:
    path = Path(path)
    try:
        return parse_table(path.read_text(encoding="utf-8-sig"), str(path))
    except OSError as e:
        raise TableError(f"{path}: cannot read ({e.strerror})") from None


def split_exact(total: int, weights: Sequence[int]) -> list[int]:
    """`total` split in proportion to positive integer `weights`; sums exactly
    (largest remainder, equal remainders to the earlier index)."""
    w = sum(weights)
    parts = [divmod(total * x, w) for x in weights]
    out = [q for q, _ in parts]
    for i in sorted(range(len(weights)), key=lambda i: (-parts[i][1], i))[: total - sum(out)]:
        out[i] += 1
    return out


def _spread_precincts(table: VoteTable, n: int) -> dict[str, int]:
    """Precincts per region: one each, the rest in proportion to the region's votes."""
    if n < len(table.regions):
        raise SynthError(f"{n} precincts cannot cover {len(table.regions)} regions: give at least one per region")
    weights = [max(table.region_total(r), 1) for r in table.regions]
    extra = split_exact(n - len(table.regions), weights)
    return {r: 1 + e for r, e in zip(table.regions, extra)}


def _derived(seed: int, label: str) -> bytes:
    return hashlib.sha256(f"sailau/synth/v1|{seed}|{label}".encode()).digest()


def station_key(seed: int, precinct: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(_derived(seed, f"station|{precinct}"))


def terminal_key(seed: int, precinct: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(_derived(seed, f"terminal|{precinct}"))


def registry_root_key(seed: int) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(_derived(seed, "registry-root"))


_ALPHABET = np.frombuffer(RECEIPT_CODE_ALPHABET.encode("ascii"), dtype=np.uint8)
_SHIFTS = np.arange(45, -1, -5, dtype=np.uint64)


def synthetic_receipt_codes(count: int, rng: random.Random) -> list[str]:
    """`count` distinct random receipt codes in canonical form, sorted."""
    values = np.zeros(0, dtype=np.uint64)
    while len(values) < count:  # a repeat among 50-bit draws is rare; draw again until distinct
        draw = np.frombuffer(rng.randbytes(8 * (count - len(values))), dtype=">u8").astype(np.uint64) >> np.uint64(14)
        values = np.sort(np.concatenate((values, draw)))
        if len(values) > 1 and not np.all(values[1:] != values[:-1]):
            values = np.unique(values)
    digits = _ALPHABET[((values[:, None] >> _SHIFTS) & np.uint64(31)).astype(np.intp)]
    text = np.empty((len(values), 13), dtype=np.uint8)
    text[:, 0:4], text[:, 5:9], text[:, 10:12] = digits[:, 0:4], digits[:, 4:8], digits[:, 8:10]
    text[:, 4] = text[:, 9] = ord("-")
    text[:, 12] = ord("\n")
    return text.tobytes().decode("ascii").split("\n")[:-1]


def _text(s: str) -> dict[str, str]:
    return {"kk": s, "ru": s, "en": s}


def _other_contest(table: VoteTable, law: str, constitutional: bool) -> dict:
    """The one contest of a synthetic presidential election or referendum."""
    if law == "kz-referendum":
        if table.parties != ("yes", "no"):
            raise SynthError(f"a referendum table has the columns region,yes,no; got {', '.join(table.parties)}")
        return {"id": "question", "name": _text("Synthetic referendum question"), "level": "national",
                "against_all": False, "kind": "referendum", "text": _text("Do you support the synthetic proposal?"),
                "constitutional": constitutional}
    against = law == "kz-president-2022"
    if AGAINST_ALL_COLUMN in table.parties and not against:
        raise SynthError(f"law {law} has no 'against all': drop the {AGAINST_ALL_COLUMN} column")
    candidates = [c for c in table.parties if c != AGAINST_ALL_COLUMN]
    return {"id": "president", "name": _text("President"), "level": "national", "against_all": against,
            "kind": "presidential", "candidates": [{"id": c, "name": table.named(c).names()} for c in candidates]}


def _party(table: VoteTable, i: int, p: str) -> dict[str, object]:
    named = table.named(p)
    out: dict[str, object] = {"id": p, "registration_number": i + 1, "name": named.names()}
    if named.colour is not None:
        out["colour"] = named.colour
    return out


_PRECINCT_WORD = ("Синтетикалық учаске", "Синтетический участок", "Synthetic precinct")  # kk, ru, en


def synth_election(
    table: VoteTable, per_region: dict[str, int], *, seed: int, election_id: str, law: str, date: str,
    constitutional: bool = True,
) -> Election:
    if law not in SYNTH_LAWS + SYNTH_OTHER_LAWS:
        raise SynthError(f"synth makes party-list elections only ({', '.join(SYNTH_LAWS)}), or one presidential race "
                         f"or referendum question ({', '.join(SYNTH_OTHER_LAWS)}), not {law!r}")
    public = x25519_public_bytes(x25519.X25519PrivateKey.from_private_bytes(_derived(seed, "election-key")).public_key())
    precincts = []
    number = 0
    for region in table.regions:
        for _ in range(per_region[region]):
            number += 1
            precincts.append({"number": number, "region": region, "address": {k: f"{word} {number}, {name}" for (k, name), word in zip(table.named(region).names().items(), _PRECINCT_WORD)}, "style": 1})
    other = law in SYNTH_OTHER_LAWS
    contest = _other_contest(table, law, constitutional) if other else {
        "id": CONTEST_ID, "name": _text("Mäjilis party list"), "level": "national", "against_all": False,
        "kind": "party_list", "options": list(table.parties)}
    return election_from_data(
        {
            "format": "sailau/election",
            "version": 1,
            "id": election_id,
            "date": date,
            "name": _text(f"Synthetic {'election' if other else 'Mäjilis election'} {election_id} (seed {seed})"),
            "law": law,
            "parties": [] if other else [_party(table, i, p) for i, p in enumerate(table.parties)],
            "contests": [contest],
            "territory": {"regions": [{"code": r, "name": table.named(r).names()} for r in table.regions]},
            "precincts": precincts,
            "ballot_styles": [{"code": 1, "contests": [contest["id"]]}],
            "public_key": public.hex(),
            "registry_root_key": ed25519_public_bytes(registry_root_key(seed).public_key()).hex(),
        }
    )


def _precinct_protocol(
    election: Election, number: int, region: str, votes: dict[str, int], rng: random.Random, receipts: random.Random
) -> tuple[Protocol, list[str]]:
    valid = sum(votes.values())
    against_all = votes.pop(AGAINST_ALL_COLUMN, 0)
    invalid = round(valid * rng.uniform(0.0, 0.012))
    counted = valid + invalid
    combined = ContestResult(election.contests[0].id, votes, against_all=against_all, invalid=invalid)
    paper = _paper_count(combined, rng) if counted and rng.random() < PAPER_SHARE_OF_PRECINCTS else None
    cast = counted - (paper.found if paper is not None else 0)  # the rest were cast by card
    voters_paper = paper.issued_in_station if paper is not None else 0
    voters_outside = paper.issued_outside if paper is not None else 0
    cancelled = rng.randint(0, 3) if cast else 0
    taken_out = rng.randint(0, 2) if cast else 0
    issued = cast + cancelled + taken_out
    checked_in = issued + voters_paper
    turnout = rng.uniform(0.55, 0.80)
    on_list = max(checked_in + voters_outside, math.ceil(counted / turnout)) if counted else rng.randint(50, 400)
    codes = synthetic_receipt_codes(cast, receipts)
    protocol = Protocol(
        election_id=election.id,
        election_fingerprint=election.fingerprint_hex,
        precinct=number,
        region=region,
        district=None,
        voters_on_list=on_list,
        voters_checked_in=checked_in,
        cards_issued=issued,
        ballots_cast=cast,
        cards_cancelled=cancelled,
        contests=(combined,),
        receipts=commit_receipts(codes),
        voters_additional=rng.randint(0, max(0, on_list // 50)),
        voters_paper=voters_paper,
        voters_outside=voters_outside,
        paper=paper,
    )
    return protocol, codes


#: About this share of synthetic precincts vote partly on paper (and with the mobile box).
PAPER_SHARE_OF_PRECINCTS = 0.25


def _paper_count(combined: ContestResult, rng: random.Random) -> PaperCount:
    """A paper protocol for a precinct whose combined result is `combined`: a random
    5-30 % of each line on paper, a few of those from the mobile box, and the paper
    ledger around them (received = issued + spoiled + unused, a voter or two who took
    a ballot away, requests at least the ballots taken outside)."""
    share = rng.uniform(0.05, 0.30)
    part = ContestResult(combined.contest_id, {oid: int(n * share) for oid, n in combined.votes.items()},
                         against_all=int(combined.against_all * share), invalid=int(combined.invalid * share))
    found = part.total
    found_mobile = min(found, rng.randint(0, 6))
    issued_in_station = found - found_mobile + rng.randint(0, 1)  # a voter may leave with the ballot
    spoiled, unused = rng.randint(0, 3), rng.randint(20, 150)
    return PaperCount(
        received=issued_in_station + found_mobile + spoiled + unused, issued_in_station=issued_in_station,
        issued_outside=found_mobile, spoiled=spoiled, unused=unused, mobile_requests=found_mobile + rng.randint(0, 2),
        found_stationary=found - found_mobile, found_mobile=found_mobile, contests=(part,),
    )


@dataclass(frozen=True)
class SynthResult:
    out: Path
    election: Election
    election_path: Path
    registry_path: Path
    protocol_paths: tuple[Path, ...]
    receipt_paths: tuple[Path, ...]
    private_keys_path: Path
    root_key_path: Path


def synthesize(
    table: VoteTable,
    precincts: int,
    seed: int,
    out: str | Path,
    *,
    election_id: str = "kz-majilis-synth",
    law: str = "kz-majilis-2009",
    date: str = "2021-01-10",
    progress: Callable[[int], None] | None = None,
    constitutional: bool = True,
) -> SynthResult:
    """Write the published set (and the private keys apart) into `out`; see the module docstring."""
    out = Path(out)
    if (out / "election.json").exists() or (out / "protocols").exists():
        raise SynthError(f"{out} already holds a published set: choose an empty directory")
    per_region = _spread_precincts(table, precincts)
    election = synth_election(table, per_region, seed=seed, election_id=election_id, law=law, date=date,
                              constitutional=constitutional)
    rng = random.Random(seed)
    receipts_rng = random.Random(_derived(seed, "receipts"))  # apart, so the counts do not depend on it

    (out / "protocols").mkdir(parents=True, exist_ok=True)
    (out / "receipts").mkdir(exist_ok=True)
    private_dir = out / "private"
    private_dir.mkdir(mode=0o700, exist_ok=True)
    election_path = out / "election.json"
    write_election(election, election_path)

    by_region: dict[str, list[int]] = {}
    for p in election.precincts:
        by_region.setdefault(p.region, []).append(p.number)

    paths: list[Path] = []
    receipt_paths: list[Path] = []
    public_keys: list[tuple[int, bytes]] = []
    terminals: dict[int, list[bytes]] = {}
    private_keys: dict[str, str] = {}
    done = 0
    for region in table.regions:
        numbers = by_region[region]
        size = [max(1, int(1000 * rng.lognormvariate(0, 0.45))) for _ in numbers]
        split: dict[str, list[int]] = {}
        for party in table.parties:
            weights = [max(1, int(s * rng.uniform(0.7, 1.3))) for s in size]
            split[party] = split_exact(table.votes[region][party], weights)
        for j, number in enumerate(numbers):
            votes = {party: split[party][j] for party in table.parties}
            protocol, codes = _precinct_protocol(election, number, region, votes, rng, receipts_rng)
            key = station_key(seed, number)
            signed = sign_protocol(protocol, key)  # checks the control relations first
            path = out / "protocols" / f"precinct-{number:06d}.json"
            path.write_bytes(signed.to_canonical_json())
            paths.append(path)
            receipt_path = out / "receipts" / f"precinct-{number:06d}.json"
            receipt_path.write_bytes(ReceiptList(election.id, election.fingerprint_hex, number, tuple(codes)).to_json_bytes())
            receipt_paths.append(receipt_path)
            public_keys.append((number, signed.public_key))
            terminals[number] = [ed25519_public_bytes(terminal_key(seed, number).public_key())]
            private_keys[str(number)] = key.private_bytes_raw().hex()
            done += 1
            if progress and done % 500 == 0:
                progress(done)

    registry = build_registry(election.id, election.fingerprint_hex, public_keys, terminals)
    registry_path = out / "stations.json"
    root = registry_root_key(seed)
    write_registry(sign_registry(registry, root), registry_path)
    root_path = private_dir / "registry-root.key"
    save_signing_key(root_path, root)
    private_path = private_dir / "station-keys.json"
    data = {"format": "sailau/synth-station-private-keys", "version": 1, "election": election.id, "seed": seed, "keys": private_keys}
    try:
        secretfile.write_secret_file(private_path, json.dumps(data).encode("utf-8"), "file of station private keys")
    except secretfile.SecretFileError as e:
        raise SynthError(str(e)) from None
    if progress:
        progress(done)
    return SynthResult(out, election, election_path, registry_path, tuple(paths), tuple(receipt_paths), private_path, root_path)


def load_private_keys(path: str | Path) -> dict[int, ed25519.Ed25519PrivateKey]:
    """The synthetic stations' private keys (for tests that need to re-sign): a secret
    file, refused when others may read it, like every private key."""
    data = jsonfile.parse_json(secretfile.read_secret_file(path, "file of station private keys", MAX_PRIVATE_KEYS_BYTES))
    return {int(n): ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(h)) for n, h in data["keys"].items()}


