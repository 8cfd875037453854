"""CORS for browser pages on other origins (the `JORNADA_ALLOWED_ORIGINS` setting).

Jornada authenticates with a bearer key that a page sends itself, never with cookies, so no
response allows credentials: `*` may be listed and then answers any origin with `*`, which
browsers accept only for requests without credentials. A preflight (`OPTIONS` with
`Access-Control-Request-Method`) is answered here, before anything else runs, and may be cached
by the browser for `max_age` seconds; a refused one gets a GraphQL JSON error body like every
other 4xx. Other requests pass through, and an allowed origin's responses get
`Access-Control-Allow-Origin`.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

METHODS = ("GET", "POST")
HEADERS = ("authorization", "content-type")


class Cors:
    def __init__(self, app: ASGIApp, allowed_origins: Collection[str], max_age: int) -> None:
        self.app = app
        self.any_origin = "*" in allowed_origins
        self.origins = frozenset(allowed_origins)
        self.max_age = max_age

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin.lower() in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self.preflight(origin, headers)(scope, receive, send)
            return
        if not self.allowed(origin):
            await self.app(scope, receive, send)
            return

        async def with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = "*" if self.any_origin else origin
                if not self.any_origin:
                    out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, with_cors)

    def preflight(self, origin: str, headers: Headers) -> Response:
        method = headers["access-control-request-method"].strip().upper()
        asked = [h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()]
        problem = None
        if not self.allowed(origin):
            problem = (
                f"The origin {origin!r} is not allowed: list it in JORNADA_ALLOWED_ORIGINS.",
                "CORS_ORIGIN_NOT_ALLOWED",
            )
        elif method not in METHODS:
            problem = (f"The method {method!r} is not allowed; use GET or POST.", "CORS_METHOD_NOT_ALLOWED")
        elif unknown := [h for h in asked if h not in HEADERS]:
            problem = (
                f"The header(s) {', '.join(unknown)} are not allowed; only Authorization and Content-Type are.",
                "CORS_HEADER_NOT_ALLOWED",
            )
        if problem is not None:
            return JSONResponse(error_body(*problem), status_code=403, headers={"Vary": "Origin"})
        return Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": "*" if self.any_origin else origin,
                "Access-Control-Allow-Methods": ", ".join(METHODS),
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Max-Age": str(self.max_age),
                "Vary": "Origin",
            },
        )
