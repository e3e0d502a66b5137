"""A ready-made precinct (election with a fresh key, shares, terminal, voters) with a rig
that plays the booth, and the station's benchmarks: cast path per card, close of polls.
`sailau bench` calls `bench_cast` and `bench_close`; the tests and the crash worker use
`Rig`.

The rig plays the booth terminal itself (`Rig.vote`: read the issue block, encode,
seal, WRITE BALLOT), with the election package's record functions. It lives in the
simulator, which may import both apps; the ballot box may not import the booth, so a
rig that plays it does not belong in the station's package.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean, median

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, bindparam

from sailau.election import crypto, definition
from sailau.election.ballot import SelectionsInput, encode_ballot
from sailau.election.crypto import ElectionKeyPair
from sailau.election.definition import Election
from sailau.election.record import IssueBlock, SealedBallot, new_issue_block, seal_ballot
from sailau.election.shares import Share, split_election_key
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessCard, InProcessTransport

from sailau.ballot_box import pollbook, store
from sailau.ballot_box.db import StationDB, open_station_db
from sailau.ballot_box.iin import Sex, make_iin, validate_iin
from sailau.ballot_box.station import Station, TerminalKey

EXAMPLE = Path(definition.__file__).parent / "examples" / "majilis-2023.json"
DEFAULT_PRECINCT = 7101
K, N = 3, 5


@dataclass
class Rig:
    """Everything one precinct needs, generated fresh (keys never leave memory unless `save`d)."""

    election: Election
    election_key: ElectionKeyPair
    shares: list[Share]
    terminal_key: ed25519.Ed25519PrivateKey
    station_key: ed25519.Ed25519PrivateKey
    card_master_key: bytes
    precinct: int = DEFAULT_PRECINCT
    iins: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, voters: int = 50, precinct: int = DEFAULT_PRECINCT) -> Rig:
        election_key = ElectionKeyPair.generate()
        base = definition.load_election(EXAMPLE)
        election = base.model_copy(update={"public_key": election_key.public_key_bytes.hex(),
                                           "key_ceremony": {"threshold": K, "shares": N}})
        shares = split_election_key(election_key.private_key, K, N, election.id, election_key.public_key_bytes)
        return cls(election, election_key, shares, crypto.generate_signing_key(), crypto.generate_signing_key(),
                   secrets.token_bytes(16), precinct, _iins(voters))

    @property
    def terminal(self) -> TerminalKey:
        return TerminalKey(crypto.ed25519_public_bytes(self.terminal_key.public_key()), "booth 1")

    def voters_csv(self, path: Path) -> Path:
        lines = ["iin,surname,given_name,patronymic,birth_date"]
        for i, iin in enumerate(self.iins):
            lines.append(f"{iin},Voter{i},Test,,{validate_iin(iin).birth_date.isoformat()}")
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def station(self, db: StationDB, **kwargs: object) -> Station:
        return Station(db, self.election, self.precinct, self.station_key, self.card_master_key, **kwargs)  # type: ignore[arg-type]

    def open_station(self, db: StationDB, tmp: Path, **kwargs: object) -> Station:
        """Set up, import the voters and open the polls with the rig's terminal."""
        station = self.station(db, **kwargs)
        pollbook.import_voters(db, self.voters_csv(tmp / "voters.csv"))
        station.open_polls([self.terminal])
        return station

    def selections(self, i: int) -> dict[str, object]:
        """A deterministic, varied choice for voter i (index into each contest, some blank/against all)."""
        style = self.election.precinct(self.precinct).style
        out: dict[str, object] = {}
        for contest in self.election.contests_for_style(style):
            options = self.election.options(contest.id)
            pick = (i * 7 + len(contest.id)) % (len(options) + 2)
            if pick < len(options):
                out[contest.id] = options[pick].id
            elif pick == len(options) and contest.against_all:
                from sailau.election.ballot import AGAINST_ALL

                out[contest.id] = AGAINST_ALL
        return out

    def seal(self, block: IssueBlock, selections: SelectionsInput) -> bytes:
        plaintext = encode_ballot(self.election, block.style, selections)
        return seal_ballot(block, plaintext, self.election_key.public_key_bytes, self.terminal_key).pack()

    def vote(self, client: BallotCardClient, selections: SelectionsInput) -> str:
        """Play the booth terminal: read the ISSUED card, write the sealed ballot; returns the receipt code."""
        client.select_without_status()
        data = client.read_data()
        assert data.issue_block is not None, "card is not issued"
        block = IssueBlock.parse(data.issue_block)
        record = self.seal(block, selections)
        client.write_ballot(record, data.issue_block)
        from sailau.election.record import BallotRecord

        return BallotRecord.parse(record, self.election.plaintext_length).receipt_code

    def seed_ballots(self, db: StationDB, count: int, *, batch: int = 500) -> None:
        """Store `count` real sealed ballots without cards (for close-of-polls benchmarks)."""
        style = self.election.precinct(self.precinct).style
        for i in range(count):
            block = new_issue_block(self.election.fingerprint, self.precinct, style)
            plaintext = encode_ballot(self.election, style, self.selections(i))  # type: ignore[arg-type]
            record = seal_ballot(block, plaintext, self.election_key.public_key_bytes, self.terminal_key)
            th = block.token_hash
            store.record_issued(db, th)
            store.cast_ballot(db, th, style, SealedBallot.from_record(block, record).pack())


