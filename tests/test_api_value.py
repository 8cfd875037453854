"""Customer value over GraphQL: revenue so far, the fitted value model, predictions, ordering by
predicted CLV and filtering by P(alive)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette

from api import value as value_service
from api.customers import create_customer
from api.db import connection, dialect_of
from api.ids import global_id
from api.interactions import NewInteraction, record_many
from tests.conftest import Api, new_customer
from tests.lifecycle_helpers import ago, record

pytestmark = pytest.mark.asyncio

VALUE = """query($id: ID!) { node(id: $id) { ... on Customer { value {
  revenue orders firstPurchaseAt lastPurchaseAt repeatPurchases expectedPurchases pAlive expectedSpend predictedClv
} } } }"""
REFRESH = """mutation($input: RefreshValueModelInput!) { refreshValueModel(input: $input) {
  valueModel { customers repeatCustomers error calibrationEnd bgnbd { r alpha a b } gammaGamma { p q gamma } }
  userErrors { field code message } } }"""


async def test_revenue_so_far_counts_purchases_and_renewals_minus_refunds(api: Api) -> None:
    c = await new_customer(api, name="Ana")
    await record(api, c["id"], "purchase", ago(10), amount="100.50")
    await record(api, c["id"], "renewal", ago(5), amount="49.50")
    await record(api, c["id"], "refund", ago(4), amount="20")
    value = (await api.data(VALUE, {"id": c["id"]}))["node"]["value"]
    assert Decimal(value["revenue"]) == Decimal("130.00")
    assert value["orders"] == 1
    # Before any fit there is no prediction.
    assert value["predictedClv"] is None
    assert value["pAlive"] is None


async def test_a_fit_without_repeat_purchases_is_stored_as_an_explained_error(api: Api) -> None:
    c = await new_customer(api, name="Ana")
    await record(api, c["id"], "purchase", ago(3), amount="10")
    data = await api.data(REFRESH, {"input": {}})
    model = data["refreshValueModel"]["valueModel"]
    assert model["customers"] == 1
    assert model["repeatCustomers"] == 0
    assert "repeat purchase" in model["error"]
    assert model["bgnbd"] is None
    bad = await api.data(REFRESH, {"input": {"horizonWeeks": 0}})
    assert bad["refreshValueModel"]["userErrors"][0]["field"] == ["horizonWeeks"]


async def _history(api: Api, app: Starlette) -> dict[str, int]:
    """80 customers over a year: loyal ones buying every few weeks up to now, and lapsed ones who
    bought often early and then stopped."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    start = now - timedelta(days=365)
    lifecycle, kinds = app.state.lifecycle, app.state.plugins.kinds
    ids: dict[str, int] = {}
    items: list[NewInteraction] = []
    for n in range(80):
        loyal = n % 2 == 0
        saved = await create_customer(
            api.workspace_id, {"name": f"{'Fiel' if loyal else 'Sumido'} {n:02d}"}, now=start, lifecycle=lifecycle
        )
        ids[saved.customer.name or ""] = saved.customer.id
        t = start + timedelta(days=rng.uniform(0, 20))
        last = now - timedelta(days=2) if loyal else start + timedelta(days=120)
        while t < last:
            items.append(
                NewInteraction(saved.customer.id, "purchase", t, amount=Decimal(rng.choice(["50", "80", "120"])))
            )
            t += timedelta(days=rng.uniform(10, 30))
    results = await record_many(api.workspace_id, items, kinds, now=now, lifecycle=lifecycle)
    assert all(not isinstance(r, list) for r in results)
    return ids


