"""'Did you mean …?': the one wording for a misspelt parameter, field or value.

:func:`suggestion` writes the sentence that follows an unknown name, for the
export's parameters and ``groupBy`` values, the ingest body's fields and the
command line alike; :func:`refuse_unknown` refuses unknown query parameters
with it; :func:`spoken_list` writes a list of choices in prose.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from creditmeter.errors import UnknownParameter


def _folded(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def did_you_mean(
    name: str, known: Iterable[str], aliases: Mapping[str, str] | None = None
) -> str | None:
    """The known name ``name`` most likely meant, or None.

    Spelling styles are folded first, so ``start_date``, ``StartDate`` and
    ``start-date`` all find ``startDate``; then ``aliases`` (another word for a
    known name, folded: ``granularity`` → ``bucketWidth``); otherwise the
    closest spelling wins.
    """
    known = list(known)
    folded = _folded(name)
    for alias, meant in (aliases or {}).items():
        if _folded(alias) == folded:
            return meant
    for candidate in known:
        if _folded(candidate) == folded:
            return candidate
    by_folded = {_folded(k): k for k in known}
    close = difflib.get_close_matches(folded, list(by_folded), n=1, cutoff=0.7)
    return by_folded[close[0]] if close else None


def suggestion(
    names: str | Sequence[str],
    known: Sequence[str],
    *,
    listing: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> str:
    """The sentence after unknown ``names``, with a leading space, or ``""``.

    `` Did you mean 'startDate'?`` (for several names, in their order: `` Did you
    mean 'startDate' and 'endDate'?``). When a name has no known name close to
    it and ``listing`` says what ``known`` holds, the known names follow:
    `` Known parameters: 'startDate', 'endDate'.``
    """
    unknown = [names] if isinstance(names, str) else names
    guesses = [f"'{guess}'" for name in unknown if (guess := did_you_mean(name, known, aliases))]
    sentence = f" Did you mean {spoken_list(guesses, 'and')}?" if guesses else ""
    if listing is not None and len(guesses) < len(unknown):
        sentence += f" Known {listing}: " + ", ".join(f"'{k}'" for k in known) + "."
    return sentence


def refuse_unknown(
    names: Iterable[str], known: Sequence[str], aliases: Mapping[str, str] | None = None
) -> None:
    """Raise :class:`UnknownParameter` naming every query parameter of ``names`` not known.

    ``aliases``: other words people use for a known parameter (see :func:`did_you_mean`).
    """
    unknown = list(dict.fromkeys(name for name in names if name not in known))
    if not unknown:
        return
    listed = ", ".join(f"'{name}'" for name in unknown)
    noun = "parameter" if len(unknown) == 1 else "parameters"
    if known:
        message = f"Unknown query {noun} {listed}." + suggestion(
            unknown, known, listing="parameters", aliases=aliases
        )
    else:
        message = f"Unknown query {noun} {listed}; this operation takes no query parameters."
    raise UnknownParameter(message, param=unknown[0])


def spoken_list(names: Sequence[str], conjunction: str = "or") -> str:
    """``a, b or c``: choices as a sentence says them."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {conjunction} {names[-1]}"
