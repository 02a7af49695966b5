"""Buckets of local time against the pinned tz database itself.

``creditmeter.buckets`` finds a zone's offset changes by probing its offset
every ``PROBE_STEP`` and bisecting each change to the second. That is only
right if no zone changes its offset twice within one step, so the first tests
read every zone file of the pinned ``tzdata`` package here (with
``zoneinfo._common.load_data``, and the POSIX TZ string of its footer expanded
by our own code) and check that, and that the probing finds exactly the file's
offset changes.

The properties then check the buckets against a brute force over instants:
every instant whose local date (by :mod:`zoneinfo`) is in the range lies in
exactly one bucket, the bucket of its key (local date; local date, clock hour
and offset; local month), and no other instant lies in any bucket.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo._common import load_data

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditmeter import buckets
from creditmeter.zones import zone_named, zone_names

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = 86_400


def epoch(day: date) -> int:
    """The UTC midnight starting ``day``, in seconds since 1970 (our own arithmetic)."""
    return (day - date(1970, 1, 1)).days * DAY


def year_of(instant: int) -> int:
    return (date(1970, 1, 1) + timedelta(days=instant // DAY)).year


# -- the zone files, read here ----------------------------------------------------------------


def _seconds(text: str) -> int:
    """A POSIX TZ time or offset, ``[+-]hh[:mm[:ss]]``, in seconds."""
    sign = -1 if text.startswith("-") else 1
    parts = [int(part) for part in text.lstrip("+-").split(":")]
    parts += [0] * (3 - len(parts))
    return sign * (parts[0] * 3600 + parts[1] * 60 + parts[2])


_NAME = r"(?:<[^>]+>|[A-Za-z]{3,})"
_OFFSET = r"[+-]?\d{1,2}(?::\d{2}){0,2}"
_TZ_STRING = re.compile(
    rf"^{_NAME}(?P<std>{_OFFSET})"
    rf"(?:{_NAME}(?P<dst>{_OFFSET})?,(?P<start>M[^,]+),(?P<end>M[^,]+))?$"
)
_RULE_DATE = re.compile(r"^M(\d{1,2})\.([1-5])\.([0-6])(?:/([+-]?\d{1,3}(?::\d{2}){0,2}))?$")


@dataclass(frozen=True)
class RuleDate:
    """``Mm.w.d/time``: the w-th (5: last) weekday d (0: Sunday) of month m, at local time."""

    month: int
    week: int
    weekday: int
    time: int

    @classmethod
    def parse(cls, text: str) -> RuleDate:
        found = _RULE_DATE.match(text)
        assert found, f"a TZ rule date this test does not know: {text}"
        month, week, weekday, time = found.groups()
        return cls(int(month), int(week), int(weekday), _seconds(time) if time else 7200)

    def local_second(self, year: int) -> int:
        """The local wall time of the change in ``year``, as seconds on a UTC-like clock."""
        first = date(year, self.month, 1)
        # POSIX counts weekdays from Sunday (0), Python from Monday (0).
        shift = ((self.weekday - 1) % 7 - first.weekday()) % 7
        day = first + timedelta(days=shift + 7 * (self.week - 1))
        while day.month != self.month:  # week 5: the last one
            day -= timedelta(days=7)
        return epoch(day) + self.time


@dataclass(frozen=True)
class Rule:
    """A footer's daylight-saving rule: offsets east of UTC, in seconds."""

    std: int
    dst: int
    start: RuleDate
    end: RuleDate

    def changes(self, year: int) -> list[tuple[int, int]]:
        """The (instant, offset after) of the rule's two changes in ``year``, ascending."""
        to_dst = self.start.local_second(year) - self.std
        to_std = self.end.local_second(year) - self.dst
        return sorted([(to_dst, self.dst), (to_std, self.std)])


