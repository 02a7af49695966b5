"""Standard Webhooks signatures: secrets, signing and verifying.

A secret is ``whsec_`` + base64 (standard, padded) of random bytes; the key is
those bytes. A signature is ``v1,`` + base64(HMAC-SHA256(key,
"{webhook-id}.{webhook-timestamp}.{body}")); a ``webhook-signature`` header
holds one or more, space-separated. See https://www.standardwebhooks.com/.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
#: Random bytes in a new secret (the contract allows 24 to 64).
SECRET_BYTES = 32
#: How far ``webhook-timestamp`` may be from the receiver's clock, either way, by default.
DEFAULT_TOLERANCE = 300


class WebhookVerificationError(Exception):
    """The message is not one the secret's owner sent now: the message says why."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            "The secret is not 'whsec_' followed by base64; pass it as it was issued."
        ) from None


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64>`` of one secret over one attempt."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: each secret's signature, space-separated, in order."""
    return " ".join(signature(secret, message_id, timestamp, body) for secret in secrets_)


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"The '{name}' header is missing.")


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> None:
    """Accept a message signed with ``secret`` at most ``tolerance`` seconds from now.

    ``headers``: the request's headers (any mapping; names in any case). ``body``: the
    raw body, as received. Raises :class:`WebhookVerificationError` saying which check
    failed: a missing header, a timestamp that is not an integer or too old or too new,
    or no ``v1`` signature that matches. Deduplicate accepted messages by ``webhook-id``.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    message_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(
            f"'webhook-timestamp' is not unix seconds: {stamp!r}."
        ) from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        direction = "old" if timestamp < current else "new"
        raise WebhookVerificationError(
            f"The message timestamp is too {direction}: {timestamp}, {int(current)} now, "
            f"more than {tolerance} seconds apart."
        )
    expected = signature(secret, message_id, timestamp, raw).encode("ascii")
    for given in signatures.split():
        version, _, _ = given.partition(",")
        if version == "v1" and hmac.compare_digest(given.encode("ascii", "replace"), expected):
            return
    raise WebhookVerificationError("No v1 signature matches the secret: the message is refused.")
