"""Errors that every endpoint shares: unknown paths and methods, in the one JSON shape."""

from __future__ import annotations

import pytest

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
