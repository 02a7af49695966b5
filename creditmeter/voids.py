"""Voiding recorded usage: what a void request is, its checks, and the one path voids take.

The HTTP endpoint reads a body with :func:`read_void_body`; ``creditmeter
void`` checks its options, arguments or file lines with the same rules
(:func:`org_problem`, :func:`id_problem`, :func:`reason_problem`). Both then
call :func:`void`, which voids every id in one write transaction: the marks,
their audit entries and the change to every rollup and total commit together,
before the answer is built. See ``shared/spec/usage-corrections.md`` and
docs/decisions/0010-voids.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from creditmeter import alerting
from creditmeter.credits import format_micro
from creditmeter.errors import (
    InvalidItems,
    InvalidParameter,
    PayloadTooLarge,
    Problem,
    UnknownParameter,
)
from creditmeter.events import loads
from creditmeter.ingest import now_us
from creditmeter.store import Store
from creditmeter.store import voids as sql
from creditmeter.store.voids import Author
from creditmeter.strings import string_problem
from creditmeter.suggest import suggestion
from creditmeter.timestamps import datetime_of_us, format_instant
from creditmeter.void_result import VoidResult

#: The fields of a void request body, in the order they are checked.
FIELDS = ("orgId", "ids", "reason")
MAX_REASON_LENGTH = 500


@dataclass(frozen=True)
class VoidRequest:
    """A checked void: the organization, its ids as sent (repeats included), the reason."""

    org_id: str
    ids: list[str]
    reason: str


@dataclass(frozen=True)
class VoidOutcome:
    """What :func:`void` did: the answer, and where usage went down."""

    result: VoidResult
    #: The (org_id, UTC day) whose totals the void lowered, in key order.
    lowered: list[tuple[str, date]]


def _string_problem(name: str, value: Any, max_length: int | None = None) -> str | None:
    """The problem of a required string field, worded with its name; None when it is fine."""
    if value is None:
        return f"'{name}' is required."
    if not isinstance(value, str):
        return f"'{name}' must be a string."
    problem = string_problem(value) if max_length is None else string_problem(value, max_length)
    return None if problem is None else f"'{name}' {problem}."


def org_problem(value: Any) -> str | None:
    """Why ``value`` is not an organization id (the ingest string rule), or None."""
    return _string_problem("orgId", value)


def reason_problem(value: Any) -> str | None:
    """Why ``value`` is not a void's reason (1 to 500 printable characters), or None."""
    return _string_problem("reason", value, MAX_REASON_LENGTH)


def id_problem(value: Any) -> str | None:
    """Why ``value`` is not an event id (the ingest ``id`` rule), or None."""
    if value is None:
        return "The id is null; send each id as a string."
    if not isinstance(value, str):
        return "The id must be a string."
    problem = string_problem(value)
    return None if problem is None else f"The id {problem}."


def _check_ids(ids: Any, max_ids: int) -> list[str]:
    """``ids`` as a list of strings, or the error: its shape, its size, then each element."""
    if ids is None:
        raise InvalidParameter(
            "'ids' is required: list the ids of the events to void.", param="ids"
        )
    if not isinstance(ids, list):
        raise InvalidParameter("'ids' must be a JSON array of event ids.", param="ids")
    if not ids:
        raise InvalidParameter("'ids' is empty: list at least one event id to void.", param="ids")
    if len(ids) > max_ids:
        raise PayloadTooLarge(
            f"'ids' holds {len(ids):,} ids; the limit is {max_ids:,} ids a request. "
            "Split it into smaller requests."
        )
    problems = [
        Problem(index, "ids", problem)
        for index, value in enumerate(ids)
        if (problem := id_problem(value)) is not None
    ]
    if problems:
        noun = "id breaks" if len(problems) == 1 else "ids break"
        message = (
            f"{len(problems):,} {noun} the id rule (1 to 128 printable characters, no "
            "surrounding whitespace); nothing was voided. Fix every listed one and send "
            "the request again."
        )
        if len(problems) > InvalidItems.MAX_DETAILS:
            message += f" The first {InvalidItems.MAX_DETAILS:,} are listed."
        raise InvalidItems(message, param="ids", problems=problems)
    return ids


