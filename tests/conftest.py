"""Shared fixtures: a real creditmeter server over HTTP on a real database.

Every test that uses a database runs once per store: SQLite (a file) and
PostgreSQL (a server the session starts from the machine's packages, see
``tests/postgres.py``). ``CREDITMETER_TEST_STORES=sqlite`` narrows the run.

``service`` is one server per store for the whole session (rate limit off, so
tests may call the export freely); ``make_service`` starts one with other
settings on a fresh database. Tests isolate their data by creating their own
organizations (``tenant``).
"""

from __future__ import annotations

import os
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet

from creditmeter.directory import Directory
from creditmeter.settings import Settings
from creditmeter.store import Store, open_store
from creditmeter.web.app import create_app
from tests import postgres
from tests.ports import free_port
from tests.processes import ServerProcess

# One TLS context for every test client: httpx builds a new one per client
# otherwise (~20 ms each), though these servers speak plain HTTP.
_TLS = ssl.create_default_context()

# Every server and command of the session encrypts webhook secrets with one key, as
# every server of one PostgreSQL database must (the SQLite key file is tested on its
# own, tests/test_webhook_sealing.py). tests/processes.py passes it to `serve`.
os.environ.setdefault("CREDITMETER_SECRET_KEY", Fernet.generate_key().decode("ascii"))

STORES = [
    store
    for store in ("sqlite", "postgresql")
    if store in os.environ.get("CREDITMETER_TEST_STORES", "sqlite,postgresql").split(",")
]


@dataclass
class Service:
    """A running server, its store, and an admin service token for setting up data."""

    url: str
    settings: Settings
    store: Store
    directory: Directory
    admin_secret: str
    _clients: list[httpx.Client] = field(default_factory=list)

    def client(self, secret: str | None = None) -> httpx.Client:
        """An HTTP client for this server, sending ``secret`` as the bearer token."""
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=_TLS)
        self._clients.append(client)
        return client

    @property
    def admin(self) -> httpx.Client:
        return self.client(self.admin_secret)

    def tenant(self, **kwargs: Any) -> Tenant:
        return new_tenant(self, **kwargs)

    def close(self) -> None:
        for client in self._clients:
            client.close()


@dataclass
class Tenant:
    """A fresh organization with one member, their personal key, and a usage writer."""

    service: Service
    org_id: str
    user_id: str
    email: str
    key_id: str
    key: str
    writer_secret: str

    @property
    def reader(self) -> httpx.Client:
        return self.service.client(self.key)

    @property
    def writer(self) -> httpx.Client:
        return self.service.client(self.writer_secret)

    def record(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """Send events (orgId filled in) and return the 200 answer."""
        body = {"events": [{"orgId": self.org_id, **event} for event in events]}
        response = self.writer.post("/api/v1/usage/events", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def export(self, **params: Any) -> httpx.Response:
        return self.reader.get("/api/v1/usage/export", params=params)


def new_tenant(service: Service, *, org_name: str = "Test Org") -> Tenant:
    suffix = uuid.uuid4().hex[:12]
    admin = service.admin
    org = admin.post("/api/v1/admin/orgs", json={"name": org_name, "id": f"org_{suffix}"})
    assert org.status_code == 201, org.text
    user = admin.post("/api/v1/admin/users", json={"email": f"user-{suffix}@example.com"})
    assert user.status_code == 201, user.text
    user_id = user.json()["id"]
    member = admin.put(f"/api/v1/admin/orgs/org_{suffix}/members/{user_id}", json={"role": "owner"})
    assert member.status_code == 200, member.text
    key = admin.post(f"/api/v1/admin/users/{user_id}/keys", json={"orgId": f"org_{suffix}"})
    assert key.status_code == 201, key.text
    _, writer_secret = service.directory.create_token(f"writer {suffix}", ["usage:write"])
    return Tenant(
        service=service,
        org_id=f"org_{suffix}",
        user_id=user_id,
        email=user.json()["email"],
        key_id=key.json()["id"],
        key=key.json()["secret"],
        writer_secret=writer_secret,
    )


@contextmanager
def running_service(
    database_url: str, *, delivery_clock: Callable[[], float] = time.time, **overrides: Any
) -> Iterator[Service]:
    """Start a real uvicorn server on a free port, in a thread, until the block ends.

    ``delivery_clock``: its delivery worker's clock (unix seconds), for a test that
    moves time on."""
    settings = Settings(database_url=database_url, **overrides)
    store = open_store(settings.database_url, settings.store_options())
    app = create_app(settings, store=store, delivery_clock=delivery_clock)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    directory = Directory(store)
    _, admin_secret = directory.create_token("test admin", ["admin", "usage:write"])
    service = Service(
        url=f"http://127.0.0.1:{port}",
        settings=settings,
        store=store,
        directory=directory,
        admin_secret=admin_secret,
    )
    try:
        yield service
    finally:
        service.close()
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """One PostgreSQL server for the session, started on first use."""
    server = postgres.start_server()
    yield server
    server.destroy()


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest) -> str:
    """A fresh empty PostgreSQL database of the session's server (skips without one)."""
    if "postgresql" not in STORES:
        pytest.skip("PostgreSQL is not under test")
    server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()


@pytest.fixture(scope="session", params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def new_database(
    store_kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[], str]:
    """Make a fresh, empty database of the store under test; returns its URL."""
    if store_kind == "postgresql":
        server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database
    return lambda: f"sqlite:///{tmp_path_factory.mktemp('db') / 'creditmeter.db'}"


@pytest.fixture(scope="session")
def database_url(new_database: Callable[[], str]) -> str:
    """The session's database for ``service``."""
    return new_database()


@pytest.fixture(scope="session")
def service(database_url: str) -> Iterator[Service]:
    with running_service(database_url, export_rate_limit=0) as running:
        yield running


@pytest.fixture
def tenant(service: Service) -> Tenant:
    return new_tenant(service)


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """`creditmeter serve` processes a test starts (tests/processes.py); stopped at its end."""
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def make_service(new_database: Callable[[], str]) -> Iterator[Callable[..., Service]]:
    """Start a server on its own fresh database with settings overridden."""
    stack: list[Any] = []

    def start(**overrides: Any) -> Service:
        context = running_service(new_database(), **overrides)
        stack.append(context)
        return context.__enter__()

    yield start
    for context in reversed(stack):
        context.__exit__(None, None, None)
