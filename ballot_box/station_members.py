"""The precinct commission's members as the station knows them (issue 13, items 1, 4, 6).

Loaded once at set-up from the precinct's members file (`election/members.py`'s
format, `sailau registry members` makes it; `sailau station init --members FILE`),
kept in ``station_members`` (public data only: key id, role, name, public key).
They are who may enter the hand count (`Station.enter_hand_count`, two different
members) and whose co-signatures the station checks (`ClerkDesk.cosign`), and
whose names and signature lines the wall copies print. The registry the commission
trusts stays the authority for co-signatures (`sailau protocol verify --registry`);
the station's list only says who sits at this table.

Loading replaces the whole list before the polls open. Once they are open the list
cannot change (it would change who may count), with one exception: a station set up
without its members may load them once, later, so a precinct that used paper is
never left unable to enter its hand count and sign.
"""

from __future__ import annotations

from sqlalchemy import delete, func, select

from sailau.election.members import CommissionMembers, Member, role_order

from . import audit
from .audit import AuditDraft, AuditKind
from .db import StationDB
from .models import HandCountEntryRow, PollsState, StationMemberRow
from .store import require_state


class MembersRefused(ValueError):
    """The members file is not this precinct's (the message says whose it is)."""


def load_members(db: StationDB, precinct: int, members: CommissionMembers) -> tuple[Member, ...]:
    """Store `members` as the station's commission (replacing any list loaded before).
    Refused (`MembersRefused`) for another precinct's list; `WrongPollsState` for a
    change of a loaded list once the polls have opened (see the module doc)."""
    if members.precinct != precinct:
        raise MembersRefused(f"the members file is for precinct {members.precinct}, this station is precinct {precinct}")
    with db.write() as session:
        if session.scalar(select(func.count()).select_from(StationMemberRow)):
            require_state(session, "change the commission's members", PollsState.SETUP)
        session.execute(delete(HandCountEntryRow))
        session.execute(delete(StationMemberRow))
        session.add_all(StationMemberRow(key_id=m.key_id, role=m.role.value, name=m.name, public_key=m.public_key)
                        for m in members.members)
        audit.append(session, AuditDraft(AuditKind.MEMBERS_LOADED, {"count": len(members.members)}), db.clock())
    return members.members


def members(db: StationDB, precinct: int) -> tuple[Member, ...]:
    """The station's members in role order (chair, deputy chair, secretary, members), then by name."""
    with db.read() as session:
        rows = session.scalars(select(StationMemberRow)).all()
    return tuple(sorted((Member(precinct, r.role, r.name, r.public_key) for r in rows), key=role_order))

