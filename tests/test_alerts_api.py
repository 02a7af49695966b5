"""``/api/v1/alerts`` and ``/api/v1/webhooks``: the contract's checks and answers
(``usage-alerts.md``), on both stores, through a real server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.alerting import fast_service, make_alert, make_webhook, member_key, usage
from tests.conftest import Service, Tenant, new_tenant, running_service

ALERTS = "/api/v1/alerts"
WEBHOOKS = "/api/v1/webhooks"
RECEIVER = "http://127.0.0.1:9/hook"  # never called: the private-address rule is off here


@pytest.fixture(scope="module")
def api(new_database: Callable[[], str]) -> Iterator[Service]:
    with fast_service(new_database(), max_alerts_per_org=3, max_webhooks_per_org=2) as service:
        yield service


@pytest.fixture
def org(api: Service) -> Tenant:
    return new_tenant(api)


def error(response, status: int, code: str, param: str | None = None) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    if param is not None:
        assert body.get("param") == param, body
    return str(body["message"])


VALID = {"name": "Budget", "metric": "credits", "threshold": 1000, "period": "month"}


def test_create_answers_the_alert_with_its_current_period(org: Tenant) -> None:
    answer = org.reader.post(
        ALERTS,
        json={**VALID, "timeZone": "Europe/Berlin", "filters": {"product": ["parse"]}},
    )
    assert answer.status_code == 201, answer.text
    alert = answer.json()
    assert list(alert) == [
        "id", "orgId", "name", "metric", "threshold", "period", "timeZone", "filters",
        "enabled", "createdAt", "updatedAt", "current",
    ]  # fmt: skip
    assert alert["id"].startswith("alr_") and alert["orgId"] == org.org_id
    assert alert["threshold"] == 1000.0 and '"threshold":1000.0' in answer.text
    assert alert["filters"] == {"product": ["parse"]} and alert["enabled"] is True
    current = alert["current"]
    assert current["status"] == "ok" and current["value"] == 0.0
    assert current["periodStart"].endswith(("+01:00", "+02:00"))
    assert current["periodStart"][8:19] == "01T00:00:00"
    assert alert["createdAt"].endswith("Z")


def test_edge_01_order_of_checks(api: Service, org: Tenant) -> None:
    reader = org.reader
    # 405 before 401.
    error(api.client().put(ALERTS, json=VALID), 405, "method_not_allowed")
    error(api.client().post(ALERTS, json=VALID), 401, "unauthenticated")
    # A service token is 403 before anything about the body.
    error(api.client(org.writer_secret).post(ALERTS, content=b"nonsense"), 403, "forbidden")
    # Query parameters, then the content type, then the body.
    error(reader.post(ALERTS, params={"org": "x"}, content=b"x"), 400, "unknown_parameter", "org")
    error(reader.post(ALERTS, content=b"{}", headers={"content-type": "text/plain"}), 415,
          "unsupported_media_type")  # fmt: skip
    ok_charset = reader.post(
        ALERTS, content=b'{"name": 5}', headers={"content-type": "application/json; charset=utf-8"}
    )
    error(ok_charset, 400, "invalid_parameter", "name")
    error(reader.post(ALERTS, json=[1]), 400, "invalid_parameter")
    error(reader.post(ALERTS, json={"bogus": 1, "name": 5}), 400, "unknown_parameter", "bogus")
    # Fields in table order: metric before threshold before period.
    error(reader.post(ALERTS, json={"name": "x", "metric": "bad", "threshold": -1}), 400,
          "invalid_parameter", "metric")  # fmt: skip
    error(reader.post(ALERTS, json={"name": "x", "metric": "credits", "threshold": -1}), 400,
          "invalid_parameter", "threshold")  # fmt: skip
    error(reader.post(ALERTS, json={**VALID, "threshold": 0.0000001, "period": "week"}), 400,
          "invalid_parameter", "period")  # fmt: skip
    # The threshold against the metric comes after the other fields.
    error(reader.post(ALERTS, json={**VALID, "threshold": 0.0000001}), 400,
          "invalid_parameter", "threshold")  # fmt: skip
    # A body error before membership; membership (403) before the role (403).
    other = new_tenant(api)
    error(reader.post(ALERTS, params={"orgId": other.org_id}, json={}), 400, "invalid_parameter")
    message = error(reader.post(ALERTS, params={"orgId": other.org_id}, json=VALID), 403,
                    "forbidden")  # fmt: skip
    assert "not a member" in message
    error(reader.post(ALERTS, params={"orgId": "org_nonexistent"}, json=VALID), 403, "forbidden")
    # Id routes: 400 (query), then 404, then the role.
    member = api.client(member_key(org, "member"))
    created = make_alert(org)
    error(member.delete(f"{ALERTS}/{created['id']}", params={"x": 1}), 400, "unknown_parameter")
    error(member.delete(f"{ALERTS}/alr_unknown"), 404, "not_found")
    error(member.patch(f"{ALERTS}/{created['id']}", json={"name": 5}), 400, "invalid_parameter")
    message = error(member.delete(f"{ALERTS}/{created['id']}"), 403, "forbidden")
    assert "owners and admins" in message


def test_edge_02_ids_of_other_organizations_are_404(api: Service, org: Tenant) -> None:
    other = new_tenant(api)
    alert = make_alert(other)
    hook = make_webhook(other, RECEIVER)
    reader = org.reader
    for path in (f"{ALERTS}/{alert['id']}", f"{WEBHOOKS}/{hook['id']}",
                 f"{WEBHOOKS}/{hook['id']}/deliveries"):  # fmt: skip
        error(reader.get(path), 404, "not_found")
    error(reader.patch(f"{ALERTS}/{alert['id']}", json={"name": "x"}), 404, "not_found")
    error(reader.delete(f"{ALERTS}/{alert['id']}"), 404, "not_found")
    error(reader.post(f"{WEBHOOKS}/{hook['id']}/rotate"), 404, "not_found")
    error(reader.post(f"{WEBHOOKS}/{hook['id']}/test"), 404, "not_found")
    mine = make_alert(org)
    assert reader.delete(f"{ALERTS}/{mine['id']}").status_code == 204
    error(reader.delete(f"{ALERTS}/{mine['id']}"), 404, "not_found")
    error(other.reader.get(f"{ALERTS}/{alert['id']}", params={"orgId": other.org_id}), 400,
          "unknown_parameter", "orgId")  # fmt: skip
    message = error(other.reader.get(f"{WEBHOOKS}/{hook['id']}", params={"a": "1"}), 400,
                    "unknown_parameter")  # fmt: skip
    assert "no query parameters" in message


def test_edge_03_the_routes_share_the_export_rate_limit(new_database: Callable[[], str]) -> None:
    with running_service(new_database(), export_rate_limit=3) as service:
        tenant = new_tenant(service)
        assert tenant.reader.get(ALERTS).status_code == 200
        assert tenant.reader.get(WEBHOOKS).status_code == 200
        assert tenant.export().status_code == 200
        refused = tenant.reader.post(ALERTS, json={})
        error(refused, 429, "rate_limited")
        assert int(refused.headers["Retry-After"]) >= 1


def test_edge_04_bodies(org: Tenant) -> None:
    reader = org.reader
    error(reader.post(ALERTS, content=b"not json", headers={"content-type": "application/json"}),
          400, "invalid_parameter")  # fmt: skip
    error(reader.post(ALERTS, json="text"), 400, "invalid_parameter")
    # null is absent, inside filters too.
    nulls = reader.post(ALERTS, json={**VALID, "timeZone": None, "filters": {"product": None}})
    assert nulls.status_code == 201, nulls.text
    assert nulls.json()["timeZone"] == "UTC" and nulls.json()["filters"] == {}
    for field in ("orgId", "id", "current", "createdAt"):
        error(reader.post(ALERTS, json={**VALID, field: "x"}), 400, "unknown_parameter", field)
    message = error(reader.post(ALERTS, json={**VALID, "time_zone": "UTC"}), 400,
                    "unknown_parameter", "time_zone")  # fmt: skip
    assert "timeZone" in message
    error(reader.post(ALERTS, json={**VALID, "filters": {"file_type": ["pdf"]}}), 400,
          "unknown_parameter", "filters.file_type")  # fmt: skip
    error(reader.post(ALERTS, json={**VALID, "zzz": 1, "yyy": 2}), 400, "unknown_parameter", "zzz")
    missing = {k: v for k, v in VALID.items() if k != "period"}
    error(reader.post(ALERTS, json=missing), 400, "invalid_parameter", "period")
    error(reader.post(ALERTS, json={**VALID, "filters": {"product": [""]}}), 400,
          "invalid_parameter", "filters.product")  # fmt: skip
    assert "requestCount" in error(reader.post(ALERTS, json={**VALID, "metric": "request_count"}),
                                   400, "invalid_parameter", "metric")  # fmt: skip
    assert "month" in error(reader.post(ALERTS, json={**VALID, "period": "Month"}), 400,
                            "invalid_parameter", "period")  # fmt: skip
    assert "Europe/Berlin" in error(
        reader.post(ALERTS, json={**VALID, "timeZone": "europe/berlin"}), 400,
        "invalid_parameter", "timeZone",
    )  # fmt: skip
    error(reader.post(ALERTS, json={**VALID, "name": " padded"}), 400, "invalid_parameter", "name")
    error(reader.post(ALERTS, json={**VALID, "name": "x" * 129}), 400, "invalid_parameter", "name")
    error(reader.post(ALERTS, json={**VALID, "enabled": "yes"}), 400, "invalid_parameter",
          "enabled")  # fmt: skip


@pytest.mark.parametrize(
    ("metric", "threshold"),
    [
        ("credits", 0), ("credits", -5), ("credits", "100"), ("credits", True),
        ("credits", 1.0000001), ("credits", 9_000_000_000_001), ("requestCount", 2.5),
        ("requestCount", 2.0), ("requestCount", 0),
    ],
)  # fmt: skip
def test_edge_05_thresholds_refused(org: Tenant, metric: str, threshold: object) -> None:
    error(org.reader.post(ALERTS, json={**VALID, "metric": metric, "threshold": threshold}), 400,
          "invalid_parameter", "threshold")  # fmt: skip


def test_edge_05_thresholds_echoed_as_the_export_writes_them(org: Tenant) -> None:
    credits = org.reader.post(ALERTS, json={**VALID, "threshold": 100})
    assert '"threshold":100.0' in credits.text
    exact = org.reader.post(
        ALERTS,
        content=b'{"name": "x", "metric": "credits", "threshold": 8999999999999.999999, '
        b'"period": "day"}',
        headers={"content-type": "application/json"},
    )
    assert '"threshold":8999999999999.999999' in exact.text, exact.text
    requests = org.reader.post(ALERTS, json={**VALID, "metric": "requestCount", "threshold": 7})
    assert '"threshold":7,' in requests.text and '"value":0,' in requests.text


def test_edge_09_patch_changes_only_what_is_sent(org: Tenant) -> None:
    alert = make_alert(org, filters={"product": ["parse"], "feature": ["ocr"]})
    path = f"{ALERTS}/{alert['id']}"
    renamed = org.reader.patch(path, json={"name": "Renamed"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Renamed" and renamed.json()["filters"] == alert["filters"]
    cleared = org.reader.patch(path, json={"filters": {}})
    assert cleared.json()["filters"] == {}
    unchanged = org.reader.patch(path, json={})
    assert (
        unchanged.status_code == 200
        and unchanged.json()["updatedAt"] == cleared.json()["updatedAt"]
    )
    # A rejected PATCH changes nothing; a metric the stored threshold does not suit.
    decimal = make_alert(org, threshold=2.5)
    error(org.reader.patch(f"{ALERTS}/{decimal['id']}", json={"metric": "requestCount"}), 400,
          "invalid_parameter", "threshold")  # fmt: skip
    error(org.reader.patch(path, json={"name": "New", "period": "year"}), 400,
          "invalid_parameter", "period")  # fmt: skip
    assert org.reader.get(path).json()["name"] == "Renamed"
    both = org.reader.patch(
        f"{ALERTS}/{decimal['id']}", json={"metric": "requestCount", "threshold": 3}
    )
    assert both.status_code == 200 and both.json()["threshold"] == 3


def test_edge_11_filters(org: Tenant) -> None:
    alert = make_alert(org, filters={"fileType": ["pdf", "docx", "pdf"], "product": ["a"]})
    assert alert["filters"] == {"product": ["a"], "fileType": ["pdf", "docx"]}
    error(org.reader.post(ALERTS, json={**VALID, "filters": {"product": []}}), 400,
          "invalid_parameter", "filters.product")  # fmt: skip
    error(org.reader.post(ALERTS, json={**VALID, "filters": {"apiKey": ["k"] * 101}}), 400,
          "invalid_parameter", "filters.apiKey")  # fmt: skip
    hundred = make_alert(org, filters={"apiKey": ["k"] * 100})
    assert hundred["filters"] == {"apiKey": ["k"]}


def test_edge_15_limits_are_409_naming_the_limit(api: Service) -> None:
    tenant = new_tenant(api)
    for _ in range(3):
        make_alert(tenant)
    assert "3 alerts" in error(tenant.reader.post(ALERTS, json=VALID), 409, "conflict")
    for _ in range(2):
        make_webhook(tenant, RECEIVER)
    message = error(tenant.reader.post(WEBHOOKS, json={"url": RECEIVER}), 409, "conflict")
    assert "2 webhook endpoints" in message


def test_edge_16_only_owners_and_admins_test_or_rotate(api: Service, org: Tenant) -> None:
    hook = make_webhook(org, RECEIVER)
    member = api.client(member_key(org, "member"))
    admin = api.client(member_key(org, "admin"))
    error(member.post(f"{WEBHOOKS}/{hook['id']}/rotate"), 403, "forbidden")
    error(member.post(f"{WEBHOOKS}/{hook['id']}/test"), 403, "forbidden")
    error(member.post(WEBHOOKS, json={"url": RECEIVER}), 403, "forbidden")
    error(member.post(ALERTS, json=VALID), 403, "forbidden")
    assert member.get(WEBHOOKS).status_code == 200
    assert member.get(f"{WEBHOOKS}/{hook['id']}/deliveries").status_code == 200
    rotated = admin.post(f"{WEBHOOKS}/{hook['id']}/rotate")
    assert rotated.status_code == 200 and rotated.json()["secret"] != hook["secret"]
    tested = admin.post(f"{WEBHOOKS}/{hook['id']}/test")
    assert tested.status_code == 202 and tested.json()["messageId"].startswith("msg_")


def test_edge_18_alerts_belong_to_the_organization(api: Service, org: Tenant) -> None:
    admin_key = member_key(org, "admin")
    created = make_alert(org)
    # The creator leaves; the alert stays, and another admin manages it.
    api.admin.delete(f"/api/v1/admin/orgs/{org.org_id}/members/{org.user_id}")
    admin = api.client(admin_key)
    assert admin.get(f"{ALERTS}/{created['id']}").status_code == 200
    assert admin.patch(f"{ALERTS}/{created['id']}", json={"name": "Kept"}).status_code == 200
    error(org.reader.get(f"{ALERTS}/{created['id']}"), 404, "not_found")


def test_edge_19_lists_are_bare_arrays_oldest_first(org: Tenant) -> None:
    first, second = make_alert(org, name="first"), make_alert(org, name="second")
    listed = org.reader.get(ALERTS).json()
    assert [a["id"] for a in listed] == [first["id"], second["id"]]
    assert all("current" in a for a in listed)
    hooks = [make_webhook(org, RECEIVER) for _ in range(2)]
    assert [h["id"] for h in org.reader.get(WEBHOOKS).json()] == [h["id"] for h in hooks]
    assert "secret" not in org.reader.get(WEBHOOKS).json()[0]
    assert "secret" not in org.reader.get(f"{WEBHOOKS}/{hooks[0]['id']}").json()


def test_webhook_bodies_and_urls(org: Tenant) -> None:
    reader = org.reader
    created = make_webhook(org, "https://example.com/hook?x=1", description="Ops")
    assert list(created) == ["id", "orgId", "url", "description", "createdAt", "secret"]
    assert created["url"] == "https://example.com/hook?x=1" and created["description"] == "Ops"
    assert created["secret"].startswith("whsec_")
    assert make_webhook(org, "https://example.com/b")["description"] is None
    for url in ("ftp://example.com/", "example.com/hook", "https://user:pw@example.com/",
                "https://example.com/#frag", "https:///path", "https://" + "a" * 2048):  # fmt: skip
        error(reader.post(WEBHOOKS, json={"url": url}), 400, "invalid_parameter", "url")
    error(reader.post(WEBHOOKS, json={"url": "https://example.com", "secret": "x"}), 400,
          "unknown_parameter", "secret")  # fmt: skip
    error(reader.post(WEBHOOKS, json={"url": "https://example.com", "description": ""}), 400,
          "invalid_parameter", "description")  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook", "http://localhost:8080/", "http://2130706433/",
        "http://10.1.2.3/", "http://192.168.0.1/", "http://169.254.169.254/latest",
        "http://100.64.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/", "http://224.0.0.1/", "http://240.0.0.1/", "http://[fe80::1]/",
    ],
)  # fmt: skip
def test_private_addresses_are_refused_unless_allowed(service: Service, url: str) -> None:
    tenant = new_tenant(service)  # the session's server: private addresses not allowed
    message = error(tenant.reader.post(WEBHOOKS, json={"url": url}), 400, "invalid_parameter",
                    "url")  # fmt: skip
    assert "CREDITMETER_WEBHOOK_ALLOW_PRIVATE" in message


def test_a_name_that_does_not_resolve_is_accepted(service: Service) -> None:
    tenant = new_tenant(service)
    created = tenant.reader.post(WEBHOOKS, json={"url": "https://nowhere.invalid/hook"})
    assert created.status_code == 201, created.text


def test_the_secret_is_only_in_creation_and_rotation(org: Tenant) -> None:
    hook = make_webhook(org, RECEIVER)
    rotated = org.reader.post(f"{WEBHOOKS}/{hook['id']}/rotate").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    import base64

    raw = base64.b64decode(rotated["secret"].removeprefix("whsec_"), validate=True)
    assert 24 <= len(raw) <= 64
    for text in (org.reader.get(WEBHOOKS).text, org.reader.get(f"{WEBHOOKS}/{hook['id']}").text):
        assert hook["secret"] not in text and rotated["secret"] not in text
    assert usage is not None


def test_a_failing_statement_that_binds_a_secret_does_not_show_it(api: Service) -> None:
    from sqlalchemy.exc import StatementError

    from creditmeter.store import alerts as alert_sql

    row = {"id": "whk_failing", "org_id": "org_not_there", "url": "https://example.com",
           "description": None, "secret": "whsec_NEVER-IN-AN-ERROR", "previous_secret": None,
           "previous_until_us": None, "created_at_us": 1}  # fmt: skip
    with pytest.raises(StatementError) as failed, api.store.write() as connection:
        alert_sql.insert_endpoint(connection, row)
    assert "NEVER-IN-AN-ERROR" not in str(failed.value)