@dataclass(frozen=True)
class ZoneFile:
    """What a TZif file says: its explicit transitions and the footer's rule or offset."""

    name: str
    before: int  # the offset before the first transition (time type 0, RFC 8536)
    explicit: tuple[tuple[int, int], ...]  # (instant, offset after)
    rule: Rule | None
    fixed_after: int | None  # the footer's offset when it has no rule


@cache
def zone_file(name: str) -> ZoneFile:
    path = resources.files("tzdata.zoneinfo").joinpath(*name.split("/"))
    with path.open("rb") as data:
        trans_idx, trans_utc, utcoff, _isdst, _abbr, tz_string = load_data(data)
    footer = tz_string.decode() if tz_string else ""
    found = _TZ_STRING.match(footer)
    assert found, f"{name}: a TZ string this test does not know: {footer!r}"
    std = -_seconds(found["std"])
    rule = fixed = None
    if found["start"]:
        dst = -_seconds(found["dst"]) if found["dst"] else std + 3600
        rule = Rule(std, dst, RuleDate.parse(found["start"]), RuleDate.parse(found["end"]))
    else:
        fixed = std
    return ZoneFile(
        name=name,
        before=utcoff[0],
        explicit=tuple((int(t), utcoff[i]) for t, i in zip(trans_utc, trans_idx, strict=True)),
        rule=rule,
        fixed_after=fixed,
    )


@cache
def offset_changes(name: str, last_year: int = 2400) -> tuple[tuple[int, int, int], ...]:
    """(instant, offset before, offset after) of every change of offset the file describes
    up to the end of ``last_year``: its transitions, then its footer's rule."""
    zone = zone_file(name)
    timeline = list(zone.explicit)
    if zone.rule is not None:
        last = timeline[-1][0] if timeline else None
        first_year = year_of(last) - 1 if last is not None else 1
        for year in range(max(first_year, 1), last_year + 1):
            for instant, offset in zone.rule.changes(year):
                if last is None or instant > last:
                    timeline.append((instant, offset))
    changes = []
    before = zone.before
    for instant, offset in timeline:
        if offset != before:
            changes.append((instant, before, offset))
        before = offset
    return tuple(changes)


def file_offset(name: str, instant: int) -> int:
    """The offset the file gives at ``instant``."""
    changes = offset_changes(name)
    index = bisect_left([change[0] for change in changes], instant + 1)
    return changes[index - 1][2] if index else zone_file(name).before


# -- (a) the probe step is safe ------------------------------------------------------------


def test_every_zone_file_is_read() -> None:
    """The reading above knows every zone's footer, and agrees with zoneinfo's offsets."""
    for name in sorted(zone_names()):
        zone_file(name)
    for name in ("Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Lord_Howe"):
        with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as data:
            zone = ZoneInfo.from_file(data)
        for year in (1900, 1950, 1980, 2025, 2026, 2100, 2399):
            for month in range(1, 13):
                instant = epoch(date(year, month, 7)) + 12_345
                local = (EPOCH + timedelta(seconds=instant)).astimezone(zone)
                assert local.utcoffset() == timedelta(seconds=file_offset(name, instant)), (
                    name,
                    year,
                    month,
                )


def test_no_zone_changes_offset_twice_within_the_probe_step() -> None:
    """Between two probes at most one change, in every zone of the pinned database, over a
    full 400-year cycle of its rule (so every year to 9999 is covered)."""
    assert buckets.PROBE_STEP > 0
    too_close = []
    for name in sorted(zone_names()):
        zone = zone_file(name)
        last = zone.explicit[-1][0] if zone.explicit else 0
        changes = offset_changes(name, max(year_of(last), 1970) + 401)
        for earlier, later in pairwise(changes):
            if later[0] - earlier[0] < buckets.PROBE_STEP:
                too_close.append((name, earlier, later))
    assert too_close == []


