"""Who is calling, and what each API route requires of them: the one place access is declared.

:data:`ACCESS` says, route by route, which credential may call it.
:func:`checked_caller` holds a request to it (401, then 403); routes call it,
and so does the error handler, through :func:`caller_first`, for a request
that failed before its route ran (a malformed or oversized body): who may
call is always judged first.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Security
from fastapi.security import HTTPBearer

from creditmeter.directory import Credential, PersonalKey, ServiceToken
from creditmeter.errors import Forbidden, RateLimited, ServiceError, Unauthenticated
from creditmeter.scopes import ADMIN, USAGE_WRITE

# Declared for the OpenAPI document; the header is parsed by ``authenticate``.
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A personal API key (`cmk_…`) to read usage, or a service token (`cmt_…`).",
)

#: The OpenAPI security requirement of a route that checks the bearer itself.
BEARER_REQUIRED = [{bearer_scheme.scheme_name: []}]


@dataclass(frozen=True)
class Access:
    """What a route requires: a personal key (``scope`` None) or a token with ``scope``."""

    scope: str | None
    #: What the caller is doing, as the refusal words it ("record usage").
    purpose: str

    def judge(self, caller: Credential) -> None:
        """Forbidden unless ``caller`` is the kind of credential this access requires."""
        if self.scope is None:
            if not isinstance(caller, PersonalKey):
                raise Forbidden(
                    f"Service tokens cannot {self.purpose}; use a personal API key "
                    "(it starts with 'cmk_')."
                )
            return
        if not isinstance(caller, ServiceToken):
            raise Forbidden(
                f"Personal API keys cannot {self.purpose}; use a service token with the "
                f"'{self.scope}' scope."
            )
        if self.scope not in caller.scopes:
            raise Forbidden(
                f"This service token lacks the '{self.scope}' scope needed to {self.purpose}."
            )


READ_USAGE = Access(None, "read usage")
RECORD_USAGE = Access(USAGE_WRITE, "record usage")
ADMINISTER = Access(ADMIN, "manage the directory")
MANAGE_ALERTS = Access(None, "manage alerts and webhooks")
VOID_USAGE = Access(USAGE_WRITE, "void usage")
READ_CARD = Access(None, "read the rate card")

#: Path (a prefix when it ends in ``/``) → what its routes require of the caller.
ACCESS = {
    "/api/v1/usage/export": READ_USAGE,
    "/api/v1/usage/events": RECORD_USAGE,
    "/api/v1/usage/events/void": VOID_USAGE,
    "/api/v1/admin/": ADMINISTER,
    "/api/v1/rates": READ_CARD,
    "/api/v1/alerts": MANAGE_ALERTS,
    "/api/v1/alerts/": MANAGE_ALERTS,
    "/api/v1/webhooks": MANAGE_ALERTS,
    "/api/v1/webhooks/": MANAGE_ALERTS,
}


def access_of(path: str) -> Access | None:
    """What the route at ``path`` requires of its caller; None for pages and probes."""
    for declared, access in ACCESS.items():
        if path == declared or (declared.endswith("/") and path.startswith(declared)):
            return access
    return None


def authenticate(request: Request) -> Credential:
    """The credential of the request's ``Authorization: Bearer`` header, or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "No API key was sent. Send the header 'Authorization: Bearer <your API key>'."
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or len(token.split()) != 1:  # empty, or inner spaces
        raise Unauthenticated(
            "The Authorization header must be 'Bearer <your API key>', with nothing else."
        )
    return request.app.state.directory.authenticate(token)


def checked_caller(request: Request) -> Credential:
    """The caller, held to what the request's route requires (:data:`ACCESS`): 401, then 403."""
    access = access_of(request.scope["path"])
    if access is None:
        raise LookupError(f"{request.scope['path']} is not in web.auth.ACCESS")
    caller = authenticate(request)
    access.judge(caller)
    return caller


def caller(request: Request, _: object = Security(bearer_scheme)) -> Credential:
    """:func:`checked_caller` as a route dependency (it documents the bearer scheme)."""
    return checked_caller(request)


def caller_first(request: Request) -> ServiceError | None:
    """The 401 or 403 the caller earns, for an error raised before the route ran; else None."""
    if access_of(request.scope["path"]) is None:
        return None
    try:
        checked_caller(request)
    except ServiceError as error:
        return error
    return None


def usage_reader(request: Request) -> PersonalKey:
    """A personal key, within its rate limit: 401, then 403, then 429.

    Called by the export route itself rather than declared as a dependency:
    the export is the hot path, and each sync dependency would cost a trip
    through the thread pool.
    """
    key = checked_caller(request)
    assert isinstance(key, PersonalKey)  # READ_USAGE admits nothing else
    count_export_request(request, key)
    return key


def count_export_request(request: Request, key: PersonalKey) -> None:
    """Count one export request against the key's rate limit; RateLimited when over it."""
    wait = request.app.state.rate_limiter.acquire(key.id)
    if wait is not None:
        raise RateLimited(
            f"This key made too many export requests; try again in {wait} seconds.",
            retry_after=wait,
        )
