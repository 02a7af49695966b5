"""A client generated from the served ``/openapi.json`` works against the real server.

``openapi-python-client`` (installed by ``make install`` in ``.venv/codegen``,
see pyproject.toml) writes a package from the document each store's server
serves; the tests import it and call the API with it. The document does not
depend on the store, so it is generated once per session and the second store
reuses it (the cache is keyed by the document's text: a document that differed
between stores would be generated, and tested, twice).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from dateutil.parser import isoparse

from creditmeter.web.routes.events import NDJSON_TYPES
from tests.conftest import Service, Tenant

GENERATOR = Path(sys.prefix) / "codegen" / "bin" / "openapi-python-client"
# No formatting hooks: the generated code only has to run, and ruff would be a second tool.
CONFIG = "post_hooks: []\n"
# The generator reads JSON request bodies only: of recordUsageEvents' bodies it keeps
# the JSON one and skips the JSON-lines ones (the same data, one event per line).
EXPECTED_WARNINGS = [
    ("POST /api/v1/usage/events", f"Unsupported content type {content_type}")
    for content_type in NDJSON_TYPES
]


@pytest.fixture(scope="session")
def generate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ModuleType]]:
    """Generate and import the client package of a document (once per distinct document)."""
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing; run `make install` to install the generator.")
    packages: dict[str, ModuleType] = {}
    added: list[str] = []

    def package_of(document: str) -> ModuleType:
        if document in packages:
            return packages[document]
        work = tmp_path_factory.mktemp("generated-client")
        (work / "openapi.json").write_text(document)
        (work / "config.yaml").write_text(CONFIG)
        name = f"creditmeter_api_{len(packages)}"
        run = subprocess.run(
            [
                str(GENERATOR),
                "generate",
                "--path",
                str(work / "openapi.json"),
                "--output-path",
                str(work / name),
                "--config",
                str(work / "config.yaml"),
                "--meta",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert _warnings(run.stderr) == EXPECTED_WARNINGS, run.stderr
        sys.path.insert(0, str(work))
        added.append(str(work))
        packages[document] = importlib.import_module(name)
        return packages[document]

    yield package_of
    for path in added:
        sys.path.remove(path)
    for name in [m for m in sys.modules if m.startswith("creditmeter_api_")]:
        del sys.modules[name]


def _warnings(output: str) -> list[tuple[str, str]]:
    """(operation, problem) of each "WARNING parsing METHOD PATH within TAG." block."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return [
        (" ".join(line.split()[2:4]), lines[i + 1])
        for i, line in enumerate(lines)
        if line.startswith("WARNING parsing")
    ]


@pytest.fixture
def api(service: Service, generate: Callable[[str], ModuleType]) -> ModuleType:
    response = service.client().get("/openapi.json")
    assert response.status_code == 200
    return generate(response.text)


def _module(package: ModuleType, name: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{name}")


def _client(package: ModuleType, service: Service, secret: str) -> object:
    return package.AuthenticatedClient(base_url=service.url, token=secret)


def test_every_operation_is_generated(api: ModuleType) -> None:
    for module in (
        "api.usage.record_usage_events",
        "api.usage.export_usage",
        "api.admin.create_organization",
        "api.admin.list_organizations",
    ):
        _module(api, module)


def test_generated_client_records_events_and_exports_them(
    api: ModuleType, service: Service, tenant: Tenant
) -> None:
    models = _module(api, "models")
    record = _module(api, "api.usage.record_usage_events")
    export = _module(api, "api.usage.export_usage")
    writer = _client(api, service, tenant.writer_secret)
    events = [
        {
            "id": f"evt-{i}",
            "orgId": tenant.org_id,
            "timestamp": f"2026-05-0{i}T10:00:00Z",
            "product": "ocr",
            "feature": "tables" if i % 2 else None,
            "credits": 1.25 * i,
        }
        for i in range(1, 4)
    ]

    batch = models.EventBatch.from_dict({"events": events})

    recorded = record.sync_detailed(client=writer, body=batch)
    assert recorded.status_code == 200, recorded.content
    assert isinstance(recorded.parsed, models.RecordResultOut)
    assert recorded.parsed.to_dict() == json.loads(recorded.content)
    assert (recorded.parsed.accepted, recorded.parsed.duplicates) == (3, 0)
    # Sent again, by hand and then by the client: the same answer (all duplicates).
    by_hand = tenant.writer.post("/api/v1/usage/events", json={"events": events})
    assert record.sync(client=writer, body=batch).to_dict() == by_hand.json()

    reader = _client(api, service, tenant.key)
    params = {"startDate": "2026-05-01", "endDate": "2026-05-31", "groupBy": "feature"}
    exported = export.sync(
        client=reader,
        start_date=isoparse(params["startDate"]).date(),
        end_date=isoparse(params["endDate"]).date(),
        group_by=[models.ExportUsageGroupByItem.FEATURE],
    )
    raw = tenant.export(**params)
    assert raw.status_code == 200, raw.text
    assert isinstance(exported, models.ExportDocument)
    assert exported.to_dict() == raw.json()
    assert len(exported.data) == 3


def test_generated_client_calls_the_admin_api(api: ModuleType, service: Service) -> None:
    models = _module(api, "models")
    create = _module(api, "api.admin.create_organization")
    listing = _module(api, "api.admin.list_organizations")
    admin = _client(api, service, service.admin_secret)
    org_id = f"org_{uuid.uuid4().hex[:12]}"

    created = create.sync(client=admin, body=models.OrgCreate(name="Generated", id=org_id))
    assert isinstance(created, models.OrgOut)
    assert (created.id, created.name) == (org_id, "Generated")
    assert created.created_at.tzinfo is not None

    listed = listing.sync(client=admin)
    by_hand = service.admin.get("/api/v1/admin/orgs").json()
    assert [(o.id, o.name, o.created_at) for o in listed] == [
        (o["id"], o["name"], isoparse(o["createdAt"])) for o in by_hand
    ]
    assert org_id in {o.id for o in listed}

    # A documented error is parsed in the one error shape.
    again = create.sync(client=admin, body=models.OrgCreate(name="Generated", id=org_id))
    assert isinstance(again, models.ErrorResponse)
    assert (again.error.status, again.error.code) == (409, "conflict")
