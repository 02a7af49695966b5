"""SQL of usage alerts, their periods' state, webhook endpoints, the outbox and its log.

Rows cross this boundary as plain dicts; the rules live in :mod:`creditmeter.alerts`,
:mod:`creditmeter.alerting` and :mod:`creditmeter.webhooks`. Every statement is
written once for both stores. Row locks (PostgreSQL) are taken in key order, so
concurrent ingests cannot deadlock on an alert's periods; SQLite has one writer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, tuple_, update

from creditmeter.store.dialects import dialect_of
from creditmeter.store.schema import (
    alert_periods,
    alerts,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_messages,
)
from creditmeter.store.usage import GROUP_COLUMNS, QUARTER_US

#: (alert_id, period_start_us)
PeriodKey = tuple[str, int]
_CHUNK = 400


def _all(connection: Connection, query: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in connection.execute(query).mappings()]


def _one(connection: Connection, query: Any) -> dict[str, Any] | None:
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


# -- alerts --------------------------------------------------------------------------


def insert_alert(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(insert(alerts).values(**row))


def get_alert(connection: Connection, alert_id: str) -> dict[str, Any] | None:
    return _one(connection, select(alerts).where(alerts.c.id == alert_id))


def list_alerts(connection: Connection, org_id: str | None = None) -> list[dict[str, Any]]:
    """Oldest first, ties by id."""
    query = select(alerts).order_by(alerts.c.created_at_us, alerts.c.id)
    if org_id is not None:
        query = query.where(alerts.c.org_id == org_id)
    return _all(connection, query)


#: The columns of an alert row, in the order :func:`enabled_alerts` reads them.
ALERT_COLUMNS = tuple(column.name for column in alerts.columns)


def enabled_alerts(connection: Connection, org_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The enabled alerts of these organizations, by id.

    Written for the driver: it runs in every ingest.
    """
    wanted = sorted(set(org_ids))
    mark = dialect_of(connection).mark
    found: list[dict[str, Any]] = []
    listed = ", ".join(ALERT_COLUMNS)
    for start in range(0, len(wanted), _CHUNK):
        chosen = wanted[start : start + _CHUNK]
        statement = (
            f"SELECT {listed} FROM alerts WHERE org_id IN ({', '.join([mark] * len(chosen))}) "
            "AND enabled ORDER BY id"
        )
        for row in connection.exec_driver_sql(statement, tuple(chosen)):
            found.append(dict(zip(ALERT_COLUMNS, row, strict=True)))
    return found


def enabled_alert_versions(
    connection: Connection, org_ids: Iterable[str]
) -> list[tuple[str, str, int, int]]:
    """(org_id, id, updated_at_us, watched_from_us) of the enabled alerts of these
    organizations, by id: what tells a cached alert from a changed one. Written for the
    driver: it runs in every ingest."""
    wanted = sorted(set(org_ids))
    mark = dialect_of(connection).mark
    found: list[tuple[str, str, int, int]] = []
    for start in range(0, len(wanted), _CHUNK):
        chosen = wanted[start : start + _CHUNK]
        statement = (
            "SELECT org_id, id, updated_at_us, watched_from_us FROM alerts "
            f"WHERE org_id IN ({', '.join([mark] * len(chosen))}) AND enabled ORDER BY id"
        )
        found.extend(tuple(row) for row in connection.exec_driver_sql(statement, tuple(chosen)))
    return found


