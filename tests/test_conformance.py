"""The conformance kit (smartcard/conformance.py): the virtual card passes every
clause, in-process (every byte offset torn) and through pcscd + vpcd with the
two CLI commands a vendor would use; each deliberately broken card fails
exactly the clauses it breaks; without a key nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sailau.simulator.card_app import TEST_MASTER_KEY, VirtualBallotCard
from sailau.simulator.defects import DEFECTS
from sailau.smartcard.apdu import CardState
from sailau.smartcard.conformance import CLAUSES, Outcome, run_conformance
from sailau.smartcard.pcsc import wait_for_card
from sailau.smartcard.transport import InProcessTransport

CLAUSE_COUNT = 76


def run_in_process(card: VirtualBallotCard, master_key: bytes | None = TEST_MASTER_KEY, **kwargs):
    transport = InProcessTransport(card)

    def back() -> None:  # a torn card left the slot: put it back, as the voter would
        if transport.card is None:
            transport.insert(card)

    return run_conformance(transport, master_key, after_tear=back, short_apdus=True, **kwargs)


def test_the_kit_has_one_clause_per_combination_and_ids_are_unique():
    ids = [c.id for c in CLAUSES]
    assert len(ids) == len(set(ids)) == CLAUSE_COUNT
    matrix = [i for i in ids if i.startswith("matrix.")]
    # SELECT, READ BINARY, WRITE BALLOT per state; ISSUE and CLEAR x 3 proofs per state;
    # 4 commands unselected per state
    assert len(matrix) == 3 * (3 + 2 * 3 + 4)
    assert {i.split(".")[0] for i in ids} == {"matrix", "select", "order", "lc", "le", "read", "write", "persist",
                                             "clear", "counter", "proof", "atomic"}


def test_the_virtual_card_passes_every_clause_torn_at_every_byte():
    card = VirtualBallotCard(tear_hook=True)
    report = run_in_process(card, every_byte=True)
    assert [r.outcome for r in report.results] == [Outcome.PASS] * CLAUSE_COUNT, [
        (r.id, r.detail) for r in report.results if r.outcome is not Outcome.PASS]
    assert report.ok and report.tear_hook and report.serial == card.serial
    assert card.state is CardState.BLANK  # left blank


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_a_broken_card_fails_exactly_the_clauses_it_breaks(name):
    defect = DEFECTS[name]
    report = run_in_process(defect.make(tear_hook=True))
    assert set(report.ids(Outcome.FAIL)) == defect.breaks
    assert not report.ids(Outcome.SKIP)
    for result in report.results:
        if result.outcome is Outcome.FAIL:
            assert result.detail  # it says what the card did


def test_without_the_master_key_only_what_needs_no_proof_runs_and_nothing_is_written():
    card = VirtualBallotCard()
    report = run_in_process(card, None)
    assert report.ok
    skipped = {r.id: r.detail for r in report.results if r.outcome is Outcome.SKIP}
    assert skipped and all("master key" in why or "TEST TEAR" in why for why in skipped.values())
    assert "matrix.issue.blank.other-key" not in skipped  # a bad proof needs no key to be refused
    assert (card.state, card.counter) == (CardState.BLANK, 0)


def test_a_card_that_is_not_blank_and_no_key_skips_with_the_reason():
    from sailau.smartcard.client import BallotCardClient

    card = VirtualBallotCard()
    client = BallotCardClient(InProcessTransport(card))
    client.connect()
    client.issue(b"\x01" * 55, TEST_MASTER_KEY)
    report = run_conformance(InProcessTransport(card), None, only=lambda cid: cid.startswith("matrix.select"))
    assert {r.outcome for r in report.results} == {Outcome.SKIP}
    assert "clearing it needs the master key" in report.results[0].detail


def test_a_card_without_the_v2_application_fails_and_the_report_says_so():
    class V1Card:
        def power_on(self) -> bytes:
            return b"\x3b\x00"

        def power_off(self) -> None:
            pass

        def execute(self, apdu: bytes) -> bytes:
            return b"\x6a\x82" if apdu[1] == 0xA4 else b"\x69\x85"

    report = run_conformance(InProcessTransport(V1Card()), TEST_MASTER_KEY)
    assert report.serial is None and not report.ok
    assert "6A82" in dict((r.id, r.detail) for r in report.results)["select.answer"]


def test_the_report_as_json_names_every_clause():
    report = run_in_process(VirtualBallotCard(), only=lambda cid: cid.startswith("proof."))
    doc = report.as_dict()
    assert doc["schema"] == "sailau-card-conformance/1" and doc["protocol"] == 2
    assert doc["summary"] == {"pass": 6, "fail": 0, "skip": 0}
    assert [c["id"] for c in doc["clauses"]] == [c.id for c in CLAUSES if c.id.startswith("proof.")]
    json.dumps(doc)


def _serve(port: int, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sailau.cli.main", "card", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _stop(proc: subprocess.Popen[str], reader: str) -> str:
    proc.terminate()
    try:
        out, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        wait_for_card(reader, False, 10)
    return out


def _conformance(reader: str, tmp_path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    out = tmp_path / "conformance.json"
    done = subprocess.run(
        [sys.executable, "-m", "sailau.cli.main", "card", "conformance", "--reader", reader, "--json", str(out),
         *args],
        capture_output=True, text=True, timeout=600,
    )
    return done, json.loads(out.read_text())


@pytest.mark.pcsc
def test_the_served_virtual_card_passes_every_clause_through_pcscd(vpcd_slot_2, tmp_path):
    """What a vendor does with an applet, done with the virtual card: `sailau card
    serve --tear-hook` in one process, `sailau card conformance` in another."""
    proc = _serve(vpcd_slot_2.port, "--tear-hook")
    try:
        wait_for_card(vpcd_slot_2.reader, True, 10)
        done, doc = _conformance(vpcd_slot_2.reader, tmp_path)
    finally:
        served = _stop(proc, vpcd_slot_2.reader)
    assert done.returncode == 0, done.stdout + done.stderr
    outcomes = {c["id"]: c["outcome"] for c in doc["clauses"]}
    assert len(outcomes) == CLAUSE_COUNT and doc["tear_hook"] is True
    assert {i for i, o in outcomes.items() if o != "pass"} == {"lc.short-header"}  # PC/SC cannot send it
    assert "card lost power (torn write)" in served  # the atomic clauses really cut it
    assert f"{CLAUSE_COUNT} clauses: {CLAUSE_COUNT - 1} passed, 0 failed, 1 skipped" in done.stdout


@pytest.mark.pcsc
def test_a_served_broken_card_fails_exactly_its_clauses_through_pcscd(vpcd_slot_2, tmp_path):
    proc = _serve(vpcd_slot_2.port, "--defect", "write-twice")
    try:
        wait_for_card(vpcd_slot_2.reader, True, 10)
        done, doc = _conformance(vpcd_slot_2.reader, tmp_path)
    finally:
        served = _stop(proc, vpcd_slot_2.reader)
    assert "defect write-twice" in served
    assert done.returncode == 1
    failed = {c["id"] for c in doc["clauses"] if c["outcome"] == "fail"}
    assert failed == DEFECTS["write-twice"].breaks
    assert "FAIL  matrix.write-ballot.voted" in done.stdout
    assert {c["id"] for c in doc["clauses"] if c["outcome"] == "skip"} == {
        "lc.short-header", "atomic.issue", "atomic.write-ballot", "atomic.clear"}  # no tearing hook served


def test_the_cli_refuses_a_missing_reader_in_plain_words(monkeypatch):
    from click.testing import CliRunner

    from sailau.cli.main import cli

    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm")
    result = CliRunner().invoke(cli, ["card", "conformance", "--reader", "Omnikey"])
    assert result.exit_code == 1 and "cannot test the card in 'Omnikey'" in result.output
    assert "Traceback" not in result.output
