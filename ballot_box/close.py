"""Close of polls: k shares -> election key -> decrypt and tally every ballot ->
protocol -> control relations -> station signature -> outputs (DESIGN.md §2 step 5, §7).

Order and why:

1. The shares are checked and the key rebuilt BEFORE the polls close, so a
   typo in a share does not close a station it cannot count.
2. The polls close (store.record_polls_closed: open -> closed, then the storage is
   sealed so its physical order says nothing about casting order). From here no
   ballot can be added. Running close again after a crash or a failed sealing
   resumes here: the polls are already closed; if the storage is not marked
   sealed (``storage_sealed``) it is sealed again from the start, and the count
   is simply done again (it is deterministic). Nothing is signed unless the
   storage is sealed, so a resumed close signs the very bytes an uninterrupted
   one would (the audit anchor is the ``polls_closed`` event, written once).
3. Every stored ballot is opened and decoded strictly. A ballot that does not
   open, belongs to another election/precinct/style, or decodes to something
   the ballot encoding refuses counts as *invalid* in every contest of the
   style and is listed in `ClosingResult.invalid` (receipt code + reason). It
   still counts as cast, so the control relations hold.
4. The protocol carries the counts (with cards replaced, and of those not
   handed back), the audit chain's head at the ``polls_closed`` event
   (seq + hash), so a truncated or rewritten exported log is caught against
   the posted protocol, and the commitment to the receipt list (count and
   Merkle root of the codes, sorted: the same whatever order the ballots are
   read in, so a resumed close signs the same bytes), so the published list
   cannot be changed after signing. It is validated against the definition. A
   violated relation does not stop the close (it would leave the precinct with
   no protocol and no way forward): the protocol names each one in
   `discrepancies`, is signed and written, and the commission decides (it
   refuses such a protocol by name, `discrepancy`, commission/README.md).
   (`ProtocolRefused` remains only for a station that reads a different number
   of ballots than it counts, an inconsistent read: run close again.)
   Where paper ballots were used (a signed act of receipt, or a written request
   to vote outside: `PaperLedger.used`), the count at close comes first: voting
   ends (`Station.end_voting`: closed and sealed, no shares needed), the
   commission opens the mobile box, then the stationary box, and two different
   members enter the hand count (handcount.py). Close refuses
   (`HandCountRefused`: `hand_count_missing` / `hand_count_mismatch`, nothing
   decrypted, signed or written) until their entries agree. The protocol is
   then format 4: the paper protocol (`PaperCount`: the day's ledger + the
   agreed hand count), the combined results (electronic + paper, option by
   option) and the pollbook's voter lines. A relation that fails on those
   hand-entered or pollbook figures (`paper:`, `electronic:`, `voters:`) is
   never declared: close refuses to sign (`ProtocolRefused(hand_entered=True)`,
   every failing relation named) so the members correct the count. Once voting
   has ended, the hand count and these relations are checked FIRST, before the
   shares are used (`check_hand_figures`): a count that does not add up costs
   no key rebuild and no decryption. (A close called while the polls are still
   open closes them, then refuses for want of a hand count, as before.)
5. Signed, then written by outputs.py: the signed protocol and, beside it, the
   wall copies in kk and ru (wallcopy.py). Everything signed is read from the
   storage (the sealed ballots, the counters, the ledger, the stored hand count
   entries, the `polls_closed` anchor) and Ed25519 signs deterministically, so a
   close resumed after a crash signs the very same bytes.

The private key lives only inside `close_and_sign` and is dropped on return (and,
for a moment, inside `check_share` when the k-th share is entered: rebuilt to see
that the shares are the election's, then dropped).

Shares are checked the moment they are entered (`check_share`), not when closing:
a share file of another election or key, words from another key ceremony, a split
with another threshold, the same member twice, and k shares that together rebuild
another key are each refused by name (`ShareRefusal`) before the clerk is asked to
close anything. A single typed share carries no election binding of its own (only
its split's random identifier), so words of another election are caught when they
meet a share of this one, or at the k-th share at the latest.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from sailau.election.ballot import AGAINST_ALL, BLANK, BallotEncodingError, decode_ballot
from sailau.election.paper import UNDECLARABLE_PREFIXES, combined_contests
from sailau.election.protocol import (
    AuditAnchor,
    ContestResult,
    PaperCount,
    Protocol,
    SignedProtocol,
    Violation,
    sign_protocol,
    undeclarable,
    validate_protocol,
)
from sailau.election.receipts import ReceiptCommitment, commit_receipts
from sailau.election.record import BallotDecryptionError, RecordFormatError, SealedBallot, open_ballot
from sailau.election.definition import Election
from sailau.election.styles import Mismatch, card_mismatch
from sailau.election.shares import (
    MismatchedShareError,
    Share,
    WrongElectionKeyError,
    parse_mnemonic,
    reconstruct_election_key,
)

from . import audit, store
from .audit import AuditKind
from .handcount import HandCount
from .models import PollsState
from .outputs import OutputFiles, write_outputs
from .paper import PaperLedger
from .refusal import Refusal, for_mismatch
from .results import HandCountRefused
from .store import ProtocolCounters

if TYPE_CHECKING:
    from .station import Station


class ProtocolRefused(Exception):
    """The station refuses to sign (nothing written): the ballots read do not match the
    ballots counted, or the receipt commitment does not count them (an inconsistent
    read: running close again reads again); or, with `hand_entered`, a control relation
    fails on the figures the members entered by hand (paper, mobile box, voter lines:
    the members correct the hand count, then close again). Every failing relation is
    named in `violations`."""

    def __init__(self, violations: Sequence[Violation], protocol: Protocol, *, hand_entered: bool = False) -> None:
        self.violations = tuple(violations)
        self.protocol = protocol
        self.hand_entered = hand_entered
        lines = "\n".join(f"  {v.name}: {v.message}" for v in self.violations)
        why = ("control relations fail on the figures entered by hand; correct the hand count, then close again"
               if hand_entered else "the ballots read do not match the count; run close again")
        super().__init__(f"protocol of precinct {protocol.precinct} not signed: {why}:\n{lines}")


class ShareRefusal(str, Enum):
    """Why a share was refused when entered (`check_share`)."""

    WRONG_ELECTION = "wrong_election"  # a share file of another election (id)
    WRONG_KEY = "wrong_key"  # a share file of another election public key
    OTHER_SPLIT = "other_split"  # words of another key ceremony than the shares already entered
    WRONG_THRESHOLD = "wrong_threshold"  # a split that needs another k than this election's ceremony
    DUPLICATE = "duplicate"  # this member's share is already entered
    REBUILDS_OTHER_KEY = "rebuilds_other_key"  # with it, k shares rebuild a key that is not the election's


class ShareRefused(Exception):
    """A share refused at entry: `reason`, the member `index` it claims (1..n), and for
    WRONG_THRESHOLD the split's `k`. Nothing was added."""

    def __init__(self, reason: ShareRefusal, index: int, message: str, *, k: int | None = None) -> None:
        super().__init__(message)
        self.reason, self.index, self.k = reason, index, k


