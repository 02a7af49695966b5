"""The rate card's rules: what a rate version is, recording one, reading the card.

A version is checked here (credit-rates.md, edge case 13's order) from the
admin API's JSON body or from the command line's text, then recorded by
:func:`record`, which checks the organization and the product's unit in the
write transaction. :func:`price` prices a batch's events with units: it loads
the versions the batch needs in one query, never one per event, and caches
nothing (edge case 15: a rate recorded by any server or by the command line
prices the next batch; docs/decisions/0012-rate-card.md).

Every function that depends on the time takes it as ``now_us``: the demo
records its card as if it had been set 90 days ago.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from creditmeter import credentials
from creditmeter.credits import MAX_EVENT_CREDITS, to_micro
from creditmeter.errors import (
    Conflict,
    DuplicateParameter,
    InvalidParameter,
    NotFound,
    Problem,
    UnknownParameter,
)
from creditmeter.events import Event
from creditmeter.pricing import ANY, Card, CardRow, Pricer, RateVersion, card_rows, price_events
from creditmeter.store import Store
from creditmeter.store import directory as directory_sql
from creditmeter.store import rates as sql
from creditmeter.strings import string_problem
from creditmeter.suggest import refuse_unknown, suggestion
from creditmeter.timestamps import parse_instant_us

#: The fields of a version as the admin API takes it, in the order they are checked.
BODY_FIELDS = ("orgId", "product", "feature", "unit", "creditsPerUnit", "effectiveFrom")
#: The largest creditsPerUnit.
MAX_CREDITS_PER_UNIT = MAX_EVENT_CREDITS
#: The clock skew allowed to an effectiveFrom in the past (edge case 1).
CLOCK_SKEW_US = 60_000_000
#: The admin list's filters (credit-rates.md), in the order they are checked.
LIST_FILTERS = ("scope", "orgId", "product", "feature")
SCOPES = ("global", "org")
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class RateDraft:
    """A version checked but not recorded: ``effective_from_us`` None is "when recorded"."""

    org_id: str | None
    product: str
    feature: str | None
    unit: str
    credits_per_unit_micro: int
    effective_from_us: int | None = None


# -- checking a version ---------------------------------------------------------------


def _text(name: str, value: Any, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise InvalidParameter(f"'{name}' is required.", param=name)
        return None
    if not isinstance(value, str):
        raise InvalidParameter(f"'{name}' must be a string.", param=name)
    problem = string_problem(value)
    if problem is not None:
        hint = "; leave it out (or null) for none" if value == "" and not required else ""
        raise InvalidParameter(f"'{name}' {problem}{hint}.", param=name)
    return value


def credits_per_unit_micro(value: Any) -> int:
    """``creditsPerUnit`` as micro-credits, by the credits rules (edge case 9)."""
    name = "creditsPerUnit"
    if value is None:
        raise InvalidParameter(f"'{name}' is required.", param=name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidParameter(f"'{name}' must be a JSON number, not a string.", param=name)
    if not 0 <= value <= MAX_CREDITS_PER_UNIT:
        raise InvalidParameter(
            f"'{name}' must be between 0 and {MAX_CREDITS_PER_UNIT:,}; got {value}.", param=name
        )
    try:
        return to_micro(Decimal(value))
    except ValueError:
        raise InvalidParameter(
            f"'{name}' {value} has more than 6 decimal places; round it to 6.", param=name
        ) from None


def decimal_of_text(text: str, name: str = "creditsPerUnit") -> Decimal:
    """A number written as decimal text (``2``, ``0.25``), as the command line and the
    import take it; InvalidParameter otherwise."""
    if _DECIMAL_TEXT.fullmatch(text) is None:
        raise InvalidParameter(
            f"'{name}' must be a decimal number such as 2 or 0.25; got '{text}'.", param=name
        )
    _, _, fraction = text.partition(".")
    if len(fraction.rstrip("0")) > 6:
        raise InvalidParameter(
            f"'{name}' {text} has more than 6 decimal places; round it to 6.", param=name
        )
    return Decimal(text)


def instant_us(name: str, text: Any) -> int:
    """An instant taken by the card (edge case 7): RFC 3339 with an offset, by the
    ingest timestamp rules; InvalidParameter naming ``name`` otherwise."""
    if not isinstance(text, str):
        raise InvalidParameter(
            f"'{name}' must be an RFC 3339 instant as a string, such as 2026-06-01T00:00:00Z.",
            param=name,
        )
    try:
        return parse_instant_us(text)
    except ValueError as exc:
        raise InvalidParameter(f"'{name}' {exc}.", param=name) from None


def effective_from_us(value: Any, *, now_us: int) -> int | None:
    """``effectiveFrom``: None (when recorded), or an instant no more than the clock
    skew before ``now_us`` (edge case 1)."""
    if value is None:
        return None
    found = instant_us("effectiveFrom", value)
    if found < now_us - CLOCK_SKEW_US:
        raise InvalidParameter(
            f"'effectiveFrom' {value} is in the past: a rate never reprices recorded usage. "
            "Give an instant from now on (or leave it out for now); usage from before a rate "
            "existed is recorded with 'credits'.",
            param="effectiveFrom",
        )
    return found


def draft_of_body(raw: Any, *, now_us: int) -> RateDraft:
    """A version from the admin API's JSON body, checked in the contract's order."""
    if not isinstance(raw, dict):
        raise InvalidParameter(
            'The body must be a JSON object such as {"product": "parse", "unit": "page", '
            '"creditsPerUnit": 0.5}.'
        )
    unknown = [name for name in raw if name not in BODY_FIELDS]
    if unknown:
        raise UnknownParameter(
            f"Unknown field '{unknown[0]}'."
            + suggestion(unknown[0], BODY_FIELDS, listing="fields"),
            param=unknown[0],
        )
    return draft(
        org_id=raw.get("orgId"),
        product=raw.get("product"),
        feature=raw.get("feature"),
        unit=raw.get("unit"),
        credits_per_unit=raw.get("creditsPerUnit"),
        effective_from=raw.get("effectiveFrom"),
        now_us=now_us,
    )


def draft(
    *,
    org_id: Any,
    product: Any,
    feature: Any,
    unit: Any,
    credits_per_unit: Any,
    effective_from: Any,
    now_us: int,
) -> RateDraft:
    """A version's values checked in the contract's order (the first problem raised)."""
    checked_org = _text("orgId", org_id, required=False)
    checked_product = _text("product", product, required=True)
    checked_feature = _text("feature", feature, required=False)
    checked_unit = _text("unit", unit, required=True)
    micro = credits_per_unit_micro(credits_per_unit)
    start = effective_from_us(effective_from, now_us=now_us)
    assert checked_product is not None and checked_unit is not None
    return RateDraft(checked_org, checked_product, checked_feature, checked_unit, micro, start)


# -- recording ---------------------------------------------------------------------


def version_of(row: Mapping[str, Any]) -> RateVersion:
    """A stored row as a :class:`RateVersion`."""
    return RateVersion(
        id=row["id"],
        org_id=row["org_id"] or None,
        product=row["product"],
        feature=row["feature"] or None,
        unit=row["unit"],
        credits_per_unit_micro=row["credits_per_unit_micro"],
        effective_from_us=row["effective_from_us"],
        created_at_us=row["created_at_us"],
        seq=row["seq"],
    )


def draft_problems(connection: Any, drafts: Sequence[RateDraft]) -> list[tuple[int, Exception]]:
    """What the store says of each draft (by position): an unknown organization
    (NotFound), a unit other than its product's (Conflict), judged against the
    store and the drafts before it."""
    known = directory_sql.existing_org_ids(
        connection, {d.org_id for d in drafts if d.org_id is not None}
    )
    units = sql.units_of(connection, {d.product for d in drafts})
    found: list[tuple[int, Exception]] = []
    for position, each in enumerate(drafts):
        if each.org_id is not None and each.org_id not in known:
            found.append(
                (
                    position,
                    NotFound(f"No organization has the id '{each.org_id}'.", param="orgId"),
                )
            )
            continue
        unit = units.setdefault(each.product, each.unit)
        if unit != each.unit:
            found.append((position, _unit_conflict(each, unit)))
    return found


def _unit_conflict(each: RateDraft, unit: str) -> Conflict:
    return Conflict(
        f"Product '{each.product}' is measured in '{unit}', not '{each.unit}': a product has "
        f"one unit. Give --unit/'unit' '{unit}'.",
        param="unit",
    )


def record(store: Store, drafts: Sequence[RateDraft], *, now_us: int) -> list[RateVersion]:
    """Record versions in one transaction, in order, all or none; the drafts without
    an ``effectiveFrom`` take ``now_us``. Raises NotFound (an unknown organization),
    then Conflict (a second unit for a product), for the first draft with a problem."""
    with store.write() as connection:
        problems = draft_problems(connection, drafts)
        if problems:
            raise problems[0][1]
        claimed = sql.claim_units(connection, {d.product: d.unit for d in drafts})
        for each in drafts:  # a concurrent writer named a product's unit first
            if claimed[each.product] != each.unit:
                raise _unit_conflict(each, claimed[each.product])
        rows = [
            {
                "id": credentials.new_id("rate_"),
                "org_id": each.org_id or ANY,
                "product": each.product,
                "feature": each.feature or ANY,
                "unit": each.unit,
                "credits_per_unit_micro": each.credits_per_unit_micro,
                "effective_from_us": now_us
                if each.effective_from_us is None
                else each.effective_from_us,
                "created_at_us": now_us,
            }
            for each in drafts
        ]
        sequence = sql.insert_versions(connection, rows)
    return [version_of({**row, "seq": seq}) for row, seq in zip(rows, sequence, strict=True)]


# -- reading -------------------------------------------------------------------------


def get(store: Store, rate_id: str) -> RateVersion:
    with store.read() as connection:
        row = sql.version(connection, rate_id)
    if row is None:
        raise NotFound(f"No rate version has the id '{rate_id}'.", param="rateId")
    return version_of(row)


def card(store: Store, org_id: str | None, at_us: int, connection: Any = None) -> list[CardRow]:
    """The rows that price ``org_id``'s events at ``at_us`` (None: the global card)."""
    if connection is None:
        with store.read() as opened:
            return card(store, org_id, at_us, opened)
    rows = sql.versions(connection, org_ids=[ANY] if org_id is None else [ANY, org_id])
    return card_rows([version_of(row) for row in rows], org_id, at_us)


