"""The station's signed hourly turnout report (issue 13, item 8).

At the CEC's hours (10:00, 12:00, 14:00, 16:00, 18:00 and 20:00, local time of
the precinct) each station signs a small report: how many voters had received a
ballot so far, of how many on the list. It travels like a protocol (a file on
disk, submitted to the commission server or imported with `sailau commission
import`) and is checked like one: bounded read, strict canonical JSON, election
and fingerprint, the station key enrolled for that precinct, the signature, then
its own relations (`turnout_violations`).

File (canonical JSON, sorted keys, no whitespace), `SIGNED_TURNOUT_FORMAT`:

    {"format": "sailau/signed-turnout", "version": 1,
     "report": {"format": "sailau/turnout", "version": 1, "election_id", "election_fingerprint",
                "precinct", "hour": "2024-03-19T10:00+05:00", "time_zone": "Asia/Almaty",
                "received_ballot", "voters_on_list"},
     "station_key_id", "public_key", "signature"}

`hour` is the local wall-clock hour the report is for, with the UTC offset of
`time_zone` on that day; `received_ballot` counts voters who received a ballot
before that hour struck. The signature covers the canonical bytes of `report`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ed25519

from . import filekind, jsonfile
from .crypto import KEY_ID_LEN, SIGNATURE_LEN, KeyFormatError, KeyIdMismatch, SignatureError, ed25519_public_bytes, key_id, sign, verify_enclosed
from .definition import Election
from .protocol import MAX_PRECINCT_COUNT, ProtocolFormatError, canonical_json

TURNOUT_FORMAT = "sailau/turnout"
SIGNED_TURNOUT_FORMAT = "sailau/signed-turnout"
TURNOUT_VERSION = 1
#: A signed turnout report is a few hundred bytes; anything larger is refused unread.
MAX_SIGNED_TURNOUT_BYTES = 16 * 1024
#: The CEC's hours (local time of the precinct) at which turnout is published.
CEC_HOURS = (10, 12, 14, 16, 18, 20)
#: Where the definition names no time zone: Kazakhstan's polling stations keep Almaty time.
DEFAULT_TIME_ZONE = "Asia/Almaty"

_HEX = re.compile(r"[0-9a-f]*")
_HOUR = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:00[+-]\d{2}:\d{2}")


class TurnoutError(ProtocolFormatError):
    """A turnout report that cannot be read or made; `reason` as a protocol refusal
    (`format`, `too_large`, `too_deep`, `count_out_of_range`)."""


class TurnoutSignatureError(ValueError):
    """The signature does not verify, or the key id does not name the enclosed key."""


def election_time_zone(election: Election) -> str:
    """The precinct's time zone: the definition's `time_zone` if it has one, else Almaty."""
    return getattr(election, "time_zone", None) or DEFAULT_TIME_ZONE


def cec_hour(election: Election, hour: int, time_zone: str | None = None) -> dt.datetime:
    """The aware local datetime of CEC hour `hour` on election day."""
    if hour not in CEC_HOURS:
        raise TurnoutError(f"turnout is reported at {', '.join(f'{h}:00' for h in CEC_HOURS)} local time, not at {hour}:00")
    tz = _zone(time_zone or election_time_zone(election))
    return dt.datetime.combine(election.date, dt.time(hour), tzinfo=tz)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TurnoutError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class TurnoutReport:
    election_id: str
    election_fingerprint: str
    precinct: int
    hour: str  # local ISO hour with offset, "2024-03-19T10:00+05:00"
    time_zone: str
    received_ballot: int  # voters who received a ballot before `hour`
    voters_on_list: int

    @property
    def local_hour(self) -> int:
        return int(self.hour[11:13])

    def to_data(self) -> dict[str, Any]:
        return {
            "format": TURNOUT_FORMAT, "version": TURNOUT_VERSION,
            "election_id": self.election_id, "election_fingerprint": self.election_fingerprint,
            "precinct": self.precinct, "hour": self.hour, "time_zone": self.time_zone,
            "received_ballot": self.received_ballot, "voters_on_list": self.voters_on_list,
        }

    def to_canonical_json(self) -> bytes:
        return canonical_json(self.to_data())

    @classmethod
    def from_data(cls, value: Any) -> TurnoutReport:
        d = _object(value, "turnout report")
        _keys(d, "turnout report", {"format", "version", "election_id", "election_fingerprint", "precinct", "hour",
                                     "time_zone", "received_ballot", "voters_on_list"})
        if d["format"] != TURNOUT_FORMAT or d["version"] != TURNOUT_VERSION:
            raise TurnoutError(f"turnout report format must be {TURNOUT_FORMAT!r} version {TURNOUT_VERSION}")
        for name in ("election_id", "election_fingerprint", "hour", "time_zone"):
            if not isinstance(d[name], str) or not d[name] or len(d[name]) > 128:
                raise TurnoutError(f"turnout report {name} must be a short string")
        if not re.fullmatch(r"[0-9a-f]{64}", d["election_fingerprint"]):
            raise TurnoutError("turnout report election_fingerprint must be 64 lower-case hex digits")
        if not _HOUR.fullmatch(d["hour"]):
            raise TurnoutError(f"turnout report hour must be a local ISO hour like 2024-03-19T10:00+05:00, got {d['hour']!r}")
        for name in ("precinct", "received_ballot", "voters_on_list"):
            v = d[name]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise TurnoutError(f"turnout report {name} must be a non-negative integer")
            if v > MAX_PRECINCT_COUNT:
                raise TurnoutError(f"turnout report {name} {v:,} is beyond any precinct (at most {MAX_PRECINCT_COUNT:,})",
                                   reason="count_out_of_range")
        return cls(d["election_id"], d["election_fingerprint"], d["precinct"], d["hour"], d["time_zone"],
                   d["received_ballot"], d["voters_on_list"])


@dataclass(frozen=True)
class SignedTurnout:
    report: TurnoutReport
    station_key_id: bytes
    public_key: bytes
    signature: bytes

    def to_data(self) -> dict[str, Any]:
        return {
            "format": SIGNED_TURNOUT_FORMAT, "version": TURNOUT_VERSION, "report": self.report.to_data(),
            "station_key_id": self.station_key_id.hex(), "public_key": self.public_key.hex(), "signature": self.signature.hex(),
        }

    def to_canonical_json(self) -> bytes:
        return canonical_json(self.to_data())

    @classmethod
    def from_canonical_json(cls, raw: bytes) -> SignedTurnout:
        """Parse strictly through the bounded reader; does not verify (`verify_signed_turnout`)."""
        try:
            data = jsonfile.parse_json(raw, max_bytes=MAX_SIGNED_TURNOUT_BYTES, what="a signed turnout report")
        except jsonfile.InputError as e:
            reason = e.reason if e.reason in ("too_large", "too_deep", "count_out_of_range") else "format"
            raise TurnoutError(str(e), reason=reason) from None
        d = _object(data, "signed turnout report")
        other = filekind.wrong_kind(d, filekind.SIGNED_TURNOUT)
        if other is not None:
            raise TurnoutError(other)
        _keys(d, "signed turnout report", {"format", "version", "report", "station_key_id", "public_key", "signature"})
        if d["format"] != SIGNED_TURNOUT_FORMAT or d["version"] != TURNOUT_VERSION:
            raise TurnoutError(f"format must be {SIGNED_TURNOUT_FORMAT!r} version {TURNOUT_VERSION}")
        signed = cls(TurnoutReport.from_data(d["report"]), _hex(d["station_key_id"], KEY_ID_LEN, "station_key_id"),
                     _hex(d["public_key"], 32, "public_key"), _hex(d["signature"], SIGNATURE_LEN, "signature"))
        if signed.to_canonical_json() != raw:
            raise TurnoutError("signed turnout report JSON is not in canonical form")
        return signed


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TurnoutError(f"{what} must be a JSON object")
    return value


def _keys(d: dict[str, Any], what: str, required: set[str]) -> None:
    missing, unknown = sorted(required - set(d)), sorted(set(d) - required)
    if missing:
        raise TurnoutError(f"{what}: missing key(s) {', '.join(missing)}")
    if unknown:
        raise TurnoutError(f"{what}: unknown key(s) {', '.join(unknown)}")


def _hex(value: Any, length: int, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) != 2 * length:
        raise TurnoutError(f"{what} must be {length} bytes as lower-case hex")
    return bytes.fromhex(value)


def make_turnout_report(election: Election, precinct: int, hour: int, received_ballot: int, voters_on_list: int,
                        time_zone: str | None = None) -> TurnoutReport:
    """The report for CEC hour `hour` (10, 12, ..., 20) of election day in the precinct's zone."""
    zone = time_zone or election_time_zone(election)
    at = cec_hour(election, hour, zone)
    report = TurnoutReport(election.id, election.fingerprint_hex, precinct, at.isoformat(timespec="minutes"), zone,
                           received_ballot, voters_on_list)
    problems = turnout_violations(report, election)
    if problems:
        raise TurnoutError("; ".join(problems))
    return report


