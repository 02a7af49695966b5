"""Exact credits: stored and summed as integer micro-credits, written as decimal text.

Credits never pass through a float. An event's credits arrive as a JSON number
parsed to :class:`~decimal.Decimal`, become an integer count of millionths, are
summed as integers by the store, and are written back from that integer.
"""

from __future__ import annotations

from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from functools import lru_cache

MICRO = 1_000_000
#: Largest credits of one event.
MAX_EVENT_CREDITS = 1_000_000_000
#: Largest stored total (one organization's day), in micro-credits: it keeps every
#: sum an export can make inside a signed 64-bit integer on every store.
MAX_TOTAL_MICRO = 9_000_000_000_000 * MICRO
# Scaling in the default context would round to 28 digits first and pass
# 0.1000000000000000000000000000001 as 0.1; this one never rounds.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


# Cached: a batch's events mostly repeat a few amounts. Equal values (1.0, 1.00) share
# an entry and have the same micro-credits; a refusal is raised anew, never cached.
@lru_cache(maxsize=4096)
def to_micro(value: Decimal) -> int:
    """Micro-credits of ``value``; raise ValueError when it has over 6 decimal places."""
    try:
        scaled = value.scaleb(6, context=_EXACT)
        whole = int(scaled)  # toward zero: equal to ``scaled`` only when it is whole
    except (InvalidOperation, ValueError, OverflowError) as exc:  # pragma: no cover
        raise ValueError(str(value)) from exc  # NaN, infinity: guarded by the caller
    if scaled != whole:
        raise ValueError(str(value))
    return whole


def format_micro(micro: int) -> str:
    """Credits text: always a fractional part, no trailing zeros beyond one (``150.0``)."""
    if micro >= MICRO:  # most sums: cut the digits (a third faster than dividing)
        digits = str(micro)
        fraction = digits[-6:].rstrip("0") or "0"
        return f"{digits[:-6]}.{fraction}"
    whole, fraction = divmod(micro, MICRO)
    if fraction == 0:
        return f"{whole}.0"
    return f"{whole}.{fraction:06d}".rstrip("0")


def format_credits(micro: int) -> str:
    """Credits for people: thousands separated, the export's exact fraction (``12,345.25``)."""
    text = format_micro(micro)
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    return f"{sign}{int(whole.lstrip('-')):,}.{fraction}"
