"""Fault injection for the election-day simulation: the spec, the ledger and the injectors.

Spec: `tear=0.02,pull=0.02,crash=0.01,corrupt=0.01,replay=0.01,foreign=0.01`,
each a probability per voter (`all` = those rates, `none` = no faults). What each
kind does (the simulation picks the site with the same seeded generator):

- tear: the card loses power after a random number of persistent bytes of one
  write: WRITE BALLOT at the terminal, ISSUE or CLEAR at the ballot box
  (`store.tear_after_bytes`; the card journal keeps old or new, never a mix);
- pull: the card leaves the reader before a chosen APDU while it is read (at
  the terminal or at the ballot box), or right after WRITE BALLOT ran on the
  card but before its answer (the digest) reached the terminal —
  `FaultyCard.arm_pull`;
- crash: the ballot-box process dies at a named point of issue or cast
  (`CrashSwitch` as the station's fault hook), or while the card is being
  written (a tear, then the crash); the Station object is discarded and a new one
  is opened over the same SQLite file;
- corrupt: bytes of the voted card's record or issue block are flipped on the
  way to the ballot box (must be rejected);
- replay: a byte-for-byte clone of a voted card is cast after the original
  (must be "already counted");
- foreign: a card of another precinct or another election is inserted at the
  terminal or the ballot box (must be refused).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric import ed25519

from sailau.election import crypto
from sailau.election.ballot import encode_ballot
from sailau.election.definition import Election
from sailau.election.record import new_issue_block, seal_ballot
from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.eeprom import MemoryStore
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport

FAULT_KINDS = ("tear", "pull", "crash", "corrupt", "replay", "foreign")
#: Cards that must never be counted: each of these injections must end in a refusal.
FRAUD_KINDS = ("corrupt", "replay", "foreign")
#: The rates of the issue's example spec, used by `--faults all`.
DEFAULT_RATES: dict[str, float] = {"tear": 0.02, "pull": 0.02, "crash": 0.01, "corrupt": 0.01,
                                   "replay": 0.01, "foreign": 0.01}
#: Named points of Station.fault_hook, plus two where the card is being written when the process dies.
CRASH_POINTS = ("issue:recorded", "issue:written", "issue:mid-write", "cast:start", "cast:read",
                "cast:verified", "cast:committed", "cast:mid-clear", "cast:cleared")


class FaultSpecError(ValueError):
    """The --faults spec is malformed: unknown kind, or a rate outside 0..1."""


@dataclass(frozen=True)
class FaultSpec:
    """Probability per voter of each fault kind (0 = never)."""

    rates: Mapping[str, float] = field(default_factory=dict)

    def rate(self, kind: str) -> float:
        return float(self.rates.get(kind, 0.0))

    @property
    def any(self) -> bool:
        return any(self.rate(k) > 0 for k in FAULT_KINDS)

    def __str__(self) -> str:
        return ",".join(f"{k}={self.rate(k):g}" for k in FAULT_KINDS if self.rate(k) > 0) or "none"


NO_FAULTS = FaultSpec()


def parse_fault_spec(text: str | None) -> FaultSpec:
    """`"tear=0.02,pull=0.02"`, `"all"` (DEFAULT_RATES), `"none"` or empty (no faults).

    `all` may be followed by overrides: `"all,crash=0.05"`."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        if item == "all":
            rates.update(DEFAULT_RATES)
            continue
        if item == "none":
            rates.clear()
            continue
        kind, sep, value = item.partition("=")
        kind = kind.strip()
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} in {text!r}; kinds: {', '.join(FAULT_KINDS)}, or 'all'")
        if not sep:
            raise FaultSpecError(f"fault {kind!r} needs a rate: {kind}=0.01")
        try:
            rate = float(value)
        except ValueError:
            raise FaultSpecError(f"fault {kind!r}: rate {value!r} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"fault {kind!r}: rate {rate:g} is not a probability (0..1)")
        rates[kind] = rate
    return FaultSpec(rates)


# --- the ledger -----------------------------------------------------------------------


@dataclass
class FaultLedger:
    """Every fault injected, where, and how it ended ("<site>:<ending>")."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def record(self, kind: str, site: str, ending: str) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        self.outcomes[kind][f"{site}:{ending}"] += 1

    def injected(self, kind: str) -> int:
        return sum(self.outcomes.get(kind, Counter()).values())

    def ended(self, kind: str, ending: str) -> int:
        """How many `kind` faults ended in `ending` (any site)."""
        return sum(n for key, n in self.outcomes.get(kind, Counter()).items() if key.split(":")[-1] == ending)

    def as_dict(self) -> dict[str, dict[str, object]]:
        """{kind: {"injected": n, "outcomes": {"<site>:<ending>": n}}} for every kind."""
        return {kind: {"injected": self.injected(kind), "outcomes": dict(sorted(self.outcomes.get(kind, Counter()).items()))}
                for kind in FAULT_KINDS}


# --- card injectors -------------------------------------------------------------------


class CardPulled(Exception):
    """The card left the reader before answering (an injected pull)."""

    card_removed = True
    """Read by InProcessTransport and VpcdBridge: the card is gone from the reader."""


class FaultyCard:
    """A virtual card with a pull switch: `arm_pull(n)` lets n more APDUs through,
    then the card leaves the reader instead of answering the next one (it loses
    power, like a card yanked out); with `answer_lost=True` the card runs that
    next command first and leaves before its answer is sent. Everything else
    passes to the card."""

    def __init__(self, card: VirtualBallotCard, label: str = "") -> None:
        self.card = card
        self.label = label
        self._pull_after: int | None = None
        self._answer_lost = False
        self.pulled = False

    def arm_pull(self, after_apdus: int, *, answer_lost: bool = False) -> None:
        if after_apdus < 0:
            raise ValueError(f"after_apdus must be >= 0, got {after_apdus}")
        self._pull_after = after_apdus
        self._answer_lost = answer_lost
        self.pulled = False

    def disarm(self) -> bool:
        """Disarm both switches and forget a pull; True if one was still armed (it never fired)."""
        armed = self._pull_after is not None or self.card.tear_after_bytes is not None
        self._pull_after = None
        self.pulled = False
        self.card.tear_after_bytes = None
        return armed

    def arm_tear(self, after_bytes: int) -> None:
        self.card.tear_after_bytes = after_bytes

    @property
    def tear_armed(self) -> bool:
        return self.card.tear_after_bytes is not None

    @property
    def serial(self) -> bytes:
        return self.card.serial

    @property
    def state(self):  # CardState
        return self.card.state

    def atr(self) -> bytes:
        return self.card.atr()

    def power_on(self) -> bytes:
        return self.card.power_on()

    def power_off(self) -> None:
        self.card.power_off()

    def execute(self, apdu: bytes) -> bytes:
        if self._pull_after is not None:
            if self._pull_after == 0:
                self._pull_after = None
                self.pulled = True
                if self._answer_lost:
                    self.card.execute(apdu)  # the command runs; its answer never leaves the card
                self.card.power_off()
                raise CardPulled("the card was pulled from the reader mid-command (injected)")
            self._pull_after -= 1
        return self.card.execute(apdu)


def tear_point(rng: random.Random, payload_len: int) -> int:
    """A byte count at which a write of `payload_len` changed bytes is torn.

    A journaled save writes the journal (the payload plus headers), a commit
    marker, the payload again and the marker: over twice the payload. Drawing
    below 2 × payload makes the cut always land inside the command, before or
    after the commit marker (the card then holds the old or the new data)."""
    return rng.randrange(0, max(1, 2 * payload_len))


def corrupt_card(card: FaultyCard, rng: random.Random) -> str:
    """Flip one byte (XOR a random non-zero mask) in the stored record or issue block
    of an unpowered voted card; returns which ("record[17]", "issue[3]")."""
    store = card.card.store
    image = store.peek()
    if image.record is None or image.issue_block is None:
        raise ValueError("only a voted card (issue block and record) can be corrupted")
    mask = rng.randrange(1, 256)
    if rng.random() < 0.8:
        where = rng.randrange(len(image.record))
        data = bytearray(image.record)
        data[where] ^= mask
        store.save(replace(image, record=bytes(data)))
        return f"record[{where}]"
    where = rng.randrange(len(image.issue_block))
    data = bytearray(image.issue_block)
    data[where] ^= mask
    store.save(replace(image, issue_block=bytes(data)))
    return f"issue[{where}]"


def clone_card(card: FaultyCard) -> FaultyCard:
    """A byte-for-byte copy of a card's EEPROM (serial and card key included): a cloned card."""
    store = card.card.store
    if not isinstance(store, MemoryStore):
        raise TypeError("only in-memory cards can be cloned here")
    return FaultyCard(VirtualBallotCard(store=MemoryStore(store.raw_image())), label="clone")


@dataclass(frozen=True)
class ForeignCard:
    card: FaultyCard
    origin: str  # "precinct" | "election"
    voted: bool


def foreign_card(election: Election, precinct: int, rng: random.Random, *, voted: bool,
                 master_key: bytes | None = None) -> ForeignCard:
    """A card issued for another precinct of this election (when there is one) or for
    another election, by another station (its own card master key) and, if `voted`,
    carrying a ballot sealed and signed by that precinct's terminal."""
    others = [p for p in election.precincts if p.number != precinct]
    if others and rng.random() < 0.5:
        other = rng.choice(others)
        origin, fingerprint, number, style, target = "precinct", election.fingerprint, other.number, other.style, election
    else:
        target = election.model_copy(update={"id": f"{election.id}-elsewhere"})
        style = election.precinct(precinct).style
        origin, fingerprint, number = "election", target.fingerprint, precinct
    master = master_key or rng.randbytes(16)
    card = VirtualBallotCard(serial=rng.randbytes(8), master_key=master)
    client = BallotCardClient(InProcessTransport(card))
    client.connect()
    client.select()
    block = new_issue_block(fingerprint, number, style)
    client.issue(block.pack(), master)
    if voted:
        terminal: ed25519.Ed25519PrivateKey = crypto.generate_signing_key()
        plaintext = encode_ballot(target, style, {})
        client.write_ballot(seal_ballot(block, plaintext, target.public_key, terminal).pack(), block.pack())
    client.transport.disconnect()
    return ForeignCard(FaultyCard(card, label=f"foreign-{origin}"), origin, voted)


# --- the ballot-box process -----------------------------------------------------------


class StationCrash(BaseException):
    """The simulated ballot-box process died here (a BaseException, like SystemExit,
    so no `except Exception` in the code under test can swallow it)."""

    def __init__(self, point: str) -> None:
        super().__init__(f"ballot-box process killed at {point}")
        self.point = point


class CrashSwitch:
    """The station's fault hook: `arm(point)` kills the process the next time the
    station reaches that named point."""

    def __init__(self) -> None:
        self.armed: str | None = None

    def arm(self, point: str) -> None:
        self.armed = point

    def disarm(self) -> bool:
        armed, self.armed = self.armed is not None, None
        return armed

    def __call__(self, point: str) -> None:
        if self.armed == point:
            self.armed = None
            raise StationCrash(point)