async def test_a_fit_predicts_who_is_alive_and_orders_customers_by_predicted_clv(api: Api, app: Starlette) -> None:
    ids = await _history(api, app)
    data = await api.data(REFRESH, {"input": {"horizonWeeks": 26}})
    model = data["refreshValueModel"]["valueModel"]
    assert model["error"] is None
    assert model["customers"] == 80
    assert model["bgnbd"]["r"] > 0
    assert model["gammaGamma"]["p"] > 0
    top = await api.data(
        "{ customers(first: 10, orderBy: [{field: PREDICTED_CLV, direction: DESC}]) "
        "{ edges { cursor node { name value { predictedClv pAlive } } } pageInfo { endCursor } } }"
    )
    edges = top["customers"]["edges"]
    values = [Decimal(e["node"]["value"]["predictedClv"]) for e in edges]
    assert values == sorted(values, reverse=True)
    # The most valuable customers are the ones still buying.
    assert all(e["node"]["name"].startswith("Fiel") for e in edges), [
        (e["node"]["name"], e["node"]["value"]) for e in edges
    ]
    more = await api.data(
        "query($after: String) { customers(first: 100, after: $after, "
        "orderBy: [{field: PREDICTED_CLV, direction: DESC}]) { edges { node { name value { predictedClv } } } } }",
        {"after": top["customers"]["pageInfo"]["endCursor"]},
    )
    rest = [Decimal(e["node"]["value"]["predictedClv"]) for e in more["customers"]["edges"]]
    assert len(rest) == 70
    assert max(rest) <= min(values)
    # Who is slipping away? The lapsed customers have a low probability of being alive.
    slipping = await api.data(
        "{ customers(first: 100, filter: {pAliveBelow: 0.5}) { totalCount edges { node { name } } } }"
    )
    names = [e["node"]["name"] for e in slipping["customers"]["edges"]]
    assert slipping["customers"]["totalCount"] >= 30
    assert all(name.startswith("Sumido") for name in names), names
    alive = await api.data("{ customers(filter: {pAliveAtLeast: 0.5}) { totalCount } }")
    assert alive["customers"]["totalCount"] + slipping["customers"]["totalCount"] == 80
    summary = await api.data("{ metrics { predictiveClv { customers meanPAlive mean total horizonWeeks } } }")
    clv = summary["metrics"]["predictiveClv"]
    assert clv["customers"] == 80
    assert clv["horizonWeeks"] == 26
    assert Decimal(clv["total"]) == pytest.approx(Decimal(clv["mean"]) * 80, rel=Decimal("0.001"))
    assert ids


async def test_the_gross_margin_is_a_workspace_setting_used_by_historic_clv(api: Api) -> None:
    update = """mutation($m: Decimal) { updateWorkspace(input: {grossMargin: $m}) {
        workspace { grossMargin } userErrors { field code } } }"""
    default = await api.data("{ metrics { historicClv { grossMargin } } }")
    assert Decimal(default["metrics"]["historicClv"]["grossMargin"]) == 1
    bad = await api.data(update, {"m": "1.5"})
    assert bad["updateWorkspace"]["userErrors"] == [{"field": ["grossMargin"], "code": "INVALID_MARGIN"}]
    ok = await api.data(update, {"m": "0.35"})
    assert Decimal(ok["updateWorkspace"]["workspace"]["grossMargin"]) == Decimal("0.35")
    after = await api.data("{ metrics { historicClv { grossMargin } } }")
    assert Decimal(after["metrics"]["historicClv"]["grossMargin"]) == Decimal("0.35")


async def test_workers_refitting_one_workspace_at_once_all_succeed_and_one_fit_remains(api: Api) -> None:
    from api import value
    from api.models import ValueModel

    c = await new_customer(api, name="Ana")
    await record(api, c["id"], "purchase", ago(30), amount="10")
    await record(api, c["id"], "purchase", ago(10), amount="20")
    fits = await asyncio.gather(*(value.refresh(api.workspace_id) for _ in range(4)))
    assert len(fits) == 4
    assert await ValueModel.filter(workspace_id=api.workspace_id).count() == 1


STATUS = """mutation { refreshValueModel(input: {}) { valueModel {
  status reasons fittedAt attemptedAt error data { customers repeatCustomers spendCustomers repeatPurchases }
  bgnbd { a b logLikelihood } gammaGamma { q logLikelihood } } userErrors { message } } }"""
