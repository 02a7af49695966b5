"""``creditmeter rates import``: many rate versions from a CSV file, all or nothing.

The first line names the columns, in any order (credit-rates.md, edge case 16);
each other line is one version, an empty field meaning absent. Every line is
checked first, by the rules of :mod:`creditmeter.rates`, then against the
store and the lines before it (an unknown organization, a second unit for a
product); any problem and nothing is recorded. Otherwise every version is
recorded in one transaction, in file order, the empty ``effectiveFrom``s all
at one instant.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from creditmeter import rates
from creditmeter.errors import Problem, ServiceError
from creditmeter.pricing import RateVersion
from creditmeter.store import Store
from creditmeter.suggest import suggestion

COLUMNS = ("product", "unit", "creditsPerUnit", "feature", "orgId", "effectiveFrom")
REQUIRED = ("product", "unit", "creditsPerUnit")
#: At most this many problems are listed.
MAX_PROBLEMS = 100


@dataclass
class RateFile:
    """A file read: its versions (with their 1-based line numbers) and every problem."""

    drafts: list[tuple[int, rates.RateDraft]]
    problems: list[Problem]


class RateFileProblems(Exception):
    """The file was refused: nothing was recorded."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


def read(data: bytes, *, now_us: int) -> RateFile:
    """Each line of a rate file checked on its own (no store)."""
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        return RateFile([], [Problem(None, None, f"The file is not UTF-8 text: {exc}.")])
    lines = csv.reader(io.StringIO(text, newline=""), strict=True)
    found = RateFile([], [])
    try:
        header = next(lines, None)
    except csv.Error as exc:
        return RateFile([], [Problem(1, None, f"The header is not valid CSV: {exc}.")])
    if header is None:
        empty = "The file is empty: the first line names the columns."
        return RateFile([], [Problem(1, None, empty)])
    found.problems.extend(_header_problems(header))
    if found.problems:
        return found
    while True:
        try:
            fields = next(lines)
        except StopIteration:
            break
        except csv.Error as exc:
            found.problems.append(Problem(lines.line_num, None, f"Not valid CSV: {exc}."))
            break
        number = lines.line_num
        if not fields or fields == [""]:
            continue  # a blank line: skipped, but counted
        if len(fields) != len(header):
            found.problems.append(
                Problem(
                    number,
                    None,
                    f"The line has {len(fields)} fields; the header names {len(header)}.",
                )
            )
            continue
        values = {
            name: (value if value != "" else None)
            for name, value in zip(header, fields, strict=True)
        }
        try:
            number_text = values.get("creditsPerUnit")
            draft = rates.draft(
                org_id=values.get("orgId"),
                product=values.get("product"),
                feature=values.get("feature"),
                unit=values.get("unit"),
                credits_per_unit=None
                if number_text is None
                else rates.decimal_of_text(number_text),
                effective_from=values.get("effectiveFrom"),
                now_us=now_us,
            )
        except ServiceError as exc:
            found.problems.append(Problem(number, exc.param, exc.message))
            continue
        found.drafts.append((number, draft))
    return found


def _header_problems(header: list[str]) -> list[Problem]:
    problems = []
    for name in header:
        if name not in COLUMNS:
            hint = suggestion(name, COLUMNS, listing="columns")
            problems.append(Problem(1, name, f"Unknown column '{name}'.{hint}"))
        elif header.count(name) > 1:
            problems.append(Problem(1, name, f"The column '{name}' is named twice."))
    for name in REQUIRED:
        if name not in header:
            problems.append(Problem(1, name, f"The required column '{name}' is missing."))
    return list(dict.fromkeys(problems))


def import_rates(store: Store, data: bytes, *, now_us: int) -> list[RateVersion]:
    """Record every version of the file, or none: RateFileProblems lists up to 100."""
    found = read(data, now_us=now_us)
    problems = found.problems
    drafts = [draft for _, draft in found.drafts]
    if drafts:
        with store.read() as connection:
            for position, error in rates.draft_problems(connection, drafts):
                number = found.drafts[position][0]
                assert isinstance(error, ServiceError)
                problems.append(Problem(number, error.param, error.message))
    if problems:
        problems.sort(key=lambda p: -1 if p.index is None else p.index)
        raise RateFileProblems(problems[:MAX_PROBLEMS])
    return rates.record(store, drafts, now_us=now_us)
