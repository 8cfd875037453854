"""A customer's journey in event time (pure: no I/O).

One rule for every path (MODELS.md, "Event time"): the stages are a function of the customer's
interactions and its pinned moves (manual moves and mappings, which are events at their own
time), taken in event time. The live path folds new interactions onto the current position when
they come after everything already known; otherwise the customer is replayed from scratch here
and the result compared with what is stored (`diff`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from api.lifecycle_store import NewTransition
from api.records import InteractionRecord, Subject, TransitionRecord
from plugins import engine
from plugins.engine import Evaluation, FactsAt, Position
from plugins.facts import FactsState
from plugins.types import CustomerFacts, InteractionFact, LifecycleModel

RULE, MANUAL, REPLAY, MAPPING = "RULE", "MANUAL", "REPLAY", "MAPPING"
PINNED_CAUSES = (MANUAL, MAPPING)
INITIAL_RULE = "initial"
log = logging.getLogger("jornada.lifecycle")


@dataclass(frozen=True)
class Tracked:
    """A model a workspace tracks, with its parameters (defaults and the workspace's overrides)."""

    model: LifecycleModel
    params: dict[str, Any]
    is_primary: bool
    key: str = field(init=False)  # the model's, read for every event of every replay

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self.model.key)


def profile_of(customer: Subject) -> dict[str, Any]:
    """The profile fields criteria read, in the read-only shapes the facts carry."""
    return {
        "job_title": customer.job_title,
        "industry": customer.industry,
        "tags": frozenset(customer.tags),
        "attributes": MappingProxyType(customer.attributes),
    }


def event_of(record: InteractionRecord) -> InteractionFact:
    return InteractionFact(record.kind, record.occurred_at, record.amount, record.score, record.properties)


def facts_at(
    state: FactsState,
    customer: Subject,
    event: InteractionFact | None = None,
    profile: Mapping[str, Any] | None = None,
) -> FactsAt:
    """Facts as of a moment, for a stay that began at `entered`. `state` must not change while
    this is in use: one snapshot is built on first use and re-dated for every later call.
    `profile` (from `profile_of`) saves rebuilding it when one customer is looked at many times."""
    built: list[CustomerFacts] = []

    def build(as_of: datetime, entered: datetime) -> CustomerFacts:
        if not built:
            built.append(
                state.snapshot(
                    as_of=as_of,
                    stage_entered_at=entered,
                    created_at=customer.created_at,
                    profile=profile if profile is not None else profile_of(customer),
                    event=event,
                )
            )
        facts = built[0]
        if facts.as_of == as_of and facts.stage_entered_at == entered:
            return facts  # read-only: the same moment and stay need no copy
        return facts.at(as_of, entered)

    return build


def journey_start(customer: Subject, records: Sequence[InteractionRecord]) -> datetime:
    """The earlier of the customer's creation and its first interaction."""
    return min([customer.created_at, *(r.occurred_at for r in records)])


def _transitions(
    customer: Subject, t: Tracked, ev: Evaluation, interaction_id: int | None, cause: str
) -> list[NewTransition]:
    for error in ev.errors:
        log.error("model %s rule %s failed for customer %s: %s", t.key, error.rule, customer.id, error.error)
    return [
        NewTransition(
            customer.workspace_id,
            customer.id,
            t.key,
            t.model.version,
            m.source,
            m.target,
            m.at,
            cause,
            m.rule,
            interaction_id,
        )
        for m in ev.moves
    ]


def _collect(
    out: list[NewTransition],
    customer: Subject,
    t: Tracked,
    ev: Evaluation,
    interaction_id: int | None,
    cause: str,
) -> None:
    """Add an evaluation's moves to `out` (most evaluations make none: nothing is built then)."""
    if ev.moves or ev.errors:
        out += _transitions(customer, t, ev, interaction_id, cause)


def _pinned_move(t: Tracked, customer: Subject, pin: TransitionRecord, here: str | None) -> NewTransition:
    return NewTransition(
        customer.workspace_id,
        customer.id,
        t.key,
        pin.model_version,
        here,
        pin.to_stage,
        pin.occurred_at,
        pin.cause,
        pin.rule,
        pin.interaction_id,
        pin.actor,
        pin.note,
    )


# An event of the journey: an interaction, or a manual move of one model.
Event = InteractionRecord | TransitionRecord


def _order(event: Event) -> tuple[datetime, int, int]:
    # At the same instant, interactions come before a manual move (the move was made knowing them).
    return (event.occurred_at, 1 if isinstance(event, TransitionRecord) else 0, event.id)


