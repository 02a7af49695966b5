"""The quick reading path and the full one give the same answers.

Events are read by a quick path (msgspec decoding into slots, then the rules)
that falls back to the full path (the standard library's parser and
``validate_one``) whenever it is not sure. These properties hold the two to one
set of rules: whatever the quick path accepts, the full path accepts as the
same event; whatever the full path accepts, the quick path accepts too (or the
speed it exists for would silently be lost); and the public readers give the
full path's answer, problems and all, for anything.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from creditmeter import events as reading
from creditmeter.errors import Problem
from creditmeter.events import (
    BodyProblems,
    Event,
    parse_json_body,
    read_json_body,
    read_line_fully,
    read_lines,
    read_ndjson_body,
    validate,
)
from creditmeter.timestamps import US_PER_DAY

NOW_US = 1_780_000_000 * 1_000_000  # 2026-05-28
LATEST_US = NOW_US + US_PER_DAY

VALID = {
    "id": "evt_1",
    "orgId": "org_acme",
    "timestamp": "2026-05-19T14:03:11Z",
    "product": "parse",
    "feature": "ocr",
    "apiKey": "key_1",
    "fileType": "pdf",
    "credits": Decimal("2.5"),
    "requestCount": 1,
}

_strings = st.one_of(
    st.sampled_from(
        ["a", "", " a", "a ", "a\tb", "a\nb", "\x00", "\u200d", "é", "😀", "x" * 128, "x" * 129]
    ),
    st.text(max_size=6),
)
_timestamps = st.one_of(
    st.sampled_from(
        [
            "2026-05-19T14:03:11Z",
            "2026-05-19t14:03:11.123456789+02:00",
            "2026-05-19 14:03:11Z",
            "2026-05-19T14:03:11",
            "2026-05-19T24:00:00Z",
            "2026-05-19T23:59:60Z",
            "2026-02-30T00:00:00Z",
            "2026-05-19T14:03:11+24:00",
            "0001-01-01T00:00:00+00:01",
            "0001-01-01T00:00:00-00:01",
            "9999-12-31T23:59:59-23:59",
            "2026-05-29T23:59:59Z",
            "2026-05-29T00:00:00Z",
            "0000-01-01T00:00:00Z",
        ]
    ),
    st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")),
)
_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1_000_000_000, 1_000_000_001, 1_000_000, 1_000_001, -1]),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            Decimal("0.000001"),
            Decimal("0.0000001"),
            Decimal("1E+5"),
            Decimal("1E+400"),
            Decimal("-0.0"),
            Decimal("0.1000000000000000000000000000001"),
            Decimal("999999999.999999"),
            Decimal("1000000000.0000001"),
        ]
    ),
)
_values = st.one_of(_strings, _numbers, st.booleans(), st.none(), st.just([1]), st.just({}))
_fields = st.sampled_from([*reading.FIELDS, "file_type", "extra"])


@st.composite
def raw_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with a few fields changed, removed or added."""
    event: dict[str, Any] = dict(VALID)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        name = draw(_fields)
        change = draw(st.sampled_from(["remove", "value", "typed"]))
        if change == "remove":
            event.pop(name, None)
        elif change == "typed" and name == "timestamp":
            event[name] = draw(_timestamps)
        elif change == "typed" and name in ("credits", "requestCount"):
            event[name] = draw(_numbers)
        elif change == "typed":
            event[name] = draw(_strings)
        else:
            event[name] = draw(_values)
    return event


