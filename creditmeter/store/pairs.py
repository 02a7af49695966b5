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
        # The organization bound, not grouped: the sort is the statement's cost, and
        # a shorter key makes it a fifth quicker.
        parts.append(
            f"SELECT {mark}, '{dimension}', {mark}, product, {dimension}, {_AMOUNTS} "
            f"{where} GROUP BY product, {dimension}"
        )
        params += [org_id, stored, org_id, low, low + QUARTERS_PER_DAY]
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
        f"request_count, event_count) SELECT {mark}, 'product', {mark}, product, {_AMOUNTS} "
        f"FROM usage_product_quarter_rollups WHERE org_id = {mark} AND quarter >= {mark} "
        f"AND quarter < {mark} GROUP BY product UNION ALL SELECT {mark}, dimension, {mark}, "
        f"value, {_AMOUNTS} FROM usage_pair_rollups WHERE org_id = {mark} AND dimension "
        f"IN ({_EVERY_PAIRED}) AND day = {mark} GROUP BY dimension, value",
        (org_id, stored, org_id, low, low + QUARTERS_PER_DAY, org_id, stored, org_id, stored),
    )


#: A day gets its products' running totals when they are at most this many times
#: its product quarter rows (a sparse day's few quarters are as quick to read).
_RUNNING_TOTALS_MOST = 4


def _add_running_totals(connection: Connection, org_id: str, day: date, low: int) -> None:
    """Write each product's running totals through the day's quarter hours (1-96),
    summed by the store from its product quarter rollups, if the day is dense enough."""
    dialect = dialect_of(connection)
    mark = dialect.mark
    where = f"WHERE org_id = {mark} AND quarter >= {mark} AND quarter < {mark}"
    rows, products = connection.exec_driver_sql(
        f"SELECT count(*), count(DISTINCT product) FROM usage_product_quarter_rollups {where}",
        (org_id, low, low + QUARTERS_PER_DAY),
    ).one()
    if not rows or rows * _RUNNING_TOTALS_MOST < QUARTERS_PER_DAY * products:
        return
    connection.exec_driver_sql(
        _RUNNING_TOTALS.format(mark=mark, where=where),
        (org_id, low, low + QUARTERS_PER_DAY, org_id, dialect.bind_day(day), org_id, low),
    )


# Every product of the day and quarter hour 1-96, each with the day's product quarter
# ending there (or none), summed in quarter order per product: one statement, the
# store's work (summed in Python it held the interpreter ~0.5 ms a dense day).
_RUNNING_TOTALS = (
    "WITH RECURSIVE through (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM through "
    f"WHERE n < {QUARTERS_PER_DAY}), products AS (SELECT DISTINCT product "
    "FROM usage_product_quarter_rollups {where}) "
    "INSERT INTO usage_product_running_totals (org_id, day, quarter, product, "
    "credits_micro, request_count, event_count) "
    "SELECT {mark}, {mark}, through.n, products.product, "
    + ", ".join(
        f"sum(coalesce(q.{amount}, 0)) OVER running"
        for amount in ("credits_micro", "request_count", "event_count")
    )
    + " FROM products CROSS JOIN through LEFT JOIN usage_product_quarter_rollups AS q "
    "ON q.org_id = {mark} AND q.quarter = {mark} + through.n - 1 "
    "AND q.product = products.product "
    "WINDOW running AS (PARTITION BY products.product ORDER BY through.n) "
    "ORDER BY products.product, through.n"
)
