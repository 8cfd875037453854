"""docs/webhooks.md against the code: each event's documented fields are the ones sent, the
receiver it gives works on real deliveries, and its settings and retry schedule are the code's."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from api.settings import Settings
from api.webhook_delivery import SCHEDULE
from api.webhook_events import EVENT_TYPES, TEST
from tests.conftest import Api, new_customer
from tests.lifecycle_helpers import ago, record
from tests.webhook_helpers import SEND_TEST, create_endpoint, hooks, private_settings, worker
from tests.webhook_receiver import Receiver

__all__ = ["hooks", "private_settings"]  # fixtures

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "webhooks.md").read_text()


@pytest.fixture
def settings(private_settings: Settings) -> Settings:
    return private_settings


def documented_event(name: str) -> dict[str, Any]:
    found = re.search(rf"^### `{re.escape(name)}`\n(.*?)(?=^### |^## |\Z)", DOC, re.MULTILINE | re.DOTALL)
    assert found, f"docs/webhooks.md does not document {name}"
    block = re.search(r"```json\n(.*?)```", found.group(1), re.DOTALL)
    assert block, f"{name}: no JSON example"
    example: dict[str, Any] = json.loads(block.group(1))
    return example


def code_block(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.DOTALL)
    assert found, f"no {language} block"
    return found.group(1)


@pytest.mark.asyncio
async def test_each_event_sends_the_documented_fields(api: Api, hooks: Receiver) -> None:
    endpoint_id, secret = await create_endpoint(api, hooks.url)
    hooks.secrets.append(secret)
    ana = await new_customer(api, name="Ana", createdAt=ago(9))
    await record(api, ana["id"], "purchase", ago(2), amount="12.50")
    await api.data(
        "mutation($i: DeleteCustomerInput!) { deleteCustomer(input: $i) { deletedCustomerId } }",
        {"i": {"id": ana["id"]}},
    )
    await api.data(SEND_TEST, {"input": {"id": endpoint_id}})
    await worker().drain()
    for name in (*EVENT_TYPES, TEST):
        sent = hooks.of(name)
        assert sent, f"no {name} was sent"
        assert sorted(sent[0].data) == sorted(documented_event(name)), name


@pytest.mark.asyncio
async def test_the_documented_receiver_takes_each_event_once(api: Api, hooks: Receiver) -> None:
    _, secret = await create_endpoint(api, hooks.url, ["customer.created"])
    hooks.secrets.append(secret)
    await new_customer(api, name="Ana")
    await worker().drain()
    ((body, headers),) = hooks.raw

    namespace: dict[str, Any] = {}
    exec(compile(code_block("python").replace("whsec_...", secret), "docs/webhooks.md", "exec"), namespace)
    receive = namespace["receive"]
    status, event = receive(body, headers)
    assert status == 204
    assert event["type"] == "customer.created"
    assert event["data"]["name"] == "Ana"
    assert receive(body, headers) == (204, None)  # the same webhook-id again
    assert receive(body.replace(b"Ana", b"Eve"), headers) == (401, None)


def test_the_settings_table_lists_every_webhook_setting() -> None:
    source = (ROOT / "api" / "settings.py").read_text()
    names = set(re.findall(r'"(JORNADA_WEBHOOKS_[A-Z_]+)"', source))
    assert len(names) >= 4
    documented = set(re.findall(r"^\| `(JORNADA_WEBHOOKS_[A-Z_]+)` \|", DOC, re.MULTILINE))
    assert documented == names
    for name, default in re.findall(r'_(?:bool|int)\(env, "(JORNADA_WEBHOOKS_[A-Z_]+)", (\w+)\)', source):
        assert f"| `{name}` | `{str(default).lower()}` |" in DOC


def _span(seconds: int) -> str:
    return f"{seconds // 3600} h" if seconds >= 3600 else f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


def test_the_retry_schedule_is_the_code_s() -> None:
    distinct = list(dict.fromkeys(SCHEDULE))
    text = ", ".join(_span(s) for s in distinct[:-1]) + f", then every {_span(distinct[-1])}"
    assert f"tried again after {text}" in " ".join(DOC.split())
    assert f"{len(SCHEDULE) + 1} attempts over about {round(sum(SCHEDULE) / 3600)} hours" in " ".join(DOC.split())
