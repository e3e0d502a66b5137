"""Build the terminal's gettext catalogs: `python -m sailau.terminal.catalogs`.

Extracts the UI messages from terminal/*.py (keywords `_`, `N_`, and `t`'s
second argument), merges them into locale/<lang>/LC_MESSAGES/sailau_terminal.po
(new messages get an empty translation; English falls back to the id), and
compiles every .po to .mo. Needs Babel (dev extra); the kiosk itself reads the
.mo files with the standard library's gettext only."""

from __future__ import annotations

import datetime
import io
from pathlib import Path

from sailau.terminal.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

FIXED_DATE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)  # no churn per run
KEYWORDS = {"_": None, "N_": None, "t": (2,)}


def extract() -> list[str]:
    """Message ids used by the terminal's modules, in first-use order."""
    from babel.messages.extract import extract_from_dir

    seen: dict[str, None] = {}
    source = LOCALE_DIR.parent
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(source), method_map=[("*.py", "python")], keywords=KEYWORDS
    ):
        if isinstance(message, str):
            seen.setdefault(message, None)
    return list(seen)


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_po(language: str):
    from babel.messages.pofile import read_po as _read

    with po_path(language).open("rb") as f:
        return _read(f, locale=language, domain=DOMAIN)


def compile_mo(language: str) -> bytes:
    from babel.messages.mofile import write_mo

    out = io.BytesIO()
    write_mo(out, read_po(language))
    return out.getvalue()


def update(translations: dict[str, dict[str, str]] | None = None) -> None:
    """Merge extracted ids (and optional new translations) into each .po, compile .mo."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    ids = extract()
    for language in LANGUAGES:
        path = po_path(language)
        old = read_po(language) if path.exists() else None
        catalog = Catalog(
            locale=language,
            domain=DOMAIN,
            header_comment=f"# Sailau booth terminal UI, {language}. Message ids are the English text.",
            project="sailau-terminal",
            version="1",
            copyright_holder="Sailau",
            creation_date=FIXED_DATE,
            revision_date=FIXED_DATE,
            charset="utf-8",
            fuzzy=False,
        )
        for msgid in ids:
            given = (translations or {}).get(language, {}).get(msgid)
            previous = old.get(msgid) if old is not None else None
            text = given or (previous.string if previous is not None else "") or (msgid if language == "en" else "")
            catalog.add(msgid, text)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as f:
            write_po(f, catalog, omit_header=False, no_location=True, width=100)
        path.with_suffix(".mo").write_bytes(compile_mo(language))


if __name__ == "__main__":
    update()
