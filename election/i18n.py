"""The election's three languages and the gettext catalog loader every app uses.

Each app (booth terminal, clerk app) keeps its own catalog domain; this module
is only the shared mechanics. Message ids are the English text. Translation takes
the language explicitly instead of a process-wide locale, because a booth shows
some screens in all three languages at once and a clerk switches at any time.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable
from pathlib import Path

from .definition import LANGUAGES

#: The name of each language in itself, for language buttons and switches.
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}


class MissingCatalogError(RuntimeError):
    """A language's compiled catalog (.mo) is not installed."""


def N_(message: str) -> str:
    """Mark a message for extraction without translating it here."""
    return message


class Catalog:
    """One gettext domain in kk, ru, en, loaded once per language."""

    def __init__(self, domain: str, locale_dir: Path) -> None:
        self.domain = domain
        self.locale_dir = locale_dir
        self._loaded: dict[str, gettext.NullTranslations] = {}

    def translation(self, language: str) -> gettext.NullTranslations:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {LANGUAGES}")
        if language not in self._loaded:
            try:
                self._loaded[language] = gettext.translation(self.domain, self.locale_dir, languages=[language])
            except OSError:
                raise MissingCatalogError(
                    f"no compiled catalog {self.locale_dir / language / 'LC_MESSAGES' / (self.domain + '.mo')}"
                ) from None
        return self._loaded[language]

    def translator(self, language: str) -> Callable[[str], str]:
        """`_` for one language."""
        return self.translation(language).gettext

    def t(self, language: str, message: str, /, **fields: object) -> str:
        """Translate `message` into `language` and fill its {fields}."""
        text = self.translation(language).gettext(message)
        return text.format(**fields) if fields else text
