"""Choosing JSON or CSV from the ``Accept`` header (export edge case 7)."""

from __future__ import annotations


def _ranges(accept: str) -> dict[str, float]:
    qualities: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                if not 0.0 <= quality <= 1.0:  # nan, inf, negative, over 1: no valid qvalue
                    quality = 0.0
        media = media.lower()
        qualities[media] = max(quality, qualities.get(media, 0.0))
    return qualities


def wants_csv(accept: str | None) -> bool:
    """True when Accept lists text/csv above q=0 and at least as high as JSON.

    JSON's quality is that of the most specific range that matches it
    (``application/json``, then ``application/*``, then ``*/*``).
    """
    if not accept:
        return False
    qualities = _ranges(accept)
    csv = qualities.get("text/csv", 0.0)
    if csv <= 0.0:
        return False
    for media in ("application/json", "application/*", "*/*"):
        if media in qualities:
            return csv >= qualities[media]
    return True
