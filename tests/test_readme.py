"""Every command the README shows runs as shown.

The commands of the README's ``sh`` blocks are typed, in order, into one bash
shell in a tmux pane, as a person would type them: the same working folder, the
same `cd`, `. .venv/bin/activate`, `&` and `kill %1`. Each must end with exit
status 0. A Textual app (the demo, the clerk app, the booth kiosk) must draw its
first screen and quit on Ctrl+Q with status 0. HOME is a fresh folder, so `~`
paths land in the test's tmp_path and nothing is written into the repository.

Two commands are not typed: `bash tools/test.sh` (it is what runs this test), and
the ``text`` block's `bash tools/lock.sh` variants, which change the lock on
purpose; the plain `bash tools/lock.sh` runs in a copy of the lock's inputs and
must reproduce the committed lock byte for byte (the lock is current).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NOT_TYPED = {"bash tools/test.sh": "it runs this very test"}


@dataclass(frozen=True)
class App:
    """A Textual app: what its first screen shows, so we know it drew."""

    shows: str


# Which commands are full-screen apps, by their first words, and a text of their first screen.
APPS = {
    ".venv/bin/sailau demo": App("Ballot box"),
    "sailau demo": App("Ballot box"),
    "sailau ballot-box": App("7101"),
    "sailau terminal": App("Insert your ballot card"),
}
SLOW = {"sailau bench": 600.0, "bash tools/setup.sh": 900.0, "sailau simulate": 300.0}


def readme_commands(text: str) -> list[tuple[str, str]]:
    """(language, command) for each command line of the README's fenced blocks, in order;
    comments after two spaces and a '#' are dropped, backslash continuations joined."""
    out: list[tuple[str, str]] = []
    for lang, body in re.findall(r"^```(\w+)\n(.*?)^```", text, flags=re.S | re.M):
        pending = ""
        for line in body.splitlines():
            line = re.split(r"\s{2,}#", line, maxsplit=1)[0].rstrip()
            if not line or line.lstrip().startswith("#"):
                continue
            if line.endswith("\\"):
                pending += line[:-1].strip() + " "
                continue
            out.append((lang, (pending + line.strip()).strip()))
            pending = ""
    return out


def test_readme_parser_keeps_order_comments_and_continuations() -> None:
    text = "x\n```sh\na b   # note\nc \\\n  d\n# only a comment\n```\n```text\ne\n```\n"
    assert readme_commands(text) == [("sh", "a b"), ("sh", "c d"), ("text", "e")]


def test_the_readme_opens_with_the_two_commands_and_ci_runs_exactly_them() -> None:
    commands = [c for lang, c in readme_commands(README.read_text(encoding="utf-8")) if lang == "sh"]
    assert commands[:2] == ["bash tools/setup.sh", "bash tools/test.sh"]
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("bash ")]
    assert ci == commands[:2]


class Shell:
    """One bash in a tmux pane; PROMPT_COMMAND appends each command's exit status to a file."""

    def __init__(self, home: Path, cwd: Path) -> None:
        self.socket = f"sailau-readme-{os.getpid()}"
        self.rc_file = home / ".rc-log"
        self.log = home / ".pane-log"
        self.rc_file.touch()
        env = {
            "HOME": str(home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "PROMPT_COMMAND": f"echo $? >> {shlex.quote(str(self.rc_file))}",
            "PS1": "$ ",
        }
        for key in ("CI", "SAILAU_BENCH_PG_URL", "TMPDIR"):
            if key in os.environ:
                env[key] = os.environ[key]
        self.tmux("new-session", "-d", "-x", "200", "-y", "50", "-c", str(cwd),
                  "env", "-i", *[f"{k}={v}" for k, v in env.items()], "bash", "--norc", "--noprofile")
        self.tmux("pipe-pane", "-o", f"cat >> {shlex.quote(str(self.log))}")
        self.wait_statuses(1, 20.0, "the shell's first prompt")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def statuses(self) -> list[int]:
        return [int(x) for x in self.rc_file.read_text().split()]

    def wait_statuses(self, n: int, timeout: float, what: str) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self.statuses()
            if len(done) >= n:
                return done[n - 1]
            time.sleep(0.1)
        pytest.fail(f"{what}: no prompt after {timeout:g} s; the screen:\n{self.screen()}\nlog tail:\n{self.tail()}")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def tail(self) -> str:
        data = self.log.read_bytes() if self.log.exists() else b""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data[-3000:].decode(errors="replace"))

    def type(self, command: str) -> None:
        self.tmux("send-keys", "-l", command)
        self.tmux("send-keys", "Enter")

    def wait_screen(self, text: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.screen():
                return
            time.sleep(0.2)
        pytest.fail(f"{what}: {text!r} never appeared; the screen:\n{self.screen()}")

    def quit_app(self, n: int, timeout: float = 60.0) -> None:
        """Ctrl+Q once the screen holds still, again every few seconds as a person would
        if the first press came while the app was still starting."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.statuses()) < n:
            before = self.screen()
            time.sleep(0.5)
            if self.screen() != before:
                continue
            self.tmux("send-keys", "C-q")
            settle = time.monotonic() + 5.0
            while time.monotonic() < settle and len(self.statuses()) < n:
                time.sleep(0.1)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def _app_for(command: str) -> App | None:
    return next((app for prefix, app in APPS.items() if command.startswith(prefix)), None)


@pytest.mark.pcsc
@pytest.mark.postgres
def test_every_sh_command_in_the_readme_runs_as_shown(tmp_path: Path, pcscd, postgres_server) -> None:
    """The pcscd and PostgreSQL fixtures hold the shared leases other test sessions
    respect; the README's `sailau card pcscd` then finds pcscd running, as on a desktop."""
    from sailau.simulator.pcsc_lease import reader_slot

    assert shutil.which("tmux"), "tmux is installed by tools/setup.sh"
    commands = [c for lang, c in readme_commands(README.read_text(encoding="utf-8")) if lang == "sh"]
    assert len(commands) >= 20
    home = tmp_path / "home"
    home.mkdir()
    with reader_slot(35963), reader_slot(35964):
        shell = Shell(home, REPO)
        try:
            for command in commands:
                if command in NOT_TYPED:
                    continue
                n = len(shell.statuses()) + 1
                shell.type(command)
                app = _app_for(command)
                if app is not None:
                    shell.wait_screen(app.shows, 60.0, command)
                    shell.quit_app(n)
                timeout = next((t for prefix, t in SLOW.items() if command.startswith(prefix)), 120.0)
                status = shell.wait_statuses(n, timeout, command)
                assert status == 0, f"{command!r} exited {status}; output:\n{shell.tail()}"
            demo = home / "sailau-demo"
            assert (demo / "protocol" / "protocol.json").is_file() and (demo / "station.pub").is_file()
            assert (home / "commission.db").is_file() and (home / "synth" / "protocols").is_dir()
        finally:
            shell.close()


def test_the_lock_is_current_with_pyproject(tmp_path: Path) -> None:
    """`bash tools/lock.sh` in a copy of its inputs reproduces the committed lock: nobody
    changed pyproject.toml (or an .in file) without refreshing the lock."""
    copy = tmp_path / "repo"
    (copy / "tools").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    shutil.copy(REPO / "tools" / "lock.sh", copy / "tools" / "lock.sh")
    shutil.copytree(REPO / "tools" / "lock", copy / "tools" / "lock")
    result = subprocess.run(["bash", "tools/lock.sh"], cwd=copy, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    for committed in sorted((REPO / "tools" / "lock").glob("*.txt")):
        fresh = copy / "tools" / "lock" / committed.name
        assert fresh.read_text() == committed.read_text(), f"{committed.name} is stale: run bash tools/lock.sh"
