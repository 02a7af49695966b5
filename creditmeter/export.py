"""The Usage Export: its parameters, their rules, and the query over the rollups.

:func:`parse_query` turns the request's query items into an :class:`ExportQuery`
(checking in the contract's order and raising the first problem found);
:func:`run_export` checks membership and reads the rollups: the grouped
dimension's own rollup when no other dimension is filtered, else the full one.
The HTTP endpoint, the dashboard and the command line all read usage through
these two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from creditmeter.dimensions import DEFAULT_GROUP_BY, FILTERS, GROUP_BY
from creditmeter.directory import Directory, PersonalKey
from creditmeter.errors import (
    DuplicateParameter,
    Forbidden,
    InvalidParameter,
    RangeTooLong,
)
from creditmeter.rendering import ExportRow
from creditmeter.store import Store
from creditmeter.store import usage as sql
from creditmeter.strings import string_problem
from creditmeter.suggest import refuse_unknown, suggestion
from creditmeter.timestamps import parse_date

FORMATS = ("json", "csv")
#: startDate defaults to endDate minus this many days.
DEFAULT_SPAN_DAYS = 30

# The parameter table, in the order its values are checked.
SINGLE = ("startDate", "endDate", "groupBy", "orgId")
PARAMETERS = (*SINGLE, *FILTERS, "format")
_SINGLE_VALUED = frozenset((*SINGLE, "format"))

Format = Literal[FORMATS]  # type: ignore[valid-type]


@dataclass(frozen=True)
class ExportQuery:
    """A checked export request, defaults resolved except ``org_id`` (None: the key's)."""

    start_date: date
    end_date: date
    group_by: str = DEFAULT_GROUP_BY
    org_id: str | None = None
    #: rollup column → accepted values; a dimension absent here is not filtered.
    filters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    format: Format | None = None


@dataclass(frozen=True)
class ExportResult:
    org_id: str
    start_date: date
    end_date: date
    group_by: str
    rows: list[ExportRow]


def parse_query(
    items: Sequence[tuple[str, str]], *, today: date, max_range_days: int
) -> ExportQuery:
    """Check the query items in the contract's order and resolve defaults."""
    refuse_unknown((name for name, _ in items), PARAMETERS)

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
    end = _date("endDate", end_text) if end_text is not None else today

    group_by = single("groupBy") or DEFAULT_GROUP_BY
    if group_by not in GROUP_BY:
        raise InvalidParameter(
            f"'{group_by}' is not a groupBy value; use one of {', '.join(GROUP_BY)}."
            + suggestion(group_by, GROUP_BY),
            param="groupBy",
        )

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

    if start is None:
        # Near 0001-01-01 the default start stops at the first day there is.
        start = date.fromordinal(max(1, end.toordinal() - DEFAULT_SPAN_DAYS))
    if start > end:
        raise InvalidParameter(f"startDate {start} is after endDate {end}; swap them or move one.")
    days = (end - start).days + 1
    if days > max_range_days:
        raise RangeTooLong(
            f"The range {start} … {end} spans {days} days; the most this server exports at "
            f"once is {max_range_days} days. Split the range into shorter ones."
        )
    return ExportQuery(
        start_date=start,
        end_date=end,
        group_by=group_by,
        org_id=org_id,
        filters=filters,
        format=output,  # type: ignore[arg-type]
    )


def _date(name: str, text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as exc:
        raise InvalidParameter(f"'{name}': {exc}; write it as yyyy-mm-dd.", param=name) from None


def run_export(
    store: Store, directory: Directory, key: PersonalKey, query: ExportQuery
) -> ExportResult:
    """Read the usage the query asks for, as the key's user may see it.

    Membership is checked now, on every call: a user removed from an
    organization loses access at once. An organization that does not exist
    answers the same as one the user is not in.
    """
    org_id = query.org_id or key.org_id
    # One read transaction: the membership and the usage are read in one snapshot.
    with store.read() as connection:
        if not directory.is_member(org_id, key.user_id, connection):
            raise Forbidden(
                f"You are not a member of the organization '{org_id}'. Ask one of its admins "
                "to add you, or pass the orgId of an organization you belong to.",
                param="orgId" if query.org_id else None,
            )
        if set(query.filters) <= {query.group_by}:
            # Nothing but the grouped dimension is filtered: its own rollup answers,
            # one stored row per (day, value).
            found = sql.usage_by_day_of_dimension(
                connection,
                org_id=org_id,
                start=query.start_date,
                end=query.end_date,
                dimension=query.group_by,
                values=query.filters.get(query.group_by),
            )
        else:
            found = sql.usage_by_day(
                connection,
                org_id=org_id,
                start=query.start_date,
                end=query.end_date,
                group_by=query.group_by,
                filters=query.filters,
            )
    # The store answers in the export's order: by day, then group by UTF-8 bytes
    # with the null group ('' in the rollups) first.
    rows = [
        ExportRow(day, value or None, credits, requests) for day, value, credits, requests in found
    ]
    return ExportResult(
        org_id=org_id,
        start_date=query.start_date,
        end_date=query.end_date,
        group_by=query.group_by,
        rows=rows,
    )
