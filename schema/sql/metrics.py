"""`Query.metrics` in SQL: the model and the stage distribution, counted as
`api.metrics_stages.stage_distribution` counts and ordered as `schema.lifecycle.stage_counts`
orders them (the model's stages in order, then the stages it no longer has, by key). Every
other metric is computed by `api.metrics`: an operation that selects one runs through
Strawberry, whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLObjectType
from graphql.execution.collect_fields import FieldDetailsList

from api import customer_filters
from schema.sql.sources import WORKSPACE, WS, Fallback, customer_filter

if TYPE_CHECKING:
    from schema.sql.compiler import Compiler

UNKNOWN_ORDER = 1_000_000  # where a stage the model no longer has sorts: after all of its own


def metrics(c: Compiler, target: GraphQLObjectType, details: FieldDetailsList, args: dict[str, Any]) -> str:
    """The Metrics object over one row `m` (`model_key`); Strawberry answers when it would refuse
    the arguments (a model not tracked, a segment naming stages the model lacks) or when a
    period is given (its checks and time zone are the metrics service's)."""
    if args.get("period") is not None:
        raise Fallback("metrics over a period are computed by api.metrics")
    if args.get("by") is not None:
        raise Fallback("breakdowns are computed by api.metrics_groups")
    m = c._name("m")
    given = args.get("model")
    if given is None:
        key = c.sources.primary_model()  # NULL unless tracked and installed
        conditions = [f"{m}.model_key IS NOT NULL"]
    elif given in c.registry.models:
        key = c.params(given)
        conditions = [
            f"EXISTS (SELECT 1 FROM workspace_model wm WHERE wm.workspace_id = {WS} AND wm.model_key = {m}.model_key "
            "AND wm.tracked)"
        ]
    else:
        raise Fallback(f"model {given!r} is not installed")
    segment, guard = customer_filter(args.get("segment"), c.sources)
    if guard is not None:
        conditions.append(guard)
    c.segments[m] = _segment_ids(c, segment)
    obj = c.object(target, details, m)
    return c.d.nested(
        f"SELECT (CASE WHEN {' AND '.join(conditions)} THEN {obj} ELSE {c.d.mark()} END) "
        f"FROM (SELECT CAST({key} AS TEXT) AS model_key) {m}"
    )


def _segment_ids(c: Compiler, segment: customer_filters.CustomerFilter) -> str:
    """The segment's customer ids ('' for the whole workspace), as api.metrics_scope reads them."""
    if segment == customer_filters.CustomerFilter():
        return ""
    conditions = customer_filters.filter_conditions(WORKSPACE, segment, c.params)
    return f"SELECT c.id FROM customer c WHERE {' AND '.join(conditions)}"


def stage_counts(c: Compiler, target: GraphQLObjectType, details: FieldDetailsList, row: str) -> str:
    """The JSON array of StageCount objects, over rows (`model_key`, `ord`, `stage`, `n`, `total`)."""
    seg = c.segments[row]
    in_segment = f" AND a.customer_id IN ({seg})" if seg else ""
    counts = (
        f"SELECT a.stage, count(*) AS n FROM stage_assignment a WHERE a.workspace_id = {WS} "
        f"AND a.model_key = {row}.model_key{in_segment} GROUP BY a.stage"
    )
    own = f"SELECT x.ord, x.stage FROM ({_model_stages(c)}) x WHERE x.model_key = {row}.model_key"
    rows = (
        f"SELECT {row}.model_key AS model_key, u.ord, u.stage, u.n, t.total FROM ("
        "SELECT s.ord, s.stage, coalesce(g.n, 0) AS n FROM s LEFT JOIN g ON g.stage = s.stage "
        f"UNION ALL SELECT {UNKNOWN_ORDER}, g.stage, g.n FROM g WHERE g.stage NOT IN (SELECT stage FROM s)) u "
        "CROSS JOIN (SELECT CAST(coalesce(sum(n), 0) AS BIGINT) AS total FROM g) t"
    )
    x = c._name("x")
    array = c.d.ordered_array(
        c.object(target, details, x), f"FROM ({rows}) {x}", f"{x}.ord, {c.d.code_point_order(f'{x}.stage')}"
    )
    return c.d.nested(f"WITH g AS ({counts}), s AS ({own}) SELECT {array}")


def _model_stages(c: Compiler) -> str:
    """Every installed model's stages with their place in its order (`model_key`, `ord`, `stage`)."""
    rows = [
        f"SELECT {_quoted(key)} AS model_key, {n} AS ord, {_quoted(stage.key)} AS stage"
        for key, loaded in sorted(c.registry.models.items())
        for n, stage in enumerate(sorted(loaded.model.stages, key=lambda s: s.order))
    ]
    return " UNION ALL ".join(rows) or "SELECT NULL AS model_key, 0 AS ord, NULL AS stage WHERE 1 = 0"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
