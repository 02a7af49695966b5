"""The directory over HTTP: every ``/api/v1/admin`` route against a real server."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import Service, Tenant

ADMIN = "/api/v1/admin"
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")
SECRET = re.compile(r"cmk_[A-Za-z0-9_-]{32,}")


def unique() -> str:
    return uuid.uuid4().hex[:12]


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error object of ``response``, checked to be the contract's shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    info = body["error"]
    assert info["status"] == status
    assert info["code"] == code
    assert isinstance(info["message"], str) and info["message"]
    assert set(info) <= {"status", "code", "message", "param", "details"}
    return info


def create_org(admin: httpx.Client, **body: Any) -> dict[str, Any]:
    response = admin.post(f"{ADMIN}/orgs", json={"name": "Acme", **body})
    assert response.status_code == 201, response.text
    return response.json()


def create_user(admin: httpx.Client) -> dict[str, Any]:
    response = admin.post(f"{ADMIN}/users", json={"email": f"u-{unique()}@example.com"})
    assert response.status_code == 201, response.text
    return response.json()


def add_member(admin: httpx.Client, org_id: str, user_id: str, role: str = "member") -> None:
    response = admin.put(f"{ADMIN}/orgs/{org_id}/members/{user_id}", json={"role": role})
    assert response.status_code == 200, response.text


# -- organizations ----------------------------------------------------------------------


def test_create_org_answers_201_with_id_name_and_created_at(service: Service) -> None:
    org = create_org(service.admin, name="Acme Corp")
    assert set(org) == {"id", "name", "createdAt"}
    assert org["id"].startswith("org_")
    assert len(org["id"]) > len("org_")
    assert org["name"] == "Acme Corp"
    assert RFC3339_UTC.fullmatch(org["createdAt"])


def test_create_org_with_a_chosen_id(service: Service) -> None:
    chosen = f"acme-{unique()}"
    org = create_org(service.admin, name="Acme", id=chosen)
    assert org["id"] == chosen
    response = service.admin.get(f"{ADMIN}/orgs/{chosen}")
    assert response.status_code == 200
    assert response.json() == org


def test_duplicate_org_id_is_409(service: Service) -> None:
    chosen = f"org_{unique()}"
    create_org(service.admin, id=chosen)
    response = service.admin.post(f"{ADMIN}/orgs", json={"name": "Other", "id": chosen})
    info = error(response, 409, "conflict")
    assert info["param"] == "id"
    assert chosen in info["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Acme", "id": ""}, "id"),
        ({"name": "Acme", "id": " padded"}, "id"),
        ({"name": "Acme", "id": "x" * 129}, "id"),
        ({"name": "Acme", "slug": "acme"}, "slug"),
    ],
)
def test_invalid_org_body_is_400_naming_the_field(
    service: Service, body: dict[str, Any], param: str
) -> None:
    info = error(service.admin.post(f"{ADMIN}/orgs", json=body), 400, "invalid_parameter")
    assert info["param"] == param


def test_list_orgs_is_a_bare_array_holding_every_org(service: Service) -> None:
    first = create_org(service.admin, name="First")
    second = create_org(service.admin, name="Second")
    response = service.admin.get(f"{ADMIN}/orgs")
    assert response.status_code == 200
    listed = response.json()
    assert isinstance(listed, list)
    assert first in listed
    assert second in listed
    for org in listed:
        assert set(org) == {"id", "name", "createdAt"}


def test_unknown_org_is_404(service: Service) -> None:
    missing = f"org_missing_{unique()}"
    info = error(service.admin.get(f"{ADMIN}/orgs/{missing}"), 404, "not_found")
    assert missing in info["message"]
    error(service.admin.get(f"{ADMIN}/orgs/{missing}/members"), 404, "not_found")


# -- users ----------------------------------------------------------------------------------


def test_create_user_answers_201_with_id_email_and_created_at(service: Service) -> None:
    email = f"Ada-{unique()}@Example.com"
    response = service.admin.post(f"{ADMIN}/users", json={"email": email})
    assert response.status_code == 201, response.text
    user = response.json()
    assert set(user) == {"id", "email", "createdAt"}
    assert user["email"] == email.lower()
    assert RFC3339_UTC.fullmatch(user["createdAt"])
    assert service.admin.get(f"{ADMIN}/users/{user['id']}").json() == user


def test_duplicate_email_is_409_whatever_its_case(service: Service) -> None:
    user = create_user(service.admin)
    response = service.admin.post(f"{ADMIN}/users", json={"email": user["email"].upper()})
    info = error(response, 409, "conflict")
    assert info["param"] == "email"


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "two@@example.com", "sp ace@x.com"])
def test_invalid_email_is_400(service: Service, email: str) -> None:
    response = service.admin.post(f"{ADMIN}/users", json={"email": email})
    assert error(response, 400, "invalid_parameter")["param"] == "email"


def test_find_users_by_email_is_a_bare_array(service: Service) -> None:
    user = create_user(service.admin)
    found = service.admin.get(f"{ADMIN}/users", params={"email": user["email"]})
    assert found.status_code == 200
    assert found.json() == [user]
    upper = service.admin.get(f"{ADMIN}/users", params={"email": user["email"].upper()})
    assert upper.json() == [user]
    nobody = service.admin.get(f"{ADMIN}/users", params={"email": f"no-{unique()}@example.com"})
    assert nobody.status_code == 200
    assert nobody.json() == []
    everyone = service.admin.get(f"{ADMIN}/users")
    assert everyone.status_code == 200
    assert user in everyone.json()


def test_unknown_user_is_404(service: Service) -> None:
    missing = f"usr_{unique()}"
    info = error(service.admin.get(f"{ADMIN}/users/{missing}"), 404, "not_found")
    assert missing in info["message"]
    error(service.admin.get(f"{ADMIN}/users/{missing}/keys"), 404, "not_found")


# -- memberships ----------------------------------------------------------------------------


def test_members_of_a_new_org_is_an_empty_array(service: Service) -> None:
    org = create_org(service.admin)
    response = service.admin.get(f"{ADMIN}/orgs/{org['id']}/members")
    assert response.status_code == 200
    assert response.json() == []


def test_put_member_adds_then_changes_the_role(service: Service) -> None:
    admin = service.admin
    org, user = create_org(admin), create_user(admin)
    path = f"{ADMIN}/orgs/{org['id']}/members/{user['id']}"

    added = admin.put(path, json={"role": "admin"})
    assert added.status_code == 200, added.text
    assert added.json() == {
        "orgId": org["id"],
        "userId": user["id"],
        "email": user["email"],
        "role": "admin",
    }
    members = admin.get(f"{ADMIN}/orgs/{org['id']}/members").json()
    assert members == [{"userId": user["id"], "email": user["email"], "role": "admin"}]

    changed = admin.put(path, json={"role": "owner"})
    assert changed.status_code == 200
    assert changed.json()["role"] == "owner"
    # Without a role an existing member is left as they are.
    kept = admin.put(path, json={})
    assert kept.status_code == 200
    assert kept.json()["role"] == "owner"
    assert admin.get(f"{ADMIN}/orgs/{org['id']}/members").json()[0]["role"] == "owner"


def test_put_member_without_a_role_adds_a_member(service: Service) -> None:
    admin = service.admin
    org, user = create_org(admin), create_user(admin)
    response = admin.put(f"{ADMIN}/orgs/{org['id']}/members/{user['id']}", json={})
    assert response.status_code == 200
    assert response.json()["role"] == "member"


def test_put_member_checks_role_org_and_user(service: Service) -> None:
    admin = service.admin
    org, user = create_org(admin), create_user(admin)
    path = f"{ADMIN}/orgs/{org['id']}/members/{user['id']}"
    bad_role = error(admin.put(path, json={"role": "boss"}), 400, "invalid_parameter")
    assert bad_role["param"] == "role"
    no_body = error(admin.put(path), 400, "invalid_parameter")
    assert "None" not in no_body["message"]
    member = {"role": "member"}
    unknown_org = f"{ADMIN}/orgs/org_{unique()}/members/{user['id']}"
    assert error(admin.put(unknown_org, json=member), 404, "not_found")["param"] == "orgId"
    unknown_user = f"{ADMIN}/orgs/{org['id']}/members/usr_{unique()}"
    assert error(admin.put(unknown_user, json=member), 404, "not_found")["param"] == "userId"
    assert admin.get(f"{ADMIN}/orgs/{org['id']}/members").json() == []


def test_delete_member_is_204_then_404(service: Service) -> None:
    admin = service.admin
    org, user = create_org(admin), create_user(admin)
    add_member(admin, org["id"], user["id"])
    path = f"{ADMIN}/orgs/{org['id']}/members/{user['id']}"
    response = admin.delete(path)
    assert response.status_code == 204
    assert response.content == b""
    assert admin.get(f"{ADMIN}/orgs/{org['id']}/members").json() == []
    error(admin.delete(path), 404, "not_found")
    error(admin.delete(f"{ADMIN}/orgs/org_{unique()}/members/{user['id']}"), 404, "not_found")


def test_members_are_listed_with_their_roles(service: Service) -> None:
    admin = service.admin
    org = create_org(admin)
    users = [create_user(admin) for _ in range(3)]
    for user, role in zip(users, ("owner", "admin", "member"), strict=True):
        add_member(admin, org["id"], user["id"], role)
    listed = admin.get(f"{ADMIN}/orgs/{org['id']}/members").json()
    roles = {member["userId"]: (member["email"], member["role"]) for member in listed}
    assert roles == {
        u["id"]: (u["email"], r) for u, r in zip(users, ("owner", "admin", "member"), strict=True)
    }
    assert len(listed) == 3


# -- personal keys ----------------------------------------------------------------------------


def test_create_key_shows_the_secret_once(service: Service, tenant: Tenant) -> None:
    admin = service.admin
    response = admin.post(
        f"{ADMIN}/users/{tenant.user_id}/keys", json={"orgId": tenant.org_id, "name": "laptop"}
    )
    assert response.status_code == 201, response.text
    key = response.json()
    assert SECRET.fullmatch(key["secret"])
    assert key["name"] == "laptop"
    assert key["userId"] == tenant.user_id
    assert key["orgId"] == tenant.org_id
    assert key["email"] == tenant.email
    assert RFC3339_UTC.fullmatch(key["createdAt"])
    assert key["expiresAt"] is None
    assert key["lastUsedAt"] is None
    assert key["revokedAt"] is None
    assert "secretHash" not in key

    listed = admin.get(f"{ADMIN}/users/{tenant.user_id}/keys")
    assert listed.status_code == 200
    keys = listed.json()
    assert [k["id"] for k in keys] == [tenant.key_id, key["id"]]
    digest = hashlib.sha256(key["secret"].encode()).hexdigest()
    for item in keys:
        assert not {"secret", "secretHash", "hash"} & set(item)
    assert key["secret"] not in listed.text
    assert key["secret"][4:] not in listed.text
    assert digest not in listed.text
    assert {k: v for k, v in key.items() if k != "secret"} in keys
    # The secret works.
    export = service.client(key["secret"]).get("/api/v1/usage/export")
    assert export.status_code == 200, export.text


def test_create_key_has_a_default_name(service: Service, tenant: Tenant) -> None:
    path = f"{ADMIN}/users/{tenant.user_id}/keys"
    response = service.admin.post(path, json={"orgId": tenant.org_id})
    assert response.status_code == 201
    assert response.json()["name"]


def test_create_key_for_a_non_member_is_400_with_param_org_id(
    service: Service, tenant: Tenant
) -> None:
    other = create_org(service.admin)
    path = f"{ADMIN}/users/{tenant.user_id}/keys"
    info = error(service.admin.post(path, json={"orgId": other["id"]}), 400, "invalid_parameter")
    assert info["param"] == "orgId"
    assert other["id"] in info["message"]
    assert len(service.admin.get(path).json()) == 1


def test_create_key_for_unknown_org_or_user_is_404(service: Service, tenant: Tenant) -> None:
    admin = service.admin
    path = f"{ADMIN}/users/{tenant.user_id}/keys"
    info = error(admin.post(path, json={"orgId": f"org_{unique()}"}), 404, "not_found")
    assert info["param"] == "orgId"
    unknown_user = f"{ADMIN}/users/usr_{unique()}/keys"
    info = error(admin.post(unknown_user, json={"orgId": tenant.org_id}), 404, "not_found")
    assert info["param"] == "userId"
    assert error(admin.post(path, json={}), 400, "invalid_parameter")["param"] == "orgId"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2031-01-02", "2031-01-02T00:00:00Z"),
        ("2031-01-02T00:00:00Z", "2031-01-02T00:00:00Z"),
        ("2031-01-02T00:00:00+02:00", "2031-01-01T22:00:00Z"),
        ("2031-01-02T05:30:00.25-01:00", "2031-01-02T06:30:00.250000Z"),
        ("2020-01-01", "2020-01-01T00:00:00Z"),
    ],
)
def test_expires_at_is_a_date_at_midnight_utc_or_an_instant(
    service: Service, tenant: Tenant, given: str, stored: str
) -> None:
    path = f"{ADMIN}/users/{tenant.user_id}/keys"
    response = service.admin.post(path, json={"orgId": tenant.org_id, "expiresAt": given})
    assert response.status_code == 201, response.text
    assert response.json()["expiresAt"] == stored
    listed = {k["id"]: k for k in service.admin.get(path).json()}
    assert listed[response.json()["id"]]["expiresAt"] == stored


@pytest.mark.parametrize(
    "given", ["2031-01-02T00:00:00", "2031-02-30", "tomorrow", "2031-1-2", "", 1700000000]
)
def test_expires_at_that_is_not_a_date_or_instant_is_400(
    service: Service, tenant: Tenant, given: Any
) -> None:
    path = f"{ADMIN}/users/{tenant.user_id}/keys"
    response = service.admin.post(path, json={"orgId": tenant.org_id, "expiresAt": given})
    assert error(response, 400, "invalid_parameter")["param"] == "expiresAt"


def test_list_keys_of_a_user_without_keys_is_empty(service: Service) -> None:
    user = create_user(service.admin)
    response = service.admin.get(f"{ADMIN}/users/{user['id']}/keys")
    assert response.status_code == 200
    assert response.json() == []


def test_revoke_key_is_204_twice_and_the_key_is_listed_revoked(
    service: Service, tenant: Tenant
) -> None:
    admin = service.admin
    first = admin.delete(f"{ADMIN}/keys/{tenant.key_id}")
    assert first.status_code == 204
    assert first.content == b""
    [key] = admin.get(f"{ADMIN}/users/{tenant.user_id}/keys").json()
    revoked_at = key["revokedAt"]
    assert RFC3339_UTC.fullmatch(revoked_at)
    assert admin.delete(f"{ADMIN}/keys/{tenant.key_id}").status_code == 204
    # Revoking again keeps the first revocation time.
    [again] = admin.get(f"{ADMIN}/users/{tenant.user_id}/keys").json()
    assert again["revokedAt"] == revoked_at
    assert tenant.export().status_code == 401


def test_revoke_unknown_key_is_404(service: Service) -> None:
    missing = f"ukey_{unique()}"
    info = error(service.admin.delete(f"{ADMIN}/keys/{missing}"), 404, "not_found")
    assert missing in info["message"]


# -- who may call -------------------------------------------------------------------------------


ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/orgs", {"name": "Nope"}),
    ("GET", "/orgs", None),
    ("GET", "/orgs/org_x", None),
    ("POST", "/users", {"email": "nope@example.com"}),
    ("GET", "/users", None),
    ("GET", "/users/usr_x", None),
    ("GET", "/orgs/org_x/members", None),
    ("PUT", "/orgs/org_x/members/usr_x", {"role": "owner"}),
    ("DELETE", "/orgs/org_x/members/usr_x", None),
    ("POST", "/users/usr_x/keys", {"orgId": "org_x"}),
    ("GET", "/users/usr_x/keys", None),
    ("DELETE", "/keys/ukey_x", None),
]


def call(client: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    return client.request(method, ADMIN + path, json=body)


def test_every_route_needs_an_admin_token(service: Service, tenant: Tenant) -> None:
    _, writer_only = service.directory.create_token("writer only", ["usage:write"])
    anonymous = service.client()
    for method, path, body in ROUTES:
        assert call(anonymous, method, path, body).status_code == 401, (method, path)
        forbidden = call(tenant.reader, method, path, body)
        assert error(forbidden, 403, "forbidden"), (method, path)
        assert "admin" in forbidden.json()["error"]["message"]
        error(call(service.client(writer_only), method, path, body), 403, "forbidden")
    # Nothing was created by the refused calls.
    assert service.admin.get(f"{ADMIN}/users", params={"email": "nope@example.com"}).json() == []


def test_an_admin_only_token_may_manage_the_directory(service: Service) -> None:
    _, admin_only = service.directory.create_token("admin only", ["admin"])
    response = service.client(admin_only).post(f"{ADMIN}/orgs", json={"name": "By admin"})
    assert response.status_code == 201


def test_the_caller_is_known_before_the_body_is_judged(service: Service, tenant: Tenant) -> None:
    headers = {"Content-Type": "application/json"}
    for body in (b"{not json", b'{"name": 5, "extra": true}', b""):
        anonymous = service.client().post(f"{ADMIN}/orgs", content=body, headers=headers)
        error(anonymous, 401, "unauthenticated")
        personal = tenant.reader.post(f"{ADMIN}/orgs", content=body, headers=headers)
        error(personal, 403, "forbidden")
        admin = service.admin.post(f"{ADMIN}/orgs", content=body, headers=headers)
        error(admin, 400, "invalid_parameter")
    bad_token = service.client("cmt_" + "x" * 43)
    error(
        bad_token.put(f"{ADMIN}/orgs/o/members/u", content=b"[", headers=headers),
        401,
        "unauthenticated",
    )


def test_admin_routes_are_in_the_openapi_document(service: Service) -> None:
    paths = service.client().get("/openapi.json").json()["paths"]
    expected = {
        ("post", "/api/v1/admin/orgs"),
        ("get", "/api/v1/admin/orgs"),
        ("get", "/api/v1/admin/orgs/{orgId}"),
        ("post", "/api/v1/admin/users"),
        ("get", "/api/v1/admin/users"),
        ("get", "/api/v1/admin/users/{userId}"),
        ("get", "/api/v1/admin/orgs/{orgId}/members"),
        ("put", "/api/v1/admin/orgs/{orgId}/members/{userId}"),
        ("delete", "/api/v1/admin/orgs/{orgId}/members/{userId}"),
        ("post", "/api/v1/admin/users/{userId}/keys"),
        ("get", "/api/v1/admin/users/{userId}/keys"),
        ("delete", "/api/v1/admin/keys/{keyId}"),
    }
    documented = {(method, path) for path, item in paths.items() for method in item}
    assert expected <= documented


# -- service tokens and every key, over HTTP like the CLI ---------------------------------


def test_admin_api_creates_lists_and_revokes_service_tokens(service: Service) -> None:
    admin = service.admin
    created = admin.post(
        "/api/v1/admin/tokens", json={"name": "gateway", "scopes": ["usage:write"]}
    )
    assert created.status_code == 201, created.text
    token = created.json()
    assert token["secret"].startswith("cmt_") and token["scopes"] == ["usage:write"]
    assert token["id"].startswith("tok_") and token["createdAt"].endswith("Z")
    listed = admin.get("/api/v1/admin/tokens").json()
    assert token["id"] in {t["id"] for t in listed}
    assert token["secret"] not in str(listed)
    writer = service.client(token["secret"])
    assert writer.post("/api/v1/usage/events", json={"events": []}).status_code == 200
    assert admin.delete(f"/api/v1/admin/tokens/{token['id']}").status_code == 204
    assert admin.delete(f"/api/v1/admin/tokens/{token['id']}").status_code == 204
    assert writer.post("/api/v1/usage/events", json={"events": []}).status_code == 401
    missing = admin.delete("/api/v1/admin/tokens/tok_nope")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "tokenId"


def test_admin_api_refuses_a_token_without_a_known_scope(service: Service) -> None:
    for scopes in ([], ["read"]):
        response = service.admin.post("/api/v1/admin/tokens", json={"name": "x", "scopes": scopes})
        assert response.status_code == 400, response.text


def test_admin_api_lists_every_personal_key(service: Service, tenant: Tenant) -> None:
    keys = service.admin.get("/api/v1/admin/keys")
    assert keys.status_code == 200
    assert tenant.key_id in {k["id"] for k in keys.json()}
    assert "secret" not in keys.text


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("GET", "/api/v1/admin/orgs/a%00b", None),
        ("GET", "/api/v1/admin/users/a%00b", None),
        ("GET", "/api/v1/admin/users?email=a%00@b.co", None),
        ("POST", "/api/v1/admin/orgs", {"name": "a\x00b"}),
        ("POST", "/api/v1/admin/orgs", {"name": "ok", "id": "a\x00b"}),
        ("POST", "/api/v1/admin/users", {"email": "a\x00@b.co"}),
        ("POST", "/api/v1/admin/tokens", {"name": "a\x00b", "scopes": ["admin"]}),
        ("DELETE", "/api/v1/admin/keys/a%00b", None),
        ("DELETE", "/api/v1/admin/tokens/a%00b", None),
        ("GET", "/api/v1/admin/orgs/a%00b/members", None),
        ("PUT", "/api/v1/admin/orgs/a%00b/members/x%00", {}),
        ("DELETE", "/api/v1/admin/orgs/a%00b/members/x%00", None),
        ("GET", "/api/v1/admin/users/a%00b/keys", None),
        ("POST", "/api/v1/admin/users/a%00b/keys", {"orgId": "x\x00"}),
    ],
)
def test_admin_api_answers_ids_and_names_holding_nul_without_a_server_error(
    service: Service, method: str, path: str, body: dict[str, object] | None
) -> None:
    """PostgreSQL text cannot hold NUL: lookups find nothing, names are refused (400)."""
    response = service.admin.request(method, path, json=body)
    assert response.status_code in (400, 404), response.text


LIST_OPERATIONS = ["/orgs", "/users", "/keys", "/tokens"]


@pytest.mark.parametrize("path", LIST_OPERATIONS)
def test_admin_list_refuses_unknown_parameter(service: Service, path: str) -> None:
    info = error(
        service.admin.get(f"{ADMIN}{path}", params={"limit": "10"}), 400, "unknown_parameter"
    )
    assert info["param"] == "limit"
    assert "'limit'" in info["message"]


def test_admin_list_suggests_the_parameter_meant(service: Service) -> None:
    info = error(
        service.admin.get(f"{ADMIN}/users", params={"e-mail": "a@b.c"}), 400, "unknown_parameter"
    )
    assert info["message"] == "Unknown query parameter 'e-mail'. Did you mean 'email'?"


def test_admin_list_of_members_and_keys_refuses_unknown_parameter(
    service: Service, tenant: Tenant
) -> None:
    for path in (f"/orgs/{tenant.org_id}/members", f"/users/{tenant.user_id}/keys"):
        info = error(
            service.admin.get(f"{ADMIN}{path}", params={"role": "owner"}), 400, "unknown_parameter"
        )
        assert info["message"] == (
            "Unknown query parameter 'role'; this operation takes no query parameters."
        )


def test_admin_list_checks_the_caller_before_its_parameters(service: Service) -> None:
    error(service.client().get(f"{ADMIN}/orgs", params={"limit": "10"}), 401, "unauthenticated")
