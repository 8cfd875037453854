"""Admin operations on lifecycle models: manual moves, parameters, tracking, switching (replay
or mapping), all-or-nothing when they write, with a dry run that writes nothing."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from api import lifecycle_store as store
from api.batch_pool import WorkerFailed
from api.bulk import refresh_statistics
from api.customer_filters import CustomerFilter
from api.customer_filters import filter_conditions as customer_conditions
from api.customers import get_customers
from api.db import Params, connection, dialect_of, fetch
from api.errors import InputInvalid, Problem, invalid
from api.lifecycle import MANUAL, MAPPING, REPLAY, Lifecycle, Tracked, facts_at
from api.lifecycle_store import NewTransition
from api.model_batches import BATCH, customer_batches, remap, replay
from api.models import StageAssignment, StageTransition, WorkspaceModel
from api.rebuild import RebuildOutcome
from api.records import (
    TransitionRecord,
)
from plugins import engine
from plugins.engine import Position
from plugins.facts import FactsState
from plugins.validation import param_problems

# A rebuild that rewrote at least this many moves refreshes the planner statistics afterwards.
BULK_REWRITE = 1000
log = logging.getLogger("jornada.lifecycle")


@dataclass(frozen=True)
class SampleMove:
    """One customer of a dry run's preview: its stage in the current primary model (None when it
    has none) and the stage the model being tracked or switched to would give it."""

    customer_id: int
    before: str | None
    after: str


@dataclass
class Rebuild:
    """The outcome of building a model's stages for every customer (a dry run's: with a sample)."""

    distribution: Counter[str] = field(default_factory=Counter)
    transitions_written: int = 0
    sample: list[SampleMove] = field(default_factory=list)


# A dry run keeps the first customers' outcomes, and previews SAMPLE of them, those whose stage
# category would change first (a customer who would be shown as churned, say).
SAMPLE_POOL = 200
SAMPLE = 10


# --- tracked models -------------------------------------------------------------------------


MODEL_KEY_LENGTH = 100  # the column's: Tortoise refuses a longer value even in a filter


async def _row(workspace_id: int, key: str) -> WorkspaceModel | None:
    if len(key) > MODEL_KEY_LENGTH:
        return None  # no row can hold it
    return await WorkspaceModel.filter(workspace_id=workspace_id, model_key=key).first()


def _installed(lifecycle: Lifecycle, key: str, field_name: str = "model") -> Tracked:
    model = lifecycle.registry.model(key)
    if model is None:
        installed = sorted(lifecycle.registry.models)
        raise invalid((field_name,), "UNKNOWN_MODEL", f"No installed model {key!r}; installed: {installed}.")
    return Tracked(model, dict(model.defaults), False)


async def configure(lifecycle: Lifecycle, workspace_id: int, key: str, values: Mapping[str, Any]) -> None:
    """Set parameter values (null resets one to its default) and have every customer of the model
    looked at again by the periodic check (new thresholds may move them)."""
    tracked = _installed(lifecycle, key)
    row = await _row(workspace_id, key)
    if row is None or not row.tracked:
        raise invalid(("model",), "MODEL_NOT_TRACKED", f"This workspace does not track {key!r}.")
    given = {k: v for k, v in values.items() if v is not None}
    problems = param_problems(tracked.model, given, lifecycle.registry.kinds)
    if problems:
        raise InputInvalid([Problem(("params", name), "INVALID_PARAM", msg) for name, msg in problems.items()])
    merged = {**row.params, **given}
    for name, value in values.items():
        if value is None:
            merged.pop(name, None)
    now = datetime.now(UTC)
    async with in_transaction():
        await WorkspaceModel.filter(id=row.id).update(params=merged)
        await StageAssignment.filter(workspace_id=workspace_id, model_key=key).update(next_check_at=now)


async def untrack(workspace_id: int, key: str) -> None:
    row = await _row(workspace_id, key)
    if row is None or not row.tracked:
        raise invalid(("model",), "MODEL_NOT_TRACKED", f"This workspace does not track {key!r}.")
    if row.is_primary:
        raise invalid(("model",), "PRIMARY_MODEL", "The primary model cannot be untracked; switch to another first.")
    async with in_transaction():
        await WorkspaceModel.filter(id=row.id).update(tracked=False)
        await StageAssignment.filter(workspace_id=workspace_id, model_key=key).update(next_check_at=None)


async def track(lifecycle: Lifecycle, workspace_id: int, key: str, dry_run: bool) -> Rebuild:
    """Track `key` beside the primary model, its stages rebuilt by replaying every history."""
    row = await _row(workspace_id, key)
    if row is not None and row.tracked:
        raise invalid(("model",), "ALREADY_TRACKED", f"This workspace already tracks {key!r}.")
    t = _tracked_with(lifecycle, key, row)
    pins = await store.manual_moves(workspace_id, key)
    done = await _rebuild(
        workspace_id, t, lambda: replay(workspace_id, t, pins, lifecycle.replay_workers), dry_run, primary=False
    )
    if not dry_run:
        return done
    primary = next((x for x in await lifecycle.tracked(workspace_id) if x.is_primary), None)
    return await _preview(workspace_id, primary, t, done)


async def switch(
    lifecycle: Lifecycle,
    workspace_id: int,
    key: str,
    strategy: str,
    mapping: Mapping[str, str] | None,
    dry_run: bool,
) -> Rebuild:
    """Make `key` the primary model. Untracked: its stages are built by REPLAY or MAPPING from the
    current primary. Already tracked: it only becomes primary (its stages are current)."""
    rows = await store.workspace_models(workspace_id)
    primary = next((r for r in rows if r.is_primary), None)
    row = await _row(workspace_id, key)
    target = _tracked_with(lifecycle, key, row)
    if primary is not None and primary.model_key == key:
        raise invalid(("model",), "ALREADY_PRIMARY", f"{key!r} is already the primary model.")
    source = lifecycle.resolve([primary])[0] if primary else None
    if strategy == MAPPING:
        if source is None:
            raise invalid(("strategy",), "NO_SOURCE_MODEL", "There is no current model to map from.")
        _check_mapping(source, target, mapping or {})
    if row is not None and row.tracked:  # its stages are current: the preview reads them
        if not dry_run:
            await _set_primary(workspace_id, key)
            return Rebuild(distribution=await _distribution(workspace_id, key))
        current = Rebuild(distribution=await _distribution(workspace_id, key), sample=await _first(workspace_id, key))
        return await _preview(workspace_id, source, target, current)
    if strategy == MAPPING:
        assert source is not None
        done = await _rebuild(
            workspace_id,
            target,
            lambda: remap(workspace_id, source, target, mapping or {}),
            dry_run,
            primary=True,
        )
    else:
        pins = await store.manual_moves(workspace_id, key)
        done = await _rebuild(
            workspace_id,
            target,
            lambda: replay(workspace_id, target, pins, lifecycle.replay_workers),
            dry_run,
            primary=True,
        )
    return await _preview(workspace_id, source, target, done) if dry_run else done


def _tracked_with(lifecycle: Lifecycle, key: str, row: WorkspaceModel | None) -> Tracked:
    base = _installed(lifecycle, key)
    params = base.model.effective_params(row.params if row else {})
    return Tracked(base.model, params, False)


def _check_mapping(source: Tracked, target: Tracked, mapping: Mapping[str, str]) -> None:
    problems = []
    for old, new in mapping.items():
        if source.model.stage(old) is None:
            problems.append(Problem(("mapping", old), "UNKNOWN_STAGE", f"{source.key} has no stage {old!r}."))
        if target.model.stage(new) is None:
            problems.append(Problem(("mapping", old), "UNKNOWN_STAGE", f"{target.key} has no stage {new!r}."))
    missing = [s.key for s in source.model.stages if s.key not in mapping]
    if missing:
        problems.append(
            Problem(("mapping",), "INCOMPLETE_MAPPING", f"Map every stage of {source.key}; missing: {missing}.")
        )
    if problems:
        raise InputInvalid(problems)


async def _set_primary(workspace_id: int, key: str) -> None:
    async with in_transaction():
        await WorkspaceModel.filter(workspace_id=workspace_id).update(is_primary=False)
        await WorkspaceModel.filter(workspace_id=workspace_id, model_key=key).update(is_primary=True, tracked=True)


async def _preview(workspace_id: int, source: Tracked | None, t: Tracked, result: Rebuild) -> Rebuild:
    """A dry run's sample: where its first customers are in the current primary model (`source`)
    and where they would be in `t`, those whose stage category would change first."""
    ids = [m.customer_id for m in result.sample]
    keys = [source.key] if source else []
    now = {a.customer_id: a.stage for a in await store.positions(workspace_id, ids, keys)}
    moves = [SampleMove(m.customer_id, now.get(m.customer_id), m.after) for m in result.sample]

    def changes(m: SampleMove) -> bool:
        before = source.model.stage(m.before) if source and m.before else None
        after = t.model.stage(m.after)
        return before is None or after is None or before.category != after.category

    result.sample = sorted(moves, key=lambda m: not changes(m))[:SAMPLE]
    return result


async def _first(workspace_id: int, key: str) -> list[SampleMove]:
    """The stages of the first SAMPLE_POOL customers (by id) in a tracked model."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT customer_id, stage FROM stage_assignment WHERE workspace_id = {p(workspace_id)} "
        f"AND model_key = {p(key)} ORDER BY customer_id LIMIT {p(SAMPLE_POOL)}"
    )
    return [SampleMove(int(r["customer_id"]), None, r["stage"]) for r in await fetch(sql, p, conn)]


