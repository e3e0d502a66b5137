"""Fixtures over a synthetic published set that a test module builds once: the
module defines `clean_set` (module scope: a set `commission.synth.synthesize` wrote,
private station keys under private/), and gets from here

``published`` (function): a fresh copy of it without the private keys, to tamper with;
``keys`` (module): the private station keys of that set, to sign forgeries with.

A module that defines its own `published` or `keys` uses its own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sailau.commission.synth import load_private_keys


@pytest.fixture
def published(clean_set: Path, tmp_path: Path) -> Path:
    """A fresh copy of the published set (without the private keys) to tamper with."""
    dest = tmp_path / "set"
    shutil.copytree(clean_set, dest, ignore=shutil.ignore_patterns("private"))
    return dest


@pytest.fixture(scope="module")
def keys(clean_set: Path):
    return load_private_keys(clean_set / "private" / "station-keys.json")
