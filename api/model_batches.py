"""The batches a model's stages are rebuilt from, `BATCH` customers at a time (memory stays flat):
a replay of their histories, or their stages in another model mapped; each batch is computed
while the previous one is written, a replay's in worker processes when it is given some
(`batch_pool.computed`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from api import lifecycle_store as store
from api.batch_pool import computed
from api.journey import MAPPING, REPLAY, Tracked, facts_at, replay_customer
from api.lifecycle_store import NewTransition
from api.live_state import Profile, profiles_after
from api.records import TransitionRecord
from plugins import engine
from plugins.engine import Position
from plugins.facts import FactsState

BATCH = 500
# What one batch gives: each customer's end position, and the moves to write.
Built = tuple[list[tuple[int, Position]], list[NewTransition]]


async def customer_batches(workspace_id: int) -> AsyncIterator[list[Profile]]:
    """Every customer of the workspace (what the rules read of it), `BATCH` at a time, in id
    order (memory stays flat)."""
    last = 0
    while batch := await profiles_after(workspace_id, last, BATCH):
        yield batch
        last = batch[-1].id


# A batch of customers and their interactions as plain rows (what crosses to a worker process).
Histories = tuple[list[Profile], list[tuple[Any, ...]]]


async def _with_histories(workspace_id: int) -> AsyncIterator[Histories]:
    async for customers in customer_batches(workspace_id):
        yield customers, await store.interaction_history_rows(workspace_id, [c.id for c in customers])


def replay(
    workspace_id: int, t: Tracked, pins: Mapping[int, Sequence[TransitionRecord]], workers: int = 0
) -> AsyncIterator[Built]:
    """Each customer's interactions through the model in time order, time rules at their due
    times, with historical timestamps; the model's manual moves (`pins`, per customer) are made
    again at their time. With `workers`, batches are computed in that many forked processes."""
    now = datetime.now(UTC)

    def compute(batch: Histories) -> Built:
        customers, rows = batch
        histories = store.histories_of(rows)
        positions, transitions = [], []
        for c in customers:
            position, moves = replay_customer(t, c, histories.get(c.id, []), now, REPLAY, pins.get(c.id, ()))
            positions.append((c.id, position))
            transitions += moves
        return positions, transitions

    return computed(_with_histories(workspace_id), compute, workers)


Snapshot = tuple[list[Profile], dict[int, str], dict[int, FactsState]]


async def _with_stages(workspace_id: int, key: str) -> AsyncIterator[Snapshot]:
    async for customers in customer_batches(workspace_id):
        ids = [c.id for c in customers]
        old = {a.customer_id: a.stage for a in await store.positions(workspace_id, ids, [key])}
        yield customers, old, await store.facts_of(workspace_id, ids)


def remap(workspace_id: int, source: Tracked, target: Tracked, mapping: Mapping[str, str]) -> AsyncIterator[Built]:
    """Every customer's stage in `source` carried to its mapped stage in `target`, as of now."""
    now = datetime.now(UTC)

    def compute(batch: Snapshot) -> Built:
        customers, old, facts = batch
        positions, transitions = [], []
        for c in customers:
            stage = mapping.get(old.get(c.id, ""), target.model.initial_for(target.params))
            pos = Position(stage, now)
            check = engine.next_check(
                target.model, target.params, pos, facts_at(facts.get(c.id, FactsState()), c)(now, now)
            )
            positions.append((c.id, Position(stage, now, check)))
            transitions.append(
                NewTransition(
                    workspace_id,
                    c.id,
                    target.key,
                    target.model.version,
                    None,
                    stage,
                    now,
                    MAPPING,
                    f"from {source.key}:{old.get(c.id)}",
                )
            )
        return positions, transitions

    return computed(_with_stages(workspace_id, source.key), compute)
