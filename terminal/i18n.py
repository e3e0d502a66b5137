"""Booth strings through gettext catalogs (domain `sailau_terminal`) in kk, ru, en.

A booth shows some screens in all three languages at once (the idle screen, a
refused card before the voter chose), so every call names its language; the
loader is `sailau.election.i18n`. Catalogs:
terminal/locale/<lang>/LC_MESSAGES/sailau_terminal.po, compiled to .mo with
`python -m sailau.terminal.catalogs` (README).
"""

from __future__ import annotations

from pathlib import Path

from sailau.election.i18n import LANGUAGE_NAMES, LANGUAGES, Catalog, MissingCatalogError, N_

CATALOG = Catalog("sailau_terminal", Path(__file__).resolve().parent / "locale")
DOMAIN = CATALOG.domain
LOCALE_DIR = CATALOG.locale_dir
translation = CATALOG.translation
translator = CATALOG.translator
t = CATALOG.t

__all__ = ["DOMAIN", "LANGUAGES", "LANGUAGE_NAMES", "LOCALE_DIR", "MissingCatalogError", "N_", "t", "translation", "translator"]
