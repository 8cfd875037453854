"""Breakdowns: the groups a metrics scope splits into (by a customer field, an attribute, a tag,
the stage, the cohort month) and, for each group, the scope narrowed to it.

Each dimension is one SQL expression per customer `c`, a text key or NULL ("no value"): the
groups are counted by it (GROUP BY), and a group's segment is "the scope's segment AND the key
equals this one" (`customer_filters.CustomerFilter.member`), so a group's metrics are computed by
the very same queries as any segment's. Tags, of which a customer has several, are a dimension of
their own: a customer is in the group of each of its tags.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import pairwise

from api.customer_filters import (
    ATTRIBUTE_PREFIX,
    CustomerFilter,
    Member,
    Scalar,
    filter_conditions,
)
from api.db import Params, utc
from api.errors import Problem
from api.metrics_scope import Period, Scope, Split, month_start, months, new_params, period_index, query_rows
from api.sqlfn import false, in_list
from api.validation import ATTRIBUTE_KEY, ATTRIBUTE_KEY_RULE

COLUMNS = {
    "acquisitionChannel": "c.acquisition_channel",
    "industry": "c.industry",
    "company": "c.company",
    "jobTitle": "c.job_title",
}
FIELDS = (*COLUMNS, "tag", "stage", "cohortMonth")
MAX_GROUPS = 50
MAX_BINS = 20
NO_VALUE = "(none)"


# --- dimensions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    column: str

    def key(self, workspace_id: int, p: Params) -> str:
        return f"NULLIF({self.column}, '')"

    def condition(self, workspace_id: int, value: str | None, p: Params) -> str:
        return _equals(self.key(workspace_id, p), value, p)


@dataclass(frozen=True)
class Attribute:
    """A custom attribute's scalar value, typed (`number:12`, `string:pro`, `boolean:true`), or
    with `bins` the index of the bin its number falls in (`0` below the first edge)."""

    name: str
    bins: tuple[float, ...] = ()

    def key(self, workspace_id: int, p: Params) -> str:
        if p.dialect == "postgres":
            value = f"(c.attributes -> {p(self.name)})"
            kind, text = f"jsonb_typeof({value})", f"({value} #>> '{{}}')"
            if self.bins:
                return f"(CASE WHEN {kind} = 'number' THEN {_bin(f'{text}::numeric', self.bins, p)} END)"
            return f"(CASE WHEN {kind} IN ('string', 'number', 'boolean') THEN {kind} || ':' || {text} END)"
        path = p(f'$."{self.name}"')
        kind = f"json_type(c.attributes, {path})"
        if self.bins:
            number = f"json_extract(c.attributes, {path})"
            return f"(CASE WHEN {kind} IN ('integer', 'real') THEN {_bin(number, self.bins, p)} END)"
        return (
            f"(CASE {kind} WHEN 'text' THEN 'string:' || json_extract(c.attributes, {path}) "
            f"WHEN 'integer' THEN 'number:' || CAST(json_extract(c.attributes, {path}) AS TEXT) "
            f"WHEN 'real' THEN 'number:' || CAST(json_extract(c.attributes, {path}) AS TEXT) "
            f"WHEN 'true' THEN 'boolean:true' WHEN 'false' THEN 'boolean:false' END)"
        )

    def condition(self, workspace_id: int, value: str | None, p: Params) -> str:
        return _equals(self.key(workspace_id, p), value, p)


@dataclass(frozen=True)
class Tag:
    def condition(self, workspace_id: int, value: str | None, p: Params) -> str:
        tags = f"SELECT 1 FROM customer_tag t WHERE t.customer_id = c.id AND t.workspace_id = {p(workspace_id)}"
        return f"EXISTS ({tags} AND t.tag = {p(value)})" if value is not None else f"NOT EXISTS ({tags})"


@dataclass(frozen=True)
class StageOf:
    model: str
    order: tuple[str, ...]  # the model's stages in order

    def key(self, workspace_id: int, p: Params) -> str:
        return (
            f"(SELECT a.stage FROM stage_assignment a WHERE a.workspace_id = {p(workspace_id)} "
            f"AND a.customer_id = c.id AND a.model_key = {p(self.model)})"
        )

    def condition(self, workspace_id: int, value: str | None, p: Params) -> str:
        return _equals(self.key(workspace_id, p), value, p)


@dataclass(frozen=True)
class CohortMonth:
    """The month (of `edges`, the starts of the workspace's months, on its clock) the customer
    first entered one of `stages`, the model's customer-category stages, as its index; NULL:
    never."""

    model: str
    stages: tuple[str, ...]
    edges: tuple[datetime, ...]

    def first(self, workspace_id: int, p: Params) -> str:
        return (
            f"(SELECT MIN(t.occurred_at) FROM stage_transition t WHERE t.workspace_id = {p(workspace_id)} "
            f"AND t.customer_id = c.id AND t.model_key = {p(self.model)} AND t.archived = {false(p)} "
            f"AND t.to_stage IN {in_list(p, list(self.stages))})"
        )

    def key(self, workspace_id: int, p: Params) -> str:
        if not self.edges:  # no customer of the scope was ever acquired: all in the group without
            return "CAST(NULL AS TEXT)"
        periods = [Period(a, b) for a, b in pairwise(self.edges)]
        index = period_index(p, "x.f", periods)
        return (
            f"(SELECT CAST({index} AS TEXT) FROM (SELECT {self.first(workspace_id, p)} AS f) x WHERE x.f IS NOT NULL)"
        )

    def condition(self, workspace_id: int, value: str | None, p: Params) -> str:
        return _equals(self.key(workspace_id, p), value, p)


def _equals(key: str, value: str | None, p: Params) -> str:
    return f"{key} = {p(value)}" if value is not None else f"{key} IS NULL"


def _bin(number: str, bins: tuple[float, ...], p: Params) -> str:
    whens = " ".join(f"WHEN {number} < {p(edge)} THEN '{n}'" for n, edge in enumerate(bins))
    return f"(CASE {whens} ELSE '{len(bins)}' END)"


# --- asking for groups ------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupBy:
    field: str
    bins: tuple[float, ...] = ()
    min_customers: int = 30


def checked(field: str, bins: list[float] | None, min_customers: int) -> GroupBy | Problem:
    """The breakdown asked for, or what is wrong with it (the path under `by`)."""
    attribute = field.startswith(ATTRIBUTE_PREFIX)
    if field not in FIELDS and not attribute:
        message = f"Break down by one of {list(FIELDS)} or 'attributes.<key>', not {field!r}."
        return Problem(("by", "field"), "UNKNOWN_FIELD", message)
    if attribute and not ATTRIBUTE_KEY.match(field[len(ATTRIBUTE_PREFIX) :]):
        return Problem(("by", "field"), "INVALID_ATTRIBUTE_KEY", ATTRIBUTE_KEY_RULE)
    if bins is not None:
        if not attribute:
            return Problem(("by", "bins"), "INVALID_BINS", "Bins split a numeric attribute (attributes.<key>).")
        ordered = all(a < b for a, b in pairwise(bins))
        if not 1 <= len(bins) <= MAX_BINS or not ordered or not all(math.isfinite(b) for b in bins):
            message = f"Bins are 1 to {MAX_BINS} finite edges in increasing order."
            return Problem(("by", "bins"), "INVALID_BINS", message)
    if not 1 <= min_customers <= 1_000_000:
        return Problem(("by", "minCustomers"), "INVALID_MIN_CUSTOMERS", "minCustomers is from 1 to 1000000.")
    return GroupBy(field, tuple(bins or ()), min_customers)


@dataclass(frozen=True)
class Group:
    key: str | None  # as the dimension's SQL key has it (and `Groups.split` its rows)
    value: Scalar
    label: str
    customers: int
    scope: Scope
    too_few: bool


@dataclass(frozen=True)
class Groups:
    by: GroupBy
    groups: list[Group]
    omitted_groups: int
    omitted_customers: int
    scope: Scope  # the scope split
    split: Split


async def groups(scope: Scope, by: GroupBy) -> Groups:
    """The scope's customers split by `by`: the largest `MAX_GROUPS` groups (in the dimension's
    order where it has one: stages, months, bins), each with the scope narrowed to it."""
    dimension = await _dimension(scope, by)
    counts = await (_tag_counts(scope) if isinstance(dimension, Tag) else _counts(scope, dimension))
    kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, str(kv[0])))[:MAX_GROUPS]
    kept.sort(key=lambda kv: _order(dimension, kv[0], kv[1]))
    omitted = [n for key, n in counts.items() if key not in dict(kept)]
    out = [
        Group(
            key,
            _value(dimension, key),
            _label(dimension, key, by),
            n,
            _narrowed(scope, dimension, key),
            n < by.min_customers,
        )
        for key, n in kept
    ]
    return Groups(by, out, len(omitted), sum(omitted), scope, split(scope, dimension))


def split(scope: Scope, dimension: Column | Attribute | Tag | StageOf | CohortMonth) -> Split:
    """The scope's customers with the key of their group (of each of their tags; NULL: none)."""

    def members(p: Params) -> str:
        where = " AND ".join(filter_conditions(scope.workspace_id, scope.segment, p))
        if isinstance(dimension, Tag):
            return (
                "SELECT c.id AS cid, t.tag AS g FROM customer c LEFT JOIN customer_tag t ON t.customer_id = c.id "
                f"AND t.workspace_id = {p(scope.workspace_id)} WHERE {where}"
            )
        return f"SELECT c.id AS cid, {dimension.key(scope.workspace_id, p)} AS g FROM customer c WHERE {where}"

    return members


