"""``/api/v1/admin``: the directory over HTTP, for a service token with the ``admin`` scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from creditmeter.directory import Directory, Member, PersonalKey, ServiceToken
from creditmeter.errors import InvalidParameter
from creditmeter.suggest import refuse_unknown
from creditmeter.timestamps import parse_expiry
from creditmeter.web.auth import caller
from creditmeter.web.models import (
    KeyCreate,
    KeyCreated,
    KeyOut,
    MemberOut,
    MembershipOut,
    MembershipPut,
    OrgCreate,
    OrgOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    error_responses,
)

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    dependencies=[Depends(caller)],
    responses=error_responses(401, 403, 503),
)

#: What an operation with a JSON body can also answer: the body is invalid or too large.
BODY_ERRORS = (400, 413)


def only_parameters(*known: str) -> Any:
    """A dependency that refuses query parameters other than ``known``, as the export does."""

    def check(request: Request) -> None:
        refuse_unknown(request.query_params.keys(), known)

    return Depends(check)


def _directory(request: Request) -> Directory:
    return request.app.state.directory


def _key_out(key: PersonalKey) -> KeyOut:
    return KeyOut.model_validate(key, from_attributes=True)


def _token_out(token: ServiceToken) -> TokenOut:
    return TokenOut.model_validate(token, from_attributes=True)


def _member_out(member: Member) -> MemberOut:
    return MemberOut.model_validate(member, from_attributes=True)


@router.post(
    "/orgs",
    operation_id="createOrganization",
    status_code=201,
    response_model=OrgOut,
    responses=error_responses(*BODY_ERRORS, 409),
)
def create_org(body: OrgCreate, request: Request) -> OrgOut:
    org = _directory(request).create_org(body.name, body.id)
    return OrgOut.model_validate(org, from_attributes=True)


@router.get(
    "/orgs",
    operation_id="listOrganizations",
    response_model=list[OrgOut],
    responses=error_responses(400),
    dependencies=[only_parameters()],
)
def list_orgs(request: Request) -> list[OrgOut]:
    return [OrgOut.model_validate(o, from_attributes=True) for o in _directory(request).list_orgs()]


@router.get(
    "/orgs/{orgId}",
    operation_id="getOrganization",
    response_model=OrgOut,
    responses=error_responses(404),
)
def get_org(orgId: str, request: Request) -> OrgOut:
    return OrgOut.model_validate(_directory(request).get_org(orgId), from_attributes=True)


@router.post(
    "/users",
    operation_id="createUser",
    status_code=201,
    response_model=UserOut,
    responses=error_responses(*BODY_ERRORS, 409),
)
def create_user(body: UserCreate, request: Request) -> UserOut:
    return UserOut.model_validate(_directory(request).create_user(body.email), from_attributes=True)


@router.get(
    "/users",
    operation_id="listUsers",
    response_model=list[UserOut],
    responses=error_responses(400),
    dependencies=[only_parameters("email")],
)
def list_users(request: Request, email: str | None = None) -> list[UserOut]:
    users = _directory(request).list_users(email)
    return [UserOut.model_validate(u, from_attributes=True) for u in users]


@router.get(
    "/users/{userId}",
    operation_id="getUser",
    response_model=UserOut,
    responses=error_responses(404),
)
def get_user(userId: str, request: Request) -> UserOut:
    return UserOut.model_validate(_directory(request).get_user(userId), from_attributes=True)


@router.get(
    "/orgs/{orgId}/members",
    operation_id="listMembers",
    response_model=list[MemberOut],
    responses=error_responses(400, 404),
    dependencies=[only_parameters()],
)
def list_members(orgId: str, request: Request) -> list[MemberOut]:
    return [_member_out(m) for m in _directory(request).members(orgId)]


@router.put(
    "/orgs/{orgId}/members/{userId}",
    operation_id="setMembership",
    response_model=MembershipOut,
    responses=error_responses(*BODY_ERRORS, 404),
)
def put_member(
    orgId: str,
    userId: str,
    body: MembershipPut,
    request: Request,
) -> MembershipOut:
    member = _directory(request).set_membership(orgId, userId, body.role)
    return MembershipOut.model_validate(member, from_attributes=True)


@router.delete(
    "/orgs/{orgId}/members/{userId}",
    operation_id="removeMember",
    status_code=204,
    responses=error_responses(404),
)
def delete_member(orgId: str, userId: str, request: Request) -> Response:
    _directory(request).remove_member(orgId, userId)
    return Response(status_code=204)


def expiry_instant(value: str | None) -> datetime | None:
    """A key's expiry: a date means 00:00 UTC that day; an instant must carry an offset."""
    if value is None:
        return None
    try:
        return parse_expiry(value)
    except ValueError as exc:
        raise InvalidParameter(f"'expiresAt': {exc}.", param="expiresAt") from None


@router.post(
    "/users/{userId}/keys",
    operation_id="createKey",
    status_code=201,
    response_model=KeyCreated,
    responses=error_responses(*BODY_ERRORS, 404),
)
def create_key(userId: str, body: KeyCreate, request: Request) -> KeyCreated:
    key, secret = _directory(request).create_key(
        userId, body.org_id, name=body.name, expires_at=expiry_instant(body.expires_at)
    )
    return KeyCreated(**_key_out(key).model_dump(), secret=secret)


@router.get(
    "/users/{userId}/keys",
    operation_id="listUserKeys",
    response_model=list[KeyOut],
    responses=error_responses(400, 404),
    dependencies=[only_parameters()],
)
def list_keys(userId: str, request: Request) -> list[KeyOut]:
    directory = _directory(request)
    directory.get_user(userId)
    return [_key_out(k) for k in directory.list_keys(userId)]


@router.delete(
    "/keys/{keyId}",
    operation_id="revokeKey",
    status_code=204,
    responses=error_responses(404),
)
def revoke_key(keyId: str, request: Request) -> Response:
    _directory(request).revoke_key(keyId)
    return Response(status_code=204)


@router.get(
    "/keys",
    operation_id="listKeys",
    response_model=list[KeyOut],
    responses=error_responses(400),
    dependencies=[only_parameters()],
)
def list_all_keys(request: Request) -> list[KeyOut]:
    """Every personal key, revoked and expired ones included (never a secret)."""
    return [_key_out(k) for k in _directory(request).list_keys()]


# Service tokens: everything `creditmeter token` does, over HTTP too.


@router.post(
    "/tokens",
    operation_id="createToken",
    status_code=201,
    response_model=TokenCreated,
    responses=error_responses(*BODY_ERRORS),
)
def create_token(body: TokenCreate, request: Request) -> TokenCreated:
    token, secret = _directory(request).create_token(body.name, body.scopes)
    return TokenCreated(**_token_out(token).model_dump(), secret=secret)


@router.get(
    "/tokens",
    operation_id="listTokens",
    response_model=list[TokenOut],
    responses=error_responses(400),
    dependencies=[only_parameters()],
)
def list_tokens(request: Request) -> list[TokenOut]:
    return [_token_out(t) for t in _directory(request).list_tokens()]


@router.delete(
    "/tokens/{tokenId}",
    operation_id="revokeToken",
    status_code=204,
    responses=error_responses(404),
)
def revoke_token(tokenId: str, request: Request) -> Response:
    _directory(request).revoke_token(tokenId)
    return Response(status_code=204)
