"""How the rate card is written: its JSON and CSV, and a version's JSON object.

Rates are written as credits are (``1.0``, ``0.25``: exact, from integer
micro-credits), instants as UTC with ``Z`` (6 fractional digits when not a
whole second), a null feature as ``null`` in JSON and an empty field in CSV.
The server's answers and the command line's ``--json`` are written here, so
they cannot differ. The CSV follows the export's rules (RFC 4180, CRLF).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from creditmeter.credits import format_micro
from creditmeter.pricing import CardRow, RateVersion, instant_text
from creditmeter.rendering import _csv_field

CARD_COLUMNS = ("product", "feature", "unit", "creditsPerUnit", "effectiveFrom", "source")


def _row_json(row: CardRow) -> str:
    version, dump = row.version, json.dumps
    return (
        f'{{"product":{dump(version.product)},"feature":{dump(version.feature)},'
        f'"unit":{dump(version.unit)},'
        f'"creditsPerUnit":{format_micro(version.credits_per_unit_micro)},'
        f'"effectiveFrom":"{instant_text(version.effective_from_us)}",'
        f'"source":"{row.source}"}}'
    )


def card_rows_json(rows: Iterable[CardRow]) -> bytes:
    """The rows as a JSON array (``rates list --json``)."""
    return ("[" + ",".join(_row_json(row) for row in rows) + "]").encode("utf-8")


def card_json(org_id: str | None, at_us: int, rows: Iterable[CardRow]) -> bytes:
    """The document of ``GET /api/v1/rates``."""
    return (
        f'{{"orgId":{json.dumps(org_id)},"at":"{instant_text(at_us)}","data":'.encode()
        + card_rows_json(rows)
        + b"}"
    )


def card_csv(rows: Iterable[CardRow]) -> bytes:
    """The card as CSV: the header, then one CRLF-ended line per row."""
    lines = [",".join(CARD_COLUMNS) + "\r\n"]
    for row in rows:
        version = row.version
        fields = (
            _csv_field(version.product),
            "" if version.feature is None else _csv_field(version.feature),
            _csv_field(version.unit),
            format_micro(version.credits_per_unit_micro),
            instant_text(version.effective_from_us),
            row.source,
        )
        lines.append(",".join(fields) + "\r\n")
    return "".join(lines).encode("utf-8")


def version_json(version: RateVersion) -> str:
    """A version as the admin API writes it, every field of the table."""
    dump = json.dumps
    return (
        f'{{"id":{dump(version.id)},"orgId":{dump(version.org_id)},'
        f'"product":{dump(version.product)},"feature":{dump(version.feature)},'
        f'"unit":{dump(version.unit)},'
        f'"creditsPerUnit":{format_micro(version.credits_per_unit_micro)},'
        f'"effectiveFrom":"{instant_text(version.effective_from_us)}",'
        f'"createdAt":"{instant_text(version.created_at_us)}"}}'
    )


def versions_json(versions: Iterable[RateVersion]) -> bytes:
    """Versions as the admin list writes them: a bare array."""
    return ("[" + ",".join(version_json(v) for v in versions) + "]").encode("utf-8")
