"""The lifecycle service: applies the tracked models' rules as interactions arrive and time
passes, records every move, and tells subscribers and plugins after commit."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
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
from plugins.types import InteractionFact, LifecycleModel

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
    profile = profile_of(customer)

    def build(as_of: datetime, entered: datetime) -> Any:
        return state.snapshot(
            as_of=as_of,
            stage_entered_at=entered,
            created_at=customer.created_at,
            profile=profile,
            event=event,
        )

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
    position = ev.position
    for record in records:
        due = engine.catch_up(t.model, t.params, position, facts_at(state, customer), record.occurred_at)
        out += _transitions(customer, t, due, None, cause)
        event = event_of(record)
        state.fold(event)
        start_pos = Position(due.position.stage, due.position.entered_at)
        ev = engine.evaluate(
            t.model, t.params, start_pos, facts_at(state, customer, event), record.occurred_at
        )
        out += _transitions(customer, t, ev, record.id, cause)
        position = ev.position
    final = engine.catch_up(t.model, t.params, position, facts_at(state, customer), now)
    out += _transitions(customer, t, final, None, cause)
    return final.position, out


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
                tracked.append(Tracked(model, {**model.defaults, **row.params}, row.is_primary))
        return tracked

    async def tracked(self, workspace_id: int) -> list[Tracked]:
        return self.resolve(await store.workspace_models(workspace_id))

    # --- the live path (inside the caller's transaction) ---------------------------------

    async def customer_created(self, customer: CustomerRecord) -> list[TransitionRecord]:
        """Place a new customer in the initial stage of every tracked model, then apply rules."""
        new: list[NewTransition] = []
        state = FactsState()
        await store.save_facts(customer.workspace_id, customer.id, state, customer.created_at)
        for t in await self.tracked(customer.workspace_id):
            initial = t.model.initial_for(t.params)
            new.append(self._new(customer, t, None, initial, customer.created_at, RULE, INITIAL_RULE))
            pos = Position(initial, customer.created_at)
            ev = engine.evaluate(t.model, t.params, pos, facts_at(state, customer), customer.created_at)
            new += self._apply(customer, t, ev, None)
            await store.save_position(
                customer.workspace_id, customer.id, t.key, ev.position, customer.created_at
            )
        return await store.insert_transitions(new)

    async def customer_changed(self, customer: CustomerRecord, now: datetime) -> list[TransitionRecord]:
        """Profile rules (job title, industry...) may hold after an update."""
        state = await store.lock_facts(customer.workspace_id, customer.id)
        return await self._advance(customer, state, None, now, now)

    async def interaction_recorded(self, record: InteractionRecord, now: datetime) -> list[TransitionRecord]:
        customer = (await get_customers(record.workspace_id, [record.customer_id]))[record.customer_id]
        state = await store.lock_facts(record.workspace_id, record.customer_id)
        moves = await self._advance(customer, state, record, record.occurred_at, now)
        await store.save_facts(record.workspace_id, record.customer_id, state, now)
        return moves

    async def _advance(
        self,
        customer: CustomerRecord,
        state: FactsState,
        record: InteractionRecord | None,
        at: datetime,
        now: datetime,
    ) -> list[TransitionRecord]:
        """Checks due before `at` (facts without `record`), then `record` folded into `state` and
        evaluated at `at`, then checks due up to `now`; every move written."""
        tracked = await self.tracked(customer.workspace_id)
        current = {a.model_key: a for a in await store.positions([customer.id], [t.key for t in tracked])}
        plans = [(t, self._position(t, customer, current.get(t.key))) for t in tracked]
        new: list[NewTransition] = []
        due = []
        for t, pos in plans:
            ev = engine.catch_up(t.model, t.params, pos, facts_at(state, customer), at)
            new += self._apply(customer, t, ev, None)
            due.append(ev.position)
        event = event_of(record) if record else None
        if event is not None:
            state.fold(event)
        for (t, pos), position in zip(plans, due, strict=True):
            start = Position(position.stage, position.entered_at)
            ev = engine.evaluate(t.model, t.params, start, facts_at(state, customer, event), at)
            new += self._apply(customer, t, ev, record.id if record else None)
            rest = engine.catch_up(t.model, t.params, ev.position, facts_at(state, customer), now)
            new += self._apply(customer, t, rest, None)
            if t.key not in current or rest.position != pos:
                await store.save_position(customer.workspace_id, customer.id, t.key, rest.position, now)
        return await store.insert_transitions(new)

    @staticmethod
    def _position(t: Tracked, customer: CustomerRecord, found: AssignmentRecord | None) -> Position:
        if found is None:  # tracked before this customer had a row (e.g. an old database)
            return Position(t.model.initial_for(t.params), customer.created_at)
        return Position(found.stage, found.entered_at, found.next_check_at)

    def _new(
        self,
        customer: CustomerRecord,
        t: Tracked,
        source: str | None,
        target: str,
        at: datetime,
        cause: str,
        rule: str | None,
        interaction_id: int | None = None,
        actor: str | None = None,
        note: str | None = None,
    ) -> NewTransition:
        return NewTransition(
            customer.workspace_id,
            customer.id,
            t.key,
            t.model.version,
            source,
            target,
            at,
            cause,
            rule,
            interaction_id,
            actor,
            note,
        )

    def _apply(
        self, customer: CustomerRecord, t: Tracked, ev: Evaluation, interaction_id: int | None
    ) -> list[NewTransition]:
        return _transitions(customer, t, ev, interaction_id, RULE)

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
                customer = (await get_customers(workspace_id, [customer_id])).get(customer_id)
                if customer is None:
                    continue
                state = await store.lock_facts(workspace_id, customer_id)
                moved += await self._advance(customer, state, None, moment, moment)
                checked += 1
        await self.publish(moved)
        return TickResult(checked, len(moved))