def advance(
    tracked: Sequence[Tracked],
    customer: Subject,
    state: FactsState,
    starts: Mapping[str, Position],
    history: Sequence[Event],
    now: datetime,
    cause: str,
) -> tuple[dict[str, Position], list[NewTransition]]:
    """Run events (interactions, and manual moves in replays) in event time through every tracked
    model. Before each event, checks that fell due are applied with the facts without it; an
    interaction is then folded into `state` (once, shared by the models) and evaluated at its
    time; a manual move puts its model's customer in its stage. At the end, checks due up to
    `now`. Returns where each model ends and the moves made."""
    positions = dict(starts)
    out: list[NewTransition] = []
    profile = profile_of(customer)
    for record in sorted(history, key=_order):
        if isinstance(record, TransitionRecord):
            out += _manual(tracked, customer, state, positions, record)
            continue
        # One facts snapshot before the interaction and one after, shared by the models.
        before = facts_at(state, customer, None, profile)
        for t in tracked:
            pos = positions[t.key]
            if pos.next_check_at is not None and pos.next_check_at <= record.occurred_at:
                due = engine.catch_up(t.model, t.params, pos, before, record.occurred_at)
                _collect(out, customer, t, due, None, cause)
                pos = due.position
            if pos.next_check_at is not None:  # the interaction is evaluated from a fresh look
                pos = Position(pos.stage, pos.entered_at)
            positions[t.key] = pos
        event = event_of(record)
        state.fold(event)
        after = facts_at(state, customer, event, profile)
        for t in tracked:
            ev = engine.evaluate(t.model, t.params, positions[t.key], after, record.occurred_at)
            _collect(out, customer, t, ev, record.id, cause)
            positions[t.key] = ev.position
    final = facts_at(state, customer, None, profile)
    for t in tracked:
        pos = positions[t.key]
        if not history:
            # A periodic check or a profile change: every rule is looked at as of now (time-based
            # ones that fell due fire at their due time).
            ev = engine.evaluate(t.model, t.params, Position(pos.stage, pos.entered_at), final, now)
            _collect(out, customer, t, ev, None, cause)
            pos = ev.position
        if pos.next_check_at is not None and pos.next_check_at <= now:
            rest = engine.catch_up(t.model, t.params, pos, final, now)
            _collect(out, customer, t, rest, None, cause)
            pos = rest.position
        positions[t.key] = pos
    return positions, out


def _staying(t: Tracked, stage: str, entered: datetime, facts: CustomerFacts) -> Position:
    """A position that sticks until something new happens: looked at again only when one of its
    time-based rules falls due (rules that hold at this moment are not applied)."""
    return Position(stage, entered, engine.next_check(t.model, t.params, Position(stage, entered), facts))


def _manual(
    tracked: Sequence[Tracked],
    customer: Subject,
    state: FactsState,
    positions: dict[str, Position],
    pin: TransitionRecord,
) -> list[NewTransition]:
    """A manual move at its time: checks due before it first, then the move, which sticks until
    something new happens (no rule that holds at that moment moves the customer on at once)."""
    t = next((x for x in tracked if x.key == pin.model_key), None)
    if t is None:
        return []
    facts = facts_at(state, customer)
    due = engine.catch_up(t.model, t.params, positions[t.key], facts, pin.occurred_at)
    out = _transitions(customer, t, due, None, RULE)
    here = due.position
    if here.stage == pin.to_stage:  # the rules had already put the customer there: nothing to do
        positions[t.key] = here
        return out
    at = max(pin.occurred_at, here.entered_at)
    positions[t.key] = _staying(t, pin.to_stage, at, facts(at, at))
    return [*out, _pinned_move(t, customer, pin, here.stage)]


def replay_customer(
    t: Tracked,
    customer: Subject,
    records: Sequence[InteractionRecord],
    now: datetime,
    cause: str = RULE,
    pinned: Sequence[TransitionRecord] = (),
) -> tuple[Position, list[NewTransition]]:
    """A customer's whole history through one model, from scratch (pure: no I/O).

    The journey starts at the earlier of the customer's creation and its first interaction.
    `pinned` are the model's manual moves and mappings, which are events of their own: a manual
    move is made again at its time; the latest mapping is where the journey in this model starts
    (what came before it is folded into the facts, not evaluated)."""
    ordered = sorted(records, key=lambda r: (r.occurred_at, r.id))
    pins = sorted((p for p in pinned if p.model_key == t.key), key=lambda p: (p.occurred_at, p.id))
    anchor = next((p for p in reversed(pins) if p.cause == MAPPING), None)
    state = FactsState()
    if anchor is not None:
        before = [r for r in ordered if r.occurred_at <= anchor.occurred_at]
        for r in before:
            state.fold(event_of(r))
        ordered = ordered[len(before) :]
        pins = [p for p in pins if p.cause == MANUAL and (p.occurred_at, p.id) > (anchor.occurred_at, anchor.id)]
        at = anchor.occurred_at
        pos = _staying(t, anchor.to_stage, at, facts_at(state, customer)(at, at))
        out = [_pinned_move(t, customer, anchor, None)]
    else:
        start = journey_start(customer, ordered[:1])
        initial = t.model.initial_for(t.params)
        out = [
            NewTransition(
                customer.workspace_id, customer.id, t.key, t.model.version, None, initial, start, cause, INITIAL_RULE
            )
        ]
        ev = engine.evaluate(t.model, t.params, Position(initial, start), facts_at(state, customer), start)
        out += _transitions(customer, t, ev, None, cause)
        pos = ev.position
        pins = [p for p in pins if p.cause == MANUAL]
    ends, moves = advance([t], customer, state, {t.key: pos}, [*ordered, *pins], now, cause)
    return ends[t.key], out + moves