SAMPLE_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Africa/Monrovia",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "Africa/Casablanca",
    "Europe/Dublin",
    "Antarctica/Troll",
    "America/Santiago",
    "Asia/Gaza",
    "Asia/Jerusalem",
    "America/Nuuk",
    "Pacific/Chatham",
    "America/Havana",
    "America/Asuncion",
    "Asia/Tehran",
    "Australia/Adelaide",
    "Europe/Moscow",
    "Asia/Kolkata",
    "Europe/London",
    "America/Scoresbysund",
    "Africa/Cairo",
    "America/St_Johns",
    "Pacific/Kwajalein",
    "Antarctica/Casey",
    "Australia/Eucla",
    "Asia/Manila",
    "US/Eastern",
    "Etc/GMT+5",
    "UTC",
]


@pytest.mark.parametrize("name", SAMPLE_ZONES)
def test_transitions_are_the_files_offset_changes(name: str) -> None:
    """1970 to 2037: ``transitions`` finds exactly the file's changes of offset, to the second."""
    low, high = epoch(date(1970, 1, 1)), epoch(date(2038, 1, 1))
    expected = [instant for instant, _, _ in offset_changes(name) if low <= instant < high]
    assert buckets.transitions(zone_named(name), low, high) == expected


@pytest.mark.parametrize(
    ("name", "first", "last"),
    [
        ("Africa/Monrovia", date(1880, 1, 1), date(1973, 1, 1)),  # -00:43:08, -00:44:30, 0
        ("Europe/Berlin", date(1890, 1, 1), date(1950, 1, 1)),  # LMT +00:53:28, the wars
        ("America/New_York", date(2390, 1, 1), date(2400, 1, 1)),  # the rule, far ahead
        ("Australia/Lord_Howe", date(9990, 1, 1), date(9999, 12, 30)),  # to the last day
        ("Asia/Tokyo", date(1, 1, 2), date(3, 1, 1)),  # the first days there are
    ],
)
def test_transitions_far_from_now(name: str, first: date, last: date) -> None:
    low, high = epoch(first), epoch(last)
    if year_of(high) > 2400:
        expected = [
            instant
            for year in range(first.year, last.year + 1)
            for instant, _ in zone_file(name).rule.changes(year)  # type: ignore[union-attr]
            if low <= instant < high
        ]
    else:
        expected = [instant for instant, _, _ in offset_changes(name) if low <= instant < high]
    assert buckets.transitions(zone_named(name), low, high) == expected


# -- (b) the buckets against a brute force over instants -----------------------------------


def key_at(zone: ZoneInfo, width: str, start: date, end: date, instant: int) -> Any:
    """The bucket key of ``instant`` by zoneinfo, or None when its local date is not in range."""
    local = (EPOCH + timedelta(seconds=instant)).astimezone(zone)
    day = local.date()
    if not start <= day <= end:
        return None
    if width == "day":
        return day
    if width == "month":
        return (day.year, day.month)
    return (day, local.hour, local.utcoffset())


