"""Published Kazakh results reproduced by the law engine (`sailau results`).

Each test cites where its figures come from. Where only percentages were found,
the test says so and derives integers in the open; the shares the CEC published
are checked to two decimals as published."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from sailau.cli.main import cli
from sailau.election.referendum import ReferendumOutcome, RegionVotes, referendum_result

EXAMPLES = Path(__file__).resolve().parent.parent / "election" / "examples"


def results(path: Path) -> dict:
    out = CliRunner().invoke(cli, ["results", str(path), "--json"])
    assert out.exit_code == 0, out.output
    return json.loads(out.output)


def test_presidential_2019_tokayev_elected_in_the_first_round():
    # Source: CEC of Kazakhstan, final results announced 10 June 2019 (TASS, "Tokayev wins
    # Kazakhstan's presidential election with 70.96%"); votes per candidate, ballots cast
    # 9,274,110 (57,700 invalid) as recorded by IFES ElectionGuide (election 3257); voters
    # on the lists 11,960,364 from the CEC's preliminary figures (Deccan Chronicle, 11 June
    # 2019). Turnout 77.5 %.
    out = results(EXAMPLES / "results-president-2019.json")
    assert out["outcome"] == "elected" and out["winner"] == "TOKAYEV" and out["second_round"] is None
    shares = {c["id"]: c["percent_of_valid"] for c in out["candidates"]}
    assert shares["TOKAYEV"] == "70.96" and shares["KOSANOV"] == "16.23"  # the CEC's published shares
    assert out["turnout_percent"] == "77.54"  # published rounded: 77.5 %
    assert out["valid"] == 9_274_110 - 57_700  # the candidates' votes are exactly the valid ballots
    # Elected on the law's base too (voters who took part), not only on valid votes:
    assert out["candidates"][0]["percent_of_participated"] == "70.52"


def test_presidential_2022_tokayev_elected_with_against_all_on_the_ballot():
    # Source: CEC of Kazakhstan, final results announced 22 November 2022 (Kazinform, "CEC
    # announces final results of Nov 20 presidential election"): 8,300,046 voters received
    # ballots (69.44 %), Tokayev 6,456,393 (81.31 %), against all 460,484 (5.8 %); the other
    # candidates' votes and 11,953,465 on the lists: The Astana Times, 21 November 2022.
    out = results(EXAMPLES / "results-president-2022.json")
    assert out["law"] == "kz-president-2022"
    assert out["outcome"] == "elected" and out["winner"] == "TOKAYEV"
    shares = {c["id"]: c["percent_of_valid"] for c in out["candidates"]}
    assert shares == {
        "TOKAYEV": "81.31", "DAIRABAYEV": "3.42", "ABDEN": "2.60",
        "KAZHYKEN": "2.53", "AUESBAYEV": "2.22", "TURSYNBEKOVA": "2.12",
    }
    assert out["against_all"] == 460_484
    assert round(100 * out["against_all"] / out["valid"], 1) == 5.8
    assert out["turnout_percent"] == "69.44"


def test_referendum_2024_nuclear_power_plant_adopted_not_constitutional():
    # Source: Central Referendum Commission (CEC) of Kazakhstan, results of 6 October 2024
    # (TASS, 8 October 2024; The Astana Times, 7 October 2024): 12,284,487 on the lists,
    # 7,820,204 took part (63.66 %), yes 5,561,937 (71.12 %), no 2,045,271. Per-region
    # figures were not found; a question that is not constitutional is decided by the
    # national sums alone, so the republic is one region in the input.
    out = results(EXAMPLES / "results-referendum-2024.json")
    assert out["constitutional"] is False
    assert out["outcome"] == "adopted" and out["valid"] is True
    assert out["turnout_percent"] == "63.66" and out["yes_percent"] == "71.12"


# 2022 constitutional referendum. Source: Central Referendum Commission (CEC) of
# Kazakhstan, final results of 5 June 2022 as reported 7 June 2022 (Sputnik/UrduPoint;
# figures as in the CEC's table): 11,734,642 on the lists, 7,985,769 took part
# (68.05 %), yes 6,163,516 (77.18 %), no 1,490,470; the CEC chairman: "an absolute
# majority in each of the 17 regions" (14 oblasts, 2 cities of republican significance,
# the capital: the 3 new oblasts date from 8 June 2022). Per-region yes/no counts were
# NOT found, except Almaty city (Informburo, 6 June 2022): 1,129,117 on the lists,
# 373,057 took part, 65.22 % yes and 27.41 % no (percentages only: integers derived
# below by rounding). So the test checks what the national figures determine (valid
# turnout, the national share) and the regional rule with the published region count
# and the CEC's statement; the other 16 regions' counts are a transparent even split
# of the national remainder, not published figures.
REF22 = {"on_list": 11_734_642, "participated": 7_985_769, "yes": 6_163_516, "no": 1_490_470}
ALMATY = {"on_list": 1_129_117, "participated": 373_057}
ALMATY["yes"] = round(373_057 * 6522 / 10000)  # 65.22 %
ALMATY["no"] = round(373_057 * 2741 / 10000)  # 27.41 %


def _ref22_regions() -> list[RegionVotes]:
    rest = {k: REF22[k] - ALMATY[k] for k in ("participated", "yes", "no")}
    regions = [RegionVotes("ALMATY", ALMATY["participated"], ALMATY["yes"], ALMATY["no"])]
    for i in range(16):
        share = {k: v // 16 + (v % 16 if i == 15 else 0) for k, v in rest.items()}
        regions.append(RegionVotes(f"R{i + 1:02d}", share["participated"], share["yes"], share["no"]))
    return regions


def test_referendum_2022_constitutional_national_figures():
    regions = _ref22_regions()
    assert sum(r.participated for r in regions) == REF22["participated"]
    assert sum(r.yes for r in regions) == REF22["yes"] and sum(r.no for r in regions) == REF22["no"]
    r = referendum_result("kz-referendum", True, REF22["on_list"], regions)
    assert r.valid  # more than half of those on the lists took part
    assert f"{float(100 * r.turnout):.2f}" == "68.05"
    assert f"{float(100 * r.yes_share):.2f}" == "77.18"
    assert len(r.regions) == 17 and r.regions_needed == 12
    assert "ALMATY" in r.regions_yes  # 65.22 % yes in the lowest-turnout region
    assert len(r.regions_yes) == 17  # "an absolute majority in each of the 17 regions"
    assert r.outcome is ReferendumOutcome.ADOPTED


def test_referendum_2022_would_fail_with_eleven_of_seventeen_regions():
    # the same national totals, but six of the 17 regions below half: 11 < 12 needed
    regions = _ref22_regions()
    flipped = [RegionVotes(r.id, r.participated, r.no, r.yes) if i >= 11 else r for i, r in enumerate(regions)]
    r = referendum_result("kz-referendum", True, REF22["on_list"], flipped)
    assert len(r.regions_yes) == 11 and r.outcome is ReferendumOutcome.REJECTED
