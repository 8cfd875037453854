"""Every error a client gets is a GraphQL JSON error with `extensions.code`: the requests that
never reach GraphQL execution (malformed bodies, wrong methods, unknown paths) and the errors
GraphQL itself reports without a code (syntax, validation, the query limits)."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.errors import error_body

# Strawberry's and Starlette's reasons for refusing a request, by how they start.
_REASONS = (
    ("Unable to parse request body as JSON", "INVALID_JSON"),
    ("Batching is not enabled", "BATCH_NOT_SUPPORTED"),
    ("Unsupported content type", "UNSUPPORTED_MEDIA_TYPE"),
    ("No GraphQL query found", "MISSING_QUERY"),
    ("mutations are not allowed when using GET", "METHOD_NOT_ALLOWED"),
    ("Unknown operation named", "UNKNOWN_OPERATION"),
)
_STATUSES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}
# Messages of the query limits and of GraphQL's own checks, which carry no code.
_MESSAGES = (
    ("exceeds maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found. Allowed:", "TOO_MANY_ALIASES"),
    ("Document contains more than", "QUERY_TOO_LARGE"),
    ("Syntax Error", "GRAPHQL_PARSE_FAILED"),
    ("Variable '$", "BAD_USER_INPUT"),
    ("Value cannot represent a", "BAD_USER_INPUT"),
    ("Unexpected error.", "INTERNAL_SERVER_ERROR"),
)


def request_error_code(status: int, reason: str) -> str:
    for start, code in _REASONS:
        if reason.startswith(start):
            return code
    return _STATUSES.get(status, "BAD_REQUEST")


def refused(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """A refused request's answer: its status, and the reason as a GraphQL error."""
    return JSONResponse(error_body(reason, request_error_code(status, reason)), status_code=status, headers=headers)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's 404 and 405 (an unknown path, OPTIONS or PUT on /graphql) as JSON."""
    assert isinstance(exc, HTTPException)
    return refused(exc.status_code, exc.detail, dict(exc.headers or {}))


def with_codes(response: dict[str, Any]) -> dict[str, Any]:
    """Give each error of a GraphQL response that has none a code (`extensions.code`): the limits,
    syntax and validation errors; errors from resolvers already carry theirs."""
    for error in response.get("errors") or ():
        extensions = error.setdefault("extensions", {})
        if "code" not in extensions:
            extensions["code"] = _message_code(error)
    return response


def _message_code(error: dict[str, Any]) -> str:
    message = str(error.get("message", ""))
    for part, code in _MESSAGES:
        if part in message:
            return code
    # Reported before execution (no path): GraphQL's validation of the document.
    return "GRAPHQL_VALIDATION_FAILED" if not error.get("path") else "INTERNAL_SERVER_ERROR"
