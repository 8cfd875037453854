"""Read-path benchmark: a real `jornada serve` against one raw SQL query on the same data.

For each database it generates a seeded data set (`bench.generate`), starts `jornada serve` as a
subprocess on a free port, and sends the query below over HTTP at a fixed concurrency. It then
reads the same rows with ONE hand-written SQL query (the 50 newest customers and the 5 newest
interactions of each: a LATERAL join on PostgreSQL through asyncpg, a correlated subquery on
SQLite through aiosqlite, the app's own drivers), at the same concurrency, and prints requests/s,
p50 and p99 latency for both, and their ratio. Both sides are first checked to return the same
customers and interactions. The server is stopped and the bench database dropped (or the SQLite
file removed) at the end, also on errors and Ctrl-C.

    python -m bench.read_path                      # PostgreSQL when reachable, else SQLite
    python -m bench.read_path --database both --requests 1000 --concurrency 8

PostgreSQL is reached through --postgres-url (default: $JORNADA_BENCH_POSTGRES_URL, else
$JORNADA_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/test); that user must be
allowed to CREATE DATABASE: a `bench_*` database is made for the run and dropped afterwards.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import base64
import contextlib
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

import aiosqlite
import asyncpg
import httpx2

from bench.generate import DEFAULT_SEED, Generated, generate
from bench.running import run_bench

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0
CUSTOMERS_PAGE = 50
INTERACTIONS_PAGE = 5
QUERY = (
    f"{{ customers(first: {CUSTOMERS_PAGE}) {{ edges {{ node {{ id name email "
    f"interactions(first: {INTERACTIONS_PAGE}) {{ edges {{ node {{ id kind occurredAt amount }} }} }} "
    "} } } }"
)

# The same rows in one statement: newest customers (created_at DESC, id DESC, as the API's
# default order) and, per customer, its newest interactions (occurred_at DESC, id DESC).
POSTGRES_SQL = """
SELECT c.id, c.name, c.email, i.id AS interaction_id, i.kind, i.occurred_at, i.amount
FROM (
    SELECT id, name, email, created_at FROM customer
    WHERE workspace_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
) c
LEFT JOIN LATERAL (
    SELECT id, kind, occurred_at, amount FROM interaction
    WHERE workspace_id = $1 AND customer_id = c.id
    ORDER BY occurred_at DESC, id DESC LIMIT $3
) i ON TRUE
ORDER BY c.created_at DESC, c.id DESC, i.occurred_at DESC, i.id DESC
"""
SQLITE_SQL = """
WITH c AS (
    SELECT id, name, email, created_at FROM customer
    WHERE workspace_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2
)
SELECT c.id, c.name, c.email, i.id AS interaction_id, i.kind, i.occurred_at, i.amount
FROM c LEFT JOIN interaction i ON i.id IN (
    SELECT x.id FROM interaction x
    WHERE x.workspace_id = ?1 AND x.customer_id = c.id
    ORDER BY x.occurred_at DESC, x.id DESC LIMIT ?3
)
ORDER BY c.created_at DESC, c.id DESC, i.occurred_at DESC, i.id DESC
"""

# (interaction id, kind, occurred at, amount) and (customer id, name, email, interactions).
InteractionView = tuple[int, str, datetime, Decimal | None]
CustomerView = tuple[int, str | None, str | None, list[InteractionView]]


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """R timed calls at concurrency C: throughput and latency percentiles (milliseconds)."""

    label: str
    requests: int
    concurrency: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.latencies_ms)
        rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
        return ordered[rank - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def mean(self) -> float:
        return sum(self.latencies_ms) / len(self.latencies_ms)


Call = Callable[[int], Awaitable[object]]  # one request; the argument is the worker's number


async def run_load(label: str, call: Call, requests: int, concurrency: int, warmup: int) -> Measurement:
    """`warmup` untimed calls, then `requests` timed calls shared by `concurrency` workers."""

    async def drive(total: int, latencies: list[float] | None) -> None:
        remaining = total

        async def worker(n: int) -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await call(n)
                if latencies is not None:
                    latencies.append((time.perf_counter() - started) * 1000)

        async with asyncio.TaskGroup() as group:
            for n in range(min(concurrency, max(total, 1))):
                group.create_task(worker(n))

    await drive(warmup, None)
    latencies: list[float] = []
    started = time.perf_counter()
    await drive(requests, latencies)
    return Measurement(label, requests, concurrency, time.perf_counter() - started, latencies)


# --- the GraphQL side -------------------------------------------------------------------------


def _node_id(global_id: str) -> int:
    padded = global_id + "=" * (-len(global_id) % 4)
    _type, _, raw = base64.b64decode(padded).decode().partition(":")
    return int(raw)


def graphql_view(body: dict[str, Any]) -> list[CustomerView]:
    """The response in the comparable shape; raises when it carries errors."""
    if body.get("errors"):
        raise RuntimeError(f"GraphQL errors: {body['errors']}")
    out: list[CustomerView] = []
    for edge in body["data"]["customers"]["edges"]:
        node = edge["node"]
        items: list[InteractionView] = []
        for e in node["interactions"]["edges"]:
            n = e["node"]
            amount = Decimal(n["amount"]) if n["amount"] is not None else None
            items.append((_node_id(n["id"]), n["kind"], datetime.fromisoformat(n["occurredAt"]), amount))
        out.append((_node_id(node["id"]), node["name"], node["email"], items))
    return out


class GraphQLClient:
    def __init__(self, base_url: str, api_key: str, concurrency: int) -> None:
        limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx2.AsyncClient(
            base_url=base_url,
            limits=limits,
            timeout=60.0,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    async def query(self) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": QUERY})
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
        body: dict[str, Any] = response.json()
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body

    async def call(self, worker: int) -> object:
        return await self.query()

    async def aclose(self) -> None:
        await self.http.aclose()


# --- the raw SQL side -------------------------------------------------------------------------


def raw_view(rows: list[Any]) -> list[CustomerView]:
    """Rows of the raw query (customer columns repeated per interaction) grouped per customer."""
    out: list[CustomerView] = []
    for row in rows:
        cid, name, email, iid, kind, occurred_at, amount = tuple(row)
        if not out or out[-1][0] != cid:
            out.append((cid, name, email, []))
        if iid is not None:
            when = occurred_at if isinstance(occurred_at, datetime) else datetime.fromisoformat(occurred_at)
            money = amount if amount is None or isinstance(amount, Decimal) else Decimal(str(amount))
            out[-1][3].append((iid, kind, when, money))
    return out


class RawReader(abc.ABC):
    """ONE SQL statement per read, through the app's own driver for the dialect."""

    label = "raw SQL"

    def __init__(self, workspace_id: int) -> None:
        self.workspace_id = workspace_id

    @abc.abstractmethod
    async def read(self, worker: int) -> list[CustomerView]: ...

    async def call(self, worker: int) -> object:
        return await self.read(worker)

    async def aclose(self) -> None:
        return None


