"""`sailau seats FILE`: allocate Mäjilis list seats from a JSON file of party votes.

The file (parties in registration order; `participated`, `against_all` and
`source` optional):

    {"law": "kz-majilis-2009",
     "parties": [{"id": "NO", "name": "Nur Otan", "votes": 5148074}, ...],
     "participated": 7300000}

Thin over `sailau.election.law`; every input problem exits non-zero with a
message that names it (click.ClickException), never a traceback. The file is
read by the one bounded reader (`election.jsonfile`): at most
`MAX_SEATS_INPUT_BYTES`, depth and integers bounded, no duplicate key, no fraction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from sailau.election import filekind, jsonfile
from sailau.election.law import LawError, ListAllocation, PartyVotes, allocate_list_seats

_TOP_KEYS = {"law", "parties", "participated", "against_all", "source"}
_PARTY_KEYS = {"id", "name", "votes"}
#: A seats input lists a few dozen parties: a few KB.
MAX_SEATS_INPUT_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SeatsRequest:
    law: str
    parties: list[PartyVotes]
    names: dict[str, str]
    participated: int | None
    against_all: int


def _fail(path: Path, message: str) -> click.ClickException:
    return click.ClickException(f"{path}: {message}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_request(path: Path) -> SeatsRequest:
    try:
        raw = jsonfile.read_bounded(path, MAX_SEATS_INPUT_BYTES, "a seats input", subject="")
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except OSError as e:
        raise _fail(path, f"cannot read ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise _fail(path, f"refused ({e.reason}): {e}") from None
    other = filekind.wrong_kind_of_bytes(raw, filekind.SEATS_INPUT, str(path))
    if other is not None:  # before the strict parse: another kind of file may hold fractions
        raise click.ClickException(other)
    try:
        data = jsonfile.parse_json(raw)
    except jsonfile.MalformedJsonError as e:
        raise _fail(path, str(e)) from None
    except jsonfile.InputError as e:
        raise _fail(path, f"refused ({e.reason}): {e}") from None
    if not isinstance(data, dict):
        raise _fail(path, "expected a JSON object with 'law' and 'parties'")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    for key in ("law", "parties"):
        if key not in data:
            raise _fail(path, f"missing key {key!r}")
    if not isinstance(data["law"], str):
        raise _fail(path, f"'law' must be a string, got {data['law']!r}")
    if not isinstance(data["parties"], list) or not data["parties"]:
        raise _fail(path, "'parties' must be a non-empty list")
    parties: list[PartyVotes] = []
    names: dict[str, str] = {}
    for i, p in enumerate(data["parties"]):
        where = f"parties[{i}]"
        if not isinstance(p, dict):
            raise _fail(path, f"{where} must be an object with 'id' and 'votes'")
        unknown = sorted(set(p) - _PARTY_KEYS)
        if unknown:
            raise _fail(path, f"{where}: unknown key(s) {', '.join(map(repr, unknown))}")
        if not isinstance(p.get("id"), str) or not p["id"]:
            raise _fail(path, f"{where}: 'id' must be a non-empty string")
        if not _is_int(p.get("votes")):
            raise _fail(path, f"{where} ({p['id']}): 'votes' must be an integer, got {p.get('votes')!r}")
        name = p.get("name", p["id"])
        if not isinstance(name, str):
            raise _fail(path, f"{where} ({p['id']}): 'name' must be a string")
        parties.append(PartyVotes(p["id"], p["votes"]))
        names[p["id"]] = name
    participated = data.get("participated")
    if participated is not None and not _is_int(participated):
        raise _fail(path, f"'participated' must be an integer, got {participated!r}")
    against_all = data.get("against_all", 0)
    if not _is_int(against_all):
        raise _fail(path, f"'against_all' must be an integer, got {against_all!r}")
    return SeatsRequest(data["law"], parties, names, participated, against_all)


def allocation_json(result: ListAllocation) -> dict[str, Any]:
    return {
        "law": result.law.id,
        "seats": dict(result.seats),
        "qualified": list(result.qualified),
        "quota": str(result.quota),
    }


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f} %" if whole else "-"


def _print_table(request: SeatsRequest, result: ListAllocation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{result.law.title}", title_justify="left")
    table.add_column("Party")
    table.add_column("Votes", justify="right")
    table.add_column("% took part", justify="right")
    table.add_column("Votes / quota", justify="right")
    table.add_column("Seats", justify="right")
    for p in request.parties:
        share = result.shares.get(p.id)
        mark = " (runner-up rule)" if p.id == result.runner_up else ""
        table.add_row(
            f"{request.names[p.id]} [{p.id}]{mark}",
            f"{p.votes:,}",
            _pct(p.votes, result.participated),
            f"{float(share):.4f}" if share is not None else "below threshold",
            str(result.seats[p.id]),
        )
    if request.against_all:
        table.add_row("Against all", f"{request.against_all:,}", _pct(request.against_all, result.participated), "", "")
    table.add_section()
    table.add_row("Total", "", "", "", str(result.total))
    console = Console()
    console.print(table)
    console.print(
        f"Voters who took part: {result.participated:,}; threshold "
        f"{float(result.law.threshold) * 100:g} % = {float(result.threshold_votes):,.2f} votes; "
        f"Hare quota {float(result.quota):,.4f} ({result.quota}); "
        f"remainder seats to {', '.join(result.remainder_seats) or 'nobody'}.",
        highlight=False,
    )


@click.command("seats")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the allocation as JSON.")
def seats(file: Path, as_json: bool) -> None:
    """Allocate Mäjilis party-list seats by Kazakh law from FILE (JSON).

    FILE: {"law": "kz-majilis-2009", "parties": [{"id", "name", "votes"}, ...]
    in registration order, optional "participated" (voters who took part,
    default: party votes plus "against_all") and "against_all" (2023 law).
    """
    request = read_request(file)
    try:
        result = allocate_list_seats(request.law, request.parties, request.participated, request.against_all)
    except LawError as e:
        raise _fail(file, str(e)) from None
    if as_json:
        click.echo(json.dumps(allocation_json(result), ensure_ascii=False))
    else:
        _print_table(request, result)
