"""Metrics benchmark: every metric of `api.metrics` (and the CLV fit) beside a hand-written query.

For each database it generates a seeded data set (`bench.generate`: customers and interactions,
bulk-loaded WITHOUT the lifecycle engine), then builds the stages of the workspace's primary model
(`funnel`) by replaying every customer's history (`api.lifecycle_admin.rebuild_tracked`, the
REPLAY that `track` and `switch` use: one stage assignment per customer and every transition).
PostgreSQL then gets `ANALYZE` (the generator already vacuumed the tables it wrote).

Every metric function is timed (best of `--repeat` runs, after one untimed warm-up) on one scope:
the workspace, its primary model, no segment, `now` = the generator's fixed end
(`bench.generate.DEFAULT_END`) and the period = the 12 calendar months before it. Beside each,
where a direct one exists, a hand-written SQL query for the same number runs through the SAME
driver connection (Tortoise's `connection().execute_query_dict`), alternating with the metric so
background load hits both alike; both answers are checked to be equal. The table marks metrics
over 1 s (`>1s`) and over 1.2x their hand-written query (`>1.2x`): the aim is every metric under
1 s on PostgreSQL at 100k customers / 1M interactions, within 1.2x of the hand-written SQL. A run
that exceeds `--timeout` is stopped (the statement cancelled) and reported as over it. The title
names the commit measured (the code is imported once, at the start).

On PostgreSQL it also runs EXPLAIN (ANALYZE, BUFFERS) on the stage-distribution query and says
whether it is an index-only scan, and how many heap fetches it made; when it is not one (or has
to visit the heap), it runs VACUUM (ANALYZE) on the stage tables (the visibility map) and looks
again. Every metric over a target gets EXPLAIN (ANALYZE, BUFFERS) of each of its statements: a
compact plan tree with each node's own time, and the hottest nodes.

    python -m bench.metrics                                     # both databases, 100k / 1M
    python -m bench.metrics --database postgres --customers 10000 --interactions 100000
    python -m bench.metrics --database postgres --only flow,monthly --explain-all

The insights (saved segments, breakdowns, attribution, health, re-engagement, recommendations)
are timed by `bench.insights`, on the same generated data.

PostgreSQL is reached as in `bench.read_path` (a `bench_*` database made and dropped); SQLite
uses a temporary file, removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.context import TortoiseContext
from tortoise.transactions import in_transaction

from api import metrics as m
from api import value, value_fit
from api.customer_filters import CustomerFilter
from api.db import Params, connection, dialect_of
from api.lifecycle import Lifecycle
from api.lifecycle_admin import rebuild_tracked
from api.migrate import apply_migrations
from api.settings import Settings
from api.sqlfn import days_between, in_list, ts
from api.workspaces import create_workspace
from bench.generate import DEFAULT_END, DEFAULT_SEED, Dataset, build_dataset, insert_dataset
from bench.measuring import non_negative, positive
from bench.read_server import Target, default_postgres_url, postgres_database, sqlite_database
from bench.running import run_bench
from plugins.manager import load_plugins
from plugins.types import LifecycleModel, StageCategory

TARGET_MS = 1000.0
TARGET_RATIO = 1.2
# A metric is run `--repeat` times, but no more once its runs have taken this long in all.
BUDGET_SECONDS = 20.0
PLAN_LINES = 40


def say(message: str = "") -> None:
    print(message, flush=True)


# --- the scope --------------------------------------------------------------------------------


def twelve_months_before(end: datetime) -> m.Period:
    """The 12 calendar months before `end` (which starts a month), or the API's default period."""
    start = end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start != end:
        return m.default_period(end)
    for _ in range(12):
        start = (start - timedelta(days=1)).replace(day=1)
    return m.Period(start, end)


def bench_scope(workspace_id: int, model: LifecycleModel, now: datetime = DEFAULT_END) -> m.Scope:
    return m.Scope(
        workspace_id=workspace_id,
        model=model,
        period=twelve_months_before(now),
        segment=CustomerFilter(),
        now=now,
    )


# --- hand-written queries -----------------------------------------------------------------------


async def run_sql(sql: str, p: Params) -> list[dict[str, Any]]:
    """A statement through the same driver connection the metrics use."""
    return list(await connection().execute_query_dict(sql, p.values))


def params() -> Params:
    # Numbered placeholders on SQLite too: the statements below use some twice.
    return Params(dialect_of(connection()), reusable=True)


def transitions_where(scope: m.Scope, p: Params, alias: str = "t") -> str:
    false = "FALSE" if p.dialect == "postgres" else "0"
    return (
        f"{alias}.workspace_id = {p(scope.workspace_id)} AND {alias}.model_key = {p(scope.model.key)} "
        f"AND {alias}.archived = {false}"
    )


def interactions_where(scope: m.Scope, p: Params, kinds: Sequence[str], period: m.Period | None = None) -> str:
    period = period or scope.period
    return (
        f"i.workspace_id = {p(scope.workspace_id)} AND i.kind IN {in_list(p, list(kinds))} "
        f"AND i.occurred_at >= {ts(p, period.start)} AND i.occurred_at < {ts(p, period.end)}"
    )


def count_if(p: Params, condition: str) -> str:
    if p.dialect == "postgres":
        return f"COUNT(*) FILTER (WHERE {condition})"
    return f"SUM(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def month_ends(scope: m.Scope) -> list[datetime]:
    """The moments `series` asks `distribution_at` for: each month's end (now for the current one)."""
    return [min(month.end, scope.now) for month in m.months(scope.period)]


async def hand_stage_distribution(scope: m.Scope) -> dict[str, int]:
    p = params()
    sql = (
        f"SELECT stage, COUNT(*) AS n FROM stage_assignment WHERE workspace_id = {p(scope.workspace_id)} "
        f"AND model_key = {p(scope.model.key)} GROUP BY stage"
    )
    return {r["stage"]: int(r["n"]) for r in await run_sql(sql, p)}


async def hand_distribution_at(scope: m.Scope) -> list[dict[str, int]]:
    """PostgreSQL: each customer's last move before each moment (LATERAL DISTINCT ON), by stage.
    (On SQLite the same with ROW_NUMBER over moments x moves takes 4x Jornada's stays join.)"""
    moments = month_ends(scope)
    p = params()
    values = ", ".join(f"({n}, {ts(p, at)})" for n, at in enumerate(moments))
    sql = (
        f"SELECT mo.idx, x.to_stage AS stage, COUNT(*) AS n FROM (VALUES {values}) AS mo(idx, at_time) "
        "CROSS JOIN LATERAL (SELECT DISTINCT ON (t.customer_id) t.to_stage FROM stage_transition t "
        f"WHERE {transitions_where(scope, p)} AND t.occurred_at < mo.at_time "
        "ORDER BY t.customer_id, t.occurred_at DESC, t.id DESC) x GROUP BY mo.idx, x.to_stage"
    )
    out: list[dict[str, int]] = [{} for _ in moments]
    for r in await run_sql(sql, p):
        out[int(r["idx"])][r["stage"]] = int(r["n"])
    return out


def funnel_steps(scope: m.Scope) -> list[str]:
    return scope.stages_in(StageCategory.PROSPECT, StageCategory.CUSTOMER)


async def hand_funnel_any(scope: m.Scope) -> list[tuple[str, int]]:
    steps = funnel_steps(scope)
    p = params()
    sql = (
        f"SELECT t.to_stage AS stage, COUNT(DISTINCT t.customer_id) AS n FROM stage_transition t "
        f"WHERE {transitions_where(scope, p)} AND t.to_stage IN {in_list(p, steps)} "
        f"AND t.occurred_at >= {ts(p, scope.period.start)} AND t.occurred_at < {ts(p, scope.period.end)} "
        "GROUP BY t.to_stage"
    )
    found = {r["stage"]: int(r["n"]) for r in await run_sql(sql, p)}
    return [(s, found.get(s, 0)) for s in steps]


