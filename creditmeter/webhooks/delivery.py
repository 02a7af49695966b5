"""The delivery worker every ``creditmeter serve`` runs: the outbox's due attempts, sent.

A round takes due deliveries from the outbox (``store.alerts.claim_due``: on
PostgreSQL ``FOR UPDATE SKIP LOCKED``, so of several servers one takes each) and
pushes each one's next attempt past the attempt's timeout plus a margin: a lease.
An attempt cut short by a crash is thus made again, by any server, once its lease
ends. Each attempt resolves the host again, connects only to a public address
(unless private ones are allowed), POSTs the message's stored body signed when
made (Standard Webhooks), follows no redirect, and is over after the timeout,
whole. Its outcome is logged and moves the delivery on: ``delivered`` on a 2xx,
else due again after the schedule's next delay, or ``failed`` when none is left.

The endpoint's secrets are stored encrypted and opened here only, to sign
(:mod:`creditmeter.webhooks.sealing`). A secret this server's key does not open
holds its deliveries: nothing is sent or logged as an attempt, the lease makes them
due again, and the server's log says once per endpoint what to change.

The worker also sweeps, at start and then hourly, what the retention no longer keeps
(:mod:`creditmeter.webhooks.retention`), in a thread beside the attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from anyio import to_thread

from creditmeter._version import __version__
from creditmeter.credentials import new_id
from creditmeter.errors import SealingError
from creditmeter.store import Store
from creditmeter.store import alerts as sql
from creditmeter.timestamps import datetime_of_us
from creditmeter.webhooks import retention
from creditmeter.webhooks.addresses import check_url, is_public, resolve
from creditmeter.webhooks.sealing import Sealer
from creditmeter.webhooks.signing import signature_header

log = logging.getLogger("creditmeter.webhooks")

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
#: How long past an attempt's timeout its lease lasts: a crashed attempt is made
#: again within the timeout + 10 s of its start (a round every poll interval).
LEASE_MARGIN_S = 5.0


@dataclass(frozen=True)
class DeliveryOptions:
    """How the worker delivers (``Settings.delivery_options()`` fills it)."""

    timeout_s: float = 10.0
    retry_schedule: Sequence[float] = DEFAULT_RETRY_SCHEDULE
    poll_s: float = 0.5
    allow_private: bool = False
    concurrency: int = 8
    #: How long finished deliveries, their attempts and their messages are kept;
    #: None keeps them for ever (:mod:`creditmeter.webhooks.retention`).
    retention_s: float | None = 30 * 86_400.0
    #: A sweep at start, then at most one this often (by the worker's clock).
    sweep_every_s: float = 3600.0
    sweep_batch: int = retention.BATCH
    #: The pause between two of a sweep's transactions: other writers go first.
    sweep_pause_s: float = 0.05


class PrivateAddress(Exception):
    """The host has no public address to connect to."""


class Unresolved(Exception):
    """The host's name does not resolve."""


def _us(seconds: float) -> int:
    return int(seconds * 1_000_000)


