"""How an export is written: the JSON document and the CSV, byte for byte.

Credits are written from the exact integer sum (see :mod:`creditmeter.credits`),
so the same text appears in JSON and CSV and no float ever rounds it.
"""

from __future__ import annotations

import json

from creditmeter.credits import format_micro
from creditmeter.export import ExportResult

CSV_HEADER = "date,group,credits,requestCount\r\n"
_CSV_SPECIAL = frozenset(',"\r\n')


def export_json(result: ExportResult) -> bytes:
    """The export document, exactly as the contract shows it."""
    dump = json.dumps
    rows = ",".join(
        f'{{"date":"{row.date.isoformat()}","group":{dump(row.group)},'
        f'"credits":{format_micro(row.credits_micro)},"requestCount":{row.request_count}}}'
        for row in result.rows
    )
    head = (
        f'{{"orgId":{dump(result.org_id)},"startDate":"{result.start_date.isoformat()}",'
        f'"endDate":"{result.end_date.isoformat()}","groupBy":{dump(result.group_by)},"data":['
    )
    return (head + rows + "]}").encode("utf-8")


def _csv_field(value: str) -> str:
    if _CSV_SPECIAL.isdisjoint(value):
        return value
    return '"' + value.replace('"', '""') + '"'


def export_csv(result: ExportResult) -> bytes:
    """RFC 4180 CSV: CRLF line ends, quoting only where needed, empty field for null."""
    lines = [CSV_HEADER]
    for row in result.rows:
        group = "" if row.group is None else _csv_field(row.group)
        lines.append(
            f"{row.date.isoformat()},{group},{format_micro(row.credits_micro)},{row.request_count}\r\n"
        )
    return "".join(lines).encode("utf-8")
