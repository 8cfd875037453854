"""Retention (docs/metrics.md): churn and retention flows, cohorts, average lifetime."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from api.db import Params
from api.metrics_scope import (
    Period,
    Scope,
    Split,
    contiguous,
    edge_array,
    edges,
    first_customer_cte,
    lifecycle_ctes,
    new_params,
    periods_cte,
    query_rows,
    segment_ids,
    split_by,
)
from api.sqlfn import days_between, in_list, ts

# --- retention ----------------------------------------------------------------------------------


FLOW_FIELDS = (
    "at_start",
    "at_end",
    "acquired",
    "churned",
    "churned_joined",
    "churned_returned",
    "retained",
    "churn_counted",
)


@dataclass(frozen=True)
class Flow:
    """Counts behind churn and retention for one period (docs/metrics.md, Retention).

    Both rates are about the customers in a customer-category stage at the period's start (who
    are also `at_start`, the denominator): `retained` of them are in one at its end (churned and
    back within it counts as retained), `churn_counted` of them moved into a churned stage in it
    and were not back by its end. So each rate is in [0, 1]. `churned` counts every customer
    who churned in the period; `churned_joined` (acquired in it) and `churned_returned` (back
    in a customer stage by its end) are the two groups ChartMogul's formula leaves out."""

    at_start: int
    at_end: int
    acquired: int
    churned: int
    churned_joined: int
    churned_returned: int
    retained: int
    churn_counted: int

    @property
    def churn_rate(self) -> float | None:
        return self.churn_counted / self.at_start if self.at_start else None

    @property
    def retention_rate(self) -> float | None:
        return self.retained / self.at_start if self.at_start else None


def _flow_postgres(scope: Scope, p: Params, period: Period, split: Split | None = None) -> str:
    """The same counts in one pass over each customer's moves: the stage at a moment is that of
    the last move before it (about half the time of the stays-based statement at 100k customers);
    with a split, one row per group."""
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    s, e = ts(p, period.start), ts(p, period.end)
    seg = segment_ids(scope, p)
    in_segment = f" AND t.customer_id IN ({seg})" if seg else ""
    joined = f"(first_c >= {s} AND first_c < {e})"
    last_stage = "(ARRAY_AGG(t.to_stage ORDER BY t.occurred_at DESC, t.id DESC) FILTER (WHERE t.occurred_at < {t}))[1]"
    per = (
        f"SELECT t.customer_id AS cid, MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {cust}) AS first_c, "
        f"MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {churn} AND t.occurred_at >= {s} "
        f"AND t.occurred_at < {e}) AS churn_at, "
        f"MAX(t.occurred_at) FILTER (WHERE t.to_stage IN {cust} AND t.occurred_at < {e}) AS last_c, "
        f"{last_stage.format(t=s)} AS stage_s, {last_stage.format(t=e)} AS stage_e "
        f"FROM stage_transition t WHERE t.workspace_id = {p(scope.workspace_id)} "
        f"AND t.model_key = {p(scope.model.key)} AND t.archived = FALSE{in_segment} GROUP BY t.customer_id"
    )
    at_s, at_e = f"stage_s IN {cust}", f"COALESCE(stage_e IN {cust}, FALSE)"
    join, key, group = split_by(split, p, "per.cid")
    return (
        f"SELECT {key} AS g, COUNT(*) FILTER (WHERE {at_s}) AS at_start, "
        f"COUNT(*) FILTER (WHERE {at_e}) AS at_end, "
        f"COUNT(*) FILTER (WHERE {joined}) AS acquired, COUNT(churn_at) AS churned, "
        f"COUNT(churn_at) FILTER (WHERE {joined}) AS churned_joined, "
        f"COUNT(churn_at) FILTER (WHERE last_c > churn_at AND NOT COALESCE({joined}, FALSE)) "
        f"AS churned_returned, COUNT(*) FILTER (WHERE {at_s} AND {at_e}) AS retained, "
        f"COUNT(churn_at) FILTER (WHERE {at_s} AND NOT {at_e}) AS churn_counted FROM ({per}) per{join}{group}"
    )