class DeliveryWorker:
    """Sends the outbox's due attempts until :meth:`stop`."""

    def __init__(
        self,
        store: Store,
        options: DeliveryOptions,
        *,
        sealer: Sealer,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.options = options
        self.sealer = sealer
        #: Endpoints whose secret did not open, already logged (once each per process).
        self._unsigned: set[tuple[str, str]] = set()
        self.clock = clock
        self._transport = transport
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        #: Seen by a sweep's thread between two transactions.
        self._sweep_stopping = threading.Event()
        self._last_sweep: float | None = None

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._sweep_stopping.set()

    async def run(self) -> None:
        """Claim and send due attempts until stopped; attempts in flight are cut short
        (their leases end and another round makes them again)."""
        attempts: set[asyncio.Task[None]] = set()
        sweeping: asyncio.Task[None] | None = None
        timeout = httpx.Timeout(self.options.timeout_s)
        async with httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, transport=self._transport
        ) as client:
            try:
                while not self._stopping.is_set():
                    if (sweeping is None or sweeping.done()) and self._sweep_due():
                        sweeping = asyncio.create_task(self._sweep())
                    free = self.options.concurrency - len(attempts)
                    claimed: list[dict[str, Any]] = []
                    if free > 0:
                        try:
                            claimed = await to_thread.run_sync(self._claim, free)
                        except Exception:
                            log.exception("could not read the webhook outbox")
                    for delivery in claimed:
                        task = asyncio.create_task(self._attempt(client, delivery))
                        attempts.add(task)
                        task.add_done_callback(attempts.discard)
                    if len(claimed) < free:
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.options.poll_s)
                    elif not claimed:
                        await asyncio.wait(attempts, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in attempts:
                    task.cancel()
                await asyncio.gather(*attempts, return_exceptions=True)
                if sweeping is not None:
                    # Its thread ends after the transaction it is in.
                    await asyncio.gather(sweeping, return_exceptions=True)

    def _sweep_due(self) -> bool:
        """Whether a retention sweep is due: at start, then every ``sweep_every_s`` (or
        at once if the clock went back)."""
        if self.options.retention_s is None:
            return False
        now = self.clock()
        last = self._last_sweep
        return last is None or now >= last + self.options.sweep_every_s or now < last

    async def _sweep(self) -> None:
        """Remove what the retention no longer keeps, in a thread, batch after batch."""
        assert self.options.retention_s is not None
        now = self._last_sweep = self.clock()
        cutoff_us = _us(now - self.options.retention_s)
        pause = self.options.sweep_pause_s
        try:
            swept = await to_thread.run_sync(
                lambda: retention.sweep(
                    self.store,
                    cutoff_us=cutoff_us,
                    batch=self.options.sweep_batch,
                    between=lambda: self._sweep_stopping.wait(pause),
                )
            )
        except Exception:
            log.exception("could not remove old webhook deliveries")
            return
        if swept.deliveries or swept.messages:
            log.info(
                "webhook retention: removed %d deliveries (%d attempts) and %d messages "
                "finished before %s",
                swept.deliveries,
                swept.attempts,
                swept.messages,
                datetime_of_us(cutoff_us).isoformat(),
            )

    def _claim(self, limit: int) -> list[dict[str, Any]]:
        now = self.clock()
        # A read first: most rounds find nothing due, and SQLite has one writer,
        # which ingest needs far more than an idle outbox.
        with self.store.read() as connection:
            due = sql.next_due(connection)
        if due is None or due > _us(now):
            return []
        with self.store.write() as connection:
            return sql.claim_due(
                connection,
                now_us=_us(now),
                lease_until_us=_us(now + self.options.timeout_s + LEASE_MARGIN_S),
                claim=new_id("att_", 24),
                limit=limit,
            )

    async def _attempt(self, client: httpx.AsyncClient, delivery: dict[str, Any]) -> None:
        started = self.clock()
        status_code: int | None = None
        error: str | None = None
        try:
            status_code = await asyncio.wait_for(
                self._send(client, delivery, started), self.options.timeout_s
            )
        except SealingError as exc:
            # Nothing was sent: no attempt is logged, and the lease running out makes
            # the delivery due again, until the key is set right or the secret rotated.
            self._log_once(delivery["webhook_id"], "secret", exc)
            return
        except TimeoutError:
            error = "timeout"
        except PrivateAddress:
            error = "private_address"
        except (httpx.HTTPError, OSError, Unresolved):
            error = "connection_error"
        ended = self.clock()
        attempt = {
            "attempted_at_us": _us(started),
            "status_code": status_code,
            "error": error,
            "duration_ms": int((ended - started) * 1000),
        }
        delivered = status_code is not None and 200 <= status_code < 300
        failures = delivery["attempt_count"]  # every earlier attempt failed
        schedule = self.options.retry_schedule
        if delivered:
            status, next_us = "delivered", None
        elif failures < len(schedule):
            status, next_us = "pending", _us(ended + schedule[failures])
        else:
            status, next_us = "failed", None
        try:
            await to_thread.run_sync(self._record, delivery, attempt, status, next_us, _us(ended))
        except Exception:
            log.exception("could not log a webhook attempt of %s", delivery["message_id"])

    def _record(
        self,
        delivery: dict[str, Any],
        attempt: dict[str, Any],
        status: str,
        next_us: int | None,
        ended_us: int,
    ) -> None:
        with self.store.write() as connection:
            sql.record_attempt(
                connection,
                message_id=delivery["message_id"],
                webhook_id=delivery["webhook_id"],
                claim=delivery["claim"],
                attempt=attempt,
                status=status,
                next_attempt_us=next_us,
                finished_at_us=ended_us,
            )

    def _log_once(self, webhook_id: str, which: str, exc: SealingError) -> None:
        if (webhook_id, which) not in self._unsigned:
            self._unsigned.add((webhook_id, which))
            if which == "secret":
                log.error("webhook messages to %s are held: %s", webhook_id, exc.message)
            else:
                log.warning("only the new secret of %s signs: %s", webhook_id, exc.message)

    def _secrets(self, delivery: dict[str, Any], now: float) -> list[str]:
        """The secrets that sign this attempt, opened: the current one, then the one it
        replaced while that still signs (left out, and logged, if it does not open)."""
        webhook_id = delivery["webhook_id"]
        opened = [self.sealer.open(delivery["secret"], webhook_id)]
        if delivery["previous_secret"] and (delivery["previous_until_us"] or 0) > _us(now):
            try:
                opened.append(self.sealer.open(delivery["previous_secret"], webhook_id))
            except SealingError as exc:
                self._log_once(webhook_id, "previous", exc)
        return opened

    async def _send(self, client: httpx.AsyncClient, delivery: dict[str, Any], now: float) -> int:
        secrets = self._secrets(delivery, now)
        target = check_url(delivery["url"])
        addresses = await to_thread.run_sync(resolve, target.host, target.port)
        if not addresses:
            raise Unresolved(target.host)
        allowed = [a for a in addresses if self.options.allow_private or is_public(a)]
        if not allowed:
            raise PrivateAddress(target.host)
        timestamp = int(now)
        body = delivery["body"].encode("utf-8")
        url = httpx.URL(target.url)
        headers = {
            "host": url.netloc.decode("ascii"),
            "content-type": "application/json",
            "webhook-id": delivery["message_id"],
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery["message_id"], timestamp, body),
            "user-agent": f"creditmeter/{__version__}",
        }
        # Connect to the checked address itself; the name still goes in Host and TLS.
        pinned = url.copy_with(host=str(allowed[0]))
        request = client.build_request(
            "POST", pinned, content=body, headers=headers, extensions={"sni_hostname": target.host}
        )
        response = await client.send(request, stream=True)
        await response.aclose()
        return response.status_code
