"""Evaluating alerts: in the transaction that changed a total or an alert.

An evaluation of one period of one alert moves it ``ok`` → ``triggered`` when its
total reached the threshold, ``triggered`` → ``ok`` when the total fell below it,
and writes the message of that move to the outbox in the same transaction
(``usage-alerts.md``, "Firing"). Three callers:

- :func:`prepare` and :meth:`BatchEvaluation.apply`, from
  :func:`creditmeter.ingest.record`: the batch's new events, summed once by
  (org, quarter hour, dimensions); each enabled alert of their organizations
  adds the sums it matches to each watched period they fall in. A period's
  total is kept with its state (``alert_periods.value``) and the batch's sums
  are added to it, so an ingest reads one row per touched period whatever the
  period's length; a total not known yet is read from the rollups.
- :func:`evaluate_current`, when an alert is created, enabled or changed.
- :func:`usage_went_down`, for a path that takes usage away (voids): the periods
  holding those instants are read again from the rollups, and may resolve.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from itertools import product
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from creditmeter.alerts import OK, TRIGGERED, Alert, Period, format_value
from creditmeter.dimensions import FILTERS
from creditmeter.events import Event
from creditmeter.store import alerts as sql
from creditmeter.store.dialects import EventKey
from creditmeter.store.usage import QUARTER_US
from creditmeter.webhooks.outbox import queue

#: (alert_id, period_start_us)
PeriodKey = tuple[str, int]
_METRIC_COLUMNS = {"credits": "credits_micro", "requestCount": "request_count"}
# Where each rollup column sits in a batch sum's key (org, quarter, *dimensions).
_POSITION = {"product": 2, "feature": 3, "api_key": 4, "file_type": 5}


#: Alerts read by recent ingests, by (id, updated_at_us, watched_from_us): a stored alert
#: is only ever changed with a new updated_at_us or watched_from_us.
_PARSED: dict[tuple[str, int, int, bool], Alert] = {}
_PARSED_MOST = 20_000


def _cached_alert(row: Mapping[str, Any]) -> Alert:
    key = (row["id"], row["updated_at_us"], row["watched_from_us"], bool(row["enabled"]))
    alert = _PARSED.get(key)
    if alert is None:
        if len(_PARSED) >= _PARSED_MOST:
            _PARSED.clear()
        alert = _PARSED[key] = alert_of_row(row)
    return alert


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


def _filter_positions(alert: Alert) -> tuple[tuple[int, ...], tuple[tuple[str, ...], ...]]:
    """Where the alert's filtered columns sit in a batch sum's key, ascending, and their values."""
    found = sorted((_POSITION[FILTERS[name]], values) for name, values in alert.filters.items())
    return tuple(p for p, _ in found), tuple(v for _, v in found)


_Sums = dict[tuple[Any, ...], list[int]]


def _batch_sums(events: Sequence[Event]) -> dict[str, _Sums]:
    """The events summed once per organization by (quarter, product, feature, api_key,
    file_type): [credits_micro, request_count]."""
    by_org: dict[str, _Sums] = {}
    for event in events:
        sums = by_org.setdefault(event.org_id, {})
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
    return by_org


def _marginal(sums: _Sums, positions: tuple[int, ...]) -> _Sums:
    """``sums`` summed over every column but the quarter and those at ``positions``:
    keys (quarter, *values)."""
    table: _Sums = {}
    short_key = itemgetter(1, *positions)
    for key, (credits, requests) in sums.items():
        short = short_key(key)
        if not positions:
            short = (short,)
        found = table.get(short)
        if found is None:
            table[short] = [credits, requests]
        else:
            found[0] += credits
            found[1] += requests
    return table


def _matching_by_quarter(
    table: _Sums, quarters: Sequence[int], values: tuple[tuple[str, ...], ...], amount: int
) -> dict[int, int]:
    """Per quarter, the sum of ``amount`` over the rows of ``table`` whose values pass
    the filters: by looking each combination of filter values up, or by reading every
    row, whichever is fewer steps."""
    found: dict[int, int] = {}
    combinations = 1
    for listed in values:
        combinations *= len(listed)
    if combinations * len(quarters) <= len(table):
        for quarter in quarters:
            for combination in product(*values):
                row = table.get((quarter, *combination))
                if row is not None:
                    found[quarter] = found.get(quarter, 0) + row[amount]
        return found
    allowed = [frozenset(listed) for listed in values]
    for key, row in table.items():
        if all(key[n + 1] in allowed[n] for n in range(len(allowed))):
            found[key[0]] = found.get(key[0], 0) + row[amount]
    return found


@dataclass
class BatchEvaluation:
    """The alerts a batch may move, and what it adds to each watched period: worked out
    from the batch before its events are inserted (:func:`prepare`), so that the
    concurrent writers of one organization, who take turns on its rows, wait only for
    the reads and writes of the periods (:meth:`apply`)."""

    rows: list[dict[str, Any]]
    events: Sequence[Event]
    alerts: dict[str, Alert] = field(default_factory=dict)
    periods: dict[PeriodKey, Period] = field(default_factory=dict)
    deltas: dict[PeriodKey, int] = field(default_factory=dict)

    def apply(self, connection: Connection, inserted: Set[EventKey], now_us: int) -> None:
        """Evaluate the periods the newly stored events (``inserted``) fall in."""
        if not self.rows or not inserted:
            return
        if len(inserted) < len(self.events):  # some were stored already: not added again
            new = [event for event in self.events if (event.org_id, event.id) in inserted]
            self.alerts, self.periods, self.deltas = {}, {}, {}
            self._add(new)
        _evaluate(connection, self.alerts, self.periods, self.deltas, now_us)

    def _add(self, events: Sequence[Event]) -> None:
        """Sum the batch once, then once more per set of filtered columns the alerts use;
        each alert reads the few sums its filters select, per quarter hour."""
        by_org = _batch_sums(events)
        quarters = {org: sorted({key[1] for key in sums}) for org, sums in by_org.items()}
        marginals: dict[tuple[str, tuple[int, ...]], _Sums] = {}
        # Every modern offset is a whole number of quarter hours: a quarter lies in one
        # period.
        period_cache: dict[tuple[str, str, int], Period] = {}
        for row in self.rows:
            alert = _cached_alert(row)
            if alert.org_id not in by_org:
                continue
            positions, values = _filter_positions(alert)
            table = marginals.get((alert.org_id, positions))
            if table is None:
                table = marginals[(alert.org_id, positions)] = _marginal(
                    by_org[alert.org_id], positions
                )
            amount = 0 if alert.metric == "credits" else 1
            matching = _matching_by_quarter(table, quarters[alert.org_id], values, amount)
            for quarter, added in matching.items():
                cached = (alert.time_zone, alert.period, quarter)
                period = period_cache.get(cached)
                if period is None:
                    period = period_cache[cached] = alert.period_at(quarter * QUARTER_US)
                if period.end_us <= alert.watched_from_us:
                    continue  # a backfill: that period ended before the alert watched
                period_key = (alert.id, period.start_us)
                self.deltas[period_key] = self.deltas.get(period_key, 0) + added
                self.periods[period_key] = period
                self.alerts[alert.id] = alert


def prepare(connection: Connection, events: Sequence[Event]) -> BatchEvaluation:
    """What a batch of events (one per key) would add to its organizations' enabled
    alerts, read before the events are inserted; then :meth:`BatchEvaluation.apply`."""
    rows = sql.enabled_alerts(connection, {event.org_id for event in events}) if events else []
    evaluation = BatchEvaluation(rows, events)
    if rows:
        evaluation._add(events)
    return evaluation


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
