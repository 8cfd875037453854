"""The rule engine's semantics (MODELS.md, "How the engine decides"), pure: no database.

Small made-up models make each rule of the engine visible on its own; the built-in `funnel`
shows the same rules on a real story (late interactions, facts "as of")."""

from __future__ import annotations

import copy
import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from plugins import engine
from plugins.engine import CriterionError, FactsAt, Position
from plugins.facts import FactsState
from plugins.types import (
    CriterionResult,
    CustomerFacts,
    InteractionFact,
    LifecycleModel,
    Stage,
    StageCategory,
    Transition,
    fire,
    wait_until,
)
from stages import funnel
from tests.lifecycle_story import T0, bought, day, did, replay

FUNNEL = funnel.MODEL
FUNNEL_PARAMS = FUNNEL.defaults


def always(f: CustomerFacts, p: Any) -> bool:
    return True


def never(f: CustomerFacts, p: Any) -> bool:
    return False


def broken(f: CustomerFacts, p: Any) -> bool:
    raise ValueError("partner bug")


def thirty_days_in_stage(f: CustomerFacts, p: Any) -> CriterionResult:
    """Time-based: holds from 30 days after entering the stage."""
    due = f.stage_entered_at + timedelta(days=30)
    return fire(due) if f.as_of >= due else wait_until(due)


def ten_days_in_stage(f: CustomerFacts, p: Any) -> CriterionResult:
    due = f.stage_entered_at + timedelta(days=10)
    return fire(due) if f.as_of >= due else wait_until(due)


def model(*transitions: tuple[str, str | None, str, Any], stages: str = "a b c") -> LifecycleModel:
    """A made-up model: stages named by `stages`, transitions (name, source, target, criterion)."""
    keys = stages.split()
    return LifecycleModel(
        key="made-up",
        name="Made up",
        description="A model for engine tests.",
        version="0.0.1",
        stages=tuple(Stage(k, {"en": k.upper()}, StageCategory.PROSPECT, n) for n, k in enumerate(keys, start=1)),
        transitions=tuple(Transition(n, s, t, n, c) for n, s, t, c in transitions),
        initial_stage=keys[0],
    )


def facts_of(state: FactsState, event: InteractionFact | None = None) -> FactsAt:
    def build(as_of: datetime, entered: datetime) -> CustomerFacts:
        return state.snapshot(as_of=as_of, stage_entered_at=entered, created_at=T0, event=event)

    return build


NO_FACTS = facts_of(FactsState())


