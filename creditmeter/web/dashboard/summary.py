"""An export as the dashboard shows it: totals per group, series per bucket, readable numbers.

Everything is summed from the export's rows in integer micro-credits, so the
totals on the page are exactly the sums of the API's numbers for the same
selection. Floats appear only in the chart's data, which is drawn, not read.

The chart stacks the first grouped dimension; with ``groupBy`` of several, the
table splits each group by the others (one row per combination of values).
The chart's buckets (hours, days or months of the page's zone, empty ones
included) are :func:`creditmeter.buckets.buckets`, the export's own, so each
row of the export falls into exactly one of them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from creditmeter import dimensions
from creditmeter.buckets import Bucket, buckets
from creditmeter.credits import MICRO, format_credits, format_micro
from creditmeter.rendering import ExportRow
from creditmeter.web.dashboard.selection import Selection
from creditmeter.zones import zone_named

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
    """Each group's (first grouped dimension's value) credits and requests, the largest first."""
    sums: dict[str | None, tuple[int, int]] = {}
    for row in rows:
        group = row.values[0]
        credits, requests = sums.get(group, (0, 0))
        sums[group] = (credits + row.credits_micro, requests + row.request_count)
    return sorted(
        (GroupTotal(group, credits, requests) for group, (credits, requests) in sums.items()),
        key=_order,
    )


@dataclass(frozen=True)
class SplitTotal:
    """One combination of the split dimensions' values within a group, over the range."""

    values: tuple[str | None, ...]
    credits_micro: int
    request_count: int

    @property
    def credits(self) -> str:
        return format_micro(self.credits_micro)


def _split_order(total: SplitTotal) -> tuple[object, ...]:
    # Largest first; ties in the export's order of the values (null first, then bytes).
    keys = tuple((value is not None, (value or "").encode()) for value in total.values)
    return (-total.credits_micro, -total.request_count, keys)


def splits_by_group(rows: Iterable[ExportRow]) -> dict[str | None, list[SplitTotal]]:
    """Each group's totals per combination of the other grouped values, the largest first."""
    sums: dict[str | None, dict[tuple[str | None, ...], tuple[int, int]]] = {}
    for row in rows:
        combos = sums.setdefault(row.values[0], {})
        credits, requests = combos.get(row.values[1:], (0, 0))
        combos[row.values[1:]] = (credits + row.credits_micro, requests + row.request_count)
    return {
        group: sorted(
            (SplitTotal(values, credits, requests) for values, (credits, requests) in c.items()),
            key=_split_order,
        )
        for group, c in sums.items()
    }


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


def _offset_text(start: str) -> str:
    """``UTC+01:00`` from a ``start`` text's offset (``UTC+00:00`` for UTC)."""
    return "UTC" + start[19:]


@dataclass(frozen=True)
class Slot:
    """One bucket of the chart, named for people: a short label and a full title."""

    bucket: Bucket
    label: str
    title: str
    #: How the busiest bucket is written (``Tue 3 Nov, 14:00``).
    peak: str


def slots(chosen: Selection) -> list[Slot]:
    """The chart's buckets, every one of the range in the page's zone, empty ones too."""
    found = buckets(
        zone_named(chosen.time_zone), chosen.bucket_width, chosen.start_date, chosen.end_date
    )
    named: list[Slot] = []
    if chosen.bucket_width == "hour":
        clocks = [(b.date, (b.start or "")[11:16]) for b in found]
        shown = Counter(clocks)
        for bucket, clock in zip(found, clocks, strict=True):
            assert bucket.start is not None
            day, time = bucket.date, clock[1]
            offset = _offset_text(bucket.start)
            # A clock time a day shows twice (the clocks went back) says its offset.
            twice = shown[clock] > 1
            named.append(
                Slot(
                    bucket,
                    label=f"{day:%b} {day.day} {time}",
                    title=f"{day_text(day)} {day.year}, {time} ({offset})",
                    peak=f"{day_text(day)}, {time}" + (f" ({offset})" if twice else ""),
                )
            )
    elif chosen.bucket_width == "month":
        for n, bucket in enumerate(found):
            day = bucket.date
            last = found[n + 1].date - timedelta(days=1) if n + 1 < len(found) else chosen.end_date
            whole = day.day == 1 and (last + timedelta(days=1)).day == 1
            title = f"{day:%B %Y}" if whole else range_text(day, last)
            named.append(Slot(bucket, label=f"{day:%b %Y}", title=title, peak=title))
    else:
        for bucket in found:
            day = bucket.date
            named.append(
                Slot(
                    bucket,
                    label=f"{day:%b} {day.day}",
                    title=f"{day_text(day)} {day.year}",
                    peak=day_text(day),
                )
            )
    return named


