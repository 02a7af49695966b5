"""The export rate limit: shared by every server on PostgreSQL, each server's own on SQLite."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from creditmeter.ratelimit import RateLimiter
from creditmeter.store import open_store
from creditmeter.store.rate_limits import SharedRateLimiter
from tests import postgres
from tests.conftest import STORES
from tests.fleet import export, set_up_org
from tests.processes import ServerProcess, start_together


def test_two_servers_admit_the_limit_once_on_postgresql_and_each_on_sqlite(
    store_kind: str, new_database: Callable[[], str], servers: list[ServerProcess]
) -> None:
    limit = 3  # one request every 20 s after the burst: none refills while the test runs
    database_url = new_database()
    access = set_up_org(database_url)
    both = [ServerProcess(database_url, settings={"export_rate_limit": str(limit)}) for _ in "ab"]
    servers.extend(both)
    start_together(both)

    answers = [export(both[n % 2].url, access) for n in range(4 * limit)]

    admitted = [answer for answer in answers if answer.status_code == 200]
    refused = [answer for answer in answers if answer.status_code != 200]
    # SQLite: one machine serves the file, and each server counts for itself.
    assert len(admitted) == (limit if store_kind == "postgresql" else 2 * limit)
    for answer in refused:
        assert answer.status_code == 429
        assert answer.json()["error"]["code"] == "rate_limited"
        retry_after = answer.headers["Retry-After"]
        assert re.fullmatch(r"[0-9]+", retry_after) and 1 <= int(retry_after) <= 60
        assert f"try again in {retry_after} seconds" in answer.json()["error"]["message"]


@pytest.mark.skipif("postgresql" not in STORES, reason="PostgreSQL not selected")
@pytest.mark.parametrize("limit", [1, 3, 7, 60])
def test_the_shared_limiter_answers_as_the_per_process_one(
    postgres_server: postgres.PostgresServer, limit: int
) -> None:
    """The rule is stated twice, in Python and in SQL: the same requests, the same answers."""
    now = [1_800_000_000.0]
    local = RateLimiter(limit, clock=lambda: now[0])
    store = open_store(postgres_server.create_database())
    try:
        shared = SharedRateLimiter(store, limit, clock=lambda: now[0])
        rng = random.Random(limit)
        interval = 60 / limit
        answers = []
        for _ in range(1000):
            # Bursts, requests faster than the limit refills, slower ones, and rests.
            step = rng.choices([0, interval / 2, 2 * interval, 90], [40, 50, 9, 1])[0]
            now[0] += rng.uniform(0, step)
            key = rng.choices(["key_a", "key_b", "key_c"], [8, 1, 1])[0]
            answers.append(shared.acquire(key))
            assert answers[-1] == local.acquire(key), (key, now[0])
        assert None in answers and set(answers) != {None}  # some admitted, some refused
    finally:
        store.close()


@pytest.mark.skipif("postgresql" not in STORES, reason="PostgreSQL not selected")
def test_the_shared_count_is_not_written_to_the_postgresql_wal(
    postgres_server: postgres.PostgresServer,
) -> None:
    """Every export writes it: a logged write would wait for the disk on each request."""
    store = open_store(postgres_server.create_database())
    try:
        with store.read() as connection:
            persistence = connection.exec_driver_sql(
                "SELECT relpersistence FROM pg_class WHERE relname = 'export_rate_limits'"
            ).scalar_one()
    finally:
        store.close()
    assert persistence == "u"
