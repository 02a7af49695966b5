"""The directory's rules for credentials: secrets, hashes, revocation, expiry, last use.

Tests named ``test_edge_case_<N>_…`` pin the numbered edge cases of
shared/spec/directory-and-cli.md that are not about the command line.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, text

from creditmeter.directory import Directory, PersonalKey, ServiceToken
from creditmeter.errors import Unauthenticated
from tests.conftest import Service, Tenant

ADMIN = "/api/v1/admin"
EXPORT = "/api/v1/usage/export"
EVENTS = "/api/v1/usage/events"
URLSAFE_32 = r"[A-Za-z0-9_-]{32,}"


class FakeClock:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def new_key(service: Service, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = service.admin.post(
        f"{ADMIN}/users/{tenant.user_id}/keys", json={"orgId": tenant.org_id, **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def listed_key(service: Service, tenant: Tenant, key_id: str) -> dict[str, Any]:
    keys = service.admin.get(f"{ADMIN}/users/{tenant.user_id}/keys").json()
    return next(key for key in keys if key["id"] == key_id)


def export_status(service: Service, secret: str, **params: Any) -> int:
    return service.client(secret).get(EXPORT, params=params).status_code


# -- secrets and what is stored -------------------------------------------------------------


def test_edge_case_10_secrets_have_a_prefix_and_32_random_characters(
    service: Service, tenant: Tenant
) -> None:
    keys = [new_key(service, tenant)["secret"] for _ in range(3)]
    tokens = [service.directory.create_token("t", ["usage:write"])[1] for _ in range(3)]
    for secret in keys:
        assert re.fullmatch("cmk_" + URLSAFE_32, secret), secret
    for secret in tokens:
        assert re.fullmatch("cmt_" + URLSAFE_32, secret), secret
    assert len(set(keys + tokens)) == 6
    # No two share even their first 16 random characters.
    assert len({secret[4:20] for secret in keys + tokens}) == 6


def test_only_hashes_of_secrets_are_stored(service: Service, tenant: Tenant) -> None:
    key = new_key(service, tenant, name="scanned")
    token, token_secret = service.directory.create_token("scanned", ["usage:write", "admin"])
    # Use both, so that last-use bookkeeping has written too.
    assert export_status(service, key["secret"]) == 200
    assert service.client(token_secret).post(EVENTS, json={"events": []}).status_code == 200
    secrets = [key["secret"], token_secret, service.admin_secret, tenant.key, tenant.writer_secret]

    found: list[tuple[str, str]] = []
    with service.store.read() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    stored = str(value)
                    for secret in secrets:
                        if secret in stored or secret[4:] in stored:
                            found.append((table, column))
        key_hash = connection.execute(
            text("SELECT secret_hash FROM personal_keys WHERE id = :id"), {"id": key["id"]}
        ).scalar_one()
        token_hash = connection.execute(
            text("SELECT secret_hash FROM service_tokens WHERE id = :id"), {"id": token.id}
        ).scalar_one()
    assert found == []
    assert key_hash == hashlib.sha256(key["secret"].encode()).hexdigest()
    assert token_hash == hashlib.sha256(token_secret.encode()).hexdigest()


# -- revoked and expired ---------------------------------------------------------------------


def test_a_revoked_key_is_rejected_at_once(service: Service, tenant: Tenant) -> None:
    key = new_key(service, tenant)
    assert export_status(service, key["secret"]) == 200
    assert service.admin.delete(f"{ADMIN}/keys/{key['id']}").status_code == 204
    response = service.client(key["secret"]).get(EXPORT)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert "revoked" in error["message"]
    # The tenant's other key is untouched.
    assert tenant.export().status_code == 200


def test_a_revoked_token_is_rejected_at_once(service: Service) -> None:
    token, secret = service.directory.create_token("revoked", ["admin"])
    assert service.client(secret).get(f"{ADMIN}/orgs").status_code == 200
    service.directory.revoke_token(token.id)
    response = service.client(secret).get(f"{ADMIN}/orgs")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "expires_at",
    [
        "2020-01-01",
        (datetime.now(UTC) - timedelta(seconds=2)).isoformat(),
        datetime.now(UTC).date().isoformat(),
    ],
    ids=["past-date", "seconds-ago", "today-at-midnight"],
)
def test_an_expired_key_is_rejected(service: Service, tenant: Tenant, expires_at: str) -> None:
    key = new_key(service, tenant, expiresAt=expires_at)
    response = service.client(key["secret"]).get(EXPORT)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthenticated"
    assert "expired" in error["message"]
    # Listed like any other key, with its expiry.
    assert listed_key(service, tenant, key["id"])["expiresAt"] == key["expiresAt"]


def test_a_key_expiring_tomorrow_works_today(service: Service, tenant: Tenant) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    key = new_key(service, tenant, expiresAt=tomorrow)
    assert key["expiresAt"] == f"{tomorrow}T00:00:00Z"
    assert export_status(service, key["secret"]) == 200


def test_edge_case_7_a_key_is_valid_while_now_is_before_its_expiry(
    service: Service, tenant: Tenant
) -> None:
    expiry = datetime(2031, 1, 2, tzinfo=UTC)
    clock = FakeClock(expiry - timedelta(days=1))
    directory = Directory(service.store, clock=clock)
    key, secret = directory.create_key(tenant.user_id, tenant.org_id, expires_at=expiry)

    clock.now = expiry - timedelta(microseconds=1)
    assert directory.authenticate(secret).id == key.id
    clock.now = expiry
    with pytest.raises(Unauthenticated, match="expired"):
        directory.authenticate(secret)
    clock.advance(days=400)
    with pytest.raises(Unauthenticated, match="expired"):
        directory.authenticate(secret)
    # A key may be created already expired (the command line warns; the API allows it).
    past, past_secret = directory.create_key(
        tenant.user_id, tenant.org_id, expires_at=clock.now - timedelta(days=1)
    )
    with pytest.raises(Unauthenticated, match="expired"):
        directory.authenticate(past_secret)
    assert past.expires_at is not None


def test_service_tokens_do_not_expire(service: Service) -> None:
    clock = FakeClock(datetime(2030, 1, 1, tzinfo=UTC))
    directory = Directory(service.store, clock=clock)
    token, secret = directory.create_token("long-lived", ["usage:write"])
    clock.advance(days=3650)
    assert directory.authenticate(secret).id == token.id


# -- last use --------------------------------------------------------------------------------


def test_edge_case_9_last_used_is_written_at_most_once_a_minute(
    service: Service, tenant: Tenant
) -> None:
    start = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    clock = FakeClock(start)
    directory = Directory(service.store, clock=clock)
    key, key_secret = directory.create_key(tenant.user_id, tenant.org_id, name="clocked")
    token, token_secret = directory.create_token("clocked", ["usage:write"])

    def last_used() -> tuple[datetime | None, datetime | None]:
        keys = {k.id: k for k in directory.list_keys(tenant.user_id)}
        tokens = {t.id: t for t in directory.list_tokens()}
        return keys[key.id].last_used_at, tokens[token.id].last_used_at

    assert last_used() == (None, None)
    used = directory.authenticate(key_secret)
    assert isinstance(used, PersonalKey)
    assert used.last_used_at == start
    assert isinstance(directory.authenticate(token_secret), ServiceToken)
    assert last_used() == (start, start)

    clock.advance(seconds=59.999)
    directory.authenticate(key_secret)
    directory.authenticate(token_secret)
    assert last_used() == (start, start)

    clock.now = start + timedelta(minutes=1)
    directory.authenticate(key_secret)
    directory.authenticate(token_secret)
    assert last_used() == (clock.now, clock.now)

    # A failed authentication (revoked) writes nothing.
    directory.revoke_key(key.id)
    clock.advance(minutes=5)
    with pytest.raises(Unauthenticated):
        directory.authenticate(key_secret)
    assert last_used()[0] == start + timedelta(minutes=1)


def test_edge_case_9_last_used_at_is_shown_after_use_over_http(
    service: Service, tenant: Tenant
) -> None:
    key = new_key(service, tenant)
    assert listed_key(service, tenant, key["id"])["lastUsedAt"] is None
    before = datetime.now(UTC) - timedelta(seconds=1)
    assert export_status(service, key["secret"]) == 200
    first = listed_key(service, tenant, key["id"])["lastUsedAt"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z", first)
    when = datetime.fromisoformat(first.replace("Z", "+00:00"))
    assert before <= when <= datetime.now(UTC) + timedelta(seconds=1)
    # Used again within the minute: not written again.
    assert export_status(service, key["secret"]) == 200
    assert listed_key(service, tenant, key["id"])["lastUsedAt"] == first


# -- membership and the key's organization ------------------------------------------------------


def test_a_key_whose_user_left_its_org_authenticates_but_reading_that_org_is_403(
    service: Service, tenant: Tenant
) -> None:
    admin = service.admin
    other = admin.post(f"{ADMIN}/orgs", json={"name": "Other"}).json()
    member_path = f"{ADMIN}/orgs/{other['id']}/members/{tenant.user_id}"
    assert admin.put(member_path, json={"role": "member"}).status_code == 200

    own_path = f"{ADMIN}/orgs/{tenant.org_id}/members/{tenant.user_id}"
    assert admin.delete(own_path).status_code == 204
    response = tenant.export()
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert tenant.export(orgId=tenant.org_id).status_code == 403
    # Still a valid key: it reads the organization its user is still in.
    assert tenant.export(orgId=other["id"]).status_code == 200
    # Removing from every organization keeps it authenticating: 403, not 401.
    assert admin.delete(member_path).status_code == 204
    assert tenant.export(orgId=other["id"]).status_code == 403
    # Taken back in, the key's own organization reads again on the next request.
    assert admin.put(own_path, json={"role": "member"}).status_code == 200
    assert tenant.export().status_code == 200


# -- the Authorization header ----------------------------------------------------------------------


def test_the_bearer_scheme_is_case_insensitive(service: Service, tenant: Tenant) -> None:
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        headers = {"Authorization": f"{scheme} {tenant.key}"}
        assert service.client().get(EXPORT, headers=headers).status_code == 200, scheme
        headers = {"Authorization": f"{scheme} {tenant.writer_secret}"}
        response = service.client().post(EVENTS, json={"events": []}, headers=headers)
        assert response.status_code == 200, scheme


def test_anything_else_in_the_authorization_header_is_401(service: Service, tenant: Tenant) -> None:
    key = tenant.key
    junk = [
        key,
        f"Basic {key}",
        f"Token {key}",
        "Bearer",
        "",
        f"Bearer {key} extra",
        f"Bearer {key}x",
        f"Bearer {key[:-1]}",
        f"Bearer {key.upper()}",
        f"Bearer\t{key}",
        f"Bearer: {key}",
        f"Bearer cmx_{key[4:]}",
        f"Bearer {key[4:]}",
        f"Bearer {key},{key}",
    ]
    for header in junk:
        response = service.client().get(EXPORT, headers={"Authorization": header})
        assert response.status_code == 401, header
        error = response.json()["error"]
        assert error["code"] == "unauthenticated"
        assert key not in error["message"]