async def flow_by(scope: Scope, split: Split) -> dict[str | None, Flow] | None:
    """`flow` of each group of `split` (that has any) in one statement; None where the database
    has no such statement (SQLite: ask each group's scope)."""
    p = new_params()
    if p.dialect != "postgres":
        return None
    rows = await query_rows(_flow_postgres(scope, p, scope.period, split), p)
    return {r["g"]: Flow(*(int(r[k] or 0) for k in FLOW_FIELDS)) for r in rows}


async def flow(scope: Scope, period: Period | None = None) -> Flow:
    period = period or scope.period
    p = new_params()
    if p.dialect == "postgres":
        r = (await query_rows(_flow_postgres(scope, p, period), p))[0]
        return Flow(*(int(r[k] or 0) for k in FLOW_FIELDS))
    ctes = lifecycle_ctes(scope, p)
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    s, e = ts(p, period.start), ts(p, period.end)
    # In a customer stage just before `t`: a move made at `t` is in the period [t, ...), as the
    # churned and joined counts (and the cohorts) take it; a customer who joins at the start is
    # acquired in the period, not also there at its start.
    at = "s.stage IN {cs} AND " + _covers("{t}")
    sql = (
        f"WITH {ctes}, "
        f"churned AS (SELECT DISTINCT customer_id FROM tr WHERE to_stage IN {churn} "
        f"AND occurred_at >= {s} AND occurred_at < {e}), "
        f"joined AS (SELECT customer_id FROM tr WHERE to_stage IN {cust} GROUP BY customer_id "
        f"HAVING MIN(occurred_at) >= {s} AND MIN(occurred_at) < {e}), "
        # Came back: a customer-stage entry after the first churn of the period, within it.
        f"first_churn AS (SELECT customer_id, MIN(occurred_at) AS t FROM tr WHERE to_stage IN {churn} "
        f"AND occurred_at >= {s} AND occurred_at < {e} GROUP BY customer_id), "
        f"last_entry AS (SELECT customer_id, MAX(occurred_at) AS t FROM tr WHERE to_stage IN {cust} "
        f"AND occurred_at < {e} GROUP BY customer_id), "
        "back AS (SELECT c.customer_id FROM first_churn c JOIN last_entry w ON w.customer_id = c.customer_id "
        "AND w.t > c.t), "
        f"at_s AS (SELECT DISTINCT customer_id FROM stays s WHERE {at.format(cs=cust, t=s)}), "
        f"at_e AS (SELECT DISTINCT customer_id FROM stays s WHERE {at.format(cs=cust, t=e)}) "
        "SELECT "
        "(SELECT COUNT(*) FROM at_s) AS at_start, "
        "(SELECT COUNT(*) FROM at_e) AS at_end, "
        "(SELECT COUNT(*) FROM at_s WHERE customer_id IN (SELECT customer_id FROM at_e)) AS retained, "
        "(SELECT COUNT(*) FROM churned WHERE customer_id IN (SELECT customer_id FROM at_s) "
        "AND customer_id NOT IN (SELECT customer_id FROM at_e)) AS churn_counted, "
        "(SELECT COUNT(*) FROM joined) AS acquired, "
        "(SELECT COUNT(*) FROM churned) AS churned, "
        "(SELECT COUNT(*) FROM churned WHERE customer_id IN (SELECT customer_id FROM joined)) AS churned_joined, "
        "(SELECT COUNT(*) FROM churned WHERE customer_id IN (SELECT customer_id FROM back) "
        "AND customer_id NOT IN (SELECT customer_id FROM joined)) AS churned_returned"
    )
    r = (await query_rows(sql, p))[0]
    return Flow(*(int(r[k] or 0) for k in FLOW_FIELDS))


