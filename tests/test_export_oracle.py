"""The export against an independent oracle, over random usage and random queries.

Hypothesis draws events (small alphabets of dimension values, absent values,
exact decimal credits written in several JSON spellings, timestamps with
offsets and long fractions, repeated ids), records them over real HTTP into a
fresh organization, then asks for random exports. The oracle recomputes each
export from the events alone with :class:`~decimal.Decimal`, following the
contract, and the JSON and CSV answers must match it exactly. Nothing of
creditmeter's own export or rendering code is used to compute the expectation.
"""

from __future__ import annotations

import json
import ssl
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Service, Tenant

EXPORT = "/api/v1/usage/export"
FIRST_DAY = date(2026, 5, 10)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(4)]

# U+1F4C4 and U+1F600 sort after U+FF50 and U+FF46 in bytes (code points) but
# before them in UTF-16.
PRODUCTS = ["parse", "Parse", "extract", "a,b", "\u00e9dit", "\uff50", "\U0001f4c4"]
FEATURES = ["agentic", "standard", 'say "hi"', "\U0001f600", "\uff46"]
API_KEYS = ["key_1", "KEY_1", "key_2", "\uff4b"]
FILE_TYPES = ["pdf", "PDF", "docx", "null"]
# The rollup column each groupBy value reads, and the event field behind it.
GROUP_FIELDS = {
    "product": "product",
    "feature": "feature",
    "api_key": "apiKey",
    "file_type": "fileType",
}
FILTER_VALUES = {
    "product": PRODUCTS,
    "feature": FEATURES,
    "apiKey": API_KEYS,
    "fileType": FILE_TYPES,
}
MICRO = Decimal("0.000001")
# One TLS context for every client: building one per client costs about 20 ms.
_TLS = ssl.create_default_context()


@dataclass(frozen=True)
class RawEvent:
    """One event as sent, and what it means."""

    id: str
    instant: datetime  # UTC, to the microsecond (the contract truncates finer fractions)
    timestamp_text: str
    dimensions: dict[str, str | None]
    absent_as_null: bool  # an absent dimension is sent as null rather than left out
    credits: Decimal
    credits_text: str
    request_count_text: str | None  # None: the field is left out

    @property
    def day(self) -> date:
        return self.instant.date()

    @property
    def request_count(self) -> int:
        text = self.request_count_text
        return 1 if text is None or text == "null" else int(text)

    def json_text(self, org_id: str) -> str:
        fields = [
            f'"id":{json.dumps(self.id)}',
            f'"orgId":{json.dumps(org_id)}',
            f'"timestamp":{json.dumps(self.timestamp_text)}',
            f'"credits":{self.credits_text}',
        ]
        for name, value in self.dimensions.items():
            if value is not None:
                fields.append(f"{json.dumps(name)}:{json.dumps(value)}")
            elif self.absent_as_null:
                fields.append(f"{json.dumps(name)}:null")
        if self.request_count_text is not None:
            fields.append(f'"requestCount":{self.request_count_text}')
        return "{" + ",".join(fields) + "}"


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[datetime, str]:
    """A UTC instant in DAYS and an RFC 3339 spelling of it with some offset."""
    day = draw(st.sampled_from(DAYS))
    second = draw(st.one_of(st.integers(0, 86_399), st.sampled_from([0, 1, 86_398, 86_399])))
    digits = draw(st.sampled_from([0, 0, 3, 6, 7, 9]))
    fraction = draw(st.text("0123456789", min_size=digits, max_size=digits))
    if digits and draw(st.booleans()):
        fraction = "9" * digits
    instant = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        seconds=second, microseconds=int(fraction[:6].ljust(6, "0")) if digits else 0
    )
    offset_minutes = draw(st.sampled_from([0, 0, 60, -150, 330, 840, -720, -59]))
    local = instant + timedelta(minutes=offset_minutes)
    if offset_minutes == 0 and draw(st.booleans()):
        zone = draw(st.sampled_from(["Z", "z"]))
    else:
        sign = "-" if offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(offset_minutes), 60)
        zone = f"{sign}{hours:02d}:{minutes:02d}"
    separator = draw(st.sampled_from(["T", "T", "t"]))
    text = local.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    if digits:
        text += "." + fraction
    return instant, text + zone


