"""Evaluating alerts: in the transaction that changed a total or an alert.

An evaluation of one period of one alert moves it ``ok`` → ``triggered`` when its
total reached the threshold, ``triggered`` → ``ok`` when the total fell below it,
and writes the message of that move to the outbox in the same transaction
(``usage-alerts.md``, "Firing"). Three callers:

- :func:`after_insert`, from :func:`creditmeter.ingest.record`: the batch's new
  events, summed once by (org, quarter hour, dimensions); each enabled alert of
  their organizations adds the sums it matches to each watched period they fall
  in. A period's total is kept with its state (``alert_periods.value``) and the
  batch's sums are added to it, so an ingest reads one row per touched period
  whatever the period's length; a total not known yet is read from the rollups.
- :func:`evaluate_current`, when an alert is created, enabled or changed.
- :func:`usage_went_down`, for a path that takes usage away (voids): the periods
  holding those instants are read again from the rollups, and may resolve.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from creditmeter.alerts import OK, TRIGGERED, Alert, Period, format_value
from creditmeter.dimensions import FILTERS
from creditmeter.events import Event
from creditmeter.store import alerts as sql
from creditmeter.store.usage import QUARTER_US
from creditmeter.webhooks.outbox import queue

#: (alert_id, period_start_us)
PeriodKey = tuple[str, int]
_METRIC_COLUMNS = {"credits": "credits_micro", "requestCount": "request_count"}
# Where each rollup column sits in a batch sum's key (org, quarter, *dimensions).
_POSITION = {"product": 2, "feature": 3, "api_key": 4, "file_type": 5}


def alert_of_row(row: Mapping[str, Any]) -> Alert:
    filters = json.loads(row["filters"])
    return Alert(
        id=row["id"],
        org_id=row["org_id"],
        name=row["name"],
        metric=row["metric"],
        threshold=row["threshold"],
        period=row["period"],
        time_zone=row["time_zone"],
        filters={name: tuple(values) for name, values in filters.items()},
        enabled=bool(row["enabled"]),
        watched_from_us=row["watched_from_us"],
        created_at_us=row["created_at_us"],
        updated_at_us=row["updated_at_us"],
    )


def row_of_alert(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "org_id": alert.org_id,
        "name": alert.name,
        "metric": alert.metric,
        "threshold": alert.threshold,
        "period": alert.period,
        "time_zone": alert.time_zone,
        "filters": json.dumps({name: list(values) for name, values in alert.filters.items()}),
        "enabled": alert.enabled,
        "watched_from_us": alert.watched_from_us,
        "created_at_us": alert.created_at_us,
        "updated_at_us": alert.updated_at_us,
    }


def total(connection: Connection, alert: Alert, period: Period) -> int:
    """The period's total for the alert, read from the rollups."""
    return sql.period_total(
        connection,
        org_id=alert.org_id,
        metric_column=_METRIC_COLUMNS[alert.metric],
        filters=alert.column_filters(),
        start_us=period.start_us,
        end_us=period.end_us,
    )


def message_data(alert: Alert, period: Period, value: int) -> dict[str, Any]:
    """The ``data`` of an ``alert.triggered`` or ``alert.resolved`` message."""
    return {
        "orgId": alert.org_id,
        "alertId": alert.id,
        "alertName": alert.name,
        "metric": alert.metric,
        "threshold": format_value(alert.metric, alert.threshold),
        "value": format_value(alert.metric, value),
        "periodStart": period.start_text,
        "periodEnd": period.end_text,
        "timeZone": alert.time_zone,
        "filters": {name: list(values) for name, values in alert.filters.items()},
    }


def _evaluate(
    connection: Connection,
    alerts: Mapping[str, Alert],
    periods: Mapping[PeriodKey, Period],
    deltas: Mapping[PeriodKey, int] | None,
    now_us: int,
) -> None:
    """Evaluate these periods: add ``deltas`` to their kept totals (or, with None or
    where a total is not known, read it from the rollups), move their states, queue
    the messages. Rows are created and locked in key order."""
    keys = sorted(periods)
    if not keys:
        return
    stored = sql.locked_periods(connection, keys)
    missing = [key for key in keys if key not in stored]
    if missing:
        sql.add_periods(
            connection,
            [
                {
                    "alert_id": key[0],
                    "period_start_us": key[1],
                    "period_end_us": periods[key].end_us,
                    "status": OK,
                    "value": None,
                }
                for key in missing
            ],
        )
        stored.update(sql.locked_periods(connection, missing))
    changes: list[dict[str, Any]] = []
    for key in keys:
        row = stored[key]
        alert, period = alerts[key[0]], periods[key]
        before = row["value"]
        if deltas is None or before is None:
            value = total(connection, alert, period)
        else:
            value = before + deltas[key]
        status = row["status"]
        if status == OK and value >= alert.threshold:
            status = TRIGGERED
            queue(
                connection,
                org_id=alert.org_id,
                type="alert.triggered",
                data=message_data(alert, period, value),
                now_us=now_us,
            )
        elif status == TRIGGERED and value < alert.threshold:
            status = OK
            queue(
                connection,
                org_id=alert.org_id,
                type="alert.resolved",
                data=message_data(alert, period, value),
                now_us=now_us,
            )
        if value != before or status != row["status"]:
            changes.append({**key_columns(key), "status": status, "value": value})
    sql.set_periods(connection, changes)


