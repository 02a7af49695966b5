"""The rate card (credit-rates.md): every "Edge case, decided" by name, on both stores,
through a real server (and the command line where the case names it).

Rates are global and never deleted, and the session's server is shared: each test
prices products of its own (``product()``), so that no test sees another's card.
Rates cannot be back-dated, so cards start now and events are stamped from now
up to the 24 h ingest allows ahead.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from creditmeter import rates
from creditmeter.cli import app as cli
from creditmeter.ingest import now_us
from tests.conftest import Service, Tenant, new_tenant, running_service

RATES = "/api/v1/rates"
ADMIN_RATES = "/api/v1/admin/rates"
EVENTS = "/api/v1/usage/events"


def product() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


def instant(seconds: float = 0.0) -> str:
    """Now plus ``seconds``, as RFC 3339 UTC with microseconds."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def set_rate(service: Service, **body: Any) -> httpx.Response:
    return service.admin.post(ADMIN_RATES, json=body)


def rate(service: Service, **body: Any) -> dict[str, Any]:
    body.setdefault("unit", "page")
    response = set_rate(service, **body)
    assert response.status_code == 201, response.text
    return response.json()


def post_raw(client: httpx.Client, path: str, text: str) -> httpx.Response:
    return client.post(path, content=text, headers={"Content-Type": "application/json"})


def send(tenant: Tenant, events: list[dict[str, Any]]) -> httpx.Response:
    body = {"events": [{"orgId": tenant.org_id, **event} for event in events]}
    return tenant.writer.post(EVENTS, json=body)


def send_text(tenant: Tenant, events: list[str]) -> httpx.Response:
    """Events written as JSON text (exact numbers such as 10.0 or 1e-7)."""
    return post_raw(tenant.writer, EVENTS, '{"events": [' + ",".join(events) + "]}")


def stored(service: Service, org_id: str, event_id: str) -> tuple[int, int | None]:
    """(credits_micro, units_micro) of a stored event."""
    with service.store.read() as connection:
        row = connection.exec_driver_sql(
            "SELECT credits_micro, units_micro FROM usage_events WHERE org_id = "
            f"{'?' if service.store.dialect == 'sqlite' else '%s'} AND event_id = "
            f"{'?' if service.store.dialect == 'sqlite' else '%s'}",
            (org_id, event_id),
        ).one()
    return int(row[0]), None if row[1] is None else int(row[1])


def exported_total(tenant: Tenant, product_name: str) -> Decimal:
    """The export's credits of one product, from yesterday to the day after tomorrow."""
    today = datetime.now(UTC).date()
    response = tenant.export(
        startDate=(today - timedelta(days=1)).isoformat(),
        endDate=(today + timedelta(days=2)).isoformat(),
        groupBy="product",
        product=product_name,
    )
    assert response.status_code == 200, response.text
    rows = json.loads(response.text, parse_float=Decimal)["data"]
    return sum((Decimal(row["credits"]) for row in rows), Decimal(0))


