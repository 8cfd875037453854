"""customer.health: the documented score from its parts, hand-worked, with the workspace's
weights (docs/metrics.md, Health score)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.models import CustomerValue
from api.workspaces import Role
from tests.conftest import RECORD, Api, new_customer, raw_id

pytestmark = pytest.mark.asyncio

HEALTH = """
query($id: ID!) { node(id: $id) { ... on Customer { health { score aliveSource parts { name value weight } } } } }
"""
WEIGHTS = """
mutation($w: HealthWeightsInput) { updateWorkspace(input: {healthWeights: $w}) {
  workspace { healthWeights { alive nps csat openTickets renewals } } userErrors { field code message } } }
"""


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


async def record(
    api: Api, customer: str, kind: str, days_ago: float, score: int | None = None, amount: str | None = None
) -> None:
    item: dict[str, Any] = {"customerId": customer, "kind": kind, "occurredAt": ago(days_ago)}
    if score is not None:
        item["score"] = score
    if amount is not None or kind == "renewal":
        item["amount"] = amount or "99"
    data = await api.data(RECORD, {"input": item})
    assert data["recordInteraction"]["userErrors"] == []


async def predicted(api: Api, customer: str, p_alive: float, clv: float | None = None) -> None:
    """A value-model prediction for the customer (a global id), as a fit would store it."""
    await store_prediction(api.workspace_id, raw_id(customer), p_alive, clv)


async def store_prediction(workspace_id: int, customer_id: int, p_alive: float, clv: float | None) -> None:
    await CustomerValue.create(
        workspace_id=workspace_id,
        customer_id=customer_id,
        frequency=2,
        recency_weeks=1.0,
        age_weeks=2.0,
        monetary=10.0,
        p_alive=p_alive,
        predicted_clv=clv,
        computed_at=datetime.now(UTC),
    )


async def health(api: Api, customer: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.data(HEALTH, {"id": customer}))["node"]["health"]
    return found


def parts(found: dict[str, Any]) -> dict[str, Any]:
    return {p["name"]: (None if p["value"] is None else round(p["value"], 4)) for p in found["parts"]}


async def test_the_score_is_the_weighted_mean_of_its_known_parts(api: Api) -> None:
    ana = (await new_customer(api, name="Ana", createdAt=ago(400)))["id"]
    await record(api, ana, "nps_response", 200, score=9)
    await record(api, ana, "nps_response", 100, score=6)  # the latest answer counts
    await record(api, ana, "csat_response", 90, score=5)
    for kind in ("support_ticket_opened", "support_ticket_opened", "support_ticket_resolved"):
        await record(api, ana, kind, 80)
    for kind in ("renewal", "renewal", "subscription_cancelled", "subscription_cancelled"):
        await record(api, ana, kind, 60)
    await record(api, ana, "site_visit", 36.5)  # the latest interaction: recency 1 - 36.5/365 = 0.9
    found = await health(api, ana)
    assert found["aliveSource"] == "recency"
    assert parts(found) == {"alive": 0.9, "nps": 0.6, "csat": 1.0, "openTickets": 0.5, "renewals": 0.5}
    assert {p["name"]: p["weight"] for p in found["parts"]} == {
        "alive": 0.35,
        "nps": 0.2,
        "csat": 0.15,
        "openTickets": 0.15,
        "renewals": 0.15,
    }
    # 100 × (0.35·0.9 + 0.2·0.6 + 0.15·1 + 0.15·0.5 + 0.15·0.5) = 73.5
    assert found["score"] == 73.5
    # a customer known only by its creation: unknown parts are left out, not counted as 0
    bia = (await new_customer(api, name="Bia", createdAt=ago(73)))["id"]
    only = await health(api, bia)
    assert parts(only) == {"alive": 0.8, "nps": None, "csat": None, "openTickets": 1.0, "renewals": None}
    assert only["score"] == 86.0  # 100 × (0.35·0.8 + 0.15·1) ÷ (0.35 + 0.15)


async def test_p_alive_replaces_recency_and_weights_are_the_workspaces(api: Api) -> None:
    ana = (await new_customer(api, name="Ana", createdAt=ago(10)))["id"]
    await record(api, ana, "nps_response", 5, score=10)
    await predicted(api, ana, p_alive=0.3)
    found = await health(api, ana)
    assert (found["aliveSource"], parts(found)["alive"]) == ("pAlive", 0.3)
    # 100 × (0.35·0.3 + 0.2·1 + 0.15·1) ÷ 0.7 = 65.0
    assert found["score"] == 65.0
    changed = await api.data(WEIGHTS, {"w": {"alive": 1, "nps": 0}})
    assert changed["updateWorkspace"]["userErrors"] == []
    assert changed["updateWorkspace"]["workspace"]["healthWeights"] == {
        "alive": 1.0,
        "nps": 0.0,
        "csat": 0.15,
        "openTickets": 0.15,
        "renewals": 0.15,
    }
    # nps weighs nothing now: 100 × (1·0.3 + 0.15·1) ÷ 1.15 = 39.1
    assert (await health(api, ana))["score"] == 39.1
    refused = await api.data(WEIGHTS, {"w": {"csat": -1}})
    assert [(e["field"], e["code"]) for e in refused["updateWorkspace"]["userErrors"]] == [
        (["healthWeights", "csat"], "INVALID_WEIGHT")
    ]
    nothing = await api.data(WEIGHTS, {"w": {"alive": 0, "csat": 0, "openTickets": 0, "renewals": 0}})
    assert [e["code"] for e in nothing["updateWorkspace"]["userErrors"]] == ["INVALID_WEIGHT"]
    editor = await api.key_for(Role.EDITOR)
    assert (await editor.run(WEIGHTS, {"w": {"alive": 2}}))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await health(api, ana))["score"] == 39.1
