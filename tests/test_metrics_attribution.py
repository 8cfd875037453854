"""Touchpoint attribution, worked by hand (docs/metrics.md, attribution): four conversions into
`customer`, one without touchpoints in the lookback window, credited four ways."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.conftest import Api
from tests.metrics_helpers import History, at, buy
from tests.metrics_helpers import did as plain

pytestmark = pytest.mark.asyncio

START, END = at(2024, 1, 1), at(2024, 10, 1)
QUERY = """
query($period: PeriodInput, $by: TouchpointBy, $lookback: Int, $stage: String!, $segment: CustomerFilter) {
  metrics(period: $period, segment: $segment) { attribution(stage: $stage, lookbackDays: $lookback, by: $by) {
    stage lookbackDays conversions withoutTouchpoints
    touchpoints { kind channel firstTouch lastTouch linear positionBased conversions share medianDays } } }
}
"""


def did(cid: int, kind: str, when: Any, channel: str | None = None) -> Any:
    from dataclasses import replace

    return replace(plain(cid, kind, when), channel=channel)


async def story(h: History) -> dict[str, int]:
    """A: site_visit (google) day 0, content_downloaded (email) day 5, meeting day 9, buys day 10.
    B: site_visit (google) day 0, buys day 4. C: content_downloaded (email) day 0, site_visit
    (meta) day 1, buys day 3. D: site_visit day 0, buys day 200 (outside 90 days). E never buys."""
    day0 = at(2024, 2, 1)
    d = timedelta(days=1)
    ids = {n: await h.customer(day0 - d, name=n, tags=["x"] if n in "AB" else []) for n in "ABCDE"}
    a, b, c, dd, e = (ids[n] for n in "ABCDE")
    await h.record(did(a, "site_visit", day0, "google"), did(b, "site_visit", day0, "google"))
    await h.record(did(c, "content_downloaded", day0, "email"), did(dd, "site_visit", day0), did(e, "site_visit", day0))
    await h.record(did(c, "site_visit", day0 + d, "meta"))
    await h.record(buy(c, day0 + 3 * d), buy(b, day0 + 4 * d))
    await h.record(did(a, "content_downloaded", day0 + 5 * d, "email"))
    await h.record(did(a, "meeting", day0 + 9 * d))
    await h.record(buy(a, day0 + 10 * d))
    await h.record(buy(dd, day0 + 200 * d))
    return ids


async def attribution(api: Api, **variables: Any) -> dict[str, Any]:
    period = {"start": START.isoformat(), "end": END.isoformat()}
    data = await api.data(QUERY, {"period": period, "stage": "customer", **variables})
    found: dict[str, Any] = data["metrics"]["attribution"]
    return found


def row(t: dict[str, Any]) -> tuple[Any, ...]:
    return (
        t["kind"],
        t["firstTouch"],
        t["lastTouch"],
        round(t["linear"], 4),
        t["positionBased"],
        t["conversions"],
        t["share"],
        t["medianDays"],
    )


async def test_touchpoints_credited_first_last_linear_and_position_based(api: Api, app: Starlette) -> None:
    await story(History.of(api, app))
    found = await attribution(api)
    assert (found["conversions"], found["withoutTouchpoints"], found["lookbackDays"]) == (4, 1, 90)
    assert [row(t) for t in found["touchpoints"]] == [
        # kind, first, last, linear (A 1/3 + B 1 + C 1/2), 40/20/40 (A .4 + B 1 + C .5), in A B C, days 10 4 2
        ("site_visit", 2.0, 2.0, 1.8333, 1.9, 3, 0.75, 4.0),
        ("content_downloaded", 1.0, 0.0, 0.8333, 0.7, 2, 0.5, 4.0),
        ("meeting", 0.0, 1.0, 0.3333, 0.4, 1, 0.25, 1.0),
    ]
    # every conversion with touchpoints gives out exactly 1 in each model
    for model in ("firstTouch", "lastTouch", "linear", "positionBased"):
        assert abs(sum(t[model] for t in found["touchpoints"]) - 3.0) < 1e-5
    by_channel = await attribution(api, by="CHANNEL")
    assert {(t["channel"], t["firstTouch"], t["conversions"]) for t in by_channel["touchpoints"]} == {
        ("google", 2.0, 2),
        ("email", 1.0, 2),
        ("meta", 0.0, 1),
        (None, 0.0, 1),
    }
    # a longer window takes D's visit in; a segment takes only its customers
    assert (await attribution(api, lookback=365))["withoutTouchpoints"] == 0
    only = await attribution(api, segment={"tag": "x"})  # A and B: 40/20/40 gives A's meeting 0.4, its download 0.2
    assert only["conversions"] == 2
    assert [(t["kind"], t["positionBased"]) for t in only["touchpoints"]] == [
        ("site_visit", 1.4),
        ("meeting", 0.4),
        ("content_downloaded", 0.2),
    ]


async def test_no_conversions_and_bad_arguments(api: Api, app: Starlette) -> None:
    empty = await attribution(api, stage="advocate")
    assert (empty["conversions"], empty["withoutTouchpoints"], empty["touchpoints"]) == (0, 0, [])
    for variables, field in (({"stage": "nowhere"}, ["stage"]), ({"lookback": 0}, ["lookbackDays"])):
        body = await api.run(QUERY, {"stage": "customer", **variables})
        assert body["data"]["metrics"] is None
        assert body["errors"][0]["extensions"]["field"] == field
