"""Close of polls: shares -> key -> decrypt -> tally -> validated, signed protocol -> outputs."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest
import segno

from nist_schema import nist_schema_errors
from sailau.ballot_box import audit, pollbook, store
from sailau.simulator.booth_rig import K, Rig
from sailau.ballot_box.db import open_station_db
from sailau.ballot_box.models import PollsState
from sailau.ballot_box.outputs import qr_payload
from sailau.ballot_box.station import Station
from sailau.election import crypto
from sailau.election.ballot import AGAINST_ALL
from sailau.election.protocol import SignedProtocol, validate_protocol, verify_signed_protocol
from sailau.election.receipts import commit_receipts, read_receipt_list
from sailau.election.record import SealedBallot, new_issue_block
from sailau.election.shares import NotEnoughSharesError, ShareError
from sailau.simulator.card_app import VirtualBallotCard
from sailau.smartcard.client import BallotCardClient
from sailau.smartcard.transport import InProcessTransport

VOTERS = 9



@pytest.fixture(scope="module")
def rig() -> Rig:
    return Rig.create(voters=VOTERS + 2)


def run_day(rig: Rig, station: Station, voters: int = VOTERS) -> list[str]:
    """Voters 0..n-1 vote through one card; the last one takes a card and leaves (cancelled)."""
    card = VirtualBallotCard(master_key=rig.card_master_key)
    client = BallotCardClient(InProcessTransport(card))
    client.connect()
    receipts = []
    for i in range(voters):
        station.check_in(rig.iins[i])
        station.on_card(client)
        receipts.append(rig.vote(client, rig.selections(i)))  # type: ignore[arg-type]
        assert station.on_card(client).cast.counted  # type: ignore[union-attr]
    station.check_in(rig.iins[voters])
    station.on_card(client)
    station.cancel_card(client)
    return receipts


def expected_tally(rig: Rig, voters: int) -> dict[str, Counter]:
    out: dict[str, Counter] = {}
    style = rig.election.precinct(rig.precinct).style
    for contest in rig.election.contests_for_style(style):
        out[contest.id] = Counter()
    for i in range(voters):
        chosen = rig.selections(i)
        for cid in out:
            choice = chosen.get(cid)
            out[cid]["against_all" if choice is AGAINST_ALL else "blank" if choice is None else choice] += 1
    return out


def test_close_counts_every_ballot_and_signs(rig: Rig, station: Station, tmp_path: Path) -> None:
    receipts = run_day(rig, station)
    result = station.close_polls(rig.shares[1:1 + K], tmp_path / "out")
    p = result.protocol
    assert (p.voters_on_list, p.voters_checked_in, p.cards_issued, p.ballots_cast, p.cards_cancelled) == (
        len(rig.iins), VOTERS + 1, VOTERS + 1, VOTERS, 1)
    assert result.outstanding == 0 and result.invalid == ()
    for cid, counts in expected_tally(rig, VOTERS).items():
        c = p.contest(cid)
        assert dict(c.votes) == {o.id: counts.get(o.id, 0) for o in rig.election.options(cid)}
        assert (c.against_all, c.blank, c.invalid) == (counts["against_all"], counts["blank"], 0)
    assert validate_protocol(p, rig.election) == []
    station_pub = crypto.ed25519_public_bytes(rig.station_key.public_key())
    assert verify_signed_protocol(result.signed, {crypto.key_id(station_pub): station_pub}) == p
    assert station.polls_state is PollsState.CLOSED
    assert audit.read_events(station.db)[-1].kind == "polls_closed" and audit.verify_db(station.db).ok

    files = result.files
    assert files is not None
    signed = SignedProtocol.from_canonical_json(files.protocol.read_bytes())
    assert signed == result.signed
    nist = json.loads(files.nist.read_text(encoding="utf-8"))
    assert nist["@type"] == "ElectionResults.ElectionReport"
    assert nist_schema_errors(nist) == []  # the official NIST v2 schema
    precinct_unit = next(u for u in nist["GpUnit"] if u.get("Type") == "precinct")
    # voters who received a ballot (checked in), not ballots cast: one voter here took a card and did not cast
    assert precinct_unit["VotersParticipated"] == p.voters_checked_in == VOTERS + 1
    pdf = files.pdf.read_bytes()
    assert pdf.startswith(b"%PDF-") and b"/Image" in pdf
    listed = read_receipt_list(files.receipts).codes
    assert sorted(listed) == sorted(receipts)
    # the signed protocol commits to exactly the published list (issue 11: lists were unsigned)
    assert p.receipts == commit_receipts(listed) and p.receipts.count == VOTERS


def test_qr_carries_the_signed_protocol(rig: Rig, station: Station) -> None:
    run_day(rig, station, voters=3)
    result = station.close_polls(rig.shares[:K])
    payload = qr_payload(result.signed)
    assert SignedProtocol.from_canonical_json(payload) == result.signed
    qr = segno.make_qr(payload, error="m", boost_error=False)  # fits one symbol
    assert qr.version is not None


def test_receipts_are_shuffled_independently_of_cast_order(rig: Rig, tmp_path: Path) -> None:
    big = Rig.create(voters=40)
    with open_station_db(f"sqlite:///{tmp_path / 's.db'}") as db:
        station = big.open_station(db, tmp_path)
        for iin in big.iins:
            pollbook.check_in(db, iin)
        big.seed_ballots(db, 40)
        result = station.close_polls(big.shares[:K], tmp_path / "a")
        from sailau.ballot_box.outputs import write_outputs

        codes = [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(db)]
        orders = {read_receipt_list(result.files.receipts).codes}  # type: ignore[union-attr]
        for n in range(3):
            files = write_outputs(tmp_path / f"b{n}", result.signed, big.election, codes)
            orders.add(read_receipt_list(files.receipts).codes)
    assert all(sorted(o) == sorted(codes) for o in orders)
    assert len(orders) > 1  # 40! orders: four equal draws would mean no shuffle


def test_undecodable_ballot_counts_invalid_and_is_reported(rig: Rig, station: Station) -> None:
    run_day(rig, station, voters=2)
    style = station.style
    block = new_issue_block(rig.election.fingerprint, rig.precinct, style)
    stuffed = bytes([0x77]) + bytes(rig.election.plaintext_length - 1)  # option index past the list
    enc, ciphertext = crypto.seal(rig.election_key.public_key_bytes, stuffed, block.hpke_info)
    sealed = SealedBallot(rig.election.fingerprint, rig.precinct, style, enc, ciphertext)
    pollbook.check_in(station.db, rig.iins[VOTERS + 1])
    th = block.token_hash
    store.record_issued(station.db, th)
    store.cast_ballot(station.db, th, style, sealed.pack())
    result = station.close_polls(rig.shares[:K])
    assert [(b.receipt_code, b.reason) for b in result.invalid] == [(sealed.receipt_code, "index_out_of_range")]
    for contest in result.protocol.contests:
        assert contest.invalid == 1 and contest.total == 3
    assert validate_protocol(result.protocol, rig.election) == []


def test_ballot_that_does_not_open_counts_invalid(rig: Rig, station: Station) -> None:
    run_day(rig, station, voters=1)
    block = new_issue_block(rig.election.fingerprint, rig.precinct, station.style)
    other_key = crypto.ElectionKeyPair.generate()
    enc, ciphertext = crypto.seal(other_key.public_key_bytes, bytes(rig.election.plaintext_length), block.hpke_info)
    sealed = SealedBallot(rig.election.fingerprint, rig.precinct, station.style, enc, ciphertext)
    pollbook.check_in(station.db, rig.iins[VOTERS + 1])
    th = block.token_hash
    store.record_issued(station.db, th)
    store.cast_ballot(station.db, th, station.style, sealed.pack())
    result = station.close_polls(rig.shares[:K])
    assert [b.reason for b in result.invalid] == ["does_not_open"]


def test_a_failed_relation_is_signed_as_a_discrepancy_not_a_dead_end(rig: Rig, station: Station, tmp_path: Path) -> None:
    """A relation that fails (here: a ballot stored without any voter checked in) no longer
    leaves the precinct with closed polls and no protocol: the station signs what it
    counted, names the failing relations, writes every output, and a re-run signs the
    same bytes."""
    run_day(rig, station, voters=1)
    rig.seed_ballots(station.db, 2)  # cards cast without any voter checked in: 3 ballots, 2 voters
    result = station.close_polls(rig.shares[:K], tmp_path / "out")
    p = result.protocol
    assert p.discrepancies == ("cast<=checked_in", "issued<=checked_in+replaced")
    assert sorted(v.name for v in validate_protocol(p, rig.election)) == list(p.discrepancies)
    assert result.files is not None and result.files.pdf.exists() and result.files.nist.exists()
    posted = SignedProtocol.from_canonical_json(result.files.protocol.read_bytes())
    assert posted.protocol.discrepancies == p.discrepancies and b'"discrepancies":[' in result.files.protocol.read_bytes()
    station_pub = crypto.ed25519_public_bytes(rig.station_key.public_key())
    assert verify_signed_protocol(posted, {crypto.key_id(station_pub): station_pub}) == p
    again = station.close_polls(rig.shares[:K], tmp_path / "again")
    assert again.files.protocol.read_bytes() == result.files.protocol.read_bytes()  # type: ignore[union-attr]


@pytest.mark.parametrize("inconsistent", ["ballots_read", "receipt_commitment"])
def test_an_inconsistent_read_is_refused_not_declared(
        rig: Rig, station: Station, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inconsistent: str) -> None:
    """Only what the station itself read wrong stops the signature (ProtocolRefused, nothing
    written, the clerk told to close again): ballots read that are not the ballots counted,
    or a receipt commitment that does not count them (a receipt relation is never declared
    as a discrepancy: format 3 is signed only with a commitment that counts the ballots)."""
    from sailau.ballot_box import close
    from sailau.ballot_box.desk import note_for_error
    from sailau.election.receipts import ReceiptCommitment

    run_day(rig, station, voters=2)
    if inconsistent == "ballots_read":
        real = store.counters
        monkeypatch.setattr(store, "counters", lambda db: dataclasses.replace(real(db), cast=real(db).cast + 1))
        expected = "ballots==cast"
    else:
        real_commit = close.commit_receipts
        monkeypatch.setattr(close, "commit_receipts",
                            lambda codes: ReceiptCommitment(len(codes) + 1, real_commit(codes).root))
        expected = "receipts==cast"
    with pytest.raises(close.ProtocolRefused) as refused:
        station.close_polls(rig.shares[:K], tmp_path / "out")
    assert [v.name for v in refused.value.violations] == [expected]
    assert "not signed" in str(refused.value) and "run close again" in str(refused.value)
    assert not (tmp_path / "out").exists()
    assert "Close again" in note_for_error(refused.value).msgid
    monkeypatch.undo()  # the read is right again: the same close now signs
    result = station.close_polls(rig.shares[:K], tmp_path / "out")
    assert result.protocol.discrepancies == () and result.files is not None


def test_bad_shares_close_nothing(rig: Rig, station: Station) -> None:
    run_day(rig, station, voters=1)
    with pytest.raises(NotEnoughSharesError):
        station.close_polls(rig.shares[:K - 1])
    other = Rig.create(voters=1)
    with pytest.raises(ShareError):  # shares of another election key
        station.close_polls(other.shares[:K])
    assert station.polls_state is PollsState.OPEN


def test_close_resumes_after_a_crash(rig: Rig, station: Station, tmp_path: Path) -> None:
    run_day(rig, station, voters=4)
    store.record_polls_closed(station.db)  # the process died right after closing
    again = Station.attach(station.db, rig.election, rig.station_key, None)
    result = again.close_polls(rig.shares[:K], tmp_path / "out")
    assert result.protocol.ballots_cast == 4 and (tmp_path / "out" / "protocol.json").exists()
