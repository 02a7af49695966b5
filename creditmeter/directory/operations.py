"""The directory's operations: :class:`Directory`, the one door to it.

Creating, reading and removing organizations, users, memberships, personal
keys and service tokens, each checked by the rules of the contract; and
:meth:`Directory.authenticate`, which hands the secret to
:mod:`~creditmeter.directory.authentication`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from creditmeter import credentials
from creditmeter.directory.authentication import authenticate
from creditmeter.directory.names import display_name, normalise_email
from creditmeter.directory.records import (
    Credential,
    Member,
    Organization,
    OrgMembership,
    PersonalKey,
    ServiceToken,
    User,
    key_of,
    org_of,
    token_of,
    user_of,
)
from creditmeter.errors import Conflict, InvalidParameter, NotFound
from creditmeter.roles import DEFAULT_ROLE, ROLES
from creditmeter.scopes import SCOPES
from creditmeter.store import Store
from creditmeter.store import directory as sql
from creditmeter.store.directory import AlreadyExists
from creditmeter.strings import string_problem

if TYPE_CHECKING:
    from sqlalchemy import Connection


def utcnow() -> datetime:
    return datetime.now(UTC)


class Directory:
    """Organizations, users, memberships and credentials in one store."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock

    # -- organizations ---------------------------------------------------------------

    def create_org(self, name: str, org_id: str | None = None) -> Organization:
        name = display_name(name, "An organization")
        if org_id is None:
            org_id = credentials.new_id("org_")
        elif (problem := string_problem(org_id)) is not None:
            raise InvalidParameter(f"The organization id {problem}.", param="id")
        org = Organization(id=org_id, name=name, created_at=self.clock())
        try:
            with self.store.write() as connection:
                sql.insert_org(connection, org.__dict__)
        except AlreadyExists:
            raise Conflict(
                f"An organization with id '{org_id}' already exists; choose another id.",
                param="id",
            ) from None
        return org

    def get_org(self, org_id: str) -> Organization:
        with self.store.read() as connection:
            row = sql.get_org(connection, org_id)
        if row is None:
            raise NotFound(f"No organization has the id '{org_id}'.", param="orgId")
        return org_of(row)

    def list_orgs(self) -> list[Organization]:
        with self.store.read() as connection:
            return [org_of(row) for row in sql.list_orgs(connection)]

    # -- users -------------------------------------------------------------------------

    def create_user(self, email: str) -> User:
        user = User(
            id=credentials.new_id("usr_"), email=normalise_email(email), created_at=self.clock()
        )
        try:
            with self.store.write() as connection:
                sql.insert_user(connection, user.__dict__)
        except AlreadyExists:
            raise Conflict(
                f"A user with the email '{user.email}' already exists.", param="email"
            ) from None
        return user

    def get_user(self, user_id: str) -> User:
        with self.store.read() as connection:
            row = sql.get_user(connection, user_id)
        if row is None:
            raise NotFound(f"No user has the id '{user_id}'.", param="userId")
        return user_of(row)

    def find_user(self, email: str) -> User:
        """The user with this email; NotFound names the email."""
        with self.store.read() as connection:
            row = sql.get_user_by_email(connection, normalise_email(email))
        if row is None:
            raise NotFound(f"No user has the email '{email}'.", param="email")
        return user_of(row)

    def list_users(self, email: str | None = None) -> list[User]:
        with self.store.read() as connection:
            if email is None:
                return [user_of(row) for row in sql.list_users(connection)]
            row = sql.get_user_by_email(connection, normalise_email(email))
        return [user_of(row)] if row is not None else []

    # -- memberships ---------------------------------------------------------------------

    def set_membership(self, org_id: str, user_id: str, role: str | None = None) -> Member:
        """Add a member (role ``member`` unless given) or change an existing one's role.

        An existing member with ``role=None`` is left as they are.
        """
        if role is not None and role not in ROLES:
            raise InvalidParameter(
                f"'{role}' is not a role; use one of {', '.join(ROLES)}.", param="role"
            )
        with self.store.write() as connection:
            if sql.get_org(connection, org_id) is None:
                raise NotFound(f"No organization has the id '{org_id}'.", param="orgId")
            user = sql.get_user(connection, user_id)
            if user is None:
                raise NotFound(f"No user has the id '{user_id}'.", param="userId")
            existing = sql.get_membership(connection, org_id, user_id)
            if existing is None:
                role = role or DEFAULT_ROLE
                sql.insert_membership(
                    connection,
                    {
                        "org_id": org_id,
                        "user_id": user_id,
                        "role": role,
                        "created_at": self.clock(),
                    },
                )
            elif role is not None and role != existing["role"]:
                sql.update_role(connection, org_id, user_id, role)
            else:
                role = existing["role"]
        return Member(org_id=org_id, user_id=user_id, email=user["email"], role=role)

    def remove_member(self, org_id: str, user_id: str) -> None:
        with self.store.write() as connection:
            if sql.get_org(connection, org_id) is None:
                raise NotFound(f"No organization has the id '{org_id}'.", param="orgId")
            if not sql.delete_membership(connection, org_id, user_id):
                raise NotFound(
                    f"User '{user_id}' is not a member of organization '{org_id}'.",
                    param="userId",
                )

    def members(self, org_id: str) -> list[Member]:
        with self.store.read() as connection:
            if sql.get_org(connection, org_id) is None:
                raise NotFound(f"No organization has the id '{org_id}'.", param="orgId")
            return [Member(**row) for row in sql.list_members(connection, org_id)]

    def memberships_of(self, user_id: str) -> list[OrgMembership]:
        with self.store.read() as connection:
            return [
                OrgMembership(**row) for row in sql.list_memberships_of_user(connection, user_id)
            ]

    def is_member(self, org_id: str, user_id: str, connection: Connection | None = None) -> bool:
        """Whether the user is a member now; in ``connection``'s transaction when given."""
        if connection is not None:
            return sql.is_member(connection, org_id, user_id)
        with self.store.read() as connection:
            return sql.is_member(connection, org_id, user_id)

    # -- personal keys ---------------------------------------------------------------------

    def create_key(
        self,
        user_id: str,
        org_id: str,
        *,
        name: str | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[PersonalKey, str]:
        """Issue a personal key for a member of ``org_id``; return it and its secret."""
        if expires_at is not None and expires_at.tzinfo is None:
            raise InvalidParameter("The expiry needs a time zone offset.", param="expiresAt")
        label = display_name(name, "A personal key") if name else "personal key"
        secret = credentials.new_secret(credentials.PERSONAL_KEY_PREFIX)
        now = self.clock()
        with self.store.write() as connection:
            user = sql.get_user(connection, user_id)
            if user is None:
                raise NotFound(f"No user has the id '{user_id}'.", param="userId")
            if sql.get_org(connection, org_id) is None:
                raise NotFound(f"No organization has the id '{org_id}'.", param="orgId")
            if sql.get_membership(connection, org_id, user_id) is None:
                raise InvalidParameter(
                    f"{user['email']} is not a member of '{org_id}'. Add them to the "
                    "organization first, or issue the key for one they belong to.",
                    param="orgId",
                )
            row = {
                "id": credentials.new_id("ukey_"),
                "user_id": user_id,
                "org_id": org_id,
                "name": label,
                "secret_hash": credentials.hash_secret(secret),
                "created_at": now,
                "expires_at": expires_at,
                "last_used_at": None,
                "revoked_at": None,
            }
            sql.insert_personal_key(connection, row)
        return key_of(row, user["email"]), secret

    def list_keys(self, user_id: str | None = None) -> list[PersonalKey]:
        with self.store.read() as connection:
            return [
                key_of(row, row["email"]) for row in sql.list_personal_keys(connection, user_id)
            ]

    def revoke_key(self, key_id: str) -> None:
        self._revoke("personal_key", key_id, "personal key", "keyId")

    # -- service tokens -------------------------------------------------------------------

    def create_token(self, name: str, scopes: Iterable[str]) -> tuple[ServiceToken, str]:
        """Issue a service token with these scopes; return it and its secret."""
        wanted = tuple(dict.fromkeys(scopes))
        if not wanted:
            raise InvalidParameter(
                f"A service token needs at least one scope: {', '.join(SCOPES)}.", param="scope"
            )
        for scope in wanted:
            if scope not in SCOPES:
                raise InvalidParameter(
                    f"'{scope}' is not a scope; use {' or '.join(SCOPES)}.", param="scope"
                )
        name = display_name(name, "A service token")
        secret = credentials.new_secret(credentials.SERVICE_TOKEN_PREFIX)
        row = {
            "id": credentials.new_id("tok_"),
            "name": name,
            "scopes": " ".join(wanted),
            "secret_hash": credentials.hash_secret(secret),
            "created_at": self.clock(),
            "last_used_at": None,
            "revoked_at": None,
        }
        with self.store.write() as connection:
            sql.insert_service_token(connection, row)
        return token_of(row), secret

    def list_tokens(self) -> list[ServiceToken]:
        with self.store.read() as connection:
            return [token_of(row) for row in sql.list_service_tokens(connection)]

    def revoke_token(self, token_id: str) -> None:
        self._revoke("service_token", token_id, "service token", "tokenId")

    def _revoke(self, kind: str, credential_id: str, noun: str, param: str) -> None:
        with self.store.write() as connection:
            if sql.get_credential(connection, kind, credential_id) is None:
                raise NotFound(f"No {noun} has the id '{credential_id}'.", param=param)
            sql.revoke_credential(connection, kind, credential_id, self.clock())

    # -- authentication --------------------------------------------------------------------

    def authenticate(self, secret: str) -> Credential:
        """The live credential whose secret this is; Unauthenticated otherwise."""
        return authenticate(self.store, secret, self.clock())
