"""The `acme-subscriptions` model, tested without a database.

Two ways in, both pure (no I/O, no clock):

- `replay_customer` runs one customer's whole history through the model exactly as Jornada does
  when a workspace starts tracking it: the moves, their rules and their times;
- the engine functions (`plugins.engine.evaluate`) with facts built by `plugins.facts.FactsState`,
  for a single look at one moment (and when the host should look again).

Run from Jornada's folder with Jornada's virtualenv:
    .venv/bin/python -m pytest examples/partner-plugin/tests
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import acme_lifecycle
import pytest
from acme_lifecycle import criteria
from acme_lifecycle.model import KINDS, MODEL

from api.lifecycle import Tracked, replay_customer
from api.records import CustomerRecord, InteractionRecord
from plugins import engine
from plugins.facts import FactsState
from plugins.manager import build_registry, get_plugin_manager
from plugins.types import InteractionFact, StageCategory, StageChange
from plugins.validation import kind_problems, model_problems, param_problems

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)

# (from, to, rule, when) of every recorded move, oldest first.
Step = tuple[str | None, str, str | None, datetime]


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def customer(created_at: datetime = T0) -> CustomerRecord:
    return CustomerRecord(
        id=1,
        workspace_id=1,
        external_id=None,
        name="Bia",
        sort_name="bia",
        email=None,
        phone=None,
        company=None,
        job_title=None,
        industry=None,
        address=None,
        social_profiles=[],
        tags=[],
        attributes={},
        acquisition_channel=None,
        created_at=created_at,
        updated_at=created_at,
    )


def did(kind: str, at: datetime, amount: str | None = None) -> InteractionRecord:
    return InteractionRecord(
        id=next(_ids),
        workspace_id=1,
        customer_id=1,
        kind=kind,
        channel=None,
        occurred_at=at,
        amount=Decimal(amount) if amount else None,
        score=None,
        properties={},
        idempotency_key=None,
        created_at=at,
    )


def replay(records: Sequence[InteractionRecord], now: datetime, **params: Any) -> tuple[str, list[Step]]:
    """The stage the customer ends in and every move, with the model's defaults and `params`."""
    tracked = Tracked(MODEL, {**MODEL.defaults, **params}, True)
    position, moves = replay_customer(tracked, customer(), records, now)
    return position.stage, [(m.from_stage, m.to_stage, m.rule, m.occurred_at) for m in moves]


def subscribed_on_day_2() -> list[InteractionRecord]:
    return [did("subscription_started", day(2))]


# --- the model as data ---------------------------------------------------------------------------


def test_the_model_and_its_kind_pass_jornadas_validation() -> None:
    assert model_problems(MODEL) == []
    assert [kind_problems(k) for k in KINDS] == [[]]
    assert param_problems(MODEL, MODEL.defaults) == {}
    assert MODEL.defaults == {"trial_days": 14, "at_risk_tickets": 3, "at_risk_window_days": 30}


def test_stages_have_english_and_portuguese_labels_and_the_expected_categories() -> None:
    assert {s.key: s.category for s in MODEL.stages} == {
        "trial": StageCategory.PROSPECT,
        "active": StageCategory.CUSTOMER,
        "at_risk": StageCategory.CUSTOMER,
        "churned": StageCategory.CHURNED,
        "expired": StageCategory.LOST,
    }
    assert MODEL.initial_stage == "trial"
    for stage in MODEL.stages:
        assert set(stage.labels) == {"en", "pt-BR"}, stage.key
    assert MODEL.stage("at_risk") is not None
    assert MODEL.stage("at_risk").label("pt-BR") == "Em risco"  # type: ignore[union-attr]
    assert all(t.description for t in MODEL.transitions)
    assert all(p.description for p in MODEL.params)


def test_jornada_loads_the_plugin_with_its_three_hooks() -> None:
    pm, problems, infos = get_plugin_manager(autoload=False, extra=[("acme", acme_lifecycle)])
    registry = build_registry(pm, problems, infos)
    assert registry.problems == []
    assert registry.models["acme-subscriptions"].model is MODEL
    assert infos["acme"].hooks == ("on_stage_changed", "register_interaction_kinds", "register_lifecycle_models")
    assert registry.kinds[criteria.ESCALATED] is KINDS[0]
    assert {"funnel", "three-phase", "lifespan", "five-phase"} <= set(registry.models)


