"""Lifecycle flow (docs/metrics.md): stage distribution, funnel, time in stage, velocity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.db import Params
from api.metrics_scope import (
    Scope,
    lifecycle_ctes,
    new_params,
    query_rows,
    segment_ids,
)
from api.sqlfn import days_between, floor_int, in_list, ts
from plugins.types import StageCategory

# --- lifecycle flow ---------------------------------------------------------------------------


async def stage_distribution(scope: Scope) -> dict[str, int]:
    """Customers in each stage now, from the current assignments (an index-only count)."""
    p = new_params()
    seg = segment_ids(scope, p)
    in_segment = f" AND a.customer_id IN ({seg})" if seg else ""
    sql = (
        "SELECT a.stage, COUNT(*) AS n FROM stage_assignment a "
        f"WHERE a.workspace_id = {p(scope.workspace_id)} AND a.model_key = {p(scope.model.key)}{in_segment} "
        "GROUP BY a.stage"
    )
    return {r["stage"]: int(r["n"]) for r in await query_rows(sql, p)}


async def distribution_at(scope: Scope, moments: Sequence[datetime]) -> list[dict[str, int]]:
    """Customers in each stage at each of `moments` (from the stays), as a period ending there
    leaves them: a move made at the very moment belongs to the period that begins at it."""
    if not moments:
        return []
    p = new_params()
    ctes = lifecycle_ctes(scope, p)
    moments_sql = ", ".join(f"({n}, {ts(p, m)})" for n, m in enumerate(moments))
    sql = (
        f"WITH {ctes}, moments(idx, at_time) AS (VALUES {moments_sql}) "
        "SELECT m.idx, s.stage, COUNT(*) AS n FROM moments m JOIN stays s "
        "ON s.since < m.at_time AND (s.until IS NULL OR s.until >= m.at_time) GROUP BY m.idx, s.stage"
    )
    out: list[dict[str, int]] = [{} for _ in moments]
    for r in await query_rows(sql, p):
        out[int(r["idx"])][r["stage"]] = int(r["n"])
    return out


FUNNEL_MODES = ("CUMULATIVE", "STRICT", "ANY")


@dataclass(frozen=True)
class FunnelStep:
    """One step: the customers counted at it, and of those, how many were also counted at the
    previous step and at the first (the numerators of its two conversions)."""

    stage: str
    count: int
    with_previous: int
    with_first: int


async def funnel(scope: Scope, mode: str = "CUMULATIVE") -> list[FunnelStep]:
    """The prospect and customer stages in the model's order, and per step the customers counted
    there in the period (docs/metrics.md): CUMULATIVE counts a customer at every step up to the
    furthest it entered; STRICT only at steps it entered in order, every earlier one included;
    ANY at every stage it entered. The counts of "also at the previous step" and "also at the
    first" make each conversion a share in [0, 1] in every mode."""
    if mode not in FUNNEL_MODES:
        raise ValueError(f"unknown funnel mode {mode!r}")
    steps = scope.stages_in(StageCategory.PROSPECT, StageCategory.CUSTOMER)
    if not steps:
        return []
    p = new_params()
    ctes = lifecycle_ctes(scope, p, stays=False)
    start, end = ts(p, scope.period.start), ts(p, scope.period.end)
    in_period = f"WHERE occurred_at >= {start} AND occurred_at < {end}"
    if mode == "STRICT":
        # Without the steps' filter, PostgreSQL groups in the index's customer order instead of
        # hashing (which spilled to disk at 100k customers); moves to other stages find no step.
        return await _strict(steps, ctes, in_period, p)
    where = f"{in_period} AND to_stage IN {in_list(p, steps)}"
    if mode == "CUMULATIVE":
        return await _cumulative(steps, ctes, where, p)
    return await _any(steps, ctes, where, p)


