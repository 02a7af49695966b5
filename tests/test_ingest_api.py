"""Recording usage over HTTP: ``POST /api/v1/usage/events`` against a real server.

What was stored is checked through the export, as a user would see it. Tests
named ``test_edge_case_<N>_…`` pin the numbered "Edge cases, decided" of the
ingest contract (shared/spec/ingest-api.md); number 12 is the command line's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from creditmeter.store.database import normalise_url
from tests.conftest import Service, Tenant

URL = "/api/v1/usage/events"
DAY = "2026-05-19"
STAMP = f"{DAY}T14:03:11Z"
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
EMPTY_ANSWER = {"accepted": 0, "duplicates": 0, "conflicts": [], "unknownOrgIds": []}


# -- helpers ---------------------------------------------------------------------------


def new_id() -> str:
    return f"req_{uuid.uuid4().hex[:12]}"


def event(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    """A valid event of ``tenant``'s organization; ``fields`` override or add to it."""
    return {
        "id": new_id(),
        "orgId": tenant.org_id,
        "timestamp": STAMP,
        "product": "parse",
        "credits": 1,
        **fields,
    }


def raw_json(fields: dict[str, Any], **raw: str) -> str:
    """A JSON object whose ``raw`` members are written exactly as given (``2.50``, ``25e-1``)."""
    members = [f"{json.dumps(name)}: {json.dumps(value)}" for name, value in fields.items()]
    members += [f"{json.dumps(name)}: {text}" for name, text in raw.items()]
    return "{" + ", ".join(members) + "}"


def batch_text(*events: str) -> str:
    """A JSON body holding events already written as JSON text."""
    return '{"events": [' + ",".join(events) + "]}"


def post(client: httpx.Client, events: list[dict[str, Any]]) -> httpx.Response:
    return client.post(URL, json={"events": events})


def post_text(
    client: httpx.Client, body: str | bytes, content_type: str = "application/json"
) -> httpx.Response:
    return client.post(URL, content=body, headers={"Content-Type": content_type})


def without(fields: dict[str, Any], name: str) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if key != name}


def problems(response: httpx.Response) -> list[dict[str, Any]]:
    """The details of a 400 ``invalid_events`` answer."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    assert error["status"] == 400
    return error["details"]


def fields_at(response: httpx.Response) -> set[tuple[int | None, str | None]]:
    return {(p["index"], p["field"]) for p in problems(response)}


def exported(
    tenant: Tenant, start: str = DAY, end: str = DAY, **params: Any
) -> list[dict[str, Any]]:
    """The export's rows, with credits as exact Decimals."""
    response = tenant.export(startDate=start, endDate=end, **params)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)["data"]


def by_group(rows: list[dict[str, Any]]) -> dict[str | None, tuple[Decimal, int]]:
    return {row["group"]: (Decimal(row["credits"]), row["requestCount"]) for row in rows}


# -- bodies and content types -------------------------------------------------------------


def test_json_body_is_recorded_and_exported(tenant: Tenant) -> None:
    events = [
        event(tenant, product="parse", credits=2.5, feature="agentic", fileType="pdf"),
        event(tenant, product="extract", credits=1, requestCount=3, apiKey="key_3f9a"),
    ]
    response = post(tenant.writer, events)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0, "conflicts": [], "unknownOrgIds": []}
    assert by_group(exported(tenant)) == {
        "extract": (Decimal("1.0"), 3),
        "parse": (Decimal("2.5"), 1),
    }
    assert by_group(exported(tenant, groupBy="file_type")) == {
        None: (Decimal("1.0"), 3),
        "pdf": (Decimal("2.5"), 1),
    }


@pytest.mark.parametrize("content_type", NDJSON_TYPES)
def test_ndjson_body_is_recorded_for_each_json_lines_type(
    tenant: Tenant, content_type: str
) -> None:
    lines = [json.dumps(event(tenant, credits=2)), json.dumps(event(tenant, credits=3))]
    response = post_text(tenant.writer, "\n".join(lines) + "\n", content_type)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0, "conflicts": [], "unknownOrgIds": []}
    assert by_group(exported(tenant)) == {"parse": (Decimal("5.0"), 2)}


def test_ndjson_accepts_crlf_line_ends_and_no_final_newline(tenant: Tenant) -> None:
    lines = [json.dumps(event(tenant)), json.dumps(event(tenant))]
    response = post_text(tenant.writer, "\r\n".join(lines), "application/x-ndjson")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2


def test_content_type_parameters_and_case_are_ignored(tenant: Tenant) -> None:
    body = json.dumps({"events": [event(tenant)]})
    response = post_text(tenant.writer, body, "Application/JSON; charset=utf-8")
    assert response.status_code == 200, response.text
    line = json.dumps(event(tenant))
    response = post_text(tenant.writer, line, "application/x-ndjson; charset=utf-8")
    assert response.status_code == 200, response.text


