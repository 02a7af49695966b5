"""The printed table and its targets, from the figures a run collected."""

from __future__ import annotations

from typing import Any

#: Issue 6's targets.
TARGET_EXPORT_OVER_NOOP = 1.5
TARGET_RAW_OVER_EXPORT = 50
TARGET_DUCKDB_OVER_EXPORT = 5
TARGET_BULK_EPS = 100_000
TARGET_HTTP_EPS = 30_000
#: The headline case.
HEADLINE = (30, "product", False)


def _case(row: dict[str, Any]) -> str:
    return f"{row['days']:>3} days, {row['group_by']:<9}{' filtered' if row['filtered'] else ''}"


def _key(row: dict[str, Any]) -> tuple[int, str, bool]:
    return (row["days"], row["group_by"], row["filtered"])


def targets(store: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for one store's figures."""
    exports = {_key(row): row for row in store["export"]}
    head = exports[HEADLINE]
    noop = store["noop"]["p50_ms"]
    raw = {_key(row): row for row in store["raw_group_by"]}[HEADLINE]
    duck = {_key(row): row for row in store["duckdb"]}[HEADLINE]
    bulk = store["ingest"][0]["events_per_second"]
    http = max((row["events_per_second"] for row in store["ingest"][1:]), default=0)
    return [
        (f"export p50 (30 days, product) <= {TARGET_EXPORT_OVER_NOOP}x no-op",
         f"{head['p50_ms'] / noop:.2f}x", head["p50_ms"] / noop <= TARGET_EXPORT_OVER_NOOP),
        (f"raw GROUP BY >= {TARGET_RAW_OVER_EXPORT}x export (at 10M events)",
         f"{raw['median_ms'] / head['p50_ms']:.1f}x",
         raw["median_ms"] / head["p50_ms"] >= TARGET_RAW_OVER_EXPORT),
        (f"DuckDB >= {TARGET_DUCKDB_OVER_EXPORT}x export (at 10M events)",
         f"{duck['median_ms'] / head['p50_ms']:.1f}x",
         duck["median_ms"] / head["p50_ms"] >= TARGET_DUCKDB_OVER_EXPORT),
        (f"bulk ingest >= {TARGET_BULK_EPS:,} events/s", f"{bulk:,}", bulk >= TARGET_BULK_EPS),
        (f"HTTP ingest >= {TARGET_HTTP_EPS:,} events/s", f"{http:,}", http >= TARGET_HTTP_EPS),
    ]  # fmt: skip


def table(results: dict[str, Any]) -> str:
    """The whole run as text: one section per store."""
    out = [
        f"creditmeter benchmark: {results['events']:,} events in {results['order']} order "
        f"(seed {results['seed']}), "
        f"big organization {results['org_id']} with {results['org_events']:,} of them",
        f"machine: {results['machine']}",
        f"DuckDB load of the JSON lines: {results['duckdb_load_s']:.1f} s",
    ]
    for kind, store in results["stores"].items():
        out += ["", f"== {kind} ==", ""]
        out.append(f"{'ingest':<44}{'events':>11}{'seconds':>10}{'events/s':>11}{'peak MiB':>10}")
        for row in store["ingest"]:
            peak = f"{row['server_peak_kib'] / 1024:.0f}" if row.get("server_peak_kib") else "-"
            out.append(
                f"  {row['path']:<42}{row['events']:>11,}{row['seconds']:>10.2f}"
                f"{row['events_per_second']:>11,}{peak:>10}"
            )
        noop = store["noop"]
        out += [
            "",
            f"{'export over HTTP (ms)':<32}{'p50':>8}{'p95':>8}{'p99':>8}{'n':>6}{'rows':>7}"
            f"{'no-op':>7}{'/no-op':>8}{'raw/exp':>9}{'duck/exp':>9}",
            f"  {'no-op (GET /healthz)':<30}{noop['p50_ms']:>8.2f}{noop['p95_ms']:>8.2f}"
            f"{noop['p99_ms']:>8.2f}{noop['requests']:>6}",
        ]
        raw = {_key(row): row for row in store["raw_group_by"]}
        duck = {_key(row): row for row in store["duckdb"]}
        for row in store["export"]:
            # The ratio is over the run's own no-op. The one timed in turn with the
            # case (column "no-op") is shown beside it: it runs just after each
            # export, while the server still finishes that request's work, so it
            # reads slower and would flatter the ratio.
            paired = row.get("noop_p50_ms")
            ratios = f"{paired:>7.2f}" if paired else f"{'':>7}"
            ratios += f"{row['p50_ms'] / noop['p50_ms']:>8.2f}"
            for alternative in (raw, duck):
                other = alternative.get(_key(row))
                ratios += f"{other['median_ms'] / row['p50_ms']:>9.1f}" if other else f"{'':>9}"
            out.append(
                f"  {_case(row):<30}{row['p50_ms']:>8.2f}{row['p95_ms']:>8.2f}{row['p99_ms']:>8.2f}"
                f"{row['requests']:>6}{row['rows']:>7}{ratios}"
            )
        again = store.get("served_again")
        if again:
            ratio = again["export"]["p50_ms"] / again["noop"]["p50_ms"]
            out.append(
                f"  {'served again: no-op':<30}{again['noop']['p50_ms']:>8.2f}"
                f"{again['noop']['p95_ms']:>8.2f}{again['noop']['p99_ms']:>8.2f}"
                f"{again['noop']['requests']:>6}"
            )
            out.append(
                f"  {'  ' + _case(again['export']):<30}{again['export']['p50_ms']:>8.2f}"
                f"{again['export']['p95_ms']:>8.2f}{again['export']['p99_ms']:>8.2f}"
                f"{again['export']['requests']:>6}{again['export']['rows']:>7}"
                f"{again['export'].get('noop_p50_ms', 0):>7.2f}{ratio:>8.2f}"
            )
        out += [
            "",
            f"{'alternatives, in process (median ms)':<44}{'raw GROUP BY':>14}{'DuckDB':>10}",
        ]
        for row in store["raw_group_by"]:
            other = duck.get(_key(row))
            out.append(
                f"  {_case(row):<42}{row['median_ms']:>14.2f}"
                f"{other['median_ms'] if other else float('nan'):>10.2f}"
            )
        out += [
            f"  index for the raw GROUP BY: {store['raw_index']} "
            f"({store['raw_index_s']:.1f} s to build)",
            "",
            f"export server peak memory (VmHWM): {store['export_server_peak_kib'] / 1024:.0f} MiB",
            "",
            "targets:",
        ]
        for name, measured, met in targets(store):
            out.append(f"  {'met   ' if met else 'MISSED'} {name:<54} {measured}")
    return "\n".join(out)
