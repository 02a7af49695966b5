"""An export as the dashboard shows it: totals per group, daily series, readable numbers.

Everything is summed from the export's rows in integer micro-credits, so the
totals on the page are exactly the sums of the API's numbers for the same
selection. Floats appear only in the chart's data, which is drawn, not read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from creditmeter import dimensions
from creditmeter.credits import MICRO, format_credits, format_micro
from creditmeter.export import ExportResult
from creditmeter.rendering import ExportRow

#: groupBy value → its name on the page: as a heading, in a sentence, in the plural.
DIMENSIONS = {
    d.name: (d.noun[0].upper() + d.noun[1:], d.noun, f"{d.noun}s") for d in dimensions.DIMENSIONS
}
#: Most series the chart stacks; past it the smallest groups are drawn as one "Other".
MAX_SERIES = 8
#: The colours of named groups; a value's colour is picked from them by the value alone.
#: Ten, because with ten each of the demo's dimensions shows its values in distinct colours.
PALETTE = (
    "#4263eb",
    "#f59f00",
    "#0ca678",
    "#e64980",
    "#1098ad",
    "#7048e8",
    "#f76707",
    "#74b816",
    "#e03131",
    "#ae3ec9",
)
NULL_COLOUR = "#adb5bd"
OTHER_COLOUR = "#495057"


@dataclass(frozen=True)
class GroupTotal:
    """One group's usage over the whole range; ``group`` None is the null group."""

    group: str | None
    credits_micro: int
    request_count: int

    @property
    def credits(self) -> str:
        """Exact credits text, as the export writes it."""
        return format_micro(self.credits_micro)


def _order(total: GroupTotal) -> tuple[int, int, bool, bytes]:
    # Largest first; ties in the export's group order (null first, then byte order).
    group = total.group
    return (-total.credits_micro, -total.request_count, group is not None, (group or "").encode())


def totals_by_group(rows: Iterable[ExportRow]) -> list[GroupTotal]:
    """Each group's credits and requests over the range, the largest first."""
    sums: dict[str | None, tuple[int, int]] = {}
    for row in rows:
        credits, requests = sums.get(row.group, (0, 0))
        sums[row.group] = (credits + row.credits_micro, requests + row.request_count)
    return sorted(
        (GroupTotal(group, credits, requests) for group, (credits, requests) in sums.items()),
        key=_order,
    )


def grand_total(totals: Iterable[GroupTotal]) -> GroupTotal:
    credits = requests = 0
    for total in totals:
        credits += total.credits_micro
        requests += total.request_count
    return GroupTotal(None, credits, requests)


def share_tenths(part: int, whole: int) -> int:
    """``part`` in tenths of a percent of ``whole``, rounded half up (0 when whole is 0)."""
    return 0 if whole <= 0 else (part * 2000 + whole) // (2 * whole)


def share(part: int, whole: int) -> str:
    """``part`` as a percentage of ``whole`` to one decimal (half up); a dash when whole is 0."""
    if whole <= 0:
        return "\N{EM DASH}"
    tenths = share_tenths(part, whole)
    return f"{tenths // 10}.{tenths % 10}%"


def format_count(count: int) -> str:
    return f"{count:,}"


def format_average(micro: int, days: int) -> str:
    """Average credits a day, to two decimals."""
    scale = days * MICRO
    hundredths = (micro * 200 + scale) // (2 * scale)
    return f"{hundredths // 100:,}.{hundredths % 100:02d}"


def day_text(day: date) -> str:
    """``Tue 3 Nov``."""
    return f"{day:%a} {day.day} {day:%b}"


def range_text(start: date, end: date) -> str:
    """``28 Oct - 26 Nov 2026`` (an en dash), the year once when both ends share it."""
    dash = "\N{EN DASH}"
    if start == end:
        return f"{start.day} {start:%b %Y}"
    if start.year == end.year:
        return f"{start.day} {start:%b} {dash} {end.day} {end:%b %Y}"
    return f"{start.day} {start:%b %Y} {dash} {end.day} {end:%b %Y}"


def group_label(group: str | None, group_by: str) -> str:
    """How a group value reads on the page; the null group is "No file type" and the like."""
    return f"No {DIMENSIONS[group_by][1]}" if group is None else group


