"""The NIST SP 1500-100 v2 export of a presidential race and of referendum questions
(election/nist.py): a station's `protocol.nist.json` after a simulated day on the
shipped examples, and the commission's `export --nist` of synthetic sets, are valid
against the official v2 schema with 0 errors, carry the protocol's counts, the
names in kk/ru/en, a presidential round and a question's constitutional flag."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from nist_schema import nist_schema_errors

from sailau.cli.main import cli
from sailau.commission.synth import parse_table, synthesize
from sailau.election.definition import load_election
from sailau.simulator.simulation import SimulationConfig, run_simulation

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"
T = "ElectionResults."


def _station_day(tmp_path: Path, definition: Path, shares: dict[str, float]) -> tuple[dict, dict]:
    """Simulate a day on `definition`; the signed protocol and the NIST file it wrote."""
    out = tmp_path / "out"
    report = run_simulation(SimulationConfig(voters=60, seed=14, election=definition, party_shares=shares,
                                             out_dir=out, workdir=tmp_path / "work"))
    assert report.protocol_valid, report.problems
    protocol = json.loads((out / "protocol.json").read_text(encoding="utf-8"))["protocol"]
    return protocol, json.loads((out / "protocol.nist.json").read_text(encoding="utf-8"))


def _texts(itext: dict) -> dict[str, str]:
    assert itext["@type"] == T + "InternationalizedText"
    return {s["Language"]: s["Content"] for s in itext["Text"]}


def _other_ids(entry: dict) -> dict[str, str]:
    return {i["OtherType"]: i["Value"] for i in entry.get("ExternalIdentifier", []) if i["Type"] == "other"}


def _totals(contest: dict) -> dict[str, int]:
    """Votes per selection id summed over the file's precincts."""
    return {s["@id"]: sum(v["Count"] for v in s["VoteCounts"]) for s in contest["ContestSelection"]}


def _undervotes(contest: dict) -> int:
    return sum(o["Undervotes"] for o in contest["OtherCounts"])


def _contest(nist: dict, cid: str) -> dict:
    (contest,) = [c for c in nist["Election"][0]["Contest"] if c["@id"] == f"contest-{cid}"]
    return contest


def _presidential_definition(tmp_path: Path, second_round: bool) -> Path:
    data = json.loads((EXAMPLES / "president-2022.json").read_text(encoding="utf-8"))
    if second_round:
        (race,) = data["contests"]
        race["round"] = 2
        race["candidates"] = [c for c in race["candidates"] if c["id"] in ("TOKAYEV", "DAIRABAYEV")]
        data["id"] += "-round-2"
    path = tmp_path / "president.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _referendum_definition(tmp_path: Path, constitutional: bool) -> Path:
    data = json.loads((EXAMPLES / "referendum-2022.json").read_text(encoding="utf-8"))
    data["contests"][0]["constitutional"] = constitutional
    path = tmp_path / "referendum.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_station_presidential_round_one_and_two(tmp_path):
    for rnd in (1, 2):
        work = tmp_path / f"round-{rnd}"
        definition = _presidential_definition(work.parent, second_round=rnd == 2) if rnd == 2 \
            else EXAMPLES / "president-2022.json"
        election = load_election(definition)
        race = election.presidential_contest
        shares = {"TOKAYEV": 5.0, "DAIRABAYEV": 2.0, "AGAINST_ALL": 1.0, "BLANK": 0.5}
        protocol, nist = _station_day(work, definition, shares)
        assert nist_schema_errors(nist) == []
        contest = _contest(nist, race.id)
        assert contest["@type"] == T + "CandidateContest"
        assert (contest["VoteVariation"], contest["NumberElected"], contest["VotesAllowed"]) == ("majority", 1, 1)
        assert contest["ElectionDistrictId"] == "gpu-kz"
        assert _other_ids(contest) == {"round": str(rnd)}
        assert _texts(contest["BallotTitle"]) == race.name.model_dump()

        (counted,) = protocol["contests"]
        expected = {f"sel-{race.id}-{cid}": counted["votes"].get(cid, 0) for cid in (c.id for c in race.candidates)}
        expected[f"sel-{race.id}-against-all"] = counted["against_all"]
        assert _totals(contest) == expected
        assert counted["votes"]["TOKAYEV"] > 0 and counted["against_all"] > 0  # the comparison compares something
        assert _undervotes(contest) == counted["blank"]

        candidates = {c["@id"]: c for c in nist["Election"][0]["Candidate"]}
        assert len(candidates) == len(race.candidates)
        for cand in race.candidates:
            assert _texts(candidates[f"cand-{race.id}-{cand.id}"]["BallotName"]) == cand.name.model_dump()
        by_id = {s["@id"]: s for s in contest["ContestSelection"]}
        for cand in race.candidates:
            sel = by_id[f"sel-{race.id}-{cand.id}"]
            assert sel["@type"] == T + "CandidateSelection" and sel["CandidateIds"] == [f"cand-{race.id}-{cand.id}"]
        against = by_id[f"sel-{race.id}-against-all"]
        assert against["@type"] == T + "BallotMeasureSelection"
        assert _texts(against["Selection"])["ru"] == "Против всех"


