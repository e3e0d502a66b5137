"""`sailau station`: headless ballot-box station commands for operations and tests.

Thin over `sailau.ballot_box.station` / `close`: set a database up for one
election and precinct, open the polls (zero report, terminal enrolment), show
the counters, close the polls with k share files and write the signed outputs.
The clerk app (`sailau ballot-box`) does the same interactively, plus cards.
`status` only reads: it needs the database alone (no station key, no card key)
and never migrates or writes it.
"""

from __future__ import annotations

from pathlib import Path

import click

from sailau.ballot_box import mobile as box
from sailau.ballot_box import paper, pollbook, store
from sailau.ballot_box.iin import InvalidIIN
from sailau.ballot_box.paper import EntryError
from sailau.ballot_box.refusal import Refused
from sailau.ballot_box.close import ProtocolRefused
from sailau.ballot_box.db import SchemaNotCurrent, open_station_db
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.station import Station, StationError, TerminalKey, read_status
from sailau.election import crypto
from sailau.election.definition import DefinitionError, load_election
from sailau.election.shares import ShareError, read_share_file

from .options import db_url_option, read_card_master_key

_DB = db_url_option()
_NOT_SET_UP = "no election is set up in this station database: run sailau station init first"
_ELECTION = click.option("--election", "election_path", required=True,
                         type=click.Path(exists=True, dir_okay=False, path_type=Path), help="election definition JSON")
_STATION_KEY = click.option("--station-key", "station_key_path", required=True,
                            type=click.Path(exists=True, dir_okay=False, path_type=Path),
                            help="station Ed25519 private key (sailau keys station)")


