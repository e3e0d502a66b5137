"""The precinct's list of voters: import, search, check-in, the additional list, hourly turnout.

A check-in sets a flag and bumps the current hour's turnout counter. It stores
no time, no card and no token: nothing that could later be lined up with the
issued tokens or the ballots (DESIGN.md §2 step 1, §5). The voter takes a card
or a paper ballot (`BallotForm`): the pollbook records which form, nothing else;
for paper the table's counter moves in the same transaction (paper.py has the
ledger). A voter whose written request to vote outside is pending or with the
mobile team, or whom the team marked as having voted outside, is refused at the
table (mobile.py has the requests).

The additional list (`add_voter`): a voter not on the list who proves their right
to vote here is added on election day, flagged ``additional``.

Names are searched by prefix on casefolded copies (``search_key``), because
SQLite's ``lower()`` and ``LIKE`` fold ASCII only and the list is Kazakh and
Russian Cyrillic (Ә, Ғ, Қ, Ң, Ө, Ұ, Ү, Һ, І).
"""

from __future__ import annotations

import csv
import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import audit
from .audit import AuditDraft, AuditKind
from .db import StationDB
from .iin import InvalidIIN, validate_iin
from .models import (
    BallotForm,
    MobileRequestRow,
    MobileRequestState,
    PaperKind,
    PollsState,
    StationStateRow,
    TurnoutRow,
    VoterCard,
    VoterRow,
)
from .refusal import Refusal, Refused
from .store import WrongPollsState, bump_paper, paper_counts, paper_in_hand, require_state

COLUMNS = ("iin", "surname", "given_name", "patronymic", "birth_date")
_HEADER_FIRST_CELLS = {"iin", "иин", "жсн"}
MAX_NAME = 200


@dataclass(frozen=True)
class VoterRecord:
    """One pollbook line as imported."""

    iin: str
    surname: str
    given_name: str
    patronymic: str
    birth_date: dt.date


@dataclass(frozen=True)
class Voter(VoterRecord):
    checked_in: bool = False
    card: VoterCard = VoterCard.NONE  # whether a card was issued (see models.VoterCard)
    ballot_form: BallotForm = BallotForm.NONE  # which form the voter received (card, paper, outside)
    additional: bool = False  # added on election day (the additional list)


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class PollbookImportError(ValueError):
    """The file has bad rows; nothing was imported. ``errors`` lists every one."""

    def __init__(self, path: str, errors: Sequence[RowError]) -> None:
        self.path = path
        self.errors = list(errors)
        lines = "\n".join(f"  {e}" for e in self.errors)
        super().__init__(f"pollbook {path}: {len(self.errors)} problem(s), nothing imported:\n{lines}")


class VoterNotFound(LookupError):
    """No voter with this IIN on this precinct's list."""


class AlreadyCheckedIn(Exception):
    """The voter was already checked in: a voter gets at most one card."""


class InvalidVoterEntry(ValueError):
    """A voter typed in for the additional list has bad fields; nothing was added.
    The text lists every problem."""


@dataclass(frozen=True)
class TurnoutBucket:
    hour: str  # ISO hour with the station's UTC offset, e.g. "2024-03-19T10:00+05:00"
    count: int


def search_key(text: str) -> str:
    """The form names are matched in: NFKC, casefolded, Ё read as Е."""
    return unicodedata.normalize("NFKC", text).strip().casefold().replace("ё", "е")