PREDICTIVE = "{ metrics { predictiveClv { status reasons fittedAt customers meanPAlive } } }"


async def _buyers(api: Api, app: Starlette, plan: list[list[tuple[float, str]]]) -> list[int]:
    """One customer per entry of `plan`, each buying (days ago, amount) as listed."""
    now = datetime.now(UTC)
    lifecycle, kinds = app.state.lifecycle, app.state.plugins.kinds
    ids, items = [], []
    for n, purchases in enumerate(plan):
        saved = await create_customer(
            api.workspace_id, {"name": f"C{n}"}, now=now - timedelta(days=400), lifecycle=lifecycle
        )
        ids.append(saved.customer.id)
        items += [
            NewInteraction(saved.customer.id, "purchase", now - timedelta(days=d), amount=Decimal(a))
            for d, a in purchases
        ]
    results = await record_many(api.workspace_id, items, kinds, now=now, lifecycle=lifecycle)
    assert all(not isinstance(r, list) for r in results)
    return ids


def _varied_plan(seed: int, customers: int) -> list[list[tuple[float, str]]]:
    """Customers whose spend per purchase varies as the Gamma-Gamma model has it (Gamma(6, ν) with
    each customer's ν ~ Gamma(3, 1/15): means from a few units to a few hundred), some still buying
    every few weeks up to the last days, others stopped the better part of a year ago."""
    rng = random.Random(seed)
    plan = []
    for n in range(customers):
        nu = rng.gammavariate(3, 1 / 15)
        day = rng.uniform(2, 10) if n % 2 == 0 else rng.uniform(200, 300)
        purchases = []
        for _ in range(rng.randrange(2, 6)):
            purchases.append((day, f"{rng.gammavariate(6, 1 / nu):.2f}"))
            day += rng.uniform(12, 40)
        plan.append(purchases)
    return plan


async def test_one_customer_with_free_repeat_purchases_does_not_fail_the_fit(api: Api, app: Starlette) -> None:
    # A customer whose repeat purchases are all free (zero-valued): no spend to learn from.
    free, *others = await _buyers(api, app, [[(300, "40"), (200, "0"), (100, "0")], *_varied_plan(5, 80)])
    model = (await api.data(STATUS))["refreshValueModel"]["valueModel"]
    # Gamma-Gamma is fitted without it; BG/NBD with it: the fit holds (was "did not converge").
    assert model["status"] == "OK", model["reasons"]
    assert model["data"]["customers"] == 81
    assert model["data"]["spendCustomers"] == model["data"]["repeatCustomers"] - 1
    assert model["fittedAt"] == model["attemptedAt"]
    assert model["bgnbd"]["logLikelihood"] < 0
    assert model["gammaGamma"]["logLikelihood"] < 0
    value = (await api.data(VALUE, {"id": global_id("Customer", free)}))["node"]["value"]
    assert value["repeatPurchases"] == 2
    assert 0 < value["pAlive"] <= 1
    assert value["expectedSpend"] is not None  # the population's, from the others
    assert others


async def test_a_fit_that_sees_nobody_drop_out_is_degenerate_and_says_why(api: Api, app: Starlette) -> None:
    # Everyone buys every 20 days up to a few days ago: no sign of anyone dropping out.
    plan = [[(d + k, "50") for d in range(3, 363, 20)] for k in range(40)]
    ids = await _buyers(api, app, plan)
    model = (await api.data(STATUS))["refreshValueModel"]["valueModel"]
    assert model["status"] == "DEGENERATE"
    assert any("no sign of customers dropping out" in r for r in model["reasons"]), model["reasons"]
    assert model["bgnbd"]["a"] < 1e-3
    assert model["fittedAt"] is not None
    found = await api.data(PREDICTIVE)
    assert found["metrics"]["predictiveClv"]["status"] == "DEGENERATE"
    assert found["metrics"]["predictiveClv"]["reasons"] == model["reasons"]
    value = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Customer { value { pAlive fitStatus } } } }",
        {"id": global_id("Customer", ids[0])},
    )
    # The customer's prediction says which fit it comes from, so it is not read as a certainty.
    assert value["node"]["value"]["fitStatus"] == "DEGENERATE"


