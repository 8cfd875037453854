"""A GraphQL request read off HTTP once, for the paths that look at it before Strawberry does
(persisted queries, compiled reads): JSON POST bodies and GET query strings. Anything else (a
batch, multipart, malformed JSON) reads as None and is left to Strawberry, which reports it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request


@dataclass(frozen=True)
class GraphQLRequest:
    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None
    digest: str | None = None  # the document's SHA-256 when a persisted query named it


def _json_param(raw: str | None) -> Any:
    return json.loads(raw) if raw else None


async def read_request(request: Request) -> GraphQLRequest | None:
    try:
        if request.method == "GET":
            params = request.query_params
            data: Any = {
                "query": params.get("query"),
                "operationName": params.get("operationName"),
                "variables": _json_param(params.get("variables")),
                "extensions": _json_param(params.get("extensions")),
            }
        elif request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
            data = json.loads(await request.body())
        else:
            return None
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    query, name = data.get("query"), data.get("operationName")
    variables, extensions = data.get("variables"), data.get("extensions")
    if not isinstance(query, str | None) or not isinstance(name, str | None):
        return None
    if not isinstance(variables, dict | None) or not isinstance(extensions, dict | None):
        return None
    return GraphQLRequest(query, name, variables, extensions)
