"""Webhook events into the outbox, in the transaction of the change that causes them.

Each event becomes one `webhook_delivery` row per enabled endpoint of the workspace subscribed
to its type, written with the caller's connection: when the change commits, its deliveries are
committed with it; when it rolls back, none exist. The delivery worker (`api.webhook_delivery`)
sends them after commit. A body is the Standard Webhooks shape: `{"type", "timestamp", "data"}`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from api.bulk import insert_rows
from api.db import Params, connection, dialect_of, fetch
from api.ids import global_id
from api.records import CustomerRecord, InteractionRecord, TransitionRecord

STAGE_CHANGED = "stage.changed"
CUSTOMER_CREATED = "customer.created"
CUSTOMER_DELETED = "customer.deleted"
INTERACTION_RECORDED = "interaction.recorded"
TEST = "webhook.test"  # sent on demand only (`sendTestWebhook`), to one endpoint
EVENT_TYPES = (STAGE_CHANGED, CUSTOMER_CREATED, CUSTOMER_DELETED, INTERACTION_RECORDED)

DELIVERY_COLUMNS = (
    "workspace_id",
    "endpoint_id",
    "message_id",
    "event_type",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)

# Called when this process wrote deliveries, so that its workers send them at once instead of at
# their next poll (a worker adds itself while it runs). Other processes' workers poll.
WAKE: set[Callable[[], None]] = set()


def message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def body(event_type: str, data: dict[str, Any], at: datetime) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat(), "data": data}, separators=(",", ":"), ensure_ascii=False
    )


async def subscribed(workspace_id: int, event_type: str) -> list[int]:
    """The enabled endpoints of the workspace that receive `event_type`."""
    p = Params(dialect_of(connection()))
    sql = f"SELECT id, events FROM webhook_endpoint WHERE workspace_id = {p(workspace_id)} AND enabled = {p(True)}"
    found = []
    for row in await fetch(sql, p):
        events = row["events"]
        if isinstance(events, str):
            events = json.loads(events)
        if event_type in events:
            found.append(int(row["id"]))
    return found


async def enqueue(
    workspace_id: int, event_type: str, items: Iterable[dict[str, Any]], endpoints: Sequence[int] | None = None
) -> int:
    """Write each event's deliveries (to `endpoints`, by default every subscribed one) with the
    current connection, the caller's transaction; returns how many were written."""
    if endpoints is None:
        endpoints = await subscribed(workspace_id, event_type)
    if not endpoints:
        return 0
    now = datetime.now(UTC)
    rows = []
    for data in items:
        mid, text = message_id(), body(event_type, data, now)
        rows += [(workspace_id, e, mid, event_type, text, "PENDING", 0, now, now) for e in endpoints]
    await insert_rows(connection(), "webhook_delivery", DELIVERY_COLUMNS, rows)
    if rows:
        for wake in list(WAKE):
            wake()
    return len(rows)


# --- the events' data -----------------------------------------------------------------------------


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


async def stage_changed(transitions: Sequence[TransitionRecord]) -> None:
    """`stage.changed` for moves just written (any cause: rules, manual, replays, corrections)."""
    by_workspace: dict[int, list[TransitionRecord]] = {}
    for t in transitions:
        by_workspace.setdefault(t.workspace_id, []).append(t)
    for workspace_id, moves in by_workspace.items():
        await _of_customers(workspace_id, STAGE_CHANGED, moves, _move)


async def _of_customers(
    workspace_id: int,
    event_type: str,
    records: Sequence[Any],
    data: Callable[[Any, str | None], dict[str, Any]],
) -> None:
    """One event per record (each with a `customer_id`), its data given the customer's
    external id, read only when an endpoint wants the event."""
    endpoints = await subscribed(workspace_id, event_type) if records else []
    if endpoints:
        external = await _external_ids(workspace_id, {r.customer_id for r in records})
        items = [data(r, external.get(r.customer_id)) for r in records]
        await enqueue(workspace_id, event_type, items, endpoints)


def _move(t: TransitionRecord, external_id: str | None) -> dict[str, Any]:
    return {
        "transitionId": global_id("StageTransition", t.id),
        "customerId": global_id("Customer", t.customer_id),
        "externalId": external_id,
        "model": t.model_key,
        "modelVersion": t.model_version,
        "from": t.from_stage,
        "to": t.to_stage,
        "occurredAt": _time(t.occurred_at),
        "cause": t.cause,
        "rule": t.rule,
        "actor": t.actor,
        "note": t.note,
        "interactionId": global_id("Interaction", t.interaction_id) if t.interaction_id else None,
        "correction": t.correction,
    }


async def _external_ids(workspace_id: int, customer_ids: set[int]) -> dict[int, str | None]:
    p = Params(dialect_of(connection()))
    sql = (
        f"SELECT id, external_id FROM customer WHERE workspace_id = {p(workspace_id)} "
        f"AND {p.among('id', sorted(customer_ids))}"
    )
    return {int(r["id"]): r["external_id"] for r in await fetch(sql, p)}


async def customer_created(customer: CustomerRecord) -> None:
    await enqueue(customer.workspace_id, CUSTOMER_CREATED, [customer_data(customer)])


def customer_data(c: CustomerRecord) -> dict[str, Any]:
    return {
        "customerId": global_id("Customer", c.id),
        "externalId": c.external_id,
        "name": c.name,
        "email": c.email,
        "acquisitionChannel": c.acquisition_channel,
        "createdAt": _time(c.created_at),
    }


async def customer_deleted(workspace_id: int, customer_id: int, external_id: str | None) -> None:
    data = {"customerId": global_id("Customer", customer_id), "externalId": external_id}
    await enqueue(workspace_id, CUSTOMER_DELETED, [data])


async def interactions_recorded(workspace_id: int, interactions: Sequence[InteractionRecord]) -> None:
    await _of_customers(workspace_id, INTERACTION_RECORDED, interactions, _interaction)


def _interaction(i: InteractionRecord, external_id: str | None) -> dict[str, Any]:
    return {
        "interactionId": global_id("Interaction", i.id),
        "customerId": global_id("Customer", i.customer_id),
        "externalId": external_id,
        "kind": i.kind,
        "channel": i.channel,
        "occurredAt": _time(i.occurred_at),
        "amount": None if i.amount is None else str(i.amount),
        "score": i.score,
        "properties": i.properties,
    }