def check_buckets(name: str, width: str, start: date, end: date, grid: int) -> None:
    zone = zone_named(name)
    found = buckets.buckets(zone, width, start, end)

    def key(instant: int) -> Any:
        return key_at(zone, width, start, end, instant)

    # Ordered by first instant; spans ascending and apart; buckets disjoint.
    firsts = [bucket.first for bucket in found]
    assert firsts == sorted(set(firsts))
    owner: list[tuple[int, int, int]] = []  # (from, to, bucket index)
    keys = []
    for index, bucket in enumerate(found):
        assert bucket.spans, bucket
        assert bucket.first == bucket.spans[0][0]
        for (_, high), (low, _) in pairwise(bucket.spans):
            assert high < low, bucket  # two spans of one bucket are apart
        bucket_key = key(bucket.first)
        assert bucket_key is not None, bucket
        keys.append(bucket_key)
        for low, high in bucket.spans:
            assert low < high, bucket
            # Exactly the instants of the key: the same at both ends, another outside them.
            assert key(low) == bucket_key, (bucket, low)
            assert key(high - 1) == bucket_key, (bucket, high)
            assert key(low - 1) != bucket_key, (bucket, low)
            assert key(high) != bucket_key, (bucket, high)
            owner.append((low, high, index))
        local = (EPOCH + timedelta(seconds=bucket.first)).astimezone(zone)
        if width == "month":
            assert bucket.date == max(local.date().replace(day=1), start)
        else:
            assert bucket.date == local.date()
        if width == "hour":
            assert bucket.start == local.isoformat()
        else:
            assert bucket.start is None
    assert len(set(keys)) == len(keys)
    owner.sort()
    for (_, high, _), (low, _, _) in pairwise(owner):
        assert high <= low, "two buckets share instants"

    # Every instant on a grid: in the bucket of its key, or in none when it has none.
    by_key = dict(zip(keys, range(len(keys)), strict=True))
    starts = [low for low, _, _ in owner]
    window = range(epoch(start) - 2 * DAY, epoch(end + timedelta(days=1)) + 2 * DAY, grid)
    for instant in window:
        expected = key(instant)
        at = bisect_left(starts, instant + 1) - 1
        inside = at >= 0 and instant < owner[at][1]
        if expected is None:
            assert not inside, (instant, found[owner[at][2]])
        else:
            assert inside, (instant, expected)
            assert owner[at][2] == by_key[expected], (instant, expected)


INTERESTING_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Africa/Monrovia",
    "Pacific/Apia",
    "Pacific/Kiritimati",
    "Europe/Dublin",
    "Antarctica/Troll",
    "America/Santiago",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "Etc/GMT+5",
    "UTC",
]
LONGEST = {"hour": 2, "day": 6, "month": 75}
GRID = {"hour": 97, "day": 331, "month": 1_201}


@st.composite
def ranges(draw: st.DrawFn) -> tuple[str, str, date, date]:
    """A zone, a width and a range of local dates, often around one of the zone's changes."""
    name = draw(
        st.one_of(st.sampled_from(INTERESTING_ZONES), st.sampled_from(sorted(zone_names())))
    )
    width = draw(st.sampled_from(["hour", "day", "month"]))
    low, high = epoch(date(1800, 1, 1)), epoch(date(2200, 1, 1))
    near = [instant for instant, _, _ in offset_changes(name) if low <= instant < high]
    if near and draw(st.integers(0, 3)):
        instant = draw(st.sampled_from(near))
        start = date(1970, 1, 1) + timedelta(days=instant // DAY + draw(st.integers(-3, 1)))
    else:
        start = draw(
            st.one_of(
                st.dates(date(1800, 1, 1), date(2200, 12, 31)),
                st.dates(date(2, 1, 1), date(9998, 12, 31)),
            )
        )
    end = start + timedelta(days=draw(st.integers(0, LONGEST[width])))
    return name, width, start, end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ranges())
def test_buckets_partition_the_range_by_key(case: tuple[str, str, date, date]) -> None:
    name, width, start, end = case
    check_buckets(name, width, start, end, GRID[width])


# -- the contract's examples ------------------------------------------------------------------


def starts(name: str, day: date) -> list[str | None]:
    return [bucket.start for bucket in buckets.buckets(zone_named(name), "hour", day, day)]


def test_edge_4_half_hour_shifts_lord_howe() -> None:
    back = starts("Australia/Lord_Howe", date(2025, 4, 6))
    assert back[1:3] == ["2025-04-06T01:00:00+11:00", "2025-04-06T01:30:00+10:30"]
    forward = starts("Australia/Lord_Howe", date(2025, 10, 5))
    assert forward[1:3] == ["2025-10-05T01:00:00+10:30", "2025-10-05T02:30:00+11:00"]
    check_buckets("Australia/Lord_Howe", "hour", date(2025, 4, 5), date(2025, 4, 6), 1)