def read_void_body(body: bytes, *, max_ids: int) -> VoidRequest:
    """A void request body, checked whole in the contract's order (edge case 1).

    Raises InvalidParameter (and its kinds) or PayloadTooLarge for the first
    problem found; nothing has been voided then.
    """
    try:
        document = loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"The body is not valid JSON: {exc}.") from None
    if not isinstance(document, dict):
        raise InvalidParameter(
            'The body must be a JSON object: {"orgId": "…", "ids": ["…"], "reason": "…"}.'
        )
    unknown = [name for name in document if name not in FIELDS]
    if unknown:
        listed = ", ".join(f"'{name}'" for name in unknown)
        noun = "field" if len(unknown) == 1 else "fields"
        raise UnknownParameter(
            f"Unknown {noun} {listed}." + suggestion(unknown, FIELDS, listing="fields"),
            param=unknown[0],
        )
    if (problem := org_problem(document.get("orgId"))) is not None:
        raise InvalidParameter(problem, param="orgId")
    ids = _check_ids(document.get("ids"), max_ids)
    if (problem := reason_problem(document.get("reason"))) is not None:
        raise InvalidParameter(problem, param="reason")
    return VoidRequest(document["orgId"], ids, document["reason"])


def void(store: Store, request: VoidRequest, author: Author) -> VoidOutcome:
    """Void the request's ids of its organization, all in one write transaction.

    Each distinct id is voided, found voided already, or not found; the answer
    lists them in the order of their first appearance. Every void of the
    request shares one ``voidedAt``: the server's clock now.
    """
    distinct = list(dict.fromkeys(request.ids))
    with store.write() as connection:
        alerting.hold_alerts(connection, [request.org_id])
        voided = sql.void_events(
            connection,
            request.org_id,
            sorted(distinct),
            reason=request.reason,
            voided_at_us=now_us(),
            author=author,
        )
        # The usage of voided.days went down: the alerts watching them look again.
        alerting.usage_went_down(
            connection, request.org_id, alerting.instants_of_days(voided.days), now_us()
        )
    result = VoidResult(
        voided=len(voided.new),
        already_voided=[i for i in distinct if i in voided.already],
        not_found=[i for i in distinct if i not in voided.new and i not in voided.already],
    )
    return VoidOutcome(result, voided.days)


def audit_entry(row: dict[str, Any]) -> dict[str, Any]:
    """One audit entry as the API writes it (edge case 14), from a store row."""
    voided_at = datetime_of_us(row["voided_at_us"]).isoformat(timespec="microseconds")
    return {
        "eventId": row["event_id"],
        "orgId": row["org_id"],
        "timestamp": format_instant(datetime_of_us(row["timestamp_us"])),
        "product": row["product"],
        "feature": row["feature"],
        "apiKey": row["api_key"],
        "fileType": row["file_type"],
        # An event's credits have at most 15 significant digits (≤ 1e9, 6
        # decimals), so the float's shortest text is the export's text exactly.
        "credits": float(format_micro(row["credits_micro"])),
        "requestCount": row["request_count"],
        "reason": row["reason"],
        "voidedAt": voided_at.replace("+00:00", "Z"),
        "source": row["source"],
        "tokenId": row["token_id"],
        "tokenName": row["token_name"],
    }


def void_entries(store: Store, org_id: str) -> list[dict[str, Any]]:
    """The audit trail of ``org_id`` as the API writes it; ``[]`` when it has none."""
    with store.read() as connection:
        rows = sql.void_entries(connection, org_id)
    return [audit_entry(row) for row in rows]