def _covers(moment: str) -> str:
    """A stay `s` covers `moment`: a move made at the very moment belongs to the period it opens."""
    return f"s.since < {moment} AND (s.until IS NULL OR s.until >= {moment})"


async def monthly_flows(scope: Scope, periods: Sequence[Period]) -> list[Flow]:
    """`flow` for each of `periods` in one statement (the same definitions, bucketed by period)."""
    if not periods:
        return []
    p = new_params()
    if p.dialect == "postgres" and len(periods) <= _MASK_MONTHS and contiguous(periods):
        rows = await query_rows(_monthly_postgres(scope, p, edges(periods)), p)
        return _flows_from_masks(rows, len(periods))
    ctes = lifecycle_ctes(scope, p, inline=True)
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    inside = "x.t >= m.m_start AND x.t < m.m_end"
    sql = (
        f"WITH {ctes}, {periods_cte(p, periods)}, "
        f"cs AS (SELECT customer_id, since, until FROM stays WHERE stage IN {cust}), "
        f"{first_customer_cte(cust)}, "
        f"joined AS (SELECT m.idx, x.customer_id FROM first_c x JOIN months m ON {inside}), "
        f"churn AS (SELECT customer_id, occurred_at AS t FROM tr WHERE to_stage IN {churn}), "
        f"churned AS (SELECT m.idx, x.customer_id, MIN(x.t) AS t FROM churn x JOIN months m ON {inside} "
        "GROUP BY m.idx, x.customer_id), "
        f"entries AS (SELECT customer_id, occurred_at AS t FROM tr WHERE to_stage IN {cust}), "
        "back AS (SELECT DISTINCT c.idx, c.customer_id FROM churned c JOIN months m ON m.idx = c.idx "
        "JOIN entries w ON w.customer_id = c.customer_id AND w.t > c.t AND w.t < m.m_end "
        "WHERE NOT EXISTS (SELECT 1 FROM joined j WHERE j.idx = c.idx AND j.customer_id = c.customer_id)), "
        # Per month and customer, whether a customer-stage stay covers the month's start and its
        # end (at a moment at most one stay covers a customer): one grouped pass for both.
        f"cover AS (SELECT m.idx, s.customer_id, MAX(CASE WHEN {_covers('m.m_start')} THEN 1 ELSE 0 END) AS at_s, "
        f"MAX(CASE WHEN {_covers('m.m_end')} THEN 1 ELSE 0 END) AS at_e FROM months m JOIN cs s "
        f"ON ({_covers('m.m_start')}) OR ({_covers('m.m_end')}) GROUP BY m.idx, s.customer_id) "
        "SELECT 'at_start' AS what, idx, SUM(at_s) AS n FROM cover GROUP BY idx "
        "UNION ALL SELECT 'at_end', idx, SUM(at_e) FROM cover GROUP BY idx "
        "UNION ALL SELECT 'retained', idx, SUM(at_s * at_e) FROM cover GROUP BY idx "
        "UNION ALL SELECT 'churn_counted', c.idx, COUNT(*) FROM churned c JOIN cover v "
        "ON v.idx = c.idx AND v.customer_id = c.customer_id WHERE v.at_s = 1 AND v.at_e = 0 GROUP BY c.idx "
        "UNION ALL SELECT 'acquired', idx, COUNT(*) FROM joined GROUP BY idx "
        "UNION ALL SELECT 'churned', idx, COUNT(*) FROM churned GROUP BY idx "
        "UNION ALL SELECT 'churned_joined', c.idx, COUNT(*) FROM churned c JOIN joined j "
        "ON j.idx = c.idx AND j.customer_id = c.customer_id GROUP BY c.idx "
        "UNION ALL SELECT 'churned_returned', idx, COUNT(*) FROM back GROUP BY idx"
    )
    rows = await query_rows(sql, p)
    counts: dict[tuple[str, int], int] = {(r["what"], int(r["idx"])): int(r["n"] or 0) for r in rows}
    return [Flow(*(counts.get((f, n), 0) for f in FLOW_FIELDS)) for n in range(len(periods))]


