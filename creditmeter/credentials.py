"""Secrets and public ids of personal keys and service tokens.

A secret is a recognisable prefix (``cmk_`` personal key, ``cmt_`` service
token) and 43 URL-safe characters (256 bits) from the OS CSPRNG. Only its
SHA-256 is stored. A slow password hash buys nothing here: a 256-bit random
secret cannot be guessed, so the hash only has to be one-way, and a fast one
keeps authentication off the hot path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

PERSONAL_KEY_PREFIX = "cmk_"
SERVICE_TOKEN_PREFIX = "cmt_"


def new_secret(prefix: str) -> str:
    """A fresh secret with ``prefix``."""
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """The stored form of a secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hashes_match(stored: str, presented: str) -> bool:
    """Constant-time comparison of two hashes."""
    return hmac.compare_digest(stored.encode("ascii"), presented.encode("ascii"))


def new_id(prefix: str, length: int = 16) -> str:
    """A public id such as ``org_5f2c…``: not a secret, just unique and unguessable."""
    return prefix + secrets.token_hex(length // 2)
