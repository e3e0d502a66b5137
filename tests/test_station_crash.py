"""Crash tests (issue 4): a real station process is killed with SIGKILL at random
points of the issue and cast paths, many times; after each kill a new process
re-inserts the card and carries on. Then: every acknowledged ballot is stored
exactly once, nothing is stored that no card carried, and re-inserting a card
never counts it twice.

The station runs in a subprocess (this file run as a script) over a SQLite file
and a file-backed virtual card (`VirtualBallotCard.open_image`), so both
survive the kill exactly as they would on a real machine. Two ways to pick the
kill point:

* point: env SAILAU_KILL="<fault point>:<n>" makes the station's fault hook
  SIGKILL its own process at the n-th time it reaches that point (every named
  point of issue and cast: token recorded, card written, read, verified,
  committed, cleared);
* signal: the test waits until the worker has logged a random number of steps
  and SIGKILLs it from outside, so the kill lands anywhere, including inside a
  database commit or a card-file write.

The worker logs `VOTED <receipt>` after the terminal step wrote a card and
`ACK <receipt> <status>` after the station acknowledged a cast ("counted", only
after the commit; the receipt is the one the card carried, read by the worker as the
voter holds it: the station says nothing derived from the ballot), appending to a
log file that outlives the process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

POINTS = ("issue:recorded", "issue:written", "cast:start", "cast:read", "cast:verified", "cast:committed",
          "cast:cleared")


# --- the worker (runs in the killed process) -------------------------------------------


def worker(config_path: str) -> int:
    from sailau.ballot_box import pollbook
    from sailau.ballot_box.db import open_station_db
    from sailau.ballot_box.station import Station
    from sailau.election import crypto
    from sailau.election.ballot import encode_ballot
    from sailau.election.definition import load_election
    from sailau.election.record import BallotRecord, IssueBlock, seal_ballot
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.smartcard.apdu import CardState
    from sailau.smartcard.client import BallotCardClient
    from sailau.smartcard.transport import InProcessTransport

    cfg = json.loads(Path(config_path).read_text())
    kill = os.environ.get("SAILAU_KILL")
    hits: Counter[str] = Counter()

    def hook(point: str) -> None:
        hits[point] += 1
        if kill and kill == f"{point}:{hits[point]}":
            os.kill(os.getpid(), signal.SIGKILL)

    log_fd = os.open(cfg["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def log(line: str) -> None:
        os.write(log_fd, (line + "\n").encode())

    election = load_election(cfg["election"])
    master = bytes.fromhex(cfg["master_key"])
    terminal_key = crypto.load_signing_key(cfg["terminal_key"])
    db = open_station_db(cfg["db"])
    station = Station.attach(db, election, crypto.load_signing_key(cfg["station_key"]), master, fault_hook=hook)
    card = VirtualBallotCard.open_image(cfg["card"], master_key=master)
    client = BallotCardClient(InProcessTransport(card))
    client.connect()

    def vote(i: int) -> None:
        client.select_without_status()
        raw = client.read_data().issue_block
        block = IssueBlock.parse(raw)
        plaintext = encode_ballot(election, block.style, {})
        record = seal_ballot(block, plaintext, election.public_key, terminal_key).pack()
        client.write_ballot(record, raw)
        log(f"VOTED {BallotRecord.parse(record, election.plaintext_length).receipt_code}")

    def cast() -> None:
        client.select()
        record = client.read_data().record  # the voter's receipt, as the booth showed it
        assert record is not None
        code = BallotRecord.parse(record, election.plaintext_length).receipt_code
        result = station.on_card(client).cast
        assert result is not None and result.counted, result
        log(f"ACK {code} {result.status.value}")

    # re-insert the card as it was left
    client.select()
    state = client.status().state
    log(f"START {state.name}")
    if state is CardState.ISSUED:
        vote(-1)
    if state in (CardState.ISSUED, CardState.VOTED):
        cast()
    done = 0
    for i, iin in enumerate(cfg["iins"]):
        if done >= int(os.environ.get("SAILAU_CASTS", cfg["casts_per_run"])):
            break
        if pollbook.find_by_iin(db, iin).checked_in:
            continue
        station.check_in(iin)
        log(f"CHECKIN {i}")
        station.on_card(client)
        vote(i)
        cast()
        done += 1
    log("END")
    return 0


# --- the test side ---------------------------------------------------------------------


@dataclass
class Precinct:
    config: Path
    db_url: str
    card: Path
    log: Path


@pytest.fixture
def precinct(tmp_path: Path) -> Precinct:
    from sailau.simulator.booth_rig import Rig
    from sailau.ballot_box.db import open_station_db
    from sailau.election import crypto
    from sailau.election.definition import write_election

    rig = Rig.create(voters=400)
    db_url = f"sqlite:///{tmp_path / 'station.db'}"
    with open_station_db(db_url) as db:
        rig.open_station(db, tmp_path)
    write_election(rig.election, tmp_path / "election.json")
    crypto.save_signing_key(tmp_path / "station.pem", rig.station_key)
    crypto.save_signing_key(tmp_path / "terminal.pem", rig.terminal_key)
    config = {
        "db": db_url, "election": str(tmp_path / "election.json"), "station_key": str(tmp_path / "station.pem"),
        "terminal_key": str(tmp_path / "terminal.pem"), "master_key": rig.card_master_key.hex(),
        "card": str(tmp_path / "card.img"), "log": str(tmp_path / "worker.log"), "iins": rig.iins,
        "casts_per_run": 6,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return Precinct(path, db_url, tmp_path / "card.img", tmp_path / "worker.log")


def log_lines(p: Precinct) -> list[str]:
    return p.log.read_text().splitlines() if p.log.exists() else []


def spawn(p: Precinct, kill: str | None, casts: int | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("SAILAU_KILL", None)
    env.pop("SAILAU_CASTS", None)
    if kill:
        env["SAILAU_KILL"] = kill
    if casts is not None:
        env["SAILAU_CASTS"] = str(casts)
    return subprocess.Popen([sys.executable, __file__, str(p.config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for_lines(p: Precinct, proc: subprocess.Popen[bytes], count: int, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while len(log_lines(p)) < count and proc.poll() is None:
        assert time.monotonic() < deadline, "worker made no progress"
        time.sleep(0.002)  # polling a condition under a deadline


def check_invariants(p: Precinct, *, final: bool) -> dict[str, int]:
    from sailau.ballot_box import store
    from sailau.ballot_box.db import open_station_db
    from sailau.election.record import SealedBallot

    with open_station_db(p.db_url) as db:
        stored = [SealedBallot.parse(b.sealed).receipt_code for b in store.ballots(db)]
        counters = store.counters(db)
    lines = log_lines(p)
    acked = {line.split()[1] for line in lines if line.startswith("ACK ")}
    voted = {line.split()[1] for line in lines if line.startswith("VOTED ")}
    duplicates = [code for code, n in Counter(stored).items() if n > 1]
    assert not duplicates, f"ballots stored twice: {duplicates}"
    assert counters.cast == len(stored)
    assert counters.issued == counters.cast + counters.cancelled + counters.outstanding
    missing = acked - set(stored)
    assert not missing, f"acknowledged ballots not stored: {missing}"
    phantom = set(stored) - voted - acked
    assert not phantom, f"ballots stored that no card carried: {phantom}"
    if final:
        # after the last recovery every card that was voted (VOTED is logged once
        # WRITE BALLOT returned, so the card held it) has been cast, exactly once
        assert voted <= set(stored), f"voted cards never counted: {voted - set(stored)}"
    return {"stored": len(stored), "acked": len(acked)}


def crash_campaign(p: Precinct, iterations: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    kills: list[str] = []
    for n in range(iterations):
        if n % 2 == 0:
            kill = f"{rng.choice(POINTS)}:{rng.randint(1, 3)}"
            proc = spawn(p, kill)
        else:
            kill = "signal"
            proc = spawn(p, None)
            wait_for_lines(p, proc, len(log_lines(p)) + rng.randint(1, 14))
            proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode in (-signal.SIGKILL, 0), f"worker failed ({kill}): {err.decode()[-2000:]}"
        kills.append(kill if proc.returncode else f"{kill} (finished)")
        check_invariants(p, final=False)
    # recover: a clean run re-inserts the card and finishes its job
    proc = spawn(p, None)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()[-2000:]
    return kills


def assert_final_state(p: Precinct) -> None:
    from sailau.simulator.card_app import VirtualBallotCard
    from sailau.smartcard.apdu import CardState

    figures = check_invariants(p, final=True)
    card = VirtualBallotCard.open_image(p.card)
    assert card.state is CardState.BLANK
    card.close()
    # re-insert the (blank) card once more in a fresh process, casting nobody new: nothing changes
    proc = spawn(p, None, casts=0)
    proc.communicate(timeout=120)
    after = check_invariants(p, final=True)
    lines = log_lines(p)
    assert after["stored"] == figures["stored"]  # the blank card cast nothing again
    assert lines[-2:] == ["START BLANK", "END"]


def test_sigkill_at_random_points_of_the_cast_path(precinct: Precinct) -> None:
    kills = crash_campaign(precinct, iterations=25, seed=20240319)
    assert sum(1 for k in kills if "finished" not in k) >= 20
    assert_final_state(precinct)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_sigkill_campaign_long(precinct: Precinct) -> None:
    kills = crash_campaign(precinct, iterations=150, seed=int.from_bytes(os.urandom(4), "big"))
    assert sum(1 for k in kills if "finished" not in k) >= 110
    assert_final_state(precinct)


def test_already_counted_card_reinserted_in_a_new_process_is_only_cleared(precinct: Precinct) -> None:
    """Kill right after the commit: the next process finds the card VOTED and only clears it."""
    proc = spawn(precinct, "cast:committed:1")
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    before = check_invariants(precinct, final=False)
    assert before["stored"] == 1 and before["acked"] == 0  # committed, never acknowledged
    proc = spawn(precinct, None)
    proc.communicate(timeout=120)
    lines = log_lines(precinct)
    first_ack = next(line for line in lines if line.startswith("ACK "))
    assert first_ack.endswith(" already_counted")
    after = check_invariants(precinct, final=True)
    assert after["stored"] == 1 + 6  # the recovered card once, then this run's own casts


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
