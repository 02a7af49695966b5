"""Alerts as the API and the command line manage them: create, list, read, change, delete.

Each operation runs in one transaction; creating, enabling or changing an enabled
alert evaluates its current period in it (:func:`creditmeter.alerting.evaluate_current`).
Checks come in the contract's order (``usage-alerts.md`` edge case 1): the body,
then membership (403 on a collection, 404 on an id), then the role, then the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from creditmeter import alerting
from creditmeter.alerts import (
    OK,
    Alert,
    Period,
    changed,
    format_value,
    parse_create,
    parse_patch,
)
from creditmeter.credentials import new_id
from creditmeter.errors import Conflict, NotFound
from creditmeter.org_access import Actor, check_org, check_writer, role_of
from creditmeter.store import Store
from creditmeter.store import alerts as sql
from creditmeter.webhooks.outbox import instant_text


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True)
class AlertView:
    """An alert with its ``current`` period: the period holding now, its total, its state."""

    alert: Alert
    period: Period
    value: int
    status: str

    def document(self) -> dict[str, Any]:
        """The API's JSON object (thresholds and values as Decimals or ints)."""
        alert = self.alert
        return {
            "id": alert.id,
            "orgId": alert.org_id,
            "name": alert.name,
            "metric": alert.metric,
            "threshold": format_value(alert.metric, alert.threshold),
            "period": alert.period,
            "timeZone": alert.time_zone,
            "filters": {name: list(values) for name, values in alert.filters.items()},
            "enabled": alert.enabled,
            "createdAt": instant_text(alert.created_at_us),
            "updatedAt": instant_text(alert.updated_at_us),
            "current": {
                "periodStart": self.period.start_text,
                "periodEnd": self.period.end_text,
                "value": format_value(alert.metric, self.value),
                "status": self.status,
            },
        }


class Alerts:
    """The alerts of every organization in one store."""

    def __init__(
        self, store: Store, *, max_per_org: int = 100, clock: Callable[[], int] = now_us
    ) -> None:
        self.store = store
        self.max_per_org = max_per_org
        self.clock = clock

    def _view(self, connection: Any, alert: Alert, now: int) -> AlertView:
        period, value, status = alerting.current(connection, alert, now)
        return AlertView(alert, period, value, status)

    def _owned(self, connection: Any, alert_id: str, actor: Actor | None) -> Alert:
        """The alert, if the actor may see it; else 404 (another organization's too)."""
        row = sql.get_alert(connection, alert_id)
        if row is None or (actor is not None and role_of(connection, row["org_id"], actor) is None):
            raise NotFound(f"There is no alert '{alert_id}'.", param="alertId")
        return alerting.alert_of_row(row)

    def create(self, org_id: str, body: Mapping[str, Any], actor: Actor | None) -> AlertView:
        values = parse_create(body)
        with self.store.write() as connection:
            check_writer(check_org(connection, org_id, actor), "alerts")
            if sql.count_alerts(connection, org_id) >= self.max_per_org:
                raise Conflict(
                    f"The organization '{org_id}' has {self.max_per_org} alerts, the most it "
                    "may have; delete one first."
                )
            now = self.clock()
            alert = Alert(
                id=new_id("alr_"),
                org_id=org_id,
                name=values["name"],
                metric=values["metric"],
                threshold=values["threshold"],
                period=values["period"],
                time_zone=values["timeZone"],
                filters=values["filters"],
                enabled=values["enabled"],
                watched_from_us=now,
                created_at_us=now,
                updated_at_us=now,
            )
            sql.insert_alert(connection, alerting.row_of_alert(alert))
            if alert.enabled:
                alerting.evaluate_current(connection, alert, now)
            return self._view(connection, alert, now)

    def list(self, org_id: str | None, actor: Actor | None) -> list[AlertView]:
        """Oldest first; ``org_id`` None: every organization's (the command line)."""
        with self.store.read() as connection:
            if org_id is not None:
                check_org(connection, org_id, actor)
            now = self.clock()
            return [
                self._view(connection, alerting.alert_of_row(row), now)
                for row in sql.list_alerts(connection, org_id)
            ]

    def get(self, alert_id: str, actor: Actor | None) -> AlertView:
        with self.store.read() as connection:
            return self._view(connection, self._owned(connection, alert_id, actor), self.clock())

    def update(self, alert_id: str, body: Mapping[str, Any], actor: Actor | None) -> AlertView:
        """Change the fields given (edge cases 9 and 21)."""
        parse_patch(body, None)  # the body's own checks come before the 404
        with self.store.write() as connection:
            stored = self._owned(connection, alert_id, actor)
            values = parse_patch(body, stored)
            role = role_of(connection, stored.org_id, actor)
            check_writer(role or "", "alerts")
            updated, watched = changed(stored, values)
            now = self.clock()
            enabling = updated.enabled and not stored.enabled
            if watched or enabling:
                updated = replace(updated, watched_from_us=now)
            if updated != stored:
                updated = replace(updated, updated_at_us=now)
                sql.update_alert(connection, alert_id, _changed_columns(stored, updated))
            if watched:
                sql.reset_periods(connection, alert_id)
            elif enabling:
                sql.forget_values(connection, alert_id)
            if updated.enabled and (watched or enabling):
                alerting.evaluate_current(connection, updated, now)
            return self._view(connection, updated, now)

    def delete(self, alert_id: str, actor: Actor | None) -> None:
        with self.store.write() as connection:
            stored = self._owned(connection, alert_id, actor)
            check_writer(role_of(connection, stored.org_id, actor) or "", "alerts")
            sql.delete_alert(connection, alert_id)


def _changed_columns(stored: Alert, updated: Alert) -> dict[str, Any]:
    before, after = alerting.row_of_alert(stored), alerting.row_of_alert(updated)
    return {column: value for column, value in after.items() if before[column] != value}


__all__ = ["OK", "AlertView", "Alerts"]
