"""Raw SQL for the hot read paths: one portable way to bind parameters and decode rows.

Writes go through the ORM; reads that list many rows skip ORM hydration and come back as plain
dicts, decoded here once so that GraphQL resolvers only read attributes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connection

CONNECTION = "default"


def connection() -> BaseDBAsyncClient:
    """The current connection: the open transaction when there is one, else the pool."""
    return get_connection(CONNECTION)


async def release_connection(conn: Any) -> None:
    """Run by the PostgreSQL pool as a connection comes back, instead of asyncpg's reset, which
    costs a round trip per request (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL). Jornada
    takes transaction-level advisory locks only, LISTENs on a connection of its own and changes no
    session setting: only a transaction left open (an interrupted request) needs undoing."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def dialect_of(conn: BaseDBAsyncClient) -> str:
    return "sqlite" if conn.capabilities.dialect == "sqlite" else "postgres"


class Params:
    """Collects bind values and renders the dialect's placeholder for each.

    PostgreSQL's are numbered (`$n`), so a rendered placeholder may appear several times in a
    statement. On SQLite they are plain `?` (each used once, in order) unless `reusable` is set,
    which numbers them (`?n`) too: SQLite compiles numbered parameters in quadratic time, so big
    multi-row writes must not use them (1000 rows: 0.3 s numbered, 4 ms plain).
    """

    def __init__(self, dialect: str, *, reusable: bool = False) -> None:
        self.dialect = dialect
        self.values: list[Any] = []
        self.numbered = dialect != "sqlite" or reusable

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        if not self.numbered:
            return "?"
        return f"?{len(self.values)}" if self.dialect == "sqlite" else f"${len(self.values)}"

    def many(self, values: list[Any]) -> str:
        return ", ".join(self(v) for v in values)

    def among(self, column: str, values: Sequence[Any], pg_type: str = "bigint") -> str:
        """`column` is one of `values`. On PostgreSQL one array parameter (`= ANY($n::type[])`),
        so the statement has one shape whatever the count and is prepared once; `IN (...)` on
        SQLite. Integers go as bigint, so an id beyond the column's range matches nothing."""
        if self.dialect == "postgres":
            return f"{column} = ANY({self(list(values))}::{pg_type}[])"
        return f"{column} IN ({self.many(list(values))})"


async def fetch(sql: str, params: Params, conn: BaseDBAsyncClient | None = None) -> list[dict[str, Any]]:
    conn = conn or connection()
    return list(await conn.execute_query_dict(sql, params.values))


async def read(sql: str, params: Params) -> Sequence[Any]:
    """The rows of a read on the request path, from the driver itself on PostgreSQL (the ORM's
    wrapper costs more than a small statement; a read has no ORM exception to translate)."""
    conn = connection()
    if params.dialect == "postgres":
        return await driver_fetch(conn, sql, params.values)
    return (await conn.execute_query(sql, params.values))[1]


SQL_LOG = logging.getLogger("jornada.sql")  # statements sent past the ORM (which logs its own)


async def driver_fetch(conn: BaseDBAsyncClient, sql: str, values: Sequence[Any]) -> list[Any]:
    """A PostgreSQL read through the pool's asyncpg connection, logged at DEBUG as the ORM would."""
    if SQL_LOG.isEnabledFor(logging.DEBUG):
        SQL_LOG.debug("%s", sql)
    async with conn.acquire_connection() as raw:
        return list(await raw.fetch(sql, *values))


async def rows(sql: str, params: Params, conn: BaseDBAsyncClient | None = None) -> Sequence[Any]:
    """The driver's own rows of a SELECT (asyncpg records, sqlite3 rows; both read as `row["column"]`),
    without the copy into dicts that `fetch` makes: for the ingestion path's big reads."""
    conn = conn or connection()
    return (await conn.execute_query(sql, params.values))[1]


def utc(value: datetime) -> datetime:
    """Every stored time is UTC; a naive time is taken as UTC."""
    if value.tzinfo is UTC:  # as the drivers return them: nothing to convert
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(str(value)))


def as_optional_datetime(value: Any) -> datetime | None:
    return None if value is None else as_datetime(value)


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def as_decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def as_json(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, (str, bytes)):
        return loads_json(value)
    return value


def loads_json(text: str | bytes) -> Any:
    """Parse JSON read from the database: orjson (several times faster on the ingestion path),
    the standard library for what orjson refuses (NaN, which older rows may hold)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps_json(value: Any) -> str:
    """Compact JSON text; datetimes as ISO 8601. orjson first; the standard library for what it
    refuses (integers beyond 64 bits, lone surrogates), so any value a client sent is stored."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=_iso)


def zone(name: str) -> tzinfo:
    """The IANA time zone a workspace names (validated when set); UTC for a name this machine's
    time zone database does not know."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return UTC


LOCAL_DATE = "jornada_local_date"


def _local_date(value: str | None, tz_name: str) -> str | None:
    """SQLite function: the calendar day, in the zone `tz_name`, of a stored timestamp."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return utc(moment).astimezone(zone(tz_name)).date().isoformat()


async def local_date_sql(conn: BaseDBAsyncClient, p: Params, column: str, tz_name: str) -> str:
    """SQL for the calendar day, in the IANA zone `tz_name`, of the timestamp expression `column`
    (`p` must be reusable: the placeholder may be rendered once and used twice). SQLite has no
    time zone database: there it is a function of this process, registered on the connection."""
    if p.dialect == "postgres":
        return f"CAST(({column} AT TIME ZONE {p(tz_name)}::text) AS DATE)"
    async with conn.acquire_connection() as raw:
        await raw.create_function(LOCAL_DATE, 2, _local_date, deterministic=True)
    return f"{LOCAL_DATE}({column}, {p(tz_name)})"
