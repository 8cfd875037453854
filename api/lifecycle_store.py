"""Lifecycle persistence: facts, positions (assignments), transitions, tracked models.

Every function here runs inside the caller's transaction when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.db import Params, as_json, connection, dialect_of, fetch, utc
from api.models import CustomerFactsRow, StageAssignment, StageTransition, WorkspaceModel
from api.pagination import ASC, KeysetQuery, Page, PageRequest, SortKey
from api.records import (
    TRANSITION_COLUMNS,
    AssignmentRecord,
    TransitionRecord,
    WorkspaceModelRecord,
    assignment_from_row,
    transition_from_row,
    workspace_model_from_row,
)
from plugins.engine import Position
from plugins.facts import FactsState


@dataclass(frozen=True)
class NewTransition:
    workspace_id: int
    customer_id: int
    model_key: str
    model_version: str
    from_stage: str | None
    to_stage: str
    occurred_at: datetime
    cause: str
    rule: str | None = None
    interaction_id: int | None = None
    actor: str | None = None
    note: str | None = None


async def workspace_models(workspace_id: int) -> list[WorkspaceModelRecord]:
    rows = await (
        WorkspaceModel.filter(workspace_id=workspace_id)
        .order_by("-is_primary", "model_key")
        .values("model_key", "is_primary", "tracked", "params", "enabled_at")
    )
    return [workspace_model_from_row(r) for r in rows]


async def lock_facts(workspace_id: int, customer_id: int) -> FactsState:
    """The customer's facts, locked until the transaction ends (PostgreSQL: FOR UPDATE), so two
    interactions of one customer are applied one after the other, never interleaved."""
    conn = connection()
    p = Params(dialect_of(conn))
    lock = " FOR UPDATE" if p.dialect == "postgres" else ""
    sql = (
        f"SELECT data FROM customer_facts WHERE workspace_id = {p(workspace_id)} "
        f"AND customer_id = {p(customer_id)}{lock}"
    )
    rows = await fetch(sql, p, conn)
    if not rows:
        return FactsState()
    return FactsState.from_json(as_json(rows[0]["data"], {}))


async def save_facts(workspace_id: int, customer_id: int, state: FactsState, now: datetime) -> None:
    updated = await CustomerFactsRow.filter(customer_id=customer_id).update(
        data=state.to_json(), updated_at=now
    )
    if not updated:
        await CustomerFactsRow.create(
            workspace_id=workspace_id, customer_id=customer_id, data=state.to_json(), updated_at=now
        )


async def positions(customer_ids: Sequence[int], model_keys: Sequence[str]) -> list[AssignmentRecord]:
    if not customer_ids or not model_keys:
        return []
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT customer_id, model_key, stage, entered_at, next_check_at FROM stage_assignment "
        f"WHERE customer_id IN ({p.many(list(customer_ids))}) AND model_key IN ({p.many(list(model_keys))})"
    )
    return [assignment_from_row(r) for r in await fetch(sql, p, conn)]


async def save_position(
    workspace_id: int, customer_id: int, model_key: str, pos: Position, now: datetime
) -> None:
    values: dict[str, Any] = {
        "stage": pos.stage,
        "entered_at": utc(pos.entered_at),
        "next_check_at": utc(pos.next_check_at) if pos.next_check_at else None,
        "updated_at": now,
    }
    updated = await StageAssignment.filter(customer_id=customer_id, model_key=model_key).update(**values)
    if not updated:
        await StageAssignment.create(
            workspace_id=workspace_id, customer_id=customer_id, model_key=model_key, **values
        )


async def insert_transitions(items: Sequence[NewTransition]) -> list[TransitionRecord]:
    out = []
    for t in items:
        row = await StageTransition.create(
            workspace_id=t.workspace_id,
            customer_id=t.customer_id,
            model_key=t.model_key,
            model_version=t.model_version,
            from_stage=t.from_stage,
            to_stage=t.to_stage,
            occurred_at=utc(t.occurred_at),
            cause=t.cause,
            rule=t.rule,
            interaction_id=t.interaction_id,
            actor=t.actor,
            note=t.note,
        )
        out.append(
            TransitionRecord(
                row.id,
                t.workspace_id,
                t.customer_id,
                t.model_key,
                t.model_version,
                t.from_stage,
                t.to_stage,
                utc(t.occurred_at),
                t.cause,
                t.rule,
                t.interaction_id,
                t.actor,
                t.note,
            )
        )
    return out


async def due_customers(now: datetime, limit: int) -> list[tuple[int, int]]:
    """(workspace id, customer id) of customers with a check due, through the `next_check_at` index."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT DISTINCT workspace_id, customer_id, next_check_at FROM stage_assignment "
        f"WHERE next_check_at <= {p(utc(now))} ORDER BY next_check_at LIMIT {p(limit)}"
    )
    seen: dict[int, int] = {}
    for r in await fetch(sql, p, conn):
        seen.setdefault(r["customer_id"], r["workspace_id"])
    return [(ws, cid) for cid, ws in seen.items()]


async def try_lock_customer(workspace_id: int, customer_id: int) -> bool:
    """Lock a customer's facts row unless another worker holds it (PostgreSQL SKIP LOCKED)."""
    conn = connection()
    p = Params(dialect_of(conn))
    if p.dialect != "postgres":
        return True
    sql = (
        f"SELECT id FROM customer_facts WHERE workspace_id = {p(workspace_id)} "
        f"AND customer_id = {p(customer_id)} FOR UPDATE SKIP LOCKED"
    )
    return bool(await fetch(sql, p, conn))


async def transitions_by_id(workspace_id: int, ids: Sequence[int]) -> dict[int, TransitionRecord]:
    if not ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {TRANSITION_COLUMNS} FROM stage_transition t WHERE t.workspace_id = {p(workspace_id)} "
        f"AND t.id IN ({p.many(list(set(ids)))})"
    )
    return {r.id: r for r in map(transition_from_row, await fetch(sql, p, conn))}


HISTORY_KEYS = (
    SortKey("occurredAt", "t.occurred_at", ASC, lambda r: r.occurred_at, is_datetime=True),
    SortKey("id", "t.id", ASC, lambda r: r.id),
)


async def history(
    workspace_id: int, customer_id: int, model_key: str, page: PageRequest, max_size: int = 100
) -> Page[TransitionRecord]:
    """A customer's moves in one model, oldest first; archived (rebuilt) moves left out."""
    query = KeysetQuery.build(HISTORY_KEYS, page, max_size, max_size)
    conn = connection()
    p = Params(dialect_of(conn))
    where = [
        f"t.workspace_id = {p(workspace_id)}",
        f"t.customer_id = {p(customer_id)}",
        f"t.model_key = {p(model_key)}",
        f"t.archived = {p(False)}",
        *query.conditions(p),
    ]
    sql = (
        f"SELECT {TRANSITION_COLUMNS} FROM stage_transition t WHERE {' AND '.join(where)} "
        f"ORDER BY {query.order_sql()} LIMIT {p(query.size + 1)}"
    )
    return query.page([transition_from_row(r) for r in await fetch(sql, p, conn)])


async def facts_of(workspace_id: int, customer_ids: Sequence[int]) -> dict[int, FactsState]:
    """The facts of several customers, without locking (for rebuilds inside one transaction)."""
    if not customer_ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT customer_id, data FROM customer_facts WHERE workspace_id = {p(workspace_id)} "
        f"AND customer_id IN ({p.many(list(customer_ids))})"
    )
    return {r["customer_id"]: FactsState.from_json(as_json(r["data"], {})) for r in await fetch(sql, p, conn)}