async def _dimension(scope: Scope, by: GroupBy) -> Column | Attribute | Tag | StageOf | CohortMonth:
    if by.field in COLUMNS:
        return Column(COLUMNS[by.field])
    if by.field == "tag":
        return Tag()
    if by.field == "stage":
        return StageOf(scope.model.key, tuple(s.key for s in sorted(scope.model.stages, key=lambda s: s.order)))
    if by.field == "cohortMonth":
        return await _cohort_months(scope)
    return Attribute(by.field[len(ATTRIBUTE_PREFIX) :], by.bins)


async def _cohort_months(scope: Scope) -> CohortMonth:
    """Months from the first acquisition of the scope's customers to the last one (in the
    workspace's calendar)."""
    stages = tuple(scope.customer_stages)
    probe = CohortMonth(scope.model.key, stages, ())
    p = new_params()
    sql = (
        f"SELECT MIN(x.f) AS lo, MAX(x.f) AS hi FROM (SELECT {probe.first(scope.workspace_id, p)} AS f "
        f"FROM customer c WHERE {' AND '.join(filter_conditions(scope.workspace_id, scope.segment, p))}) x"
    )
    row = (await query_rows(sql, p))[0]
    if row["lo"] is None:
        return probe
    lo, hi = _instant(row["lo"]), _instant(row["hi"])
    first = scope.local(lo)
    span = Period(month_start(first.year, first.month, scope.tz), hi)
    bounds = [m.start for m in months(span, scope.tz)]
    last = scope.local(bounds[-1])
    following = month_start(last.year + (last.month == 12), last.month % 12 + 1, scope.tz)
    return CohortMonth(scope.model.key, stages, tuple(scope.local(b) for b in (*bounds, following)))


