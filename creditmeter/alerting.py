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
from datetime import date
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
from creditmeter.timestamps import US_PER_DAY
from creditmeter.webhooks.outbox import queue

#: date.toordinal() of 1970-01-01.
_EPOCH_ORDINAL = 719_163

#: (alert_id, period_start_us)
PeriodKey = tuple[str, int]
_METRIC_COLUMNS = {"credits": "credits_micro", "requestCount": "request_count"}
# Where each rollup column sits in a batch sum's key (org, quarter, *dimensions).
_POSITION = {"product": 2, "feature": 3, "api_key": 4, "file_type": 5}


#: Alerts read by recent ingests, with where their filters sit in a batch sum's key,
#: by (id, updated_at_us, watched_from_us, enabled): a stored alert is only ever
#: changed with a new updated_at_us or watched_from_us.
_PARSED: dict[tuple[str, int, int, bool], tuple[Alert, tuple[int, ...], tuple[Any, ...]]] = {}
_PARSED_MOST = 20_000


def _cached_alert(row: Mapping[str, Any]) -> tuple[Alert, tuple[int, ...], tuple[Any, ...]]:
    """The alert of a row, and :func:`_filter_positions` of it."""
    key = (row["id"], row["updated_at_us"], row["watched_from_us"], bool(row["enabled"]))
    found = _PARSED.get(key)
    if found is None:
        if len(_PARSED) >= _PARSED_MOST:
            _PARSED.clear()
        alert = alert_of_row(row)
        found = _PARSED[key] = (alert, *_filter_positions(alert))
    return found


def _loaded(connection: Connection, versions: Sequence[_Version]) -> list[_Loaded]:
    """These alert versions with :func:`_filter_positions`: from the cache, the others
    read whole."""
    missing = [alert_id for alert_id, *rest in versions if (alert_id, *rest, True) not in _PARSED]
    if missing:
        for row in sql.alerts_by_id(connection, missing):
            _cached_alert(row)
    found = []
    for alert_id, updated_at_us, watched_from_us in versions:
        cached = _PARSED.get((alert_id, updated_at_us, watched_from_us, True))
        if cached is None:  # cleared meanwhile by another thread: read it again
            (row,) = sql.alerts_by_id(connection, [alert_id])
            cached = _cached_alert(row)
        found.append(cached)
    return found


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
    *,
    keep: bool = True,
) -> None:
    """Evaluate these periods: add ``deltas`` to their kept totals (or, with None or
    where a total is not known, read it from the rollups), move their states, queue
    the messages. Rows are created and locked in key order. ``keep`` False: the
    totals are not kept (the next evaluation reads them again)."""
    keys = sorted(periods)
    if not keys:
        return
    if deltas is None:
        stored = sql.locked_periods(connection, keys)
    else:  # locked and added to at once: the one step of an ingest that others wait for
        stored = sql.add_to_periods(connection, {key: deltas[key] for key in keys})
    # What each period's row holds now.
    held = {
        key: before if deltas is None or before is None else before + deltas[key]
        for key, (_, before) in stored.items()
    }
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
        added = sql.locked_periods(connection, missing)
        stored.update(added)
        held.update((key, before) for key, (_, before) in added.items())
    changes: list[tuple[str, int, str, int]] = []
    for key in keys:
        stored_status, before = stored[key]
        alert, period = alerts[key[0]], periods[key]
        if deltas is None or before is None:
            value = total(connection, alert, period)
        else:
            value = before + deltas[key]
        status = stored_status
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
        kept = value if keep else None
        if kept != held[key] or status != stored_status:
            changes.append((key[0], key[1], status, kept))
    sql.set_periods(connection, changes)


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


_Loaded = tuple[Alert, tuple[int, ...], tuple[Any, ...]]
#: (id, updated_at_us, watched_from_us) of an enabled alert.
_Version = tuple[str, int, int]
#: The versions of each organization's enabled alerts that the last ingest found: the
#: guess a batch is worked out with before its transaction, and checked in it.
_LAST_VERSIONS: dict[str, tuple[_Version, ...]] = {}
_LAST_VERSIONS_MOST = 100_000


