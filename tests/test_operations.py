"""Operating the service: probes, structured access logs, body limits, graceful shutdown."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Service, Tenant
from tests.fleet import set_up_org
from tests.processes import ServerProcess


@pytest.fixture
def server(new_database: Callable[[], str], tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(new_database(), log=tmp_path / "server.log").start()
    yield process
    process.stop()


def test_health_and_readiness_probes(service: Service) -> None:
    client = service.client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_every_request_gets_one_json_access_line_with_its_request_id(
    server: ServerProcess,
) -> None:
    given = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    fresh = httpx.get(f"{server.url}/api/v1/usage/export?startDate=2026-01-01")
    assert len(fresh.headers["x-request-id"]) == 32
    odd = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "no spaces allowed"})
    assert odd.headers["x-request-id"] != "no spaces allowed"
    server.stop()
    assert server.log is not None
    lines = [
        json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
    ]
    by_id = {line["request_id"]: line for line in lines}
    assert by_id["trace-42"]["path"] == "/healthz" and by_id["trace-42"]["status"] == 200
    export = by_id[fresh.headers["x-request-id"]]
    assert export["status"] == 401 and export["path"] == "/api/v1/usage/export"
    assert "startDate" not in json.dumps(export)
    assert {"time", "method", "bytes", "duration_ms", "client"} <= set(export)


def test_secrets_never_reach_the_server_log(server: ServerProcess) -> None:
    access = set_up_org(server.database_url)
    secrets = {"key": access.reader, "writer": access.writer, "admin": access.admin}
    secrets["made-up"] = "cmk_" + "r" * 43
    with httpx.Client(base_url=server.url) as client:
        for secret in secrets.values():
            headers = {"Authorization": f"Bearer {secret}"}
            client.get("/api/v1/usage/export", headers=headers)
            client.post("/api/v1/usage/events", headers=headers, json={"events": [{"id": 1}]})
            client.get("/api/v1/admin/orgs", headers=headers)
            client.post("/api/v1/admin/orgs", headers=headers, content=b"{not json")
        created = client.post(
            "/api/v1/admin/tokens",
            headers={"Authorization": f"Bearer {secrets['admin']}"},
            json={"name": "shown once", "scopes": ["admin"]},
        )
        secrets["created"] = created.json()["secret"]
    server.stop()
    assert server.log is not None
    log = server.log.read_text()
    # Every request above has its line: 4 per credential, and the token creation.
    assert log.count('"request_id"') >= 4 * (len(secrets) - 1) + 1
    for secret in secrets.values():
        assert secret[4:] not in log
    assert "cmk_" not in log and "cmt_" not in log


def test_bodies_of_other_endpoints_are_limited_to_a_small_size(service: Service) -> None:
    huge = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    headers = {"Content-Type": "application/json"}
    anonymous = service.client().post("/api/v1/admin/orgs", content=huge, headers=headers)
    assert anonymous.status_code == 401
    response = service.admin.post("/api/v1/admin/orgs", content=huge, headers=headers)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large" and "1,048,576 bytes" in error["message"]


def test_a_chunked_ingest_body_is_cut_off_at_the_limit(
    make_service: Callable[..., Service],
) -> None:
    service = make_service(max_body_bytes=4096)
    tenant: Tenant = service.tenant()

    def chunks() -> Iterator[bytes]:
        yield b'{"events": ['
        for _ in range(1000):  # no Content-Length: the limit must hold while reading
            yield b'{"id": "x", "orgId": "o", "timestamp": "2026-01-01T00:00:00Z"},'
        yield b"]}"

    response = tenant.writer.post(
        "/api/v1/usage/events", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "4,096 bytes" in response.json()["error"]["message"]


def test_sigterm_during_a_batch_finishes_it_before_exiting(server: ServerProcess) -> None:
    access = set_up_org(server.database_url)
    events = [
        {"id": f"term-{n}", "orgId": access.org_id, "timestamp": "2026-02-02T10:00:00Z",
         "product": "parse", "credits": 0.5}
        for n in range(10_000)
    ]  # fmt: skip
    answer: dict[str, Any] = {}

    def send() -> None:
        try:
            response = httpx.post(
                f"{server.url}/api/v1/usage/events",
                json={"events": events},
                headers={"Authorization": f"Bearer {access.writer}"},
                timeout=60,
            )
            answer["status"] = response.status_code
            answer["body"] = response.json()
        except httpx.TransportError as exc:
            answer["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.3)  # the batch is being received and recorded
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    sender.join(timeout=60)
    # uvicorn exits by re-raising the signal it handled, once in-flight work is done.
    assert server.process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert answer.get("status") == 200, answer
    assert answer["body"]["accepted"] == 10_000
    # The acknowledged batch is there after a restart.
    server.start()
    exported = httpx.get(
        f"{server.url}/api/v1/usage/export",
        params={"startDate": "2026-02-02", "endDate": "2026-02-02"},
        headers={"Authorization": f"Bearer {access.reader}"},
    )
    assert exported.json()["data"] == [
        {"date": "2026-02-02", "group": "parse", "credits": 5000.0, "requestCount": 10_000}
    ]
