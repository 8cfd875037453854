"""Breakdowns: `metrics(by: ...)` answers every metric per group, each group's figures equal to
the same metrics over a segment holding just that group, groups marked when too small, CAC per
channel only (spend is recorded per channel)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette

from tests.conftest import Api
from tests.metrics_helpers import History, at, buy
from tests.test_metrics_segments import CAC, END, EVERY_METRIC, START, same, story, write

pytestmark = pytest.mark.asyncio

GROUPS = """
query($period: PeriodInput, $segment: CustomerFilter, $by: MetricsBy) {
  metrics(period: $period, segment: $segment, by: $by) {
    groups { field minCustomers omittedGroups omittedCustomers
             groups { value label customers tooFew metrics { %s } } }
  }
}
"""
PERIOD = {"start": START.isoformat(), "end": END.isoformat()}


async def breakdown(api: Api, by: dict[str, Any], fields: str, segment: dict[str, Any] | None = None) -> dict[str, Any]:
    data = await api.data(GROUPS % fields, {"period": PERIOD, "by": by, "segment": segment})
    found: dict[str, Any] = data["metrics"]["groups"]
    return found


async def test_each_group_answers_as_the_segment_of_just_that_group(api: Api, app: Starlette) -> None:
    people = story(seed=7, size=40)
    h = History.of(api, app)
    await write(h, people)
    cases = [
        ({"field": "acquisitionChannel"}, lambda v: {"acquisitionChannel": v}),
        ({"field": "tag"}, lambda v: {"tag": v}),
        ({"field": "attributes.plan"}, lambda v: {"attributes": [{"key": "plan", "value": v}]}),
        ({"field": "stage"}, lambda v: {"stage": v}),
    ]
    for by, equivalent in cases:
        fields = EVERY_METRIC + (CAC if by["field"] == "acquisitionChannel" else "")
        found = await breakdown(api, {**by, "minCustomers": 10}, fields)
        assert found["omittedGroups"] == 0
        for group in found["groups"]:
            assert group["tooFew"] is (group["customers"] < 10)
            if group["value"] is None:
                continue  # (no public filter says "without any tag"; the counts below cover it)
            over_segment = await h.metrics(fields, START, END, equivalent(group["value"]))
            same(group["metrics"], over_segment, f"{by} = {group['value']}")
            assert sum(s["count"] for s in over_segment["stageDistribution"]) == group["customers"]
        sizes = sum(g["customers"] for g in found["groups"])
        if by["field"] == "tag":  # a customer with two tags is in two groups
            assert sizes == sum(max(1, len(p.tags)) for p in people)
        else:
            assert sizes == len(people)


async def test_cohort_months_count_the_first_purchases_of_each_month(api: Api, app: Starlette) -> None:
    people = story(seed=7, size=40)
    h = History.of(api, app)
    await write(h, people)
    found = await breakdown(api, {"field": "cohortMonth"}, "retention { customersAtStart }")
    cohorts = (await h.metrics("cohorts { month size }", START, END))["cohorts"]
    months = {g["label"]: g["customers"] for g in found["groups"] if g["value"] is not None}
    assert months == {c["month"][:7]: c["size"] for c in cohorts}
    never = [g for g in found["groups"] if g["value"] is None]
    assert [g["label"] for g in never] == ["(none)"]
    assert sum(months.values()) + never[0]["customers"] == len(people)


async def test_clv_and_churn_by_industry_and_cac_by_channel_hand_worked(api: Api, app: Starlette) -> None:
    """Retail: 2 buyers (google) of 100 and 300; software: 1 buyer (meta) of 50 and one who never
    buys; one buyer without industry or channel. Google spent 400, meta 100; 60 without a channel."""
    h = History.of(api, app)
    ana = await h.customer(at(2024, 1, 5), industry="retail", acquisition_channel="google", attributes={"employees": 8})
    bia = await h.customer(
        at(2024, 1, 6), industry="retail", acquisition_channel="google", attributes={"employees": 40}
    )
    caio = await h.customer(
        at(2024, 1, 7), industry="software", acquisition_channel="meta", attributes={"employees": 300}
    )
    await h.customer(at(2024, 1, 8), industry="software", acquisition_channel="meta")
    eli = await h.customer(at(2024, 1, 9))
    await h.record(buy(ana, at(2024, 2, 1), "100"), buy(bia, at(2024, 2, 2), "300"), buy(caio, at(2024, 2, 3), "50"))
    await h.record(buy(eli, at(2024, 2, 4), "70"))
    await h.spend("2024-01-01", "2024-03-31", "400", "google")
    await h.spend("2024-01-01", "2024-03-31", "100", "meta")
    await h.spend("2024-01-01", "2024-03-31", "60")
    by_industry = await breakdown(api, {"field": "industry", "minCustomers": 2}, "revenue cac { value reason }")
    rows = [(g["label"], g["customers"], g["tooFew"], g["metrics"]["revenue"]) for g in by_industry["groups"]]
    # largest first (a tie by label), the customers without an industry last
    assert rows == [("retail", 2, False, "400.0000"), ("software", 2, False, "50.0000"), ("(none)", 1, True, "70.0000")]
    assert {g["metrics"]["cac"]["value"] for g in by_industry["groups"]} == {None}
    assert "per channel" in by_industry["groups"][0]["metrics"]["cac"]["reason"]
    by_channel = await breakdown(api, {"field": "acquisitionChannel"}, "cac { value spend acquired } clvToCac")
    cac = {g["label"]: g["metrics"]["cac"] for g in by_channel["groups"]}
    assert cac == {
        "google": {"value": "200.0000", "spend": "400.0000", "acquired": 2},
        "meta": {"value": "100.0000", "spend": "100.0000", "acquired": 1},
        "(none)": {"value": "60.0000", "spend": "60.0000", "acquired": 1},
    }
    sizes = await breakdown(api, {"field": "attributes.employees", "bins": [10, 50]}, "revenue")
    assert [(g["value"], g["label"], g["customers"]) for g in sizes["groups"]] == [
        ("0", "< 10", 1),
        ("1", "10 – 50", 1),
        ("2", "≥ 50", 1),
        (None, "(none)", 2),
    ]
    # a breakdown of a segment splits only the segment's customers
    within = await breakdown(api, {"field": "industry"}, "revenue", {"acquisitionChannel": "google"})
    assert [(g["label"], g["customers"], g["tooFew"]) for g in within["groups"]] == [("retail", 2, True)]


@pytest.mark.parametrize(
    ("by", "field", "reason"),
    [
        ({"field": "salary"}, ["by", "field"], "UNKNOWN_FIELD"),
        ({"field": "industry", "bins": [1, 2]}, ["by", "bins"], "INVALID_BINS"),
        ({"field": "attributes.size", "bins": [5, 2]}, ["by", "bins"], "INVALID_BINS"),
        ({"field": "attributes.size", "bins": []}, ["by", "bins"], "INVALID_BINS"),
        ({"field": "tag", "minCustomers": 0}, ["by", "minCustomers"], "INVALID_MIN_CUSTOMERS"),
    ],
)
async def test_a_bad_breakdown_is_named(api: Api, by: dict[str, Any], field: list[str], reason: str) -> None:
    body = await api.run(GROUPS % "revenue", {"by": by})
    assert body["data"]["metrics"] is None
    (error,) = body["errors"]
    assert (error["extensions"]["reason"], error["extensions"]["field"]) == (reason, field)


async def test_without_by_there_are_no_groups(api: Api) -> None:
    assert (await api.data("{ metrics { groups { field } } }"))["metrics"]["groups"] is None


async def test_beyond_fifty_groups_the_smallest_are_counted_not_listed(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    for n in range(52):  # 52 industries: two of one customer each, fifty of two customers
        for _ in range(1 if n < 2 else 2):
            await h.customer(at(2024, 1, 5), industry=f"industry {n:02d}")
    found = await breakdown(api, {"field": "industry"}, "revenue")
    assert (len(found["groups"]), found["omittedGroups"], found["omittedCustomers"]) == (50, 2, 2)
    assert {g["customers"] for g in found["groups"]} == {2}
    assert all(g["tooFew"] for g in found["groups"])  # (2 < 30)
