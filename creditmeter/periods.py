"""The named periods a person picks instead of two dates: the last 7 days, last month, …

A period is a range of whole UTC days that moves with today, so that "the
last 7 days" asked tomorrow is tomorrow's last 7 days. ``creditmeter export
--period`` and the dashboard's range buttons both turn a period into the
export's ``startDate`` and ``endDate`` here, so the two give the same days::

    last-7-days    the 7 days ending today, today included
    last-30-days   the 30 days ending today, today included
    last-90-days   the 90 days ending today, today included
    this-month     the 1st of this month through today
    last-month     the whole of last month, 1st to last day

Not the export's own default range, which is 31 days (``endDate`` minus 30
days through ``endDate``); see the export API spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Period:
    """A named range of whole days, as seen on a given day."""

    #: The word ``creditmeter export --period`` takes (``last-7-days``).
    name: str
    #: The dashboard URL's ``range`` value (``7d``), kept short for URLs people bookmark.
    dashboard_range: str
    #: What a button or a table title says: ``Last 7 days``.
    label: str
    #: Exactly which days, in words, for help texts.
    meaning: str
    #: The last ``days`` days, today included; None for a calendar month.
    days: int | None = None
    #: For a calendar month: True for last month, False for this month so far.
    previous_month: bool = False

    def dates(self, today: date) -> tuple[date, date]:
        """The first and last day (both included) of this period on ``today``."""
        if self.days is not None:
            return today - timedelta(days=self.days - 1), today
        first_of_this_month = today.replace(day=1)
        if not self.previous_month:
            return first_of_this_month, today
        last_of_previous = first_of_this_month - timedelta(days=1)
        return last_of_previous.replace(day=1), last_of_previous


def _last_days(days: int) -> Period:
    return Period(
        name=f"last-{days}-days",
        dashboard_range=f"{days}d",
        label=f"Last {days} days",
        meaning=f"the {days} days ending today, today included",
        days=days,
    )


#: Every period, in the order they are offered.
PERIODS: tuple[Period, ...] = (
    _last_days(7),
    _last_days(30),
    _last_days(90),
    Period("this-month", "this-month", "This month", "the 1st of this month through today"),
    Period(
        "last-month",
        "last-month",
        "Last month",
        "the whole of last month, 1st to last day",
        previous_month=True,
    ),
)
BY_NAME = {period.name: period for period in PERIODS}
BY_DASHBOARD_RANGE = {period.dashboard_range: period for period in PERIODS}