async def hand_funnel_cumulative(scope: m.Scope) -> list[tuple[str, int]]:
    """Per customer, the furthest step entered in the period; a step counts everyone at or past it."""
    steps = funnel_steps(scope)
    p = params()
    rank = " ".join(f"WHEN {p(s)} THEN {n}" for n, s in enumerate(steps))
    sql = (
        f"SELECT furthest, COUNT(*) AS n FROM (SELECT t.customer_id, MAX(CASE t.to_stage {rank} END) AS furthest "
        f"FROM stage_transition t WHERE {transitions_where(scope, p)} AND t.to_stage IN {in_list(p, steps)} "
        f"AND t.occurred_at >= {ts(p, scope.period.start)} AND t.occurred_at < {ts(p, scope.period.end)} "
        "GROUP BY t.customer_id) f GROUP BY furthest"
    )
    at = {int(r["furthest"]): int(r["n"]) for r in await run_sql(sql, p)}
    return [(s, sum(n for k, n in at.items() if k >= i)) for i, s in enumerate(steps)]


async def hand_funnel_strict(scope: m.Scope) -> list[tuple[str, int]]:
    """Per customer, the first entry of each step in the period; a step counts if every earlier
    one was entered, in order."""
    steps = funnel_steps(scope)
    p = params()
    if p.dialect == "postgres":
        firsts = ", ".join(
            f"MIN(t.occurred_at) FILTER (WHERE t.to_stage = {p(s)}) AS t{n}" for n, s in enumerate(steps)
        )
    else:
        firsts = ", ".join(
            f"MIN(CASE WHEN t.to_stage = {p(s)} THEN t.occurred_at END) AS t{n}" for n, s in enumerate(steps)
        )
    counts = []
    for k in range(len(steps)):
        conds = [f"t{j} IS NOT NULL" for j in range(k + 1)] + [f"t{j} >= t{j - 1}" for j in range(1, k + 1)]
        counts.append(f"{count_if(p, ' AND '.join(conds))} AS c{k}")
    sql = (
        f"SELECT {', '.join(counts)} FROM (SELECT {firsts} FROM stage_transition t "
        f"WHERE {transitions_where(scope, p)} AND t.occurred_at >= {ts(p, scope.period.start)} "
        f"AND t.occurred_at < {ts(p, scope.period.end)} GROUP BY t.customer_id) f"
    )
    row = (await run_sql(sql, p))[0]
    return [(s, int(row[f"c{k}"] or 0)) for k, s in enumerate(steps)]


def stays_sql(scope: m.Scope, p: Params) -> str:
    return (
        "SELECT t.customer_id, t.to_stage AS stage, t.occurred_at AS since, "
        "LEAD(t.occurred_at) OVER (PARTITION BY t.customer_id ORDER BY t.occurred_at, t.id) AS until "
        f"FROM stage_transition t WHERE {transitions_where(scope, p)}"
    )


SpreadTuple = tuple[int, int, float | None, float | None, float | None]


def spread_tuple(s: m.Spread) -> SpreadTuple:
    return (s.count, s.open, s.mean, s.median, s.p90)


def row_spread(r: dict[str, Any]) -> SpreadTuple:
    def num(x: Any) -> float | None:
        return None if x is None else float(x)

    return (int(r["n"] or 0), int(r["open_n"] or 0), num(r["mean"]), num(r["median"]), num(r["p90"]))


PERCENTILES = (
    "COUNT(*) AS n, SUM(open_n) AS open_n, AVG(days) AS mean, "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY days) AS median, "
    "percentile_cont(0.9) WITHIN GROUP (ORDER BY days) AS p90"
)


async def hand_time_in_stage(scope: m.Scope) -> dict[str, SpreadTuple]:
    """PostgreSQL only: percentile_cont over the stays (SQLite has no percentile function)."""
    p = params()
    days = days_between(p, "since", f"COALESCE(until, {ts(p, scope.now)})")
    sql = (
        f"SELECT stage, {PERCENTILES} FROM (SELECT stage, {days} AS days, "
        f"CASE WHEN until IS NULL THEN 1 ELSE 0 END AS open_n FROM ({stays_sql(scope, p)}) s "
        f"WHERE since >= {ts(p, scope.period.start)} AND since < {ts(p, scope.period.end)}) d GROUP BY stage"
    )
    return {r["stage"]: row_spread(r) for r in await run_sql(sql, p)}


async def hand_velocity(scope: m.Scope) -> SpreadTuple:
    p = params()
    cust = in_list(p, scope.customer_stages)
    sql = (
        f"SELECT {PERCENTILES} FROM (SELECT {days_between(p, 't_first', 't_customer')} AS days, 0 AS open_n FROM "
        "(SELECT MIN(t.occurred_at) AS t_first, "
        f"MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {cust}) AS t_customer "
        f"FROM stage_transition t WHERE {transitions_where(scope, p)} GROUP BY t.customer_id) per "
        f"WHERE t_customer >= {ts(p, scope.period.start)} AND t_customer < {ts(p, scope.period.end)}) d"
    )
    return row_spread((await run_sql(sql, p))[0])


FlowTuple = tuple[int, int, int, int, int, int]


def flow_tuple(f: m.Flow) -> FlowTuple:
    return (f.at_start, f.at_end, f.acquired, f.churned, f.churned_joined, f.churned_returned)


def flow_sql(scope: m.Scope, p: Params, period: m.Period) -> str:
    """Churn and retention counts in one pass over each customer's moves (ChartMogul's formula):
    the stage at the start and at the end is the last move before it."""
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    s, e = ts(p, period.start), ts(p, period.end)
    joined = f"(first_c >= {s} AND first_c < {e})"
    if p.dialect == "postgres":
        per = (
            f"SELECT MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {cust}) AS first_c, "
            f"MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {churn} AND t.occurred_at >= {s} "
            f"AND t.occurred_at < {e}) AS churn_at, "
            f"MAX(t.occurred_at) FILTER (WHERE t.to_stage IN {cust} AND t.occurred_at < {e}) AS last_c, "
            "(ARRAY_AGG(t.to_stage ORDER BY t.occurred_at DESC, t.id DESC) "
            f"FILTER (WHERE t.occurred_at < {s}))[1] AS stage_s, "
            "(ARRAY_AGG(t.to_stage ORDER BY t.occurred_at DESC, t.id DESC) "
            f"FILTER (WHERE t.occurred_at < {e}))[1] AS stage_e "
            f"FROM stage_transition t WHERE {transitions_where(scope, p)} GROUP BY t.customer_id"
        )
        return (
            f"SELECT COUNT(*) FILTER (WHERE stage_s IN {cust}) AS at_start, "
            f"COUNT(*) FILTER (WHERE stage_e IN {cust}) AS at_end, "
            f"COUNT(*) FILTER (WHERE {joined}) AS acquired, COUNT(churn_at) AS churned, "
            f"COUNT(churn_at) FILTER (WHERE {joined}) AS churned_joined, "
            f"COUNT(churn_at) FILTER (WHERE last_c > churn_at AND NOT COALESCE({joined}, FALSE)) "
            f"AS churned_returned FROM ({per}) per"
        )
    # SQLite: no ARRAY_AGG; the stage at a moment by ROW_NUMBER.
    per = (
        f"SELECT MIN(CASE WHEN t.to_stage IN {cust} THEN t.occurred_at END) AS first_c, "
        f"MIN(CASE WHEN t.to_stage IN {churn} AND t.occurred_at >= {s} AND t.occurred_at < {e} "
        "THEN t.occurred_at END) AS churn_at, "
        f"MAX(CASE WHEN t.to_stage IN {cust} AND t.occurred_at < {e} THEN t.occurred_at END) AS last_c "
        f"FROM stage_transition t WHERE {transitions_where(scope, p)} GROUP BY t.customer_id"
    )
    at = (
        "(SELECT COUNT(*) FROM (SELECT t.to_stage, ROW_NUMBER() OVER (PARTITION BY t.customer_id "
        f"ORDER BY t.occurred_at DESC, t.id DESC) AS rn FROM stage_transition t WHERE {transitions_where(scope, p)} "
        "AND t.occurred_at < {t}) x WHERE rn = 1 AND to_stage IN " + cust + ")"
    )
    return (
        f"SELECT {at.format(t=s)} AS at_start, {at.format(t=e)} AS at_end, "
        f"SUM(CASE WHEN {joined} THEN 1 ELSE 0 END) AS acquired, COUNT(churn_at) AS churned, "
        f"SUM(CASE WHEN churn_at IS NOT NULL AND {joined} THEN 1 ELSE 0 END) AS churned_joined, "
        f"SUM(CASE WHEN last_c > churn_at AND NOT COALESCE({joined}, 0) THEN 1 ELSE 0 END) AS churned_returned "
        f"FROM ({per}) per"
    )