# Months a bigint mask holds: n + 1 edges, and 1 << (n + 1) must not overflow.
_MASK_MONTHS = 61


def _monthly_postgres(scope: Scope, p: Params, bounds: Sequence[datetime]) -> str:
    """Every month's flow counts in one pass over each customer's moves (PostgreSQL), for the
    contiguous months between the n + 1 `bounds`.

    Each customer comes down to four numbers: `cover` (bit k: in a customer-category stage at
    edge k, as `_covers` has it, so a stay [since, until) covers the edges since < b_k <= until),
    `churn` (bit m: a move into a churned stage in month m), `back` (bit m: a customer-stage
    entry in month m after the month's first churn) and `w_first` (month + 1 of its first
    customer-stage entry). Customers alike in all four are counted together, and
    `_flows_from_masks` reads the months off them."""
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    n = len(bounds) - 1
    seg = segment_ids(scope, p)
    in_segment = f" AND t.customer_id IN ({seg})" if seg else ""
    # width_bucket: how many edges are <= the time (0 before the first, n + 1 from the last on).
    w = "width_bucket({t}, " + f"{edge_array(p, bounds)})"
    moves = (
        f"SELECT t.customer_id, t.occurred_at AS t, t.to_stage IN {cust} AS is_c, t.to_stage IN {churn} AS is_x, "
        f"{w.format(t='t.occurred_at')} AS w, "
        f"COALESCE({w.format(t='LEAD(t.occurred_at) OVER (PARTITION BY t.customer_id ORDER BY t.occurred_at, t.id)')}, "
        f"{n + 1}) AS w_until FROM stage_transition t WHERE t.workspace_id = {p(scope.workspace_id)} "
        f"AND t.model_key = {p(scope.model.key)} AND t.archived = FALSE{in_segment}"
    )
    # Per customer and month first (each customer's moves come in time order, so in month order
    # too: an incremental sort), for the month's first churn and last customer-stage entry.
    per_month = (
        "SELECT customer_id, w, BIT_OR(CASE WHEN w_until > w THEN (1::bigint << w_until) - (1::bigint << w) END) "
        "FILTER (WHERE is_c) AS cover, MIN(t) FILTER (WHERE is_x) AS x_first, "
        f"MAX(t) FILTER (WHERE is_c) AS c_last FROM ({moves}) mv GROUP BY customer_id, w"
    )
    bit, in_months = "(1::bigint << (w - 1))", f"w BETWEEN 1 AND {n}"
    per = (
        "SELECT COALESCE(BIT_OR(cover), 0) AS cover, "
        f"COALESCE(BIT_OR({bit}) FILTER (WHERE x_first IS NOT NULL AND {in_months}), 0) AS churn, "
        f"COALESCE(BIT_OR({bit}) FILTER (WHERE c_last > x_first AND {in_months}), 0) AS back, "
        f"MIN(w) FILTER (WHERE c_last IS NOT NULL) AS w_first FROM ({per_month}) pm GROUP BY customer_id"
    )
    return f"SELECT cover, churn, back, w_first, COUNT(*) AS n FROM ({per}) per GROUP BY 1, 2, 3, 4"


def _flows_from_masks(rows: Sequence[Any], months: int) -> list[Flow]:
    counts = [[0] * len(FLOW_FIELDS) for _ in range(months)]
    for r in rows:
        cover, churn, back, k, w_first = int(r["cover"]), int(r["churn"]), int(r["back"]), int(r["n"]), r["w_first"]
        joined = 1 << (w_first - 1) if w_first is not None and 1 <= w_first <= months else 0
        for m, c in enumerate(counts):
            at_s, at_e = cover >> m & 1, cover >> (m + 1) & 1
            x, j, b = churn >> m & 1, joined >> m & 1, back >> m & 1
            # in FLOW_FIELDS' order
            for i, v in enumerate((at_s, at_e, j, x, x & j, x & b & (1 - j), at_s & at_e, x & at_s & (1 - at_e))):
                c[i] += v * k
    return [Flow(*c) for c in counts]


