"""The OpenAPI document describes every endpoint, parameter and error; /docs serves it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from openapi_spec_validator import validate

from tests.conftest import Service

EXPORT = "/api/v1/usage/export"


def _document(service: Service) -> dict[str, Any]:
    response = service.client().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_every_route_is_in_the_document(service: Service) -> None:
    paths = _document(service)["paths"]
    expected = {
        EXPORT: {"get"},
        "/api/v1/usage/events": {"post"},
        "/api/v1/usage/events/void": {"post"},
        "/api/v1/admin/orgs/{orgId}/voids": {"get"},
        "/api/v1/admin/orgs": {"get", "post"},
        "/api/v1/admin/orgs/{orgId}": {"get"},
        "/api/v1/admin/users": {"get", "post"},
        "/api/v1/admin/users/{userId}": {"get"},
        "/api/v1/admin/orgs/{orgId}/members": {"get"},
        "/api/v1/admin/orgs/{orgId}/members/{userId}": {"put", "delete"},
        "/api/v1/admin/users/{userId}/keys": {"get", "post"},
        "/api/v1/admin/keys/{keyId}": {"delete"},
        "/api/v1/rates": {"get"},
        "/api/v1/admin/rates": {"get", "post"},
        "/api/v1/admin/rates/{rateId}": {"get"},
        "/healthz": {"get"},
        "/readyz": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))


def test_export_documents_every_query_parameter(service: Service) -> None:
    operation = _document(service)["paths"][EXPORT]["get"]
    names = [p["name"] for p in operation["parameters"]]
    assert names == [
        "startDate", "endDate", "groupBy", "orgId",
        "product", "feature", "apiKey", "fileType", "format",
        "timeZone", "bucketWidth", "limit", "page",
    ]  # fmt: skip
    by_name = {p["name"]: p for p in operation["parameters"]}
    # groupBy is a list sent comma-separated: a form-style array, not exploded.
    group_by = by_name["groupBy"]
    assert group_by["schema"]["items"]["enum"] == ["product", "feature", "api_key", "file_type"]
    assert (group_by["style"], group_by["explode"], group_by["schema"]["maxItems"]) == (
        "form",
        False,
        4,
    )
    assert by_name["bucketWidth"]["schema"]["enum"] == ["hour", "day", "month"]
    assert (by_name["limit"]["schema"]["minimum"], by_name["limit"]["schema"]["maximum"]) == (
        1,
        10_000,
    )
    rows = _document(service)["components"]["schemas"]["UsageRowOut"]["properties"]
    assert {"start", "group", "product", "feature", "apiKey", "fileType"} <= set(rows)


def test_export_documents_its_errors_in_the_one_error_shape(service: Service) -> None:
    document = _document(service)
    responses = document["paths"][EXPORT]["get"]["responses"]
    assert sorted(responses) == ["200", "400", "401", "403", "429", "503"]
    for status in ("400", "401", "403", "429", "503"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "text/csv" in responses["200"]["content"]
    error_info = document["components"]["schemas"]["ErrorInfo"]["properties"]
    assert {"status", "code", "message", "param", "details"} <= set(error_info)


def test_every_operation_documents_authentication_failures(service: Service) -> None:
    paths = _document(service)["paths"]
    for path, operations in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            assert "401" in operation["responses"], (method, path)
            assert operation.get("security"), (method, path)


def test_interactive_docs_are_served(service: Service) -> None:
    page = service.client().get("/docs")
    assert page.status_code == 200
    assert "openapi.json" in page.text


OPERATION_IDS = {
    ("get", EXPORT): "exportUsage",
    ("post", "/api/v1/usage/events"): "recordUsageEvents",
    ("post", "/api/v1/usage/events/void"): "voidUsageEvents",
    ("get", "/api/v1/admin/orgs/{orgId}/voids"): "listVoids",
    ("post", "/api/v1/admin/orgs"): "createOrganization",
    ("get", "/api/v1/admin/orgs"): "listOrganizations",
    ("get", "/api/v1/admin/orgs/{orgId}"): "getOrganization",
    ("post", "/api/v1/admin/users"): "createUser",
    ("get", "/api/v1/admin/users"): "listUsers",
    ("get", "/api/v1/admin/users/{userId}"): "getUser",
    ("get", "/api/v1/admin/orgs/{orgId}/members"): "listMembers",
    ("put", "/api/v1/admin/orgs/{orgId}/members/{userId}"): "setMembership",
    ("delete", "/api/v1/admin/orgs/{orgId}/members/{userId}"): "removeMember",
    ("post", "/api/v1/admin/users/{userId}/keys"): "createKey",
    ("get", "/api/v1/admin/users/{userId}/keys"): "listUserKeys",
    ("delete", "/api/v1/admin/keys/{keyId}"): "revokeKey",
    ("get", "/api/v1/admin/keys"): "listKeys",
    ("post", "/api/v1/admin/tokens"): "createToken",
    ("get", "/api/v1/admin/tokens"): "listTokens",
    ("delete", "/api/v1/admin/tokens/{tokenId}"): "revokeToken",
    ("get", "/api/v1/rates"): "getRateCard",
    ("post", "/api/v1/admin/rates"): "createRate",
    ("get", "/api/v1/admin/rates"): "listRates",
    ("get", "/api/v1/admin/rates/{rateId}"): "getRate",
    ("get", "/api/v1/alerts"): "listAlerts",
    ("post", "/api/v1/alerts"): "createAlert",
    ("get", "/api/v1/alerts/{alertId}"): "getAlert",
    ("patch", "/api/v1/alerts/{alertId}"): "updateAlert",
    ("delete", "/api/v1/alerts/{alertId}"): "deleteAlert",
    ("get", "/api/v1/webhooks"): "listWebhooks",
    ("post", "/api/v1/webhooks"): "createWebhook",
    ("get", "/api/v1/webhooks/{webhookId}"): "getWebhook",
    ("delete", "/api/v1/webhooks/{webhookId}"): "deleteWebhook",
    ("post", "/api/v1/webhooks/{webhookId}/rotate"): "rotateWebhookSecret",
    ("post", "/api/v1/webhooks/{webhookId}/test"): "testWebhook",
    ("get", "/api/v1/webhooks/{webhookId}/deliveries"): "listWebhookDeliveries",
    ("get", "/healthz"): "checkHealth",
    ("get", "/readyz"): "checkReadiness",
}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield method, path, operation


def test_every_operation_has_its_short_stable_operation_id(service: Service) -> None:
    # Generated SDKs name their methods after these: changing one breaks every caller.
    document = _document(service)
    found = {(method, path): op["operationId"] for method, path, op in _operations(document)}
    assert found == OPERATION_IDS


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_every_ref_resolves_within_the_document(service: Service) -> None:
    document = _document(service)
    refs = set(_refs(document))
    assert "#/components/schemas/EventBatch" in refs
    for ref in refs:
        _resolve(document, ref)


def test_the_document_is_valid_openapi(service: Service) -> None:
    validate(_document(service))


def test_every_error_answer_is_documented_in_the_one_error_shape(service: Service) -> None:
    document = _document(service)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for method, path, operation in _operations(document):
        # The server answers invalid requests 400, never FastAPI's 422.
        assert "422" not in operation["responses"], (method, path)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    error = document["components"]["schemas"]["ErrorResponse"]
    assert error["required"] == ["error"]


def test_operations_document_the_errors_they_can_give(service: Service) -> None:
    responses = {
        (method, path): sorted(op["responses"])
        for method, path, op in _operations(_document(service))
    }
    assert responses[("post", "/api/v1/usage/events")] == [
        "200", "400", "401", "403", "413", "415", "503",
    ]  # fmt: skip
    assert responses[("post", "/api/v1/admin/orgs")] == [
        "201", "400", "401", "403", "409", "413", "503",
    ]  # fmt: skip
    assert responses[("get", "/api/v1/admin/orgs/{orgId}")] == ["200", "401", "403", "404", "503"]
    assert responses[("get", "/api/v1/admin/tokens")] == ["200", "400", "401", "403", "503"]
    assert responses[("delete", "/api/v1/admin/keys/{keyId}")] == [
        "204", "401", "403", "404", "503",
    ]  # fmt: skip
    assert responses[("get", "/healthz")] == ["200"]


def test_voids_are_documented(service: Service) -> None:
    """Corrections: the void endpoint and the audit listing, with their shapes and errors."""
    document = _document(service)
    void = document["paths"]["/api/v1/usage/events/void"]["post"]
    assert sorted(void["responses"]) == ["200", "400", "401", "403", "413", "415", "503"]
    body = void["requestBody"]["content"]
    assert list(body) == ["application/json"]
    request = _resolve(document, body["application/json"]["schema"]["$ref"])
    assert sorted(request["required"]) == ["ids", "orgId", "reason"]
    answer = void["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(_resolve(document, answer["$ref"])["properties"]) == {
        "voided",
        "alreadyVoided",
        "notFound",
    }
    listing = document["paths"]["/api/v1/admin/orgs/{orgId}/voids"]["get"]
    assert sorted(listing["responses"]) == ["200", "400", "401", "403", "503"]
    entries = listing["responses"]["200"]["content"]["application/json"]["schema"]
    entry = _resolve(document, entries["items"]["$ref"])
    assert set(entry["properties"]) == {
        "eventId", "orgId", "timestamp", "product", "feature", "apiKey", "fileType",
        "credits", "requestCount", "reason", "voidedAt", "source", "tokenId", "tokenName",
    }  # fmt: skip
