"""Frozen data that plugins return to the host, and the read-only facts criteria look at.

Plugins never do I/O: a lifecycle model is data (stages, transitions, parameters) plus pure
criterion functions of a `CustomerFacts` snapshot and the workspace's parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Any, TypeAlias


class StageCategory(StrEnum):
    """What a stage means for metrics: churn and retention are measured on categories."""

    PROSPECT = "PROSPECT"
    CUSTOMER = "CUSTOMER"
    CHURNED = "CHURNED"
    LOST = "LOST"


@dataclass(frozen=True)
class InteractionKind:
    """A kind of interaction that customers can have, as a plugin declares it.

    `key` is what clients send as `kind` (lower snake case). A kind with a score scale
    (`score_min`/`score_max`) accepts a score in that closed range and, when `score_required`,
    refuses an interaction without one; a kind without a scale refuses any score.
    `amount_required` makes `amount` mandatory (purchases, renewals, refunds).
    """

    key: str
    name: str
    description: str
    score_min: int | None = None
    score_max: int | None = None
    score_required: bool = False
    amount_required: bool = False

    @property
    def has_score(self) -> bool:
        return self.score_min is not None and self.score_max is not None


@dataclass(frozen=True)
class Stage:
    """One stage of a model. `labels` maps a locale ("en", "pt-BR") to the stage's name."""

    key: str
    labels: Mapping[str, str]
    category: StageCategory
    order: int

    def label(self, locale: str = "en") -> str:
        """The name in `locale` (BCP 47 matching, see `match_locale`), else English, else the key."""
        found = match_locale(locale, self.labels) or match_locale("en", self.labels)
        return self.labels[found] if found else self.key


def _tag(locale: str) -> list[str]:
    return [part for part in locale.strip().replace("_", "-").casefold().split("-") if part]


def match_locale(requested: str, available: Iterable[str]) -> str | None:
    """The available locale that best serves `requested` (BCP 47 lookup, any case, `_` or `-`):
    the same tag; else the requested tag cut down subtag by subtag ("pt-BR-x" → "pt-BR" → "pt");
    else a tag of the same language ("pt", "pt_BR", "pt-br" and "pt-PT" all find "pt-BR")."""
    wanted = _tag(requested)
    if not wanted:
        return None
    tags = {tuple(_tag(a)): a for a in available}
    for size in range(len(wanted), 0, -1):
        if tuple(wanted[:size]) in tags:
            return tags[tuple(wanted[:size])]
    same_language = sorted(a for t, a in tags.items() if t and t[0] == wanted[0])
    return same_language[0] if same_language else None


@dataclass(frozen=True)
class InteractionFact:
    """The interaction being evaluated, when the evaluation was caused by one."""

    kind: str
    occurred_at: datetime
    amount: Decimal | None = None
    score: int | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CustomerFacts:
    """What a criterion may know about a customer, as of `as_of`. Read-only.

    Counts and times are per interaction kind over the customer's whole history up to `as_of`.
    `stage_entered_at` is when the customer entered the stage being evaluated from.
    """

    as_of: datetime
    stage_entered_at: datetime
    created_at: datetime
    counts: Mapping[str, int] = field(default_factory=dict)
    first_at: Mapping[str, datetime] = field(default_factory=dict)
    last_at: Mapping[str, datetime] = field(default_factory=dict)
    orders: int = 0
    revenue: Decimal = Decimal(0)
    first_purchase_at: datetime | None = None
    last_purchase_at: datetime | None = None
    products: frozenset[str] = frozenset()
    latest_nps: int | None = None
    latest_csat: int | None = None
    latest_review_score: int | None = None
    referrals: int = 0
    active_subscriptions: int = 0
    last_engaged_at: datetime | None = None
    job_title: str | None = None
    industry: str | None = None
    tags: frozenset[str] = frozenset()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    event: InteractionFact | None = None

    def at(self, as_of: datetime, stage_entered_at: datetime) -> CustomerFacts:
        """The same facts looked at from another moment or stay (a cheap copy: the engine asks
        for many per interaction)."""
        clone = object.__new__(CustomerFacts)
        clone.__dict__.update(self.__dict__)
        clone.__dict__["as_of"] = as_of
        clone.__dict__["stage_entered_at"] = stage_entered_at
        return clone

    def count(self, *kinds: str) -> int:
        return sum(self.counts.get(k, 0) for k in kinds)

    def last(self, *kinds: str) -> datetime | None:
        times = [self.last_at[k] for k in kinds if k in self.last_at]
        return max(times) if times else None

    def happened_since(self, moment: datetime, *kinds: str) -> bool:
        """Whether any of `kinds` happened at or after `moment` (up to `as_of`)."""
        last = self.last(*kinds)
        return last is not None and last >= moment

    def lead_score(self, points: Mapping[str, int]) -> int:
        """The sum of `points` per interaction of each kind."""
        return sum(self.counts.get(kind, 0) * value for kind, value in points.items())

    @property
    def subscription_active(self) -> bool:
        return self.active_subscriptions > 0


