"""Compiled metrics reads (issue 11, item 5): `metrics { model stageDistribution }` is answered by
the one SQL statement, with the counts, shares and order Strawberry gives; any other metric, a
period, or arguments Strawberry refuses send the operation to Strawberry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from api.db import connection
from api.graphql_request import GraphQLRequest
from schema.sql.dialects import SQLITE_FUNCTIONS, dialect
from schema.sql.marks import FALLBACK_MARK
from tests.conftest import Api, new_customer, on_postgres, raw_id
from tests.test_compiled_reads import both_answers, canonical, view_of

pytestmark = pytest.mark.asyncio

MOVE = "mutation($i: MoveCustomerInput!) { moveCustomer(input: $i) { userErrors { code message } } }"
DISTRIBUTION = "stageDistribution { stage { key category order label } count share }"


async def _set_stage(customer_id: str, stage: str) -> None:
    """A stage the model does not have, as a model upgrade that dropped it leaves behind."""
    sql = "UPDATE stage_assignment SET stage = {} WHERE customer_id = {} AND model_key = 'funnel'"
    marks = ("$1", "$2") if on_postgres() else ("?", "?")
    await connection().execute_query(sql.format(*marks), [stage, raw_id(customer_id)])


async def _populate(api: Api) -> None:
    vip = [await new_customer(api, name=f"V{n}", tags=["vip"]) for n in range(3)]
    for n in range(2):
        await new_customer(api, name=f"P{n}")
    moved = await api.data(MOVE, {"i": {"customerId": vip[1]["id"], "stage": "customer", "force": True}})
    assert moved["moveCustomer"]["userErrors"] == []
    await _set_stage(vip[2]["id"], "zeta")
    page = await api.data('{ customers(filter: {text: "P1"}) { edges { node { id } } } }')
    await _set_stage(page["customers"]["edges"][0]["node"]["id"], "Ético")  # sorts after "zeta" by code point


async def _compiled(app: Starlette, api: Api, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """The compiled answer, checked against Strawberry's."""
    view = view_of(app)
    assert view.reads is not None
    assert view.reads.plans.statement(query, None, variables) is not None, query
    # Answered by the statement itself, not handed to Strawberry by a marked value.
    assert await view.reads.answer(GraphQLRequest(query, None, variables, None), api.key) is not None, query
    compiled, interpreted = await both_answers(api, view, query, variables or {})
    assert canonical(compiled) == canonical(interpreted)
    assert FALLBACK_MARK not in compiled
    body: dict[str, Any] = json.loads(compiled)
    return body


def _counts(distribution: list[dict[str, Any]]) -> list[tuple[str, int, float]]:
    return [(d["stage"]["key"], d["count"], d["share"]) for d in distribution]


async def test_the_stage_distribution_is_compiled_with_strawberry_s_counts_order_and_shares(
    app: Starlette, api: Api
) -> None:
    await _populate(api)
    body = await _compiled(app, api, f"{{ metrics {{ __typename model {{ key }} {DISTRIBUTION} }} }}")
    metrics = body["data"]["metrics"]
    assert metrics["__typename"] == "Metrics"
    assert metrics["model"] == {"key": "funnel"}
    # The model's nine stages in its order, then the two it does not have, by code point.
    assert _counts(metrics["stageDistribution"]) == [
        ("prospect", 2, 0.4),
        ("lead", 0, 0.0),
        ("mql", 0, 0.0),
        ("sql", 0, 0.0),
        ("opportunity", 0, 0.0),
        ("customer", 1, 0.2),
        ("advocate", 0, 0.0),
        ("churned", 0, 0.0),
        ("lost", 0, 0.0),
        ("zeta", 1, 0.2),
        ("Ético", 1, 0.2),
    ]
    assert metrics["stageDistribution"][0]["stage"]["label"] == "Prospect"


