"""A replacement can never add a ballot, and no sequence of crashes leaves a checked-in
voter without a way to one counted ballot (issue 11, "Double votes and dead ends";
build item 5) — on SQLite and on a real PostgreSQL (``station_db_url``).

Before: ``replace_card(card_not_returned=True)`` left the old token valid, so a voter
who kept the "lost" card voted twice and the close then refused to sign for good; and
two crashes at the same point of issuing locked the voter out with two refusals that
sent the clerk to each other. Now the old token is revoked (a token state), a kept card
is refused by name and kept, a counted card is never replaced, and a replacement works
however often the issue is interrupted.

The Hypothesis state machine at the end plays check-in / issue / vote / cast of any card
a voter holds (kept old cards included) / replace with the card handed back (the voter's,
or another voter's) or not / cancel / a crash at any named point of issue, cast and
replace, at the Station level with real (in-process) cards, on both backends.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from sailau.ballot_box import pollbook, store
from sailau.simulator.booth_rig import K, Rig
from sailau.ballot_box.cardlink import CardLinkKey
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.models import TokenState, VoterCard
from sailau.ballot_box.station import (
    ActionKind,
    CancelStatus,
    CardAlreadyIssued,
    CastStatus,
    ReplaceReason,
    ReplacementRefused,
    Station,
)
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.store import CastRecorded, ReplaceOutcome
from sailau.election.protocol import validate_protocol
from sailau.election.record import IssueBlock, SealedBallot
from sailau.simulator.card_app import VirtualBallotCard
from sailau.simulator.faults import FaultyCard, clone_card
from sailau.smartcard.apdu import CardState
from station_support import Crash, audit_kinds, blank_card, client_of, restart, wait_until_blocked_on_a_lock


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=6)


# --- the cases of the issue -------------------------------------------------------------------


def test_a_lost_card_the_voter_kept_is_refused_by_name_kept_and_the_close_signs(
        rig: Rig, station: Station, tmp_path: Path) -> None:
    """The issue's double vote: the voter keeps the "lost" card, gets a new one, casts both.
    Before: both accepted; cast 2 > checked in 1; close refused for good, no protocol."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[0])
    station.on_card(client)
    kept = clone_card(FaultyCard(card)).card  # the card the voter says is lost
    old_token = IssueBlock.parse(card.issue_block).token_hash
    result = station.replace_card(rig.iins[0], ReplaceReason.LOST, card_not_returned=True)
    assert not result.card_returned and "revoked" in result.message
    assert store.token_state(station.db, old_token) is TokenState.REVOKED

    new, new_client = blank_card(rig)
    assert station.on_card(new_client).kind is ActionKind.ISSUED
    rig.vote(new_client, rig.selections(0))
    assert station.cast_card(new_client).status is CastStatus.ACCEPTED

    kept_client = client_of(kept)
    rig.vote(kept_client, rig.selections(1))
    refused = station.cast_card(kept_client)
    assert refused.status is CastStatus.REJECTED and refused.reason is Refusal.CARD_REVOKED
    assert refused.message.startswith("Revoked: this card was replaced") and "keep it for the commission" in refused.message
    assert kept.state is CardState.VOTED and not refused.card_cleared  # kept as evidence, not cleared
    assert ("card_rejected", {"reason": "card_revoked"}) in audit_kinds(station.db)

    c = station.counters()
    assert (c.checked_in, c.issued, c.cast, c.cancelled, c.outstanding, c.revoked) == (1, 2, 1, 0, 0, 1)
    closing = station.close_polls(rig.shares[:K], tmp_path / "out")
    p = closing.protocol
    assert (p.ballots_cast, p.voters_checked_in, p.cards_replaced, p.cards_not_returned) == (1, 1, 1, 1)
    assert p.discrepancies == () and validate_protocol(p, rig.election) == []
    assert closing.files is not None and closing.files.protocol.exists()


