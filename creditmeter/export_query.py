"""The Usage Export's parameters and their rules: a request's query items → an ExportQuery.

:func:`parse_query` checks the items in the contract's order and raises the
first problem found (``export-api.md`` and ``export-time-and-dimensions.md``,
edge case 20). It resolves every default except the organization (None: the
key's), which :mod:`creditmeter.export` settles with the caller.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from creditmeter import cursors
from creditmeter.cursors import Cursor
from creditmeter.dimensions import DEFAULT_GROUP_BY, FILTERS, GROUP_BY
from creditmeter.errors import DuplicateParameter, InvalidParameter, RangeTooLong
from creditmeter.strings import string_problem
from creditmeter.suggest import refuse_unknown, suggestion
from creditmeter.timestamps import moment_of, parse_date
from creditmeter.zones import zone_named

FORMATS = ("json", "csv")
BUCKET_WIDTHS = ("hour", "day", "month")
#: startDate defaults to endDate minus this many days.
DEFAULT_SPAN_DAYS = 30
#: The most dimensions one export groups by.
MAX_GROUP_BY = 4
#: ``limit``'s bounds: fixed by the contract, not a setting, so one client fits every server.
MAX_LIMIT = 10_000
DEFAULT_TIME_ZONE = "UTC"
DEFAULT_BUCKET_WIDTH = "day"

# The parameter table, in the order its values are checked.
SINGLE = ("startDate", "endDate", "groupBy", "orgId")
TIME_AND_PAGES = ("timeZone", "bucketWidth", "limit", "page")
PARAMETERS = (*SINGLE, *FILTERS, "format", *TIME_AND_PAGES)
_SINGLE_VALUED = frozenset((*SINGLE, "format", *TIME_AND_PAGES))
#: Words people use for a parameter, for "Did you mean …?".
ALIASES = {
    "granularity": "bucketWidth",
    "bucket": "bucketWidth",
    "interval": "bucketWidth",
    "tz": "timeZone",
    "zone": "timeZone",
    "page_size": "limit",
    "per_page": "limit",
    "size": "limit",
    "cursor": "page",
    "nextPage": "page",
    "next_page": "page",
    "pageToken": "page",
}
_DIGITS = re.compile(r"[0-9]+")

Format = Literal[FORMATS]  # type: ignore[valid-type]


@dataclass(frozen=True)
class ExportQuery:
    """A checked export request, defaults resolved except ``org_id`` (None: the key's)."""

    start_date: date
    end_date: date
    #: Dimension names (store columns), in the request's order.
    group_by: tuple[str, ...] = (DEFAULT_GROUP_BY,)
    org_id: str | None = None
    #: rollup column → accepted values; a dimension absent here is not filtered.
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    format: Format | None = None
    #: As given (None: not given, UTC, not echoed).
    time_zone: str | None = None
    #: As given (None: not given, day, not echoed).
    bucket_width: str | None = None
    limit: int | None = None
    page: Cursor | None = None
    #: The dates the request left out (their defaults go into its cursors).
    defaulted_start: bool = False
    defaulted_end: bool = False

    @property
    def zone_name(self) -> str:
        return self.time_zone or DEFAULT_TIME_ZONE

    @property
    def width(self) -> str:
        return self.bucket_width or DEFAULT_BUCKET_WIDTH

    @property
    def echoes_time(self) -> bool:
        """Whether the document says ``timeZone`` and ``bucketWidth``."""
        return self.time_zone is not None or self.bucket_width is not None


def parse_query(
    items: Sequence[tuple[str, str]],
    *,
    today: datetime | date,
    max_range_days: int,
    max_hourly_range_days: int = 31,
    csv: bool = False,
) -> ExportQuery:
    """Check the query items in the contract's order and resolve defaults.

    ``today``: the moment of the request (a date is taken as its UTC midnight), whose
    date in ``timeZone`` is the default ``endDate``. ``csv``: the answer will be
    CSV (``format=csv`` is seen here; pass True when the Accept header chose it).
    """
    refuse_unknown((name for name, _ in items), PARAMETERS, ALIASES)

    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(name, []).append(value)
    for name in PARAMETERS:
        if name in _SINGLE_VALUED and len(values.get(name, ())) > 1:
            raise DuplicateParameter(
                f"'{name}' was given {len(values[name])} times; give it once.", param=name
            )

    def single(name: str) -> str | None:
        given = values.get(name)
        if given is None:
            return None
        if given[0] == "":
            raise InvalidParameter(f"'{name}' is empty; give a value or leave it out.", param=name)
        return given[0]

    start_text = single("startDate")
    start = _date("startDate", start_text) if start_text is not None else None
    end_text = single("endDate")
    end = _date("endDate", end_text) if end_text is not None else None

    group_text = single("groupBy")
    group_by = _group_by(group_text) if group_text is not None else (DEFAULT_GROUP_BY,)

    org_id = single("orgId")
    if org_id is not None and (problem := string_problem(org_id)) is not None:
        raise InvalidParameter(f"'orgId' {problem}.", param="orgId")

    filters: dict[str, tuple[str, ...]] = {}
    for name, column in FILTERS.items():
        given = values.get(name)
        if given is None:
            continue
        for value in given:
            problem = string_problem(value)
            if problem is not None:
                raise InvalidParameter(f"A '{name}' filter value {problem}.", param=name)
        filters[column] = tuple(dict.fromkeys(given))

    output = single("format")
    if output is not None and output not in FORMATS:
        raise InvalidParameter(f"'{output}' is not a format; use json or csv.", param="format")
    csv = csv or output == "csv"

    time_zone = single("timeZone")
    zone = zone_named(time_zone if time_zone is not None else DEFAULT_TIME_ZONE)

    bucket_width = single("bucketWidth")
    if bucket_width is not None and bucket_width not in BUCKET_WIDTHS:
        hint = next((w for w in BUCKET_WIDTHS if w == bucket_width.lower()), None)
        raise InvalidParameter(
            f"'{bucket_width}' is not a bucketWidth; use hour, day or month (lower case)."
            + (f" Did you mean '{hint}'?" if hint else ""),
            param="bucketWidth",
        )

    limit_text = single("limit")
    limit = _limit(limit_text) if limit_text is not None else None

    page_text = single("page")
    page: Cursor | None = None
    if page_text is not None:
        try:
            page = cursors.decode(page_text)
        except ValueError:
            raise InvalidParameter(
                "'page' is not a cursor of this server; pass the nextPage of the previous "
                "page as it was answered, or leave page out to start from the first page.",
                param="page",
            ) from None

    defaulted_start, defaulted_end = start is None, end is None
    if end is None:
        if page is not None and page.default_end is not None:
            end = page.default_end
        else:
            end = moment_of(today).astimezone(zone).date()
    if start is None:
        if page is not None and page.default_start is not None:
            start = page.default_start
        else:
            # Near 0001-01-01 the default start stops at the first day there is.
            start = date.fromordinal(max(1, end.toordinal() - DEFAULT_SPAN_DAYS))
    if start > end:
        raise InvalidParameter(f"startDate {start} is after endDate {end}; swap them or move one.")
    days = (end - start).days + 1
    hourly = bucket_width == "hour"
    most = max_hourly_range_days if hourly else max_range_days
    if days > most:
        what = "in hour buckets " if hourly else ""
        raise RangeTooLong(
            f"The range {start} … {end} spans {days} days; the most this server exports "
            f"{what}at once is {most} days. Split the range into shorter ones."
        )
    if csv and (limit is not None or page is not None):
        named = "limit" if limit is not None else "page"
        raise InvalidParameter(
            f"'{named}' pages a JSON answer; a CSV answer always comes whole (streamed). "
            f"Leave out limit and page, or ask for JSON.",
            param=named,
        )
    return ExportQuery(
        start_date=start,
        end_date=end,
        group_by=group_by,
        org_id=org_id,
        filters=filters,
        format=output,  # type: ignore[arg-type]
        time_zone=time_zone,
        bucket_width=bucket_width,
        limit=limit,
        page=page,
        defaulted_start=defaulted_start,
        defaulted_end=defaulted_end,
    )


def _date(name: str, text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InvalidParameter(f"'{name}': {exc}; write it as yyyy-mm-dd.", param=name) from None


def _group_by(text: str) -> tuple[str, ...]:
    """``groupBy``: 1 to 4 distinct dimension names joined by single commas (edge case 9)."""
    names = text.split(",")
    if len(names) == 1 and text not in GROUP_BY:
        # One name, as in the seed: the seed's message.
        raise InvalidParameter(
            f"'{text}' is not a groupBy value; use one of {', '.join(GROUP_BY)}."
            + suggestion(text, GROUP_BY),
            param="groupBy",
        )
    for position, name in enumerate(names, start=1):
        if name == "":
            raise InvalidParameter(
                f"groupBy '{text}' has an empty name at position {position}; join names "
                "with single commas, as in 'product,feature'.",
                param="groupBy",
            )
        if name != name.strip() or " " in name:
            raise InvalidParameter(
                f"groupBy '{text}' has a space in '{name}'; join names with commas and no "
                "spaces, as in 'product,feature'.",
                param="groupBy",
            )
        if name not in GROUP_BY:
            raise InvalidParameter(
                f"groupBy '{text}' names '{name}', which is not a dimension; use "
                f"{', '.join(GROUP_BY)}." + suggestion(name, GROUP_BY),
                param="groupBy",
            )
    if len(set(names)) < len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise InvalidParameter(
            f"groupBy '{text}' names '{twice}' twice; name each dimension once.",
            param="groupBy",
        )
    if len(names) > MAX_GROUP_BY:
        raise InvalidParameter(
            f"groupBy '{text}' names {len(names)} dimensions; group by at most {MAX_GROUP_BY}.",
            param="groupBy",
        )
    return tuple(names)


def _limit(text: str) -> int:
    """``limit``: ASCII digits, 1 … 10,000 (edge case 13)."""
    if _DIGITS.fullmatch(text) is None or not 1 <= int(text) <= MAX_LIMIT:
        shown = text if len(text) <= 20 else text[:20] + "…"
        raise InvalidParameter(
            f"'limit' must be a whole number from 1 to {MAX_LIMIT:,} written in digits; "
            f"got '{shown}'.",
            param="limit",
        )
    return int(text)


def query_fingerprint(query: ExportQuery, org_id: str) -> str:
    """What makes two requests pages of one query (edge case 16): the resolved
    organization, dates, groupBy (in order), zone, width, filter values as sets and limit."""
    return cursors.fingerprint(
        [
            org_id,
            query.start_date.isoformat(),
            query.end_date.isoformat(),
            list(query.group_by),
            query.zone_name,
            query.width,
            {column: sorted(values) for column, values in query.filters.items()},
            query.limit,
        ]
    )