async def test_a_segment_counts_only_its_customers(app: Starlette, api: Api) -> None:
    await _populate(api)
    query = f'query($m: String) {{ metrics(model: $m, segment: {{tag: "vip"}}) {{ {DISTRIBUTION} }} }}'
    body = await _compiled(app, api, query, {"m": "funnel"})
    found = [c for c in _counts(body["data"]["metrics"]["stageDistribution"]) if c[1]]
    assert found == [("prospect", 1, 0.333333), ("customer", 1, 0.333333), ("zeta", 1, 0.333333)]
    nobody = await _compiled(app, api, f'{{ metrics(segment: {{tag: "zzz"}}) {{ {DISTRIBUTION} }} }}')
    assert {(c[1], c[2]) for c in _counts(nobody["data"]["metrics"]["stageDistribution"])} == {(0, 0.0)}


async def test_arguments_strawberry_refuses_get_strawberry_s_error(app: Starlette, api: Api) -> None:
    await _populate(api)
    view = view_of(app)
    assert view.reads is not None
    for query in (
        f'{{ metrics(model: "lifespan") {{ {DISTRIBUTION} }} }}',  # installed, not tracked: marked
        f'{{ metrics(segment: {{stage: "nope"}}) {{ {DISTRIBUTION} }} }}',  # no model has it
        f'{{ metrics(model: "no_such_model") {{ {DISTRIBUTION} }} }}',
    ):
        compiled, interpreted = await both_answers(api, view, query, {})
        assert canonical(compiled) == canonical(interpreted)
        assert json.loads(compiled)["errors"], query
        assert FALLBACK_MARK not in compiled


async def test_other_metrics_and_periods_go_to_strawberry(app: Starlette, api: Api) -> None:
    view = view_of(app)
    assert view.reads is not None
    for query in (
        f"{{ metrics {{ {DISTRIBUTION} churn {{ rate }} }} }}",
        f'{{ metrics(period: {{start: "2025-01-01T00:00:00Z"}}) {{ {DISTRIBUTION} }} }}',
    ):
        assert view.reads.plans.statement(query, None, None) is None, query


async def _shares(pairs: list[tuple[int, int]]) -> list[str]:
    """The dialect's share of each (count, total), as the database writes it."""
    conn = connection()
    d = dialect("postgres" if on_postgres() else "sqlite")
    if not on_postgres():
        async with conn.acquire_connection() as raw:
            for name, arity, function in SQLITE_FUNCTIONS:
                await raw.create_function(name, arity, function, deterministic=True)
    rows = " UNION ALL ".join(f"SELECT {n} AS i, {c} AS c, {t} AS t" for n, (c, t) in enumerate(pairs))
    value = d.share("CAST(v.c AS BIGINT)", "CAST(v.t AS BIGINT)")
    shown = value if on_postgres() else f"json_array({value})"
    found = (await conn.execute_query(f"SELECT {shown} AS s FROM ({rows}) v ORDER BY v.i"))[1]
    return [r["s"] if on_postgres() else r["s"][1:-1] for r in found]


@st.composite
def counts(draw: st.DrawFn) -> tuple[int, int]:
    total = draw(st.one_of(st.integers(0, 300), st.integers(0, 10**7), st.sampled_from([128, 384, 640, 3, 7, 10**6])))
    return draw(st.integers(0, total)), total


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.lists(counts(), min_size=1, max_size=200))
async def test_a_share_reads_as_python_rounds_and_prints_it(api: Api, pairs: list[tuple[int, int]]) -> None:
    """round(count / total, 6), printed as Python prints it (0.0, 1.0, 1e-05, 0.333333); where
    the two could differ (an exact tie), the statement marks the value for Strawberry."""
    pairs = [(1, 128), (0, 0), (1, 1), (0, 5), (1, 10**6), (12, 10**6), (123, 10**6), *pairs]
    for (c, t), shown in zip(pairs, await _shares(pairs), strict=True):
        expected = json.dumps(round(c / t, 6) if t else 0.0)
        tie = t and (2_000_000 * c) % (2 * t) == t
        assert shown == (json.dumps(FALLBACK_MARK) if tie and on_postgres() else expected), (c, t)