def alerts_by_id(connection: Connection, alert_ids: Sequence[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(alert_ids), _CHUNK):
        query = select(alerts).where(alerts.c.id.in_(alert_ids[start : start + _CHUNK]))
        found.extend(_all(connection, query))
    return found


def count_alerts(connection: Connection, org_id: str) -> int:
    query = select(func.count()).select_from(alerts).where(alerts.c.org_id == org_id)
    return int(connection.execute(query).scalar_one())


def update_alert(connection: Connection, alert_id: str, values: Mapping[str, Any]) -> None:
    connection.execute(update(alerts).where(alerts.c.id == alert_id).values(**values))


def delete_alert(connection: Connection, alert_id: str) -> None:
    connection.execute(delete(alert_periods).where(alert_periods.c.alert_id == alert_id))
    connection.execute(delete(alerts).where(alerts.c.id == alert_id))


# -- periods -------------------------------------------------------------------------


def add_periods(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert these period rows unless stored (or being stored by a concurrent writer).

    Rows: alert_id, period_start_us, period_end_us, status, value; in key order.
    """
    if not rows:
        return
    connection.execute(
        text(
            "INSERT INTO alert_periods (alert_id, period_start_us, period_end_us, status, value) "
            "VALUES (:alert_id, :period_start_us, :period_end_us, :status, :value) "
            "ON CONFLICT (alert_id, period_start_us) DO NOTHING"
        ),
        sorted(rows, key=lambda row: (row["alert_id"], row["period_start_us"])),
    )


def locked_periods(
    connection: Connection, keys: Iterable[PeriodKey]
) -> dict[PeriodKey, tuple[str, int | None]]:
    """(status, value) of the stored periods of these keys, each row locked until the
    transaction ends (PostgreSQL, in key order; SQLite's writer holds the database).

    Written for the driver: it runs in every ingest that touches an alert.
    """
    wanted = set(keys)
    if not wanted:
        return {}
    mark = dialect_of(connection).mark
    alert_ids = sorted({alert_id for alert_id, _ in wanted})
    starts = sorted({start for _, start in wanted})
    lock = " FOR UPDATE" if connection.dialect.name == "postgresql" else ""
    found: dict[PeriodKey, tuple[str, int | None]] = {}
    for first in range(0, len(alert_ids), _CHUNK):
        chosen = alert_ids[first : first + _CHUNK]
        statement = (
            "SELECT alert_id, period_start_us, status, value FROM alert_periods "
            f"WHERE alert_id IN ({', '.join([mark] * len(chosen))}) "
            f"AND period_start_us IN ({', '.join([mark] * len(starts))}) "
            f"ORDER BY alert_id, period_start_us{lock}"
        )
        for alert_id, start, status, value in connection.exec_driver_sql(
            statement, (*chosen, *starts)
        ):
            if (alert_id, start) in wanted:
                found[(alert_id, start)] = (status, value)
    return found


def add_to_periods(
    connection: Connection, deltas: Mapping[PeriodKey, int]
) -> dict[PeriodKey, tuple[str, int | None]]:
    """Lock the stored periods of these keys (in key order, until the transaction
    ends) and add each one's delta to its kept total; returns each stored period's
    (status, total before). A period whose total is not known (None) is locked but
    not added to; a key with no stored period is left out.

    One statement on PostgreSQL: ingests of one organization wait for each other
    from their first shared row to their commit, and this runs inside that stretch
    (where every round trip also waits for the server's other threads).
    """
    if not deltas:
        return {}
    if connection.dialect.name != "postgresql":
        # SQLite: the one writer holds the database; two statements in the process.
        found = locked_periods(connection, deltas)
        known = [
            (deltas[key], *key) for key, (_, before) in sorted(found.items()) if before is not None
        ]
        if known:
            connection.exec_driver_sql(
                "UPDATE alert_periods SET value = value + ? WHERE alert_id = ? "
                "AND period_start_us = ?",
                known,
            )
        return found
    keys = sorted(deltas)
    rows = connection.exec_driver_sql(
        # The CTE locks the rows in key order (materialized, so that it runs first
        # and once); the UPDATE adds to those with a known total; the SELECT answers
        # what they held before.
        "WITH v AS (SELECT * FROM unnest(%s::text[], %s::bigint[], %s::bigint[]) "
        "AS v(alert_id, period_start_us, delta)), "
        "locked AS MATERIALIZED (SELECT p.alert_id, p.period_start_us, p.status, p.value, "
        "v.delta FROM alert_periods AS p JOIN v USING (alert_id, period_start_us) "
        "ORDER BY p.alert_id, p.period_start_us FOR UPDATE OF p), "
        "added AS (UPDATE alert_periods AS p SET value = p.value + locked.delta FROM locked "
        "WHERE p.alert_id = locked.alert_id AND p.period_start_us = locked.period_start_us "
        "AND locked.value IS NOT NULL RETURNING 1) "
        "SELECT alert_id, period_start_us, status, value FROM locked",
        (
            [alert_id for alert_id, _ in keys],
            [start for _, start in keys],
            [deltas[key] for key in keys],
        ),
    )
    return {(alert_id, start): (status, value) for alert_id, start, status, value in rows}


def periods_of(connection: Connection, alert_id: str) -> list[dict[str, Any]]:
    query = (
        select(alert_periods)
        .where(alert_periods.c.alert_id == alert_id)
        .order_by(alert_periods.c.period_start_us)
    )
    return _all(connection, query)


def get_period(connection: Connection, alert_id: str, start_us: int) -> dict[str, Any] | None:
    columns = alert_periods.c
    return _one(
        connection,
        select(alert_periods).where(
            columns.alert_id == alert_id, columns.period_start_us == start_us
        ),
    )


def periods_holding(
    connection: Connection, alert_ids: Sequence[str], instants_us: Sequence[int]
) -> list[dict[str, Any]]:
    """The stored periods of these alerts that hold one of these instants."""
    if not alert_ids or not instants_us:
        return []
    columns = alert_periods.c
    found: dict[PeriodKey, dict[str, Any]] = {}
    for instant in sorted(set(instants_us)):
        query = select(alert_periods).where(
            columns.alert_id.in_(list(alert_ids)),
            columns.period_start_us <= instant,
            columns.period_end_us > instant,
        )
        for row in _all(connection, query):
            found[(row["alert_id"], row["period_start_us"])] = row
    return [found[key] for key in sorted(found)]


def set_periods(connection: Connection, rows: Sequence[tuple[str, int, str, int]]) -> None:
    """Write status and value of these (stored, locked) periods, given as (alert_id,
    period_start_us, status, value): one statement on PostgreSQL (an ingest's periods in
    one round trip), one per row on SQLite (in the process: no trip to make)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        alert_ids, starts, statuses, values = (list(column) for column in zip(*rows, strict=True))
        connection.exec_driver_sql(
            "UPDATE alert_periods AS p SET status = v.status, value = v.value "
            "FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::bigint[]) "
            "AS v(alert_id, period_start_us, status, value) "
            "WHERE p.alert_id = v.alert_id AND p.period_start_us = v.period_start_us",
            (alert_ids, starts, statuses, values),
        )
        return
    connection.exec_driver_sql(
        "UPDATE alert_periods SET status = ?, value = ? WHERE alert_id = ? AND period_start_us = ?",
        [(status, value, alert_id, start) for alert_id, start, status, value in rows],
    )


def reset_periods(connection: Connection, alert_id: str) -> None:
    """Every period back to ``ok`` (forgotten)."""
    connection.execute(delete(alert_periods).where(alert_periods.c.alert_id == alert_id))


def forget_values(connection: Connection, alert_id: str) -> None:
    """Keep each period's state, forget its total (read again at its next evaluation)."""
    connection.execute(
        update(alert_periods).where(alert_periods.c.alert_id == alert_id).values(value=None)
    )


def period_total(
    connection: Connection,
    *,
    org_id: str,
    metric_column: str,
    filters: Mapping[str, Sequence[str]],
    start_us: int,
    end_us: int,
) -> int:
    """The sum of ``metric_column`` (credits_micro or request_count) over the events of
    ``org_id`` in [start_us, end_us) that pass ``filters`` (rollup columns).

    From the quarter-hour rollups when both ends are quarter hours (every period since
    1980), else from the events.
    """
    if metric_column not in ("credits_micro", "request_count"):
        raise ValueError(f"not a metric column: {metric_column}")
    mark = dialect_of(connection).mark
    params: list[Any] = [org_id]
    if start_us % QUARTER_US == 0 and end_us % QUARTER_US == 0:
        statement = (
            f"SELECT sum({metric_column}) FROM usage_quarter_rollups WHERE org_id = {mark} "
            f"AND quarter >= {mark} AND quarter < {mark}"
        )
        params += [start_us // QUARTER_US, end_us // QUARTER_US]
    else:
        statement = (
            f"SELECT sum({metric_column}) FROM usage_events WHERE org_id = {mark} "
            f"AND timestamp_us >= {mark} AND timestamp_us < {mark}"
        )
        params += [start_us, end_us]
    for column, values in filters.items():
        if column not in GROUP_COLUMNS:
            raise ValueError(f"not a rollup column: {column}")
        statement += f" AND {column} IN ({', '.join([mark] * len(values))})"
        params.extend(values)
    total = connection.exec_driver_sql(statement, tuple(params)).scalar()
    return int(total or 0)


# -- webhook endpoints ---------------------------------------------------------------


# A failing statement's error names no bound value (the engines hide them), so a
# sealed secret never reaches a log through one.
def insert_endpoint(connection: Connection, row: Mapping[str, Any]) -> None:
    connection.execute(insert(webhook_endpoints).values(**row))


def get_endpoint(connection: Connection, webhook_id: str) -> dict[str, Any] | None:
    return _one(connection, select(webhook_endpoints).where(webhook_endpoints.c.id == webhook_id))


def list_endpoints(connection: Connection, org_id: str | None = None) -> list[dict[str, Any]]:
    """Oldest first, ties by id."""
    query = select(webhook_endpoints).order_by(
        webhook_endpoints.c.created_at_us, webhook_endpoints.c.id
    )
    if org_id is not None:
        query = query.where(webhook_endpoints.c.org_id == org_id)
    return _all(connection, query)


def count_endpoints(connection: Connection, org_id: str) -> int:
    query = (
        select(func.count())
        .select_from(webhook_endpoints)
        .where(webhook_endpoints.c.org_id == org_id)
    )
    return int(connection.execute(query).scalar_one())


def update_endpoint(connection: Connection, webhook_id: str, values: Mapping[str, Any]) -> None:
    connection.execute(
        update(webhook_endpoints).where(webhook_endpoints.c.id == webhook_id).values(**values)
    )


def endpoint_secrets_after(
    connection: Connection, after_id: str, limit: int
) -> list[dict[str, Any]]:
    """id, secret, previous_secret, previous_until_us of up to ``limit`` endpoints whose
    id sorts after ``after_id``, by id, each locked until the transaction ends
    (PostgreSQL; SQLite's writer holds the database): a rotation waits, never lost."""
    columns = webhook_endpoints.c
    query = (
        select(columns.id, columns.secret, columns.previous_secret, columns.previous_until_us)
        .where(columns.id > after_id)
        .order_by(columns.id)
        .limit(limit)
        .with_for_update()
    )
    return _all(connection, query)


def delete_endpoint(connection: Connection, webhook_id: str) -> None:
    """The endpoint, its pending and past deliveries and their log."""
    connection.execute(delete(webhook_attempts).where(webhook_attempts.c.webhook_id == webhook_id))
    connection.execute(
        delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id)
    )
    connection.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == webhook_id))


# -- the outbox ----------------------------------------------------------------------


def add_message(
    connection: Connection, row: Mapping[str, Any], webhook_ids: Sequence[str], due_us: int
) -> None:
    """A message and its delivery to each of ``webhook_ids``, due at ``due_us``."""
    connection.execute(insert(webhook_messages).values(**row))
    if webhook_ids:
        connection.execute(
            insert(webhook_deliveries),
            [
                {
                    "message_id": row["id"],
                    "webhook_id": webhook_id,
                    "status": "pending",
                    "next_attempt_us": due_us,
                    "attempt_count": 0,
                    "claim": None,
                    "created_at_us": row["created_at_us"],
                }
                for webhook_id in webhook_ids
            ],
        )


def next_due(connection: Connection) -> int | None:
    """When the earliest pending delivery is due (microseconds), None when none is."""
    columns = webhook_deliveries.c
    query = select(func.min(columns.next_attempt_us)).where(columns.status == "pending")
    found = connection.execute(query).scalar()
    return int(found) if found is not None else None


def claim_due(
    connection: Connection, *, now_us: int, lease_until_us: int, claim: str, limit: int
) -> list[dict[str, Any]]:
    """Take up to ``limit`` due deliveries for one attempt each: their next attempt is
    pushed to ``lease_until_us`` and ``claim`` names the attempt. PostgreSQL skips rows
    another server is taking (SKIP LOCKED); SQLite has one writer.

    Returns, per delivery: message_id, webhook_id, attempt_count, body, url, secret,
    previous_secret, previous_until_us.
    """
    columns = webhook_deliveries.c
    due = (
        select(columns.message_id, columns.webhook_id)
        .where(columns.status == "pending", columns.next_attempt_us <= now_us)
        .order_by(columns.next_attempt_us, columns.message_id, columns.webhook_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    keys = [tuple(row) for row in connection.execute(due)]
    if not keys:
        return []
    connection.execute(
        update(webhook_deliveries)
        .where(tuple_(columns.message_id, columns.webhook_id).in_(keys))
        .values(next_attempt_us=lease_until_us, claim=claim)
    )
    endpoints = webhook_endpoints.c
    query = (
        select(
            columns.message_id,
            columns.webhook_id,
            columns.attempt_count,
            columns.claim,
            webhook_messages.c.body,
            endpoints.url,
            endpoints.secret,
            endpoints.previous_secret,
            endpoints.previous_until_us,
        )
        .join(webhook_messages, webhook_messages.c.id == columns.message_id)
        .join(webhook_endpoints, endpoints.id == columns.webhook_id)
        .where(tuple_(columns.message_id, columns.webhook_id).in_(keys), columns.claim == claim)
    )
    return _all(connection, query)


def record_attempt(
    connection: Connection,
    *,
    message_id: str,
    webhook_id: str,
    claim: str,
    attempt: Mapping[str, Any],
    status: str,
    next_attempt_us: int | None,
    finished_at_us: int | None = None,
) -> bool:
    """Log an attempt and move its delivery on, if the delivery is still ours (claimed
    by ``claim``, its endpoint not deleted). Returns whether it was.

    ``finished_at_us``: when a delivery that is now ``delivered`` or ``failed`` finished
    (the retention counts from it)."""
    columns = webhook_deliveries.c
    moved = connection.execute(
        update(webhook_deliveries)
        .where(
            columns.message_id == message_id,
            columns.webhook_id == webhook_id,
            columns.claim == claim,
        )
        .values(
            status=status,
            next_attempt_us=next_attempt_us,
            attempt_count=columns.attempt_count + 1,
            claim=None,
            finished_at_us=finished_at_us if status != "pending" else None,
        )
    ).rowcount
    if moved:
        connection.execute(
            insert(webhook_attempts).values(message_id=message_id, webhook_id=webhook_id, **attempt)
        )
    return bool(moved)


def deliveries_of(
    connection: Connection, webhook_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """The endpoint's newest ``limit`` messages, newest first, each with its attempts
    (oldest first) under ``attempts``."""
    columns = webhook_deliveries.c
    query = (
        select(
            columns.message_id,
            webhook_messages.c.type,
            webhook_messages.c.created_at_us,
            columns.status,
            columns.next_attempt_us,
        )
        .join(webhook_messages, webhook_messages.c.id == columns.message_id)
        .where(columns.webhook_id == webhook_id)
        .order_by(webhook_messages.c.created_at_us.desc(), columns.message_id.desc())
        .limit(limit)
    )
    found = _all(connection, query)
    if not found:
        return found
    by_message = {row["message_id"]: row for row in found}
    for row in found:
        row["attempts"] = []
    attempts = webhook_attempts.c
    log = (
        select(webhook_attempts)
        .where(attempts.webhook_id == webhook_id, attempts.message_id.in_(list(by_message)))
        .order_by(attempts.attempted_at_us, attempts.id)
    )
    for attempt in _all(connection, log):
        by_message[attempt["message_id"]]["attempts"].append(attempt)
    return found


def delivery(connection: Connection, message_id: str, webhook_id: str) -> dict[str, Any] | None:
    columns = webhook_deliveries.c
    return _one(
        connection,
        select(webhook_deliveries).where(
            columns.message_id == message_id, columns.webhook_id == webhook_id
        ),
    )


# -- retention (webhooks/retention.py) ------------------------------------------------

#: A delivery: (message_id, webhook_id).
DeliveryKey = tuple[str, str]


def finished_deliveries_before(
    connection: Connection, cutoff_us: int, limit: int
) -> list[DeliveryKey]:
    """Up to ``limit`` deliveries that finished (``delivered`` or ``failed``) before
    ``cutoff_us``, oldest first, each locked until the transaction ends. A pending one
    never (it has no finish). PostgreSQL skips rows another server is taking (SKIP
    LOCKED): of several servers sweeping at once, one takes each row."""
    columns = webhook_deliveries.c
    query = (
        select(columns.message_id, columns.webhook_id)
        .where(columns.finished_at_us < cutoff_us, columns.status != "pending")
        .order_by(columns.finished_at_us)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [(row[0], row[1]) for row in connection.execute(query)]


def delete_deliveries(connection: Connection, keys: Sequence[DeliveryKey]) -> int:
    """Remove these deliveries and their attempts; returns how many attempts went."""
    if not keys:
        return 0
    attempts = webhook_attempts.c
    removed = connection.execute(
        delete(webhook_attempts).where(
            tuple_(attempts.message_id, attempts.webhook_id).in_(list(keys))
        )
    ).rowcount
    columns = webhook_deliveries.c
    connection.execute(
        delete(webhook_deliveries).where(
            tuple_(columns.message_id, columns.webhook_id).in_(list(keys))
        )
    )
    return int(removed or 0)


def unreferenced_messages_before(connection: Connection, cutoff_us: int, limit: int) -> list[str]:
    """Up to ``limit`` ids of messages created before ``cutoff_us`` that no delivery refers
    to, oldest first, locked (PostgreSQL skipping rows another server is taking)."""
    messages = webhook_messages.c
    deliveries = webhook_deliveries.c
    query = (
        select(messages.id)
        .where(
            messages.created_at_us < cutoff_us,
            ~select(deliveries.message_id).where(deliveries.message_id == messages.id).exists(),
        )
        .order_by(messages.created_at_us)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [row[0] for row in connection.execute(query)]


def delete_messages(connection: Connection, message_ids: Sequence[str]) -> None:
    if message_ids:
        connection.execute(
            delete(webhook_messages).where(webhook_messages.c.id.in_(list(message_ids)))
        )


def lock_alerts_of(connection: Connection, org_ids: Sequence[str], *, exclusive: bool) -> None:
    """Hold these organizations' alert lock until the transaction ends: shared by the
    ingests that evaluate their alerts, exclusive for a change to one of them. So on
    PostgreSQL an ingest either sees an alert created meanwhile, or commits before the
    alert reads its period's total (SQLite's writers take turns anyway)."""
    dialect_of(connection).lock_organizations(connection, org_ids, exclusive=exclusive)
