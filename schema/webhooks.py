"""Webhook endpoints and their deliveries (ADMIN): types, the `Workspace.webhookEndpoints` list
and the mutations. Definitions and the receiver's side: docs/webhooks.md."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import webhook_events as events
from api import webhooks as service
from api.errors import InputInvalid, Problem
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.ids import row_id
from schema.permissions import IsAdmin

MAX_DELIVERIES = 100


@strawberry.enum(description="Where a delivery stands.")
class WebhookDeliveryStatus(Enum):
    PENDING = strawberry.enum_value("PENDING", description="Not sent yet, or failed and waiting for its next attempt.")
    DELIVERED = strawberry.enum_value("DELIVERED", description="The endpoint answered 2xx.")
    FAILED = strawberry.enum_value("FAILED", description="Every attempt failed (about 32 hours of retries).")


@strawberry.type(description="One event sent (or to be sent) to one endpoint, with its attempts.")
class WebhookDelivery(relay.Node):
    id: relay.NodeID[int]
    message_id: str = strawberry.field(description="The `webhook-id` header: the same on every attempt.")
    event_type: str
    status: WebhookDeliveryStatus
    attempts: int
    next_attempt_at: datetime | None = strawberry.field(description="Null once delivered or given up.")
    last_attempt_at: datetime | None
    response_status: int | None = strawberry.field(description="The HTTP status of the last attempt, if any.")
    last_error: str | None = strawberry.field(description="Why the last attempt failed.")
    delivered_at: datetime | None
    created_at: datetime
    payload: JSON = strawberry.field(description="The body sent: {type, timestamp, data}.")

    @classmethod
    def from_record(cls, r: service.DeliveryRecord) -> WebhookDelivery:
        return cls(
            id=r.id,
            message_id=r.message_id,
            event_type=r.event_type,
            status=WebhookDeliveryStatus(r.status),
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at,
            last_attempt_at=r.last_attempt_at,
            response_status=r.response_status,
            last_error=r.last_error,
            delivered_at=r.delivered_at,
            created_at=r.created_at,
            payload=json.loads(r.payload),
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[WebhookDelivery | None]:
        return [None for _ in node_ids]  # read through its endpoint (ADMIN)


@strawberry.type(description="A URL of the business's that receives the workspace's events (ADMIN).")
class WebhookEndpoint(relay.Node):
    id: relay.NodeID[int]
    url: str
    description: str
    events: list[str] = strawberry.field(description="The event types it receives.")
    enabled: bool
    disabled_reason: str | None = strawberry.field(description="Why it is disabled: by an admin, or failing.")
    disabled_at: datetime | None
    failing_since: datetime | None = strawberry.field(
        description="Since when every attempt has failed; null after a success."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="After a rotation: until when the previous secret signs too."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, r: service.EndpointRecord) -> WebhookEndpoint:
        return cls(
            id=r.id,
            url=r.url,
            description=r.description,
            events=r.events,
            enabled=r.enabled,
            disabled_reason=r.disabled_reason,
            disabled_at=r.disabled_at,
            failing_since=r.failing_since,
            previous_secret_expires_at=r.previous_secret_expires_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[WebhookEndpoint | None]:
        ids = [row_id(i) for i in node_ids]
        if not info.context.caller.role.allows(IsAdmin.role):
            return [None for _ in ids]
        found = {e.id: e for e in await service.list_endpoints(info.context.workspace_id)}
        return [cls.from_record(found[i]) if i in found else None for i in ids]

    @strawberry.field(description="Its deliveries, newest first: `first` (at most 100) before the delivery `before`.")
    async def deliveries(
        self,
        info: Info,
        first: int = 20,
        before: relay.GlobalID | None = None,
        status: WebhookDeliveryStatus | None = None,
    ) -> list[WebhookDelivery]:
        size = max(0, min(first, MAX_DELIVERIES))
        before_id = _node_id(before, "WebhookDelivery") if before is not None else None
        found = await service.list_deliveries(
            info.context.workspace_id, self.id, size, before_id, status.name if status else None
        )
        return [WebhookDelivery.from_record(d) for d in found[:size]]


def _node_id(gid: relay.GlobalID, type_name: str) -> int:
    found = row_id(gid.node_id) if gid.type_name == type_name else -1
    if found < 0:
        raise InputInvalid([Problem(("id",), "NOT_FOUND", f"No {type_name} with this id in this workspace.")])
    return found


async def endpoints_of(info: Info) -> list[WebhookEndpoint]:
    return [WebhookEndpoint.from_record(e) for e in await service.list_endpoints(info.context.workspace_id)]


# --- inputs and payloads -------------------------------------------------------------------------


@strawberry.input(description=f"A new endpoint. Events: {', '.join(events.EVENT_TYPES)}.")
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="http:// or https://; private and loopback hosts only when allowed.")
    events: list[str]
    description: str | None = None


@strawberry.input(description="Changes to an endpoint; omitted fields stay as they are.")
class UpdateWebhookEndpointInput:
    id: relay.GlobalID
    url: str | None = strawberry.UNSET
    events: list[str] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(
        default=strawberry.UNSET, description="true re-enables an endpoint disabled for failing."
    )


@strawberry.input(description="The endpoint to act on.")
class WebhookEndpointIdInput:
    id: relay.GlobalID


@strawberry.input(description="A new secret; the current one keeps signing beside it for `overlapHours`.")
class RotateWebhookSecretInput:
    id: relay.GlobalID
    overlap_hours: int = strawberry.field(default=24, description="0 to 168.")


@strawberry.input(description="The delivery to send again.")
class RedeliverWebhookInput:
    id: relay.GlobalID


@strawberry.type(description="The endpoint and its secret (shown this once), or what was wrong.")
class WebhookEndpointSecretPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(default=None, description="whsec_...: keep it; it is not shown again.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The endpoint, or what was wrong.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The id of the deleted endpoint, or what was wrong.")
class DeleteWebhookEndpointPayload:
    deleted_id: relay.GlobalID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The delivery, due now, or what was wrong.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Add a webhook endpoint (ADMIN).", permission_classes=[IsAdmin])
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointSecretPayload:
        allow = info.context.settings.webhooks_allow_private
        try:
            record, secret = await service.create_endpoint(
                info.context.workspace_id, input.url, input.events, input.description, allow
            )
        except InputInvalid as exc:
            return WebhookEndpointSecretPayload(user_errors=user_errors(exc.problems))
        return WebhookEndpointSecretPayload(endpoint=WebhookEndpoint.from_record(record), secret=secret)

    @strawberry.mutation(description="Change a webhook endpoint (ADMIN).", permission_classes=[IsAdmin])
    async def update_webhook_endpoint(self, info: Info, input: UpdateWebhookEndpointInput) -> WebhookEndpointPayload:
        names = {"url": input.url, "events": input.events, "description": input.description, "enabled": input.enabled}
        changes = {k: v for k, v in names.items() if v is not strawberry.UNSET}
        try:
            record = await service.update_endpoint(
                info.context.workspace_id,
                _node_id(input.id, "WebhookEndpoint"),
                changes,
                info.context.settings.webhooks_allow_private,
            )
        except InputInvalid as exc:
            return WebhookEndpointPayload(user_errors=user_errors(exc.problems))
        return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_record(record))

    @strawberry.mutation(
        description="Delete a webhook endpoint and its deliveries (ADMIN).", permission_classes=[IsAdmin]
    )
    async def delete_webhook_endpoint(self, info: Info, input: WebhookEndpointIdInput) -> DeleteWebhookEndpointPayload:
        try:
            await service.delete_endpoint(info.context.workspace_id, _node_id(input.id, "WebhookEndpoint"))
        except InputInvalid as exc:
            return DeleteWebhookEndpointPayload(user_errors=user_errors(exc.problems))
        return DeleteWebhookEndpointPayload(deleted_id=input.id)

    @strawberry.mutation(
        description="A new secret for an endpoint, shown once; the previous one signs too during the overlap (ADMIN).",
        permission_classes=[IsAdmin],
    )
    async def rotate_webhook_secret(self, info: Info, input: RotateWebhookSecretInput) -> WebhookEndpointSecretPayload:
        try:
            record, secret = await service.rotate_secret(
                info.context.workspace_id,
                _node_id(input.id, "WebhookEndpoint"),
                timedelta(hours=input.overlap_hours),
            )
        except InputInvalid as exc:
            return WebhookEndpointSecretPayload(user_errors=user_errors(exc.problems))
        return WebhookEndpointSecretPayload(endpoint=WebhookEndpoint.from_record(record), secret=secret)

    @strawberry.mutation(
        description="Send a delivery again, now, with the same webhook-id (ADMIN).", permission_classes=[IsAdmin]
    )
    async def redeliver_webhook(self, info: Info, input: RedeliverWebhookInput) -> WebhookDeliveryPayload:
        try:
            record = await service.redeliver(info.context.workspace_id, _node_id(input.id, "WebhookDelivery"))
        except InputInvalid as exc:
            return WebhookDeliveryPayload(user_errors=user_errors(exc.problems))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_record(record))

    @strawberry.mutation(
        description=f"Send a `{events.TEST}` event to an endpoint now, even a disabled one (ADMIN).",
        permission_classes=[IsAdmin],
    )
    async def send_test_webhook(self, info: Info, input: WebhookEndpointIdInput) -> WebhookDeliveryPayload:
        try:
            record = await service.send_test(info.context.workspace_id, _node_id(input.id, "WebhookEndpoint"))
        except InputInvalid as exc:
            return WebhookDeliveryPayload(user_errors=user_errors(exc.problems))
        return WebhookDeliveryPayload(delivery=WebhookDelivery.from_record(record))
