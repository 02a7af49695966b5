"""Authentication: the live credential a presented secret belongs to.

Personal keys and service tokens are looked up by the hash of their secret
(:mod:`creditmeter.credentials`); a revoked or expired one is refused with a
message that says so, and ``lastUsedAt`` is written as
:mod:`~creditmeter.directory.last_used` says.
"""

from __future__ import annotations

from datetime import datetime

from creditmeter import credentials
from creditmeter.directory import last_used
from creditmeter.directory.records import Credential, key_of, token_of
from creditmeter.errors import Unauthenticated
from creditmeter.store import Store
from creditmeter.store import directory as sql
from creditmeter.timestamps import format_instant


def authenticate(store: Store, secret: str, now: datetime) -> Credential:
    """The live credential whose secret this is, as of ``now``; Unauthenticated otherwise."""
    if secret.startswith(credentials.PERSONAL_KEY_PREFIX):
        kind = "personal_key"
    elif secret.startswith(credentials.SERVICE_TOKEN_PREFIX):
        kind = "service_token"
    else:
        raise Unauthenticated(
            "The bearer token is not a creditmeter key: personal keys start with "
            "'cmk_' and service tokens with 'cmt_'."
        )
    presented = credentials.hash_secret(secret)
    with store.read() as connection:
        row = sql.get_credential_by_hash(connection, kind, presented)
    if row is None or not credentials.hashes_match(row["secret_hash"], presented):
        raise Unauthenticated("The API key is not valid; check that it was copied whole.")
    noun = "API key" if kind == "personal_key" else "service token"
    if row["revoked_at"] is not None:
        raise Unauthenticated(f"This {noun} was revoked; create a new one.")
    expires_at = row.get("expires_at")
    if expires_at is not None and now >= expires_at:
        raise Unauthenticated(
            f"This {noun} expired at {format_instant(expires_at)}; create a new one."
        )
    if last_used.needs_update(row["last_used_at"], now):
        with store.write() as connection:
            sql.touch_credential(connection, kind, row["id"], now)
        row = {**row, "last_used_at": now}
    if kind == "personal_key":
        return key_of(row, row["email"])
    return token_of(row)
