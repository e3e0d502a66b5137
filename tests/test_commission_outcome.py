"""The commission chain for a presidential election and a referendum: a synthetic
published set is imported, reported (the outcome by the law engine, a referendum
by region) and `sailau verify` recomputes the same report from the files; a
protocol changed after signing is caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.commission.synth import SynthError, parse_table, synthesize


def _set(tmp_path: Path, table: str, law: str, **kw) -> Path:
    out = tmp_path / "set"
    synthesize(parse_table(table), 12, 7, out, election_id=f"synth-{law}", law=law, **kw)
    return out


def _report(tmp_path: Path, published: Path) -> dict:
    db = f"sqlite:///{tmp_path / 'c.db'}"
    r = CliRunner().invoke(cli, ["commission", "import", str(published), "--db", db])
    assert r.exit_code == 0, r.output
    out = tmp_path / "report.json"
    r = CliRunner().invoke(cli, ["commission", "report", "--db", db, "--json", str(out)])
    assert r.exit_code == 0, r.output
    return json.loads(out.read_text())


def _verify(published: Path, report: Path):
    return CliRunner().invoke(cli, ["verify", str(published), "--report", str(report)])


def test_presidential_set_second_round_and_verify(tmp_path):
    table = "region,A,B,C,AGAINST_ALL\nR1,500,300,100,50\nR2,400,350,120,30\nR3,200,100,90,10\n"
    published = _set(tmp_path, table, "kz-president-2022")
    report = _report(tmp_path, published)
    o = report["outcome"]
    assert o["kind"] == "presidential" and o["outcome"] == "second_round" and o["second_round"] == ["A", "B"]
    assert o["votes"] == {"A": 1100, "B": 750, "C": 310} and o["against_all"] == 90
    assert o["participated"] == report["counts"]["ballots_counted"]  # the base: ballots counted (card + paper), invalid included
    v = _verify(published, tmp_path / "report.json")
    assert v.exit_code == 0, v.output
    assert "second round: A and B" in v.output


def test_presidential_elected(tmp_path):
    published = _set(tmp_path, "region,A,B\nR1,900,100\nR2,800,150\n", "kz-president-1995")
    o = _report(tmp_path, published)["outcome"]
    assert o["outcome"] == "elected" and o["winner"] == "A"


def test_referendum_set_by_region_and_verify(tmp_path):
    # R1 and R2 say yes, R3 no: 2 of 3 regions, exactly two thirds: adopted
    table = "region,yes,no\nR1,600,300\nR2,500,400\nR3,100,300\n"
    published = _set(tmp_path, table, "kz-referendum")
    report = _report(tmp_path, published)
    (q,) = report["outcome"]["questions"]
    assert q["constitutional"] and q["outcome"] == "adopted"
    assert q["regions_yes"] == ["R1", "R2"] and q["regions_needed"] == 2
    assert (q["yes"], q["no"]) == (1200, 1000)
    assert _verify(published, tmp_path / "report.json").exit_code == 0


def test_referendum_one_region_short_is_rejected_but_a_national_question_passes(tmp_path):
    table = "region,yes,no\nR1,900,100\nR2,100,300\nR3,100,300\n"  # national yes 1100 of 1900, 1 of 3 regions
    report = _report(tmp_path, _set(tmp_path, table, "kz-referendum"))
    assert report["outcome"]["questions"][0]["outcome"] == "rejected"
    other = tmp_path / "b"
    other.mkdir()
    report = _report(other, _set(other, table, "kz-referendum", constitutional=False))
    assert report["outcome"]["questions"][0]["outcome"] == "adopted"


def test_a_forged_official_outcome_is_caught_by_verify(tmp_path):
    table = "region,yes,no\nR1,600,300\nR2,500,400\nR3,100,300\n"
    published = _set(tmp_path, table, "kz-referendum")
    report = _report(tmp_path, published)
    report["outcome"]["questions"][0]["regions_yes"] = ["R1", "R2", "R3"]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(report))
    v = _verify(published, forged)
    assert v.exit_code == 1 and "report:differs" in v.output and "regions_yes" in v.output


def test_synth_refuses_a_table_that_does_not_fit_the_law(tmp_path):
    with pytest.raises(SynthError, match="region,yes,no"):
        _set(tmp_path, "region,A,B\nR1,1,2\n", "kz-referendum")
    with pytest.raises(SynthError, match="no 'against all'"):
        _set(tmp_path, "region,A,AGAINST_ALL\nR1,1,2\n", "kz-president-1995")


def test_html_report_is_refused_by_name_for_an_outcome_report(tmp_path):
    published = _set(tmp_path, "region,yes,no\nR1,6,3\n", "kz-referendum")
    _report(tmp_path, published)
    r = CliRunner().invoke(cli, ["commission", "report", "--db", f"sqlite:///{tmp_path / 'c.db'}",
                                 "--html", str(tmp_path / "r.html")])
    assert r.exit_code == 1 and "--html draws Mäjilis seats" in r.output and not (tmp_path / "r.html").exists()


def test_synth_cli_names_the_set_after_the_law(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("region,A,B,AGAINST_ALL\nR1,50,30,5\n")
    r = CliRunner().invoke(cli, ["commission", "synth", "--table", str(table), "--precincts", "2", "--seed", "1",
                                 "--out", str(tmp_path / "s"), "--law", "kz-president-2022"])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "s" / "election.json").read_text())["id"] == "kz-president-2022-synth"


# -- maslikhats --------------------------------------------------------------------

from sailau.commission.report import build_report  # noqa: E402
from sailau.election.definition import DefinitionError, load_election  # noqa: E402
from sailau.election.protocol import ContestResult, Protocol, sum_protocols  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"


def _majilis_2023_with_seats(astana_seats: int = 10):
    e = load_election(EXAMPLES / "majilis-2023.json")
    data = e.model_dump(mode="json", exclude_none=True)
    for c in data["contests"]:
        if c["id"] == "maslikhat-astana-list":
            c["seats"] = astana_seats
    return e.model_copy(update={"contests": data["contests"]})


def test_maslikhat_list_seats_in_the_majilis_report():
    e = _majilis_2023_with_seats(10)
    lst = e.contest("majilis-list").options
    astana = e.contest("maslikhat-astana-list").options  # ballot order
    votes = {pid: 0 for pid in astana}
    votes["AMANAT"], votes["AUYL"], votes["QHP"] = 600, 300, 40  # QHP under 5 % of 1000
    masl = ContestResult("maslikhat-astana-list", votes, against_all=60)
    maj = ContestResult("majilis-list", {pid: (1000 if pid == "AMANAT" else 0) for pid in lst})
    smd_id = e.contests_for_style(e.precinct(7101).style)[1].id
    smd = ContestResult(smd_id, {c.id: (1000 if i == 0 else 0) for i, c in enumerate(e.contest(smd_id).candidates)})
    p = Protocol(election_id=e.id, election_fingerprint=e.fingerprint_hex, precinct=7101, region="KZ-71",
                 district=e.precinct(7101).district, voters_on_list=2000, voters_checked_in=1000, cards_issued=1000,
                 ballots_cast=1000, cards_cancelled=0, contests=(maj, smd, masl))
    national = sum_protocols([p])
    report = build_report(e, "national", {"national": national}, national)
    by_contest = {m["contest"]: m for m in report["maslikhats"]}
    astana_result = by_contest["maslikhat-astana-list"]
    assert astana_result["seats"]["AMANAT"] == 7 and astana_result["seats"]["AUYL"] == 3
    registration_order = [p.id for p in e.parties if p.id in ("AMANAT", "AUYL")]
    assert astana_result["seats"]["QHP"] == 0 and astana_result["qualified"] == registration_order
    assert by_contest["maslikhat-almaty-list"]["error"] == "the definition gives this list no seats"
    assert report["seats"]["AMANAT"] == 69  # the Mäjilis list is untouched


def test_the_majilis_list_takes_no_seats_from_the_definition():
    e = load_election(EXAMPLES / "majilis-2023.json")
    data = e.model_dump(mode="json", exclude_none=True)
    data["contests"][0]["seats"] = 69
    with pytest.raises(DefinitionError) as err:
        e.model_copy(update={"contests": data["contests"]})
    assert any(p == "contests[0].seats" for p, _ in err.value.problems)
