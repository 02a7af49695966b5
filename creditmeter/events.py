"""What a usage event is: parsing request bodies and file lines, and every validation rule.

Numbers are parsed as :class:`~decimal.Decimal`, so the rule "at most 6
decimal places" is checked on the number as written, never on a float
approximation of it.

Reading has two paths with one set of rules. The quick path decodes with
msgspec straight into field slots and checks each value with the same
functions; it accepts an event only when every check passes. Anything else
(a wrong type, an unknown field, a bad value, invalid JSON) is read again by
the full path — the standard library's parser and :func:`validate_one` — which
finds and words every problem. So the quick path decides nothing on its own: it
can only take the full path's "valid" answer sooner. A property test holds the
two to the same answers.

An event may carry ``units`` instead of ``credits`` (credit-rates.md). Reading
checks the number and keeps it as micro-units, with the timestamp as sent; its
credits are priced from the rate card afterwards, by :mod:`creditmeter.pricing`,
which needs the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec

from creditmeter.credits import MAX_EVENT_CREDITS, MICRO, to_micro
from creditmeter.dimensions import DIMENSIONS
from creditmeter.errors import Problem
from creditmeter.strings import MAX_LENGTH, string_problem
from creditmeter.suggest import suggestion
from creditmeter.timestamps import (
    FIRST_EPOCH_DAY,
    LAST_EPOCH_DAY,
    US_PER_DAY,
    day_of_us,
    parse_instant_us,
)

FIELDS = (
    "id",
    "orgId",
    "timestamp",
    *(dimension.field for dimension in DIMENSIONS),
    "credits",
    "units",
    "requestCount",
)
_KNOWN = frozenset(FIELDS)
MAX_REQUEST_COUNT = 1_000_000
#: Events may be stamped at most this far ahead of the server's clock.
FUTURE_TOLERANCE_US = US_PER_DAY


@dataclass(slots=True)
class Event:
    """One validated event. ``index`` (its place in a batch) takes no part in equality.

    Treat it as immutable. It is not a frozen dataclass only because a frozen
    one is slower to build, and the bulk import builds every event twice (when
    it reads the line, then from :mod:`creditmeter.event_spool` for the import);
    docs/benchmarks.md has the figures.
    """

    org_id: str
    id: str
    timestamp_us: int
    product: str
    feature: str | None
    api_key: str | None
    file_type: str | None
    credits_micro: int
    request_count: int
    index: int = field(default=0, compare=False)
    #: Micro-units when the event was sent with ``units`` (its ``credits_micro`` are
    #: then 0 until :mod:`creditmeter.pricing` prices it); None when sent with credits.
    units_micro: int | None = None
    #: The timestamp as sent, kept for an event sent with units (a missing rate names it).
    sent_timestamp: str | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.org_id, self.id)

    @property
    def day(self) -> date:
        return day_of_us(self.timestamp_us)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(text: str | bytes) -> Any:
    """JSON with exact decimals; NaN and Infinity refused."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


class _Wire(
    msgspec.Struct,
    forbid_unknown_fields=True,
    rename={
        "org_id": "orgId",
        **{dimension.name: dimension.field for dimension in DIMENSIONS},
        "request_count": "requestCount",
    },
):
    """An event as the quick path decodes it: names and JSON types, no rules yet."""

    id: str
    org_id: str
    timestamp: str
    product: str
    # Any: the JSON type (int, or Decimal via float_hook) is checked in _quick so
    # that a string is refused, never converted. One of credits and units is given.
    credits: Any = None
    units: Any = None
    feature: str | None = None
    api_key: str | None = None
    file_type: str | None = None
    request_count: int | None = None


class _WireBody(msgspec.Struct, forbid_unknown_fields=True):
    events: list[_Wire]


_LINE_DECODER = msgspec.json.Decoder(_Wire, float_hook=Decimal)
_BODY_DECODER = msgspec.json.Decoder(_WireBody, float_hook=Decimal)


#: How many strings one read remembers as fine (see _SeenFine).
_SEEN_FINE_MAX = 4096


