"""The mobile ballot box: written requests to vote outside the station, and the team's trips.

A voter who cannot come (illness, age, caring for someone; Constitutional Law "On
Elections" Art. 43) asks in writing; the commission records the request (the
voter, the reason, when it was received in the precinct's local time, by whom).
The mobile team (named members) takes a counted number of paper ballots and the
list of requests it carries; on its return the members say which voters voted
outside (marked OUTSIDE in the pollbook: they cannot check in at the table), and
the unused and spoiled ballots it brought back. The station keeps:

    mobile_requests   one row per voter: reason, received_at, received_by, state, trip
    mobile_trips      one row per trip: members, taken, unused, spoiled, state
    paper_counts      mobile_taken, mobile_unused, mobile_spoiled, issued_outside (paper.py)

A request's life (`MobileRequestState`): pending -> out (sent with a trip) ->
voted | not_voted (the trip came back), or pending -> withdrawn. A voter with a
request pending or out is refused at the table (MOBILE_REQUESTED); after
not_voted or withdrawn they may come in person, or ask again.

The rules, each a `Refusal` raised as `Refused` (nothing changed, the refusal
chained as ``mobile_refused``):

* a request for a voter who received a ballot (checked in, or voted outside):
  ALREADY_VOTED; a second open request for one voter: ALREADY_REQUESTED;
* withdraw: only a pending request (REQUEST_NOT_PENDING);
* send: each named request must be pending (REQUEST_NOT_PENDING), at least one
  (NO_REQUESTS), at least one ballot per request (TOO_FEW_BALLOTS), ballots from
  those at the table (NO_PAPER_LEFT);
* return: a trip that exists (UNKNOWN_TRIP) and is out (TRIP_RETURNED); each
  voter marked is on its list (NOT_ON_TRIP); voters marked + unused + spoiled =
  ballots taken (MOBILE_COUNTS_MISMATCH).

Lock order (store.py): station_state (share; exclusive to send a team, which
numbers its trip) -> voter rows (ascending id) ->
request rows -> trip row -> paper counters -> audit head. Each step is one
transaction: a crash before its COMMIT leaves nothing (do it again), after it
everything (rows, counters, the audit event). Audit events never name a voter;
they carry the trip number, the members, counts, and who received a request.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sailau.election.definition import Election

from . import audit
from .audit import AuditDraft, AuditKind
from .db import StationDB
from .iin import validate_iin
from .models import BallotForm, MobileRequestRow, MobileRequestState, MobileTripRow, PaperKind, PollsState, TripState, VoterRow
from .paper import MAX_PAPER_COUNT, EntryError, check_count, clean_text, local_time, refuse
from .pollbook import VoterNotFound
from .refusal import Refusal
from .store import bump_paper, paper_counts, paper_in_hand, require_state, require_state_exclusive

__all__ = ["MAX_MEMBERS", "MAX_REASON", "MobileRequest", "MobileTrip", "request", "requests", "return_team",
           "send_team", "trips", "withdraw"]

MAX_REASON = 400
#: a mobile team is two or three members; ten is generous
MAX_MEMBERS = 10


@dataclass(frozen=True)
class MobileRequest:
    """A written request to vote outside (what the clerk's list shows)."""

    iin: str
    surname: str
    given_name: str
    patronymic: str
    reason: str
    received_at: str  # local ISO time with offset
    received_by: str
    state: MobileRequestState
    trip: int | None


@dataclass(frozen=True)
class MobileTrip:
    """One trip of the mobile team. `ballots`: paper ballots taken; `iins`: the requests it
    carries (in list order); `voted`: of those, the voters marked as having voted outside
    (on return); `unused`/`spoiled`: None while the team is out."""

    id: int
    members: tuple[str, ...]
    ballots: int
    iins: tuple[str, ...]
    state: TripState
    unused: int | None = None
    spoiled: int | None = None
    voted: int = 0


def _voter_rows(session: Session, iins: Sequence[str]) -> dict[str, VoterRow]:
    """Lock the voters named (ascending id, the lock order); VoterNotFound for one not on the list."""
    rows = list(session.scalars(select(VoterRow).where(VoterRow.iin.in_(list(iins))).order_by(VoterRow.id)
                                .with_for_update()))
    found = {r.iin: r for r in rows}
    for iin in iins:
        if iin not in found:
            raise VoterNotFound(f"IIN {iin} is not on this precinct's list")
    return found


def _iins(values: Sequence[str], what: str) -> list[str]:
    """Typed IINs, each valid and named once; at most `MAX_PAPER_COUNT` of them (no trip
    carries more ballots), counted before any is read or any voter row is locked."""
    if isinstance(values, str):
        raise EntryError(f"{what} must be a list of IINs")
    if len(values) > MAX_PAPER_COUNT:
        raise EntryError(f"{what} names {len(values):,} voters: at most {MAX_PAPER_COUNT:,}")
    out = [validate_iin(str(v).strip()).value for v in values]
    if len(set(out)) != len(out):
        raise EntryError(f"{what} names a voter twice")
    return out


def request(db: StationDB, election: Election, iin: str, reason: str, received_by: str, *,
            now: dt.datetime | None = None) -> MobileRequest:
    """Record a written request to vote outside (set-up or open polls): pending.

    Refused: the voter received a ballot (ALREADY_VOTED), or has an open request
    (ALREADY_REQUESTED). A request after a withdrawn or not_voted one replaces it.
    ONE transaction: the request row and ``mobile_requested`` (received_by only)."""
    value = validate_iin(str(iin).strip()).value
    reason = clean_text(reason, "the reason", limit=MAX_REASON)
    received_by = clean_text(received_by, "who received the request")
    at = local_time(db, election, now)
    with db.write() as session:
        require_state(session, "record a request to vote outside", PollsState.SETUP, PollsState.OPEN)
        voter = _voter_rows(session, [value])[value]
        existing = session.get(MobileRequestRow, voter.id, with_for_update=True)
        if voter.checked_in or BallotForm(voter.ballot_form).voted:
            found = Refusal.ALREADY_VOTED
        elif existing is not None and MobileRequestState(existing.state).open:
            found = Refusal.ALREADY_REQUESTED
        else:
            if existing is not None:
                session.delete(existing)
                session.flush()
            row = MobileRequestRow(voter_id=voter.id, reason=reason, received_at=at, received_by=received_by,
                                   state=MobileRequestState.PENDING.value, trip=None)
            session.add(row)
            session.flush()
            audit.append(session, AuditDraft(AuditKind.MOBILE_REQUESTED, {"received_by": received_by}), db.clock())
            return _request(voter, row)
    raise refuse(db, AuditKind.MOBILE_REFUSED, "request", found)


def withdraw(db: StationDB, iin: str) -> MobileRequest:
    """Withdraw a pending request (the voter will come after all): the voter may check in.
    Refused for a request that is not pending (REQUEST_NOT_PENDING: none, with a team,
    or done). ONE transaction: the state and ``mobile_withdrawn``."""
    value = validate_iin(str(iin).strip()).value
    with db.write() as session:
        require_state(session, "withdraw a request to vote outside", PollsState.SETUP, PollsState.OPEN)
        voter = _voter_rows(session, [value])[value]
        row = session.get(MobileRequestRow, voter.id, with_for_update=True)
        if row is not None and MobileRequestState(row.state) is MobileRequestState.PENDING:
            row.state = MobileRequestState.WITHDRAWN.value
            session.flush()
            audit.append(session, AuditDraft(AuditKind.MOBILE_WITHDRAWN), db.clock())
            return _request(voter, row)
    raise refuse(db, AuditKind.MOBILE_REFUSED, "withdraw", Refusal.REQUEST_NOT_PENDING)


def send_team(db: StationDB, members: Sequence[str], ballots: int, iins: Sequence[str] | None = None) -> MobileTrip:
    """The mobile team leaves with `ballots` paper ballots and the requests `iins` (None:
    every pending request). Polls open. ONE transaction: the trip row, each request
    pending -> out with the trip's number, ``mobile_taken`` += ballots, ``mobile_sent``
    (trip, members, taken, requests)."""
    if isinstance(members, str):
        raise EntryError("the team's members must be a list of names")
    names = tuple(clean_text(m, "a member's name") for m in members)
    if not names:
        raise EntryError("a mobile team has at least one named member")
    if len(names) > MAX_MEMBERS:
        raise EntryError(f"a mobile team has at most {MAX_MEMBERS} members")
    ballots = check_count(ballots, "the number of ballots the team takes", minimum=1)
    wanted = None if iins is None else _iins(iins, "the list of requests")
    with db.write() as session:
        require_state_exclusive(session, "send the mobile team", PollsState.OPEN)  # numbers the trip
        if wanted is None:
            pending = session.execute(
                select(VoterRow.iin).join(MobileRequestRow, MobileRequestRow.voter_id == VoterRow.id)
                .where(MobileRequestRow.state == MobileRequestState.PENDING.value)).scalars()
            wanted = sorted(pending)
        voters = _voter_rows(session, wanted)
        rows = [session.get(MobileRequestRow, voters[i].id, with_for_update=True) for i in wanted]
        if any(r is None or MobileRequestState(r.state) is not MobileRequestState.PENDING for r in rows):
            found = Refusal.REQUEST_NOT_PENDING
        elif not rows:
            found = Refusal.NO_REQUESTS
        elif ballots < len(rows):
            found = Refusal.TOO_FEW_BALLOTS
        elif paper_in_hand(paper_counts(session, lock=True)) < ballots:
            found = Refusal.NO_PAPER_LEFT
        else:
            trip_id = (session.scalar(select(func.max(MobileTripRow.id))) or 0) + 1
            session.add(MobileTripRow(id=trip_id, members=json.dumps(list(names), ensure_ascii=False),
                                      taken=ballots, unused=None, spoiled=None, state=TripState.OUT.value))
            session.flush()
            for row in rows:
                assert row is not None
                row.state, row.trip = MobileRequestState.OUT.value, trip_id
            session.flush()
            bump_paper(session, PaperKind.MOBILE_TAKEN, ballots)
            audit.append(session, AuditDraft(AuditKind.MOBILE_SENT, {
                "trip": trip_id, "members": list(names), "taken": ballots, "requests": len(rows)}), db.clock())
            carried = tuple(sorted(wanted, key=lambda i: voters[i].id))  # list order, as `trips` gives it
            return MobileTrip(trip_id, names, ballots, carried, TripState.OUT)
    raise refuse(db, AuditKind.MOBILE_REFUSED, "send", found)


def return_team(db: StationDB, trip_id: int, voted: Sequence[str], unused: int, spoiled: int) -> MobileTrip:
    """The team is back: the voters in `voted` voted outside, `unused` and `spoiled` ballots
    came back. Polls open. Refused (module doc) unless voted + unused + spoiled = taken
    and every voter marked is on this trip's list. ONE transaction: each voter marked
    OUTSIDE in the pollbook and their request voted, the trip's other requests
    not_voted, the trip returned with its counts, ``issued_outside`` += voted,
    ``mobile_unused`` += unused, ``mobile_spoiled`` += spoiled, ``mobile_returned``."""
    if isinstance(trip_id, bool) or not isinstance(trip_id, int):
        raise EntryError("the trip number must be a whole number")
    marked = _iins(voted, "the voters who voted outside")
    unused = check_count(unused, "unused ballots")
    spoiled = check_count(spoiled, "spoiled ballots")
    with db.write() as session:
        require_state(session, "record the mobile team's return", PollsState.OPEN)
        found = _return(session, trip_id, marked, unused, spoiled)
        if isinstance(found, MobileTrip):
            audit.append(session, AuditDraft(AuditKind.MOBILE_RETURNED, {
                "trip": trip_id, "voted_outside": len(marked), "unused": unused, "spoiled": spoiled}), db.clock())
            return found
    raise refuse(db, AuditKind.MOBILE_REFUSED, "return", found)


def _return(session: Session, trip_id: int, marked: list[str], unused: int, spoiled: int) -> MobileTrip | Refusal:
    if session.scalar(select(MobileTripRow.state).where(MobileTripRow.id == trip_id)) is None:
        return Refusal.UNKNOWN_TRIP
    carried = list(session.execute(
        select(VoterRow.iin, VoterRow.id).join(MobileRequestRow, MobileRequestRow.voter_id == VoterRow.id)
        .where(MobileRequestRow.trip == trip_id).order_by(VoterRow.id)).all())
    on_trip = {iin for iin, _ in carried}
    if set(marked) - on_trip:
        _voter_rows(session, [i for i in marked if i not in on_trip])  # VoterNotFound for one not on the list
        return Refusal.NOT_ON_TRIP
    voters = _voter_rows(session, sorted(on_trip))
    rows = {iin: session.get(MobileRequestRow, vid, with_for_update=True) for iin, vid in carried}
    trip = session.execute(select(MobileTripRow).where(MobileTripRow.id == trip_id).with_for_update()).scalar_one()
    if TripState(trip.state) is not TripState.OUT:
        return Refusal.TRIP_RETURNED
    if len(marked) + unused + spoiled != trip.taken:
        return Refusal.MOBILE_COUNTS_MISMATCH
    for iin in sorted(on_trip):
        row = rows[iin]
        assert row is not None
        if iin in marked:
            voter = voters[iin]
            voter.ballot_form = BallotForm.OUTSIDE.value  # never checked in: the request kept it so
            row.state = MobileRequestState.VOTED.value
        else:
            row.state = MobileRequestState.NOT_VOTED.value
    trip.state, trip.unused, trip.spoiled = TripState.RETURNED.value, unused, spoiled
    session.flush()
    bump_paper(session, PaperKind.ISSUED_OUTSIDE, len(marked))
    bump_paper(session, PaperKind.MOBILE_UNUSED, unused)
    bump_paper(session, PaperKind.MOBILE_SPOILED, spoiled)
    return MobileTrip(trip.id, tuple(json.loads(trip.members)), trip.taken, tuple(iin for iin, _ in carried),
                      TripState.RETURNED, unused, spoiled, len(marked))


def _request(voter: VoterRow, row: MobileRequestRow) -> MobileRequest:
    return MobileRequest(voter.iin, voter.surname, voter.given_name, voter.patronymic, row.reason, row.received_at,
                         row.received_by, MobileRequestState(row.state), row.trip)


def requests(db: StationDB) -> list[MobileRequest]:
    """Every request, in list order (surname, given name)."""
    with db.read() as session:
        found = session.execute(select(VoterRow, MobileRequestRow).join(
            MobileRequestRow, MobileRequestRow.voter_id == VoterRow.id)
            .order_by(VoterRow.surname_key, VoterRow.given_name_key, VoterRow.iin)).all()
        return [_request(v, r) for v, r in found]


def trips(db: StationDB) -> list[MobileTrip]:
    """Every trip, in order, with the requests it carries."""
    with db.read() as session:
        carried: dict[int, list[tuple[str, str]]] = {}
        for iin, trip, state in session.execute(
                select(VoterRow.iin, MobileRequestRow.trip, MobileRequestRow.state)
                .join(MobileRequestRow, MobileRequestRow.voter_id == VoterRow.id)
                .where(MobileRequestRow.trip.is_not(None)).order_by(VoterRow.id)):
            carried.setdefault(trip, []).append((iin, state))
        out = []
        for row in session.scalars(select(MobileTripRow).order_by(MobileTripRow.id)):
            on = carried.get(row.id, [])
            out.append(MobileTrip(row.id, tuple(json.loads(row.members)), row.taken, tuple(i for i, _ in on),
                                  TripState(row.state), row.unused, row.spoiled,
                                  sum(1 for _, s in on if s == MobileRequestState.VOTED.value)))
        return out