def _instant(value: object) -> datetime:
    return utc(value if isinstance(value, datetime) else datetime.fromisoformat(str(value)))


async def _counts(scope: Scope, dimension: Column | Attribute | StageOf | CohortMonth) -> dict[str | None, int]:
    p = new_params()
    key = dimension.key(scope.workspace_id, p)
    where = " AND ".join(filter_conditions(scope.workspace_id, scope.segment, p))
    sql = f"SELECT g.k AS k, COUNT(*) AS n FROM (SELECT {key} AS k FROM customer c WHERE {where}) g GROUP BY g.k"
    return {r["k"]: int(r["n"]) for r in await query_rows(sql, p)}


async def _tag_counts(scope: Scope) -> dict[str | None, int]:
    p = new_params()
    where = " AND ".join(filter_conditions(scope.workspace_id, scope.segment, p))
    sql = (
        f"SELECT t.tag AS k, COUNT(*) AS n FROM customer_tag t WHERE t.workspace_id = {p(scope.workspace_id)} "
        f"AND t.customer_id IN (SELECT c.id FROM customer c WHERE {where}) GROUP BY t.tag"
    )
    counts: dict[str | None, int] = {r["k"]: int(r["n"]) for r in await query_rows(sql, p)}
    p = new_params()
    untagged = Tag().condition(scope.workspace_id, None, p)
    where = " AND ".join(filter_conditions(scope.workspace_id, scope.segment, p))
    none = int((await query_rows(f"SELECT COUNT(*) AS n FROM customer c WHERE {where} AND {untagged}", p))[0]["n"])
    if none:
        counts[None] = none
    return counts


def _order(dimension: object, key: str | None, n: int) -> tuple[int, float, str]:
    """Stages in the model's order, months and bins in theirs, others by size; no value last."""
    if key is None:
        return (1, 0, "")
    if isinstance(dimension, CohortMonth) or (isinstance(dimension, Attribute) and dimension.bins):
        return (0, int(key), "")
    if isinstance(dimension, StageOf):
        return (0, dimension.order.index(key) if key in dimension.order else len(dimension.order), key)
    return (0, -n, key)


def _value(dimension: object, key: str | None) -> Scalar:
    if key is None:
        return None
    if isinstance(dimension, CohortMonth):
        return dimension.edges[int(key)].isoformat()
    if isinstance(dimension, Attribute) and not dimension.bins:
        kind, _, text = key.partition(":")
        if kind == "number":
            number = float(text)
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
        return text == "true" if kind == "boolean" else text
    return key


def _label(dimension: object, key: str | None, by: GroupBy) -> str:
    if key is None:
        return NO_VALUE
    if isinstance(dimension, CohortMonth):
        return dimension.edges[int(key)].strftime("%Y-%m")
    if isinstance(dimension, Attribute) and dimension.bins:
        n, bins = int(key), dimension.bins
        return f"< {bins[0]:g}" if n == 0 else f"≥ {bins[-1]:g}" if n == len(bins) else f"{bins[n - 1]:g} – {bins[n]:g}"
    return str(_value(dimension, key))


def _narrowed(scope: Scope, dimension: Column | Attribute | Tag | StageOf | CohortMonth, key: str | None) -> Scope:
    """The scope of one group. Spend is recorded per channel: a channel's group has that
    channel's spend (the group without a channel, the spend recorded without one); a group of
    any other dimension has no spend of its own, so its CAC is unknown."""
    member = CustomerFilter(member=Member(dimension, key))
    segment = CustomerFilter(all_of=(scope.segment, member))
    if dimension == Column(COLUMNS["acquisitionChannel"]):
        return replace(scope, segment=segment, spend_channel=key or "")
    return replace(scope, segment=segment, spend_unknown=True)
