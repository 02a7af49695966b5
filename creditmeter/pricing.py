"""Pricing units in credits: the rate card's one lookup rule (credit-rates.md).

A :class:`Card` holds rate versions, indexed by (scope, product, feature).
:meth:`Card.rate_for` finds the version that prices an event of organization O,
product P, feature F at instant t: the first in force at t of O+P+F, O+P+any,
global+P+F, global+P+any (an event without a feature looks only at the
any-feature rates). The version in force of one (scope, product, feature) is the
last with ``effectiveFrom`` ≤ t, ties going to the one recorded last.

:func:`credits_of` turns units into credits, exactly: integer micro-units times
integer micro-credits per unit, rounded half-up to the micro-credit.
:func:`price_events` prices a batch's events with units; HTTP ingest,
``creditmeter ingest`` and the demo all price through it. :func:`card_rows` is
the same rule seen from the other side: the rows that price an organization's
events at an instant, as ``GET /api/v1/rates`` lists them.

Nothing here reads a clock or a store: the caller passes the instant and the
versions (:mod:`creditmeter.rates` loads them, once per batch).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from creditmeter.credits import MAX_EVENT_CREDITS, MICRO, format_micro
from creditmeter.errors import Problem
from creditmeter.events import Event
from creditmeter.timestamps import datetime_of_us, format_instant

#: The scope or feature key of "global" and "any feature".
ANY = ""
_MAX_EVENT_MICRO = MAX_EVENT_CREDITS * MICRO


@dataclass(frozen=True, slots=True)
class RateVersion:
    """One recorded version of a rate; ``org_id`` None: the global card; ``feature``
    None: any feature. ``seq`` is the order of recording."""

    id: str
    org_id: str | None
    product: str
    feature: str | None
    unit: str
    credits_per_unit_micro: int
    effective_from_us: int
    created_at_us: int
    seq: int


@dataclass(frozen=True, slots=True)
class CardRow:
    """A row of an organization's card at an instant: the version, and whose it is."""

    version: RateVersion
    #: "org" (the organization's own) or "global".
    source: str