async def test_a_failed_fit_has_no_fitted_at_and_no_predictions(api: Api, app: Starlette) -> None:
    await _buyers(api, app, [[(30, "10")], [(20, "15")]])  # no repeat purchase at all
    model = (await api.data(STATUS))["refreshValueModel"]["valueModel"]
    assert (model["status"], model["fittedAt"], model["bgnbd"]) == ("FAILED", None, None)
    assert model["attemptedAt"] is not None
    assert model["reasons"] == [model["error"]]
    assert "repeat purchase" in model["error"]
    clv = (await api.data(PREDICTIVE))["metrics"]["predictiveClv"]
    assert (clv["status"], clv["fittedAt"], clv["meanPAlive"]) == ("FAILED", None, None)


async def test_only_free_repeat_purchases_keep_p_alive_and_leave_spend_unknown(api: Api, app: Starlette) -> None:
    plan = [[(300 - k, "40"), (200 - k, "0")] for k in range(10)] + [[(100, "30")] for _ in range(10)]
    ids = await _buyers(api, app, plan)
    model = (await api.data(STATUS))["refreshValueModel"]["valueModel"]
    assert model["status"] == "DEGENERATE"
    assert any("no customer with a positive mean repeat spend" in r for r in model["reasons"]), model["reasons"]
    assert model["gammaGamma"] is None
    value = (await api.data(VALUE, {"id": global_id("Customer", ids[0])}))["node"]["value"]
    # BG/NBD does not depend on the spend: P(alive) and expected purchases are there; spend is not.
    assert value["pAlive"] is not None
    assert value["expectedPurchases"] is not None
    assert (value["expectedSpend"], value["predictedClv"]) == (None, None)


async def test_a_page_of_customers_reads_the_value_model_once(
    api: Api, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _buyers(api, app, _varied_plan(5, 30))
    assert (await api.data(STATUS))["refreshValueModel"]["valueModel"]["status"] in ("OK", "DEGENERATE")
    reads = 0
    get_model = value_service.get_model

    async def counted(workspace_id: int) -> Any:
        nonlocal reads
        reads += 1
        return await get_model(workspace_id)

    monkeypatch.setattr(value_service, "get_model", counted)
    found = await api.data("{ customers(first: 30) { edges { node { value { fitStatus } } } } }")
    assert len(found["customers"]["edges"]) == 30
    assert {e["node"]["value"]["fitStatus"] for e in found["customers"]["edges"]} <= {"OK", "DEGENERATE"}
    # The resolvers of the 30 customers ask at once: one query, not 30.
    assert reads == 1


async def planner_rows(table: str) -> float | None:
    """What the database's planner statistics say the table holds (None: never sampled)."""
    conn = connection()
    if dialect_of(conn) == "postgres":
        found = await conn.execute_query_dict("SELECT reltuples FROM pg_class WHERE relname = $1", [table])
        n = float(found[0]["reltuples"])
        return None if n < 0 else n
    if not await conn.execute_query_dict("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"):
        return None  # nothing was ever analyzed
    # (one row per index, or one for the table without any: each stat starts with the row count)
    found = await conn.execute_query_dict("SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1", [table])
    return float(str(found[0]["stat"]).split()[0]) if found else None


async def test_a_fit_leaves_the_planner_knowing_how_many_predictions_there_are(api: Api, app: Starlette) -> None:
    await _history(api, app)
    data = await api.data(REFRESH, {"input": {"horizonWeeks": 26}})
    assert data["refreshValueModel"]["valueModel"]["error"] is None
    # (the health, re-engagement and value-at-risk reads join this table)
    assert await planner_rows("customer_value") == 80