def problems(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 400, response.text
    return response.json()["error"]["details"]


def error(response: httpx.Response) -> dict[str, Any]:
    return response.json()["error"]


def card(tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = tenant.reader.get(RATES, params=params)
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def mine(document: dict[str, Any], *products: str) -> list[dict[str, Any]]:
    return [row for row in document["data"] if row["product"] in products]


# -- recording usage in units ------------------------------------------------------


def test_units_are_priced_at_ingest_and_count_in_the_export_like_credits(
    tenant: Tenant, service: Service
) -> None:
    name = product()
    rate(service, product=name, creditsPerUnit=0.5)
    answer = send(tenant, [{"id": "u1", "timestamp": instant(5), "product": name, "units": 3}])
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1
    assert stored(service, tenant.org_id, "u1") == (1_500_000, 3_000_000)
    assert exported_total(tenant, name) == Decimal("1.5")


def test_the_per_event_problems_of_units_refuse_the_whole_batch(
    tenant: Tenant, service: Service
) -> None:
    name, unpriced = product(), product()
    rate(service, product=name, creditsPerUnit=1000)
    stamp = instant(5)
    response = send(
        tenant,
        [
            {"id": "ok", "timestamp": stamp, "product": name, "units": 1},
            {"id": "both", "timestamp": stamp, "product": name, "units": 1, "credits": 1},
            {"id": "neither", "timestamp": stamp, "product": name},
            {"id": "norate", "timestamp": stamp, "product": unpriced, "feature": "x", "units": 1},
            {"id": "huge", "timestamp": stamp, "product": name, "units": 1_000_001},
        ],
    )
    found = problems(response)
    assert [(p["index"], p["field"]) for p in found] == [
        (1, "units"),
        (2, "credits"),
        (3, "units"),
        (4, "units"),
    ]
    assert f"product '{unpriced}', feature 'x' at {stamp}" in found[2]["message"]
    assert "1,000,000,000" in found[3]["message"]
    assert exported_total(tenant, name) == 0


def test_creditmeter_ingest_prices_units_from_the_database_and_refuses_a_file_without_a_rate(
    tmp_path: Path, service: Service, tenant: Tenant
) -> None:
    name, unpriced = product(), product()
    rate(service, product=name, creditsPerUnit=0.25)
    stamp = instant(5)
    lines = [
        {"id": "f1", "orgId": tenant.org_id, "timestamp": stamp, "product": name, "units": 2},
        {"id": "f2", "orgId": tenant.org_id, "timestamp": stamp, "product": name, "credits": 7},
    ]
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({**lines[0], "id": "f3", "product": unpriced, "timestamp": stamp}) + "\n"
    )
    runner = CliRunner()
    url = service.settings.database_url
    refused = runner.invoke(cli, ["ingest", str(bad), "--database-url", url])
    assert refused.exit_code == 1
    assert f"line 1, units: No rate is in force for product '{unpriced}' at {stamp}" in (
        refused.stderr
    )
    result = runner.invoke(cli, ["ingest", str(good), "--database-url", url, "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 2
    assert stored(service, tenant.org_id, "f1") == (500_000, 2_000_000)
    assert exported_total(tenant, name) == Decimal("7.5")


# -- the edge cases, decided ---------------------------------------------------------


def test_edge_01_no_back_dating(service: Service, tmp_path: Path) -> None:
    name = product()
    past = set_rate(
        service, product=name, unit="page", creditsPerUnit=1, effectiveFrom=instant(-61)
    )
    assert past.status_code == 400
    assert error(past)["code"] == "invalid_parameter"
    assert error(past)["param"] == "effectiveFrom"
    assert service.admin.get(ADMIN_RATES, params={"product": name}).json() == []
    # Within the clock skew is allowed, and so is any later instant.
    assert set_rate(service, product=name, unit="page", creditsPerUnit=1,
                    effectiveFrom=instant(-30)).status_code == 201  # fmt: skip
    assert set_rate(service, product=name, unit="page", creditsPerUnit=1,
                    effectiveFrom="2999-01-01T00:00:00Z").status_code == 201  # fmt: skip
    # --from is measured against the machine's clock.
    result = CliRunner().invoke(
        cli,
        ["rates", "set", name, "--credits-per-unit", "1", "--unit", "page", "--from",
         instant(-3600), "--database-url", service.settings.database_url],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "in the past" in result.stderr
    assert len(service.admin.get(ADMIN_RATES, params={"product": name}).json()) == 2


def test_edge_02_fixed_at_ingest(tenant: Tenant, service: Service) -> None:
    name = product()
    rate(service, product=name, creditsPerUnit=1)
    later = instant(7200)
    assert send(tenant, [{"id": "e1", "timestamp": later, "product": name, "units": 4}]).is_success
    # A rate recorded afterwards, in force before the event's timestamp: no repricing.
    rate(service, product=name, creditsPerUnit=3, effectiveFrom=instant(3600))
    assert stored(service, tenant.org_id, "e1") == (4_000_000, 4_000_000)
    assert send(tenant, [{"id": "e2", "timestamp": later, "product": name, "units": 4}]).is_success
    assert stored(service, tenant.org_id, "e2") == (12_000_000, 4_000_000)
    assert exported_total(tenant, name) == 16


def test_edge_03_re_sent_events(tenant: Tenant, service: Service) -> None:
    name = product()
    rate(service, product=name, creditsPerUnit=2)
    stamp = instant(60)

    def event(event_id: str, amount: str) -> str:
        return (
            f'{{"id": "{event_id}", "orgId": "{tenant.org_id}", "timestamp": "{stamp}", '
            f'"product": "{name}", {amount}}}'
        )

    first = send_text(tenant, [event("a", '"units": 10'), event("b", '"credits": 5')])
    assert first.json()["accepted"] == 2
    # After a rate change a re-sent event is a plain duplicate and keeps its credits.
    rate(service, product=name, creditsPerUnit=9)
    again = send_text(
        tenant,
        [
            event("a", '"units": 10.0'),  # the same units: a duplicate
            event("a", '"units": 11'),  # other units: a conflict
            event("b", '"units": 5'),  # sent with credits, now with units: a conflict
        ],
    )
    assert again.json()["duplicates"] == 3
    assert sorted(again.json()["conflicts"]) == ["a", "b"]
    swapped = send_text(tenant, [event("a", '"credits": 20')])
    assert swapped.json()["conflicts"] == ["a"]
    assert stored(service, tenant.org_id, "a") == (20_000_000, 10_000_000)
    plain = send_text(tenant, [event("a", '"units": 10')])
    assert plain.json()["conflicts"] == []


def test_edge_04_same_instant(tenant: Tenant, service: Service) -> None:
    name = product()
    start = instant(3600)
    first = rate(service, product=name, creditsPerUnit=1, effectiveFrom=start)
    second = rate(service, product=name, creditsPerUnit=2, effectiveFrom=start)
    document = card(tenant, at=start)
    assert [row["creditsPerUnit"] for row in mine(document, name)] == [Decimal("2.0")]
    listed = service.admin.get(ADMIN_RATES, params={"product": name}).json()
    assert [v["id"] for v in listed] == [first["id"], second["id"]]
    assert send(tenant, [{"id": "s", "timestamp": start, "product": name, "units": 1}]).is_success
    assert stored(service, tenant.org_id, "s")[0] == 2_000_000


def test_edge_05_timestamps_are_truncated_to_the_microsecond(
    tenant: Tenant, service: Service
) -> None:
    name = product()
    rate(service, product=name, creditsPerUnit=1)
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    text = base.strftime("%Y-%m-%dT%H:%M:%S")
    rate(service, product=name, creditsPerUnit=5, effectiveFrom=f"{text}.000001Z")
    assert send(
        tenant,
        [
            {"id": "before", "timestamp": f"{text}.0000009Z", "product": name, "units": 1},
            {"id": "at", "timestamp": f"{text}.0000019Z", "product": name, "units": 1},
        ],
    ).is_success
    assert stored(service, tenant.org_id, "before")[0] == 1_000_000
    assert stored(service, tenant.org_id, "at")[0] == 5_000_000


def test_edge_06_instants_written_back(tenant: Tenant, service: Service) -> None:
    name = product()
    moment = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    local = (moment + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S") + ".25+02:00"
    version = rate(service, product=name, creditsPerUnit=1, effectiveFrom=local)
    utc = moment.strftime("%Y-%m-%dT%H:%M:%S")
    assert version["effectiveFrom"] == f"{utc}.250000Z"
    whole = rate(service, product=name, creditsPerUnit=1, effectiveFrom=f"{utc}+00:00")
    assert whole["effectiveFrom"] == f"{utc}Z"
    assert whole["createdAt"].endswith("Z")
    document = card(tenant, at=f"{utc}.5+00:00")
    assert document["at"] == f"{utc}.500000Z"
    assert mine(document, name)[0]["effectiveFrom"] == f"{utc}.250000Z"


def test_edge_07_instants_taken(tenant: Tenant, service: Service, tmp_path: Path) -> None:
    name = product()
    day = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    bare = set_rate(service, product=name, unit="page", creditsPerUnit=1, effectiveFrom=day)
    assert bare.status_code == 400 and error(bare)["param"] == "effectiveFrom"
    lower = rate(
        service, product=name, creditsPerUnit=1, effectiveFrom=f"{day}t00:00:00.123456789z"
    )
    assert lower["effectiveFrom"] == f"{day}T00:00:00.123456Z"
    at_bare = tenant.reader.get(RATES, params={"at": day})
    assert at_bare.status_code == 400 and error(at_bare)["param"] == "at"
    # In a query string the '+' of an offset is sent as %2B.
    offset = tenant.reader.get(f"{RATES}?at={day}T02:00:00%2B02:00")
    assert offset.json()["at"] == f"{day}T00:00:00Z"
    result = CliRunner().invoke(
        cli, ["rates", "list", "--at", day, "--database-url", service.settings.database_url]
    )
    assert result.exit_code == 1
    assert "RFC 3339" in result.stderr


def test_edge_08_one_unit_a_product(service: Service, tenant: Tenant) -> None:
    name = product()
    rate(service, product=name, unit="page", creditsPerUnit=1)
    for body in (
        {"unit": "document"},
        {"unit": "document", "feature": "agentic"},
        {"unit": "document", "orgId": tenant.org_id},
    ):
        refused = set_rate(service, product=name, creditsPerUnit=1, **body)
        assert refused.status_code == 409
        assert error(refused)["code"] == "conflict"
        assert error(refused)["param"] == "unit"
        assert "'page'" in error(refused)["message"]
    assert rate(service, product=name, unit="page", creditsPerUnit=1, feature="agentic")


def test_edge_09_numbers(tenant: Tenant, service: Service) -> None:
    name = product()
    text = set_rate(service, product=name, unit="page", creditsPerUnit="0.5")
    assert text.status_code == 400 and error(text)["param"] == "creditsPerUnit"
    tiny = post_raw(
        service.admin,
        ADMIN_RATES,
        f'{{"product": "{name}", "unit": "page", "creditsPerUnit": 1e-7}}',
    )
    assert tiny.status_code == 400
    assert "1E-7" in error(tiny)["message"] and "round" in error(tiny)["message"]
    padded = post_raw(
        service.admin,
        ADMIN_RATES,
        f'{{"product": "{name}", "unit": "page", "creditsPerUnit": 2.50}}',
    )
    assert padded.status_code == 201 and padded.text.count('"creditsPerUnit":2.5,') == 1
    # Rounding half-up to the micro-credit, each event on its own.
    small, free = product(), product()
    rate(service, product=small, creditsPerUnit=0.000001)
    rate(service, product=free, creditsPerUnit=0)
    stamp = instant(5)
    assert send_text(
        tenant,
        [
            f'{{"id": "h", "orgId": "{tenant.org_id}", "timestamp": "{stamp}", '
            f'"product": "{small}", "units": 0.5}}',
            f'{{"id": "l", "orgId": "{tenant.org_id}", "timestamp": "{stamp}", '
            f'"product": "{small}", "units": 0.4}}',
            f'{{"id": "z", "orgId": "{tenant.org_id}", "timestamp": "{stamp}", '
            f'"product": "{free}", "units": 1000}}',
        ],
    ).is_success
    assert stored(service, tenant.org_id, "h")[0] == 1
    assert stored(service, tenant.org_id, "l")[0] == 0
    assert stored(service, tenant.org_id, "z")[0] == 0
    assert exported_total(tenant, small) == Decimal("0.000001")
    units_text = send(tenant, [{"id": "t", "timestamp": stamp, "product": name, "units": "3"}])
    assert [(p["index"], p["field"]) for p in problems(units_text)] == [(0, "units")]
    rounded = send_text(
        tenant,
        [f'{{"id": "r", "orgId": "{tenant.org_id}", "timestamp": "{stamp}", '
         f'"product": "{name}", "units": 1e-7}}'],
    )  # fmt: skip
    assert "round it to 6" in problems(rounded)[0]["message"]


def test_edge_10_null_means_absent(tenant: Tenant, service: Service) -> None:
    name, unpriced = product(), product()
    rate(service, product=name, creditsPerUnit=2)
    stamp = instant(5)
    answer = send(
        tenant, [{"id": "n", "timestamp": stamp, "product": name, "credits": None, "units": 3}]
    )
    assert answer.status_code == 200, answer.text
    assert stored(service, tenant.org_id, "n") == (6_000_000, 3_000_000)
    # The rate is looked up only when the event's other fields are valid.
    found = problems(
        send(
            tenant,
            [
                {"id": "x", "timestamp": "yesterday", "product": unpriced, "units": 1},
                {"id": "y", "timestamp": stamp, "product": unpriced, "unit": 1},
            ],
        )
    )
    assert [(p["index"], p["field"]) for p in found] == [
        (0, "timestamp"),
        (1, "unit"),
        (1, "credits"),
    ]
    assert "Did you mean 'units'?" in found[1]["message"]


def test_edge_11_order_of_checks_reading(
    tenant: Tenant, service: Service, make_service: Callable[..., Service]
) -> None:
    reader = tenant.reader
    assert reader.post(RATES).status_code == 405
    assert service.client().post(RATES).status_code == 405
    assert service.client().get(RATES).status_code == 401
    assert service.client("cmk_nope").get(RATES).status_code == 401
    token = service.admin.get(RATES)
    assert token.status_code == 403 and "rate card" in error(token)["message"]

    def code(**params: Any) -> tuple[int, str, str | None]:
        response = reader.get(RATES, params=params)
        body = error(response) if response.status_code != 200 else {}
        return response.status_code, body.get("code", ""), body.get("param")

    assert code(org_id="x")[:2] == (400, "unknown_parameter")
    assert "Did you mean 'orgId'?" in error(reader.get(RATES, params={"org_id": "x"}))["message"]
    twice = reader.get(f"{RATES}?at=2026-01-01T00:00:00Z&at=2026-01-01T00:00:00Z")
    assert error(twice)["code"] == "duplicate_parameter"
    assert code(orgId="", at="bad") == (400, "invalid_parameter", "orgId")
    assert code(orgId="org_nobody", at="bad") == (400, "invalid_parameter", "at")
    assert code(orgId="org_nobody", format="xml") == (400, "invalid_parameter", "format")
    assert code(at="") == (400, "invalid_parameter", "at")
    assert code(orgId="org_nobody") == (403, "forbidden", "orgId")
    other = service.tenant()
    assert code(orgId=other.org_id)[0] == 403
    # Any instant: before any rate the data is [].
    assert card(tenant, at="1900-01-01T00:00:00Z")["data"] == []
    assert card(tenant, at="2999-01-01T00:00:00Z")["orgId"] == tenant.org_id
    assert reader.head(RATES).status_code == 200

    limited = make_service(export_rate_limit=1)
    key_holder = new_tenant(limited)
    assert key_holder.reader.get(RATES).status_code == 200
    # 429 comes before any 400.
    assert key_holder.reader.get(RATES, params={"nope": "1"}).status_code == 429


def test_edge_12_rate_limit_shares_the_export_budget(make_service: Callable[..., Service]) -> None:
    limited = make_service(export_rate_limit=3)
    holder = new_tenant(limited)
    assert holder.reader.get(RATES).status_code == 200
    assert holder.export().status_code == 200
    assert holder.reader.get(RATES).status_code == 200
    spent = holder.export()
    assert spent.status_code == 429 and "Retry-After" in spent.headers
    assert holder.reader.get(RATES).status_code == 429


def test_edge_13_order_of_checks_admin(service: Service, tenant: Tenant) -> None:
    name = product()
    for method in ("PUT", "PATCH", "DELETE"):
        answer = service.admin.request(method, ADMIN_RATES)
        assert answer.status_code == 405, method
        assert service.admin.request(method, f"{ADMIN_RATES}/rate_x").status_code == 405
    assert service.client().post(ADMIN_RATES, json={}).status_code == 401
    writer = service.client(tenant.writer_secret)
    assert writer.post(ADMIN_RATES, json=[]).status_code == 403
    assert tenant.reader.get(ADMIN_RATES).status_code == 403
    admin = service.admin

    def refusal(body: Any) -> tuple[int, str, str | None]:
        response = post_raw(admin, ADMIN_RATES, json.dumps(body))
        found = error(response)
        return response.status_code, found["code"], found.get("param")

    assert refusal([1]) == (400, "invalid_parameter", None)
    assert post_raw(admin, ADMIN_RATES, "{").status_code == 400
    plain = admin.post(ADMIN_RATES, content=b"{}", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 400 and error(plain)["code"] == "invalid_parameter"
    suggested = post_raw(admin, ADMIN_RATES, '{"credits_per_unit": 1, "colour": 2}')
    assert error(suggested)["param"] == "credits_per_unit"
    assert "Did you mean 'creditsPerUnit'?" in error(suggested)["message"]
    for taken_by_the_server in ("id", "createdAt"):
        assert refusal({taken_by_the_server: "x", "product": name}) == (
            400, "unknown_parameter", taken_by_the_server,
        )  # fmt: skip
    everything_wrong = {"orgId": "", "product": "", "feature": "", "unit": "",
                        "creditsPerUnit": -1, "effectiveFrom": "soon"}  # fmt: skip
    for param in ("orgId", "product", "feature", "unit", "creditsPerUnit", "effectiveFrom"):
        assert refusal(everything_wrong) == (400, "invalid_parameter", param)
        everything_wrong.pop(param)
        good = {"orgId": tenant.org_id, "product": name, "feature": None, "unit": "page",
                "creditsPerUnit": 1, "effectiveFrom": None}  # fmt: skip
        everything_wrong[param] = good[param]
    assert refusal({"product": name}) == (400, "invalid_parameter", "unit")
    assert refusal({"product": name, "unit": "page"}) == (
        400,
        "invalid_parameter",
        "creditsPerUnit",
    )
    rate(service, product=name, unit="page", creditsPerUnit=1)
    # 404 (an unknown orgId) before 409 (a second unit).
    assert refusal({"product": name, "unit": "doc", "creditsPerUnit": 1, "orgId": "org_no"}) == (
        404, "not_found", "orgId",
    )  # fmt: skip
    assert refusal({"product": name, "unit": "doc", "creditsPerUnit": 1})[:2] == (409, "conflict")
    assert admin.get(f"{ADMIN_RATES}/rate_nope").status_code == 404


def test_the_admin_list_orders_and_filters_every_version(service: Service) -> None:
    first, second = service.tenant(), service.tenant()
    a, b = sorted([product(), product()])
    start = instant(3600)
    made = [
        rate(service, product=b, creditsPerUnit=1, orgId=second.org_id),
        rate(service, product=b, creditsPerUnit=1, feature="z", effectiveFrom=start),
        rate(service, product=b, creditsPerUnit=2),
        rate(service, product=a, creditsPerUnit=1, feature="y", orgId=first.org_id),
        rate(service, product=a, creditsPerUnit=3),
        rate(service, product=b, creditsPerUnit=4, feature="z"),
    ]
    ids = {n: version["id"] for n, version in enumerate(made)}

    def listed(**params: Any) -> list[str]:
        response = service.admin.get(ADMIN_RATES, params={"product": [a, b], **params})
        assert response.status_code == 200, response.text
        return [v["id"] for v in response.json()]

    orgs = sorted([(first.org_id, 3), (second.org_id, 0)], key=lambda o: o[0].encode())
    assert listed() == [ids[4], ids[2], ids[5], ids[1], *(ids[n] for _, n in orgs)]
    assert listed(scope="global", feature="z") == [ids[5], ids[1]]
    assert listed(scope="org") == [ids[n] for _, n in orgs]
    assert listed(orgId=second.org_id) == [ids[0]]
    assert listed(scope="global", orgId=second.org_id) == []
    assert listed(orgId="org_nobody_at_all") == []
    one = service.admin.get(f"{ADMIN_RATES}/{ids[3]}").json()
    assert one == made[3]
    assert set(one) == {"id", "orgId", "product", "feature", "unit", "creditsPerUnit",
                        "effectiveFrom", "createdAt"}  # fmt: skip
    for params, code in (
        ({"scope": "all"}, "invalid_parameter"),
        ({"scope": ""}, "invalid_parameter"),
        ({"product": ""}, "invalid_parameter"),
        ({"orgid": "x"}, "unknown_parameter"),
    ):
        assert error(service.admin.get(ADMIN_RATES, params=params))["code"] == code
    twice = service.admin.get(f"{ADMIN_RATES}?scope=org&scope=org")
    assert error(twice)["code"] == "duplicate_parameter"


def test_the_card_lists_the_rows_that_price_the_organization(
    tenant: Tenant, service: Service
) -> None:
    p, q = sorted([product(), product()])
    rate(service, product=p, creditsPerUnit=1)
    rate(service, product=p, creditsPerUnit=2, feature="b")
    rate(service, product=p, creditsPerUnit=3, feature="a")
    rate(service, product=q, creditsPerUnit=4, feature="c")
    rate(service, product=q, creditsPerUnit=5, feature="c", orgId=tenant.org_id)
    rate(service, product=p, creditsPerUnit=6, orgId=tenant.org_id)
    rows = mine(card(tenant), p, q)
    # An org P+any row shadows every global row of P; an org P+F only the global P+F.
    assert [(r["product"], r["feature"], r["creditsPerUnit"], r["source"]) for r in rows] == [
        (p, None, Decimal("6.0"), "org"),
        (q, "c", Decimal("5.0"), "org"),
    ]
    other = service.tenant()
    rows = mine(card(other), p, q)
    assert [(r["feature"], r["source"]) for r in rows] == [
        (None, "global"), ("a", "global"), ("b", "global"), ("c", "global"),
    ]  # fmt: skip
    csv = tenant.reader.get(RATES, params={"format": "csv"})
    assert csv.headers["content-type"] == "text/csv; charset=utf-8"
    lines = csv.text.split("\r\n")
    assert lines[0] == "product,feature,unit,creditsPerUnit,effectiveFrom,source"
    assert any(line.startswith(f"{p},,page,6.0,") and line.endswith(",org") for line in lines)
    accepted = tenant.reader.get(RATES, headers={"Accept": "text/csv"})
    assert accepted.text.startswith("product,feature,")
    chosen = tenant.reader.get(RATES, params={"format": "json"}, headers={"Accept": "text/csv"})
    assert chosen.headers["content-type"] == "application/json"
    csv_error = tenant.reader.get(RATES, params={"format": "csv", "at": "x"})
    assert csv_error.headers["content-type"] == "application/json"


def test_edge_14_isolation(service: Service) -> None:
    owner, stranger = service.tenant(), service.tenant()
    name, overridden_only = product(), product()
    rate(service, product=name, creditsPerUnit=1)
    rate(service, product=name, creditsPerUnit=7, orgId=owner.org_id)
    rate(service, product=overridden_only, creditsPerUnit=2, orgId=owner.org_id)
    assert [r["source"] for r in mine(card(owner), name, overridden_only)] == ["org", "org"]
    assert [r["source"] for r in mine(card(stranger), name, overridden_only)] == ["global"]
    refused = stranger.reader.get(RATES, params={"orgId": owner.org_id})
    assert refused.status_code == 403
    stamp = instant(5)
    assert send(owner, [{"id": "o", "timestamp": stamp, "product": name, "units": 1}]).is_success
    assert send(stranger, [{"id": "s", "timestamp": stamp, "product": name, "units": 1}]).is_success
    assert stored(service, owner.org_id, "o")[0] == 7_000_000
    assert stored(service, stranger.org_id, "s")[0] == 1_000_000
    # An override needs no global rate; another organization has no rate for it.
    assert send(owner, [{"id": "oo", "timestamp": stamp, "product": overridden_only,
                         "units": 1}]).is_success  # fmt: skip
    nothing = send(stranger, [{"id": "so", "timestamp": stamp, "product": overridden_only,
                               "units": 1}])  # fmt: skip
    assert problems(nothing)[0]["field"] == "units"
    # An organization the directory has not heard of is priced by the global card.
    unknown = f"org_unheard_{uuid.uuid4().hex[:8]}"
    body = {"events": [{"id": "u", "orgId": unknown, "timestamp": stamp, "product": name,
                        "units": 2}]}  # fmt: skip
    answer = owner.writer.post(EVENTS, json=body)
    assert answer.json()["unknownOrgIds"] == [unknown]
    assert stored(service, unknown, "u")[0] == 2_000_000


def test_edge_15_immediately(service: Service, tenant: Tenant) -> None:
    """A second server on the same database records a rate; the first prices the very
    next batch with it. So does a rate the command line records."""
    name = product()
    with running_service(service.settings.database_url) as second:
        recorded = second.admin.post(
            ADMIN_RATES, json={"product": name, "unit": "page", "creditsPerUnit": 3}
        )
        assert recorded.status_code == 201
        assert send(tenant, [{"id": "a", "timestamp": instant(5), "product": name,
                              "units": 1}]).is_success  # fmt: skip
        assert stored(service, tenant.org_id, "a")[0] == 3_000_000
    result = CliRunner().invoke(
        cli,
        ["rates", "set", name, "--credits-per-unit", "4", "--unit", "page",
         "--database-url", service.settings.database_url],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("rate_")
    assert send(tenant, [{"id": "b", "timestamp": instant(5), "product": name,
                          "units": 1}]).is_success  # fmt: skip
    assert stored(service, tenant.org_id, "b")[0] == 4_000_000


def test_edge_16_rates_import(service: Service, tenant: Tenant, tmp_path: Path) -> None:
    url = service.settings.database_url
    runner = CliRunner()
    taken, name, other = product(), product(), product()
    rate(service, product=taken, unit="page", creditsPerUnit=1)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        (
            "creditsPerUnit,product,unit,orgId\r\n"
            f"1,{name},page,\r\n"
            "\r\n"
            f"2,{name},doc,\r\n"  # a second unit for a product of an earlier line
            f"3,{taken},doc,\r\n"  # a second unit for a product in the store
            f"4,{other},page,org_nobody\r\n"
            f'"1e-7",{other},page,\r\n'
        ).encode()
    )
    refused = runner.invoke(cli, ["rates", "import", str(bad), "--database-url", url])
    assert refused.exit_code == 1
    assert "line 4, unit:" in refused.stderr
    assert "line 5, unit:" in refused.stderr
    assert "line 6, orgId: No organization has the id 'org_nobody'" in refused.stderr
    assert "line 7, creditsPerUnit:" in refused.stderr
    assert service.admin.get(ADMIN_RATES, params={"product": [name, other]}).json() == []
    header = tmp_path / "header.csv"
    header.write_text("product,unit,credits_per_unit,unit\n")
    wrong = runner.invoke(cli, ["rates", "import", str(header), "--database-url", url])
    assert wrong.exit_code == 1
    assert "line 1, credits_per_unit: Unknown column 'credits_per_unit'. Did you mean" in (
        wrong.stderr
    )
    assert "line 1, unit: The column 'unit' is named twice." in wrong.stderr
    assert "line 1, creditsPerUnit: The required column 'creditsPerUnit' is missing." in (
        wrong.stderr
    )
    good = tmp_path / "good.csv"
    later = instant(7200)
    good.write_bytes(
        (
            "\ufeffproduct,feature,unit,creditsPerUnit,orgId,effectiveFrom\n"
            f'{name},"a, b",page,0.25,{tenant.org_id},\n'
            f"{name},,page,2,,\n"
            f"{other},,doc,1,,{later}\n"
        ).encode()
    )
    imported = runner.invoke(cli, ["rates", "import", str(good), "--database-url", url, "--json"])
    assert imported.exit_code == 0, imported.stderr
    assert json.loads(imported.stdout) == {"imported": 3}
    versions = service.admin.get(ADMIN_RATES, params={"product": [name, other]}).json()
    assert len(versions) == 3
    by_feature = {v["feature"]: v for v in versions if v["product"] == name}
    # One instant for every empty effectiveFrom.
    assert by_feature["a, b"]["effectiveFrom"] == by_feature[None]["effectiveFrom"]
    assert by_feature["a, b"]["orgId"] == tenant.org_id
    plain = runner.invoke(cli, ["rates", "import", str(good), "--database-url", url])
    assert plain.stdout == "imported 3 rates\n"


def test_edge_17_command_errors(service: Service, tenant: Tenant) -> None:
    url = service.settings.database_url
    runner = CliRunner()
    name = product()

    def run(*arguments: str) -> Any:
        return runner.invoke(cli, ["rates", *arguments, "--database-url", url])

    assert run("set", name, "--credits-per-unit", "1", "--unit", "page").exit_code == 0
    for arguments, words in (
        (("--credits-per-unit", "x", "--unit", "page"), "decimal number"),
        (("--credits-per-unit", "0.0000001", "--unit", "page"), "round it to 6"),
        (("--credits-per-unit", "1", "--unit", "page", "--from", "2020-01-01"), "RFC 3339"),
        (("--credits-per-unit", "1", "--unit", "page", "--org", "org_nobody"), "org_nobody"),
        (("--credits-per-unit", "1", "--unit", "doc"), "'page'"),
    ):
        result = run("set", name, *arguments)
        assert result.exit_code == 1, (arguments, result.stdout)
        assert words in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert run("set", name, "--unit", "page").exit_code == 2
    assert run("set", name, "--credits-per-unit", "1").exit_code == 2
    assert run("list", "--org", "org_nobody").exit_code == 1
    json_error = run("set", name, "--credits-per-unit", "1", "--unit", "doc", "--json")
    assert json.loads(json_error.stdout)["error"]["code"] == "conflict"
    listed = run("list", "--org", tenant.org_id, "--json")
    rows = [row for row in json.loads(listed.stdout) if row["product"] == name]
    assert rows == [
        {"product": name, "feature": None, "unit": "page", "creditsPerUnit": 1.0,
         "effectiveFrom": rows[0]["effectiveFrom"], "source": "global"}
    ]  # fmt: skip
    assert rows == mine(json.loads(tenant.reader.get(RATES).text), name)


def test_edge_18_validation_before_idempotency(tenant: Tenant, service: Service) -> None:
    unpriced = product()
    stamp = instant(5)
    assert send(tenant, [{"id": "k", "timestamp": stamp, "product": unpriced,
                          "credits": 1}]).is_success  # fmt: skip
    again = send(tenant, [{"id": "k", "timestamp": stamp, "product": unpriced, "units": 1}])
    assert [(p["index"], p["field"]) for p in problems(again)] == [(0, "units")]
    # A units-priced event that takes a stored total past the limit: a problem on units.
    tenant = service.tenant()
    name = product()
    rate(service, product=name, creditsPerUnit=1_000_000_000)
    first = [{"id": f"big{n}", "timestamp": stamp, "product": name, "credits": 1_000_000_000}
             for n in range(8999)]  # fmt: skip
    for start in range(0, len(first), 5000):
        assert send(tenant, first[start : start + 5000]).is_success
    over = send(
        tenant,
        [{"id": "last", "timestamp": stamp, "product": name, "units": 1},
         {"id": "over", "timestamp": stamp, "product": name, "units": 1}],
    )  # fmt: skip
    assert [(p["index"], p["field"]) for p in problems(over)] == [(1, "units")]


def test_recording_takes_the_clock_as_a_parameter(service: Service) -> None:
    """The demo records its card as if set 90 days ago: the back-dating rule is measured
    against the clock it is given."""
    name = product()
    ninety_days_ago = now_us() - 90 * 86_400 * 1_000_000
    draft = rates.draft(
        org_id=None, product=name, feature=None, unit="page",
        credits_per_unit=Decimal("0.5"), effective_from=None, now_us=ninety_days_ago,
    )  # fmt: skip
    (version,) = rates.record(service.store, [draft], now_us=ninety_days_ago)
    assert version.effective_from_us == ninety_days_ago
    assert version.created_at_us == ninety_days_ago


# -- the Python client ---------------------------------------------------------------


def test_the_client_reads_typed_rows_and_records_units(tenant: Tenant, service: Service) -> None:
    from creditmeter import AsyncClient, Client, RateRow

    name = product()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    rate(service, product=name, creditsPerUnit=0.1)
    rate(
        service,
        product=name,
        creditsPerUnit=0.25,
        orgId=tenant.org_id,
        effectiveFrom=start.isoformat(),
    )
    with Client(service.url, tenant.key) as client:
        now_card = client.rates()
        later = client.rates(at=start, org_id=tenant.org_id)
    assert now_card.org_id == tenant.org_id
    assert [row for row in now_card if row.product == name] == [
        RateRow(
            name,
            None,
            "page",
            Decimal("0.1"),
            next(r for r in now_card if r.product == name).effective_from,
            "global",
        )
    ]
    assert [
        (r.credits_per_unit, r.source, r.effective_from) for r in later if r.product == name
    ] == [(Decimal("0.25"), "org", start)]
    with Client(service.url, tenant.writer_secret) as writer:
        result = writer.record(
            [{"id": "c1", "orgId": tenant.org_id, "timestamp": start, "product": name,
              "units": Decimal("3.000001")}]
        )  # fmt: skip
    assert result.accepted == 1
    assert stored(service, tenant.org_id, "c1") == (750_000, 3_000_001)

    async def read() -> Any:
        async with AsyncClient(service.url, tenant.key) as client:
            return await client.rates(at=start.isoformat())

    import anyio

    assert anyio.run(read) == later


def test_creditmeter_ingest_into_a_new_database_refuses_units_it_cannot_price(
    tmp_path: Path,
) -> None:
    source = tmp_path / "units.jsonl"
    source.write_text(
        json.dumps({"id": "n1", "orgId": "org_new", "timestamp": instant(5), "product": "parse",
                    "units": 1}) + "\n"
    )  # fmt: skip
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = CliRunner().invoke(cli, ["ingest", str(source), "--database-url", url])
    assert result.exit_code == 1
    assert "does not exist: creating a new database" in result.stderr
    assert "line 1, units: No rate is in force for product 'parse'" in result.stderr


def test_a_voided_event_sent_with_units_takes_its_priced_credits_out(
    tenant: Tenant, service: Service
) -> None:
    """The rate card and voids meet: voiding an event priced from units removes the
    credits it was priced at, and sending it again is a duplicate compared by its units."""
    name = product()
    rate(service, product=name, creditsPerUnit=0.75)
    stamp = instant(5)
    sent = [{"id": "v1", "timestamp": stamp, "product": name, "units": 4},
            {"id": "v2", "timestamp": stamp, "product": name, "units": 2}]  # fmt: skip
    assert send(tenant, sent).is_success
    answer = tenant.writer.post(
        "/api/v1/usage/events/void", json={"orgId": tenant.org_id, "ids": ["v1"], "reason": "test"}
    )
    assert answer.status_code == 200, answer.text
    assert exported_total(tenant, name) == Decimal("1.5")
    again = send(tenant, sent[:1])
    assert again.json()["duplicates"] == 1 and again.json()["conflicts"] == []


def test_creditmeter_ingest_lists_at_most_100_lines_without_a_rate(
    tmp_path: Path, service: Service
) -> None:
    unpriced = product()
    stamp = instant(5)
    source = tmp_path / "many.jsonl"
    source.write_text(
        "".join(
            json.dumps({"id": f"m{n}", "orgId": "org_m", "timestamp": stamp,
                        "product": unpriced, "units": 1}) + "\n"
            for n in range(150)
        )
    )  # fmt: skip
    url = service.settings.database_url
    result = CliRunner().invoke(cli, ["ingest", str(source), "--database-url", url])
    assert result.exit_code == 1
    listed = [line for line in result.stderr.splitlines() if ", units: No rate" in line]
    assert len(listed) == 100 and listed[0].startswith("line 1, ") and "line 100, " in listed[-1]
    assert "(the first 100 are listed)" in result.stderr
