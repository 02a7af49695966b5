"""creditmeter's benchmark, in one run: ingest, export latency and the alternatives.

    python -m bench                                   # 1M events, SQLite and PostgreSQL
    python -m bench --events 10000000 --stores sqlite --json bench-10m.json
    python -m bench --smoke --stores sqlite           # tiny: checks the program runs
    python -m bench --order random --stores sqlite    # a backfill in random order
    python -m bench --events 200000 --units-only      # units vs credits at ingest (issue 15)

See docs/benchmarks.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import alerts, latency, settling, streaming, units
from bench.alternatives import INDEX, DuckDBScan, RawGroupBy
from bench.footprint import footprint
from bench.ingest import bulk, http
from bench.report import HEADLINE, table
from bench.servers import databases, peak_memory_kib, serve
from bench.workload import ORDERS, write_jsonl
from creditmeter.directory import Directory
from creditmeter.store import open_store

BIG_ORG = "org_00"
HTTP_BATCHES = (1_000, 10_000)
#: The alternatives are timed on these cases (every range, groupBy product).
ALTERNATIVE_CASES = [case for case in latency.cases() if case.group_by == "product"]


@dataclass(frozen=True)
class Duck:
    """DuckDB's figures, measured once for all stores, and its answers to issue 13's cases."""

    figures: list[dict[str, Any]]
    speed: list[dict[str, Any]]
    answers: dict[latency.Case, latency.Answer]
    #: The rows of the streamed export's answer.
    streamed_rows: int


def _machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kib / 1024 / 1024:.0f} GiB, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def _reader_secret(database_url: str) -> str:
    """A personal key of a member of the big organization."""
    store = open_store(database_url)
    try:
        directory = Directory(store)
        directory.create_org("Big organization", org_id=BIG_ORG)
        user = directory.create_user("bench@example.com")
        directory.set_membership(BIG_ORG, user.id)
        _, secret = directory.create_key(user.id, BIG_ORG)
    finally:
        store.close()
    return secret


def _store(kind: str, args: argparse.Namespace, source: Path, http_source: Path,
           duck: Duck, plan: latency.Plan) -> dict[str, Any]:  # fmt: skip
    """Every figure of one store: ingest, export latency and the raw GROUP BY (DuckDB's
    figures, measured once for all stores, are attached as ``duck``)."""
    figures: dict[str, Any] = {"ingest": [], "duckdb": duck.figures}
    with databases(kind, args.workdir) as fresh:
        figures["units"] = _units(kind, args, fresh)
        # Issue 16: alerts cost HTTP ingest (its own workload: one organization, events
        # of the last hour, so every batch lands in the alerts' current periods).
        figures["alerts"] = alerts.compare(
            kind, fresh, events=min(args.events, 200_000), senders=args.senders,
            rounds=1 if args.smoke else alerts.ROUNDS,
        )  # fmt: skip
        url = fresh()
        seconds = bulk(url, source)
        figures["ingest"].append(
            {"path": "bulk file import (creditmeter ingest)", "events": args.events,
             "seconds": round(seconds, 3), "events_per_second": round(args.events / seconds)}
        )  # fmt: skip
        print(f"{kind}: bulk import {seconds:.1f} s", flush=True)
        figures["footprint"] = footprint(url)
        stored = figures["footprint"]["database_bytes"]
        print(f"{kind}: the database holds {stored / 2**20:.1f} MiB", flush=True)
        for batch in HTTP_BATCHES if args.http_events else ():
            seconds, peak = http(fresh(), http_source, batch=batch, senders=args.senders)
            figures["ingest"].append(
                {"path": f"HTTP, {batch:,} a batch, {args.senders} senders",
                 "events": args.http_events, "seconds": round(seconds, 3),
                 "events_per_second": round(args.http_events / seconds),
                 "server_peak_kib": peak}
            )  # fmt: skip
            print(f"{kind}: HTTP ingest, batches of {batch:,}: {seconds:.1f} s", flush=True)

        secret = _reader_secret(url)
        # Settling at once: at 10M events the import ended minutes before anyway.
        with serve(url, export_rate_limit="0", settle_after_seconds="0") as (base, process):
            figures["noop"] = latency.noop(base, plan)
            # Issue 13: the headline before any other export has read the database (a
            # backfill read at once is what a new user does); the table's own row of
            # the same case comes after the 7-day ones.
            figures["right_after_import"] = latency.export(
                base, secret, BIG_ORG, latency.Case(*HEADLINE), plan
            )
            # Issue 13: the import settled the days it wrote (decision 0016); were any
            # left, the server would settle them by itself. The exports after this
            # read settled days only.
            figures["settled"] = settling.wait_until_settled(url)
            print(f"{kind}: {figures['settled']['days']:,} days settled "
                  f"{figures['settled']['seconds']:.0f} s after the server started",
                  flush=True)  # fmt: skip
            figures["footprint_settled"] = footprint(url)
            figures["export"] = []
            for case in latency.cases():
                row = latency.export(base, secret, BIG_ORG, case, plan)
                figures["export"].append(row)
                print(f"{kind}: export {case.days}d {case.group_by} "
                      f"{'filtered ' if case.filtered else ''}p50 {row['p50_ms']:.2f} ms",
                      flush=True)  # fmt: skip
            figures["export_server_peak_kib"] = peak_memory_kib(process.pid)
            figures["speed"] = _speed(kind, base, secret, duck, plan)
            figures["streamed"] = streaming.stream(
                base, secret, BIG_ORG, latency.STREAMED, process.pid
            )
            figures["streamed"]["duckdb_rows"] = duck.streamed_rows
            print(f"{kind}: streamed {figures['streamed']['rows']:,} rows, server memory "
                  f"+{figures['streamed']['growth_kib'] / 1024:.1f} MiB", flush=True)  # fmt: skip
        # The same database served again by a new server, the headline case only:
        # a figure that differs from the first server's is not the database's.
        with serve(url, export_rate_limit="0") as (base, _):
            days, group_by, filtered = HEADLINE
            figures["served_again"] = {
                "noop": latency.noop(base, plan),
                "export": latency.export(
                    base, secret, BIG_ORG, latency.Case(days, group_by, filtered), plan
                ),
            }

        raw = RawGroupBy(url)
        try:
            figures["raw_index"] = INDEX
            figures["raw_index_s"] = round(raw.add_index(), 3)
            figures["raw_group_by"] = [
                {"days": c.days, "group_by": c.group_by, "filtered": c.filtered,
                 **raw.measure(BIG_ORG, c, runs=args.alternative_runs, budget_s=plan.budget_s)}
                for c in ALTERNATIVE_CASES
            ]  # fmt: skip
        finally:
            raw.close()
    return figures


#: At most this many events in each import of a whole run's units comparison.
UNITS_EVENTS_MAX = 1_000_000


def _units(kind: str, args: argparse.Namespace, fresh: Any) -> list[dict[str, Any]]:
    """Ingest of the workload carrying units against the same carrying credits."""
    return units.compare(
        kind, fresh, args.units_sources, args.units_http_sources,
        events=args.units_events, http_events=args.http_events, senders=args.senders,
        rounds=1 if args.smoke else 3,
    )  # fmt: skip


def _speed(
    kind: str, base: str, secret: str, duck: Duck, plan: latency.Plan
) -> list[dict[str, Any]]:
    """Issue 13's cases, each with DuckDB's time and whether its answer equals the
    export's. The headline in UTC and in the local zone are timed in turn with each
    other (their ratio is a target), the others one after the other."""
    utc, local, *others = latency.SPEED_CASES
    timed = latency.exports_in_turn(base, secret, BIG_ORG, [utc, local], plan)
    timed += [latency.export(base, secret, BIG_ORG, case, plan) for case in others]
    found = []
    for case, row, duck_row in zip(latency.SPEED_CASES, timed, duck.speed, strict=True):
        row["duckdb_ms"] = duck_row["median_ms"]
        row["duckdb_check"] = latency.compare(
            latency.answer(base, secret, BIG_ORG, case), duck.answers[case]
        )
        found.append(row)
        print(f"{kind}: export {case.days}d {case.group_by} {case.width} "
              f"{case.time_zone or 'UTC'}{' filtered' if case.filtered else ''} "
              f"p50 {row['p50_ms']:.2f} ms", flush=True)  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the workload")
    parser.add_argument("--stores", default="sqlite,postgresql", help="comma-separated")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that checks the program")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--order", choices=ORDERS, default=ORDERS[0],
        help="the events' order: time (a stream, day by day) or random (a backfill: "
        "three organizations, every batch spread over the whole year)",
    )  # fmt: skip
    parser.add_argument("--senders", type=int, default=4, help="concurrent HTTP ingest senders")
    parser.add_argument(
        "--http-events", type=int, default=1_000_000,
        help="at most this many events for each HTTP ingest run (a rate; default 1M; 0 skips)",
    )  # fmt: skip
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--workdir", type=Path, help="where the files go (default: a temp dir)")
    parser.add_argument(
        "--units-only", action="store_true",
        help="only compare ingest of events carrying units with the same carrying credits",
    )  # fmt: skip
    args = parser.parse_args()
    plan = latency.Plan(requests=args.requests)
    args.alternative_runs = 20
    if args.smoke:
        args.events, args.http_events, args.senders = 2_000, 2_000, 2
        plan = latency.Plan(requests=10, warmup=2, min_requests=5, budget_s=1.0)
        args.alternative_runs = 3
    args.http_events = min(args.http_events, args.events)

    with tempfile.TemporaryDirectory(prefix="creditmeter-bench-", dir=args.workdir) as tmp:
        args.workdir = Path(tmp)
        source = write_jsonl(
            args.workdir / "events.jsonl", args.events, seed=args.seed, order=args.order
        )
        http_source = source
        if args.http_events < args.events:
            http_source = write_jsonl(
                args.workdir / "http.jsonl", args.http_events, seed=args.seed, order=args.order
            )
        # The units comparison is a ratio of rates: in a whole run its six bulk imports
        # take at most UNITS_EVENTS_MAX events each, not the whole workload (its HTTP
        # runs send --http-events, as the other HTTP runs do).
        args.units_events = args.events if args.units_only else min(args.events, UNITS_EVENTS_MAX)
        units_credits = source
        if args.units_events < args.events:
            units_credits = write_jsonl(args.workdir / "units-credits.jsonl", args.units_events,
                                        seed=args.seed, order=args.order)  # fmt: skip
        args.units_sources = (
            units_credits,
            write_jsonl(args.workdir / "units.jsonl", args.units_events, seed=args.seed,
                        order=args.order, units=True),
        )  # fmt: skip
        args.units_http_sources = (
            http_source,
            write_jsonl(args.workdir / "http-units.jsonl", args.http_events, seed=args.seed,
                        order=args.order, units=True),
        )  # fmt: skip
        print(f"workload written: {args.events:,} events in {args.order} order", flush=True)
        if args.units_only:
            only: dict[str, Any] = {"events": args.events, "machine": _machine(), "stores": {}}
            for kind in args.stores.split(","):
                with databases(kind, args.workdir) as fresh:
                    only["stores"][kind] = {"units": _units(kind, args, fresh)}
            print()
            print(units.report(only))
            if args.json:
                args.json.write_text(json.dumps(only, indent=2) + "\n")
            return
        duck = DuckDBScan(source)
        try:
            org_events = duck.connection.execute(
                "SELECT count(*) FROM events WHERE org_id = ?", [BIG_ORG]
            ).fetchone()[0]  # type: ignore[index]
            duck_figures = Duck(
                figures=[
                    {"days": c.days, "group_by": c.group_by, "filtered": c.filtered,
                     **duck.measure(BIG_ORG, c, runs=args.alternative_runs, budget_s=plan.budget_s)}
                    for c in ALTERNATIVE_CASES
                ],
                speed=[
                    {**c.fields(),
                     **duck.measure(BIG_ORG, c, runs=args.alternative_runs, budget_s=plan.budget_s)}
                    for c in latency.SPEED_CASES
                ],
                answers={c: duck.answer(BIG_ORG, c) for c in latency.SPEED_CASES},
                streamed_rows=duck.count(BIG_ORG, latency.STREAMED),
            )  # fmt: skip
            duck_load_s = duck.load_s
        finally:
            duck.close()
        results: dict[str, Any] = {
            "events": args.events,
            "seed": args.seed,
            "order": args.order,
            "org_id": BIG_ORG,
            "org_events": org_events,
            "machine": _machine(),
            "duckdb_load_s": round(duck_load_s, 3),
            "stores": {
                kind: _store(kind, args, source, http_source, duck_figures, plan)
                for kind in args.stores.split(",")
            },
        }
    print()
    print(table(results))
    print()
    print(units.report(results))
    print()
    print(alerts.report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