async def hand_flow(scope: m.Scope) -> FlowTuple:
    p = params()
    r = (await run_sql(flow_sql(scope, p, scope.period), p))[0]
    return (
        int(r["at_start"] or 0),
        int(r["at_end"] or 0),
        int(r["acquired"] or 0),
        int(r["churned"] or 0),
        int(r["churned_joined"] or 0),
        int(r["churned_returned"] or 0),
    )


CohortTuple = tuple[datetime, int, tuple[int, ...]]


def cohort_tuples(rows: list[m.CohortRow]) -> list[CohortTuple]:
    return [(r.month, r.size, tuple(r.active)) for r in rows]


async def hand_cohorts(scope: m.Scope) -> list[CohortTuple]:
    """Acquisition month per customer; then, for each later month end, its last move before it (a
    correlated LIMIT 1 on the transition_customer index)."""
    months = m.months(scope.period)
    p = params()
    cust = in_list(p, scope.customer_stages)
    values = ", ".join(f"({n}, {ts(p, mo.start)}, {ts(p, min(mo.end, scope.now))})" for n, mo in enumerate(months))
    false = "FALSE" if p.dialect == "postgres" else "0"
    last_stage = (
        "(SELECT x.to_stage FROM stage_transition x WHERE x.customer_id = co.customer_id "
        f"AND x.model_key = {p(scope.model.key)} AND x.archived = {false} AND x.occurred_at < mo.m_end "
        "ORDER BY x.occurred_at DESC, x.id DESC LIMIT 1)"
    )
    sql = (
        f"WITH mo(idx, m_start, m_end) AS (VALUES {values}), "
        "co AS (SELECT f.customer_id, mo.idx AS c_idx FROM (SELECT t.customer_id, MIN(t.occurred_at) AS first_c "
        f"FROM stage_transition t WHERE {transitions_where(scope, p)} AND t.to_stage IN {cust} "
        "GROUP BY t.customer_id) f JOIN mo ON f.first_c >= mo.m_start AND f.first_c < mo.m_end) "
        "SELECT c_idx, idx, SUM(CASE WHEN idx < 0 OR stage IN " + cust + " THEN 1 ELSE 0 END) AS n FROM ("
        "SELECT co.c_idx, -1 AS idx, NULL AS stage FROM co UNION ALL "
        f"SELECT co.c_idx, mo.idx, {last_stage} AS stage FROM co JOIN mo ON mo.idx >= co.c_idx) z "
        "GROUP BY c_idx, idx"
    )
    sizes: dict[int, int] = {}
    active: dict[tuple[int, int], int] = {}
    for r in await run_sql(sql, p):
        if int(r["idx"]) < 0:
            sizes[int(r["c_idx"])] = int(r["n"])
        else:
            active[(int(r["c_idx"]), int(r["idx"]))] = int(r["n"] or 0)
    return [
        (months[c].start, size, tuple(active.get((c, k), 0) for k in range(c, len(months))))
        for c, size in sorted(sizes.items())
    ]


LifetimeTuple = tuple[int, int, float | None]


async def hand_average_lifetime(scope: m.Scope) -> LifetimeTuple:
    """First customer-stage entry per customer, joined to its moves for the first churn after it."""
    p = params()
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    end = ts(p, scope.period.end)
    horizon = ts(p, min(scope.period.end, scope.now))
    gone = f"churned_at IS NULL OR churned_at >= {end}"
    sql = (
        "SELECT COUNT(*) AS n, "
        f"SUM(CASE WHEN {gone} THEN 1 ELSE 0 END) AS active, "
        f"AVG({days_between(p, 'since', f'CASE WHEN {gone} THEN {horizon} ELSE churned_at END')}) AS mean_days FROM ("
        "SELECT f.customer_id, f.since, MIN(x.occurred_at) AS churned_at FROM ("
        "SELECT t.customer_id, MIN(t.occurred_at) AS since FROM stage_transition t "
        f"WHERE {transitions_where(scope, p)} AND t.to_stage IN {cust} GROUP BY t.customer_id) f "
        f"LEFT JOIN stage_transition x ON x.customer_id = f.customer_id AND {transitions_where(scope, p, 'x')} "
        f"AND x.to_stage IN {churn} AND x.occurred_at > f.since WHERE f.since < {end} "
        "GROUP BY f.customer_id, f.since) life"
    )
    r = (await run_sql(sql, p))[0]
    return (int(r["n"] or 0), int(r["active"] or 0), None if r["mean_days"] is None else float(r["mean_days"]))


async def hand_renewals(scope: m.Scope) -> tuple[int, int]:
    p = params()
    sql = (
        "SELECT i.kind, COUNT(*) AS n FROM interaction i "
        f"WHERE {interactions_where(scope, p, ['renewal', 'subscription_cancelled'])} GROUP BY i.kind"
    )
    found = {r["kind"]: int(r["n"]) for r in await run_sql(sql, p)}
    return (found.get("renewal", 0), found.get("subscription_cancelled", 0))


def amount(p: Params) -> str:
    return "i.amount" if p.dialect == "postgres" else "CAST(i.amount AS REAL)"


async def hand_revenue(scope: m.Scope) -> Decimal:
    """A plain SUM per kind: purchases + renewals - refunds."""
    p = params()
    sql = (
        f"SELECT i.kind, SUM({amount(p)}) AS total FROM interaction i "
        f"WHERE {interactions_where(scope, p, ['purchase', 'renewal', 'refund'])} GROUP BY i.kind"
    )
    found = {r["kind"]: Decimal(str(r["total"] or 0)) for r in await run_sql(sql, p)}
    total = found.get("purchase", Decimal(0)) + found.get("renewal", Decimal(0)) - found.get("refund", Decimal(0))
    return total.quantize(m.MONEY)


NpsTuple = tuple[int, int, int]


def nps_counts(p: Params) -> str:
    return (
        f"{count_if(p, 'score >= 9')} AS pro, {count_if(p, 'score BETWEEN 7 AND 8')} AS pas, "
        f"{count_if(p, 'score <= 6')} AS det"
    )


async def hand_nps(scope: m.Scope) -> NpsTuple:
    """The latest answer per customer: DISTINCT ON (PostgreSQL), ROW_NUMBER (SQLite: no shorter form; a
    NOT EXISTS of a later answer is ten times slower there)."""
    p = params()
    where = interactions_where(scope, p, ["nps_response"])
    if p.dialect == "postgres":
        latest = (
            f"SELECT DISTINCT ON (i.customer_id) i.score FROM interaction i WHERE {where} "
            "ORDER BY i.customer_id, i.occurred_at DESC, i.id DESC"
        )
    else:
        latest = (
            "SELECT score FROM (SELECT i.score, ROW_NUMBER() OVER (PARTITION BY i.customer_id "
            f"ORDER BY i.occurred_at DESC, i.id DESC) AS rn FROM interaction i WHERE {where}) x WHERE rn = 1"
        )
    r = (await run_sql(f"SELECT {nps_counts(p)} FROM ({latest}) latest", p))[0]
    return (int(r["pro"] or 0), int(r["pas"] or 0), int(r["det"] or 0))


async def hand_csat(scope: m.Scope) -> tuple[int, int]:
    p = params()
    sql = (
        f"SELECT COUNT(*) AS n, {count_if(p, 'i.score >= 4')} AS ok FROM interaction i "
        f"WHERE {interactions_where(scope, p, ['csat_response'])}"
    )
    r = (await run_sql(sql, p))[0]
    return (int(r["n"] or 0), int(r["ok"] or 0))


