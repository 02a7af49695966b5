"""A fleet of usage senders and the oracle their exports must equal.

Shared by the tests that run many writers against real server processes:
events with exact decimal credits, bodies that keep those decimals' text, and
the export computed independently with Decimal.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import sqlalchemy as sa

from creditmeter.directory import Directory
from creditmeter.events import read_json_body
from creditmeter.ingest import now_us, record_batch
from creditmeter.settling import settle
from creditmeter.store import Store, open_store
from creditmeter.store.database import normalise_url
from creditmeter.store.dialects import dialect_of
from creditmeter.store.usage import GROUP_COLUMNS, QUARTERS_PER_DAY

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
PRODUCTS = ["parse", "extract", "split", "edit"]
FILE_TYPES = ["pdf", "docx", "png", None]


@dataclass
class Access:
    """An organization with one member: their personal key, and service tokens."""

    org_id: str
    reader: str
    writer: str
    admin: str


def set_up_org(database_url: str) -> Access:
    store = open_store(database_url)
    try:
        directory = Directory(store)
        org = directory.create_org("Concurrency Inc")
        user = directory.create_user(f"{org.id}@example.com")
        directory.set_membership(org.id, user.id, "owner")
        _, reader = directory.create_key(user.id, org.id)
        _, writer = directory.create_token("writers", ["usage:write"])
        _, admin = directory.create_token("administrators", ["admin"])
    finally:
        store.close()
    return Access(org.id, reader, writer, admin)


def make_events(org_id: str, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for n in range(count):
        moment = DAY0 + timedelta(seconds=rng.randrange(3 * 86_400))
        event: dict[str, Any] = {
            "id": f"ev-{seed}-{n}",
            "orgId": org_id,
            "timestamp": moment.isoformat().replace("+00:00", "Z"),
            "product": rng.choice(PRODUCTS),
            "credits": Decimal(rng.randrange(0, 5_000_000)) / 1_000_000,
        }
        if (file_type := rng.choice(FILE_TYPES)) is not None:
            event["fileType"] = file_type
        events.append(event)
    return events


def exact_json(events: list[dict[str, Any]]) -> bytes:
    parts = []
    for event in events:
        fields = [f'"{k}": {json.dumps(v)}' for k, v in event.items() if k != "credits"]
        fields.append(f'"credits": {event["credits"]}')
        parts.append("{" + ", ".join(fields) + "}")
    return ('{"events": [' + ", ".join(parts) + "]}").encode()


def record_raw(store: Store, events: list[dict[str, Any]]) -> None:
    """Record raw events (exact decimal credits) the way the HTTP endpoint does."""
    received = now_us()
    batch = read_json_body(exact_json(events), received)
    record_batch(store, batch, max_events=10_000, received_us=received)


def oracle(events: list[dict[str, Any]], group_by: str) -> list[dict[str, Any]]:
    field_of = {"product": "product", "file_type": "fileType"}[group_by]
    sums: dict[tuple[str, str | None], list[Any]] = defaultdict(lambda: [Decimal(0), 0])
    for event in events:
        key = (event["timestamp"][:10], event.get(field_of))
        sums[key][0] += event["credits"]
        sums[key][1] += 1
    ordered = sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1] is not None, kv[0][1] or ""))
    return [
        {"date": day, "group": group, "credits": float(credits), "requestCount": count}
        for (day, group), (credits, count) in ordered
    ]


def export(url: str, access: Access, **params: str) -> httpx.Response:
    params = {"startDate": "2026-03-01", "endDate": "2026-03-04", **params}
    return httpx.get(
        f"{url}/api/v1/usage/export",
        params=params,
        headers={"Authorization": f"Bearer {access.reader}"},
        timeout=30,
    )


def dimension_rollups_disagreeing(database_url: str) -> list[tuple[Any, ...]]:
    """Per-dimension rollup rows that differ from the full quarter-hour rollups
    summed by day (none when exact), once every day is settled (settling builds them).

    Raises when the full rollups are empty, so that agreement is never vacuous.
    """
    store = open_store(database_url)
    try:
        settle(store)
    finally:
        store.close()
    engine = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            quarters = connection.exec_driver_sql(
                "SELECT org_id, quarter, product, feature, api_key, file_type, credits_micro, "
                "request_count, event_count FROM usage_quarter_rollups"
            ).all()
            by_day = {
                tuple(str(v) for v in row)
                for row in connection.exec_driver_sql(
                    "SELECT dimension, org_id, day, value, credits_micro, request_count, "
                    "event_count FROM usage_dimension_rollups"
                )
            }
    finally:
        engine.dispose()
    if not quarters:
        raise AssertionError("the full rollups are empty")
    days: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for org_id, quarter, *values, credits, requests, events in quarters:
        day = str(date(1970, 1, 1) + timedelta(days=int(quarter) // QUARTERS_PER_DAY))
        for dimension, value in zip(GROUP_COLUMNS, values, strict=True):
            total = days[(dimension, org_id, day, value)]
            total[0] += int(credits)
            total[1] += int(requests)
            total[2] += int(events)

    def rows(table: dict[tuple[str, ...], list[int]]) -> set[tuple[str, ...]]:
        return {(*key, *(str(amount) for amount in amounts)) for key, amounts in table.items()}

    return sorted(rows(days) ^ by_day)


def running_total_days(store: Store, org_id: str) -> set[str]:
    """The days (``yyyy-mm-dd``) of an organization that have running totals stored."""
    with store.read() as connection:
        return {
            str(day)
            for (day,) in connection.exec_driver_sql(
                "SELECT DISTINCT day FROM usage_product_running_totals WHERE org_id = "
                + dialect_of(connection).mark,
                (org_id,),
            )
        }


def void_body(org_id: str, ids: list[str], reason: str) -> bytes:
    return json.dumps({"orgId": org_id, "ids": ids, "reason": reason}).encode()


def audit_trail(url: str, access: Access) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{url}/api/v1/admin/orgs/{access.org_id}/voids",
        headers={"Authorization": f"Bearer {access.admin}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def raw_and_rolled_disagreeing(database_url: str, org_id: str) -> list[tuple[Any, ...]]:
    """The counted raw events (stored, not voided) summed by day, and the quarter
    rollups and daily totals summed by day, where they differ (none when exact)."""
    engine = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    day = "timestamp_us / 86400000000"  # the fleet's events are all after 1970
    try:
        with engine.connect() as connection:
            raw = connection.execute(
                sa.text(
                    f"SELECT {day}, count(*), sum(credits_micro), sum(request_count) "
                    "FROM usage_events AS e WHERE org_id = :org AND NOT EXISTS (SELECT 1 "
                    "FROM usage_voids AS v WHERE v.org_id = e.org_id AND v.event_id = e.event_id) "
                    f"GROUP BY {day}"
                ),
                {"org": org_id},
            ).all()
            rolled = connection.execute(
                sa.text(
                    "SELECT quarter / 96, sum(event_count), sum(credits_micro), "
                    "sum(request_count) FROM usage_quarter_rollups WHERE org_id = :org "
                    "GROUP BY quarter / 96"
                ),
                {"org": org_id},
            ).all()
            totals = connection.execute(
                sa.text(
                    "SELECT day, credits_micro, request_count FROM usage_daily_totals "
                    "WHERE org_id = :org"
                ),
                {"org": org_id},
            ).all()
    finally:
        engine.dispose()
    if not raw:
        raise AssertionError("no counted events")
    as_raw = {(int(d), int(n), int(c), int(r)) for d, n, c, r in raw}
    as_rolled = {(int(d), int(n), int(c), int(r)) for d, n, c, r in rolled}
    epoch = date(1970, 1, 1)
    as_totals = {((date.fromisoformat(str(d)) - epoch).days, int(c), int(r)) for d, c, r in totals}
    return sorted((as_raw ^ as_rolled) | ({(d, c, r) for d, _, c, r in as_raw} ^ as_totals))
