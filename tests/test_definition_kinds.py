"""Definitions of every kind (presidential, referendum, maslikhat alone, Mäjilis with
maslikhats) and `sailau election second-round`: each problem named with its path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.election.ballot import decode_ballot, encode_ballot
from sailau.election.definition import (
    DefinitionError,
    PresidentialContest,
    ReferendumQuestion,
    election_from_data,
    load_election,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"


def data_of(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())


def problems(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as e:
        election_from_data(data)
    return list(e.value.problems)


def test_the_examples_load():
    pres = load_election(EXAMPLES / "president-2022.json")
    assert isinstance(pres.presidential_contest, PresidentialContest)
    assert pres.presidential_contest.against_all and pres.presidential_contest.round == 1
    assert [o.id for o in pres.options("president")][4] == "TOKAYEV"
    ref = load_election(EXAMPLES / "referendum-2022.json")
    (q,) = ref.referendum_questions
    assert isinstance(q, ReferendumQuestion) and q.constitutional
    assert [(o.index, o.id) for o in ref.options(q.id)] == [(0, "yes"), (1, "no")]
    assert ref.option_label(q.id, "yes", "kk") == "Иә" and ref.option_label(q.id, "no", "ru") == "Нет"
    assert len(ref.territory.regions) == 17  # the regions of June 2022


def test_ballots_of_the_new_kinds_encode_and_decode():
    pres = load_election(EXAMPLES / "president-2022.json")
    from sailau.election.ballot import Mark

    for choice in ("TOKAYEV", "ABDEN", Mark.AGAINST_ALL, Mark.BLANK):
        raw = encode_ballot(pres, 1, {"president": choice})
        assert decode_ballot(pres, 1, raw)["president"] == choice
    ref = load_election(EXAMPLES / "referendum-2022.json")
    raw = encode_ballot(ref, 1, {"constitution-2022": "no"})
    assert decode_ballot(ref, 1, raw)["constitution-2022"] == "no"


def test_presidential_law_and_against_all_must_agree():
    d = data_of("president-2022.json")
    d["law"] = "kz-president-1995"
    assert ("contests[0].against_all", "law kz-president-1995 has no 'against all' on the presidential ballot ('president')") in problems(d)
    d = data_of("president-2022.json")
    d["contests"][0]["against_all"] = False
    assert any(p == "contests[0].against_all" and "requires" in m for p, m in problems(d))


def test_presidential_election_holds_the_race_alone():
    d = data_of("president-2022.json")
    ref = data_of("referendum-2022.json")["contests"][0]
    d["contests"].append(ref)
    d["ballot_styles"][0]["contests"].append(ref["id"])
    assert any(p == "contests" and "exactly one presidential contest" in m for p, m in problems(d))


def test_second_round_has_exactly_two_candidates():
    d = data_of("president-2022.json")
    d["contests"][0]["round"] = 2
    assert ("contests[0].candidates", "a second round has exactly two candidates, found 6") in problems(d)


def test_referendum_questions_alone_no_against_all_national():
    d = data_of("referendum-2022.json")
    d["contests"][0]["against_all"] = True
    d["contests"][0]["level"] = "maslikhat"
    d["contests"][0]["region"] = "KZ-71"
    found = problems(d)
    assert any(p == "contests[0].against_all" for p, _ in found)
    assert any(p == "contests[0].level" for p, _ in found)
    d = data_of("referendum-2022.json")
    d["contests"] = []
    d["ballot_styles"][0]["contests"] = []
    assert any(p == "contests" and "one or more referendum questions" in m for p, m in problems(d))


def test_two_questions_one_constitutional():
    d = data_of("referendum-2022.json")
    q2 = dict(d["contests"][0], id="npp", constitutional=False)
    d["contests"].append(q2)
    d["ballot_styles"][0]["contests"].append("npp")
    e = election_from_data(d)
    assert [q.constitutional for q in e.referendum_questions] == [True, False]


def test_majilis_refuses_a_presidential_contest_with_its_path():
    d = data_of("majilis-2023.json")
    pres = data_of("president-2022.json")["contests"][0]
    d["contests"].append(pres)
    d["ballot_styles"][0]["contests"].append("president")
    assert any(p == f"contests[{len(d['contests']) - 1}]" and "needs its own election" in m for p, m in problems(d))


def test_maslikhat_election_alone():
    d = data_of("majilis-2023.json")
    d["law"] = "kz-maslikhat-2023"
    # the Mäjilis list is no maslikhat contest: named, with its path
    assert any(p == "contests[0]" and "maslikhat party lists and seats only" in m for p, m in problems(d))
    keep = [c for c in d["contests"] if c.get("level") == "maslikhat"]
    ids = {c["id"] for c in keep}
    d["contests"] = keep
    for s in d["ballot_styles"]:
        s["contests"] = [c for c in s["contests"] if c in ids]
    for p in d["precincts"]:
        p.pop("district", None)
    d["territory"]["districts"] = [x for x in d["territory"]["districts"] if x.get("level") == "maslikhat"]
    e = election_from_data(d)
    assert all(c.level == "maslikhat" for c in e.contests)


# -- second round ------------------------------------------------------------------


def _first_round(tmp_path: Path, votes: dict[str, int]) -> Path:
    p = tmp_path / "counts.json"
    p.write_text(json.dumps({
        "law": "kz-president-2022", "against_all": 10, "participated": sum(votes.values()) + 10,
        "candidates": [{"id": k, "votes": v} for k, v in votes.items()],
    }))
    return p


VOTES = {"ABDEN": 300, "AUESBAYEV": 100, "DAIRABAYEV": 250, "KAZHYKEN": 50, "TOKAYEV": 200, "TURSYNBEKOVA": 40}


def test_second_round_definition_from_counts_and_from_results_output(tmp_path):
    counts = _first_round(tmp_path, VOTES)
    out_json = tmp_path / "result.json"
    out_json.write_text(CliRunner().invoke(cli, ["results", str(counts), "--json"]).output)
    first = load_election(EXAMPLES / "president-2022.json")
    made = []
    for i, res in enumerate((counts, out_json)):
        target = tmp_path / f"r2-{i}.json"
        r = CliRunner().invoke(
            cli, ["election", "second-round", str(EXAMPLES / "president-2022.json"), str(res),
                  "--date", "2022-12-04", "--out", str(target)],
        )
        assert r.exit_code == 0, r.output
        second = load_election(target)
        assert [c.id for c in second.presidential_contest.candidates] == ["ABDEN", "DAIRABAYEV"]  # ballot order
        assert second.presidential_contest.round == 2
        assert second.fingerprint != first.fingerprint and second.id == "kz-president-2022-round-2"
        made.append(target.read_bytes())
    assert made[0] == made[1]


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ({**VOTES, "TOKAYEV": 2000}, "the first round elected 'TOKAYEV'"),
        ({**VOTES, "DAIRABAYEV": 200}, "the second place is tied (DAIRABAYEV, TOKAYEV)"),
    ],
)
def test_second_round_refused_when_elected_or_tied(tmp_path, votes, message):
    target = tmp_path / "r2.json"
    r = CliRunner().invoke(
        cli, ["election", "second-round", str(EXAMPLES / "president-2022.json"), str(_first_round(tmp_path, votes)),
              "--date", "2022-12-04", "--out", str(target)],
    )
    assert r.exit_code == 1 and message in r.output and not target.exists()


def test_second_round_refuses_a_result_of_other_candidates(tmp_path):
    votes = {**VOTES}
    votes["NOBODY"] = votes.pop("TURSYNBEKOVA")
    r = CliRunner().invoke(
        cli, ["election", "second-round", str(EXAMPLES / "president-2022.json"), str(_first_round(tmp_path, votes)),
              "--date", "2022-12-04", "--out", str(tmp_path / "x.json")],
    )
    assert r.exit_code == 1 and "are not this election's" in r.output