def card_versions(store: Store, org_id: str | None) -> list[RateVersion]:
    """Every version of the global card and of ``org_id``'s (the dashboard's scheduled changes)."""
    with store.read() as connection:
        rows = sql.versions(connection, org_ids=[ANY] if org_id is None else [ANY, org_id])
    return [version_of(row) for row in rows]


@dataclass(frozen=True)
class VersionFilters:
    """The admin list's filters: None is "not filtered"."""

    scope: str | None = None
    org_id: str | None = None
    products: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None


def list_filters(items: Sequence[tuple[str, str]]) -> VersionFilters:
    """The admin list's query items, checked as the export checks its own: unknown
    names, then a name given twice, then each value."""
    refuse_unknown((name for name, _ in items), LIST_FILTERS)
    values: dict[str, list[str]] = {}
    for name, value in items:
        values.setdefault(name, []).append(value)
    for name in ("scope", "orgId"):
        if len(values.get(name, ())) > 1:
            raise DuplicateParameter(
                f"'{name}' was given {len(values[name])} times; give it once.", param=name
            )
    for name in LIST_FILTERS:
        for value in values.get(name, ()):
            if value == "":
                raise InvalidParameter(
                    f"'{name}' is empty; give a value or leave it out.", param=name
                )
            if name == "scope":
                if value not in SCOPES:
                    raise InvalidParameter(
                        f"'{value}' is not a scope; use global or org.", param=name
                    )
            elif (problem := string_problem(value)) is not None:
                raise InvalidParameter(f"'{name}' {problem}.", param=name)
    scope = values.get("scope", [None])[0]
    org_id = values.get("orgId", [None])[0]
    products = tuple(dict.fromkeys(values["product"])) if "product" in values else None
    features = tuple(dict.fromkeys(values["feature"])) if "feature" in values else None
    return VersionFilters(scope, org_id, products, features)


