"""Webhook endpoints (ADMIN): the URLs a workspace's events go to, their secrets, their deliveries.

A secret is `whsec_` and the base64 of 32 random bytes (the Standard Webhooks form); it is shown
once, when the endpoint is made or the secret rotated. After a rotation the previous secret
signs too, beside the new one, until the overlap ends, so a receiver can switch without losing
a delivery.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tortoise.transactions import in_transaction

from api import validation as v
from api import webhook_events as events
from api.errors import InputInvalid, Problem, invalid
from api.ids import global_id
from api.models import WebhookDelivery, WebhookEndpoint

MAX_URL = 2000
MAX_OVERLAP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: int
    workspace_id: int
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    endpoint_id: int
    message_id: str
    event_type: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    response_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _endpoint(row: WebhookEndpoint) -> EndpointRecord:
    return EndpointRecord(
        row.id,
        row.workspace_id,  # type: ignore[attr-defined]
        row.url,
        row.description,
        list(row.events),
        row.enabled,
        row.disabled_reason,
        row.disabled_at,
        row.failing_since,
        row.previous_secret_expires_at,
        row.created_at,
        row.updated_at,
    )


def _delivery(row: WebhookDelivery) -> DeliveryRecord:
    return DeliveryRecord(
        row.id,
        row.endpoint_id,  # type: ignore[attr-defined]
        row.message_id,
        row.event_type,
        row.payload,
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.last_attempt_at,
        row.response_status,
        row.last_error,
        row.delivered_at,
        row.created_at,
    )


# --- checks ----------------------------------------------------------------------------------------


def address_refused(host: str) -> str | None:
    """Why a private or local address may not receive webhooks (None when it may)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "is the local machine"
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return None  # a name: its addresses are checked when a delivery connects
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "is a loopback address"
    if ip.is_private or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return "is a private or reserved address"
    return None