def moves_of(ev: engine.Evaluation) -> list[tuple[str, str, str, datetime]]:
    return [(m.source, m.target, m.rule, m.at) for m in ev.moves]


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block runs longer than `seconds`."""

    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds}s: the engine does not stop")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# --- first matching transition, in declared order ---------------------------------------------


def test_the_first_transition_that_holds_in_declared_order_wins() -> None:
    first_b = model(("to_b", "a", "b", always), ("to_c", "a", "c", always), stages="a b c")
    first_c = model(("to_c", "a", "c", always), ("to_b", "a", "b", always), stages="a b c")

    assert moves_of(engine.evaluate(first_b, {}, Position("a", T0), NO_FACTS, day(1))) == [("a", "b", "to_b", day(1))]
    assert moves_of(engine.evaluate(first_c, {}, Position("a", T0), NO_FACTS, day(1))) == [("a", "c", "to_c", day(1))]


def test_a_transition_that_does_not_hold_gives_way_to_the_next_one() -> None:
    m = model(("to_b", "a", "b", never), ("to_c", "a", "c", always))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(1))

    assert moves_of(ev) == [("a", "c", "to_c", day(1))]
    assert ev.position == Position("c", day(1), None)


def test_a_transition_from_any_stage_takes_its_turn_in_declared_order() -> None:
    any_first = model(("anywhere_to_c", None, "c", always), ("to_b", "a", "b", always))
    any_last = model(("to_b", "a", "b", always), ("anywhere_to_c", None, "c", always))

    first = engine.evaluate(any_first, {}, Position("a", T0), NO_FACTS, day(1))
    last = engine.evaluate(any_last, {}, Position("a", T0), NO_FACTS, day(1))

    assert moves_of(first) == [("a", "c", "anywhere_to_c", day(1))]
    # From b the any-stage rule is the only one left: a chain b → c.
    assert moves_of(last) == [("a", "b", "to_b", day(1)), ("b", "c", "anywhere_to_c", day(1))]


def test_nothing_moves_when_no_criterion_holds_and_the_stay_is_kept() -> None:
    m = model(("to_b", "a", "b", never))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(5))

    assert ev.moves == []
    assert ev.position == Position("a", T0, None)


# --- chains -------------------------------------------------------------------------------


def test_moves_chain_in_one_evaluation_and_each_move_is_recorded() -> None:
    m = model(("to_b", "a", "b", always), ("to_c", "b", "c", always))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(3))

    assert moves_of(ev) == [("a", "b", "to_b", day(3)), ("b", "c", "to_c", day(3))]
    assert ev.position == Position("c", day(3), None)


def test_a_fresh_prospect_who_had_referred_someone_buys_and_passes_two_stages_at_once() -> None:
    story = replay(FUNNEL, [did("referral", day(1)), bought(day(5))], now=day(6))

    assert story.steps == [
        (None, "prospect", "initial", T0),
        ("prospect", "customer", "purchase", day(5)),
        ("customer", "advocate", "advocacy", day(5)),
    ]
    assert story.stage == "advocate"


def test_a_cycle_of_always_true_rules_stops_after_as_many_moves_as_the_model_has_stages() -> None:
    cycle = model(("ab", "a", "b", always), ("ba", "b", "a", always), stages="a b c")

    with deadline(3):
        ev = engine.evaluate(cycle, {}, Position("a", T0), NO_FACTS, day(1))

    assert len(ev.moves) == len(cycle.stages) == 3
    assert [(m.source, m.target) for m in ev.moves] == [("a", "b"), ("b", "a"), ("a", "b")]
    # Not "look again right away": that would go round the same cycle at the next look.
    assert ev.position.next_check_at is None


def test_an_interaction_on_a_cycling_model_ends_with_at_most_as_many_moves_as_stages() -> None:
    cycle = model(("ab", "a", "b", always), ("ba", "b", "a", always), stages="a b c")

    with deadline(3):
        ev = engine.on_interaction(cycle, {}, Position("a", T0), NO_FACTS, NO_FACTS, day(1), day(2))

    assert 1 <= len(ev.moves) <= len(cycle.stages)


def test_replaying_a_history_through_a_cycling_model_ends() -> None:
    cycle = model(("ab", "a", "b", always), ("ba", "b", "a", always), stages="a b c")

    with deadline(3):
        story = replay(cycle, [did("site_visit", day(1)), did("site_visit", day(2))], now=day(3))

    # The initial stage, then at most one capped chain at the start and one per interaction.
    assert len(story.steps) <= 1 + 3 * len(cycle.stages)
    assert story.stage in {"a", "b"}


# --- time: late interactions and time-based criteria ----------------------------------------------


def test_a_late_interaction_never_dates_a_move_before_the_stage_it_leaves_was_entered() -> None:
    # The prospect was created on day 10; a purchase made on day 3 is recorded afterwards.
    before = FactsState()
    after = FactsState()
    after.fold(InteractionFact("purchase", day(3), Decimal("50")))

    ev = engine.on_interaction(
        FUNNEL,
        FUNNEL_PARAMS,
        Position("prospect", day(10)),
        facts_of(before),
        facts_of(after),
        day(3),
        day(12),
    )

    assert moves_of(ev) == [("prospect", "customer", "purchase", day(10))]
    assert ev.position.entered_at == day(10)


def test_a_criterion_that_names_a_time_before_the_stay_is_dated_at_the_start_of_the_stay() -> None:
    def long_ago(f: CustomerFacts, p: Any) -> CriterionResult:
        return fire(T0 - timedelta(days=400))

    m = model(("old_news", "a", "b", long_ago))

    ev = engine.evaluate(m, {}, Position("a", day(20)), NO_FACTS, day(21))

    assert moves_of(ev) == [("a", "b", "old_news", day(20))]


def test_a_time_based_criterion_reports_when_to_look_again() -> None:
    m = model(("ripe", "a", "b", thirty_days_in_stage))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(1))

    assert ev.moves == []
    assert ev.position == Position("a", T0, day(30))


def test_the_earliest_of_several_rechecks_is_reported() -> None:
    m = model(("slow", "a", "b", thirty_days_in_stage), ("fast", "a", "c", ten_days_in_stage))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(1))

    assert ev.position.next_check_at == day(10)


def test_a_time_based_move_is_dated_when_it_fell_due_not_when_it_was_checked() -> None:
    m = model(("ripe", "a", "b", thirty_days_in_stage))

    ev = engine.catch_up(m, {}, Position("a", T0, day(30)), NO_FACTS, day(95))

    assert moves_of(ev) == [("a", "b", "ripe", day(30))]
    assert ev.position == Position("b", day(30), None)


def test_nothing_is_due_before_its_time() -> None:
    m = model(("ripe", "a", "b", thirty_days_in_stage))

    ev = engine.catch_up(m, {}, Position("a", T0, day(30)), NO_FACTS, day(30) - timedelta(seconds=1))

    assert ev.moves == []
    assert ev.position == Position("a", T0, day(30))


def test_catching_up_applies_each_check_at_its_own_due_time_in_a_chain() -> None:
    m = model(("ripe", "a", "b", ten_days_in_stage), ("riper", "b", "c", thirty_days_in_stage))

    ev = engine.catch_up(m, {}, Position("a", T0, day(10)), NO_FACTS, day(100))

    assert moves_of(ev) == [("a", "b", "ripe", day(10)), ("b", "c", "riper", day(40))]


def test_a_criterion_claiming_a_future_time_is_not_due_yet() -> None:
    def tomorrow(f: CustomerFacts, p: Any) -> CriterionResult:
        return fire(f.as_of + timedelta(days=1))

    m = model(("eager", "a", "b", tomorrow))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(5))

    assert ev.moves == []
    assert ev.position.next_check_at == day(6)


def test_catching_up_stops_when_a_criterion_asks_to_be_checked_in_the_past() -> None:
    def yesterday(f: CustomerFacts, p: Any) -> CriterionResult:
        return wait_until(f.as_of - timedelta(days=1))

    m = model(("stuck", "a", "b", yesterday))

    with deadline(3):
        ev = engine.catch_up(m, {}, Position("a", T0, day(1)), NO_FACTS, day(10))

    assert ev.moves == []
    assert ev.position.next_check_at is None


def test_next_check_ignores_rules_that_hold_now_and_names_the_next_due_time() -> None:
    m = model(("now", "a", "b", always), ("later", "a", "c", thirty_days_in_stage))

    assert engine.next_check(m, {}, Position("a", T0), NO_FACTS(day(1), T0)) == day(30)


def test_next_check_for_a_customer_is_the_churn_due_date() -> None:
    state = FactsState()
    state.fold(InteractionFact("purchase", day(1), Decimal("80")))

    facts = state.snapshot(as_of=day(2), stage_entered_at=day(1), created_at=T0)

    assert engine.next_check(FUNNEL, FUNNEL_PARAMS, Position("customer", day(1)), facts) == day(181)


# --- errors -------------------------------------------------------------------------------


def test_a_criterion_that_raises_is_reported_and_treated_as_not_holding() -> None:
    m = model(("buggy", "a", "b", broken), ("fine", "a", "c", always))

    ev = engine.evaluate(m, {}, Position("a", T0), NO_FACTS, day(1))

    assert moves_of(ev) == [("a", "c", "fine", day(1))]
    assert ev.errors == [CriterionError("buggy", "ValueError: partner bug")]


def test_a_criterion_that_raises_alone_leaves_the_customer_where_they_are() -> None:
    m = model(("buggy", "a", "b", broken))

    ev = engine.on_interaction(m, {}, Position("a", T0), NO_FACTS, NO_FACTS, day(1), day(2))

    assert ev.moves == []
    assert ev.position.stage == "a"
    assert {e.rule for e in ev.errors} == {"buggy"}


def test_a_replay_logs_a_failing_rule_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    m = model(("buggy", "a", "b", broken), ("fine", "a", "c", always))

    with caplog.at_level(logging.ERROR, logger="jornada.lifecycle"):
        story = replay(m, [did("site_visit", day(1))], now=day(2))

    assert story.stage == "c"
    assert any("buggy" in r.getMessage() and "partner bug" in r.getMessage() for r in caplog.records)


# --- facts "as of" ------------------------------------------------------------------------


def test_a_churn_that_fell_due_before_a_purchase_is_applied_first_churned_then_won_back() -> None:
    before = FactsState()
    before.fold(InteractionFact("purchase", day(1), Decimal("80")))
    after = copy.deepcopy(before)
    purchase = InteractionFact("purchase", day(200), Decimal("95"))
    after.fold(purchase)
    position = Position("customer", day(1), day(181))

    ev = engine.on_interaction(
        FUNNEL, FUNNEL_PARAMS, position, facts_of(before), facts_of(after, purchase), day(200), day(210)
    )

    assert moves_of(ev) == [
        ("customer", "churned", "churn", day(181)),
        ("churned", "customer", "win_back", day(200)),
    ]
    # The new purchase starts a new 180-day clock.
    assert ev.position == Position("customer", day(200), day(380))


def test_checks_due_after_the_interaction_see_it() -> None:
    before = FactsState()
    after = FactsState()
    purchase = InteractionFact("purchase", day(1), Decimal("80"))
    after.fold(purchase)

    ev = engine.on_interaction(
        FUNNEL,
        FUNNEL_PARAMS,
        Position("prospect", T0, day(90)),
        facts_of(before),
        facts_of(after),
        day(1),
        day(400),
    )

    # A buyer, not a prospect gone quiet: the churn clock runs from the purchase.
    assert moves_of(ev) == [
        ("prospect", "customer", "purchase", day(1)),
        ("customer", "churned", "churn", day(181)),
    ]


def test_a_quiet_prospect_is_lost_at_day_90_even_though_a_purchase_comes_later() -> None:
    # The check due on day 91 sees the facts of day 91, without the purchase of day 120.
    story = replay(FUNNEL, [did("site_visit", day(1)), bought(day(120))], now=day(121))

    assert story.steps == [
        (None, "prospect", "initial", T0),
        ("prospect", "lost", "gone_quiet", day(91)),
        ("lost", "customer", "purchase", day(120)),
    ]


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("pt-BR", "Cliente"),
        ("pt", "Cliente"),
        ("pt_BR", "Cliente"),
        ("pt-br", "Cliente"),
        ("PT-BR", "Cliente"),
        ("pt-PT", "Cliente"),  # same language, the only Portuguese label there is
        ("en-GB", "Customer"),
        ("fr", "Customer"),  # no French: English
        ("", "Customer"),
    ],
)
def test_stage_labels_are_matched_as_bcp47_tags(asked: str, found: str) -> None:
    from plugins.types import Stage, StageCategory, match_locale

    stage = Stage("customer", {"en": "Customer", "pt-BR": "Cliente"}, StageCategory.CUSTOMER, 1)
    assert stage.label(asked) == found
    assert match_locale("pt-BR-x-private", ["pt", "pt-BR"]) == "pt-BR"
    assert match_locale("pt-BR-x-private", ["pt", "en"]) == "pt"


def test_a_facts_snapshot_sets_every_field_of_customer_facts() -> None:
    # snapshot() fills the frozen dataclass directly (for speed): a field added to CustomerFacts
    # must be set there too, or criteria reading it would fail.
    import dataclasses

    from plugins.facts import FactsState
    from plugins.types import CustomerFacts

    state = FactsState()
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    facts = state.snapshot(as_of=moment, stage_entered_at=moment, created_at=moment, profile={"tags": ["vip"]})
    assert set(facts.__dict__) == {f.name for f in dataclasses.fields(CustomerFacts)}
    assert facts.tags == frozenset({"vip"})
    assert facts.at(moment, moment).tags == frozenset({"vip"})
