"""The benchmark's webhook receiver: a bare ASGI app that takes every POST with 204 and counts it
(`GET /count`). It checks nothing: the tests' receiver verifies signatures; here only Jornada's
side of a delivery is measured.

    python -m uvicorn bench.webhook_sink:app --port 9000 --lifespan off --no-access-log
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]

received = {"posts": 0, "ids": 0}
_seen: set[bytes] = set()


async def app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        received["posts"] += 1
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"")
        if webhook_id not in _seen:
            _seen.add(webhook_id)
            received["ids"] += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    body = json.dumps(received).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
