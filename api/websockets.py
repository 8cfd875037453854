"""GraphQL over WebSocket (graphql-transport-ws): a connection authenticates once, at
`connection_init`, and is cut off as soon as its key is revoked.

Every operation a client sends on an open socket first checks that the key is still active (one
primary-key read), so nothing sent after a revocation runs. Subscriptions already running are
ended by a sweep that each worker makes every `SWEEP_SECONDS` while it has open sockets: a key
revoked through any worker, or through `jornada apikey revoke`, closes its sockets (code 4403)
within that time, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta
from typing import Any, Protocol, cast

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from api.models import ApiKey
from schema.context import Context

SWEEP_SECONDS = 0.5
# A client that opens a socket must send connection_init within this time (Strawberry's default
# is a minute: an idle socket that never authenticates would hold a connection that long).
INIT_TIMEOUT = timedelta(seconds=10)
REVOKED = 4403
log = logging.getLogger("jornada.websockets")


class OpenSockets:
    """The authenticated sockets of this worker, by API key id."""

    def __init__(self) -> None:
        self._by_key: dict[int, set[KeyCheckedHandler]] = {}

    def add(self, key_id: int, handler: KeyCheckedHandler) -> None:
        self._by_key.setdefault(key_id, set()).add(handler)

    def discard(self, key_id: int, handler: KeyCheckedHandler) -> None:
        handlers = self._by_key.get(key_id)
        if handlers is not None:
            handlers.discard(handler)
            if not handlers:
                del self._by_key[key_id]

    async def sweep(self) -> int:
        """Close every socket whose key was revoked since it connected; how many were closed."""
        if not self._by_key:
            return 0
        revoked = await ApiKey.filter(id__in=list(self._by_key), revoked_at__isnull=False).values_list("id", flat=True)
        closed = 0
        for key_id in revoked:
            for handler in list(self._by_key.pop(int(key_id), ())):  # type: ignore[call-overload]
                await handler.cut_off()
                closed += 1
        return closed

    async def run(self) -> None:
        """Sweep for ever (the server's lifespan runs this as a task); a failure is logged."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:
                log.exception("checking the keys of open WebSockets failed")


async def key_active(key_id: int) -> bool:
    return await ApiKey.filter(id=key_id, revoked_at__isnull=True).exists()


class _WithSockets(Protocol):
    sockets: OpenSockets


class KeyCheckedHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, registered with the view's `OpenSockets` once
    acknowledged, and checking its key before every operation."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection_init_wait_timeout = min(self.connection_init_wait_timeout, INIT_TIMEOUT)

    @property
    def sockets(self) -> OpenSockets:
        return cast(_WithSockets, self.view).sockets

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None:
            self.sockets.add(principal.key_id, self)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        principal = self.context.principal
        if self.connection_acknowledged and principal is not None and not await key_active(principal.key_id):
            await self.cut_off()
            return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        self._forget()
        await super().shutdown()

    def _forget(self) -> None:
        if self.context.principal is not None:
            self.sockets.discard(self.context.principal.key_id, self)

    async def cut_off(self) -> None:
        """End every operation of this socket, then close it with 4403."""
        self._forget()
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        with suppress(Exception):  # the client may be gone already
            await self.websocket.close(code=REVOKED, reason="The API key was revoked.")
