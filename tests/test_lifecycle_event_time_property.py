"""The event-time invariant, for all stories: a customer's interactions, sent in any order and any
batching, give in every built-in model the history that a replay of the sorted story gives.

Stories are random (hypothesis): a first contact up to 400 days ago and up to 12 interactions of
the kinds the built-in rules read, at distinct times, sent in time order or shuffled. Each
example writes a fresh customer of one workspace that tracks all four built-in models, through
the live services with one fixed `now`, then compares what is stored (moves in force, positions,
facts) with `replay_customer` over the stored interactions. The examples are derandomized so CI
sees the same ones on every run; set JORNADA_PROPERTY_EXAMPLES to search further.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from api import lifecycle_admin as admin
from api import lifecycle_store as store
from api.customers import create_customer, get_customers
from api.interactions import NewInteraction, Recorded, record_many
from api.lifecycle import RULE, Lifecycle, event_of, replay_customer
from api.records import InteractionRecord, TransitionRecord
from plugins.facts import FactsState
from tests.conftest import Api

pytestmark = pytest.mark.asyncio

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODELS = ("funnel", "three-phase", "lifespan", "five-phase")
EXAMPLES = int(os.environ.get("JORNADA_PROPERTY_EXAMPLES", "40"))

# (kind, amount, score) choices: what the built-in criteria read.
KINDS: list[tuple[str, str | None, int | None]] = [
    ("site_visit", None, None),
    ("email_clicked", None, None),
    ("content_downloaded", None, None),
    ("form_submitted", None, None),
    ("demo_requested", None, None),
    ("meeting", None, None),
    ("proposal_sent", None, None),
    ("purchase", "120.00", None),
    ("purchase", "900.00", None),
    ("renewal", "50.00", None),
    ("subscription_started", None, None),
    ("subscription_cancelled", None, None),
    ("referral", None, None),
    ("nps_response", None, 10),
    ("nps_response", None, 3),
    ("review", None, 5),
]


@st.composite
def stories(draw: st.DrawFn) -> dict[str, Any]:
    hours = draw(st.lists(st.integers(0, 400 * 24), min_size=1, max_size=12, unique=True))
    events = [(h, draw(st.sampled_from(KINDS)), draw(st.sampled_from(["a", "b"]))) for h in hours]
    # Half the stories arrive in time order (a backfill, a live feed): each interaction then lands
    # after the latest one but often before moves the time-based rules made up to `now`.
    in_time_order = draw(st.booleans())
    order = sorted(range(len(events)), key=lambda n: -events[n][0]) if in_time_order else None
    order = order or draw(st.permutations(range(len(events))))
    cuts = draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    return {"created_hours_ago": draw(st.integers(0, 400 * 24)), "events": events, "order": order, "cuts": cuts}


def interaction(cid: int, event: tuple[int, tuple[str, str | None, int | None], str]) -> NewInteraction:
    hours, (kind, amount, score), product = event
    return NewInteraction(
        cid,
        kind,
        NOW - timedelta(hours=hours),
        amount=None if amount is None else Decimal(amount),
        score=score,
        properties={"product": product} if kind == "purchase" else {},
    )


def batches(items: list[NewInteraction], cuts: list[bool]) -> list[list[NewInteraction]]:
    out: list[list[NewInteraction]] = [[]]
    for it, cut in zip(items, cuts, strict=True):
        out[-1].append(it)
        if cut:
            out.append([])
    return [b for b in out if b]


def shape(t: Any, by_id: dict[int, InteractionRecord]) -> tuple[Any, ...]:
    """A move as a user reads it (the interaction by what and when, not by id)."""
    found = by_id.get(t.interaction_id) if t.interaction_id else None
    return (
        t.model_key,
        t.from_stage,
        t.to_stage,
        t.occurred_at.timestamp(),
        t.rule,
        (found.kind, found.occurred_at.timestamp()) if found else None,
    )


async def track_every_model(lifecycle: Lifecycle, workspace_id: int) -> None:
    tracked = {r.model_key for r in await store.workspace_models(workspace_id) if r.tracked}
    for key in MODELS:
        if key not in tracked:
            await admin.track(lifecycle, workspace_id, key, dry_run=False)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(story=stories())
async def test_any_arrival_order_and_batching_gives_the_replayed_history(
    api: Api, app: Starlette, story: dict[str, Any]
) -> None:
    lifecycle: Lifecycle = app.state.lifecycle
    ws = api.workspace_id
    await track_every_model(lifecycle, ws)
    created = NOW - timedelta(hours=story["created_hours_ago"])
    cid = (await create_customer(ws, {"name": "P", "created_at": created}, now=NOW, lifecycle=lifecycle)).customer.id
    items = [interaction(cid, story["events"][n]) for n in story["order"]]
    for batch in batches(items, story["cuts"]):
        results = await record_many(ws, batch, app.state.plugins.kinds, now=NOW, lifecycle=lifecycle)
        assert all(isinstance(r, Recorded) for r in results), results

    stored = (await store.interaction_histories(ws, [cid]))[cid]
    by_id = {r.id: r for r in stored}
    customer = (await get_customers(ws, [cid]))[cid]
    tracked = await lifecycle.tracked(ws)
    live = await store.active_transitions(ws, [cid], [t.key for t in tracked])
    positions = {a.model_key: a for a in await store.positions(ws, [cid], [t.key for t in tracked])}
    for t in tracked:
        end, expected = replay_customer(t, customer, stored, NOW, RULE)
        got: list[TransitionRecord] = live.get((cid, t.key), [])
        assert [shape(m, by_id) for m in got] == [shape(m, by_id) for m in expected], t.key
        here = positions[t.key]
        assert (here.stage, here.entered_at) == (end.stage, end.entered_at), t.key
    folded = FactsState()
    for r in stored:
        folded.fold(event_of(r))
    assert (await store.facts_of(ws, [cid]))[cid].to_json() == folded.to_json()
