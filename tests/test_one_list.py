"""Each list of names (dimensions, roles, scopes) and each type lives in one module.

The export's checks, the OpenAPI document, the ingest body, the Python client,
the command line and the dashboard all take their dimensions from
:mod:`creditmeter.dimensions`, their roles from :mod:`creditmeter.roles` and
their scopes from :mod:`creditmeter.scopes`.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import date
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import creditmeter
from creditmeter import Client
from creditmeter.cli import app as cli
from creditmeter.dimensions import DIMENSIONS, FILTERS, GROUP_BY
from creditmeter.errors import InvalidParameter
from creditmeter.events import FIELDS
from creditmeter.export import parse_query
from creditmeter.rendering import ExportRow
from creditmeter.roles import ROLES
from creditmeter.scopes import SCOPES
from tests.conftest import Service, Tenant

TODAY = date(2026, 6, 18)


def _document(service: Service) -> dict[str, Any]:
    return service.client().get("/openapi.json").json()


def _enum(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """The enum of a schema, through ``$ref``, ``anyOf`` (nullable) and array ``items``."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _enum(document["components"]["schemas"][name], document)
    for nested in schema.get("anyOf", ()):
        if found := _enum(nested, document):
            return found
    if "items" in schema:
        return _enum(schema["items"], document)
    return schema.get("enum", [])


def _help(*command: str) -> str:
    result = CliRunner().invoke(cli, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_the_dimensions_are_the_contracts_in_its_order() -> None:
    assert GROUP_BY == ("product", "feature", "api_key", "file_type")
    assert FILTERS == {
        "product": "product",
        "feature": "feature",
        "apiKey": "api_key",
        "fileType": "file_type",
    }


def test_the_export_accepts_exactly_the_dimensions_as_group_by_values() -> None:
    for name in GROUP_BY:
        query = parse_query([("groupBy", name)], today=TODAY, max_range_days=366)
        assert query.group_by == (name,)
    with pytest.raises(InvalidParameter):
        parse_query([("groupBy", "apiKey")], today=TODAY, max_range_days=366)
    filtered = parse_query(
        [(d.field, "x") for d in DIMENSIONS], today=TODAY, max_range_days=366
    ).filters
    assert list(filtered) == list(GROUP_BY)


def test_the_api_document_lists_the_dimensions(service: Service) -> None:
    document = _document(service)
    export = document["paths"]["/api/v1/usage/export"]["get"]
    parameters = {p["name"]: p for p in export["parameters"]}
    # groupBy is a list of them (issue 13); the document echoes it as text.
    assert parameters["groupBy"]["schema"]["items"]["enum"] == list(GROUP_BY)
    assert [name for name in parameters if name in FILTERS] == list(FILTERS)


def test_an_event_has_a_field_for_each_dimension() -> None:
    assert [name for name in FIELDS if name in FILTERS] == [d.field for d in DIMENSIONS]


def test_the_client_sends_each_dimensions_filter_by_its_field_name(
    service: Service, tenant: Tenant
) -> None:
    sent: list[httpx.Request] = []
    http = httpx.Client(event_hooks={"request": [sent.append]})
    with Client(service.url, tenant.key, http_client=http) as client:
        client.export(products="a", features="b", api_keys="c", file_types="d")
    http.close()
    names = [name for name, _ in sent[0].url.params.multi_items()]
    assert names == [d.field for d in DIMENSIONS]


def test_the_command_line_offers_the_dimensions_roles_and_scopes() -> None:
    assert "product, feature, api_key or file_type" in _help("export")
    roles = re.search(r"--role \[([^\]]*)\]", _help("member", "add"))
    assert roles is not None and roles.group(1).split("|") == list(ROLES)
    choices = re.search(r"\[(usage:write[^\]]*)\]", _help("token", "create"))
    assert choices is not None and choices.group(1).split("|") == list(SCOPES)


def test_the_dashboard_offers_each_dimension_to_group_and_filter_by(
    service: Service, tenant: Tenant
) -> None:
    browser = httpx.Client(base_url=service.url, timeout=30)
    signed_in = browser.post(
        "/dashboard/sign-in", data={"key": tenant.key}, headers={"Origin": service.url}
    )
    assert signed_in.status_code == 303, signed_in.text
    page = browser.get("/dashboard?timeZone=UTC").text
    browser.close()
    assert re.findall(r'data-group-by="([^"]+)"', page) == list(GROUP_BY)
    assert re.findall(r'data-filter="([^"]+)"', page) == list(FILTERS)


def test_the_admin_api_and_the_cli_accept_exactly_the_roles_and_scopes(
    service: Service, tenant: Tenant
) -> None:
    document = _document(service)
    schemas = document["components"]["schemas"]
    assert _enum(schemas["MembershipPut"]["properties"]["role"], document) == list(ROLES)
    assert _enum(schemas["TokenCreate"]["properties"]["scopes"], document) == list(SCOPES)
    path = f"/api/v1/admin/orgs/{tenant.org_id}/members/{tenant.user_id}"
    for role in ROLES:
        answer = service.admin.put(path, json={"role": role})
        assert answer.status_code == 200 and answer.json()["role"] == role, answer.text
    assert service.admin.put(path, json={"role": "boss"}).status_code == 400


def test_one_type_is_called_usage_row_and_it_is_the_clients() -> None:
    found = {}
    for module in pkgutil.walk_packages(creditmeter.__path__, "creditmeter."):
        if ".migrations" in module.name or module.name.endswith("__main__"):
            continue
        for name, value in vars(importlib.import_module(module.name)).items():
            if isinstance(value, type) and name in ("UsageRow", "ExportRow"):
                found.setdefault(name, set()).add(value)
    assert found == {"UsageRow": {creditmeter.UsageRow}, "ExportRow": {ExportRow}}
