"""What a usage alert is: its fields, the rules of a request body, and its periods.

No SQL and no HTTP here. A body is read with :func:`read_body` (JSON numbers kept
exact), checked by :func:`parse_create` or :func:`parse_patch` in the contract's
order (``usage-alerts.md``, edge cases 1, 4, 5, 9, 11), and an :class:`Alert`'s
periods are calendar days or months of its zone (:func:`period_of`).

An alert's threshold and a period's value are integers in the metric's unit:
micro-credits for ``credits``, requests for ``requestCount``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from creditmeter.buckets import buckets, local_text, offset_at
from creditmeter.credits import format_micro, to_micro
from creditmeter.dimensions import FILTERS
from creditmeter.errors import InvalidParameter, UnknownParameter
from creditmeter.strings import string_problem
from creditmeter.suggest import did_you_mean, suggestion
from creditmeter.zones import zone_named

METRICS = ("credits", "requestCount")
PERIODS = ("day", "month")
DEFAULT_TIME_ZONE = "UTC"
#: The largest threshold, in the metric's own unit (credits or requests).
MAX_THRESHOLD = 9_000_000_000_000
MAX_FILTER_VALUES = 100
MAX_NAME_LENGTH = 128

#: The writable fields, in the contract's table order: the order of the checks.
FIELDS = ("name", "metric", "threshold", "period", "timeZone", "filters", "enabled")
#: The fields whose change resets the alert's periods and evaluates it again.
WATCHED_FIELDS = ("metric", "threshold", "period", "timeZone", "filters")
_ALIASES = {"time_zone": "timeZone", "tz": "timeZone", "zone": "timeZone", "limit": "threshold"}

OK = "ok"
TRIGGERED = "triggered"


@dataclass(frozen=True)
class Alert:
    """A stored alert. ``filters`` maps filter fields (``apiKey``) to their values."""

    id: str
    org_id: str
    name: str
    metric: str
    threshold: int
    period: str
    time_zone: str
    filters: Mapping[str, tuple[str, ...]]
    enabled: bool
    watched_from_us: int
    created_at_us: int
    updated_at_us: int

    def matches(self, dimensions: Mapping[str, str | None]) -> bool:
        """Whether an event with these dimension values (by column) passes the filters."""
        return all(dimensions[FILTERS[name]] in values for name, values in self.filters.items())

    def period_at(self, instant_us: int) -> Period:
        """The period of this alert holding ``instant_us``."""
        return period_of(self.time_zone, self.period, instant_us)

    def column_filters(self) -> dict[str, tuple[str, ...]]:
        """The filters keyed by rollup column (``api_key``)."""
        return {FILTERS[name]: values for name, values in self.filters.items()}


@dataclass(frozen=True)
class Period:
    """[start_us, end_us) of a local day or month, with its bounds' text in the zone."""

    start_us: int
    end_us: int
    start_text: str
    end_text: str


def format_value(metric: str, value: int) -> Decimal | int:
    """A threshold or total as the export writes the metric: ``1000.0`` or ``12``."""
    if metric == "credits":
        return Decimal(format_micro(value))
    return value


# -- periods -------------------------------------------------------------------------


def _instant_text(seconds: int, zone_name: str) -> str:
    zone = zone_named(zone_name)
    text = local_text(seconds, offset_at(zone, seconds))
    return text


@lru_cache(maxsize=65_536)
def _period(zone_name: str, kind: str, local_ordinal: int) -> Period:
    zone = zone_named(zone_name)
    day = date.fromordinal(local_ordinal)
    if kind == "day":
        first, last = day, day
    else:
        first = day.replace(day=1)
        following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        last = date.fromordinal(following.toordinal() - 1)
    (bucket,) = buckets(zone, "day" if kind == "day" else "month", first, last)
    start, end = bucket.spans[0][0], bucket.spans[-1][1]
    return Period(
        start * 1_000_000,
        end * 1_000_000,
        _instant_text(start, zone_name),
        _instant_text(end, zone_name),
    )


@lru_cache(maxsize=65_536)
def _local_ordinal(zone_name: str, seconds: int) -> int:
    moment = datetime.fromtimestamp(seconds, UTC).astimezone(zone_named(zone_name))
    return moment.date().toordinal()


def period_of(zone_name: str, kind: str, instant_us: int) -> Period:
    """The local day or month (``kind``) of ``zone_name`` holding ``instant_us``.

    A day runs from local midnight to local midnight (from its first instant where
    midnight does not exist): the export's day bucket; a month is its days.
    """
    seconds = instant_us // 1_000_000
    return _period(zone_name, kind, _local_ordinal(zone_name, seconds))


# -- bodies --------------------------------------------------------------------------


