"""Who may read and change an organization's alerts and webhooks: any member reads;
owners and admins write (``usage-alerts.md``, "Endpoints")."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from creditmeter.errors import Forbidden, NotFound
from creditmeter.store import directory as directory_sql

#: The roles that may create, change, delete, rotate and test.
WRITERS = ("owner", "admin")


@dataclass(frozen=True)
class Actor:
    """A person acting through the API (``user_id``); the command line acts as no one."""

    user_id: str


def role_of(connection: Connection, org_id: str, actor: Actor | None) -> str | None:
    """The actor's role in the organization, None when not a member. The command line
    (``actor`` None) acts as an owner."""
    if actor is None:
        return "owner"
    membership = directory_sql.get_membership(connection, org_id, actor.user_id)
    return membership["role"] if membership is not None else None


def check_org(connection: Connection, org_id: str, actor: Actor | None) -> str:
    """403 unless the organization exists and the actor is a member of it (the export's
    words); returns the role. The command line gets 404 for an unknown organization."""
    if actor is None:
        if directory_sql.get_org(connection, org_id) is None:
            raise NotFound(f"There is no organization '{org_id}'.", param="orgId")
        return "owner"
    role = role_of(connection, org_id, actor)
    if role is None:
        raise Forbidden(
            f"You are not a member of the organization '{org_id}'. Ask one of its admins "
            "to add you, or use another orgId."
        )
    return role


def check_writer(role: str, what: str) -> None:
    """403 unless ``role`` may change ``what`` (\"alerts\", \"webhooks\")."""
    if role not in WRITERS:
        raise Forbidden(
            f"Only owners and admins of the organization can change its {what}; "
            f"your role is '{role}'."
        )
