"""`jornada deliver`: the webhook delivery worker as a process of its own.

`jornada serve` runs one in the server already (unless JORNADA_WEBHOOKS_WORKER=false); more
may run beside it, on other machines too: on PostgreSQL they share the outbox without sending
a delivery twice (SKIP LOCKED), on SQLite each claim is one statement under the file's lock.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from typing import Any

from api.cli_common import emit, run_db
from api.settings import Settings


def cmd_deliver(settings: Settings, args: argparse.Namespace) -> int:
    """Send due webhook deliveries: until stopped, or once (`--once`) and exit."""
    from api.webhook_delivery import DeliveryWorker  # not at start-up of every other command

    worker = DeliveryWorker(settings.webhook_worker_settings())

    async def once() -> int:
        try:
            return await worker.drain()
        finally:
            await worker.close()

    async def forever() -> int:
        task = asyncio.create_task(worker.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)  # the attempts in flight finish first
        print("delivering webhooks; stop with Ctrl-C or SIGTERM", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0

    run_db(settings, once if args.once else forever, existing=True)
    counts = {k.lower(): worker.outcomes[k] for k in ("DELIVERED", "PENDING", "FAILED")}
    lines = [
        f"delivered {counts['delivered']}, failed and to be retried {counts['pending']}, given up {counts['failed']}"
    ]
    emit({"attempts": sum(counts.values()), **counts}, args.json, lines)
    return 0


def add_parsers(sub: Any) -> None:
    deliver = sub.add_parser("deliver", help="send webhook deliveries (a worker of its own, beside the server's)")
    deliver.add_argument("--once", action="store_true", help="send what is due now, wait for the answers, exit")
    deliver.add_argument("--json", action="store_true", help="print one JSON object: the attempts by outcome")
    deliver.set_defaults(func=cmd_deliver)
