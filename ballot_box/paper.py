"""Paper ballots at the table: the acts of receipt, the counters, the exchange of a spoiled one.

Where Sailau was used, voters chose an electronic ballot (a card) or a paper one
(issue 13). The station keeps, for paper, only counters (`paper_counts`, one row
per `PaperKind`) and the pollbook's form flag (`voters.ballot_form`): nothing
that links a voter to a ballot, no time. The figures (`PaperLedger`):

    received            sum of the signed acts of receipt (`receive`)
    issued_in_station   voters handed a paper ballot at check-in (pollbook.check_in, one each)
    spoiled             spoiled ballots cancelled: exchanged at the table (`exchange`) or
                        brought back spoiled by a mobile team (mobile.py)
    mobile_taken        ballots the mobile teams took out (every trip, back or not)
    mobile_unused       of those, brought back unused
    issued_outside      of those, handed to voters outside (one per voter marked OUTSIDE)
    out_with_teams      taken by the teams that are still out
    in_hand             left at the table

and the law that holds after every step (the store refuses the step that would
break it, `Refusal.NO_PAPER_LEFT`, `Refusal.MOBILE_COUNTS_MISMATCH`):

    received = issued_in_station + issued_outside + spoiled + in_hand + out_with_teams,
    every figure >= 0.

At close the unused ballots are counted by hand (the hand count, handcount.py):
the expected figure is `in_hand`.

The act of receipt (`PaperReceiptAct`): who handed how many paper ballots to which
member of the commission, when (the precinct's local time, Asia/Almaty unless the
election says otherwise), signed with the station key as the small canonical JSON
file `RECEIPT_ACT_FORMAT`, written to the out dir as ``paper-receipt-<seq>.json``.

Lock order (store.py): station_state (share; exclusive for an act of receipt,
which numbers it) -> voter row -> paper_counts rows (FOR UPDATE) -> audit head. Every step is one transaction: a crash before its
COMMIT leaves nothing, after it everything (counter, act, audit event).
"""

from __future__ import annotations

import datetime as dt
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sailau.election import crypto, jsonfile
from sailau.election.canonical import canonical_json
from sailau.election.definition import Election
from sailau.election.turnout import election_time_zone

from . import audit
from .audit import AuditDraft, AuditKind
from .db import StationDB
from .iin import validate_iin
from .models import (
    BallotForm,
    MobileRequestRow,
    MobileRequestState,
    PaperKind,
    PaperReceiptRow,
    PollsState,
    VoterRow,
)
from .refusal import Refusal, Refused
from .pollbook import VoterNotFound
from .store import bump_paper, paper_counts, paper_in_hand, require_state, require_state_exclusive

__all__ = [
    "EntryError",
    "MAX_NAME",
    "MAX_PAPER_COUNT",
    "PaperLedger",
    "PaperReceiptAct",
    "RECEIPT_ACT_FORMAT",
    "ReceiptActError",
    "clean_text",
    "exchange",
    "ledger",
    "local_time",
    "read_receipt_act",
    "receipt_acts",
    "receive",
]

RECEIPT_ACT_FORMAT = "sailau/paper-receipt-act"
RECEIPT_ACT_VERSION = 1
#: a precinct has at most a few thousand voters; one act is never more than this
MAX_PAPER_COUNT = 100_000
#: a person's name or an organisation as typed by the clerk
MAX_NAME = 200
#: a signed act is a few hundred bytes
MAX_RECEIPT_ACT_BYTES = 16 * 1024


class EntryError(ValueError):
    """What the clerk typed cannot be used (an empty name, a count out of range...):
    nothing was recorded. The text says what to fix."""


class ReceiptActError(ValueError):
    """A paper-receipt act file is malformed, too large, or its signature does not verify."""


def clean_text(value: object, what: str, *, limit: int = MAX_NAME, required: bool = True) -> str:
    """A typed name or reason: NFC, whitespace collapsed, no control characters, bounded."""
    if not isinstance(value, str):
        raise EntryError(f"{what} must be text")
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if required and not text:
        raise EntryError(f"{what} is empty")
    if len(text) > limit:
        raise EntryError(f"{what} is longer than {limit} characters")
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise EntryError(f"{what} contains control characters")
    return text


