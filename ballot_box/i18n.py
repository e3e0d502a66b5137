"""Clerk-app strings through gettext catalogs (domain `sailau_ballot_box`) in kk, ru, en.

Message ids are the English text. The clerk switches language at any time, so
translation takes the language explicitly instead of a process-wide locale (the
same shape as `sailau.terminal.i18n`; the two apps run on different machines and
do not share code). Catalogs: ballot_box/locale/<lang>/LC_MESSAGES/
sailau_ballot_box.po, compiled to .mo with
`pybabel compile -d ballot_box/locale -D sailau_ballot_box` (README).
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

DOMAIN = "sailau_ballot_box"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("kk", "ru", "en")
#: The name of each language in itself, for the language switch.
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


class MissingCatalogError(RuntimeError):
    """A language's compiled catalog (.mo) is not installed."""


def N_(message: str) -> str:
    """Mark a message for extraction without translating it here."""
    return message


@lru_cache(maxsize=None)
def translation(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
    try:
        return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language])
    except OSError:
        raise MissingCatalogError(
            f"no compiled catalog {LOCALE_DIR / language / 'LC_MESSAGES' / (DOMAIN + '.mo')}"
        ) from None


def translator(language: str) -> Callable[[str], str]:
    """`_` for one language."""
    return translation(language).gettext


def t(language: str, message: str, /, **fields: object) -> str:
    """Translate `message` into `language` and fill its {fields}."""
    text = translation(language).gettext(message)
    return text.format(**fields) if fields else text
