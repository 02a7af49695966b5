"""The pieces of a UTC day hold every local day since 1980: each zone's local
midnight, in the pinned tz database, falls where a piece begins."""

from __future__ import annotations

from bisect import bisect_right
from importlib import resources
from zoneinfo import _common  # the TZif reader behind zoneinfo: read the raw transitions

from creditmeter.store.usage import PIECE_STARTS, QUARTERS_PER_DAY
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


def test_every_local_midnight_since_1980_begins_a_piece() -> None:
    starts = set(PIECE_STARTS)
    missing: dict[str, list[int]] = {}
    for name in sorted(zone_names()):
        for offset in _offsets_since_1980(name):
            assert offset % 900 == 0, (name, offset)
            # Local midnight is UTC midnight minus the offset.
            quarter_of_day = (-offset // 900) % QUARTERS_PER_DAY
            if quarter_of_day not in starts:
                missing.setdefault(name, []).append(offset)
    assert missing == {}


def test_pieces_are_every_hour_and_only_the_quarters_a_zone_needs() -> None:
    assert list(PIECE_STARTS) == sorted(set(PIECE_STARTS))
    assert set(range(0, QUARTERS_PER_DAY, 4)) <= set(PIECE_STARTS)
    needed = {
        (-offset // 900) % QUARTERS_PER_DAY
        for name in zone_names()
        for offset in _offsets_since_1980(name)
    }
    assert set(PIECE_STARTS) == needed | set(range(0, QUARTERS_PER_DAY, 4))
