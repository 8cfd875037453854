"""The lifecycle service: applies the tracked models' rules as interactions arrive and time
passes, records every move, and tells subscribers and plugins after commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api import lifecycle_store as store
from api.customers import get_customers
from api.lifecycle_store import NewTransition
from api.records import (
    AssignmentRecord,
    CustomerRecord,
    InteractionRecord,
    TransitionRecord,
    WorkspaceModelRecord,
)
from plugins import engine
from plugins.engine import Evaluation, FactsAt, Position
from plugins.facts import FactsState
from plugins.manager import PluginRegistry
from plugins.types import CustomerFacts, InteractionFact, LifecycleModel

RULE, MANUAL, REPLAY, MAPPING = "RULE", "MANUAL", "REPLAY", "MAPPING"
INITIAL_RULE = "initial"
log = logging.getLogger("jornada.lifecycle")

Publisher = Callable[[Sequence[TransitionRecord]], Awaitable[None]]


@dataclass(frozen=True)
class Tracked:
    """A model a workspace tracks, with its parameters (defaults and the workspace's overrides)."""

    model: LifecycleModel
    params: dict[str, Any]
    is_primary: bool

    @property
    def key(self) -> str:
        return self.model.key


def profile_of(customer: CustomerRecord) -> dict[str, Any]:
    return {
        "job_title": customer.job_title,
        "industry": customer.industry,
        "tags": customer.tags,
        "attributes": customer.attributes,
    }


def event_of(record: InteractionRecord) -> InteractionFact:
    return InteractionFact(record.kind, record.occurred_at, record.amount, record.score, record.properties)


def facts_at(state: FactsState, customer: CustomerRecord, event: InteractionFact | None = None) -> FactsAt:
    """Facts as of a moment, for a stay that began at `entered`. `state` must not change while
    this is in use: one snapshot is built on first use and re-dated for every later call."""
    built: list[CustomerFacts] = []

    def build(as_of: datetime, entered: datetime) -> CustomerFacts:
        if not built:
            built.append(
                state.snapshot(
                    as_of=as_of,
                    stage_entered_at=entered,
                    created_at=customer.created_at,
                    profile=profile_of(customer),
                    event=event,
                )
            )
        return built[0].at(as_of, entered)

    return build


def _transitions(
    customer: CustomerRecord, t: Tracked, ev: Evaluation, interaction_id: int | None, cause: str
) -> list[NewTransition]:
    for error in ev.errors:
        log.error("model %s rule %s failed for customer %s: %s", t.key, error.rule, customer.id, error.error)
    return [
        NewTransition(
            customer.workspace_id,
            customer.id,
            t.key,
            t.model.version,
            m.source,
            m.target,
            m.at,
            cause,
            m.rule,
            interaction_id,
        )
        for m in ev.moves
    ]


def advance(
    tracked: Sequence[Tracked],
    customer: CustomerRecord,
    state: FactsState,
    starts: Mapping[str, Position],
    history: Sequence[InteractionRecord],
    now: datetime,
    cause: str,
) -> tuple[dict[str, Position], list[NewTransition]]:
    """Run new interactions (in time order) through every tracked model (pure: no I/O). Before
    each interaction, checks that fell due are applied with the facts without it; the interaction
    is then folded into `state` (once, shared by the models) and evaluated at its time; at the end,
    checks due up to `now`. Returns where each model ends and the moves made."""
    positions = dict(starts)
    out: list[NewTransition] = []
    for record in history:
        for t in tracked:
            due = engine.catch_up(t.model, t.params, positions[t.key], facts_at(state, customer), record.occurred_at)
            out += _transitions(customer, t, due, None, cause)
            positions[t.key] = Position(due.position.stage, due.position.entered_at)
        event = event_of(record)
        state.fold(event)
        for t in tracked:
            ev = engine.evaluate(
                t.model, t.params, positions[t.key], facts_at(state, customer, event), record.occurred_at
            )
            out += _transitions(customer, t, ev, record.id, cause)
            positions[t.key] = ev.position
    for t in tracked:
        pos = positions[t.key]
        if not history:
            # A periodic check or a profile change: every rule is looked at as of now (time-based
            # ones that fell due fire at their due time).
            ev = engine.evaluate(t.model, t.params, Position(pos.stage, pos.entered_at), facts_at(state, customer), now)
            out += _transitions(customer, t, ev, None, cause)
            pos = ev.position
        rest = engine.catch_up(t.model, t.params, pos, facts_at(state, customer), now)
        out += _transitions(customer, t, rest, None, cause)
        positions[t.key] = rest.position
    return positions, out


def replay_customer(
    t: Tracked,
    customer: CustomerRecord,
    records: Sequence[InteractionRecord],
    now: datetime,
    cause: str = RULE,
) -> tuple[Position, list[NewTransition]]:
    """A customer's whole history through one model, from scratch (pure: no I/O). The customer
    starts at the earlier of its creation and its first interaction."""
    state = FactsState()
    start = min([customer.created_at, *(r.occurred_at for r in records[:1])])
    initial = t.model.initial_for(t.params)
    out = [
        NewTransition(
            customer.workspace_id,
            customer.id,
            t.key,
            t.model.version,
            None,
            initial,
            start,
            cause,
            INITIAL_RULE,
        )
    ]
    ev = engine.evaluate(t.model, t.params, Position(initial, start), facts_at(state, customer), start)
    out += _transitions(customer, t, ev, None, cause)
    ends, moves = advance([t], customer, state, {t.key: ev.position}, records, now, cause)
    return ends[t.key], out + moves


@dataclass(frozen=True)
class TickResult:
    customers: int
    moves: int


class Lifecycle:
    """Bound to the loaded plugins; `publish` runs after commit (subscriptions, plugin hooks)."""

    def __init__(self, registry: PluginRegistry, publish: Publisher | None = None) -> None:
        self.registry = registry
        self._publish = publish

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

    async def customer_created(self, customer: CustomerRecord) -> list[TransitionRecord]:
        """Place a new customer in the initial stage of every tracked model, then apply rules."""
        new: list[NewTransition] = []
        state = FactsState()
        placed: dict[tuple[int, str], Position] = {}
        for t in await self.tracked(customer.workspace_id):
            initial = t.model.initial_for(t.params)
            new.append(
                NewTransition(
                    customer.workspace_id,
                    customer.id,
                    t.key,
                    t.model.version,
                    None,
                    initial,
                    customer.created_at,
                    RULE,
                    INITIAL_RULE,
                )
            )
            pos = Position(initial, customer.created_at)
            ev = engine.evaluate(t.model, t.params, pos, facts_at(state, customer), customer.created_at)
            new += _transitions(customer, t, ev, None, RULE)
            placed[(customer.id, t.key)] = ev.position
        await store.save_facts(customer.workspace_id, {customer.id: state}, customer.created_at)
        await store.save_positions(customer.workspace_id, placed, customer.created_at)
        return await store.insert_transitions(new)

    async def customer_changed(self, customer: CustomerRecord, now: datetime) -> list[TransitionRecord]:
        """Profile rules (job title, industry...) may hold after an update."""
        return await self.apply(customer.workspace_id, [customer.id], [], now)

    async def apply(
        self,
        workspace_id: int,
        customer_ids: Sequence[int],
        records: Sequence[InteractionRecord],
        now: datetime,
    ) -> list[TransitionRecord]:
        """Bring customers up to date: for each, its new interactions (`records`) in time order, each
        after the checks that fell due before it, then the checks due up to `now`. Facts, positions
        and moves are written in a few multi-row statements, inside the caller's transaction."""
        by_customer: dict[int, list[InteractionRecord]] = {cid: [] for cid in customer_ids}
        for record in records:
            by_customer.setdefault(record.customer_id, []).append(record)
        ids = sorted(by_customer)
        states = await store.lock_facts(workspace_id, ids)
        customers = await get_customers(workspace_id, ids)
        tracked = await self.tracked(workspace_id)
        current = {
            (a.customer_id, a.model_key): a for a in await store.positions(workspace_id, ids, [t.key for t in tracked])
        }
        changed: dict[tuple[int, str], Position] = {}
        new: list[NewTransition] = []
        for cid in ids:
            customer = customers[cid]
            starts = {t.key: self._position(t, customer, current.get((cid, t.key))) for t in tracked}
            history = sorted(by_customer[cid], key=lambda r: (r.occurred_at, r.id))
            ends, moves = advance(tracked, customer, states[cid], starts, history, now, RULE)
            new += moves
            for key, end in ends.items():
                if (cid, key) not in current or end != starts[key]:
                    changed[(cid, key)] = end
        if records:
            await store.save_facts(workspace_id, {cid: states[cid] for cid in ids if by_customer[cid]}, now)
        await store.save_positions(workspace_id, changed, now)
        return await store.insert_transitions(new)

    @staticmethod
    def _position(t: Tracked, customer: CustomerRecord, found: AssignmentRecord | None) -> Position:
        if found is None:  # tracked before this customer had a row (e.g. an old database)
            return Position(t.model.initial_for(t.params), customer.created_at)
        return Position(found.stage, found.entered_at, found.next_check_at)

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
                if not await store.try_lock_customer(workspace_id, customer_id):
                    continue  # another worker has this customer
                moved += await self.apply(workspace_id, [customer_id], [], moment)
                checked += 1
        await self.publish(moved)
        return TickResult(checked, len(moved))