def read_body(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body, its numbers exact (Decimal or int); else 400."""
    try:
        body = json.loads(raw, parse_float=Decimal, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameter("The body is not valid JSON; send a JSON object.") from None
    if not isinstance(body, dict):
        raise InvalidParameter('The body must be a JSON object, such as {"name": "…"}.')
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def refuse_unknown_fields(body: Mapping[str, Any], known: Sequence[str]) -> None:
    """400 ``unknown_parameter`` naming the first field of ``body`` not in ``known``."""
    for name in body:
        if name not in known:
            raise UnknownParameter(
                f"Unknown field '{name}'; remove it."
                + suggestion(name, list(known), listing="fields", aliases=_ALIASES),
                param=name,
            )


def _name(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameter("'name' must be a string of 1 to 128 characters.", param="name")
    if (problem := string_problem(value)) is not None:
        raise InvalidParameter(f"'name' {problem}.", param="name")
    return value


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    listed = " or ".join(choices)
    if not isinstance(value, str):
        raise InvalidParameter(f"'{name}' must be {listed}.", param=name)
    if value not in choices:
        guess = did_you_mean(value, choices)
        hint = f" Did you mean '{guess}'?" if guess else ""
        raise InvalidParameter(
            f"'{value}' is not a {name}; use {listed} (exact case).{hint}", param=name
        )
    return value


def _threshold(value: Any) -> Decimal | int:
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise InvalidParameter(
            "'threshold' must be a JSON number greater than 0, such as 1000.", param="threshold"
        )
    if value <= 0:
        raise InvalidParameter(
            f"'threshold' must be greater than 0 (it is {value}).", param="threshold"
        )
    if value > MAX_THRESHOLD:
        raise InvalidParameter(
            f"'threshold' must be at most {MAX_THRESHOLD:,} (it is {value}).", param="threshold"
        )
    return value


def threshold_units(metric: str, value: Decimal | int) -> int:
    """The threshold in the metric's unit; 400 (``param`` threshold) if it does not suit."""
    if metric == "requestCount":
        if not isinstance(value, int):
            raise InvalidParameter(
                f"'threshold' of a requestCount alert must be a whole number written without "
                f"a decimal point (it is {value}).",
                param="threshold",
            )
        return value
    try:
        return to_micro(Decimal(value))
    except ValueError:
        raise InvalidParameter(
            f"'threshold' of a credits alert has at most 6 decimal places (it is {value}).",
            param="threshold",
        ) from None


def _time_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidParameter(
            "'timeZone' must be a time zone name such as 'Europe/Berlin'.", param="timeZone"
        )
    zone_named(value)
    return value


def _filters(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, dict):
        raise InvalidParameter(
            '\'filters\' must be an object such as {"product": ["parse"]}.', param="filters"
        )
    given = {name: values for name, values in value.items() if values is not None}
    for name in given:
        if name not in FILTERS:
            raise UnknownParameter(
                f"Unknown filter 'filters.{name}'; remove it."
                + suggestion(name, list(FILTERS), listing="filters"),
                param=f"filters.{name}",
            )
    found: dict[str, tuple[str, ...]] = {}
    for name in FILTERS:
        if name not in given:
            continue
        param = f"filters.{name}"
        values = given[name]
        if not isinstance(values, list):
            raise InvalidParameter(f"'{param}' must be a list of values.", param=param)
        if not 1 <= len(values) <= MAX_FILTER_VALUES:
            raise InvalidParameter(
                f"'{param}' must hold 1 to {MAX_FILTER_VALUES} values (it holds {len(values)}); "
                "leave the filter out to keep every value.",
                param=param,
            )
        for item in values:
            if not isinstance(item, str):
                raise InvalidParameter(f"A '{param}' value must be a string.", param=param)
            if (problem := string_problem(item)) is not None:
                raise InvalidParameter(f"A '{param}' value {problem}.", param=param)
        found[name] = tuple(dict.fromkeys(values))
    return found


def _enabled(value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameter("'enabled' must be true or false.", param="enabled")
    return value


_CHECKS = {
    "name": _name,
    "metric": lambda value: _choice("metric", value, METRICS),
    "threshold": _threshold,
    "period": lambda value: _choice("period", value, PERIODS),
    "timeZone": _time_zone,
    "filters": _filters,
    "enabled": _enabled,
}
_REQUIRED = ("name", "metric", "threshold", "period")


def _checked(body: Mapping[str, Any], *, required: Sequence[str]) -> dict[str, Any]:
    refuse_unknown_fields(body, FIELDS)
    values: dict[str, Any] = {}
    for name in FIELDS:
        value = body.get(name)
        if value is None:
            if name in required:
                raise InvalidParameter(f"'{name}' is required.", param=name)
            continue
        values[name] = _CHECKS[name](value)
    return values


def parse_create(body: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a new alert, defaults filled; threshold in the metric's unit."""
    values = _checked(body, required=_REQUIRED)
    values["threshold"] = threshold_units(values["metric"], values["threshold"])
    values.setdefault("timeZone", DEFAULT_TIME_ZONE)
    values.setdefault("filters", {})
    values.setdefault("enabled", True)
    return values


def parse_patch(body: Mapping[str, Any], stored: Alert | None) -> dict[str, Any]:
    """The fields a PATCH gives, checked against the stored alert (edge case 9); with
    ``stored`` None, only what the body alone shows (a threshold given with a metric)."""
    values = _checked(body, required=())
    if stored is None:
        if "threshold" in values and "metric" in values:
            threshold_units(values["metric"], values["threshold"])
        return values
    if "threshold" in values or "metric" in values:
        metric = values.get("metric", stored.metric)
        threshold = values.get("threshold")
        if threshold is None:
            threshold = format_value(stored.metric, stored.threshold)
        values["threshold"] = threshold_units(metric, threshold)
    return values


def changed(stored: Alert, values: Mapping[str, Any]) -> tuple[Alert, bool]:
    """The alert with ``values`` applied, and whether a watched field got a new value."""
    updated = replace(
        stored,
        name=values.get("name", stored.name),
        metric=values.get("metric", stored.metric),
        threshold=values.get("threshold", stored.threshold),
        period=values.get("period", stored.period),
        time_zone=values.get("timeZone", stored.time_zone),
        filters=values.get("filters", stored.filters),
        enabled=values.get("enabled", stored.enabled),
    )
    watched = (
        updated.metric != stored.metric
        or updated.threshold != stored.threshold
        or updated.period != stored.period
        or updated.time_zone != stored.time_zone
        or dict(updated.filters) != dict(stored.filters)
    )
    return updated, watched
