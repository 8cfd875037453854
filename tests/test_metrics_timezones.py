"""The workspace's time zone decides month and day boundaries: periods given without an offset,
default periods, the monthly series, cohorts, spend days and the value model's purchase days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx2
import pytest
from starlette.applications import Starlette

from api.value import rfm_summary
from api.workspaces import create_workspace
from tests.conftest import Api
from tests.metrics_helpers import History, buy

pytestmark = pytest.mark.asyncio

SERIES = "period { start end } revenue series { month revenue } cohorts { month size }"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def workspace_in(tz: str, app: Starlette, http: httpx2.AsyncClient) -> History:
    ws, secret = await create_workspace(f"Shop in {tz}", "BRL", tz)
    return History.of(Api(http, secret, ws.id), app)


async def metrics(h: History, fields: str, start: str, end: str) -> dict[str, object]:
    """The metrics over a period given as the workspace's clock shows it (no offset)."""
    data = await h.api.data(
        f"query($p: PeriodInput) {{ metrics(period: $p) {{ {fields} }} }}", {"p": {"start": start, "end": end}}
    )
    found: dict[str, object] = data["metrics"]
    return found


async def test_sao_paulo_a_purchase_at_23_30_on_31_march_is_in_march(app: Starlette, http: httpx2.AsyncClient) -> None:
    h = await workspace_in("America/Sao_Paulo", app, http)
    c = await h.customer(utc("2024-03-20T10:00:00-03:00"))
    # 23:30 on 31 March in São Paulo is 02:30 on 1 April in UTC.
    await h.record(buy(c, utc("2024-03-31T23:30:00-03:00"), "80"))
    found = await metrics(h, SERIES, "2024-03-01T00:00:00", "2024-05-01T00:00:00")
    # The period, given without an offset, is São Paulo's: from its midnight (03:00 UTC).
    assert found["period"] == {"start": "2024-03-01T00:00:00-03:00", "end": "2024-05-01T00:00:00-03:00"}
    assert found["series"] == [
        {"month": "2024-03-01T00:00:00-03:00", "revenue": "80.0000"},
        {"month": "2024-04-01T00:00:00-03:00", "revenue": "0.0000"},
    ]
    # The customer was acquired by that purchase: March's cohort.
    assert found["cohorts"] == [{"month": "2024-03-01T00:00:00-03:00", "size": 1}]
    march = await metrics(h, "revenue", "2024-03-01T00:00:00", "2024-04-01T00:00:00")
    assert march["revenue"] == "80.0000"


async def test_tokyo_a_purchase_at_01_00_on_1_april_is_in_april(app: Starlette, http: httpx2.AsyncClient) -> None:
    h = await workspace_in("Asia/Tokyo", app, http)
    c = await h.customer(utc("2024-03-20T10:00:00+09:00"))
    # 01:00 on 1 April in Tokyo is 16:00 on 31 March in UTC (March in a UTC workspace).
    await h.record(buy(c, utc("2024-04-01T01:00:00+09:00"), "50"))
    found = await metrics(h, SERIES, "2024-03-01T00:00:00", "2024-05-01T00:00:00")
    assert found["series"] == [
        {"month": "2024-03-01T00:00:00+09:00", "revenue": "0.0000"},
        {"month": "2024-04-01T00:00:00+09:00", "revenue": "50.0000"},
    ]
    assert found["cohorts"] == [{"month": "2024-04-01T00:00:00+09:00", "size": 1}]
    # The default period (the last 12 months) starts at midnight of a first of the month in Tokyo.
    data = await h.api.data("{ metrics { period { start } } }")
    start = datetime.fromisoformat(data["metrics"]["period"]["start"])
    assert (start.day, start.hour, start.minute, start.utcoffset()) == (1, 0, 0, timedelta(hours=9))


async def test_new_york_months_follow_the_dst_change(app: Starlette, http: httpx2.AsyncClient) -> None:
    h = await workspace_in("America/New_York", app, http)
    c = await h.customer(utc("2024-02-20T10:00:00-05:00"))
    # DST began on 10 March 2024: March starts at 05:00 UTC, April at 04:00 UTC. 03:30 UTC on
    # 1 April is 23:30 on 31 March (EDT): March; 04:30 UTC is 00:30 on 1 April: April.
    await h.record(buy(c, utc("2024-04-01T03:30:00+00:00"), "10"), buy(c, utc("2024-04-01T04:30:00+00:00"), "20"))
    found = await metrics(h, SERIES, "2024-03-01T00:00:00", "2024-05-01T00:00:00")
    assert found["series"] == [
        {"month": "2024-03-01T00:00:00-05:00", "revenue": "10.0000"},
        {"month": "2024-04-01T00:00:00-04:00", "revenue": "20.0000"},
    ]


async def test_the_value_model_counts_purchase_days_of_the_workspace_calendar(
    app: Starlette, http: httpx2.AsyncClient
) -> None:
    h = await workspace_in("America/Sao_Paulo", app, http)
    c = await h.customer(utc("2024-03-01T10:00:00-03:00"))
    # Two purchases on different São Paulo days (23:00 on 10 March, 01:00 on 11 March), both on
    # 11 March in UTC (02:00 and 04:00).
    await h.record(buy(c, utc("2024-03-10T23:00:00-03:00")), buy(c, utc("2024-03-11T01:00:00-03:00")))
    rfm = await rfm_summary(h.api.workspace_id, date(2024, 3, 31), "America/Sao_Paulo")
    # Local days: 10 and 11 March -> 1 repeat purchase, a day after the first.
    assert (rfm.frequency.tolist(), rfm.recency.tolist()) == ([1.0], [1 / 7])
    # Counted in UTC days they would be one purchase day, no repeat.
    in_utc = await rfm_summary(h.api.workspace_id, date(2024, 3, 31), "UTC")
    assert (in_utc.frequency.tolist(), in_utc.recency.tolist()) == ([0.0], [0.0])


async def test_a_customer_all_month_is_one_customer_month_also_in_a_month_with_a_dst_change(
    app: Starlette, http: httpx2.AsyncClient
) -> None:
    h = await workspace_in("America/New_York", app, http)
    c = await h.customer(utc("2024-02-20T10:00:00-05:00"))
    await h.record(buy(c, utc("2024-02-25T10:00:00-05:00")))
    # A customer for the whole of March, which lost an hour to DST (743 hours): one customer-month,
    # not 743/744 of one; half of April (15 of 30 days) is half of one.
    found = await metrics(h, "historicClv { customerMonths }", "2024-03-01T00:00:00", "2024-04-16T00:00:00")
    assert found["historicClv"] == {"customerMonths": pytest.approx(1.5, abs=1e-9)}