async def _cumulative(steps: Sequence[str], ctes: str, where: str, p: Params) -> list[FunnelStep]:
    """Only how far each customer got matters: its furthest step. Each step's customers are among
    the previous step's (and the first's), so the overlaps are the counts themselves."""
    rank = " ".join(f"WHEN {p(s)} THEN {n}" for n, s in enumerate(steps))
    counts = ", ".join(f"SUM(CASE WHEN furthest >= {k} THEN 1 ELSE 0 END) AS c{k}" for k in range(len(steps)))
    sql = (
        f"WITH {ctes}, f AS (SELECT customer_id, MAX(CASE to_stage {rank} END) AS furthest FROM tr {where} "
        f"GROUP BY customer_id) SELECT {counts} FROM f"
    )
    row = (await query_rows(sql, p))[0]
    found = [int(row[f"c{k}"] or 0) for k in range(len(steps))]
    return [FunnelStep(s, n, n, n) for s, n in zip(steps, found, strict=True)]


async def _strict(steps: Sequence[str], ctes: str, where: str, p: Params) -> list[FunnelStep]:
    """From each customer's first entry of each step in the period: it counts at step k when it
    entered steps 0..k, each no earlier than the one before. That holds for a prefix of the steps,
    so each customer has a depth (the last step it counts at) and a step counts the customers at
    or past it: one CASE per customer, the depths counted in Python. A step's customers are among
    the previous step's (and the first's), so the overlaps are the counts themselves."""
    if p.dialect == "postgres":
        firsts = [f"MIN(occurred_at) FILTER (WHERE to_stage = {p(s)}) AS t{n}" for n, s in enumerate(steps)]
    else:
        firsts = [f"MIN(CASE WHEN to_stage = {p(s)} THEN occurred_at END) AS t{n}" for n, s in enumerate(steps)]
    chain = " ".join(f"WHEN t{k} IS NULL OR t{k} < t{k - 1} THEN {k - 1}" for k in range(1, len(steps)))
    depth = f"CASE WHEN t0 IS NULL THEN -1 {chain} ELSE {len(steps) - 1} END"
    sql = (
        f"WITH {ctes}, firsts AS (SELECT {', '.join(firsts)} FROM tr {where} GROUP BY customer_id) "
        f"SELECT {depth} AS depth, COUNT(*) AS n FROM firsts GROUP BY 1"
    )
    at = {int(r["depth"]): int(r["n"]) for r in await query_rows(sql, p)}
    counts = [sum(n for d, n in at.items() if d >= k) for k in range(len(steps))]
    return [FunnelStep(s, n, n, n) for s, n in zip(steps, counts, strict=True)]


async def _any(steps: Sequence[str], ctes: str, where: str, p: Params) -> list[FunnelStep]:
    """Each customer as the set of steps it entered in the period (a bit per step), customers
    with the same set counted together; the counts and overlaps are read off the sets."""
    bit = "CASE to_stage " + " ".join(f"WHEN {p(s)} THEN {1 << n}" for n, s in enumerate(steps)) + " END"
    # distinct powers of two add up to their OR (SQLite has no BIT_OR)
    entered = f"BIT_OR({bit})" if p.dialect == "postgres" else f"SUM(DISTINCT {bit})"
    sql = (
        f"WITH {ctes}, sets AS (SELECT {entered} AS mask FROM tr {where} GROUP BY customer_id) "
        "SELECT mask, COUNT(*) AS n FROM sets GROUP BY mask"
    )
    sets = [(int(r["mask"]), int(r["n"])) for r in await query_rows(sql, p)]
    out = []
    for k, stage in enumerate(steps):
        previous = 1 << (k - 1 if k else 0)
        here = [(mask, n) for mask, n in sets if mask >> k & 1]
        with_previous, with_first = (sum(n for m, n in here if m & bit) for bit in (previous, 1))
        out.append(FunnelStep(stage, sum(n for _, n in here), with_previous, with_first))
    return out


@dataclass(frozen=True)
class Spread:
    """Days: count, how many were still open (counted up to now), mean, median and p90."""

    count: int
    open: int
    mean: float | None
    median: float | None
    p90: float | None