def credits_of(units_micro: int, credits_per_unit_micro: int) -> int:
    """Micro-credits of ``units_micro`` micro-units at ``credits_per_unit_micro``,
    rounded half-up (both are ≥ 0, so half-up is adding half a micro and flooring)."""
    return (units_micro * credits_per_unit_micro + MICRO // 2) // MICRO


class _Line:
    """The versions of one (scope, product, feature), in force order."""

    __slots__ = ("starts", "versions")

    def __init__(self, versions: list[RateVersion]) -> None:
        versions.sort(key=lambda v: (v.effective_from_us, v.seq))
        self.versions = versions
        self.starts = [v.effective_from_us for v in versions]

    def at(self, instant_us: int) -> RateVersion | None:
        # Past every version that starts at or before the instant: the one before is
        # in force (of several with one start, the last recorded).
        position = bisect_right(self.starts, instant_us)
        return self.versions[position - 1] if position else None


class Card:
    """Rate versions (any scopes and products), indexed for :meth:`rate_for`."""

    def __init__(self, versions: Iterable[RateVersion]) -> None:
        grouped: dict[tuple[str, str, str], list[RateVersion]] = {}
        for version in versions:
            key = (version.org_id or ANY, version.product, version.feature or ANY)
            grouped.setdefault(key, []).append(version)
        self._lines = {key: _Line(found) for key, found in grouped.items()}
        # Which organizations have rates of their own for a product, and which
        # features have rates of their own (in any scope): every other organization
        # and feature is priced as the global card and "any feature" are, so their
        # step functions are shared (see :meth:`steps`).
        self._own_products = {(scope, product) for scope, product, _ in self._lines if scope}
        self._own_features = {(product, feature) for _, product, feature in self._lines if feature}
        self._steps: dict[tuple[str, str, str], tuple[list[int], list[RateVersion | None]]] = {}

    def in_force(
        self, org_id: str | None, product: str, feature: str | None, instant_us: int
    ) -> RateVersion | None:
        """The version of exactly this scope, product and feature in force at the instant."""
        line = self._lines.get((org_id or ANY, product, feature or ANY))
        return line.at(instant_us) if line is not None else None

    def rate_for(
        self, org_id: str, product: str, feature: str | None, instant_us: int
    ) -> RateVersion | None:
        """The version that prices an event of ``org_id``, ``product``, ``feature`` at
        the instant (the lookup order above); None: the event has no rate."""
        lines = self._lines
        if feature is not None:
            order = ((org_id, feature), (org_id, ANY), (ANY, feature), (ANY, ANY))
        else:
            order = ((org_id, ANY), (ANY, ANY))
        for scope, feature_key in order:
            line = lines.get((scope, product, feature_key))
            if line is not None and (found := line.at(instant_us)) is not None:
                return found
        return None

    def steps(
        self, org_id: str, product: str, feature: str | None
    ) -> tuple[list[int], list[RateVersion | None]]:
        """:meth:`rate_for` of one (organization, product, feature) as a step function
        of time: (instants, the version from each on). What prices an event changes only
        where some candidate version starts, so the lookup is made once per instant
        there, and an event's is one bisect.

        An organization without rates of its own for the product is priced as the
        global card (its lookups of its own lines find nothing), and a feature without
        rates of its own as any feature: such keys share one step function, made once
        (a batch of thousands of organizations and features mostly needs a few). The
        lists are shared between such keys: read them, never change them."""
        scope = org_id if (org_id, product) in self._own_products else ANY
        feature_key = feature if feature and (product, feature) in self._own_features else ANY
        key = (scope, product, feature_key)
        found = self._steps.get(key)
        if found is None:
            candidates = [
                self._lines.get(line)
                for line in (
                    key,
                    (scope, product, ANY),
                    (ANY, product, feature_key),
                    (ANY, product, ANY),
                )
            ]
            instants = sorted({start for line in candidates if line for start in line.starts})
            found = self._steps[key] = (
                instants,
                [self.rate_for(scope, product, feature_key or None, at) for at in instants],
            )
        return found


class Pricer:
    """Prices events from one card. Each (organization, product, feature) is looked up
    once, as a step function of time (:meth:`Card.steps`); each event is then one
    bisect. A pricer lives as long as its card: a batch (ingest reads the card once
    a batch), or a file's validation pass."""

    def __init__(self, card: Card) -> None:
        self._card = card
        self._steps: dict[
            tuple[str, str, str | None], tuple[list[int], list[RateVersion | None]]
        ] = {}

    def price(self, events: Iterable[Event]) -> list[Problem]:
        """Give each event sent with units its credits, from the rate in force at its
        timestamp; the problems of those that cannot be priced (field ``units``).

        An event's ``credits_micro`` is set in place: pricing is the last step of
        reading it, and its units stay as sent.
        """
        problems: list[Problem] = []
        steps = self._steps
        half = MICRO // 2
        for event in events:
            units = event.units_micro
            if units is None:
                continue
            key = (event.org_id, event.product, event.feature)
            step = steps.get(key)
            if step is None:
                step = steps[key] = self._card.steps(*key)
            position = bisect_right(step[0], event.timestamp_us)
            rate = step[1][position - 1] if position else None
            if rate is None:
                problems.append(Problem(event.index, "units", _no_rate(event)))
                continue
            # credits_of, inline: this is the loop every event sent with units goes through.
            credits = (units * rate.credits_per_unit_micro + half) // MICRO
            if credits > _MAX_EVENT_MICRO:
                problems.append(
                    Problem(
                        event.index,
                        "units",
                        f"{format_micro(units)} units at "
                        f"{format_micro(rate.credits_per_unit_micro)} credits per {rate.unit} "
                        f"({rate.id}) make {format_micro(credits)} credits, more than the "
                        f"{MAX_EVENT_CREDITS:,} one event may carry; split the event.",
                    )
                )
                continue
            event.credits_micro = credits
        return problems


def price_events(card: Card, events: Sequence[Event]) -> list[Problem]:
    """Price a batch's events sent with units from ``card`` (see :meth:`Pricer.price`)."""
    return Pricer(card).price(events)


def _no_rate(event: Event) -> str:
    feature = f", feature '{event.feature}'" if event.feature is not None else ""
    return (
        f"No rate is in force for product '{event.product}'{feature} at {event.sent_timestamp}: "
        "record one (creditmeter rates set, or POST /api/v1/admin/rates) or send 'credits'."
    )


def card_rows(versions: Iterable[RateVersion], org_id: str | None, at_us: int) -> list[CardRow]:
    """The rows that price ``org_id``'s events at ``at_us`` (None: the global card):
    its own versions in force, then the global ones in force that none of them
    shadows, ordered by product, then feature (any feature first), in byte order.

    A global P+F row is shadowed by an org row P+F or P+any; a global P+any row
    by an org row P+any.
    """
    card = Card(versions)
    own: dict[tuple[str, str], RateVersion] = {}
    common: dict[tuple[str, str], RateVersion] = {}
    for scope, product, feature in card._lines:
        if scope == ANY:
            found = card.in_force(None, product, feature or None, at_us)
            if found is not None:
                common[(product, feature)] = found
        elif scope == org_id:
            found = card.in_force(scope, product, feature or None, at_us)
            if found is not None:
                own[(product, feature)] = found
    rows = [CardRow(version, "org") for version in own.values()]
    for (product, feature), version in common.items():
        if (product, ANY) in own or (product, feature) in own:
            continue
        rows.append(CardRow(version, "global"))
    rows.sort(key=lambda row: _byte_order(row.version))
    return rows


def scheduled_changes(
    versions: Iterable[RateVersion], org_id: str | None, after_us: int
) -> list[tuple[int, CardRow]]:
    """The changes ahead of ``after_us``: each later version that ``org_id``'s card
    will show at its own ``effectiveFrom``, as (that instant, its row), in time order."""
    versions = list(versions)
    changes: list[tuple[int, CardRow]] = []
    starts = sorted(
        {
            v.effective_from_us
            for v in versions
            if v.effective_from_us > after_us and (v.org_id is None or v.org_id == org_id)
        }
    )
    for start in starts:
        for row in card_rows(versions, org_id, start):
            if row.version.effective_from_us == start:
                changes.append((start, row))
    return changes


def _byte_order(version: RateVersion) -> tuple[bytes, bool, bytes]:
    feature = version.feature
    return (
        version.product.encode("utf-8"),
        feature is not None,
        (feature or "").encode("utf-8"),
    )


def instant_text(instant_us: int) -> str:
    """An instant as the card writes it back: UTC with ``Z``, 6 fractional digits
    when not a whole second (edge case 6)."""
    return format_instant(datetime_of_us(instant_us))