def test_station_referendum_question_and_its_constitutional_flag(tmp_path):
    for flag in (True, False):
        work = tmp_path / str(flag)
        work.mkdir()
        definition = _referendum_definition(work, flag)
        (question,) = load_election(definition).referendum_questions
        protocol, nist = _station_day(work, definition, {"yes": 3.0, "no": 1.0, "BLANK": 0.3})
        assert nist_schema_errors(nist) == []
        contest = _contest(nist, question.id)
        assert contest["@type"] == T + "BallotMeasureContest" and contest["Type"] == "referendum"
        assert contest["ElectionDistrictId"] == "gpu-kz"
        assert _other_ids(contest) == {"constitutional": "true" if flag else "false"}
        assert _texts(contest["BallotTitle"]) == question.name.model_dump()
        assert _texts(contest["FullText"]) == question.text.model_dump()
        assert "Election" in nist and "Candidate" not in nist["Election"][0]

        (counted,) = protocol["contests"]
        assert counted["votes"]["yes"] > 0 and counted["votes"]["no"] > 0
        assert _totals(contest) == {f"sel-{question.id}-yes": counted["votes"]["yes"],
                                    f"sel-{question.id}-no": counted["votes"]["no"]}
        assert _undervotes(contest) == counted["blank"]
        answers = {s["@id"]: _texts(s["Selection"]) for s in contest["ContestSelection"]}
        assert answers[f"sel-{question.id}-yes"] == {"kk": "Иә", "ru": "Да", "en": "Yes"}
        assert answers[f"sel-{question.id}-no"] == {"kk": "Жоқ", "ru": "Нет", "en": "No"}


def _commission_export(tmp_path: Path, table: str, law: str, **kw) -> tuple[dict, dict]:
    """Synthesize a published set, import it, `commission export --nist`: the
    definition (as data) and the report."""
    published = tmp_path / "set"
    synthesize(parse_table(table), 9, 5, published, election_id=f"synth-{law}", law=law, **kw)
    db = f"sqlite:///{tmp_path / 'c.db'}"
    r = CliRunner().invoke(cli, ["commission", "import", str(published), "--db", db])
    assert r.exit_code == 0, r.output
    out = tmp_path / "nist.json"
    r = CliRunner().invoke(cli, ["commission", "export", "--db", db, "--nist", str(out)])
    assert r.exit_code == 0, r.output
    return (json.loads((published / "election.json").read_text(encoding="utf-8")),
            json.loads(out.read_text(encoding="utf-8")))


def test_commission_export_of_a_presidential_set(tmp_path):
    table = "region,A,B,C,AGAINST_ALL\nR1,500,300,100,50\nR2,400,350,120,30\nR3,200,100,90,10\n"
    definition, nist = _commission_export(tmp_path, table, "kz-president-2022")
    assert nist_schema_errors(nist) == []
    assert nist["Status"] == "unofficial-complete"
    (race,) = definition["contests"]
    contest = _contest(nist, race["id"])
    assert contest["@type"] == T + "CandidateContest" and _other_ids(contest) == {"round": "1"}
    cid = race["id"]
    assert _totals(contest) == {f"sel-{cid}-A": 1100, f"sel-{cid}-B": 750, f"sel-{cid}-C": 310,
                                f"sel-{cid}-against-all": 90}
    assert len(contest["OtherCounts"]) == 9  # every precinct counted
    names = {c["@id"]: _texts(c["BallotName"]) for c in nist["Election"][0]["Candidate"]}
    for cand in race["candidates"]:
        assert names[f"cand-{cid}-{cand['id']}"] == cand["name"]


def test_commission_export_of_a_referendum_set(tmp_path):
    table = "region,yes,no\nR1,600,300\nR2,500,400\nR3,100,300\n"
    for flag in (True, False):
        work = tmp_path / str(flag)
        work.mkdir()
        definition, nist = _commission_export(work, table, "kz-referendum", constitutional=flag)
        assert nist_schema_errors(nist) == []
        (question,) = definition["contests"]
        contest = _contest(nist, question["id"])
        assert contest["@type"] == T + "BallotMeasureContest" and contest["Type"] == "referendum"
        assert _other_ids(contest) == {"constitutional": "true" if flag else "false"}
        assert _totals(contest) == {f"sel-{question['id']}-yes": 1200, f"sel-{question['id']}-no": 1000}
        assert _texts(contest["BallotTitle"]) == question["name"]
        assert _texts(contest["FullText"]) == question["text"]
        regions = {u["@id"] for u in nist["GpUnit"] if u.get("OtherType") == "region"}
        assert regions == {"gpu-region-R1", "gpu-region-R2", "gpu-region-R3"}