def test_fall_back_hour_is_two_buckets_berlin() -> None:
    hours = starts("Europe/Berlin", date(2026, 10, 25))
    assert len(hours) == 25
    assert hours[2:4] == ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"]
    spring = starts("Europe/Berlin", date(2026, 3, 29))
    assert len(spring) == 23
    assert spring[1:3] == ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00"]


def test_edge_2_offsets_to_the_second_monrovia() -> None:
    assert starts("Africa/Monrovia", date(1971, 6, 1))[0] == "1971-06-01T00:00:00-00:44:30"
    assert starts("UTC", date(2026, 1, 1))[0] == "2026-01-01T00:00:00+00:00"
    check_buckets("Africa/Monrovia", "hour", date(1972, 1, 6), date(1972, 1, 7), 7)


def test_edge_3_day_without_a_midnight_sao_paulo() -> None:
    (day,) = buckets.buckets(
        zone_named("America/Sao_Paulo"), "day", date(2018, 11, 4), date(2018, 11, 4)
    )
    assert day.first == epoch(date(2018, 11, 4)) + 3 * 3600  # 01:00-02:00
    assert day.spans == ((day.first, day.first + 23 * 3600),)
    assert starts("America/Sao_Paulo", date(2018, 11, 4))[0] == "2018-11-04T01:00:00-02:00"


def test_edge_8_month_clipping() -> None:
    months = buckets.buckets(
        zone_named("Europe/Berlin"), "month", date(2026, 1, 15), date(2026, 3, 10)
    )
    assert [bucket.date for bucket in months] == [
        date(2026, 1, 15),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert months[0].first == epoch(date(2026, 1, 15)) - 3600
    assert months[2].spans[-1][1] == epoch(date(2026, 3, 11)) - 3600


def test_edge_7_calendar_edges() -> None:
    """The first local day in a zone east of UTC and the last one west of it, whose
    instants zoneinfo cannot name: by the file's offsets."""
    tokyo_lmt = zone_file("Asia/Tokyo").before
    hours = buckets.buckets(zone_named("Asia/Tokyo"), "hour", date(1, 1, 1), date(1, 1, 1))
    assert len(hours) == 24
    assert hours[0].first == epoch(date(1, 1, 1)) - tokyo_lmt
    assert hours[0].start == "0001-01-01T00:00:00+09:18:59"
    assert hours[-1].spans[-1][1] == epoch(date(1, 1, 2)) - tokyo_lmt
    for name in ("Etc/GMT+12", "America/New_York", "Pacific/Kiritimati"):
        rule = zone_file(name).rule  # in December, standard time north of the equator
        offset = rule.std if rule else file_offset(name, epoch(date(9999, 12, 31)))
        (last,) = buckets.buckets(zone_named(name), "day", date(9999, 12, 31), date(9999, 12, 31))
        assert last.spans == (
            (epoch(date(9999, 12, 31)) - offset, epoch(date(9999, 12, 31)) + DAY - offset),
        )


def split_days() -> list[tuple[str, int]]:
    """Every change of the database (to 2100) that sets the clock back over a midnight, to
    a time that is not midnight: the day before it then has two spans of instants."""
    found = []
    for name in sorted(zone_names()):
        for instant, before, after in offset_changes(name, 2100):
            earlier, later = instant + before, instant + after
            if later // DAY < earlier // DAY and earlier % DAY and later % DAY:
                found.append((name, instant))
    return found


def test_days_split_by_a_clock_going_back_over_midnight() -> None:
    cases = split_days()
    assert len(cases) > 50  # Alaska's 1867 day, Goose Bay's 00:01 changes, ...
    for name, instant in cases:
        day = date(1970, 1, 1) + timedelta(days=instant // DAY)
        for width in ("hour", "day"):
            check_buckets(name, width, day - timedelta(days=1), day + timedelta(days=1), 293)
