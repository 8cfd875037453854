"""The compiled read path over HTTP: a query request answered by one SQL statement, the key
check included, whose result is sent as the response without being decoded.

`answer` returns None for anything it does not take (no usable key, an operation outside the
compilable part, anything that would be an error): the GraphQL view then handles the request
exactly as before.
"""

from __future__ import annotations

import logging
import weakref
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.responses import Response
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError

from api.db import connection, dialect_of, driver_fetch
from api.graphql_request import GraphQLRequest
from api.workspaces import KEY_PREFIX, hash_key
from schema.sql.dialects import SQLITE_FUNCTIONS
from schema.sql.marks import FALLBACK_MARK
from schema.sql.plans import ReadPlans

log = logging.getLogger("jornada.compiled")
MAX_KEY_LENGTH = 100  # as api.workspaces.authenticate
MARK = FALLBACK_MARK.encode()


class CompiledReads:
    def __init__(self, plans: ReadPlans) -> None:
        self.plans = plans
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()

    async def answer(self, graphql: GraphQLRequest, token: str | None) -> Response | None:
        if token is None or not token.startswith(KEY_PREFIX) or len(token) > MAX_KEY_LENGTH:
            return None
        if graphql.query is None:
            return None
        try:
            return await self._run(graphql.query, graphql.operation_name, graphql.variables, token, graphql.digest)
        except Exception:  # a bug here must cost speed, never the answer: Strawberry answers
            log.exception("compiled read failed; answered by Strawberry")
            return None

    async def _run(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None, token: str, digest: str | None
    ) -> Response | None:
        statement = self.plans.statement(query, operation_name, variables, digest)
        if statement is None:
            return None
        conn = connection()
        values = statement.bind(hash_key(token), datetime.now(UTC))
        try:
            rows = await self._fetch(conn, statement.sql, values)
        except (OperationalError, asyncpg.PostgresError) as exc:
            log.warning("compiled read refused by the database (%s); answered by Strawberry from now on", exc)
            self.plans.refuse(statement)
            return None
        if not rows:  # an unknown or revoked key: the usual path answers 401
            return None
        data: bytes = rows[0]["data"]
        if MARK in data:  # a value only Strawberry can give
            return None
        return Response(b'{"data":' + data + b"}", media_type="application/json")

    async def _fetch(self, conn: BaseDBAsyncClient, sql: str, values: list[Any]) -> list[Any]:
        """The statement's rows, straight from the driver (PostgreSQL: no ORM wrapper around it)."""
        if dialect_of(conn) == "postgres":
            return await driver_fetch(conn, sql, values)
        await self._prepare(conn)
        return list((await conn.execute_query(sql, values))[1])

    async def _prepare(self, conn: BaseDBAsyncClient) -> None:
        """Register the compiled reads' functions on SQLite's connection, once per connection."""
        async with conn.acquire_connection() as raw:
            if raw in self._prepared:
                return
            for name, arity, function in SQLITE_FUNCTIONS:
                await raw.create_function(name, arity, function, deterministic=True)
            self._prepared.add(raw)
