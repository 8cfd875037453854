"""Checks on what plugins return, and on the parameter values a workspace sets (pure)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from plugins.types import PARAM_TYPES, InteractionKind, LifecycleModel, Param, StageCategory


def _type_error(param: Param, value: Any) -> str | None:
    """Why `value` does not fit `param.type`, or None when it does."""
    kind = param.type
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        return "must be an integer"
    if kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return "must be a number"
    if kind == "decimal":
        try:
            Decimal(str(value))
        except InvalidOperation:
            return "must be a decimal number"
        if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
            return 'must be a decimal number (a string such as "1000.00" or an integer)'
    if kind == "str" and not isinstance(value, str):
        return "must be a string"
    if kind == "bool" and not isinstance(value, bool):
        return "must be true or false"
    if kind == "str_list" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return "must be a list of strings"
    if kind == "int_map" and not (
        isinstance(value, dict)
        and all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in value.items())
    ):
        return "must be an object of integers"
    return None


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _numbers(param: Param, value: Any) -> list[tuple[str, Any]]:
    """(name, value) of every number a value holds that the range applies to."""
    if param.type in ("int", "float", "decimal"):
        return [(param.name, value)]
    if param.type == "int_map":
        return [(f"{param.name}[{k!r}]", v) for k, v in value.items()]
    return []


def _range_error(param: Param, value: Any) -> str | None:
    allowed = param.range_text()
    if allowed is None:
        return None
    low = None if param.minimum is None else Decimal(str(param.minimum))
    high = None if param.maximum is None else Decimal(str(param.maximum))
    for name, number in _numbers(param, value):
        n = Decimal(str(number))
        if (low is not None and n < low) or (high is not None and n > high):
            return f"{name} must be {allowed}, got {number!r}"
    return None


def _key_error(param: Param, value: Any, kinds: Collection[str] | None) -> str | None:
    if not param.keys_are_kinds or kinds is None:
        return None
    unknown = sorted(k for k in value if k not in kinds)
    if unknown:
        return f"{param.name} has unknown interaction kinds {unknown}; see `interactionKinds`"
    return None


def param_problems(
    model: LifecycleModel, values: Mapping[str, Any], kinds: Collection[str] | None = None
) -> dict[str, str]:
    """Per parameter name, what is wrong with the given values (unknown names included): the
    type, the declared range, and for `keys_are_kinds` maps, keys that are not in `kinds`."""
    declared = {p.name: p for p in model.params}
    problems = {}
    for name, value in values.items():
        param = declared.get(name)
        if param is None:
            problems[name] = f"{model.key} has no parameter {name!r}; it has {sorted(declared)}"
            continue
        error = _type_error(param, value)
        if error:
            problems[name] = f"{name} {error} ({param.type}), got {value!r}"
            continue
        found = _range_error(param, value) or _key_error(param, value, kinds)
        if found:
            problems[name] = found
    return problems


def model_problems(model: LifecycleModel) -> list[str]:
    """Why a model cannot be used; empty when it is valid."""
    problems: list[str] = []
    if not model.key or not model.stages:
        problems.append("a model needs a key and at least one stage")
    keys = [s.key for s in model.stages]
    if len(set(keys)) != len(keys):
        problems.append(f"duplicate stage keys in {keys}")
    problems += [
        f"stage {s.key!r} has an unknown category {s.category!r} (use plugins.types.StageCategory)"
        for s in model.stages
        if not isinstance(s.category, StageCategory)  # a bare "CUSTOMER" string would break the API
    ]
    problems += [f"stage {s.key!r} has no English label" for s in model.stages if "en" not in s.labels]
    if model.initial_stage not in keys:
        problems.append(f"initial stage {model.initial_stage!r} is not a stage of the model")
    for t in model.transitions:
        for end, stage in (("source", t.source), ("target", t.target)):
            if stage is not None and stage not in keys:
                problems.append(f"transition {t.name!r} has an unknown {end} stage {stage!r}")
    for p in model.params:
        if p.type not in PARAM_TYPES:
            problems.append(f"parameter {p.name!r} has an unknown type {p.type!r}")
        elif (error := _type_error(p, p.default)) is not None:
            problems.append(f"parameter {p.name!r}: the default {error}, got {p.default!r}")
        elif not _is_json(p.default):  # defaults are served as JSON (lifecycleModels, params)
            problems.append(f"parameter {p.name!r}: the default must be plain JSON, got {p.default!r}")
        elif p.minimum is not None and p.maximum is not None and p.minimum > p.maximum:
            problems.append(f"parameter {p.name!r}: minimum {p.minimum} is above maximum {p.maximum}")
        elif (error := _range_error(p, p.default)) is not None:
            problems.append(f"parameter {p.name!r}: the default is out of range ({error})")
    if not problems and model.choose_initial is not None:
        chosen = model.choose_initial(model.defaults)
        if chosen not in keys:
            problems.append(f"the initial stage chosen for the defaults, {chosen!r}, is not a stage")
    return problems


def kind_problems(kind: InteractionKind) -> list[str]:
    problems = []
    if not kind.key or kind.key != kind.key.strip().lower() or " " in kind.key:
        problems.append(f"interaction kind key {kind.key!r} must be lower snake case")
    if (kind.score_min is None) != (kind.score_max is None):
        problems.append(f"interaction kind {kind.key!r} needs both score_min and score_max, or neither")
    return problems
