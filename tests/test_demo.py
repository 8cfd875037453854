"""`jornada demo`: every stage of every built-in model has customers, and every metric has
something to show."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.cli_helpers import jornada, ok, served

pytestmark = pytest.mark.asyncio

QUERY = """{
  viewer { workspace { name models { model { key stages { key } } } valueModel { error customers } } }
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
    created = ok(await jornada(url, "demo", "--customers", "90", "--json", cwd=tmp_path)).json()
    assert created["customers"] == 90
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
