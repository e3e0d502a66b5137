"""Real names everywhere (issue 15, item 4): a vote table names regions and parties
as people write them (Latin, Kazakh or Russian Cyrillic, or all three), synth makes
the ids by one documented rule, and reports, charts and law lines read as a person
reads them. Expected figures are computed here independently of the renderer."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from sailau.cli.main import cli
from sailau.commission.html import render_html
from sailau.commission.names import ID_PATTERN, CellError, make_id, make_ids, parse_cell
from sailau.commission.report import PALETTE, party_colours
from sailau.commission.synth import TableError, parse_table, read_table, synthesize
from sailau.commission.verify import verify_published
from sailau.commission.wording import decimal_text, quota_line, threshold_line
from sailau.election.definition import load_election
from sailau.election.law import PartyVotes, allocate_list_seats

TABLE = Path(__file__).parents[1] / "commission" / "examples" / "majilis-2021-regions.csv"


def test_akmola_region_and_cyrillic_names_are_accepted(tmp_path: Path) -> None:
    text = ("region,A,B\nAkmola Region,10,5\nАқмола облысы,7,3\nАкмолинская область,4,4\n"
            "Түркістан облысы / Туркестанская область / Turkistan Region,9,1\n")
    table = parse_table(text)
    assert table.regions == ("akmola-region", "aqmola-oblysy", "akmolinskaya-oblast", "turkistan-region")
    result = synthesize(table, 6, 3, tmp_path / "out")
    election = load_election(result.election_path)
    names = {r.code: (r.name.kk, r.name.ru, r.name.en) for r in election.territory.regions}
    assert names["akmola-region"] == ("Akmola Region",) * 3
    assert names["aqmola-oblysy"] == ("Ақмола облысы",) * 3
    assert names["turkistan-region"] == ("Түркістан облысы", "Туркестанская область", "Turkistan Region")
    assert {p.region for p in election.precincts} == set(names)
    assert verify_published(tmp_path / "out").findings == []


def test_explicit_ids_colours_and_the_example_table() -> None:
    table = read_table(TABLE)
    assert table.parties == ("NO", "AUYL", "QHP", "ADAL", "AZ")
    no = table.named("NO")
    assert (no.ru, no.en, no.colour) == ("Нур Отан", "Nur Otan", "#1565c0")
    assert table.named("QHP").kk == "Қазақстан Халық партиясы"
    assert "akmola-region" in table.regions and "Almaty" in table.regions and "almaty-region" in table.regions
    assert table.named("akmola-region").ru == "Акмолинская область"
    assert all(ID_PATTERN.fullmatch(r) for r in table.regions)


@pytest.mark.parametrize(
    "text, message",
    [
        ("region,A\nR1 #123456,1\n", "a colour is for party columns only"),
        ("region,bad id = Name\nR1,1\n", "before '=' is not an id"),
        ("region,A / B\nR1,1\n", "give one name or three as 'kk / ru / en', not 2"),
        ("region,A\nAkmola Region,1\nAkmola Region,2\n", "line 3: region 'Akmola Region' appears twice"),
        ("region,Nur Otan,Nur Otan\nR1,1,2\n", "a party column appears twice"),
    ],
)
def test_bad_name_cells_are_refused_by_name(text: str, message: str) -> None:
    with pytest.raises(TableError, match=re.escape(message)):
        parse_table(text)


def test_same_slug_from_different_names_gets_a_suffix() -> None:
    cells = [parse_cell("Almaty Region"), parse_cell("almaty region"), parse_cell("x = Almaty")]
    assert make_ids(cells) == ["almaty-region", "almaty-region-2", "x"]
    with pytest.raises(CellError):
        parse_cell("a /  / c")
    assert parse_table("region,A #12345g\nR1,1\n").parties == ("a-12345g",)  # no colour: part of the name


@given(st.text(min_size=1, max_size=120).filter(lambda s: s.strip()))
def test_every_name_gets_an_ascii_identifier_deterministically(name: str) -> None:
    made = make_id(name)
    assert ID_PATTERN.fullmatch(made) and made.isascii()
    assert make_id(name) == made


@given(st.lists(st.sampled_from(["Almaty", "almaty", "ALMATY!", "Алматы", "Алматы!", "中文", "中文!"]), min_size=1, max_size=7, unique=True))
def test_made_ids_are_unique(names: list[str]) -> None:
    ids = make_ids([parse_cell(n) for n in names])
    assert len(set(ids)) == len(ids) and all(ID_PATTERN.fullmatch(i) for i in ids)


def _independent(f: Fraction) -> str:
    with localcontext() as ctx:
        ctx.prec = 80
        d = (Decimal(f.numerator) / Decimal(f.denominator)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{d:,.2f}"


@given(st.integers(-10**15, 10**15), st.integers(1, 10**6))
def test_decimal_text_rounds_the_exact_fraction(n: int, d: int) -> None:
    assert decimal_text(Fraction(n, d)) == _independent(Fraction(n, d))


def test_law_lines_read_as_a_person_reads_them() -> None:
    """The issue's 2021 figures: 7,283,574 took part; Nur Otan, Ak Zhol and the
    People's Party qualified with 6,599,921 votes for 98 seats."""
    votes = [PartyVotes("NO", 5_148_074), PartyVotes("AUYL", 383_023), PartyVotes("QHP", 659_019),
             PartyVotes("ADAL", 258_618), PartyVotes("AZ", 792_828)]
    a = allocate_list_seats("kz-majilis-2009", votes, participated=7_283_574)
    alloc = {"law": a.law.id, "participated": a.participated, "threshold_votes": str(a.threshold_votes), "quota": str(a.quota)}
    assert alloc["threshold_votes"] == "25492509/50" and alloc["quota"] == "6599921/98"  # exact inside
    # independently: 7 * 7,283,574 / 100 = 509,850.18 exactly; 6,599,921 / 98 = 67,346.132...
    assert 7 * 7_283_574 == 50_985_018 and 6_599_921 * 100 // 98 == 6_734_613
    assert threshold_line(alloc) == "7 % of 7,283,574 = 509,850.18 votes"
    assert quota_line(alloc) == "Hare quota 67,346.13 votes"


