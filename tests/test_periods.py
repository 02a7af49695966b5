"""The named periods: what each means, pinned, and the same days on the dashboard and the CLI."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from creditmeter.export import parse_query
from creditmeter.periods import BY_DASHBOARD_RANGE, BY_NAME, PERIODS
from creditmeter.web.dashboard import selection

D = date


@pytest.mark.parametrize(
    ("name", "today", "expected"),
    [
        ("last-7-days", D(2026, 3, 3), (D(2026, 2, 25), D(2026, 3, 3))),
        ("last-30-days", D(2026, 3, 31), (D(2026, 3, 2), D(2026, 3, 31))),
        ("last-30-days", D(2026, 3, 3), (D(2026, 2, 2), D(2026, 3, 3))),
        ("last-90-days", D(2026, 3, 31), (D(2026, 1, 1), D(2026, 3, 31))),
        ("this-month", D(2026, 3, 17), (D(2026, 3, 1), D(2026, 3, 17))),
        ("this-month", D(2026, 3, 1), (D(2026, 3, 1), D(2026, 3, 1))),
        ("last-month", D(2026, 3, 17), (D(2026, 2, 1), D(2026, 2, 28))),
        ("last-month", D(2028, 3, 31), (D(2028, 2, 1), D(2028, 2, 29))),
        ("last-month", D(2026, 1, 1), (D(2025, 12, 1), D(2025, 12, 31))),
    ],
)
def test_each_period_means_exactly_these_days(
    name: str, today: date, expected: tuple[date, date]
) -> None:
    assert BY_NAME[name].dates(today) == expected


def test_the_last_n_days_are_n_days_ending_today() -> None:
    today = D(2026, 11, 29)
    for period in PERIODS:
        if period.days is None:
            continue
        first, last = period.dates(today)
        assert last == today
        assert (last - first).days + 1 == period.days
        assert period.name == f"last-{period.days}-days"
        assert period.meaning == f"the {period.days} days ending today, today included"


def test_last_30_days_is_one_day_shorter_than_the_exports_default_range() -> None:
    today = D(2026, 11, 29)
    default = parse_query([], today=today, max_range_days=366)
    first, last = BY_NAME["last-30-days"].dates(today)
    assert (default.end_date - default.start_date).days + 1 == 31
    assert (last, (last - first).days + 1) == (default.end_date, 30)


def test_the_dashboard_offers_every_period_by_its_range_with_its_label() -> None:
    assert {p.dashboard_range: p.label for p in PERIODS} == selection.PRESETS
    assert list(BY_DASHBOARD_RANGE) == ["7d", "30d", "90d", "this-month", "last-month"]
    assert list(BY_NAME) == [
        "last-7-days",
        "last-30-days",
        "last-90-days",
        "this-month",
        "last-month",
    ]


def test_the_dashboards_range_asks_the_export_for_the_periods_days_on_every_day_of_a_year() -> None:
    day = D(2027, 12, 25)
    while day <= D(2029, 1, 5):
        for period in PERIODS:
            asked = selection.read_url([("range", period.dashboard_range)], today=day)
            first, last = period.dates(day)
            dates = {name: value for name, value in asked.export_items if name.endswith("Date")}
            assert dates == {"startDate": first.isoformat(), "endDate": last.isoformat()}
        day += timedelta(days=1)
