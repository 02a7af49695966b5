"""The writers of an export stream it: a piece every ROWS_PER_CHUNK rows, whatever its shape.

A writer that held every row until the end would make a streamed answer's memory grow
with its size (edge case 19 of the local-time contract measures that through a server;
this checks each shape of row directly).
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from creditmeter.rendering import (
    ROWS_PER_CHUNK,
    ExportLayout,
    ExportRow,
    usage_csv,
    usage_csv_chunks,
    usage_json,
    usage_json_chunks,
)

SHAPES = [
    (("product",), None),
    (("product",), "hour"),
    (("product", "api_key"), None),
    (("product", "feature", "api_key", "file_type"), "hour"),
]


@pytest.mark.parametrize(("group_by", "width"), SHAPES)
def test_every_shape_is_written_in_pieces_of_rows(
    group_by: tuple[str, ...], width: str | None
) -> None:
    layout = ExportLayout(
        "org", date(2025, 1, 1), date(2025, 1, 31), group_by,
        time_zone="Europe/Berlin" if width else None, bucket_width=width,
    )  # fmt: skip
    count = 5 * ROWS_PER_CHUNK + 7
    rows = [
        ExportRow(
            date(2025, 1, 1) + timedelta(days=n % 31),
            tuple(f"v{n % 13}" if k else None for k in range(len(group_by))),
            n * 1_000_001,
            n,
            "2025-01-01T00:00:00+01:00" if width else None,
        )
        for n in range(count)
    ]
    json_pieces = list(usage_json_chunks(layout, rows))
    csv_pieces = list(usage_csv_chunks(layout, rows))
    # The head, one piece per ROWS_PER_CHUNK rows, the rest with the tail.
    assert len(json_pieces) == 1 + count // ROWS_PER_CHUNK + 1
    assert len(csv_pieces) == count // ROWS_PER_CHUNK + 1
    assert b"".join(json_pieces) == usage_json(layout, rows)
    assert b"".join(csv_pieces) == usage_csv(layout, rows)