class _SeenFine(set[str]):
    """Strings already found fine in this read: an event's organization, product,
    feature, key and file type mostly repeat those of the events before it, and a
    set lookup is a fraction of the string rule's cost."""

    def fine(self, value: str) -> bool:
        if value in self:
            return True
        if not _fine(value):
            return False
        if len(self) >= _SEEN_FINE_MAX:
            self.clear()
        self.add(value)
        return True


def _quick(wire: _Wire, index: int, latest_us: int, seen: _SeenFine) -> Event | None:
    """The event when every rule holds; None when the full path must look at it."""
    event_id, org_id, product = wire.id, wire.org_id, wire.product
    feature, api_key, file_type = wire.feature, wire.api_key, wire.file_type
    if not (
        _fine(event_id)
        and (org_id in seen or seen.fine(org_id))
        and (product in seen or seen.fine(product))
        and (feature is None or feature in seen or seen.fine(feature))
        and (api_key is None or api_key in seen or seen.fine(api_key))
        and (file_type is None or file_type in seen or seen.fine(file_type))
    ):
        return None
    try:
        timestamp_us = parse_instant_us(wire.timestamp)
    except ValueError:
        return None
    if timestamp_us > latest_us or not (
        FIRST_EPOCH_DAY <= timestamp_us // US_PER_DAY <= LAST_EPOCH_DAY
    ):
        return None
    credits = wire.credits
    units_micro = None
    if type(credits) is int:
        if not 0 <= credits <= MAX_EVENT_CREDITS or wire.units is not None:
            return None
        credits_micro = credits * MICRO
    elif type(credits) is Decimal:
        if not 0 <= credits <= MAX_EVENT_CREDITS or wire.units is not None:
            return None
        try:
            credits_micro = to_micro(credits)
        except ValueError:
            return None
    elif credits is None:
        units_micro = _quick_micro(wire.units)
        if units_micro is None:
            return None
        credits_micro = 0
    else:
        return None
    request_count = wire.request_count
    if request_count is None:
        request_count = 1
    elif not 0 <= request_count <= MAX_REQUEST_COUNT:
        return None
    return Event(
        org_id,
        event_id,
        timestamp_us,
        product,
        feature,
        api_key,
        file_type,
        credits_micro,
        request_count,
        index,
        units_micro,
        None if units_micro is None else wire.timestamp,
    )


def _quick_micro(number: Any) -> int | None:
    """Micro-units of a JSON number that follows the credits rules; None otherwise."""
    if type(number) is int:
        return number * MICRO if 0 <= number <= MAX_EVENT_CREDITS else None
    if type(number) is Decimal and 0 <= number <= MAX_EVENT_CREDITS:
        try:
            return to_micro(number)
        except ValueError:
            return None
    return None


@dataclass
class Batch:
    """A request body or a run of file lines, read: its events and every problem."""

    #: Events in the batch, valid or not (the batch size limit counts these).
    size: int
    events: list[Event]
    problems: list[Problem]


def read_json_body(body: bytes, now_us: int) -> Batch:
    """Read a ``{"events": [...]}`` body received at ``now_us``.

    Raises :class:`BodyProblems` when the body as a whole is wrong.
    """
    latest_us = now_us + FUTURE_TOLERANCE_US
    try:
        wires = _BODY_DECODER.decode(body).events
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass
    else:
        seen = _SeenFine()
        events = [_quick(wire, index, latest_us, seen) for index, wire in enumerate(wires)]
        # all(), not "None not in": that compares every event with None by __eq__.
        if all(events):
            return Batch(len(events), events, [])  # type: ignore[arg-type]
    items = parse_json_body(body)
    events, problems = validate(items, now_us)
    return Batch(len(items), events, problems)


def read_lines(
    lines: Iterable[bytes], now_us: int, start: int = 0
) -> Iterator[Event | list[Problem]]:
    """Each non-blank line read as an event, or as the list of that line's problems.

    Lines are numbered from ``start`` (0 for a request body, as its problems
    are indexed; 1 for a file, as people count lines).
    """
    latest_us = now_us + FUTURE_TOLERANCE_US
    decode = _LINE_DECODER.decode
    seen = _SeenFine()
    for index, line in enumerate(lines, start):
        try:
            event = _quick(decode(line), index, latest_us, seen)
        except (msgspec.DecodeError, UnicodeDecodeError):
            event = None
        if event is not None:
            yield event
            continue
        if line.strip():
            yield read_line_fully(index, line, latest_us)


