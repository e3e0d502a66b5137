"""The official NIST SP 1500-100 v2 JSON schema, read from the shared standards folder
beside the repository (it is not committed here), and a validator over it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

NIST_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "standards" / "NIST_V2_election_results_reporting.json"


@cache
def _validator():  # noqa: ANN202 - a jsonschema validator class instance
    import jsonschema

    assert NIST_SCHEMA.is_file(), (
        f"the official NIST v2 schema is read from {NIST_SCHEMA} (the shared standards folder beside the "
        "repository, not committed here): clone the repository next to that shared/ folder")
    schema = json.loads(NIST_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)  # the draft its $schema names (draft 4)


def nist_schema_errors(report: dict) -> list[str]:
    """Every error of `report` against the official v2 schema."""
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in _validator().iter_errors(report)]
