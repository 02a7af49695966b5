"""Time zones by IANA name, from the pinned ``tzdata`` package only.

Every server answers a zone alike because the zone data comes from the
``tzdata`` distribution pinned in ``pyproject.toml``, never from the host's
``/usr/share/zoneinfo`` (which :class:`zoneinfo.ZoneInfo` would prefer).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import tzdata

from creditmeter.errors import InvalidParameter
from creditmeter.suggest import did_you_mean

#: The tz database release the zones come from (e.g. "2026f").
TZ_DATABASE_VERSION: str = tzdata.IANA_VERSION


@cache
def zone_names() -> frozenset[str]:
    """Every zone and link name the pinned database ships (``Asia/Calcutta`` included)."""
    listing = resources.files("tzdata").joinpath("zones").read_text("utf-8")
    return frozenset(line.strip() for line in listing.splitlines() if line.strip())


@cache
def _load(name: str) -> ZoneInfo:
    path = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with path.open("rb") as data:
        return ZoneInfo.from_file(data, key=name)


def zone_named(name: str, *, param: str = "timeZone") -> ZoneInfo:
    """The zone called exactly ``name``; else :class:`InvalidParameter` naming ``param``,
    suggesting the closest real name."""
    if name in zone_names():
        return _load(name)
    guess = closest_zone(name)
    hint = f" Did you mean '{guess}'?" if guess else ""
    raise InvalidParameter(
        f"'{name}' is not a time zone name; use an IANA name such as 'Europe/Berlin' or "
        f"'UTC' (exact case).{hint}",
        param=param,
    )


def closest_zone(name: str) -> str | None:
    """The real zone name ``name`` most likely meant, or None."""
    names = zone_names()
    cleaned = name.strip().replace(" ", "_")
    by_lower = {known.lower(): known for known in names}
    if cleaned.lower() in by_lower:
        return by_lower[cleaned.lower()]
    # A city without its region: "Kolkata" → "Asia/Kolkata".
    cities = {known.rsplit("/", 1)[-1].lower(): known for known in sorted(names) if "/" in known}
    if cleaned.lower() in cities:
        return cities[cleaned.lower()]
    return did_you_mean(cleaned, sorted(names))
