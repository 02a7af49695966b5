"""Voids go through the one rollup rule: properties over random ingests and voids.

Random mixes of batches (repeats, re-sent batches, voided ids sent again) and
voids (repeated ids, ids voided before, ids never stored, another
organization's ids) go to a store of each kind under test; after them the
quarter-hour rollups (full and by product), the per-dimension rollups and the
daily totals must equal a GROUP BY, made here in Python, of the stored events
minus the voided ones,
with no row left for a key whose events are all voided; every answer must be
the oracle's; and the export's read of raw events must leave the voided out.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditmeter.events import Event
from creditmeter.ingest import record
from creditmeter.store import Store
from creditmeter.store.usage import usage_by_instant
from creditmeter.void_result import VoidResult
from creditmeter.voids import Author, VoidRequest, void
from tests.test_rollup_rule import (
    FIRST_US,
    LAST_US,
    _events,
    _prefixed,
    _stored,
    stores,  # noqa: F401 (the fixture)
    summed,
)

_IDS = [f"ev{n}" for n in range(12)] + ["never"]
_ORGS = ["org_a", "org_b", "org_é"]
# Small credits: the daily limit is another property's business.
_SMALL = st.integers(0, 10**9)


@dataclass(frozen=True)
class Voiding:
    org_id: str
    ids: list[str]


_voidings = st.builds(
    Voiding,
    st.sampled_from(_ORGS),
    st.lists(st.sampled_from(_IDS), min_size=1, max_size=10),
)
_steps = st.lists(
    st.one_of(st.lists(_events(_SMALL), min_size=1, max_size=12), _voidings),
    min_size=1,
    max_size=10,
)


def _oracle_void(
    kept: dict[tuple[str, str], Event], gone: set[tuple[str, str]], step: Voiding
) -> VoidResult:
    distinct = list(dict.fromkeys(step.ids))
    new = [i for i in distinct if (step.org_id, i) in kept and (step.org_id, i) not in gone]
    already = [i for i in distinct if (step.org_id, i) in gone]
    gone.update((step.org_id, i) for i in new)
    return VoidResult(
        voided=len(new),
        already_voided=already,
        not_found=[i for i in distinct if (step.org_id, i) not in kept],
    )


def _raw_sums(store: Store, prefix: str) -> dict[tuple[str, str], tuple[int, int, int]]:
    """The export's read of raw events over every instant, by organization and product."""
    found = {}
    with store.read() as connection:
        for org_id in _ORGS:
            rows = usage_by_instant(
                connection,
                org_id=prefix + org_id,
                ranges=[(FIRST_US, LAST_US + 1)],
                group_by=["product"],
                filters={},
            )
            for _, (product,), credits, requests, events in rows:
                found[(org_id, product)] = (credits, requests, events)
    return found


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=_steps)
def test_rollups_equal_the_stored_events_minus_the_voided_ones(
    stores: list[Store],  # noqa: F811
    steps: list[Any],
) -> None:
    prefix = f"{uuid.uuid4().hex[:8]}_"
    kept: dict[tuple[str, str], Event] = {}
    gone: set[tuple[str, str]] = set()
    expected_answers: list[Any] = []
    for step in steps:
        if isinstance(step, Voiding):
            expected_answers.append(_oracle_void(kept, gone, step))
        else:
            new = {}
            for event in step:
                if (event.org_id, event.id) not in kept:
                    new.setdefault((event.org_id, event.id), event)
            kept.update(new)
            expected_answers.append(None)

    counted = [event for key, event in kept.items() if key not in gone]
    raw: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for event in counted:
        amounts = raw[(event.org_id, event.product)]
        amounts[0] += event.credits_micro
        amounts[1] += event.request_count
        amounts[2] += 1
    for store in stores:
        answers: list[Any] = []
        for step in steps:
            if isinstance(step, Voiding):
                request = VoidRequest(prefix + step.org_id, step.ids, "property")
                answers.append(void(store, request, Author("cli")).result)
            else:
                record(store, _prefixed(step, prefix), received_us=0)
                answers.append(None)
        assert answers == expected_answers
        assert _stored(store, prefix) == summed(counted, prefix)
        assert _raw_sums(store, prefix) == {key: tuple(value) for key, value in raw.items()}
