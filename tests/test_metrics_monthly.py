"""The monthly series is computed in three statements; each month must equal the same metric
computed over that month alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from starlette.applications import Starlette

from api import metrics
from api.customer_filters import CustomerFilter
from api.demo import create_demo

pytestmark = pytest.mark.asyncio


async def test_each_month_of_the_series_equals_that_month_alone(app: Starlette) -> None:
    now = datetime.now(UTC)
    demo = await create_demo(app.state.lifecycle, customers=60, now=now)
    model = app.state.plugins.model("funnel")
    scope = metrics.Scope(demo.workspace.id, model, metrics.default_period(now), CustomerFilter(), now)
    points = await metrics.monthly(scope)
    assert len(points) == 12
    assert sum(pt.flow.churned for pt in points) > 0
    assert sum(pt.flow.acquired for pt in points) > 0
    for pt in points:
        assert pt.flow == await metrics.flow(scope, pt.period), pt.period
        assert pt.revenue == await metrics.revenue(scope, pt.period), pt.period
        assert pt.nps == await metrics.nps(scope, pt.period), pt.period
