"""Settling days: per-dimension and pair rollups for the days that stopped changing.

An export by one dimension, or grouped or filtered by the product and one other,
reads for each UTC day either that day's settled rollup (a few hundred rows at
most) or its quarter rollups (about a row per event in a sparse workload).
Writing them at ingest costs it a quarter to a half of its time
(docs/decisions/0013-pair-rollups.md, 0016-settled-dimension-rollups.md), so
they are built here instead, off the ingest path: a day that has not changed for
``settle_after`` seconds is settled, its rollups summed from its quarter rollups.
A dense day also gets each product's running totals through its quarter hours, so
that a local day's end inside it is one or two rows per product. A write to a
settled day unsettles it; until it is settled again the export reads its quarters,
so every answer stays exact whatever the state of the pass.

Each server runs :class:`Settler` in the background; ``creditmeter settle`` runs a
pass now (after a backfill, say). Days of one organization are settled a few at a
time, in short write transactions (about 20 ms) holding its lock exclusively:
ingests and voids of that organization wait for one (on SQLite every writer does,
as ever), others do not. Two servers settling at once both find a day settled or
not under that lock, so none is built twice over the other's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from anyio import to_thread

from creditmeter.store import Store
from creditmeter.store import alerts as alerts_sql
from creditmeter.store import pairs as sql
from creditmeter.store.usage import DayKey

log = logging.getLogger("creditmeter.settling")

#: Days looked up at a time.
_BATCH = 200


@dataclass
class Settled:
    """What a settling pass did."""

    days: int = 0
    pair_rows: int = 0
    seconds: float = 0.0


#: While the server is busy, a settling pass rests this many times as long as each
#: of its transactions took: a sixth of one core at most, taken between requests.
_REST_WHEN_BUSY = 5
#: One transaction settles days of one organization until it has taken this long
#: (its commit, not the days' sums, is most of a small day's cost), holding the
#: organization's writers (and on SQLite every writer) back no longer.
_TRANSACTION_S = 0.02


def settle(
    store: Store,
    *,
    changed_before_us: int | None = None,
    stopping: threading.Event | None = None,
    busy: Callable[[], bool] | None = None,
    failed: set[DayKey] | None = None,
) -> Settled:
    """Settle every unsettled day (its rollups, store/pairs.py) that last changed before
    ``changed_before_us`` (default: now), a few days a transaction, until none is
    left or ``stopping`` is set. After each transaction, while ``busy()`` says the
    server is answering requests, rest a while.

    With ``failed``, a transaction that raises is logged and its first day added
    to the set, and the days in it are passed over from then on: one day that
    cannot be settled never holds the others back. Without it, the error is raised.
    """
    began = time.perf_counter()
    before = time.time_ns() // 1000 if changed_before_us is None else changed_before_us
    done = Settled()
    while stopping is None or not stopping.is_set():
        with store.read() as connection:
            # The longest unchanged first; among them, each organization's together.
            found = sql.unsettled_days(connection, before, _BATCH)
        days = sorted(day for day in found if failed is None or day not in failed)
        progress = False
        at = 0
        while at < len(days) and (stopping is None or not stopping.is_set()):
            first = at
            started = time.perf_counter()
            try:
                at, settled = _settle_some(store, days, at, before, done)
            except Exception:
                if failed is None:
                    raise
                log.exception("could not settle %s of %s", days[first][1], days[first][0])
                failed.add(days[first])
                at = first + 1
                continue
            progress = progress or settled
            if busy is not None and busy():
                rest = _REST_WHEN_BUSY * (time.perf_counter() - started)
                if stopping is not None:
                    stopping.wait(rest)
                else:
                    time.sleep(rest)
        if not progress:
            break
    done.seconds = time.perf_counter() - began
    return done


def _settle_some(
    store: Store, days: list[DayKey], at: int, before: int, done: Settled
) -> tuple[int, bool]:
    """Settle days of ``days[at]``'s organization from ``at`` on, in one transaction
    of about ``_TRANSACTION_S``; where the next transaction starts, and whether any
    day was settled (counted in ``done`` once committed)."""
    org_id = days[at][0]
    started = time.perf_counter()
    settled = Settled()
    with store.write() as connection:
        # Exclusive: no ingest or void of the organization between reading its
        # quarters and recording the count they were read at.
        alerts_sql.lock_alerts_of(connection, [org_id], exclusive=True)
        while at < len(days) and days[at][0] == org_id:
            written = sql.settle_day(connection, org_id, days[at][1], before)
            at += 1
            if written is not None:
                settled.days += 1
                settled.pair_rows += written
            if time.perf_counter() - started >= _TRANSACTION_S:
                break
    done.days += settled.days
    done.pair_rows += settled.pair_rows
    return at, settled.days > 0


class Settler:
    """A server's background settling: every ``every_s`` seconds, settles the days
    unchanged for ``after_s`` seconds; ``busy`` tells it when to go gently."""

    def __init__(
        self,
        store: Store,
        *,
        after_s: float,
        every_s: float | None = None,
        busy: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.busy = busy
        self.after_s = after_s
        # Often enough that a day is settled soon after it is due, rarely enough that
        # looking (one indexed read) costs nothing.
        self.every_s = every_s if every_s is not None else min(max(after_s / 4, 1.0), 30.0)
        self.clock = clock
        #: Days that could not be settled, passed over until the server restarts.
        self.failed: set[DayKey] = set()
        self._stopping = asyncio.Event()
        #: Seen by a pass's thread between two days.
        self._thread_stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._thread_stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            before_us = int((self.clock() - self.after_s) * 1_000_000)
            try:
                done = await to_thread.run_sync(self._pass, before_us)
                if done.days:
                    log.info(
                        "settled %d days (%d pair rows) in %.1f s",
                        done.days,
                        done.pair_rows,
                        done.seconds,
                    )
            except Exception:
                log.exception("could not settle days")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.every_s)

    def _pass(self, before_us: int) -> Settled:
        return settle(
            self.store,
            changed_before_us=before_us,
            stopping=self._thread_stopping,
            busy=self.busy,
            failed=self.failed,
        )
