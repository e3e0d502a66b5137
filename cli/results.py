"""`sailau results FILE`: the outcome of any Kazakh election or referendum from a
JSON file of counts, and `sailau election second-round`.

The file names its law, and the law says which kind it is:

- `kz-president-1995` / `kz-president-2022`: `{"law", "candidates": [{"id",
  "name", "votes"}...] (ballot order), "against_all" (2022 only), "participated",
  "round"? (1 or 2)}` -> `outcome` (elected, second_round, or a named tie),
  `winner`, `second_round`;
- `kz-referendum`: `{"law", "constitutional", "on_list", "regions": [{"id",
  "name"?, "on_list"?, "participated", "yes", "no"}...]}` -> `outcome` (adopted,
  rejected, invalid_turnout) with the regions counted and those that said yes;
- `kz-maslikhat-2023`: `{"law", "maslikhats": [{"id", "list_seats", "parties",
  "participated"?, "against_all"?, "districts"?: [{"id", "candidates",
  "against_all"?}]}]}` -> seats and district winners per maslikhat;
- `kz-majilis-*`: the `sailau seats` input, answered by the same code.

Thin over `sailau.election.{president,referendum,maslikhat,law}`. The file goes
through the one bounded reader (at most `MAX_RESULTS_INPUT_BYTES`, depth and
integers bounded, no key twice, no fraction); every problem is one line naming
it (click.ClickException), never a traceback.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from sailau.election import filekind, jsonfile
from sailau.election.law import LAWS, CandidateVotes, DistrictVotes, LawError, PartyVotes, allocate_list_seats
from sailau.election.maslikhat import MASLIKHAT_LAWS, MaslikhatVotes, maslikhat_results
from sailau.election.president import PRESIDENTIAL_LAWS, PresidentialResult, presidential_result
from sailau.election.referendum import REFERENDUM_LAWS, ReferendumResult, RegionVotes, referendum_result

#: A results input lists a few dozen candidates or regions, or every maslikhat
#: (about 220 with their districts): well under 4 MiB.
MAX_RESULTS_INPUT_BYTES = 4 * 1024 * 1024
#: Bounds on the lists in a results input (far above any real Kazakh election).
MAX_ENTRIES = 10_000


class ResultsInputError(ValueError):
    """The results input is not well formed; the message names the problem."""


def percent(part: Fraction) -> str:
    """A share as a percentage with two decimals, rounded half up, exactly."""
    hundredths = part * 10000
    q, r = divmod(hundredths.numerator, hundredths.denominator)
    if 2 * r >= hundredths.denominator:
        q += 1
    return f"{q // 100}.{q % 100:02d}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _obj(value: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ResultsInputError(f"{where} must be an object")
    unknown = sorted(set(value) - required - optional)
    if unknown:
        raise ResultsInputError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(required | optional))}"
        )
    missing = sorted(required - set(value))
    if missing:
        raise ResultsInputError(f"{where}: missing key(s) {', '.join(map(repr, missing))}")
    return value


def _int(obj: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    if key not in obj and default is not None:
        return default
    value = obj[key]
    if not _is_int(value):
        raise ResultsInputError(f"{where}: {key!r} must be an integer, got {value!r}")
    if value < 0:
        raise ResultsInputError(f"{where}: {key!r} must not be negative, got {value}")
    return value


def _str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj[key]
    if not isinstance(value, str) or not value:
        raise ResultsInputError(f"{where}: {key!r} must be a non-empty string, got {value!r}")
    return value


def _list(obj: dict[str, Any], key: str, where: str) -> list[Any]:
    value = obj[key]
    if not isinstance(value, list) or not value:
        raise ResultsInputError(f"{where}: {key!r} must be a non-empty list")
    if len(value) > MAX_ENTRIES:
        raise ResultsInputError(f"{where}: {key!r} has {len(value)} entries; at most {MAX_ENTRIES}")
    return value


def _named_counts(items: list[Any], where: str, count_key: str = "votes") -> tuple[list[tuple[str, int]], dict[str, str]]:
    out: list[tuple[str, int]] = []
    names: dict[str, str] = {}
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        o = _obj(item, w, {"id", count_key}, {"name"})
        cid = _str(o, "id", w)
        out.append((cid, _int(o, count_key, f"{w} ({cid})")))
        name = o.get("name", cid)
        if not isinstance(name, str):
            raise ResultsInputError(f"{w} ({cid}): 'name' must be a string")
        names[cid] = name
    return out, names


# -- presidential -----------------------------------------------------------------


def presidential_json(result: PresidentialResult, names: dict[str, str]) -> dict[str, Any]:
    return {
        **result.outcome_data(),
        "law": result.law.id,
        "majority_base": "participated",
        "candidates": [
            {
                "id": cid,
                "name": names.get(cid, cid),
                "votes": result.votes[cid],
                "percent_of_participated": percent(result.share_of_participated(cid)),
                "percent_of_valid": percent(result.share_of_valid(cid)),
            }
            for cid in result.ranking
        ],
    }


def _presidential(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    o = _obj(data, "the file", {"law", "candidates", "participated"}, {"against_all", "round", "on_list", "source"})
    counts, names = _named_counts(_list(o, "candidates", "the file"), "candidates")
    result = presidential_result(
        o["law"],
        [CandidateVotes(cid, v) for cid, v in counts],
        _int(o, "participated", "the file"),
        _int(o, "against_all", "the file", default=0),
        round=_int(o, "round", "the file", default=1),
    )
    out = presidential_json(result, names)
    lines = [f"{result.law.title}, round {result.round}"]
    if "on_list" in o:  # reported only: no turnout rule decides a presidential election
        on_list = _int(o, "on_list", "the file")
        if on_list < result.participated:
            raise ResultsInputError(f"more took part ({result.participated}) than are on the lists ({on_list})")
        out["on_list"] = on_list
        out["turnout_percent"] = percent(Fraction(result.participated, on_list)) if on_list else "0.00"
        lines.append(f"  took part: {result.participated:,} of {on_list:,} on the lists ({out['turnout_percent']} %)")
    for c in out["candidates"]:
        lines.append(
            f"  {c['name']} [{c['id']}]: {c['votes']:,} votes, {c['percent_of_participated']} % of the "
            f"{result.participated:,} who took part ({c['percent_of_valid']} % of valid votes)"
        )
    if result.law.against_all:
        lines.append(f"  against all: {result.against_all:,}")
    verdict = {
        "elected": f"elected: {names.get(result.winner or '', result.winner)}",
        "second_round": f"second round: {' and '.join(result.second_round or ())}",
        "tie_for_second": f"tie for second place, not settled by law: {', '.join(result.tied)}",
        "tie_for_first": f"three or more tie for first place, not settled by law: {', '.join(result.tied)}",
        "tie": f"tie in the second round (repeat elections): {', '.join(result.tied)}",
        "repeat_election": "nobody elected and no two candidates for a second round: repeat elections",
    }[result.outcome.value]
    lines.append(f"Outcome: {verdict}")
    return out, "\n".join(lines)


# -- referendum --------------------------------------------------------------------


def referendum_json(result: ReferendumResult, names: dict[str, str]) -> dict[str, Any]:
    return {
        "kind": "referendum",
        "law": result.law,
        "constitutional": result.constitutional,
        "outcome": result.outcome.value,
        "valid": result.valid,
        "on_list": result.on_list,
        "participated": result.participated,
        "turnout_percent": percent(result.turnout),
        "yes": result.yes,
        "no": result.no,
        "yes_percent": percent(result.yes_share),
        "regions": list(result.regions),
        "regions_count": len(result.regions),
        "regions_yes": list(result.regions_yes),
        "regions_needed": result.regions_needed,
        "region_names": {r: names.get(r, r) for r in result.regions},
    }


def _referendum(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    o = _obj(data, "the file", {"law", "constitutional", "on_list", "regions"}, {"source", "question"})
    if not isinstance(o["constitutional"], bool):
        raise ResultsInputError(f"'constitutional' must be true or false, got {o['constitutional']!r}")
    regions: list[RegionVotes] = []
    names: dict[str, str] = {}
    for i, item in enumerate(_list(o, "regions", "the file")):
        w = f"regions[{i}]"
        r = _obj(item, w, {"id", "participated", "yes", "no"}, {"name", "on_list"})
        rid = _str(r, "id", w)
        w = f"{w} ({rid})"
        on_list = _int(r, "on_list", w) if "on_list" in r else None
        regions.append(RegionVotes(rid, _int(r, "participated", w), _int(r, "yes", w), _int(r, "no", w), on_list))
        name = r.get("name", rid)
        if not isinstance(name, str):
            raise ResultsInputError(f"{w}: 'name' must be a string")
        names[rid] = name
    result = referendum_result(o["law"], o["constitutional"], _int(o, "on_list", "the file"), regions)
    out = referendum_json(result, names)
    lines = [
        f"Republican referendum ({'constitutional' if result.constitutional else 'not constitutional'} question)",
        f"  took part: {result.participated:,} of {result.on_list:,} on the lists ({out['turnout_percent']} %)",
        f"  yes: {result.yes:,} ({out['yes_percent']} % of those who took part); no: {result.no:,}",
        f"  regions where more than half said yes: {len(result.regions_yes)} of {len(result.regions)}"
        + (f" (needed: {result.regions_needed})" if result.constitutional else ""),
    ]
    verdict = {
        "adopted": "adopted",
        "rejected": "rejected",
        "invalid_turnout": "not valid: not more than half of those on the lists took part",
    }[result.outcome.value]
    lines.append(f"Outcome: {verdict}")
    return out, "\n".join(lines)


# -- maslikhat ---------------------------------------------------------------------


def _maslikhat(data: dict[str, Any]) -> tuple[dict[str, Any], str]:
    o = _obj(data, "the file", {"law", "maslikhats"}, {"source"})
    masl: list[MaslikhatVotes] = []
    for i, item in enumerate(_list(o, "maslikhats", "the file")):
        w = f"maslikhats[{i}]"
        m = _obj(item, w, {"id", "list_seats"}, {"name", "parties", "participated", "against_all", "districts"})
        mid = _str(m, "id", w)
        w = f"{w} ({mid})"
        parties, _ = _named_counts(_list(m, "parties", w), f"{w}.parties") if "parties" in m else ([], {})
        districts: list[DistrictVotes] = []
        for j, d in enumerate(_list(m, "districts", w) if "districts" in m else []):
            dw = f"{w}.districts[{j}]"
            dd = _obj(d, dw, {"id", "candidates"}, {"against_all", "name"})
            did = _str(dd, "id", dw)
            cands, _ = _named_counts(_list(dd, "candidates", dw), f"{dw}.candidates")
            districts.append(
                DistrictVotes(did, [CandidateVotes(c, v) for c, v in cands], _int(dd, "against_all", dw, default=0))
            )
        masl.append(
            MaslikhatVotes(
                mid, _int(m, "list_seats", w), [PartyVotes(p, v) for p, v in parties],
                _int(m, "participated", w) if "participated" in m else None,
                _int(m, "against_all", w, default=0), districts,
            )
        )
    results = maslikhat_results(o["law"], masl)
    out = {
        "kind": "maslikhat",
        "law": o["law"],
        "maslikhats": [
            {
                "id": r.id,
                "list_outcome": r.list_outcome,
                "seats": r.seats,
                "qualified": list(r.qualified),
                "quota": None if r.quota is None else str(r.quota),
                "participated": r.participated,
                "districts": [
                    {"id": d.district, "outcome": d.outcome.value, "winner": d.winner, "tied": list(d.tied)}
                    for d in r.districts
                ],
            }
            for r in results
        ],
    }
    lines = []
    for r in out["maslikhats"]:
        seats = ", ".join(f"{p} {s}" for p, s in r["seats"].items()) or "no list"
        lines.append(f"{r['id']}: list seats {seats} ({r['list_outcome']})")
        for d in r["districts"]:
            lines.append(f"  district {d['id']}: {d['outcome']}" + (f" {d['winner']}" if d["winner"] else ""))
    return out, "\n".join(lines)


# -- the command ---------------------------------------------------------------------


def _majilis(path: Path) -> tuple[dict[str, Any], str]:
    from sailau.cli.seats import allocation_json, read_request

    request = read_request(path)
    result = allocate_list_seats(request.law, request.parties, request.participated, request.against_all)
    out = {"kind": "majilis", **allocation_json(result)}
    text = "\n".join(f"{request.names[p]} [{p}]: {s}" for p, s in result.seats.items())
    return out, f"{result.law.title}\n{text}"


def _known_laws() -> str:
    return ", ".join(sorted([*LAWS, *PRESIDENTIAL_LAWS, *REFERENDUM_LAWS, *MASLIKHAT_LAWS]))


def _read_bounded(path: Path, what: str) -> bytes:
    """The bytes of an outside JSON file, within MAX_RESULTS_INPUT_BYTES, or a one-line
    refusal naming the file."""
    try:
        return jsonfile.read_bounded(path, MAX_RESULTS_INPUT_BYTES, what, subject="")
    except FileNotFoundError:
        raise click.ClickException(f"{path}: file not found") from None
    except OSError as e:
        raise click.ClickException(f"{path}: cannot read ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise click.ClickException(f"{path}: refused ({e.reason}): {e}") from None


def read_results_input(path: Path) -> dict[str, Any]:
    raw = _read_bounded(path, "a results input")
    other = filekind.recognise_bytes(raw)
    if other is not None and other is not filekind.SEATS_INPUT:
        raise click.ClickException(f"{path} is {other.title}, not a results input (a JSON object with a 'law')")
    try:
        data = jsonfile.parse_json(raw)
    except jsonfile.InputError as e:
        raise click.ClickException(f"{path}: refused ({e.reason}): {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("law"), str):
        raise click.ClickException(f"{path}: expected a JSON object with a 'law' (one of {_known_laws()})")
    return data


def compute_results(path: Path) -> tuple[dict[str, Any], str]:
    """(JSON output, text) for the results input at `path`; ClickException on bad input."""
    data = read_results_input(path)
    law = data["law"]
    try:
        if law in LAWS:
            return _majilis(path)
        if law in PRESIDENTIAL_LAWS:
            return _presidential(data)
        if law in REFERENDUM_LAWS:
            return _referendum(data)
        if law in MASLIKHAT_LAWS:
            return _maslikhat(data)
    except (ResultsInputError, LawError) as e:
        raise click.ClickException(f"{path}: {e}") from None
    raise click.ClickException(f"{path}: unknown law {law!r}; known laws: {_known_laws()}")


@click.command("results")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def results(file: Path, as_json: bool) -> None:
    """The outcome of a Kazakh election or referendum from FILE (JSON counts).

    FILE names its law: kz-president-1995|2022 (candidates, against_all,
    participated), kz-referendum (constitutional, on_list, regions),
    kz-maslikhat-2023 (maslikhats), or kz-majilis-* (as `sailau seats`).
    """
    out, text = compute_results(file)
    click.echo(json.dumps(out, ensure_ascii=False) if as_json else text)


# -- sailau election second-round ------------------------------------------------------


def second_round_definition(first: Any, result: dict[str, Any], date: str, public_key: bytes | None = None) -> Any:
    """The second-round definition of presidential election `first` (an `Election`)
    from a first-round result (`sailau results --json` output, or its counts input,
    recomputed): the same election with the two candidates the result names, in the
    first round's ballot order, `round` 2, a new id and date, so a new fingerprint.
    Refuses (ResultsInputError) anything but a `second_round` outcome of this race."""
    from sailau.election.definition import PRESIDENTIAL_LAWS as DEF_PRESIDENTIAL_LAWS
    from sailau.election.definition import election_from_data

    if first.law not in DEF_PRESIDENTIAL_LAWS:
        raise ResultsInputError(f"election {first.id} is not a presidential election (law {first.law})")
    contest = first.presidential_contest
    if contest.round != 1:
        raise ResultsInputError(f"election {first.id} is already a second round")
    if "kind" not in result and result.get("law") in PRESIDENTIAL_LAWS:
        result, _ = _presidential(result)  # counts: recompute the outcome here
    if result.get("kind") != "presidential" or result.get("round") != 1:
        raise ResultsInputError("the result is not the result of a presidential first round")
    if result.get("law") != first.law:
        raise ResultsInputError(f"the result is under law {result.get('law')!r}, the election under {first.law!r}")
    ids = [c.id for c in contest.candidates]
    named = [c.get("id") for c in result.get("candidates", []) if isinstance(c, dict)]
    if sorted(named) != sorted(ids):
        raise ResultsInputError(f"the result's candidates {named} are not this election's {ids}")
    outcome = result.get("outcome")
    if outcome != "second_round":
        why = {
            "elected": f"the first round elected {result.get('winner')!r}: there is no second round",
            "tie_for_second": f"the second place is tied ({', '.join(result.get('tied', []))}): "
            "the law does not say who goes to the second round, so none is generated",
            "tie_for_first": f"three or more tie for first ({', '.join(result.get('tied', []))}): not settled by law",
            "repeat_election": "the first round calls for repeat elections, not a second round",
        }.get(str(outcome), f"the result's outcome is {outcome!r}, not second_round")
        raise ResultsInputError(why)
    pair = result.get("second_round")
    if not isinstance(pair, list) or len(pair) != 2 or not set(pair) <= set(ids) or pair[0] == pair[1]:
        raise ResultsInputError(f"the result's second_round {pair!r} does not name two of this election's candidates")
    data = first.model_dump(mode="json", exclude_none=True)
    data["id"] = f"{first.id}-round-2"[:64]
    data["date"] = date
    for key, suffix in (("kk", " (қайта дауыс беру)"), ("ru", " (повторное голосование)"), ("en", " (second round)")):
        data["name"][key] = (data["name"][key] + suffix)[:500]
    for c in data["contests"]:
        if c["kind"] == "presidential":
            c["round"] = 2
            c["candidates"] = [cand for cand in c["candidates"] if cand["id"] in pair]
    if public_key is not None:
        data["public_key"] = public_key.hex()
    return election_from_data(data)


@click.group("election")
def election() -> None:
    """Election definitions derived from results (the presidential second round)."""


@election.command("second-round")
@click.argument("first", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("result", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the second-round definition (never overwritten).")
@click.option("--date", "date", required=True, help="Polling day of the second round, YYYY-MM-DD.")
@click.option("--public-key", "public_key_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Election public key for the second round (PEM or raw 32 bytes); default: the first round's.")
def second_round(first: Path, result: Path, out: Path, date: str, public_key_file: Path | None) -> None:
    """Write the second-round definition of the presidential election FIRST from
    its first-round RESULT (`sailau results --json` output, or the counts file).

    Refused when the result elected someone, or left a tie the law does not settle.
    """
    from sailau.election.crypto import KeyFileError, load_election_public_key
    from sailau.election.definition import DefinitionError, load_election

    try:
        first_election = load_election(first)
    except DefinitionError as e:
        raise click.ClickException(str(e)) from None
    except OSError as e:
        raise click.ClickException(f"{first}: cannot read ({e.strerror})") from None
    data = read_results_input(result) if _looks_like_counts(result) else _read_output(result)
    key = None
    if public_key_file is not None:
        try:
            key = load_election_public_key(public_key_file).public_bytes_raw()
        except KeyFileError as e:
            raise click.ClickException(str(e)) from None
    if out.exists():
        raise click.ClickException(f"{out} exists; not overwritten")
    try:
        second = second_round_definition(first_election, data, date, key)
    except (ResultsInputError, LawError) as e:
        raise click.ClickException(f"{result}: {e}") from None
    except DefinitionError as e:
        raise click.ClickException(str(e)) from None
    from sailau.election.definition import write_election

    write_election(second, out)
    pair = " and ".join(c.id for c in second.presidential_contest.candidates)
    click.echo(f"{out}: second round {second.id} on {second.date} between {pair}; fingerprint {second.fingerprint_hex}")


def _read_raw_json(path: Path) -> Any:
    raw = _read_bounded(path, "a results file")
    try:
        return jsonfile.parse_json(raw)
    except jsonfile.InputError as e:
        raise click.ClickException(f"{path}: refused ({e.reason}): {e}") from None


def _looks_like_counts(path: Path) -> bool:
    data = _read_raw_json(path)
    return isinstance(data, dict) and "kind" not in data


def _read_output(path: Path) -> dict[str, Any]:
    data = _read_raw_json(path)
    if not isinstance(data, dict):
        raise click.ClickException(f"{path}: expected the JSON object `sailau results --json` prints")
    return data