@dataclass(frozen=True)
class Check:
    """A criterion's answer when plain True/False is not enough (time-based rules).

    `fired` with `at`: the criterion became true at `at` (e.g. the day 180 days after the last
    purchase), which becomes the transition's time. Not `fired` with `recheck_at`: nothing will
    change before `recheck_at` unless an interaction arrives, so the host looks again then.
    """

    fired: bool
    at: datetime | None = None
    recheck_at: datetime | None = None


def fire(at: datetime | None = None) -> Check:
    return Check(True, at=at)


def wait_until(moment: datetime) -> Check:
    return Check(False, recheck_at=moment)


CriterionResult: TypeAlias = bool | Check
Criterion: TypeAlias = Callable[[CustomerFacts, Mapping[str, Any]], CriterionResult]


@dataclass(frozen=True)
class Transition:
    """An allowed move: from `source` (None means any stage) to `target` when `criterion` holds.

    Transitions are tried in declared order; the first whose criterion holds fires. A transition
    without a criterion is allowed for manual moves only. `description` says the rule in plain
    words, for admins.
    """

    name: str
    source: str | None
    target: str
    description: str
    criterion: Criterion | None = None


PARAM_TYPES = ("int", "float", "decimal", "str", "bool", "str_list", "int_map")


@dataclass(frozen=True)
class Param:
    """A parameter of a model that a workspace may override (validated against `type` and range).

    `type` is one of PARAM_TYPES: int, float, decimal, str, bool, str_list (a list of strings)
    or int_map (an object of string keys to integers, e.g. lead points per interaction kind).
    `minimum` and `maximum` (inclusive, None: unbounded) bound a number, or each value of an
    int_map. `keys_are_kinds` makes an int_map accept only installed interaction kinds as keys.
    A value outside these is refused with a message naming the parameter and the allowed range.
    """

    name: str
    type: str
    default: Any
    description: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    keys_are_kinds: bool = False

    def range_text(self) -> str | None:
        """The allowed range in words ("from 1 to 3650", "at least 0"), None when unbounded."""
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f"from {low} to {high}"
        if low is not None:
            return f"at least {low}"
        if high is not None:
            return f"at most {high}"
        return None


@dataclass(frozen=True)
class LifecycleModel:
    """A lifecycle model: ordered stages, transitions, an initial stage and parameters."""

    key: str
    name: str
    description: str
    version: str
    stages: tuple[Stage, ...]
    transitions: tuple[Transition, ...]
    initial_stage: str
    params: tuple[Param, ...] = ()
    # When the initial stage depends on the workspace's parameters (e.g. an optional first
    # stage), a function of the parameters that names it; `initial_stage` otherwise.
    choose_initial: Callable[[Mapping[str, Any]], str] | None = None

    def initial_for(self, params: Mapping[str, Any]) -> str:
        return self.choose_initial(params) if self.choose_initial else self.initial_stage

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def effective_params(self, overrides: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults with a workspace's values on top; an `int_map` value is merged key by key (set
        one kind's lead points, keep the others' defaults)."""
        out = self.defaults
        for param in self.params:
            if param.name in overrides:
                value = overrides[param.name]
                out[param.name] = {**param.default, **value} if param.type == "int_map" else value
        return out

    def transitions_from(self, stage: str) -> list[Transition]:
        """The transitions that may leave `stage`, in declared order (computed once per stage)."""
        found = self._from.get(stage)
        if found is None:
            found = [t for t in self.transitions if t.source in (None, stage) and t.target != stage]
            self._from[stage] = found
        return found

    @cached_property
    def _from(self) -> dict[str, list[Transition]]:
        return {}


@dataclass(frozen=True)
class StageChange:
    """A committed move of one customer in one model, as `on_stage_changed` receives it.

    `correction` is true for a move written when the customer's journey was rebuilt (an
    interaction arrived dated before moves already made, `createdAt` changed, or an admin asked
    for a rebuild): the moves it replaces were superseded (kept, hidden from the history) and may
    have been announced before. `occurred_at` is always the event time, which can be long ago.
    """

    workspace_id: int
    customer_id: int
    transition_id: int
    model_key: str
    model_version: str
    from_stage: str | None
    to_stage: str
    occurred_at: datetime
    cause: str
    rule: str | None = None
    actor: str | None = None
    note: str | None = None
    interaction_id: int | None = None
    correction: bool = False
