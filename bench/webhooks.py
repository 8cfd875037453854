"""Webhook benchmark (issue 12): what an endpoint subscribed to `stage.changed` costs bulk
ingestion, and how fast the outbox drains to a local receiver. PostgreSQL only.

1. Four workspaces get the same seeded data set (`bench.generate`, then primed: facts, stages
   and moves as production has them; see `bench.lifecycle`). Two have no webhook endpoint, two
   have one subscribed to `stage.changed`; they are ingested alternately (plain, hooks, plain,
   hooks) so that a drift of the machine does not favour either side.
2. INGEST: each workspace takes the same feed of `--ingest` (100k) new interactions in time
   order, `record_many` in batches of `--batch` (1000), with the lifecycle rules: exactly
   `bench.lifecycle`'s in-order ingestion, each in a fresh subprocess. With an endpoint, every
   move also writes its delivery to the outbox in the same transaction. No worker runs
   meanwhile (on this 2-CPU machine it would compete for the CPU; in production it runs in the
   server or in `jornada deliver`, elsewhere), so the figure is the cost of the outbox.
3. DRAIN: one `DeliveryWorker` with the server's settings (64 attempts in flight, 16 per
   endpoint) sends every delivery the ingestion wrote, signed, to `bench.webhook_sink` (a bare
   ASGI app under uvicorn in its own process, answering 204), and records each outcome:
   deliveries/s, and the worker's CPU per delivery.

    python -m bench.webhooks                                   # 10k customers, 100k history, 100k fed
    python -m bench.webhooks --customers 2000 --history 20000 --ingest 20000   # a quick look

Aims: ingestion with the endpoint at ≥ 90% of the throughput without; the drain ≥ 500/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from statistics import mean

import httpx2
from tortoise.context import TortoiseContext

from api.db import Params, connection, dialect_of, fetch
from api.settings import Settings
from api.webhook_delivery import DeliveryWorker, WorkerSettings
from api.webhooks import create_endpoint
from bench.generate import DEFAULT_SEED, generate
from bench.lifecycle import ROOT, Spec, in_subprocess, say
from bench.measuring import positive
from bench.read_server import default_postgres_url, free_port, postgres_database
from bench.running import run_bench

LABELS = ("plain 1", "hooks 1", "plain 2", "hooks 2")
INGEST_AIM = 0.90
DRAIN_AIM = 500.0


@dataclass(frozen=True)
class Options:
    customers: int
    history: int
    ingest: int
    batch: int
    seed: int


@dataclass(frozen=True)
class Ingest:
    label: str
    seconds: float
    items: int
    transitions: int
    deliveries: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds


@dataclass(frozen=True)
class Drain:
    deliveries: int
    seconds: float
    cpu_seconds: float
    received: dict[str, int]
    statuses: dict[str, int]

    @property
    def rate(self) -> float:
        return self.deliveries / self.seconds


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[None]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=Settings(database_url=url).tortoise_config())
        yield


async def outbox(workspace_id: int | None = None) -> dict[str, int]:
    """Deliveries by status (of one workspace, or all)."""
    p = Params(dialect_of(connection()))
    where = f"WHERE workspace_id = {p(workspace_id)} " if workspace_id is not None else ""
    sql = f"SELECT status, COUNT(*) AS n FROM webhook_delivery {where}GROUP BY status"
    return {r["status"]: int(r["n"]) for r in await fetch(sql, p)}


@contextlib.asynccontextmanager
async def sink() -> AsyncIterator[str]:
    """`bench.webhook_sink` under uvicorn on a free port; its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.webhook_sink:app", "--port", str(port)]
    command += ["--lifespan", "off", "--no-access-log", "--log-level", "warning"]
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx2.AsyncClient(base_url=base) as client:
            for _ in range(100):
                with contextlib.suppress(httpx2.TransportError):
                    if (await client.get("/count")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield base
    finally:
        process.terminate()
        await process.wait()


async def prepare(url: str, options: Options, sink_url: str) -> list[tuple[str, int]]:
    """The four workspaces, generated and primed; an endpoint on the `hooks` ones."""
    made = []
    for n, label in enumerate(LABELS):
        say(f"generating '{label}': {options.customers:,} customers, {options.history:,} interactions...")
        g = await generate(
            url, options.customers, options.history, options.seed, migrate=n == 0, workspace_name=f"Bench {label}"
        )
        primed = await in_subprocess(Spec("prime", url, g.workspace_id))
        say(f"  primed: {primed['transitions']:,} moves in {primed['seconds']:.1f}s")
        made.append((label, g.workspace_id))
    async with database(url):
        for label, workspace_id in made:
            if label.startswith("hooks"):
                await create_endpoint(workspace_id, f"{sink_url}/hooks", ["stage.changed"], label, allow_private=True)
    return made


async def ingest(url: str, options: Options, label: str, workspace_id: int) -> Ingest:
    say(f"ingesting {options.ingest:,} interactions into '{label}'...")
    spec = Spec(
        "ingest",
        url,
        workspace_id,
        ingest=options.ingest,
        batch=options.batch,
        seed=options.seed,
        label="feed",
        in_order=True,
        window_end_days=3.0,
    )
    result = await in_subprocess(spec)
    async with database(url):
        written = sum((await outbox(workspace_id)).values())
    return Ingest(label, result["seconds"], result["items"], result["transitions"], written)


async def drain(url: str, sink_url: str) -> Drain:
    async with database(url):
        worker = DeliveryWorker(WorkerSettings(allow_private=True))
        say(f"draining {sum((await outbox()).values()):,} deliveries to {sink_url}...")
        cpu, started = time.process_time(), time.perf_counter()
        try:
            sent = await worker.drain()
        finally:
            await worker.close()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        statuses = await outbox()
    async with httpx2.AsyncClient(base_url=sink_url) as client:
        received = (await client.get("/count")).json()
    return Drain(sent, seconds, cpu, received, statuses)


def report(options: Options, ingests: list[Ingest], sent: Drain) -> str:
    lines = [
        "",
        f"PostgreSQL; {options.customers:,} customers and {options.history:,} interactions per workspace; "
        f"{options.ingest:,} fed in batches of {options.batch}; 2 CPUs, Python {sys.version.split()[0]}",
        "",
        "workspace | endpoint      | seconds | interactions/s | moves  | deliveries written",
        "----------+---------------+---------+----------------+--------+-------------------",
    ]
    for i in ingests:
        endpoint = "stage.changed" if i.label.startswith("hooks") else "none"
        lines.append(
            f"{i.label:<9} | {endpoint:<13} | {i.seconds:7.1f} | {i.rate:14,.0f} | "
            f"{i.transitions:6,} | {i.deliveries:,}"
        )
    plain = mean(i.rate for i in ingests if i.label.startswith("plain"))
    hooked = mean(i.rate for i in ingests if i.label.startswith("hooks"))
    ratio = hooked / plain
    lines += [
        "",
        f"ingestion with the endpoint: {ratio:.1%} of the throughput without "
        f"({hooked:,.0f} vs {plain:,.0f} interactions/s; cost {1 - ratio:.1%}; aim ≤ {1 - INGEST_AIM:.0%}) "
        f"{'✓' if ratio >= INGEST_AIM else '✗'}",
        f"drain: {sent.deliveries:,} deliveries in {sent.seconds:.1f}s = {sent.rate:,.0f}/s (aim ≥ {DRAIN_AIM:.0f}) "
        f"{'✓' if sent.rate >= DRAIN_AIM else '✗'}; worker CPU {sent.cpu_seconds * 1000 / max(sent.deliveries, 1):.2f} "
        f"ms/delivery; outbox after: {sent.statuses}; the receiver got {sent.received['posts']:,} POSTs, "
        f"{sent.received['ids']:,} distinct webhook-ids",
    ]
    return "\n".join(lines)


async def run(options: Options) -> None:
    async with postgres_database(default_postgres_url()) as target, sink() as sink_url:
        made = await prepare(target.url, options, sink_url)
        ingests = [await ingest(target.url, options, label, workspace_id) for label, workspace_id in made]
        sent = await drain(target.url, sink_url)
    print(report(options, ingests, sent), flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=positive, default=10_000, help="customers per workspace")
    parser.add_argument("--history", type=positive, default=100_000, help="interactions already known, per workspace")
    parser.add_argument("--ingest", type=positive, default=100_000, help="interactions fed to each workspace")
    parser.add_argument("--batch", type=positive, default=1000, help="interactions per record_many call")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    options = Options(args.customers, args.history, args.ingest, args.batch, args.seed)
    return run_bench(lambda: run(options), "interrupted: the bench database is dropped")


if __name__ == "__main__":
    raise SystemExit(main())
