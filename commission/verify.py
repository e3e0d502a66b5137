"""The observer's verifier: recompute everything from the published files alone.

Input is a published set (a directory):

    election.json            the election definition (its SHA-256 is the fingerprint)
    stations.json            the station key registry
    protocols/*.json         signed precinct protocols
    receipts/*.json          receipt-code lists (optional)

and optionally the commission's official report JSON. It reads nothing else (no
database, no private keys) and trusts nothing it did not recompute: every
protocol goes through the same checks as an import (`checks.py`), the totals are
summed here in Python (`sum_protocols`, not the commission's SQL), seats come from
the law engine, and the official report is compared field by field with the
report rebuilt from those sums. Every problem is a `Finding`; none stops the run.

Finding kinds: `definition`, `registry:<what>`, `refused:<reason>` (the import's
refusal names, bounds included: `refused:too_large`, `refused:too_deep`,
`refused:count_out_of_range`), `duplicate` (different valid protocols for one precinct: each
file is named and the precinct is not counted, since an observer cannot tell
which is real), `duplicate_file` (the same protocol
published twice), `missing` (a precinct of the definition without a valid
protocol), `receipts:<what>`, `report:differs` (path, official, recomputed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sailau.election import filekind, jsonfile
from sailau.election.definition import DefinitionError, Election, load_election
from sailau.election.protocol import Protocol, sum_protocols
from sailau.election.record import normalize_receipt_code

from .aggregate import NATIONAL, python_unit_totals
from .checks import CheckedProtocol, Refusal, check_protocol_path
from sailau.election.receipts import ReceiptListError, read_receipt_list
from .registry import RegistryError, StationRegistry, load_registry
from .report import MAX_REPORT_BYTES, build_report


class VerifyError(RuntimeError):
    """The published set cannot be verified at all (no readable definition or registry)."""


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # a file, a precinct, or a JSON path in the report
    message: str

    def __str__(self) -> str:
        return f"[{self.kind}] {self.subject}: {self.message}"


@dataclass
class VerifyResult:
    election: Election
    findings: list[Finding] = field(default_factory=list)
    protocols_counted: int = 0
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}


def _registry_findings(registry: StationRegistry, election: Election) -> list[Finding]:
    out = []
    if (registry.election_id, registry.election_fingerprint) != (election.id, election.fingerprint_hex):
        out.append(Finding("registry:election", "stations.json", f"registry is for {registry.election_id!r} ({registry.election_fingerprint[:16]}...), not this definition"))
    numbers = {p.number for p in election.precincts}
    for s in registry.stations:
        if s.precinct not in numbers:
            out.append(Finding("registry:unknown_precinct", f"precinct {s.precinct}", "a station key is enrolled for a precinct not in the definition"))
    for n in sorted(numbers - set(registry.by_precinct)):
        out.append(Finding("registry:no_station", f"precinct {n}", "no station key is enrolled for this precinct"))
    return out


def _receipt_findings(paths: Iterable[Path], election: Election, counted: Mapping[int, Protocol]) -> list[Finding]:
    out = []
    seen: dict[int, str] = {}
    for path in paths:
        name = str(path)
        try:
            lst = read_receipt_list(path)
        except ReceiptListError as e:
            out.append(Finding(f"receipts:{e.reason}", name, str(e)))
            continue
        if (lst.election_id, lst.election_fingerprint) != (election.id, election.fingerprint_hex):
            out.append(Finding("receipts:election", name, f"list is for election {lst.election_id!r}, not this definition"))
            continue
        if lst.precinct in seen:
            out.append(Finding("receipts:duplicate", name, f"precinct {lst.precinct} already has a list in {seen[lst.precinct]}"))
            continue
        seen[lst.precinct] = name
        protocol = counted.get(lst.precinct)
        if protocol is None:
            out.append(Finding("receipts:no_protocol", name, f"precinct {lst.precinct} has no valid protocol to check the list against"))
            continue
        bad = []
        for code in lst.codes:
            try:
                if normalize_receipt_code(code) != code:
                    bad.append(code)
            except ValueError:
                bad.append(code)
        if bad:
            out.append(Finding("receipts:malformed", name, f"{len(bad)} codes not in canonical form, e.g. {bad[0]!r}"))
        repeated = len(lst.codes) - len(set(lst.codes))
        if repeated:
            out.append(Finding("receipts:repeated_code", name, f"{repeated} codes appear more than once"))
        if len(lst.codes) != protocol.ballots_cast:
            out.append(Finding("receipts:count", name, f"{len(lst.codes)} receipt codes, but the protocol of precinct {lst.precinct} counts {protocol.ballots_cast} ballots cast"))
    return out


def compare_reports(official: Any, recomputed: Any, path: str = "$") -> list[Finding]:
    """Every leaf where the two JSON values differ (missing keys included)."""
    if isinstance(official, dict) and isinstance(recomputed, dict):
        out = []
        for key in list(official) + [k for k in recomputed if k not in official]:
            sub = f"{path}.{key}"
            if key not in recomputed:
                out.append(Finding("report:differs", sub, "in the official report but not recomputed"))
            elif key not in official:
                out.append(Finding("report:differs", sub, f"missing from the official report (recomputed {_short(recomputed[key])})"))
            else:
                out.extend(compare_reports(official[key], recomputed[key], sub))
        return out
    if isinstance(official, list) and isinstance(recomputed, list):
        out = []
        if len(official) != len(recomputed):
            out.append(Finding("report:differs", path, f"official has {len(official)} entries, recomputed {len(recomputed)}"))
        for i, (a, b) in enumerate(zip(official, recomputed)):
            out.extend(compare_reports(a, b, f"{path}[{i}]"))
        return out
    if official != recomputed or type(official) is not type(recomputed):
        return [Finding("report:differs", path, f"official {_short(official)}, recomputed {_short(recomputed)}")]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."


def verify_published(directory: str | Path, official: str | Path | Mapping[str, Any] | None = None, level: str | None = None) -> VerifyResult:
    """Verify a published set; compare with `official` (a report file or its data) if given.

    `level` defaults to the official report's level, else national.
    """
    d = Path(directory)
    try:
        election = load_election(d / "election.json")
    except DefinitionError as e:  # names the file already
        raise VerifyError(str(e)) from None
    except OSError as e:
        raise VerifyError(f"cannot read the election definition {d / 'election.json'}: {e.strerror}") from None
    try:
        registry = load_registry(d / "stations.json")
    except RegistryError as e:
        raise VerifyError(str(e)) from None

    official_data: Mapping[str, Any] | None
    if official is None or isinstance(official, Mapping):
        official_data = official
    else:
        try:
            _, official_data = jsonfile.read_json(official, MAX_REPORT_BYTES, "a commission report", integers_only=False)
        except OSError as e:
            raise VerifyError(f"cannot read the official report {official}: {e.strerror}") from None
        except jsonfile.InputError as e:
            raise VerifyError(f"cannot read the official report ({e.reason}): {e}") from None
        other = filekind.wrong_kind(official_data, filekind.COMMISSION_REPORT, str(official))
        if other is not None:
            raise VerifyError(other)
    if level is None:
        level = str(official_data.get("level", "national")) if official_data else "national"

    result = VerifyResult(election)
    result.findings.extend(_registry_findings(registry, election))

    by_precinct: dict[int, list[CheckedProtocol]] = {}
    for path in sorted((d / "protocols").glob("*.json")):
        checked = check_protocol_path(path, election, registry)
        if isinstance(checked, Refusal):
            result.findings.append(Finding(f"refused:{checked.reason.value}", str(path), checked.message))
            continue
        by_precinct.setdefault(checked.protocol.precinct, []).append(checked)

    counted: dict[int, CheckedProtocol] = {}
    disputed: set[int] = set()
    for n, versions in sorted(by_precinct.items()):
        distinct = {c.digest for c in versions}
        if len(distinct) > 1:
            # two valid signatures of one station on different counts: an observer cannot
            # tell which is the real one, so neither is counted
            disputed.add(n)
            files = ", ".join(c.source for c in versions)
            for c in versions:
                result.findings.append(
                    Finding("duplicate", c.source, f"one of {len(distinct)} different signed protocols for precinct {n} ({files}); none is counted")
                )
            continue
        counted[n] = versions[0]
        for c in versions[1:]:
            result.findings.append(Finding("duplicate_file", c.source, f"the same protocol of precinct {n} as {versions[0].source} (counted once)"))

    for n in sorted(p.number for p in election.precincts if p.number not in counted and p.number not in disputed):
        result.findings.append(Finding("missing", f"precinct {n}", "no valid signed protocol published"))

    protocols = {n: c.protocol for n, c in counted.items()}
    receipt_dir = d / "receipts"
    if receipt_dir.is_dir():
        result.findings.extend(_receipt_findings(sorted(receipt_dir.glob("*.json")), election, protocols))

    national = sum_protocols(protocols.values()) if protocols else None
    units = {NATIONAL: national} if level == "national" and national else python_unit_totals(protocols.values(), election, level)
    result.report = build_report(election, level, units, national)
    result.protocols_counted = len(protocols)

    if official_data is not None:
        result.findings.extend(compare_reports(official_data, result.report))
    return result
