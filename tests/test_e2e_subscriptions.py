"""Live stage changes over graphql-transport-ws, against real servers. On PostgreSQL two server
processes share one database: a subscriber on one sees moves made through the other."""

from __future__ import annotations

import asyncio
import json
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