def read_line_fully(index: int, line: bytes, latest_us: int) -> Event | list[Problem]:
    """The full path for one line: the standard parser, then every rule, every problem worded."""
    try:
        raw: Any = loads(line)
    except json.JSONDecodeError as exc:
        # Not json's own "line 1 column 8": the line's number is the problem's index.
        raw = BadLine(f"The line is not valid JSON: {exc.msg} at column {exc.colno}.")
    except (ValueError, UnicodeDecodeError) as exc:
        raw = BadLine(f"The line is not valid JSON: {exc}.")
    problems: list[Problem] = []
    event = validate_one(index, raw, latest_us, problems)
    return event if event is not None else problems


def read_ndjson_body(body: bytes, now_us: int) -> Batch:
    """Read a JSON-lines body received at ``now_us``; problems are indexed by 0-based line."""
    size = 0
    events: list[Event] = []
    problems: list[Problem] = []
    for item in read_lines(body.split(b"\n"), now_us):
        size += 1
        if isinstance(item, Event):
            events.append(item)
        else:
            problems.extend(item)
    return Batch(size, events, problems)


def parse_json_body(body: bytes) -> list[tuple[int, Any]]:
    """The events of a ``{"events": [...]}`` body, numbered from 0.

    Raises a list of problems (as :class:`BodyProblems`) when the body as a
    whole is wrong.
    """
    try:
        document = loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodyProblems([Problem(None, None, f"The body is not valid JSON: {exc}.")]) from None
    if not isinstance(document, dict) or "events" not in document:
        raise BodyProblems(
            [Problem(None, None, 'The body must be a JSON object {"events": [...]}.')]
        )
    problems = [
        Problem(None, key, f"Unknown top-level key '{key}': the body holds only 'events'.")
        for key in document
        if key != "events"
    ]
    if problems:
        raise BodyProblems(problems)
    events = document["events"]
    if not isinstance(events, list):
        raise BodyProblems([Problem(None, "events", "'events' must be a JSON array of events.")])
    return list(enumerate(events))


@dataclass(frozen=True)
class BadLine:
    """A line that could not be parsed as JSON."""

    message: str


