"""A breakdown answers each group in one statement for all groups (flow, revenue, historic CLV,
acquisition): for any story and any dimension, every group's answer, the group without a value
included, must equal the same metric over that group's scope alone."""

from __future__ import annotations

import math
import os
from dataclasses import fields, replace
from itertools import count

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from api import metrics as m
from api.customer_filters import CustomerFilter
from api.customers import count_customers
from api.metrics_batch import GroupBatch
from api.metrics_groups import GroupBy, groups
from api.workspaces import create_workspace
from tests.conftest import Api
from tests.metrics_helpers import History
from tests.test_metrics_segments import END, START, story, write

pytestmark = pytest.mark.asyncio

EXAMPLES = int(os.environ.get("JORNADA_PROPERTY_EXAMPLES", "40")) // 4  # each writes a workspace
FIELDS = ["acquisitionChannel", "tag", "attributes.plan", "stage", "cohortMonth"]
SEGMENTS = [CustomerFilter(), CustomerFilter(tag="vip")]
WORKSPACES = count()


def close(a: m.HistoricClv, b: m.HistoricClv, where: str) -> None:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, float):
            assert math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9), f"{where}: {f.name} {x} != {y}"
        else:
            assert x == y, f"{where}: {f.name} {x!r} != {y!r}"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 10**6), size=st.integers(2, 12), segment=st.sampled_from(SEGMENTS))
async def test_every_group_of_a_batch_answers_as_its_own_scope(
    app: Starlette, http: httpx2.AsyncClient, seed: int, size: int, segment: CustomerFilter
) -> None:
    ws, secret = await create_workspace(f"Batch {next(WORKSPACES)}", "BRL")
    await write(History.of(Api(http, secret, ws.id), app), story(seed, size))
    model = app.state.plugins.model("funnel")
    scope = m.Scope(ws.id, model, m.Period(START, END), segment, END)
    in_segment = await count_customers(ws.id, segment)
    for field in FIELDS:
        found = await groups(scope, GroupBy(field, min_customers=1))
        batch = GroupBatch.of(found)
        grouped = sum(g.customers for g in found.groups)
        # Every customer of the segment is in a group (one per tag when split by tag).
        assert grouped >= in_segment if field == "tag" else grouped == in_segment, field
        for g in found.groups:
            where = f"{field} = {g.label}"
            assert await batch.flow(g.key) == await m.flow(g.scope), where
            assert await batch.revenue(g.key) == await m.revenue(g.scope), where
            close(await batch.historic_clv(g.key), await m.historic_clv(g.scope), where)
            assert await batch.acquisition(g.key) == await m.acquisition(g.scope), where
        # And over one margin: the batch reads the margin of the scope it splits.
        half = replace(scope, margin=m.MONEY * 5000)
        found = await groups(half, GroupBy(field, min_customers=1))
        batch = GroupBatch.of(found)
        if not found.groups:
            continue
        first = found.groups[0]
        close(await batch.historic_clv(first.key), await m.historic_clv(first.scope), f"{field}, margin 0.5")
