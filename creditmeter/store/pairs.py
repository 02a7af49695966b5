"""SQL for settling days: the pair rollups of a day built from its quarter rollups.

Ingest and voids never write the pair rollups; they count each change of a day
in its daily total (``changes``, ``changed_at_us``, see :mod:`.usage`). A day is
settled when its pairs were built at its current count (``pairs_changes``), and
the export reads a day's pairs only then (:func:`.usage.usage_by_day`). Building
a day reads its quarter rollups, so the caller holds the organization's lock
(exclusive) for it: no ingest or void of the organization runs meanwhile.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from creditmeter.store.dialects import dialect_of
from creditmeter.store.usage import _EPOCH_ORDINAL, PAIRED, QUARTERS_PER_DAY, DayKey, delete_pairs

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
    """Build the pair rollups of one day from its quarter rollups, if they are not
    current and the day last changed before ``changed_before_us``; the number of pair
    rows written, or None when there was nothing to do (settled meanwhile, changed
    since, or no usage left). The caller holds the organization's lock."""
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
    delete_pairs(connection, day, org_id)
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
    connection.exec_driver_sql(
        f"UPDATE usage_daily_totals SET pairs_changes = {mark} WHERE org_id = {mark} "
        f"AND day = {mark}",
        (changes, org_id, stored),
    )
    return int(written)
