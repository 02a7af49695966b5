"""Webhook endpoints as the API and the command line manage them.

Add, list, read, remove, rotate the secret, send a test message, read the
deliveries log. Checks come in the contract's order, as for alerts
(:mod:`creditmeter.alert_operations`). The secret is shown in the answers to
creation and rotation only; it is stored encrypted (:mod:`creditmeter.webhooks.sealing`),
since the server signs with it (docs/decisions/0011-alerts.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection

from creditmeter.alerts import refuse_unknown_fields
from creditmeter.credentials import new_id
from creditmeter.errors import Conflict, InvalidParameter, NotFound
from creditmeter.org_access import Actor, check_org, check_writer, role_of
from creditmeter.store import Store
from creditmeter.store import alerts as sql
from creditmeter.webhooks.addresses import check_url, refuse_private
from creditmeter.webhooks.outbox import instant_text, queue
from creditmeter.webhooks.sealing import Sealer
from creditmeter.webhooks.signing import new_secret

FIELDS = ("url", "description")
MAX_DESCRIPTION = 256
#: How long the secret a rotation replaced still signs, in microseconds.
ROTATION_OVERLAP_US = 24 * 3600 * 1_000_000
#: Messages the deliveries log lists.
DELIVERIES_LISTED = 100


def now_us() -> int:
    return time.time_ns() // 1000


def document(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's endpoint object (without the secret)."""
    return {
        "id": row["id"],
        "orgId": row["org_id"],
        "url": row["url"],
        "description": row["description"],
        "createdAt": instant_text(row["created_at_us"]),
    }


def delivery_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """One message of the deliveries log, its attempts oldest first."""
    return {
        "messageId": row["message_id"],
        "type": row["type"],
        "createdAt": instant_text(row["created_at_us"]),
        "status": row["status"],
        "nextAttemptAt": (
            instant_text(row["next_attempt_us"]) if row["status"] == "pending" else None
        ),
        "attempts": [
            {
                "attemptedAt": instant_text(attempt["attempted_at_us"]),
                "statusCode": attempt["status_code"],
                "error": attempt["error"],
                "durationMs": attempt["duration_ms"],
            }
            for attempt in row["attempts"]
        ],
    }


def parse_body(body: Mapping[str, Any], *, allow_private: bool) -> tuple[str, str | None]:
    """(url, description) of a new endpoint; 400 naming the field otherwise."""
    refuse_unknown_fields(body, FIELDS)
    url = body.get("url")
    if url is None:
        raise InvalidParameter("'url' is required.", param="url")
    target = check_url(url)
    description = body.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise InvalidParameter("'description' must be a string.", param="description")
        if not 1 <= len(description) <= MAX_DESCRIPTION:
            raise InvalidParameter(
                f"'description' must be 1 to {MAX_DESCRIPTION} characters "
                f"(it has {len(description)}); leave it out for none.",
                param="description",
            )
        if not description.isprintable():
            raise InvalidParameter(
                "'description' must hold only printable characters.", param="description"
            )
    if not allow_private:
        refuse_private(target)
    return target.url, description


class Webhooks:
    """The webhook endpoints of every organization in one store."""

    def __init__(
        self,
        store: Store,
        *,
        max_per_org: int = 10,
        allow_private: bool = False,
        clock: Callable[[], int] = now_us,
        sealer: Sealer,
    ) -> None:
        """``sealer``: what encrypts the secrets (the server's: ``Settings.sealer``)."""
        self.sealer = sealer
        self.store = store
        self.max_per_org = max_per_org
        self.allow_private = allow_private
        self.clock = clock

    def _owned(
        self, connection: Connection, webhook_id: str, actor: Actor | None
    ) -> dict[str, Any]:
        row = sql.get_endpoint(connection, webhook_id)
        if row is None or (actor is not None and role_of(connection, row["org_id"], actor) is None):
            raise NotFound(f"There is no webhook endpoint '{webhook_id}'.", param="webhookId")
        return row

    def _writable(
        self, connection: Connection, webhook_id: str, actor: Actor | None
    ) -> dict[str, Any]:
        row = self._owned(connection, webhook_id, actor)
        check_writer(role_of(connection, row["org_id"], actor) or "", "webhooks")
        return row

    def add(
        self, org_id: str, body: Mapping[str, Any], actor: Actor | None
    ) -> tuple[dict[str, Any], str]:
        """The new endpoint and its secret (shown this once)."""
        url, description = parse_body(body, allow_private=self.allow_private)
        with self.store.write() as connection:
            check_writer(check_org(connection, org_id, actor), "webhooks")
            if sql.count_endpoints(connection, org_id) >= self.max_per_org:
                raise Conflict(
                    f"The organization '{org_id}' has {self.max_per_org} webhook endpoints, the "
                    "most it may have; remove one first."
                )
            secret = new_secret()
            row = {
                "id": new_id("whk_"),
                "org_id": org_id,
                "url": url,
                "description": description,
                "secret": self.sealer.seal(secret),
                "previous_secret": None,
                "previous_until_us": None,
                "created_at_us": self.clock(),
            }
            sql.insert_endpoint(connection, row)
        return document(row), secret

    def list(self, org_id: str | None, actor: Actor | None) -> list[dict[str, Any]]:
        with self.store.read() as connection:
            if org_id is not None:
                check_org(connection, org_id, actor)
            return [document(row) for row in sql.list_endpoints(connection, org_id)]

    def get(self, webhook_id: str, actor: Actor | None) -> dict[str, Any]:
        with self.store.read() as connection:
            return document(self._owned(connection, webhook_id, actor))

    def remove(self, webhook_id: str, actor: Actor | None) -> None:
        """Remove the endpoint; its pending messages are dropped."""
        with self.store.write() as connection:
            self._writable(connection, webhook_id, actor)
            sql.delete_endpoint(connection, webhook_id)

    def rotate(self, webhook_id: str, actor: Actor | None) -> tuple[dict[str, Any], str]:
        """A new secret; the one it replaces also signs for 24 hours (edge cases 14, 21)."""
        with self.store.write() as connection:
            row = self._writable(connection, webhook_id, actor)
            secret = new_secret()
            sql.update_endpoint(
                connection,
                webhook_id,
                {
                    "secret": self.sealer.seal(secret),
                    # Moved as stored: it is opened only to sign.
                    "previous_secret": row["secret"],
                    "previous_until_us": self.clock() + ROTATION_OVERLAP_US,
                },
            )
        return document(row), secret

    def test(self, webhook_id: str, actor: Actor | None) -> str:
        """Queue a ``webhook.test`` message to this endpoint only; its id."""
        with self.store.write() as connection:
            row = self._writable(connection, webhook_id, actor)
            return queue(
                connection,
                org_id=row["org_id"],
                type="webhook.test",
                data={"orgId": row["org_id"], "webhookId": webhook_id},
                now_us=self.clock(),
                webhook_ids=[webhook_id],
            )

    def deliveries(self, webhook_id: str, actor: Actor | None) -> list[dict[str, Any]]:
        """Its newest messages, newest first."""
        with self.store.read() as connection:
            self._owned(connection, webhook_id, actor)
            return [
                delivery_document(row)
                for row in sql.deliveries_of(connection, webhook_id, DELIVERIES_LISTED)
            ]
