"""Running a benchmark from the command line: Ctrl-C and SIGTERM both cancel it, so its own
clean-up (servers stopped, bench databases dropped) runs either way."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any


async def _until_signalled(work: Callable[[], Coroutine[Any, Any, object]]) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await work()
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def run_bench(work: Callable[[], Coroutine[Any, Any, object]], interrupted: str) -> int:
    """Run `work`; on Ctrl-C or SIGTERM print `interrupted` and exit with status 130."""
    try:
        asyncio.run(_until_signalled(work))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print(interrupted, file=sys.stderr)
        return 130
    return 0
