"""A replay computed in worker processes (JORNADA_REPLAY_WORKERS) writes what a replay in one
process writes: the same moves, positions and preview, whatever the batching."""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from api import batch_pool, model_batches
from api import lifecycle_admin as admin
from api import lifecycle_store as store
from api.customers import create_customer, get_customers
from api.errors import InputInvalid
from api.interactions import NewInteraction, Recorded, get_interactions, record_many
from api.lifecycle import REPLAY, Lifecycle, replay_customer
from api.records import TransitionRecord
from api.settings import Settings
from tests.conftest import Api

pytestmark = pytest.mark.asyncio

KINDS = ["site_visit", "form_submitted", "demo_requested", "meeting", "purchase", "renewal", "referral"]


async def numbers(n: int) -> AsyncIterator[int]:
    for x in range(n):
        yield x


def square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 9), workers=st.integers(0, 3))
async def test_batches_come_back_in_order_from_the_workers(n: int, workers: int) -> None:
    results = [r async for r in batch_pool.computed(numbers(n), square_with_pid, workers)]
    assert [value for value, _ in results] == [x * x for x in range(n)]
    elsewhere = {pid for _, pid in results} - {os.getpid()}
    # With workers and more than one batch, the batches after the first are computed elsewhere.
    assert bool(elsewhere) == (workers > 0 and n > 1 and batch_pool.can_fork())


async def test_the_environment_sets_the_workers() -> None:
    assert Settings.from_env({"JORNADA_REPLAY_WORKERS": "3"}).replay_workers == 3
    assert Settings.from_env({"JORNADA_REPLAY_WORKERS": "0"}).replay_workers == 0
    assert Settings.from_env({}).replay_workers >= 1
    with pytest.raises(ValueError, match="JORNADA_REPLAY_WORKERS"):
        Settings.from_env({"JORNADA_REPLAY_WORKERS": "-1"})


async def customers_with_histories(app: Starlette, ws: int, count: int) -> list[int]:
    """`count` customers with 0 to 8 interactions each, over the last two years (seeded)."""
    rng = random.Random(7)
    now = datetime.now(UTC)  # (the replay's own now follows within seconds)
    lifecycle: Lifecycle = app.state.lifecycle
    ids = []
    for n in range(count):
        created = now - timedelta(days=rng.randint(0, 700))
        made = await create_customer(ws, {"name": f"C{n}", "created_at": created}, now=now, lifecycle=lifecycle)
        ids.append(made.customer.id)
        items = [
            NewInteraction(
                made.customer.id,
                kind,
                now - timedelta(days=rng.randint(0, 700), minutes=rng.randint(0, 1000)),
                amount=Decimal("80.00") if kind in ("purchase", "renewal") else None,
                properties={"product": rng.choice("ab")} if kind == "purchase" else {},
            )
            for kind in rng.choices(KINDS, k=rng.randint(0, 8))
        ]
        results = await record_many(ws, items, app.state.plugins.kinds, now=now, lifecycle=lifecycle)
        assert all(isinstance(r, Recorded) for r in results), results
    return ids


def shape(t: TransitionRecord | store.NewTransition) -> tuple[object, ...]:
    return (t.from_stage, t.to_stage, t.occurred_at.timestamp(), t.rule, t.interaction_id)


