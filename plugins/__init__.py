"""Jornada's plugin contract: what a partner package imports.

A plugin implements hooks (see `plugins.hookspecs`) with `hookimpl` and returns the frozen data
classes below; criteria are pure functions of `CustomerFacts` and the workspace's parameters.
`FactsState`, `evaluate`, `catch_up` and `on_interaction` let a partner test a model without a
database.
"""

from plugins.engine import Evaluation, Move, Position, catch_up, evaluate, next_check, on_interaction
from plugins.facts import FactsState
from plugins.hookspecs import hookimpl
from plugins.types import (
    Check,
    Criterion,
    CriterionResult,
    CustomerFacts,
    InteractionFact,
    InteractionKind,
    LifecycleModel,
    Param,
    Stage,
    StageCategory,
    StageChange,
    Transition,
    fire,
    wait_until,
)

__all__ = [
    "Check",
    "Criterion",
    "CriterionResult",
    "CustomerFacts",
    "Evaluation",
    "FactsState",
    "InteractionFact",
    "InteractionKind",
    "LifecycleModel",
    "Move",
    "Param",
    "Position",
    "Stage",
    "StageCategory",
    "StageChange",
    "Transition",
    "catch_up",
    "evaluate",
    "fire",
    "hookimpl",
    "next_check",
    "on_interaction",
    "wait_until",
]
