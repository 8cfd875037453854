"""GraphQL documents and helpers shared by the lifecycle tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import RECORD, Api

STAGE = """
query($id: ID!, $model: String) {
  node(id: $id) { ... on Customer {
    stage(model: $model) { stage { key } enteredAt nextCheckAt }
    history(model: $model, first: 50) { edges { node {
      from { key } to { key } cause rule actor note occurredAt modelVersion interaction { kind }
    } } }
  } }
}
"""

MOVE = """
mutation($input: MoveCustomerInput!) {
  moveCustomer(input: $input) {
    customer { id }
    transition { from { key } to { key } cause actor note }
    userErrors { field code message }
  }
}
"""

SWITCH = """
mutation($input: SwitchLifecycleModelInput!) {
  switchLifecycleModel(input: $input) {
    workspace { primaryModel { key } models { model { key } isPrimary tracked } }
    distribution { stage { key } count share }
    transitionsWritten
    userErrors { field code message }
  }
}
"""

TRACK = """
mutation($input: TrackLifecycleModelInput!) {
  trackLifecycleModel(input: $input) {
    workspace { models { model { key } isPrimary tracked } }
    distribution { stage { key } count }
    transitionsWritten
    userErrors { field code message }
  }
}
"""


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def record(api: Api, customer_id: str, kind: str, occurred_at: str, **extra: Any) -> dict[str, Any]:
    data = await api.data(
        RECORD, {"input": {"customerId": customer_id, "kind": kind, "occurredAt": occurred_at, **extra}}
    )
    payload: dict[str, Any] = data["recordInteraction"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


async def stage_of(api: Api, customer_id: str, model: str | None = None) -> dict[str, Any]:
    data = await api.data(STAGE, {"id": customer_id, "model": model})
    node: dict[str, Any] = data["node"]
    return node


def moves(node: dict[str, Any]) -> list[tuple[str | None, str, str]]:
    """(from, to, cause) of every move in a customer's history, oldest first."""
    return [
        ((e["node"]["from"] or {}).get("key"), e["node"]["to"]["key"], e["node"]["cause"])
        for e in node["history"]["edges"]
    ]


def pairs(transitions: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    """(from, to) of moves in a payload; from is None for a customer's first stage."""
    return [((t["from"] or {}).get("key"), t["to"]["key"]) for t in transitions]
