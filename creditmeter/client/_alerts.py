"""Usage alerts and webhook endpoints in the client: what the API answers, typed, and
the requests both clients send (``usage-alerts.md``).

Thresholds and totals of ``credits`` alerts are :class:`~decimal.Decimal` from the
answer's text; of ``requestCount`` alerts, ints. The secret of an endpoint is only in
the answers to :meth:`~creditmeter.Client.create_webhook` and
:meth:`~creditmeter.Client.rotate_webhook_secret`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import httpx

ALERTS_PATH = "/api/v1/alerts"
WEBHOOKS_PATH = "/api/v1/webhooks"
#: Keyword argument → the alert field it sets (``None`` leaves a field as it is).
_ALERT_FIELDS = {
    "name": "name",
    "metric": "metric",
    "threshold": "threshold",
    "period": "period",
    "time_zone": "timeZone",
    "filters": "filters",
    "enabled": "enabled",
}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class AlertPeriod:
    """An alert's period holding now: its bounds in the alert's zone, total and state."""

    period_start: datetime
    period_end: datetime
    value: Decimal | int
    status: str


@dataclass(frozen=True, slots=True)
class Alert:
    """A usage alert as the API answered it; ``current`` is its period holding now."""

    id: str
    org_id: str
    name: str
    metric: str
    threshold: Decimal | int
    period: str
    time_zone: str
    filters: Mapping[str, list[str]]
    enabled: bool
    created_at: datetime
    updated_at: datetime
    current: AlertPeriod


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A webhook endpoint; ``secret`` only in the answers to creation and rotation."""

    id: str
    org_id: str
    url: str
    description: str | None
    created_at: datetime
    secret: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    """One attempt: ``status_code`` when the receiver answered, else ``error``."""

    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One message to one endpoint: ``pending``, ``delivered`` or ``failed``."""

    message_id: str
    type: str
    created_at: datetime
    status: str
    next_attempt_at: datetime | None
    attempts: list[WebhookAttempt]


def _number(value: Any) -> Decimal | int:
    return value if isinstance(value, int) else Decimal(value)


def _alert(document: Mapping[str, Any]) -> Alert:
    current = document["current"]
    return Alert(
        id=document["id"],
        org_id=document["orgId"],
        name=document["name"],
        metric=document["metric"],
        threshold=_number(document["threshold"]),
        period=document["period"],
        time_zone=document["timeZone"],
        filters={name: list(values) for name, values in document["filters"].items()},
        enabled=document["enabled"],
        created_at=_instant(document["createdAt"]),
        updated_at=_instant(document["updatedAt"]),
        current=AlertPeriod(
            period_start=datetime.fromisoformat(current["periodStart"]),
            period_end=datetime.fromisoformat(current["periodEnd"]),
            value=_number(current["value"]),
            status=current["status"],
        ),
    )


def _endpoint(document: Mapping[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=document["id"],
        org_id=document["orgId"],
        url=document["url"],
        description=document["description"],
        created_at=_instant(document["createdAt"]),
        secret=document.get("secret"),
    )


def _delivery(document: Mapping[str, Any]) -> WebhookDelivery:
    following = document["nextAttemptAt"]
    return WebhookDelivery(
        message_id=document["messageId"],
        type=document["type"],
        created_at=_instant(document["createdAt"]),
        status=document["status"],
        next_attempt_at=_instant(following) if following else None,
        attempts=[
            WebhookAttempt(
                attempted_at=_instant(a["attemptedAt"]),
                status_code=a["statusCode"],
                error=a["error"],
                duration_ms=a["durationMs"],
            )
            for a in document["attempts"]
        ],
    )


def _decoded(response: httpx.Response) -> Any:
    return json.loads(response.content, parse_float=Decimal)


def parse_alert(response: httpx.Response) -> Alert:
    return _alert(_decoded(response))


def parse_alerts(response: httpx.Response) -> list[Alert]:
    return [_alert(document) for document in _decoded(response)]


def parse_endpoint(response: httpx.Response) -> WebhookEndpoint:
    return _endpoint(_decoded(response))


def parse_endpoints(response: httpx.Response) -> list[WebhookEndpoint]:
    return [_endpoint(document) for document in _decoded(response)]


def parse_deliveries(response: httpx.Response) -> list[WebhookDelivery]:
    return [_delivery(document) for document in _decoded(response)]


def parse_message_id(response: httpx.Response) -> str:
    return str(_decoded(response)["messageId"])


def _json_number(value: Decimal | int | float | str) -> Any:
    """A threshold as the body's JSON number: a Decimal or a str keeps its digits."""
    if isinstance(value, Decimal | str):
        return _Raw(str(value))
    return value


class _Raw(str):
    """Text written into the JSON body as it is (an exact number)."""


def alert_body(fields: Mapping[str, Any]) -> bytes:
    """The JSON body of the fields given (None: not sent), keyword names as the API's."""
    parts = []
    for keyword, name in _ALERT_FIELDS.items():
        value = fields.get(keyword)
        if value is None:
            continue
        if keyword == "threshold":
            value = _json_number(value)
        if keyword == "filters":
            value = {key: list(values) for key, values in value.items()}
        text = str(value) if isinstance(value, _Raw) else json.dumps(value)
        parts.append(f"{json.dumps(name)}: {text}")
    return ("{" + ", ".join(parts) + "}").encode()


def filters_of(
    *,
    products: Iterable[str] | None,
    features: Iterable[str] | None,
    api_keys: Iterable[str] | None,
    file_types: Iterable[str] | None,
) -> dict[str, list[str]] | None:
    """The ``filters`` object of the filter keywords given, else None."""
    given = {
        name: list(values)
        for name, values in (
            ("product", products),
            ("feature", features),
            ("apiKey", api_keys),
            ("fileType", file_types),
        )
        if values is not None
    }
    return given or None


class AlertRequests:
    """Builds the requests of the alert and webhook routes (mixed into both clients)."""

    base_url: str
    timeout: Any
    _headers: dict[str, str]

    def _resource_request(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        org_id: str | None = None,
        body: bytes | None = None,
    ) -> httpx.Request:
        headers = {**self._headers, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return http.build_request(
            method,
            self.base_url + path,
            params={"orgId": org_id} if org_id is not None else None,
            content=body,
            headers=headers,
            timeout=self.timeout,
        )
