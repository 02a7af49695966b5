"""What the client returns: an :class:`Export` of :class:`UsageRow`, a :class:`RecordResult`.

Credits are :class:`~decimal.Decimal` from the answer's text, never a float.
``to_json()`` and ``to_csv()`` are written by :mod:`creditmeter.rendering`, the
server's own writer, so they are byte-identical to the server's answers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from creditmeter.credits import to_micro
from creditmeter.record_result import RecordResult
from creditmeter.rendering import ExportLayout, ExportRow, usage_csv, usage_json

if TYPE_CHECKING:
    import pandas

PANDAS_MISSING = "to_dataframe() needs pandas, an optional extra: pip install 'creditmeter[pandas]'"


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One day and one group value: ``group`` None is usage without a value."""

    date: date
    group: str | None
    credits: Decimal
    request_count: int


@dataclass(frozen=True)
class Export:
    """An organization's usage per day and group, as the export API answered it.

    Iterating yields the :class:`UsageRow` of ``data``, in the API's order (date,
    then group in byte order, the null group first).
    """

    org_id: str
    start_date: date
    end_date: date
    group_by: str
    data: list[UsageRow] = field(default_factory=list)

    def __iter__(self) -> Iterator[UsageRow]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as dicts: ``date``, ``group``, ``credits`` (Decimal), ``request_count``."""
        return [
            {
                "date": row.date,
                "group": row.group,
                "credits": row.credits,
                "request_count": row.request_count,
            }
            for row in self.data
        ]

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The API's JSON document, byte-identical (as UTF-8); also written to ``path``."""
        return _written(usage_json(self._layout(), self._rows()), path)

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The API's CSV, byte-identical (as UTF-8); also written to ``path``."""
        return _written(usage_csv(self._layout(), self._rows()), path)

    def _layout(self) -> ExportLayout:
        return ExportLayout(
            self.org_id, self.start_date, self.end_date, tuple(self.group_by.split(","))
        )

    def to_dataframe(self) -> pandas.DataFrame:
        """A pandas DataFrame: ``date`` (datetime64), ``group`` (string), ``credits``
        (float64, for analysis: the exact values stay in ``data``), ``request_count`` (int64).
        """
        try:
            import pandas
        except ImportError as exc:
            raise ImportError(PANDAS_MISSING) from exc
        return pandas.DataFrame(
            {
                "date": pandas.to_datetime(
                    [row.date.isoformat() for row in self.data], format="%Y-%m-%d"
                ),
                "group": pandas.array([row.group for row in self.data], dtype="string"),
                "credits": pandas.array([float(row.credits) for row in self.data], dtype="float64"),
                "request_count": pandas.array(
                    [row.request_count for row in self.data], dtype="int64"
                ),
            }
        )

    def _rows(self) -> Iterator[ExportRow]:
        for row in self.data:
            yield ExportRow(row.date, (row.group,), to_micro(row.credits), row.request_count)


def _written(content: bytes, path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        Path(path).write_bytes(content)
    return content.decode("utf-8")


def parse_export(content: bytes) -> Export:
    """An :class:`Export` from the API's JSON document, credits exact."""
    document = json.loads(content, parse_float=Decimal)
    return Export(
        org_id=document["orgId"],
        start_date=date.fromisoformat(document["startDate"]),
        end_date=date.fromisoformat(document["endDate"]),
        group_by=document["groupBy"],
        data=[
            UsageRow(
                date=date.fromisoformat(row["date"]),
                group=row["group"],
                credits=Decimal(row["credits"]),
                request_count=int(row["requestCount"]),
            )
            for row in document["data"]
        ],
    )


def parse_record_result(content: bytes) -> RecordResult:
    """A :class:`RecordResult` of one batch from the ingest endpoint's answer."""
    return RecordResult.from_dict(json.loads(content))
