"""Fuzzing the HTTP API from its own OpenAPI document (schemathesis).

Every operation, authenticated with the credential it needs, gets generated
requests: valid and invalid parameters and bodies. Whatever is sent, the
service must never answer 5xx, and every answer must be one the document
describes (status, content type, body schema).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Service, Tenant


@pytest.fixture
def api_schema(service: Service) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json")


@pytest.fixture
def fuzz_tenant(service: Service) -> Tenant:
    return service.tenant()


@schemathesis.serializer("application/x-ndjson", "application/ndjson", "application/jsonl")
def _json_lines(_: object, value: object) -> bytes:
    # The document describes a JSON-lines body as a string: send it as it is.
    return value.encode("utf-8") if isinstance(value, str) else str(value).encode("utf-8")


schema = schemathesis.pytest.from_fixture("api_schema")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def credential_for(path: str, service: Service, tenant: Tenant) -> str:
    if path.startswith("/api/v1/usage/export"):
        return tenant.key
    if path.startswith("/api/v1/usage/events"):
        return tenant.writer_secret
    return service.admin_secret


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_gets_a_server_error_or_an_undocumented_answer(
    case: Case, service: Service, fuzz_tenant: Tenant
) -> None:
    secret = credential_for(case.path, service, fuzz_tenant)
    case.call_and_validate(
        base_url=service.url,
        headers={"Authorization": f"Bearer {secret}"},
        checks=CHECKS,
    )
