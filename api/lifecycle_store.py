"""Lifecycle persistence: facts, positions (assignments), transitions, tracked models.

Every function here runs inside the caller's transaction when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api import webhook_events
from api.bulk import allocate_ids, insert_rows
from api.db import Params, as_datetime, as_json, connection, dialect_of, fetch, utc
from api.db import rows as db_rows
from api.models import WorkspaceModel
from api.pagination import ASC, KeysetQuery, Page, PageRequest, SortKey
from api.records import (
    INTERACTION_COLUMNS,
    TRANSITION_COLUMNS,
    AssignmentRecord,
    InteractionRecord,
    TransitionRecord,
    WorkspaceModelRecord,
    assignment_from_row,
    interaction_from_row,
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
    correction: bool = False


async def workspace_models(workspace_id: int) -> list[WorkspaceModelRecord]:
    rows = await (
        WorkspaceModel.filter(workspace_id=workspace_id)
        .order_by("-is_primary", "model_key")
        .values("model_key", "is_primary", "tracked", "params", "enabled_at")
    )
    return [workspace_model_from_row(r) for r in rows]


async def save_facts(workspace_id: int, states: Mapping[int, FactsState], now: datetime) -> None:
    rows = [(workspace_id, cid, state.to_data(), now) for cid, state in states.items()]
    await insert_rows(
        connection(),
        "customer_facts",
        ("workspace_id", "customer_id", "data", "updated_at"),
        rows,
        on_conflict="ON CONFLICT (customer_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
    )


async def positions(
    workspace_id: int, customer_ids: Sequence[int], model_keys: Sequence[str]
) -> list[AssignmentRecord]:
    if not customer_ids or not model_keys:
        return []
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT customer_id, model_key, stage, entered_at, next_check_at FROM stage_assignment "
        f"WHERE workspace_id = {p(workspace_id)} AND {p.among('customer_id', list(customer_ids))} "
        f"AND {p.among('model_key', list(model_keys), 'text')}"
    )
    return [assignment_from_row(r) for r in await fetch(sql, p, conn)]


async def save_positions(
    workspace_id: int, positions_by_key: Mapping[tuple[int, str], Position], now: datetime
) -> None:
    """Upsert where each (customer id, model key) stands."""
    rows = [
        (
            workspace_id,
            cid,
            key,
            pos.stage,
            utc(pos.entered_at),
            utc(pos.next_check_at) if pos.next_check_at else None,
            now,
        )
        for (cid, key), pos in positions_by_key.items()
    ]
    await insert_rows(
        connection(),
        "stage_assignment",
        ("workspace_id", "customer_id", "model_key", "stage", "entered_at", "next_check_at", "updated_at"),
        rows,
        on_conflict="ON CONFLICT (customer_id, model_key) DO UPDATE SET stage = excluded.stage, "
        "entered_at = excluded.entered_at, next_check_at = excluded.next_check_at, updated_at = excluded.updated_at",
    )


async def save_position(workspace_id: int, customer_id: int, model_key: str, pos: Position, now: datetime) -> None:
    await save_positions(workspace_id, {(customer_id, model_key): pos}, now)


TRANSITION_INSERT = (
    "id",
    "workspace_id",
    "customer_id",
    "model_key",
    "model_version",
    "from_stage",
    "to_stage",
    "occurred_at",
    "cause",
    "rule",
    "interaction_id",
    "actor",
    "note",
    "archived",
    "correction",
    "created_at",
)


async def insert_transitions(items: Sequence[NewTransition]) -> list[TransitionRecord]:
    """Write moves (ids allocated first, so each record carries its id)."""
    conn = connection()
    ids = await allocate_ids(conn, "stage_transition", len(items))
    now = datetime.now(UTC)
    records = [
        TransitionRecord(
            tid,
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
            t.correction,
        )
        for tid, t in zip(ids, items, strict=True)
    ]
    rows = [
        (
            r.id,
            r.workspace_id,
            r.customer_id,
            r.model_key,
            r.model_version,
            r.from_stage,
            r.to_stage,
            r.occurred_at,
            r.cause,
            r.rule,
            r.interaction_id,
            r.actor,
            r.note,
            False,
            r.correction,
            now,
        )
        for r in records
    ]
    await insert_rows(conn, "stage_transition", TRANSITION_INSERT, rows)
    await webhook_events.stage_changed(records)  # in the same transaction
    return records


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


async def transitions_by_id(workspace_id: int, ids: Sequence[int]) -> dict[int, TransitionRecord]:
    if not ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {TRANSITION_COLUMNS} FROM stage_transition t WHERE t.workspace_id = {p(workspace_id)} "
        f"AND {p.among('t.id', sorted(set(ids)))}"
    )
    return {r.id: r for r in map(transition_from_row, await db_rows(sql, p, conn))}


HISTORY_KEYS = (
    SortKey("occurredAt", "t.occurred_at", ASC, lambda r: r.occurred_at, is_datetime=True),
    SortKey("id", "t.id", ASC, lambda r: r.id),
)


def history_where(
    workspace_id: int, customer_id: int, model_key: str, include_superseded: bool, p: Params
) -> list[str]:
    where = [
        f"t.workspace_id = {p(workspace_id)}",
        f"t.customer_id = {p(customer_id)}",
        f"t.model_key = {p(model_key)}",
    ]
    if not include_superseded:
        where.append(f"t.archived = {p(False)}")
    return where


async def history(
    workspace_id: int,
    customer_id: int,
    model_key: str,
    page: PageRequest,
    max_size: int = 100,
    include_superseded: bool = False,
) -> Page[TransitionRecord]:
    """A customer's moves in one model, oldest first; superseded (rebuilt) moves left out unless
    asked for."""
    query = KeysetQuery.build(HISTORY_KEYS, page, max_size, max_size)
    conn = connection()
    p = Params(dialect_of(conn))
    where = [*history_where(workspace_id, customer_id, model_key, include_superseded, p), *query.conditions(p)]
    sql = (
        f"SELECT {TRANSITION_COLUMNS} FROM stage_transition t WHERE {' AND '.join(where)} "
        f"ORDER BY {query.order_sql()} LIMIT {p(query.size + 1)}"
    )
    return query.page([transition_from_row(r) for r in await db_rows(sql, p, conn)])


async def facts_of(workspace_id: int, customer_ids: Sequence[int]) -> dict[int, FactsState]:
    """The facts of several customers, without locking (for rebuilds inside one transaction)."""
    if not customer_ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT customer_id, data FROM customer_facts WHERE workspace_id = {p(workspace_id)} "
        f"AND {p.among('customer_id', list(customer_ids))}"
    )
    return {r["customer_id"]: FactsState.from_json(as_json(r["data"], {})) for r in await fetch(sql, p, conn)}


async def count_history(workspace_id: int, customer_id: int, model_key: str, include_superseded: bool = False) -> int:
    conn = connection()
    p = Params(dialect_of(conn))
    where = " AND ".join(history_where(workspace_id, customer_id, model_key, include_superseded, p))
    return int((await fetch(f"SELECT COUNT(*) AS n FROM stage_transition t WHERE {where}", p, conn))[0]["n"])


async def active_transitions(
    workspace_id: int, customer_ids: Sequence[int], model_keys: Sequence[str]
) -> dict[tuple[int, str], list[TransitionRecord]]:
    """The moves in force (not superseded) of some customers in some models, in time order."""
    out: dict[tuple[int, str], list[TransitionRecord]] = {}
    if not customer_ids or not model_keys:
        return out
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {TRANSITION_COLUMNS} FROM stage_transition t WHERE t.workspace_id = {p(workspace_id)} "
        f"AND {p.among('t.customer_id', sorted(set(customer_ids)))} "
        f"AND {p.among('t.model_key', list(model_keys), 'text')} "
        f"AND t.archived = {p(False)} ORDER BY t.customer_id, t.model_key, t.occurred_at, t.id"
    )
    for r in map(transition_from_row, await db_rows(sql, p, conn)):
        out.setdefault((r.customer_id, r.model_key), []).append(r)
    return out


async def supersede(workspace_id: int, reasons: Mapping[int, str], now: datetime) -> None:
    """Mark moves (transition id → why) as superseded: kept, hidden from histories and metrics.
    One statement per chunk, whatever the number of distinct reasons."""
    if not reasons:
        return
    conn = connection()
    items = sorted(reasons.items())
    if dialect_of(conn) == "postgres":
        sql = (
            "UPDATE stage_transition AS t SET archived = TRUE, superseded_at = $1, superseded_reason = v.reason "
            "FROM unnest($2::int[], $3::text[]) AS v(id, reason) WHERE t.id = v.id AND t.workspace_id = $4"
        )
        await conn.execute_query(sql, [utc(now), [i for i, _ in items], [r for _, r in items], workspace_id])
        return
    for start in range(0, len(items), 10_000):
        p = Params("sqlite")
        chunk = items[start : start + 10_000]
        values = ", ".join(f"({p(i)}, {p(r)})" for i, r in chunk)
        sql = (
            f"WITH v(id, reason) AS (VALUES {values}) UPDATE stage_transition SET archived = 1, "
            f"superseded_at = {p(utc(now))}, superseded_reason = v.reason FROM v "
            f"WHERE stage_transition.id = v.id AND stage_transition.workspace_id = {p(workspace_id)}"
        )
        await conn.execute_query(sql, p.values)


# A replay's read of the interactions: every column of INTERACTION_COLUMNS, the times on
# PostgreSQL as microseconds since the epoch and the amount as text, which cross to a worker
# process several times cheaper than datetimes and decimals (pickled; 4.6 s less for 1M rows).
HISTORY_COLUMNS_PG = (
    "i.id, i.workspace_id, i.customer_id, i.kind, i.channel, "
    "ROUND(EXTRACT(EPOCH FROM i.occurred_at) * 1000000)::int8, i.amount::text, i.score, i.properties::text, "
    "i.idempotency_key, ROUND(EXTRACT(EPOCH FROM i.created_at) * 1000000)::int8"
)


async def interaction_history_rows(workspace_id: int, customer_ids: Sequence[int]) -> list[tuple[Any, ...]]:
    """Every interaction of some customers as plain tuples, each customer's in time order
    (`histories_of` makes them records; a replay does that in its workers, so that only plain
    values cross to them)."""
    if not customer_ids:
        return []
    conn = connection()
    p = Params(dialect_of(conn))
    columns = HISTORY_COLUMNS_PG if p.dialect == "postgres" else INTERACTION_COLUMNS
    sql = (
        f"SELECT {columns} FROM interaction i WHERE i.workspace_id = {p(workspace_id)} "
        f"AND {p.among('i.customer_id', list(customer_ids))} ORDER BY i.customer_id, i.occurred_at, i.id"
    )
    return [tuple(row) for row in await db_rows(sql, p, conn)]


def _moment(value: Any) -> datetime:
    if isinstance(value, int):
        # (exact: the float is within 0.2 µs of the time for centuries around now, and
        # fromtimestamp rounds to the nearest microsecond; a third faster than adding a timedelta)
        return datetime.fromtimestamp(value / 1e6, UTC)
    return as_datetime(value)


def histories_of(rows: Sequence[Sequence[Any]]) -> dict[int, list[InteractionRecord]]:
    """`interaction_history_rows`' rows as records, per customer."""
    out: dict[int, list[InteractionRecord]] = {}
    for r in rows:
        out.setdefault(r[2], []).append(interaction_from_row(r, _moment))
    return out


async def interaction_histories(workspace_id: int, customer_ids: Sequence[int]) -> dict[int, list[InteractionRecord]]:
    """Every interaction of some customers, each customer's in time order."""
    return histories_of(await interaction_history_rows(workspace_id, customer_ids))


async def manual_moves(workspace_id: int, key: str) -> dict[int, list[TransitionRecord]]:
    """The manual moves in force in one model, per customer: a replay makes them again at their
    time (they are rare, so the whole workspace's are read at once)."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {TRANSITION_COLUMNS} FROM stage_transition t WHERE t.workspace_id = {p(workspace_id)} "
        f"AND t.model_key = {p(key)} AND t.cause = {p('MANUAL')} AND t.archived = {p(False)}"
    )
    out: dict[int, list[TransitionRecord]] = {}
    for r in map(transition_from_row, await db_rows(sql, p, conn)):
        out.setdefault(r.customer_id, []).append(r)
    return out
