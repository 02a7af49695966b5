"""Who is calling: the bearer credential, and what each endpoint requires of it."""

from __future__ import annotations

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer

from creditmeter.directory import Credential, PersonalKey, ServiceToken
from creditmeter.errors import Forbidden, RateLimited, Unauthenticated
from creditmeter.scopes import ADMIN, USAGE_WRITE

# Declared for the OpenAPI document; the header is parsed by ``authenticate``.
bearer_scheme = HTTPBearer(
    auto_error=False,
    description="A personal API key (`cmk_…`) to read usage, or a service token (`cmt_…`).",
)


def authenticate(request: Request) -> Credential:
    """The credential of the request's ``Authorization: Bearer`` header, or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "No API key was sent. Send the header 'Authorization: Bearer <your API key>'."
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise Unauthenticated(
            "The Authorization header must be 'Bearer <your API key>', with nothing else."
        )
    return request.app.state.directory.authenticate(token)


def credential(request: Request, _: object = Security(bearer_scheme)) -> Credential:
    return authenticate(request)


#: The OpenAPI security requirement of a route that checks the bearer itself.
BEARER_REQUIRED = [{bearer_scheme.scheme_name: []}]


def usage_reader(request: Request) -> PersonalKey:
    """A personal key, within its rate limit: the only credential that reads usage.

    401, then 403, then 429. Called by the export route itself rather than
    declared as a dependency: the export is the hot path, and each sync
    dependency would cost a trip through the thread pool.
    """
    caller = authenticate(request)
    if not isinstance(caller, PersonalKey):
        raise Forbidden(
            "Service tokens cannot read usage; use a personal API key (it starts with 'cmk_')."
        )
    count_export_request(request, caller)
    return caller


def count_export_request(request: Request, key: PersonalKey) -> None:
    """Count one export request against the key's rate limit; RateLimited when over it."""
    wait = request.app.state.rate_limiter.acquire(key.id)
    if wait is not None:
        raise RateLimited(
            f"This key made too many export requests; try again in {wait} seconds.",
            retry_after=wait,
        )


def _scoped(scope: str, purpose: str):  # type: ignore[no-untyped-def]
    def require(caller: Credential = Depends(credential)) -> ServiceToken:
        if not isinstance(caller, ServiceToken):
            raise Forbidden(
                f"Personal API keys cannot {purpose}; use a service token with the '{scope}' scope."
            )
        if scope not in caller.scopes:
            raise Forbidden(f"This service token lacks the '{scope}' scope needed to {purpose}.")
        return caller

    return require


usage_writer = _scoped(USAGE_WRITE, "record usage")
administrator = _scoped(ADMIN, "manage the directory")
_SCOPE_CHECKS = (usage_writer, administrator)


def authorize(request: Request) -> Credential:
    """The caller, held to the scope the matched route requires: 401, then 403.

    For the error handler of a request FastAPI judged before running the route's
    dependencies (a malformed body), so that who may call comes first.
    """
    caller = authenticate(request)
    dependant = getattr(request.scope.get("route"), "dependant", None)
    for dependency in getattr(dependant, "dependencies", ()):
        if dependency.call in _SCOPE_CHECKS:
            dependency.call(caller)
    return caller