def _station(db_url: str, election_path: Path, station_key_path: Path, precinct: int | None = None,
             master: bytes | None = None):
    try:
        election = load_election(election_path)
        key = crypto.load_signing_key(station_key_path)
    except (DefinitionError, crypto.KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    db = open_station_db(db_url)
    try:
        if precinct is None:
            return db, Station.attach(db, election, key, master)
        return db, Station(db, election, precinct, key, master)
    except store.StationNotSetUp:
        db.close()
        raise click.ClickException(_NOT_SET_UP) from None
    except (StationError, store.StoreError) as exc:
        db.close()
        raise click.ClickException(str(exc)) from None


@click.group()
def station() -> None:
    """Headless ballot-box station: init, open, status, close, hourly turnout, submit to the commission."""


@station.command()
@_DB
@_ELECTION
@_STATION_KEY
@click.option("--precinct", type=int, required=True, help="precinct number in the election definition")
@click.option("--card-master-key", "master_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="card master key file, checked here (it is never stored in the database)")
@click.option("--voters", "voters_csv", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="import this pollbook CSV too")
@click.option("--members", "members_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the precinct commission's members file (sailau registry members): who enters the hand count "
                   "and co-signs on this station, and whose names the wall copies print (a loaded list changes only "
                   "before the polls open)")
def init(db_url: str, election_path: Path, station_key_path: Path, precinct: int, master_path: Path | None,
         voters_csv: Path | None, members_path: Path | None) -> None:
    """Bind the station database to one election, precinct and station key."""
    master = read_card_master_key(master_path, "--card-master-key") if master_path else None
    db, st = _station(db_url, election_path, station_key_path, precinct, master)
    with db:
        if members_path is not None:
            from sailau.ballot_box.station_members import MembersRefused
            from sailau.election.members import MembersError, read_members_file

            try:
                loaded = st.load_members(read_members_file(members_path))
            except (MembersError, MembersRefused, StationError, store.StoreError) as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"commission members loaded: {len(loaded)} ("
                       + ", ".join(f"{m.role.value} {m.name}" for m in loaded) + ")")
        if voters_csv is not None:
            try:
                count = pollbook.import_voters(db, voters_csv)
            except pollbook.PollbookImportError as exc:
                raise click.ClickException(str(exc)) from None
            click.echo(f"imported {count} voters")
        click.echo(f"station set up: election {st.election.id} ({st.election.fingerprint_hex[:16]}...), "
                   f"precinct {st.precinct}, station key {st.station_key_id.hex()}, polls {st.polls_state.value}")


@station.command("open")
@_DB
@_ELECTION
@_STATION_KEY
@click.option("--terminal", "terminal_keys", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a booth terminal's public key file (repeat for each terminal)")
def open_(db_url: str, election_path: Path, station_key_path: Path, terminal_keys: tuple[Path, ...]) -> None:
    """Enrol the terminals, print the zero report and open the polls."""
    db, st = _station(db_url, election_path, station_key_path)
    with db:
        try:
            terminals = [TerminalKey(crypto.ed25519_public_bytes(crypto.load_verify_key(p)), p.stem)
                         for p in terminal_keys]
            report = st.open_polls(terminals)
        except (crypto.KeyFileError, StationError, store.StoreError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"zero report: precinct {report.precinct}, {report.ballots_stored} ballots stored, "
               f"{report.cards_issued} cards issued, {report.voters_on_list} voters on the list")
    click.echo(f"terminals enrolled: {', '.join(report.terminals)}")
    click.echo(f"polls open at {report.opened_at}; audit head {report.audit_head}")


@station.command()
@_DB
@click.option("--election", "election_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="election definition JSON: also check the database is set up for it and name the election")
def status(db_url: str, election_path: Path | None) -> None:
    """Polls state and the live counters, read from the database only (no keys needed)."""
    try:
        election = load_election(election_path) if election_path is not None else None
        db = open_station_db(db_url, migrate_schema=False)
    except (DefinitionError, SchemaNotCurrent) as exc:
        raise click.ClickException(str(exc)) from None
    with db:
        try:
            now = read_status(db, election)
            ledger = paper.ledger(db)
        except store.StationNotSetUp:
            raise click.ClickException(_NOT_SET_UP) from None
        except StationError as exc:
            raise click.ClickException(str(exc)) from None
    c, info = now.counters, now.info
    named = f"election {election.id} ({election.fingerprint_hex[:16]}...)" if election is not None else \
        f"election fingerprint {info.election_fingerprint.hex()[:16]}..."
    sealed = ("" if info.state is not PollsState.CLOSED else " (storage sealed)" if info.storage_sealed
              else " (storage NOT sealed: run sailau station close again before anything is signed)")
    click.echo(f"polls {info.state.value}{sealed}; on list {c.on_list}, checked in {c.checked_in}, issued {c.issued}, "
               f"cast {c.cast}, cancelled {c.cancelled}, replaced {c.replaced} ({c.not_returned} not handed back), "
               f"outstanding {c.outstanding}")
    if ledger.used or c.voters_additional:
        click.echo(f"voters: additional list {c.voters_additional}, paper {c.voters_paper}, "
                   f"outside {c.voters_outside}")
        click.echo(f"paper ballots: received {ledger.received}, issued in the station {ledger.issued_in_station}, "
                   f"outside {ledger.issued_outside}, spoiled {ledger.spoiled}, at the table {ledger.in_hand}, "
                   f"out with the mobile team {ledger.out_with_teams}; requests to vote outside {ledger.requests}")
    click.echo(f"precinct {info.precinct}, {named}, station key {info.station_key_id.hex()}")


@station.command()
@_DB
@_ELECTION
@_STATION_KEY
@click.option("--share", "share_paths", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), help="a key share file (k of them)")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="output folder for protocol.json, protocol.nist.json, protocol.pdf, receipts.json")
def close(db_url: str, election_path: Path, station_key_path: Path, share_paths: tuple[Path, ...], out_dir: Path) -> None:
    """Close the polls, count with k shares, sign and write the protocol."""
    db, st = _station(db_url, election_path, station_key_path)
    with db:
        try:
            shares = [read_share_file(p) for p in share_paths]
            result = st.close_polls(shares, out_dir)
        except ProtocolRefused as exc:
            raise click.ClickException(str(exc)) from None
        except (ShareError, StationError, store.StoreError) as exc:
            raise click.ClickException(str(exc)) from None
    p = result.protocol
    click.echo(f"precinct {p.precinct}: on list {p.voters_on_list}, checked in {p.voters_checked_in}, issued "
               f"{p.cards_issued}, cast {p.ballots_cast}, cancelled {p.cards_cancelled}, replaced {p.cards_replaced} "
               f"({p.cards_not_returned} not handed back), outstanding {result.outstanding}")
    for contest in p.contests:
        votes = ", ".join(f"{k} {v}" for k, v in contest.votes.items())
        click.echo(f"  {contest.contest_id}: {votes}; against all {contest.against_all}, blank {contest.blank}, "
                   f"invalid {contest.invalid}")
    if p.paper is not None:
        q = p.paper
        click.echo(f"  paper: received {q.received}, issued in the station {q.issued_in_station}, outside "
                   f"{q.issued_outside}, spoiled {q.spoiled}, unused {q.unused}; found in the stationary box "
                   f"{q.found_stationary}, in the mobile box {q.found_mobile}; ballots counted {p.ballots_counted}")
    if result.invalid:  # by reason only: a receipt code tied to validity would tell its holder too much
        from sailau.ballot_box.outputs import invalid_by_reason

        counts = ", ".join(f"{reason} {n}" for reason, n in invalid_by_reason(b.reason for b in result.invalid))
        click.echo(f"  invalid ballots: {counts}")
    if p.discrepancies:
        click.echo("DISCREPANCY: the count breaks control relations " + ", ".join(p.discrepancies)
                   + "; the signed protocol names them for the commission")
    assert result.files is not None
    click.echo(f"signed by station key {result.signed.station_key_id.hex()}; wrote {result.files.protocol.parent}/")
    if result.files.wall_copies:
        click.echo("wall copies: " + ", ".join(f.name for f in result.files.wall_copies))


@station.command()
@_DB
@_ELECTION
@_STATION_KEY
@click.option("--hour", required=True, type=click.Choice(["10", "12", "14", "16", "18", "20"]),
              help="the CEC hour the report is for (local time of the precinct)")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="where to write the signed report (default turnout-HH.json in the current folder)")
