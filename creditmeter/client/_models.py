"""What the client returns: an :class:`Export` of :class:`UsageRow`, a :class:`RecordResult`,
a :class:`VoidResult`.

Credits are :class:`~decimal.Decimal` from the answer's text, never a float.
``to_json()`` and ``to_csv()`` are written by :mod:`creditmeter.rendering`, the
server's own writer, so they are byte-identical to the server's answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditmeter.credits import to_micro
from creditmeter.dimensions import BY_NAME
from creditmeter.record_result import RecordResult
from creditmeter.rendering import ExportLayout, ExportRow, usage_csv, usage_json
from creditmeter.void_result import VoidResult

if TYPE_CHECKING:
    import pandas

PANDAS_MISSING = "to_dataframe() needs pandas, an optional extra: pip install 'creditmeter[pandas]'"


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One bucket and one combination of grouped values, as the export API answered it.

    ``dimensions`` maps each grouped dimension's row field (``product``,
    ``feature``, ``apiKey``, ``fileType``) to its value, in ``groupBy`` order;
    None is usage without a value. ``group`` is that value when one dimension is
    grouped, and None when several are. ``start`` is the bucket's first instant
    (an aware :class:`~datetime.datetime` at the offset then in force) in an
    hourly export, else None.
    """

    date: date
    group: str | None
    credits: Decimal
    request_count: int
    start: datetime | None = None
    dimensions: Mapping[str, str | None] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Export:
    """An organization's usage per bucket and group, as the export API answered it.

    ``group_by`` is the text the server echoed (``"product"``, ``"product,api_key"``),
    ``grouped_by`` the same as a tuple of names. ``time_zone`` and
    ``bucket_width`` are what the server used, or None when the answer does not
    say (the request gave neither: UTC days). A page of
    :meth:`creditmeter.Client.export_pages` has ``paged`` True and ``next_page``,
    the cursor of the next one (None on the last page).

    Iterating yields the :class:`UsageRow` of ``data``, in the API's order (bucket,
    then each dimension's value in byte order, the null value first).
    """

    org_id: str
    start_date: date
    end_date: date
    group_by: str
    data: list[UsageRow] = field(default_factory=list)
    time_zone: str | None = None
    bucket_width: str | None = None
    next_page: str | None = None
    paged: bool = False

    def __iter__(self) -> Iterator[UsageRow]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def grouped_by(self) -> tuple[str, ...]:
        """The grouped dimensions' names (``("product", "api_key")``), in ``groupBy`` order."""
        return tuple(self.group_by.split(","))

    @property
    def columns(self) -> tuple[str, ...]:
        """The keys of :meth:`to_dicts` and the columns of :meth:`to_dataframe`.

        ``date``; ``start`` in an hourly export; ``group`` when one dimension is
        grouped, else one column per dimension named as in ``group_by``
        (``api_key``); then ``credits`` and ``request_count``.
        """
        start = ("start",) if self.bucket_width == "hour" else ()
        names = ("group",) if len(self.grouped_by) == 1 else self.grouped_by
        return ("date", *start, *names, "credits", "request_count")

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by :attr:`columns`, credits as exact Decimals."""
        return [dict(zip(self.columns, self._cells(row), strict=True)) for row in self.data]

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The API's JSON document, byte-identical (as UTF-8); also written to ``path``."""
        return _written(usage_json(self._layout(), self._rows(), self.next_page), path)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The API's CSV, byte-identical (as UTF-8); also written to ``path``."""
        return _written(usage_csv(self._layout(), self._rows()), path)

    def to_dataframe(self) -> pandas.DataFrame:
        """A pandas DataFrame with the :attr:`columns`: ``date`` (datetime64), ``start``
        (hourly exports: datetime64 in ``time_zone``), each dimension (string, ``<NA>``
        for null), ``credits`` (float64, for analysis: the exact values stay in
        ``data``), ``request_count`` (int64).
        """
        try:
            import pandas
        except ImportError as exc:
            raise ImportError(PANDAS_MISSING) from exc
        rows = [self._cells(row) for row in self.data]
        columns = self.columns
        frame: dict[str, Any] = {}
        for index, name in enumerate(columns):
            cells = [row[index] for row in rows]
            if name == "date":
                frame[name] = pandas.to_datetime(
                    [day.isoformat() for day in cells], format="%Y-%m-%d"
                )
            elif name == "start":
                instants = pandas.to_datetime(cells, utc=True)
                frame[name] = instants.tz_convert(_zone(self.time_zone))
            elif name == "credits":
                frame[name] = pandas.array([float(value) for value in cells], dtype="float64")
            elif name == "request_count":
                frame[name] = pandas.array(cells, dtype="int64")
            else:
                frame[name] = pandas.array(cells, dtype="string")
        return pandas.DataFrame(frame, columns=list(columns))

    def _cells(self, row: UsageRow) -> tuple[Any, ...]:
        """``row``'s values in the order of :attr:`columns`."""
        start = (row.start,) if self.bucket_width == "hour" else ()
        values = (row.group,) if len(self.grouped_by) == 1 else _values(row)
        return (row.date, *start, *values, row.credits, row.request_count)

    def _layout(self) -> ExportLayout:
        return ExportLayout(
            org_id=self.org_id,
            start_date=self.start_date,
            end_date=self.end_date,
            group_by=self.grouped_by,
            time_zone=self.time_zone,
            bucket_width=self.bucket_width,
            paged=self.paged,
        )

    def _rows(self) -> Iterator[ExportRow]:
        for row in self.data:
            start = None if row.start is None else row.start.isoformat()
            yield ExportRow(row.date, _values(row), to_micro(row.credits), row.request_count, start)


