"""`jornada demo`: every stage of every built-in model has customers, and every metric has
something to show."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_helpers import jornada, ok, served

pytestmark = pytest.mark.asyncio

QUERY = """{
  viewer { workspace { name models { model { key stages { key } } } valueModel { status reasons error customers } } }
  slipping: customers(filter: {pAliveBelow: 0.3}, first: 100) {
    totalCount edges { node { stage(model: "funnel") { stage { category } } } }
  }
  flow: metrics(model: "funnel") {
    strict: funnel(mode: STRICT) { stage { key } count conversionFromPrevious }
    cumulative: funnel { count conversionFromPrevious cumulativeConversion }
    series { churnRate retentionRate }
    cac { perChannel { channel spend cac reason } }
    predictiveClv { status meanPAlive }
  }
  funnel: metrics(model: "funnel") { ...all }
  threePhase: metrics(model: "three-phase") { ...all }
  lifespan: metrics(model: "lifespan") { ...all }
  fivePhase: metrics(model: "five-phase") { ...all }
}
fragment all on Metrics {
  stageDistribution { stage { key } count }
  funnel(mode: ANY) { count }
  timeInStage { days { count } }
  velocity { count }
  churn { rate customersAtStart }
  retention { rate }
  cohorts { size }
  averageLifetime { customers }
  renewalRate { rate }
  revenue
  historicClv { value unbounded }
  predictiveClv { customers }
  cac { value perChannel { channel } }
  clvToCac
  nps { responses }
  csat { responses }
  series { revenue }
}"""


async def test_the_demo_fills_every_stage_and_every_metric(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'demo.sqlite3'}"
    created = ok(await jornada(url, "demo", "--customers", "200", "--json", cwd=tmp_path)).json()
    assert created["customers"] == 200
    async with served(url) as client:
        response = await client.post(
            "/graphql", json={"query": QUERY}, headers={"Authorization": f"Bearer {created['apiKey']}"}
        )
    body = response.json()
    assert "errors" not in body, body.get("errors")
    data = body["data"]
    workspace = data["viewer"]["workspace"]
    assert workspace["valueModel"]["error"] is None
    assert workspace["valueModel"]["customers"] > 10
    expected = {m["model"]["key"]: {s["key"] for s in m["model"]["stages"]} for m in workspace["models"]}
    assert set(expected) == {"funnel", "three-phase", "lifespan", "five-phase"}
    for alias, key in (
        ("funnel", "funnel"),
        ("threePhase", "three-phase"),
        ("lifespan", "lifespan"),
        ("fivePhase", "five-phase"),
    ):
        metrics = data[alias]
        empty = [d["stage"]["key"] for d in metrics["stageDistribution"] if d["count"] == 0]
        assert empty == [], f"{key}: no demo customer in {empty}"
        assert {d["stage"]["key"] for d in metrics["stageDistribution"]} == expected[key]
        assert metrics["churn"]["rate"] is not None
        assert metrics["churn"]["customersAtStart"] > 0
        assert metrics["retention"]["rate"] is not None
        assert metrics["velocity"]["count"] > 0
        assert len(metrics["cohorts"]) >= 6
        assert metrics["averageLifetime"]["customers"] > 0
        assert sum(s["days"]["count"] for s in metrics["timeInStage"]) > 0
        assert metrics["historicClv"]["value"] is not None
        assert metrics["clvToCac"] is not None
    m = data["funnel"]
    assert Decimal(m["revenue"]) > 0
    assert m["renewalRate"]["rate"] is not None
    assert m["predictiveClv"]["customers"] > 10
    assert Decimal(m["cac"]["value"]) > 0
    assert {c["channel"] for c in m["cac"]["perChannel"]} >= {"google_ads", "meta_ads", "instagram", "events"}
    assert m["nps"]["responses"] > 0
    assert m["csat"]["responses"] > 0
    assert sum(Decimal(s["revenue"]) > 0 for s in m["series"]) >= 6

    # A business with real churn: the value model sees customers drop out (a fit that is not
    # degenerate), P(alive) spreads out, and "who is slipping away?" finds customers, most of
    # whom the rules have churned too.
    assert (workspace["valueModel"]["status"], workspace["valueModel"]["reasons"]) == ("OK", [])
    flow = data["flow"]
    assert flow["predictiveClv"]["status"] == "OK"
    assert 0.5 < flow["predictiveClv"]["meanPAlive"] < 0.95
    slipping = data["slipping"]
    assert slipping["totalCount"] >= 5
    gone = [e for e in slipping["edges"] if e["node"]["stage"]["stage"]["category"] == "CHURNED"]
    assert len(gone) >= 0.6 * len(slipping["edges"])
    # Journeys pass through every funnel step, in order, at believable rates.
    strict = flow["strict"]
    assert [s["stage"]["key"] for s in strict] == [
        "prospect",
        "lead",
        "mql",
        "sql",
        "opportunity",
        "customer",
        "advocate",
    ]
    assert all(s["count"] > 0 for s in strict), strict
    assert all(0.2 <= s["conversionFromPrevious"] <= 0.95 for s in strict[1:]), strict
    counts = [s["count"] for s in flow["cumulative"]]
    assert counts == sorted(counts, reverse=True)
    for step in flow["cumulative"][1:]:
        assert 0 <= step["conversionFromPrevious"] <= 1
        assert 0 <= step["cumulativeConversion"] <= 1
    # Every month's rates are rates, and customers churn in most months (not a flat 100% retention).
    rates = [(m["churnRate"], m["retentionRate"]) for m in flow["series"] if m["churnRate"] is not None]
    assert all(0 <= c <= 1 and 0 <= r <= 1 and c + r <= 1 + 1e-9 for c, r in rates), rates
    assert sum(c > 0 for c, _ in rates) >= len(rates) // 2
    # Spend on each paid channel; the channels without spend have an unknown CAC, with the reason.
    per = {c["channel"]: c for c in flow["cac"]["perChannel"]}
    for paid in ("google_ads", "meta_ads", "instagram", "events"):
        assert Decimal(per[paid]["spend"]) > 0
    unpaid = [c for c in per.values() if c["spend"] is None]
    assert unpaid
    assert all(c["cac"] is None and c["reason"] for c in unpaid)