# --- histories replayed --------------------------------------------------------------------------


def test_a_trial_that_subscribes_becomes_active() -> None:
    stage, steps = replay(subscribed_on_day_2(), now=day(40))
    assert stage == "active"
    assert steps == [(None, "trial", "initial", T0), ("trial", "active", "subscribed", day(2))]


def test_a_purchase_during_the_trial_counts_as_subscribing() -> None:
    stage, _ = replay([did("purchase", day(1), "49.90")], now=day(40))
    assert stage == "active"


def test_a_trial_without_a_subscription_expires_on_the_day_it_ends() -> None:
    stage, steps = replay([did("site_visit", day(3))], now=day(40))
    assert stage == "expired"
    assert steps[-1] == ("trial", "expired", "trial_expired", day(14))  # dated when due, not at day 40


def test_trial_days_is_a_parameter() -> None:
    _, steps = replay([], now=day(40), trial_days=7)
    assert steps[-1] == ("trial", "expired", "trial_expired", day(7))
    stage, _ = replay([], now=day(6), trial_days=7)
    assert stage == "trial"


def test_an_expired_trial_that_subscribes_later_is_won_back() -> None:
    stage, steps = replay([did("subscription_started", day(20))], now=day(40))
    assert stage == "active"
    assert [s[1:3] for s in steps[1:]] == [("expired", "trial_expired"), ("active", "won_back")]


def test_three_tickets_within_thirty_days_put_a_subscriber_at_risk() -> None:
    history = [*subscribed_on_day_2(), *(did("support_ticket_opened", day(d)) for d in (5, 12, 30))]
    stage, steps = replay(history, now=day(40))
    assert stage == "at_risk"
    assert steps[-1] == ("active", "at_risk", "support_trouble", day(30))


def test_two_tickets_are_not_enough_and_the_threshold_is_a_parameter() -> None:
    history = [*subscribed_on_day_2(), *(did("support_ticket_opened", day(d)) for d in (5, 12))]
    assert replay(history, now=day(40))[0] == "active"
    assert replay(history, now=day(40), at_risk_tickets=2)[0] == "at_risk"


def test_three_tickets_spread_over_ninety_days_do_not() -> None:
    history = [*subscribed_on_day_2(), *(did("support_ticket_opened", day(d)) for d in (5, 50, 95))]
    assert replay(history, now=day(100))[0] == "active"
    # ...unless the window is long enough to hold them all
    assert replay(history, now=day(100), at_risk_window_days=90)[0] == "at_risk"


def test_tickets_opened_during_the_trial_do_not_raise_an_alert_on_subscribing() -> None:
    history = [*(did("support_ticket_opened", day(d)) for d in (1, 2, 3)), did("subscription_started", day(4))]
    assert replay(history, now=day(10))[0] == "active"


def test_a_resolved_ticket_after_becoming_at_risk_recovers_the_subscriber() -> None:
    tickets = [did("support_ticket_opened", day(d)) for d in (5, 6, 7)]
    history = [*subscribed_on_day_2(), did("support_ticket_resolved", day(3)), *tickets]
    assert replay(history, now=day(8))[0] == "at_risk"  # the resolution came before the trouble
    stage, steps = replay([*history, did("support_ticket_resolved", day(9))], now=day(20))
    assert stage == "active"
    assert steps[-1] == ("at_risk", "active", "recovered", day(9))


def test_a_recovered_subscriber_stays_active_until_a_new_ticket() -> None:
    tickets = [did("support_ticket_opened", day(d)) for d in (5, 6, 7)]
    history = [*subscribed_on_day_2(), *tickets, did("support_ticket_resolved", day(9))]
    stage, steps = replay(history, now=day(20))
    assert stage == "active"
    assert [s[2] for s in steps].count("support_trouble") == 1  # no flip-flop on the same facts
    stage, steps = replay([*history, did("support_ticket_opened", day(15))], now=day(20))
    assert stage == "at_risk"  # four tickets in ten days: still at that pace
    assert steps[-1][3] == day(15)


