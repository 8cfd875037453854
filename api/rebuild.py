"""Rebuilding customers' journeys from their whole history, inside the caller's transaction.

A customer is replayed from scratch (its interactions, manual moves and mappings in event time)
and the result compared with the moves in force: the moves after the point where the two part are
superseded (kept, with when and why), and the rebuilt ones written as corrections. The cost is
one customer's history, never the workspace's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from api import lifecycle_store as store
from api.customers import get_customers
from api.journey import PINNED_CAUSES, Tracked, diff, event_of, replay_after, replay_customer
from api.lifecycle_store import NewTransition
from api.records import InteractionRecord, Subject, TransitionRecord
from plugins.engine import Position
from plugins.facts import FactsState


@dataclass
class RebuildOutcome:
    """What rebuilding some customers did (or, in a dry run, would do)."""

    customers: int = 0
    changed: int = 0  # customers whose history in some model changed
    superseded: int = 0
    written: int = 0
    distribution: dict[str, Counter[str]] = field(default_factory=dict)
    written_per_model: Counter[str] = field(default_factory=Counter)
    transitions: list[TransitionRecord] = field(default_factory=list)  # written, to publish

    def add(self, other: RebuildOutcome) -> None:
        self.customers += other.customers
        self.changed += other.changed
        self.superseded += other.superseded
        self.written += other.written
        for key, counts in other.distribution.items():
            self.distribution.setdefault(key, Counter()).update(counts)
        self.written_per_model.update(other.written_per_model)
        self.transitions += other.transitions


async def rebuild_customers(
    workspace_id: int,
    tracked: Sequence[Tracked],
    customer_ids: Sequence[int],
    now: datetime,
    reason: Callable[[int], str],
    cause: str,
    dry_run: bool = False,
    cuts: Mapping[int, datetime] | None = None,
    subjects: Mapping[int, Subject] | None = None,
) -> RebuildOutcome:
    """Replay these customers in every tracked model and write what changed. `reason(customer id)`
    says why, on each superseded move. Facts are refolded from the whole history too. With
    `cuts` (customer id → the time from which something changed, e.g. a late interaction's), a
    customer is replayed from there on when its journey allows (`journey.replay_after`).
    `subjects` are the customers when the caller has read them already."""
    ids = sorted(set(customer_ids))
    out = RebuildOutcome(customers=len(ids))
    if not ids:
        return out
    customers = subjects if subjects is not None else await get_customers(workspace_id, ids)
    histories = await store.interaction_histories(workspace_id, ids)
    stored = await store.active_transitions(workspace_id, ids, [t.key for t in tracked])
    superseded: dict[int, str] = {}
    written: list[NewTransition] = []
    ends: dict[tuple[int, str], Position] = {}
    facts: dict[int, FactsState] = {}
    for cid in ids:
        customer = customers.get(cid)
        if customer is None:
            continue
        history = histories.get(cid, [])
        state = facts[cid] = FactsState()
        for record in history:
            state.fold(event_of(record))
        changed = False
        for t in tracked:
            current = stored.get((cid, t.key), [])
            cut = cuts.get(cid) if cuts else None
            partial = replay_after(t, customer, history, current, cut, now, cause) if cut else None
            if partial is not None:
                end, old, new = partial
            else:
                pins = [r for r in current if r.cause in PINNED_CAUSES]
                end, rebuilt = replay_customer(t, customer, history, now, cause, pins)
                old, new = diff(current, rebuilt)
            ends[(cid, t.key)] = end
            out.distribution.setdefault(t.key, Counter())[end.stage] += 1
            if old:
                changed = True
                superseded.update((r.id, reason(cid)) for r in old)
            written += [replace(n, correction=bool(old)) for n in new]
            out.written_per_model[t.key] += len(new)
        out.changed += changed
    out.superseded, out.written = len(superseded), len(written)
    if dry_run:
        return out
    await store.supersede(workspace_id, superseded, now)
    await store.save_facts(workspace_id, facts, now)
    await store.save_positions(workspace_id, ends, now)
    out.transitions = await store.insert_transitions(written)
    return out


def late_reason(interaction: InteractionRecord) -> str:
    """Why a late interaction superseded moves, as the superseded moves say it."""
    return (
        f"late interaction {interaction.id} ({interaction.kind} at {interaction.occurred_at.isoformat()}) "
        "re-evaluated the customer from that time"
    )
