"""Which customers a filter (or a saved segment) takes: the conditions as SQL, for every reader
of customers (lists, counts, metrics, exports, rebuilds, compiled reads).

A filter is a conjunction of simple conditions, `where` comparisons and boolean groups (`all_of`,
`any_of`, `negated`). A group's conditions are wrapped in COALESCE(..., FALSE) so that a missing
value is "does not hold" and NOT of it holds: NOT (industry = 'retail') takes the customers with
no industry too, as a user reading it expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, cast

from api.db import Params, utc
from api.errors import Problem
from api.validation import ATTRIBUTE_KEY, ATTRIBUTE_KEY_RULE, datetime_message, parse_datetime

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class AttributeEquals:
    key: str
    value: Scalar


class Op(StrEnum):
    EQ = "EQ"
    IN = "IN"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"
    EXISTS = "EXISTS"


SQL_OPS = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}

# The customer's own fields a comparison may name (API name → column), and those holding times.
TEXT_FIELDS = {
    "name": "c.name",
    "email": "c.email",
    "phone": "c.phone",
    "company": "c.company",
    "jobTitle": "c.job_title",
    "industry": "c.industry",
    "acquisitionChannel": "c.acquisition_channel",
    "externalId": "c.external_id",
}
TIME_FIELDS = {"createdAt": "c.created_at", "updatedAt": "c.updated_at"}
ATTRIBUTE_PREFIX = "attributes."


@dataclass(frozen=True)
class Comparison:
    """`field` `op` `values`: a field of `TEXT_FIELDS`/`TIME_FIELDS` or `attributes.<key>`. Checked
    by `api.validation.comparison` (types, counts) before it gets here."""

    field: str
    op: Op
    values: tuple[Scalar | datetime, ...] = ()

    @property
    def attribute(self) -> str | None:
        return self.field[len(ATTRIBUTE_PREFIX) :] if self.field.startswith(ATTRIBUTE_PREFIX) else None


class Dimension(Protocol):
    """A way of grouping customers (`api.metrics_groups`): the condition of being in a group."""

    def condition(self, workspace_id: int, value: str | None, p: Params) -> str: ...


class Condition(Protocol):
    """A condition computed by another service (`api.health`): SQL on the customer `c`."""

    def condition(self, workspace_id: int, p: Params) -> str: ...


@dataclass(frozen=True)
class Member:
    """In the group `value` (None: the customers without a value) of `dimension`."""

    dimension: Dimension
    value: str | None


@dataclass(frozen=True)
class CustomerFilter:
    """Every condition must hold. Text matches name, email or company, case-insensitively."""

    text: str | None = None
    email: str | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    acquisition_channel: str | None = None
    attributes: tuple[AttributeEquals, ...] = field(default_factory=tuple)
    ids: tuple[int, ...] | None = None
    # In any of `stages` of the model `stage_model` (resolved by the caller: the primary by default).
    stages: tuple[str, ...] = ()
    stage_model: str | None = None
    # The probability of being alive from the value model: below / at least (None: no condition).
    p_alive_below: float | None = None
    p_alive_at_least: float | None = None
    where: tuple[Comparison, ...] = ()
    all_of: tuple[CustomerFilter, ...] = ()
    any_of: tuple[CustomerFilter, ...] | None = None  # () matches no one
    negated: CustomerFilter | None = None
    member: Member | None = None  # a breakdown's group (not part of the API's filter)
    computed: tuple[Condition, ...] = ()  # health ranges, re-engagement


def _like_pattern(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _json_path(key: str) -> str:
    return f'$."{key}"'  # (keys with `"` or `\` are refused before: api.validation)


def _attribute_condition(cond: AttributeEquals, p: Params) -> str:
    """Exact equality of one scalar attribute, type included ("1" is not 1, true is not 1)."""
    if p.dialect == "postgres":
        return f"c.attributes -> {p(cond.key)} = {p(json.dumps(cond.value))}::jsonb"
    path = _json_path(cond.key)
    value = cond.value
    if value is None:
        return f"json_type(c.attributes, {p(path)}) = 'null'"
    if isinstance(value, bool):
        return f"json_type(c.attributes, {p(path)}) = {p('true' if value else 'false')}"
    types = "('text')" if isinstance(value, str) else "('integer', 'real')"
    return f"(json_type(c.attributes, {p(path)}) IN {types} AND json_extract(c.attributes, {p(path)}) = {p(value)})"


def _attribute_order(key: str, op: Op, value: Scalar | datetime, p: Params) -> str:
    """An attribute greater or less than a number (numbers only) or a text (texts only, by code
    point on both databases)."""
    symbol = SQL_OPS[op]
    if p.dialect == "postgres":
        if isinstance(value, str):
            return (
                f"(jsonb_typeof(c.attributes -> {p(key)}) = 'string' "
                f'AND (c.attributes ->> {p(key)}) COLLATE "C" {symbol} {p(value)})'
            )
        return (
            f"(jsonb_typeof(c.attributes -> {p(key)}) = 'number' "
            f"AND (c.attributes ->> {p(key)})::numeric {symbol} {p(value)})"
        )
    path = _json_path(key)
    types = "('text')" if isinstance(value, str) else "('integer', 'real')"
    typed = f"json_type(c.attributes, {p(path)}) IN {types}"
    return f"({typed} AND json_extract(c.attributes, {p(path)}) {symbol} {p(value)})"


def _attribute_comparison(key: str, cond: Comparison, p: Params) -> str:
    if cond.op is Op.EXISTS:
        if p.dialect == "postgres":
            return f"coalesce(jsonb_typeof(c.attributes -> {p(key)}), 'null') <> 'null'"
        return f"coalesce(json_type(c.attributes, {p(_json_path(key))}), 'null') <> 'null'"
    if cond.op in (Op.EQ, Op.IN):
        equal = [_attribute_condition(AttributeEquals(key, cast(Scalar, value)), p) for value in cond.values]
        return "(" + " OR ".join(equal) + ")" if equal else "1 = 0"
    return _attribute_order(key, cond.op, cond.values[0], p)


def _column_comparison(column: str, cond: Comparison, p: Params) -> str:
    if cond.op is Op.EXISTS:
        text = column in TEXT_FIELDS.values()
        return f"({column} IS NOT NULL AND {column} <> '')" if text else f"{column} IS NOT NULL"
    values = [utc(v) if isinstance(v, datetime) else v for v in cond.values]
    collate = ' COLLATE "C"' if p.dialect == "postgres" and column in TEXT_FIELDS.values() else ""
    if cond.op in (Op.EQ, Op.IN):
        return f"{column} IN ({p.many(values)})" if values else "1 = 0"
    return f"{column}{collate} {SQL_OPS[cond.op]} {p(values[0])}"


def comparison_condition(cond: Comparison, p: Params) -> str:
    key = cond.attribute
    if key is not None:
        return _attribute_comparison(key, cond, p)
    column = TEXT_FIELDS.get(cond.field) or TIME_FIELDS[cond.field]
    return _column_comparison(column, cond, p)


def _group(workspace_id: int, f: CustomerFilter, p: Params) -> str:
    """One sub-filter as a condition that is FALSE, never NULL, where it does not hold."""
    return f"coalesce(({' AND '.join(_conditions(workspace_id, f, p)) or '1 = 1'}), 1 = 0)"


def _conditions(workspace_id: int, f: CustomerFilter, p: Params) -> list[str]:
    """The filter's own conditions, without the workspace's (its caller's first condition)."""
    out = []
    if f.text:
        out.append(f"c.search_text LIKE {p(_like_pattern(f.text))} ESCAPE '\\'")
    if f.email:
        out.append(f"c.email = {p(f.email.strip().lower())}")
    if f.tag:
        out.append(
            "EXISTS (SELECT 1 FROM customer_tag t WHERE t.customer_id = c.id "
            f"AND t.workspace_id = {p(workspace_id)} AND t.tag = {p(f.tag.strip())})"
        )
    if f.created_after:
        out.append(f"c.created_at >= {p(utc(f.created_after))}")
    if f.created_before:
        out.append(f"c.created_at < {p(utc(f.created_before))}")
    if f.acquisition_channel:
        out.append(f"c.acquisition_channel = {p(f.acquisition_channel)}")
    if f.ids is not None:
        out.append(f"c.id IN ({p.many(list(f.ids))})" if f.ids else "1 = 0")
    out.extend(_attribute_condition(cond, p) for cond in f.attributes)
    if f.p_alive_below is not None:
        out.append(
            "EXISTS (SELECT 1 FROM customer_value v2 WHERE v2.customer_id = c.id "
            f"AND v2.workspace_id = {p(workspace_id)} AND v2.p_alive < {p(f.p_alive_below)})"
        )
    if f.p_alive_at_least is not None:
        out.append(
            "EXISTS (SELECT 1 FROM customer_value v2 WHERE v2.customer_id = c.id "
            f"AND v2.workspace_id = {p(workspace_id)} AND v2.p_alive >= {p(f.p_alive_at_least)})"
        )
    if f.stages and f.stage_model:
        out.append(
            "EXISTS (SELECT 1 FROM stage_assignment a WHERE a.customer_id = c.id "
            f"AND a.workspace_id = {p(workspace_id)} AND a.model_key = {p(f.stage_model)} "
            f"AND a.stage IN ({p.many(list(f.stages))}))"
        )
    out.extend(comparison_condition(cond, p) for cond in f.where)
    out.extend(_group(workspace_id, sub, p) for sub in f.all_of)
    if f.any_of is not None:
        out.append("(" + " OR ".join(_group(workspace_id, sub, p) for sub in f.any_of) + ")" if f.any_of else "1 = 0")
    if f.negated is not None:
        out.append(f"NOT {_group(workspace_id, f.negated, p)}")
    if f.member is not None:
        out.append(f.member.dimension.condition(workspace_id, f.member.value, p))
    out.extend(c.condition(workspace_id, p) for c in f.computed)
    return out


def filter_conditions(workspace_id: int, f: CustomerFilter, p: Params) -> list[str]:
    """SQL conditions for a filter, always scoped to the workspace first."""
    return [f"c.workspace_id = {p(workspace_id)}", *_conditions(workspace_id, f, p)]


# --- checking a comparison ------------------------------------------------------------------

MAX_VALUES = 1000
MAX_EXACT_INT = 2**53  # beyond this a JSON number is not exact in every client (nor in SQLite)


def _fields_message() -> str:
    return f"Compare one of {sorted(TEXT_FIELDS) + sorted(TIME_FIELDS)} or 'attributes.<key>'."


def _value(name: str, value: object, op: Op, path: tuple[str, ...]) -> Scalar | datetime | Problem:
    """One compared value, of the type the field holds."""
    if name in TIME_FIELDS:
        moment = parse_datetime(value) if isinstance(value, str) else None
        return moment if moment is not None else Problem(path, "INVALID_VALUE", datetime_message(str(value)))
    if name in TEXT_FIELDS:
        if not isinstance(value, str):
            return Problem(path, "INVALID_VALUE", f"{name} holds text: compare it with a string, not {value!r}.")
        return value
    if isinstance(value, dict | list):
        return Problem(path, "INVALID_VALUE", "Attributes are compared with a string, number, boolean or null.")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_EXACT_INT:
        return Problem(path, "INVALID_VALUE", f"{value} is beyond ±2^53, the largest exact JSON integer.")
    if op in SQL_OPS and (value is None or isinstance(value, bool)):
        return Problem(path, "INVALID_VALUE", f"{op.value} compares numbers or strings, not {json.dumps(value)}.")
    return cast(Scalar, value)


def comparison(
    name: str, op: Op, value: object, values: list[object] | None, path: tuple[str, ...]
) -> Comparison | Problem:
    """A comparison from its parts as given (`path` names the condition in the input), or the
    problem with it: an unknown field, a missing or extra value, a value of the wrong type."""
    attribute = name[len(ATTRIBUTE_PREFIX) :] if name.startswith(ATTRIBUTE_PREFIX) else None
    if name not in TEXT_FIELDS and name not in TIME_FIELDS and attribute is None:
        return Problem((*path, "field"), "UNKNOWN_FIELD", f"{name!r} is not a customer field. {_fields_message()}")
    if attribute is not None and not ATTRIBUTE_KEY.match(attribute):
        return Problem((*path, "field"), "INVALID_ATTRIBUTE_KEY", ATTRIBUTE_KEY_RULE)
    if op is Op.EXISTS:
        if value is not None or values is not None:
            return Problem((*path, "value"), "UNEXPECTED_VALUE", "EXISTS takes no value.")
        return Comparison(name, op)
    if op is Op.IN:
        if value is not None or values is None:
            return Problem((*path, "values"), "MISSING_VALUES", "IN compares with `values`, a list.")
        if not 1 <= len(values) <= MAX_VALUES:
            return Problem((*path, "values"), "INVALID_VALUES", f"IN takes 1 to {MAX_VALUES} values.")
        raw = values
    else:
        if values is not None:
            return Problem((*path, "values"), "UNEXPECTED_VALUES", f"{op.value} compares with one `value`.")
        if value is None:
            hint = " (for a missing value use NOT with EXISTS)"
            return Problem((*path, "value"), "MISSING_VALUE", f"{op.value} needs a `value`{hint}.")
        raw = [value]
    checked = []
    for n, item in enumerate(raw):
        one = _value(name, item, op, (*path, "values", str(n)) if op is Op.IN else (*path, "value"))
        if isinstance(one, Problem):
            return one
        checked.append(one)
    return Comparison(name, op, tuple(checked))