def turnout(db_url: str, election_path: Path, station_key_path: Path, hour: str, out_path: Path | None) -> None:
    """Sign the hourly turnout report: voters who received a ballot before HOUR, of those on the list."""
    from sailau.ballot_box.turnout import station_turnout
    from sailau.election.turnout import TurnoutError

    try:
        election = load_election(election_path)
        key = crypto.load_signing_key(station_key_path)
    except (DefinitionError, crypto.KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    out = out_path or Path(f"turnout-{hour}.json")
    if out.exists():
        raise click.ClickException(f"refusing to overwrite {out}")
    with open_station_db(db_url) as db:
        try:
            signed = station_turnout(db, election, int(hour), key)
        except store.StationNotSetUp:
            raise click.ClickException(_NOT_SET_UP) from None
        except TurnoutError as exc:
            raise click.ClickException(str(exc)) from None
    out.write_bytes(signed.to_canonical_json())
    r = signed.report
    click.echo(f"precinct {r.precinct} at {r.hour}: {r.received_ballot} of {r.voters_on_list} voters received a ballot; "
               f"signed by station key {signed.station_key_id.hex()}; wrote {out}")


@station.command()
@click.option("--url", required=True, help="base URL of the commission server, e.g. https://tec.example.kz")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--attempts", default=5, show_default=True, type=click.IntRange(1, 20),
              help="tries per file when no answer comes (waits 0.5 s, doubling up to 8 s)")
@click.option("--timeout", default=30.0, show_default=True, type=click.FloatRange(0.1, 600), help="seconds to wait for each answer")
def submit(url: str, files: tuple[Path, ...], attempts: int, timeout: float) -> None:
    """Send signed protocols and turnout reports (FILE...) to the commission server.

    The members' co-signatures beside a protocol (protocol.<key id>.cosig) go
    with it, before it, so the commission decides the protocol with them. The
    files stay as they are: submit again at any time (the server answers
    "already had it"). Exit 0 when every file was accepted or already there,
    1 when one was refused or in conflict, 3 when the server could not be reached
    for one (nothing is lost: submit again later), 4 when a protocol is pending
    co-signatures (fewer than a majority of the members co-signed it: they
    co-sign, then submit again).
    """
    import sys

    import httpx

    from sailau.ballot_box.submit import Outcome, send_order, submit_file

    worst = 0
    with httpx.Client(timeout=timeout) as client:
        for path in send_order(list(files)):
            result = submit_file(client, url, path, attempts=attempts)
            click.echo(result.line(), err=result.outcome not in (Outcome.ACCEPTED, Outcome.UNCHANGED))
            code = {Outcome.REFUSED: 1, Outcome.CONFLICT: 1, Outcome.UNREACHABLE: 3, Outcome.PENDING: 4}.get(result.outcome, 0)
            worst = max(worst, code)
    sys.exit(worst)