@dataclass
class BatchEvaluation:
    """The alerts a batch may move, and what it adds to each watched period.

    :func:`prepare` works it out before the ingest's transaction, with the alerts
    the last ingest of the organizations found (no store read). In the transaction,
    :meth:`begin`, before the events are written, takes the organizations' alert
    lock and reads the alerts' versions; :meth:`apply`, after them, works it out
    again only if the versions changed (or some events were stored already), then
    evaluates. Writers of one organization wait for each other from their first
    shared rollup row to their commit, and each round trip there also waits for the
    server's other threads: what an evaluation adds to that stretch is one statement
    (the periods locked and added to at once, :func:`sql.add_to_periods`), and one
    more only when a period changes state or is new.
    """

    events: Sequence[Event]
    versions: dict[str, tuple[_Version, ...]] | None = None
    rows: list[_Loaded] = field(default_factory=list)
    alerts: dict[str, Alert] = field(default_factory=dict)
    periods: dict[PeriodKey, Period] = field(default_factory=dict)
    deltas: dict[PeriodKey, int] = field(default_factory=dict)
    #: The versions :meth:`begin` read in the transaction.
    found: dict[str, tuple[_Version, ...]] | None = None

    def begin(self, connection: Connection) -> None:
        """In the ingest's transaction, before its events are written: hold the
        organizations' alert lock (shared) and read their enabled alerts' versions."""
        org_ids = {event.org_id for event in self.events}
        # Before the alerts are read: an alert being created or changed meanwhile
        # either is committed by then, or waits for this transaction's events.
        hold_alerts(connection, org_ids)
        versions: dict[str, tuple[_Version, ...]] = {org_id: () for org_id in org_ids}
        for org_id, *version in sql.enabled_alert_versions(connection, org_ids):
            versions[org_id] += (tuple(version),)  # type: ignore[assignment]
        if len(_LAST_VERSIONS) >= _LAST_VERSIONS_MOST:
            _LAST_VERSIONS.clear()
        _LAST_VERSIONS.update(versions)
        self.found = versions

    def apply(self, connection: Connection, inserted: Set[EventKey], now_us: int) -> None:
        """Evaluate the periods the newly stored events (``inserted``) fall in (after
        :meth:`begin`, which it calls if the caller did not)."""
        if self.found is None:
            self.begin(connection)
        versions = self.found
        assert versions is not None
        if not inserted or not any(versions.values()):
            return
        events = self.events
        if len(inserted) < len(events):  # some were stored already: not added again
            events = [event for event in events if (event.org_id, event.id) in inserted]
        if versions != self.versions or events is not self.events:
            self.rows = _loaded(connection, [v for org in sorted(versions) for v in versions[org]])
            self.alerts, self.periods, self.deltas = {}, {}, {}
            self._add(events)
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
        for alert, positions, values in self.rows:
            if alert.org_id not in by_org:
                continue
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


def hold_alerts(connection: Connection, org_ids: Iterable[str]) -> None:
    """Take these organizations' alert lock (shared) until the transaction ends: first
    thing in a transaction that changes their usage (an ingest, a void), so that every
    such writer takes it before any usage row, in one order."""
    sql.lock_alerts_of(connection, sorted(set(org_ids)), exclusive=False)


def prepare(events: Sequence[Event]) -> BatchEvaluation:
    """What a batch of events (one per key) would add to its organizations' enabled
    alerts, as the last ingest found them, worked out before the ingest's transaction
    (it reads nothing); then, in the transaction, :meth:`BatchEvaluation.apply`."""
    evaluation = BatchEvaluation(events)
    versions: dict[str, tuple[_Version, ...]] = {}
    rows: list[_Loaded] = []
    for org_id in sorted({event.org_id for event in events}):
        known = _LAST_VERSIONS.get(org_id)
        if known is None:
            return evaluation
        versions[org_id] = known
        for version in known:
            loaded = _PARSED.get((*version, True))
            if loaded is None:
                return evaluation
            rows.append(loaded)
    evaluation.versions, evaluation.rows = versions, rows
    if rows:
        evaluation._add(events)
    return evaluation


def evaluate_current(connection: Connection, alert: Alert, now_us: int) -> None:
    """Evaluate the period holding now (an alert created, enabled or changed).

    The organization's alert lock is taken first (exclusive): an ingest that read the
    alerts before this one existed has committed by then, so its events are in the
    total read here; a later one sees this alert. The total is not kept all the same:
    the next ingest reads it again, whole.
    """
    sql.lock_alerts_of(connection, [alert.org_id], exclusive=True)
    period = alert.period_at(now_us)
    periods = {(alert.id, period.start_us): period}
    _evaluate(connection, {alert.id: alert}, periods, None, now_us, keep=False)


def usage_went_down(
    connection: Connection, org_id: str, instants_us: Iterable[int], now_us: int
) -> None:
    """Re-evaluate, from the rollups, the organization's enabled alerts over the watched
    periods holding these instants, after usage there went down (a void): each may
    send ``alert.resolved``. Call it in the transaction that took the usage away."""
    instants = sorted(set(instants_us))
    hold_alerts(connection, [org_id])  # taken already by a caller that holds it first
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


def instants_of_days(days: Iterable[tuple[str, date]]) -> list[int]:
    """The first and last microsecond of each (org, UTC day): between them, they fall
    in every local day or month of any zone that the UTC day overlaps."""
    found: list[int] = []
    for _, day in days:
        start = (day.toordinal() - _EPOCH_ORDINAL) * US_PER_DAY
        found += [start, start + US_PER_DAY - 1]
    return found


def current(connection: Connection, alert: Alert, now_us: int) -> tuple[Period, int, str]:
    """The period holding now, its total and its state, for the alert's ``current``."""
    period = alert.period_at(now_us)
    row = sql.get_period(connection, alert.id, period.start_us)
    if alert.enabled and row is not None and row["value"] is not None:
        value = row["value"]
    else:
        value = total(connection, alert, period)
    return period, value, row["status"] if row is not None else OK
