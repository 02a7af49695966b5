"""Buckets of local time: which instants each row of an export covers.

An export row is one bucket: every instant whose local date (``day``), local
date and month (``month``, clipped to the range) or local date, clock hour and
UTC offset (``hour``) in the zone is the same. So a 23- or 25-hour day is one
bucket, the repeated hour of a fall-back day is two (one per offset), and
where an offset changes by half an hour an hour bucket may begin off the hour
(``export-time-and-dimensions.md``, edge cases 3 and 4).

Instants here are integer seconds since 1970-01-01 UTC, so days far outside
the years 1-9999 in UTC (the first day of year 1 in ``Pacific/Kiritimati``)
are plain numbers. Offsets come from the zone's own data, probed and bisected
to the second: :func:`transitions`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

DAY = 86_400
HOUR = 3_600
#: date.toordinal() of 1970-01-01.
_EPOCH_ORDINAL = 719_163
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Instants whose offset the zone data can be asked for (datetime's years 1-9999,
# a day inside each end); offsets beyond are those at the nearer end.
_FIRST = (date(1, 1, 2).toordinal() - _EPOCH_ORDINAL) * DAY
_LAST = (date(9999, 12, 30).toordinal() - _EPOCH_ORDINAL) * DAY
#: Offsets are looked at this often, and every change between two looks is
#: bisected to the second. No zone changes its offset twice within this span
#: (tests/test_buckets.py checks every transition of the pinned database).
PROBE_STEP = 6 * HOUR
_BLOCK = 64 * PROBE_STEP * 16  # 1,024 probes, about 256 days


@dataclass(frozen=True)
class Bucket:
    """One row's time: ``date`` is the row's date, ``start`` its ``start`` text (hour
    buckets only), ``first`` its first instant; ``spans`` the [from, to) seconds it
    covers, ascending (one span, except where the zone's clock went back across it)."""

    date: date
    start: str | None
    first: int
    spans: tuple[tuple[int, int], ...]


def epoch_seconds(day: date | int) -> int:
    """The UTC midnight starting ``day`` (a date or a date ordinal), in epoch seconds."""
    ordinal = day if isinstance(day, int) else day.toordinal()
    return (ordinal - _EPOCH_ORDINAL) * DAY


def offset_at(zone: ZoneInfo, instant: int) -> int:
    """The zone's UTC offset at ``instant``, in seconds."""
    clamped = min(max(instant, _FIRST), _LAST)
    offset = (_EPOCH + timedelta(seconds=clamped)).astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


@lru_cache(maxsize=4096)
def _block_transitions(zone: ZoneInfo, block: int) -> tuple[int, ...]:
    """The instants in [block * _BLOCK, (block + 1) * _BLOCK) where the offset changes."""
    found: list[int] = []
    low = block * _BLOCK
    before = offset_at(zone, low - 1)
    for probe in range(low, low + _BLOCK + 1, PROBE_STEP):
        here = offset_at(zone, probe)
        if here == before:
            continue
        # The first second after probe - PROBE_STEP whose offset is not `before`.
        lo, hi = max(probe - PROBE_STEP, low - 1), probe
        while hi - lo > 1:
            middle = (lo + hi) // 2
            if offset_at(zone, middle) == before:
                lo = middle
            else:
                hi = middle
        if hi < low + _BLOCK:
            found.append(hi)
        before = here
    return tuple(found)


def transitions(zone: ZoneInfo, start: int, stop: int) -> list[int]:
    """The instants in [start, stop) where the zone's offset changes, ascending."""
    found: list[int] = []
    for block in range(start // _BLOCK, (stop - 1) // _BLOCK + 1):
        for instant in _block_transitions(zone, block):
            if start <= instant < stop:
                found.append(instant)
    return found


def local_text(instant: int, offset: int) -> str:
    """RFC 3339 local time with the offset (``±hh:mm``, ``±hh:mm:ss`` if it has seconds)."""
    local = instant + offset
    day = date.fromordinal(local // DAY + _EPOCH_ORDINAL)
    seconds = local % DAY
    sign = "-" if offset < 0 else "+"
    hours, rest = divmod(abs(offset), HOUR)
    minutes, secs = divmod(rest, 60)
    zone = f"{sign}{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")
    return (
        f"{day.year:04d}-{day.month:02d}-{day.day:02d}T{seconds // HOUR:02d}:"
        f"{seconds % HOUR // 60:02d}:{seconds % 60:02d}{zone}"
    )


_FIRST_ORDINAL = date.min.toordinal()
_LAST_ORDINAL = date.max.toordinal()


@lru_cache(maxsize=256)
def buckets(zone: ZoneInfo, width: str, start: date, end: date) -> tuple[Bucket, ...]:
    """The buckets of local dates ``start`` … ``end`` in ``zone``, by first instant."""
    if width not in ("hour", "day", "month"):
        raise ValueError(f"not a bucket width: {width}")
    # Every instant with a local date in the range lies in this window: offsets
    # stay within a day of UTC (the largest ever was under 16 hours).
    window_start = epoch_seconds(start) - 2 * DAY
    window_stop = epoch_seconds(end.toordinal() + 1) + 2 * DAY
    cuts = [window_start, *transitions(zone, window_start, window_stop), window_stop]
    unit = HOUR if width == "hour" else DAY
    first_ordinal, last_ordinal = start.toordinal(), end.toordinal()

    # (key, from, to, offset) runs of one key, in time order.
    runs: list[tuple[object, int, int, int]] = []
    for low, high in pairwise(cuts):
        offset = offset_at(zone, low)
        local = low + offset
        while local < high + offset:
            boundary = (local // unit + 1) * unit
            upto = min(boundary, high + offset)
            ordinal = local // DAY + _EPOCH_ORDINAL
            if first_ordinal <= ordinal <= last_ordinal:
                if width == "hour":
                    key: object = (ordinal, local % DAY // HOUR, offset)
                elif width == "day":
                    key = ordinal
                else:
                    month_day = date.fromordinal(ordinal)
                    key = (month_day.year, month_day.month)
                instant, until = local - offset, upto - offset
                if runs and runs[-1][0] == key and runs[-1][2] == instant:
                    runs[-1] = (key, runs[-1][1], until, runs[-1][3])
                else:
                    runs.append((key, instant, until, offset))
            local = upto

    grouped: dict[object, list[tuple[int, int, int]]] = {}
    for key, low, high, offset in runs:
        grouped.setdefault(key, []).append((low, high, offset))
    found: list[Bucket] = []
    for key, spans in grouped.items():
        first, _, offset = spans[0]
        if width == "hour":
            ordinal = key[0]  # type: ignore[index]
            day = date.fromordinal(ordinal)
            text: str | None = local_text(first, offset)
        elif width == "day":
            day, text = date.fromordinal(key), None  # type: ignore[arg-type]
        else:
            year, month = key  # type: ignore[misc]
            day, text = max(date(year, month, 1), start), None
        found.append(Bucket(day, text, first, tuple((low, high) for low, high, _ in spans)))
    found.sort(key=lambda bucket: bucket.first)
    return tuple(found)
