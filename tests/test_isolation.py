"""Nobody where they don't belong: every credential against every endpoint and organization.

The expected answer of each cell comes from the rules written out in
``expected`` below, not from the server: a test of the matrix, not a snapshot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Service


@dataclass(frozen=True)
class Credential:
    name: str
    secret: str | None
    kind: str  # "personal", "token", "invalid"
    user: str | None = None  # personal keys: whose
    org: str | None = None  # personal keys: issued for
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class World:
    orgs: dict[str, str]  # label → org id
    members: dict[str, set[str]]  # user label → org labels the user belongs to now
    credentials: list[Credential]


@pytest.fixture(scope="module")
def world(service: Service) -> World:
    directory = service.directory
    tag = uuid.uuid4().hex[:8]
    orgs = {label: directory.create_org(f"Org {label}", f"org_{label}_{tag}").id for label in "AB"}
    orgs["ghost"] = f"org_ghost_{tag}"  # never created
    users = {
        label: directory.create_user(f"{label}-{tag}@example.com").id
        for label in ("u1", "u2", "u3")
    }
    directory.set_membership(orgs["A"], users["u1"], "owner")
    directory.set_membership(orgs["A"], users["u2"], "member")
    directory.set_membership(orgs["B"], users["u2"], "admin")
    directory.set_membership(orgs["A"], users["u3"], "member")

    def key(user: str, org: str, **options: object) -> str:
        _, secret = directory.create_key(users[user], orgs[org], **options)  # type: ignore[arg-type]
        return secret

    credentials = [
        Credential("u1 key for A", key("u1", "A"), "personal", "u1", "A"),
        Credential("u2 key for A", key("u2", "A"), "personal", "u2", "A"),
        Credential("u2 key for B", key("u2", "B"), "personal", "u2", "B"),
        Credential("u3 key for A, u3 removed", key("u3", "A"), "personal", "u3", "A"),
    ]
    revoked_key, revoked_secret = directory.create_key(users["u1"], orgs["A"])
    directory.revoke_key(revoked_key.id)
    expired = key("u1", "A", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    directory.remove_member(orgs["A"], users["u3"])
    for scopes in (("usage:write",), ("admin",), ("usage:write", "admin")):
        _, secret = directory.create_token(f"token {'+'.join(scopes)}", scopes)
        credentials.append(Credential(f"token {'+'.join(scopes)}", secret, "token", scopes=scopes))
    revoked_token, revoked_token_secret = directory.create_token(
        "revoked", ["usage:write", "admin"]
    )
    directory.revoke_token(revoked_token.id)
    credentials += [
        Credential("revoked key", revoked_secret, "invalid"),
        Credential("expired key", expired, "invalid"),
        Credential("revoked token", revoked_token_secret, "invalid"),
        Credential("made-up key", "cmk_" + "x" * 43, "invalid"),
        Credential("no credential", None, "invalid"),
    ]
    members = {"u1": {"A"}, "u2": {"A", "B"}, "u3": set()}
    return World(orgs=orgs, members=members, credentials=credentials)


ORG_TARGETS = [None, "A", "B", "ghost"]


def expected_export(world: World, credential: Credential, target: str | None) -> int:
    if credential.kind == "invalid":
        return 401
    if credential.kind == "token":
        return 403
    org = target or credential.org
    return 200 if org in world.members[credential.user or ""] else 403


def expected_scoped(credential: Credential, scope: str, success: int) -> int:
    if credential.kind == "invalid":
        return 401
    if credential.kind == "personal" or scope not in credential.scopes:
        return 403
    return success


def test_every_credential_reads_only_the_organizations_its_user_belongs_to(
    service: Service, world: World
) -> None:
    for credential in world.credentials:
        client = service.client(credential.secret)
        for target in ORG_TARGETS:
            params = {"orgId": world.orgs[target]} if target else {}
            response = client.get("/api/v1/usage/export", params=params)
            want = expected_export(world, credential, target)
            assert response.status_code == want, (credential.name, target, response.text)
            if want == 200:
                assert response.json()["orgId"] == world.orgs[target or credential.org or ""]
            else:
                assert set(response.json()) == {"error"}


def test_a_missing_organization_answers_exactly_like_one_you_are_not_in(
    service: Service, world: World
) -> None:
    client = service.client(world.credentials[0].secret)
    other = client.get("/api/v1/usage/export", params={"orgId": world.orgs["B"]}).json()
    ghost = client.get("/api/v1/usage/export", params={"orgId": world.orgs["ghost"]}).json()
    assert other["error"]["code"] == ghost["error"]["code"] == "forbidden"
    assert other["error"]["message"].replace(world.orgs["B"], "X") == ghost["error"][
        "message"
    ].replace(world.orgs["ghost"], "X")


def test_every_credential_records_usage_only_with_the_usage_write_scope(
    service: Service, world: World
) -> None:
    for credential in world.credentials:
        response = service.client(credential.secret).post(
            "/api/v1/usage/events", json={"events": []}
        )
        assert response.status_code == expected_scoped(credential, "usage:write", 200), (
            credential.name,
            response.text,
        )


@pytest.mark.parametrize(
    ("method", "path", "success"),
    [
        ("GET", "/api/v1/admin/orgs", 200),
        ("GET", "/api/v1/admin/users", 200),
        ("GET", "/api/v1/admin/keys", 200),
        ("GET", "/api/v1/admin/tokens", 200),
        ("GET", "/api/v1/admin/orgs/{A}", 200),
        ("GET", "/api/v1/admin/orgs/{A}/members", 200),
        ("DELETE", "/api/v1/admin/keys/ukey_does_not_exist", 404),
    ],
)
def test_every_credential_manages_the_directory_only_with_the_admin_scope(
    service: Service, world: World, method: str, path: str, success: int
) -> None:
    path = path.replace("{A}", world.orgs["A"])
    for credential in world.credentials:
        response = service.client(credential.secret).request(method, path)
        assert response.status_code == expected_scoped(credential, "admin", success), (
            credential.name,
            path,
            response.text,
        )