async def hand_acquired(scope: m.Scope) -> dict[str, int]:
    """Customers acquired in the period per channel (the bench data records no acquisition spend)."""
    p = params()
    sql = (
        "SELECT COALESCE(c.acquisition_channel, '') AS channel, COUNT(*) AS n FROM ("
        f"SELECT t.customer_id FROM stage_transition t WHERE {transitions_where(scope, p)} "
        f"AND t.to_stage IN {in_list(p, scope.customer_stages)} GROUP BY t.customer_id "
        f"HAVING MIN(t.occurred_at) >= {ts(p, scope.period.start)} AND MIN(t.occurred_at) < {ts(p, scope.period.end)}"
        ") f JOIN customer c ON c.id = f.customer_id GROUP BY COALESCE(c.acquisition_channel, '')"
    )
    return {r["channel"]: int(r["n"]) for r in await run_sql(sql, p)}


async def jornada_acquisition(scope: m.Scope) -> dict[str, int]:
    found = await m.acquisition(scope)
    if found.spend:
        raise RuntimeError(f"the bench data has no acquisition spend, yet acquisition() found {found.spend}")
    return found.acquired


MonthTuple = tuple[FlowTuple, Decimal, NpsTuple]


def month_points(points: list[m.MonthPoint]) -> list[MonthTuple]:
    return [(flow_tuple(pt.flow), pt.revenue, (pt.nps.promoters, pt.nps.passives, pt.nps.detractors)) for pt in points]


def month_key(p: Params, column: str) -> str:
    if p.dialect == "postgres":
        return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"
    return f"substr({column}, 1, 7)"  # stored as ISO text in UTC


async def hand_monthly(scope: m.Scope) -> list[MonthTuple]:
    """Every month at once, three statements instead of 36: the flows (one join of the customer-stage
    stays with the month bounds; per customer and month the first churn and the last customer-stage
    entry), revenue grouped by month, and the latest NPS answer per customer and month."""
    months = m.months(scope.period)
    if any(mo.start.day != 1 or mo.start.time() != datetime.min.time() for mo in months) or months[-1].end.day != 1:
        raise RuntimeError("hand_monthly expects a period of whole calendar months")
    keys = [mo.start.strftime("%Y-%m") for mo in months]
    p = params()
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    bounds = ", ".join(
        f"({n}, {ts(p, mo.start)}, {ts(p, mo.end)}, {p(key)})"
        for n, (mo, key) in enumerate(zip(months, keys, strict=True))
    )
    mk = month_key(p, "t.occurred_at")
    at = "s.since < mo.{t} AND (s.until IS NULL OR s.until >= mo.{t})"
    sql = (
        f"WITH mo(idx, m_start, m_end, mkey) AS (VALUES {bounds}), "
        # per customer and month: its first churn and its last customer-stage entry in the month
        "per AS (SELECT t.customer_id, "
        f"{mk} AS mkey, MIN(CASE WHEN t.to_stage IN {churn} THEN t.occurred_at END) AS churn_at, "
        f"MAX(CASE WHEN t.to_stage IN {cust} THEN t.occurred_at END) AS last_c FROM stage_transition t "
        f"WHERE {transitions_where(scope, p)} AND t.occurred_at >= {ts(p, scope.period.start)} "
        f"AND t.occurred_at < {ts(p, scope.period.end)} GROUP BY t.customer_id, {mk}), "
        # the month each customer was acquired in, when in the period
        f"joined AS (SELECT f.customer_id, {month_key(p, 'f.first_c')} AS mkey FROM ("
        "SELECT t.customer_id, MIN(t.occurred_at) AS first_c FROM stage_transition t "
        f"WHERE {transitions_where(scope, p)} AND t.to_stage IN {cust} GROUP BY t.customer_id) f "
        f"WHERE f.first_c >= {ts(p, scope.period.start)} AND f.first_c < {ts(p, scope.period.end)}), "
        "pm AS (SELECT per.mkey, COUNT(per.churn_at) AS churned, "
        "SUM(CASE WHEN per.churn_at IS NOT NULL AND j.customer_id IS NOT NULL THEN 1 ELSE 0 END) AS churned_joined, "
        "SUM(CASE WHEN per.last_c > per.churn_at AND j.customer_id IS NULL THEN 1 ELSE 0 END) AS churned_returned "
        "FROM per LEFT JOIN joined j ON j.customer_id = per.customer_id AND j.mkey = per.mkey GROUP BY per.mkey), "
        "jm AS (SELECT mkey, COUNT(*) AS acquired FROM joined GROUP BY mkey), "
        # customer-stage stays open at each month's start and end, in one join
        f"sm AS (SELECT mo.idx, SUM(CASE WHEN {at.format(t='m_start')} THEN 1 ELSE 0 END) AS at_start, "
        f"SUM(CASE WHEN {at.format(t='m_end')} THEN 1 ELSE 0 END) AS at_end FROM mo JOIN ({stays_sql(scope, p)}) s "
        f"ON s.stage IN {cust} AND s.since < mo.m_end AND (s.until IS NULL OR s.until >= mo.m_start) GROUP BY mo.idx) "
        "SELECT mo.idx, COALESCE(sm.at_start, 0) AS at_start, COALESCE(sm.at_end, 0) AS at_end, "
        "COALESCE(jm.acquired, 0) AS acquired, COALESCE(pm.churned, 0) AS churned, "
        "COALESCE(pm.churned_joined, 0) AS churned_joined, COALESCE(pm.churned_returned, 0) AS churned_returned "
        "FROM mo LEFT JOIN sm ON sm.idx = mo.idx LEFT JOIN jm ON jm.mkey = mo.mkey LEFT JOIN pm ON pm.mkey = mo.mkey"
    )
    flows: dict[int, FlowTuple] = {}
    for r in await run_sql(sql, p):
        flows[int(r["idx"])] = (
            int(r["at_start"]),
            int(r["at_end"]),
            int(r["acquired"]),
            int(r["churned"]),
            int(r["churned_joined"]),
            int(r["churned_returned"]),
        )
    p = params()
    mk = month_key(p, "i.occurred_at")
    revenue_sql = (
        f"SELECT {mk} AS mkey, SUM(CASE WHEN i.kind = 'refund' THEN -{amount(p)} ELSE {amount(p)} END) AS total "
        f"FROM interaction i WHERE {interactions_where(scope, p, ['purchase', 'renewal', 'refund'])} GROUP BY {mk}"
    )
    revenue = {r["mkey"]: Decimal(str(r["total"] or 0)).quantize(m.MONEY) for r in await run_sql(revenue_sql, p)}
    p = params()
    where = interactions_where(scope, p, ["nps_response"])
    mk = month_key(p, "i.occurred_at")
    if p.dialect == "postgres":
        latest = (
            f"SELECT DISTINCT ON (i.customer_id, {mk}) {mk} AS mkey, i.score FROM interaction i WHERE {where} "
            f"ORDER BY i.customer_id, {mk}, i.occurred_at DESC, i.id DESC"
        )
    else:
        latest = (
            f"SELECT mkey, score FROM (SELECT {mk} AS mkey, i.score, ROW_NUMBER() OVER (PARTITION BY i.customer_id, "
            f"{mk} ORDER BY i.occurred_at DESC, i.id DESC) AS rn FROM interaction i WHERE {where}) x WHERE rn = 1"
        )
    nps_sql = f"SELECT mkey, {nps_counts(p)} FROM ({latest}) latest GROUP BY mkey"
    nps = {r["mkey"]: (int(r["pro"] or 0), int(r["pas"] or 0), int(r["det"] or 0)) for r in await run_sql(nps_sql, p)}
    return [
        (flows[n], revenue.get(key, Decimal(0).quantize(m.MONEY)), nps.get(key, (0, 0, 0)))
        for n, key in enumerate(keys)
    ]


ClvTuple = tuple[Decimal, float, int, Decimal | None]


def clv_tuple(h: m.HistoricClv) -> ClvTuple:
    return (h.revenue, round(h.customer_months, 6), h.churned, h.value)


async def jornada_historic_clv(scope: m.Scope) -> ClvTuple:
    """As the `historicClv` field computes it: the period's revenue, customer-months and churns."""
    return clv_tuple(await m.historic_clv(scope))


