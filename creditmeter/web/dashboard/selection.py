"""What the dashboard's URL asks to see, and the URLs that change one thing of it.

The page's URL holds the export API's own parameters (``orgId``, ``startDate``,
``endDate``, ``timeZone``, ``bucketWidth``, ``groupBy``, ``product``,
``feature``, ``apiKey``, ``fileType``) and two of the dashboard's:

- ``range``: a period of :mod:`creditmeter.periods` by its ``dashboard_range``
  (``7d``, ``30d``, ``90d``, ``this-month``, ``last-month``), turned into dates
  against today *in the URL's time zone* on every visit, so that a bookmark of
  "last 7 days" stays the last 7 days; or ``custom``, when
  ``startDate``/``endDate`` say the range. Without ``range``, dates in the URL
  mean ``custom`` and no dates mean ``30d``. A period wins over dates.
- ``metric``: ``credits`` (the default) or ``requests``, what the chart stacks.

:func:`read_url` takes those two out and hands everything else to
:func:`creditmeter.export.parse_query` unchanged, so the page accepts and
rejects exactly what the export API does, with the same messages.

``groupBy`` may list several dimensions, as in the API: the page groups by the
first and splits its table by the rest (``groupBy=product,feature``).
A URL without ``timeZone`` is first sent through the browser, which adds its
own zone (:func:`needs_zone`; see ``docs/dashboard.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from creditmeter.dimensions import DEFAULT_GROUP_BY, FILTERS, GROUP_BY
from creditmeter.errors import DuplicateParameter, InvalidParameter
from creditmeter.export_query import BUCKET_WIDTHS, DEFAULT_BUCKET_WIDTH, ExportQuery
from creditmeter.periods import BY_DASHBOARD_RANGE, PERIODS
from creditmeter.timestamps import moment_of
from creditmeter.zones import zone_named, zone_names

PAGE_PATH = "/dashboard"
CSV_PATH = "/dashboard/export"

#: The range buttons: each period's ``range`` value and label.
PRESETS = {period.dashboard_range: period.label for period in PERIODS}
CUSTOM = "custom"
DEFAULT_RANGE = "30d"
METRICS = {"credits": "Credits", "requests": "Requests"}
DEFAULT_METRIC = "credits"
#: The bucket-width buttons, in the export's order.
WIDTHS = {width: width.capitalize() for width in BUCKET_WIDTHS}
#: The zone a URL without one falls back to when the browser cannot say its own.
FALLBACK_ZONE = "UTC"
_DATES = ("startDate", "endDate")


def preset_dates(preset: str, today: date) -> tuple[date, date]:
    """The first and last day (inclusive) of a preset range, as seen on ``today``."""
    return BY_DASHBOARD_RANGE[preset].dates(today)


def needs_zone(items: Sequence[tuple[str, str]]) -> bool:
    """Whether the URL leaves the time zone to the browser (it names none)."""
    return not any(name == "timeZone" for name, _ in items)


def today_in(zone_name: str | None, now: datetime) -> date:
    """Today's date in the zone called ``zone_name`` at ``now``.

    A name that is not a zone counts as UTC here: the export's parser rejects it
    in its own order (an unknown parameter before it is reported first).
    """
    if zone_name is None or zone_name not in zone_names():
        return now.astimezone(UTC).date()
    return now.astimezone(zone_named(zone_name)).date()


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


def read_url(items: Sequence[tuple[str, str]], *, today: datetime | date) -> Asked:
    """Split the page's query items; InvalidParameter for a bad ``range`` or ``metric``.

    A preset range becomes the dates it means today in the URL's ``timeZone``;
    ``today`` is the moment of the request (a date stands for its UTC midnight),
    as for :func:`creditmeter.export_query.parse_query`.
    """
    now = moment_of(today)
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
    zones = [value for name, value in rest if name == "timeZone"]
    today = today_in(zones[0] if len(zones) == 1 else None, now)
    start, end = preset_dates(asked_range, today)
    dates = [("startDate", start.isoformat()), ("endDate", end.isoformat())]
    return Asked(asked_range, metric, dates + [item for item in rest if item[0] not in _DATES])


def refuse_pages(query: ExportQuery) -> None:
    """The page always shows a whole range: ``limit`` and ``page``, which page the
    API's JSON answer, are refused (after every check of the export's own)."""
    for name, given in (("limit", query.limit), ("page", query.page)):
        if given is not None:
            raise InvalidParameter(
                f"'{name}' pages the export API's JSON answer; the dashboard always shows "
                "the whole range. Leave out limit and page.",
                param=name,
            )


@dataclass(frozen=True)
class Selection:
    """What the page shows, written out in full: every link on it changes one thing.

    ``group_by`` holds dimension names (``api_key``), the first the one the chart
    stacks, the rest those the table splits each group by. ``filters`` is keyed
    by the export's parameter names (``apiKey``, not ``api_key``), in the
    export's parameter order. ``time_zone`` and ``bucket_width`` are always
    written in the page's URL, so a link shows the same days to everyone.
    """

    org_id: str
    range: str
    start_date: date
    end_date: date
    group_by: tuple[str, ...] = (DEFAULT_GROUP_BY,)
    time_zone: str = FALLBACK_ZONE
    bucket_width: str = DEFAULT_BUCKET_WIDTH
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
            group_by=query.group_by,
            time_zone=query.zone_name,
            bucket_width=query.width,
            metric=asked.metric,
            filters=filters,
        )

    @property
    def days(self) -> int:
        return (self.end_date - self.start_date).days + 1

    @property
    def group(self) -> str:
        """The dimension the chart stacks and the table's groups are of."""
        return self.group_by[0]

    @property
    def split(self) -> tuple[str, ...]:
        """The dimensions each group is split by in the table (none: empty)."""
        return self.group_by[1:]

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
        items += [
            ("timeZone", self.time_zone),
            ("bucketWidth", self.bucket_width),
            ("groupBy", ",".join(self.group_by)),
        ]
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
            ("groupBy", ",".join(self.group_by)),
            *self._filter_items(),
            ("timeZone", self.time_zone),
            ("bucketWidth", self.bucket_width),
        ]

    def url(self, **changes: object) -> str:
        """This page with ``changes`` applied (field names of this class)."""
        changed = replace(self, **changes) if changes else self  # type: ignore[arg-type]
        return f"{PAGE_PATH}?{urlencode(changed.params())}"

    def range_url(self, preset: str, *, today: date, max_hourly_days: int) -> str:
        """This page over a preset range; by day if the range is too long for hours."""
        start, end = preset_dates(preset, today)
        width = self.bucket_width
        if width == "hour" and (end - start).days + 1 > max_hourly_days:
            width = "day"
        return self.url(range=preset, bucket_width=width)

    def group_url(self, name: str) -> str:
        """Grouped by ``name``; a split by ``name`` becomes a split by the old group."""
        if name == self.group:
            return self.url()
        rest = tuple(self.group if split == name else split for split in self.split)
        return self.url(group_by=(name, *rest))

    def split_url(self, name: str | None) -> str:
        """Grouped as now, split by ``name`` (None: not split)."""
        return self.url(group_by=(self.group,) if name is None else (self.group, name))

    def org_url(self, org_id: str) -> str:
        """Another organization's usage: the same range, zone and grouping, no filters."""
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


def split_choices(chosen: Selection) -> list[str]:
    """The dimensions the table can be split by: every one but the group's."""
    return [name for name in GROUP_BY if name != chosen.group]
