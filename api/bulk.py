"""Multi-row writes for the ingestion path: ids allocated up front, one statement per chunk.

Ids are taken before inserting (a sequence on PostgreSQL; above the current maximum inside the
write transaction on SQLite), so every row's id is known without relying on the order of
RETURNING rows, which neither database guarantees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.db import Params, dialect_of, dumps_json, fetch

# Both databases accept over 32,000 bind values per statement; stay well below.
MAX_VALUES = 30_000


async def allocate_ids(conn: BaseDBAsyncClient, table: str, count: int) -> list[int]:
    if count == 0:
        return []
    p = Params(dialect_of(conn))
    if p.dialect == "postgres":
        sql = f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) AS id FROM generate_series(1, {p(count)})"
        return [int(r["id"]) for r in await fetch(sql, p, conn)]
    # SQLite: the caller holds the write transaction; AUTOINCREMENT's own counter is honoured.
    sql = (
        f"SELECT MAX(COALESCE((SELECT MAX(id) FROM {table}), 0), "
        f"COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)) AS id"
    )
    start = int((await fetch(sql, p, conn))[0]["id"])
    return list(range(start + 1, start + 1 + count))


def encode(value: Any, dialect: str) -> Any:
    """Python values as the driver takes them for our column types (JSON as text)."""
    if isinstance(value, (dict, list)):
        return dumps_json(value)
    if isinstance(value, bool) and dialect == "sqlite":
        return int(value)
    return value


# PostgreSQL types of the columns written in bulk: there, rows go in as one array per column
# (`INSERT ... SELECT FROM unnest(...)`), a statement of fixed shape that is prepared once and
# whose values asyncpg encodes natively, instead of thousands of placeholders.
PG_TYPES: dict[str, str] = {
    "id": "int",
    "workspace_id": "int",
    "customer_id": "int",
    "interaction_id": "int",
    "endpoint_id": "int",
    "attempts": "int",
    "message_id": "text",
    "event_type": "text",
    "payload": "text",
    "status": "text",
    "next_attempt_at": "timestamptz",
    "score": "int",
    "frequency": "int",
    "kind": "text",
    "channel": "text",
    "idempotency_key": "text",
    "model_key": "text",
    "model_version": "text",
    "from_stage": "text",
    "to_stage": "text",
    "stage": "text",
    "cause": "text",
    "rule": "text",
    "actor": "text",
    "note": "text",
    "amount": "numeric",
    "occurred_at": "timestamptz",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "entered_at": "timestamptz",
    "next_check_at": "timestamptz",
    "computed_at": "timestamptz",
    "properties": "jsonb",
    "data": "jsonb",
    "archived": "bool",
    "correction": "bool",
    "recency_weeks": "float8",
    "age_weeks": "float8",
    "monetary": "float8",
    "p_alive": "float8",
    "expected_purchases": "float8",
    "expected_spend": "float8",
    "predicted_clv": "float8",
}


async def insert_rows(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str = "",
    returning: str = "",
) -> list[dict[str, Any]]:
    """INSERT many rows; returns the RETURNING rows (in no given order)."""
    if not rows:
        return []
    if dialect_of(conn) == "postgres":
        return await _insert_unnest(conn, table, columns, rows, on_conflict, returning)
    out: list[dict[str, Any]] = []
    per_chunk = max(1, MAX_VALUES // max(1, len(columns)))
    for start in range(0, len(rows), per_chunk):
        p = Params("sqlite")
        values = ", ".join(
            "(" + ", ".join(p(encode(v, "sqlite")) for v in row) + ")" for row in rows[start : start + per_chunk]
        )
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} {on_conflict}"
        if returning:
            out += await fetch(f"{sql} RETURNING {returning}", p, conn)
        else:
            await conn.execute_query(sql, p.values)
    return out


async def _insert_unnest(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    on_conflict: str,
    returning: str,
) -> list[dict[str, Any]]:
    kinds = [PG_TYPES[c] for c in columns]
    # One array per column; only JSON values need encoding (asyncpg takes the rest natively).
    arrays: list[list[Any]] = [list(values) for values in zip(*rows, strict=True)]
    for n, kind in enumerate(kinds):
        if kind == "jsonb":
            arrays[n] = [encode(v, "postgres") for v in arrays[n]]
    # jsonb arrays travel as text and are cast per element.
    params = ", ".join(f"${n + 1}::{'text' if k == 'jsonb' else k}[]" for n, k in enumerate(kinds))
    names = ", ".join(f"c{n}" for n in range(len(columns)))
    select = ", ".join(f"c{n}::jsonb" if k == "jsonb" else f"c{n}" for n, k in enumerate(kinds))
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM unnest({params}) AS t({names}) {on_conflict}"
    )
    if returning:
        return list(await conn.execute_query_dict(f"{sql} RETURNING {returning}", arrays))
    await conn.execute_query(sql, arrays)
    return []


# The tables a bulk write fills: their planner statistics go stale at once (a metrics query right
# after importing 1M interactions took 27-30 s on PostgreSQL until ANALYZE, 0.3 s after).
LIFECYCLE_TABLES = ("customer", "interaction", "customer_facts", "stage_assignment", "stage_transition")


async def refresh_statistics(conn: BaseDBAsyncClient, tables: Sequence[str] = LIFECYCLE_TABLES) -> None:
    """Refresh the query planner's statistics of `tables` after a bulk write (ANALYZE; on SQLite it
    fills sqlite_stat1). Run after the write's commit, outside its transaction, so that it samples
    what was committed and holds no lock the write still needs."""
    if dialect_of(conn) == "postgres":
        await conn.execute_script(f"ANALYZE {', '.join(tables)}")
        return
    for table in tables:
        await conn.execute_script(f"ANALYZE {table}")
