"""``creditmeter org|user|member|key|token``: the directory from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer

from creditmeter.cli.common import (
    DatabaseUrl,
    JsonOutput,
    opened_directory,
    print_json,
    reports_errors,
    warn,
)
from creditmeter.directory import PersonalKey, ServiceToken
from creditmeter.roles import DEFAULT_ROLE, ROLES
from creditmeter.scopes import SCOPES
from creditmeter.timestamps import format_instant, parse_expiry
from creditmeter.web.models import (
    KeyCreated,
    KeyOut,
    MemberOut,
    MembershipOut,
    OrgOut,
    TokenCreated,
    TokenOut,
    UserOut,
)

org_app = typer.Typer(help="Organizations: who is billed.", no_args_is_help=True)
user_app = typer.Typer(help="Users: the people who read usage.", no_args_is_help=True)
member_app = typer.Typer(
    help="Memberships: which users belong to which organizations.", no_args_is_help=True
)
key_app = typer.Typer(help="Personal API keys: how a user reads usage.", no_args_is_help=True)
token_app = typer.Typer(
    help="Service tokens: how machines record usage and administer.", no_args_is_help=True
)


# Typer offers an enum's values as the option's choices.
Role = StrEnum("Role", {role: role for role in ROLES})
Scope = StrEnum("Scope", {scope: scope for scope in SCOPES})


def _short(moment: datetime | None) -> str:
    """A table cell: minutes are enough for a person reading a list."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


# -- organizations ------------------------------------------------------------------


