"""Helpers for the lifecycle story tests: one customer's history written in time order, replayed
through a model in memory (no database), and the same story told over the GraphQL API."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from api.lifecycle import Tracked, replay_customer
from api.records import CustomerRecord, InteractionRecord
from plugins.engine import Position
from plugins.types import LifecycleModel
from tests.conftest import Api

# A Monday morning, UTC: every story starts here.
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)

# (from stage, to stage, rule, when): one recorded move, as an admin reads a customer's history.
Step = tuple[str | None, str, str | None, datetime]


def day(n: float, hours: float = 0) -> datetime:
    """`n` days (and `hours` hours) after T0."""
    return T0 + timedelta(days=n, hours=hours)


_ids = itertools.count(1)


def customer(created_at: datetime = T0, **profile: Any) -> CustomerRecord:
    """A customer in memory; `profile` sets job_title, industry, tags, attributes..."""
    fields: dict[str, Any] = {
        "id": 7,
        "workspace_id": 1,
        "external_id": None,
        "name": "Ana",
        "sort_name": "ana",
        "email": None,
        "phone": None,
        "company": None,
        "job_title": None,
        "industry": None,
        "address": None,
        "social_profiles": [],
        "tags": [],
        "attributes": {},
        "acquisition_channel": None,
        "created_at": created_at,
        "updated_at": created_at,
    }
    fields.update(profile)
    return CustomerRecord(**fields)


def did(
    kind: str,
    at: datetime,
    amount: str | Decimal | None = None,
    score: int | None = None,
    **properties: Any,
) -> InteractionRecord:
    """An interaction of the story's customer, `kind` at `at`."""
    return InteractionRecord(
        id=next(_ids),
        workspace_id=1,
        customer_id=7,
        kind=kind,
        channel=None,
        occurred_at=at,
        amount=Decimal(amount) if isinstance(amount, str) else amount,
        score=score,
        properties=properties,
        idempotency_key=None,
        created_at=at,
    )


def bought(at: datetime, amount: str = "100.00", product: str | None = None) -> InteractionRecord:
    return did("purchase", at, amount, **({"product": product} if product else {}))


@dataclass
class Replayed:
    """Where the customer ends up and every recorded move, oldest first."""

    position: Position
    steps: list[Step] = field(default_factory=list)
    interaction_ids: list[int | None] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.position.stage

    @property
    def path(self) -> list[str]:
        """The stages the customer went through, in order."""
        return [s[1] for s in self.steps]


def replay(
    model: LifecycleModel,
    records: Sequence[InteractionRecord],
    now: datetime,
    who: CustomerRecord | None = None,
    **params: Any,
) -> Replayed:
    """`records` (in time order) through `model` with its defaults overridden by `params`."""
    tracked = Tracked(model, {**model.defaults, **params}, True)
    position, moves = replay_customer(tracked, who or customer(), records, now)
    return Replayed(
        position,
        [(m.from_stage, m.to_stage, m.rule, m.occurred_at) for m in moves],
        [m.interaction_id for m in moves],
    )


# --- the same stories over the API ------------------------------------------------------------

SWITCH = """
mutation($input: SwitchLifecycleModelInput!) {
  switchLifecycleModel(input: $input) {
    workspace { id }
    transitionsWritten
    userErrors { field code message }
  }
}
"""

RECORD_STEP = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    interaction { id }
    transitions { modelKey from { key } to { key } rule cause occurredAt }
    userErrors { field code message }
  }
}
"""

CUSTOMER_STORY = """
query($id: ID!) {
  node(id: $id) {
    ... on Customer {
      stage { stage { key } enteredAt nextCheckAt }
      history(first: 100) {
        edges { node { from { key } to { key } rule cause occurredAt } }
      }
    }
  }
}
"""


async def switch_primary_model(api: Api, key: str) -> None:
    """Make `key` the workspace's primary model (by replay: there are no customers yet)."""
    data = await api.data(SWITCH, {"input": {"model": key, "strategy": "REPLAY"}})
    assert data["switchLifecycleModel"]["userErrors"] == []


def _step(node: dict[str, Any]) -> Step:
    source = node["from"]["key"] if node["from"] else None
    return (source, node["to"]["key"], node["rule"], datetime.fromisoformat(node["occurredAt"]))


async def record_step(api: Api, model: str, customer_id: str, kind: str, at: datetime, **fields: Any) -> list[Step]:
    """Record one interaction through the API; the moves it caused in `model`."""
    data = await api.data(
        RECORD_STEP,
        {"input": {"customerId": customer_id, "kind": kind, "occurredAt": at.isoformat(), **fields}},
    )
    payload = data["recordInteraction"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return [_step(t) for t in payload["transitions"] if t["modelKey"] == model]


async def customer_story(api: Api, customer_id: str) -> tuple[str, list[Step], set[str]]:
    """The customer's current stage, the moves of its history (oldest first) and their causes."""
    data = await api.data(CUSTOMER_STORY, {"id": customer_id})
    node = data["node"]
    edges = [e["node"] for e in node["history"]["edges"]]
    return node["stage"]["stage"]["key"], [_step(n) for n in edges], {n["cause"] for n in edges}
