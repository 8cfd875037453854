"""Pure per-batch work (a replay's) computed in worker processes while this one reads and writes.

A replay is mostly Python: every customer's history through the model's rules. In one process
that work and the reading and writing around it take turns; on a machine with more than one core
the rules can run in forked workers while this process keeps the database busy. Workers are
forked (`fork` start method), so they inherit the model, its parameters and the plugins' code as
they are in memory, and only each batch's data and its result cross between processes (pickled).
Where `fork` does not exist, or when asked for no workers, batches are computed here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

X = TypeVar("X")
Y = TypeVar("Y")

# The compute function of the pool this worker process belongs to (set when it is forked).
_compute: Callable[[Any], Any] | None = None


class WorkerFailed(RuntimeError):
    """A worker process ended in the middle of a batch (killed, out of memory, or code that
    exited the process): the batches are not all computed."""


def _install(compute: Callable[[Any], Any]) -> None:
    global _compute
    _compute = compute
    # The parent's event loop may have installed a wakeup fd for its signal handlers: a signal
    # delivered to this worker must not be written into the parent's loop. The parent ends the
    # workers itself (SIGTERM still stops one at once).
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(item: Any) -> Any:
    assert _compute is not None, "a batch worker runs only in a pool made by `computed`"
    return _compute(item)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


async def _inline(reads: AsyncIterator[X], compute: Callable[[X], Y]) -> AsyncIterator[Y]:
    """Compute each batch that `reads` gives, then read the next, then yield: the consumer's write
    of a batch then runs on the connection while this computes the next one (and the read after
    it waits for that write), so the database and Python work at the same time."""
    item = await anext(reads, None)
    while item is not None:
        built = compute(item)
        item = await anext(reads, None)
        yield built


async def _pooled(reads: AsyncIterator[X], compute: Callable[[X], Y], workers: int) -> AsyncIterator[Y]:
    """As `_inline`, with up to `workers` batches computed at once in forked processes; results
    come back in the order of `reads`. The first batch is computed here: a workspace of one batch
    forks nothing."""
    first = await anext(reads, None)
    if first is None:
        return
    second = await anext(reads, None)
    if second is None:
        yield compute(first)
        return
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_install, initargs=(compute,))
    waiting: deque[asyncio.Future[Y]] = deque()
    finished = False
    try:
        waiting.append(loop.run_in_executor(pool, _run, second))
        built = compute(first)  # while the first worker computes the second batch
        item = await anext(reads, None)
        yield built
        while item is not None or waiting:
            while item is not None and len(waiting) < workers + 1:
                waiting.append(loop.run_in_executor(pool, _run, item))
                item = await anext(reads, None)
            yield await waiting.popleft()
        finished = True
    except BrokenProcessPool as exc:  # (raised by the submit or by the result, whichever comes first)
        raise WorkerFailed(str(exc)) from exc
    finally:
        for future in waiting:
            future.cancel()
        # Done: the idle workers are joined at once. Stopped early (an error, a cancelled
        # request): the event loop does not wait for the batches still being computed.
        pool.shutdown(wait=finished, cancel_futures=True)


def computed(reads: AsyncIterator[X], compute: Callable[[X], Y], workers: int = 0) -> AsyncIterator[Y]:
    """Each batch of `reads` through `compute` (pure, and the same in a forked copy of this
    process), in order: here when `workers` is 0 (or fork is not available), else in up to
    `workers` forked processes. Memory holds at most `workers` + 2 batches."""
    if workers < 1 or not can_fork():
        return _inline(reads, compute)
    return _pooled(reads, compute, workers)
