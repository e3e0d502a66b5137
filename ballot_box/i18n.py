"""Clerk-app strings through gettext catalogs (domain `sailau_ballot_box`) in kk, ru, en.

The clerk switches language at any time, so every call names its language; the
loader is `sailau.election.i18n`. Catalogs: ballot_box/locale/<lang>/LC_MESSAGES/
sailau_ballot_box.po, compiled to .mo with
`pybabel compile -d ballot_box/locale -D sailau_ballot_box` (README).
"""

from __future__ import annotations

from pathlib import Path

from sailau.election.i18n import LANGUAGE_NAMES, LANGUAGES, Catalog, MissingCatalogError, N_

CATALOG = Catalog("sailau_ballot_box", Path(__file__).resolve().parent / "locale")
DOMAIN = CATALOG.domain
LOCALE_DIR = CATALOG.locale_dir
t = CATALOG.t

__all__ = ["CATALOG", "DOMAIN", "LANGUAGES", "LANGUAGE_NAMES", "LOCALE_DIR", "MissingCatalogError", "N_", "t"]