def _values(row: UsageRow) -> tuple[str | None, ...]:
    """The grouped values of ``row``; a row made by hand with only ``group`` has that one."""
    return tuple(row.dimensions.values()) if row.dimensions else (row.group,)


def _zone(name: str | None) -> Any:
    """The zone ``start`` is shown in: the server's (pinned tzdata), else UTC if unknown here."""
    from creditmeter.errors import InvalidParameter
    from creditmeter.zones import zone_named

    try:
        return zone_named(name or "UTC")
    except InvalidParameter:  # a zone newer than this installation's tzdata
        return "UTC"


def _written(content: bytes, path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        Path(path).write_bytes(content)
    return content.decode("utf-8")


def _field(name: str) -> str:
    """A dimension's row field (``api_key`` → ``apiKey``); an unknown name is its own."""
    dimension = BY_NAME.get(name)
    return name if dimension is None else dimension.field


def parse_export(content: bytes) -> Export:
    """An :class:`Export` (or a page of one) from the API's JSON document, credits exact."""
    document = json.loads(content, parse_float=Decimal)
    group_by: str = document["groupBy"]
    fields = tuple(_field(name) for name in group_by.split(","))
    single = len(fields) == 1
    hourly = document.get("bucketWidth") == "hour"
    # Many rows share a day or an hour: read each once.
    days: dict[str, date] = {}
    starts: dict[str, datetime] = {}
    data = []
    for row in document["data"]:
        values = (row["group"],) if single else tuple(row[key] for key in fields)
        day = row["date"]
        start = None
        if hourly:
            text = row["start"]
            start = starts.get(text) or starts.setdefault(text, datetime.fromisoformat(text))
        data.append(
            UsageRow(
                date=days.get(day) or days.setdefault(day, date.fromisoformat(day)),
                group=values[0] if single else None,
                credits=Decimal(row["credits"]),
                request_count=int(row["requestCount"]),
                start=start,
                dimensions=dict(zip(fields, values, strict=True)),
            )
        )
    return Export(
        org_id=document["orgId"],
        start_date=date.fromisoformat(document["startDate"]),
        end_date=date.fromisoformat(document["endDate"]),
        group_by=group_by,
        data=data,
        time_zone=document.get("timeZone"),
        bucket_width=document.get("bucketWidth"),
        next_page=document.get("nextPage"),
        paged="nextPage" in document,
    )


def parse_record_result(content: bytes) -> RecordResult:
    """A :class:`RecordResult` of one batch from the ingest endpoint's answer."""
    return RecordResult.from_dict(json.loads(content))


def parse_void_result(content: bytes) -> VoidResult:
    """A :class:`VoidResult` from the void endpoint's answer."""
    return VoidResult.from_dict(json.loads(content))