def _iins(count: int) -> list[str]:
    """`count` distinct valid IINs (make_iin skips serials without a check digit, so dedupe)."""
    out: list[str] = []
    seen: set[str] = set()
    day, serial = 0, 0
    while len(out) < count:
        iin = make_iin(dt.date(1980, 1, 1) + dt.timedelta(days=day), Sex.MALE if serial % 2 else Sex.FEMALE, serial)
        if iin not in seen:
            seen.add(iin)
            out.append(iin)
        serial += 1
        if serial > 9000:
            day, serial = day + 1, 0
    return out


# --- benchmarks ---------------------------------------------------------------------


@dataclass(frozen=True)
class CastFigures:
    """The cast path, and right after each cast one bare durable commit of a
    200-byte row on the same database (the floor: what durability alone costs
    on this disk at that moment), and their per-cast ratio."""

    backend: str
    casts: int
    mean_ms: float
    median_ms: float
    p95_ms: float
    issue_mean_ms: float
    cast_ms: tuple[float, ...] = ()
    commit_ms: tuple[float, ...] = ()

    @property
    def ratios(self) -> list[float]:
        """Each cast's time over the bare commit measured right after it."""
        return [c / b for c, b in zip(self.cast_ms, self.commit_ms, strict=True)]

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in ("cast_ms", "commit_ms")}


_FLOOR_TABLE = Table("bench_commit_floor", MetaData(), Column("id", Integer, primary_key=True),
                     Column("payload", LargeBinary, nullable=False))
_FLOOR_INSERT = _FLOOR_TABLE.insert().values(payload=bindparam("floor_payload"))


def bare_commit_ms(db: StationDB) -> float:
    """One durable commit of one 200-byte row, on a pooled connection of the
    station's own engine (same pragmas: WAL, synchronous FULL), straight on the
    driver: the floor of any durable write on this database and disk."""
    payload = secrets.token_bytes(200)
    with db.engine.connect() as connection:
        sql = str(_FLOOR_INSERT.compile(dialect=connection.dialect))
        args: object = {"floor_payload": payload} if not connection.dialect.positional else (payload,)
        raw = connection.connection.driver_connection
        cursor = raw.cursor()  # type: ignore[union-attr]
        t0 = time.perf_counter()
        if db.dialect == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(sql, args)
        raw.commit()  # type: ignore[union-attr]
        return (time.perf_counter() - t0) * 1000


@dataclass(frozen=True)
class CloseFigures:
    ballots: int
    seconds: float
    decrypt_tally_seconds: float
    outputs_seconds: float
    pdf_bytes: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def bench_cast(
    new_card: Callable[[bytes], InProcessCard], db_url: str | None = None, casts: int = 200,
    workdir: Path | None = None,
) -> CastFigures:
    """Time the station's cast path (read, verify, one transaction, CLEAR), `casts`
    times, over an in-process card made by `new_card(card_master_key)` (the caller
    passes the simulator's card: the ballot box may not import the simulator),
    each followed by a bare durable commit on the same database (`bare_commit_ms`),
    so both see the same disk. Default database: a SQLite file in a temp dir."""

    with tempfile.TemporaryDirectory() as tmpname:
        tmp = workdir or Path(tmpname)
        url = db_url or f"sqlite:///{tmp / 'bench.db'}"
        rig = Rig.create(voters=casts)
        with open_station_db(url) as db:
            station = rig.open_station(db, tmp)
            _FLOOR_TABLE.create(db.engine, checkfirst=True)
            transport = InProcessTransport(new_card(rig.card_master_key))
            client = BallotCardClient(transport)
            client.connect()
            cast_times, issue_times, commit_ms = [], [], []
            for i, iin in enumerate(rig.iins[:casts]):
                station.check_in(iin)
                t0 = time.perf_counter()
                station.issue_card(client)
                issue_times.append(time.perf_counter() - t0)
                rig.vote(client, rig.selections(i))  # type: ignore[arg-type]
                t0 = time.perf_counter()
                result = station.cast_card(client)
                cast_times.append(time.perf_counter() - t0)
                if not result.counted:
                    raise RuntimeError(f"benchmark cast {i} was rejected: {result.message}")
                commit_ms.append(bare_commit_ms(db))
            backend = db.dialect
    in_order = tuple(t * 1000 for t in cast_times)
    cast_ms = sorted(in_order)
    return CastFigures(backend, casts, round(mean(cast_ms), 3), round(median(cast_ms), 3),
                       round(cast_ms[int(0.95 * (len(cast_ms) - 1))], 3), round(mean(issue_times) * 1000, 3),
                       in_order, tuple(commit_ms))


def bench_close(ballots: int = 3000, db_url: str | None = None, out_dir: Path | None = None) -> CloseFigures:
    """Time close of polls (shares -> key -> decrypt + tally -> sign -> JSON, NIST, PDF, receipts)."""
    from sailau.ballot_box.close import close_and_sign

    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        url = db_url or f"sqlite:///{tmp / 'bench.db'}"
        rig = Rig.create(voters=max(ballots, 1))
        with open_station_db(url) as db:
            station = rig.open_station(db, tmp)
            for iin in rig.iins[:ballots]:
                pollbook.check_in(db, iin)
            rig.seed_ballots(db, ballots)
            t0 = time.perf_counter()
            result = close_and_sign(station, rig.shares[:K], out_dir or tmp / "out")
            seconds = time.perf_counter() - t0
        return CloseFigures(ballots, round(seconds, 3), round(result.timings.get("decrypt_tally", 0.0), 3),
                            round(result.timings.get("outputs", 0.0), 3), result.files.pdf.stat().st_size)


def figures_json(figures: Mapping[str, object]) -> str:
    return json.dumps(figures, indent=2, sort_keys=True)