async def _distribution(workspace_id: int, key: str) -> Counter[str]:
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT stage, COUNT(*) AS n FROM stage_assignment WHERE workspace_id = {p(workspace_id)} "
        f"AND model_key = {p(key)} GROUP BY stage"
    )
    return Counter({r["stage"]: int(r["n"]) for r in await fetch(sql, p, conn)})


# --- rebuilding -------------------------------------------------------------------------------


async def _rebuild(workspace_id: int, t: Tracked, batches: Any, dry_run: bool, primary: bool) -> Rebuild:
    """Every customer's position in `t` from `batches` (written in one transaction unless
    `dry_run`). A replay worker that dies leaves nothing written and is a userError."""
    try:
        return await _rebuild_all(workspace_id, t, batches, dry_run, primary)
    except WorkerFailed as exc:
        log.error("replay of %s in workspace %s: a worker process failed: %s", t.key, workspace_id, exc)
        raise invalid(
            ("model",),
            "REPLAY_FAILED",
            f"A process computing {t.key}'s rules ended before the replay was done; nothing was changed. "
            "Try again; if it fails again, the model's plugin may be ending its process (see the server log), "
            "or set JORNADA_REPLAY_WORKERS=0.",
        ) from exc


async def _rebuild_all(workspace_id: int, t: Tracked, batches: Any, dry_run: bool, primary: bool) -> Rebuild:
    result = Rebuild()
    if dry_run:
        async for positions, _ in batches():
            result.distribution.update(p.stage for _, p in positions)
            room = SAMPLE_POOL - len(result.sample)
            result.sample += [SampleMove(cid, None, p.stage) for cid, p in positions[:room]]
        return result
    now = datetime.now(UTC)
    async with in_transaction():
        await StageTransition.filter(workspace_id=workspace_id, model_key=t.key, archived=False).update(
            archived=True, superseded_at=now, superseded_reason=f"the model {t.key} was rebuilt by replay"
        )
        await StageAssignment.filter(workspace_id=workspace_id, model_key=t.key).delete()
        # Each batch is written while the next is computed (`_computed_ahead`).
        pending: asyncio.Future[None] | None = None
        try:
            async for positions, transitions in batches():
                if pending is not None:
                    await pending
                pending = asyncio.ensure_future(_write(workspace_id, t.key, positions, transitions, now))
                await asyncio.sleep(0)  # let the write reach the connection before the next batch is computed
                result.distribution.update(p.stage for _, p in positions)
                result.transitions_written += len(transitions)
        finally:
            if pending is not None:
                await asyncio.wait([pending])  # never left running past the transaction
        if pending is not None:
            await pending
        await _enable(workspace_id, t.key, now, primary)
    await refresh_statistics(connection())
    return result


