"""Voiding recorded usage: ``POST /api/v1/usage/events/void`` and the audit trail.

Against a real server on each store; what a void did is checked through the
export, as a user sees it. Tests named ``test_edge_NN_…`` pin the numbered
"Edge cases, decided" of shared/spec/usage-corrections.md (13, crashes, is in
tests/test_crash.py; 12's many-server race in tests/test_concurrency.py).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from creditmeter.cli import app
from tests.conftest import Service, Tenant

URL = "/api/v1/usage/events/void"
DAY = "2026-05-19"
STAMP = f"{DAY}T14:03:11Z"
runner = CliRunner()


# -- helpers ---------------------------------------------------------------------------


def new_id() -> str:
    return f"req_{uuid.uuid4().hex[:12]}"


def event(tenant: Tenant, **fields: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "orgId": tenant.org_id,
        "timestamp": STAMP,
        "product": "parse",
        "credits": 1,
        **fields,
    }


def void(
    client: httpx.Client, org_id: str, ids: list[Any], reason: str = "Refund: ticket 4711"
) -> httpx.Response:
    return client.post(URL, json={"orgId": org_id, "ids": ids, "reason": reason})


def voided(tenant: Tenant, ids: list[Any], reason: str = "Refund: ticket 4711") -> dict[str, Any]:
    response = void(tenant.writer, tenant.org_id, ids, reason)
    assert response.status_code == 200, response.text
    return response.json()


def exported(
    tenant: Tenant, start: str = DAY, end: str = DAY, **params: Any
) -> list[dict[str, Any]]:
    """The export's rows, with credits as exact Decimals."""
    response = tenant.export(startDate=start, endDate=end, **params)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)["data"]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status
    return error


def post_text(
    client: httpx.Client, body: str | bytes, content_type: str | None = "application/json"
) -> httpx.Response:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.post(URL, content=body, headers=headers)


def audit(service: Service, org_id: str) -> list[dict[str, Any]]:
    response = service.admin.get(f"/api/v1/admin/orgs/{org_id}/voids")
    assert response.status_code == 200, response.text
    return response.json()


# -- the endpoint -------------------------------------------------------------------------


def test_a_void_stops_the_event_counting_in_every_export(tenant: Tenant) -> None:
    kept = event(tenant, credits=2.5, feature="agentic", apiKey="key_a", fileType="pdf")
    gone = event(tenant, credits=1.25, feature="agentic", apiKey="key_b", requestCount=3)
    tenant.record([kept, gone])
    answer = voided(tenant, [gone["id"]])
    assert answer == {"voided": 1, "alreadyVoided": [], "notFound": []}

    for group_by in ("product", "feature", "api_key", "file_type"):
        rows = exported(tenant, groupBy=group_by)
        assert sum(Decimal(row["credits"]) for row in rows) == Decimal("2.5"), group_by
        assert sum(row["requestCount"] for row in rows) == 1, group_by
    assert [row["group"] for row in exported(tenant, groupBy="api_key")] == ["key_a"]
    # Several dimensions, a filter, CSV, another zone, hour buckets.
    rows = exported(tenant, groupBy="product,api_key", feature="agentic")
    assert [(row["apiKey"], row["credits"]) for row in rows] == [("key_a", Decimal("2.5"))]
    csv = tenant.export(startDate=DAY, endDate=DAY, format="csv").text
    assert csv.splitlines()[1:] == [f"{DAY},parse,2.5,1"]
    rows = exported(tenant, timeZone="Asia/Kolkata", bucketWidth="hour")
    assert [(row["start"], row["credits"]) for row in rows] == [
        ("2026-05-19T19:00:00+05:30", Decimal("2.5"))
    ]
    rows = exported(tenant, "2026-05-01", "2026-05-31", timeZone="UTC", bucketWidth="month")
    assert [row["credits"] for row in rows] == [Decimal("2.5")]


def test_a_voided_id_stays_taken_resent_it_is_a_duplicate_or_a_conflict(tenant: Tenant) -> None:
    first = event(tenant, credits=3)
    tenant.record([first])
    voided(tenant, [first["id"]])
    assert tenant.record([first]) == {
        "accepted": 0,
        "duplicates": 1,
        "conflicts": [],
        "unknownOrgIds": [],
    }
    assert tenant.record([{**first, "credits": 4}])["conflicts"] == [first["id"]]
    assert exported(tenant) == []
    # Corrected usage is a new event with a new id.
    tenant.record([event(tenant, credits=2)])
    assert [row["credits"] for row in exported(tenant)] == [Decimal("2.0")]