def test_edge_case_9_json_and_three_json_lines_types_are_accepted_any_other_is_415(
    tenant: Tenant,
) -> None:
    accepted = post_text(tenant.writer, json.dumps({"events": [event(tenant)]}))
    assert accepted.json()["accepted"] == 1
    for content_type in NDJSON_TYPES:
        accepted = post_text(tenant.writer, json.dumps(event(tenant)), content_type)
        assert accepted.json()["accepted"] == 1, content_type
    assert by_group(exported(tenant)) == {"parse": (Decimal("4.0"), 4)}

    body = json.dumps({"events": [event(tenant)]})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/csv"):
        response = post_text(tenant.writer, body, content_type)
        assert response.status_code == 415
        error = response.json()["error"]
        assert error["code"] == "unsupported_media_type"
        for listed in ("application/json", *NDJSON_TYPES):
            assert listed in error["message"]
    assert by_group(exported(tenant)) == {"parse": (Decimal("4.0"), 4)}


def test_missing_content_type_is_415(tenant: Tenant) -> None:
    response = tenant.writer.post(URL, content=b'{"events": []}')
    assert "content-type" not in response.request.headers
    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]


# -- batches and limits ----------------------------------------------------------------------


def test_empty_batch_is_200_with_zeros(tenant: Tenant) -> None:
    assert post(tenant.writer, []).json() == EMPTY_ANSWER
    for body in ("", "\n\n", "  \n"):
        response = post_text(tenant.writer, body, "application/x-ndjson")
        assert response.status_code == 200, response.text
        assert response.json() == EMPTY_ANSWER


def test_full_batch_of_maximal_events_passes_under_the_default_body_limit(
    tenant: Tenant, service: Service
) -> None:
    """10,000 events with every string at 128 four-byte characters, sent as UTF-8."""
    assert service.settings.max_batch_events == 10_000
    wide = "😀" * 127
    lines = []
    for number in range(10_000):
        fields = {
            "id": f"{number:05d}" + "😀" * 123,
            "orgId": tenant.org_id,
            "timestamp": "2026-05-19T14:03:11.123456789-23:59",
            "product": "p" + wide,
            "feature": "f" + wide,
            "apiKey": "k" + wide,
            "fileType": "t" + wide,
        }
        members = ",".join(
            f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()
        )
        lines.append("{" + members + ',"credits":999.999999,"requestCount":1000000}')
    body = ('{"events":[' + ",".join(lines) + "]}").encode("utf-8")
    assert 25_000_000 < len(body) < service.settings.max_body_bytes
    response = post_text(tenant.writer, body)
    assert response.status_code == 200, response.text[:500]
    assert response.json() == {
        "accepted": 10_000,
        "duplicates": 0,
        "conflicts": [],
        "unknownOrgIds": [],
    }
    assert by_group(exported(tenant, start="2026-05-20", end="2026-05-20")) == {
        "p" + wide: (Decimal("9999999.99"), 10_000_000_000)
    }


