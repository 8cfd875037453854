"""Plugin notifications off the request path.

`on_stage_changed` hooks used to run inside the request that made the moves: a hook that slept
30 s held the response that long, and a synchronous one held the whole event loop, so unrelated
requests waited too. Here one background task per process tells the hooks, in commit order;
synchronous hooks run in a small thread pool of their own, so they never block the loop; every
call is bounded by a timeout, after which it is logged and the next one goes on.

The guarantee a hook gets: each committed move once, in commit order, at most once (the queue is
in memory: moves committed just before the process dies may not be told).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

from plugins.manager import PluginRegistry
from plugins.types import StageChange

log = logging.getLogger("jornada.plugins")
HOOK_THREADS = 4


class HookRunner:
    """Tells the `on_stage_changed` hooks about committed moves, each call within `timeout`
    seconds. With `background`, `submit` queues and returns at once (the server); without, it
    calls the hooks before returning (a command-line process, which has no other requests)."""

    def __init__(self, registry: PluginRegistry, timeout: float, background: bool = True) -> None:
        self.registry = registry
        self.timeout = timeout
        self.background = background
        self._queue: asyncio.Queue[Sequence[StageChange]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._threads: ThreadPoolExecutor | None = None

    def _impls(self) -> list[Any]:
        return list(self.registry.manager.hook.on_stage_changed.get_hookimpls())

    async def submit(self, changes: Sequence[StageChange]) -> None:
        if not changes or not self._impls():
            return
        if not self.background:
            await self._tell(changes)
            return
        self._queue.put_nowait(changes)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    async def drain(self) -> None:
        """Wait until every change submitted so far has been told (or timed out)."""
        await self._queue.join()

    async def stop(self, grace: float = 5.0) -> None:
        """Tell what is queued, for at most `grace` seconds, then stop."""
        if self._task is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.drain(), grace)
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
            self._threads = None

    async def _run(self) -> None:
        while True:
            changes = await self._queue.get()
            try:
                await self._tell(changes)
            finally:
                self._queue.task_done()

    async def _tell(self, changes: Sequence[StageChange]) -> None:
        impls = self._impls()
        for change in changes:
            for impl in impls:
                await self._call(impl, change)

    async def _call(self, impl: Any, change: StageChange) -> None:
        try:
            await asyncio.wait_for(self._invoke(impl, change), self.timeout)
        except TimeoutError:
            log.error(
                "on_stage_changed of plugin %s took more than %ss for transition %s: skipped",
                impl.plugin_name,
                self.timeout,
                change.transition_id,
            )
        except Exception:  # a plugin's failure never undoes a move nor stops the others
            name, transition = impl.plugin_name, change.transition_id
            log.exception("on_stage_changed of plugin %s failed for transition %s", name, transition)

    async def _invoke(self, impl: Any, change: StageChange) -> None:
        function = impl.function
        if inspect.iscoroutinefunction(function):
            await function(change=change)
            return
        if self._threads is None:
            self._threads = ThreadPoolExecutor(HOOK_THREADS, thread_name_prefix="jornada-hook")
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._threads, lambda: function(change=change))
        if inspect.isawaitable(result):
            await result