def _json(value: Any) -> str:
    """JSON text of ``value``, with Decimals written as the exact numbers they are."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_json(v) for v in value) + "]"
    return json.dumps(value)


def _full(index: int, line: bytes) -> Event | list[Problem]:
    """The full path alone."""
    return read_line_fully(index, line, LATEST_US)


#: Strings found fine, remembered across examples, as a long read remembers them.
_SEEN = reading._SeenFine()


def _fresh() -> reading._SeenFine:
    """No string remembered yet, as at the start of a read."""
    return reading._SeenFine()


def _same_event(a: Event, b: Event) -> bool:
    return a == b and a.index == b.index


@settings(max_examples=400)
@given(raw_events())
@example(dict(VALID, credits=Decimal("0.1000000000000000055511151231257827")))
@example(dict(VALID, credits=10**20))
@example(dict(VALID, requestCount=True))
@example(dict(VALID, requestCount=1.0))
def test_the_quick_path_and_the_full_path_agree_on_every_event(raw: dict[str, Any]) -> None:
    line = _json(raw).encode()
    full = _full(3, line)
    try:
        quick = reading._quick(reading._LINE_DECODER.decode(line), 3, LATEST_US, _fresh())
        # Read again with the strings remembered as fine (every example's): the same answer.
        again = reading._quick(reading._LINE_DECODER.decode(line), 3, LATEST_US, _SEEN)
        again = reading._quick(reading._LINE_DECODER.decode(line), 3, LATEST_US, _SEEN)
    except Exception:
        quick = again = None
    assert again == quick
    if isinstance(full, Event):
        assert quick is not None, "the quick path gave up on a valid event"
        assert _same_event(quick, full)
    else:
        assert quick is None, f"the quick path accepted what the full path refuses: {full}"
    (answer,) = read_lines([line], NOW_US, start=3)
    assert answer == full


@given(st.lists(raw_events(), max_size=4))
def test_a_json_body_reads_as_the_full_path_reads_it(raws: list[dict[str, Any]]) -> None:
    body = _json({"events": raws}).encode()
    items = parse_json_body(body)
    events, problems = validate(items, NOW_US)
    batch = read_json_body(body, NOW_US)
    assert batch.size == len(raws)
    assert batch.problems == problems
    assert len(batch.events) == len(events)
    assert all(_same_event(a, b) for a, b in zip(batch.events, events, strict=True))


@given(st.lists(st.one_of(raw_events(), st.just("not json"), st.just("  ")), max_size=5))
def test_a_json_lines_body_reads_line_by_line_as_the_full_path_reads_it(
    raws: list[dict[str, Any] | str],
) -> None:
    lines = [raw.encode() if isinstance(raw, str) else _json(raw).encode() for raw in raws]
    batch = read_ndjson_body(b"\n".join(lines), NOW_US)
    expected = [_full(index, line) for index, line in enumerate(lines) if line.strip()]
    assert batch.size == len(expected)
    assert batch.events == [answer for answer in expected if isinstance(answer, Event)]
    assert batch.problems == [p for answer in expected if isinstance(answer, list) for p in answer]


def test_a_body_that_is_not_an_events_object_is_refused_as_before() -> None:
    for body in (b"[]", b'{"events": {}}', b'{"events": [], "extra": 1}', b"{"):
        try:
            read_json_body(body, NOW_US)
        except BodyProblems as exc:
            assert exc.problems
        else:
            raise AssertionError(body)


# -- events sent with units (credit-rates.md) --------------------------------------

VALID_UNITS = {key: value for key, value in VALID.items() if key != "credits"} | {
    "units": Decimal("12.5")
}


@st.composite
def raw_unit_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event sent with units, its units, credits or other fields changed."""
    event: dict[str, Any] = dict(VALID_UNITS)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        name = draw(st.sampled_from(["units", "credits", "unit", "timestamp", "requestCount"]))
        change = draw(st.sampled_from(["remove", "value", "typed", "null"]))
        if change == "remove":
            event.pop(name, None)
        elif change == "null":
            event[name] = None
        elif change == "typed" and name == "timestamp":
            event[name] = draw(_timestamps)
        elif change == "typed":
            event[name] = draw(_numbers)
        else:
            event[name] = draw(_values)
    return event


@settings(max_examples=400)
@given(raw_unit_events())
@example(dict(VALID_UNITS, credits=None))
@example(dict(VALID_UNITS, credits=Decimal("1")))
@example(dict(VALID_UNITS, units=Decimal("1E-7")))
@example(dict(VALID_UNITS, units="3"))
def test_the_two_paths_agree_on_events_sent_with_units(raw: dict[str, Any]) -> None:
    line = _json(raw).encode()
    full = _full(3, line)
    try:
        quick = reading._quick(reading._LINE_DECODER.decode(line), 3, LATEST_US, _fresh())
    except Exception:
        quick = None
    if isinstance(full, Event):
        assert quick is not None, "the quick path gave up on a valid event"
        assert _same_event(quick, full)
        assert quick.sent_timestamp == full.sent_timestamp
        if raw.get("units") is not None:
            assert full.units_micro is not None and full.credits_micro == 0
            assert full.sent_timestamp == raw["timestamp"]
    else:
        assert quick is None, f"the quick path accepted what the full path refuses: {full}"
    (answer,) = read_lines([line], NOW_US, start=3)
    assert answer == full


def test_units_and_credits_together_or_neither_are_words_of_the_full_path() -> None:
    both = _full(0, _json(dict(VALID_UNITS, credits=1)).encode())
    assert isinstance(both, list) and [p.field for p in both] == ["units"]
    neither = _full(0, _json({k: v for k, v in VALID_UNITS.items() if k != "units"}).encode())
    assert isinstance(neither, list) and [p.field for p in neither] == ["credits"]
