"""The OpenAPI document describes every endpoint, parameter and error; /docs serves it."""

from __future__ import annotations

from typing import Any

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
        "/api/v1/admin/orgs": {"get", "post"},
        "/api/v1/admin/orgs/{orgId}": {"get"},
        "/api/v1/admin/users": {"get", "post"},
        "/api/v1/admin/users/{userId}": {"get"},
        "/api/v1/admin/orgs/{orgId}/members": {"get"},
        "/api/v1/admin/orgs/{orgId}/members/{userId}": {"put", "delete"},
        "/api/v1/admin/users/{userId}/keys": {"get", "post"},
        "/api/v1/admin/keys/{keyId}": {"delete"},
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
    ]  # fmt: skip
    group_by = next(p for p in operation["parameters"] if p["name"] == "groupBy")
    assert group_by["schema"]["enum"] == ["product", "feature", "api_key", "file_type"]


def test_export_documents_its_errors_in_the_one_error_shape(service: Service) -> None:
    document = _document(service)
    responses = document["paths"][EXPORT]["get"]["responses"]
    for status in ("400", "401", "403", "429", "500"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
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