class PostgresReader(RawReader):
    label = "raw SQL, 1 query (asyncpg)"

    def __init__(self, workspace_id: int, pool: asyncpg.Pool) -> None:
        super().__init__(workspace_id)
        self.pool = pool

    @classmethod
    async def open(cls, workspace_id: int, dsn: str, concurrency: int) -> PostgresReader:
        pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
        return cls(workspace_id, pool)

    async def read(self, worker: int) -> list[CustomerView]:
        rows = await self.pool.fetch(POSTGRES_SQL, self.workspace_id, CUSTOMERS_PAGE, INTERACTIONS_PAGE)
        return raw_view(rows)

    async def aclose(self) -> None:
        await self.pool.close()


class SqliteReader(RawReader):
    """One connection per worker (the server itself has a single one)."""

    label = "raw SQL, 1 query (aiosqlite)"

    def __init__(self, workspace_id: int, connections: list[aiosqlite.Connection]) -> None:
        super().__init__(workspace_id)
        self.connections = connections

    @classmethod
    async def open(cls, workspace_id: int, path: str, concurrency: int) -> SqliteReader:
        connections = [await aiosqlite.connect(path) for _ in range(concurrency)]
        return cls(workspace_id, connections)

    async def read(self, worker: int) -> list[CustomerView]:
        conn = self.connections[worker]
        async with conn.execute(SQLITE_SQL, (self.workspace_id, CUSTOMERS_PAGE, INTERACTIONS_PAGE)) as cursor:
            rows = await cursor.fetchall()
        return raw_view(list(rows))

    async def aclose(self) -> None:
        for conn in self.connections:
            await conn.close()


# --- databases and the server -----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A database to run on: the URL the app uses, and how the raw reader reaches it."""

    dialect: str
    url: str
    raw_dsn: str


