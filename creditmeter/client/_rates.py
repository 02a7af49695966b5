"""What :meth:`creditmeter.Client.rates` returns: the rate card in force, typed.

Rates are :class:`~decimal.Decimal` from the answer's text, never a float;
instants are aware UTC :class:`~datetime.datetime`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

RATES_PATH = "/api/v1/rates"


@dataclass(frozen=True, slots=True)
class RateRow:
    """One rate that prices the organization's events: ``feature`` None is the product's
    rate for any feature; ``source`` is ``"org"`` (the organization's own) or ``"global"``."""

    product: str
    feature: str | None
    unit: str
    credits_per_unit: Decimal
    effective_from: datetime
    source: str


@dataclass(frozen=True)
class RateCard:
    """An organization's rate card at an instant, as ``GET /api/v1/rates`` answered it."""

    org_id: str
    at: datetime
    rows: list[RateRow]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_rate_card(content: bytes) -> RateCard:
    """A :class:`RateCard` from the API's JSON document, rates exact."""
    document = json.loads(content, parse_float=Decimal)
    return RateCard(
        org_id=document["orgId"],
        at=_instant(document["at"]),
        rows=[
            RateRow(
                product=row["product"],
                feature=row["feature"],
                unit=row["unit"],
                credits_per_unit=Decimal(row["creditsPerUnit"]),
                effective_from=_instant(row["effectiveFrom"]),
                source=row["source"],
            )
            for row in document["data"]
        ],
    )
