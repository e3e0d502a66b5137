"""Names people write, and the ids the definition keys them by.

A vote table (synth.py) names its regions and parties as people do ("Akmola
Region", "Ақмола облысы", "Акмолинская область"); the election definition keys
them by identifiers (`[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`, election/definition.py).
This module holds the one rule that turns a written cell into a name in the three
languages and an id.

Cell grammar: `[ID =] NAME [#rrggbb]`

- NAME is one name (used for kk, ru and en alike) or three names `kk / ru / en`
  (exactly two " / " separators);
- `ID =` gives the id explicitly (it must already be an identifier);
- a trailing `#rrggbb` is a colour (parties only; the caller refuses it elsewhere).

The id rule (`make_id`), when no id is given: the English name (the only name, or
the third of three) is
  1. kept as it is if it already is an identifier (`KZ-11`, `NO`, `R1`);
  2. otherwise transliterated to ASCII: Kazakh and Russian Cyrillic letters by a
     fixed table (`Ақмола` -> `aqmola`, `Акмолинская` -> `akmolinskaya`), Latin
     letters with diacritics stripped (`Mäjilis` -> `majilis`); lower case; every
     run of other characters becomes one `-`; no `-` at either end; at most 56
     characters;
  3. a name with no letter or digit left (another script entirely) becomes
     `id-` + the first 12 hex digits of the SHA-256 of its UTF-8 bytes.
Ids made for one table are unique: a made id equal to an earlier one (in table
order) gets `-2`, `-3`, ... Deterministic: the same cells in the same order give
the same ids, on every machine.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
COLOUR_PATTERN = re.compile(r"#[0-9a-fA-F]{6}")
MAX_MADE_ID = 56

#: Kazakh (2021 Latin alphabet, ASCII-folded) and Russian letters, lower case.
_CYRILLIC = {
    "а": "a", "ә": "a", "б": "b", "в": "v", "г": "g", "ғ": "g", "д": "d", "е": "e", "ё": "yo",
    "ж": "zh", "з": "z", "и": "i", "й": "y", "к": "k", "қ": "q", "л": "l", "м": "m", "н": "n",
    "ң": "ng", "о": "o", "ө": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ұ": "u",
    "ү": "u", "ф": "f", "х": "kh", "һ": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
    "ъ": "", "ы": "y", "і": "i", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}


class CellError(ValueError):
    """A cell that cannot be read as a name; the message says why in plain words."""


@dataclass(frozen=True)
class NamedCell:
    id: str | None  # given explicitly, else None (make_ids makes one)
    kk: str
    ru: str
    en: str
    colour: str | None = None  # "#rrggbb", lower case

    def names(self) -> dict[str, str]:
        return {"kk": self.kk, "ru": self.ru, "en": self.en}


def is_identifier(text: str) -> bool:
    return ID_PATTERN.fullmatch(text) is not None


def parse_cell(cell: str) -> NamedCell:
    """Read one cell by the grammar above; `CellError` when it has no name, a bad
    explicit id, or a number of " / " parts other than one or three."""
    text = cell.strip()
    colour = None
    m = re.search(r"\s*(#[0-9a-fA-F]{6})$", text)
    if m and m.start() > 0:
        colour, text = m.group(1).lower(), text[: m.start()].strip()
    given = None
    if "=" in text:
        head, _, rest = text.partition("=")
        given, text = head.strip(), rest.strip()
        if not is_identifier(given):
            raise CellError(f"{given!r} before '=' is not an id (letters, digits, '_', '.', '-'; at most 64)")
    parts = [p.strip() for p in text.split(" / ")]
    if len(parts) not in (1, 3):
        raise CellError(f"{cell.strip()!r}: give one name or three as 'kk / ru / en', not {len(parts)}")
    if any(not p for p in parts):
        raise CellError(f"{cell.strip()!r}: an empty name")
    if any(len(p) > 400 for p in parts):
        raise CellError(f"{cell.strip()[:40]!r}...: a name longer than 400 characters")
    kk, ru, en = (parts * 3)[:3] if len(parts) == 1 else parts
    return NamedCell(given, kk, ru, en, colour)


def make_id(name: str) -> str:
    """The id for one name by the rule in the module docstring (before uniqueness)."""
    name = name.strip()
    if is_identifier(name):
        return name
    out = []
    for ch in name.lower():
        if ch in _CYRILLIC:
            out.append(_CYRILLIC[ch])
            continue
        for base in unicodedata.normalize("NFKD", ch):
            if base.isascii() and base.isalnum():
                out.append(base)
            elif not unicodedata.combining(base):
                out.append("-")
    slug = re.sub(r"-+", "-", "".join(out)).strip("-")[:MAX_MADE_ID].strip("-")
    if not slug:
        return "id-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return slug


def make_ids(cells: Sequence[NamedCell]) -> list[str]:
    """One unique id per cell, in order: the explicit id, else `make_id` of the
    English name with `-2`, `-3`, ... on a clash with an earlier id. An explicit id
    given twice is the caller's duplicate (it checks)."""
    taken = {c.id for c in cells if c.id is not None}
    ids: list[str] = []
    for c in cells:
        if c.id is not None:
            ids.append(c.id)
            continue
        base = make_id(c.en)
        candidate, k = base, 1
        while candidate in taken:
            k += 1
            candidate = f"{base[: MAX_MADE_ID]}-{k}"
        taken.add(candidate)
        ids.append(candidate)
    return ids
