"""How an export is written: the JSON document and the CSV, byte for byte.

Credits are written from the exact integer sum (see :mod:`creditmeter.credits`),
so the same text appears in JSON and CSV and no float ever rounds it. The
server writes its answers here and the Python client writes ``to_json()`` and
``to_csv()`` here, so the two cannot drift apart. This module imports nothing
heavier than :mod:`json`: the client loads it without the server's stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import NamedTuple

from creditmeter.credits import format_micro

CSV_HEADER = "date,group,credits,requestCount\r\n"
_CSV_SPECIAL = frozenset(',"\r\n')


class ExportRow(NamedTuple):
    """One (day, group value) of an export, in exact micro-credits; ``group`` None is null.

    What the export reads, the writers write and the dashboard sums. The Python
    client gives its callers :class:`creditmeter.UsageRow` (credits as a Decimal)
    and hands the writers these.
    """

    date: date
    group: str | None
    credits_micro: int
    request_count: int


def usage_json(
    org_id: str, start_date: date, end_date: date, group_by: str, rows: Iterable[ExportRow]
) -> bytes:
    """The export document of ``rows``, compact, keys in the contract's order."""
    dump = json.dumps
    # A few days and group values repeat over many rows: write each once.
    days: dict[date, str] = {}
    groups: dict[str | None, str] = {}
    data = ",".join(
        f'{{"date":"{days.get(day) or days.setdefault(day, day.isoformat())}",'
        f'"group":{groups.get(group) or groups.setdefault(group, dump(group))},'
        f'"credits":{format_micro(micro)},"requestCount":{requests}}}'
        for day, group, micro, requests in rows
    )
    head = (
        f'{{"orgId":{dump(org_id)},"startDate":"{start_date.isoformat()}",'
        f'"endDate":"{end_date.isoformat()}","groupBy":{dump(group_by)},"data":['
    )
    return (head + data + "]}").encode("utf-8")


def usage_csv(rows: Iterable[ExportRow]) -> bytes:
    """The CSV of ``rows``: the header, then one CRLF-ended line per row.

    RFC 4180: CRLF line ends, quoting only where needed, an empty field for null.
    """
    lines = [CSV_HEADER]
    for day, group, micro, requests in rows:
        field = "" if group is None else _csv_field(group)
        lines.append(f"{day.isoformat()},{field},{format_micro(micro)},{requests}\r\n")
    return "".join(lines).encode("utf-8")


def _csv_field(value: str) -> str:
    if _CSV_SPECIAL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'
