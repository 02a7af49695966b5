"""'Did you mean …?' for misspelt parameter and field names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from creditmeter.errors import UnknownParameter


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


def refuse_unknown(names: Iterable[str], known: Sequence[str]) -> None:
    """Raise :class:`UnknownParameter` naming every query parameter of ``names`` not known."""
    unknown = list(dict.fromkeys(name for name in names if name not in known))
    if unknown:
        raise UnknownParameter(_unknown_message(unknown, known), param=unknown[0])


def _unknown_message(names: list[str], known: Sequence[str]) -> str:
    if not known:
        listed = ", ".join(f"'{name}'" for name in names)
        noun = "parameter" if len(names) == 1 else "parameters"
        return f"Unknown query {noun} {listed}; this operation takes no query parameters."
    if len(names) == 1:
        return f"Unknown query parameter '{names[0]}'.{suggestion_text(names[0], known)}"
    parts = []
    for name in names:
        guess = did_you_mean(name, known)
        parts.append(f"'{name}' (did you mean '{guess}'?)" if guess else f"'{name}'")
    return f"Unknown query parameters {', '.join(parts)}. Known parameters: {', '.join(known)}."
