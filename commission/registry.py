"""The station key registry: which Ed25519 key may sign which precinct's protocol.

A signed protocol carries its own public key, so its signature alone proves only
that the file was not changed after signing. Origin needs a list the commission
published before election day: one entry per precinct, the key id and raw public
key of the ballot-box station enrolled there. The commission and every observer
check each protocol against this file, and a key enrolled for precinct 12 cannot
sign the protocol of precinct 13.

File format (UTF-8 JSON, `stations.json` in a published set):

    {"format": "sailau/station-keys", "version": 1,
     "election": {"id": "...", "fingerprint": "<64 hex>"},
     "stations": [{"precinct": 1, "key_id": "<16 hex>", "public_key": "<64 hex>"}, ...]}

Read through the one bounded reader (`election.jsonfile`): at most
`MAX_REGISTRY_BYTES`, depth and integers bounded, no key twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sailau.election import filekind, jsonfile
from sailau.election.crypto import KeyFormatError, key_id

REGISTRY_FORMAT = "sailau/station-keys"
REGISTRY_VERSION = 1
#: One entry is about 150 bytes: 64 MiB holds 400,000 precincts (Kazakhstan has ~10,000).
MAX_REGISTRY_BYTES = 64 * 1024 * 1024


class RegistryError(ValueError):
    """The station key registry is malformed or contradicts itself."""


@dataclass(frozen=True)
class StationKey:
    precinct: int
    key_id: bytes  # crypto.key_id(public_key)
    public_key: bytes  # raw 32-byte Ed25519 key


@dataclass(frozen=True)
class StationRegistry:
    """The enrolled station keys of one election."""

    election_id: str
    election_fingerprint: str
    stations: tuple[StationKey, ...]

    def __post_init__(self) -> None:
        seen_p: set[int] = set()
        seen_k: set[bytes] = set()
        for s in self.stations:
            if s.precinct in seen_p:
                raise RegistryError(f"precinct {s.precinct} has more than one station key")
            if s.key_id in seen_k:
                raise RegistryError(f"station key {s.key_id.hex()} is enrolled for more than one precinct")
            try:
                actual = key_id(s.public_key)
            except KeyFormatError as e:
                raise RegistryError(f"precinct {s.precinct}: {e}") from None
            if actual != s.key_id:
                raise RegistryError(f"precinct {s.precinct}: key id {s.key_id.hex()} does not name its public key")
            seen_p.add(s.precinct)
            seen_k.add(s.key_id)

    @cached_property
    def by_key_id(self) -> Mapping[bytes, StationKey]:
        return {s.key_id: s for s in self.stations}

    @cached_property
    def by_precinct(self) -> Mapping[int, StationKey]:
        return {s.precinct: s for s in self.stations}

    def trusted_keys(self) -> dict[bytes, bytes]:
        """key id -> raw public key, as `verify_signed_protocol` takes it."""
        return {s.key_id: s.public_key for s in self.stations}

    def to_data(self) -> dict[str, Any]:
        return {
            "format": REGISTRY_FORMAT,
            "version": REGISTRY_VERSION,
            "election": {"id": self.election_id, "fingerprint": self.election_fingerprint},
            "stations": [
                {"precinct": s.precinct, "key_id": s.key_id.hex(), "public_key": s.public_key.hex()}
                for s in sorted(self.stations, key=lambda s: s.precinct)
            ],
        }

    def to_json_bytes(self) -> bytes:
        return (json.dumps(self.to_data(), indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_data(cls, data: Any) -> StationRegistry:
        if not isinstance(data, dict):
            raise RegistryError("station key registry must be a JSON object")
        other = filekind.wrong_kind(data, filekind.STATION_KEYS)
        if other is not None:
            raise RegistryError(other)
        if data.get("format") != REGISTRY_FORMAT or data.get("version") != REGISTRY_VERSION:
            raise RegistryError(
                f"not a {REGISTRY_FORMAT} v{REGISTRY_VERSION} file (format {data.get('format')!r}, version {data.get('version')!r})"
            )
        election = data.get("election")
        if not isinstance(election, dict) or not isinstance(election.get("id"), str) or not isinstance(election.get("fingerprint"), str):
            raise RegistryError("registry: election must be {id, fingerprint}")
        stations = data.get("stations")
        if not isinstance(stations, list):
            raise RegistryError("registry: stations must be a list")
        out = []
        for i, s in enumerate(stations):
            try:
                precinct = s["precinct"]
                if not isinstance(precinct, int) or isinstance(precinct, bool) or precinct < 1:
                    raise ValueError(f"precinct must be a positive integer, got {precinct!r}")
                out.append(StationKey(precinct, _hex(s["key_id"], 8), _hex(s["public_key"], 32)))
            except (KeyError, TypeError, ValueError) as e:
                raise RegistryError(f"registry: stations[{i}]: {e}") from None
        return cls(election["id"], election["fingerprint"], tuple(out))

    @classmethod
    def from_json_bytes(cls, raw: bytes) -> StationRegistry:
        try:
            data = jsonfile.parse_json(raw, max_bytes=MAX_REGISTRY_BYTES, what="a station key registry")
        except jsonfile.InputError as e:
            raise RegistryError(f"station key registry refused ({e.reason}): {e}") from None
        return cls.from_data(data)


def _hex(value: Any, length: int) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise ValueError(f"expected {length} bytes as hex, got {value!r}")
    return bytes.fromhex(value)


def build_registry(election_id: str, fingerprint: str, keys: Iterable[tuple[int, bytes]]) -> StationRegistry:
    """A registry from (precinct, raw public key) pairs."""
    return StationRegistry(election_id, fingerprint, tuple(StationKey(p, key_id(pk), pk) for p, pk in keys))


def load_registry(path: str | Path) -> StationRegistry:
    path = Path(path)
    try:
        raw = jsonfile.read_bounded(path, MAX_REGISTRY_BYTES, "a station key registry")
    except OSError as e:
        raise RegistryError(f"{path}: cannot read station key registry ({e.strerror})") from None
    except jsonfile.InputError as e:
        raise RegistryError(f"station key registry refused ({e.reason}): {e}") from None
    other = filekind.wrong_kind_of_bytes(raw, filekind.STATION_KEYS, str(path))
    if other is not None:
        raise RegistryError(other)
    try:
        return StationRegistry.from_json_bytes(raw)
    except RegistryError as e:
        raise RegistryError(f"{path}: {e}") from None


def write_registry(registry: StationRegistry, path: str | Path) -> None:
    Path(path).write_bytes(registry.to_json_bytes())