def list_versions(store: Store, filters: VersionFilters | None = None) -> list[RateVersion]:
    """Every version recorded that the filters keep (OR within one, AND across):
    global versions first, then each organization's by orgId (byte order); within
    each by product, feature (any first), effectiveFrom, then recording order."""
    filters = filters or VersionFilters()
    org_ids: Collection[str] | None = None
    if filters.scope == "global":
        org_ids = [ANY] if filters.org_id is None else []
    elif filters.org_id is not None:
        org_ids = [filters.org_id]
    with store.read() as connection:
        rows = sql.versions(
            connection, org_ids=org_ids, products=filters.products, features=filters.features
        )
    found = [version_of(row) for row in rows]
    if filters.scope == "org":
        found = [v for v in found if v.org_id is not None]
    found.sort(
        key=lambda v: (
            v.org_id is not None,
            (v.org_id or "").encode("utf-8"),
            v.product.encode("utf-8"),
            v.feature is not None,
            (v.feature or "").encode("utf-8"),
            v.effective_from_us,
            v.seq,
        )
    )
    return found


# -- pricing a batch -----------------------------------------------------------------


def load_card(connection: Any, events: Sequence[Event]) -> Card:
    """The versions that can price these events, read in one query."""
    products = {e.product for e in events}
    org_ids = {e.org_id for e in events}
    rows = sql.versions_for(connection, products, org_ids if len(org_ids) <= 1000 else None)
    return Card(version_of(row) for row in rows)


def whole_card(store: Store) -> Pricer:
    """A pricer of every version recorded (one query): for a file's validation pass,
    which prices each line as it reads it instead of holding a batch of them."""
    with store.read() as connection:
        rows = sql.versions(connection)
    return Pricer(Card(version_of(row) for row in rows))


def price(store: Store, events: Sequence[Event]) -> list[Problem]:
    """Price the events sent with units from the card as recorded now (one read);
    the problems of those that cannot be. Events sent with credits cost nothing."""
    priced = [e for e in events if e.units_micro is not None]
    if not priced:
        return []
    with store.read() as connection:
        found = load_card(connection, priced)
    return price_events(found, priced)
