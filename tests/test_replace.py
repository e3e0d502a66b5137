"""One card per voter across station restarts, card replacement (old card handed back
or not: then revoked), and the audit head the signed protocol carries — on SQLite and
on a real PostgreSQL (``station_db_url``); the migrations of 0001 and 0002 databases;
and a Hypothesis state machine of check-in / issue / cast / replace against a model
(the station-level machine with crashes and kept cards is in test_revocation.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from sailau.ballot_box import audit, pollbook, store
from sailau.simulator.booth_rig import K, Rig
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.models import TokenState, VoterCard
from sailau.ballot_box.station import (
    ActionKind,
    CancelStatus,
    CardAlreadyIssued,
    CastStatus,
    IssueFailed,
    OldCardNeeded,
    ReplaceReason,
    ReplacementRefused,
    Station,
)
from sailau.ballot_box.refusal import Refusal
from sailau.ballot_box.store import CastRecorded, ReplaceOutcome
from sailau.cli.main import cli
from sailau.election.protocol import SignedProtocol, validate_protocol
from sailau.election.record import IssueBlock, SealedBallot, token_hash
from sailau.simulator.faults import FaultyCard, clone_card
from sailau.smartcard.apdu import CardState
from station_support import Crash, audit_kinds, blank_card, card_links, client_of, restart


@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=8)


# --- one card per voter, across restarts ---------------------------------------------------


def test_a_voter_who_got_a_card_cannot_get_another_after_a_restart(rig: Rig, station: Station) -> None:
    card, client = blank_card(rig)
    station.check_in(rig.iins[0])
    assert station.on_card(client).kind is ActionKind.ISSUED
    receipt = rig.vote(client, rig.selections(0))
    assert station.cast_card(client).status is CastStatus.ACCEPTED  # voted and counted

    restarted = restart(rig, station)
    with pytest.raises(CardAlreadyIssued, match="already got a card"):
        restarted.select_voter(rig.iins[0])
    assert restarted.waiting == []
    _, client2 = blank_card(rig)
    with pytest.raises(CardAlreadyIssued):
        restarted.issue_card(client2, rig.iins[0])
    assert restarted.on_card(client2).kind is ActionKind.NEED_VOTER  # nobody is waiting: nothing written
    c = restarted.counters()
    assert (c.checked_in, c.issued, c.cast, c.replaced) == (1, 1, 1, 0)
    refusals = [p for k, p in audit_kinds(station.db) if k == "issue_refused"]
    assert refusals == [{"reason": "card_already_issued"}, {"reason": "card_already_issued"}]
    assert receipt


def test_the_database_refuses_a_second_card_even_when_two_stations_queue_the_voter(rig: Rig, station: Station) -> None:
    """Two Station objects (say a process that was thought dead) both queue a voter: only one card."""
    other = restart(rig, station)
    station.check_in(rig.iins[1])
    other.select_voter(rig.iins[1])  # queued there before the first issued
    first, client = blank_card(rig)
    station.issue_card(client)
    second, client2 = blank_card(rig)
    with pytest.raises(CardAlreadyIssued):
        other.issue_card(client2, rig.iins[1])
    assert first.state is CardState.ISSUED and second.state is CardState.BLANK
    assert other.waiting == [] and station.counters().issued == 1
    assert audit_kinds(station.db)[-1] == ("issue_refused", {"reason": "card_already_issued"})


def test_store_marks_voter_and_token_in_one_transaction(rig: Rig, station: Station) -> None:
    station.check_in(rig.iins[2])
    before = store.counters(station.db).issued
    with pytest.raises(store.DuplicateToken):  # the token insert fails: the voter flag rolls back with it
        existing = bytes(32)
        store.record_issued(station.db, existing)
        store.issue_to_voter(station.db, rig.iins[2], existing, links=card_links(rig))
    assert station.search(rig.iins[2])[0].card is VoterCard.NONE
    assert store.counters(station.db).issued == before + 1  # only the bare record_issued one
    assert store.issue_to_voter(station.db, rig.iins[3], bytes([1]) * 32,
                                links=card_links(rig)) is Refusal.NOT_CHECKED_IN


# --- replacement after a crash between the token record and the card write --------------


def test_replacement_after_a_crash_before_the_card_was_written(rig: Rig, station: Station, tmp_path: Path) -> None:
    def die(point: str) -> None:
        if point == "issue:recorded":
            raise Crash(point)

    crashing = restart(rig, station, fault_hook=die)
    card, client = blank_card(rig)
    crashing.check_in(rig.iins[0])
    with pytest.raises(Crash):
        crashing.on_card(client)  # token recorded, voter marked, card never written
    assert card.state is CardState.BLANK
    assert station.counters().outstanding == 1

    restarted = restart(rig, station)
    with pytest.raises(CardAlreadyIssued):
        restarted.select_voter(rig.iins[0])
    with pytest.raises(OldCardNeeded):  # not without saying the card is not handed back
        restarted.replace_card(rig.iins[0], ReplaceReason.ISSUE_INTERRUPTED)
    with pytest.raises(ReplacementRefused) as blank:  # the blank card carries no token to cancel
        restarted.replace_card(rig.iins[0], ReplaceReason.ISSUE_INTERRUPTED, old_card=client)
    assert blank.value.reason is Refusal.CARD_NOT_ISSUED and "replace without the old card" in str(blank.value)
    result = restarted.replace_card(rig.iins[0], ReplaceReason.ISSUE_INTERRUPTED, card_not_returned=True)
    assert not result.card_returned and restarted.selected_voter == result.voter
    assert result.voter.card is VoterCard.NONE and "revoked" in result.message

    action = restarted.on_card(client)  # the same blank card now goes to the voter
    assert action.kind is ActionKind.ISSUED and card.state is CardState.ISSUED
    c = restarted.counters()
    assert (c.checked_in, c.issued, c.cancelled, c.outstanding, c.revoked, c.replaced, c.not_returned) == (
        1, 2, 0, 1, 1, 1, 1)

    receipt = rig.vote(client, rig.selections(0))
    assert restarted.cast_card(client).status is CastStatus.ACCEPTED
    assert receipt in [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(station.db)]
    with pytest.raises(ReplacementRefused) as counted:  # the voter's card is in the box: never replaced
        restarted.replace_card(rig.iins[0], ReplaceReason.LOST, card_not_returned=True)
    assert counted.value.reason is Refusal.ALREADY_COUNTED
    events = audit_kinds(station.db)
    assert ("card_replaced", {"reason": "issue_interrupted", "card_returned": False}) in events
    assert ("replacement_refused", {"reason": "already_counted", "why": "lost", "card_returned": False}) in events
    assert ("card_rejected", {"reason": "card_not_issued", "during": "replace"}) in events

    closing = restarted.close_polls(rig.shares[:K], tmp_path / "out")
    p = closing.protocol
    assert (p.voters_checked_in, p.cards_issued, p.ballots_cast, p.cards_cancelled) == (1, 2, 1, 0)
    assert (p.cards_replaced, p.cards_not_returned, closing.outstanding) == (1, 1, 0)
    assert validate_protocol(p, rig.election) == [] and p.discrepancies == ()


# --- replacement with the old card in hand --------------------------------------------------


def test_replacement_with_the_old_card_cancels_its_token(rig: Rig, station: Station, tmp_path: Path) -> None:
    card, client = blank_card(rig)
    station.check_in(rig.iins[4])
    station.on_card(client)
    old_token = IssueBlock.parse(card.issue_block).token_hash
    copy = clone_card(FaultyCard(card))  # a copy of the old card that stays in the wild

    result = station.replace_card(rig.iins[4], ReplaceReason.DAMAGED, old_card=client)
    assert result.card_returned and result.card_cleared and card.state is CardState.BLANK
    assert store.token_state(station.db, old_token) is TokenState.CANCELLED
    assert station.selected_voter is not None and station.selected_voter.iin == rig.iins[4]

    action = station.on_card(client)  # the cleared card is the new card
    assert action.kind is ActionKind.ISSUED and IssueBlock.parse(card.issue_block).token_hash != old_token
    c = station.counters()
    assert (c.issued, c.cancelled, c.outstanding, c.replaced, c.not_returned) == (2, 1, 1, 1, 0)

    # the copy of the old card, voted, is refused: its token was cancelled
    copy_client = client_of(copy.card)
    rig.vote(copy_client, rig.selections(1))
    late = station.cast_card(copy_client)
    assert late.status is CastStatus.REJECTED and late.reason is Refusal.CARD_CANCELLED
    assert copy.card.state is CardState.VOTED  # refused cards are not touched

    receipt = rig.vote(client, rig.selections(4))
    assert station.cast_card(client).status is CastStatus.ACCEPTED
    assert receipt in [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(station.db)]
    closing = station.close_polls(rig.shares[:K], tmp_path / "out")
    p = closing.protocol
    assert (p.voters_checked_in, p.cards_issued, p.ballots_cast, p.cards_cancelled) == (1, 2, 1, 1)
    assert (p.cards_replaced, p.cards_not_returned, closing.outstanding) == (1, 0, 0)


def test_replacement_refusals_change_nothing(rig: Rig, station: Station) -> None:
    card, client = blank_card(rig)
    with pytest.raises(ReplacementRefused) as not_in:
        station.replace_card(rig.iins[5], ReplaceReason.LOST, card_not_returned=True)
    assert not_in.value.reason is Refusal.NOT_CHECKED_IN
    station.check_in(rig.iins[5])
    with pytest.raises(ReplacementRefused) as no_card:
        station.replace_card(rig.iins[5], ReplaceReason.LOST, card_not_returned=True)
    assert no_card.value.reason is Refusal.NO_CARD_TO_REPLACE
    station.on_card(client)
    rig.vote(client, rig.selections(5))
    with pytest.raises(ReplacementRefused) as voted:  # a voted card is cast, not replaced
        station.replace_card(rig.iins[5], ReplaceReason.DAMAGED, old_card=client)
    assert voted.value.reason is Refusal.CARD_NOT_ISSUED and "cast it" in str(voted.value)
    assert card.state is CardState.VOTED
    c = station.counters()
    assert (c.issued, c.cancelled, c.replaced) == (1, 0, 0)
    assert station.search(rig.iins[5])[0].card is VoterCard.ISSUED


def test_a_cast_card_handed_back_is_not_replaced(rig: Rig, station: Station) -> None:
    """The old card's token is used (its ballot is counted): the replacement is refused."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[6])
    station.on_card(client)
    copy = clone_card(FaultyCard(card))  # ISSUED copy of the card
    rig.vote(client, rig.selections(6))
    assert station.cast_card(client).counted
    with pytest.raises(ReplacementRefused) as counted:
        station.replace_card(rig.iins[6], ReplaceReason.DAMAGED, old_card=client_of(copy.card))
    assert counted.value.reason is Refusal.ALREADY_COUNTED
    assert station.counters().replaced == 0


