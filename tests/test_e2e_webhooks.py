"""Webhooks from a real `jornada serve` to a real receiver: none lost when the server is killed
with deliveries in flight, and a slow receiver does not slow the API down."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.cli_helpers import jornada, ok, served
from tests.servers import create_workspace_with_cli, e2e_database_url, free_port, graphql, server_process
from tests.webhook_helpers import CREATE, ENDPOINTS
from tests.webhook_receiver import Receiver, receiver

__all__ = ["e2e_database_url"]  # the fixture

pytestmark = pytest.mark.asyncio

SETTINGS = {"JORNADA_WEBHOOKS_ALLOW_PRIVATE": "true", "JORNADA_WEBHOOKS_TIMEOUT": "2", "JORNADA_TICK_INTERVAL": "0"}
NEW_CUSTOMER = "mutation($name: String!) { createCustomer(input: {name: $name}) { customer { id } } }"


async def _endpoint(client: httpx2.AsyncClient, key: str, hooks: Receiver, events: list[str]) -> None:
    made = await graphql(client, key, CREATE, {"input": {"url": hooks.url, "events": events}})
    assert made["createWebhookEndpoint"]["userErrors"] == []
    hooks.secrets.append(made["createWebhookEndpoint"]["secret"])


async def _message_ids(client: httpx2.AsyncClient, key: str) -> set[str]:
    query = ENDPOINTS.replace("deliveries(status: $status)", "deliveries(status: $status, first: 100)")
    found = (await graphql(client, key, query))["viewer"]["workspace"]["webhookEndpoints"][0]["deliveries"]
    return {d["messageId"] for d in found}


async def _wait_for(hooks: Receiver, count: int, seconds: float) -> None:
    await asyncio.to_thread(hooks.wait_for, count, seconds)


async def test_kill_9_with_deliveries_in_flight_loses_none(e2e_database_url: str, tmp_path: Path) -> None:
    url, port = e2e_database_url, free_port()
    ok(await jornada(url, "migrate", cwd=tmp_path))
    key = (await create_workspace_with_cli(url, tmp_path))["apiKey"]
    with receiver() as hooks:
        hooks.delay = 0.5  # every delivery takes a while: many are in flight at the kill
        with server_process(url, tmp_path, "first", SETTINGS, port) as (base_url, proc):
            async with httpx2.AsyncClient(base_url=base_url, timeout=10) as client:
                await _endpoint(client, key, hooks, ["customer.created", "stage.changed"])
                for n in range(30):
                    await graphql(client, key, NEW_CUSTOMER, {"name": f"Cliente {n:02}"})
            await _wait_for(hooks, 1, 10)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        arrived_before = len(hooks.received)
        assert arrived_before < 60, "every delivery was done before the kill: the test proves nothing"

        with server_process(url, tmp_path, "restarted", SETTINGS, port) as (base_url, _):
            # Claims of the killed server expire after their lease (2 * 2 s + 5 s), then go again.
            await _wait_for(hooks, 60, 30)
            async with httpx2.AsyncClient(base_url=base_url, timeout=10) as client:
                stored = await _message_ids(client, key)

    assert hooks.rejected == []
    by_id = Counter(r.message_id for r in hooks.received)
    assert set(by_id) == stored
    assert len(stored) == 60  # 30 customers created, 30 first stages
    created = sorted(r.data["name"] for r in hooks.of("customer.created"))
    assert sorted(set(created)) == [f"Cliente {n:02}" for n in range(30)]
    # A repeat is the same event again, with the same webhook-id (receivers drop it by that id).
    for message_id, times in by_id.items():
        if times > 1:
            assert len({(r.event_type, str(r.data)) for r in hooks.received if r.message_id == message_id}) == 1


async def test_a_slow_receiver_does_not_slow_the_api(e2e_database_url: str, tmp_path: Path) -> None:
    url = e2e_database_url
    ok(await jornada(url, "migrate", cwd=tmp_path))
    key = (await create_workspace_with_cli(url, tmp_path))["apiKey"]
    settings = {**SETTINGS, "JORNADA_WEBHOOKS_TIMEOUT": "10"}
    with receiver() as hooks, server_process(url, tmp_path, "server", settings) as (base_url, _):
        hooks.delay = 4.0  # each delivery hangs 4 s; 16 at a time to it
        async with httpx2.AsyncClient(base_url=base_url, timeout=30) as client:
            await _endpoint(client, key, hooks, ["customer.created", "stage.changed", "interaction.recorded"])
            slowest = 0.0
            for n in range(20):
                started = time.monotonic()
                data: dict[str, Any] = await graphql(client, key, NEW_CUSTOMER, {"name": f"Cliente {n}"})
                record = """mutation($id: ID!) { recordInteraction(input: {customerId: $id, kind: "demo_requested",
                    occurredAt: "2026-01-05T10:00:00Z"}) { interaction { id } } }"""
                await graphql(client, key, record, {"id": data["createCustomer"]["customer"]["id"]})
                slowest = max(slowest, time.monotonic() - started)
            # Were deliveries sent inline, each request would wait 4 s for the receiver.
            assert slowest < 2.0, f"a request took {slowest:.2f} s while the receiver was slow"
            assert len(hooks.received) < 20  # the receiver was still busy meanwhile


async def test_jornada_deliver_once_sends_what_is_due(
    e2e_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker of its own: the server here runs none (the in-process app's default)."""
    url = e2e_database_url
    ok(await jornada(url, "migrate", cwd=tmp_path))
    key = (await create_workspace_with_cli(url, tmp_path))["apiKey"]
    monkeypatch.setenv("JORNADA_WEBHOOKS_ALLOW_PRIVATE", "true")
    with receiver() as hooks:
        async with served(url, webhooks_allow_private=True) as client:
            await _endpoint(client, key, hooks, ["customer.created"])
            for name in ("Ana", "Bruno", "Carla"):
                await graphql(client, key, NEW_CUSTOMER, {"name": name})
        assert hooks.received == []
        first = ok(await jornada(url, "deliver", "--once", "--json", cwd=tmp_path))
        assert json.loads(first.stdout) == {"attempts": 3, "delivered": 3, "pending": 0, "failed": 0}
        assert sorted(r.data["name"] for r in hooks.received) == ["Ana", "Bruno", "Carla"]
        hooks.fail_next = 1
        async with served(url, webhooks_allow_private=True) as client:
            await graphql(client, key, NEW_CUSTOMER, {"name": "Davi"})
        again = ok(await jornada(url, "deliver", "--once", cwd=tmp_path))
        assert again.stdout.strip() == "delivered 0, failed and to be retried 1, given up 0"
