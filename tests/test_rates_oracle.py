"""Pricing held to an independent oracle: random cards (global and per organization,
several versions, changes at random instants, some at the same instant) and random
events, priced by the oracle with nothing but Decimal and the contract's words.

The first property prices in process (many examples); the second records the card
and the events through a real server on each store, then demands that each stored
event and the export's totals equal the oracle's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditmeter.events import Event
from creditmeter.pricing import Card, RateVersion, credits_of, price_events
from tests.conftest import Service

ORGS = ("org_a", "org_b", "org_c")
PRODUCTS = ("p", "q")
FEATURES = (None, "f", "g")
MICRO = Decimal("0.000001")


@dataclass(frozen=True)
class OracleRate:
    scope: str | None  # None: global
    product: str
    feature: str | None
    rate: Decimal
    start: int  # seconds after the card's origin
    recorded: int  # the order of recording


@dataclass(frozen=True)
class OracleEvent:
    org: str
    product: str
    feature: str | None
    units: Decimal
    at: int  # seconds after the origin


def _six_places(limit: int) -> st.SearchStrategy[Decimal]:
    return st.integers(min_value=0, max_value=limit * 1_000_000).map(
        lambda micro: Decimal(micro).scaleb(-6)
    )


_amounts = st.one_of(
    _six_places(5),
    _six_places(1_000),
    st.sampled_from([Decimal("0.5"), Decimal("0.000001"), Decimal("0.4"), Decimal("0")]),
)


@st.composite
def cards(draw: st.DrawFn) -> list[OracleRate]:
    count = draw(st.integers(min_value=0, max_value=12))
    return [
        OracleRate(
            scope=draw(st.sampled_from((None, *ORGS[:2]))),
            product=draw(st.sampled_from(PRODUCTS)),
            feature=draw(st.sampled_from(FEATURES)),
            rate=draw(_amounts),
            start=draw(st.sampled_from([0, 0, 30, 60, 60, 90])),
            recorded=n,
        )
        for n in range(count)
    ]


_events = st.lists(
    st.builds(
        OracleEvent,
        org=st.sampled_from(ORGS),
        product=st.sampled_from(PRODUCTS),
        feature=st.sampled_from(FEATURES),
        units=_amounts,
        at=st.integers(min_value=0, max_value=120),
    ),
    max_size=25,
)


def oracle_price(card: list[OracleRate], event: OracleEvent) -> Decimal | None:
    """The contract's lookup, word for word: O+P+F, O+P+any, global+P+F, global+P+any;
    in each, the last version (by effectiveFrom, then recording) with effectiveFrom ≤ t."""
    order = [(event.org, event.feature), (event.org, None), (None, event.feature), (None, None)]
    if event.feature is None:
        order = [(event.org, None), (None, None)]
    for scope, feature in order:
        in_force = [
            r
            for r in card
            if r.scope == scope
            and r.product == event.product
            and r.feature == feature
            and r.start <= event.at
        ]
        if in_force:
            chosen = max(in_force, key=lambda r: (r.start, r.recorded))
            return (event.units * chosen.rate).quantize(MICRO, rounding=ROUND_HALF_UP)
    return None


def _micro(amount: Decimal) -> int:
    return int(amount / MICRO)


@settings(max_examples=500)
@given(cards(), _events)
def test_pricing_equals_the_oracle(card: list[OracleRate], events: list[OracleEvent]) -> None:
    versions = [
        RateVersion(
            id=f"rate_{r.recorded}",
            org_id=r.scope,
            product=r.product,
            feature=r.feature,
            unit="page",
            credits_per_unit_micro=_micro(r.rate),
            effective_from_us=r.start * 1_000_000,
            created_at_us=0,
            seq=r.recorded,
        )
        for r in card
    ]
    priced = Card(versions)
    batch = [
        Event(event.org, f"e{n}", event.at * 1_000_000, event.product, event.feature, None,
              None, 0, 1, n, _micro(event.units), "as sent")
        for n, event in enumerate(events)
    ]  # fmt: skip
    problems = {problem.index for problem in price_events(priced, batch)}
    for n, event in enumerate(events):
        expected = oracle_price(card, event)
        found = priced.rate_for(event.org, event.product, event.feature, event.at * 1_000_000)
        if expected is None:
            assert found is None and n in problems
            continue
        assert found is not None and n not in problems
        assert credits_of(_micro(event.units), found.credits_per_unit_micro) == _micro(expected)
        # The batch's pricing (a step function per key) gives the same credits.
        assert batch[n].credits_micro == _micro(expected)


def _instant(origin: datetime, seconds: int) -> str:
    return (origin + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cards(), _events)
def test_stored_events_and_exports_equal_the_oracle(
    service: Service, card: list[OracleRate], events: list[OracleEvent]
) -> None:
    tenants = {org: service.tenant() for org in ORGS}
    real_org = {org: tenants[org].org_id for org in ORGS}
    tag = uuid.uuid4().hex[:10]
    real_product = {p: f"{p}-{tag}" for p in PRODUCTS}
    # Rates cannot be back-dated: the card starts a little ahead of now.
    origin = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    for r in card:
        body: dict[str, Any] = {
            "product": real_product[r.product],
            "unit": "page",
            "effectiveFrom": _instant(origin, r.start),
        }
        if r.scope is not None:
            body["orgId"] = real_org[r.scope]
        if r.feature is not None:
            body["feature"] = r.feature
        text = json.dumps(body)[:-1] + f', "creditsPerUnit": {r.rate}}}'
        answer = service.admin.post(
            "/api/v1/admin/rates", content=text, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 201, answer.text
    expected = [oracle_price(card, event) for event in events]
    priceable = [(n, e) for n, e in enumerate(events) if expected[n] is not None]
    unpriced = [n for n, price in enumerate(expected) if price is None]
    lines = []
    for n, event in enumerate(events):
        item: dict[str, Any] = {
            "id": f"e{n}",
            "orgId": real_org[event.org],
            "timestamp": _instant(origin, event.at),
            "product": real_product[event.product],
        }
        if event.feature is not None:
            item["feature"] = event.feature
        lines.append(json.dumps(item)[:-1] + f', "units": {event.units}}}')
    writer = tenants["org_a"].writer
    answer = writer.post(
        "/api/v1/usage/events",
        content='{"events": [' + ",".join(lines) + "]}",
        headers={"Content-Type": "application/json"},
    )
    if unpriced:
        assert answer.status_code == 400, answer.text
        details = answer.json()["error"]["details"]
        assert [(d["index"], d["field"]) for d in details] == [(n, "units") for n in unpriced]
        # Refused whole: send the priceable ones alone.
        lines = [lines[n] for n, _ in priceable]
        answer = writer.post(
            "/api/v1/usage/events",
            content='{"events": [' + ",".join(lines) + "]}",
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == len(priceable)
    mark = "?" if service.store.dialect == "sqlite" else "%s"
    day = origin.date()
    for org in ORGS:
        mine = [(n, e) for n, e in priceable if e.org == org]
        with service.store.read() as connection:
            found = dict(
                connection.exec_driver_sql(
                    f"SELECT event_id, credits_micro FROM usage_events WHERE org_id = {mark}",
                    (real_org[org],),
                ).all()
            )
        assert found == {f"e{n}": _micro(expected[n]) for n, _ in mine}  # type: ignore[arg-type]
        export = tenants[org].export(
            startDate=(day - timedelta(days=1)).isoformat(),
            endDate=(day + timedelta(days=1)).isoformat(),
            groupBy="product",
        )
        totals: dict[str, Decimal] = {}
        for row in json.loads(export.text, parse_float=Decimal)["data"]:
            totals[row["group"]] = totals.get(row["group"], Decimal(0)) + Decimal(row["credits"])
        wanted: dict[str, Decimal] = {}
        for n, event in mine:
            name = real_product[event.product]
            wanted[name] = wanted.get(name, Decimal(0)) + expected[n]  # type: ignore[operator]
        assert totals == wanted