def test_edge_case_7_limits_are_413_with_the_limit_in_the_message(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(max_batch_events=5, max_body_bytes=2048)
    tenant = service.tenant()
    writer = tenant.writer

    six = [event(tenant, id=f"e{n}") for n in range(6)]
    response = post(writer, six)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "5 events" in error["message"]
    ndjson = "\n".join(json.dumps(e) for e in six)
    response = post_text(writer, ndjson, "application/x-ndjson")
    assert response.status_code == 413
    assert "5 events" in response.json()["error"]["message"]
    assert exported(tenant) == []

    # Blank lines are not events: five events on eight lines fit.
    response = post_text(writer, "\n\n" + ndjson.split("\n", 1)[1] + "\n\n", "application/x-ndjson")
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 5

    # The byte limit: a body of exactly 2,048 bytes passes, one more byte is 413.
    compact = json.dumps({"events": [event(tenant, id="bytes")]}).encode()
    exact = compact[:-1] + b" " * (2048 - len(compact)) + b"}"
    assert len(exact) == 2048
    response = post_text(writer, exact)
    assert response.status_code == 200, response.text
    too_big = compact[:-1] + b" " * (2049 - len(compact)) + b"}"
    response = post_text(writer, too_big)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert "2,048 bytes" in error["message"]

    # A streamed body (no Content-Length) is held to the same limit.
    def chunks() -> Iterator[bytes]:
        yield b'{"events": ['
        yield b" " * 4096
        yield b"]}"

    response = writer.post(URL, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "2,048 bytes" in response.json()["error"]["message"]


def test_batch_that_takes_a_stored_total_past_the_limit_is_400_naming_the_event(
    tenant: Tenant,
) -> None:
    """Nine thousand events of a billion credits fill one day to 9,000,000,000,000."""
    # One batch whose own sum passes the limit (and would not fit 64 bits in micro-credits).
    big = [event(tenant, id=f"big{n}", credits=1_000_000_000) for n in range(10_000)]
    details = problems(post(tenant.writer, big))
    assert [(d["index"], d["field"]) for d in details] == [(9000, "credits")]
    assert "9000000000000" in details[0]["message"]
    assert DAY in details[0]["message"]
    assert exported(tenant) == []

    # Exactly the limit is stored.
    response = post(tenant.writer, big[:9000])
    assert response.status_code == 200, response.text
    assert by_group(exported(tenant)) == {"parse": (Decimal("9000000000000.0"), 9000)}

    # One more micro-credit on that day is refused, and nothing of its batch is stored.
    batch = [
        event(tenant, id="other-day", timestamp="2026-05-20T00:00:00Z", credits=5),
        event(tenant, id="one-too-many", credits=0.000001),
    ]
    assert fields_at(post(tenant.writer, batch)) == {(1, "credits")}
    assert exported(tenant, start="2026-05-20", end="2026-05-20") == []
    # Stored total plus a batch whose sum is itself at the limit: past 64 bits in the store.
    again = [event(tenant, id=f"again{n}", credits=1_000_000_000) for n in range(9000)]
    assert fields_at(post(tenant.writer, again)) == {(0, "credits")}
    assert by_group(exported(tenant)) == {"parse": (Decimal("9000000000000.0"), 9000)}


def test_totals_limit_is_per_organization_day(tenant: Tenant) -> None:
    full = [event(tenant, id=f"full{n}", credits=1_000_000_000) for n in range(9000)]
    assert post(tenant.writer, full).status_code == 200
    next_day = event(tenant, id="next", timestamp="2026-05-20T00:00:00Z", credits=1_000_000_000)
    assert post(tenant.writer, [next_day]).json()["accepted"] == 1


def test_edge_case_8_every_problem_is_listed_with_index_field_and_message(
    tenant: Tenant,
) -> None:
    good = event(tenant)
    missing_id = without(event(tenant), "id")
    batch = [
        good,
        {**missing_id, "credits": "2"},
        event(tenant, timestamp="2026-05-19 14:03:11Z", requestCount=1.5, file_type="pdf"),
        5,
        event(tenant, product=""),
    ]
    response = post(tenant.writer, batch)
    details = problems(response)
    assert {(d["index"], d["field"]) for d in details} == {
        (1, "id"),
        (1, "credits"),
        (2, "timestamp"),
        (2, "requestCount"),
        (2, "file_type"),
        (3, None),
        (4, "product"),
    }
    assert len(details) == 7
    for detail in details:
        assert set(detail) == {"index", "field", "message"}
        assert detail["message"]
    assert "7 problems" in response.json()["error"]["message"]
    # Atomic: the valid event was not stored either.
    assert exported(tenant) == []
    assert post(tenant.writer, [good]).json()["accepted"] == 1


def test_at_most_a_thousand_problems_are_listed(tenant: Tenant) -> None:
    batch = [event(tenant, credits=-1) for _ in range(1200)]
    response = post(tenant.writer, batch)
    details = problems(response)
    assert len(details) == 1000
    assert [d["index"] for d in details] == list(range(1000))
    assert "1200 problems" in response.json()["error"]["message"]


def test_one_bad_event_stores_nothing(tenant: Tenant) -> None:
    events = [event(tenant, id=f"ok{n}") for n in range(50)]
    bad = [*events[:25], event(tenant, credits=-1), *events[25:]]
    assert fields_at(post(tenant.writer, bad)) == {(25, "credits")}
    assert exported(tenant) == []
    # Fixed and resent whole: every event is new.
    assert post(tenant.writer, events).json() == {
        "accepted": 50,
        "duplicates": 0,
        "conflicts": [],
        "unknownOrgIds": [],
    }


def test_ndjson_index_is_the_0_based_line_number_counting_blank_lines(tenant: Tenant) -> None:
    lines = [
        json.dumps(event(tenant)),
        "",
        json.dumps(event(tenant, credits="2")),
        "   ",
        "{not json",
        json.dumps(event(tenant)),
        "[1, 2]",
    ]
    response = post_text(tenant.writer, "\n".join(lines), "application/x-ndjson")
    assert fields_at(response) == {(2, "credits"), (4, None), (6, None)}
    assert exported(tenant) == []


def test_body_that_is_not_a_batch_is_one_detail_with_null_index_and_field(
    tenant: Tenant,
) -> None:
    for body in ("{not json", "", "[]", '{"evnts": []}', '"events"', "null", '{"events": [1,]}'):
        response = post_text(tenant.writer, body)
        assert [(d["index"], d["field"]) for d in problems(response)] == [(None, None)], body


def test_events_that_is_not_a_list_names_the_events_key(tenant: Tenant) -> None:
    response = post_text(tenant.writer, '{"events": {"id": "x"}}')
    assert [(d["index"], d["field"]) for d in problems(response)] == [(None, "events")]


# -- idempotency --------------------------------------------------------------------------


def test_resent_batch_counts_duplicates_and_is_not_stored_twice(tenant: Tenant) -> None:
    batch = [event(tenant, credits=2), event(tenant, credits=3)]
    assert post(tenant.writer, batch).json() == {
        "accepted": 2,
        "duplicates": 0,
        "conflicts": [],
        "unknownOrgIds": [],
    }
    assert post(tenant.writer, batch).json() == {
        "accepted": 0,
        "duplicates": 2,
        "conflicts": [],
        "unknownOrgIds": [],
    }
    mixed = [*batch, event(tenant, credits=4)]
    assert post(tenant.writer, mixed).json() == {
        "accepted": 1,
        "duplicates": 2,
        "conflicts": [],
        "unknownOrgIds": [],
    }
    assert by_group(exported(tenant)) == {"parse": (Decimal("9.0"), 3)}


def test_conflicting_duplicate_is_reported_and_the_stored_event_wins(tenant: Tenant) -> None:
    stored = event(tenant, credits=2)
    tenant.record([stored])
    changed = {**stored, "credits": 5, "fileType": "pdf"}
    answer = post(tenant.writer, [changed]).json()
    assert answer == {
        "accepted": 0,
        "duplicates": 1,
        "conflicts": [stored["id"]],
        "unknownOrgIds": [],
    }
    assert by_group(exported(tenant, groupBy="file_type")) == {None: (Decimal("2.0"), 1)}


def test_same_id_twice_in_one_batch_stores_the_first(tenant: Tenant) -> None:
    first = event(tenant, credits=2)
    same = dict(first)
    different = {**first, "credits": 7}
    answer = post(tenant.writer, [first, same, different]).json()
    assert answer == {
        "accepted": 1,
        "duplicates": 2,
        "conflicts": [first["id"]],
        "unknownOrgIds": [],
    }
    assert by_group(exported(tenant)) == {"parse": (Decimal("2.0"), 1)}


def test_repeat_in_a_batch_is_compared_with_the_stored_event(tenant: Tenant) -> None:
    stored = event(tenant, credits=2)
    tenant.record([stored])
    changed = {**stored, "credits": 3}
    # The changed copy conflicts; the exact copy after it matches what is stored.
    answer = post(tenant.writer, [changed, stored]).json()
    assert answer == {
        "accepted": 0,
        "duplicates": 2,
        "conflicts": [stored["id"]],
        "unknownOrgIds": [],
    }
    answer = post(tenant.writer, [stored, changed]).json()
    assert answer == {
        "accepted": 0,
        "duplicates": 2,
        "conflicts": [stored["id"]],
        "unknownOrgIds": [],
    }
    assert by_group(exported(tenant)) == {"parse": (Decimal("2.0"), 1)}


def test_the_same_id_in_two_organizations_is_two_events(service: Service) -> None:
    first, second = service.tenant(), service.tenant()
    shared_id = new_id()
    batch = [event(first, id=shared_id), event(second, id=shared_id, credits=4)]
    assert post(first.writer, batch).json() == {
        "accepted": 2,
        "duplicates": 0,
        "conflicts": [],
        "unknownOrgIds": [],
    }
    assert by_group(exported(first)) == {"parse": (Decimal("1.0"), 1)}
    assert by_group(exported(second)) == {"parse": (Decimal("4.0"), 1)}


def test_edge_case_6_conflicts_compare_meaning_not_bytes(tenant: Tenant) -> None:
    stored = {
        "id": new_id(),
        "orgId": tenant.org_id,
        "timestamp": "2026-05-19T14:03:11Z",
        "product": "parse",
    }
    answer = post_text(tenant.writer, batch_text(raw_json(stored, credits="2.5"))).json()
    assert answer == {"accepted": 1, "duplicates": 0, "conflicts": [], "unknownOrgIds": []}
    same_meaning = [
        raw_json({**stored, "timestamp": "2026-05-19T14:03:11+00:00"}, credits="2.50"),
        raw_json({**stored, "timestamp": "2026-05-19T16:03:11+02:00"}, credits="25e-1"),
        raw_json({**stored, "timestamp": "2026-05-19t14:03:11.000000000z"}, credits="2.5"),
        raw_json({**stored, "requestCount": 1, "feature": None}, credits="2.500000"),
        raw_json({**stored, "requestCount": None, "apiKey": None, "fileType": None}, credits="2.5"),
    ]
    answer = post_text(tenant.writer, batch_text(*same_meaning)).json()
    assert answer == {"accepted": 0, "duplicates": 5, "conflicts": [], "unknownOrgIds": []}

    different = [
        {**stored, "credits": 2.500001},
        {**stored, "credits": 2.5, "timestamp": "2026-05-19T14:03:11.000001Z"},
        {**stored, "credits": 2.5, "requestCount": 2},
        {**stored, "credits": 2.5, "requestCount": 0},
        {**stored, "credits": 2.5, "feature": "standard"},
        {**stored, "credits": 2.5, "product": "Parse"},
    ]
    for changed in different:
        answer = post(tenant.writer, [changed]).json()
        assert answer == {
            "accepted": 0,
            "duplicates": 1,
            "conflicts": [stored["id"]],
            "unknownOrgIds": [],
        }, changed


def test_unknown_organization_is_accepted_kept_and_named(service: Service, tenant: Tenant) -> None:
    org_id = f"org_later_{uuid.uuid4().hex[:8]}"
    answer = post(tenant.writer, [event(tenant, orgId=org_id, credits=3)]).json()
    assert answer == {"accepted": 1, "duplicates": 0, "conflicts": [], "unknownOrgIds": [org_id]}
    # When the directory catches up, the usage is there, and the organization is known.
    admin = service.admin
    assert admin.post("/api/v1/admin/orgs", json={"name": "Later", "id": org_id}).status_code == 201
    path = f"/api/v1/admin/orgs/{org_id}/members/{tenant.user_id}"
    assert admin.put(path, json={"role": "member"}).status_code == 200
    assert by_group(exported(tenant, orgId=org_id)) == {"parse": (Decimal("3.0"), 1)}
    assert post(tenant.writer, [event(tenant, orgId=org_id)]).json()["unknownOrgIds"] == []


def test_unknown_organizations_are_listed_sorted_each_once(tenant: Tenant) -> None:
    suffix = uuid.uuid4().hex[:8]
    late, early = f"org_z_{suffix}", f"org_a_{suffix}"
    batch = [
        event(tenant, orgId=late),
        event(tenant),
        event(tenant, orgId=early),
        event(tenant, orgId=late),
    ]
    answer = post(tenant.writer, batch).json()
    assert answer == {
        "accepted": 4,
        "duplicates": 0,
        "conflicts": [],
        "unknownOrgIds": [early, late],
    }
    # Duplicates of an unknown organization's events still name it: it is still unknown.
    resent = post(tenant.writer, batch[:1]).json()
    assert resent == {"accepted": 0, "duplicates": 1, "conflicts": [], "unknownOrgIds": [late]}


# -- timestamps ----------------------------------------------------------------------------


def test_late_events_are_accepted_on_their_own_day(tenant: Tenant) -> None:
    answer = post(tenant.writer, [event(tenant, timestamp="1999-12-31T23:59:59Z")]).json()
    assert answer["accepted"] == 1
    rows = exported(tenant, start="1999-12-31", end="1999-12-31")
    assert [(r["date"], r["requestCount"]) for r in rows] == [("1999-12-31", 1)]


def test_events_more_than_a_day_ahead_are_rejected(tenant: Tenant) -> None:
    now = datetime.now(UTC)
    soon = (now + timedelta(hours=23)).isoformat()
    later = (now + timedelta(hours=25)).isoformat()
    response = post(tenant.writer, [event(tenant, timestamp=later)])
    assert fields_at(response) == {(0, "timestamp")}
    assert "24 hours" in problems(response)[0]["message"]
    assert post(tenant.writer, [event(tenant, timestamp=soon)]).json()["accepted"] == 1


def test_edge_case_2_timestamps_are_truncated_to_the_microsecond(tenant: Tenant) -> None:
    cases = {
        "lower-t-z": ("2026-05-19t14:03:11z", "2026-05-19"),
        "seven-digits": ("2026-05-19T23:59:59.9999999Z", "2026-05-19"),
        "nine-digits": ("2026-05-19T23:59:59.999999999Z", "2026-05-19"),
        "nine-digits-offset": ("2026-05-20T01:59:59.999999999+02:00", "2026-05-19"),
        "west-moves-forward": ("2026-05-19T23:30:00-02:00", "2026-05-20"),
        "east-moves-back": ("2026-05-20T01:00:00+02:00", "2026-05-19"),
        "half-hour-offset": ("2026-05-20T05:29:59+05:30", "2026-05-19"),
    }
    batch = [event(tenant, product=name, timestamp=stamp) for name, (stamp, _) in cases.items()]
    assert post(tenant.writer, batch).json()["accepted"] == len(cases)
    rows = exported(tenant, start="2026-05-18", end="2026-05-21")
    assert {row["group"]: row["date"] for row in rows} == {
        name: day for name, (_, day) in cases.items()
    }
    # Truncation, not rounding: the 7- and 9-digit stamps are the microsecond .999999.
    stored = event(tenant, timestamp="2026-05-19T23:59:59.999999Z")
    tenant.record([stored])
    for stamp in ("2026-05-19T23:59:59.9999999Z", "2026-05-19T23:59:59.999999999Z"):
        answer = post(tenant.writer, [{**stored, "timestamp": stamp}]).json()
        assert answer == {"accepted": 0, "duplicates": 1, "conflicts": [], "unknownOrgIds": []}


BAD_TIMESTAMPS: list[Any] = [
    "2026-05-19 14:03:11Z",
    "2026-05-19T14:03:11",
    "2026-05-19T14:03:11.5",
    "2026-06-30T23:59:60Z",
    "2026-05-19T14:03:11.1234567891Z",
    "2026-05-19T14:03:11.Z",
    "2026-05-19T14:03Z",
    "2026-05-19",
    "2026-02-30T00:00:00Z",
    "2026-05-19T24:00:00Z",
    "2026-05-19T14:03:11+2:00",
    "2026-05-19T14:03:11+0200",
    "2026-05-19T14:03:11+24:00",
    "2026-05-19T14:03:11 Z",
    "0000-01-01T00:00:00Z",
    "",
    1779199391,
]


def test_timestamps_that_are_not_rfc3339_with_an_offset_are_400(tenant: Tenant) -> None:
    response = post(tenant.writer, [event(tenant, timestamp=t) for t in BAD_TIMESTAMPS])
    assert fields_at(response) == {(i, "timestamp") for i in range(len(BAD_TIMESTAMPS))}
    assert len(problems(response)) == len(BAD_TIMESTAMPS)
    assert exported(tenant) == []


# -- numbers -------------------------------------------------------------------------------


def test_edge_case_3_credits_are_exact_json_numbers(tenant: Tenant) -> None:
    written = {
        "trailing-zero": "2.50",
        "exponent": "25e-1",
        "zero": "0",
        "negative-zero": "-0.0",
        "micro": "0.000001",
        "most": "1000000000",
        "most-with-fraction": "999999999.999999",
        "many-zeros": "2.5000000000000000000000000000000000000",
    }
    events = [raw_json(event(tenant, product=p), credits=c) for p, c in written.items()]
    response = post_text(tenant.writer, batch_text(*events))
    assert response.status_code == 200, response.text
    assert {group: credits for group, (credits, _) in by_group(exported(tenant)).items()} == {
        "trailing-zero": Decimal("2.5"),
        "exponent": Decimal("2.5"),
        "zero": Decimal("0.0"),
        "negative-zero": Decimal("0.0"),
        "micro": Decimal("0.000001"),
        "most": Decimal("1000000000.0"),
        "most-with-fraction": Decimal("999999999.999999"),
        "many-zeros": Decimal("2.5"),
    }


def test_credits_with_more_than_6_decimal_places_show_the_value_and_say_round(
    tenant: Tenant,
) -> None:
    written = ["1e-7", "1.3639999999999999", "0.1000000000000000000000000000001", "2.0000005"]
    events = [raw_json(without(event(tenant), "credits"), credits=c) for c in written]
    details = problems(post_text(tenant.writer, batch_text(*events)))
    assert [(d["index"], d["field"]) for d in details] == [(i, "credits") for i in range(4)]
    for text, detail in zip(written, details, strict=True):
        assert text in detail["message"].lower()
        assert "round" in detail["message"]
    assert exported(tenant) == []


BAD_CREDITS = [
    '"2.5"',
    '"2"',
    "true",
    "false",
    "-1",
    "-0.000001",
    "1000000000.000001",
    "1e10",
    "1000000001",
    "[]",
    "{}",
    "null",
]


def test_credits_that_are_not_a_number_in_range_are_400(tenant: Tenant) -> None:
    events = [raw_json(without(event(tenant), "credits"), credits=c) for c in BAD_CREDITS]
    details = problems(post_text(tenant.writer, batch_text(*events)))
    expected = [(i, "credits") for i in range(len(BAD_CREDITS))]
    assert [(d["index"], d["field"]) for d in details] == expected
    assert "string" in details[0]["message"]
    assert "string" in details[1]["message"]
    assert "1,000,000,000" in details[6]["message"]
    assert exported(tenant) == []


@pytest.mark.parametrize("credits", ["NaN", "Infinity", "-Infinity"])
def test_credits_nan_or_infinity_is_not_json(tenant: Tenant, credits: str) -> None:
    response = post_text(tenant.writer, batch_text(raw_json(event(tenant), credits=credits)))
    assert fields_at(response) == {(None, None)}


def test_request_count_defaults_to_one_and_accepts_its_range(tenant: Tenant) -> None:
    batch = [
        event(tenant, product="absent"),
        event(tenant, product="null", requestCount=None),
        event(tenant, product="zero", requestCount=0),
        event(tenant, product="most", requestCount=1_000_000),
    ]
    assert post(tenant.writer, batch).json()["accepted"] == 4
    assert {g: n for g, (_, n) in by_group(exported(tenant)).items()} == {
        "absent": 1,
        "null": 1,
        "zero": 0,
        "most": 1_000_000,
    }


BAD_COUNTS = ["1.0", "1e0", "1.5", "-1", "1000001", '"1"', "true", "[1]"]


def test_request_count_that_is_not_an_integer_in_range_is_400(tenant: Tenant) -> None:
    events = [raw_json(event(tenant), requestCount=count) for count in BAD_COUNTS]
    response = post_text(tenant.writer, batch_text(*events))
    assert fields_at(response) == {(i, "requestCount") for i in range(len(BAD_COUNTS))}
    assert len(problems(response)) == len(BAD_COUNTS)
    assert exported(tenant) == []


# -- strings -------------------------------------------------------------------------------


def test_strings_of_128_characters_are_counted_in_characters_not_bytes(tenant: Tenant) -> None:
    values = {
        "ascii": "a" * 128,
        "two-byte": "é" * 128,
        "four-byte": "😀" * 128,
        "inner-space": "pdf " + "x" * 124,
        "mixed-case": "Parse",
    }
    batch = [event(tenant, id=value, product=value, fileType=value) for value in values.values()]
    assert post(tenant.writer, batch).json()["accepted"] == len(values)
    assert set(by_group(exported(tenant))) == set(values.values())
    assert set(by_group(exported(tenant, groupBy="file_type"))) == set(values.values())
    # 128 characters of id and orgId too.
    long_org = "o" * 127 + "é"
    assert post(tenant.writer, [event(tenant, orgId=long_org, id="😀" * 128)]).status_code == 200


STRING_FIELDS = ("id", "orgId", "product", "feature", "apiKey", "fileType")
BAD_STRINGS = [
    "a" * 129,
    "é" * 129,
    "😀" * 129,
    "tab\there",
    "line\nbreak",
    "carriage\rreturn",
    "nul\u0000",
    "bell\u0007",
    "del\u007f",
    "next-line\u0085",
    " leading",
    "trailing ",
    "\ttabbed",
    "trailing\u3000",
    "",
    " ",
]


@pytest.mark.parametrize("field", STRING_FIELDS)
def test_edge_case_1_strings_are_1_to_128_printable_characters_without_outer_whitespace(
    tenant: Tenant, field: str
) -> None:
    response = post(tenant.writer, [event(tenant, **{field: value}) for value in BAD_STRINGS])
    assert fields_at(response) == {(i, field) for i in range(len(BAD_STRINGS))}
    assert len(problems(response)) == len(BAD_STRINGS)
    assert exported(tenant) == []


def test_string_fields_must_be_strings(tenant: Tenant) -> None:
    response = post(tenant.writer, [event(tenant, **{field: 42}) for field in STRING_FIELDS])
    assert fields_at(response) == set(enumerate(STRING_FIELDS))


def test_required_fields_missing_or_null_are_400(tenant: Tenant) -> None:
    required = ("id", "orgId", "timestamp", "product", "credits")
    missing = [without(event(tenant), field) for field in required]
    nulls = [event(tenant, **{field: None}) for field in required]
    response = post(tenant.writer, missing + nulls)
    assert fields_at(response) == set(enumerate(required + required))
    for detail in problems(response):
        assert "required" in detail["message"]


def test_edge_case_4_null_means_absent_and_an_empty_string_is_400(tenant: Tenant) -> None:
    with_nulls = event(
        tenant, feature=None, apiKey=None, fileType=None, requestCount=None, credits=2
    )
    assert post(tenant.writer, [with_nulls]).json()["accepted"] == 1
    for group_by in ("feature", "api_key", "file_type"):
        assert by_group(exported(tenant, groupBy=group_by)) == {None: (Decimal("2.0"), 1)}
    # Sending the same event with the fields left out is the same event.
    absent = {k: v for k, v in with_nulls.items() if v is not None}
    assert post(tenant.writer, [absent]).json() == {
        "accepted": 0,
        "duplicates": 1,
        "conflicts": [],
        "unknownOrgIds": [],
    }

    for field in ("feature", "apiKey", "fileType"):
        response = post(tenant.writer, [event(tenant, **{field: ""})])
        [detail] = problems(response)
        assert (detail["index"], detail["field"]) == (0, field)
        assert "null" in detail["message"]


def test_edge_case_5_unknown_fields_are_named_with_a_suggestion(tenant: Tenant) -> None:
    batch = [
        event(tenant, file_type="pdf"),
        event(tenant, org_id="x"),
        event(tenant, requestcount=2),
        event(tenant, zzzzzz=1),
    ]
    details = problems(post(tenant.writer, batch))
    assert {(d["index"], d["field"]) for d in details} == {
        (0, "file_type"),
        (1, "org_id"),
        (2, "requestcount"),
        (3, "zzzzzz"),
    }
    messages = {d["field"]: d["message"] for d in details}
    assert "'fileType'" in messages["file_type"]
    assert "'orgId'" in messages["org_id"]
    assert "'requestCount'" in messages["requestcount"]
    assert "zzzzzz" in messages["zzzzzz"]
    assert exported(tenant) == []

    # Extra top-level keys in a JSON body: one detail each, index null, field the key.
    body = json.dumps({"events": [event(tenant)], "dryRun": True, "meta": {}})
    response = post_text(tenant.writer, body)
    assert fields_at(response) == {(None, "dryRun"), (None, "meta")}
    assert exported(tenant) == []


# -- credentials ---------------------------------------------------------------------------


def test_edge_case_10_credentials(service: Service, tenant: Tenant) -> None:
    batch = {"events": [event(tenant)]}

    response = tenant.reader.post(URL, json=batch)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"

    _, admin_only = service.directory.create_token("admin only", ["admin"])
    response = service.client(admin_only).post(URL, json=batch)
    assert response.status_code == 403
    assert "usage:write" in response.json()["error"]["message"]

    token, secret = service.directory.create_token("soon revoked", ["usage:write"])
    assert service.client(secret).post(URL, json={"events": []}).status_code == 200
    service.directory.revoke_token(token.id)
    response = service.client(secret).post(URL, json=batch)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"

    for client in (service.client(), service.client("cmt_" + "x" * 43)):
        response = client.post(URL, json=batch)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"

    assert exported(tenant) == []


def test_the_caller_is_judged_before_the_body(service: Service, tenant: Tenant) -> None:
    anonymous = service.client()
    assert post_text(anonymous, "{not json").status_code == 401
    assert post_text(anonymous, "x", "text/plain").status_code == 401
    assert post_text(tenant.reader, "{not json").status_code == 403
    assert post_text(tenant.reader, "x", "text/plain").status_code == 403


def test_admin_token_with_usage_write_may_record(service: Service, tenant: Tenant) -> None:
    assert post(service.admin, [event(tenant)]).json()["accepted"] == 1


# -- durability ----------------------------------------------------------------------------


def test_edge_case_11_a_200_means_committed_with_the_store_in_durable_mode(
    service: Service, tenant: Tenant
) -> None:
    with service.store.engine.connect() as connection:
        if service.store.dialect == "sqlite":
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
            assert connection.exec_driver_sql("SHOW fsync").scalar() == "on"

    sent = event(tenant, credits=2.5)
    assert post(tenant.writer, [sent]).json()["accepted"] == 1
    # A connection of its own, outside the server's pool, sees the event at once.
    own = sa.create_engine(normalise_url(service.settings.database_url), poolclass=sa.NullPool)
    try:
        with own.connect() as connection:
            row = connection.execute(
                sa.text(
                    "SELECT credits_micro, request_count FROM usage_events "
                    "WHERE org_id = :org AND event_id = :id"
                ),
                {"org": tenant.org_id, "id": sent["id"]},
            ).one()
    finally:
        own.dispose()
    assert tuple(row) == (2_500_000, 1)


def test_conflicts_name_each_conflicting_id_once(tenant: Tenant) -> None:
    stored = event(tenant, credits=1)
    assert post(tenant.writer, [stored]).json()["accepted"] == 1
    changed_twice = [{**stored, "credits": 2}, {**stored, "credits": 3}]
    answer = post(tenant.writer, changed_twice).json()
    assert answer == {
        "accepted": 0,
        "duplicates": 2,
        "conflicts": [stored["id"]],
        "unknownOrgIds": [],
    }
