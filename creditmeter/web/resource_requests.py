"""What ``/api/v1/alerts`` and ``/api/v1/webhooks`` routes share: the caller, the query,
the JSON body and the answer, checked in the contract's order (``usage-alerts.md``
edge case 1): 401, 403 (not a personal key), 429 (the export's budget), 400 (query,
then 415, then the body), then the operation's own checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response

from creditmeter.alerts import read_body
from creditmeter.directory import PersonalKey
from creditmeter.errors import DuplicateParameter, InvalidParameter, UnsupportedMediaType
from creditmeter.org_access import Actor
from creditmeter.strings import string_problem
from creditmeter.suggest import refuse_unknown
from creditmeter.web.auth import checked_caller, count_export_request
from creditmeter.webhooks.outbox import encode


@dataclass(frozen=True)
class Caller:
    """Who calls: the key's user, and the organization the key was issued for."""

    actor: Actor
    key_org_id: str


def caller(request: Request) -> Caller:
    """The personal key's user, within the key's export rate limit (401, 403, 429)."""
    key = checked_caller(request)
    assert isinstance(key, PersonalKey)  # the ACCESS of these routes admits nothing else
    count_export_request(request, key)
    return Caller(Actor(key.user_id), key.org_id)


def collection_org(request: Request, who: Caller) -> str:
    """``orgId`` (default: the key's organization), the only query parameter (400)."""
    items = list(request.query_params.multi_items())
    refuse_unknown((name for name, _ in items), ("orgId",))
    given = [value for _, value in items]
    if len(given) > 1:
        raise DuplicateParameter(
            f"'orgId' was given {len(given)} times; give it once.", param="orgId"
        )
    if not given:
        return who.key_org_id
    if given[0] == "":
        raise InvalidParameter("'orgId' is empty; give a value or leave it out.", param="orgId")
    if (problem := string_problem(given[0])) is not None:
        raise InvalidParameter(f"'orgId' {problem}.", param="orgId")
    return given[0]


def no_parameters(request: Request) -> None:
    """Id routes take no query parameter, not even orgId (edge case 2)."""
    refuse_unknown(request.query_params.keys(), ())


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 415 unless ``application/json`` (a charset allowed)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType("Send the body as JSON with 'Content-Type: application/json'.")
    return read_body(await request.body())


def answer(document: Any, status_code: int = 200) -> Response:
    """A JSON answer with exact decimals."""
    return Response(encode(document), status_code=status_code, media_type="application/json")
