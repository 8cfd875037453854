"""The batches a model's stages are rebuilt from, `BATCH` customers at a time (memory stays flat):
a replay of their histories, or their stages in another model mapped; each batch is computed
while the previous one is written (`_computed_ahead`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from api import lifecycle_store as store
from api.journey import MAPPING, REPLAY, Tracked, facts_at, replay_customer
from api.lifecycle_store import NewTransition
from api.live_state import Profile, profiles_after
from api.records import InteractionRecord, TransitionRecord
from plugins import engine
from plugins.engine import Position
from plugins.facts import FactsState

BATCH = 500
# What one batch gives: each customer's end position, and the moves to write.
Built = tuple[list[tuple[int, Position]], list[NewTransition]]
X = TypeVar("X")


async def customer_batches(workspace_id: int) -> AsyncIterator[list[Profile]]:
    """Every customer of the workspace (what the rules read of it), `BATCH` at a time, in id
    order (memory stays flat)."""
    last = 0
    while batch := await profiles_after(workspace_id, last, BATCH):
        yield batch
        last = batch[-1].id


async def _computed_ahead(reads: AsyncIterator[X], compute: Callable[[X], Built]) -> AsyncIterator[Built]:
    """Compute each batch that `reads` gives, then read the next, then yield: the consumer's write
    of a batch then runs on the connection while this computes the next one (and the read after
    it waits for that write), so the database and Python work at the same time."""
    item = await anext(reads, None)
    while item is not None:
        built = compute(item)
        item = await anext(reads, None)
        yield built


Histories = tuple[list[Profile], dict[int, list[InteractionRecord]]]


async def _with_histories(workspace_id: int) -> AsyncIterator[Histories]:
    async for customers in customer_batches(workspace_id):
        yield customers, await store.interaction_histories(workspace_id, [c.id for c in customers])


def replay(workspace_id: int, t: Tracked, pins: Mapping[int, Sequence[TransitionRecord]]) -> AsyncIterator[Built]:
    """Each customer's interactions through the model in time order, time rules at their due
    times, with historical timestamps; the model's manual moves (`pins`, per customer) are made
    again at their time."""
    now = datetime.now(UTC)

    def compute(batch: Histories) -> Built:
        customers, histories = batch
        positions, transitions = [], []
        for c in customers:
            position, moves = replay_customer(t, c, histories.get(c.id, []), now, REPLAY, pins.get(c.id, ()))
            positions.append((c.id, position))
            transitions += moves
        return positions, transitions

    return _computed_ahead(_with_histories(workspace_id), compute)


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

    return _computed_ahead(_with_stages(workspace_id, source.key), compute)
