"""The rule for identifiers and dimension values: 1 to 128 printable characters."""

from __future__ import annotations

MAX_LENGTH = 128


def string_problem(value: str, max_length: int = MAX_LENGTH) -> str | None:
    """Why ``value`` is not an acceptable id or dimension value, or None if it is.

    ``max_length``: the same rule for a longer text (a void's reason).
    """
    if value == "":
        return "must not be empty"
    if len(value) > max_length:
        return f"must be at most {max_length} characters (it has {len(value)})"
    if not value.isprintable():
        return "must hold only printable characters (no control characters or line breaks)"
    if value != value.strip():
        return "must not start or end with whitespace"
    return None
