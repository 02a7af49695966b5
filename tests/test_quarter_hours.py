"""Why quarter-hour rollups answer every zone: since 1980 every offset of every
zone in the pinned tz database is a whole number of quarter hours, so every local
day and hour since then begins on a UTC quarter hour (decision 0008)."""

from __future__ import annotations

from bisect import bisect_right
from importlib import resources
from zoneinfo import _common  # the TZif reader behind zoneinfo: read the raw transitions

from creditmeter.zones import zone_names

#: 1980-01-01T00:00:00Z
SINCE = 315_532_800


def _offsets_since_1980(name: str) -> set[int]:
    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
        indices, instants, offsets, _dst, _names, _rule = _common.load_data(data)
    at = bisect_right(instants, SINCE) - 1
    found = {offsets[indices[at]] if at >= 0 else offsets[0]}
    found |= {
        offsets[index] for instant, index in zip(instants, indices, strict=True) if instant >= SINCE
    }
    return found


def test_every_offset_since_1980_is_whole_quarter_hours() -> None:
    odd = {
        name: sorted(offset for offset in _offsets_since_1980(name) if offset % 900)
        for name in zone_names()
    }
    assert {name: found for name, found in odd.items() if found} == {}


def test_local_midnights_since_1980_fall_on_44_utc_minutes_of_the_day() -> None:
    """The census decision 0008 quotes: 24 on the hour, 20 on :15 or :30."""
    minutes = {
        (-offset // 60) % 1440 for name in zone_names() for offset in _offsets_since_1980(name)
    }
    assert len(minutes) == 44
    assert {minute % 60 for minute in minutes} == {0, 15, 30}
    assert len([minute for minute in minutes if minute % 60]) == 20
