"""The read-path benchmark's surroundings: a throwaway database (PostgreSQL or SQLite) and a
real `jornada serve` on it, started on a free port and stopped at the end, also on errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx2

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0


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


async def create_database(admin_url: str, name: str) -> None:
    """Create the (new) database `name` on the server of `admin_url`."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str) -> AsyncIterator[Target]:
    name = f"bench_{secrets.token_hex(6)}"
    await create_database(admin_url, name)
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
    # No periodic time-based rules: a tick over the generated customers would count as read CPU.
    env = dict(os.environ, JORNADA_DATABASE_URL=database_url, JORNADA_LOG_LEVEL=log_level, JORNADA_TICK_INTERVAL="0")
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


def process_tree_cpu_s(pid: int) -> float:
    """utime + stime of a process and of every process under it (the workers of `--workers N`)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None:
                children.setdefault(int(stat[1]), []).append(int(entry))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        stat = _stat(current)
        if stat is not None:
            total += (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
        todo += children.get(current, [])
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...); None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()
    except OSError:
        return None


async def backend_cpu_s(admin_dsn: str, database: str) -> float:
    """CPU seconds of the PostgreSQL backends now serving `database` (0 on SQLite: in-process)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' "
            "AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return sum(process_tree_cpu_s(int(r["pid"])) for r in rows)
