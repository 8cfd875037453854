"""Stage changes after commit: plugin notifications and live subscriptions.

On PostgreSQL every committed batch is announced with NOTIFY and every worker LISTENs, so a
subscriber on one worker sees moves made on another. On SQLite (one process) the announcement
goes straight to this process's subscribers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from typing import Any

import asyncpg

from api.db import connection
from api.hooks import HookRunner
from api.lifecycle import Lifecycle
from api.records import TransitionRecord
from api.settings import Settings
from plugins.manager import PluginRegistry
from plugins.types import StageChange

CHANNEL = "jornada_stage_changed"
MAX_IDS_PER_NOTIFY = 500  # NOTIFY payloads are limited to 8000 bytes
log = logging.getLogger("jornada.events")


def change_of(t: TransitionRecord) -> StageChange:
    return StageChange(
        workspace_id=t.workspace_id,
        customer_id=t.customer_id,
        transition_id=t.id,
        model_key=t.model_key,
        model_version=t.model_version,
        from_stage=t.from_stage,
        to_stage=t.to_stage,
        occurred_at=t.occurred_at,
        cause=t.cause,
        rule=t.rule,
        actor=t.actor,
        note=t.note,
        interaction_id=t.interaction_id,
        correction=t.correction,
    )


class StageEvents:
    """Tells plugins and subscribers about committed transitions."""

    def __init__(
        self,
        registry: PluginRegistry,
        postgres_url: str | None = None,
        hook_timeout: float = 10.0,
        background: bool = True,
    ) -> None:
        self.registry = registry
        self.postgres_url = postgres_url
        self.hooks = HookRunner(registry, hook_timeout, background)
        self._subscribers: dict[int, set[asyncio.Queue[list[int]]]] = {}
        self._listener: Any = None

    async def start(self) -> None:
        if self.postgres_url:
            self._listener = await asyncpg.connect(_asyncpg_dsn(self.postgres_url))
            await self._listener.add_listener(CHANNEL, self._on_notify)

    async def stop(self) -> None:
        await self.hooks.stop()
        if self._listener is not None:
            with suppress(Exception):
                await self._listener.close()
            self._listener = None

    async def publish(self, transitions: Sequence[TransitionRecord]) -> None:
        """Called after commit, in the process that made the moves. Plugins are told off the
        request path (`api.hooks`)."""
        await self.hooks.submit([change_of(t) for t in transitions])
        by_workspace: dict[int, list[int]] = {}
        for t in transitions:
            by_workspace.setdefault(t.workspace_id, []).append(t.id)
        for workspace_id, ids in by_workspace.items():
            if self.postgres_url:
                for start in range(0, len(ids), MAX_IDS_PER_NOTIFY):
                    payload = json.dumps({"w": workspace_id, "ids": ids[start : start + MAX_IDS_PER_NOTIFY]})
                    await connection().execute_query("SELECT pg_notify($1, $2)", [CHANNEL, payload])
            else:
                self._deliver(workspace_id, ids)

    def _on_notify(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            data = json.loads(payload)
            self._deliver(int(data["w"]), [int(i) for i in data["ids"]])
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed %s notification", CHANNEL)

    def _deliver(self, workspace_id: int, ids: list[int]) -> None:
        for queue in self._subscribers.get(workspace_id, ()):
            queue.put_nowait(ids)

    async def subscribe(self, workspace_id: int) -> AsyncIterator[list[int]]:
        """Batches of transition ids committed in `workspace_id`, from now on."""
        queue: asyncio.Queue[list[int]] = asyncio.Queue()
        self._subscribers.setdefault(workspace_id, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[workspace_id].discard(queue)


def _asyncpg_dsn(url: str) -> str:
    base = url.split("?", 1)[0]
    for scheme in ("asyncpg://", "postgresql://"):
        if base.startswith(scheme):
            return "postgres://" + base[len(scheme) :]
    return base


def live_lifecycle(settings: Settings, registry: PluginRegistry) -> Lifecycle:
    """A lifecycle for a command-line process that, like the server's, tells plugins (and, on
    PostgreSQL, every worker's subscribers through NOTIFY) about the moves it commits."""
    postgres = settings.database_url if settings.dialect == "postgres" else None
    # No requests to keep free here: plugins are told before the command goes on (and exits).
    events = StageEvents(registry, postgres, settings.hook_timeout, background=False)
    return Lifecycle(registry, events.publish, settings.replay_workers)
