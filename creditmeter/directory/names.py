"""The rules for the names people read and the emails users are known by."""

from __future__ import annotations

import re

from creditmeter.errors import InvalidParameter

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def display_name(name: str, what: str) -> str:
    """A name people read (organization, key, token): 1 to 200 printable characters."""
    cleaned = name.strip()
    if not cleaned or len(cleaned) > 200 or not cleaned.isprintable():
        raise InvalidParameter(
            f"{what} needs a name of 1 to 200 printable characters.", param="name"
        )
    return cleaned


def normalise_email(email: str) -> str:
    """Emails are compared and stored lower-cased, without surrounding spaces."""
    cleaned = email.strip().lower()
    if len(cleaned) > 320 or not _EMAIL.fullmatch(cleaned) or not cleaned.isprintable():
        raise InvalidParameter(
            f"'{email}' is not an email address; give one such as ada@example.com.",
            param="email",
        )
    return cleaned
