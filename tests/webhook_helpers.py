"""GraphQL documents and helpers shared by the webhook tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.db import connection
from api.settings import Settings
from api.webhook_delivery import DeliveryWorker, WorkerSettings
from tests.conftest import Api
from tests.webhook_receiver import Receiver, receiver

CREATE = """
mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) {
    endpoint { id url events description enabled }
    secret
    userErrors { field code message }
  }
}
"""

UPDATE = """
mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) {
    endpoint { id url events enabled disabledReason disabledAt failingSince }
    userErrors { field code message }
  }
}
"""

ROTATE = """
mutation($input: RotateWebhookSecretInput!) {
  rotateWebhookSecret(input: $input) {
    endpoint { id previousSecretExpiresAt }
    secret
    userErrors { field code message }
  }
}
"""

REDELIVER = """
mutation($input: RedeliverWebhookInput!) {
  redeliverWebhook(input: $input) { delivery { id status attempts } userErrors { field code message } }
}
"""

SEND_TEST = """
mutation($input: WebhookEndpointIdInput!) {
  sendTestWebhook(input: $input) { delivery { id eventType status } userErrors { field code message } }
}
"""

DELETE = """
mutation($input: WebhookEndpointIdInput!) {
  deleteWebhookEndpoint(input: $input) { deletedId userErrors { field code message } }
}
"""

ENDPOINTS = """
query($status: WebhookDeliveryStatus) { viewer { workspace { webhookEndpoints {
  id url events enabled disabledReason failingSince
  deliveries(status: $status) {
    id messageId eventType status attempts responseStatus lastError nextAttemptAt lastAttemptAt deliveredAt payload
  }
} } } }
"""

ALL_EVENTS = ["stage.changed", "customer.created", "customer.deleted", "interaction.recorded"]


async def create_endpoint(api: Api, url: str, events: list[str] | None = None, **extra: Any) -> tuple[str, str]:
    """A new endpoint's global id and secret."""
    data = await api.data(CREATE, {"input": {"url": url, "events": events or ALL_EVENTS, **extra}})
    payload = data["createWebhookEndpoint"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload["endpoint"]["id"], payload["secret"]


async def endpoints(api: Api, status: str | None = None) -> list[dict[str, Any]]:
    data = await api.data(ENDPOINTS, {"status": status})
    found: list[dict[str, Any]] = data["viewer"]["workspace"]["webhookEndpoints"]
    return found


async def deliveries(api: Api, status: str | None = None) -> list[dict[str, Any]]:
    """Every delivery of the workspace's first endpoint, newest first."""
    found: list[dict[str, Any]] = (await endpoints(api, status))[0]["deliveries"]
    return found


def worker(**changes: Any) -> DeliveryWorker:
    """A worker as the server runs it, allowed to reach the test's loopback receiver."""
    return DeliveryWorker(WorkerSettings(allow_private=True, timeout=2.0, **changes))


async def execute(sql: str) -> None:
    """A statement that moves the clock of the outbox for a test (no parameters)."""
    await connection().execute_query(sql)


@pytest.fixture
def private_settings(database_url: str) -> Settings:
    """Settings whose endpoints may be on 127.0.0.1, where the tests' receivers listen."""
    return Settings(database_url=database_url, webhooks_allow_private=True)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    """A real receiver on 127.0.0.1 for the test."""
    with receiver() as r:
        yield r
