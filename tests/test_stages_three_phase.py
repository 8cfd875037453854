"""`three-phase` (As três fases do CRM): (selection →) acquisition → retention → extension, and
churned customers won back to retention; customer stories as an admin reads them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from stages import three_phase
from tests.conftest import Api, new_customer
from tests.lifecycle_story import (
    T0,
    bought,
    customer,
    customer_story,
    day,
    did,
    record_step,
    replay,
    switch_primary_model,
)

MODEL = three_phase.MODEL

# --- selection and acquisition ----------------------------------------------------------------


def test_by_default_a_new_customer_starts_in_acquisition() -> None:
    story = replay(MODEL, [did("site_visit", day(1))], now=day(2))

    assert story.steps == [(None, "acquisition", "initial", T0)]
    assert story.position.next_check_at is None  # acquisition has no time-based rule


def test_with_selection_a_new_customer_starts_in_selection_and_stays_until_something_happens() -> None:
    story = replay(MODEL, [], now=day(30), use_selection=True)

    assert story.steps == [(None, "selection", "initial", T0)]


def test_a_customer_matching_the_icp_job_title_is_selected_at_once() -> None:
    cto = customer(job_title="  cto ")

    story = replay(MODEL, [], now=day(1), who=cto, use_selection=True, icp_job_titles=["CTO"])

    assert story.steps == [(None, "selection", "initial", T0), ("selection", "acquisition", "selected", T0)]


def test_a_customer_in_an_icp_industry_is_selected() -> None:
    shop = customer(industry="Retail")

    story = replay(MODEL, [], now=day(1), who=shop, use_selection=True, icp_industries=["retail"])

    assert story.path == ["selection", "acquisition"]


def test_a_customer_outside_the_icp_stays_in_selection() -> None:
    lawyer = customer(job_title="Lawyer", industry="Law")

    story = replay(
        MODEL,
        [],
        now=day(1),
        who=lawyer,
        use_selection=True,
        icp_job_titles=["CTO"],
        icp_industries=["retail"],
    )

    assert story.stage == "selection"


@pytest.mark.parametrize(
    ("kind", "score"),
    [
        ("site_visit", None),
        ("first_contact", None),
        ("email_opened", None),
        ("support_ticket_opened", None),
        ("nps_response", 7),
        ("review", 5),
        ("referral", None),
    ],
)
def test_any_interaction_moves_a_customer_from_selection_to_acquisition(kind: str, score: int | None) -> None:
    story = replay(MODEL, [did(kind, day(3), score=score)], now=day(4), use_selection=True)

    assert story.steps == [
        (None, "selection", "initial", T0),
        ("selection", "acquisition", "selected", day(3)),
    ]


def test_a_purchase_in_selection_passes_acquisition_on_the_way_to_retention() -> None:
    story = replay(MODEL, [bought(day(3))], now=day(4), use_selection=True)

    assert story.steps[1:] == [
        ("selection", "acquisition", "selected", day(3)),
        ("acquisition", "retention", "first_purchase", day(3)),
    ]


# --- retention and extension ------------------------------------------------------------------


def test_the_first_purchase_makes_a_customer_retained() -> None:
    story = replay(MODEL, [did("site_visit", day(1)), bought(day(5))], now=day(6))

    assert story.steps == [
        (None, "acquisition", "initial", T0),
        ("acquisition", "retention", "first_purchase", day(5)),
    ]
    assert story.position.next_check_at == day(185)


def test_a_subscription_makes_a_customer_retained() -> None:
    story = replay(MODEL, [did("subscription_started", day(5))], now=day(6))

    assert story.steps[-1] == ("acquisition", "retention", "first_purchase", day(5))


def test_the_third_order_moves_a_customer_to_extension() -> None:
    history = [
        bought(day(1), product="cafe"),
        bought(day(20), product="cafe"),
        bought(day(40), product="cafe"),
    ]

    two = replay(MODEL, history[:2], now=day(21))
    three = replay(MODEL, history, now=day(41))

    assert two.stage == "retention"
    assert three.steps[1:] == [
        ("acquisition", "retention", "first_purchase", day(1)),
        ("retention", "extension", "extension", day(40)),
    ]


def test_a_second_distinct_product_moves_a_customer_to_extension() -> None:
    story = replay(MODEL, [bought(day(1), product="cafe"), bought(day(20), product="cha")], now=day(21))

    assert story.steps[-1] == ("retention", "extension", "extension", day(20))


def test_the_same_product_twice_is_not_a_second_product() -> None:
    story = replay(MODEL, [bought(day(1), product="cafe"), bought(day(20), product="cafe")], now=day(21))

    assert story.stage == "retention"


def test_renewals_are_not_orders_for_extension() -> None:
    history = [bought(day(1)), did("renewal", day(30), "20.00"), did("renewal", day(60), "20.00")]

    story = replay(MODEL, history, now=day(61))

    assert story.stage == "retention"


def test_the_workspace_can_ask_for_more_orders_before_extension() -> None:
    history = [bought(day(n)) for n in (1, 10, 20, 30)]

    three = replay(MODEL, history[:3], now=day(21), extension_orders=4)
    four = replay(MODEL, history, now=day(31), extension_orders=4)

    assert three.stage == "retention"
    assert four.steps[-1] == ("retention", "extension", "extension", day(30))


# --- churn and win back -----------------------------------------------------------------------


def test_a_retained_customer_who_stops_buying_is_churned_180_days_after_the_last_purchase() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(10))], now=day(300))

    assert story.steps[-1] == ("retention", "churned", "churn", day(190))


def test_a_customer_in_extension_churns_too() -> None:
    story = replay(MODEL, [bought(day(1), product="cafe"), bought(day(5), product="cha")], now=day(300))

    assert story.steps[-2:] == [
        ("retention", "extension", "extension", day(5)),
        ("extension", "churned", "churn", day(185)),
    ]


def test_a_churned_customer_is_won_back_to_retention_by_a_purchase() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(250))], now=day(260))

    assert story.steps == [
        (None, "acquisition", "initial", T0),
        ("acquisition", "retention", "first_purchase", day(1)),
        ("retention", "churned", "churn", day(181)),
        ("churned", "retention", "win_back", day(250)),
    ]


def test_a_subscriber_in_retention_churns_when_the_subscription_is_cancelled() -> None:
    history = [did("subscription_started", day(1)), did("subscription_cancelled", day(400))]

    active = replay(MODEL, history[:1], now=day(399))
    cancelled = replay(MODEL, history, now=day(401))

    assert active.stage == "retention"
    assert cancelled.steps[-1] == ("retention", "churned", "churn", day(400))


def test_the_churn_delay_is_a_workspace_setting() -> None:
    story = replay(MODEL, [bought(day(1))], now=day(100), churn_after_days=60)

    assert story.steps[-1] == ("retention", "churned", "churn", day(61))


# --- over the API -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_three_phase_story_over_the_api(api: Api) -> None:
    await switch_primary_model(api, "three-phase")
    bia = await new_customer(api, name="Bia")
    created = datetime.fromisoformat(bia["createdAt"])
    cid = bia["id"]

    def at(minutes: int) -> datetime:
        return created + timedelta(minutes=minutes)

    assert await record_step(api, "three-phase", cid, "site_visit", at(1)) == []
    assert await record_step(
        api, "three-phase", cid, "purchase", at(2), amount="39.90", properties={"product": "cafe"}
    ) == [("acquisition", "retention", "first_purchase", at(2))]
    assert (
        await record_step(api, "three-phase", cid, "purchase", at(3), amount="19.90", properties={"product": "cafe"})
        == []
    )
    assert await record_step(
        api, "three-phase", cid, "purchase", at(4), amount="24.90", properties={"product": "cha"}
    ) == [("retention", "extension", "extension", at(4))]

    stage, history, causes = await customer_story(api, cid)
    assert stage == "extension"
    assert history == [
        (None, "acquisition", "initial", created),
        ("acquisition", "retention", "first_purchase", at(2)),
        ("retention", "extension", "extension", at(4)),
    ]
    assert causes == {"RULE"}