def test_a_failed_issue_still_known_in_memory_is_replaced_with_its_token(rig: Rig, station: Station) -> None:
    """Same process: the ISSUE failed and the card went missing. The station knows the
    token, so the replacement cancels it (no outstanding token, no confirmation needed)."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[7])
    original = client.transport.transmit

    def pull_at_issue(apdu: bytes) -> bytes:
        if apdu[1] == 0x10:  # ISSUE never reaches the card
            from sailau.smartcard.errors import CardRemovedError

            raise CardRemovedError("pulled")
        return original(apdu)

    client.transport.transmit = pull_at_issue  # type: ignore[method-assign]
    with pytest.raises(IssueFailed):
        station.on_card(client)
    result = station.replace_card(rig.iins[7], ReplaceReason.LOST)
    assert result.card_returned
    c = station.counters()
    assert (c.issued, c.cancelled, c.outstanding, c.replaced, c.not_returned) == (1, 1, 0, 1, 0)


def test_abandoning_a_failed_issue_for_another_card_keeps_the_protocol_valid(
        rig: Rig, station: Station, tmp_path: Path) -> None:
    """The clerk takes another card after a failed ISSUE: the first token is cancelled as a
    replacement, so cards issued (2) stay within voters checked in (1) + replaced (1)."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[0])
    original = client.transport.transmit

    def fail_issue(apdu: bytes) -> bytes:
        if apdu[1] == 0x10:
            from sailau.smartcard.errors import CardRemovedError

            raise CardRemovedError("pulled")
        return original(apdu)

    client.transport.transmit = fail_issue  # type: ignore[method-assign]
    with pytest.raises(IssueFailed):
        station.on_card(client)
    other, client2 = blank_card(rig)
    assert station.on_card(client2).kind is ActionKind.ISSUED
    rig.vote(client2, rig.selections(0))
    assert station.cast_card(client2).counted
    p = station.close_polls(rig.shares[:K], tmp_path / "out").protocol
    assert (p.cards_issued, p.cards_cancelled, p.cards_replaced, p.cards_not_returned) == (2, 1, 1, 0)
    assert validate_protocol(p, rig.election) == []
    assert ("card_replaced", {"reason": "issue_failed", "card_returned": True}) in audit_kinds(station.db)