def _percentile_sql(p: Params, q: float) -> str:
    """The two ranked values around the q-quantile (linear interpolation is finished in Python)."""
    pos = floor_int(p, f"(n - 1) * {q}")
    return (
        f"MAX(CASE WHEN rn = {pos} + 1 THEN days END) AS lo{int(q * 100)}, "
        f"MAX(CASE WHEN rn = {pos} + 2 THEN days END) AS hi{int(q * 100)}"
    )


def _interpolate(row: dict[str, Any], q: float, n: int) -> float | None:
    if f"q{int(q * 100)}" in row:  # computed by the database
        value = row[f"q{int(q * 100)}"]
        return None if value is None else float(value)
    if n == 0 or row[f"lo{int(q * 100)}"] is None:
        return None
    lo = float(row[f"lo{int(q * 100)}"])
    hi = row[f"hi{int(q * 100)}"]
    h = (n - 1) * q
    frac = h - int(h)
    return lo if hi is None or frac == 0 else lo + frac * (float(hi) - lo)


def _spread(row: dict[str, Any]) -> Spread:
    n = int(row["n"] or 0)
    return Spread(
        count=n,
        open=int(row["open_n"] or 0),
        mean=float(row["mean"]) if row["mean"] is not None else None,
        median=_interpolate(row, 0.5, n),
        p90=_interpolate(row, 0.9, n),
    )


def _spread_select(p: Params, group: str = "") -> str:
    head = f"{group}, " if group else ""
    if p.dialect == "postgres":
        # The same linear interpolation, computed by the database's own ordered-set aggregate.
        return (
            f"SELECT {head}COUNT(*) AS n, SUM(open_n) AS open_n, AVG(days) AS mean, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS q50, "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS q90 FROM d" + (f" GROUP BY {group}" if group else "")
        )
    return (
        f"SELECT {head}COUNT(*) AS n, SUM(open_n) AS open_n, AVG(days) AS mean, "
        f"{_percentile_sql(p, 0.5)}, {_percentile_sql(p, 0.9)} FROM ranked" + (f" GROUP BY {group}" if group else "")
    )


async def time_in_stage(scope: Scope) -> dict[str, Spread]:
    """Days spent in each stage by the stays that began in the period (open stays up to now)."""
    p = new_params()
    ctes = lifecycle_ctes(scope, p)
    now = ts(p, scope.now)
    days = days_between(p, "since", f"COALESCE(until, {now})")
    sql = (
        f"WITH {ctes}, d AS (SELECT stage, {days} AS days, CASE WHEN until IS NULL THEN 1 ELSE 0 END AS open_n "
        f"FROM stays WHERE since >= {ts(p, scope.period.start)} AND since < {ts(p, scope.period.end)}), "
        "ranked AS (SELECT stage, days, open_n, ROW_NUMBER() OVER (PARTITION BY stage ORDER BY days) AS rn, "
        "COUNT(*) OVER (PARTITION BY stage) AS n FROM d) " + _spread_select(p, "stage")
    )
    return {r["stage"]: _spread(r) for r in await query_rows(sql, p)}


async def velocity(scope: Scope) -> Spread:
    """Days from the first stage to the first customer-category stage, for customers who reached
    one in the period."""
    p = new_params()
    ctes = lifecycle_ctes(scope, p, stays=False)
    days = days_between(p, "t_first", "t_customer")
    sql = (
        f"WITH {ctes}, per AS (SELECT customer_id, MIN(occurred_at) AS t_first, "
        f"MIN(CASE WHEN to_stage IN {in_list(p, scope.customer_stages)} THEN occurred_at END) AS t_customer "
        "FROM tr GROUP BY customer_id), "
        f"d AS (SELECT {days} AS days, 0 AS open_n FROM per WHERE t_customer >= {ts(p, scope.period.start)} "
        f"AND t_customer < {ts(p, scope.period.end)}), "
        "ranked AS (SELECT days, open_n, ROW_NUMBER() OVER (ORDER BY days) AS rn, COUNT(*) OVER () AS n FROM d) "
        + _spread_select(p)
    )
    return _spread((await query_rows(sql, p))[0])