@st.composite
def credits(draw: st.DrawFn) -> tuple[Decimal, str]:
    """Exact credits with at most 6 decimals, and one JSON spelling of them."""
    micro = draw(
        st.one_of(
            st.integers(0, 5_000_000),
            st.sampled_from([0, 1, 100_000, 999_999, 1_000_000]),
            st.integers(0, 1_000_000_000 * 1_000_000),
        )
    )
    value = Decimal(micro).scaleb(-6)
    spelling = draw(st.sampled_from(["fixed", "minimal", "exponent", "upper"]))
    if spelling == "fixed":
        text = format(value.quantize(MICRO), "f")
    elif spelling == "minimal":
        text = format(value.normalize(), "f")
    elif spelling == "exponent":
        text = f"{micro}e-6"
    else:
        text = f"{micro}E-6" if micro % 10 else f"{micro // 10}E-5"
    return value, text


@st.composite
def raw_events(draw: st.DrawFn) -> list[RawEvent]:
    events = []
    for _ in range(draw(st.integers(0, 25))):
        repeated = draw(st.integers(0, 3)) == 0
        instant, timestamp_text = draw(timestamps())
        value, value_text = draw(credits())
        events.append(
            RawEvent(
                id=draw(st.sampled_from(["dup-a", "dup-b"])) if repeated else draw(st.uuids()).hex,
                instant=instant,
                timestamp_text=timestamp_text,
                dimensions={
                    "product": draw(st.sampled_from(PRODUCTS)),
                    "feature": draw(st.one_of(st.none(), st.sampled_from(FEATURES))),
                    "apiKey": draw(st.one_of(st.none(), st.sampled_from(API_KEYS))),
                    "fileType": draw(st.one_of(st.none(), st.sampled_from(FILE_TYPES))),
                },
                absent_as_null=draw(st.booleans()),
                credits=value,
                credits_text=value_text,
                request_count_text=draw(
                    st.one_of(
                        st.none(),
                        st.just("null"),
                        st.integers(0, 5).map(str),
                        st.just("1000000"),
                    )
                ),
            )
        )
    return events


@st.composite
def queries(draw: st.DrawFn) -> list[tuple[str, str]]:
    params: list[tuple[str, str]] = []
    window = [FIRST_DAY - timedelta(days=1), *DAYS, DAYS[-1] + timedelta(days=1)]
    start, end = sorted(draw(st.lists(st.sampled_from(window), min_size=2, max_size=2)))
    if draw(st.integers(0, 5)):
        params.append(("startDate", start.isoformat()))
    if draw(st.integers(0, 5)):
        params.append(("endDate", end.isoformat()))
    if draw(st.booleans()):
        params.append(("groupBy", draw(st.sampled_from(list(GROUP_FIELDS)))))
    for name, values in FILTER_VALUES.items():
        if draw(st.integers(0, 2)) == 0:
            chosen = draw(st.lists(st.sampled_from([*values, "no-such"]), min_size=1, max_size=3))
            params.extend((name, value) for value in chosen)
    return draw(st.permutations(params))


# -- the oracle ----------------------------------------------------------------------------


def stored(batches: list[list[RawEvent]]) -> list[RawEvent]:
    """What the service keeps: the first event sent under each id."""
    first: dict[str, RawEvent] = {}
    for batch in batches:
        for raw in batch:
            first.setdefault(raw.id, raw)
    return list(first.values())


def credits_text(total: Decimal) -> str:
    """The contract's credits text: a fractional part, no trailing zeros beyond one."""
    text = format(total.quantize(MICRO), "f").rstrip("0")
    return text + "0" if text.endswith(".") else text


