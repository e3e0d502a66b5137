"""The pytest plugin other people's CI uses (simulator/pytest_plugin.py): the
entry point is installed, simulator/README.md's example test runs green in a
fresh pytest session of its own (in-process and through pcscd + vpcd), and the
fixtures do what the README says."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from sailau.smartcard.apdu import CardState
from sailau.smartcard.errors import CardRemovedError, WriteMismatchError

README = Path(__file__).resolve().parent.parent / "simulator" / "README.md"


def readme_example() -> str:
    """The first python block of the README's pytest plugin section."""
    section = README.read_text(encoding="utf-8").split("## Testing your own booth or ballot box", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "simulator/README.md lost its plugin example"
    return match.group(1)


def run_pytest(tmp_path: Path, source: str, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_their_booth.py").write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(tmp_path), *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_the_plugin_is_a_pytest11_entry_point():
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "sailau"]
    assert plugin.value == "sailau.simulator.pytest_plugin"


def test_the_readme_example_is_short_and_passes_in_a_fresh_session(tmp_path):
    example = readme_example()
    assert len([line for line in example.splitlines() if line.strip()]) <= 10
    done = run_pytest(tmp_path, example)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_broken_booth_fails_in_their_session(tmp_path):
    """The fixture is a real card: a booth that writes twice is caught."""
    broken = readme_example() + "    client.write_ballot(b'again', data.issue_block)\n"
    done = run_pytest(tmp_path, broken)
    assert done.returncode == 1 and "ConditionsNotSatisfiedError" in done.stdout


def test_fixtures_give_a_blank_card_that_can_be_pulled_and_broken_ones(sailau_card, sailau_card_factory):
    client = sailau_card.client()
    assert client.select().state is CardState.BLANK
    sailau_card.issue(b"\x01" * 55)
    client = sailau_card.client()
    sailau_card.pull()
    with pytest.raises(CardRemovedError):
        client.select()
    sailau_card.put_back()
    assert sailau_card.client().select().state is CardState.ISSUED

    from sailau.simulator.pytest_plugin import in_process

    broken = in_process(sailau_card_factory(defect="record-digest"), sailau_card.master_key)
    broken.issue(b"\x02" * 55)
    client = broken.client()
    client.select_without_status()
    with pytest.raises(WriteMismatchError):
        client.write_ballot(b"ballot", b"\x02" * 55)
    with pytest.raises(ValueError, match="no card defect 'melted'"):
        sailau_card_factory(defect="melted")


@pytest.mark.pcsc
def test_the_readme_example_passes_through_pcscd_in_a_fresh_session(pcscd, tmp_path):
    done = run_pytest(tmp_path, readme_example().replace("sailau_card", "sailau_pcsc_card"),
                      "--sailau-vpcd-port", "35964")
    assert done.returncode == 0, done.stdout + done.stderr
