"""The composition root: `create_app()` wires settings, the ORM, plugins and the GraphQL view."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, cast

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from tortoise.contrib.starlette import RegisterTortoise

from api import admin, graphiql, value
from api.compiled_reads import CompiledReads
from api.cors import Cors
from api.errors import error_body
from api.events import StageEvents
from api.graphql_request import GraphQLRequest, read_request
from api.http_errors import http_exception, refused, with_codes
from api.lifecycle import Lifecycle
from api.persisted import PersistedQueries, PersistedQueryError
from api.runtime import tune_gc
from api.settings import Settings
from api.webhook_delivery import DeliveryWorker
from api.websockets import INIT_TIMEOUT, KeyCheckedHandler, OpenSockets
from api.workspaces import Principal, authenticate
from plugins.manager import PluginRegistry, load_plugins
from schema.build import JornadaSchema, build_schema
from schema.context import Context
from schema.sql.plans import ReadPlans

log = logging.getLogger("jornada")
# The request as read before Strawberry (with the document a persisted query's hash named), for
# Strawberry's reading of the same request.
PARSED_REQUEST: ContextVar[GraphQLRequest | None] = ContextVar("parsed_request", default=None)


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class JornadaGraphQL(GraphQL[Context, None]):
    """The GraphQL view: authenticates every request before any resolver runs; WebSockets speak
    graphql-transport-ws only (the legacy protocol has no authentication timeout) and are cut off
    when their key is revoked (`api.websockets`)."""

    graphql_transport_ws_handler_class = KeyCheckedHandler

    def __init__(self, settings: Settings, registry: PluginRegistry, lifecycle: Lifecycle, events: StageEvents) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            allowed_origins=tuple(sorted(settings.allowed_origins)),
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=INIT_TIMEOUT,
        )
        self.sockets = OpenSockets()
        self.persisted = PersistedQueries()
        graphql_schema = cast(JornadaSchema, self.schema)._schema
        self.reads = CompiledReads(ReadPlans(graphql_schema, settings, registry)) if settings.compiled_reads else None
        self.settings = settings
        # Checked once: GraphiQL's own files, installed by `make install`, or a page saying so.
        self.ide_page = graphiql.page(local=graphiql.installed())
        self.registry = registry
        self.lifecycle = lifecycle
        self.events = events

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if not _wants_ide(scope) and not await self._before_strawberry(request, scope, receive, send):
            return
        try:
            response = await self.run(request)
        except HTTPException as exc:  # a malformed request: as JSON, not Strawberry's plain text
            response = refused(exc.status_code, exc.reason)
        await response(scope, receive, send)

    async def _before_strawberry(self, request: Request, scope: Scope, receive: Receive, send: Send) -> bool:
        """Persisted queries, compiled reads and the key check; False when answered already."""
        token = bearer_token(request.headers.get("authorization"))
        graphql = await read_request(request)
        persisted = None
        PARSED_REQUEST.set(None)  # (a test client may run several requests in one task)
        if graphql is not None:
            try:
                persisted = self.persisted.resolve(graphql.extensions, graphql.query)
            except PersistedQueryError as exc:  # Apollo's clients expect 200 and the code
                await JSONResponse(error_body(exc.message, exc.code))(scope, receive, send)
                return False
            if persisted is not None:
                graphql = dataclasses.replace(graphql, query=persisted.query, digest=persisted.digest)
            PARSED_REQUEST.set(graphql)
        fast = await self.reads.answer(graphql, token) if self.reads is not None and graphql else None
        if fast is None:
            principal = await authenticate(token) if token else None
            if principal is None:
                body = error_body("A valid API key is required: send 'Authorization: Bearer <key>'.", "UNAUTHENTICATED")
                await JSONResponse(body, status_code=401)(scope, receive, send)
                return False
            scope.setdefault("state", {})["principal"] = principal
        if persisted is not None:  # kept only for an authenticated request
            self.persisted.remember(persisted)
        if fast is not None:
            await fast(scope, receive, send)
            return False
        return True

    def encode_json(self, data: object) -> str:
        """Compact, and UTF-8 rather than \\u escapes (as a compiled read sends it); escaped when
        a text holds a lone surrogate (echoed from a hostile request), which UTF-8 cannot carry.
        Text, not bytes: WebSocket messages must go as text frames."""
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if not text.isascii():
            try:
                text.encode()
            except UnicodeEncodeError:
                return json.dumps(data, separators=(",", ":"))
        return text

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = PARSED_REQUEST.get()
        if parsed is not None and self._get_stream_transport_from_headers(request.headers) is None:
            # Read already (with the document a persisted query's hash named): not parsed twice.
            return GraphQLRequestData(parsed.query, parsed.variables, parsed.operation_name, parsed.extensions)
        try:
            found = await super().parse_http_body(request)
        except (UnicodeDecodeError, RecursionError) as exc:  # bytes that are no text; JSON nested too deep
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        return found

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        found = await super().process_result(request, result)
        return cast(GraphQLHTTPResponse, with_codes(cast(dict[str, Any], found)))

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self.ide_page)

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        principal = request.scope.get("state", {}).get("principal")
        if isinstance(request, WebSocket):
            principal = _lasting(await _principal_of(request.headers.get("authorization")))
        return Context(
            request=request,
            response=response,
            settings=self.settings,
            registry=self.registry,
            lifecycle=self.lifecycle,
            events=self.events,
            principal=principal,
        )

    async def on_ws_connect(self, context: Context) -> dict[str, Any] | None:
        """Subscriptions authenticate with the handshake header or `connection_init` payload."""
        params = context.connection_params or {}
        token = bearer_token(params.get("Authorization") or params.get("authorization"))
        if token:
            context.principal = _lasting(await authenticate(token))
        if context.principal is None:
            raise ConnectionRejectionError({"message": "A valid API key is required.", "code": "UNAUTHENTICATED"})
        return None


def _lasting(principal: Principal | None) -> Principal | None:
    """A socket's principal lives as long as the socket: without the workspace and models read
    with the key, which may change meanwhile (each operation reads them afresh)."""
    return dataclasses.replace(principal, workspace=None, models=None) if principal is not None else None


async def _principal_of(header: str | None) -> Principal | None:
    token = bearer_token(header)
    return await authenticate(token) if token else None


def _wants_ide(scope: Scope) -> bool:
    """A browser asking for the bare GraphiQL page; a GET that carries a query is an API call."""
    if scope.get("method") != "GET" or "query" in QueryParams(scope.get("query_string", b"")):
        return False
    accept = dict(scope.get("headers", [])).get(b"accept", b"").decode("latin-1")
    return "text/html" in accept


class BodyLimit:
    """Refuses request bodies over the limit with 413, before anything parses them, and bodies
    that take longer than `timeout` seconds to arrive with 408.

    A refused body is read first (up to `DRAIN_FACTOR` times the limit): a client that sends the
    whole body before reading the answer (urllib, curl without Expect) otherwise meets a closed
    connection, reset by the unread bytes, instead of the 413."""

    DRAIN_FACTOR = 16

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float = 30.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _Body(receive, asyncio.get_running_loop().time() + self.timeout)

        async def limited() -> Message:
            message = await body.receive()
            if body.received > self.max_bytes:
                raise _TooLarge
            return message

        declared = dict(scope.get("headers", [])).get(b"content-length")
        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise _TooLarge
            await self.app(scope, limited, send)
        except _TooLarge:
            drained = await body.drain(self.max_bytes * self.DRAIN_FACTOR)
            await self._refuse(scope, send, 413 if drained else 408)
        except _TooSlow:
            await self._refuse(scope, send, 408)
        except ClientDisconnect:  # the client left before its body arrived: nobody to answer, no fault
            log.debug("client disconnected during %s %s", scope.get("method"), scope.get("path"))

    async def _refuse(self, scope: Scope, send: Send, status: int) -> None:
        if status == 413:
            message, code = f"The request body is larger than {self.max_bytes} bytes.", "PAYLOAD_TOO_LARGE"
        else:
            message, code = f"The request body did not arrive within {self.timeout:g} s.", "REQUEST_TIMEOUT"
        response = JSONResponse(error_body(message, code), status_code=status, headers={"Connection": "close"})

        async def nothing() -> Message:  # the body is not read again
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


class _Body:
    """A request body as it arrives, by a deadline; once it is complete, later receives (which
    wait for a disconnect) are passed through unbounded."""

    def __init__(self, receive: Receive, deadline: float) -> None:
        self._receive = receive
        self.deadline = deadline
        self.received = 0
        self.complete = False

    async def receive(self) -> Message:
        if self.complete:
            return await self._receive()
        try:  # (a timeout scope, not wait_for: no task made per message)
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            raise _TooSlow from None
        self.received += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.complete = True
        return message

    async def drain(self, bound: int) -> bool:
        """Read (and drop) the rest of the body, up to `bound` bytes; False when too slow."""
        try:
            while not self.complete and self.received <= bound:
                await self.receive()
        except _TooSlow:
            return False
        return True


class _TooLarge(Exception):
    pass


class _TooSlow(Exception):
    pass


async def periodic_ticks(lifecycle: Lifecycle, settings: Settings) -> None:
    """Apply due time-based rules every `tick_interval` seconds; a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(settings.tick_interval)
        try:
            # More may be due than one batch: keep going until a batch finds nobody.
            result = await lifecycle.tick(limit=settings.tick_batch)
            while result.customers > 0:
                result = await lifecycle.tick(limit=settings.tick_batch)
            for workspace_id in await value.stale_workspaces(datetime.now(UTC)):
                await value.refresh(workspace_id)
        except Exception:
            log.exception("periodic check of time-based rules failed")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, plugins: PluginRegistry | None = None) -> Starlette:
    """Build the ASGI application.

    `settings` defaults to `Settings.from_env()`. The database is opened in the lifespan (the
    schema must already be migrated: `jornada migrate`). Plugins are loaded here, once per app
    (entry points as the settings allow), unless a ready `plugins` registry is given (tests), and
    kept on `app.state.plugins`.
    """
    settings = settings or Settings.from_env()
    logging.basicConfig(level=settings.log_level)
    registry = plugins or load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow)
    postgres = settings.database_url if settings.dialect == "postgres" else None
    events = StageEvents(registry, postgres, settings.hook_timeout)
    lifecycle = Lifecycle(registry, events.publish, settings.replay_workers)
    view = JornadaGraphQL(settings, registry, lifecycle, events)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with RegisterTortoise(app, config=settings.tortoise_config()):
            tune_gc()
            await events.start()
            ticker = asyncio.create_task(periodic_ticks(lifecycle, settings)) if settings.tick_interval > 0 else None
            sweeper = asyncio.create_task(view.sockets.run())
            worker = DeliveryWorker(settings.webhook_worker_settings()) if settings.webhooks_worker else None
            deliveries = asyncio.create_task(worker.run()) if worker else None
            try:
                yield
            finally:
                if worker is not None:
                    worker.stop()
                for task in (ticker, sweeper):
                    if task is not None:
                        task.cancel()
                        with suppress(asyncio.CancelledError):
                            await task
                if deliveries is not None:  # its attempts in flight end (a timeout at most), then it does
                    with suppress(asyncio.CancelledError, TimeoutError):
                        await asyncio.wait_for(deliveries, settings.webhooks_timeout + 5)
                await events.stop()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route(f"{graphiql.ROUTE}/{{name}}", graphiql.serve_asset),
            Route("/admin", admin.admin_file),
            Route("/admin/{file}", admin.admin_file),
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
        ],
        lifespan=lifespan,
        exception_handlers={StarletteHTTPException: http_exception},
    )
    app.state.settings = settings
    app.state.plugins = registry
    app.state.lifecycle = lifecycle
    app.state.events = events
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout=settings.body_timeout)
    # Outermost: a preflight is answered before anything reads the body or asks for a key.
    app.add_middleware(Cors, allowed_origins=settings.allowed_origins, max_age=settings.cors_max_age)
    return app


__all__ = ["create_app"]
