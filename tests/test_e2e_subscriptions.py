"""Live stage changes over graphql-transport-ws, against real servers. On PostgreSQL two server
processes share one database: a subscriber on one sees moves made through the other."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import on_postgres
from tests.servers import create_workspace_with_cli, graphql, running_server

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

SUBSCRIBE = (
    'subscription { stageChanged(stages: ["customer"]) { from { key } to { key } cause correction occurredAt '
    "customer { name } } }"
)


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout=15))
    return message


async def _close_code(ws: ClientConnection) -> int:
    """Read until the server closes the socket; its close code (0: closed without a frame)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=20)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd is not None else 0


@contextmanager
def _second_worker(database_url: str, tmp_path: Path, first: str) -> Iterator[str]:
    """Another server process on the same database (PostgreSQL); SQLite has one process."""
    if not on_postgres():
        yield first
        return
    with running_server(database_url, tmp_path, "second") as second:
        yield second


async def _subscribe(url: str, key: str) -> ClientConnection:
    ws = await connect(url.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
    assert (await _receive(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    await asyncio.sleep(0.3)  # the server registers the subscriber before we make moves
    return ws


async def test_a_subscriber_sees_moves_made_through_another_worker(e2e_database_url: str, tmp_path: Path) -> None:
    with running_server(e2e_database_url, tmp_path, "a") as server_a:
        workspace = await create_workspace_with_cli(e2e_database_url, tmp_path)
        key = workspace["apiKey"]
        # On PostgreSQL the writer is a second process; SQLite has a single process.
        second = running_server(e2e_database_url, tmp_path, "b") if on_postgres() else None
        server_b = second.__enter__() if second else server_a
        try:
            ws = await _subscribe(server_a, key)
            async with httpx2.AsyncClient(base_url=server_b, timeout=10) as client:
                created = await graphql(
                    client, key, 'mutation { createCustomer(input: {name: "Ana"}) { customer { id } } }'
                )
                cid = created["createCustomer"]["customer"]["id"]
                record = """mutation($id: ID!, $at: DateTime!) { recordInteraction(input: {customerId: $id,
                    kind: "purchase", amount: "10", occurredAt: $at}) { userErrors { code } } }"""
                await graphql(client, key, record, {"id": cid, "at": datetime.now(UTC).isoformat()})
                message = await _receive(ws)
                assert message["type"] == "next", message
                first = message["payload"]["data"]["stageChanged"]
                assert {k: v for k, v in first.items() if k != "occurredAt"} == {
                    "from": {"key": "prospect"},
                    "to": {"key": "customer"},
                    "cause": "RULE",
                    "correction": False,
                    "customer": {"name": "Ana"},
                }
                # An earlier purchase arrives: the move to customer is corrected to its time.
                earlier = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).isoformat()
                await graphql(client, key, record, {"id": cid, "at": earlier})
            message = await _receive(ws)
            corrected = message["payload"]["data"]["stageChanged"]
            assert (corrected["correction"], corrected["occurredAt"]) == (True, earlier)
            await ws.close()
        finally:
            if second:
                second.__exit__(None, None, None)


async def test_a_subscription_without_a_valid_key_is_refused(e2e_database_url: str, tmp_path: Path) -> None:
    with running_server(e2e_database_url, tmp_path) as server:
        ws = await connect(server.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": "Bearer jor_nope"}}))
        with pytest.raises(ConnectionClosed) as closed:
            await _receive(ws)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_a_revoked_key_is_cut_off_on_open_sockets_and_nothing_sent_after_runs(
    e2e_database_url: str, tmp_path: Path
) -> None:
    """Issue 10: the key was checked once, at connect; a revoked EDITOR key kept its subscription
    and could still create customers over the open socket. On PostgreSQL the subscription is on
    another worker than the one the key is revoked through."""
    with (
        running_server(e2e_database_url, tmp_path) as server,
        _second_worker(e2e_database_url, tmp_path, server) as other,
    ):
        admin = (await create_workspace_with_cli(e2e_database_url, tmp_path))["apiKey"]
        async with httpx2.AsyncClient(base_url=server, timeout=10) as client:
            made = await graphql(
                client, admin, 'mutation { createApiKey(input: {name: "sync", role: EDITOR}) { apiKey { id } key } }'
            )
            key_id, editor = made["createApiKey"]["apiKey"]["id"], made["createApiKey"]["key"]
            listening = await _subscribe(other, editor)
            idle = await _subscribe(server, editor)
            revoke = "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { userErrors { code } } }"
            assert (await graphql(client, admin, revoke, {"id": key_id}))["revokeApiKey"]["userErrors"] == []
            revoked_at = asyncio.get_running_loop().time()
            # Sent right after the revocation, before the sweep has closed the socket: not run.
            create = 'mutation { createCustomer(input: {name: "After"}) { customer { id } } }'
            await idle.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": create}}))
            assert [await _close_code(ws) for ws in (listening, idle)] == [4403, 4403]
            assert asyncio.get_running_loop().time() - revoked_at < 1.0
            count = await graphql(client, admin, "{ customers { totalCount } }")
            assert count["customers"]["totalCount"] == 0


async def test_a_socket_that_never_authenticates_is_closed(e2e_database_url: str, tmp_path: Path) -> None:
    """Issue 10: a WebSocket that never sent connection_init stayed open; only graphql-transport-ws
    is spoken (the legacy protocol had no such timeout)."""
    with running_server(e2e_database_url, tmp_path) as server:
        url = server.replace("http", "ws") + "/graphql"
        legacy = await connect(url, subprotocols=["graphql-ws"])  # type: ignore[list-item]
        assert await _close_code(legacy) == 4406  # subprotocol not acceptable
        ws = await connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        started = asyncio.get_running_loop().time()
        assert await _close_code(ws) == 4408  # connection initialisation timeout
        assert 5 < asyncio.get_running_loop().time() - started < 15