@dataclass(frozen=True)
class ShareEntry:
    """What `check_share` learned of an accepted share."""

    index: int  # the member's number, 1..n
    k: int  # shares the split needs


def check_share(election: Election, entered: Sequence[Share | str], new: Share | str) -> ShareEntry:
    """Check one share (a share file's `Share` or typed words) against the election and
    the shares already `entered`, the moment it is entered. Raises `ShareRefused` (by
    name, nothing added) or a `ShareError` for words that are not a share at all.

    With this share k are in: they are combined once to see that they rebuild THIS
    election's key, and the key is dropped at once.
    """
    if isinstance(new, Share):
        if new.election_id != election.id:
            raise ShareRefused(ShareRefusal.WRONG_ELECTION, new.index,
                               f"share {new.index} is for election {new.election_id!r}, not {election.id!r}")
        if new.election_public_key != election.public_key:
            raise ShareRefused(ShareRefusal.WRONG_KEY, new.index,
                               f"share {new.index} is for another election public key "
                               f"({new.election_public_key.hex()[:16]}...)")
        parsed = parse_mnemonic(new.mnemonic, f"share {new.index}")
    else:
        parsed = parse_mnemonic(new, "typed share")
    index, k = parsed.index + 1, parsed.member_threshold
    ceremony = election.key_ceremony
    if ceremony is not None and k != ceremony.threshold:
        raise ShareRefused(ShareRefusal.WRONG_THRESHOLD, index,
                           f"share {index} is of a split that needs {k} shares; this election's needs "
                           f"{ceremony.threshold}", k=k)
    for other in entered:
        theirs = parse_mnemonic(other.mnemonic if isinstance(other, Share) else other)
        if theirs.common_parameters() != parsed.common_parameters() or theirs.member_threshold != k:
            raise ShareRefused(ShareRefusal.OTHER_SPLIT, index,
                               f"share {index} comes from another key ceremony than the shares entered")
        if theirs.index == parsed.index:
            raise ShareRefused(ShareRefusal.DUPLICATE, index, f"share {index} is already entered")
    if len(entered) + 1 == k:
        try:
            key = reconstruct_election_key([*entered, new], election.public_key, election.id)
        except (WrongElectionKeyError, MismatchedShareError) as exc:
            raise ShareRefused(ShareRefusal.REBUILDS_OTHER_KEY, index,
                               f"with share {index} the shares rebuild another key: {exc}") from None
        del key
    return ShareEntry(index, k)