async def hand_historic_clv(scope: m.Scope) -> ClvTuple:
    """The revenue as `hand_revenue`; customer-months from one statement joining the stays in a
    customer stage (a window query) with the months, each month weighed by its whole calendar
    month's length; the churns counted."""
    p = params()
    cust = in_list(p, scope.customer_stages)
    months = m.months(scope.period, scope.tz)
    lengths = []
    for mo in months:  # the whole calendar month's length, in days, for a clipped month too
        local = mo.start.astimezone(scope.tz)
        first = datetime(local.year, local.month, 1, tzinfo=scope.tz)
        following = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=scope.tz)
        lengths.append((following.astimezone(UTC) - first.astimezone(UTC)) / timedelta(days=1))
    cast = "::float8" if p.dialect == "postgres" else ""
    rows = ", ".join(
        f"({ts(p, mo.start)}, {ts(p, mo.end)}, {p(days)}{cast})" for mo, days in zip(months, lengths, strict=True)
    )
    lo = "CASE WHEN s.since > mo.m_start THEN s.since ELSE mo.m_start END"
    hi = "CASE WHEN s.until IS NULL OR s.until > mo.m_end THEN mo.m_end ELSE s.until END"
    sql = (
        f"WITH mo(m_start, m_end, m_days) AS (VALUES {rows}), s AS (SELECT stage, since, until FROM ("
        "SELECT t.to_stage AS stage, t.occurred_at AS since, "
        "LEAD(t.occurred_at) OVER (PARTITION BY t.customer_id ORDER BY t.occurred_at, t.id) AS until "
        f"FROM stage_transition t WHERE {transitions_where(scope, p)}) x WHERE stage IN {cust}) "
        f"SELECT SUM({days_between(p, lo, hi)} / mo.m_days) AS cm FROM mo JOIN s "
        "ON s.since < mo.m_end AND (s.until IS NULL OR s.until > mo.m_start)"
    )
    total = float((await run_sql(sql, p))[0]["cm"] or 0.0)
    p = params()
    churn = in_list(p, scope.churned_stages)
    churn_sql = (
        f"SELECT COUNT(*) AS n FROM stage_transition t WHERE {transitions_where(scope, p)} AND t.to_stage IN {churn} "
        f"AND t.occurred_at >= {ts(p, scope.period.start)} AND t.occurred_at < {ts(p, scope.period.end)}"
    )
    h = m.HistoricClv(
        revenue=await hand_revenue(scope),
        customer_months=total,
        churned=int((await run_sql(churn_sql, p))[0]["n"] or 0),
        margin=scope.margin,
    )
    return clv_tuple(h)


RfmTuple = tuple[int, int, float, float, float]


def calibration_end(scope: m.Scope) -> datetime:
    return scope.now - timedelta(days=1)


async def jornada_rfm(scope: m.Scope) -> RfmTuple:
    rfm = await value.rfm_summary(scope.workspace_id, calibration_end(scope).date())
    return (
        len(rfm.customers),
        int(rfm.frequency.sum()),
        round(float((rfm.monetary * rfm.frequency).sum()), 2),
        round(float(rfm.recency.sum()), 4),
        round(float(rfm.T.sum()), 4),
    )


async def hand_rfm(scope: m.Scope) -> RfmTuple:
    """Payments per customer and day, then per customer (every row fetched, as `rfm_summary` does):
    repeat days, repeat spend, days since the first and since the last payment."""
    p = params()
    end = calibration_end(scope).date()
    if p.dialect == "postgres":
        day, offset = "(i.occurred_at AT TIME ZONE 'UTC')::date", f"({p(end)}::date - {{d}})"
    else:
        day, offset = "date(i.occurred_at)", f"CAST(julianday({p(end.isoformat())}) - julianday({{d}}) AS INTEGER)"
    stop = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    sql = (
        f"SELECT customer_id, COUNT(*) - 1 AS frequency, SUM(total) - SUM(CASE WHEN day = first_day THEN total "
        f"ELSE 0 END) AS repeat_total, MAX({offset.format(d='first_day')}) AS age, "
        f"MIN({offset.format(d='day')}) AS since_last "
        "FROM (SELECT customer_id, day, total, MIN(day) OVER (PARTITION BY customer_id) AS first_day FROM ("
        f"SELECT i.customer_id, {day} AS day, SUM(COALESCE({amount(p)}, 0)) AS total FROM interaction i "
        f"WHERE i.workspace_id = {p(scope.workspace_id)} AND i.kind IN ('purchase', 'renewal') "
        f"AND i.occurred_at < {p(stop)} GROUP BY i.customer_id, {day}) d) d GROUP BY customer_id ORDER BY customer_id"
    )
    # Per customer, as value.rfm_summary fetches them; summed here only to compare.
    rows = await run_sql(sql, p)
    return (
        len(rows),
        sum(int(r["frequency"]) for r in rows),
        round(sum(float(r["repeat_total"] or 0) for r in rows), 2),
        round(sum(int(r["age"]) - int(r["since_last"]) for r in rows) / 7.0, 4),
        round(sum(int(r["age"]) for r in rows) / 7.0, 4),
    )


async def jornada_refresh(scope: m.Scope) -> dict[str, float]:
    found = await value.refresh(scope.workspace_id, calibration_end(scope).date(), now=scope.now)
    if found.error:
        raise RuntimeError(f"value.refresh did not fit: {found.error}")
    bg = found.params["bgnbd"]
    return {k: round(float(bg[k]), 4) for k in ("r", "alpha", "a", "b")}


async def refresh_breakdown(scope: m.Scope, total_ms: float) -> str:
    """Where `value.refresh`'s time goes: the RFM query (and its arrays), the fit, the store."""
    started = time.perf_counter()
    rfm = await value.rfm_summary(scope.workspace_id, calibration_end(scope).date())
    summarised = time.perf_counter()
    value_fit.fit(rfm, value.DEFAULT_HORIZON_WEEKS, value._weekly(value.DEFAULT_ANNUAL_DISCOUNT), float(scope.margin))
    fitted = time.perf_counter()
    rfm_ms, fit_ms = (summarised - started) * 1000, (fitted - summarised) * 1000
    return (
        f"value.refresh {total_ms:,.0f} ms = RFM query and arrays {rfm_ms:,.0f} ms + BG/NBD and Gamma-Gamma fit and "
        f"predictions {fit_ms:,.0f} ms + storing {len(rfm.customers):,} customer_value rows (delete + insert) "
        f"~{max(0.0, total_ms - rfm_ms - fit_ms):,.0f} ms"
    )


# --- cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One metric: Jornada's function and, where a direct one exists, a hand-written query; each
    returns the metric's numbers in the same shape."""

    name: str
    jornada: Callable[[m.Scope], Awaitable[Any]]
    hand: Callable[[m.Scope], Awaitable[Any]] | None
    note: str = ""
    # A batch job, not a request: shown against the 1 s target but not held to it.
    batch: bool = False


async def j_stage_distribution(scope: m.Scope) -> dict[str, int]:
    return await m.stage_distribution(scope)


async def j_distribution_at(scope: m.Scope) -> list[dict[str, int]]:
    return await m.distribution_at(scope, month_ends(scope))


async def j_funnel_any(scope: m.Scope) -> list[tuple[str, int]]:
    return [(s.stage, s.count) for s in await m.funnel(scope, "ANY")]


async def j_funnel_cumulative(scope: m.Scope) -> list[tuple[str, int]]:
    return [(s.stage, s.count) for s in await m.funnel(scope, "CUMULATIVE")]


async def j_funnel_strict(scope: m.Scope) -> list[tuple[str, int]]:
    return [(s.stage, s.count) for s in await m.funnel(scope, "STRICT")]


async def j_time_in_stage(scope: m.Scope) -> dict[str, SpreadTuple]:
    return {k: spread_tuple(v) for k, v in (await m.time_in_stage(scope)).items()}


async def j_velocity(scope: m.Scope) -> SpreadTuple:
    return spread_tuple(await m.velocity(scope))


async def j_flow(scope: m.Scope) -> FlowTuple:
    return flow_tuple(await m.flow(scope))


async def j_cohorts(scope: m.Scope) -> list[CohortTuple]:
    return cohort_tuples(await m.cohorts(scope, m.months(scope.period)))


async def j_average_lifetime(scope: m.Scope) -> LifetimeTuple:
    life = await m.average_lifetime(scope)
    return (life.customers, life.active, life.mean_days)


async def j_renewals(scope: m.Scope) -> tuple[int, int]:
    r = await m.renewals(scope)
    return (r.renewals, r.cancellations)


async def j_revenue(scope: m.Scope) -> Decimal:
    return await m.revenue(scope)