def signature(
    from_stage: str | None,
    to_stage: str,
    at: datetime,
    cause: str,
    rule: str | None,
    interaction_id: int | None,
    actor: str | None,
    note: str | None,
) -> tuple[Any, ...]:
    """What makes two recorded moves the same move: RULE and REPLAY are both rules' moves."""
    kind = RULE if cause in (RULE, REPLAY) else cause
    return (from_stage, to_stage, at.timestamp(), kind, rule, interaction_id, actor, note)


def _sig_new(t: NewTransition) -> tuple[Any, ...]:
    return signature(t.from_stage, t.to_stage, t.occurred_at, t.cause, t.rule, t.interaction_id, t.actor, t.note)


def _sig_old(t: TransitionRecord) -> tuple[Any, ...]:
    return signature(t.from_stage, t.to_stage, t.occurred_at, t.cause, t.rule, t.interaction_id, t.actor, t.note)


def diff(
    stored: Sequence[TransitionRecord], rebuilt: Sequence[NewTransition]
) -> tuple[list[TransitionRecord], list[NewTransition]]:
    """The stored moves to supersede and the rebuilt ones to write: everything after the longest
    common prefix of the two histories (in time order), so an unchanged journey writes nothing."""
    old = sorted(stored, key=lambda r: (r.occurred_at, r.id))
    same = 0
    for a, b in zip(old, rebuilt, strict=False):
        if _sig_old(a) != _sig_new(b):
            break
        same += 1
    return old[same:], list(rebuilt[same:])


def rewind(
    t: Tracked,
    customer: Subject,
    state: FactsState,
    moves: Sequence[TransitionRecord],
    at: datetime,
) -> tuple[Position, list[TransitionRecord]] | None:
    """Where a customer stood in one model just before `at`, when every move after `at` was made
    by a time-based rule (dated when it fell due, with no interaction after `at` behind it): such
    moves were the rules' reading of a quiet period that an interaction at `at` now breaks, and
    re-running the engine from this position gives what a replay would. Returns the position and
    the moves to supersede; None when a move after `at` has another cause (then the customer
    needs a rebuild)."""
    ordered = sorted(moves, key=lambda m: (m.occurred_at, m.id))
    kept = [m for m in ordered if m.occurred_at <= at]
    after = ordered[len(kept) :]
    if not kept or not after:
        return None
    if any(m.interaction_id is not None or m.cause != RULE or m.rule == INITIAL_RULE for m in after):
        return None
    if after[0].from_stage != kept[-1].to_stage:
        return None
    entered = kept[-1].occurred_at
    seen = max(entered, state.last_engaged_at or entered)  # the engine's last look before `at` was at this moment
    return _staying(t, kept[-1].to_stage, entered, facts_at(state, customer)(seen, entered)), after


def replay_after(
    t: Tracked,
    customer: Subject,
    records: Sequence[InteractionRecord],
    stored: Sequence[TransitionRecord],
    cut: datetime,
    now: datetime,
    cause: str = RULE,
) -> tuple[Position, list[TransitionRecord], list[NewTransition]] | None:
    """One model's journey rebuilt from `cut` on, for an interaction that arrived dated `cut`:
    the stored moves before `cut` stand (nothing before it changed), the customer is put back
    where they left it, and the events from `cut` on (interactions, manual moves) run again.
    Returns the end position, the stored moves to supersede and the moves to write; None when
    the journey's start moves or a mapping comes after `cut` (then replay from scratch). The cost
    is the history after `cut`, not the whole history."""
    ordered = sorted(records, key=lambda r: (r.occurred_at, r.id))
    moves = sorted(stored, key=lambda m: (m.occurred_at, m.id))
    kept = [m for m in moves if m.occurred_at < cut]
    after = moves[len(kept) :]
    if not kept or kept[0].from_stage is not None or any(m.cause == MAPPING for m in after):
        return None
    if kept[0].cause != MAPPING and kept[0].occurred_at != journey_start(customer, ordered[:1]):
        return None
    state = FactsState()
    before = [r for r in ordered if r.occurred_at < cut]
    for r in before:
        state.fold(event_of(r))
    entered = kept[-1].occurred_at
    seen = max(entered, before[-1].occurred_at) if before else entered
    start = _staying(t, kept[-1].to_stage, entered, facts_at(state, customer)(seen, entered))
    events: list[Event] = [*ordered[len(before) :], *(m for m in after if m.cause == MANUAL)]
    ends, made = advance([t], customer, state, {t.key: start}, events, now, cause)
    old, new = diff(after, made)
    return ends[t.key], old, new
