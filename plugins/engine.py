"""The rule engine: pure functions from a position, facts and parameters to moves. No I/O.

Semantics (docs/models.md): from the current stage, the first transition in declared order
whose criterion holds fires; repeat until none fires, never more moves than the model has
stages. A move is dated when its criterion became true, never before the customer entered the
stage it leaves. Time-based criteria say when they next fall due; `catch_up` evaluates them at
their due times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from plugins.types import Check, CustomerFacts, LifecycleModel, Transition

# Builds the facts as of a moment, for a stay that began at `stage_entered_at`.
FactsAt = Callable[[datetime, datetime], CustomerFacts]


@dataclass(frozen=True)
class Position:
    """Where a customer stands in one model."""

    stage: str
    entered_at: datetime
    next_check_at: datetime | None = None


@dataclass(frozen=True)
class Move:
    rule: str
    source: str
    target: str
    at: datetime


@dataclass(frozen=True)
class CriterionError:
    """A criterion raised: the rule is treated as not holding and the host logs this."""

    rule: str
    error: str


@dataclass
class Evaluation:
    position: Position
    moves: list[Move] = field(default_factory=list)
    errors: list[CriterionError] = field(default_factory=list)


def _ask(transition: Transition, facts: CustomerFacts, params: Mapping[str, Any]) -> Check:
    assert transition.criterion is not None
    result = transition.criterion(facts, params)
    if isinstance(result, Check):
        if result.fired and result.at is not None and result.at > facts.as_of:
            return Check(False, recheck_at=result.at)  # not due yet, whatever the plugin said
        return result
    return Check(bool(result))


def _step(
    model: LifecycleModel,
    params: Mapping[str, Any],
    position: Position,
    facts: CustomerFacts,
    errors: list[CriterionError],
) -> tuple[Transition, datetime] | datetime | None:
    """The transition that fires and its time; otherwise the earliest recheck time, if any."""
    recheck: datetime | None = None
    for transition in model.transitions_from(position.stage):
        if transition.criterion is None:
            continue
        try:
            check = _ask(transition, facts, params)
        except Exception as exc:  # a partner's bug must not stop the others
            errors.append(CriterionError(transition.name, f"{type(exc).__name__}: {exc}"))
            continue
        if check.fired:
            return transition, max(check.at or facts.as_of, position.entered_at)
        if check.recheck_at is not None and (recheck is None or check.recheck_at < recheck):
            recheck = check.recheck_at
    return recheck


def evaluate(
    model: LifecycleModel, params: Mapping[str, Any], position: Position, facts_at: FactsAt, as_of: datetime
) -> Evaluation:
    """Apply every transition that holds as of `as_of`, in chains, and say when to look again."""
    result = Evaluation(position)
    for _ in range(len(model.stages)):
        pos = result.position
        outcome = _step(model, params, pos, facts_at(as_of, pos.entered_at), result.errors)
        if not isinstance(outcome, tuple):
            result.position = Position(pos.stage, pos.entered_at, outcome)
            return result
        transition, at = outcome
        result.moves.append(Move(transition.name, pos.stage, transition.target, at))
        result.position = Position(transition.target, at, None)
    # The chain is capped: as many moves as stages means the customer went round a cycle of rules
    # that all hold, and looking again right away would only go round it again (for ever, in
    # `catch_up`). Stay until something new happens: an interaction or a time-based rule's due time.
    pos = result.position
    result.position = Position(
        pos.stage, pos.entered_at, next_check(model, params, pos, facts_at(as_of, pos.entered_at))
    )
    return result


def next_check(
    model: LifecycleModel, params: Mapping[str, Any], position: Position, facts: CustomerFacts
) -> datetime | None:
    """When a time-based rule from `position` may next hold, ignoring rules that hold now (used
    after a manual move, which must stick until something new happens)."""
    recheck: datetime | None = None
    for transition in model.transitions_from(position.stage):
        if transition.criterion is None:
            continue
        try:
            check = _ask(transition, facts, params)
        except Exception:
            continue
        if not check.fired and check.recheck_at and (recheck is None or check.recheck_at < recheck):
            recheck = check.recheck_at
    return recheck


def catch_up(
    model: LifecycleModel, params: Mapping[str, Any], position: Position, facts_at: FactsAt, until: datetime
) -> Evaluation:
    """Evaluate every time-based check that fell due up to `until`, each at its due time."""
    total = Evaluation(position)
    while total.position.next_check_at is not None and total.position.next_check_at <= until:
        due = total.position.next_check_at
        step = evaluate(model, params, total.position, facts_at, due)
        total.moves += step.moves
        total.errors += step.errors
        after = step.position.next_check_at
        if not step.moves and after is not None and after <= due:
            # A criterion asked to be looked at again no later than now: stop, don't spin.
            step.position = Position(step.position.stage, step.position.entered_at, None)
        total.position = step.position
    return total


def on_interaction(
    model: LifecycleModel,
    params: Mapping[str, Any],
    position: Position,
    before: FactsAt,
    after: FactsAt,
    occurred_at: datetime,
    now: datetime,
) -> Evaluation:
    """The moves one interaction causes: checks that fell due before it (with the facts without
    it), then the interaction itself at its time, then checks due up to `now`."""
    total = catch_up(model, params, position, before, occurred_at)
    event = evaluate(model, params, Position(total.position.stage, total.position.entered_at), after, occurred_at)
    rest = catch_up(model, params, event.position, after, now)
    steps = (total, event, rest)
    return Evaluation(rest.position, [m for s in steps for m in s.moves], [e for s in steps for e in s.errors])
