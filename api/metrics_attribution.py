"""Touchpoint attribution: for the customers who entered a stage in the period, which interaction
kinds and channels came before, with first-touch, last-touch, linear and position-based credit
(definitions: docs/metrics.md, "attribution"). One SQL statement, on both databases.

A conversion is a customer's first entry into the stage within the period (the metrics' model
and segment); its touchpoints are the customer's interactions strictly before that moment and
at most `lookback_days` before it. Per conversion with n touchpoints in time order:
first touch gives 1 to the first, last touch 1 to the last, linear 1/n to each, position-based
1 (n = 1), 0.5 each (n = 2), else 0.4 to the first and the last and 0.2 / (n − 2) to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.db import Params
from api.metrics_scope import Scope, new_params, query_rows, segment_ids
from api.sqlfn import days_between, false, ts

BY = ("KIND", "CHANNEL", "KIND_AND_CHANNEL")


@dataclass(frozen=True)
class Touchpoint:
    kind: str | None  # None when not broken down by kind
    channel: str | None  # None: no channel, or not broken down by channel
    first_touch: float
    last_touch: float
    linear: float
    position_based: float
    conversions: int  # conversions it appears in
    median_days: float | None


@dataclass(frozen=True)
class Attribution:
    stage: str
    lookback_days: int
    conversions: int
    without_touchpoints: int
    touchpoints: list[Touchpoint]


# Each touchpoint's credit, from its position `pos` among the conversion's `n` touchpoints.
FIRST = "CASE WHEN pos = 1 THEN 1.0 ELSE 0.0 END"
LAST = "CASE WHEN pos = n THEN 1.0 ELSE 0.0 END"
POSITION_BASED = "CASE WHEN n = 1 THEN 1.0 WHEN n = 2 THEN 0.5 WHEN pos = 1 OR pos = n THEN 0.4 ELSE 0.2 / (n - 2) END"


def _keys(by: str) -> tuple[str, str]:
    kind = "i.kind" if by in ("KIND", "KIND_AND_CHANNEL") else "NULL"
    channel = "COALESCE(i.channel, '')" if by in ("CHANNEL", "KIND_AND_CHANNEL") else "NULL"
    return kind, channel


def _conversions_sql(scope: Scope, stage: str, p: Params) -> str:
    """Each customer's first entry into `stage` within the period: `customer_id`, `at`."""
    seg = segment_ids(scope, p)
    in_segment = f" AND t.customer_id IN ({seg})" if seg else ""
    return (
        f"SELECT t.customer_id, MIN(t.occurred_at) AS at FROM stage_transition t "
        f"WHERE t.workspace_id = {p(scope.workspace_id)} AND t.model_key = {p(scope.model.key)} "
        f"AND t.archived = {false(p)} AND t.to_stage = {p(stage)} AND t.occurred_at >= {ts(p, scope.period.start)} "
        f"AND t.occurred_at < {ts(p, scope.period.end)}{in_segment} GROUP BY t.customer_id"
    )


async def attribution(scope: Scope, stage: str, lookback_days: int, by: str) -> Attribution:
    p = new_params()  # (numbered placeholders: each may be used in several places)
    ws = p(scope.workspace_id)
    kind, channel = _keys(by)
    days = days_between(p, "i.occurred_at", "cv.at")
    f8 = "::float8" if p.dialect == "postgres" else ""  # (sorted and compared as floats, not numerics)
    # The window as a range of times on PostgreSQL (the index on the customer's interactions
    # by time reads only it; days of 24 hours, as SQLite's julianday difference counts them,
    # not calendar days, which a change of daylight saving time makes 23 or 25 hours long).
    window = (
        f"i.occurred_at >= cv.at - make_interval(hours => 24 * {p(lookback_days)})"
        if p.dialect == "postgres"
        else f"{days} <= {p(lookback_days)}"
    )
    conv = _conversions_sql(scope, stage, p)
    # The conversions joined as a subquery, not the CTE: PostgreSQL then hashes them (45k rows
    # at 100k customers) and streams the interactions, instead of hashing every interaction.
    touch = f"""
    SELECT cv.customer_id, {kind} AS kind, {channel} AS channel, {days}{f8} AS d,
        ROW_NUMBER() OVER (PARTITION BY cv.customer_id ORDER BY i.occurred_at, i.id) AS pos,
        COUNT(*) OVER (PARTITION BY cv.customer_id) AS n
    FROM interaction i JOIN ({conv}) cv ON i.customer_id = cv.customer_id AND i.workspace_id = {ws}
    WHERE i.occurred_at < cv.at AND {window}"""
    sums = f"""SELECT kind, channel, SUM({FIRST}) AS first_touch, SUM({LAST}) AS last_touch, SUM(1.0 / n) AS linear,
    SUM({POSITION_BASED}) AS position_based, COUNT(DISTINCT customer_id) AS appears"""
    totals = "(SELECT COUNT(*) FROM conv) AS conversions, (SELECT COUNT(DISTINCT customer_id) FROM touch) AS touched"
    if p.dialect == "postgres":  # the median as an ordered-set aggregate
        sql = f"""WITH conv AS ({conv}), touch AS MATERIALIZED ({touch})
{sums}, percentile_cont(0.5) WITHIN GROUP (ORDER BY d) AS median_days, {totals}
FROM touch GROUP BY kind, channel"""
    else:  # the median from each touchpoint's rank among its kind's
        sql = f"""WITH conv AS ({conv}), touch AS ({touch}),
ranked AS (SELECT touch.*, ROW_NUMBER() OVER (PARTITION BY kind, channel ORDER BY d) AS r,
    COUNT(*) OVER (PARTITION BY kind, channel) AS c FROM touch)
{sums}, AVG(CASE WHEN r IN ((c + 1) / 2, (c + 2) / 2) THEN d END) AS median_days, {totals}
FROM ranked GROUP BY kind, channel"""
    rows = await query_rows(sql, p)
    conversions = int(rows[0]["conversions"]) if rows else await _conversions(scope, stage)
    touched = int(rows[0]["touched"]) if rows else 0
    touchpoints = [
        Touchpoint(
            r["kind"],
            r["channel"] or None,
            round(float(r["first_touch"]), 6),
            round(float(r["last_touch"]), 6),
            round(float(r["linear"]), 6),
            round(float(r["position_based"]), 6),
            int(r["appears"]),
            None if r["median_days"] is None else round(float(r["median_days"]), 2),
        )
        for r in rows
    ]
    touchpoints.sort(key=lambda t: (-t.position_based, -t.conversions, t.kind or "", t.channel or ""))
    return Attribution(stage, lookback_days, conversions, conversions - touched, touchpoints)


async def _conversions(scope: Scope, stage: str) -> int:
    """Conversions when none had a touchpoint (the statement above then returns no row)."""
    p = new_params()
    return int((await query_rows(f"SELECT COUNT(*) AS n FROM ({_conversions_sql(scope, stage, p)}) x", p))[0]["n"])
