"""Hand-worked cases for the lifecycle-flow and retention metrics (shared/METRICS.md).

Each test writes a workspace's history at explicit past times through the real services (the
funnel model moves customers as it would have then), asks `metrics` over GraphQL, and checks each
number against the value worked out from the definition in the comment above it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette

from tests.conftest import Api
from tests.metrics_helpers import History, at, buy, did, stages

pytestmark = pytest.mark.asyncio

DAY = timedelta(days=1)
SPREAD = "count open meanDays medianDays p90Days"


# --- lifecycle flow ---------------------------------------------------------------------------


async def test_stage_distribution_counts_each_current_stage_and_its_share(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    now = datetime.now(UTC)
    await h.customers(now - 5 * DAY, 3)  # prospects
    lead, c1, c2, adv, gone = await h.customers(now - 5 * DAY, 5)
    await h.customer(now - 100 * DAY)  # a prospect who never engaged
    await h.record(
        did(lead, "demo_requested", now - 4 * DAY),
        buy(c1, now - 3 * DAY),
        buy(c2, now - 3 * DAY),
        buy(adv, now - 3 * DAY),
        did(adv, "referral", now - 2 * DAY),
        buy(gone, now - 3 * DAY),
        did(gone, "subscription_cancelled", now - 2 * DAY),
    )
    # The prospect created 100 days ago, silent for lost_after_days (90), is lost at the check.
    assert await h.tick(now) == 1

    found = await h.metrics("stageDistribution { stage { key } count share }", now - 365 * DAY, now)
    rows = found["stageDistribution"]
    # Every stage of the model, in order, zero counts included.
    assert [r["stage"]["key"] for r in rows] == [
        "prospect",
        "lead",
        "mql",
        "sql",
        "opportunity",
        "customer",
        "advocate",
        "churned",
        "lost",
    ]
    # 9 customers now: 3 prospects, 1 lead (demo), 2 customers (purchase), 1 advocate (purchase then
    # referral), 1 churned (purchase then cancellation), 1 lost (quiet) -> shares n / 9.
    assert {r["stage"]["key"]: (r["count"], r["share"]) for r in rows} == {
        "prospect": (3, 0.333333),
        "lead": (1, 0.111111),
        "mql": (0, 0.0),
        "sql": (0, 0.0),
        "opportunity": (0, 0.0),
        "customer": (2, 0.222222),
        "advocate": (1, 0.111111),
        "churned": (1, 0.111111),
        "lost": (1, 0.111111),
    }


FUNNEL = """
cumulative: funnel { stage { key } count conversionFromPrevious cumulativeConversion }
strict: funnel(mode: STRICT) { stage { key } count conversionFromPrevious cumulativeConversion }
any: funnel(mode: ANY) { stage { key } count conversionFromPrevious cumulativeConversion }
"""


async def test_funnel_modes_cumulative_strict_and_any_and_conversions_stay_shares(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    await h.configure(icp_job_titles=["CEO"])
    # Before the period: e is a customer since April; its move to advocate falls in May.
    e = await h.customer(at(2024, 4, 20))
    await h.record(buy(e, at(2024, 4, 21)))
    a = await h.customer(at(2024, 5, 2), job_title="CEO")
    b, c, _ = await h.customers(at(2024, 5, 2), 3)  # the third stays a prospect (d)
    await h.record(
        # a, every step in order: demo -> lead, then mql at once (job title in the ICP);
        did(a, "demo_requested", at(2024, 5, 3)),
        # c: demo -> lead, and no further (20 lead points < mql_score 40, not in the ICP);
        did(c, "demo_requested", at(2024, 5, 3)),
        # b skips lead, mql, sql and opportunity: prospect -> customer on a purchase.
        buy(b, at(2024, 5, 4)),
    )
    await h.record(did(a, "meeting", at(2024, 5, 5)))  # mql -> sql
    await h.record(did(a, "proposal_sent", at(2024, 5, 7)))  # sql -> opportunity
    await h.record(buy(a, at(2024, 5, 9)))  # opportunity -> customer
    await h.record(did(b, "referral", at(2024, 5, 10)))  # customer -> advocate
    await h.record(did(a, "referral", at(2024, 5, 12)))
    await h.record(did(e, "referral", at(2024, 5, 15)))

    found = await h.metrics(FUNNEL, at(2024, 5, 1), at(2024, 6, 1))
    keys = ["prospect", "lead", "mql", "sql", "opportunity", "customer", "advocate"]
    assert [s["stage"]["key"] for s in found["strict"]] == keys
    assert [s["stage"]["key"] for s in found["any"]] == keys

    # CUMULATIVE (the default): a customer counts at every step up to the furthest it entered in May.
    # a, b (bought straight from prospect, then referred) and e (only advocate in May) reach advocate;
    # c reaches lead, d stays a prospect. prospect 5, lead 4 (a b c e), then a b e = 3 at every step.
    assert [(s["count"], s["conversionFromPrevious"], s["cumulativeConversion"]) for s in found["cumulative"]] == [
        (5, None, 1.0),
        (4, 0.8, 0.8),
        (3, 0.75, 0.6),
        (3, 1.0, 0.6),
        (3, 1.0, 0.6),
        (3, 1.0, 0.6),
        (3, 1.0, 0.6),
    ]
    # ANY: entered in May, by any cause. prospect a, b, c, d (e entered in April) = 4; lead a, c = 2;
    # mql, sql, opportunity a = 1; customer a, b = 2; advocate a, b, e = 3. A conversion is the share
    # of the previous step's customers also counted here (never count / previous, which gave 2.0):
    # customer {a, b} of opportunity {a} = 1/1; advocate {a, b, e} of customer {a, b} = 2/2; from the
    # first step {a, b, c, d}: customer a, b = 2/4, advocate a, b = 2/4.
    assert [(s["count"], s["conversionFromPrevious"], s["cumulativeConversion"]) for s in found["any"]] == [
        (4, None, 1.0),
        (2, 0.5, 0.5),
        (1, 0.5, 0.25),
        (1, 1.0, 0.25),
        (1, 1.0, 0.25),
        (2, 1.0, 0.5),
        (3, 1.0, 0.5),
    ]
    # STRICT: only customers who entered every earlier step, in order, in May. b never entered lead..
    # opportunity, so it counts at prospect only; e's prospect and customer entries were in April.
    # prospect 4, lead 2, then a alone: 1 at mql, sql, opportunity, customer and advocate.
    # Step: -, 2/4, 1/2, 1/1, 1/1, 1/1, 1/1; cumulative: 1, 0.5, then 1/4 = 0.25.
    assert [(s["count"], s["conversionFromPrevious"], s["cumulativeConversion"]) for s in found["strict"]] == [
        (4, None, 1.0),
        (2, 0.5, 0.5),
        (1, 0.5, 0.25),
        (1, 1.0, 0.25),
        (1, 1.0, 0.25),
        (1, 1.0, 0.25),
        (1, 1.0, 0.25),
    ]


async def _six_conversions(h: History, t0: datetime) -> None:
    """Six customers created at t0 who buy 1, 2, 4, 7, 10 and 16 days later; the last cancels at
    t0 + 20 days. One more customer did everything ten days before t0."""
    early = await h.customer(t0 - 10 * DAY)
    await h.record(buy(early, t0 - 5 * DAY))
    ids = await h.customers(t0, 6)
    await h.record(*(buy(cid, t0 + d * DAY) for cid, d in zip(ids, (1, 2, 4, 7, 10, 16), strict=True)))
    await h.record(did(ids[-1], "subscription_cancelled", t0 + 20 * DAY))


async def test_time_in_stage_mean_median_p90_with_open_stays_counted_up_to_now(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    t0 = datetime.now(UTC) - 30 * DAY
    await _six_conversions(h, t0)

    # The period begins a day before t0: the early customer's stays began before it and are left out.
    found = await h.metrics(f"timeInStage {{ stage {{ key }} days {{ {SPREAD} }} }}", t0 - DAY, t0 + 29 * DAY)
    now = datetime.now(UTC)
    by_stage = {s["stage"]["key"]: s["days"] for s in found["timeInStage"]}
    assert list(by_stage) == ["prospect", "customer", "churned"]

    # Prospect stays, all closed: 1, 2, 4, 7, 10, 16 days. Mean 40/6 = 6.6667. Median: rank
    # (6-1)*0.5 = 2.5 -> 4 + 0.5*(7-4) = 5.5. p90: rank (6-1)*0.9 = 4.5 -> 10 + 0.5*(16-10) = 13.
    prospect = by_stage["prospect"]
    assert (prospect["count"], prospect["open"]) == (6, 0)
    assert prospect["meanDays"] == pytest.approx(40 / 6)
    assert prospect["medianDays"] == pytest.approx(5.5)
    assert prospect["p90Days"] == pytest.approx(13.0)

    # Customer stays: five still open, counted up to now (about 30 - d days: 29, 28, 26, 23, 20) and
    # one closed by the cancellation after 20 - 16 = 4 days. Sorted: 4, 20, 23, 26, 28, 29 (each
    # open one a little longer, since "now" moves): mean 130/6, median 23 + 0.5*3 = 24.5, p90 28 +
    # 0.5*1 = 28.5. "now" is the server's; compare with a tolerance.
    open_days = sorted((now - (t0 + d * DAY)) / DAY for d in (1, 2, 4, 7, 10))
    values = sorted([4.0, *open_days])
    customer = by_stage["customer"]
    assert (customer["count"], customer["open"]) == (6, 5)
    assert customer["meanDays"] == pytest.approx(sum(values) / 6, abs=0.01)
    assert customer["meanDays"] == pytest.approx(130 / 6, abs=0.01)
    assert customer["medianDays"] == pytest.approx(24.5, abs=0.01)
    assert customer["p90Days"] == pytest.approx(28.5, abs=0.01)

    # The churned stay, open since t0 + 20 days: about 10 days.
    churned = by_stage["churned"]
    assert (churned["count"], churned["open"]) == (1, 1)
    for key in ("meanDays", "medianDays", "p90Days"):
        assert churned[key] == pytest.approx((now - (t0 + 20 * DAY)) / DAY, abs=0.01)


async def test_velocity_is_the_median_of_days_from_the_first_stage_to_customer(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    t0 = datetime.now(UTC) - 30 * DAY
    await _six_conversions(h, t0)

    found = await h.metrics(f"velocity {{ {SPREAD} }}", t0 - DAY, t0 + 29 * DAY)
    # The six customers who first became customers in the period took 1, 2, 4, 7, 10 and 16 days
    # from prospect (the early one became a customer before it). Median: 4 + 0.5*(7-4) = 5.5;
    # mean 40/6; p90: 10 + 0.5*(16-10) = 13. None is open.
    v = found["velocity"]
    assert (v["count"], v["open"]) == (6, 0)
    assert v["medianDays"] == pytest.approx(5.5)
    assert v["meanDays"] == pytest.approx(40 / 6)
    assert v["p90Days"] == pytest.approx(13.0)


# --- retention --------------------------------------------------------------------------------

CHURN = "churn { rate customersAtStart churned churnedJoinedInPeriod churnedAndReturned counted }"
RETENTION = "retention { rate customersAtStart customersAtEnd acquired retained }"


async def test_churn_rate_is_chartmogul_example_and_retention_rate(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    # No purchase for 30 days churns a customer (instead of 180), to keep the story in two months.
    await h.configure(churn_after_days=30)
    # Churned long before March: not a customer at its start.
    old = await h.customer(at(2024, 1, 2, 9))
    await h.record(buy(old, at(2024, 1, 2, 10)))
    # 100 customers since 10 February (due to churn on 11 March 10:00 unless they buy again), and a
    # prospect who never buys (not a customer: in no count).
    base = await h.customers(at(2024, 2, 10, 9), 100)
    await h.customer(at(2024, 2, 10, 9))
    await h.record(*(buy(cid, at(2024, 2, 10, 10)) for cid in base))
    assert await h.tick(at(2024, 2, 15)) == 1  # old churns on 1 February
    stayers, churners, returner = base[:89], base[89:99], base[99]
    # j joins at 00:30 on 1 March: due to churn 30 days later, on 31 March 00:30 (in March).
    j = await h.customer(at(2024, 3, 1))
    await h.record(buy(j, at(2024, 3, 1, 0, 30)))
    # 89 buy again on 5 March: due on 4 April, after the period.
    await h.record(*(buy(cid, at(2024, 3, 5, 10)) for cid in stayers))
    # k joins on 15 March and stays.
    k = await h.customer(at(2024, 3, 15, 9))
    await h.record(buy(k, at(2024, 3, 15, 10)))
    # The returner, churned on 11 March, buys again on 25 March: won back.
    moved = await h.record(buy(returner, at(2024, 3, 25, 10)))
    assert [(t.from_stage, t.to_stage) for t in moved[0].transitions] == [
        ("customer", "churned"),
        ("churned", "customer"),
    ]
    # The check on 31 March churns the ten churners (at 11 March 10:00) and j (at 31 March 00:30).
    assert await h.tick(at(2024, 3, 31, 12)) == len(churners) + 1

    found = await h.metrics(f"{CHURN} {RETENTION}", at(2024, 3, 1), at(2024, 4, 1))
    # ChartMogul's example: 100 customers at the start of March (the base; old churned in
    # February, j and k joined later). 12 churned in March: the 10 churners, the returner and j.
    # j joined in March and the returner came back in March: both left out -> (12 - 1 - 1) / 100
    # = 10 / 100 = 10%.
    assert found["churn"] == {
        "rate": 0.1,
        "customersAtStart": 100,
        "churned": 12,
        "churnedJoinedInPeriod": 1,
        "churnedAndReturned": 1,
        "counted": 10,
    }
    # Retention = of the 100 at the start, those who are customers at the end (1 April): the 89
    # stayers and the returner (churned and back within March counts as retained) = 90 -> 0.9.
    # At the end there are 91 (k too); acquired in March: j and k = 2 (the returner was a customer
    # before).
    assert found["retention"] == {
        "rate": 0.9,
        "customersAtStart": 100,
        "customersAtEnd": 91,
        "acquired": 2,
        "retained": 90,
    }


async def test_churn_and_retention_are_about_the_customers_at_the_start_so_they_stay_in_0_1(
    api: Api, app: Starlette
) -> None:
    h = History.of(api, app)
    # a is a customer at March's start and churns in March. r and w churned in February: r is won
    # back in March and churns again; w is won back in March and stays.
    a, r, w = await h.customers(at(2024, 1, 2), 3)
    await h.record(*(did(c, "subscription_started", at(2024, 1, 5)) for c in (a, r, w)))
    await h.record(did(r, "subscription_cancelled", at(2024, 2, 10)), did(w, "subscription_cancelled", at(2024, 2, 11)))
    await h.record(buy(r, at(2024, 3, 5)), buy(w, at(2024, 3, 8)))
    await h.record(did(a, "subscription_cancelled", at(2024, 3, 15)), did(r, "subscription_cancelled", at(2024, 3, 20)))

    found = await h.metrics(f"{CHURN} {RETENTION}", at(2024, 3, 1), at(2024, 4, 1))
    # At the start only a. Churned in March: a and r; counted: only a (r was not a customer at the
    # start) -> 1 / 1. The count of churned / at start would say 2 / 1 = 200%.
    assert found["churn"] == {
        "rate": 1.0,
        "customersAtStart": 1,
        "churned": 2,
        "churnedJoinedInPeriod": 0,
        "churnedAndReturned": 0,
        "counted": 1,
    }
    # At the end only w, who was not a customer at the start: of the 1 at the start, 0 retained.
    # (At end - acquired) / at start would say (1 - 0) / 1 = 100% retention in a month where the
    # only customer left.
    assert found["retention"] == {
        "rate": 0.0,
        "customersAtStart": 1,
        "customersAtEnd": 1,
        "acquired": 0,
        "retained": 0,
    }
    series = await h.metrics("series { churnRate retentionRate }", at(2024, 1, 1), at(2024, 5, 1))
    rates = [(m["churnRate"], m["retentionRate"]) for m in series["series"]]
    # January: nobody at its start (null); February: 3 at the start, r and w churned; March: as
    # above; April: w alone, still there.
    assert rates == [
        (None, None),
        (pytest.approx(2 / 3, abs=1e-6), pytest.approx(1 / 3, abs=1e-6)),
        (1.0, 0.0),
        (0.0, 1.0),
    ]


async def test_cohorts_triangle_of_two_monthly_cohorts(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    # A customer since December: in no cohort of the period.
    dec = await h.customer(at(2023, 12, 1))
    await h.record(buy(dec, at(2023, 12, 1, 10)))
    a1, a2, a3, a4 = await h.customers(at(2024, 1, 8), 4)
    await h.record(*(buy(cid, at(2024, 1, 10)) for cid in (a1, a2, a3, a4)))
    await h.record(did(a4, "subscription_cancelled", at(2024, 1, 20)))  # a4 churns in January...
    b1, b2 = await h.customers(at(2024, 2, 1), 2)
    await h.record(buy(b1, at(2024, 2, 5)), buy(b2, at(2024, 2, 6)), did(a1, "subscription_cancelled", at(2024, 2, 10)))
    await h.record(buy(a4, at(2024, 2, 15)))  # ...and is won back in February
    await h.record(
        did(b1, "subscription_cancelled", at(2024, 3, 5)), did(a2, "subscription_cancelled", at(2024, 3, 10))
    )

    found = await h.metrics("cohorts { month size active retention }", at(2024, 1, 1), at(2024, 4, 1))
    # January cohort: a1..a4 (size 4). In a customer stage at the end of January: a1, a2, a3 (a4
    # churned) = 3; of February: a2, a3, a4 (a1 churned, a4 back) = 3; of March: a3, a4 (a2
    # churned) = 2 -> shares 3/4, 3/4, 2/4.
    # February cohort: b1, b2 (size 2). End of February: 2; of March: b2 = 1 -> 1.0, 0.5.
    # March: nobody first became a customer -> no row. The December customer is in no cohort.
    assert found["cohorts"] == [
        {"month": "2024-01-01T00:00:00+00:00", "size": 4, "active": [3, 3, 2], "retention": [0.75, 0.75, 0.5]},
        {"month": "2024-02-01T00:00:00+00:00", "size": 2, "active": [2, 1], "retention": [1.0, 0.5]},
    ]


async def test_average_lifetime_counts_active_customers_up_to_the_period_end(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    stories = [
        # (became a customer, first churn or None)
        (at(2023, 12, 1, 9), at(2024, 1, 10, 9)),  # 40 days
        (at(2024, 1, 5, 9), at(2024, 2, 4, 9)),  # 30 days
        (at(2024, 1, 15, 9), at(2024, 1, 25, 9)),  # 10 days (won back on 1 February: still 10)
        (at(2024, 3, 1), None),  # active: up to the period end, 1 April = 31 days
        (at(2024, 3, 11), at(2024, 4, 5)),  # churns after the period: active, 21 days
        (at(2024, 4, 10), None),  # a customer only after the period: not counted
    ]
    ids = []
    for joined, churned in stories:
        cid = await h.customer(joined)
        ids.append(cid)
        await h.record(buy(cid, joined))
        if churned:
            await h.record(did(cid, "subscription_cancelled", churned))
    await h.record(buy(ids[2], at(2024, 2, 1)))

    found = await h.metrics("averageLifetime { meanDays customers stillActive }", at(2024, 1, 1), at(2024, 4, 1))
    # Five customers became customers before the period's end; two are still active at it.
    # Mean = (40 + 30 + 10 + 31 + 21) / 5 = 132 / 5 = 26.4 days.
    life = found["averageLifetime"]
    assert (life["customers"], life["stillActive"]) == (5, 2)
    assert life["meanDays"] == pytest.approx(26.4)


async def test_renewal_rate_counts_renewals_and_cancellations_in_the_period(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    ids = await h.customers(at(2024, 4, 1), 5)
    await h.record(*(did(cid, "subscription_started", at(2024, 4, 1, 10)) for cid in ids))
    await h.record(
        did(ids[0], "renewal", at(2024, 4, 28), amount="10"),  # before the period
        did(ids[0], "renewal", at(2024, 5, 1), amount="10"),
        did(ids[1], "renewal", at(2024, 5, 10), amount="10"),
        did(ids[2], "renewal", at(2024, 5, 31, 23, 59), amount="10"),
        did(ids[3], "subscription_cancelled", at(2024, 5, 20)),
    )
    await h.record(did(ids[4], "subscription_cancelled", at(2024, 6, 1)))  # the period's end: not in it

    found = await h.metrics("renewalRate { rate renewals cancellations }", at(2024, 5, 1), at(2024, 6, 1))
    # In May: 3 renewals (1 May, 10 May, 31 May) and 1 cancellation -> 3 / (3 + 1) = 0.75.
    assert found["renewalRate"] == {"rate": 0.75, "renewals": 3, "cancellations": 1}


async def test_moves_at_the_exact_start_of_the_period_belong_to_it(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    a, b, c, d, e = await h.customers(at(2024, 2, 1), 5)
    await h.record(buy(a, at(2024, 2, 1, 10)), buy(b, at(2024, 2, 1, 10)), buy(c, at(2024, 2, 1, 10)))
    # The period is [1 March, 1 April): c churns at its very first instant, d and e join at it.
    await h.record(did(c, "subscription_cancelled", at(2024, 3, 1)), buy(d, at(2024, 3, 1)), buy(e, at(2024, 3, 1)))

    found = await h.metrics(f"{CHURN} {RETENTION}", at(2024, 3, 1), at(2024, 4, 1))
    # A move at the start instant is in the period [start, end), as the churn, joined and acquired
    # counts already take it: c churned in March, so it was a customer at March's start; d and e
    # joined in March, so they were not. At the start: a, b, c = 3. Churned in March: c = 1,
    # neither joined nor came back -> 1 / 3.
    assert found["churn"] == {
        "rate": pytest.approx(1 / 3, abs=1e-6),
        "customersAtStart": 3,
        "churned": 1,
        "churnedJoinedInPeriod": 0,
        "churnedAndReturned": 0,
        "counted": 1,
    }
    # At the end: a, b, d, e = 4; acquired in March: d, e; of the 3 at the start, a and b are
    # still customers -> 2 / 3.
    assert found["retention"] == {
        "rate": pytest.approx(2 / 3, abs=1e-6),
        "customersAtStart": 3,
        "customersAtEnd": 4,
        "acquired": 2,
        "retained": 2,
    }
    # Likewise a month's end is the instant before the next month begins: at the end of February
    # (the series' point), a, b and c are customers and d, e still prospects, as the cohorts count.
    found = await h.metrics(
        f"series {{ month retentionRate stageDistribution {{ stage {{ key }} count }} }} {RETENTION}",
        at(2024, 2, 1),
        at(2024, 3, 1),
    )
    assert stages(found["series"][0]["stageDistribution"]) == {"customer": 3, "prospect": 2}
    assert found["retention"]["customersAtEnd"] == 3


# --- edge cases ---------------------------------------------------------------------------------

EVERYTHING = f"""
period {{ start end }}
stageDistribution {{ stage {{ key }} count share }}
funnel {{ stage {{ key }} count conversionFromPrevious cumulativeConversion }}
timeInStage {{ stage {{ key }} days {{ {SPREAD} }} }}
velocity {{ {SPREAD} }}
{CHURN}
{RETENTION}
cohorts {{ month size active retention }}
averageLifetime {{ meanDays customers stillActive }}
renewalRate {{ rate renewals cancellations }}
revenue
historicClv {{ value unbounded revenuePerCustomerMonth monthlyChurnRate grossMargin customerMonths }}
cac {{ value spend acquired perChannel {{ channel spend acquired cac }} }}
clvToCac
nps {{ score promoters passives detractors responses }}
csat {{ score satisfied responses }}
series {{ month churnRate retentionRate revenue nps stageDistribution {{ stage {{ key }} count }} }}
"""


async def test_an_empty_workspace_answers_every_metric_with_nulls_and_zeros(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    found = await h.metrics(EVERYTHING, at(2024, 1, 1), at(2024, 3, 1))
    assert found["period"] == {"start": "2024-01-01T00:00:00+00:00", "end": "2024-03-01T00:00:00+00:00"}
    assert {(r["count"], r["share"]) for r in found["stageDistribution"]} == {(0, 0.0)}
    # Nobody at any step: counts 0, conversions unknown (nothing to divide by).
    assert {(s["count"], s["conversionFromPrevious"], s["cumulativeConversion"]) for s in found["funnel"]} == {
        (0, None, None)
    }
    assert len(found["funnel"]) == 7
    assert found["timeInStage"] == []
    assert found["velocity"] == {"count": 0, "open": 0, "meanDays": None, "medianDays": None, "p90Days": None}
    # No customer at the start: no churn or retention rate (never a division by zero).
    assert found["churn"] == {
        "rate": None,
        "customersAtStart": 0,
        "churned": 0,
        "churnedJoinedInPeriod": 0,
        "churnedAndReturned": 0,
        "counted": 0,
    }
    assert found["retention"] == {
        "rate": None,
        "customersAtStart": 0,
        "customersAtEnd": 0,
        "acquired": 0,
        "retained": 0,
    }
    assert found["cohorts"] == []
    assert found["averageLifetime"] == {"meanDays": None, "customers": 0, "stillActive": 0}
    assert found["renewalRate"] == {"rate": None, "renewals": 0, "cancellations": 0}
    assert float(found["revenue"]) == 0
    # No customer-months: the CLV is unknown, not unbounded; the margin is the default 1.0.
    clv = found["historicClv"]
    assert (clv["value"], clv["unbounded"], clv["revenuePerCustomerMonth"], clv["monthlyChurnRate"]) == (
        None,
        False,
        None,
        None,
    )
    assert (float(clv["grossMargin"]), clv["customerMonths"]) == (1.0, 0)
    cac = found["cac"]
    assert (cac["value"], cac["spend"], cac["acquired"], cac["perChannel"]) == (None, None, 0, [])
    assert found["clvToCac"] is None
    assert found["nps"] == {"score": None, "promoters": 0, "passives": 0, "detractors": 0, "responses": 0}
    assert found["csat"] == {"score": None, "satisfied": 0, "responses": 0}
    # One point per month of the period, with nothing in it.
    assert [m["month"] for m in found["series"]] == ["2024-01-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00"]
    for month in found["series"]:
        assert (month["churnRate"], month["retentionRate"], float(month["revenue"]), month["nps"]) == (
            None,
            None,
            0,
            None,
        )
        assert stages(month["stageDistribution"]) == {}


async def test_a_period_without_customers_at_its_start_has_no_churn_or_retention_rate(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    a, b = await h.customers(at(2024, 5, 10), 2)
    await h.record(buy(a, at(2024, 5, 10, 10)), buy(b, at(2024, 5, 10, 10)))
    await h.record(did(b, "subscription_cancelled", at(2024, 5, 20)))

    found = await h.metrics(f"{CHURN} {RETENTION}", at(2024, 5, 1), at(2024, 6, 1))
    # Nobody was a customer on 1 May: the denominators are 0, the rates null (not an error). b
    # churned but joined in May, so it is not counted; a is the one customer at the end.
    assert found["churn"] == {
        "rate": None,
        "customersAtStart": 0,
        "churned": 1,
        "churnedJoinedInPeriod": 1,
        "churnedAndReturned": 0,
        "counted": 0,
    }
    assert found["retention"] == {
        "rate": None,
        "customersAtStart": 0,
        "customersAtEnd": 1,
        "acquired": 2,
        "retained": 0,
    }


@pytest.mark.parametrize("end", [at(2024, 4, 30), at(2024, 5, 1)])
async def test_a_period_that_ends_before_it_starts_is_a_clear_error(api: Api, app: Starlette, end: datetime) -> None:
    period = {"start": at(2024, 5, 1).isoformat(), "end": end.isoformat()}
    body = await api.run("query($p: PeriodInput) { metrics(period: $p) { revenue } }", {"p": period})
    assert body["data"] == {"metrics": None}
    (error,) = body["errors"]
    assert error["message"] == "The period must end after it starts."
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "INVALID_PERIOD", "field": ["period", "end"]}