@dataclass(frozen=True)
class InvalidBallot:
    receipt_code: str
    reason: str  # "does_not_open", "wrong_election", "wrong_precinct", "malformed", or a ballot.Reason value
    message: str


@dataclass(frozen=True)
class Tally:
    contests: tuple[ContestResult, ...]
    receipt_codes: tuple[str, ...]  # in random-id order (not casting order)
    invalid: tuple[InvalidBallot, ...]


@dataclass(frozen=True)
class ClosingResult:
    signed: SignedProtocol
    counters: ProtocolCounters
    invalid: tuple[InvalidBallot, ...]
    files: OutputFiles | None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def protocol(self) -> Protocol:
        return self.signed.protocol

    @property
    def outstanding(self) -> int:
        """Cards issued that were neither cast nor cancelled (out with voters, or never written)."""
        return self.counters.outstanding


def tally(station: Station, private_key: object) -> Tally:
    """Open, decode and count every stored ballot of the station."""
    election, style = station.election, station.style
    contests = election.contests_for_style(style)
    votes = {c.id: {o.id: 0 for o in election.options(c.id)} for c in contests}
    other = {c.id: {"against_all": 0, "blank": 0, "invalid": 0} for c in contests}
    codes: list[str] = []
    invalid: list[InvalidBallot] = []
    for stored in store.ballots(station.db):
        try:
            sealed = SealedBallot.parse(stored.sealed)
        except RecordFormatError as exc:
            code = "UNREADABLE-" + stored.id.hex()[:8]
            invalid.append(InvalidBallot(code, "malformed", str(exc)))
            codes.append(code)
            _count_invalid(other)
            continue
        codes.append(sealed.receipt_code)
        problem = _check_sealed(station, sealed, stored.style_code)
        selections = None
        if problem is None:
            try:
                selections = decode_ballot(election, style, open_ballot(sealed, private_key))  # type: ignore[arg-type]
            except BallotDecryptionError as exc:
                problem = ("does_not_open", str(exc))
            except BallotEncodingError as exc:
                problem = (str(exc.reason), str(exc))
        if selections is None:
            assert problem is not None
            invalid.append(InvalidBallot(sealed.receipt_code, problem[0], problem[1]))
            _count_invalid(other)
            continue
        for cid, choice in selections.items():
            if choice is BLANK:
                other[cid]["blank"] += 1
            elif choice is AGAINST_ALL:
                other[cid]["against_all"] += 1
            else:
                votes[cid][choice] += 1  # type: ignore[index]
    results = tuple(ContestResult(cid, votes[cid], **other[cid]) for cid in votes)
    return Tally(results, tuple(codes), tuple(invalid))


def _count_invalid(other: dict[str, dict[str, int]]) -> None:
    for counts in other.values():
        counts["invalid"] += 1


_MISMATCH_DETAIL = {
    Mismatch.WRONG_ELECTION: "sealed ballot names another election fingerprint",
    Mismatch.WRONG_PRECINCT: "sealed ballot is for precinct {precinct}",
    Mismatch.WRONG_STYLE: "sealed ballot is of style {style}/{code}, the precinct's is {ours}",
}


