"""How an export is written: the JSON document and the CSV, byte for byte.

Credits are written from the exact integer sum (see :mod:`creditmeter.credits`),
so the same text appears in JSON and CSV and no float ever rounds it. The
server writes its answers here and the Python client writes ``to_json()`` and
``to_csv()`` here, so the two cannot drift apart. This module imports nothing
heavier than :mod:`json`: the client loads it without the server's stack.

Both writers come in two forms: ``*_chunks`` yields the answer piece by piece
(the server streams it as rows are read), the plain function joins them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from creditmeter.credits import format_micro
from creditmeter.dimensions import BY_NAME

_CSV_SPECIAL = frozenset(',"\r\n')
#: Rows per chunk of a streamed answer: large enough that a chunk is worth a write.
ROWS_PER_CHUNK = 1000
#: Combinations of grouped values whose text (JSON or CSV) one answer keeps at once.
_GROUPS_KEPT = 4096


class ExportRow(NamedTuple):
    """One bucket and one combination of grouped values, in exact micro-credits.

    ``values`` has one entry per grouped dimension, in ``groupBy`` order (None is
    null); ``start`` is the bucket's first instant as written in hour rows (RFC
    3339, local time and offset), else None. What the export reads, the writers
    write and the dashboard sums. The Python client gives its callers
    :class:`creditmeter.UsageRow` (credits as a Decimal) and hands the writers these.
    """

    date: date
    values: tuple[str | None, ...]
    credits_micro: int
    request_count: int
    start: str | None = None

    @property
    def group(self) -> str | None:
        """The value of the one grouped dimension (None: null, or several are grouped)."""
        return self.values[0] if len(self.values) == 1 else None


@dataclass(frozen=True)
class ExportLayout:
    """What an export document says besides its rows, and which fields its rows have.

    ``group_by`` holds dimension names (``api_key``) in the request's order;
    ``time_zone`` and ``bucket_width`` are None when the request gave neither
    (the document then leaves both out); ``paged``: the document has ``nextPage``.
    """

    org_id: str
    start_date: date
    end_date: date
    group_by: tuple[str, ...]
    time_zone: str | None = None
    bucket_width: str | None = None
    paged: bool = False

    @property
    def hourly(self) -> bool:
        return self.bucket_width == "hour"

    @property
    def fields(self) -> tuple[str, ...]:
        """The row keys after ``date`` (and ``start``) and before ``credits``."""
        if len(self.group_by) == 1:
            return ("group",)
        return tuple(BY_NAME[name].field for name in self.group_by)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every row key, in order: the CSV header."""
        start = ("start",) if self.hourly else ()
        return ("date", *start, *self.fields, "credits", "requestCount")


def usage_json_chunks(
    layout: ExportLayout, rows: Iterable[ExportRow], next_page: str | None = None
) -> Iterator[bytes]:
    """The export document of ``rows``, compact, keys in the contract's order, in pieces."""
    dump = json.dumps
    head = (
        f'{{"orgId":{dump(layout.org_id)},"startDate":"{layout.start_date.isoformat()}",'
        f'"endDate":"{layout.end_date.isoformat()}","groupBy":{dump(",".join(layout.group_by))},'
    )
    if layout.time_zone is not None or layout.bucket_width is not None:
        head += (
            f'"timeZone":{dump(layout.time_zone or "UTC")},'
            f'"bucketWidth":{dump(layout.bucket_width or "day")},'
        )
    yield (head + '"data":[').encode("utf-8")
    # A few days and values repeat over many rows: write each once. A combination of
    # values too (a day of product x API key repeats the same few hundred); that
    # memory is bounded, as a streamed answer's must be.
    days: dict[date, str] = {}
    texts: dict[str | None, str] = {}
    groups: dict[tuple[str | None, ...], str] = {}

    def grouped(values: tuple[str | None, ...]) -> str:
        if len(groups) >= _GROUPS_KEPT:
            groups.clear()
        text = groups[values] = ",".join(
            name + (texts.get(value) or texts.setdefault(value, dump(value)))
            for name, value in zip(names, values, strict=True)
        )
        return text

    names = [f'"{name}":' for name in layout.fields]
    hourly, one = layout.hourly, len(names) == 1
    chunk: list[str] = []
    separator = ""  # before a chunk: a comma once rows were written
    for day, values, micro, requests, start in rows:
        if one and not hourly:  # the seed's rows: written inline, the common case
            value = values[0]
            chunk.append(
                f'{{"date":"{days.get(day) or days.setdefault(day, day.isoformat())}",'
                f'"group":{texts.get(value) or texts.setdefault(value, dump(value))},'
                f'"credits":{format_micro(micro)},"requestCount":{requests}}}'
            )
        else:
            day_text = days.get(day) or days.setdefault(day, day.isoformat())
            group_text = groups.get(values) or grouped(values)
            when = f'"date":"{day_text}","start":"{start}"' if hourly else f'"date":"{day_text}"'
            chunk.append(
                f'{{{when},{group_text},"credits":{format_micro(micro)},"requestCount":{requests}}}'
            )
        if len(chunk) >= ROWS_PER_CHUNK:
            yield (separator + ",".join(chunk)).encode("utf-8")
            separator, chunk = ",", []
    tail = "]" + (f',"nextPage":{dump(next_page)}' if layout.paged else "") + "}"
    yield ((separator + ",".join(chunk) if chunk else "") + tail).encode("utf-8")


def usage_json(
    layout: ExportLayout, rows: Iterable[ExportRow], next_page: str | None = None
) -> bytes:
    """The export document of ``rows``, whole."""
    return b"".join(usage_json_chunks(layout, rows, next_page))


def usage_csv_chunks(layout: ExportLayout, rows: Iterable[ExportRow]) -> Iterator[bytes]:
    """The CSV of ``rows``: the header, then one CRLF-ended line per row, in pieces.

    RFC 4180: CRLF line ends, quoting only where needed, an empty field for null.
    """
    lines = [",".join(layout.columns) + "\r\n"]
    hourly = layout.hourly
    days: dict[date, str] = {}
    groups: dict[tuple[str | None, ...], str] = {}  # as in usage_json_chunks
    for day, values, micro, requests, start in rows:
        fields = groups.get(values)
        if fields is None:
            if len(groups) >= _GROUPS_KEPT:
                groups.clear()
            fields = groups[values] = ",".join(
                "" if value is None else _csv_field(value) for value in values
            )
        text = days.get(day) or days.setdefault(day, day.isoformat())
        when = f"{text},{start}" if hourly else text
        lines.append(f"{when},{fields},{format_micro(micro)},{requests}\r\n")
        if len(lines) >= ROWS_PER_CHUNK:
            yield "".join(lines).encode("utf-8")
            lines = []
    yield "".join(lines).encode("utf-8")


def usage_csv(layout: ExportLayout, rows: Iterable[ExportRow]) -> bytes:
    """The CSV of ``rows``, whole."""
    return b"".join(usage_csv_chunks(layout, rows))


def _csv_field(value: str) -> str:
    if _CSV_SPECIAL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'
