"""Demo data: a few organizations, their people and keys, and 90 days of realistic usage.

The usage goes in through :func:`creditmeter.ingest.record`, the same path as
every real event. It is random but seeded, so two demos of the same day hold
the same numbers.

It is priced through a rate card (credit-rates.md) built as if it had been set
90 days ago: a global card, one organization's override, one change in the
middle of the 90 days and one scheduled for next month. Parse, extract and split
usage is sent in pages (``units``) and priced by :func:`creditmeter.rates.price`,
as HTTP ingest and ``creditmeter ingest`` price it; edit usage is sent with the
credits its sender computed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from creditmeter import rates
from creditmeter.credits import MICRO, to_micro
from creditmeter.directory import Directory
from creditmeter.events import Event
from creditmeter.ingest import now_us, record
from creditmeter.store import Store
from creditmeter.timestamps import format_instant, us_of_datetime

DAYS = 90
SEED = 20260519
#: Where ``creditmeter demo`` builds (and serves) the demo, unless told otherwise.
DEMO_DATABASE_URL = "sqlite:///creditmeter-demo.db"

# product → (feature → credits per page)
PRODUCTS: dict[str, dict[str, Decimal]] = {
    "parse": {"standard": Decimal("1"), "agentic": Decimal("2")},
    "extract": {"standard": Decimal("2"), "agentic": Decimal("4"), "table": Decimal("3")},
    "split": {"standard": Decimal("0.5")},
    "edit": {"standard": Decimal("1.5"), "fill": Decimal("2.25")},
}
#: Products whose usage the demo sends in pages, priced by the card; the others send credits.
PRICED_IN_UNITS = frozenset({"parse", "extract", "split"})
UNIT = "page"
#: The override: one organization's own rate for one product and feature.
OVERRIDE = ("org_acme", "extract", "agentic", Decimal("3.5"))
#: The change in the middle of the 90 days: (product, feature, new rate).
MID_CHANGE = ("split", "standard", Decimal("0.6"))
#: The change scheduled for the first day of next month.
SCHEDULED = ("parse", "standard", Decimal("1.25"))
PRODUCT_WEIGHTS = {"parse": 50, "extract": 28, "split": 12, "edit": 10}
FILE_TYPES = {"pdf": 58, "docx": 12, "xlsx": 8, "png": 7, "jpg": 5, "pptx": 4, None: 6}


@dataclass(frozen=True)
class DemoOrg:
    id: str
    name: str
    events_per_weekday: int
    product_keys: tuple[str, ...]


ORGS = (
    DemoOrg(
        "org_acme", "Acme Robotics", 260, ("key_acme_prod", "key_acme_staging", "key_acme_batch")
    ),
    DemoOrg("org_globex", "Globex Legal", 90, ("key_globex_prod", "key_globex_dev")),
    DemoOrg("org_initech", "Initech Finance", 40, ("key_initech_prod",)),
)
# (email, [(org, role)])
PEOPLE = (
    ("ada@acme.example", [("org_acme", "owner"), ("org_globex", "member")]),
    ("grace@globex.example", [("org_globex", "owner")]),
    ("linus@initech.example", [("org_initech", "owner")]),
    ("ken@acme.example", [("org_acme", "member")]),
)


@dataclass(frozen=True)
class DemoInfo:
    """What the demo prints: who to be and what to call."""

    email: str
    org_id: str
    personal_key: str
    ingest_token: str
    events: int
    first_day: date
    last_day: date


def _pick(rng: random.Random, weights: dict, /):  # type: ignore[no-untyped-def,type-arg]
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def generate_events(now: datetime, *, seed: int = SEED) -> list[Event]:
    """90 days of usage up to ``now`` (an aware datetime) for the demo organizations."""
    rng = random.Random(seed)
    events: list[Event] = []
    first = now.date() - timedelta(days=DAYS - 1)
    for org in ORGS:
        for offset in range(DAYS):
            day = first + timedelta(days=offset)
            weekend = day.weekday() >= 5
            growth = 0.7 + 0.6 * offset / DAYS
            rhythm = 0.25 if weekend else 1.0
            count = int(org.events_per_weekday * growth * rhythm * rng.uniform(0.8, 1.2))
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            for n in range(count):
                # Office hours peak around 14:00 UTC.
                seconds = int(min(max(rng.gauss(14 * 3600, 4 * 3600), 0), 86_399))
                moment = start + timedelta(seconds=seconds, microseconds=rng.randrange(1_000_000))
                if moment > now:
                    continue
                product = _pick(rng, PRODUCT_WEIGHTS)
                feature = rng.choice(list(PRODUCTS[product]))
                pages = max(1, int(rng.lognormvariate(1.2, 0.9)))
                credits = PRODUCTS[product][feature] * pages
                api_key = rng.choice(org.product_keys) if rng.random() > 0.04 else None
                in_units = product in PRICED_IN_UNITS
                events.append(
                    Event(
                        org_id=org.id,
                        id=f"req_{org.id[4:]}_{day.isoformat()}_{n:05d}",
                        timestamp_us=us_of_datetime(moment),
                        product=product,
                        feature=feature,
                        api_key=api_key,
                        file_type=_pick(rng, FILE_TYPES),
                        # Priced by the card (rates.price) when sent in pages.
                        credits_micro=0 if in_units else to_micro(credits),
                        request_count=1,
                        units_micro=pages * MICRO if in_units else None,
                        sent_timestamp=format_instant(moment) if in_units else None,
                    )
                )
    return events


def set_card(store: Store, now: datetime) -> None:
    """The demo's rate card, recorded as it would have been: the global card and the
    override 90 days before ``now``, the change in the middle then, and at ``now`` the
    change scheduled for the first day of next month."""
    first = datetime.combine(now.date() - timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    middle = first + timedelta(days=DAYS // 2)
    next_month = (now.date().replace(day=1) + timedelta(days=32)).replace(day=1)
    start = datetime.combine(next_month, datetime.min.time(), UTC)

    def version(
        product: str, feature: str, rate: Decimal, *, at: datetime, org_id: str | None = None
    ) -> rates.RateDraft:
        return rates.draft(
            org_id=org_id,
            product=product,
            feature=feature,
            unit=UNIT,
            credits_per_unit=rate,
            effective_from=None,
            now_us=us_of_datetime(at),
        )

    card = [
        version(product, feature, rate, at=first)
        for product, features in PRODUCTS.items()
        for feature, rate in features.items()
    ]
    org_id, product, feature, rate = OVERRIDE
    card.append(version(product, feature, rate, at=first, org_id=org_id))
    rates.record(store, card, now_us=us_of_datetime(first))
    rates.record(store, [version(*MID_CHANGE, at=middle)], now_us=us_of_datetime(middle))
    product, feature, rate = SCHEDULED
    scheduled = rates.draft(
        org_id=None, product=product, feature=feature, unit=UNIT, credits_per_unit=rate,
        effective_from=format_instant(start), now_us=us_of_datetime(now),
    )  # fmt: skip
    rates.record(store, [scheduled], now_us=us_of_datetime(now))


def build_demo(store: Store, *, now: datetime | None = None) -> DemoInfo:
    """Fill an empty store with the demo directory and usage up to ``now``."""
    now = now or datetime.now(UTC)
    today = now.date()
    directory = Directory(store)
    for org in ORGS:
        directory.create_org(org.name, org.id)
    users = {}
    for email, memberships in PEOPLE:
        users[email] = directory.create_user(email)
        for org_id, role in memberships:
            directory.set_membership(org_id, users[email].id, role)
    email, (org_id, _) = PEOPLE[0][0], PEOPLE[0][1][0]
    _, personal_key = directory.create_key(users[email].id, org_id, name="demo")
    _, ingest_token = directory.create_token("demo ingest", ["usage:write"])
    set_card(store, now)
    events = generate_events(now)
    problems = rates.price(store, events)
    if problems:  # the card covers every product the demo sends in pages
        raise RuntimeError(f"the demo's card does not price its events: {problems[0].message}")
    received = now_us()
    for start in range(0, len(events), 10_000):
        record(store, events[start : start + 10_000], received_us=received)
    return DemoInfo(
        email=email,
        org_id=org_id,
        personal_key=personal_key,
        ingest_token=ingest_token,
        events=len(events),
        first_day=today - timedelta(days=DAYS - 1),
        last_day=today,
    )
