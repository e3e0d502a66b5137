"""Sending the station's signed files to the commission server (`sailau station submit`).

The signed file on disk is the record: submitting reads it and sends its exact
bytes, never changes it, and may be repeated at will (the server answers
"unchanged" for a file it already has). A station offline all evening submits
later the same files.

Per file, one status (`Outcome`): `accepted` (stored and counted), `unchanged`
(the commission already had it), `conflict` (stored, but another valid file for
the precinct means neither counts until the commission decides), `refused` (the
commission's check failed; the name is the one `commission import` uses) or
`unreachable` (no answer after the retries: nothing is lost, submit again later).
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
from sailau.election.protocol import MAX_SIGNED_PROTOCOL_BYTES

ENDPOINTS = {filekind.SIGNED_PROTOCOL: "/api/protocols", filekind.SIGNED_TURNOUT: "/api/turnout"}


class Outcome(str, enum.Enum):
    ACCEPTED = "accepted"
    UNCHANGED = "unchanged"
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
            Outcome.CONFLICT: "conflict",
            Outcome.REFUSED: f"refused: {self.reason}",
            Outcome.UNREACHABLE: "unreachable: will retry later",
        }[self.outcome]
        return f"{self.path}: {words} ({self.message})"


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
                            f"{what}: only signed protocols (protocol.json) and signed turnout reports are submitted", "format")
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
