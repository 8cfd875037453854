"""`lifespan` (o lifespan do CRM): acquisition → activation → retention; churned → reactivation
→ retention. Customer stories as an admin reads them in a history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stages import lifespan
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

MODEL = lifespan.MODEL

# --- acquisition and activation ---------------------------------------------------------------


def test_a_new_customer_starts_in_acquisition_until_the_first_purchase() -> None:
    story = replay(MODEL, [did("site_visit", day(1)), did("demo_requested", day(2))], now=day(100))

    assert story.steps == [(None, "acquisition", "initial", T0)]


def test_the_first_purchase_activates_a_customer() -> None:
    story = replay(MODEL, [did("site_visit", day(1)), bought(day(3))], now=day(4))

    assert story.steps == [
        (None, "acquisition", "initial", T0),
        ("acquisition", "activation", "first_purchase", day(3)),
    ]
    assert story.position.next_check_at == day(33)  # the 30-day engagement check


def test_a_subscription_activates_a_customer() -> None:
    story = replay(MODEL, [did("subscription_started", day(3))], now=day(4))

    assert story.steps[-1] == ("acquisition", "activation", "first_purchase", day(3))


# --- activation to retention ------------------------------------------------------------------


def test_a_second_purchase_retains_an_activated_customer() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(10))], now=day(11))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "retention", "activated", day(10)),
    ]
    assert story.position.next_check_at == day(190)


def test_a_renewal_retains_an_activated_customer() -> None:
    story = replay(MODEL, [did("subscription_started", day(1)), did("renewal", day(8), "49.00")], now=day(9))

    assert story.steps[-1] == ("activation", "retention", "activated", day(8))


def test_a_customer_still_engaged_30_days_after_activation_is_retained_on_day_30_exactly() -> None:
    story = replay(MODEL, [bought(day(1)), did("site_visit", day(5))], now=day(60))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "retention", "activated", day(31)),
    ]


def test_the_engagement_check_does_not_fire_a_second_early() -> None:
    story = replay(MODEL, [bought(day(1)), did("site_visit", day(5))], now=day(31) - timedelta(seconds=1))

    assert story.stage == "activation"
    assert story.position.next_check_at == day(31)


def test_a_customer_with_no_interaction_after_activation_is_not_retained_at_day_30() -> None:
    story = replay(MODEL, [did("site_visit", day(0.5)), bought(day(1))], now=day(60))

    assert story.stage == "activation"
    assert story.position.next_check_at == day(181)  # now only churn can happen by itself


def test_a_customer_who_engages_only_after_day_30_is_not_retained_before_they_engage() -> None:
    # Nothing between activation and day 31: the day-31 check finds no engagement. The visit on
    # day 40 makes "engaged, 30 days after activation" true on day 40, not retroactively.
    story = replay(MODEL, [bought(day(1)), did("site_visit", day(40))], now=day(60))

    assert story.steps[1:] == [
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "retention", "activated", day(40)),
    ]


def test_the_activation_period_is_a_workspace_setting() -> None:
    story = replay(MODEL, [bought(day(1)), did("email_opened", day(2))], now=day(60), activation_days=14)

    assert story.steps[-1] == ("activation", "retention", "activated", day(15))


# --- churn and reactivation -------------------------------------------------------------------


def test_an_activated_customer_who_never_buys_again_is_churned_after_180_days() -> None:
    story = replay(MODEL, [bought(day(1))], now=day(200))

    assert story.steps[-1] == ("activation", "churned", "churn", day(181))


def test_a_retained_customer_is_churned_180_days_after_the_last_purchase() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(10))], now=day(400))

    assert story.steps[-1] == ("retention", "churned", "churn", day(190))
    assert story.position.next_check_at is None


def test_a_retained_subscriber_churns_when_the_subscription_is_cancelled() -> None:
    history = [
        did("subscription_started", day(1)),
        did("renewal", day(31), "49.00"),
        did("subscription_cancelled", day(300)),
    ]

    story = replay(MODEL, history, now=day(301))

    assert story.steps[-2:] == [
        ("activation", "retention", "activated", day(31)),
        ("retention", "churned", "churn", day(300)),
    ]


def test_a_churned_customer_who_buys_again_is_in_reactivation() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(250))], now=day(251))

    assert story.steps == [
        (None, "acquisition", "initial", T0),
        ("acquisition", "activation", "first_purchase", day(1)),
        ("activation", "churned", "churn", day(181)),
        ("churned", "reactivation", "reactivated", day(250)),
    ]
    # The reactivating purchase is this customer's second ever, but not one after reactivating.
    assert story.stage == "reactivation"


def test_a_reactivated_customer_is_retained_again_on_a_second_purchase_after_reactivating() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(250)), bought(day(270))], now=day(271))

    assert story.steps[-2:] == [
        ("churned", "reactivation", "reactivated", day(250)),
        ("reactivation", "retention", "retained_again", day(270)),
    ]


def test_a_renewal_after_reactivating_retains_again() -> None:
    history = [bought(day(1)), did("subscription_started", day(250)), did("renewal", day(280), "49.00")]

    story = replay(MODEL, history, now=day(281))

    assert story.steps[-2:] == [
        ("churned", "reactivation", "reactivated", day(250)),
        ("reactivation", "retention", "retained_again", day(280)),
    ]


def test_engagement_alone_does_not_retain_a_reactivated_customer() -> None:
    history = [bought(day(1)), bought(day(250)), did("site_visit", day(255)), did("chat", day(300))]

    story = replay(MODEL, history, now=day(310))

    assert story.stage == "reactivation"


def test_a_reactivated_customer_who_stops_buying_churns_again() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(250))], now=day(500))

    assert story.steps[-2:] == [
        ("churned", "reactivation", "reactivated", day(250)),
        ("reactivation", "churned", "churn", day(430)),
    ]


# --- over the API -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_lifespan_story_over_the_api(api: Api) -> None:
    await switch_primary_model(api, "lifespan")
    caio = await new_customer(api, name="Caio")
    created = datetime.fromisoformat(caio["createdAt"])
    cid = caio["id"]

    def at(minutes: int) -> datetime:
        return created + timedelta(minutes=minutes)

    assert await record_step(api, "lifespan", cid, "site_visit", at(1)) == []
    assert await record_step(api, "lifespan", cid, "purchase", at(2), amount="89.90") == [
        ("acquisition", "activation", "first_purchase", at(2))
    ]
    assert await record_step(api, "lifespan", cid, "chat", at(3)) == []
    assert await record_step(api, "lifespan", cid, "purchase", at(4), amount="59.90") == [
        ("activation", "retention", "activated", at(4))
    ]

    stage, history, causes = await customer_story(api, cid)
    assert stage == "retention"
    assert history == [
        (None, "acquisition", "initial", created),
        ("acquisition", "activation", "first_purchase", at(2)),
        ("activation", "retention", "activated", at(4)),
    ]
    assert causes == {"RULE"}


@pytest.mark.asyncio
async def test_switching_to_lifespan_by_replay_dates_every_move_from_the_history(api: Api) -> None:
    # Recorded while the workspace still follows the funnel: a purchase 400 days ago, nothing for
    # 300 days (churned on the 180th), then two purchases that reactivate and retain again.
    dani = await new_customer(api, name="Dani")
    cid = dani["id"]
    now = datetime.now(UTC).replace(microsecond=0)

    def ago(days: int) -> datetime:
        return now - timedelta(days=days)

    for days in (400, 100, 90):
        await record_step(api, "funnel", cid, "purchase", ago(days), amount="120.00")

    await switch_primary_model(api, "lifespan")

    stage, history, causes = await customer_story(api, cid)
    assert stage == "retention"
    assert history == [
        (None, "acquisition", "initial", ago(400)),
        ("acquisition", "activation", "first_purchase", ago(400)),
        ("activation", "churned", "churn", ago(220)),
        ("churned", "reactivation", "reactivated", ago(100)),
        ("reactivation", "retention", "retained_again", ago(90)),
    ]
    assert causes == {"REPLAY"}