def _check_sealed(station: Station, sealed: SealedBallot, style_code: int) -> tuple[str, str] | None:
    """The membership rule (election.styles) for a stored ballot, which states its style
    twice (sealed bytes, stored row); the reason is the station's refusal code."""
    mismatch = card_mismatch(station.ballot, sealed.fingerprint, sealed.precinct, sealed.style, style_code)
    refusal = for_mismatch(mismatch)
    if mismatch is None or refusal is None:
        return None
    detail = _MISMATCH_DETAIL[mismatch].format(precinct=sealed.precinct, style=sealed.style, code=style_code,
                                               ours=station.style)
    return refusal.value, detail


def closing_anchor(station: Station) -> AuditAnchor:
    """The audit chain at its ``polls_closed`` event: the head the protocol carries.

    That event, not the live head, so a close re-run after a crash signs the same
    bytes; anything chained after it is outside the protocol's anchor.
    """
    event = audit.last_of_kind(station.db, AuditKind.POLLS_CLOSED)
    if event is None:  # pragma: no cover - record_polls_closed always chains it before counting
        raise store.StoreError("the polls are closed but the audit chain has no polls_closed event")
    return AuditAnchor(seq=event.seq, hash=event.hash)


def paper_count(ledger: PaperLedger, hand: HandCount) -> PaperCount:
    """The paper protocol: what the station recorded during the day (received by the signed
    acts of receipt, issued in the station and outside, spoiled, written requests) and
    what the members counted by hand at close (unused, found in the boxes, the results)."""
    return PaperCount(received=ledger.received, issued_in_station=ledger.issued_in_station,
                      issued_outside=ledger.issued_outside, spoiled=ledger.spoiled, unused=hand.unused,
                      mobile_requests=ledger.requests, found_stationary=hand.found_stationary,
                      found_mobile=hand.found_mobile, contests=hand.contests)


def agreed_hand_count(station: Station, ledger: PaperLedger) -> HandCount | None:
    """The hand count close signs with: None where no paper was used (no receipt, no written
    request); else the count two different members entered alike, or `HandCountRefused`
    (HAND_COUNT_MISSING: fewer than two entries; HAND_COUNT_MISMATCH: they differ, the
    state names the lines). Nothing is signed or written then."""
    if not ledger.used:
        return None
    state = station.hand_count()
    if state.agreed is not None:
        return state.agreed
    if state.differences:
        lines = ", ".join(d.line_key for d in state.differences)
        raise HandCountRefused(Refusal.HAND_COUNT_MISMATCH, f"the hand count entries differ on {len(state.differences)} "
                               f"line(s) ({lines}): count them again; nothing was signed", state)
    hint = "" if station.members() else " (no commission members are loaded: sailau station init --members FILE)"
    raise HandCountRefused(Refusal.HAND_COUNT_MISSING, f"paper ballots were used: two different members must enter the "
                           f"hand count ({len(state.entries)} entered{hint}); nothing was signed", state)


def build_protocol(station: Station, counters: ProtocolCounters, results: Sequence[ContestResult],
                   anchor: AuditAnchor | None = None, receipts: ReceiptCommitment | None = None,
                   ledger: PaperLedger | None = None, hand: HandCount | None = None) -> Protocol:
    """The format-4 protocol: the counters, the electronic tally combined with the paper
    protocol (when a hand count is given), the pollbook's voter lines from the ledger."""
    definition = station.election.precinct(station.precinct)
    paper = None if ledger is None or hand is None else paper_count(ledger, hand)
    return Protocol(
        election_id=station.election.id,
        election_fingerprint=station.election.fingerprint_hex,
        precinct=station.precinct,
        region=definition.region,
        district=definition.district,
        voters_on_list=counters.on_list,
        voters_checked_in=counters.checked_in,
        cards_issued=counters.issued,
        ballots_cast=counters.cast,
        cards_cancelled=counters.cancelled,
        cards_replaced=counters.replaced,
        cards_not_returned=counters.not_returned,
        contests=combined_contests(results, paper),
        audit=anchor,
        receipts=receipts,
        voters_additional=0 if ledger is None else ledger.voters_additional,
        voters_paper=0 if ledger is None else ledger.voters_paper,
        voters_outside=0 if ledger is None else ledger.voters_outside,
        paper=paper,
    )


