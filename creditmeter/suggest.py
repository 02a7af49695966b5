"""'Did you mean …?' for misspelt parameter and field names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def _folded(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def did_you_mean(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` most likely meant, or None.

    Spelling styles are folded first, so ``start_date``, ``StartDate`` and
    ``start-date`` all find ``startDate``; otherwise the closest spelling wins.
    """
    known = list(known)
    folded = _folded(name)
    for candidate in known:
        if _folded(candidate) == folded:
            return candidate
    by_folded = {_folded(k): k for k in known}
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.7)
    return by_folded[close[0]] if close else None


def suggestion_text(name: str, known: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` or, with no close name, the list of known names."""
    known = list(known)
    guess = did_you_mean(name, known)
    if guess is not None:
        return f" Did you mean '{guess}'?"
    return " Known names: " + ", ".join(f"'{k}'" for k in known) + "."
