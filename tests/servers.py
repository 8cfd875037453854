"""Real `jornada serve` processes for end-to-end tests, and a fresh database for each."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
import pytest_asyncio

from tests.conftest import on_postgres, postgres_admin_url, with_database

JORNADA = Path(sys.executable).with_name("jornada")
STARTUP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest_asyncio.fixture
async def e2e_database_url(tmp_path: Path) -> AsyncIterator[str]:
    """An empty, unmigrated database of this test's own."""
    if not on_postgres():
        yield f"sqlite://{tmp_path / 'e2e.sqlite3'}"
        return
    name = f"jornada_e2e_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(postgres_admin_url())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield with_database(postgres_admin_url(), name)
    finally:
        conn = await asyncpg.connect(postgres_admin_url())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture
def server(e2e_database_url: str, tmp_path: Path) -> Iterator[str]:
    """`jornada serve` on a free port; yields its base URL once /healthz answers."""
    with running_server(e2e_database_url, tmp_path) as base_url:
        yield base_url


@contextmanager
def running_server(
    database_url: str, tmp_path: Path, name: str = "server", extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """A `jornada serve` process on a free port, stopped on exit (`extra_env`: more settings).
    Its output goes to a file, printed at teardown: pytest shows it when the test fails."""
    with server_process(database_url, tmp_path, name, extra_env) as (base_url, _):
        yield base_url


@contextmanager
def server_process(
    database_url: str,
    tmp_path: Path,
    name: str = "server",
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """As `running_server`, with the process too (a test may kill it), on `port` if given."""
    port = port or free_port()
    log_path = tmp_path / f"{name}.log"
    env = {**os.environ, "JORNADA_DATABASE_URL": database_url, **(extra_env or {})}
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(JORNADA), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(proc, base_url, log_path)
        yield base_url, proc
    finally:
        _stop(proc)
        print(f"--- jornada serve output (exit status {proc.returncode}) ---")
        print(log_path.read_text(errors="replace"))


def _wait_healthy(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    with httpx2.Client(base_url=base_url, timeout=2) as client:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jornada serve exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"/healthz did not answer in {STARTUP_TIMEOUT} s:\n{log_path.read_text()}")
            time.sleep(0.1)


async def create_workspace_with_cli(database_url: str, cwd: Path) -> dict[str, Any]:
    env = {**os.environ, "JORNADA_DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        str(JORNADA),
        "workspace",
        "create",
        "Padaria Central",
        "--currency",
        "BRL",
        "--json",
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, f"stdout: {out.decode()}\nstderr: {err.decode()}"
    lines = out.decode().splitlines()
    assert len(lines) == 1, out.decode()
    created: dict[str, Any] = json.loads(lines[0])
    return created


async def graphql(
    client: httpx2.AsyncClient, key: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data