def check_url(raw: str, allow_private: bool) -> str:
    clean = v.text(raw, ("url",), MAX_URL, required=True)
    if isinstance(clean, Problem):
        raise InputInvalid([clean])
    assert clean is not None  # required
    if any(ch.isspace() for ch in clean):
        raise invalid(("url",), "INVALID_URL", "The URL must not contain spaces.")
    try:
        parts = urlsplit(clean)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise invalid(("url",), "INVALID_URL", "Not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise invalid(("url",), "INVALID_URL", "The URL must start with http:// or https://.")
    if not host:
        raise invalid(("url",), "INVALID_URL", "The URL has no host.")
    reason = None if allow_private else address_refused(host)
    if reason:
        message = f"The URL's host {reason}; set JORNADA_WEBHOOKS_ALLOW_PRIVATE=true to allow it."
        raise invalid(("url",), "URL_NOT_ALLOWED", message)
    return clean


def check_events(raw: list[str] | None) -> list[str]:
    if not raw:
        raise invalid(("events",), "REQUIRED", f"Name at least one event: {', '.join(events.EVENT_TYPES)}.")
    unknown = [e for e in raw if e not in events.EVENT_TYPES]
    if unknown:
        message = f"Unknown events {unknown}; known: {', '.join(events.EVENT_TYPES)}."
        raise invalid(("events",), "UNKNOWN_EVENT", message)
    return [e for e in events.EVENT_TYPES if e in raw]  # each once, in a fixed order


def _description(raw: str | None) -> str:
    clean = v.text(raw or "", ("description",), 500)
    if isinstance(clean, Problem):
        raise InputInvalid([clean])
    return clean or ""


# --- endpoints ---------------------------------------------------------------------------------------


async def create_endpoint(
    workspace_id: int, url: str, event_types: list[str], description: str | None, allow_private: bool
) -> tuple[EndpointRecord, str]:
    """The endpoint and its secret (shown this once)."""
    now = datetime.now(UTC)
    secret = new_secret()
    row = await WebhookEndpoint.create(
        workspace_id=workspace_id,
        url=check_url(url, allow_private),
        events=check_events(event_types),
        description=_description(description),
        secret=secret,
        created_at=now,
        updated_at=now,
    )
    return _endpoint(row), secret


async def _own(workspace_id: int, endpoint_id: int) -> WebhookEndpoint:
    row = await WebhookEndpoint.filter(id=endpoint_id, workspace_id=workspace_id).first()
    if row is None:
        raise invalid(("id",), "NOT_FOUND", "No webhook endpoint with this id in this workspace.")
    return row


async def list_endpoints(workspace_id: int) -> list[EndpointRecord]:
    return [_endpoint(r) for r in await WebhookEndpoint.filter(workspace_id=workspace_id).order_by("id")]


async def get_endpoint(workspace_id: int, endpoint_id: int) -> EndpointRecord | None:
    row = await WebhookEndpoint.filter(id=endpoint_id, workspace_id=workspace_id).first()
    return None if row is None else _endpoint(row)


async def update_endpoint(
    workspace_id: int, endpoint_id: int, changes: dict[str, Any], allow_private: bool
) -> EndpointRecord:
    """Change the URL, events, description or `enabled`; enabling clears why it was disabled,
    and the deliveries waiting for it go out."""
    async with in_transaction():
        row = await _own(workspace_id, endpoint_id)
        if "url" in changes:
            row.url = check_url(changes["url"], allow_private)
        if "events" in changes:
            row.events = check_events(changes["events"])
        if "description" in changes:
            row.description = _description(changes["description"])
        if "enabled" in changes and changes["enabled"] is not None:
            enable = bool(changes["enabled"])
            if enable and not row.enabled:
                row.disabled_reason = None  # type: ignore[assignment]  # a nullable column
                row.disabled_at = row.failing_since = None
            elif not enable and row.enabled:
                row.disabled_reason = "Disabled by an admin."
                row.disabled_at = datetime.now(UTC)
            row.enabled = enable
        row.updated_at = datetime.now(UTC)
        await row.save()
    return _endpoint(row)


async def delete_endpoint(workspace_id: int, endpoint_id: int) -> None:
    """The endpoint and its deliveries, sent or not."""
    async with in_transaction():
        row = await _own(workspace_id, endpoint_id)
        await WebhookDelivery.filter(endpoint_id=row.id).delete()
        await row.delete()


async def rotate_secret(workspace_id: int, endpoint_id: int, overlap: timedelta) -> tuple[EndpointRecord, str]:
    """A new secret; the current one keeps signing beside it for `overlap` (at most 7 days)."""
    if overlap < timedelta(0) or overlap > MAX_OVERLAP:
        raise invalid(("overlapHours",), "OUT_OF_RANGE", "The overlap must be between 0 and 168 hours.")
    now = datetime.now(UTC)
    secret = new_secret()
    async with in_transaction():
        row = await _own(workspace_id, endpoint_id)
        row.previous_secret = row.secret if overlap else None
        row.previous_secret_expires_at = now + overlap if overlap else None
        row.secret, row.updated_at = secret, now
        await row.save()
    return _endpoint(row), secret


# --- deliveries ---------------------------------------------------------------------------------------


async def list_deliveries(
    workspace_id: int, endpoint_id: int, first: int, before_id: int | None = None, status: str | None = None
) -> list[DeliveryRecord]:
    """The endpoint's newest deliveries first (`first` + 1 of them, for paging)."""
    query = WebhookDelivery.filter(workspace_id=workspace_id, endpoint_id=endpoint_id)
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    if status is not None:
        query = query.filter(status=status)
    return [_delivery(r) for r in await query.order_by("-id").limit(first + 1)]


async def redeliver(workspace_id: int, delivery_id: int) -> DeliveryRecord:
    """Send a delivery again, whatever became of it, with the same `webhook-id` (a fresh
    schedule of retries)."""
    row = await WebhookDelivery.filter(id=delivery_id, workspace_id=workspace_id).first()
    if row is None:
        raise invalid(("id",), "NOT_FOUND", "No webhook delivery with this id in this workspace.")
    now = datetime.now(UTC)
    row.status, row.attempts, row.next_attempt_at = "PENDING", 0, now
    await row.save(update_fields=["status", "attempts", "next_attempt_at"])
    _wake()
    return _delivery(row)


async def send_test(workspace_id: int, endpoint_id: int) -> DeliveryRecord:
    """A `webhook.test` event to this endpoint only (even a disabled one is tried)."""
    row = await _own(workspace_id, endpoint_id)
    now = datetime.now(UTC)
    data = {"endpointId": global_id("WebhookEndpoint", row.id), "message": "A test event from Jornada."}
    delivery = await WebhookDelivery.create(
        workspace_id=workspace_id,
        endpoint_id=row.id,
        message_id=events.message_id(),
        event_type=events.TEST,
        payload=events.body(events.TEST, data, now),
        next_attempt_at=now,
        created_at=now,
    )
    _wake()
    return _delivery(delivery)


def _wake() -> None:
    for wake in list(events.WAKE):
        wake()
