"""`sailau seats`: JSON and table output, named errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"


def run(*args: str):
    return CliRunner().invoke(cli, ["seats", *args])


@pytest.mark.parametrize(
    ("name", "law", "seats", "qualified"),
    [
        ("seats-2012.json", "kz-majilis-2009", {"NO": 83, "AZ": 8, "QKHP": 7}, ["NO", "AZ", "QKHP"]),
        (
            "seats-2021.json",
            "kz-majilis-2009",
            {"NO": 76, "AZ": 12, "QHP": 10, "AUYL": 0, "ADAL": 0},
            ["NO", "AZ", "QHP"],
        ),
        (
            "seats-2023.json",
            "kz-majilis-2023",
            {"AMANAT": 40, "AUYL": 8, "RESPUBLICA": 6, "AQJOL": 6, "QHP": 5, "JSDP": 4, "BAITAQ": 0},
            ["AMANAT", "AUYL", "RESPUBLICA", "AQJOL", "QHP", "JSDP"],
        ),
    ],
)
def test_examples_json(name, law, seats, qualified):
    result = run(str(EXAMPLES / name), "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"law", "seats", "qualified", "quota"}
    assert out["law"] == law
    assert out["seats"] == seats
    assert list(out["seats"]) == list(seats)  # every party, registration order
    assert out["qualified"] == qualified
    input_votes = {p["id"]: p["votes"] for p in json.loads((EXAMPLES / name).read_text())["parties"]}
    seats_total = sum(seats.values())
    assert Fraction(out["quota"]) == Fraction(sum(input_votes[q] for q in qualified), seats_total)


def test_table_output():
    result = run(str(EXAMPLES / "seats-2021.json"))
    assert result.exit_code == 0, result.output
    assert "Nur Otan" in result.output
    assert "below threshold" in result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") >= 6}
    assert lines["Nur Otan [NO]"].rstrip("│ ").endswith("76")
    assert lines["Adal [ADAL]"].rstrip("│ ").endswith("0")


def test_participated_and_against_all(tmp_path):
    f = tmp_path / "in.json"
    f.write_text(json.dumps({
        "law": "kz-majilis-2023",
        "parties": [{"id": "A", "votes": 900}, {"id": "B", "votes": 52}],
        "against_all": 48,
        "participated": 1100,
    }))
    out = json.loads(run(str(f), "--json").output)
    assert out["qualified"] == ["A"]  # 52 / 1100 < 5 %
    assert out["seats"] == {"A": 69, "B": 0}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"law": "kz-majilis-1999", "parties": [{"id": "A", "votes": 1}]}', "unknown law 'kz-majilis-1999'"),
        ('{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": -4}]}', "must not be negative"),
        (
            '{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": 4}, {"id": "A", "votes": 5}]}',
            "duplicate party id 'A'",
        ),
        ('{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": 4}', "malformed JSON"),
        ('{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": 4.5}]}', "whole numbers"),
        ('{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": "4"}]}', "'votes' must be an integer"),
        ('{"law": "kz-majilis-2009", "parties": []}', "'parties' must be a non-empty list"),
        ('{"parties": [{"id": "A", "votes": 4}]}', "missing key 'law'"),
        ('{"law": "kz-majilis-2009", "partys": []}', "unknown key(s) 'partys'"),
        (
            '{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": 4}], "participated": 3}',
            "participated (3) is less",
        ),
        ('{"law": "kz-majilis-2009", "parties": [{"id": "A", "votes": 0}]}', "no party reached"),
        ('[1, 2]', "expected a JSON object"),
    ],
)
def test_bad_input_is_named(tmp_path, content, message):
    f = tmp_path / "in.json"
    f.write_text(content)
    for args in ((str(f),), (str(f), "--json")):
        result = run(*args)
        assert result.exit_code != 0
        assert message in result.output
        assert str(f) in result.output
        assert "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)  # click.ClickException, not a crash


def test_missing_file(tmp_path):
    result = run(str(tmp_path / "absent.json"), "--json")
    assert result.exit_code != 0
    assert "absent.json: file not found" in result.output


def test_installed_command_in_a_subprocess():
    sailau = Path(sys.executable).parent / "sailau"
    proc = subprocess.run(
        [str(sailau), "seats", str(EXAMPLES / "seats-2012.json"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {
        "law": "kz-majilis-2009",
        "seats": {"NO": 83, "AZ": 8, "QKHP": 7},
        "qualified": ["NO", "AZ", "QKHP"],
        "quota": "6638629/98",
    }
    bad = subprocess.run([str(sailau), "seats", "/nonexistent/votes.json"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert "file not found" in bad.stderr and "Traceback" not in bad.stderr
