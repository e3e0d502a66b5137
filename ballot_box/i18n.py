"""Clerk-app strings through gettext catalogs (domain `sailau_ballot_box`) in kk, ru, en.

The clerk switches language at any time, so every call names its language; the
loader is `sailau.election.i18n`. Catalogs: ballot_box/locale/<lang>/LC_MESSAGES/
sailau_ballot_box.po, compiled to .mo with
`pybabel compile -d ballot_box/locale -D sailau_ballot_box` (README).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

from sailau.election.i18n import LANGUAGE_NAMES, LANGUAGES, Catalog, MissingCatalogError, N_

CATALOG = Catalog("sailau_ballot_box", Path(__file__).resolve().parent / "locale")
DOMAIN = CATALOG.domain
LOCALE_DIR = CATALOG.locale_dir
t = CATALOG.t

__all__ = ["CATALOG", "DOMAIN", "LANGUAGES", "LANGUAGE_NAMES", "LOCALE_DIR", "MissingCatalogError", "N_", "local_time",
           "t"]


def local_time(moment: str | dt.datetime, zone: str, *, named: bool = True) -> str:
    """A station time as the clerk reads it: in the precinct's zone `zone` (an IANA name,
    `election.turnout.election_time_zone`), with the zone named, to the minute:
    "2023-03-19 09:00 (Asia/Almaty, UTC+06:00)". `moment` is an aware datetime or its ISO
    text (the audit chain's times carry the station clock's offset, which may be UTC). A
    time without an offset, or text that is no time, is shown as given (never guessed).
    `named=False`: the local date and time alone, for a table whose heading names the zone."""
    try:
        when = moment if isinstance(moment, dt.datetime) else dt.datetime.fromisoformat(moment)
        if when.tzinfo is None:
            return str(moment)
        local = when.astimezone(zoneinfo.ZoneInfo(zone))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        return str(moment)
    if not named:
        return f"{local:%Y-%m-%d %H:%M}"
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({zone}, UTC{offset[:3]}:{offset[3:]})"
