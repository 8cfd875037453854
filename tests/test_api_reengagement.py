"""Customers filtered and ordered by health, and the re-engagement list: who is worth winning
back now, ordered by value at risk, with the reasons; hand-worked on five customers."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import Api, new_customer
from tests.test_api_health import ago, predicted, record

pytestmark = pytest.mark.asyncio

LIST = """
query($filter: CustomerFilter, $orderBy: [CustomerOrder!]) {
  customers(first: 50, filter: $filter, orderBy: $orderBy) { edges { node {
    name health { score } reengagement { worthWinningBack valueAtRisk reasons } } } }
}
"""


@pytest_asyncio.fixture
async def five(api: Api) -> Api:
    """Ana, Bia and Caio paid and have predictions (P(alive) 0.2, 0.9, 0.4; CLV 1000, 2000,
    500: at risk 800, 200, 300); Davi never paid and is 400 days old; Eva paid 330 days ago and
    has no prediction. Health (no answers, no tickets): Ana 44, Bia 93, Caio 58, Davi 30
    (recency 0), Eva 36.7 (recency 1 − 330/365)."""
    people = {}
    for name in ("Ana", "Bia", "Caio", "Davi", "Eva"):
        people[name] = (await new_customer(api, name=name, createdAt=ago(400)))["id"]
    for name, days in (("Ana", 20), ("Bia", 10), ("Caio", 40), ("Eva", 330)):
        await record(api, people[name], "purchase", days, amount="50")
    await predicted(api, people["Ana"], 0.2, 1000)
    await predicted(api, people["Bia"], 0.9, 2000)
    await predicted(api, people["Caio"], 0.4, 500)
    return api


async def listed(api: Api, **variables: Any) -> list[dict[str, Any]]:
    data = await api.data(LIST, variables)
    return [e["node"] for e in data["customers"]["edges"]]


async def test_filter_and_order_by_health(five: Api) -> None:
    by_health = await listed(five, orderBy=[{"field": "HEALTH", "direction": "ASC"}])
    assert [(c["name"], c["health"]["score"]) for c in by_health] == [
        ("Davi", 30.0),
        ("Eva", 36.7),
        ("Ana", 44.0),
        ("Caio", 58.0),
        ("Bia", 93.0),
    ]
    low = await listed(five, filter={"healthBelow": 40}, orderBy=[{"field": "HEALTH", "direction": "DESC"}])
    assert [c["name"] for c in low] == ["Eva", "Davi"]
    middle = await listed(five, filter={"healthAtLeast": 40, "healthBelow": 60})
    assert sorted(c["name"] for c in middle) == ["Ana", "Caio"]
    bad = await five.run(LIST, {"filter": {"not": {"healthBelow": 101}}})
    assert bad["errors"][0]["extensions"]["field"] == ["filter", "not", "healthBelow"]


async def test_the_reengagement_list_by_value_at_risk_with_reasons(five: Api) -> None:
    order = [{"field": "VALUE_AT_RISK", "direction": "DESC"}]
    found = await listed(five, filter={"reengage": {}}, orderBy=order)
    # Ana (P(alive) 0.2 < 0.5, 800 at risk), Caio (0.4, 300), Eva (health 36.7 < 40, no
    # prediction: last); not Bia (0.9, health 93) nor Davi (never paid, though health 30).
    assert [(c["name"], c["reengagement"]["valueAtRisk"]) for c in found] == [
        ("Ana", "800.00"),
        ("Caio", "300.00"),
        ("Eva", None),
    ]
    ana = found[0]["reengagement"]
    assert ana["worthWinningBack"] is True
    assert ana["reasons"][0] == "P(alive) 0.20 is below 0.5"
    assert ana["reasons"][1].startswith("last paid on ")
    assert ana["reasons"][1].endswith("(20 days ago)")
    assert found[2]["reengagement"]["reasons"][0] == "health 36.7 is below 40"
    everyone = {c["name"]: c["reengagement"] for c in await listed(five)}
    assert everyone["Davi"]["worthWinningBack"] is False
    assert everyone["Davi"]["reasons"] == ["health 30 is below 40", "has never paid"]
    assert everyone["Bia"]["worthWinningBack"] is False
    # stricter thresholds: only the most slipping
    strict = await listed(five, filter={"reengage": {"pAliveBelow": 0.3, "healthBelow": 20}}, orderBy=order)
    assert [c["name"] for c in strict] == ["Ana"]
    refused = await five.run(LIST, {"filter": {"reengage": {"pAliveBelow": 2}}})
    assert refused["errors"][0]["extensions"]["field"] == ["filter", "reengage", "pAliveBelow"]
    two = await five.run(LIST, {"orderBy": [{"field": "HEALTH", "direction": "ASC"}, {"field": "VALUE_AT_RISK"}]})
    assert two["errors"][0]["extensions"]["reason"] == "INVALID_ORDER"


async def test_the_metrics_show_the_health_distribution(five: Api) -> None:
    query = (
        "query($s: CustomerFilter) { metrics(segment: $s) { health { customers mean median "
        "buckets { from to customers } } } }"
    )
    found = (await five.data(query))["metrics"]["health"]
    # 30, 36.7, 44, 58, 93
    assert (found["customers"], found["mean"], found["median"]) == (5, 52.3, 44.0)
    assert [b["customers"] for b in found["buckets"]] == [0, 0, 0, 2, 1, 1, 0, 0, 0, 1]
    assert (found["buckets"][3]["from"], found["buckets"][3]["to"]) == (30, 40)
    worth = (await five.data(query, {"s": {"reengage": {}}}))["metrics"]["health"]
    assert (worth["customers"], worth["mean"], worth["median"]) == (3, 46.2, 44.0)
    none = (await five.data(query, {"s": {"tag": "nobody"}}))["metrics"]["health"]
    assert (none["customers"], none["mean"], none["median"]) == (0, None, None)