async def test_a_replay_in_workers_writes_what_one_process_writes(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = api.workspace_id
    ids = await customers_with_histories(app, ws, 23)
    monkeypatch.setattr(model_batches, "BATCH", 4)  # six batches: five of them in the workers
    alone = Lifecycle(app.state.plugins, replay_workers=0)
    pooled = Lifecycle(app.state.plugins, replay_workers=2)

    preview = await admin.track(pooled, ws, "lifespan", dry_run=True)
    assert preview.distribution == (await admin.track(alone, ws, "lifespan", dry_run=True)).distribution
    assert sum(preview.distribution.values()) == len(ids)

    done = await admin.track(pooled, ws, "lifespan", dry_run=False)
    t = next(x for x in await pooled.tracked(ws) if x.key == "lifespan")
    customers = await get_customers(ws, ids)
    histories = await store.interaction_histories(ws, ids)
    stored = await store.active_transitions(ws, ids, ["lifespan"])
    positions = {a.customer_id: a for a in await store.positions(ws, ids, ["lifespan"])}
    expected_total = 0
    for cid in ids:
        end, expected = replay_customer(t, customers[cid], histories.get(cid, []), datetime.now(UTC), REPLAY)
        expected_total += len(expected)
        assert [shape(m) for m in stored[(cid, "lifespan")]] == [shape(m) for m in expected], cid
        assert positions[cid].stage == end.stage
    assert done.transitions_written == expected_total
    assert done.distribution == preview.distribution


PARENT = os.getpid()


def dies_in_a_worker(x: int) -> int:
    if os.getpid() != PARENT:
        os._exit(3)  # as a plugin that ends its process, or a worker the kernel kills
    return x


async def test_a_worker_that_dies_is_reported_not_hung() -> None:
    with pytest.raises(batch_pool.WorkerFailed):
        _ = [r async for r in batch_pool.computed(numbers(5), dies_in_a_worker, 2)]


async def test_a_replay_whose_worker_dies_changes_nothing_and_says_so(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = api.workspace_id
    ids = await customers_with_histories(app, ws, 9)
    real = model_batches.replay_customer

    def exiting(*args: object, **kwargs: object) -> object:
        if os.getpid() != PARENT:
            os._exit(3)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(model_batches, "BATCH", 2)
    monkeypatch.setattr(model_batches, "replay_customer", exiting)
    with pytest.raises(InputInvalid) as raised:
        await admin.track(Lifecycle(app.state.plugins, replay_workers=2), ws, "lifespan", dry_run=False)
    assert [(p.field, p.code) for p in raised.value.problems] == [(("model",), "REPLAY_FAILED")]
    assert "JORNADA_REPLAY_WORKERS" in raised.value.problems[0].message
    assert await store.positions(ws, ids, ["lifespan"]) == []
    assert "lifespan" not in {r.model_key for r in await store.workspace_models(ws) if r.tracked}


async def test_a_replay_reads_every_interaction_exactly(api: Api, app: Starlette) -> None:
    ws = api.workspace_id
    now = datetime.now(UTC)
    made = await create_customer(ws, {"name": "Exact"}, now=now, lifecycle=app.state.lifecycle)
    cid = made.customer.id
    at = datetime(2026, 3, 31, 23, 59, 59, 123457, tzinfo=UTC)
    item = NewInteraction(
        cid, "purchase", at, amount=Decimal("1234.05"), properties={"product": "ç", "n": [1, 2]}, idempotency_key="k1"
    )
    results = await record_many(ws, [item], app.state.plugins.kinds, now=now, lifecycle=app.state.lifecycle)
    assert isinstance(results[0], Recorded)
    (read,) = store.histories_of(await store.interaction_history_rows(ws, [cid]))[cid]
    assert (read.occurred_at, read.amount, read.properties, read.idempotency_key) == (
        at,
        Decimal("1234.05"),
        {"product": "ç", "n": [1, 2]},
        "k1",
    )
    assert read.occurred_at.tzinfo is UTC
    assert read == (await get_interactions(ws, [read.id]))[read.id]  # every field, as the API reads it


@settings(max_examples=300, deadline=None, derandomize=True)
@given(micros=st.integers(-5_000_000_000_000_000, 7_000_000_000_000_000))  # 1811 to 2191
async def test_epoch_microseconds_read_back_exactly(micros: int) -> None:
    expected = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    assert store.histories_of([(1, 1, 1, "k", None, micros, None, None, None, None, micros)])[1][0].occurred_at == (
        expected
    )


def slow_square(x: int) -> int:
    time.sleep(1.0)
    return x * x


async def test_a_replay_stopped_early_does_not_wait_for_the_workers() -> None:
    batches = batch_pool.computed(numbers(50), slow_square, 2)
    assert [await anext(batches), await anext(batches)] == [0, 1]
    started = time.perf_counter()
    await batches.aclose()  # as when the write of a batch fails: the rest is not waited for
    assert time.perf_counter() - started < 0.5
