"""`sailau results`: every kind answered with the keys the issue names; bad input is
one line naming the problem, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"


def run(path: Path, *extra: str):
    return CliRunner().invoke(cli, ["results", str(path), *extra])


def write(tmp_path: Path, data) -> Path:
    p = tmp_path / "in.json"
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


PRES = {
    "law": "kz-president-2022",
    "candidates": [{"id": "A", "name": "Alpha", "votes": 400}, {"id": "B", "votes": 300}, {"id": "C", "votes": 200}],
    "against_all": 50,
    "participated": 1000,
}
REF = {
    "law": "kz-referendum",
    "constitutional": True,
    "on_list": 1000,
    "regions": [
        {"id": "R1", "participated": 200, "yes": 150, "no": 50},
        {"id": "R2", "participated": 200, "yes": 150, "no": 50},
        {"id": "R3", "participated": 200, "yes": 50, "no": 150},
    ],
}


def test_presidential_keys(tmp_path):
    r = run(write(tmp_path, PRES), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert {"outcome", "winner", "second_round"} <= set(out)
    assert out["outcome"] == "second_round" and out["winner"] is None and out["second_round"] == ["A", "B"]
    text = run(write(tmp_path, PRES)).output
    assert "second round: A and B" in text and "Alpha [A]" in text


def test_presidential_1995_has_no_against_all(tmp_path):
    data = dict(PRES, law="kz-president-1995")
    r = run(write(tmp_path, data))
    assert r.exit_code == 1 and "no 'against all'" in r.output and "Traceback" not in r.output
    data.pop("against_all")
    out = json.loads(run(write(tmp_path, data), "--json").output)
    assert out["outcome"] == "second_round"


def test_tie_for_second_is_named(tmp_path):
    data = dict(PRES, candidates=[{"id": "A", "votes": 400}, {"id": "B", "votes": 250}, {"id": "C", "votes": 250}])
    out = json.loads(run(write(tmp_path, data), "--json").output)
    assert out["outcome"] == "tie_for_second" and out["tied"] == ["B", "C"] and out["second_round"] is None


def test_referendum_keys(tmp_path):
    out = json.loads(run(write(tmp_path, REF), "--json").output)
    assert out["outcome"] == "adopted"  # 2 of 3 regions: exactly two thirds
    assert out["regions"] == ["R1", "R2", "R3"] and out["regions_yes"] == ["R1", "R2"]
    assert out["regions_needed"] == 2
    low = dict(REF, on_list=1200)
    assert json.loads(run(write(tmp_path, low), "--json").output)["outcome"] == "invalid_turnout"


def test_majilis_input_is_answered_as_by_seats():
    seats = json.loads(CliRunner().invoke(cli, ["seats", str(EXAMPLES / "seats-2023.json"), "--json"]).output)
    out = json.loads(run(EXAMPLES / "seats-2023.json", "--json").output)
    assert out["kind"] == "majilis"
    assert {k: out[k] for k in seats} == seats


def test_maslikhat_input(tmp_path):
    data = {
        "law": "kz-maslikhat-2023",
        "maslikhats": [
            {"id": "astana", "list_seats": 10, "parties": [{"id": "A", "votes": 70}, {"id": "B", "votes": 30}],
             "districts": [{"id": "d1", "candidates": [{"id": "x", "votes": 3}, {"id": "y", "votes": 2}]}]},
        ],
    }
    out = json.loads(run(write(tmp_path, data), "--json").output)
    (m,) = out["maslikhats"]
    assert m["seats"] == {"A": 7, "B": 3} and m["districts"][0]["winner"] == "x"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (dict(PRES, law="kz-president-2099"), "unknown law 'kz-president-2099'; known laws:"),
        ({"law": "nope", "parties": [{"id": "A", "votes": 1}]}, "unknown law 'nope'"),
        (dict(PRES, participated=-1), "'participated' must not be negative"),
        (dict(PRES, participated=10), "less than the votes cast"),
        (dict(PRES, candidates=[{"id": "A", "votes": 1}, {"id": "A", "votes": 2}]), "duplicate candidate id 'A'"),
        (dict(PRES, candidates=[{"id": "A", "votes": 1.5}]), "must be whole numbers"),
        (dict(PRES, candidates=[{"id": "A", "votes": True}]), "'votes' must be an integer"),
        (dict(PRES, extra=1), "unknown key(s) 'extra'"),
        (dict(PRES, on_list=10), "more took part"),
        ({k: v for k, v in PRES.items() if k != "participated"}, "missing key(s) 'participated'"),
        (dict(REF, regions=[*REF["regions"], REF["regions"][0]]), "region 'R1' is listed twice"),
        (dict(REF, regions=[{"id": "R1", "participated": 10, "yes": 8, "no": 5}]), "more than those who took part"),
        (dict(REF, constitutional="yes"), "'constitutional' must be true or false"),
        (dict(REF, on_list=100), "more took part (600) than are on the lists (100)"),
        ([1, 2], "expected a JSON object with a 'law'"),
        ({"law": "kz-maslikhat-2023", "maslikhats": [{"id": "m", "list_seats": 3, "parties": "AB"}]},
         "'parties' must be a non-empty list"),
        ({"law": "kz-maslikhat-2023", "maslikhats": [{"id": "m", "list_seats": 1, "parties": [{"id": "A", "votes": 1}]},
                                                     {"id": "m", "list_seats": 1, "parties": [{"id": "A", "votes": 1}]}]},
         "duplicate maslikhat id 'm'"),
        ('{"law": "kz-referendum", "law": "kz-referendum"}', "malformed"),
        ({"format": "sailau/election", "law": "kz-majilis-2023"}, "is an election definition, not a results input"),
    ],
)
def test_bad_input_is_one_named_line(tmp_path, data, message):
    r = run(write(tmp_path, data))
    assert r.exit_code == 1, r.output
    assert message in r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    assert len(r.output.strip().splitlines()) == 1


def test_missing_file_and_oversized_file(tmp_path):
    assert "file not found" in run(tmp_path / "none.json").output
    big = tmp_path / "big.json"
    big.write_text(" " * (4 * 1024 * 1024 + 10) + "{}")
    assert "too_large" in run(big).output