async def rebuild_tracked(
    lifecycle: Lifecycle, workspace_id: int, reason: str = "every customer was rebuilt by replay"
) -> dict[str, Rebuild]:
    """Rebuild every customer in every tracked model from its whole history (interactions, manual
    moves and mappings in event time). Moves that change are superseded, not deleted; a customer
    whose journey is already right writes nothing. All customers or none."""
    total = RebuildOutcome()
    now = datetime.now(UTC)
    async with in_transaction():
        async for customers in customer_batches(workspace_id):
            ids = [c.id for c in customers]
            total.add(await lifecycle.rebuild(workspace_id, ids, now, reason, REPLAY))
    await refresh_statistics(connection())
    await lifecycle.publish(total.transitions)
    return {
        key: Rebuild(distribution=counts, transitions_written=total.written_per_model[key])
        for key, counts in total.distribution.items()
    }


async def rebuild_customers(
    lifecycle: Lifecycle,
    workspace_id: int,
    customer_id: int | None,
    segment: CustomerFilter | None,
    dry_run: bool,
    actor: str,
) -> RebuildOutcome:
    """Rebuild one customer, or every customer matching `segment`, from their whole history, in
    one transaction (a dry run counts what would change and writes nothing)."""
    if (customer_id is None) == (segment is None):
        raise invalid(
            ("customerId",), "ONE_OF", "Give either customerId or filter (an empty filter {} means every customer)."
        )
    now = datetime.now(UTC)
    reason = f"rebuildCustomerStages by {actor}"
    total = RebuildOutcome()
    async with in_transaction():
        if customer_id is not None:
            if not (await get_customers(workspace_id, [customer_id])):
                raise invalid(("customerId",), "NOT_FOUND", "No customer with this id in this workspace.")
            total.add(await lifecycle.rebuild(workspace_id, [customer_id], now, reason, REPLAY, dry_run))
        else:
            assert segment is not None
            async for ids in matching_ids(workspace_id, segment):
                total.add(await lifecycle.rebuild(workspace_id, ids, now, reason, REPLAY, dry_run))
    if total.written >= BULK_REWRITE:
        await refresh_statistics(connection())
    await lifecycle.publish(total.transitions)
    return total


