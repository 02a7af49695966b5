"""What the dashboard's URL asks to see, and the URLs that change one thing of it.

The page's URL holds the export API's own parameters (``orgId``, ``startDate``,
``endDate``, ``groupBy``, ``product``, ``feature``, ``apiKey``, ``fileType``)
and two of the dashboard's:

- ``range``: a period of :mod:`creditmeter.periods` by its ``dashboard_range``
  (``7d``, ``30d``, ``90d``, ``this-month``, ``last-month``), turned into dates
  against today (UTC) on every visit, so that a bookmark of "last 7 days" stays
  the last 7 days; or ``custom``, when ``startDate``/``endDate`` say the range.
  Without ``range``, dates in the URL mean ``custom`` and no dates mean ``30d``.
  A period wins over dates.
- ``metric``: ``credits`` (the default) or ``requests``, what the chart stacks.

:func:`read_url` takes those two out and hands everything else to
:func:`creditmeter.export.parse_query` unchanged, so the page accepts and
rejects exactly what the export API does, with the same messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from urllib.parse import urlencode

from creditmeter.dimensions import FILTERS
from creditmeter.errors import DuplicateParameter, InvalidParameter
from creditmeter.export import ExportQuery
from creditmeter.periods import BY_DASHBOARD_RANGE, PERIODS

PAGE_PATH = "/dashboard"
CSV_PATH = "/dashboard/export"

#: The range buttons: each period's ``range`` value and label.
PRESETS = {period.dashboard_range: period.label for period in PERIODS}
CUSTOM = "custom"
DEFAULT_RANGE = "30d"
METRICS = {"credits": "Credits", "requests": "Requests"}
DEFAULT_METRIC = "credits"
_DATES = ("startDate", "endDate")


def preset_dates(preset: str, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of a preset range, as seen on ``today``."""
    return BY_DASHBOARD_RANGE[preset].dates(today)


@dataclass(frozen=True)
class Asked:
    """A dashboard URL, read: its range and metric, and the export query items."""

    range: str
    metric: str
    export_items: list[tuple[str, str]]


def _single(items: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in items if key == name]
    if len(values) > 1:
        raise DuplicateParameter(
            f"'{name}' was given {len(values)} times; give it once.", param=name
        )
    return values[0] if values else None


def read_url(items: Sequence[tuple[str, str]], *, today: date) -> Asked:
    """Split the page's query items; InvalidParameter for a bad ``range`` or ``metric``."""
    metric = _single(items, "metric") or DEFAULT_METRIC
    if metric not in METRICS:
        raise InvalidParameter(
            f"'{metric}' is not a metric; use {' or '.join(METRICS)}.", param="metric"
        )
    rest = [(name, value) for name, value in items if name not in ("range", "metric")]
    asked_range = _single(items, "range")
    if asked_range is None:
        asked_range = CUSTOM if any(name in _DATES for name, _ in rest) else DEFAULT_RANGE
    if asked_range == CUSTOM:
        return Asked(CUSTOM, metric, rest)
    if asked_range not in PRESETS:
        raise InvalidParameter(
            f"'{asked_range}' is not a range; use one of {', '.join(PRESETS)} or {CUSTOM}.",
            param="range",
        )
    start, end = preset_dates(asked_range, today)
    dates = [("startDate", start.isoformat()), ("endDate", end.isoformat())]
    return Asked(asked_range, metric, dates + [item for item in rest if item[0] not in _DATES])


@dataclass(frozen=True)
class Selection:
    """What the page shows, written out in full: every link on it changes one thing.

    ``filters`` is keyed by the export's parameter names (``apiKey``, not
    ``api_key``), in the export's parameter order.
    """

    org_id: str
    range: str
    start_date: date
    end_date: date
    group_by: str
    metric: str = DEFAULT_METRIC
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, asked: Asked, query: ExportQuery, org_id: str) -> Selection:
        """The selection an export ran with (``org_id`` resolved by the export)."""
        filters = {
            name: query.filters[column]
            for name, column in FILTERS.items()
            if column in query.filters
        }
        return cls(
            org_id=org_id,
            range=asked.range,
            start_date=query.start_date,
            end_date=query.end_date,
            group_by=query.group_by[0],
            metric=asked.metric,
            filters=filters,
        )

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    def _filter_items(self) -> list[tuple[str, str]]:
        return [(name, value) for name in FILTERS for value in self.filters.get(name, ())]

    def params(self) -> list[tuple[str, str]]:
        """The page URL's query items, in a fixed order."""
        items = [("orgId", self.org_id)]
        if self.range == CUSTOM:
            items += [
                ("startDate", self.start_date.isoformat()),
                ("endDate", self.end_date.isoformat()),
            ]
        else:
            items.append(("range", self.range))
        items.append(("groupBy", self.group_by))
        items += self._filter_items()
        if self.metric != DEFAULT_METRIC:
            items.append(("metric", self.metric))
        return items

    def export_params(self) -> list[tuple[str, str]]:
        """The export API's query items for the same selection (dates written out)."""
        return [
            ("orgId", self.org_id),
            ("startDate", self.start_date.isoformat()),
            ("endDate", self.end_date.isoformat()),
            ("groupBy", self.group_by),
            *self._filter_items(),
        ]

    def url(self, **changes: object) -> str:
        """This page with ``changes`` applied (field names of this class)."""
        changed = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        return f"{PAGE_PATH}?{urlencode(changed.params())}"

    def range_url(self, preset: str) -> str:
        return self.url(range=preset)

    def org_url(self, org_id: str) -> str:
        """Another organization's usage: the same range and grouping, no filters."""
        return self.url(org_id=org_id, filters={})

    def without_filter(self, name: str, value: str | None = None) -> str:
        """This page without one value of a filter, or without the whole filter."""
        kept = tuple(v for v in self.filters.get(name, ()) if value is not None and v != value)
        filters = {k: v for k, v in self.filters.items() if k != name}
        if kept:
            filters[name] = kept
        return self.url(filters=filters)

    def hidden(self, *drop: str) -> list[tuple[str, str]]:
        """The page's query items but ``drop``: the hidden inputs of a form that sets those."""
        return [(name, value) for name, value in self.params() if name not in drop]

    def csv_url(self) -> str:
        return f"{CSV_PATH}?{urlencode([*self.export_params(), ('format', 'csv')])}"