def check_hand_figures(station: Station, counters: ProtocolCounters, ledger: PaperLedger) -> HandCount | None:
    """The agreed hand count (`agreed_hand_count`), and the relations on the figures the
    members entered and the pollbook's voter lines (every `paper:` and `voters:` relation),
    checked once voting has ended and BEFORE the shares are used: a hand count that does
    not add up is refused (`HandCountRefused`, or `ProtocolRefused` with `hand_entered`,
    every failing relation named) without rebuilding the election key or decrypting a
    ballot, so the members correct it and the trustees' shares are not spent on it.
    These relations read no card ballot: the draft has no tally, and the card relations
    it breaks for that reason are not looked at. close_and_sign checks the whole signed
    protocol again after the tally."""
    hand = agreed_hand_count(station, ledger)
    if hand is None:
        return None
    draft = build_protocol(station, counters, (), ledger=ledger, hand=hand)
    failing = [v for v in validate_protocol(draft, station.election) if v.name.startswith(UNDECLARABLE_PREFIXES)]
    if failing:
        raise ProtocolRefused(failing, draft, hand_entered=True)
    return hand


def with_discrepancies(protocol: Protocol, violations: Sequence[Violation]) -> Protocol:
    """The protocol naming the relations it violates (none: unchanged)."""
    names = tuple(sorted({v.name for v in violations}))
    return replace(protocol, discrepancies=names) if names else protocol


def close_and_sign(station: Station, shares: Sequence[Share | str], out_dir: str | Path | None = None) -> ClosingResult:
    """Close, count, validate, sign and (if `out_dir`) write the outputs. See the module doc."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if store.station_info(station.db).state is PollsState.CLOSED:  # voting ended: the hand count comes first
        check_hand_figures(station, store.counters(station.db), station.paper_ledger())
    private_key = reconstruct_election_key(list(shares), station.election.public_key, station.election.id)
    timings["key"] = time.perf_counter() - t0
    info = store.station_info(station.db)
    if info.state is PollsState.OPEN:
        store.record_polls_closed(station.db)  # closes, then seals (SealingFailed leaves it closed, unsealed)
    elif info.state is not PollsState.CLOSED:
        raise store.WrongPollsState("close the polls", info.state, (PollsState.OPEN, PollsState.CLOSED))
    elif not info.storage_sealed:
        store.seal_storage(station.db)  # a close that failed or died while sealing: seal again
    timings["close"] = time.perf_counter() - t0 - timings["key"]
    ledger = station.paper_ledger()
    try:
        hand = agreed_hand_count(station, ledger)  # before decrypting: the members count the paper first
    except HandCountRefused:
        del private_key
        raise
    t1 = time.perf_counter()
    counted = tally(station, private_key)
    del private_key
    counters = store.counters(station.db)
    timings["decrypt_tally"] = time.perf_counter() - t1
    protocol = build_protocol(station, counters, counted.contests, closing_anchor(station),
                              commit_receipts(counted.receipt_codes), ledger, hand)
    if len(counted.receipt_codes) != counters.cast:
        raise ProtocolRefused([Violation("ballots==cast", f"{len(counted.receipt_codes)} ballots read, "
                                                          f"{counters.cast} counted as cast")], protocol)
    violations = validate_protocol(protocol, station.election)
    own = [v for v in violations if undeclarable(v.name)]  # never declared: corrected, or read again
    hand_entered = [v for v in own if v.name.startswith(UNDECLARABLE_PREFIXES)]
    if hand_entered:  # the members correct the hand count (or the day's paper records) and close again
        raise ProtocolRefused(hand_entered, protocol, hand_entered=True)
    if own:
        raise ProtocolRefused(own, protocol)
    protocol = with_discrepancies(protocol, violations)
    if not store.station_info(station.db).storage_sealed:  # checked right before anything is signed
        raise store.SealingFailed("the storage is not sealed: nothing was signed. Run close again")
    signed = sign_protocol(protocol, station.station_key, station.election)
    files = None
    if out_dir is not None:
        t2 = time.perf_counter()
        files = write_outputs(Path(out_dir), signed, station.election, counted.receipt_codes,
                              invalid=[i.reason for i in counted.invalid], members=station.members())
        timings["outputs"] = time.perf_counter() - t2
    timings["total"] = time.perf_counter() - t0
    return ClosingResult(signed, counters, counted.invalid, files, timings)