class BodyProblems(Exception):
    """The body as a whole could not be read as a batch of events."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems[0].message)
        self.problems = problems


def validate(items: Iterable[tuple[int, Any]], now_us: int) -> tuple[list[Event], list[Problem]]:
    """Validate numbered raw events; return the events and every problem found."""
    events: list[Event] = []
    problems: list[Problem] = []
    latest = now_us + FUTURE_TOLERANCE_US
    for index, raw in items:
        event = validate_one(index, raw, latest, problems)
        if event is not None:
            events.append(event)
    return events, problems


def _fine(value: Any) -> bool:
    """The common case of the string rule, checked cheaply (the full rule: string_problem)."""
    return (
        type(value) is str
        and 0 < len(value) <= MAX_LENGTH
        and not value[0].isspace()
        and not value[-1].isspace()
        and value.isprintable()
    )


def _string(
    index: int, raw: dict[str, Any], name: str, required: bool, problems: list[Problem]
) -> str | None:
    value = raw.get(name)
    if _fine(value):
        return value  # type: ignore[no-any-return]
    if value is None:
        if required:
            problems.append(Problem(index, name, f"'{name}' is required."))
        return None
    if not isinstance(value, str):
        problems.append(Problem(index, name, f"'{name}' must be a string."))
        return None
    problem = string_problem(value)
    if problem is not None:
        if value == "" and not required:
            problem += "; leave the field out (or null) when there is no value"
        problems.append(Problem(index, name, f"'{name}' {problem}."))
        return None
    return value


def validate_one(index: int, raw: Any, latest_us: int, problems: list[Problem]) -> Event | None:
    """Validate one raw event, appending its problems; the Event when it has none."""
    if isinstance(raw, BadLine):
        problems.append(Problem(index, None, raw.message))
        return None
    if not isinstance(raw, dict):
        problems.append(Problem(index, None, "Each event must be a JSON object."))
        return None
    found = len(problems)
    if not _KNOWN.issuperset(raw):
        for name in raw:
            if name not in _KNOWN:
                hint = suggestion(name, FIELDS, listing="fields")
                problems.append(Problem(index, name, f"Unknown field '{name}'.{hint}"))
    event_id = _string(index, raw, "id", True, problems)
    org_id = _string(index, raw, "orgId", True, problems)
    product = _string(index, raw, "product", True, problems)
    feature = _string(index, raw, "feature", False, problems)
    api_key = _string(index, raw, "apiKey", False, problems)
    file_type = _string(index, raw, "fileType", False, problems)

    timestamp_us = 0
    timestamp = raw.get("timestamp")
    if timestamp is None:
        problems.append(Problem(index, "timestamp", "'timestamp' is required."))
    elif not isinstance(timestamp, str):
        problems.append(Problem(index, "timestamp", "'timestamp' must be an RFC 3339 string."))
    else:
        try:
            timestamp_us = parse_instant_us(timestamp)
            day_of_us(timestamp_us)
        except (ValueError, OverflowError) as exc:
            problems.append(Problem(index, "timestamp", f"'timestamp' {exc}."))
        else:
            if timestamp_us > latest_us:
                problems.append(
                    Problem(
                        index,
                        "timestamp",
                        f"'timestamp' {timestamp} is more than 24 hours ahead of the server's "
                        "clock; send events when they happen.",
                    )
                )

    credits_micro = 0
    units_micro: int | None = None
    credits = raw.get("credits")
    units = raw.get("units")
    if credits is not None and units is not None:
        problems.append(
            Problem(
                index,
                "units",
                "'credits' and 'units' are both given; send one: 'credits' as computed, or "
                "'units' to be priced by the rate card.",
            )
        )
    elif units is not None:
        units_micro = _micro(index, "units", units, problems)
    elif credits is None:
        problems.append(Problem(index, "credits", "'credits' is required."))
    else:
        credits_micro = _micro(index, "credits", credits, problems) or 0

    request_count = raw.get("requestCount")
    if request_count is None:
        request_count = 1
    elif isinstance(request_count, bool) or not isinstance(request_count, int):
        problems.append(
            Problem(index, "requestCount", "'requestCount' must be a JSON integer such as 1.")
        )
    elif not 0 <= request_count <= MAX_REQUEST_COUNT:
        problems.append(
            Problem(
                index,
                "requestCount",
                f"'requestCount' must be between 0 and {MAX_REQUEST_COUNT:,}; got {request_count}.",
            )
        )

    if len(problems) > found:
        return None
    assert event_id is not None and org_id is not None and product is not None
    return Event(
        org_id=org_id,
        id=event_id,
        timestamp_us=timestamp_us,
        product=product,
        feature=feature,
        api_key=api_key,
        file_type=file_type,
        credits_micro=credits_micro,
        request_count=request_count,
        index=index,
        units_micro=units_micro,
        sent_timestamp=None if units_micro is None else timestamp,
    )


def _micro(index: int, name: str, number: Any, problems: list[Problem]) -> int | None:
    """Micro-units of ``number`` by the credits rules (``credits`` and ``units`` alike),
    or None with its problem appended."""
    if isinstance(number, bool) or not isinstance(number, int | Decimal):
        problems.append(Problem(index, name, f"'{name}' must be a JSON number, not a string."))
        return None
    if number < 0 or number > MAX_EVENT_CREDITS:
        problems.append(
            Problem(
                index, name, f"'{name}' must be between 0 and {MAX_EVENT_CREDITS:,}; got {number}."
            )
        )
        return None
    try:
        return to_micro(Decimal(number))
    except ValueError:
        problems.append(
            Problem(
                index, name, f"'{name}' {number} has more than 6 decimal places; round it to 6."
            )
        )
        return None
