"""Hand-worked cases for the value and satisfaction metrics (shared/METRICS.md): revenue, historic
CLV, CAC, CLV:CAC, NPS, CSAT, a segment, and the monthly series.

As in test_metrics.py, each workspace's history is written at explicit past times through the real
services, and each expected number is worked out from the definition in the comment above it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.conftest import Api
from tests.metrics_helpers import History, at, buy, did, stages

pytestmark = pytest.mark.asyncio

CLV = "historicClv { value unbounded revenuePerCustomerMonth monthlyChurnRate grossMargin customerMonths }"
CAC = "cac { value spend acquired reason perChannel { channel spend acquired cac reason } }"


def money(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


async def test_revenue_is_purchases_and_renewals_minus_refunds_in_exact_decimals(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    a, b = await h.customers(at(2024, 4, 1), 2)
    await h.record(
        buy(a, at(2024, 4, 30, 23, 59), "500.00"),  # before the period
        buy(a, at(2024, 5, 1), "5.55"),  # at its first instant: in it
        buy(a, at(2024, 5, 2), "19.99"),
        buy(b, at(2024, 5, 3), "0.01"),
        buy(b, at(2024, 5, 4), "1000.10"),
        did(a, "renewal", at(2024, 5, 5), amount="250.50"),
        did(b, "refund", at(2024, 5, 6), amount="20.60"),
        did(b, "csat_response", at(2024, 5, 7), score=5),  # no amount: no revenue
    )
    await h.record(buy(b, at(2024, 6, 1), "700.00"))  # at the period's end: not in it

    found = await h.metrics("revenue", at(2024, 5, 1), at(2024, 6, 1))
    # May: purchases 5.55 + 19.99 + 0.01 + 1000.10 = 1025.65, renewal 250.50, refund 20.60
    # -> 1025.65 + 250.50 - 20.60 = 1255.55, to the cent.
    assert Decimal(found["revenue"]) == Decimal("1255.55")


async def _three_months(h: History) -> None:
    """January to March 2024: a, b and c customers since December; c cancels in January, b in
    February; e joins in February (channel google); purchases of 100 and one refund of 50."""
    a, b, c = await h.customers(at(2023, 12, 5, 9), 3)
    await h.record(*(buy(cid, at(2023, 12, 5, 10)) for cid in (a, b, c)))
    await h.record(*(buy(cid, at(2024, 1, 10, 10)) for cid in (a, b, c)))
    await h.record(did(c, "subscription_cancelled", at(2024, 1, 20, 10)))
    e = await h.customer(at(2024, 2, 5, 9), acquisition_channel="google")
    await h.record(buy(e, at(2024, 2, 5, 10)))
    await h.record(buy(a, at(2024, 2, 10, 10)), buy(b, at(2024, 2, 10, 10)))
    await h.record(did(b, "subscription_cancelled", at(2024, 2, 20, 10)))
    await h.record(buy(a, at(2024, 3, 10, 10)), buy(e, at(2024, 3, 10, 10)))
    await h.record(did(a, "refund", at(2024, 3, 15, 10), amount="50"))
    await h.spend("2024-01-01", "2024-03-31", "750", "google")


async def test_historic_clv_over_the_period_months_and_clv_to_cac(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    await _three_months(h)

    found = await h.metrics(f"revenue {CLV} {CAC} clvToCac", at(2024, 1, 1), at(2024, 4, 1))
    # Customer-months: each customer's share of each month spent in a customer stage.
    #   a: January, February and March whole = 3
    #   b: January whole = 1, February until the 20th at 10:00 = 19 d 10 h of 29 days
    #   c: January until the 20th at 10:00 = 19 d 10 h of 31 days
    #   e: from 5 February at 10:00 = 24 d 14 h of 29 days, March whole = 1
    # Churns: c and b = 2. Revenue: 300 + 300 + 150 (200 - 50 refunded) = 750.
    months = 5 + (19 + 10 / 24) / 29 + (19 + 10 / 24) / 31 + (24 + 14 / 24) / 29  # 7.143585...
    # Revenue per customer-month = 750 / 7.143585 = 104.99; monthly churn = 2 / 7.143585 = 0.28;
    # margin 1.0 (the default) -> CLV = (750 / months) x 1 / (2 / months) = 750 / 2 = 375 exactly.
    clv = found["historicClv"]
    assert Decimal(found["revenue"]) == 750
    assert clv["customerMonths"] == pytest.approx(months, abs=1e-6)
    assert float(clv["revenuePerCustomerMonth"]) == pytest.approx(750 / months, abs=1e-4)
    assert clv["monthlyChurnRate"] == pytest.approx(2 / months)
    assert Decimal(clv["grossMargin"]) == 1
    assert clv["unbounded"] is False
    assert money(clv["value"]) == Decimal("375.0000")
    # CAC: 750 of spend in the period (1 January to 31 March, wholly in it) / 1 customer acquired
    # (e, the others became customers in December) = 750. CLV : CAC = 375 / 750 = 0.5.
    assert money(found["cac"]["value"]) == 750
    assert found["clvToCac"] == 0.5

    # With a gross margin of 0.4 (a workspace setting): CLV = (750/7) x 0.4 / (2/7) = 150, and
    # CLV : CAC = 150 / 750 = 0.2.
    await h.margin("0.4")
    found = await h.metrics(f"{CLV} clvToCac", at(2024, 1, 1), at(2024, 4, 1))
    assert Decimal(found["historicClv"]["grossMargin"]) == Decimal("0.4")
    assert money(found["historicClv"]["value"]) == Decimal("150.0000")
    assert found["clvToCac"] == 0.2


async def test_historic_clv_without_churn_is_unbounded_not_a_number(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    await _three_months(h)

    found = await h.metrics(f"{CLV} clvToCac churn {{ rate }}", at(2024, 3, 1), at(2024, 4, 1))
    # March alone: a and e customers all month (2 customer-months), nobody churned, revenue 150.
    # Revenue per customer-month = 150 / 2 = 75; churn 0 -> 75 / 0: unbounded, no value, no error;
    # and so no CLV : CAC either.
    clv = found["historicClv"]
    assert (clv["value"], clv["unbounded"], clv["monthlyChurnRate"], clv["customerMonths"]) == (None, True, 0.0, 2)
    assert money(clv["revenuePerCustomerMonth"]) == 75
    assert Decimal(clv["grossMargin"]) == 1
    assert found["clvToCac"] is None
    assert found["churn"]["rate"] == 0.0


async def test_the_monthly_series_gives_churn_revenue_and_stages_per_month(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    await _three_months(h)

    found = await h.metrics(
        "series { month churnRate retentionRate revenue stageDistribution { stage { key } count } }",
        at(2024, 1, 1),
        at(2024, 4, 1),
    )
    series = found["series"]
    assert [m["month"] for m in series] == [
        "2024-01-01T00:00:00+00:00",
        "2024-02-01T00:00:00+00:00",
        "2024-03-01T00:00:00+00:00",
    ]
    # Churn (ChartMogul) per month: January c / {a, b, c} = 1/3; February b / {a, b} = 1/2;
    # March nobody / {a, e} = 0.
    assert [m["churnRate"] for m in series] == [pytest.approx(1 / 3), 0.5, 0.0]
    # Retention = of those at the start, the share at the end: January a, b of {a, b, c} = 2/3;
    # February a of {a, b} (e joined in it) = 1/2; March a, e of {a, e} = 1.
    assert [m["retentionRate"] for m in series] == [pytest.approx(2 / 3), 0.5, 1.0]
    # Revenue: 300, 300 (a, b and e's first purchase), 200 - 50 = 150.
    assert [Decimal(m["revenue"]) for m in series] == [300, 300, 150]
    # Stages at each month's end.
    assert [stages(m["stageDistribution"]) for m in series] == [
        {"customer": 2, "churned": 1},
        {"customer": 2, "churned": 2},
        {"customer": 2, "churned": 2},
    ]


async def test_cac_overall_and_per_channel_with_spend_prorated_by_days_in_the_period(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    before = await h.customer(at(2024, 2, 20), acquisition_channel="google")
    await h.record(buy(before, at(2024, 2, 21)))  # acquired before March: not counted
    g1, g2 = await h.customers(at(2024, 3, 2), 2, acquisition_channel="google")
    (f1,) = await h.customers(at(2024, 3, 2), 1, acquisition_channel="facebook")
    (r1,) = await h.customers(at(2024, 3, 2), 1, acquisition_channel="referral")
    (n1,) = await h.customers(at(2024, 3, 2), 1)
    await h.customer(at(2024, 3, 2), acquisition_channel="google")  # a prospect: not acquired
    await h.record(*(buy(cid, at(2024, 3, 3)) for cid in (g1, g2, f1, r1, n1)))
    # Spend records (dates inclusive) and the days of each inside March 2024:
    await h.spend("2024-03-01", "2024-03-31", "3100", "google")  # 31 of 31 days -> 3100
    await h.spend("2024-02-15", "2024-03-14", "2900", "google")  # 14 of 29 days -> 2900 x 14/29 = 1400
    await h.spend("2024-03-22", "2024-04-10", "600", "facebook")  # 10 of 20 days -> 300
    await h.spend("2024-03-01", "2024-03-05", "500")  # no channel, 5 of 5 days -> 500
    await h.spend("2024-04-01", "2024-04-30", "999", "google")  # after March -> nothing

    found = await h.metrics(CAC, at(2024, 3, 1), at(2024, 4, 1))
    cac: dict[str, Any] = found["cac"]
    per = {c["channel"]: (money(c["spend"]), c["acquired"], money(c["cac"])) for c in cac["perChannel"]}
    # google: 3100 + 1400 = 4500 for g1, g2 -> 2250; facebook: 300 for f1 -> 300; referral: no
    # spend recorded, r1 -> unknown (null, not 0: "free"); no channel: 500 for n1 -> 500.
    assert per == {
        "facebook": (Decimal(300), 1, Decimal(300)),
        "google": (Decimal(4500), 2, Decimal(2250)),
        "referral": (None, 1, None),
        None: (Decimal(500), 1, Decimal(500)),
    }
    reasons = {c["channel"]: c["reason"] for c in cac["perChannel"]}
    assert reasons["google"] is None
    assert "No acquisition spend recorded for this channel" in reasons["referral"]
    # Overall: 4500 + 300 + 500 = 5300 of spend / 5 customers acquired in March = 1060.
    assert (money(cac["spend"]), cac["acquired"], money(cac["value"])) == (Decimal(5300), 5, Decimal(1060))

    # Only the first half of March: google 3100 x 15/31 = 1500 + 2900 x 14/29 = 1400; facebook
    # nothing (from the 22nd); no channel 500. Acquired: the five, on 3 March -> 3400 / 5 = 680.
    found = await h.metrics(CAC, at(2024, 3, 1), at(2024, 3, 16))
    assert (money(found["cac"]["spend"]), found["cac"]["acquired"]) == (Decimal(3400), 5)
    assert money(found["cac"]["value"]) == Decimal(680)


async def test_cac_without_any_spend_recorded_is_unknown_not_free(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    a, b = await h.customers(at(2024, 3, 2), 2, acquisition_channel="seo")
    await h.record(buy(a, at(2024, 3, 3)), buy(b, at(2024, 3, 4)))
    await h.spend("2024-01-01", "2024-01-31", "100", "seo")  # outside March: none in the period
    found = await h.metrics(f"{CAC} clvToCac", at(2024, 3, 1), at(2024, 4, 1))
    cac = found["cac"]
    # Two acquired, no spend in March: CAC is null with the reason (was "0.0000", read as free).
    assert (cac["value"], cac["spend"], cac["acquired"]) == (None, None, 2)
    assert cac["reason"].startswith("No acquisition spend recorded for the period")
    assert cac["perChannel"] == [
        {
            "channel": "seo",
            "spend": None,
            "acquired": 2,
            "cac": None,
            "reason": "No acquisition spend recorded for this channel in the period: the cost is unknown, not free.",
        }
    ]
    assert found["clvToCac"] is None


async def _surveyed(h: History) -> dict[str, int]:
    names = ["p1", "p2", "p3", "p4", "q1", "q2", "d1", "o1", "o2"]
    google = {"p1", "p2", "q1"}
    ids = {n: await h.customer(at(2024, 4, 1), acquisition_channel="google" if n in google else None) for n in names}
    nps = [
        ("p1", 2, 3),
        ("p1", 20, 10),  # 3 then 10: a promoter
        ("p2", 5, 9),
        ("p3", 10, 7),
        ("p3", 25, 6),  # 7 then 6: a detractor
        ("p4", 3, 9),  # 5 in April (below), then 9: a promoter
        ("q1", 8, 7),
        ("q2", 9, 8),
        ("d1", 11, 0),
    ]
    await h.record(
        did(ids["p4"], "nps_response", at(2024, 4, 28), score=5),
        did(ids["o1"], "nps_response", at(2024, 4, 20), score=10),  # before May
        did(ids["o2"], "nps_response", at(2024, 4, 25), score=2),
    )
    await h.record(*(did(ids[n], "nps_response", at(2024, 5, day), score=s) for n, day, s in nps))
    await h.record(did(ids["o2"], "nps_response", at(2024, 6, 2), score=9))  # after May
    csat = [("p1", 2, 5), ("p1", 12, 4), ("p2", 3, 3), ("q1", 4, 1), ("q2", 5, 4), ("d1", 6, 2), ("o1", 7, 5)]
    await h.record(did(ids["o1"], "csat_response", at(2024, 4, 30), score=5))  # before May
    await h.record(*(did(ids[n], "csat_response", at(2024, 5, day), score=s) for n, day, s in csat))
    return ids


NPS = "nps { score promoters passives detractors responses }"


async def test_nps_counts_the_latest_answer_of_each_customer_in_the_period(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    await _surveyed(h)

    found = await h.metrics(NPS, at(2024, 5, 1), at(2024, 6, 1))
    # Latest May answer per customer: p1 10, p2 9, p3 6, p4 9, q1 7, q2 8, d1 0 (o1 and o2 did not
    # answer in May). Promoters (9-10) p1, p2, p4 = 3; passives q1, q2 = 2; detractors p3, d1 = 2;
    # 7 responses -> NPS = 100 x (3 - 2) / 7 = 14.2857...
    nps = found["nps"]
    assert (nps["promoters"], nps["passives"], nps["detractors"], nps["responses"]) == (3, 2, 2, 7)
    assert nps["score"] == pytest.approx(100 / 7)


async def test_csat_is_the_share_of_4_and_5_among_every_answer_with_its_count(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    await _surveyed(h)

    found = await h.metrics("csat { score satisfied responses }", at(2024, 5, 1), at(2024, 6, 1))
    # Every May answer counts (p1 twice): 5, 4, 3, 1, 4, 2, 5 -> 7 answers, 4 or 5: 4 of them
    # -> CSAT = 100 x 4 / 7 = 57.142857... (o1's April 5 is outside the period).
    csat = found["csat"]
    assert (csat["satisfied"], csat["responses"]) == (4, 7)
    assert csat["score"] == pytest.approx(400 / 7)


async def test_a_segment_restricts_every_metric_to_its_customers(api: Api, app: Starlette) -> None:
    h = History.of(api, app)
    g1, g2 = await h.customers(at(2024, 4, 10), 2, acquisition_channel="google")
    (o1,) = await h.customers(at(2024, 4, 10), 1, acquisition_channel="facebook")
    await h.customer(at(2024, 4, 10))  # stays a prospect
    await h.record(*(buy(cid, at(2024, 4, 10, 10)) for cid in (g1, g2, o1)))
    await h.record(buy(g1, at(2024, 5, 5), "50"), buy(o1, at(2024, 5, 5), "200"))
    # NPS 10 and 9 make g1 and o1 advocates (advocate_nps 9); g2 answers 3 and cancels.
    await h.record(
        did(g1, "nps_response", at(2024, 5, 6), score=10),
        did(o1, "nps_response", at(2024, 5, 6), score=9),
        did(g2, "nps_response", at(2024, 5, 7), score=3),
    )
    await h.record(did(g2, "subscription_cancelled", at(2024, 5, 15)))
    fields = (
        f"revenue churn {{ rate customersAtStart counted }} {NPS} stageDistribution {{ stage {{ key }} count share }}"
    )

    everyone = await h.metrics(fields, at(2024, 5, 1), at(2024, 6, 1))
    # Whole workspace: revenue 50 + 200 = 250; churn g2 / {g1, g2, o1} = 1/3; NPS promoters g1, o1,
    # detractor g2 -> 100 x (2 - 1) / 3; now: advocates g1, o1, churned g2, the prospect.
    assert Decimal(everyone["revenue"]) == 250
    assert everyone["churn"] == {"rate": pytest.approx(1 / 3), "customersAtStart": 3, "counted": 1}
    assert everyone["nps"]["score"] == pytest.approx(100 / 3)
    assert stages(everyone["stageDistribution"]) == {"advocate": 2, "churned": 1, "prospect": 1}

    google = await h.metrics(fields, at(2024, 5, 1), at(2024, 6, 1), segment={"acquisitionChannel": "google"})
    # Google's customers only (g1, g2): revenue 50; churn g2 / {g1, g2} = 0.5; NPS promoter g1,
    # detractor g2 -> 100 x (1 - 1) / 2 = 0; now: advocate g1, churned g2, a half each.
    assert Decimal(google["revenue"]) == 50
    assert google["churn"] == {"rate": 0.5, "customersAtStart": 2, "counted": 1}
    assert google["nps"] == {"score": 0.0, "promoters": 1, "passives": 0, "detractors": 1, "responses": 2}
    shares = {r["stage"]["key"]: (r["count"], r["share"]) for r in google["stageDistribution"] if r["count"]}
    assert shares == {"advocate": (1, 0.5), "churned": (1, 0.5)}
