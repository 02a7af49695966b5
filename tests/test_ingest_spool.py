"""``creditmeter ingest`` reads each line once: the validation pass keeps the events in
an :class:`EventSpool` (memory up to a bound, a temporary file past it), and the
import pass records them from there. These tests lower the bound so that a small
file crosses it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from creditmeter import event_spool
from creditmeter.cli import app
from creditmeter.event_spool import EventSpool
from creditmeter.events import Event, read_lines
from creditmeter.ingest import check_file, record_events
from creditmeter.store import open_store

runner = CliRunner()
NOW_US = 1_800_000_000 * 1_000_000


@pytest.fixture
def db(new_database: Callable[[], str]) -> str:
    return new_database()


@pytest.fixture
def small_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 7 events, and about three of them kept in memory."""
    monkeypatch.setattr(event_spool, "CHUNK_EVENTS", 7)
    monkeypatch.setattr(event_spool, "MEMORY_BYTES", 1_000)


def _event(n: int, **overrides: object) -> dict[str, object]:
    return {
        "id": f"e{n}",
        "orgId": f"org_{n % 3}",
        "timestamp": f"2026-05-{10 + n % 9:02d}T{n % 24:02d}:{n % 60:02d}:07Z",
        "product": ("parse", "extract", "split")[n % 3],
        "feature": f"f{n % 4}" if n % 5 else None,
        "apiKey": f"key_{n % 6}",
        "fileType": "pdf" if n % 2 else None,
        # Every event its own amount, so that a lost or repeated event shows in the sums.
        "credits": n + 0.25,
        "requestCount": n % 4,
        **overrides,
    }


def _write(path: Path, events: list[dict[str, object]], *, blank_after: int = -1) -> Path:
    text = ""
    for n, event in enumerate(events):
        text += json.dumps({k: v for k, v in event.items() if v is not None}) + "\n"
        if n == blank_after:
            text += "\n"
    path.write_text(text)
    return path


def _stored(db: str) -> list[tuple[Any, ...]]:
    store = open_store(db)
    try:
        with store.read() as connection:
            return [
                tuple(row)
                for row in connection.exec_driver_sql(
                    "SELECT org_id, event_id, timestamp_us, product, feature, api_key, "
                    "file_type, credits_micro, request_count FROM usage_events"
                )
            ]
    finally:
        store.close()


def _expected(events: list[dict[str, object]]) -> list[tuple[Any, ...]]:
    rows = []
    for event in events:
        moment = datetime.strptime(str(event["timestamp"]), "%Y-%m-%dT%H:%M:%S%z")
        micros = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        rows.append(
            (
                event["orgId"],
                event["id"],
                micros,
                event["product"],
                event["feature"],
                event["apiKey"],
                event["fileType"],
                round(float(event["credits"]) * 1_000_000),  # type: ignore[arg-type]
                event["requestCount"],
            )
        )
    return rows


def _ingest(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, ["ingest", *args], input=input, env=env)


# -- the spool itself --------------------------------------------------------------


def _read(lines: list[bytes]) -> list[Event]:
    events = list(read_lines(lines, NOW_US, start=1))
    assert all(isinstance(event, Event) for event in events)
    return events  # type: ignore[return-value]


def test_the_spool_gives_back_every_event_as_it_was_read_past_the_memory_bound() -> None:
    lines = [
        json.dumps(_event(n)).encode() for n in range(40)
    ] + [  # units, a timestamp with an offset and a fraction, non-ASCII, the largest numbers
        json.dumps({"id": "ü-1", "orgId": "org_ß", "timestamp": "2026-05-19T16:03:11.123456+02:00",
                    "product": "parse", "units": 3.5}).encode(),
        b'{"id": "big", "orgId": "o", "timestamp": "0001-01-01T00:00:00Z", "product": "p", '
        b'"credits": 1000000000, "requestCount": 1000000}',
    ]  # fmt: skip
    read = _read(lines)
    with EventSpool(memory_bytes=600, chunk_events=5) as spool:
        for event in read:
            spool.add(event)
        assert len(spool) == len(read) == 42
        back = list(spool)
        assert spool.spilled_bytes > 0
        again = list(spool)
    for events in (back, again):
        assert events == read
        assert [e.index for e in events] == [e.index for e in read] == list(range(1, 43))
        assert [e.sent_timestamp for e in events] == [e.sent_timestamp for e in read]
    assert back[40].units_micro == 3_500_000 and back[40].sent_timestamp is not None


def test_a_spool_within_its_memory_bound_writes_no_file() -> None:
    read = _read([json.dumps(_event(n)).encode() for n in range(30)])
    with EventSpool(chunk_events=4) as spool:
        for event in read:
            spool.add(event)
        assert list(spool) == read
        assert spool.spilled_bytes == 0


