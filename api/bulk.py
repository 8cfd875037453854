"""Multi-row writes for the ingestion path: ids allocated up front, one statement per chunk.

Ids are taken before inserting (a sequence on PostgreSQL; above the current maximum inside the
write transaction on SQLite), so every row's id is known without relying on the order of
RETURNING rows, which neither database guarantees.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from api.db import Params, dialect_of, fetch

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
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool) and dialect == "sqlite":
        return int(value)
    return value


async def insert_rows(
    conn: BaseDBAsyncClient,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str = "",
    returning: str = "",
) -> list[dict[str, Any]]:
    """INSERT many rows, chunked; returns the RETURNING rows of every chunk (in no given order)."""
    out: list[dict[str, Any]] = []
    per_chunk = max(1, MAX_VALUES // max(1, len(columns)))
    dialect = dialect_of(conn)
    for start in range(0, len(rows), per_chunk):
        p = Params(dialect)
        values = ", ".join(
            "(" + ", ".join(p(encode(v, dialect)) for v in row) + ")" for row in rows[start : start + per_chunk]
        )
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} {on_conflict}"
        if returning:
            out += await fetch(f"{sql} RETURNING {returning}", p, conn)
        else:
            await conn.execute_query(sql, p.values)
    return out
