"""Property-based tests of the parsers every request goes through: dates, instants, queries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from creditmeter.errors import InvalidParameter
from creditmeter.export import PARAMETERS, parse_query
from creditmeter.timestamps import day_of_us, parse_date, parse_instant_us, us_of_datetime

TODAY = date(2026, 6, 15)


@given(st.dates())
def test_every_real_date_parses_back_to_itself(day: date) -> None:
    assert parse_date(day.isoformat()) == day


@given(st.text(max_size=12))
def test_a_date_parses_only_when_it_is_yyyy_mm_dd(text: str) -> None:
    try:
        parsed = parse_date(text)
    except ValueError:
        return
    assert parsed.isoformat() == text


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.none()
    ),
    offset_minutes=st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59),
    extra_digits=st.text(alphabet="0123456789", max_size=3),
    separator=st.sampled_from(["T", "t"]),
)
def test_instants_convert_to_utc_and_truncate_beyond_the_microsecond(
    moment: datetime, offset_minutes: int, extra_digits: str, separator: str
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = (
        f"{moment:%Y-%m-%d}{separator}{moment:%H:%M:%S}.{moment.microsecond:06d}{extra_digits}"
        f"{sign}{hours:02d}:{minutes:02d}"
    )
    expected = us_of_datetime(moment.replace(tzinfo=zone))
    assert parse_instant_us(text) == expected
    assert day_of_us(expected) == moment.replace(tzinfo=zone).astimezone(UTC).date()


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_instants_of_the_common_shape_read_as_the_full_path_reads_them(moment: datetime) -> None:
    """2026-05-19T14:03:11Z has its own quick path; it must agree with the pattern's."""
    moment = moment.replace(microsecond=0)
    text = moment.isoformat(timespec="seconds") + "Z"
    assert len(text) == 20
    assert parse_instant_us(text) == us_of_datetime(moment.replace(tzinfo=UTC))
    assert parse_instant_us(text) == parse_instant_us(text.replace("Z", "+00:00"))


@given(
    year=st.integers(0, 9999),
    # Each part just past its range now and then: month 13, day 32, hour 24, second 60.
    parts=st.tuples(
        st.integers(0, 13), st.integers(0, 32), *(st.integers(n - 2, n) for n in (25, 61, 61))
    ),
    changes=st.lists(
        st.tuples(st.integers(0, 19), st.sampled_from("0123456789٣:-+TtZz _ ")), max_size=3
    ),
)
def test_any_text_of_the_common_length_reads_as_the_full_path_reads_it(
    year: int, parts: tuple[int, int, int, int, int], changes: list[tuple[int, str]]
) -> None:
    """The quick path (hour cached, minutes and seconds looked up) takes nothing the
    pattern refuses and reads nothing differently: the same text with +00:00 for Z
    goes the full path."""
    month, day, hour, minute, second = parts
    text = list(f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z")
    for position, character in changes:
        text[position] = character
    quick = "".join(text)
    full = quick[:19] + "+00:00" if quick[19] == "Z" else quick
    try:
        expected: int | None = parse_instant_us(full)
    except ValueError:
        expected = None
    try:
        assert parse_instant_us(quick) == expected
    except ValueError:
        assert expected is None


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-19T24:00:00Z",
        "2026-05-19T23:60:00Z",
        "2026-05-19T23:59:60Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-05-19T1٣:03:11Z",
        "2026-05-19T+1:03:11Z",
        "2026-05-19T 1:03:11Z",
        "2026-05-19T1_:03:11Z",
        "2026-5-019T14:03:11Z",
        "2026-05-19X14:03:11Z",
    ],
)
def test_instants_of_the_common_shape_that_are_wrong_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant_us(text)


@given(
    moment=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)),
    breakage=st.sampled_from(["space", "no offset", "second 60", "hour 24", "one-digit day"]),
)
def test_instants_outside_rfc_3339_are_always_refused(moment: datetime, breakage: str) -> None:
    date_part, time_part = f"{moment:%Y-%m-%d}", f"{moment:%H:%M:%S}"
    text = {
        "space": f"{date_part} {time_part}Z",
        "no offset": f"{date_part}T{time_part}",
        "second 60": f"{date_part}T{moment:%H:%M}:60Z",
        "hour 24": f"{date_part}T24:{moment:%M:%S}Z",
        "one-digit day": f"{moment:%Y-%m}-{moment.day}T{time_part}Z",
    }[breakage]
    assume(breakage != "one-digit day" or moment.day < 10)
    with pytest.raises(ValueError):
        parse_instant_us(text)


names = st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=12))
values = st.one_of(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)).map(date.isoformat),
    st.sampled_from(["product", "feature", "api_key", "file_type", "json", "csv", ""]),
    st.text(max_size=20),
)


@given(st.lists(st.tuples(names, values), max_size=8))
def test_any_query_either_parses_or_is_one_clear_400(items: list[tuple[str, str]]) -> None:
    try:
        query = parse_query(items, today=TODAY, max_range_days=366)
    except InvalidParameter as error:
        assert error.status == 400
        assert error.message
        return
    assert query.start_date <= query.end_date
    assert (query.end_date - query.start_date).days < 366
    given_names = {name for name, _ in items}
    assert given_names <= set(PARAMETERS)


@pytest.mark.parametrize("span", [1, 31, 366])
def test_ranges_up_to_the_maximum_pass(span: int) -> None:
    start = date(2024, 1, 1)
    end = start + timedelta(days=span - 1)
    query = parse_query(
        [("startDate", start.isoformat()), ("endDate", end.isoformat())],
        today=TODAY,
        max_range_days=366,
    )
    assert (query.start_date, query.end_date) == (start, end)