@dataclass(frozen=True)
class CohortRow:
    month: datetime
    size: int
    active: list[int]  # customers still in a customer-category stage at the end of each month since


async def cohorts(scope: Scope, months: Sequence[Period]) -> list[CohortRow]:
    """Customers grouped by the month they first entered a customer-category stage; for each later
    month, how many were in a customer-category stage at its end (the current month: now)."""
    if not months:
        return []
    p = new_params()
    ctes = lifecycle_ctes(scope, p, inline=True)
    cust = in_list(p, scope.customer_stages)
    rows = ", ".join(f"({n}, {ts(p, m.start)}, {ts(p, min(m.end, scope.now))})" for n, m in enumerate(months))
    sql = (
        f"WITH {ctes}, months(idx, m_start, m_end) AS (VALUES {rows}), "
        f"{first_customer_cte(cust)}, "
        "cohort AS (SELECT f.customer_id, m.idx AS c_idx FROM first_c f JOIN months m "
        "ON f.t >= m.m_start AND f.t < m.m_end) "
        "SELECT co.c_idx, -1 AS idx, COUNT(*) AS n FROM cohort co GROUP BY co.c_idx "
        "UNION ALL "
        "SELECT co.c_idx, m.idx, COUNT(*) AS n FROM cohort co JOIN months m ON m.idx >= co.c_idx "
        f"JOIN stays s ON s.customer_id = co.customer_id AND s.stage IN {cust} "
        "AND s.since < m.m_end AND (s.until IS NULL OR s.until >= m.m_end) GROUP BY co.c_idx, m.idx"
    )
    sizes: dict[int, int] = {}
    active: dict[tuple[int, int], int] = {}
    for r in await query_rows(sql, p):
        if int(r["idx"]) < 0:
            sizes[int(r["c_idx"])] = int(r["n"])
        else:
            active[(int(r["c_idx"]), int(r["idx"]))] = int(r["n"])
    return [
        CohortRow(months[c].start, size, [active.get((c, m), 0) for m in range(c, len(months))])
        for c, size in sorted(sizes.items())
    ]


@dataclass(frozen=True)
class Lifetime:
    customers: int
    active: int
    mean_days: float | None


async def average_lifetime(scope: Scope) -> Lifetime:
    """Mean days from first entering a customer-category stage to the first churn after it, for
    customers acquired before the period's end; active ones count up to the end (or now)."""
    p = new_params()
    ctes = lifecycle_ctes(scope, p, inline=True)
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    end = ts(p, scope.period.end)
    horizon = ts(p, min(scope.period.end, scope.now))
    upto = f"CASE WHEN churned_at IS NULL OR churned_at >= {end} THEN {horizon} ELSE churned_at END"
    sql = (
        f"WITH {ctes}, "
        f"{first_customer_cte(cust)}, "
        # A join and GROUP BY, not a correlated subquery: `tr` is a CTE without an index.
        "life AS (SELECT f.customer_id, f.t AS since, MIN(x.occurred_at) AS churned_at FROM first_c f "
        f"LEFT JOIN tr x ON x.customer_id = f.customer_id AND x.to_stage IN {churn} AND x.occurred_at > f.t "
        f"WHERE f.t < {ts(p, scope.period.end)} GROUP BY f.customer_id, f.t) "
        f"SELECT COUNT(*) AS n, SUM(CASE WHEN churned_at IS NULL OR churned_at >= {end} THEN 1 ELSE 0 END) AS active, "
        f"AVG({days_between(p, 'since', upto)}) AS mean_days FROM life"
    )
    r = (await query_rows(sql, p))[0]
    return Lifetime(
        int(r["n"] or 0), int(r["active"] or 0), float(r["mean_days"]) if r["mean_days"] is not None else None
    )
