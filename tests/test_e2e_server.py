"""The path a new user takes, for real: `jornada serve` as a process, a workspace made with the
CLI while it runs, then GraphQL over real HTTP.

SQLite file by default; with JORNADA_TEST_DATABASE=postgres, a fresh PostgreSQL database created
for the test and dropped afterwards (`jornada serve` migrates it on start).
"""

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
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import pytest
import pytest_asyncio

from tests.conftest import on_postgres, postgres_admin_url, with_database

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

JORNADA = Path(sys.executable).with_name("jornada")
STARTUP_TIMEOUT = 30.0
MIB = 1024 * 1024

CREATE_CUSTOMER = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name email }
    userErrors { field code message }
  }
}
"""

RECORD = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    interaction { id kind amount occurredAt customer { id } }
    customer { id }
    userErrors { field code message }
  }
}
"""

CUSTOMERS = """
{
  customers(first: 10) {
    totalCount
    edges { node { id name email interactions { totalCount edges { node { id kind amount } } } } }
  }
}
"""


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
    """`jornada serve` on a free port; yields its base URL once /healthz answers.

    The server's output goes to a file, printed at teardown: pytest shows it when the test fails.
    """
    port = free_port()
    log_path = tmp_path / "server.log"
    env = {**os.environ, "JORNADA_DATABASE_URL": e2e_database_url}
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
        yield base_url
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


async def test_a_new_user_serves_creates_a_workspace_and_uses_the_api(
    server: str, e2e_database_url: str, tmp_path: Path
) -> None:
    workspace = await create_workspace_with_cli(e2e_database_url, tmp_path)
    key = workspace["apiKey"]

    async with httpx2.AsyncClient(base_url=server, timeout=20) as client:
        # GraphiQL for a browser, no key needed to load the page.
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()

        # No key: 401 with the documented error code.
        anonymous = await client.post("/graphql", json={"query": "{ viewer { role } }"})
        assert anonymous.status_code == 401
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        me = await graphql(client, key, "{ viewer { role workspace { name currency } } }")
        assert me["viewer"] == {"role": "ADMIN", "workspace": {"name": "Padaria Central", "currency": "BRL"}}

        created = await graphql(
            client, key, CREATE_CUSTOMER, {"input": {"name": "Ana Souza", "email": "ana@example.com.br"}}
        )
        assert created["createCustomer"]["userErrors"] == []
        customer = created["createCustomer"]["customer"]
        assert customer["name"] == "Ana Souza"

        recorded = await graphql(
            client,
            key,
            RECORD,
            {
                "input": {
                    "customerId": customer["id"],
                    "kind": "purchase",
                    "amount": "199.90",
                    "occurredAt": "2026-01-15T10:30:00-03:00",
                }
            },
        )
        payload = recorded["recordInteraction"]
        assert payload["userErrors"] == []
        interaction = payload["interaction"]
        assert interaction["kind"] == "purchase"
        # Money is exact: a decimal string, never a float. It is stored at 4 places, and the
        # payload shows it as stored, exactly as every later read does.
        assert interaction["amount"] == "199.9000"
        assert Decimal(interaction["amount"]) == Decimal("199.90")
        assert interaction["customer"]["id"] == customer["id"]
        assert interaction["occurredAt"].startswith("2026-01-15T13:30:00")

        listed = await graphql(client, key, CUSTOMERS)
        assert listed["customers"]["totalCount"] == 1
        node = listed["customers"]["edges"][0]["node"]
        assert node["id"] == customer["id"]
        assert node["interactions"]["totalCount"] == 1
        assert node["interactions"]["edges"] == [
            {"node": {"id": interaction["id"], "kind": "purchase", "amount": "199.9000"}}
        ]

        # Over 1 MiB: refused before anything parses it, with or without a Content-Length.
        big = json.dumps({"query": "{ viewer { role } }", "pad": "x" * MIB}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        too_large = await client.post("/graphql", content=big, headers=headers)
        assert too_large.status_code == 413
        assert too_large.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 64 * 1024):
                yield big[start : start + 64 * 1024]

        streamed = await client.post("/graphql", content=chunks(), headers=headers)
        assert streamed.status_code == 413

        # The server is still healthy after refusing them.
        assert (await client.get("/healthz")).status_code == 200
