"""No vote state: complete votes with HOME, TMPDIR and the working directory
pointed at empty folders, every file write of the process recorded by an audit
hook and all logging captured at DEBUG; nothing may be written and no choice
may appear in any log line or on stdout/stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import terminal_support as ts
from sailau.election.ballot import Mark

TESTS = Path(__file__).resolve().parent

SCRIPT = r'''
import io, json, logging, os, sys
writes = []
def audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND))
        if writing:
            writes.append(str(path))
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.symlink", "os.link", "os.truncate", "shutil.copyfile"):
        writes.append(f"{event}:{args[0]}")
sys.addaudithook(audit)
log = io.StringIO()
handler = logging.StreamHandler(log)
handler.setLevel(logging.DEBUG)
logging.basicConfig(level=logging.DEBUG, handlers=[handler], force=True)
logging.getLogger("sailau.canary").debug("log-capture-canary")
open(os.devnull, "w").close()  # the hook's canary: the one write the test expects
sys.path.insert(0, sys.argv[1])
choices = json.loads(sys.argv[2])

import asyncio, time
import terminal_support as ts
from sailau.election.ballot import Mark
from sailau.terminal.session import TerminalSession, Phase
from sailau.terminal.app import KioskApp
from sailau.terminal.cards import InProcessCardSource
from sailau.terminal.speech import Speaker

def mark(v):
    return Mark.AGAINST_ALL if v == "AGAINST_ALL" else v

receipts = []
session = TerminalSession(ts.config())
for vote in choices[:-1]:
    card = ts.issued_card()
    slot = ts.slot(card)
    session.on_card_inserted(slot.client)
    session.vote({k: mark(v) for k, v in vote.items()}, language="kk")
    receipts.append(session.cast().receipt_code)
    slot.pull()
    session.on_card_removed()
    assert not session.holds_choices

async def by_touch(vote):
    source = InProcessCardSource()
    app = KioskApp(TerminalSession(ts.config()), source, speaker=Speaker(None, False), idle_poll_seconds=3600)
    async with app.run_test(size=(100, 34)) as pilot:
        async def until(cond):
            end = time.monotonic() + 10
            while not cond():
                assert time.monotonic() < end
                await pilot.pause(0.01)
        source.insert(ts.issued_card())
        await until(lambda: app.session.phase is Phase.LANGUAGE)
        await pilot.pause()
        await pilot.press("2")
        for position in vote:
            await until(lambda: app.session.phase is Phase.CONTEST)
            await pilot.pause()
            await pilot.press(str(position), "right")
        await until(lambda: app.session.phase is Phase.REVIEW)
        await pilot.pause()
        await pilot.click("#cast")
        await until(lambda: app.session.phase is Phase.DONE)
        receipts.append(app.session.receipt_code)
        source.remove()
        await until(lambda: app.session.phase is Phase.IDLE)
        assert not app.session.holds_choices

asyncio.run(by_touch(choices[-1]))
print(json.dumps({"writes": writes, "log": log.getvalue(), "receipts": receipts}))
'''


def test_complete_votes_write_nothing_and_log_no_choice(tmp_path: Path) -> None:
    home, tmp, cwd = (tmp_path / name for name in ("home", "tmp", "cwd"))
    for folder in (home, tmp, cwd):
        folder.mkdir()
    e = ts.election()
    contests = e.contests_for_style(e.precinct(ts.PRECINCT).style)
    lst, smd, masl = (c.id for c in contests)
    votes = [
        {lst: "AMANAT", smd: e.options(smd)[0].id, masl: "AGAINST_ALL"},
        {lst: "JSDP", masl: "BAITAQ"},
        {lst: "AGAINST_ALL", smd: e.options(smd)[2].id},
        [3, 2, 4],  # by touch in Russian: option numbers per contest
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "TEXTUAL"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(TESTS), json.dumps(votes)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report["receipts"]) == 4 and all(report["receipts"])
    assert "log-capture-canary" in report["log"]  # the capture works
    assert report["writes"] == [os.devnull]  # nothing opened for writing but the canary
    for folder in (home, tmp, cwd):
        assert list(folder.rglob("*")) == [], f"{folder} was written"
    # every option id and label of the ballot, in every language, against the output
    needles = {"AGAINST_ALL", Mark.AGAINST_ALL.value}
    for contest in contests:
        for option in e.options(contest.id):
            needles.add(option.id)
            needles.update(option.name.get(lang) for lang in ("kk", "ru", "en"))
    outputs = report["log"] + proc.stderr + "\n".join(proc.stdout.splitlines()[:-1])
    leaked = sorted(n for n in needles if n in outputs)
    assert leaked == []
