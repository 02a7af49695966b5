"""Time zones by IANA name, from the pinned ``tzdata`` package only.

Every server answers a zone alike because the zone data comes from the
``tzdata`` distribution pinned in ``pyproject.toml``, never from the host's
``/usr/share/zoneinfo`` (which :class:`zoneinfo.ZoneInfo` would prefer).
"""

from __future__ import annotations

import difflib
import re
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import tzdata

from creditmeter.errors import InvalidParameter

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
    posix = _ETC_OFFSET.fullmatch(guess or "")
    if posix is not None:
        # POSIX signs: Etc/GMT-5 is five hours *ahead* of UTC.
        sign, hours = posix.groups()
        unit = "hour" if hours == "1" else "hours"
        ahead = "ahead of" if sign == "-" else "behind"
        hint += f" ({guess} is {hours} {unit} {ahead} UTC, as the tz database says.)"
    raise InvalidParameter(
        f"'{name}' is not a time zone name; use an IANA name such as 'Europe/Berlin' or "
        f"'UTC' (exact case).{hint}",
        param=param,
    )


_ETC_OFFSET = re.compile(r"Etc/GMT([+-])([0-9]+)")
#: The regions of the tz database's own zones (the other names are older spellings).
_REGIONS = frozenset(
    (
        "Africa",
        "America",
        "Antarctica",
        "Asia",
        "Atlantic",
        "Australia",
        "Europe",
        "Indian",
        "Pacific",
    )
)
# "UTC+5", "GMT-03:00", "+05", "UTC +5": an offset written as a name.
_OFFSET = re.compile(r"(?:UTC|GMT|Z)?([+-])([0-9]{1,2})(?::?([0-9]{2}))?", re.IGNORECASE)
# A path to the zone files: "/usr/share/zoneinfo/Europe/Berlin", "zoneinfo/posix/UTC".
_PATH = re.compile(r"^.*?zoneinfo/(?:posix/|right/)?", re.IGNORECASE)


@cache
def _by_lower() -> dict[str, str]:
    return {known.lower(): known for known in zone_names()}


@cache
def _cities() -> dict[str, str]:
    """The last part of a name, lower case → the name; a zone of the regions wins over
    an older spelling (``Eastern`` → ``US/Eastern``, ``Berlin`` → ``Europe/Berlin``)."""
    ranked = sorted(
        (name for name in zone_names() if "/" in name),
        key=lambda name: (name.split("/", 1)[0] in _REGIONS, name),
    )
    return {name.rsplit("/", 1)[-1].lower(): name for name in ranked}


def closest_zone(name: str) -> str | None:
    """The real zone name ``name`` most likely meant, or None.

    In turn: the same name in another case or with spaces for underscores
    (``america/new york``); a path to the zone files (``/usr/share/zoneinfo/UTC``);
    an offset written as a name (``UTC+5`` → ``Etc/GMT-5``, whole hours only); a city
    without its region (``Kolkata`` → ``Asia/Kolkata``); a small typo of a name, or of
    a city when no region was given (``Europe/Berln``, ``Kolkatta``).
    """
    cleaned = _PATH.sub("", name.strip().replace(" ", "_")).strip("/")
    if not cleaned:
        return None
    by_lower = _by_lower()
    if cleaned.lower() in by_lower:
        return by_lower[cleaned.lower()]
    offset = _OFFSET.fullmatch(cleaned.replace("_", ""))
    if offset is not None:
        sign, hours, minutes = offset.groups()
        if minutes not in (None, "00") or int(hours) == 0:
            return "UTC" if int(hours) == 0 and minutes in (None, "00") else None
        # Etc/GMT-5 is UTC+5: the database writes its signs the POSIX way.
        guess = f"Etc/GMT{'-' if sign == '+' else '+'}{int(hours)}"
        return guess if guess in zone_names() else None
    cities = _cities()
    if "/" not in cleaned:
        if cleaned.lower() in cities:
            return cities[cleaned.lower()]
        if len(cleaned) < 5:
            return None  # "CEST" is not a typo of "EST"
        close = difflib.get_close_matches(cleaned.lower(), list(cities), n=1, cutoff=0.8)
        return cities[close[0]] if close else None
    close = difflib.get_close_matches(cleaned.lower(), list(by_lower), n=1, cutoff=0.8)
    return by_lower[close[0]] if close else None
