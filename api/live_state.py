"""What the live path reads for a batch, and the lock that serialises a customer's lifecycle writes.

A batch of interactions touches hundreds of customers; for each, the rules need its profile, its
facts and where it stands in every tracked model. They are read here in one statement on
PostgreSQL (two on SQLite), as driver rows decoded straight into the few fields the journey reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.db import Params, as_datetime, as_json, as_optional_datetime, connection, dialect_of, rows
from api.records import Subject
from plugins.engine import Position
from plugins.facts import FactsState

# pg_advisory_xact_lock's first key: the namespace of the per-customer lifecycle lock (the second
# is the customer id). api.value uses another namespace for its refit lock.
CUSTOMER_LOCK = 0x4A6F7201


async def lock_customers(customer_ids: Sequence[int]) -> None:
    """Hold the lifecycle lock of these customers until the transaction ends, so that two writers
    of one customer's facts, stages and moves (a batch, a tick, a manual move, a rebuild, a
    delete) go one after the other. PostgreSQL: transaction-level advisory locks, taken in id
    order (the array is sorted and `unnest` reads it in order) so that concurrent batches never
    deadlock; they touch no row, so nothing is written to take them. SQLite: a write transaction
    already has the database to itself."""
    ids = sorted({int(i) for i in customer_ids})
    conn = connection()
    if not ids or dialect_of(conn) != "postgres":
        return
    sql = "SELECT count(pg_advisory_xact_lock($1, x)) AS n FROM unnest($2::int[]) AS u(x)"
    await conn.execute_query(sql, [CUSTOMER_LOCK, ids])


async def try_lock_customer(customer_id: int) -> bool:
    """Take a customer's lifecycle lock unless another transaction holds it (then False at once)."""
    conn = connection()
    if dialect_of(conn) != "postgres":
        return True
    found = await conn.execute_query("SELECT pg_try_advisory_xact_lock($1, $2) AS ok", [CUSTOMER_LOCK, customer_id])
    return bool(found[1][0]["ok"])


@dataclass(slots=True)  # not frozen, as api.records.CustomerRecord: read-only all the same
class Profile:
    """The part of a customer the rules read (a `Subject`)."""

    id: int
    workspace_id: int
    created_at: datetime
    job_title: str | None
    industry: str | None
    tags: list[str]
    attributes: dict[str, Any]


@dataclass
class LiveState:
    """Customers of one workspace as the live path found them: missing ids do not exist there."""

    subjects: dict[int, Subject] = field(default_factory=dict)
    facts: dict[int, FactsState] = field(default_factory=dict)
    positions: dict[tuple[int, str], Position] = field(default_factory=dict)


PROFILE_COLUMNS = "c.id, c.workspace_id, c.created_at, c.job_title, c.industry, c.tags, c.attributes"


async def profiles_after(workspace_id: int, after: int, limit: int) -> list[Profile]:
    """The next `limit` customers of the workspace by id, after id `after` (for batch rebuilds)."""
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {PROFILE_COLUMNS} FROM customer c WHERE c.workspace_id = {p(workspace_id)} "
        f"AND c.id > {p(after)} ORDER BY c.id LIMIT {p(limit)}"
    )
    return [_profile(r) for r in await rows(sql, p, conn)]


async def load(workspace_id: int, customer_ids: Sequence[int], model_keys: Sequence[str]) -> LiveState:
    """Profiles, facts and positions in `model_keys` of the customers that exist in the workspace
    (call `lock_customers` first when they are to be written)."""
    out = LiveState()
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return out
    conn = connection()
    p = Params(dialect_of(conn))
    if p.dialect == "postgres":
        sql = (
            f"SELECT {PROFILE_COLUMNS}, f.data, a.keys, a.stages, a.entered, a.checks FROM customer c "
            "LEFT JOIN customer_facts f ON f.customer_id = c.id LEFT JOIN LATERAL ("
            "SELECT array_agg(s.model_key) AS keys, array_agg(s.stage) AS stages, "
            "array_agg(s.entered_at) AS entered, array_agg(s.next_check_at) AS checks "
            f"FROM stage_assignment s WHERE s.customer_id = c.id AND s.model_key = ANY({p(list(model_keys))}::text[])"
            f") a ON TRUE WHERE c.workspace_id = {p(workspace_id)} AND c.id = ANY({p(ids)}::bigint[])"
        )
        for r in await rows(sql, p, conn):
            _add(out, r)
            columns = (r["keys"] or (), r["stages"] or (), r["entered"] or (), r["checks"] or ())
            for key, stage, entered, check in zip(*columns, strict=True):
                out.positions[(r["id"], key)] = Position(stage, entered, check)
        return out
    sql = (
        f"SELECT {PROFILE_COLUMNS}, f.data FROM customer c LEFT JOIN customer_facts f ON f.customer_id = c.id "
        f"WHERE c.workspace_id = {p(workspace_id)} AND c.id IN ({p.many(ids)})"
    )
    for r in await rows(sql, p, conn):
        _add(out, r)
    if out.subjects and model_keys:
        q = Params("sqlite")
        sql = (
            "SELECT customer_id, model_key, stage, entered_at, next_check_at FROM stage_assignment "
            f"WHERE customer_id IN ({q.many(sorted(out.subjects))}) AND model_key IN ({q.many(list(model_keys))})"
        )
        for r in await rows(sql, q, conn):
            position = Position(r["stage"], as_datetime(r["entered_at"]), as_optional_datetime(r["next_check_at"]))
            out.positions[(r["customer_id"], r["model_key"])] = position
    return out


def _profile(r: Any) -> Profile:
    return Profile(
        r["id"],
        r["workspace_id"],
        as_datetime(r["created_at"]),
        r["job_title"],
        r["industry"],
        as_json(r["tags"], []),
        as_json(r["attributes"], {}),
    )


def _add(out: LiveState, r: Any) -> None:
    out.subjects[r["id"]] = _profile(r)
    out.facts[r["id"]] = FactsState.from_json(as_json(r["data"], None))