def test_replacement_events_and_voter_rows_name_no_card(rig: Rig, station: Station) -> None:
    card, client = blank_card(rig)
    station.check_in(rig.iins[1])
    station.on_card(client)
    station.replace_card(rig.iins[1], ReplaceReason.DAMAGED, old_card=client)
    for event in audit.read_events(station.db):
        assert not set(event.payload) & audit.FORBIDDEN_KEYS
    with station.db.engine.connect() as connection:
        columns = set(connection.exec_driver_sql("SELECT * FROM voters").keys())
        replacements = set(connection.exec_driver_sql("SELECT * FROM card_replacements").keys())
    assert not {c for c in columns if "token" in c or "time" in c or "serial" in c}
    assert replacements == {"kind", "count"}


def test_the_card_link_is_opaque_and_lives_only_while_the_voter_holds_the_card(rig: Rig, station: Station) -> None:
    """The voter row names its card's token only encrypted (a reader without the card
    master key cannot join it to issued_tokens), and only until the card is replaced."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[3])
    station.on_card(client)
    token = IssueBlock.parse(card.issue_block).token_hash

    def link() -> bytes | None:
        with station.db.engine.connect() as connection:
            row = connection.exec_driver_sql("SELECT card_link FROM voters WHERE card_link IS NOT NULL").all()
        return None if not row else bytes(row[0][0])

    held = link()
    assert held is not None and len(held) == 60 and token not in held
    with station.db.engine.connect() as connection:
        hashes = [bytes(r[0]) for r in connection.exec_driver_sql("SELECT token_hash FROM issued_tokens")]
    assert hashes == [token] and all(h not in held for h in hashes)
    assert card_links(rig).decrypt(rig.iins[3], held) == token
    with pytest.raises(ValueError):  # bound to the voter: copied to another row it does not open
        card_links(rig).decrypt(rig.iins[4], held)
    station.replace_card(rig.iins[3], ReplaceReason.LOST, card_not_returned=True)
    assert link() is None


# --- on_card when the card is pulled ------------------------------------------------------


def test_on_card_reports_a_card_pulled_before_its_state_is_known(rig: Rig, station: Station) -> None:
    card, client = blank_card(rig)
    client.transport.remove()  # type: ignore[attr-defined]
    action = station.on_card(client)
    assert action.kind is ActionKind.REMOVED and action.state is None and action.serial == b""
    assert station.counters().issued == 0


# --- the audit head in the signed protocol ---------------------------------------------------


def test_signed_protocol_anchors_the_audit_log_and_a_cut_log_is_caught(
        rig: Rig, station: Station, tmp_path: Path) -> None:
    card, client = blank_card(rig)
    for i in range(2):
        station.check_in(rig.iins[i])
        station.on_card(client)
        rig.vote(client, rig.selections(i))
        assert station.on_card(client).cast.counted  # type: ignore[union-attr]
    closing = station.close_polls(rig.shares[:K], tmp_path / "out")
    anchor = closing.protocol.audit
    closed = audit.last_of_kind(station.db, audit.AuditKind.POLLS_CLOSED)
    assert anchor is not None and closed is not None and (anchor.seq, anchor.hash) == (closed.seq, closed.hash)
    assert audit.read_head(station.db) == (anchor.seq, anchor.hash)
    signed_path = closing.files.protocol  # type: ignore[union-attr]
    assert SignedProtocol.from_canonical_json(signed_path.read_bytes()).protocol.audit == anchor
    again = station.close_polls(rig.shares[:K], tmp_path / "again")  # a re-run signs the same bytes
    assert again.files.protocol.read_bytes() == signed_path.read_bytes()  # type: ignore[union-attr]

    log = tmp_path / "audit.jsonl"
    audit.export_jsonl(station.db, log)
    events = audit.load_jsonl(log)
    assert audit.verify_anchor(events, anchor.seq, anchor.hash).ok
    cut = events[:-2]  # the tail (ballot_accepted, polls_closed) removed: still a valid shorter chain
    assert audit.verify_chain(cut).ok
    report = audit.verify_anchor(cut, anchor.seq, anchor.hash)
    assert not report.ok and "were removed" in (report.problem or "")

    runner = CliRunner()
    ok = runner.invoke(cli, ["protocol", "verify", str(signed_path), "--audit", str(log)])
    assert ok.exit_code == 0, ok.output
    assert f"audit log reaches event {anchor.seq}" in ok.output
    cut_log = tmp_path / "cut.jsonl"
    cut_log.write_text("".join(e.to_json() + "\n" for e in cut), encoding="utf-8")
    bad = runner.invoke(cli, ["protocol", "verify", str(signed_path), "--audit", str(cut_log)])
    assert bad.exit_code == 1 and "were removed" in bad.output and "NOT verified" in bad.output


def test_a_rewritten_audit_log_does_not_reach_the_anchor(rig: Rig, station: Station, tmp_path: Path) -> None:
    """Someone recomputes the whole chain after changing an event: it verifies alone but
    its hash at the anchored seq differs from the one in the signed protocol."""
    closing = station.close_polls(rig.shares[:K], tmp_path / "out")
    anchor = closing.protocol.audit
    assert anchor is not None
    events = audit.read_events(station.db)
    prev, forged = audit.GENESIS_HASH, []
    for e in events:
        payload = dict(e.payload, forged=True) if e.kind == "polls_opened" else e.payload
        draft = audit.AuditDraft(audit.AuditKind(e.kind), payload)
        event = audit.chain_event(e.seq - 1, prev, draft, station.db.clock())
        event = audit.AuditEvent(e.seq, e.kind, e.time, event.payload, prev,
                                 audit.event_hash(e.seq, e.kind, e.time, event.payload, prev))
        forged.append(event)
        prev = event.hash
    assert audit.verify_chain(forged).ok
    report = audit.verify_anchor(forged, anchor.seq, anchor.hash)
    assert not report.ok and "rewritten" in (report.problem or "")


def test_cancel_of_a_replaced_card_left_issued_just_clears(rig: Rig, station: Station) -> None:
    """Crash after the replacement's commit, before CLEAR: the old card comes back ISSUED
    with a cancelled token; the cancel dialog clears it, nothing counted twice."""
    card, client = blank_card(rig)
    station.check_in(rig.iins[2])
    station.on_card(client)
    token = IssueBlock.parse(card.issue_block).token_hash
    assert store.replace_card(station.db, rig.iins[2], "damaged", old_token_hash=token,
                              links=card_links(rig)) is ReplaceOutcome.REPLACED
    assert station.on_card(client).kind is ActionKind.OFFER_CANCEL
    result = station.cancel_card(client)
    assert result.status is CancelStatus.ALREADY_CANCELLED and card.state is CardState.BLANK
    c = station.counters()
    assert (c.issued, c.cancelled, c.replaced) == (1, 1, 1)


# --- migration ----------------------------------------------------------------------------------


def test_migration_0002_takes_checked_in_voters_as_holding_a_card(station_db_url: str) -> None:
    """A station database from 0001 does not know who got a card: every checked-in voter
    is taken to hold one (nobody gets a second card without a counted replacement)."""
    from alembic import command
    from sqlalchemy import text

    from sailau.ballot_box.db import alembic_config, make_engine

    engine = make_engine(station_db_url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        for i, checked in enumerate((True, False)):
            connection.execute(text(
                "INSERT INTO voters (id, iin, surname, given_name, patronymic, birth_date, checked_in, surname_key, "
                "given_name_key) VALUES (:id, :iin, 'S', 'G', '', '1980-01-01', :c, 's', 'g')"),
                {"id": i + 1, "iin": f"80010130000{i}", "c": checked})
    engine.dispose()
    from sqlalchemy.exc import IntegrityError

    with open_station_db(station_db_url) as db:
        with db.read() as session:
            rows = session.execute(text("SELECT iin, checked_in, card FROM voters ORDER BY id")).all()
        assert [(bool(c), card) for _, c, card in rows] == [(True, "issued"), (False, "none")]
        with pytest.raises(IntegrityError, match="ck_voters_card_needs_(check_in|card_form)"):  # the checks hold (0004: a card form too)
            with db.write() as session:
                session.execute(text("UPDATE voters SET card = 'issued' WHERE checked_in = :f"), {"f": False})


# --- the voter card rules as a state machine (Hypothesis) --------------------------------------

MACHINE_VOTERS = 4
_MACHINE_RIG = Rig.create(voters=MACHINE_VOTERS)
_MACHINE_CSV = _MACHINE_RIG.voters_csv(Path(tempfile.mkdtemp(prefix="sailau-sm-")) / "voters.csv")
voter_index = st.integers(0, MACHINE_VOTERS - 1)


class VoterCardMachine(RuleBasedStateMachine):
    """Check-ins, issues, casts and both kinds of replacement in any order, at the store,
    against a model that knows which token is on whose card (the store knows it only
    through the encrypted card link). The store must agree with the model on every
    outcome; a revoked token never counts; the protocol's count relations always hold
    and counted ballots never exceed voters checked in."""

    @initialize()
    def open(self) -> None:
        rig = _MACHINE_RIG
        self.db = open_station_db("sqlite://")
        station = rig.station(self.db)
        pollbook.import_voters(self.db, _MACHINE_CSV)
        station.open_polls([rig.terminal])
        self.links = card_links(rig)
        self.iins = rig.iins
        self.checked_in: set[int] = set()
        self.live: dict[int, bytes] = {}  # voter -> token hash of the card they hold
        self.voted: set[int] = set()
        self.revoked: list[bytes] = []  # tokens of cards replaced without being handed back (kept by voters)

    def teardown(self) -> None:
        if hasattr(self, "db"):
            self.db.close()

    @rule(i=voter_index)
    def check_in(self, i: int) -> None:
        if i in self.checked_in:
            with pytest.raises(pollbook.AlreadyCheckedIn):
                pollbook.check_in(self.db, self.iins[i])
            return
        pollbook.check_in(self.db, self.iins[i])
        self.checked_in.add(i)

    @rule(i=voter_index)
    def issue(self, i: int) -> None:
        token = token_hash(os.urandom(16))
        outcome = store.issue_to_voter(self.db, self.iins[i], token, links=self.links)
        if i not in self.checked_in:
            assert outcome is Refusal.NOT_CHECKED_IN
        elif i in self.live:
            assert outcome is Refusal.CARD_ALREADY_ISSUED
        else:
            assert outcome is store.IssueOutcome.ISSUED
            self.live[i] = token

    @rule(i=voter_index)
    def cast(self, i: int) -> None:
        if i not in self.live:
            return
        outcome = store.cast_ballot(self.db, self.live[i], 1, b"sealed")
        assert outcome is (CastRecorded.ALREADY_COUNTED if i in self.voted else CastRecorded.ACCEPTED)
        self.voted.add(i)

    @rule(data=st.data())
    def cast_a_kept_old_card(self, data: st.DataObject) -> None:
        if self.revoked:
            token = data.draw(st.sampled_from(self.revoked))
            assert store.cast_ballot(self.db, token, 1, b"kept") is Refusal.CARD_REVOKED

    def _expected_refusal(self, i: int) -> Refusal | None:
        if i not in self.checked_in:
            return Refusal.NOT_CHECKED_IN
        if i not in self.live:
            return Refusal.NO_CARD_TO_REPLACE
        if i in self.voted:
            return Refusal.ALREADY_COUNTED
        return None

    @rule(i=voter_index)
    def replace_with_card(self, i: int) -> None:
        token = self.live.get(i)
        outcome = store.replace_card(self.db, self.iins[i], "damaged", old_token_hash=token or bytes(32),
                                     links=self.links)
        assert outcome is (self._expected_refusal(i) or ReplaceOutcome.REPLACED)
        if isinstance(outcome, ReplaceOutcome):
            del self.live[i]

    @rule(i=voter_index, j=voter_index)
    def hand_back_another_voters_card(self, i: int, j: int) -> None:
        if i == j or j not in self.live or self._expected_refusal(i) is not None:
            return
        outcome = store.replace_card(self.db, self.iins[i], "damaged", old_token_hash=self.live[j], links=self.links)
        assert outcome is (Refusal.ALREADY_COUNTED if j in self.voted else Refusal.NOT_THEIR_CARD)

    @rule(i=voter_index)
    def replace_without_card(self, i: int) -> None:
        outcome = store.replace_card(self.db, self.iins[i], "lost", old_token_hash=None, links=self.links)
        assert outcome is (self._expected_refusal(i) or ReplaceOutcome.REPLACED_REVOKED)
        if isinstance(outcome, ReplaceOutcome):
            self.revoked.append(self.live.pop(i))

    @invariant()
    def store_agrees_and_relations_hold(self) -> None:
        if not hasattr(self, "db"):
            return
        for i, iin in enumerate(self.iins):
            expected = VoterCard.ISSUED if i in self.live else VoterCard.NONE
            assert pollbook.find_by_iin(self.db, iin).card is expected  # type: ignore[union-attr]
        c = store.counters(self.db)
        assert c.checked_in == len(self.checked_in) and c.cast == len(self.voted)
        assert c.revoked == c.not_returned == len(self.revoked)
        assert c.issued <= c.checked_in + c.replaced
        assert c.cast + c.cancelled + c.outstanding + c.revoked == c.issued
        assert c.not_returned <= c.replaced and c.replaced - c.not_returned <= c.cancelled
        assert c.cast <= c.checked_in  # by construction: a replacement never adds a ballot


TestVoterCardMachine = VoterCardMachine.TestCase
TestVoterCardMachine.settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