async def j_nps(scope: m.Scope) -> NpsTuple:
    n = await m.nps(scope)
    return (n.promoters, n.passives, n.detractors)


async def j_csat(scope: m.Scope) -> tuple[int, int]:
    c = await m.csat(scope)
    return (c.responses, c.satisfied)


async def j_monthly(scope: m.Scope) -> list[MonthTuple]:
    return month_points(await m.monthly(scope))


def cases(dialect: str, only: Sequence[str] = ()) -> list[Case]:
    every = all_cases(dialect)
    return [c for c in every if any(o in c.name for o in only)] if only else every


def all_cases(dialect: str) -> list[Case]:
    postgres = dialect == "postgres"
    return [
        Case("stage_distribution", j_stage_distribution, hand_stage_distribution),
        Case(
            "distribution_at (12 month ends)",
            j_distribution_at,
            hand_distribution_at if postgres else None,
            "hand-written: LATERAL DISTINCT ON per moment" if postgres else "no direct form beats the stays join",
        ),
        Case("funnel CUMULATIVE", j_funnel_cumulative, hand_funnel_cumulative),
        Case("funnel ANY", j_funnel_any, hand_funnel_any),
        Case("funnel STRICT", j_funnel_strict, hand_funnel_strict),
        Case(
            "time_in_stage",
            j_time_in_stage,
            hand_time_in_stage if postgres else None,
            "" if postgres else "no percentile function in SQLite",
        ),
        Case(
            "velocity",
            j_velocity,
            hand_velocity if postgres else None,
            "" if postgres else "no percentile function in SQLite",
        ),
        Case("flow (churn, retention)", j_flow, hand_flow),
        Case("cohorts (12 months)", j_cohorts, hand_cohorts),
        Case("average_lifetime", j_average_lifetime, hand_average_lifetime),
        Case("renewals", j_renewals, hand_renewals),
        Case("revenue", j_revenue, hand_revenue),
        Case("nps", j_nps, hand_nps),
        Case("csat", j_csat, hand_csat),
        Case("acquisition", jornada_acquisition, hand_acquired, "hand-written: acquired per channel only"),
        Case("monthly (flow, revenue, nps x 12)", j_monthly, hand_monthly, "hand-written: 3 statements, by month key"),
        Case("historic_clv", jornada_historic_clv, hand_historic_clv, "revenue, customer-months, churns"),
        Case("value.rfm_summary (CLV input)", jornada_rfm, hand_rfm),
        Case(
            "value.refresh (RFM + fit + store)", jornada_refresh, None, "a batch job (fit + 1 row per customer)", True
        ),
    ]


# --- timing and checking ----------------------------------------------------------------------------


@dataclass
class Timing:
    best_ms: float = math.inf
    runs: int = 0
    total_s: float = 0.0
    answer: Any = None
    timed_out: float | None = None  # the limit, when a run was stopped at it

    @property
    def ran(self) -> bool:
        return self.runs > 0


@dataclass
class Result:
    case: Case
    jornada: Timing
    hand: Timing | None
    same: bool | None
    statements: list[tuple[str, list[Any]]] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.hand is None or not self.hand.ran or self.hand.best_ms <= 0 or not self.jornada.ran:
            return None
        return self.jornada.best_ms / self.hand.best_ms

    @property
    def slow(self) -> bool:
        stopped = self.jornada.timed_out is not None and self.jornada.timed_out * 1000 > TARGET_MS
        return (self.jornada.ran and self.jornada.best_ms > TARGET_MS) or stopped

    @property
    def off_ratio(self) -> bool:
        r = self.ratio
        return r is not None and r > TARGET_RATIO


async def interrupt() -> None:
    """Stop the statement SQLite is running (asyncpg cancels PostgreSQL's itself on cancellation)."""
    raw = getattr(connection(), "_connection", None)
    if raw is not None and hasattr(raw, "interrupt"):
        await raw.interrupt()


