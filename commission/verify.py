"""The observer's verifier: recompute everything from the published files alone.

Input is a published set (a directory):

    election.json            the election definition (its SHA-256 is the fingerprint);
                             it names the registry root key: the only thing taken on trust
    stations.json            the station key registry, signed under that root
    protocols/*.json         signed precinct protocols, each committing to its receipt list
    receipts/*.json          the receipt-code lists (one per counted protocol)
    decisions/*.json         the commission's signed decisions on conflicting protocols (if any)

and optionally the commission's official report JSON. It reads nothing else (no
database, no private keys) and trusts nothing it did not recompute: the registry
must verify under the root the definition names (else `VerifyError` naming
`registry:<problem>`: nothing can be checked without it), every protocol goes
through the same checks as an import (`checks.py`), which protocol of a precinct
counts is decided by the import's own rule (`conflicts.decide_precinct`), each
receipt list must hash to the commitment its counted protocol signs, the totals
are summed here in Python (`sum_protocols`, not the commission's SQL), seats come
from the law engine, and the official report is compared field by field with the
report rebuilt from those sums. Every problem is a `Finding`; none stops the run.

Finding kinds: `definition`, `registry:unknown_precinct|no_station`,
`refused:<reason>` (the import's refusal names, for protocol and decision files,
bounds included: `refused:too_large`, `refused:too_deep`,
`refused:count_out_of_range`), `conflict` (different valid protocols for one
precinct and no signed decision settling them: each file is named and the
precinct is not counted, since an observer cannot tell which is real),
`duplicate_file` (the same protocol published twice), `missing` (a precinct of
the definition without a valid protocol), `receipts:<problem>`
(checks.ReceiptProblem), `report:differs` (path, official, recomputed). Notes
(not problems): conflicts a signed decision settled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sailau.election import filekind, jsonfile
from sailau.election.definition import MAJILIS_LAWS, DefinitionError, Election, load_election
from sailau.election.protocol import sum_protocols

from .aggregate import NATIONAL, python_unit_totals
from .checks import CheckedProtocol, Refusal, check_protocol_path, check_receipt_lists
from .cosignatures import cosignature_files, gather, left_over
from .conflicts import ConflictDecision, PrecinctStatus, check_decision_path, decide_precinct
from .registry import RegistryError, StationRegistry, load_registry
from .report import MAX_REPORT_BYTES, build_report


class VerifyError(RuntimeError):
    """The published set cannot be verified at all: no readable definition, or a
    registry the definition's root does not vouch for. `name` says which."""

    def __init__(self, message: str, name: str = "definition"):
        super().__init__(message)
        self.name = name


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
    notes: list[str] = field(default_factory=list)
    protocols_counted: int = 0
    counted: dict[int, CheckedProtocol] = field(default_factory=dict)  # precinct -> the protocol that counts
    conflicts: list[int] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.findings

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}


def _registry_findings(registry: StationRegistry, election: Election) -> list[Finding]:
    out = []
    numbers = {p.number for p in election.precincts}
    for s in registry.stations:
        if s.precinct not in numbers:
            out.append(Finding("registry:unknown_precinct", f"precinct {s.precinct}", "a station key is enrolled for a precinct not in the definition"))
    for n in sorted(numbers - set(registry.by_precinct)):
        out.append(Finding("registry:no_station", f"precinct {n}", "no station key is enrolled for this precinct"))
    return out


def load_published_trust(directory: str | Path) -> tuple[Election, StationRegistry]:
    """The definition and the registry it vouches for, or `VerifyError`."""
    d = Path(directory)
    try:
        election = load_election(d / "election.json")
    except DefinitionError as e:  # names the file already
        raise VerifyError(str(e)) from None
    except OSError as e:
        raise VerifyError(f"cannot read the election definition {d / 'election.json'}: {e.strerror}") from None
    try:
        registry = load_registry(d / "stations.json", election).registry
    except RegistryError as e:
        raise VerifyError(f"refused ({e.name}): {e}", e.name) from None
    return election, registry


def published_decisions(directory: Path, election: Election) -> tuple[list[ConflictDecision], list[Refusal]]:
    decisions: list[ConflictDecision] = []
    refused: list[Refusal] = []
    for path in sorted((directory / "decisions").glob("*.json")):
        checked = check_decision_path(path, election)
        (refused if isinstance(checked, Refusal) else decisions).append(checked)  # type: ignore[arg-type]
    return decisions, refused


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
    election, registry = load_published_trust(d)

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

    decisions, refused = published_decisions(d, election)
    for r in refused:
        result.findings.append(Finding(f"refused:{r.reason.value}", r.source, r.message))

    by_precinct: dict[int, list[CheckedProtocol]] = {}
    read: set[str] = set()
    cosigs = gather(cosignature_files([d]))
    for path in sorted((d / "protocols").glob("*.json")):
        checked = check_protocol_path(path, election, registry, cosigs.by_digest)
        if checked.digest:
            read.add(checked.digest)
        if isinstance(checked, Refusal):
            result.findings.append(Finding(f"refused:{checked.reason.value}", str(path), checked.message))
            continue
        by_precinct.setdefault(checked.protocol.precinct, []).append(checked)
    for r in [*cosigs.refused, *left_over(cosigs, read)]:
        result.findings.append(Finding(f"refused:{r.reason.value}", r.source, r.message))

    disputed: set[int] = set()
    for n in sorted(set(by_precinct) | {dec.precinct for dec in decisions}):
        versions = by_precinct.get(n, [])
        outcome = decide_precinct(n, [c.digest for c in versions], decisions)
        if outcome.status is PrecinctStatus.CONFLICT:
            disputed.add(n)
            for c in versions:
                result.findings.append(Finding("conflict", c.source, f"precinct {n}: {outcome.why}"))
            continue
        if outcome.counted is None:
            continue
        same = [c for c in versions if c.digest == outcome.counted]
        result.counted[n] = same[0]
        for c in same[1:]:
            result.findings.append(Finding("duplicate_file", c.source, f"the same protocol of precinct {n} as {same[0].source} (counted once)"))
        if outcome.status is PrecinctStatus.RESOLVED:
            others = sorted(c.source for c in versions if c.digest != outcome.counted)
            result.notes.append(f"precinct {n}: {outcome.why} ({same[0].source}); set aside: {', '.join(others) or 'none published'}")

    for n in sorted(p.number for p in election.precincts if p.number not in result.counted and p.number not in disputed):
        result.findings.append(Finding("missing", f"precinct {n}", "no valid signed protocol published"))

    protocols = {n: c.protocol for n, c in result.counted.items()}
    commitments = {n: p.receipts for n, p in protocols.items() if p.receipts is not None}
    for f in check_receipt_lists(sorted((d / "receipts").glob("*.json")), election, commitments, disputed):
        result.findings.append(Finding(f.kind, f.source, f.message))

    national = sum_protocols(protocols.values()) if protocols else None
    units = {NATIONAL: national} if level == "national" and national else python_unit_totals(protocols.values(), election, level)
    result.conflicts = sorted(disputed)
    regions = python_unit_totals(protocols.values(), election, "region") if election.law not in MAJILIS_LAWS else None
    result.report = build_report(election, level, units, national, result.conflicts, regions)
    result.protocols_counted = len(protocols)

    if official_data is not None:
        result.findings.extend(compare_reports(official_data, result.report))
    return result