def expected_export(
    events: list[RawEvent], params: list[tuple[str, str]], org_id: str, today: date
) -> tuple[dict[str, Any], list[tuple[str, str | None, str, int]]]:
    given: dict[str, list[str]] = defaultdict(list)
    for name, value in params:
        given[name].append(value)
    end = date.fromisoformat(given["endDate"][0]) if "endDate" in given else today
    start = (
        date.fromisoformat(given["startDate"][0])
        if "startDate" in given
        else end - timedelta(days=30)
    )
    group_by = given["groupBy"][0] if "groupBy" in given else "product"
    field = GROUP_FIELDS[group_by]
    totals: dict[tuple[date, str | None], list[Any]] = {}
    for raw in events:
        if not start <= raw.day <= end:
            continue
        if any(name in given and raw.dimensions[name] not in given[name] for name in FILTER_VALUES):
            continue
        sums = totals.setdefault((raw.day, raw.dimensions[field]), [Decimal(0), 0])
        sums[0] += raw.credits
        sums[1] += raw.request_count
    ordered = sorted(
        totals.items(),
        key=lambda item: (item[0][0], item[0][1] is not None, (item[0][1] or "").encode()),
    )
    rows = [
        (day.isoformat(), group, credits_text(amount), requests)
        for (day, group), (amount, requests) in ordered
    ]
    head = {
        "orgId": org_id,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "groupBy": group_by,
    }
    return head, rows


def expected_csv(rows: list[tuple[str, str | None, str, int]]) -> bytes:
    def field(value: str | None) -> str:
        if value is None:
            return ""
        if any(c in value for c in ',"\r\n'):
            return '"' + value.replace('"', '""') + '"'
        return value

    lines = ["date,group,credits,requestCount\r\n"]
    lines += [f"{day},{field(group)},{amount},{count}\r\n" for day, group, amount, count in rows]
    return "".join(lines).encode("utf-8")


# -- the property ----------------------------------------------------------------------------


def send(http: httpx.Client, tenant: Tenant, batch: list[RawEvent]) -> None:
    body = '{"events":[' + ",".join(raw.json_text(tenant.org_id) for raw in batch) + "]}"
    response = http.post(
        "/api/v1/usage/events",
        content=body.encode("utf-8"),
        headers={
            "Authorization": f"Bearer {tenant.writer_secret}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    events=raw_events(),
    split=st.integers(0, 25),
    asks=st.lists(queries(), min_size=1, max_size=3),
)
def test_export_matches_the_oracle(
    service: Service,
    events: list[RawEvent],
    split: int,
    asks: list[list[tuple[str, str]]],
) -> None:
    tenant = service.tenant()
    with httpx.Client(base_url=service.url, timeout=30, verify=_TLS) as http:
        batches = [events[:split], events[split:]]
        for batch in batches:
            send(http, tenant, batch)
        http.headers["Authorization"] = f"Bearer {tenant.key}"
        for params in asks:
            check_export(http, stored(batches), params, tenant.org_id)


def check_export(
    http: httpx.Client, kept: list[RawEvent], params: list[tuple[str, str]], org_id: str
) -> None:
    """The JSON and the CSV export of ``params`` hold exactly the oracle's rows."""
    before = datetime.now(UTC).date()
    as_json = http.get(EXPORT, params=params)
    after = datetime.now(UTC).date()
    assert as_json.status_code == 200, as_json.text
    assert as_json.headers["content-type"] == "application/json"
    document = json.loads(as_json.text, parse_float=str)
    today = before if document["endDate"] == before.isoformat() else after
    head, rows = expected_export(kept, params, org_id, today)
    assert {k: v for k, v in document.items() if k != "data"} == head
    assert all(set(r) == {"date", "group", "credits", "requestCount"} for r in document["data"])
    assert [
        (r["date"], r["group"], r["credits"], r["requestCount"]) for r in document["data"]
    ] == rows

    by_accept = http.get(EXPORT, params=params, headers={"Accept": "text/csv"})
    by_format = http.get(EXPORT, params=[*params, ("format", "csv")])
    for as_csv in (by_accept, by_format):
        assert as_csv.status_code == 200, as_csv.text
        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert as_csv.content == expected_csv(rows)