@station.command("end-voting")
@_DB
@_ELECTION
@_STATION_KEY
def end_voting(db_url: str, election_path: Path, station_key_path: Path) -> None:
    """End the voting: the polls close and the ballot box is sealed, without the shares, so the
    commission opens the mobile box, then the stationary box, and counts the paper ballots by
    hand (sailau station hand-count) before `sailau station close` counts the cards and signs."""
    db, st = _station(db_url, election_path, station_key_path)
    with db:
        try:
            st.end_voting()
        except (StationError, store.StoreError) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"precinct {st.precinct}: voting ended, polls closed and storage sealed; count the paper ballots, "
               "then close with the shares")


@station.command("hand-count")
@_DB
@_ELECTION
@_STATION_KEY
@click.option("--member-key", "member_key_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the entering member's private key (member.key from sailau keys member; mode 0600): the entry is "
                   "theirs, and a re-entry replaces their own")
@click.option("--count", "count_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the hand count as JSON (format sailau/hand-count v1: unused, found_stationary, found_mobile, and per "
                   "contest every option, against_all, invalid)")
def hand_count(db_url: str, election_path: Path, station_key_path: Path, member_key_path: Path, count_path: Path) -> None:
    """Enter a member's hand count of the paper ballots (after the end of voting).

    Two different members must enter the same figures before close of polls signs;
    when they differ, the differing lines are printed (exit 1). Exit 0 when the count
    agrees or waits for a second member."""
    from sailau.ballot_box.handcount import HandCountError, parse_hand_count
    from sailau.ballot_box.station import HandCountRefused
    from sailau.ballot_box.wallcopy import line_label
    from sailau.election.jsonfile import InputError, read_bounded

    try:
        member = crypto.ed25519_public_bytes(crypto.load_signing_key(member_key_path).public_key())
    except crypto.KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    db, st = _station(db_url, election_path, station_key_path)
    with db:
        try:
            from sailau.ballot_box.handcount import MAX_HAND_COUNT_BYTES

            raw = read_bounded(count_path, MAX_HAND_COUNT_BYTES, "a hand count", subject=str(count_path))
            count = parse_hand_count(raw, str(count_path), st.election, st.style)
            state = st.enter_hand_count(crypto.key_id(member), count)
        except (OSError, InputError, HandCountError, HandCountRefused, StationError, store.StoreError) as exc:
            raise click.ClickException(str(exc)) from None
    who = {m.key_id: m for m in st.members()}
    click.echo("entered by: " + ", ".join(f"{who[k].role.value} {who[k].name}" if k in who else k.hex()
                                          for k in state.entries))
    if state.agreed is not None:
        click.echo(f"the hand count agrees ({len(state.entries)} members): close of polls can sign")
    elif state.differences:
        for d in state.differences:
            click.echo(f"differs: {line_label(st.election, d.line_key, 'en')} ({d.line_key}): {d.first} / {d.second}",
                       err=True)
        raise click.ClickException(f"the entries differ on {len(state.differences)} line(s): count them again")
    else:
        click.echo(f"waiting for {state.needed} more member(s) to enter the same count")
# --- paper ballots and the mobile box (paper.py, mobile.py) -------------------------------------------


#: the paper and mobile steps' refusals and bad entries, said in plain words
_STEP_ERRORS = (Refused, EntryError, InvalidIIN, pollbook.VoterNotFound, store.StoreError, StationError)


@station.command("paper-receipt")
@_DB
@_ELECTION
@_STATION_KEY
@click.option("--count", type=int, required=True, help="how many paper ballots were received")
@click.option("--from", "from_whom", required=True, help="who handed them over (e.g. the territorial commission)")
@click.option("--received-by", required=True, help="the commission member who received them")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="folder the signed act is written to as paper-receipt-<seq>.json")
def paper_receipt(db_url: str, election_path: Path, station_key_path: Path, count: int, from_whom: str,
                  received_by: str, out_dir: Path) -> None:
    """Record a receipt of paper ballots and write its act, signed with the station key."""
    db, st = _station(db_url, election_path, station_key_path)
    with db:
        try:
            act = st.receive_paper(count, from_whom, received_by)
        except _STEP_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
        ledger = st.paper_ledger()
        click.echo(f"act {act.seq}: {act.count} paper ballots received from {act.from_whom} by {act.received_by} "
                   f"at {act.received_at}")
        click.echo(f"paper ballots received {ledger.received}, at the table {ledger.in_hand}")
        _write_acts(db, out_dir, recorded=act.seq)


