"""``creditmeter alert|webhook``: usage alerts and webhook endpoints on the database directly.

The API's rules and messages (``usage-alerts.md``, "Command line"): the commands
call the same operations as the API, acting as an owner of any organization. A
running server delivers the messages they queue.
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import msgspec
import typer

from creditmeter.alert_operations import Alerts
from creditmeter.alerts import METRICS, PERIODS
from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    opened_store,
    reports_errors,
    settings_for,
)
from creditmeter.webhooks.endpoints import Webhooks
from creditmeter.webhooks.outbox import encode

alert_app = typer.Typer(
    help="Usage alerts: a threshold on an organization's usage.", no_args_is_help=True
)
webhook_app = typer.Typer(
    help="Webhook endpoints: where alerts are sent, signed.", no_args_is_help=True
)

Metric = StrEnum("Metric", {metric: metric for metric in METRICS})
PeriodName = StrEnum("PeriodName", {period: period for period in PERIODS})
OrgOption = Annotated[str, typer.Option("--org", metavar="ORG_ID", help="The organization.")]
OptionalOrg = Annotated[
    str | None,
    typer.Option("--org", metavar="ORG_ID", help="Only this organization's [default: all]"),
]


def _print(document: Any) -> None:
    typer.echo(msgspec.json.format(encode(document), indent=2).decode("utf-8"))


def _number(text: str) -> Any:
    """The threshold as the API reads it from JSON: an exact number, else the text."""
    try:
        value = json.loads(text, parse_float=Decimal)
    except ValueError:
        return text
    return value if isinstance(value, (int, Decimal)) and not isinstance(value, bool) else text


def _alerts(store: Any) -> Alerts:
    return Alerts(store, max_per_org=settings_for(None).max_alerts_per_org)


def _webhooks(store: Any) -> Webhooks:
    settings = settings_for(None)
    return Webhooks(
        store,
        max_per_org=settings.max_webhooks_per_org,
        allow_private=settings.webhook_allow_private,
    )


@alert_app.command("create")
@reports_errors
def alert_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The alert's name.")],
    org: OrgOption,
    metric: Annotated[
        Metric, typer.Option(metavar=f"[{'|'.join(METRICS)}]", help="What is summed.")
    ],
    threshold: Annotated[
        str, typer.Option(metavar="N", help="Fires when a period's total reaches it.")
    ],
    period: Annotated[
        PeriodName,
        typer.Option(metavar=f"[{'|'.join(PERIODS)}]", help="A calendar day or month."),
    ],
    time_zone: Annotated[
        str, typer.Option("--time-zone", metavar="TZ", help="The periods' IANA zone.")
    ] = "UTC",
    product: Annotated[
        list[str] | None, typer.Option(metavar="VALUE", help="Only these products (repeat).")
    ] = None,
    feature: Annotated[
        list[str] | None, typer.Option(metavar="VALUE", help="Only these features (repeat).")
    ] = None,
    api_key: Annotated[
        list[str] | None, typer.Option(metavar="VALUE", help="Only these API keys (repeat).")
    ] = None,
    file_type: Annotated[
        list[str] | None, typer.Option(metavar="VALUE", help="Only these file types (repeat).")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it disabled.")] = False,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Create an alert, evaluated at once as the API does; prints its id and state."""
    filters = {
        name: values
        for name, values in (
            ("product", product), ("feature", feature), ("apiKey", api_key),
            ("fileType", file_type),
        )
        if values
    }  # fmt: skip
    body = {
        "name": name,
        "metric": metric.value,
        "threshold": _number(threshold),
        "period": period.value,
        "timeZone": time_zone,
        "filters": filters,
        "enabled": not disabled,
    }
    with opened_store(database_url) as store:
        view = _alerts(store).create(org, body, None)
    document = view.document()
    if json_output:
        _print(document)
    else:
        current = document["current"]
        typer.echo(
            f"{document['id']}\t{current['status']}\t{current['value']} of {document['threshold']}"
        )


@alert_app.command("list")
@reports_errors
def alert_list(
    org: OptionalOrg = None, database_url: DatabaseUrl = None, json_output: JsonOutput = False
) -> None:
    """List alerts, oldest first, with their current period's total and state."""
    with opened_store(database_url) as store:
        documents = [view.document() for view in _alerts(store).list(org, None)]
    if json_output:
        _print(documents)
        return
    for d in documents:
        current = d["current"]
        typer.echo(
            f"{d['id']}\t{d['orgId']}\t{d['name']}\t{d['metric']} {d['threshold']} per "
            f"{d['period']}\t{current['status']}\t{current['value']}"
            + ("" if d["enabled"] else "\tdisabled")
        )


@alert_app.command("delete")
@reports_errors
def alert_delete(
    alert_id: Annotated[str, typer.Argument(metavar="ALERT_ID")], database_url: DatabaseUrl = None
) -> None:
    """Delete an alert; messages it already made are still delivered."""
    with opened_store(database_url) as store:
        _alerts(store).delete(alert_id, None)
    typer.echo(f"Deleted {alert_id}.")


@webhook_app.command("add")
@reports_errors
def webhook_add(
    url: Annotated[str, typer.Argument(metavar="URL", help="An absolute http(s) URL.")],
    org: OrgOption,
    description: Annotated[str | None, typer.Option(metavar="TEXT")] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Add a webhook endpoint; prints its secret, this once."""
    body: dict[str, Any] = {"url": url, "description": description}
    with opened_store(database_url) as store:
        endpoint, secret = _webhooks(store).add(org, body, None)
    if json_output:
        _print({**endpoint, "secret": secret})
    else:
        typer.echo(f"{endpoint['id']}\t{endpoint['url']}")
        typer.echo(f"Secret (shown once; keep it safe): {secret}")


@webhook_app.command("list")
@reports_errors
def webhook_list(
    org: OptionalOrg = None, database_url: DatabaseUrl = None, json_output: JsonOutput = False
) -> None:
    """List webhook endpoints, oldest first (never their secrets)."""
    with opened_store(database_url) as store:
        endpoints = _webhooks(store).list(org, None)
    if json_output:
        _print(endpoints)
        return
    for e in endpoints:
        typer.echo(f"{e['id']}\t{e['orgId']}\t{e['url']}\t{e['description'] or ''}".rstrip())


@webhook_app.command("remove")
@reports_errors
def webhook_remove(
    webhook_id: Annotated[str, typer.Argument(metavar="WEBHOOK_ID")],
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a webhook endpoint; its pending messages are dropped."""
    with opened_store(database_url) as store:
        _webhooks(store).remove(webhook_id, None)
    typer.echo(f"Removed {webhook_id}.")


@webhook_app.command("test")
@reports_errors
def webhook_test(
    webhook_id: Annotated[str, typer.Argument(metavar="WEBHOOK_ID")],
    database_url: DatabaseUrl = None,
) -> None:
    """Queue a webhook.test message to this endpoint; a running server sends it."""
    with opened_store(database_url) as store:
        message_id = _webhooks(store).test(webhook_id, None)
    typer.echo(f"Queued {message_id}; a running 'creditmeter serve' delivers it.")