def sign_turnout(report: TurnoutReport, private_key: ed25519.Ed25519PrivateKey) -> SignedTurnout:
    public = ed25519_public_bytes(private_key.public_key())
    return SignedTurnout(report, key_id(public), public, sign(private_key, report.to_canonical_json()))


def verify_signed_turnout(signed: SignedTurnout) -> TurnoutReport:
    """The signature over the report's canonical bytes, under the enclosed key (the
    caller checks that key is the one enrolled for the precinct)."""
    try:
        verify_enclosed(signed.station_key_id, signed.public_key, signed.signature, signed.report.to_canonical_json())
    except KeyIdMismatch as e:
        raise TurnoutSignatureError(f"station {e}") from None
    except (SignatureError, KeyFormatError) as e:
        raise TurnoutSignatureError(f"turnout report of precinct {signed.report.precinct}: {e}") from None
    return signed.report


def turnout_violations(report: TurnoutReport, election: Election) -> list[str]:
    """What does not hold, as 'name: message' lines: the precinct is in the
    definition (`precinct`), the hour is a CEC hour of election day in the report's
    zone (`hour`), and no more voters received a ballot than are on the list
    (`received<=list`)."""
    out: list[str] = []
    try:
        election.precinct(report.precinct)
    except LookupError:
        out.append(f"precinct: precinct {report.precinct} is not in the election definition")
    try:
        expected = {cec_hour(election, h, report.time_zone).isoformat(timespec="minutes") for h in CEC_HOURS}
    except TurnoutError as e:
        out.append(f"hour: {e}")
    else:
        if report.hour not in expected:
            out.append(f"hour: {report.hour} is not one of the CEC's hours on {election.date} in {report.time_zone} "
                       f"({', '.join(f'{h}:00' for h in CEC_HOURS)})")
    if report.received_ballot > report.voters_on_list:
        out.append(f"received<=list: {report.received_ballot:,} voters received a ballot, "
                   f"but only {report.voters_on_list:,} are on the list")
    return out