def default_postgres_url() -> str:
    return (
        os.environ.get("JORNADA_BENCH_POSTGRES_URL")
        or os.environ.get("JORNADA_TEST_POSTGRES_URL")
        or "postgres://postgres@127.0.0.1:5432/test"
    )


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def postgres_reachable(admin_url: str) -> bool:
    try:
        conn = await asyncpg.connect(admin_url, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[Target]:
    name = f"bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(admin_url, name)
    try:
        yield Target("postgres", url, url)
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def sqlite_database() -> AsyncIterator[Target]:
    folder = tempfile.mkdtemp(prefix="jornada-bench-")
    path = os.path.join(folder, "bench.sqlite3")
    try:
        yield Target("sqlite", f"sqlite://{path}", path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path
    log: TextIO

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def server_command(port: int, workers: int, profile: Path | None) -> list[str]:
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    # `python -m api.cli` is the `jornada` console script: same module, same main().
    return [
        *command,
        "-m",
        "api.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@contextlib.asynccontextmanager
async def jornada_serve(
    database_url: str, log_dir: Path, *, workers: int, log_level: str, profile: Path | None
) -> AsyncIterator[Server]:
    """`jornada serve` on a free port, healthy, until the block ends; then stopped."""
    port = free_port()
    env = dict(os.environ, JORNADA_DATABASE_URL=database_url, JORNADA_LOG_LEVEL=log_level)
    log_path = log_dir / f"server-{port}.log"
    log = log_path.open("w")
    try:
        process = await asyncio.create_subprocess_exec(
            *server_command(port, workers, profile), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        server = Server(process, f"http://127.0.0.1:{port}", log_path, log)
        try:
            await wait_healthy(server, STARTUP_SECONDS)
            yield server
        finally:
            await stop(process)
    finally:
        log.close()


async def wait_healthy(server: Server, seconds: float) -> None:
    """Poll /healthz until it answers 200; fail early when the process dies."""
    async with httpx2.AsyncClient(base_url=server.base_url, timeout=2.0) as client:
        try:
            async with asyncio.timeout(seconds):
                while True:
                    if server.process.returncode is not None:
                        raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
                    with contextlib.suppress(httpx2.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            return
                    await asyncio.sleep(0.1)
        except TimeoutError:
            message = f"the server was not healthy after {seconds:.0f}s:\n{server.log_tail()}"
            raise RuntimeError(message) from None


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGINT (uvicorn's graceful shutdown, which also lets cProfile write its file), then SIGKILL."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), STOP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()


# --- one database -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    customers: int
    interactions: int
    requests: int
    concurrency: int
    warmup: int
    seed: int
    workers: int
    log_level: str
    profile_dir: Path | None


@dataclass(frozen=True)
class Outcome:
    dialect: str
    generated: Generated
    graphql: Measurement
    raw: Measurement


def compare(graphql: list[CustomerView], raw: list[CustomerView]) -> None:
    if graphql != raw:
        for n, (a, b) in enumerate(zip(graphql, raw, strict=False)):
            if a != b:
                raise RuntimeError(f"GraphQL and raw SQL differ at customer #{n}:\n  {a}\n  {b}")
        raise RuntimeError(f"GraphQL returned {len(graphql)} customers, raw SQL {len(raw)}")


def say(message: str) -> None:
    print(message, flush=True)


async def bench_one(target: Target, options: Options, work_dir: Path) -> Outcome:
    say(
        f"[{target.dialect}] generating {options.customers} customers, {options.interactions} interactions "
        f"(seed {options.seed})..."
    )
    made = await generate(target.url, options.customers, options.interactions, options.seed)
    say(
        f"[{target.dialect}]   workspace {made.workspace_id}, {made.tags} tags, digest {made.digest}: "
        f"built in {made.build_seconds:.1f}s, written in {made.insert_seconds:.1f}s"
    )
    profile = options.profile_dir / f"server-{target.dialect}.prof" if options.profile_dir else None
    async with jornada_serve(
        target.url, work_dir, workers=options.workers, log_level=options.log_level, profile=profile
    ) as server:
        say(f"[{target.dialect}] jornada serve is up at {server.base_url} (pid {server.process.pid})")
        client = GraphQLClient(server.base_url, made.api_key, options.concurrency)
        try:
            first_page = graphql_view(await client.query())
            say(
                f"[{target.dialect}] GraphQL: {options.warmup} warm-up + {options.requests} requests "
                f"at concurrency {options.concurrency}..."
            )
            graphql = await run_load(
                "GraphQL (jornada serve)", client.call, options.requests, options.concurrency, options.warmup
            )
        finally:
            await client.aclose()
    reader: RawReader
    if target.dialect == "postgres":
        reader = await PostgresReader.open(made.workspace_id, target.raw_dsn, options.concurrency)
    else:
        reader = await SqliteReader.open(made.workspace_id, target.raw_dsn, options.concurrency)
    try:
        compare(first_page, await reader.read(0))
        say(
            f"[{target.dialect}] same {len(first_page)} customers and "
            f"{sum(len(c[3]) for c in first_page)} interactions from both; {reader.label}..."
        )
        raw = await run_load(reader.label, reader.call, options.requests, options.concurrency, options.warmup)
    finally:
        await reader.aclose()
    return Outcome(target.dialect, made, graphql, raw)


# --- reporting --------------------------------------------------------------------------------


def table(outcomes: list[Outcome], options: Options) -> str:
    header = ("database", "read path", "req/s", "p50 ms", "p99 ms", "mean ms")
    rows: list[tuple[str, ...]] = []
    for o in outcomes:
        for m in (o.graphql, o.raw):
            figures = (f"{m.rps:,.1f}", f"{m.p50:.2f}", f"{m.p99:.2f}", f"{m.mean:.2f}")
            rows.append((o.dialect, m.label, *figures))
        g, r = o.graphql, o.raw
        rows.append(
            (
                o.dialect,
                "ratio raw / GraphQL (x faster)",
                f"{r.rps / g.rps:.1f}x",
                f"{g.p50 / r.p50:.1f}x",
                f"{g.p99 / r.p99:.1f}x",
                f"{g.mean / r.mean:.1f}x",
            )
        )
    widths = [max(len(h), *(len(r[n]) for r in rows)) for n, h in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        padded = (c.ljust(w) if n < 2 else c.rjust(w) for n, (c, w) in pairs)
        return " | ".join(padded)

    rule = "-+-".join("-" * w for w in widths)
    title = (
        f"customers(first: {CUSTOMERS_PAGE}) with interactions(first: {INTERACTIONS_PAGE}) each; "
        f"{options.customers:,} customers, {options.interactions:,} interactions (seed {options.seed}); "
        f"{options.requests} requests at concurrency {options.concurrency} after {options.warmup} warm-up; "
        f"server workers: {options.workers}; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    out = [title, "", line(header), rule]
    for n, row in enumerate(rows):
        out.append(line(row))
        if n % 3 == 2 and n != len(rows) - 1:
            out.append(rule)
    return "\n".join(out)


# --- main -------------------------------------------------------------------------------------


async def choose_targets(choice: str, postgres_url: str) -> list[str]:
    if choice == "both":
        return ["postgres", "sqlite"]
    if choice == "auto":
        if await postgres_reachable(postgres_url):
            return ["postgres"]
        say(f"PostgreSQL is not reachable at {postgres_url}: running on SQLite")
        return ["sqlite"]
    return [choice]


async def run(args: argparse.Namespace) -> list[Outcome]:
    options = Options(
        customers=args.customers,
        interactions=args.interactions,
        requests=args.requests,
        concurrency=args.concurrency,
        warmup=args.warmup,
        seed=args.seed,
        workers=args.server_workers,
        log_level=args.server_log_level,
        profile_dir=args.profile_dir,
    )
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    for dialect in await choose_targets(args.database, args.postgres_url):
        with work_directory() as work_dir:
            database = postgres_database(args.postgres_url) if dialect == "postgres" else sqlite_database()
            async with database as target:
                outcomes.append(await bench_one(target, options, work_dir))
    say("")
    say(table(outcomes, options))
    return outcomes


@contextlib.contextmanager
def work_directory() -> Iterator[Path]:
    folder = tempfile.mkdtemp(prefix="jornada-bench-run-")
    try:
        yield Path(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.read_path",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--database",
        choices=("auto", "postgres", "sqlite", "both"),
        default="auto",
        help="auto: PostgreSQL when reachable, else SQLite",
    )
    parser.add_argument("--customers", type=positive, default=10_000, help="customers to generate")
    parser.add_argument("--interactions", type=non_negative, default=100_000, help="interactions to generate")
    parser.add_argument("--requests", type=positive, default=1000, help="timed requests per read path")
    parser.add_argument("--concurrency", type=positive, default=4, help="requests in flight at once")
    parser.add_argument("--warmup", type=non_negative, default=50, help="untimed requests first, per read path")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same data")
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="a database of a server where this user may CREATE DATABASE",
    )
    parser.add_argument("--server-workers", type=positive, default=1, help="`jornada serve --workers`")
    parser.add_argument(
        "--server-log-level",
        default="WARNING",
        help="JORNADA_LOG_LEVEL of the server (INFO adds one access-log line per request)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="run the server under cProfile and write server-<database>.prof here",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_bench(lambda: run(args), "interrupted: server stopped, bench data removed")


if __name__ == "__main__":
    raise SystemExit(main())