def test_reports_and_charts_show_names_not_ids(tmp_path: Path) -> None:
    table = parse_table("region,NO = Nur Otan #1565c0,Ak Zhol\nAkmola Region,5000,3000\nАқмола облысы / Акмолинская область / Aqmola,4000,900\n")
    synthesize(table, 6, 4, tmp_path / "s")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(cli, ["commission", "import", str(tmp_path / "s"), "--db", url]).exit_code == 0
    for level in ("national", "region"):
        out = runner.invoke(cli, ["commission", "report", "--db", url, "--level", level, "--json", str(tmp_path / f"{level}.json")])
        assert out.exit_code == 0, out.output
        assert "Nur Otan" in out.output and "Ak Zhol" in out.output and "Hare quota" in out.output
        report = json.loads((tmp_path / f"{level}.json").read_text())
        assert report["party_colours"] == {"NO": "#1565c0", "ak-zhol": PALETTE[1]}
        page = render_html(report)
        assert "By national" not in page and "Turnout by national" not in page
        assert re.search(r"threshold 25492509|/50 votes|/98", page) is None  # no raw fractions shown
        alloc = report["allocation"]
        assert threshold_line(alloc) in page and quota_line(alloc) in page
        assert "Nur Otan" in page and "Ak Zhol" in page
    region_page = render_html(json.loads((tmp_path / "region.json").read_text()))
    assert "Akmola Region" in region_page and "Aqmola" in region_page and "akmola-region" not in region_page
    assert "By region" in region_page and "Turnout by region" in region_page
    assert "Turnout, whole country" in render_html(json.loads((tmp_path / "national.json").read_text()))


def _luminance(hex_colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_derived_palette_keeps_contrast_on_white() -> None:
    """WCAG 1.4.11: graphics need 3:1 against their background (white)."""
    for colour in PALETTE:
        assert (1.05) / (_luminance(colour) + 0.05) >= 3.0, colour
    election = load_election(Path(__file__).parents[1] / "election" / "examples" / "majilis-2021.json")
    colours = party_colours(election)
    ordered = sorted(election.parties, key=lambda p: p.registration_number)
    assert [colours[p.id] for p in ordered] == [p.colour or PALETTE[i] for i, p in enumerate(ordered)]


def test_party_colour_is_optional_and_absent_keeps_the_bytes(tmp_path: Path) -> None:
    """The definition's `colour` is additive: a definition without it writes no key,
    so every existing definition keeps its fingerprint; a bad colour is refused."""
    from sailau.election.definition import DefinitionError, election_from_data, write_election

    example = Path(__file__).parents[1] / "election" / "examples" / "majilis-2021.json"
    election = load_election(example)
    assert all(p.colour is None for p in election.parties)
    assert b'"colour"' not in write_election(election)
    data = json.loads(write_election(election))
    data["parties"][0]["colour"] = "#1565c0"
    coloured = election_from_data(data)
    assert coloured.parties[0].colour == "#1565c0" and coloured.fingerprint_hex != election.fingerprint_hex
    for bad in ("blue", "#1565C0", "#12345", "#1565c0 "):
        data["parties"][0]["colour"] = bad
        with pytest.raises(DefinitionError, match="colour"):
            election_from_data(data)
