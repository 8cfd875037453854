"""`funnel` (Lifecycle stages, MQL/SQL): customer stories as an admin reads them in a history.

Lead score, default points (MODELS.md): site visit 1, email opened 1, email clicked 2, chat 3,
call 3, content downloaded 5, form submitted 10, meeting 15, demo requested 20. A prospect is a
lead at 10 points (or on a demo, meeting, call or chat) and an MQL at 40."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from stages import funnel
from tests.conftest import Api, new_customer
from tests.lifecycle_story import T0, bought, customer, customer_story, day, did, record_step, replay

MODEL = funnel.MODEL

# --- from prospect to customer ----------------------------------------------------------------


def test_a_new_customer_starts_as_a_prospect() -> None:
    story = replay(MODEL, [], now=day(1))

    assert story.steps == [(None, "prospect", "initial", T0)]
    assert story.position.next_check_at == day(90)  # lost if nothing happens


def test_a_prospect_who_downloads_content_asks_for_a_demo_and_buys() -> None:
    story = replay(
        MODEL,
        [
            did("content_downloaded", day(1)),  # 5 points
            did("content_downloaded", day(2)),  # 10: a lead
            did("demo_requested", day(3)),  # 30: still short of 40
            bought(day(5)),
        ],
        now=day(6),
    )

    assert story.steps == [
        (None, "prospect", "initial", T0),
        ("prospect", "lead", "engaged", day(2)),
        ("lead", "customer", "purchase", day(5)),
    ]
    assert story.position.next_check_at == day(185)  # churned if no purchase for 180 days


def test_a_prospect_walks_the_whole_funnel_lead_mql_sql_opportunity_customer() -> None:
    story = replay(
        MODEL,
        [
            did("content_downloaded", day(1)),  # 5
            did("demo_requested", day(2)),  # 25: a lead by the demo itself
            did("content_downloaded", day(4)),  # 30
            did("form_submitted", day(6)),  # 40: marketing-qualified
            did("meeting", day(9)),  # after becoming an MQL: sales-qualified
            did("proposal_sent", day(12)),
            bought(day(20), "4800.00"),
        ],
        now=day(21),
    )

    assert story.steps == [
        (None, "prospect", "initial", T0),
        ("prospect", "lead", "engaged", day(2)),
        ("lead", "mql", "qualified_by_marketing", day(6)),
        ("mql", "sql", "qualified_by_sales", day(9)),
        ("sql", "opportunity", "proposal", day(12)),
        ("opportunity", "customer", "purchase", day(20)),
    ]


def test_small_touches_add_up_to_a_lead_at_ten_points() -> None:
    touches = [did("site_visit", day(1)), did("email_opened", day(2)), did("email_clicked", day(3))]
    touches += [did("content_downloaded", day(4))]  # 1 + 1 + 2 + 5 = 9
    nine = replay(MODEL, touches, now=day(5))
    ten = replay(MODEL, [*touches, did("site_visit", day(6))], now=day(7))

    assert nine.stage == "prospect"
    assert ten.steps[-1] == ("prospect", "lead", "engaged", day(6))


@pytest.mark.parametrize("kind", ["demo_requested", "meeting", "call", "chat"])
def test_a_conversation_makes_a_prospect_a_lead_whatever_the_score(kind: str) -> None:
    story = replay(MODEL, [did(kind, day(3))], now=day(4))

    assert story.steps[1:] == [("prospect", "lead", "engaged", day(3))]


def test_the_workspace_can_change_the_points() -> None:
    points = {**funnel.MODEL.defaults["lead_points"], "site_visit": 10}

    story = replay(MODEL, [did("site_visit", day(2))], now=day(3), lead_points=points)

    assert story.steps[1:] == [("prospect", "lead", "engaged", day(2))]


def test_a_buyer_with_no_history_goes_straight_from_prospect_to_customer() -> None:
    story = replay(MODEL, [bought(day(3))], now=day(4))

    assert story.steps[1:] == [("prospect", "customer", "purchase", day(3))]


def test_a_subscription_makes_a_prospect_a_customer() -> None:
    story = replay(MODEL, [did("subscription_started", day(3))], now=day(4))

    assert story.steps[1:] == [("prospect", "customer", "purchase", day(3))]


# --- MQL and SQL ------------------------------------------------------------------------------


def test_a_prospect_with_an_icp_job_title_is_an_mql_as_soon_as_they_are_a_lead() -> None:
    head = customer(job_title="Head of Marketing")

    story = replay(MODEL, [did("chat", day(1))], now=day(2), who=head, icp_job_titles=["head of marketing"])

    assert story.steps == [
        (None, "prospect", "initial", T0),
        ("prospect", "lead", "engaged", day(1)),
        ("lead", "mql", "qualified_by_marketing", day(1)),
    ]


def test_an_icp_industry_makes_a_lead_an_mql() -> None:
    bakery = customer(industry="Bakery")

    story = replay(MODEL, [did("call", day(1))], now=day(2), who=bakery, icp_industries=["bakery", "retail"])

    assert story.path == ["prospect", "lead", "mql"]


def test_without_an_ideal_customer_profile_a_job_title_qualifies_nobody() -> None:
    head = customer(job_title="Head of Marketing")

    story = replay(MODEL, [did("chat", day(1))], now=day(2), who=head)

    assert story.stage == "lead"


def test_the_demo_that_makes_an_mql_does_not_also_make_an_sql() -> None:
    head = customer(job_title="CTO")

    story = replay(MODEL, [did("demo_requested", day(1))], now=day(2), who=head, icp_job_titles=["CTO"])

    assert story.path == ["prospect", "lead", "mql"]
    assert story.stage == "mql"


def test_an_mql_is_sales_qualified_only_by_a_demo_or_meeting_after_becoming_an_mql() -> None:
    head = customer(job_title="CTO")
    history = [
        did("demo_requested", day(1)),  # lead and MQL at once
        did("call", day(3)),  # a conversation, but neither a demo nor a meeting
        did("meeting", day(5)),
    ]

    story = replay(MODEL, history, now=day(6), who=head, icp_job_titles=["cto"])

    assert story.steps[1:] == [
        ("prospect", "lead", "engaged", day(1)),
        ("lead", "mql", "qualified_by_marketing", day(1)),
        ("mql", "sql", "qualified_by_sales", day(5)),
    ]


def test_a_demo_that_brings_a_lead_to_forty_points_makes_an_mql_not_an_sql() -> None:
    history = [
        did("form_submitted", day(1)),  # 10: a lead
        did("form_submitted", day(2)),  # 20
        did("demo_requested", day(3)),  # 40: an MQL, by this very demo
        did("demo_requested", day(4)),  # a demo after becoming an MQL
    ]

    at_three = replay(MODEL, history[:3], now=day(3, hours=1))
    at_four = replay(MODEL, history, now=day(4, hours=1))

    assert at_three.steps[-1] == ("lead", "mql", "qualified_by_marketing", day(3))
    assert at_three.stage == "mql"
    assert at_four.steps[-1] == ("mql", "sql", "qualified_by_sales", day(4))


def test_a_proposal_makes_an_sql_an_opportunity() -> None:
    head = customer(job_title="CTO")
    history = [did("demo_requested", day(1)), did("meeting", day(2)), did("proposal_sent", day(8))]

    story = replay(MODEL, history, now=day(9), who=head, icp_job_titles=["cto"])

    assert story.steps[-1] == ("sql", "opportunity", "proposal", day(8))
    assert story.stage == "opportunity"


def test_a_proposal_to_a_plain_lead_is_not_an_opportunity() -> None:
    story = replay(MODEL, [did("call", day(1)), did("proposal_sent", day(2))], now=day(3))

    assert story.stage == "lead"


# --- churn and win back -----------------------------------------------------------------------


def test_a_customer_who_goes_quiet_is_churned_on_the_exact_day_180_after_the_last_purchase() -> None:
    story = replay(MODEL, [bought(day(1))], now=day(400))

    assert story.steps[1:] == [
        ("prospect", "customer", "purchase", day(1)),
        ("customer", "churned", "churn", day(181)),
    ]
    assert story.position.next_check_at is None  # only a purchase brings them back


def test_a_customer_is_not_churned_a_second_before_the_due_date() -> None:
    story = replay(MODEL, [bought(day(1))], now=day(181) - timedelta(seconds=1))

    assert story.stage == "customer"
    assert story.position.next_check_at == day(181)


def test_a_churned_customer_is_won_back_by_a_later_purchase() -> None:
    story = replay(MODEL, [bought(day(1)), bought(day(250))], now=day(260))

    assert story.steps[1:] == [
        ("prospect", "customer", "purchase", day(1)),
        ("customer", "churned", "churn", day(181)),
        ("churned", "customer", "win_back", day(250)),
    ]
    assert story.position.next_check_at == day(430)


@pytest.mark.parametrize("kind", ["renewal", "subscription_started"])
def test_a_churned_customer_is_won_back_by_a_renewal_or_a_new_subscription(kind: str) -> None:
    amount = "30.00" if kind == "renewal" else None
    story = replay(MODEL, [bought(day(1)), did(kind, day(250), amount)], now=day(251))

    assert story.steps[-1] == ("churned", "customer", "win_back", day(250))


def test_a_renewal_restarts_the_churn_clock() -> None:
    story = replay(MODEL, [bought(day(1)), did("renewal", day(150), "30.00")], now=day(400))

    assert story.steps[-1] == ("customer", "churned", "churn", day(330))


def test_other_interactions_do_not_keep_a_customer_from_churning() -> None:
    history = [bought(day(1)), did("site_visit", day(100)), did("support_ticket_opened", day(170))]

    story = replay(MODEL, history, now=day(200))

    assert story.steps[-1] == ("customer", "churned", "churn", day(181))


def test_a_workspace_churning_after_30_days_churns_on_day_30() -> None:
    story = replay(MODEL, [bought(day(1))], now=day(100), churn_after_days=30)

    assert story.steps[-1] == ("customer", "churned", "churn", day(31))


def test_a_subscriber_is_not_churned_while_the_subscription_is_active() -> None:
    story = replay(MODEL, [did("subscription_started", day(1))], now=day(400))

    assert story.steps[1:] == [("prospect", "customer", "purchase", day(1))]
    assert story.stage == "customer"
    assert story.position.next_check_at is None


def test_a_subscriber_is_churned_when_the_subscription_is_cancelled() -> None:
    history = [did("subscription_started", day(1)), did("subscription_cancelled", day(250))]

    story = replay(MODEL, history, now=day(260))

    assert story.steps[-1] == ("customer", "churned", "churn", day(250))


def test_a_cancellation_churns_nobody_while_another_subscription_is_active() -> None:
    history = [
        did("subscription_started", day(1)),
        did("subscription_started", day(20)),
        did("subscription_cancelled", day(100)),
    ]
    one_left = replay(MODEL, history, now=day(110))
    none_left = replay(MODEL, [*history, did("subscription_cancelled", day(120))], now=day(130))

    assert one_left.stage == "customer"
    assert none_left.steps[-1] == ("customer", "churned", "churn", day(120))


def test_a_buyer_who_subscribes_is_not_churned_180_days_after_the_purchase() -> None:
    story = replay(MODEL, [bought(day(1)), did("subscription_started", day(60))], now=day(500))

    assert story.stage == "customer"


# --- advocates --------------------------------------------------------------------------------


def test_a_customer_who_refers_someone_is_an_advocate() -> None:
    story = replay(MODEL, [bought(day(1)), did("referral", day(10))], now=day(11))

    assert story.steps[-1] == ("customer", "advocate", "advocacy", day(10))


@pytest.mark.parametrize(("score", "stage"), [(8, "customer"), (9, "advocate"), (10, "advocate")])
def test_an_nps_of_nine_or_more_makes_a_customer_an_advocate(score: int, stage: str) -> None:
    story = replay(MODEL, [bought(day(1)), did("nps_response", day(10), score=score)], now=day(11))

    assert story.stage == stage
    if stage == "advocate":
        assert story.steps[-1] == ("customer", "advocate", "advocacy", day(10))


def test_the_latest_nps_answer_counts() -> None:
    history = [did("nps_response", day(1), score=10), did("nps_response", day(2), score=6), bought(day(3))]

    story = replay(MODEL, history, now=day(4))

    assert story.stage == "customer"


def test_the_advocate_nps_threshold_is_a_workspace_setting() -> None:
    story = replay(MODEL, [bought(day(1)), did("nps_response", day(10), score=8)], now=day(11), advocate_nps=8)

    assert story.stage == "advocate"


def test_an_advocate_who_stops_buying_churns_too() -> None:
    story = replay(MODEL, [bought(day(1)), did("referral", day(10))], now=day(300))

    assert story.steps[-1] == ("advocate", "churned", "churn", day(181))


# --- lost prospects ---------------------------------------------------------------------------


def test_a_prospect_with_no_interaction_for_90_days_is_lost_on_the_due_date() -> None:
    story = replay(MODEL, [did("site_visit", day(1))], now=day(200))

    assert story.steps == [(None, "prospect", "initial", T0), ("prospect", "lost", "gone_quiet", day(91))]


def test_a_prospect_who_never_interacts_is_lost_90_days_after_being_created() -> None:
    story = replay(MODEL, [], now=day(100))

    assert story.steps[-1] == ("prospect", "lost", "gone_quiet", day(90))


def test_any_interaction_keeps_a_lead_from_being_lost() -> None:
    history = [did("call", day(1)), did("email_opened", day(80)), did("site_visit", day(160))]

    story = replay(MODEL, history, now=day(200))

    assert story.stage == "lead"
    assert story.position.next_check_at == day(250)


def test_a_lost_prospect_is_a_lead_again_when_they_fill_in_a_form() -> None:
    history = [
        did("site_visit", day(1)),
        did("site_visit", day(120)),  # a visit is not enough to come back
        did("form_submitted", day(150)),
    ]

    story = replay(MODEL, history, now=day(151))

    assert story.steps[1:] == [
        ("prospect", "lost", "gone_quiet", day(91)),
        ("lost", "lead", "re_engaged", day(150)),
    ]
    assert story.position.next_check_at == day(240)


@pytest.mark.parametrize("kind", ["demo_requested", "meeting"])
def test_a_lost_prospect_comes_back_as_a_lead_on_a_demo_or_meeting(kind: str) -> None:
    story = replay(MODEL, [did(kind, day(200))], now=day(201))

    assert story.steps[1:] == [
        ("prospect", "lost", "gone_quiet", day(90)),
        ("lost", "lead", "re_engaged", day(200)),
    ]


def test_a_lost_prospect_who_buys_is_a_customer() -> None:
    story = replay(MODEL, [bought(day(200))], now=day(201))

    assert story.steps[-1] == ("lost", "customer", "purchase", day(200))


def test_the_workspace_can_give_prospects_longer_before_they_are_lost() -> None:
    story = replay(MODEL, [], now=day(200), lost_after_days=120)

    assert story.steps[-1] == ("prospect", "lost", "gone_quiet", day(120))


# --- over the API -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_funnel_story_over_the_api_each_interaction_moves_and_the_history_tells_it(
    api: Api,
) -> None:
    ana = await new_customer(api, name="Ana", jobTitle="Gerente de Compras")
    created = datetime.fromisoformat(ana["createdAt"])
    cid = ana["id"]

    def at(minutes: int) -> datetime:
        return created + timedelta(minutes=minutes)

    async def step(kind: str, minutes: int, **fields: object) -> list[tuple[object, ...]]:
        return list(await record_step(api, "funnel", cid, kind, at(minutes), **fields))

    assert await step("content_downloaded", 1) == []  # 5 points
    assert await step("demo_requested", 2) == [("prospect", "lead", "engaged", at(2))]  # 25
    assert await step("form_submitted", 3) == []  # 35
    assert await step("content_downloaded", 4) == [("lead", "mql", "qualified_by_marketing", at(4))]
    assert await step("meeting", 5) == [("mql", "sql", "qualified_by_sales", at(5))]
    assert await step("proposal_sent", 6) == [("sql", "opportunity", "proposal", at(6))]
    assert await step("purchase", 7, amount="4800.00") == [("opportunity", "customer", "purchase", at(7))]
    assert await step("referral", 8) == [("customer", "advocate", "advocacy", at(8))]

    stage, history, causes = await customer_story(api, cid)
    assert stage == "advocate"
    assert history == [
        (None, "prospect", "initial", created),
        ("prospect", "lead", "engaged", at(2)),
        ("lead", "mql", "qualified_by_marketing", at(4)),
        ("mql", "sql", "qualified_by_sales", at(5)),
        ("sql", "opportunity", "proposal", at(6)),
        ("opportunity", "customer", "purchase", at(7)),
        ("customer", "advocate", "advocacy", at(8)),
    ]
    assert causes == {"RULE"}