async def timed(fn: Callable[[m.Scope], Awaitable[Any]], scope: m.Scope, into: Timing, limit: float) -> bool:
    """One run into `into`; False when it was stopped at `limit` seconds."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            answer = await fn(scope)
    except TimeoutError:
        await interrupt()
        into.timed_out = limit
        into.total_s += limit
        return False
    elapsed = time.perf_counter() - started
    into.best_ms = min(into.best_ms, elapsed * 1000)
    into.runs += 1
    into.total_s += elapsed
    into.answer = answer
    return True


def same(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-6 (relative) and money to a cent (SQLite sums decimals as REAL)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and abs(Decimal(str(a)) - Decimal(str(b))) <= Decimal("0.01")
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-6)
    return bool(a == b)


@contextlib.contextmanager
def capture(conn: BaseDBAsyncClient) -> Iterator[list[tuple[str, list[Any]]]]:
    """Record every statement sent through `conn.execute_query_dict` (the metrics' only path)."""
    seen: list[tuple[str, list[Any]]] = []
    original = conn.execute_query_dict

    async def recording(query: str, values: list[Any] | None = None) -> list[dict[str, Any]]:
        seen.append((query, list(values or [])))
        return await original(query, values)

    setattr(conn, "execute_query_dict", recording)  # noqa: B010 - an instance attribute shadows the method
    try:
        yield seen
    finally:
        delattr(conn, "execute_query_dict")


async def run_case(case: Case, scope: m.Scope, repeat: int, limit: float) -> Result:
    """Best of `repeat` runs each (fewer once BUDGET_SECONDS is spent, none more after a run hit
    `limit`), the two sides alternating."""
    jornada = Timing()
    hand = Timing() if case.hand is not None else None
    # An untimed warm-up of each side first (caches), which also records Jornada's statements.
    warm = Timing()
    with capture(connection()) as statements:
        await timed(case.jornada, scope, warm, limit)
    if warm.timed_out is not None:
        jornada.timed_out, jornada.total_s = warm.timed_out, warm.total_s
    if hand is not None and case.hand is not None:
        warm = Timing()
        await timed(case.hand, scope, warm, limit)
        if warm.timed_out is not None:
            hand.timed_out, hand.total_s = warm.timed_out, warm.total_s
    for _ in range(repeat):
        if jornada.timed_out is None:
            await timed(case.jornada, scope, jornada, limit)
        if hand is not None and case.hand is not None and hand.timed_out is None:
            await timed(case.hand, scope, hand, limit)
        spent = jornada.total_s + (hand.total_s if hand else 0.0)
        if spent > BUDGET_SECONDS:
            break
    agree = None
    if hand is not None and jornada.ran and hand.ran:
        agree = same(jornada.answer, hand.answer)
    return Result(case, jornada, hand, agree, statements)


# --- EXPLAIN ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanNode:
    depth: int
    label: str
    total_ms: float
    self_ms: float
    details: str


def plan_nodes(plan: dict[str, Any], depth: int = 0) -> list[PlanNode]:
    """Each node with its own time (its total minus its children's), loops included."""
    loops = plan.get("Actual Loops", 1) or 1
    total = float(plan.get("Actual Total Time", 0.0)) * loops
    children = plan.get("Plans", [])
    child_total = sum(float(c.get("Actual Total Time", 0.0)) * (c.get("Actual Loops", 1) or 1) for c in children)
    label = plan["Node Type"]
    if plan.get("Parent Relationship") in ("InitPlan", "SubPlan"):
        label = f"{plan.get('Subplan Name', plan['Parent Relationship'])}: {label}"
    if "Strategy" in plan and plan["Node Type"] == "Aggregate":
        label = f"{plan['Strategy']} {label}"
    if "Index Name" in plan:
        label += f" using {plan['Index Name']}"
    if "Relation Name" in plan:
        label += f" on {plan['Relation Name']}"
    bits = [f"rows={plan.get('Actual Rows', 0)}", f"loops={loops}"]
    for key in ("Heap Fetches", "Sort Method", "Sort Space Type", "Peak Memory Usage", "Rows Removed by Filter"):
        if key in plan:
            bits.append(f"{key}={plan[key]}")
    if "Join Filter" in plan:
        bits.append(f"join filter rows removed={plan.get('Rows Removed by Join Filter', 0)}")
    for key in ("Shared Hit Blocks", "Shared Read Blocks", "Temp Written Blocks"):
        if plan.get(key):
            bits.append(f"{key}={plan[key]}")
    out = [PlanNode(depth, label, total, max(0.0, total - child_total), " ".join(bits))]
    for child in children:
        out += plan_nodes(child, depth + 1)
    return out


@dataclass(frozen=True)
class Explained:
    sql: str
    execution_ms: float
    nodes: list[PlanNode]
    jit_ms: float | None = None
    estimated: list[str] = field(default_factory=list)  # a plain EXPLAIN, when ANALYZE would take too long
    note: str = ""

    def render(self) -> list[str]:
        if self.note:
            return [f"  ({self.note})"]
        if self.estimated:
            return ["  (EXPLAIN without ANALYZE: one run exceeded the time limit)"] + [
                f"  {line}" for line in self.estimated[:PLAN_LINES]
            ]
        jit = f", of which JIT compilation {self.jit_ms:,.1f} ms" if self.jit_ms else ""
        lines = [f"  execution {self.execution_ms:,.1f} ms{jit}"]
        for node in self.nodes[:PLAN_LINES]:
            lines.append(
                f"  {'  ' * node.depth}-> {node.label}  total={node.total_ms:,.1f}ms self={node.self_ms:,.1f}ms "
                f"{node.details}"
            )
        if len(self.nodes) > PLAN_LINES:
            lines.append(f"  ... {len(self.nodes) - PLAN_LINES} more nodes")
        hottest = sorted(self.nodes, key=lambda n: n.self_ms, reverse=True)[:3]
        lines.append("  hottest: " + "; ".join(f"{n.label} {n.self_ms:,.1f}ms" for n in hottest))
        return lines


async def explain(sql: str, values: list[Any]) -> Explained:
    rows = await connection().execute_query_dict(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", values)
    raw = rows[0]["QUERY PLAN"]
    doc = json.loads(raw) if isinstance(raw, str) else raw
    top = doc[0]
    jit = top.get("JIT", {}).get("Timing", {}).get("Total")
    total = jit.get("Total") if isinstance(jit, dict) else jit  # PostgreSQL 17 nests it
    return Explained(sql, float(top["Execution Time"]), plan_nodes(top["Plan"]), float(total) if total else None)


async def explain_estimated(sql: str, values: list[Any]) -> Explained:
    rows = await connection().execute_query_dict(f"EXPLAIN {sql}", values)
    return Explained(sql, math.nan, [], None, [str(r["QUERY PLAN"]) for r in rows])


async def explain_text(sql: str, values: list[Any]) -> list[str]:
    rows = await connection().execute_query_dict(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", values)
    return [str(r["QUERY PLAN"]) for r in rows]


async def sqlite_plan(sql: str, values: list[Any]) -> list[str]:
    rows = await connection().execute_query_dict(f"EXPLAIN QUERY PLAN {sql}", values)
    return [str(r["detail"]) for r in rows]


@dataclass
class IndexCheck:
    """The stage-distribution query's plan, before and (if needed) after VACUUM (ANALYZE)."""

    lines: list[str]
    index_only: bool
    heap_fetches: int | None
    vacuumed: bool = False
    after: list[str] = field(default_factory=list)
    after_index_only: bool | None = None
    after_heap_fetches: int | None = None
    before_ms: float | None = None
    forced: list[str] = field(default_factory=list)  # with sequential and bitmap scans off


def heap_fetches(lines: list[str]) -> int | None:
    found = [int(line.split("Heap Fetches:")[1].split()[0]) for line in lines if "Heap Fetches:" in line]
    return sum(found) if found else None


async def stage_distribution_statement(scope: m.Scope) -> tuple[str, list[Any]]:
    with capture(connection()) as seen:
        await m.stage_distribution(scope)
    return seen[0]


async def check_index_only(scope: m.Scope, repeat: int) -> IndexCheck:
    sql, values = await stage_distribution_statement(scope)
    lines = await explain_text(sql, values)
    fetches = heap_fetches(lines)
    check = IndexCheck(lines, any("Index Only Scan" in line for line in lines), fetches)
    if check.index_only and not fetches:
        return check
    before = Timing()
    for _ in range(repeat):
        await timed(j_stage_distribution, scope, before, 60.0)
    check.before_ms = before.best_ms
    say("[postgres]   not a clean index-only scan: VACUUM (ANALYZE) stage_assignment, stage_transition...")
    await connection().execute_script("VACUUM (ANALYZE) stage_assignment, stage_transition")
    check.vacuumed = True
    check.after = await explain_text(sql, values)
    check.after_index_only = any("Index Only Scan" in line for line in check.after)
    check.after_heap_fetches = heap_fetches(check.after)
    if not check.after_index_only:
        # The planner preferred another plan: show what the index-only one would cost.
        async with in_transaction() as tx:
            await tx.execute_script("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
            rows = await tx.execute_query_dict(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", values)
        check.forced = [str(r["QUERY PLAN"]) for r in rows]
    return check


async def explain_case(result: Result, explained: dict[str, str]) -> list[Explained]:
    """EXPLAIN each distinct statement of a metric (the monthly series sends one text 12 times with
    other parameters: its first month stands for the rest), once across metrics."""
    out: list[Explained] = []
    seen: set[str] = set()
    for sql, values in result.statements:
        if sql in seen:
            continue
        seen.add(sql)
        if sql in explained:
            out.append(Explained(sql, math.nan, [], note=f"statement {len(seen)}: as under {explained[sql]}"))
            continue
        explained[sql] = result.case.name
        if result.jornada.timed_out is not None:
            out.append(await explain_estimated(sql, values))
        else:
            out.append(await explain(sql, values))
    return out


# --- one database -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    customers: int
    interactions: int
    repeat: int
    seed: int
    explain_all: bool
    timeout: float
    only: tuple[str, ...] = ()


@dataclass
class Outcome:
    dialect: str
    workspace_id: int
    setup: dict[str, float]
    transitions: int
    assignments: int
    results: list[Result]
    index_check: IndexCheck | None
    sqlite_index_plan: list[str]
    plans: dict[str, list[Explained]]
    notes: list[str]


async def count_rows(table: str, workspace_id: int) -> int:
    p = params()
    rows = await run_sql(f"SELECT COUNT(*) AS n FROM {table} WHERE workspace_id = {p(workspace_id)}", p)
    return int(rows[0]["n"])


async def bench_one(target: Target, data: Dataset, options: Options) -> Outcome:
    d = target.dialect
    setup: dict[str, float] = {}
    settings = Settings(database_url=target.url)
    await apply_migrations(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        workspace, _ = await create_workspace(f"Bench Comércio Ltda (seed {data.seed})", "BRL", "America/Sao_Paulo")
        say(f"[{d}] inserting {len(data.customers):,} customers, {len(data.interactions):,} interactions...")
        started = time.perf_counter()
        await insert_dataset(workspace.id, data)
        setup["insert"] = time.perf_counter() - started
        lifecycle = Lifecycle(load_plugins(autoload=False))
        tracked = await lifecycle.tracked(workspace.id)
        primary = next(t for t in tracked if t.is_primary)
        say(f"[{d}] building the stages of {primary.key!r} by replaying every history (rebuild_tracked)...")
        started = time.perf_counter()
        rebuilt = await rebuild_tracked(lifecycle, workspace.id)
        setup["replay"] = time.perf_counter() - started
        transitions = sum(r.transitions_written for r in rebuilt.values())
        assignments = await count_rows("stage_assignment", workspace.id)
        say(
            f"[{d}]   {assignments:,} assignments, {transitions:,} transitions in {setup['replay']:.1f}s: "
            f"{dict(rebuilt[primary.key].distribution.most_common())}"
        )
        started = time.perf_counter()
        await connection().execute_script("ANALYZE")
        setup["analyze"] = time.perf_counter() - started
        scope = bench_scope(workspace.id, primary.model)
        index_check: IndexCheck | None = None
        sqlite_index_plan: list[str] = []
        if d == "postgres":
            say(f"[{d}] EXPLAIN (ANALYZE, BUFFERS) of stage_distribution...")
            index_check = await check_index_only(scope, options.repeat)
        else:
            sql, values = await stage_distribution_statement(scope)
            sqlite_index_plan = await sqlite_plan(sql, values)
        say(
            f"[{d}] timing {len(cases(d, options.only))} metrics on {scope.period.start:%Y-%m-%d} .. "
            f"{scope.period.end:%Y-%m-%d}, best of {options.repeat}..."
        )
        results: list[Result] = []
        for case in cases(d, options.only):
            result = await run_case(case, scope, options.repeat, options.timeout)
            results.append(result)
            say(f"[{d}]   {line_of(result)}")
            if result.same is False:
                say(f"[{d}]     DIFFERENT: jornada {result.jornada.answer!r}")
                say(f"[{d}]                hand    {result.hand.answer if result.hand else None!r}")
        notes: list[str] = []
        for result in results:
            if result.case.jornada is jornada_refresh and result.jornada.ran:
                notes.append(await refresh_breakdown(scope, result.jornada.best_ms))
        plans: dict[str, list[Explained]] = {}
        if d == "postgres":
            explained: dict[str, str] = {}  # statement -> the metric it was shown under
            for result in results:
                if result.case.batch and not options.explain_all:
                    continue
                if options.explain_all or result.slow or result.off_ratio:
                    plans[result.case.name] = await explain_case(result, explained)
        return Outcome(
            d, workspace.id, setup, transitions, assignments, results, index_check, sqlite_index_plan, plans, notes
        )


# --- reporting ----------------------------------------------------------------------------------------


def flags(r: Result) -> str:
    out = []
    if r.jornada.timed_out is not None:
        out.append("stopped")
    if r.slow:
        out.append(">1s" + (" (batch)" if r.case.batch else ""))
    if r.off_ratio:
        out.append(">1.2x")
    if r.same is False:
        out.append("DIFFERENT")
    return " ".join(out)


def ms(t: Timing | None) -> str:
    if t is None:
        return "-"
    if t.ran:
        return f"{t.best_ms:,.1f}"
    if t.timed_out is not None:
        return f">{t.timed_out * 1000:,.0f} (stopped)"
    return "-"


def line_of(r: Result) -> str:
    hand = f"{ms(r.hand)} ms" if r.hand else "-"
    ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
    return f"{r.case.name}: jornada {ms(r.jornada)} ms, hand-written {hand}, ratio {ratio} {flags(r)}".rstrip()


def code_version() -> str:
    """The commit measured, and whether the application code differs from it."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "api", "schema", "plugins", "stages", "migrations"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" with local changes" if dirty else "")


CODE_VERSION = code_version()


def table(outcome: Outcome, options: Options) -> str:
    header = ("metric", "Jornada ms", "hand ms", "ratio", "runs", "same", "flag", "note")
    rows: list[tuple[str, ...]] = []
    for r in outcome.results:
        rows.append(
            (
                r.case.name,
                ms(r.jornada),
                ms(r.hand),
                f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                str(r.jornada.runs),
                {True: "yes", False: "NO", None: "-"}[r.same],
                flags(r).replace(" DIFFERENT", "").replace("DIFFERENT", ""),
                r.case.note,
            )
        )
    check = outcome.index_check
    if check is not None and check.before_ms is not None:
        rows.insert(
            1,
            (
                "stage_distribution before VACUUM",
                f"{check.before_ms:,.1f}",
                "-",
                "-",
                str(options.repeat),
                "-",
                ">1s" if check.before_ms > TARGET_MS else "",
                "visibility map not yet set",
            ),
        )
    widths = [max(len(h), *(len(row[n]) for row in rows)) for n, h in enumerate(header)]

    def line(cells: tuple[str, ...]) -> str:
        padded = (
            c.rjust(w) if n in (1, 2, 3, 4) else c.ljust(w) for n, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return " | ".join(padded).rstrip()

    setup = ", ".join(f"{k} {v:.1f}s" for k, v in outcome.setup.items())
    title = (
        f"[{outcome.dialect}] code {CODE_VERSION}; {options.customers:,} customers, "
        f"{options.interactions:,} interactions (seed {options.seed}); {outcome.assignments:,} stage assignments, "
        f"{outcome.transitions:,} transitions; "
        f"set-up: {setup}. Best of {options.repeat} (fewer past {BUDGET_SECONDS:.0f}s); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; load average at the end "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([title, "", line(header), rule, *(line(row) for row in rows)])


def index_report(outcome: Outcome) -> list[str]:
    out = []
    check = outcome.index_check
    if check is not None:
        verdict = "an index-only scan" if check.index_only else "NOT an index-only scan"
        out.append(f"[postgres] stage_distribution after ANALYZE: {verdict}, heap fetches: {check.heap_fetches}")
        out += [f"  {line}" for line in check.lines]
        if check.vacuumed:
            verdict = "an index-only scan" if check.after_index_only else "NOT an index-only scan"
            out.append(
                f"[postgres] after VACUUM (ANALYZE): {verdict}, heap fetches: {check.after_heap_fetches} "
                f"(before VACUUM the metric took {check.before_ms:,.1f} ms)"
            )
            out += [f"  {line}" for line in check.after]
        if check.forced:
            out.append("[postgres] the same with enable_seqscan and enable_bitmapscan off:")
            out += [f"  {line}" for line in check.forced]
    if outcome.sqlite_index_plan:
        out.append("[sqlite] stage_distribution: EXPLAIN QUERY PLAN")
        out += [f"  {line}" for line in outcome.sqlite_index_plan]
    return out


def plans_report(outcome: Outcome) -> list[str]:
    """Each explained statement of the metrics over a target; those under 5 ms only counted."""
    out = []
    for name, explained in outcome.plans.items():
        if all(e.note for e in explained):
            out.append(f"[{outcome.dialect}] {name}: " + "; ".join(e.note for e in explained))
            continue
        small = [e for e in explained if e.execution_ms < 5.0]
        for n, e in enumerate(explained, start=1):
            if e in small:
                continue
            out.append(f"[{outcome.dialect}] EXPLAIN (ANALYZE, BUFFERS) {name}, statement {n}:")
            out += e.render()
        if small:
            out.append(f"[{outcome.dialect}] {name}: {len(small)} more statement(s) under 5 ms each, not shown")
    return out


# --- main -------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def database(dialect: str, postgres_url: str) -> AsyncIterator[Target]:
    if dialect == "postgres":
        async with postgres_database(postgres_url) as target:
            yield target
    else:
        async with sqlite_database() as target:
            yield target


async def run(args: argparse.Namespace) -> list[Outcome]:
    only = tuple(x.strip() for x in args.only.split(",") if x.strip()) if args.only else ()
    options = Options(args.customers, args.interactions, args.repeat, args.seed, args.explain_all, args.timeout, only)
    dialects = ["postgres", "sqlite"] if args.database == "both" else [args.database]
    say(f"building {options.customers:,} customers, {options.interactions:,} interactions (seed {options.seed})...")
    started = time.perf_counter()
    data = build_dataset(options.customers, options.interactions, options.seed, DEFAULT_END)
    say(f"  built in {time.perf_counter() - started:.1f}s (digest {data.digest})")
    outcomes: list[Outcome] = []
    for dialect in dialects:
        async with database(dialect, args.postgres_url) as target:
            outcomes.append(await bench_one(target, data, options))
    for outcome in outcomes:
        say("")
        say(table(outcome, options))
        say("")
        for line in outcome.notes + index_report(outcome) + plans_report(outcome):
            say(line)
    return outcomes


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics",
        description=(__doc__ or "").split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--customers", type=positive, default=100_000, help="customers to generate")
    parser.add_argument("--interactions", type=non_negative, default=1_000_000, help="interactions to generate")
    parser.add_argument("--repeat", type=positive, default=3, help="best of this many runs per metric")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="same seed, same data")
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds after which one run of a metric is stopped (and the metric reported as over it)",
    )
    parser.add_argument(
        "--postgres-url",
        default=default_postgres_url(),
        help="a database of a server where this user may CREATE DATABASE",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts of metric names: time only those (e.g. average_lifetime,monthly)",
    )
    parser.add_argument(
        "--explain-all",
        action="store_true",
        help="EXPLAIN (ANALYZE, BUFFERS) every metric on PostgreSQL, not only those over a target",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_bench(lambda: run(args), "interrupted: bench data removed")


if __name__ == "__main__":
    raise SystemExit(main())
