"""ElectionGuard (PyPI `electionguard` 1.4.0) as the benchmark peer: the same
ballots encrypted and tallied by Sailau and by ElectionGuard, side by side.

ElectionGuard 1.4.0 does not import on Python 3.11: `electionguard.elgamal`
declares dataclasses with `eq=True` (so `__hash__ = None`), and another module
uses an ElGamalCiphertext instance as a field default, which 3.11's dataclasses
refuse as "mutable". `load_electionguard()` works around it (DESIGN.md §8):
register a bare package module for `electionguard`, import
`electionguard.elgamal`, give its dataclasses back `object.__hash__`, then run
the package's own `__init__`. The shim lives here and nowhere else.

What is compared (one key, no guardians' threshold ceremony on either side):

- encrypt: Sailau's terminal encodes, HPKE-seals and Ed25519-signs a ballot;
  ElectionGuard encrypts every selection with exponential ElGamal and proves it
  (disjunctive Chaum-Pedersen per selection, constant proof per contest);
- tally: Sailau opens each stored ballot with the election key and counts;
  ElectionGuard adds the ciphertexts homomorphically (checking each ballot's
  proofs, as its tally does) and decrypts one total per selection.

The designs differ on purpose (ElectionGuard makes every ballot's validity and
the tally publicly verifiable; Sailau trusts the ballot box during voting
hours and verifies the signed protocol), so the ratio is what each property
costs, not a contest. Installing the peer: `pip install --no-deps
electionguard==1.4.0 gmpy2 dacite psutil` (its metadata pins pydantic 1.9,
which Sailau's pydantic 2 excludes; the modules used here run on pydantic 2).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import logging
import statistics
import sys
import time
import types
import warnings
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

from sailau.election import crypto
from sailau.election.ballot import AGAINST_ALL, BLANK, SelectionsInput, decode_ballot, encode_ballot
from sailau.election.definition import Election
from sailau.election.record import SealedBallot, new_issue_block, open_ballot, seal_ballot

INSTALL_HINT = "pip install --no-deps electionguard==1.4.0 gmpy2 dacite psutil"
AGAINST_ALL_ID = "against-all"


class PeerNotInstalled(ImportError):
    """The optional peer package is not installed (not an error for `sailau bench`)."""


class PeerMismatch(RuntimeError):
    """Sailau and the peer tallied the same ballots differently (then nothing is measured)."""


def electionguard_installed() -> bool:
    return importlib.util.find_spec("electionguard") is not None


def load_electionguard() -> types.ModuleType:
    """Import ElectionGuard 1.4.0 on Python 3.11+ through the shim; idempotent."""
    loaded = sys.modules.get("electionguard")
    if loaded is not None and hasattr(loaded, "encrypt"):
        return loaded
    spec = importlib.util.find_spec("electionguard")
    if spec is None or spec.loader is None:
        raise PeerNotInstalled(f"peer not installed: ElectionGuard ({INSTALL_HINT})")
    for name in [n for n in sys.modules if n == "electionguard" or n.startswith("electionguard.")]:
        del sys.modules[name]  # a half-done plain import leaves broken submodules behind
    package = importlib.util.module_from_spec(spec)
    sys.modules["electionguard"] = package  # bare package: submodules import without __init__
    try:
        elgamal = importlib.import_module("electionguard.elgamal")
        for value in vars(elgamal).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value)
                    and value.__module__ == elgamal.__name__ and value.__hash__ is None):
                value.__hash__ = object.__hash__  # type: ignore[method-assign]
        with warnings.catch_warnings():  # pydantic 2 warns about the v1 helpers it imports
            warnings.simplefilter("ignore", DeprecationWarning)
            spec.loader.exec_module(package)
        # It logs every ballot's plaintext nonces and ciphertexts at INFO to stdout.
        logging.getLogger("electionguard").setLevel(logging.WARNING)
    except BaseException:
        for name in [n for n in sys.modules if n == "electionguard" or n.startswith("electionguard.")]:
            del sys.modules[name]
        raise
    return package


# --- the same ballots on both sides ---------------------------------------------------


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p95_ms: float
    total_s: float


def _timing(samples_s: list[float]) -> Timing:
    ms = sorted(s * 1000 for s in samples_s)
    return Timing(statistics.median(ms), ms[min(len(ms) - 1, int(0.95 * len(ms)))], sum(samples_s))


@dataclass(frozen=True)
class PeerComparison:
    """Per-ballot encryption and whole-tally times of both systems over `ballots` ballots."""

    ballots: int
    selections_per_ballot: int
    sailau_encrypt: Timing
    peer_encrypt: Timing
    sailau_tally_s: float
    peer_tally_s: float
    counts: dict[str, dict[str, int]]

    @property
    def encrypt_ratio(self) -> float:
        """ElectionGuard time / Sailau time per ballot (median)."""
        return self.peer_encrypt.median_ms / self.sailau_encrypt.median_ms

    @property
    def tally_ratio(self) -> float:
        return self.peer_tally_s / self.sailau_tally_s


def _choice_id(choice: object) -> str | None:
    if choice is BLANK or choice is None:
        return None
    if choice is AGAINST_ALL:
        return AGAINST_ALL_ID
    return str(choice)


def sailau_counts(election: Election, style: int, ballots: list[SelectionsInput]) -> dict[str, dict[str, int]]:
    """Expected per-contest counts of the intended ballots (blank contests count nowhere)."""
    contests = election.contests_for_style(style)
    out: dict[str, Counter[str]] = {c.id: Counter() for c in contests}
    for selections in ballots:
        for c in contests:
            cid = _choice_id(selections.get(c.id))  # type: ignore[union-attr]
            if cid is not None:
                out[c.id][cid] += 1
    return {k: dict(v) for k, v in out.items()}


def _sailau_side(election: Election, precinct: int, ballots: list[SelectionsInput]
                 ) -> tuple[list[float], float, dict[str, dict[str, int]]]:
    """Seal each ballot as the terminal does, then open and count them as close of polls does."""
    style = election.precinct(precinct).style
    key = crypto.ElectionKeyPair.generate()
    terminal_key = crypto.generate_signing_key()
    stored: list[SealedBallot] = []
    enc_times: list[float] = []
    for selections in ballots:
        block = new_issue_block(election.fingerprint, precinct, style)
        t0 = time.perf_counter()
        record = seal_ballot(block, encode_ballot(election, style, selections), key.public_key_bytes, terminal_key)
        enc_times.append(time.perf_counter() - t0)
        stored.append(SealedBallot.from_record(block, record))
    contests = election.contests_for_style(style)
    counts: dict[str, Counter[str]] = {c.id: Counter() for c in contests}
    t0 = time.perf_counter()
    for sealed in stored:
        for cid, choice in decode_ballot(election, style, open_ballot(sealed, key.private_key)).items():
            chosen = _choice_id(choice)
            if chosen is not None:
                counts[cid][chosen] += 1
    tally_s = time.perf_counter() - t0
    return enc_times, tally_s, {k: dict(v) for k, v in counts.items()}


def _manifest(eg: types.ModuleType, election: Election, style: int):  # noqa: ANN202 (peer types)
    """The precinct's ballot style as an ElectionGuard manifest: one 1-of-m contest per
    Sailau contest, one selection per option and one for "against all"."""
    from electionguard.manifest import (
        BallotStyle,
        Candidate,
        ContestDescription,
        ElectionType,
        GeopoliticalUnit,
        Manifest,
        ReportingUnitType,
        SelectionDescription,
        SpecVersion,
        VoteVariationType,
    )

    candidates: list[Candidate] = []
    contests = []
    for order, contest in enumerate(election.contests_for_style(style)):
        ids = [o.id for o in election.options(contest.id)] + ([AGAINST_ALL_ID] if contest.against_all else [])
        selections = []
        for s_order, option_id in enumerate(ids):
            candidate_id = f"{contest.id}/{option_id}"
            candidates.append(Candidate(candidate_id))
            selections.append(SelectionDescription(candidate_id, s_order, candidate_id))
        contests.append(ContestDescription(contest.id, order, "precinct", VoteVariationType.one_of_m, 1, 1,
                                           contest.id, selections))
    now = datetime.now(timezone.utc)
    return Manifest(
        election.id, SpecVersion.EG0_95, ElectionType.general, now, now,
        [GeopoliticalUnit("precinct", "precinct", ReportingUnitType.precinct)], [], candidates, contests,
        [BallotStyle("style", ["precinct"])],
    )


def _peer_side(election: Election, precinct: int, ballots: list[SelectionsInput]
               ) -> tuple[list[float], float, dict[str, dict[str, int]], int]:
    eg = load_electionguard()
    from electionguard.ballot import PlaintextBallot, PlaintextBallotContest, PlaintextBallotSelection
    from electionguard.ballot_box import cast_ballot
    from electionguard.election import make_ciphertext_election_context
    from electionguard.elgamal import elgamal_keypair_random
    from electionguard.encrypt import encrypt_ballot
    from electionguard.group import rand_q
    from electionguard.hash import hash_elems
    from electionguard.manifest import InternalManifest
    from electionguard.scheduler import Scheduler
    from electionguard.tally import CiphertextTally

    style = election.precinct(precinct).style
    manifest = _manifest(eg, election, style)
    internal = InternalManifest(manifest)
    keypair = elgamal_keypair_random()
    context = make_ciphertext_election_context(1, 1, keypair.public_key, hash_elems(rand_q()), internal.manifest_hash)
    seed = hash_elems(rand_q())
    contests = election.contests_for_style(style)
    enc_times: list[float] = []
    cast = []
    for i, selections in enumerate(ballots):
        plain_contests = []
        for c in contests:
            chosen = _choice_id(selections.get(c.id))  # type: ignore[union-attr]
            marks = [] if chosen is None else [PlaintextBallotSelection(f"{c.id}/{chosen}", 1)]
            plain_contests.append(PlaintextBallotContest(c.id, marks))
        plaintext = PlaintextBallot(f"ballot-{i}", "style", plain_contests)
        t0 = time.perf_counter()
        encrypted = encrypt_ballot(plaintext, internal, context, seed)
        enc_times.append(time.perf_counter() - t0)
        if encrypted is None:
            raise PeerMismatch(f"ElectionGuard refused to encrypt ballot {i}")
        seed = encrypted.code
        cast.append(cast_ballot(encrypted))
    t0 = time.perf_counter()
    tally = CiphertextTally("bench", internal, context)
    # One set of worker pools for the whole tally; without it `append` opens (and
    # leaks) a process pool per ballot.
    scheduler = Scheduler()
    try:
        for submitted in cast:
            if not tally.append(submitted, True, scheduler):
                raise PeerMismatch(f"ElectionGuard's tally refused ballot {submitted.object_id}")
    finally:
        scheduler.close()
    counts: dict[str, dict[str, int]] = {}
    for cid, contest in tally.contests.items():
        per = {}
        for sel_id, selection in contest.selections.items():
            value = selection.ciphertext.decrypt(keypair.secret_key)
            if value:
                per[sel_id.split("/", 1)[1]] = value
        counts[cid] = per
    tally_s = time.perf_counter() - t0
    n_selections = sum(len(c.ballot_selections) + c.number_elected for c in internal.contests)
    return enc_times, tally_s, counts, n_selections


def compare_with_electionguard(election: Election, precinct: int, ballots: list[SelectionsInput]) -> PeerComparison:
    """Encrypt and tally `ballots` on both sides; the counts must agree with the intent.

    Raises PeerNotInstalled (no peer), PeerMismatch (a side counted wrong)."""
    if not ballots:
        raise ValueError("compare_with_electionguard needs at least one ballot")
    load_electionguard()
    expected = sailau_counts(election, election.precinct(precinct).style, ballots)
    s_enc, s_tally, s_counts = _sailau_side(election, precinct, ballots)
    p_enc, p_tally, p_counts, n_selections = _peer_side(election, precinct, ballots)
    if s_counts != expected:
        raise PeerMismatch(f"Sailau counted {s_counts}, the ballots say {expected}")
    if p_counts != expected:
        raise PeerMismatch(f"ElectionGuard counted {p_counts}, the ballots say {expected}")
    return PeerComparison(len(ballots), n_selections, _timing(s_enc), _timing(p_enc), s_tally, p_tally, expected)
