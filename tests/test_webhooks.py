"""Webhooks end to end inside the app: endpoints, the outbox, the worker, a real receiver that
verifies every delivery with the `standardwebhooks` library alone."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver
from tortoise.transactions import in_transaction

from api import webhook_events as events
from api.db import connection
from api.models import WebhookDelivery, WebhookEndpoint
from api.settings import Settings
from api.webhook_delivery import DeliveryWorker, PublicOnlyResolver, WorkerSettings, claim
from schema.workspace import Role
from tests.conftest import Api, new_customer, raw_id
from tests.lifecycle_helpers import ago, record
from tests.webhook_helpers import (
    DELETE,
    REDELIVER,
    ROTATE,
    SEND_TEST,
    UPDATE,
    create_endpoint,
    deliveries,
    endpoints,
    execute,
    hooks,
    private_settings,
    worker,
)
from tests.webhook_receiver import Receiver, receiver

__all__ = ["hooks", "private_settings"]  # fixtures

pytestmark = pytest.mark.asyncio


@pytest.fixture
def settings(private_settings: Settings) -> Settings:
    return private_settings


async def test_every_event_arrives_signed_and_complete(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url))[1])
    ana = await new_customer(api, name="Ana", externalId="crm-7", email="ana@example.com", createdAt=ago(10))
    await record(api, ana["id"], "demo_requested", ago(2))
    await api.data(
        "mutation($i: DeleteCustomerInput!) { deleteCustomer(input: $i) { deletedCustomerId } }",
        {"i": {"id": ana["id"]}},
    )
    sent = await worker().drain()

    assert hooks.rejected == []
    assert len(hooks.received) == sent
    assert Counter(hooks.types()) == {
        "customer.created": 1,
        "stage.changed": 2,
        "interaction.recorded": 1,
        "customer.deleted": 1,
    }
    created = hooks.of("customer.created")[0].data
    assert created["customerId"] == ana["id"]
    assert created["externalId"] == "crm-7"
    assert created["email"] == "ana@example.com"
    # Deliveries go out side by side: they may arrive in any order (docs/webhooks.md).
    first, moved = sorted((r.data for r in hooks.of("stage.changed")), key=lambda d: raw_id(d["transitionId"]))
    assert (first["from"], first["to"], first["rule"]) == (None, "prospect", "initial")
    assert (moved["model"], moved["from"], moved["to"], moved["cause"]) == ("funnel", "prospect", "lead", "RULE")
    assert moved["customerId"] == ana["id"]
    assert moved["externalId"] == "crm-7"
    assert moved["correction"] is False
    assert moved["rule"]
    # The move is dated when the demo was asked for, two days ago, not when it reached us.
    assert datetime.fromisoformat(moved["occurredAt"]) < datetime.now(UTC) - timedelta(days=1.9)
    interaction = hooks.of("interaction.recorded")[0].data
    assert interaction["kind"] == "demo_requested"
    assert interaction["externalId"] == "crm-7"
    assert moved["interactionId"] == interaction["interactionId"]
    assert hooks.of("customer.deleted")[0].data == {"customerId": ana["id"], "externalId": "crm-7"}
    assert len({r.message_id for r in hooks.received}) == len(hooks.received)

    listed = await deliveries(api)
    assert {d["status"] for d in listed} == {"DELIVERED"}
    assert {d["responseStatus"] for d in listed} == {204}
    assert all(d["attempts"] == 1 and d["deliveredAt"] and d["nextAttemptAt"] is None for d in listed)
    assert {d["messageId"] for d in listed} == {r.message_id for r in hooks.received}


async def test_an_endpoint_receives_only_the_events_it_chose(api: Api, hooks: Receiver) -> None:
    _, secret = await create_endpoint(api, hooks.url, ["stage.changed"], description="sales alerts")
    hooks.secrets.append(secret)
    ana = await new_customer(api, name="Ana", createdAt=ago(5))
    await record(api, ana["id"], "purchase", ago(1), amount="10")
    await worker().drain()
    assert sorted(r.data["to"] for r in hooks.received) == ["customer", "prospect"]


async def _enqueue_then_fail(workspace_id: int) -> None:
    async with in_transaction():
        await events.enqueue(workspace_id, events.CUSTOMER_CREATED, [{"customerId": "x"}])
        raise RuntimeError("the change failed after its event was written")


async def test_a_late_interaction_sends_the_corrected_moves(api: Api, hooks: Receiver) -> None:
    """History loaded after the customer: the moves from the interaction's time on are sent
    again, marked as corrections, dated when they happened."""
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["stage.changed"]))[1])
    ana = await new_customer(api, name="Ana")  # created now
    await record(api, ana["id"], "demo_requested", ago(2))  # two days before it was created
    await worker().drain()
    sent = sorted((r.data for r in hooks.received), key=lambda d: raw_id(d["transitionId"]))
    moves = [(d["from"], d["to"], d["correction"]) for d in sent]
    assert moves == [(None, "prospect", False), (None, "prospect", True), ("prospect", "lead", True)]
    corrected = datetime.fromisoformat(sent[1]["occurredAt"])
    assert corrected < datetime.now(UTC) - timedelta(days=1.9)


async def test_a_rolled_back_change_leaves_no_delivery(api: Api, hooks: Receiver) -> None:
    await create_endpoint(api, hooks.url)
    with pytest.raises(RuntimeError, match="after its event"):
        await _enqueue_then_fail(api.workspace_id)
    assert await WebhookDelivery.all().count() == 0
    # A refused input writes nothing either.
    body = await api.run(
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { userErrors { code } } }",
        {"i": {"name": "Ana", "email": "not an address"}},
    )
    assert body["data"]["createCustomer"]["userErrors"]
    assert await WebhookDelivery.all().count() == 0


async def test_a_failing_receiver_gets_the_event_again_within_ten_seconds(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    hooks.fail_next = 1
    started = time.monotonic()
    delivering = worker()
    running = asyncio.create_task(delivering.run())
    try:
        await new_customer(api, name="Ana")
        await asyncio.to_thread(hooks.wait_for, 1, 15)
    finally:
        delivering.stop()
        await running  # its last writes end before the database closes
    assert hooks.received, "the retry never arrived"
    assert time.monotonic() - started < 10
    (delivery,) = await deliveries(api)
    assert (delivery["status"], delivery["attempts"], delivery["responseStatus"]) == ("DELIVERED", 2, 204)
    assert delivery["messageId"] == hooks.received[0].message_id


async def test_retries_back_off_and_the_error_is_shown(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    hooks.fail_next = 3
    await new_customer(api, name="Ana")
    waits = []
    for attempt in (1, 2, 3):
        await worker().drain()
        (d,) = await deliveries(api)
        assert (d["status"], d["attempts"], d["responseStatus"]) == ("PENDING", attempt, 500)
        assert d["lastError"].startswith("HTTP 500")
        due = datetime.fromisoformat(d["nextAttemptAt"])
        waits.append((due - datetime.fromisoformat(d["lastAttemptAt"])).total_seconds())
        await execute("UPDATE webhook_delivery SET next_attempt_at = created_at")  # the wait is over
    assert 4.5 <= waits[0] <= 5.5
    assert 27 <= waits[1] <= 33
    assert 108 <= waits[2] <= 132
    await worker().drain()
    (d,) = await deliveries(api)
    assert (d["status"], d["attempts"]) == ("DELIVERED", 4)
    assert len(hooks.received) == 1


async def test_a_delivery_is_given_up_after_about_a_day_and_a_half(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    hooks.fail_next = 100
    await new_customer(api, name="Ana")
    for _ in range(12):
        await worker().drain()
        await execute("UPDATE webhook_delivery SET next_attempt_at = created_at WHERE next_attempt_at IS NOT NULL")
    (d,) = await deliveries(api, "FAILED")
    assert d["attempts"] == 12
    assert d["nextAttemptAt"] is None
    assert await deliveries(api, "PENDING") == []


async def test_an_endpoint_failing_for_days_is_disabled_with_the_reason(api: Api, hooks: Receiver) -> None:
    endpoint_id, secret = await create_endpoint(api, hooks.url, ["customer.created"])
    hooks.secrets.append(secret)
    hooks.fail_next = 1
    await new_customer(api, name="Ana")
    await worker().drain()
    (e,) = await endpoints(api)
    assert e["enabled"]
    assert e["failingSince"]
    await WebhookEndpoint.all().update(failing_since=datetime.now(UTC) - timedelta(days=6))
    await execute("UPDATE webhook_delivery SET next_attempt_at = created_at")
    hooks.fail_next = 1
    await worker().drain()

    (e,) = await endpoints(api)
    assert not e["enabled"]
    assert "every delivery failed for 5 days" in e["disabledReason"]
    assert "HTTP 500" in e["disabledReason"]
    await new_customer(api, name="Bruno")  # while disabled: nothing is written for it, nothing sent
    await execute("UPDATE webhook_delivery SET next_attempt_at = created_at")
    assert await worker().drain() == 0

    data = await api.data(UPDATE, {"input": {"id": endpoint_id, "enabled": True}})
    enabled = data["updateWebhookEndpoint"]["endpoint"]
    assert enabled["enabled"]
    assert enabled["disabledReason"] is None
    assert enabled["failingSince"] is None
    await worker().drain()
    assert [r.data["name"] for r in hooks.received] == ["Ana"]  # its waiting delivery went out


async def test_redelivery_sends_the_same_webhook_id_again(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    await new_customer(api, name="Ana")
    await worker().drain()
    (d,) = await deliveries(api)
    again = await api.data(REDELIVER, {"input": {"id": d["id"]}})
    assert again["redeliverWebhook"]["delivery"]["status"] == "PENDING"
    await worker().drain()
    assert [r.message_id for r in hooks.received] == [d["messageId"], d["messageId"]]
    (d,) = await deliveries(api)
    assert (d["status"], d["attempts"]) == ("DELIVERED", 1)


async def test_a_test_event_on_demand(api: Api, hooks: Receiver) -> None:
    endpoint_id, secret = await create_endpoint(api, hooks.url, ["stage.changed"])
    hooks.secrets.append(secret)
    await api.data(UPDATE, {"input": {"id": endpoint_id, "enabled": False}})
    sent = await api.data(SEND_TEST, {"input": {"id": endpoint_id}})
    assert sent["sendTestWebhook"]["delivery"]["eventType"] == "webhook.test"
    await worker().drain()
    (got,) = hooks.received
    assert got.event_type == "webhook.test"
    assert got.data["message"]


async def test_a_rotated_secret_overlaps_then_the_old_one_stops_signing(api: Api, hooks: Receiver) -> None:
    endpoint_id, old = await create_endpoint(api, hooks.url, ["customer.created"])
    rotated = (await api.data(ROTATE, {"input": {"id": endpoint_id, "overlapHours": 24}}))["rotateWebhookSecret"]
    new = rotated["secret"]
    assert new != old
    assert new.startswith("whsec_")
    expires = datetime.fromisoformat(rotated["endpoint"]["previousSecretExpiresAt"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)

    await new_customer(api, name="Old receivers still verify")
    hooks.secrets[:] = [old]
    await worker().drain()
    hooks.secrets[:] = [new]
    await api.data(REDELIVER, {"input": {"id": (await deliveries(api))[0]["id"]}})
    await worker().drain()
    assert len(hooks.received) == 2
    assert hooks.rejected == []

    await api.data(ROTATE, {"input": {"id": endpoint_id, "overlapHours": 0}})
    await new_customer(api, name="Only the newest secret signs")
    await worker().drain()
    assert len(hooks.received) == 2
    assert len(hooks.rejected) == 1

    bad = await api.data(ROTATE, {"input": {"id": endpoint_id, "overlapHours": 200}})
    assert [e["field"] for e in bad["rotateWebhookSecret"]["userErrors"]] == [["overlapHours"]]


async def test_endpoints_are_for_admins_only(api: Api, hooks: Receiver) -> None:
    endpoint_id, _ = await create_endpoint(api, hooks.url)
    for role in (Role.EDITOR, Role.VIEWER):
        other = await api.key_for(role)
        body = await other.run("{ viewer { workspace { webhookEndpoints { id url } } } }")
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
        assert (await other.data("query($id: ID!) { node(id: $id) { id } }", {"id": endpoint_id}))["node"] is None
        body = await other.run(DELETE, {"input": {"id": endpoint_id}})
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert len(await endpoints(api)) == 1


async def test_an_endpoint_of_another_workspace_is_not_found(api: Api, other_api: Api, hooks: Receiver) -> None:
    endpoint_id, _ = await create_endpoint(api, hooks.url)
    for doc in (DELETE, SEND_TEST):
        body = await other_api.data(doc, {"input": {"id": endpoint_id}})
        (errors,) = [v["userErrors"] for v in body.values()]
        assert [(e["field"], e["code"]) for e in errors] == [(["id"], "NOT_FOUND")]
    assert await endpoints(other_api) == []
    await other_api.data(
        "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { customer { id } } }", {"i": {"name": "X"}}
    )
    assert await WebhookDelivery.all().count() == 0  # their customer is not our event


async def test_update_and_delete(api: Api, hooks: Receiver) -> None:
    endpoint_id, _ = await create_endpoint(api, hooks.url)
    changed = await api.data(UPDATE, {"input": {"id": endpoint_id, "events": ["customer.deleted", "stage.changed"]}})
    assert changed["updateWebhookEndpoint"]["endpoint"]["events"] == ["stage.changed", "customer.deleted"]
    refused = await api.data(UPDATE, {"input": {"id": endpoint_id, "events": ["stage.moved"]}})
    (error,) = refused["updateWebhookEndpoint"]["userErrors"]
    assert (error["field"], error["code"]) == (["events"], "UNKNOWN_EVENT")
    assert "stage.changed" in error["message"]
    await new_customer(api, name="Ana")
    deleted = await api.data(DELETE, {"input": {"id": endpoint_id}})
    assert deleted["deleteWebhookEndpoint"]["deletedId"] == endpoint_id
    assert await endpoints(api) == []
    assert await WebhookDelivery.all().count() == 0


async def test_workers_sharing_the_outbox_never_send_one_delivery_twice(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    for n in range(60):
        await new_customer(api, name=f"Cliente {n}")
    claims = await asyncio.gather(*(claim(datetime.now(UTC), 20, [], timedelta(minutes=1)) for _ in range(5)))
    ids = [c.id for found in claims for c in found]
    assert len(ids) == len(set(ids)) == 60
    await execute("UPDATE webhook_delivery SET next_attempt_at = created_at")

    sent = await asyncio.gather(*(worker(concurrency=8).drain() for _ in range(3)))
    assert sum(sent) == 60
    assert sorted(Counter(r.message_id for r in hooks.received).values()) == [1] * 60


async def test_deliveries_page_newest_first(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    for n in range(5):
        await new_customer(api, name=f"Cliente {n}")
    query = """query($before: ID) { viewer { workspace { webhookEndpoints {
      deliveries(first: 2, before: $before) { id payload } } } } }"""
    names, before = [], None
    for _ in range(3):
        data = await api.data(query, {"before": before})
        page = data["viewer"]["workspace"]["webhookEndpoints"][0]["deliveries"]
        names += [d["payload"]["data"]["name"] for d in page]
        before = page[-1]["id"]
    assert names == [f"Cliente {n}" for n in (4, 3, 2, 1, 0)]
    assert raw_id(before) == min(d.id for d in await WebhookDelivery.all())


async def test_the_payload_is_the_body_sent(api: Api, hooks: Receiver) -> None:
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    await new_customer(api, name="Zoë")
    await worker().drain()
    (d,) = await deliveries(api)
    row = (await connection().execute_query_dict("SELECT payload FROM webhook_delivery"))[0]
    assert d["payload"] == json.loads(row["payload"])
    assert d["payload"]["type"] == "customer.created"
    assert d["payload"]["data"]["name"] == "Zoë"


async def test_a_slow_endpoint_cannot_take_every_slot(api: Api) -> None:
    with receiver() as slow, receiver() as fast:
        for hooks in (slow, fast):
            hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
        slow.delay = 0.5
        for n in range(8):
            await new_customer(api, name=f"Cliente {n}")
        draining = asyncio.create_task(worker(concurrency=8, per_endpoint=2).drain())
        try:
            await asyncio.to_thread(fast.wait_for, 8, 10)
            assert len(slow.received) <= 2  # the fast one was served while the slow one kept its two
        finally:
            assert await draining == 16
    assert slow.most_in_flight == 2
    assert len(slow.received) == 8


async def test_a_worker_that_may_not_reach_private_hosts_sends_nothing_there(api: Api, hooks: Receiver) -> None:
    """The endpoint was made while private hosts were allowed; a worker without that setting
    (as in production) does not send to it, and says why."""
    hooks.secrets.append((await create_endpoint(api, hooks.url, ["customer.created"]))[1])
    await new_customer(api, name="Ana")
    await DeliveryWorker(WorkerSettings(allow_private=False, timeout=2.0)).drain()
    assert hooks.raw == []
    (d,) = await deliveries(api)
    assert d["status"] == "PENDING"
    assert d["lastError"] == "not sent: the URL's host is a loopback address"


class _Names(AbstractResolver):
    """A DNS of the test's own: every name is 127.0.0.1 (a name turned to an inside address)."""

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": family, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def test_a_name_resolving_to_a_private_address_is_refused_when_connecting(hooks: Receiver) -> None:
    port = hooks.url.split(":")[2].split("/")[0]
    connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(_Names()))
    async with aiohttp.ClientSession(connector=connector) as session:
        with pytest.raises(aiohttp.ClientConnectorDNSError, match=r"resolves to 127\.0\.0\.1, which is a loopback"):
            await session.post(f"http://hooks.example.test:{port}/hooks", data=b"{}")
    assert hooks.raw == []
    # The same name through a resolver that allows it reaches the receiver: the refusal above is the check's.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=_Names())) as session,
        session.post(f"http://hooks.example.test:{port}/hooks", data=b"{}") as response,
    ):
        assert response.status == 401  # unsigned: the receiver refuses it, but it got there
    assert len(hooks.raw) == 1
