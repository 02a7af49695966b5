"""Page cursors: an opaque, URL-safe, tamper-evident position in an export.

A cursor holds the fingerprint of the query whose pages it walks, the dates
that query defaulted (so "the last 30 days" keeps meaning the first page's
days), and the position after which the next page starts: the last row's
bucket (its first instant) and grouped values.

It is checked, not secret: a cursor grants nothing (membership is checked on
every page), so it needs no server key and every server reading the same
database accepts every other's cursors. A checksum makes any change to it
(one character changed, removed or added) detectable, and its text must be
the one canonical encoding of its bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import date

_VERSION = 1
_CHECKSUM_BYTES = 12
_PERSONALIZATION = b"creditmeter-page"


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts, and the query it belongs to."""

    #: :func:`fingerprint` of the query's resolved parameters.
    query: str
    #: The first page's startDate / endDate when it defaulted them, else None.
    default_start: date | None
    default_end: date | None
    #: The last returned row's bucket, as its first instant (µs since the epoch).
    after_instant_us: int
    #: The last returned row's grouped values, in groupBy order (None: null).
    after_values: tuple[str | None, ...]


def fingerprint(parts: object) -> str:
    """A short digest of a query's resolved parameters (any JSON-able value)."""
    text = json.dumps(parts, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=_CHECKSUM_BYTES, person=_PERSONALIZATION).digest()


def encode(cursor: Cursor) -> str:
    """The cursor as text: only ``A-Z a-z 0-9 - _``."""
    body = [
        _VERSION,
        cursor.query,
        cursor.default_start.isoformat() if cursor.default_start else None,
        cursor.default_end.isoformat() if cursor.default_end else None,
        cursor.after_instant_us,
        list(cursor.after_values),
    ]
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(payload + _checksum(payload)).rstrip(b"=").decode("ascii")


def decode(text: str) -> Cursor:
    """The cursor ``text`` encodes; ValueError when it is not one this software wrote."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not a cursor") from None
    payload, checksum = raw[:-_CHECKSUM_BYTES], raw[-_CHECKSUM_BYTES:]
    if len(raw) <= _CHECKSUM_BYTES or checksum != _checksum(payload):
        raise ValueError("not a cursor")
    # A text whose unused last bits differ decodes to the same bytes: only the
    # canonical text is this cursor.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise ValueError("not a cursor")
    try:
        version, query, start, end, instant, values = json.loads(payload)
        if version != _VERSION:
            raise ValueError("another version")
        return Cursor(
            query=str(query),
            default_start=date.fromisoformat(start) if start else None,
            default_end=date.fromisoformat(end) if end else None,
            after_instant_us=int(instant),
            after_values=tuple(values),
        )
    except (TypeError, ValueError, KeyError):
        raise ValueError("not a cursor") from None