async def matching_ids(workspace_id: int, segment: CustomerFilter) -> AsyncIterator[list[int]]:
    """The ids of the customers matching a filter, `BATCH` at a time, in id order."""
    last = 0
    while True:
        conn = connection()
        p = Params(dialect_of(conn))
        where = " AND ".join([*customer_conditions(workspace_id, segment, p), f"c.id > {p(last)}"])
        sql = f"SELECT c.id FROM customer c WHERE {where} ORDER BY c.id LIMIT {p(BATCH)}"
        ids = [int(r["id"]) for r in await fetch(sql, p, conn)]
        if not ids:
            return
        yield ids
        last = ids[-1]


async def _enable(workspace_id: int, key: str, now: datetime, primary: bool) -> None:
    row = await _row(workspace_id, key)
    if row is None:
        await WorkspaceModel.create(workspace_id=workspace_id, model_key=key, tracked=True, params={}, enabled_at=now)
    else:
        await WorkspaceModel.filter(id=row.id).update(tracked=True, enabled_at=now)
    if primary:
        await _set_primary(workspace_id, key)


async def _write(
    workspace_id: int,
    key: str,
    positions: list[tuple[int, Position]],
    transitions: list[NewTransition],
    now: datetime,
) -> None:
    await store.save_positions(workspace_id, {(cid, key): pos for cid, pos in positions}, now)
    await store.insert_transitions(transitions)


# --- manual moves -----------------------------------------------------------------------------


async def move(
    lifecycle: Lifecycle,
    workspace_id: int,
    customer_id: int,
    key: str | None,
    stage: str,
    note: str | None,
    force: bool,
    actor: str,
    may_force: bool,
) -> list[TransitionRecord]:
    """Move a customer by hand, only along the model's transitions unless forced (ADMIN)."""
    tracked = await lifecycle.tracked(workspace_id)
    t = next((x for x in tracked if (key is None and x.is_primary) or x.key == key), None)
    if t is None:
        raise invalid(
            ("model",), "MODEL_NOT_TRACKED", f"This workspace tracks {[x.key for x in tracked]}, not {key!r}."
        )
    if t.model.stage(stage) is None:
        raise invalid(("stage",), "UNKNOWN_STAGE", f"{t.key} has no stage {stage!r}.")
    if force and not may_force:
        raise invalid(("force",), "FORBIDDEN", "Only an ADMIN key may force a move.")
    now = datetime.now(UTC)
    async with in_transaction():
        customer = (await get_customers(workspace_id, [customer_id])).get(customer_id)
        if customer is None:
            raise invalid(("customerId",), "NOT_FOUND", "No customer with this id in this workspace.")
        # Checks that fell due come first, so the move leaves the stage the customer is really in.
        caught_up = await lifecycle.apply(workspace_id, [customer_id], [], now)
        state = (await store.facts_of(workspace_id, [customer_id])).get(customer_id) or FactsState()  # locked by apply
        current = {a.model_key: a for a in await store.positions(workspace_id, [customer_id], [t.key])}.get(t.key)
        here = current.stage if current else t.model.initial_for(t.params)
        _check_allowed(t, here, stage, force)
        entered = max(now, current.entered_at) if current else now
        pos = Position(stage, entered)
        check = engine.next_check(t.model, t.params, pos, facts_at(state, customer)(now, entered))
        await store.save_position(workspace_id, customer_id, t.key, Position(stage, entered, check), now)
        moved = await store.insert_transitions(
            [
                NewTransition(
                    workspace_id,
                    customer_id,
                    t.key,
                    t.model.version,
                    here,
                    stage,
                    entered,
                    MANUAL,
                    None,
                    None,
                    actor,
                    note,
                )
            ]
        )
    await lifecycle.publish([*caught_up, *moved])
    return moved


def _check_allowed(t: Tracked, here: str, stage: str, force: bool) -> None:
    if here == stage:
        raise invalid(("stage",), "ALREADY_IN_STAGE", f"The customer is already in {stage!r}.")
    allowed = sorted({x.target for x in t.model.transitions_from(here)})
    if stage not in allowed and not force:
        raise invalid(
            ("stage",),
            "TRANSITION_NOT_ALLOWED",
            f"{t.key} has no transition from {here!r} to {stage!r}; allowed: {allowed} "
            "(an ADMIN may pass force: true).",
        )