def colour_of(group: str | None) -> str:
    """A group value's colour, the same in every view whatever its rank; the null group's grey.

    Picked by a hash of the value's UTF-8 bytes, so an API key keeps its colour
    when the range, the filters or the other groups change. Two values may share
    a colour: the legend and the table name them.
    """
    if group is None:
        return NULL_COLOUR
    digest = hashlib.sha256(group.encode()).digest()
    return PALETTE[int.from_bytes(digest[:8], "big") % len(PALETTE)]


def colours(totals: list[GroupTotal]) -> dict[str | None, str]:
    """Each group's colour, the same in the chart and in the table's swatches.

    Groups folded into the chart's "Other" take its colour.
    """
    folded = len(totals) > MAX_SERIES
    shown = totals[: MAX_SERIES - 1] if folded else totals
    assigned = {total.group: colour_of(total.group) for total in shown}
    for total in totals[len(shown) :]:
        assigned[total.group] = OTHER_COLOUR
    return assigned


def peak_day(result: ExportResult) -> tuple[date, int] | None:
    """The day with the most credits (the earliest of ties) and its credits, if any usage."""
    days: dict[date, int] = {}
    for row in result.rows:
        days[row.date] = days.get(row.date, 0) + row.credits_micro
    if not days:
        return None
    return min(days.items(), key=lambda item: (-item[1], item[0]))


def chart_data(result: ExportResult, totals: list[GroupTotal], metric: str) -> dict[str, Any]:
    """The chart's days, series (largest group at the bottom) and the metric it starts on."""
    count = (result.end_date - result.start_date).days + 1
    days = [result.start_date + timedelta(days=n) for n in range(count)]
    folded = len(totals) > MAX_SERIES
    shown = totals[: MAX_SERIES - 1] if folded else totals
    index = {total.group: n for n, total in enumerate(shown)}
    width = len(shown) + (1 if folded else 0)
    credits = [[0] * count for _ in range(width)]
    requests = [[0] * count for _ in range(width)]
    for row in result.rows:
        n = index.get(row.group, len(shown))
        day = (row.date - result.start_date).days
        credits[n][day] += row.credits_micro
        requests[n][day] += row.request_count
    palette = colours(totals)
    labels = [group_label(total.group, result.group_by[0]) for total in shown]
    if folded:
        labels.append(f"Other ({len(totals) - len(shown)} {DIMENSIONS[result.group_by[0]][2]})")
    series = [
        {
            "label": label,
            "colour": palette[shown[n].group] if n < len(shown) else OTHER_COLOUR,
            "credits": [micro / MICRO for micro in credits[n]],
            "requests": requests[n],
        }
        for n, label in enumerate(labels)
    ]
    return {
        "metric": metric,
        "days": [day.isoformat() for day in days],
        "labels": [f"{day:%b} {day.day}" for day in days],
        "titles": [f"{day:%a} {day.day} {day:%b} {day.year}" for day in days],
        "series": series,
    }


def usage_view(result: ExportResult, *, metric: str) -> dict[str, Any]:
    """What the usage page shows of an export: headings, the totals table, the chart."""
    totals = totals_by_group(result.rows)
    whole = grand_total(totals)
    palette = colours(totals)
    peak = peak_day(result)
    days = (result.end_date - result.start_date).days + 1
    heading, noun, plural = DIMENSIONS[result.group_by[0]]
    return {
        "heading": heading,
        "noun": noun,
        "count_text": f"{len(totals)} {noun if len(totals) == 1 else plural}",
        "range_text": range_text(result.start_date, result.end_date),
        "rows": [
            {
                "group": total.group,
                "label": group_label(total.group, result.group_by[0]),
                "colour": palette[total.group],
                "credits": total.credits,
                "credits_text": format_credits(total.credits_micro),
                "requests": total.request_count,
                "requests_text": format_count(total.request_count),
                "share": share(total.credits_micro, whole.credits_micro),
                "share_tenths": share_tenths(total.credits_micro, whole.credits_micro),
            }
            for total in totals
        ],
        "total": {
            "credits": whole.credits,
            "credits_text": format_credits(whole.credits_micro),
            "requests": whole.request_count,
            "requests_text": format_count(whole.request_count),
            "average_text": format_average(whole.credits_micro, days),
            "peak": (
                {"day": day_text(peak[0]), "credits_text": format_credits(peak[1])}
                if peak
                else None
            ),
        },
        "chart": chart_data(result, totals, metric),
    }