def test_the_helpdesk_can_escalate_what_the_facts_cannot_see() -> None:
    # A long-standing subscriber whose old tickets dilute the pace: the facts alone stay silent.
    old = [did("support_ticket_opened", day(d)) for d in (10, 100, 200)]
    burst = [did("support_ticket_opened", day(d)) for d in (400, 401, 402)]
    history = [*subscribed_on_day_2(), *old, *burst]
    assert replay(history, now=day(410))[0] == "active"
    stage, steps = replay([*history, did(criteria.ESCALATED, day(403))], now=day(410))
    assert stage == "at_risk"
    assert steps[-1] == ("active", "at_risk", "support_trouble", day(403))


def test_cancelling_with_no_subscription_left_churns_from_any_stage() -> None:
    history = [*subscribed_on_day_2(), did("subscription_cancelled", day(60))]
    stage, steps = replay(history, now=day(90))
    assert stage == "churned"
    assert steps[-1] == ("active", "churned", "cancelled", day(60))
    # from the trial too (a trial cancelled outright), and from at risk
    assert replay([did("subscription_cancelled", day(3))], now=day(5))[0] == "churned"
    at_risk = [*subscribed_on_day_2(), *(did("support_ticket_opened", day(d)) for d in (5, 6, 7))]
    assert replay([*at_risk, did("subscription_cancelled", day(8))], now=day(9))[0] == "churned"


def test_cancelling_one_of_two_subscriptions_does_not_churn() -> None:
    history = [
        did("subscription_started", day(2)),
        did("subscription_started", day(3)),
        did("subscription_cancelled", day(60)),
    ]
    assert replay(history, now=day(90))[0] == "active"


def test_a_churned_customer_who_subscribes_again_is_won_back() -> None:
    history = [*subscribed_on_day_2(), did("subscription_cancelled", day(60)), did("purchase", day(70), "99")]
    stage, steps = replay(history, now=day(90))
    assert stage == "active"
    assert steps[-1] == ("churned", "active", "won_back", day(70))


# --- the engine, one look at a time --------------------------------------------------------------


def test_a_trial_asks_to_be_looked_at_again_when_it_ends() -> None:
    state = FactsState()

    def facts_at(as_of: datetime, entered: datetime) -> Any:
        return state.snapshot(as_of=as_of, stage_entered_at=entered, created_at=T0)

    position = engine.Position("trial", T0)
    looked = engine.evaluate(MODEL, MODEL.defaults, position, facts_at, day(1))
    assert looked.moves == []
    assert looked.position.next_check_at == day(14)

    state.fold(InteractionFact("subscription_started", day(2)))
    looked = engine.evaluate(MODEL, MODEL.defaults, position, facts_at, day(2))
    assert [(m.target, m.rule) for m in looked.moves] == [("active", "subscribed")]
    assert looked.position.next_check_at is None  # nothing about time applies to a subscriber


def test_the_pace_rule_on_facts_directly() -> None:
    state = FactsState()
    for d in (1, 2, 40):
        state.fold(InteractionFact("support_ticket_opened", day(d)))
    params = MODEL.defaults
    facts = state.snapshot(as_of=day(40), stage_entered_at=T0, created_at=T0)
    assert not criteria.ticket_pace(facts, params)  # 3 tickets over 39 days: below 3 per 30
    state.fold(InteractionFact("support_ticket_opened", day(41)))
    facts = state.snapshot(as_of=day(41), stage_entered_at=T0, created_at=T0)
    assert criteria.ticket_pace(facts, params)  # 4 over 40 days: 3 per 30 on average
    later = state.snapshot(as_of=day(72), stage_entered_at=T0, created_at=T0)
    assert not criteria.ticket_pace(later, params)  # the latest ticket is out of the window


# --- the notification hook -----------------------------------------------------------------------


def _change(model_key: str, to_stage: str) -> StageChange:
    return StageChange(1, 2, 3, model_key, "1.0.0", "active", to_stage, T0, "RULE", "support_trouble")


def test_on_stage_changed_records_its_own_models_moves_only(caplog: pytest.LogCaptureFixture) -> None:
    acme_lifecycle.RECENT_CHANGES.clear()
    with caplog.at_level(logging.INFO, logger="acme_lifecycle"):
        assert acme_lifecycle.on_stage_changed(_change("funnel", "churned")) is None
        assert acme_lifecycle.on_stage_changed(_change("acme-subscriptions", "at_risk")) is None
    assert [c.to_stage for c in acme_lifecycle.RECENT_CHANGES] == ["at_risk"]
    assert "moved active -> at_risk" in caplog.text
