"""SQL for the directory: organizations, users, memberships, personal keys, service tokens.

Rows come back as plain dicts keyed by column name. Inserting a row whose
unique key exists raises :class:`AlreadyExists`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from creditmeter.store.dialects import dialect_of
from creditmeter.store.driver import PreparedSelect, read_rows
from creditmeter.store.schema import (
    memberships,
    organizations,
    personal_keys,
    service_tokens,
    users,
)


class AlreadyExists(Exception):
    """A row with the same unique key is already stored."""


def _insert(connection: Connection, table: Table, row: dict[str, Any]) -> None:
    try:
        with connection.begin_nested():
            connection.execute(table.insert().values(**row))
    except IntegrityError as exc:
        raise AlreadyExists(table.name) from exc


def _storable(*values: str | None) -> bool:
    """False when a value holds NUL, which PostgreSQL text cannot: no stored key holds one.

    Looking such a value up then finds nothing, as on SQLite, instead of an error.
    """
    return not any(value and "\x00" in value for value in values)


def _one(connection: Connection, query: Any) -> dict[str, Any] | None:
    row = connection.execute(query).mappings().first()
    return dict(row) if row is not None else None


def _all(connection: Connection, query: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in connection.execute(query).mappings()]


# -- organizations ---------------------------------------------------------------


def insert_org(connection: Connection, row: dict[str, Any]) -> None:
    _insert(connection, organizations, row)


def get_org(connection: Connection, org_id: str) -> dict[str, Any] | None:
    if not _storable(org_id):
        return None
    return _one(connection, select(organizations).where(organizations.c.id == org_id))


def list_orgs(connection: Connection) -> list[dict[str, Any]]:
    return _all(connection, select(organizations).order_by(organizations.c.id))


def existing_org_ids(connection: Connection, org_ids: Iterable[str]) -> set[str]:
    """Those of ``org_ids`` that are organizations of the directory."""
    wanted = sorted(org_id for org_id in set(org_ids) if _storable(org_id))
    found: set[str] = set()
    # In slices, so that a batch of many organizations stays within any bound-parameter limit.
    for start in range(0, len(wanted), 500):
        query = select(organizations.c.id).where(
            organizations.c.id.in_(wanted[start : start + 500])
        )
        found.update(connection.execute(query).scalars())
    return found


# -- users -----------------------------------------------------------------------


def insert_user(connection: Connection, row: dict[str, Any]) -> None:
    _insert(connection, users, row)


def get_user(connection: Connection, user_id: str) -> dict[str, Any] | None:
    if not _storable(user_id):
        return None
    return _one(connection, select(users).where(users.c.id == user_id))


def get_user_by_email(connection: Connection, email: str) -> dict[str, Any] | None:
    if not _storable(email):
        return None
    return _one(connection, select(users).where(users.c.email == email))


def list_users(connection: Connection) -> list[dict[str, Any]]:
    return _all(connection, select(users).order_by(users.c.email))


# -- memberships -----------------------------------------------------------------


def is_member(connection: Connection, org_id: str, user_id: str) -> bool:
    """Whether the user is a member of the organization: on every export, so plain SQL."""
    if not _storable(org_id, user_id):
        return False
    mark = dialect_of(connection).mark
    found = read_rows(
        connection,
        f"SELECT 1 FROM memberships WHERE org_id = {mark} AND user_id = {mark}",
        (org_id, user_id),
    )
    return bool(found)


def get_membership(connection: Connection, org_id: str, user_id: str) -> dict[str, Any] | None:
    if not _storable(org_id, user_id):
        return None
    query = select(memberships).where(
        memberships.c.org_id == org_id, memberships.c.user_id == user_id
    )
    return _one(connection, query)


def insert_membership(connection: Connection, row: dict[str, Any]) -> None:
    _insert(connection, memberships, row)


def update_role(connection: Connection, org_id: str, user_id: str, role: str) -> None:
    connection.execute(
        update(memberships)
        .where(memberships.c.org_id == org_id, memberships.c.user_id == user_id)
        .values(role=role)
    )


def delete_membership(connection: Connection, org_id: str, user_id: str) -> bool:
    if not _storable(org_id, user_id):
        return False
    result = connection.execute(
        delete(memberships).where(memberships.c.org_id == org_id, memberships.c.user_id == user_id)
    )
    return result.rowcount > 0


def list_members(connection: Connection, org_id: str) -> list[dict[str, Any]]:
    if not _storable(org_id):
        return []
    query = (
        select(memberships.c.org_id, memberships.c.user_id, users.c.email, memberships.c.role)
        .join(users, users.c.id == memberships.c.user_id)
        .where(memberships.c.org_id == org_id)
        .order_by(users.c.email)
    )
    return _all(connection, query)


def list_memberships_of_user(connection: Connection, user_id: str) -> list[dict[str, Any]]:
    query = (
        select(memberships.c.org_id, organizations.c.name, memberships.c.role)
        .join(organizations, organizations.c.id == memberships.c.org_id)
        .where(memberships.c.user_id == user_id)
        .order_by(memberships.c.org_id)
    )
    return _all(connection, query)


# -- personal keys and service tokens --------------------------------------------


def insert_personal_key(connection: Connection, row: dict[str, Any]) -> None:
    _insert(connection, personal_keys, row)


def insert_service_token(connection: Connection, row: dict[str, Any]) -> None:
    _insert(connection, service_tokens, row)


def _credential_table(kind: str) -> Table:
    return personal_keys if kind == "personal_key" else service_tokens


def get_credential(connection: Connection, kind: str, credential_id: str) -> dict[str, Any] | None:
    """A personal key (``kind='personal_key'``) or service token by its public id."""
    if not _storable(credential_id):
        return None
    table = _credential_table(kind)
    return _one(connection, select(table).where(table.c.id == credential_id))


# Built and compiled once, read through the driver: every request looks its
# credential up, and SQLAlchemy's statement and result set-up cost more than the
# lookup itself. A personal key comes with its user's email.
_BY_HASH = {
    "personal_key": PreparedSelect(
        select(personal_keys, users.c.email)
        .join(users, users.c.id == personal_keys.c.user_id)
        .where(personal_keys.c.secret_hash == bindparam("secret_hash"))
    ),
    "service_token": PreparedSelect(
        select(service_tokens).where(service_tokens.c.secret_hash == bindparam("secret_hash"))
    ),
}


def get_credential_by_hash(
    connection: Connection, kind: str, secret_hash: str
) -> dict[str, Any] | None:
    """The personal key (with its user's ``email``) or service token with this secret hash."""
    found = _BY_HASH[kind].mappings(connection, {"secret_hash": secret_hash})
    return found[0] if found else None


def list_personal_keys(connection: Connection, user_id: str | None = None) -> list[dict[str, Any]]:
    if not _storable(user_id):
        return []
    query = select(personal_keys, users.c.email).join(users, users.c.id == personal_keys.c.user_id)
    if user_id is not None:
        query = query.where(personal_keys.c.user_id == user_id)
    return _all(connection, query.order_by(personal_keys.c.created_at, personal_keys.c.id))


def list_service_tokens(connection: Connection) -> list[dict[str, Any]]:
    query = select(service_tokens).order_by(service_tokens.c.created_at, service_tokens.c.id)
    return _all(connection, query)


def revoke_credential(
    connection: Connection, kind: str, credential_id: str, when: datetime
) -> None:
    """Set the revocation time, keeping the first one when already revoked."""
    table = _credential_table(kind)
    connection.execute(
        update(table)
        .where(table.c.id == credential_id, table.c.revoked_at.is_(None))
        .values(revoked_at=when)
    )


def touch_credential(connection: Connection, kind: str, credential_id: str, when: datetime) -> None:
    table = _credential_table(kind)
    connection.execute(update(table).where(table.c.id == credential_id).values(last_used_at=when))