def test_edge_01_order_of_checks(service: Service, tenant: Tenant) -> None:
    anonymous, reader, writer = service.client(), tenant.reader, tenant.writer
    _, admin_only = service.directory.create_token("admin only", ["admin"])
    # 405 before 401.
    assert error_of(anonymous.get(URL), 405)["code"] == "method_not_allowed"
    # 401 before 403, 415, 413 and the body.
    assert error_of(post_text(anonymous, "x", "text/plain"), 401)["code"] == "unauthenticated"
    # 403 before 415 and the body: a personal key, a token without the scope.
    assert error_of(post_text(reader, "x", "text/plain"), 403)["code"] == "forbidden"
    message = error_of(post_text(service.client(admin_only), "{}"), 403)["message"]
    assert "usage:write" in message
    # 415 before the query and the body.
    assert error_of(writer.post(URL + "?x=1", content=b"x"), 415)["code"] == (
        "unsupported_media_type"
    )
    # The body's order: not an object, unknown fields, orgId, ids, reason.
    body: dict[str, Any] = {"org_id": 1, "orgId": "", "ids": [], "reason": ""}
    assert error_of(post_text(writer, "[]"), 400).get("param") is None
    assert error_of(writer.post(URL, json=body), 400)["param"] == "org_id"
    del body["org_id"]
    assert error_of(writer.post(URL, json=body), 400)["param"] == "orgId"
    body["orgId"] = tenant.org_id
    assert error_of(writer.post(URL, json=body), 400)["param"] == "ids"
    body["ids"] = ["a"]
    assert error_of(writer.post(URL, json=body), 400)["param"] == "reason"
    # A query parameter comes before the body.
    response = writer.post(
        URL + "?orgId=x", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert error_of(response, 400)["param"] == "orgId"
    assert error_of(response, 400)["code"] == "unknown_parameter"


def test_edge_01_the_body_limit_comes_before_the_query_and_the_body(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(max_body_bytes=2048)
    tenant = service.tenant()
    response = tenant.writer.post(
        URL + "?x=1",
        content=b"[" + b" " * 4096 + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert "2,048 bytes" in error_of(response, 413)["message"]
    # Not a caller: 401 still comes first.
    response = post_text(service.client(), b"[" + b" " * 4096 + b"]")
    assert error_of(response, 401)["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"ids": ["a"], "reason": "r"}, "orgId"),
        ({"orgId": None, "ids": ["a"], "reason": "r"}, "orgId"),
        ({"orgId": 7, "ids": ["a"], "reason": "r"}, "orgId"),
        ({"orgId": "", "ids": ["a"], "reason": "r"}, "orgId"),
        ({"orgId": " org", "ids": ["a"], "reason": "r"}, "orgId"),
        ({"orgId": "o" * 129, "ids": ["a"], "reason": "r"}, "orgId"),
        ({"orgId": "org", "reason": "r"}, "ids"),
        ({"orgId": "org", "ids": None, "reason": "r"}, "ids"),
        ({"orgId": "org", "ids": "a", "reason": "r"}, "ids"),
        ({"orgId": "org", "ids": {"a": 1}, "reason": "r"}, "ids"),
        ({"orgId": "org", "ids": ["a"]}, "reason"),
        ({"orgId": "org", "ids": ["a"], "reason": None}, "reason"),
        ({"orgId": "org", "ids": ["a"], "reason": 5}, "reason"),
        ({"orgId": "org", "ids": ["a"], "reason": ""}, "reason"),
        ({"orgId": "org", "ids": ["a"], "reason": "r" * 501}, "reason"),
        ({"orgId": "org", "ids": ["a"], "reason": "two\nlines"}, "reason"),
        ({"orgId": "org", "ids": ["a"], "reason": "Refund "}, "reason"),
    ],
)
def test_edge_02_a_bad_field_is_400_invalid_parameter_naming_it(
    tenant: Tenant, body: dict[str, Any], param: str
) -> None:
    error = error_of(tenant.writer.post(URL, json=body), 400)
    assert (error["code"], error["param"]) == ("invalid_parameter", param)
    assert f"'{param}'" in error["message"]


def test_edge_02_a_reason_is_counted_in_characters(tenant: Tenant) -> None:
    stored = event(tenant)
    tenant.record([stored])
    assert voided(tenant, [stored["id"]], "€" * 500)["voided"] == 1


@pytest.mark.parametrize("body", ["", "not json", "[]", "null", '"text"', "1", "{"])
def test_edge_02_a_body_that_is_not_a_json_object_is_400_without_param(
    tenant: Tenant, body: str
) -> None:
    error = error_of(post_text(tenant.writer, body), 400)
    assert error["code"] == "invalid_parameter"
    assert "param" not in error


def test_edge_02_unknown_fields_are_named_with_a_suggestion(tenant: Tenant) -> None:
    body = {"org_id": "x", "ids": ["a"], "reason": "r", "Reasons": "y"}
    error = error_of(tenant.writer.post(URL, json=body), 400)
    assert (error["code"], error["param"]) == ("unknown_parameter", "org_id")
    assert "'org_id'" in error["message"] and "'Reasons'" in error["message"]
    assert "'orgId'" in error["message"] and "'reason'" in error["message"]


def test_edge_02_any_query_parameter_is_400_unknown_parameter(tenant: Tenant) -> None:
    response = tenant.writer.post(
        URL + "?dryRun=true", json={"orgId": tenant.org_id, "ids": ["a"], "reason": "r"}
    )
    error = error_of(response, 400)
    assert (error["code"], error["param"]) == ("unknown_parameter", "dryRun")


def test_edge_03_every_bad_id_is_listed_by_index_and_nothing_is_voided(tenant: Tenant) -> None:
    stored = event(tenant)
    tenant.record([stored])
    ids = [stored["id"], 5, None, "", "x" * 129, "tab\there", " lead", "trail ", "ok", True]
    error = error_of(void(tenant.writer, tenant.org_id, ids), 400)
    assert (error["code"], error["param"]) == ("invalid_parameter", "ids")
    assert [(d["index"], d["field"]) for d in error["details"]] == [
        (i, "ids") for i in (1, 2, 3, 4, 5, 6, 7, 9)
    ]
    assert all(d["message"] for d in error["details"])
    assert len(exported(tenant)) == 1
    assert audit(tenant.service, tenant.org_id) == []


def test_edge_03_at_most_a_thousand_bad_ids_are_listed(tenant: Tenant) -> None:
    error = error_of(void(tenant.writer, tenant.org_id, [""] * 1500), 400)
    assert len(error["details"]) == 1000
    assert "1,500" in error["message"]


def test_edge_04_an_empty_list_is_400(tenant: Tenant) -> None:
    error = error_of(void(tenant.writer, tenant.org_id, []), 400)
    assert (error["code"], error["param"]) == ("invalid_parameter", "ids")


def test_edge_05_limits(make_service: Callable[..., Service]) -> None:
    service = make_service(max_batch_events=5, max_body_bytes=2048)
    tenant = service.tenant()
    stored = event(tenant)
    tenant.record([stored])
    # Counted as sent, repeats included.
    error = error_of(void(tenant.writer, tenant.org_id, [stored["id"]] * 6), 413)
    assert error["code"] == "payload_too_large"
    assert "5 ids" in error["message"]
    assert voided(tenant, [stored["id"]] * 5)["voided"] == 1
    # Bytes: exactly 2,048 pass, one more is 413 with the limit in bytes.
    other = event(tenant)
    tenant.record([other])
    compact = json.dumps({"orgId": tenant.org_id, "ids": [other["id"]], "reason": "r"}).encode()
    too_big = compact[:-1] + b" " * (2049 - len(compact)) + b"}"
    error = error_of(post_text(tenant.writer, too_big), 413)
    assert "2,048 bytes" in error["message"]
    exact = compact[:-1] + b" " * (2048 - len(compact)) + b"}"
    assert post_text(tenant.writer, exact).json()["voided"] == 1


def test_edge_05_the_default_body_limit_admits_any_valid_full_request(tenant: Tenant) -> None:
    # 10,000 ids of 128 characters each, every character written as a JSON
    # surrogate-pair escape (12 bytes): the largest valid request, ~15 MB.
    astral = "\\ud83d\\ude00"
    ids = ",".join(f'"{astral * 124}{n:04d}"' for n in range(10_000))
    body = f'{{"orgId": "{tenant.org_id}", "ids": [{ids}], "reason": "r"}}'.encode()
    assert len(body) > 14_000_000
    response = post_text(tenant.writer, body)
    assert response.status_code == 200, response.text[:500]
    assert len(response.json()["notFound"]) == 10_000


def test_edge_06_repeated_ids_count_once_in_order_of_first_appearance(tenant: Tenant) -> None:
    a, b, c = (event(tenant) for _ in range(3))
    tenant.record([a, b, c])
    voided(tenant, [c["id"]])
    ids = ["nope2", c["id"], a["id"], "nope1", a["id"], c["id"], "nope2", b["id"]]
    answer = voided(tenant, ids)
    assert answer == {"voided": 2, "alreadyVoided": [c["id"]], "notFound": ["nope2", "nope1"]}
    distinct = len(set(ids))
    assert answer["voided"] + len(answer["alreadyVoided"]) + len(answer["notFound"]) == distinct
    assert exported(tenant) == []


def test_edge_07_organizations(service: Service, tenant: Tenant) -> None:
    # Not in the directory: its events are voided like any others.
    unknown = f"org_unknown_{uuid.uuid4().hex[:8]}"
    stray = event(tenant, orgId=unknown)
    assert tenant.record([stray])["unknownOrgIds"] == [unknown]
    assert voided(tenant, [stray["id"]])["notFound"] == [stray["id"]]  # not in tenant's org
    answer = void(tenant.writer, unknown, [stray["id"]]).json()
    assert answer == {"voided": 1, "alreadyVoided": [], "notFound": []}
    # No stored events at all: 200, every id not found.
    nobody = f"org_empty_{uuid.uuid4().hex[:8]}"
    assert void(tenant.writer, nobody, ["a", "b"]).json() == {
        "voided": 0,
        "alreadyVoided": [],
        "notFound": ["a", "b"],
    }
    # The same id in another organization is untouched; ids and orgIds are exact.
    other = service.tenant()
    shared = new_id()
    tenant.record([event(tenant, id=shared)])
    other.record([event(other, id=shared)])
    assert void(tenant.writer, tenant.org_id.upper(), [shared]).json()["notFound"] == [shared]
    assert voided(tenant, [shared.upper()])["notFound"] == [shared.upper()]
    assert voided(tenant, [shared])["voided"] == 1
    assert exported(tenant) == []
    assert [row["credits"] for row in exported(other)] == [Decimal("1.0")]


@pytest.mark.parametrize(
    "content_type",
    ["application/x-ndjson", "application/ndjson", "application/jsonl", "text/plain", None],
)
def test_edge_08_only_json_is_accepted(tenant: Tenant, content_type: str | None) -> None:
    body = json.dumps({"orgId": tenant.org_id, "ids": ["a"], "reason": "r"})
    error = error_of(post_text(tenant.writer, body, content_type), 415)
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]


def test_edge_08_json_with_or_without_a_charset(tenant: Tenant) -> None:
    body = json.dumps({"orgId": tenant.org_id, "ids": ["a"], "reason": "r"})
    for content_type in ("application/json", "application/json; charset=utf-8"):
        assert post_text(tenant.writer, body, content_type).status_code == 200


def test_edge_09_events_of_any_age_can_be_voided(tenant: Tenant) -> None:
    old = [
        event(tenant, timestamp="0001-01-01T00:14:59Z", credits=1),
        event(tenant, timestamp="1900-03-01T12:07:00Z", credits=2),
        event(tenant, timestamp="1969-12-31T23:59:59.999999Z", credits=3),
    ]
    tenant.record(old)
    assert voided(tenant, [e["id"] for e in old])["voided"] == 3
    for start, end in (("0001-01-01", "0001-01-01"), ("1900-03-01", "1900-03-01")):
        assert exported(tenant, start, end) == []
    assert exported(tenant, "1969-12-31", "1969-12-31") == []


def test_edge_09_voided_events_leave_exports_read_from_the_events(tenant: Tenant) -> None:
    # Monrovia's offset was -0:44:30 until 1972: its days are summed from the
    # events themselves (export-time-and-dimensions.md, edge case 2).
    kept = event(tenant, timestamp="1971-06-01T12:00:00Z", credits=1, feature="a")
    gone = event(tenant, timestamp="1971-06-01T12:00:00Z", credits=2, feature="b")
    tenant.record([kept, gone])
    zone = {"timeZone": "Africa/Monrovia", "groupBy": "feature"}
    rows = exported(tenant, "1971-06-01", "1971-06-01", **zone)
    assert [row["group"] for row in rows] == ["a", "b"]
    voided(tenant, [gone["id"]])
    rows = exported(tenant, "1971-06-01", "1971-06-01", **zone)
    assert [(row["group"], row["credits"]) for row in rows] == [("a", Decimal("1.0"))]
    rows = exported(tenant, "1971-06-01", "1971-06-01", bucketWidth="hour", **zone)
    assert [(row["group"], row["credits"]) for row in rows] == [("a", Decimal("1.0"))]


def test_edge_10_nothing_left_means_no_row_zero_usage_left_means_a_zero_row(
    tenant: Tenant,
) -> None:
    gone = [event(tenant, product="gone", credits=5) for _ in range(2)]
    zero_kept = event(tenant, product="zero", credits=0, requestCount=0)
    zero_gone = event(tenant, product="zero", credits=4)
    tenths = [event(tenant, product="tenths", credits=0.1) for _ in range(10)]
    tenant.record([*gone, zero_kept, zero_gone, *tenths])
    voided(tenant, [e["id"] for e in gone] + [zero_gone["id"]] + [e["id"] for e in tenths[:3]])
    rows = exported(tenant)
    assert [(row["group"], row["credits"], row["requestCount"]) for row in rows] == [
        ("tenths", Decimal("0.7"), 7),
        ("zero", Decimal("0.0"), 0),
    ]
    # With a full-rollup read (two dimensions) and in quarter hours, the same.
    rows = exported(tenant, groupBy="product,feature")
    assert [(row["product"], row["credits"]) for row in rows] == [
        ("tenths", Decimal("0.7")),
        ("zero", Decimal("0.0")),
    ]
    rows = exported(tenant, timeZone="Asia/Kathmandu", groupBy="product")
    assert {row["group"] for row in rows} == {"tenths", "zero"}
    # Every event of the day voided: the day has no usage at all.
    voided(tenant, [zero_kept["id"]] + [e["id"] for e in tenths[3:]])
    assert exported(tenant) == []
    assert exported(tenant, groupBy="product,api_key") == []
    assert exported(tenant, timeZone="Asia/Kathmandu", bucketWidth="hour") == []


def test_edge_11_voiding_again_keeps_the_first_entry(service: Service, tenant: Tenant) -> None:
    stored = event(tenant)
    tenant.record([stored])
    voided(tenant, [stored["id"]], "first reason")
    [first] = audit(service, tenant.org_id)
    _, other_secret = service.directory.create_token("another bot", ["usage:write"])
    answer = void(service.client(other_secret), tenant.org_id, [stored["id"]], "second").json()
    assert answer == {"voided": 0, "alreadyVoided": [stored["id"]], "notFound": []}
    assert audit(service, tenant.org_id) == [first]
    assert first["reason"] == "first reason"


def test_edge_12_racing_voids_of_the_same_ids_void_each_once(
    service: Service, tenant: Tenant
) -> None:
    events = [event(tenant, credits=1) for _ in range(40)]
    tenant.record(events)
    ids = [e["id"] for e in events]
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        mine = ids[n % 5 :] + ids[: n % 5]  # every worker all ids, in another order
        response = void(tenant.writer, tenant.org_id, mine, f"worker {n}")
        assert response.status_code == 200, response.text
        with lock:
            answers.append(response.json())

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(answer["voided"] for answer in answers) == 40
    for answer in answers:
        assert answer["voided"] + len(answer["alreadyVoided"]) == 40
    entries = audit(service, tenant.org_id)
    assert sorted(entry["eventId"] for entry in entries) == sorted(ids)
    assert exported(tenant) == []


def test_edge_12_a_void_racing_the_ingest_of_its_ids_is_all_or_nothing_per_id(
    tenant: Tenant,
) -> None:
    events = [event(tenant, credits=1) for _ in range(200)]
    ids = [e["id"] for e in events]
    answers: list[dict[str, Any]] = []

    def ingest() -> None:
        for start in range(0, 200, 20):
            tenant.record(events[start : start + 20])

    def voids() -> None:
        for _ in range(10):
            answers.append(voided(tenant, ids))

    threads = [threading.Thread(target=ingest), threading.Thread(target=voids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    voided_ids = {entry["eventId"] for entry in audit(tenant.service, tenant.org_id)}
    assert sum(answer["voided"] for answer in answers) == len(voided_ids)
    counted = 200 - len(voided_ids)
    rows = exported(tenant)
    assert sum(row["requestCount"] for row in rows) == counted
    assert sum(Decimal(row["credits"]) for row in rows) == counted


def test_edge_14_the_audit_entry(service: Service, tenant: Tenant) -> None:
    token, secret = service.directory.create_token("billing-bot", ["usage:write"])
    full = event(
        tenant,
        timestamp="2026-05-19T16:03:11.5+02:00",
        feature="agentic",
        apiKey="key_3f9a",
        fileType="pdf",
        credits=2.5,
        requestCount=4,
    )
    bare = event(tenant, timestamp="2026-05-19T14:03:11Z", credits=0)
    tenant.record([full, bare])
    response = void(service.client(secret), tenant.org_id, [full["id"], bare["id"]], "Ticket 1")
    assert response.json()["voided"] == 2
    entries = audit(service, tenant.org_id)
    assert entries[0]["voidedAt"] == entries[1]["voidedAt"]  # one request, one instant
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entries[0]["voidedAt"])
    by_id = {entry["eventId"]: entry for entry in entries}
    common = {
        "orgId": tenant.org_id,
        "reason": "Ticket 1",
        "voidedAt": entries[0]["voidedAt"],
        "source": "api",
        "tokenId": token.id,
        "tokenName": "billing-bot",
    }
    assert by_id[full["id"]] == {
        "eventId": full["id"],
        "timestamp": "2026-05-19T14:03:11.500000Z",
        "product": "parse",
        "feature": "agentic",
        "apiKey": "key_3f9a",
        "fileType": "pdf",
        "credits": 2.5,
        "requestCount": 4,
        **common,
    }
    assert by_id[bare["id"]] == {
        "eventId": bare["id"],
        "timestamp": "2026-05-19T14:03:11Z",
        "product": "parse",
        "feature": None,
        "apiKey": None,
        "fileType": None,
        "credits": 0.0,
        "requestCount": 1,
        **common,
    }
    text = service.admin.get(f"/api/v1/admin/orgs/{tenant.org_id}/voids").text
    assert '"credits":0.0' in text.replace(" ", "") and '"credits":2.5' in text.replace(" ", "")
    assert secret not in text


def test_edge_14_listing_order_is_voided_at_then_event_id_in_byte_order(
    service: Service, tenant: Tenant
) -> None:
    names = ["b", "B", "é", "a", "z"]
    tenant.record([event(tenant, id=name) for name in names])
    voided(tenant, ["z"])
    voided(tenant, ["é", "b", "B", "a"])
    listed = [entry["eventId"] for entry in audit(service, tenant.org_id)]
    assert listed == ["z", "B", "a", "b", "é"]


def test_edge_15_listing(service: Service, tenant: Tenant) -> None:
    path = f"/api/v1/admin/orgs/{tenant.org_id}/voids"
    assert service.admin.get(path).json() == []
    assert service.admin.get(f"/api/v1/admin/orgs/org_never_{uuid.uuid4().hex}/voids").json() == []
    error = error_of(service.admin.get(path, params={"limit": "10"}), 400)
    assert (error["code"], error["param"]) == ("unknown_parameter", "limit")
    assert error_of(tenant.writer.get(path), 403)["code"] == "forbidden"
    assert error_of(tenant.reader.get(path), 403)["code"] == "forbidden"
    assert error_of(service.client().get(path), 401)["code"] == "unauthenticated"


def test_edge_16_methods(service: Service, tenant: Tenant) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        error = error_of(tenant.writer.request(method, URL), 405)
        assert error["code"] == "method_not_allowed"
    path = f"/api/v1/admin/orgs/{tenant.org_id}/voids"
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = service.admin.request(method, path)
        assert error_of(response, 405)["code"] == "method_not_allowed"
        assert response.headers["allow"] == "GET"


# -- the command line ------------------------------------------------------------------------


def cm(*args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(app, list(args), input=input)


def test_edge_17_creditmeter_void(service: Service, tenant: Tenant, tmp_path: Path) -> None:
    url = service.settings.database_url
    a, b, c = (event(tenant, credits=1) for _ in range(3))
    tenant.record([a, b, c])
    org = ("--org", tenant.org_id, "--reason", "Refund", "--database-url", url)

    # Ids as arguments or from --file, never both, never neither: usage errors.
    assert cm("void", *org).exit_code == 2
    ids_file = tmp_path / "ids.txt"
    ids_file.write_bytes(f"{a['id']}\r\n\n{a['id']}\nnope\n".encode())
    assert cm("void", *org, "--file", str(ids_file), b["id"]).exit_code == 2
    assert cm("void", "--org", tenant.org_id, a["id"], "--database-url", url).exit_code == 2
    assert cm("void", "--reason", "r", a["id"], "--database-url", url).exit_code == 2

    result = cm("void", *org, "--file", str(ids_file))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "voided 1, already voided 0, not found 1\n"
    # Arguments, with --json: the API's object.
    result = cm("void", *org, b["id"], a["id"], "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"voided": 1, "alreadyVoided": [a["id"]], "notFound": []}
    # stdin.
    result = cm("void", *org, "--file", "-", input=f"{c['id']}\n")
    assert result.stdout == "voided 1, already voided 0, not found 0\n"
    assert exported(tenant) == []
    [entry, *_] = audit(service, tenant.org_id)
    assert (entry["source"], entry["tokenId"], entry["tokenName"]) == ("cli", None, None)


def test_edge_17_problems_are_listed_and_nothing_is_voided(
    service: Service, tenant: Tenant, tmp_path: Path
) -> None:
    url = service.settings.database_url
    stored = event(tenant)
    tenant.record([stored])
    ids_file = tmp_path / "ids.txt"
    # Line 2 is empty (ignored, counted); line 3 is spaces: an id, and a bad one;
    # line 4 ends in a lone CR, which is no line ending.
    ids_file.write_bytes(f"{stored['id']}\n\n   \nbad\r\r\n".encode())
    result = cm(
        "void", "--org", tenant.org_id, "--reason", "r", "--file", str(ids_file),
        "--database-url", url,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "line 3:" in result.stderr and "line 4:" in result.stderr
    assert "line 2" not in result.stderr and "line 1" not in result.stderr
    result = cm(
        "void", "--org", " x", "--reason", "", stored["id"], "", "--database-url", url, "--json"
    )
    assert result.exit_code == 1
    assert "--org" in result.stderr and "--reason" in result.stderr and "id 2:" in result.stderr
    assert json.loads(result.stdout)["error"]["code"] == "invalid_parameter"
    only_empty = tmp_path / "empty.txt"
    only_empty.write_bytes(b"\n\n")
    result = cm(
        "void", "--org", tenant.org_id, "--reason", "r", "--file", str(only_empty),
        "--database-url", url,
    )  # fmt: skip
    assert result.exit_code == 1
    many = tmp_path / "many.txt"
    many.write_text("\n".join([" "] * 150) + "\n")
    result = cm(
        "void", "--org", tenant.org_id, "--reason", "r", "--file", str(many), "--database-url", url
    )
    assert result.exit_code == 1
    assert result.stderr.count("line ") == 100
    assert len(exported(tenant)) == 1
    assert audit(service, tenant.org_id) == []


def test_edge_17_the_command_is_not_held_to_the_batch_limit(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(max_batch_events=5)
    tenant = service.tenant()
    events = [event(tenant) for _ in range(5)] + [event(tenant) for _ in range(5)]
    tenant.record(events[:5])
    tenant.record(events[5:])
    ids = [e["id"] for e in events]
    result = cm(
        "void", "--org", tenant.org_id, "--reason", "r", *ids,
        "--database-url", service.settings.database_url,
    )  # fmt: skip
    assert result.stdout == "voided 10, already voided 0, not found 0\n"


def test_edge_18_creditmeter_voids_list(service: Service, tenant: Tenant) -> None:
    url = service.settings.database_url
    stored = event(tenant, credits=2.5)
    tenant.record([stored])
    result = cm("voids", "list", "--org", tenant.org_id, "--database-url", url, "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])
    result = cm("voids", "list", "--org", tenant.org_id, "--database-url", url)
    assert result.exit_code == 0
    voided(tenant, [stored["id"]], "Refund: ticket 4711")
    result = cm("voids", "list", "--org", tenant.org_id, "--database-url", url, "--json")
    assert json.loads(result.stdout) == audit(service, tenant.org_id)
    result = cm("voids", "list", "--org", tenant.org_id, "--database-url", url)
    assert result.exit_code == 0
    assert stored["id"] in result.stdout and "Refund: ticket 4711" in result.stdout
    assert "2.5" in result.stdout
