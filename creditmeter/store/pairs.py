"""SQL for settling days: a day's pair rollups built from its quarter rollups, its
per-dimension rollups from those and its product quarter rollups, and its products'
running totals from its product quarter rollups.

Ingest and voids never write these; they count each change of a day in its daily
total (``changes``, ``changed_at_us``, see :mod:`.usage`). A day is settled when
what settling built for it was built at its current count (``pairs_changes``),
and the export reads it only then (:func:`.usage.usage_by_day`,
:func:`.usage.usage_by_quarter`). Building a day reads its rollups, so the
caller holds the organization's lock (exclusive) for it: no ingest or void of
the organization runs meanwhile.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from creditmeter.store.dialects import dialect_of
from creditmeter.store.usage import (
    _EPOCH_ORDINAL,
    _EVERY_PAIRED,
    PAIRED,
    QUARTERS_PER_DAY,
    DayKey,
    delete_settled,
)

_AMOUNTS = "sum(credits_micro), sum(request_count), sum(event_count)"


def unsettled_days(connection: Connection, changed_before_us: int, limit: int) -> list[DayKey]:
    """Up to ``limit`` (org_id, day) whose pairs are not current and that last changed
    before ``changed_before_us``, the longest unchanged first."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    rows = connection.exec_driver_sql(
        # The condition as the partial index states it, so that both stores use it.
        "SELECT day, org_id FROM usage_daily_totals WHERE changes <> pairs_changes "
        f"AND changed_at_us < {mark} ORDER BY changed_at_us, org_id, day LIMIT {int(limit)}",
        (changed_before_us,),
    ).all()
    return [(org_id, day) for day, org_id in dialect.read_days(rows)]


def settle_day(
    connection: Connection, org_id: str, day: date, changed_before_us: int
) -> int | None:
    """Settle one day: its pair rollups from its quarter rollups, its per-dimension
    rollups, and its products' running totals when it is dense enough, if the day is
    not settled and last changed before ``changed_before_us``; the number of pair rows
    written, or None when there was nothing to do (settled meanwhile, changed since,
    or no usage left). The caller holds the organization's lock."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    stored = dialect.bind_day(day)
    found = connection.exec_driver_sql(
        "SELECT changes, pairs_changes, changed_at_us FROM usage_daily_totals "
        f"WHERE org_id = {mark} AND day = {mark}",
        (org_id, stored),
    ).first()
    if found is None:
        return None
    changes, pairs_changes, changed_at_us = found
    if changes == pairs_changes or changed_at_us >= changed_before_us:
        return None
    delete_settled(connection, day, org_id)
    low = (day.toordinal() - _EPOCH_ORDINAL) * QUARTERS_PER_DAY
    where = f"FROM usage_quarter_rollups WHERE org_id = {mark} AND quarter >= {mark} "
    where += f"AND quarter < {mark}"
    parts: list[str] = []
    params: list[object] = []
    for dimension in PAIRED:
        parts.append(
            f"SELECT org_id, '{dimension}', {mark}, product, {dimension}, {_AMOUNTS} "
            f"{where} GROUP BY org_id, product, {dimension}"
        )
        params += [stored, org_id, low, low + QUARTERS_PER_DAY]
    written = connection.exec_driver_sql(
        "INSERT INTO usage_pair_rollups (org_id, dimension, day, product, value, "
        "credits_micro, request_count, event_count) " + " UNION ALL ".join(parts),
        tuple(params),
    ).rowcount
    _add_dimension_rollups(connection, org_id, stored, low)
    _add_running_totals(connection, org_id, day, low)
    connection.exec_driver_sql(
        f"UPDATE usage_daily_totals SET pairs_changes = {mark} WHERE org_id = {mark} "
        f"AND day = {mark}",
        (changes, org_id, stored),
    )
    return int(written)


def _add_dimension_rollups(connection: Connection, org_id: str, stored: object, low: int) -> None:
    """Write the day's per-dimension rollups: the product's from its product quarter
    rollups, each other dimension's from its pair rollups just written (a few hundred
    rows, where the quarters are about a row per event)."""
    mark = dialect_of(connection).mark
    connection.exec_driver_sql(
        "INSERT INTO usage_dimension_rollups (org_id, dimension, day, value, credits_micro, "
        f"request_count, event_count) SELECT org_id, 'product', {mark}, product, {_AMOUNTS} "
        f"FROM usage_product_quarter_rollups WHERE org_id = {mark} AND quarter >= {mark} "
        f"AND quarter < {mark} GROUP BY org_id, product UNION ALL SELECT org_id, dimension, "
        f"day, value, {_AMOUNTS} FROM usage_pair_rollups WHERE org_id = {mark} AND dimension "
        f"IN ({_EVERY_PAIRED}) AND day = {mark} GROUP BY org_id, dimension, day, value",
        (stored, org_id, low, low + QUARTERS_PER_DAY, org_id, stored),
    )


#: A day gets its products' running totals when they are at most this many times
#: its product quarter rows (a sparse day's few quarters are as quick to read).
_RUNNING_TOTALS_MOST = 4


def _add_running_totals(connection: Connection, org_id: str, day: date, low: int) -> None:
    """Write each product's running totals through the day's quarter hours (1-96),
    summed here from its product quarter rollups, if the day is dense enough."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    rows = connection.exec_driver_sql(
        "SELECT product, quarter, credits_micro, request_count, event_count "
        f"FROM usage_product_quarter_rollups WHERE org_id = {mark} AND quarter >= {mark} "
        f"AND quarter < {mark} ORDER BY product, quarter",
        (org_id, low, low + QUARTERS_PER_DAY),
    ).all()
    products = {row[0] for row in rows}
    if not rows or len(rows) * _RUNNING_TOTALS_MOST < QUARTERS_PER_DAY * len(products):
        return
    stored = dialect.bind_day(day)
    written: list[tuple[object, ...]] = []
    at = 0
    for product in sorted(products):
        credits = requests = events = 0
        for through in range(1, QUARTERS_PER_DAY + 1):
            # Add the quarter that ends at ``through`` if the product has it.
            while at < len(rows) and rows[at][0] == product and rows[at][1] - low < through:
                credits += rows[at][2]
                requests += rows[at][3]
                events += rows[at][4]
                at += 1
            written.append((org_id, stored, through, product, credits, requests, events))
    connection.exec_driver_sql(
        "INSERT INTO usage_product_running_totals (org_id, day, quarter, product, "
        f"credits_micro, request_count, event_count) VALUES ({', '.join([mark] * 7)})",
        written,
    )
