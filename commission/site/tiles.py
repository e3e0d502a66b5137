"""A tile cartogram of Kazakhstan's regions: one equal square per region, placed
roughly where the region lies (west left, north up), so a glance finds a region
and its colour says who leads there.

Regions are recognised by their English name (the definition's `name.en`), by
the keywords below, in order (so "Almaty Region" before the city "Almaty"); both
the 2021 set of 17 and the 2022 set of 20 (Abai, Jetisu, Ulytau) fit. A region
the table does not know (a synthetic "R1") goes into extra rows under the map,
in definition order; a definition with no known region is a plain grid.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: (keywords, column, row) on a 6 x 5 grid.
KZ_TILES: tuple[tuple[tuple[str, ...], int, int], ...] = (
    (("west kazakhstan", "batys"), 0, 0),
    (("atyrau",), 0, 1),
    (("mangystau", "mangghystau", "mangistau"), 0, 2),
    (("aktobe", "aqtobe"), 1, 1),
    (("kostanay", "qostanay"), 2, 0),
    (("north kazakhstan",), 3, 0),
    (("pavlodar",), 4, 0),
    (("akmola", "aqmola"), 3, 1),
    (("astana", "nur-sultan", "nur sultan"), 4, 1),
    (("east kazakhstan",), 5, 1),
    (("kyzylorda", "qyzylorda"), 1, 2),
    (("ulytau",), 2, 2),
    (("karaganda", "qaragandy", "karagandy"), 3, 2),
    (("abai", "abay"), 4, 2),
    (("turkistan", "turkestan"), 2, 3),
    (("jambyl", "zhambyl"), 3, 3),
    (("almaty region", "almaty oblys"), 4, 3),
    (("jetisu", "zhetysu"), 5, 3),
    (("shymkent",), 2, 4),
    (("almaty",), 4, 4),
)
COLUMNS = 6


def tile_layout(regions: Sequence[tuple[str, str]]) -> dict[str, dict[str, int]]:
    """region code -> {"col", "row"} for (code, English name) pairs; no two regions
    share a tile."""
    placed: dict[str, dict[str, int]] = {}
    used: set[tuple[int, int]] = set()
    rest: list[str] = []
    for code, name in regions:
        key = re.sub(r"\s+", " ", name.lower())
        spot = next(((c, r) for words, c, r in KZ_TILES if any(w in key for w in words) and (c, r) not in used), None)
        if spot is None:
            rest.append(code)
            continue
        used.add(spot)
        placed[code] = {"col": spot[0], "row": spot[1]}
    first_free = (max((r for _, r in used), default=-1) + 1) if used else 0
    for i, code in enumerate(rest):
        placed[code] = {"col": i % COLUMNS, "row": first_free + i // COLUMNS}
    return placed