def _slot_of(row: ExportRow, index: dict[tuple[date, str | None], int]) -> int:
    try:
        return index[(row.date, row.start)]
    except KeyError:
        raise ValueError(f"the export answered a row outside its buckets: {row}") from None


def peak_slot(rows: Sequence[ExportRow], named: list[Slot]) -> tuple[Slot, int] | None:
    """The bucket with the most credits (the earliest of ties) and its credits, if any usage."""
    index = {(slot.bucket.date, slot.bucket.start): n for n, slot in enumerate(named)}
    sums: dict[int, int] = {}
    for row in rows:
        n = _slot_of(row, index)
        sums[n] = sums.get(n, 0) + row.credits_micro
    if not sums:
        return None
    n, micro = min(sums.items(), key=lambda item: (-item[1], item[0]))
    return named[n], micro


def chart_data(
    rows: Sequence[ExportRow], totals: list[GroupTotal], chosen: Selection, named: list[Slot]
) -> dict[str, Any]:
    """The chart's buckets, series (largest group at the bottom) and the metric it starts on."""
    count = len(named)
    index = {(slot.bucket.date, slot.bucket.start): n for n, slot in enumerate(named)}
    folded = len(totals) > MAX_SERIES
    shown = totals[: MAX_SERIES - 1] if folded else totals
    position = {total.group: n for n, total in enumerate(shown)}
    width = len(shown) + (1 if folded else 0)
    credits = [[0] * count for _ in range(width)]
    requests = [[0] * count for _ in range(width)]
    for row in rows:
        n = position.get(row.values[0], len(shown))
        slot = _slot_of(row, index)
        credits[n][slot] += row.credits_micro
        requests[n][slot] += row.request_count
    palette = colours(totals)
    labels = [group_label(total.group, chosen.group) for total in shown]
    if folded:
        labels.append(f"Other ({len(totals) - len(shown)} {DIMENSIONS[chosen.group][2]})")
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
        "metric": chosen.metric,
        "width": chosen.bucket_width,
        "days": [slot.bucket.date.isoformat() for slot in named],
        "starts": [slot.bucket.start for slot in named],
        "labels": [slot.label for slot in named],
        "titles": [slot.title for slot in named],
        "series": series,
    }


#: Each bucket width as a noun: "Credits per hour", "Busiest day".
PER = {"hour": "hour", "day": "day", "month": "month"}


def _row(total: GroupTotal | SplitTotal, whole: GroupTotal) -> dict[str, Any]:
    return {
        "credits": total.credits,
        "credits_text": format_credits(total.credits_micro),
        "requests": total.request_count,
        "requests_text": format_count(total.request_count),
        "share": share(total.credits_micro, whole.credits_micro),
        "share_tenths": share_tenths(total.credits_micro, whole.credits_micro),
    }


def usage_view(rows: Sequence[ExportRow], chosen: Selection) -> dict[str, Any]:
    """What the usage page shows of an export's rows: headings, the totals table, the chart."""
    totals = totals_by_group(rows)
    whole = grand_total(totals)
    palette = colours(totals)
    named = slots(chosen)
    peak = peak_slot(rows, named)
    heading, noun, plural = DIMENSIONS[chosen.group]
    splits = splits_by_group(rows) if chosen.split else {}
    split_nouns = [DIMENSIONS[name][1] for name in chosen.split]
    table = []
    for total in totals:
        entry = {
            "group": total.group,
            "label": group_label(total.group, chosen.group),
            "colour": palette[total.group],
            **_row(total, whole),
            "splits": [
                {
                    "values": [total.group, *split.values],
                    "labels": [
                        group_label(value, name)
                        for value, name in zip(split.values, chosen.split, strict=True)
                    ],
                    "nulls": [value is None for value in split.values],
                    **_row(split, whole),
                }
                for split in splits.get(total.group, [])
            ],
        }
        table.append(entry)
    combinations = sum(len(entry["splits"]) for entry in table)
    count_text = f"{len(totals)} {noun if len(totals) == 1 else plural}"
    if chosen.split:
        count_text += f", {combinations} combination{'' if combinations == 1 else 's'}"
    return {
        "heading": heading,
        "noun": noun,
        "split_headings": [DIMENSIONS[name][0] for name in chosen.split],
        "split_text": " and ".join(split_nouns),
        "per": PER[chosen.bucket_width],
        "count_text": count_text,
        "range_text": range_text(chosen.start_date, chosen.end_date),
        "rows": table,
        "total": {
            "credits": whole.credits,
            "credits_text": format_credits(whole.credits_micro),
            "requests": whole.request_count,
            "requests_text": format_count(whole.request_count),
            "average_text": format_average(whole.credits_micro, chosen.days),
            "peak": (
                {"when": peak[0].peak, "credits_text": format_credits(peak[1])} if peak else None
            ),
        },
        "chart": chart_data(rows, totals, chosen, named),
    }
