"""Queueing messages: written to the outbox in the caller's transaction.

A message is one event (``alert.triggered``, ``alert.resolved``, ``webhook.test``)
with one id and one body, delivered to every endpoint its organization has when
it is written (or to the one endpoint named). The worker in
:mod:`creditmeter.webhooks.delivery` sends what is due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection

from creditmeter.credentials import new_id
from creditmeter.store import alerts as sql
from creditmeter.timestamps import datetime_of_us, format_instant

#: Decimal thresholds and values are written as JSON numbers, exactly.
_ENCODER = msgspec.json.Encoder(decimal_format="number")


def encode(document: Any) -> bytes:
    """JSON bytes of a document whose Decimals are written as exact numbers."""
    return _ENCODER.encode(document)


def instant_text(instant_us: int) -> str:
    """A UTC instant as the API writes one: RFC 3339 with ``Z``."""
    return format_instant(datetime_of_us(instant_us))


def queue(
    connection: Connection,
    *,
    org_id: str,
    type: str,
    data: Mapping[str, Any],
    now_us: int,
    webhook_ids: Sequence[str] | None = None,
) -> str:
    """Write a message of ``type`` to the outbox; returns its id.

    ``webhook_ids``: its endpoints; by default every endpoint of the organization now.
    """
    message_id = new_id("msg_", 24)
    body = encode({"type": type, "timestamp": instant_text(now_us), "data": data})
    if webhook_ids is None:
        webhook_ids = [row["id"] for row in sql.list_endpoints(connection, org_id)]
    sql.add_message(
        connection,
        {
            "id": message_id,
            "org_id": org_id,
            "type": type,
            "body": body.decode("utf-8"),
            "created_at_us": now_us,
        },
        webhook_ids,
        due_us=now_us,
    )
    return message_id
