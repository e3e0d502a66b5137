"""Sending the station's signed files to the commission server (`sailau station submit`).

The signed file on disk is the record: submitting reads it and sends its exact
bytes, never changes it, and may be repeated at will (the server answers
"unchanged" for a file it already has). A station offline all evening submits
later the same files.

Per file, one status (`Outcome`): `accepted` (stored and counted; for a
co-signature: kept), `unchanged` (the commission already had it), `pending` (a
protocol held until a majority of the commission's members co-sign it),
`conflict` (stored, but another valid file for the precinct means neither counts
until the commission decides), `refused` (the commission's check failed; the name
is the one `commission import` uses) or `unreachable` (no answer after the
retries: nothing is lost, submit again later).

Members' co-signatures (`protocol.<key id>.cosig`, written beside the protocol by
`sailau protocol cosign` and the clerk app) go with their protocol: `send_order`
adds those found beside each protocol and puts every co-signature **before** the
protocols. The commission decides a protocol the moment it arrives, against the
co-signatures it holds for those bytes: sent first, they are all there, so the
protocol's own answer is final (`accepted`) and the precinct is never "pending"
for want of files already on the way. (The other order is also correct, only
slower to settle: the commission holds the protocol as `pending` and counts it
when the co-signature that makes the majority arrives.) Every file is idempotent
at the commission, so sending the whole set again, after a member co-signed
late or after an `unreachable`, is always safe.
Retries: only when no answer came (connection refused or reset, timeout, HTTP
5xx), with bounded exponential backoff; an answer is never retried.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from sailau.election import filekind, jsonfile
from sailau.election.cosign import COSIGN_SUFFIX, MAX_COSIGNATURES
from sailau.election.protocol import MAX_SIGNED_PROTOCOL_BYTES

ENDPOINTS = {filekind.SIGNED_PROTOCOL: "/api/protocols", filekind.SIGNED_TURNOUT: "/api/turnout",
             filekind.PROTOCOL_COSIGNATURE: "/api/cosignatures"}


class Outcome(str, enum.Enum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
    PENDING = "pending"
    CONFLICT = "conflict"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True)
class SubmitResult:
    path: Path
    outcome: Outcome
    message: str
    reason: str | None = None  # the refusal name, when refused

    def line(self) -> str:
        words = {
            Outcome.ACCEPTED: "accepted",
            Outcome.UNCHANGED: "already had it",
            Outcome.PENDING: "pending co-signatures",
            Outcome.CONFLICT: "conflict",
            Outcome.REFUSED: f"refused: {self.reason}",
            Outcome.UNREACHABLE: "unreachable: will retry later",
        }[self.outcome]
        return f"{self.path}: {words} ({self.message})"


def cosignatures_beside(protocol: Path) -> list[Path]:
    """The members' co-signatures written beside a protocol file (`<stem>.<key id>.cosig`,
    cosign.cosignature_file_name), sorted; at most `MAX_COSIGNATURES` (more than any
    commission has members are not offered: the commission would refuse them)."""
    stem = protocol.name[:-5] if protocol.name.endswith(".json") else protocol.name
    found = sorted(p for p in protocol.parent.glob(f"{stem}.*{COSIGN_SUFFIX}") if p.is_file())
    return found[:MAX_COSIGNATURES]


def send_order(paths: list[Path]) -> list[Path]:
    """The files to send for `paths`: the co-signatures found beside each protocol
    added, each file once, every co-signature first (module docstring: why), the rest
    in the order given."""
    out: dict[Path, None] = {}
    for path in paths:
        if path.name.endswith(".json"):
            out.update(dict.fromkeys(cosignatures_beside(path)))
        out[path] = None
    files = list(out)
    return [p for p in files if p.name.endswith(COSIGN_SUFFIX)] + [p for p in files if not p.name.endswith(COSIGN_SUFFIX)]


def submit_file(client: httpx.Client, url: str, path: Path, *, attempts: int = 5, first_wait: float = 0.5,
                max_wait: float = 8.0, sleep: Callable[[float], None] = time.sleep) -> SubmitResult:
    """Send one signed file (its kind picks the endpoint); retry only when no answer came."""
    try:
        raw = jsonfile.read_bounded(path, MAX_SIGNED_PROTOCOL_BYTES, "a signed file", subject="")
    except jsonfile.InputError as e:
        return SubmitResult(path, Outcome.REFUSED, str(e), e.reason)
    except OSError as e:
        return SubmitResult(path, Outcome.REFUSED, f"cannot read file ({e.strerror})", "format")
    kind = filekind.recognise_bytes(raw)
    if kind not in ENDPOINTS:
        what = kind.title if kind is not None else "not a Sailau signed file"
        return SubmitResult(path, Outcome.REFUSED,
                            f"{what}: only signed protocols (protocol.json), members' co-signatures (*.cosig) and "
                            "signed turnout reports are submitted", "format")
    target = url.rstrip("/") + ENDPOINTS[kind]
    wait, last = first_wait, ""
    for attempt in range(attempts):
        if attempt:
            sleep(wait)
            wait = min(max_wait, wait * 2)
        try:
            r = client.post(target, content=raw, headers={"content-type": "application/json"})
        except httpx.HTTPError as e:
            last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            continue
        if r.status_code >= 500:
            last = f"HTTP {r.status_code}"
            continue
        try:
            data = r.json()
            outcome = Outcome(data["status"])
        except (ValueError, KeyError, TypeError):
            last = f"HTTP {r.status_code}, not a commission server's answer"
            continue
        return SubmitResult(path, outcome, str(data.get("message", "")), data.get("reason"))
    return SubmitResult(path, Outcome.UNREACHABLE, f"{attempts} attempts, last: {last}")
