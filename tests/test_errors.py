"""Errors that every endpoint shares: unknown paths and methods, the caller first, headers."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from creditmeter.errors import MethodNotAllowed, RateLimited, ServiceError
from creditmeter.web.auth import access_of
from creditmeter.web.errors import error_response
from creditmeter.web.routes import admin, dashboard, events, export, health
from tests.conftest import Service


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/api/v1/usage/export", "GET, HEAD"),
        ("DELETE", "/api/v1/usage/export", "GET, HEAD"),
        ("GET", "/api/v1/usage/events", "POST"),
        ("PATCH", "/api/v1/admin/orgs", "GET, POST"),
        ("POST", "/api/v1/admin/orgs/org_x/members/usr_y", "PUT, DELETE"),
    ],
)
def test_method_not_allowed_names_every_method_the_path_answers(
    service: Service, method: str, path: str, allowed: str
) -> None:
    response = service.client().request(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    error = response.json()["error"]
    assert error["code"] == "method_not_allowed"
    assert error["message"] == f"{method} is not allowed on {path}; use {allowed}."


def test_an_unknown_path_is_404_in_the_error_shape(service: Service) -> None:
    response = service.client().get("/api/v1/usage/exports")
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "status": 404,
            "code": "not_found",
            "message": "There is nothing at /api/v1/usage/exports.",
        }
    }


class _Moved(ServiceError):
    """An error of the kind a later feature might add, with a header of its own."""

    status = 410
    code = "gone"

    def headers(self) -> Mapping[str, str]:
        return {"Location": "/api/v2/usage/export", "Retry-After": "60"}


def test_an_error_answers_with_the_headers_it_carries() -> None:
    response = error_response(_Moved("This moved."))
    assert response.status_code == 410
    assert response.headers["Location"] == "/api/v2/usage/export"
    assert response.headers["Retry-After"] == "60"
    assert json.loads(response.body) == {
        "error": {"status": 410, "code": "gone", "message": "This moved."}
    }


def test_rate_limited_and_method_not_allowed_name_their_headers_themselves() -> None:
    assert RateLimited("Slow down.", retry_after=7).headers() == {"Retry-After": "7"}
    assert MethodNotAllowed("No.", allowed=["GET", "HEAD"]).headers() == {"Allow": "GET, HEAD"}
    assert ServiceError("Oops.").headers() == {}


def test_every_api_route_declares_what_it_requires_of_its_caller(service: Service) -> None:
    routers = (admin.router, events.router, export.router, health.router, dashboard.router)
    paths = {route.path for router in routers for route in router.routes}
    assert len(paths) > 10
    for path in paths:
        assert (access_of(path) is not None) == path.startswith("/api/"), path
    document = service.client().get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            assert ("security" in operation) == (access_of(path) is not None), path


def test_an_oversized_sign_in_form_is_413_not_a_missing_api_key(service: Service) -> None:
    response = service.client().post(
        "/dashboard/sign-in",
        content=b"key=" + b"x" * (64 * 1024),
        headers={"Origin": service.url, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
