"""The lifecycle service: applies the tracked models' rules as interactions arrive and time
passes, records every move, and tells subscribers and plugins after commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from api import lifecycle_store as store
from api import live_state
from api.journey import (
    INITIAL_RULE,
    MANUAL,
    MAPPING,
    REPLAY,
    RULE,
    Tracked,
    advance,
    diff,
    event_of,
    facts_at,
    profile_of,
    replay_customer,
    rewind,
)
from api.lifecycle_store import NewTransition
from api.live_state import LiveState
from api.rebuild import RebuildOutcome, late_reason, rebuild_customers
from api.records import CustomerRecord, InteractionRecord, Subject, TransitionRecord, WorkspaceModelRecord
from plugins.engine import Position
from plugins.facts import FactsState
from plugins.manager import PluginRegistry

__all__ = [
    "INITIAL_RULE",
    "MANUAL",
    "MAPPING",
    "REPLAY",
    "RULE",
    "Lifecycle",
    "TickResult",
    "Tracked",
    "advance",
    "event_of",
    "facts_at",
    "profile_of",
    "replay_customer",
]

Publisher = Callable[[Sequence[TransitionRecord]], Awaitable[None]]


@dataclass(frozen=True)
class TickResult:
    customers: int
    moves: int


class Lifecycle:
    """Bound to the loaded plugins; `publish` runs after commit (subscriptions, plugin hooks).
    `replay_workers`: processes a whole model's replay computes its rules in (0: this one)."""

    def __init__(self, registry: PluginRegistry, publish: Publisher | None = None, replay_workers: int = 0) -> None:
        self.registry = registry
        self._publish = publish
        self.replay_workers = replay_workers

    async def publish(self, transitions: Sequence[TransitionRecord]) -> None:
        if transitions and self._publish is not None:
            await self._publish(transitions)

    def resolve(self, rows: Sequence[WorkspaceModelRecord]) -> list[Tracked]:
        tracked = []
        for row in rows:
            model = self.registry.model(row.model_key)
            if row.tracked and model is not None:
                tracked.append(Tracked(model, model.effective_params(row.params), row.is_primary))
        return tracked

    async def tracked(self, workspace_id: int) -> list[Tracked]:
        return self.resolve(await store.workspace_models(workspace_id))

    # --- the live path (inside the caller's transaction) ---------------------------------

    async def customer_created(self, customer: CustomerRecord, now: datetime | None = None) -> list[TransitionRecord]:
        """Place a new customer in every tracked model as a replay of its (empty) history does: the
        initial stage at its `created_at` (which may be in the past, when loading history), then
        the rules up to `now`."""
        moment = now or max(customer.created_at, datetime.now(UTC))
        new: list[NewTransition] = []
        placed: dict[tuple[int, str], Position] = {}
        for t in await self.tracked(customer.workspace_id):
            placed[(customer.id, t.key)], moves = replay_customer(t, customer, [], moment, RULE)
            new += moves
        await store.save_facts(customer.workspace_id, {customer.id: FactsState()}, moment)
        await store.save_positions(customer.workspace_id, placed, moment)
        return await store.insert_transitions(new)

    async def customer_changed(self, customer: CustomerRecord, now: datetime) -> list[TransitionRecord]:
        """Profile rules (job title, industry...) may hold after an update."""
        return await self.apply(customer.workspace_id, [customer.id], [], now)

    async def rebuild(
        self,
        workspace_id: int,
        customer_ids: Sequence[int],
        now: datetime,
        reason: str,
        cause: str = REPLAY,
        dry_run: bool = False,
    ) -> RebuildOutcome:
        """Replay customers from their whole history in every tracked model (inside the caller's
        transaction); what changed is superseded with `reason` and rewritten."""
        tracked = await self.tracked(workspace_id)
        await live_state.lock_customers(customer_ids)
        return await rebuild_customers(workspace_id, tracked, customer_ids, now, lambda _: reason, cause, dry_run)

    async def load(self, workspace_id: int, customer_ids: Sequence[int], tracked: Sequence[Tracked]) -> LiveState:
        """Lock customers for lifecycle writes (until the transaction ends) and read what `apply`
        needs of them; customers that do not exist in the workspace are left out."""
        await live_state.lock_customers(customer_ids)
        return await live_state.load(workspace_id, customer_ids, [t.key for t in tracked])

    async def apply(
        self,
        workspace_id: int,
        customer_ids: Sequence[int],
        records: Sequence[InteractionRecord],
        now: datetime,
        live: LiveState | None = None,
        tracked: Sequence[Tracked] | None = None,
        pending: Awaitable[None] | None = None,
    ) -> list[TransitionRecord]:
        """Bring customers up to date in event time, inside the caller's transaction. For each, its
        new interactions (`records`) in time order, each after the checks that fell due before it,
        then the checks due up to `now`. New interactions after the customer's latest one but
        before moves that time-based rules made since rewind those moves first
        (`journey.rewind`); interactions before its latest one (or, with none yet, before its
        creation) rebuild the customer from that time (`rebuild.rebuild_customers`). Facts,
        positions and moves are written in a few multi-row statements. `live` is what `load`
        read (locked) for these customers, when the caller has it already; `pending`, a write of
        the caller's on the same connection, is awaited before any statement of this one."""
        by_customer: dict[int, list[InteractionRecord]] = {cid: [] for cid in customer_ids}
        for record in records:
            by_customer.setdefault(record.customer_id, []).append(record)
        if tracked is None:
            tracked = await self.tracked(workspace_id)
        if live is None:
            live = await self.load(workspace_id, sorted(by_customer), tracked)
        ids = [cid for cid in sorted(by_customer) if cid in live.subjects]  # a deleted customer has nothing to do
        customers, states = live.subjects, live.facts
        changed: dict[tuple[int, str], Position] = {}
        new: list[NewTransition] = []
        starts = {cid: {t.key: self._position(t, customers[cid], live.positions) for t in tracked} for cid in ids}
        firsts = {cid: min(by_customer[cid], key=lambda r: (r.occurred_at, r.id)) for cid in ids if by_customer[cid]}
        # Late: before the latest interaction, or (none yet) before the customer's creation.
        late = {
            cid: first
            for cid, first in firsts.items()
            if first.occurred_at < (states[cid].last_engaged_at or customers[cid].created_at)
        }
        superseded: dict[int, str] = {}

        def run(cid: int, rewound: tuple[str, dict[str, list[TransitionRecord]]] | None) -> None:
            nonlocal new
            history = sorted(by_customer[cid], key=lambda r: (r.occurred_at, r.id))
            ends, moves = advance(tracked, customers[cid], states[cid], starts[cid], history, now, RULE)
            if rewound is not None:
                moves = self._rewritten(tracked, rewound[1], moves, superseded, rewound[0])
            new += moves
            for key, end in ends.items():
                if (cid, key) not in live.positions or end != starts[cid][key]:
                    changed[(cid, key)] = end

        # First the customers whose new interactions come after everything known (no I/O), while
        # `pending` (the caller's insert of these interactions) runs on the connection.
        # Behind: after the latest interaction but before moves that time-based rules made since.
        behind = sorted(
            cid
            for cid, first in firsts.items()
            if cid not in late and any(p.entered_at > first.occurred_at for p in starts[cid].values())
        )
        waiting = set(behind)
        for cid in ids:
            if cid not in late and cid not in waiting:
                run(cid, None)
        if pending is not None:
            await pending
        rewound = await self._rewind(workspace_id, tracked, customers, states, starts, firsts, behind, late)
        for cid in behind:
            if cid not in late:
                run(cid, rewound.get(cid))
        on_time = [cid for cid in ids if by_customer[cid] and cid not in late]
        if on_time:
            await store.save_facts(workspace_id, {cid: states[cid] for cid in on_time}, now)
        if superseded:
            await store.supersede(workspace_id, superseded, now)
        await store.save_positions(workspace_id, changed, now)
        moved = await store.insert_transitions(new)
        if late:
            cuts = {cid: first.occurred_at for cid, first in late.items()}
            rebuilt = await rebuild_customers(
                workspace_id,
                tracked,
                sorted(late),
                now,
                lambda cid: late_reason(late[cid]),
                RULE,
                cuts=cuts,
                subjects=customers,
            )
            moved += rebuilt.transitions
        return moved

    async def _rewind(
        self,
        workspace_id: int,
        tracked: Sequence[Tracked],
        customers: Mapping[int, Subject],
        states: Mapping[int, FactsState],
        starts: dict[int, dict[str, Position]],
        firsts: Mapping[int, InteractionRecord],
        behind: Sequence[int],
        late: dict[int, InteractionRecord],
    ) -> dict[int, tuple[str, dict[str, list[TransitionRecord]]]]:
        """For the `behind` customers (new interactions after their latest one but before some
        of their moves), put `starts` back to before those moves (`journey.rewind`), or mark the
        customer `late` when that is not possible. Returns, per rewound customer, why, and the
        moves undone per model."""
        if not behind:
            return {}
        stored = await store.active_transitions(workspace_id, behind, [t.key for t in tracked])
        out: dict[int, tuple[str, dict[str, list[TransitionRecord]]]] = {}
        for cid in behind:
            first = firsts[cid]
            undone: dict[str, list[TransitionRecord]] = {}
            back = dict(starts[cid])
            for t in tracked:
                if back[t.key].entered_at <= first.occurred_at:
                    continue
                found = rewind(t, customers[cid], states[cid], stored.get((cid, t.key), []), first.occurred_at)
                if found is None:
                    late[cid] = first
                    break
                back[t.key], undone[t.key] = found
            else:
                starts[cid] = back
                out[cid] = (late_reason(first), undone)
        return out

    @staticmethod
    def _rewritten(
        tracked: Sequence[Tracked],
        undone: Mapping[str, Sequence[TransitionRecord]],
        moves: Sequence[NewTransition],
        superseded: dict[int, str],
        reason: str,
    ) -> list[NewTransition]:
        """The moves to write after a rewind: per model, only where the re-made moves differ from
        the undone ones (which are superseded from there on, with `reason`)."""
        out: list[NewTransition] = []
        for t in tracked:
            made = [m for m in moves if m.model_key == t.key]
            old, fresh = diff(undone.get(t.key, []), made)
            superseded.update((m.id, reason) for m in old)
            out += [replace(m, correction=bool(old)) for m in fresh]
        return out

    @staticmethod
    def _position(t: Tracked, customer: Subject, found: Mapping[tuple[int, str], Position]) -> Position:
        position = found.get((customer.id, t.key))
        if position is None:  # tracked before this customer had a row (e.g. an old database)
            return Position(t.model.initial_for(t.params), customer.created_at)
        return position

    # --- time ------------------------------------------------------------------------------

    async def tick(self, now: datetime | None = None, limit: int = 500) -> TickResult:
        """Apply the time-based rules that fell due, for at most `limit` customers, found through
        the `next_check_at` index. Several workers may run this at once on PostgreSQL: a customer
        another worker holds is skipped (SKIP LOCKED), so no move is made twice."""
        moment = now or datetime.now(UTC)
        moved: list[TransitionRecord] = []
        checked = 0
        for workspace_id, customer_id in await store.due_customers(moment, limit):
            async with in_transaction():
                if not await live_state.try_lock_customer(customer_id):
                    continue  # another worker has this customer
                moved += await self.apply(workspace_id, [customer_id], [], moment)
                checked += 1
        await self.publish(moved)
        return TickResult(checked, len(moved))