def key_columns(key: PeriodKey) -> dict[str, Any]:
    return {"alert_id": key[0], "period_start_us": key[1]}


def _matcher(alert: Alert) -> list[tuple[int, frozenset[str]]]:
    return [(_POSITION[FILTERS[name]], frozenset(values)) for name, values in alert.filters.items()]


def after_insert(connection: Connection, events: Sequence[Event], now_us: int) -> None:
    """Evaluate the enabled alerts of the events' organizations over the periods the
    newly stored ``events`` fall in (called in the ingest's transaction)."""
    if not events:
        return
    rows = sql.enabled_alerts(connection, {event.org_id for event in events})
    if not rows:
        return
    # The batch summed once: (org, quarter, product, feature, api_key, file_type) → sums.
    sums: dict[tuple[Any, ...], list[int]] = {}
    for event in events:
        key = (
            event.org_id,
            event.timestamp_us // QUARTER_US,
            event.product,
            event.feature,
            event.api_key,
            event.file_type,
        )
        found = sums.get(key)
        if found is None:
            sums[key] = [event.credits_micro, event.request_count]
        else:
            found[0] += event.credits_micro
            found[1] += event.request_count
    by_org: dict[str, list[tuple[tuple[Any, ...], list[int]]]] = {}
    for key, amounts in sums.items():
        by_org.setdefault(key[0], []).append((key, amounts))

    alerts: dict[str, Alert] = {}
    periods: dict[PeriodKey, Period] = {}
    deltas: dict[PeriodKey, int] = {}
    # Every modern offset is a whole number of quarter hours: a quarter lies in one period.
    period_cache: dict[tuple[str, str, int], Period] = {}
    for row in rows:
        alert = alert_of_row(row)
        amount = 0 if alert.metric == "credits" else 1
        matcher = _matcher(alert)
        for key, amounts in by_org.get(alert.org_id, ()):
            if not all(key[position] in values for position, values in matcher):
                continue
            cached = (alert.time_zone, alert.period, key[1])
            period = period_cache.get(cached)
            if period is None:
                period = period_cache[cached] = alert.period_at(key[1] * QUARTER_US)
            if period.end_us <= alert.watched_from_us:
                continue  # a backfill: that period ended before the alert watched
            period_key = (alert.id, period.start_us)
            deltas[period_key] = deltas.get(period_key, 0) + amounts[amount]
            periods[period_key] = period
            alerts[alert.id] = alert
    _evaluate(connection, alerts, periods, deltas, now_us)


def evaluate_current(connection: Connection, alert: Alert, now_us: int) -> None:
    """Evaluate the period holding now (an alert created, enabled or changed)."""
    period = alert.period_at(now_us)
    _evaluate(connection, {alert.id: alert}, {(alert.id, period.start_us): period}, None, now_us)


def usage_went_down(
    connection: Connection, org_id: str, instants_us: Iterable[int], now_us: int
) -> None:
    """Re-evaluate, from the rollups, the organization's enabled alerts over the watched
    periods holding these instants, after usage there went down (a void): each may
    send ``alert.resolved``. Call it in the transaction that took the usage away."""
    instants = sorted(set(instants_us))
    rows = sql.enabled_alerts(connection, [org_id])
    if not rows or not instants:
        return
    alerts = {row["id"]: alert_of_row(row) for row in rows}
    periods: dict[PeriodKey, Period] = {}
    for stored in sql.periods_holding(connection, list(alerts), instants):
        alert = alerts[stored["alert_id"]]
        period = alert.period_at(stored["period_start_us"])
        if period.end_us > alert.watched_from_us:
            periods[(alert.id, period.start_us)] = period
    _evaluate(connection, alerts, periods, None, now_us)


def current(connection: Connection, alert: Alert, now_us: int) -> tuple[Period, int, str]:
    """The period holding now, its total and its state, for the alert's ``current``."""
    period = alert.period_at(now_us)
    row = sql.get_period(connection, alert.id, period.start_us)
    if alert.enabled and row is not None and row["value"] is not None:
        value = row["value"]
    else:
        value = total(connection, alert, period)
    return period, value, row["status"] if row is not None else OK