def _write_acts(db, out_dir: Path, *, recorded: int | None = None) -> None:  # noqa: ANN001
    """Write every stored act missing from `out_dir` (the same bytes again are no change)."""
    try:
        for act in paper.receipt_acts(db):
            click.echo(f"signed act {act.seq} written to {act.write(out_dir)}")
    except OSError as exc:
        done = "" if recorded is None else f"act {recorded} is recorded, do not record it again; "
        raise click.ClickException(f"{done}the signed act could not be written to {out_dir} "
                                   f"({exc.strerror or type(exc).__name__}): fix the folder, then run "
                                   "sailau station paper-acts --out DIR") from None


@station.command("paper-acts")
@_DB
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="folder every stored act of receipt is written to as paper-receipt-<seq>.json")
def paper_acts(db_url: str, out_dir: Path) -> None:
    """Write the signed acts of receipt of paper ballots again (read from the station; no key needed)."""
    with _open_db(db_url) as db:
        _write_acts(db, out_dir)


@station.group()
def mobile() -> None:
    """The mobile ballot box: requests to vote outside the station, the team sent and back."""


_IIN = click.option("--iin", required=True, help="the voter's IIN (12 digits)")


def _open_db(db_url: str):  # noqa: ANN202
    db = open_station_db(db_url)
    try:
        store.station_info(db)
    except store.StationNotSetUp:
        db.close()
        raise click.ClickException(_NOT_SET_UP) from None
    return db


@mobile.command("request")
@_DB
@_ELECTION
@_IIN
@click.option("--reason", required=True, help="why the voter cannot come, as written in the request")
@click.option("--received-by", required=True, help="the commission member who received the request")
def mobile_request(db_url: str, election_path: Path, iin: str, reason: str, received_by: str) -> None:
    """Record a written request to vote outside the station (received now, local time)."""
    try:
        election = load_election(election_path)
    except DefinitionError as exc:
        raise click.ClickException(str(exc)) from None
    with _open_db(db_url) as db:
        try:
            found = box.request(db, election, iin, reason, received_by)
        except _STEP_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"request recorded for {found.surname} {found.given_name} at {found.received_at}")


@mobile.command("withdraw")
@_DB
@_IIN
def mobile_withdraw(db_url: str, iin: str) -> None:
    """Withdraw a pending request (the voter will come to the station)."""
    with _open_db(db_url) as db:
        try:
            found = box.withdraw(db, iin)
        except _STEP_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"request withdrawn for {found.surname} {found.given_name}")


@mobile.command("send")
@_DB
@click.option("--member", "members", multiple=True, required=True,
              help="a member of the mobile team (repeat for each)")
@click.option("--ballots", type=int, required=True, help="paper ballots the team takes, counted")
@click.option("--iin", "iins", multiple=True,
              help="a request the team carries (repeat; default: every pending request)")
def mobile_send(db_url: str, members: tuple[str, ...], ballots: int, iins: tuple[str, ...]) -> None:
    """Send the mobile team with counted paper ballots and its list of requests."""
    with _open_db(db_url) as db:
        try:
            trip = box.send_team(db, members, ballots, list(iins) or None)
        except _STEP_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"trip {trip.id}: {', '.join(trip.members)} took {trip.ballots} paper ballots "
               f"and {len(trip.iins)} requests")


@mobile.command("return")
@_DB
@click.option("--trip", "trip_id", type=int, required=True, help="the trip number given when the team was sent")
@click.option("--voted", "voted", multiple=True,
              help="IIN of a voter who voted outside (repeat for each; none: nobody voted)")
@click.option("--unused", type=int, required=True, help="unused paper ballots the team brought back")
@click.option("--spoiled", type=int, required=True, help="spoiled paper ballots the team brought back")
def mobile_return(db_url: str, trip_id: int, voted: tuple[str, ...], unused: int, spoiled: int) -> None:
    """Record the team's return: who voted outside, unused and spoiled ballots (must add up)."""
    with _open_db(db_url) as db:
        try:
            trip = box.return_team(db, trip_id, list(voted), unused, spoiled)
        except _STEP_ERRORS as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"trip {trip.id} back: {trip.voted} voted outside, {trip.unused} unused, {trip.spoiled} spoiled")