def _clean_name(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


def hour_bucket(now: dt.datetime) -> str:
    return now.replace(minute=0, second=0, microsecond=0).isoformat(timespec="minutes")


# --- import -----------------------------------------------------------------------


def parse_voters_csv(path: str | Path) -> list[VoterRecord]:
    """Read and validate a pollbook CSV; raise PollbookImportError listing every bad row.

    Columns: IIN, surname, given name, patronymic (may be empty), birth date
    (YYYY-MM-DD). UTF-8 (a BOM is fine). A first row starting with "iin"/"ИИН"/"ЖСН"
    is a header. Duplicated IINs are errors.
    """
    errors: list[RowError] = []
    records: list[VoterRecord] = []
    first_line: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        seen_data = False
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if not seen_data and row[0].strip().casefold() in _HEADER_FIRST_CELLS:
                seen_data = True
                continue
            seen_data = True
            record, problems = _parse_row(row)
            errors.extend(RowError(line, p) for p in problems)
            if record is None:
                continue
            if record.iin in first_line:
                errors.append(RowError(line, f"IIN {record.iin} duplicates line {first_line[record.iin]}"))
                continue
            first_line[record.iin] = line
            records.append(record)
    if errors:
        raise PollbookImportError(str(path), errors)
    return records


def _parse_row(row: list[str]) -> tuple[VoterRecord | None, list[str]]:
    if len(row) != len(COLUMNS):
        return None, [f"expected {len(COLUMNS)} columns (IIN, surname, given name, patronymic, birth date), got {len(row)}"]
    raw_iin, surname, given, patronymic, raw_birth = (cell.strip() for cell in row)
    problems: list[str] = []
    iin = None
    try:
        iin = validate_iin(raw_iin)
    except InvalidIIN as exc:
        problems.append(str(exc))
    surname, given, patronymic = _clean_name(surname), _clean_name(given), _clean_name(patronymic)
    if not surname:
        problems.append("surname is empty")
    if not given:
        problems.append("given name is empty")
    for label, name in (("surname", surname), ("given name", given), ("patronymic", patronymic)):
        if len(name) > MAX_NAME:
            problems.append(f"{label} is longer than {MAX_NAME} characters")
    birth = None
    try:
        birth = dt.date.fromisoformat(raw_birth)
    except ValueError:
        problems.append(f"birth date {raw_birth!r} is not an ISO date (YYYY-MM-DD)")
    if iin is not None and birth is not None and iin.birth_date != birth:
        problems.append(f"IIN {iin.value} encodes birth date {iin.birth_date.isoformat()} but the row says {birth.isoformat()}")
    if problems or iin is None or birth is None:
        return None, problems
    return VoterRecord(iin.value, surname, given, patronymic, birth), []


def import_voters(db: StationDB, csv_path: str | Path) -> int:
    """Validate the whole file, then import it in one transaction; returns the count.

    Any bad row (including an IIN already on the list) imports nothing.
    Allowed before setup, in setup and while polls are open (supplementary lists).
    """
    records = parse_voters_csv(csv_path)
    with db.write() as session:
        state_row = session.get(StationStateRow, 1)
        if state_row is not None and PollsState(state_row.state) is PollsState.CLOSED:
            raise WrongPollsState("import voters", PollsState.CLOSED, (PollsState.SETUP, PollsState.OPEN))
        clashes = _existing_iins(session, [r.iin for r in records])
        if clashes:
            lines = _lines_of(csv_path, clashes)
            raise PollbookImportError(str(csv_path), [RowError(lines.get(i, 0), f"IIN {i} is already in the pollbook") for i in sorted(clashes, key=lambda i: lines.get(i, 0))])
        if records:
            session.execute(insert(VoterRow), [
                {"iin": r.iin, "surname": r.surname, "given_name": r.given_name, "patronymic": r.patronymic,
                 "birth_date": r.birth_date, "checked_in": False, "card": VoterCard.NONE.value, "surname_key": search_key(r.surname),
                 "given_name_key": search_key(r.given_name)}
                for r in records
            ])
        audit.append(session, AuditDraft(AuditKind.POLLBOOK_IMPORTED, {"count": len(records)}), db.clock())
    return len(records)


def _existing_iins(session: Session, iins: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(iins), 500):
        chunk = iins[start:start + 500]
        found.update(session.scalars(select(VoterRow.iin).where(VoterRow.iin.in_(chunk))))
    return found


def _lines_of(path: str | Path, iins: set[str]) -> dict[str, int]:
    lines: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        for row in reader:
            if row and row[0].strip() in iins:
                lines.setdefault(row[0].strip(), reader.line_num)
    return lines


# --- search -----------------------------------------------------------------------


def _voter(row: VoterRow) -> Voter:
    return Voter(row.iin, row.surname, row.given_name, row.patronymic, row.birth_date, bool(row.checked_in),
                 VoterCard(row.card), BallotForm(row.ballot_form), bool(row.additional))


def find_by_iin(db: StationDB, iin: str) -> Voter | None:
    """Exact lookup; a mistyped IIN raises InvalidIIN (say why, not just "not found")."""
    value = validate_iin(iin.strip()).value
    with db.read() as session:
        row = session.scalar(select(VoterRow).where(VoterRow.iin == value))
        return None if row is None else _voter(row)


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def find_by_name(db: StationDB, surname_prefix: str, given_prefix: str = "", *, limit: int = 50) -> list[Voter]:
    """Case-insensitive prefix search on surname (and optionally given name)."""
    surname_key, given_key = search_key(surname_prefix), search_key(given_prefix)
    if not surname_key:
        return []
    query = select(VoterRow).where(VoterRow.surname_key.like(_like_prefix(surname_key), escape="\\"))
    if given_key:
        query = query.where(VoterRow.given_name_key.like(_like_prefix(given_key), escape="\\"))
    query = query.order_by(VoterRow.surname_key, VoterRow.given_name_key, VoterRow.iin).limit(limit)
    with db.read() as session:
        return [_voter(r) for r in session.scalars(query)]


def search(db: StationDB, query: str, *, limit: int = 50) -> list[Voter]:
    """What the clerk types: 12 digits -> IIN lookup; otherwise "surname [given name]" prefixes."""
    text = query.strip()
    if text.isdigit():
        voter = find_by_iin(db, text)
        return [] if voter is None else [voter]
    words = text.split()
    if not words:
        return []
    return find_by_name(db, words[0], words[1] if len(words) > 1 else "", limit=limit)


# --- check-in and turnout ---------------------------------------------------------


def check_in(db: StationDB, iin: str, form: BallotForm = BallotForm.CARD) -> Voter:
    """Mark a voter as checked in, receiving `form` (CARD or PAPER; polls must be open).

    ONE transaction (lock order: station_state, the voter row, the paper counters,
    the audit head): the flag and the form, the hour's turnout bucket and, for
    PAPER, ``issued_in_station`` += 1 and a ``paper_issued`` event (no voter). A crash
    before the COMMIT leaves the voter not checked in (check in again); after it the
    voter holds their form (a card voter then gets the card, issue.py).

    Refused, nothing changed, a check_in_refused event (reason, no identity) chained:
    a second check-in (AlreadyCheckedIn); a voter the mobile team marked as having
    voted outside (Refused VOTED_OUTSIDE); a voter whose request to vote outside is
    pending or with the team (Refused MOBILE_REQUESTED: withdraw it first); PAPER with
    no paper ballot left at the table (Refused NO_PAPER_LEFT). An IIN not on the list
    raises VoterNotFound.
    """
    form = BallotForm(form)
    if form not in (BallotForm.CARD, BallotForm.PAPER):
        raise ValueError(f"a voter checks in for a card or a paper ballot, not {form.value}")
    value = validate_iin(iin.strip()).value
    with db.write() as session:
        require_state(session, "check in a voter", PollsState.OPEN)
        row = session.execute(select(VoterRow).where(VoterRow.iin == value).with_for_update()).scalar_one_or_none()
        if row is None:
            raise VoterNotFound(f"IIN {value} is not on this precinct's list")
        refusal = _check_in_refusal(session, row, form)
        if refusal is None:
            row.checked_in = True
            row.ballot_form = form.value
            session.flush()
            _bump_turnout(session, hour_bucket(db.clock()))
            if form is BallotForm.PAPER:
                bump_paper(session, PaperKind.ISSUED_IN_STATION)
                audit.append(session, AuditDraft(AuditKind.PAPER_ISSUED), db.clock())
            return _voter(row)
    audit.record(db, AuditDraft(AuditKind.CHECK_IN_REFUSED, {"reason": refusal}))
    if refusal == "already_checked_in":
        raise AlreadyCheckedIn(f"voter with IIN {value} is already checked in: a voter gets one card")
    raise Refused(Refusal(refusal))


def _check_in_refusal(session: Session, row: VoterRow, form: BallotForm) -> str | None:
    """Why this voter cannot check in now (the check_in_refused reason), or None."""
    if row.checked_in:
        return "already_checked_in"
    if BallotForm(row.ballot_form) is BallotForm.OUTSIDE:
        return Refusal.VOTED_OUTSIDE.value
    request = session.scalar(select(MobileRequestRow.state).where(MobileRequestRow.voter_id == row.id)
                             .with_for_update())
    if request is not None and MobileRequestState(request).open:
        return Refusal.MOBILE_REQUESTED.value
    if form is BallotForm.PAPER and paper_in_hand(paper_counts(session, lock=True)) <= 0:
        return Refusal.NO_PAPER_LEFT.value
    return None


def add_voter(db: StationDB, iin: str, surname: str, given_name: str, patronymic: str,
              birth_date: dt.date | str) -> Voter:
    """Add a voter to the additional list (polls in set-up or open): checked as an imported
    row is (IIN, names, the birth date the IIN encodes; InvalidVoterEntry lists every
    problem). ONE transaction: the row (``additional``) and a ``voter_added`` event (no
    identity). An IIN already on the list is refused (Refused ALREADY_ON_LIST, a
    voter_add_refused event): nothing added."""
    birth = birth_date.isoformat() if isinstance(birth_date, dt.date) else str(birth_date)
    record, problems = _parse_row([str(iin), str(surname), str(given_name), str(patronymic or ""), birth])
    if record is None:
        raise InvalidVoterEntry("this voter cannot be added: " + "; ".join(problems))
    with db.write() as session:
        require_state(session, "add a voter to the additional list", PollsState.SETUP, PollsState.OPEN)
        if session.scalar(select(VoterRow.id).where(VoterRow.iin == record.iin)) is None:
            row = VoterRow(iin=record.iin, surname=record.surname, given_name=record.given_name,
                           patronymic=record.patronymic, birth_date=record.birth_date, checked_in=False,
                           card=VoterCard.NONE.value, ballot_form=BallotForm.NONE.value, additional=True,
                           surname_key=search_key(record.surname), given_name_key=search_key(record.given_name))
            session.add(row)
            session.flush()
            audit.append(session, AuditDraft(AuditKind.VOTER_ADDED), db.clock())
            return _voter(row)
    audit.record(db, AuditDraft(AuditKind.VOTER_ADD_REFUSED, {"reason": Refusal.ALREADY_ON_LIST.value}))
    raise Refused(Refusal.ALREADY_ON_LIST)


def _bump_turnout(session: Session, hour: str) -> None:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(TurnoutRow).values(hour=hour, count=1)
    statement = statement.on_conflict_do_update(index_elements=[TurnoutRow.hour], set_={"count": TurnoutRow.count + 1})
    session.execute(statement)


def turnout(db: StationDB) -> list[TurnoutBucket]:
    """Check-ins per hour, in hour order."""
    with db.read() as session:
        return [TurnoutBucket(r.hour, r.count) for r in session.scalars(select(TurnoutRow).order_by(TurnoutRow.hour))]
