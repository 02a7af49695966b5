"""Retention of the outbox and the deliveries log: what is finished goes after a while.

A delivery that is ``delivered`` or ``failed`` is removed, with its attempts, once it
finished longer ago than ``CREDITMETER_WEBHOOK_RETENTION_DAYS``; then every message
older than that which no delivery refers to any more (all its deliveries removed, its
endpoints deleted, or sent when its organization had none). A pending delivery stays,
whatever its age, and keeps its message. ``0`` keeps everything.

Each server's delivery worker (:mod:`creditmeter.webhooks.delivery`) sweeps at start
and then at most once every ``DeliveryOptions.sweep_every_s``, in batches of a few
hundred rows, each its own short write transaction: SQLite's one writer is held for
milliseconds at a time, and ingest gets it between batches. On PostgreSQL each batch
locks its rows with ``SKIP LOCKED``, so servers sweeping at once take different rows:
none is removed twice and none waits for another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from creditmeter.store import Store
from creditmeter.store import alerts as sql

#: Rows (deliveries, or messages) removed in one transaction.
BATCH = 500


@dataclass
class Swept:
    """What a sweep removed."""

    deliveries: int = 0
    attempts: int = 0
    messages: int = 0

    def __iadd__(self, other: Swept) -> Swept:
        self.deliveries += other.deliveries
        self.attempts += other.attempts
        self.messages += other.messages
        return self


def _deliveries(connection: Connection, cutoff_us: int, limit: int) -> tuple[int, Swept]:
    keys = sql.finished_deliveries_before(connection, cutoff_us, limit)
    attempts = sql.delete_deliveries(connection, keys)
    return len(keys), Swept(deliveries=len(keys), attempts=attempts)


def _messages(connection: Connection, cutoff_us: int, limit: int) -> tuple[int, Swept]:
    ids = sql.unreferenced_messages_before(connection, cutoff_us, limit)
    sql.delete_messages(connection, ids)
    return len(ids), Swept(messages=len(ids))


def sweep(
    store: Store,
    *,
    cutoff_us: int,
    batch: int = BATCH,
    between: Callable[[], bool] = lambda: False,
) -> Swept:
    """Remove the deliveries that finished before ``cutoff_us`` (with their attempts),
    then the messages created before it that no delivery refers to; ``batch`` rows a
    transaction. ``between`` runs between two transactions (a pause); True stops."""
    swept = Swept()
    for step in (_deliveries, _messages):
        while True:
            with store.write() as connection:
                rows, done = step(connection, cutoff_us, batch)
            swept += done
            if rows < batch:
                break
            if between():
                return swept
    return swept
