"""``creditmeter settle``: settle every unsettled day now (decision 0014)."""

from __future__ import annotations

import typer

from creditmeter.cli.common import DatabaseUrl, JsonOutput, opened_store, print_json, reports_errors
from creditmeter.settling import settle as settle_days


@reports_errors
def settle(database_url: DatabaseUrl = None, json_output: JsonOutput = False) -> None:
    """Settle every day now: build the per-dimension and pair rollups (and running
    totals) of each day changed since they were last built.

    A server does this by itself for the days unchanged for
    CREDITMETER_SETTLE_AFTER_SECONDS, and `creditmeter ingest FILE` for the days it
    wrote; run it after a backfill over HTTP, so that exports are quick at once.
    Safe while servers run: days are settled in short transactions.
    """
    with opened_store(database_url) as store:
        done = settle_days(store)
    if json_output:
        seconds = round(done.seconds, 3)
        print_json({"days": done.days, "pairRows": done.pair_rows, "seconds": seconds})
        return
    if not done.days:
        typer.echo("Every day is settled.")
        return
    typer.echo(
        f"Settled {done.days:,} days ({done.pair_rows:,} pair rollup rows) in {done.seconds:.1f} s."
    )