def test_a_file_past_the_memory_bound_is_recorded_exactly_through_the_library(
    tmp_path: Path, db: str
) -> None:
    events = [_event(n) for n in range(60)]
    source = _write(tmp_path / "events.jsonl", events, blank_after=30)
    store = open_store(db)
    try:
        with source.open("rb") as lines, EventSpool(memory_bytes=500, chunk_events=4) as spool:
            checked = check_file(lines, keep=spool)
            assert (checked.seen, checked.problems) == (60, [])
            assert spool.spilled_bytes > 0
            batches: list[int] = []
            result = record_events(store, spool, max_events=11, on_batch=batches.append)
    finally:
        store.close()
    assert (result.accepted, result.duplicates, result.batches) == (60, 0, 6)
    assert batches == [11, 11, 11, 11, 11, 5]
    assert sorted(_stored(db)) == sorted(_expected(events))


# -- creditmeter ingest past the bound -------------------------------------------------


@pytest.mark.usefixtures("small_spool")
def test_ingest_of_a_file_larger_than_the_memory_bound_imports_exactly(
    tmp_path: Path, db: str
) -> None:
    events = [_event(n) for n in range(100)]
    source = _write(tmp_path / "events.jsonl", events, blank_after=50)
    result = _ingest(str(source), "--database-url", db, "--json",
                     env={"CREDITMETER_MAX_BATCH_EVENTS": "9"})  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 100
    assert sorted(_stored(db)) == sorted(_expected(events))


@pytest.mark.usefixtures("small_spool")
def test_ingest_from_stdin_larger_than_the_memory_bound_imports_exactly(db: str) -> None:
    events = [_event(n) for n in range(100)]
    text = "".join(json.dumps({k: v for k, v in e.items() if v is not None}) + "\n" for e in events)
    result = _ingest("-", "--database-url", db, "--json", input=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["accepted"] == 100
    assert sorted(_stored(db)) == sorted(_expected(events))


@pytest.mark.usefixtures("small_spool")
def test_ingest_with_a_bad_line_after_the_memory_bound_stores_nothing(
    tmp_path: Path, db: str
) -> None:
    events = [_event(n) for n in range(100)]
    events[96] = _event(96, credits=-1)
    source = _write(tmp_path / "events.jsonl", events, blank_after=10)
    result = _ingest(str(source), "--database-url", db)
    assert result.exit_code == 1
    # Line 98: the blank line after the 11th event counts as a line of the file.
    assert result.stderr.startswith("line 98, credits: 'credits' must be between 0")
    assert "nothing was stored" in result.stderr
    assert _stored(db) == []


@pytest.mark.usefixtures("small_spool")
def test_ingest_past_the_memory_bound_names_the_line_a_later_batch_refuses(
    tmp_path: Path, db: str
) -> None:
    """Lines kept in the temporary file keep their numbers: the daily total's limit,
    found only when a batch is written, names the line of the event that passes it."""
    events = [_event(n, orgId="org_acme", timestamp="2026-05-19T10:00:00Z") for n in range(80)]
    events[70] = _event(70, orgId="org_acme", timestamp="2026-05-19T10:00:00Z",
                        credits=1_000_000_000)  # fmt: skip
    source = _write(tmp_path / "events.jsonl", events)
    store = open_store(db)
    try:
        with store.write() as connection:
            connection.exec_driver_sql(
                "INSERT INTO usage_daily_totals (org_id, day, credits_micro, request_count) "
                "VALUES ('org_acme', '2026-05-19', 8999999900000000000, 1)"
            )
    finally:
        store.close()
    result = _ingest(str(source), "--database-url", db,
                     env={"CREDITMETER_MAX_BATCH_EVENTS": "10"})  # fmt: skip
    assert result.exit_code == 1
    assert "line 71, credits" in result.stderr
    assert "The first 70 events of the file were stored" in result.stderr
    assert len(_stored(db)) == 70


@pytest.mark.usefixtures("small_spool")
def test_ingest_into_a_new_database_prices_the_kept_events_and_names_the_line(
    tmp_path: Path,
) -> None:
    """Into a new database there is no card while the file is read: the events sent
    with units are priced from the spool once the database is made."""
    events = [_event(n) for n in range(60)]
    events[55] = {**_event(55), "credits": None, "units": 2}
    source = _write(tmp_path / "events.jsonl", events)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = _ingest(str(source), "--database-url", url)
    assert result.exit_code == 1
    assert "line 56, units: No rate is in force for product 'extract'" in result.stderr
    assert "nothing was stored" in result.stderr
    assert _stored(url) == []


@pytest.mark.usefixtures("small_spool")
def test_ingest_stops_before_storing_anything_when_the_temporary_file_cannot_be_written(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-directory"
    monkeypatch.setattr(tempfile, "tempdir", str(missing))
    source = _write(tmp_path / "events.jsonl", [_event(n) for n in range(100)])
    result = _ingest(str(source), "--database-url", db)
    assert result.exit_code == 1
    assert "Could not keep the events read in a temporary file" in result.stderr
    assert str(missing) in result.stderr and "TMPDIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert _stored(db) == []
