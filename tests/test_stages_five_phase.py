"""`five-phase` (Gerenciamento de Ciclo de Vida do Cliente): acquisition → activation → retention →
growth → advocacy, and churned customers won back to activation. Stories as an admin reads them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from api.records import InteractionRecord
from stages import five_phase
from tests.conftest import Api, new_customer
from tests.lifecycle_story import (
    T0,
    bought,
    customer_story,
    day,
    did,
    record_step,
    replay,
    switch_primary_model,
)

MODEL = five_phase.MODEL


def grown(*later: InteractionRecord) -> list[InteractionRecord]:
    """A customer in growth by day 20 (two products), then `later` interactions."""
    return [
        bought(day(1), "80.00", "cafe"),
        bought(day(10), "80.00", "cafe"),
        bought(day(20), "50.00", "cha"),
        *later,
    ]


# --- acquisition, activation, retention -------------------------------------------------------


def test_a_new_customer_starts_in_acquisition_and_the_first_purchase_activates_them() -> None:
    before = replay(MODEL, [did("site_visit", day(1))], now=day(2))
    after = replay(MODEL, [did("site_visit", day(1)), bought(day(3))], now=day(4))

    assert before.steps == [(None, "acquisition", "initial", T0)]
    assert after.steps == [
        (None, "acquisition", "initial", T0),
        ("acquisition", "activation", "first_purchase", day(3)),
    ]


def test_a_subscription_activates_a_customer() -> None:
    story = replay(MODEL, [did("subscription_started", day(3))], now=day(4))

    assert story.steps[-1] == ("acquisition", "activation", "first_purchase", day(3))


def test_a_second_purchase_moves_an_activated_customer_to_retention() -> None:
    story = replay(MODEL, [bought(day(1), product="cafe"), bought(day(10), product="cafe")], now=day(11))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "retention", "repeat", day(10)),
    ]


def test_a_renewal_moves_an_activated_customer_to_retention() -> None:
    story = replay(MODEL, [did("subscription_started", day(1)), did("renewal", day(31), "29.90")], now=day(32))

    assert story.steps[-1] == ("activation", "retention", "repeat", day(31))


def test_time_and_engagement_alone_do_not_move_an_activated_customer() -> None:
    story = replay(MODEL, [bought(day(1)), did("site_visit", day(20)), did("chat", day(50))], now=day(100))

    assert story.stage == "activation"


# --- growth -----------------------------------------------------------------------------------


def test_a_second_distinct_product_moves_a_retained_customer_to_growth() -> None:
    story = replay(MODEL, grown(), now=day(21))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "retention", "repeat", day(10)),
        ("retention", "growth", "growth", day(20)),
    ]


def test_a_second_product_bought_as_the_second_purchase_goes_through_retention_to_growth() -> None:
    story = replay(MODEL, [bought(day(1), product="cafe"), bought(day(10), product="cha")], now=day(11))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "retention", "repeat", day(10)),
        ("retention", "growth", "growth", day(10)),
    ]


def test_revenue_of_1000_moves_a_retained_customer_to_growth() -> None:
    history = [
        bought(day(1), "400.00"),
        bought(day(10), "400.00"),  # 800: retention
        did("renewal", day(20), Decimal("199.99")),  # 999.99
        did("renewal", day(30), Decimal("0.01")),  # 1000.00
    ]

    short = replay(MODEL, history[:3], now=day(21))
    enough = replay(MODEL, history, now=day(31))

    assert short.stage == "retention"
    assert enough.steps[-1] == ("retention", "growth", "growth", day(30))


def test_revenue_is_net_of_refunds() -> None:
    history = [bought(day(1), "600.00"), did("refund", day(5), "200.00"), bought(day(10), "500.00")]

    story = replay(MODEL, history, now=day(11))

    assert story.stage == "retention"  # 900, not 1100


def test_the_growth_revenue_is_a_workspace_setting() -> None:
    story = replay(MODEL, [bought(day(1), "300.00"), bought(day(10), "300.00")], now=day(11), growth_revenue="500")

    assert story.steps[-1] == ("retention", "growth", "growth", day(10))


# --- advocacy ---------------------------------------------------------------------------------


def test_a_customer_in_growth_who_refers_someone_is_an_advocate() -> None:
    story = replay(MODEL, grown(did("referral", day(30))), now=day(31))

    assert story.steps[-2:] == [
        ("retention", "growth", "growth", day(20)),
        ("growth", "advocacy", "advocacy", day(30)),
    ]


@pytest.mark.parametrize(("score", "stage"), [(8, "growth"), (9, "advocacy"), (10, "advocacy")])
def test_an_nps_of_nine_or_more_makes_an_advocate(score: int, stage: str) -> None:
    story = replay(MODEL, grown(did("nps_response", day(30), score=score)), now=day(31))

    assert story.stage == stage


@pytest.mark.parametrize(("score", "stage"), [(3, "growth"), (4, "advocacy"), (5, "advocacy")])
def test_a_review_of_four_or_more_makes_an_advocate(score: int, stage: str) -> None:
    story = replay(MODEL, grown(did("review", day(30), score=score)), now=day(31))

    assert story.stage == stage
    if stage == "advocacy":
        assert story.steps[-1] == ("growth", "advocacy", "advocacy", day(30))


def test_a_promoter_who_is_only_retained_becomes_an_advocate_once_they_grow() -> None:
    history = [
        bought(day(1), product="cafe"),
        bought(day(10), product="cafe"),
        did("nps_response", day(15), score=10),
    ]

    retained = replay(MODEL, history, now=day(16))
    grew = replay(MODEL, [*history, bought(day(20), product="cha")], now=day(21))

    assert retained.stage == "retention"
    assert grew.steps[-2:] == [
        ("retention", "growth", "growth", day(20)),
        ("growth", "advocacy", "advocacy", day(20)),
    ]


# --- churn and win back -----------------------------------------------------------------------


def test_an_advocate_who_stops_buying_is_churned_180_days_after_the_last_purchase() -> None:
    story = replay(MODEL, grown(did("referral", day(30))), now=day(400))

    assert story.steps[-1] == ("advocacy", "churned", "churn", day(200))


@pytest.mark.parametrize(
    ("history", "leaves"),
    [
        ([bought(day(1))], "activation"),
        ([bought(day(1)), bought(day(10))], "retention"),
        (grown(), "growth"),
    ],
    ids=["activation", "retention", "growth"],
)
def test_every_paying_stage_churns_after_180_days_without_a_purchase(
    history: list[InteractionRecord], leaves: str
) -> None:
    story = replay(MODEL, history, now=day(500))

    last_purchase = max(r.occurred_at for r in history)
    assert story.steps[-1] == (leaves, "churned", "churn", last_purchase + timedelta(days=180))


def test_a_subscriber_churns_when_the_subscription_is_cancelled_not_at_day_180() -> None:
    history = [did("subscription_started", day(1)), did("subscription_cancelled", day(365))]

    story = replay(MODEL, history, now=day(366))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "churned", "churn", day(365)),
    ]


def test_a_churned_subscriber_who_subscribes_again_is_won_back_to_activation() -> None:
    history = [
        did("subscription_started", day(1)),
        did("subscription_cancelled", day(100)),
        did("subscription_started", day(200)),
    ]

    story = replay(MODEL, history, now=day(201))

    assert story.steps[-2:] == [
        ("activation", "churned", "churn", day(100)),
        ("churned", "activation", "win_back", day(200)),
    ]
    assert story.stage == "activation"


def test_the_purchase_that_wins_a_customer_back_does_not_also_count_toward_retention() -> None:
    # MODELS.md: churned → activation on a purchase; retention needs a later purchase or renewal.
    story = replay(MODEL, [bought(day(1)), bought(day(250)), bought(day(260))], now=day(261))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "churned", "churn", day(181)),
        ("churned", "activation", "win_back", day(250)),
        ("activation", "retention", "repeat", day(260)),
    ]


def test_a_renewal_after_a_win_back_retains_the_customer() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(250)), did("renewal", day(280), amount="20")], now=day(281))
    assert story.steps[-1] == ("activation", "retention", "repeat", day(280))


# --- over the API -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_five_phase_story_over_the_api(api: Api) -> None:
    await switch_primary_model(api, "five-phase")
    duda = await new_customer(api, name="Duda")
    created = datetime.fromisoformat(duda["createdAt"])
    cid = duda["id"]

    def at(minutes: int) -> datetime:
        return created + timedelta(minutes=minutes)

    assert await record_step(api, "five-phase", cid, "purchase", at(1), amount="600.00") == [
        ("acquisition", "activation", "first_purchase", at(1))
    ]
    # 1100.00 of revenue: retained and growing on the same purchase.
    assert await record_step(api, "five-phase", cid, "purchase", at(2), amount="500.00") == [
        ("activation", "retention", "repeat", at(2)),
        ("retention", "growth", "growth", at(2)),
    ]
    assert await record_step(api, "five-phase", cid, "review", at(3), score=3) == []
    assert await record_step(api, "five-phase", cid, "review", at(4), score=5) == [
        ("growth", "advocacy", "advocacy", at(4))
    ]

    stage, history, causes = await customer_story(api, cid)
    assert stage == "advocacy"
    assert history == [
        (None, "acquisition", "initial", created),
        ("acquisition", "activation", "first_purchase", at(1)),
        ("activation", "retention", "repeat", at(2)),
        ("retention", "growth", "growth", at(2)),
        ("growth", "advocacy", "advocacy", at(4)),
    ]
    assert causes == {"RULE"}