def check_count(value: object, what: str, *, minimum: int = 0) -> int:
    """A typed count: an integer in [minimum, MAX_PAPER_COUNT]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EntryError(f"{what} must be a whole number")
    if not minimum <= value <= MAX_PAPER_COUNT:
        raise EntryError(f"{what} must be between {minimum} and {MAX_PAPER_COUNT}, got {value}")
    return value


def local_time(db: StationDB, election: Election, now: dt.datetime | None = None) -> str:
    """`now` (default: the station's clock) in the precinct's time zone, ISO to the second with offset."""
    moment = db.clock() if now is None else now
    if moment.tzinfo is None:
        raise EntryError("the time must carry its UTC offset")
    return moment.astimezone(ZoneInfo(election_time_zone(election))).replace(microsecond=0).isoformat()


# --- the ledger ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperLedger:
    """The paper figures as the station recorded them (see the module doc for each)."""

    received: int = 0
    issued_in_station: int = 0
    issued_outside: int = 0
    spoiled: int = 0  # exchanged at the table + brought back spoiled by the teams
    mobile_taken: int = 0
    mobile_unused: int = 0
    in_hand: int = 0
    requests: int = 0  # written requests to vote outside, not withdrawn
    voters_paper: int = 0  # pollbook: voters marked PAPER
    voters_outside: int = 0  # pollbook: voters marked OUTSIDE
    voters_additional: int = 0  # pollbook: voters on the additional list
    mobile_spoiled: int = 0  # of `spoiled`, brought back by the teams
    out_with_teams: int = 0  # taken by teams still out

    @property
    def used(self) -> bool:
        """Whether this precinct used paper at all (a receipt, or a request to vote outside)."""
        return self.received > 0 or self.requests > 0

    def balances(self) -> bool:
        """received = issued in station + outside + spoiled + in hand + out with teams, none negative."""
        parts = (self.issued_in_station, self.issued_outside, self.spoiled, self.in_hand, self.out_with_teams)
        return all(p >= 0 for p in (self.received, *parts)) and self.received == sum(parts)


def ledger_of(session: Session) -> PaperLedger:
    """The ledger, read inside the caller's transaction (one snapshot)."""
    c = paper_counts(session)
    forms = dict(session.execute(select(VoterRow.ballot_form, func.count()).group_by(VoterRow.ballot_form)).all())
    additional = session.scalar(select(func.count()).select_from(VoterRow).where(VoterRow.additional.is_(True))) or 0
    requests = session.scalar(select(func.count()).select_from(MobileRequestRow).where(
        MobileRequestRow.state != MobileRequestState.WITHDRAWN.value)) or 0
    spoiled = c[PaperKind.SPOILED] + c[PaperKind.MOBILE_SPOILED]
    out = (c[PaperKind.MOBILE_TAKEN] - c[PaperKind.MOBILE_UNUSED] - c[PaperKind.MOBILE_SPOILED]
           - c[PaperKind.ISSUED_OUTSIDE])
    return PaperLedger(
        received=c[PaperKind.RECEIVED], issued_in_station=c[PaperKind.ISSUED_IN_STATION],
        issued_outside=c[PaperKind.ISSUED_OUTSIDE], spoiled=spoiled, mobile_taken=c[PaperKind.MOBILE_TAKEN],
        mobile_unused=c[PaperKind.MOBILE_UNUSED], in_hand=paper_in_hand(c), requests=requests,
        voters_paper=forms.get(BallotForm.PAPER.value, 0), voters_outside=forms.get(BallotForm.OUTSIDE.value, 0),
        voters_additional=additional, mobile_spoiled=c[PaperKind.MOBILE_SPOILED], out_with_teams=out,
    )


def ledger(db: StationDB) -> PaperLedger:
    """The paper figures, read in one snapshot."""
    with db.read() as session:
        return ledger_of(session)


def refuse(db: StationDB, kind: AuditKind, step: str, reason: Refusal) -> Refused:
    """Chain the refusal (its own transaction: the step's changed nothing) and return the error to raise."""
    audit.record(db, AuditDraft(kind, {"step": step, "reason": reason.value}))
    return Refused(reason)


# --- the act of receipt ------------------------------------------------------------------------


@dataclass(frozen=True)
class PaperReceiptAct:
    """One signed act of receipt of paper ballots (module doc). `signed` is the file's
    exact bytes: canonical JSON of {format, version, act, station_key_id, public_key,
    signature}, the signature over the canonical bytes of `act`."""

    seq: int
    count: int
    from_whom: str
    received_by: str
    received_at: str  # local ISO time with offset
    election_id: str
    precinct: int
    signed: bytes

    @property
    def file_name(self) -> str:
        return f"paper-receipt-{self.seq}.json"

    def write(self, out_dir: str | os.PathLike[str]) -> Path:
        """Write the signed act into `out_dir` (created if needed) as `file_name`; the same
        bytes again are no change (the act is stored, so writing after a crash is safe)."""
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self.file_name
        if path.is_file() and path.read_bytes() == self.signed:
            return path
        partial = path.with_name(path.name + ".part")
        with open(partial, "wb") as handle:
            handle.write(self.signed)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
        return path


def _act_data(election: Election, precinct: int, seq: int, count: int, from_whom: str, received_by: str,
              received_at: str) -> dict[str, Any]:
    return {"election_id": election.id, "election_fingerprint": election.fingerprint_hex, "precinct": precinct,
            "seq": seq, "count": count, "from_whom": from_whom, "received_by": received_by,
            "received_at": received_at, "time_zone": election_time_zone(election)}


def _sign_act(act: dict[str, Any], key: ed25519.Ed25519PrivateKey) -> bytes:
    public = crypto.ed25519_public_bytes(key.public_key())
    return canonical_json({"format": RECEIPT_ACT_FORMAT, "version": RECEIPT_ACT_VERSION, "act": act,
                           "station_key_id": crypto.key_id(public).hex(), "public_key": public.hex(),
                           "signature": crypto.sign(key, canonical_json(act)).hex()})


_ACT_KEYS = {"election_id", "election_fingerprint", "precinct", "seq", "count", "from_whom", "received_by",
             "received_at", "time_zone"}


def read_receipt_act(raw: bytes, subject: str = "paper receipt act") -> PaperReceiptAct:
    """Parse a signed act strictly (bounded, canonical, every key present and typed) and
    verify its signature under the key it carries (whose key the caller compares with
    the station's). ReceiptActError names what is wrong."""
    try:
        data = jsonfile.parse_headed(raw, subject, RECEIPT_ACT_FORMAT, RECEIPT_ACT_VERSION,
                                     max_bytes=MAX_RECEIPT_ACT_BYTES, what="a paper receipt act")
    except jsonfile.InputError as exc:
        raise ReceiptActError(str(exc)) from None
    if set(data) != {"format", "version", "act", "station_key_id", "public_key", "signature"}:
        raise ReceiptActError(f"{subject}: keys {sorted(data)} are not those of a paper receipt act")
    act = data["act"]
    if not isinstance(act, dict) or set(act) != _ACT_KEYS:
        raise ReceiptActError(f"{subject}: the act must hold exactly {sorted(_ACT_KEYS)}")
    for name in ("seq", "count", "precinct"):
        if isinstance(act[name], bool) or not isinstance(act[name], int) or act[name] < 0:
            raise ReceiptActError(f"{subject}: {name} must be a whole number >= 0")
    for name in _ACT_KEYS - {"seq", "count", "precinct"}:
        if not isinstance(act[name], str):
            raise ReceiptActError(f"{subject}: {name} must be text")
    if bytes(raw) != canonical_json(data):
        raise ReceiptActError(f"{subject}: not in canonical form (the file was edited)")
    try:
        key_id, public, signature = (bytes.fromhex(data[k]) for k in ("station_key_id", "public_key", "signature"))
        crypto.verify_enclosed(key_id, public, signature, canonical_json(act))
    except (TypeError, ValueError) as exc:
        raise ReceiptActError(f"{subject}: the signature does not verify ({exc})") from None
    except Exception as exc:  # crypto's own errors (SignatureError, KeyIdMismatch, KeyFormatError)
        raise ReceiptActError(f"{subject}: the signature does not verify ({exc})") from None
    return PaperReceiptAct(act["seq"], act["count"], act["from_whom"], act["received_by"], act["received_at"],
                           act["election_id"], act["precinct"], bytes(raw))


def receive(db: StationDB, election: Election, precinct: int, key: ed25519.Ed25519PrivateKey, count: int,
            from_whom: str, received_by: str, *, now: dt.datetime | None = None) -> PaperReceiptAct:
    """Record that `received_by` (a member) received `count` paper ballots from `from_whom`.

    In set-up or while the polls are open. ONE transaction: the next act number, the
    act signed with the station key and stored, ``received`` += count, and the
    ``paper_received`` event. A crash before the COMMIT leaves nothing (no act, no
    count: receive again); after it, the act is stored and the file can be written
    (again) from `receipt_acts`.
    """
    count = check_count(count, "the number of ballots received", minimum=1)
    from_whom = clean_text(from_whom, "who handed the ballots over")
    received_by = clean_text(received_by, "who received them")
    at = local_time(db, election, now)
    with db.write() as session:
        require_state_exclusive(session, "receive paper ballots", PollsState.SETUP, PollsState.OPEN)
        paper_counts(session, lock=True)
        seq = (session.scalar(select(func.max(PaperReceiptRow.seq))) or 0) + 1
        signed = _sign_act(_act_data(election, precinct, seq, count, from_whom, received_by, at), key)
        session.add(PaperReceiptRow(seq=seq, count=count, from_whom=from_whom, received_by=received_by,
                                    received_at=at, signed=signed))
        session.flush()
        bump_paper(session, PaperKind.RECEIVED, count)
        audit.append(session, AuditDraft(AuditKind.PAPER_RECEIVED, {
            "seq": seq, "count": count, "from_whom": from_whom, "received_by": received_by}), db.clock())
    return PaperReceiptAct(seq, count, from_whom, received_by, at, election.id, precinct, signed)


def receipt_acts(db: StationDB) -> list[PaperReceiptAct]:
    """Every stored act, in order (read back from their signed bytes)."""
    with db.read() as session:
        raws = list(session.scalars(select(PaperReceiptRow.signed).order_by(PaperReceiptRow.seq)))
    return [read_receipt_act(bytes(raw)) for raw in raws]


# --- the exchange of a spoiled ballot ------------------------------------------------------------


def exchange(db: StationDB, iin: str) -> PaperLedger:
    """A paper voter spoiled their ballot: it is cancelled (``spoiled`` += 1) and they get a
    new one from the table. Refused (nothing changed, ``paper_refused`` chained): the voter
    was not given paper (NO_PAPER_BALLOT), no paper ballot is left (NO_PAPER_LEFT).
    ONE transaction: counter and ``paper_spoiled`` event (no voter). An IIN not on the
    list raises VoterNotFound."""
    value = validate_iin(iin.strip()).value
    with db.write() as session:
        require_state(session, "exchange a spoiled paper ballot", PollsState.OPEN)
        row = session.execute(select(VoterRow.id, VoterRow.ballot_form).where(VoterRow.iin == value)
                              .with_for_update()).first()
        if row is None:
            raise VoterNotFound(f"IIN {value} is not on this precinct's list")
        if BallotForm(row.ballot_form) is not BallotForm.PAPER:
            found = Refusal.NO_PAPER_BALLOT
        elif paper_in_hand(paper_counts(session, lock=True)) <= 0:
            found = Refusal.NO_PAPER_LEFT
        else:
            bump_paper(session, PaperKind.SPOILED)
            audit.append(session, AuditDraft(AuditKind.PAPER_SPOILED), db.clock())
            return ledger_of(session)
    raise refuse(db, AuditKind.PAPER_REFUSED, "exchange", found)