def test_a_revoked_card_is_refused_wherever_it_comes_back(rig: Rig, station: Station) -> None:
    """At the cancel dialog (still ISSUED) and handed back for a replacement: refused by name,
    audited, not cleared."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[1])
    station.on_card(client)
    station.replace_card(rig.iins[1], ReplaceReason.LOST, card_not_returned=True)
    assert station.on_card(client).kind is ActionKind.OFFER_CANCEL  # it comes back unused
    cancel = station.cancel_card(client)
    assert cancel.status is CancelStatus.REJECTED and cancel.reason is Refusal.CARD_REVOKED
    assert card.state is CardState.ISSUED

    new, new_client = blank_card(rig)
    station.on_card(new_client)  # the voter's new card
    with pytest.raises(ReplacementRefused) as handed:
        station.replace_card(rig.iins[1], ReplaceReason.DAMAGED, old_card=client)
    assert handed.value.reason is Refusal.CARD_REVOKED and "Keep it" in str(handed.value)
    assert card.state is CardState.ISSUED
    log = audit_kinds(station.db)
    assert ("card_rejected", {"reason": "card_revoked", "during": "cancel"}) in log
    assert ("replacement_refused", {"reason": "card_revoked", "why": "damaged", "card_returned": True}) in log
    assert station.counters().replaced == 1


@pytest.mark.parametrize("point", ["issue:recorded", "issue:written"])
def test_crashes_at_the_same_point_of_issuing_never_lock_the_voter_out(
        rig: Rig, station: Station, tmp_path: Path, point: str) -> None:
    """Before: after two crashes at issue:recorded, replacing without the card was refused
    ("the old card is needed now") and handing in the blank card too ("a blank card
    carries no token"). Now each crash is replaced (the written card handed back, or the
    blank one's token revoked) and the voter still gets exactly one counted ballot."""
    def die(at: str) -> None:
        if at == point:
            raise Crash(at)

    card, client = blank_card(rig)
    station.check_in(rig.iins[2])
    for attempt in range(3):
        crashing = restart(rig, station, fault_hook=die)
        with pytest.raises(Crash):
            crashing.issue_card(client, rig.iins[2])
        restarted = restart(rig, station)
        with pytest.raises(CardAlreadyIssued):
            restarted.select_voter(rig.iins[2])
        if card.state is CardState.ISSUED:  # the write landed: hand the card in
            result = restarted.replace_card(rig.iins[2], ReplaceReason.ISSUE_INTERRUPTED, old_card=client)
            assert result.card_returned and result.card_cleared and card.state is CardState.BLANK
        else:  # the card is blank: the clerk is told to replace without it, and that works
            with pytest.raises(ReplacementRefused, match="replace without the old card"):
                restarted.replace_card(rig.iins[2], ReplaceReason.ISSUE_INTERRUPTED, old_card=client)
            result = restarted.replace_card(rig.iins[2], ReplaceReason.ISSUE_INTERRUPTED, card_not_returned=True)
            assert not result.card_returned
        assert result.voter.card is VoterCard.NONE and restarted.selected_voter == result.voter
    final = restart(rig, station)
    final.select_voter(rig.iins[2])
    assert final.issue_card(client, rig.iins[2]).voter.iin == rig.iins[2]
    receipt = rig.vote(client, rig.selections(2))
    assert final.cast_card(client).status is CastStatus.ACCEPTED
    assert receipt in [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(station.db)]
    c = final.counters()
    assert (c.checked_in, c.cast, c.replaced, c.issued) == (1, 1, 3, 4)
    p = final.close_polls(rig.shares[:K], tmp_path / "out").protocol
    assert p.discrepancies == () and validate_protocol(p, rig.election) == []


def test_a_voter_whose_ballot_is_counted_cannot_get_a_card_by_calling_it_lost(rig: Rig, station: Station) -> None:
    card, client = blank_card(rig)
    station.check_in(rig.iins[3])
    station.on_card(client)
    rig.vote(client, rig.selections(3))
    assert station.on_card(client).cast.status is CastStatus.ACCEPTED  # type: ignore[union-attr]
    with pytest.raises(ReplacementRefused) as refused:
        station.replace_card(rig.iins[3], ReplaceReason.LOST, card_not_returned=True)
    assert refused.value.reason is Refusal.ALREADY_COUNTED
    c = station.counters()
    assert (c.replaced, c.cast, c.revoked) == (0, 1, 0)
    with pytest.raises(CardAlreadyIssued):
        station.select_voter(rig.iins[3])


def test_another_voters_card_cannot_stand_in_for_the_old_card(rig: Rig, station: Station) -> None:
    """Handing in B's unused card to replace A's would cancel B's card and leave A's live:
    A could then vote twice. Refused: it is not A's card."""
    a_card, a_client = blank_card(rig)
    b_card, b_client = blank_card(rig)
    station.check_in(rig.iins[4])
    station.on_card(a_client)
    station.check_in(rig.iins[5])
    station.on_card(b_client)
    with pytest.raises(ReplacementRefused) as refused:
        station.replace_card(rig.iins[4], ReplaceReason.DAMAGED, old_card=b_client)
    assert refused.value.reason is Refusal.NOT_THEIR_CARD
    assert b_card.state is CardState.ISSUED
    assert store.token_state(station.db, IssueBlock.parse(b_card.issue_block).token_hash) is TokenState.ISSUED
    assert station.counters().replaced == 0


def test_a_replacement_racing_the_cast_of_the_same_card_never_counts_both(rig: Rig, station: Station) -> None:
    """The revocation and the cast move the same token row with one conditional UPDATE each:
    whichever commits first wins, the other sees it (PostgreSQL: waits on the row lock and
    re-checks; SQLite: the write lock serialises them)."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[0])
    station.on_card(client)
    token = IssueBlock.parse(card.issue_block).token_hash
    links = CardLinkKey.from_master_key(rig.card_master_key)
    if station.db.dialect != "postgresql":
        assert store.cast_ballot(station.db, token, station.style, b"ballot") is CastRecorded.ACCEPTED
        assert store.replace_card(station.db, rig.iins[0], "lost", old_token_hash=None,
                                  links=links) is Refusal.ALREADY_COUNTED
        return
    with station.db.engine.connect() as holder:  # the cast's transaction, not committed yet
        holder.execute(text("UPDATE issued_tokens SET state = 'used' WHERE token_hash = :h"), {"h": token})
        outcome: list[ReplaceOutcome | Refusal] = []
        racer = threading.Thread(target=lambda: outcome.append(
            store.replace_card(station.db, rig.iins[0], "lost", old_token_hash=None, links=links)))
        racer.start()
        wait_until_blocked_on_a_lock(station.db, "replacement")
        assert outcome == []
        holder.commit()
        racer.join(timeout=60)
    assert outcome == [Refusal.ALREADY_COUNTED]
    assert store.token_state(station.db, token) is TokenState.USED and station.counters().replaced == 0


def test_migration_0003_maps_lost_and_reissued_and_unlinked_cards_need_the_old_card(station_db_url: str) -> None:
    """A 0002 database: a 'lost' voter may get a card again, a 'reissued' one holds a card;
    a card issued before 0003 has no card link, so it cannot be revoked: the old card is
    needed (a named refusal), not a silent outstanding token."""
    from alembic import command

    from sailau.ballot_box.db import alembic_config, make_engine

    engine = make_engine(station_db_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002")
        for i, card in enumerate(("lost", "reissued", "none")):
            connection.execute(text(
                "INSERT INTO voters (id, iin, surname, given_name, patronymic, birth_date, checked_in, surname_key, "
                "given_name_key, card) VALUES (:id, :iin, 'S', 'G', '', '1980-01-01', :c, 's', 'g', :card)"),
                {"id": i + 1, "iin": f"80010130000{i}", "c": True, "card": card})
        connection.execute(text("INSERT INTO station_state (id, election_fingerprint, precinct, state, station_key_id) "
                                "VALUES (1, :f, 1, 'open', :k)"), {"f": bytes(32), "k": bytes(8)})
    engine.dispose()
    with open_station_db(station_db_url) as db:
        with db.read() as session:
            rows = session.execute(text("SELECT card, card_link FROM voters ORDER BY id")).all()
        assert [(card, link) for card, link in rows] == [("none", None), ("issued", None), ("none", None)]
        assert not store.station_info(db).storage_sealed
        links = CardLinkKey.from_master_key(bytes(16))
        outcome = store.replace_card(db, "800101300001", "lost", old_token_hash=None, links=links)
        assert outcome is Refusal.CARD_UNLINKED


# --- the state machine ------------------------------------------------------------------------

MACHINE_VOTERS = 3
_RIG = Rig.create(voters=MACHINE_VOTERS)
_CSV = _RIG.voters_csv(Path(tempfile.mkdtemp(prefix="sailau-revocation-")) / "voters.csv")
voter = st.integers(0, MACHINE_VOTERS - 1)
ISSUE_CRASH = st.sampled_from([None, None, "issue:recorded", "issue:written"])
CAST_CRASH = st.sampled_from([None, None, "cast:start", "cast:verified", "cast:committed", "cast:cleared"])
REPLACE_CRASH = st.sampled_from([None, None, "replace:recorded"])
CRASHED = object()


class ReplacementMachine(RuleBasedStateMachine):
    """Any interleaving of check-in, issue, vote, cast of any card a voter holds (kept old
    cards included), replacement with a card handed back (theirs or another voter's) or
    not, cancel, and a crash at any named point of issue, cast and replace.

    Always: counted ballots <= voters checked in; each voter has at most one counted
    ballot; every stored ballot was voted on a card some voter held; the token counts add
    up. At the end every checked-in voter who has no counted ballot gets one by the
    clerk's ordinary steps (insert any voted card they hold; else replace without the
    card and issue a new one): nobody is left without a way forward, nobody gets two.
    """

    def __init__(self, new_url: Callable[[], str]) -> None:
        super().__init__()
        self.db = open_station_db(new_url())
        first = _RIG.station(self.db)
        pollbook.import_voters(self.db, _CSV)
        first.open_polls([_RIG.terminal])
        self.crash_at: str | None = None
        self.station = self._attach()
        self.checked_in: set[int] = set()
        self.cards: dict[int, list[VirtualBallotCard]] = {i: [] for i in range(MACHINE_VOTERS)}
        self.owner: dict[str, int] = {}  # receipt code -> the voter who voted it
        self.code_on: dict[int, str] = {}  # id of a voted card -> the receipt code the booth showed for it

    # -- plumbing --------------------------------------------------------------------

    def _attach(self) -> Station:
        return Station.attach(self.db, _RIG.election, _RIG.station_key, _RIG.card_master_key, fault_hook=self._hook)

    def _hook(self, point: str) -> None:
        if point == self.crash_at:
            self.crash_at = None
            raise Crash(point)

    def _run(self, action: Callable[[], object], crash_at: str | None) -> object:
        self.crash_at = crash_at
        try:
            return action()
        except Crash:
            self.station = self._attach()  # the process died: a new one over the same database
            return CRASHED
        finally:
            self.crash_at = None

    def _counted(self) -> dict[int, int]:
        per_voter = dict.fromkeys(range(MACHINE_VOTERS), 0)
        for ballot in store.ballots(self.db):
            code = SealedBallot.parse(ballot.sealed).receipt_code
            assert code in self.owner, f"ballot {code} stored that no voter's card carried"
            per_voter[self.owner[code]] += 1
        return per_voter

    def _held(self, i: int, state: CardState | None = None) -> list[VirtualBallotCard]:
        return [c for c in self.cards[i] if state is None or c.state is state]

    # -- rules (each acts on what exists: Hypothesis picks among the enabled ones) ----------

    def _holding(self, state: CardState | None = None) -> list[tuple[int, VirtualBallotCard]]:
        return [(i, c) for i in range(MACHINE_VOTERS) for c in self._held(i, state)]

    @initialize(first=st.sets(voter))
    def some_voters_come_early(self, first: set[int]) -> None:
        for i in sorted(first):
            self.check_in(i)

    @rule(i=voter)
    def check_in(self, i: int) -> None:
        if i in self.checked_in:
            with pytest.raises(pollbook.AlreadyCheckedIn):
                self.station.check_in(_RIG.iins[i])
            return
        self.station.check_in(_RIG.iins[i])
        self.checked_in.add(i)

    @precondition(lambda self: self.checked_in)
    @rule(data=st.data(), crash=ISSUE_CRASH)
    def issue(self, data: st.DataObject, crash: str | None) -> None:
        i = data.draw(st.sampled_from(sorted(self.checked_in)), label="voter")
        try:
            self.station.select_voter(_RIG.iins[i])
        except CardAlreadyIssued:  # the database says the voter holds a card
            return
        card = VirtualBallotCard(master_key=_RIG.card_master_key)
        self.cards[i].append(card)  # handed to the voter, whatever happens to the ISSUE
        self._run(lambda: self.station.issue_card(client_of(card), _RIG.iins[i]), crash)

    @precondition(lambda self: self._holding(CardState.ISSUED))
    @rule(data=st.data())
    def vote(self, data: st.DataObject) -> None:
        i, card = data.draw(st.sampled_from(self._holding(CardState.ISSUED)), label="card")
        self._vote(i, card)

    @precondition(lambda self: self._holding(CardState.VOTED))
    @rule(data=st.data(), crash=CAST_CRASH)
    def cast(self, data: st.DataObject, crash: str | None) -> None:
        i, card = data.draw(st.sampled_from(self._holding(CardState.VOTED)), label="card")
        self._cast(i, card, crash)

    @precondition(lambda self: self._holding(CardState.ISSUED))
    @rule(data=st.data(), crash=CAST_CRASH)
    def vote_and_cast(self, data: st.DataObject, crash: str | None) -> None:
        """The common path: from the booth straight to the box."""
        i, card = data.draw(st.sampled_from(self._holding(CardState.ISSUED)), label="card")
        self._vote(i, card)
        self._cast(i, card, crash)

    def _vote(self, i: int, card: VirtualBallotCard) -> None:
        code = _RIG.vote(client_of(card), _RIG.selections(i))
        self.owner[code] = i
        self.code_on[id(card)] = code

    def _cast(self, i: int, card: VirtualBallotCard, crash: str | None) -> None:
        result = self._run(lambda: self.station.on_card(client_of(card)), crash)
        if result is CRASHED:
            return
        assert result.kind is ActionKind.CAST  # type: ignore[union-attr]
        cast = result.cast  # type: ignore[union-attr]
        if cast.counted:  # the table is told nothing ballot-derived: the card's own ballot is in the box
            code = self.code_on[id(card)]
            assert self.owner[code] == i
            assert code in {SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(self.db)}
        else:
            assert cast.reason in (Refusal.CARD_REVOKED, Refusal.CARD_CANCELLED), cast
            assert card.state is CardState.VOTED  # a refused card is kept as it is

    @precondition(lambda self: self._holding())
    @rule(data=st.data(), theirs=st.booleans(), crash=REPLACE_CRASH)
    def replace_handing_a_card_back(self, data: st.DataObject, theirs: bool, crash: str | None) -> None:
        """The clerk replaces voter i's card with a card in the reader: one i holds (any state:
        a blank or voted one is refused), or one another voter holds (refused: not theirs)."""
        j, card = data.draw(st.sampled_from(self._holding()), label="card")
        i = j if theirs else data.draw(st.sampled_from(sorted(self.checked_in | {j})), label="voter")
        before = card.state
        self._replace(lambda: self.station.replace_card(_RIG.iins[i], ReplaceReason.DAMAGED,
                                                        old_card=client_of(card)), crash)
        if i != j:
            assert card.state is before  # another voter's card is never cleared for i

    @precondition(lambda self: self.checked_in)
    @rule(data=st.data(), crash=REPLACE_CRASH)
    def replace_without_the_card(self, data: st.DataObject, crash: str | None) -> None:
        holders = [i for i in sorted(self.checked_in) if pollbook.find_by_iin(self.db, _RIG.iins[i]).card.holds_card]
        i = data.draw(st.sampled_from(holders or sorted(self.checked_in)), label="voter")
        self._replace(lambda: self.station.replace_card(_RIG.iins[i], ReplaceReason.LOST,
                                                        card_not_returned=True), crash)

    def _replace(self, action: Callable[[], object], crash: str | None) -> None:
        try:
            self._run(action, crash)
        except ReplacementRefused as refused:
            assert refused.reason and str(refused)  # a named refusal with words, nothing changed

    @precondition(lambda self: self._holding(CardState.ISSUED))
    @rule(data=st.data())
    def cancel_an_unused_card(self, data: st.DataObject) -> None:
        _, card = data.draw(st.sampled_from(self._holding(CardState.ISSUED)), label="card")
        result = self.station.cancel_card(client_of(card))
        assert result.status in (CancelStatus.CANCELLED, CancelStatus.ALREADY_CANCELLED, CancelStatus.REJECTED)

    @rule()
    def restart(self) -> None:
        self.station = self._attach()

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def a_replacement_never_adds_a_ballot(self) -> None:
        c = store.counters(self.db)
        assert c.checked_in == len(self.checked_in)
        assert c.cast <= c.checked_in
        assert all(n <= 1 for n in self._counted().values())
        assert c.cast + c.cancelled + c.outstanding + c.revoked == c.issued
        assert c.revoked == c.not_returned and c.issued <= c.checked_in + c.replaced

    def teardown(self) -> None:
        try:
            self._everyone_can_still_vote_once()
        finally:
            self.db.close()

    def _everyone_can_still_vote_once(self) -> None:
        station = self.station = self._attach()
        for i in sorted(self.checked_in):
            for card in self._held(i, CardState.VOTED):  # the voter hands in what they hold
                if self._counted()[i]:
                    break
                station.on_card(client_of(card))
            if self._counted()[i]:
                continue
            try:
                station.select_voter(_RIG.iins[i])
            except CardAlreadyIssued:
                station.replace_card(_RIG.iins[i], ReplaceReason.LOST, card_not_returned=True)
            card = VirtualBallotCard(master_key=_RIG.card_master_key)
            client = client_of(card)
            assert station.issue_card(client, _RIG.iins[i]).voter.iin == _RIG.iins[i]
            self.owner[_RIG.vote(client, _RIG.selections(i))] = i
            assert station.on_card(client).cast.status is CastStatus.ACCEPTED  # type: ignore[union-attr]
        counted = self._counted()
        assert all(counted[i] == 1 for i in self.checked_in), counted
        assert store.counters(self.db).cast == len(self.checked_in)
        p = station.close_polls(_RIG.shares[:K]).protocol
        assert p.discrepancies == () and validate_protocol(p, _RIG.election) == []


MACHINE_SETTINGS = {"sqlite": settings(max_examples=50, stateful_step_count=40, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow]),
                    "postgresql": settings(max_examples=15, stateful_step_count=30, deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_replacements_and_crashes_never_add_a_ballot_or_strand_a_voter(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    made: list[str] = []
    if backend == "sqlite":
        def new_url() -> str:
            made.append(f"sqlite:///{tmp_path / f'machine-{len(made)}.db'}")
            return made[-1]
    else:
        from fixtures_postgres import _drop_database

        server = request.getfixturevalue("postgres_server")
        names: list[str] = []

        def new_url() -> str:
            name = f"sailau_sm_{len(names)}_{id(names) % 100000}"
            with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {name} TEMPLATE {server.template}")
            names.append(name)
            return server.url(name)

        request.addfinalizer(lambda: [_drop_database(server, n) for n in names])
    run_state_machine_as_test(lambda: ReplacementMachine(new_url), settings=MACHINE_SETTINGS[backend])
