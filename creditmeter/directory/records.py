"""What the directory holds, as the rest of creditmeter sees it: frozen records.

Organizations, users, memberships, personal keys and service tokens; never a
secret or its hash. The ``*_of`` functions build them from the store's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class User:
    id: str
    email: str
    created_at: datetime


@dataclass(frozen=True)
class Member:
    org_id: str
    user_id: str
    email: str
    role: str


@dataclass(frozen=True)
class OrgMembership:
    org_id: str
    name: str
    role: str


@dataclass(frozen=True)
class PersonalKey:
    """A user's key for reading usage; ``org_id`` is the organization it was issued for."""

    id: str
    user_id: str
    email: str
    org_id: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class ServiceToken:
    """A machine's credential; ``scopes`` holds ``usage:write`` and/or ``admin``."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


Credential = PersonalKey | ServiceToken


def org_of(row: dict[str, Any]) -> Organization:
    return Organization(id=row["id"], name=row["name"], created_at=row["created_at"])


def user_of(row: dict[str, Any]) -> User:
    return User(id=row["id"], email=row["email"], created_at=row["created_at"])


def key_of(row: dict[str, Any], email: str) -> PersonalKey:
    return PersonalKey(
        id=row["id"],
        user_id=row["user_id"],
        email=email,
        org_id=row["org_id"],
        name=row["name"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


def token_of(row: dict[str, Any]) -> ServiceToken:
    return ServiceToken(
        id=row["id"],
        name=row["name"],
        scopes=tuple(row["scopes"].split()),
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )
