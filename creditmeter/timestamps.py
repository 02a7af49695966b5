"""Strict parsing of the two time formats the API accepts.

``yyyy-mm-dd`` dates (export parameters, key expiry) and RFC 3339 instants
(event timestamps). Python's ``fromisoformat`` accepts far more than RFC 3339
(a space separator, no offset), which the ingest contract rejects, hence the
patterns here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_INSTANT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
US_PER_DAY = 86_400 * 1_000_000
#: The first and last days (since 1970-01-01) a :class:`~datetime.date` can hold.
FIRST_EPOCH_DAY = date.min.toordinal() - _EPOCH_ORDINAL
LAST_EPOCH_DAY = date.max.toordinal() - _EPOCH_ORDINAL


def parse_date(text: str) -> date:
    """A real calendar date written ``yyyy-mm-dd``; ValueError otherwise."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"'{text}' is not a date written yyyy-mm-dd")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a real calendar date") from None


def parse_instant_us(text: str) -> int:
    """Microseconds since 1970-01-01T00:00Z of an RFC 3339 instant.

    Fractions beyond the microsecond are truncated, never rounded, so an event
    never moves to the next day. Raises ValueError with a reason.
    """
    # The shape nearly every event has, 2026-05-19T14:03:11Z, read without the
    # pattern: the hour once (cached), minutes and seconds by lookup (only "00".."59"
    # are keys, so the lookup is the check); anything else takes the full path below.
    if len(text) == 20 and text[19] == "Z" and text[13] == ":" and text[16] == ":":
        hour_us = _hour_us(text[:13])
        minutes = _SIXTY.get(text[14:16])
        seconds = _SIXTY.get(text[17:19])
        if hour_us is not None and minutes is not None and seconds is not None:
            return hour_us + (minutes * 60 + seconds) * 1_000_000
    match = _INSTANT.fullmatch(text)
    if match is None:
        raise ValueError(
            "must be an RFC 3339 timestamp with a 'T' and an explicit offset, "
            "such as 2026-05-19T14:03:11Z or 2026-05-19T16:03:11+02:00"
        )
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    hours, minutes, seconds = int(hour), int(minute), int(second)
    try:
        if hours > 23 or minutes > 59 or seconds > 59:
            # datetime() words the problem: "hour must be in 0..23", second 60, ...
            datetime(int(year), int(month), int(day), hours, minutes, seconds)
        days = _epoch_day(year, month, day)
    except ValueError as exc:
        raise ValueError(f"is not a real date and time ({exc})") from None
    offset_seconds = 0
    if sign is not None:
        offset_hours, offset_minutes = int(off_h), int(off_m)
        if offset_hours > 23 or offset_minutes > 59:
            raise ValueError("has an offset outside -23:59 … +23:59")
        offset_seconds = (offset_hours * 3600 + offset_minutes * 60) * (1 if sign == "+" else -1)
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    total_seconds = days * 86_400 + hours * 3600 + minutes * 60 + seconds
    return (total_seconds - offset_seconds) * 1_000_000 + micros


_SIXTY = {f"{n:02d}": n for n in range(60)}
_HOURS = {f"{n:02d}": n for n in range(24)}


@lru_cache(maxsize=16_384)
def _hour_us(text: str) -> int | None:
    """Microseconds since the epoch of an hour written ``yyyy-mm-ddThh``; None if it
    is not one. Cached: a year holds 8,784 hours, and the events of a batch a few."""
    hour = _HOURS.get(text[11:13])
    if text[10] != "T" or hour is None:
        return None
    days = _epoch_day_of_text(text[:10])
    if days is None:
        return None
    return (days * 24 + hour) * 3_600_000_000


@lru_cache(maxsize=4096)
def _epoch_day_of_text(text: str) -> int | None:
    """Days since 1970-01-01 of a date written yyyy-mm-dd; None if it is not one."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return _epoch_day(text[:4], text[5:7], text[8:10])
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _epoch_day(year: str, month: str, day: str) -> int:
    """Days since 1970-01-01 of a calendar date; ValueError if there is no such date.

    Cached: the events of a batch mostly share a handful of days, and this is
    the costly part of reading a timestamp.
    """
    return date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL


def parse_expiry(text: str) -> datetime:
    """A key's expiry: ``yyyy-mm-dd`` (00:00 UTC that day) or an RFC 3339 instant."""
    if _DATE.fullmatch(text):
        return datetime.combine(parse_date(text), time(0), tzinfo=UTC)
    try:
        return datetime_of_us(parse_instant_us(text))
    except (ValueError, OverflowError):
        raise ValueError(
            f"'{text}' is neither a date (yyyy-mm-dd) nor an RFC 3339 instant with an "
            "explicit offset (2026-05-19T14:03:11Z)"
        ) from None


def day_of_us(instant_us: int) -> date:
    """The UTC calendar day of an instant given in microseconds since the epoch."""
    return date.fromordinal(instant_us // US_PER_DAY + _EPOCH_ORDINAL)


def us_of_datetime(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def datetime_of_us(instant_us: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=instant_us)


def format_instant(moment: datetime) -> str:
    """RFC 3339 UTC with ``Z``, as every listing prints times."""
    text = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return text


def moment_of(today: date | datetime) -> datetime:
    """The moment a request was made: ``today`` itself, or a date's UTC midnight.

    What "today" is depends on the time zone, so callers pass the moment; a date
    is accepted where only the UTC date is known (tests, a fixed day).
    """
    if isinstance(today, datetime):
        return today
    return datetime(today.year, today.month, today.day, tzinfo=UTC)