@org_app.command("create")
@reports_errors
def org_create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The organization's display name.")],
    org_id: Annotated[
        str | None,
        typer.Option("--id", metavar="ID", help="Its id [default: a generated org_…]"),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Create an organization; prints its id."""
    with opened_directory(database_url) as directory:
        org = directory.create_org(name, org_id)
    if json_output:
        print_json(OrgOut.model_validate(org, from_attributes=True))
    else:
        typer.echo(f"{org.id}\t{org.name}")


@org_app.command("list")
@reports_errors
def org_list(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """List organizations."""
    with opened_directory(database_url) as directory:
        orgs = directory.list_orgs()
    if json_output:
        print_json([OrgOut.model_validate(o, from_attributes=True) for o in orgs])
        return
    for org in orgs:
        typer.echo(f"{org.id}\t{org.name}")


# -- users ----------------------------------------------------------------------------


@user_app.command("create")
@reports_errors
def user_create(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email, unique.")],
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Create a user; prints their id."""
    with opened_directory(database_url) as directory:
        user = directory.create_user(email)
    if json_output:
        print_json(UserOut.model_validate(user, from_attributes=True))
    else:
        typer.echo(f"{user.id}\t{user.email}")


@user_app.command("list")
@reports_errors
def user_list(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """List users."""
    with opened_directory(database_url) as directory:
        users = directory.list_users()
    if json_output:
        print_json([UserOut.model_validate(u, from_attributes=True) for u in users])
        return
    for user in users:
        typer.echo(f"{user.id}\t{user.email}")


# -- memberships ----------------------------------------------------------------------


@member_app.command("add")
@reports_errors
def member_add(
    org_id: Annotated[str, typer.Argument(metavar="ORG_ID", help="The organization's id.")],
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email.")],
    role: Annotated[
        Role | None,
        typer.Option(
            metavar=f"[{'|'.join(ROLES)}]",
            help=f"The member's role [default: {DEFAULT_ROLE} for a new member; "
            "an existing member's role is kept]",
            show_default=False,
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Add a user to an organization, or change their role."""
    with opened_directory(database_url) as directory:
        user = directory.find_user(email)
        member = directory.set_membership(org_id, user.id, role.value if role else None)
    if json_output:
        print_json(MembershipOut.model_validate(member, from_attributes=True))
    else:
        typer.echo(f"{member.user_id}\t{member.email}\t{member.role}\t{member.org_id}")


@member_app.command("remove")
@reports_errors
def member_remove(
    org_id: Annotated[str, typer.Argument(metavar="ORG_ID", help="The organization's id.")],
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user's email.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a user from an organization (their access ends on the next request)."""
    with opened_directory(database_url) as directory:
        user = directory.find_user(email)
        directory.remove_member(org_id, user.id)
    typer.echo(f"{user.id}\t{user.email}\tremoved from {org_id}")


@member_app.command("list")
@reports_errors
def member_list(
    org_id: Annotated[str, typer.Argument(metavar="ORG_ID", help="The organization's id.")],
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """List an organization's members."""
    with opened_directory(database_url) as directory:
        members = directory.members(org_id)
    if json_output:
        print_json([MemberOut.model_validate(m, from_attributes=True) for m in members])
        return
    for member in members:
        typer.echo(f"{member.user_id}\t{member.email}\t{member.role}")


# -- personal keys --------------------------------------------------------------------


def _expiry(text: str) -> datetime:
    try:
        return parse_expiry(text)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}.", param_hint="'--expires'") from None


def _key_json(key: PersonalKey) -> KeyOut:
    return KeyOut.model_validate(key, from_attributes=True)


@key_app.command("create")
@reports_errors
def key_create(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The user the key belongs to.")],
    org: Annotated[
        str,
        typer.Option(
            "--org",
            metavar="ORG_ID",
            help="The organization it reads by default; the user must be a member.",
        ),
    ],
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="A label to recognise it by.")
    ] = None,
    expires: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="yyyy-mm-dd (stops at 00:00 UTC that day) or an RFC 3339 instant.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Create a personal API key; prints the secret once."""
    expires_at = _expiry(expires) if expires is not None else None
    with opened_directory(database_url) as directory:
        user = directory.find_user(email)
        key, secret = directory.create_key(user.id, org, name=name, expires_at=expires_at)
        if expires_at is not None and expires_at <= directory.clock():
            warn(
                f"The key expires at {format_instant(expires_at)}, in the past: "
                "it is already expired."
            )
    if json_output:
        print_json(KeyCreated(**_key_json(key).model_dump(), secret=secret))
        return
    typer.echo(f"{key.id}\t{key.name}\t{key.org_id}")
    typer.echo(f"secret: {secret}")
    typer.echo("Store the secret now: it is shown this once.")


@key_app.command("list")
@reports_errors
def key_list(
    email: Annotated[
        str | None, typer.Argument(metavar="[EMAIL]", help="Only this user's keys.")
    ] = None,
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """List personal keys (never their secrets), revoked and expired ones included."""
    with opened_directory(database_url) as directory:
        user_id = directory.find_user(email).id if email is not None else None
        keys = directory.list_keys(user_id)
        now = directory.clock()
    if json_output:
        print_json([_key_json(k) for k in keys])
        return
    for key in keys:
        status = (
            "revoked"
            if key.revoked_at
            else "expired"
            if key.expires_at and key.expires_at <= now
            else "active"
        )
        typer.echo(
            f"{key.id}\t{key.name}\t{key.email}\t{key.org_id}\t{status}\t"
            f"created {_short(key.created_at)}\texpires {_short(key.expires_at)}\t"
            f"last used {_short(key.last_used_at)}"
        )


@key_app.command("revoke")
@reports_errors
def key_revoke(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID", help="The key's public id (ukey_…).")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a personal key; it stops working at once. Revoking twice is fine."""
    with opened_directory(database_url) as directory:
        directory.revoke_key(key_id)
    typer.echo(f"{key_id}\trevoked")


# -- service tokens -------------------------------------------------------------------


def _token_json(token: ServiceToken) -> TokenOut:
    return TokenOut.model_validate(token, from_attributes=True)


@token_app.command("create")
@reports_errors
def token_create(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="What the token is for, e.g. 'api gateway'.")
    ],
    scope: Annotated[
        list[Scope],
        typer.Option(
            "--scope",
            metavar="[usage:write|admin]",
            help="usage:write (record usage) and/or admin (the directory); repeatable.",
        ),
    ],
    database_url: DatabaseUrl = None,
    json_output: JsonOutput = False,
) -> None:
    """Create a service token; prints the secret once."""
    with opened_directory(database_url) as directory:
        token, secret = directory.create_token(name, [s.value for s in scope])
    if json_output:
        print_json(TokenCreated(**_token_json(token).model_dump(), secret=secret))
        return
    typer.echo(f"{token.id}\t{token.name}\t{' '.join(token.scopes)}")
    typer.echo(f"secret: {secret}")
    typer.echo("Store the secret now: it is shown this once.")


@token_app.command("list")
@reports_errors
def token_list(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """List service tokens (never their secrets)."""
    with opened_directory(database_url) as directory:
        tokens = directory.list_tokens()
    if json_output:
        print_json([_token_json(t) for t in tokens])
        return
    for token in tokens:
        status = "revoked" if token.revoked_at else "active"
        typer.echo(
            f"{token.id}\t{token.name}\t{' '.join(token.scopes)}\t{status}\t"
            f"created {_short(token.created_at)}\tlast used {_short(token.last_used_at)}"
        )


@token_app.command("revoke")
@reports_errors
def token_revoke(
    token_id: Annotated[
        str, typer.Argument(metavar="TOKEN_ID", help="The token's public id (tok_…).")
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a service token; it stops working at once. Revoking twice is fine."""
    with opened_directory(database_url) as directory:
        directory.revoke_token(token_id)
    typer.echo(f"{token_id}\trevoked")


__all__ = ["key_app", "member_app", "org_app", "token_app", "user_app"]
