"""The compiled read path over HTTP: a query request answered by one SQL statement, the key
check included, whose result is sent as the response without being decoded.

`answer` returns None for anything it does not take (no usable key, a request that is not a
plain JSON or GET query, an operation outside the compilable part, anything that would be an
error): the GraphQL view then handles the request exactly as before.
"""

from __future__ import annotations

import json
import logging
import weakref
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import OperationalError

from api.db import connection, dialect_of
from api.workspaces import KEY_PREFIX, hash_key
from schema.sql.dialects import SQLITE_FUNCTIONS
from schema.sql.marks import FALLBACK_MARK
from schema.sql.plans import ReadPlans

log = logging.getLogger("jornada.compiled")
MAX_KEY_LENGTH = 100  # as api.workspaces.authenticate


class CompiledReads:
    def __init__(self, plans: ReadPlans) -> None:
        self.plans = plans
        self._prepared: weakref.WeakSet[Any] = weakref.WeakSet()

    async def answer(self, request: Request, token: str | None) -> Response | None:
        if token is None or not token.startswith(KEY_PREFIX) or len(token) > MAX_KEY_LENGTH:
            return None
        found = await _request_data(request)
        if found is None:
            return None
        query, operation_name, variables = found
        try:
            return await self._run(query, operation_name, variables, token)
        except Exception:  # a bug here must cost speed, never the answer: Strawberry answers
            log.exception("compiled read failed; answered by Strawberry")
            return None

    async def _run(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None, token: str
    ) -> Response | None:
        statement = self.plans.statement(query, operation_name, variables)
        if statement is None:
            return None
        conn = connection()
        if dialect_of(conn) == "sqlite":
            await self._prepare(conn)
        try:
            values = statement.bind(hash_key(token), datetime.now(UTC))
            _, rows = await conn.execute_query(statement.sql, values)
        except OperationalError as exc:
            log.warning("compiled read refused by the database (%s); answered by Strawberry from now on", exc)
            self.plans.refuse(statement)
            return None
        if not rows:  # an unknown or revoked key: the usual path answers 401
            return None
        data: str = rows[0]["data"]
        if FALLBACK_MARK in data:  # a value only Strawberry can give
            return None
        return Response(b'{"data":' + data.encode() + b"}", media_type="application/json")

    async def _prepare(self, conn: BaseDBAsyncClient) -> None:
        """Register the compiled reads' functions on SQLite's connection, once per connection."""
        async with conn.acquire_connection() as raw:
            if raw in self._prepared:
                return
            for name, arity, function in SQLITE_FUNCTIONS:
                await raw.create_function(name, arity, function, deterministic=True)
            self._prepared.add(raw)


async def _request_data(request: Request) -> tuple[str, str | None, dict[str, Any] | None] | None:
    """(query, operation name, variables) of a plain GraphQL request, else None."""
    if request.method == "GET":
        params = request.query_params
        raw_variables = params.get("variables")
        try:
            variables = json.loads(raw_variables) if raw_variables else None
        except ValueError:
            return None
        data: Any = {"query": params.get("query"), "operationName": params.get("operationName"), "variables": variables}
    else:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return None
        try:
            data = json.loads(await request.body())
        except (ValueError, RecursionError):
            return None
    if not isinstance(data, dict):
        return None
    query, name, variables = data.get("query"), data.get("operationName"), data.get("variables")
    if not isinstance(query, str) or not isinstance(name, str | None) or not isinstance(variables, dict | None):
        return None
    return query, name, variables
