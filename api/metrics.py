"""Lifecycle metrics (shared/METRICS.md), computed in the database: aggregates and window
functions over stage transitions, assignments and interactions, never every row in Python.

Every query is scoped to one workspace and one model, an optional customer segment, and a
period [start, end). Stage categories come from the model's definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from api.customers import CustomerFilter, filter_conditions
from api.db import Params, connection, dialect_of, fetch
from api.sqlfn import date_days_between, day, days_between, false, floor_int, in_list, number, ts
from plugins.types import LifecycleModel, StageCategory

MONEY = Decimal("0.0001")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def months(period: Period) -> list[Period]:
    """The calendar months (UTC) the period spans, each clipped to the period."""
    out = []
    cursor = period.start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    while cursor < period.end:
        following = (cursor + timedelta(days=32)).replace(day=1)
        out.append(Period(max(cursor, period.start), min(following, period.end)))
        cursor = following
    return out


def default_period(now: datetime) -> Period:
    """The last 12 months: from the first day of the month eleven months back, to now."""
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(11):
        first = (first - timedelta(days=1)).replace(day=1)
    return Period(first, now)


@dataclass(frozen=True)
class Scope:
    """What every metric is about: a workspace, a model, a period and a segment of customers."""

    workspace_id: int
    model: LifecycleModel
    period: Period
    segment: CustomerFilter
    now: datetime
    margin: Decimal = Decimal(1)

    def stages_in(self, *categories: StageCategory) -> list[str]:
        return [s.key for s in sorted(self.model.stages, key=lambda s: s.order) if s.category in categories]

    @property
    def customer_stages(self) -> list[str]:
        return self.stages_in(StageCategory.CUSTOMER)

    @property
    def churned_stages(self) -> list[str]:
        return self.stages_in(StageCategory.CHURNED)

    @property
    def segmented(self) -> bool:
        return self.segment != CustomerFilter()


def segment_ids(scope: Scope, p: Params) -> str:
    """A subquery of the segment's customer ids ('' when the segment is the whole workspace)."""
    if not scope.segmented:
        return ""
    return f"SELECT c.id FROM customer c WHERE {' AND '.join(filter_conditions(scope.workspace_id, scope.segment, p))}"


def lifecycle_ctes(scope: Scope, p: Params, *, stays: bool = True, inline: bool = False) -> str:
    """`tr`: the model's (unarchived) moves of the segment; `stays` (unless not needed): each stay
    in a stage with its end (NULL while open). Left out, `tr` is inlined by PostgreSQL instead
    of materialised (a CTE used twice is computed once, without indexes)."""
    seg = segment_ids(scope, p)
    in_segment = f" AND t.customer_id IN ({seg})" if seg else ""
    # `inline`: on PostgreSQL, plan `tr` into each use (with the table's indexes and statistics)
    # instead of writing it out once; measured faster for lifetime, cohorts and the monthly flows.
    hint = " NOT MATERIALIZED" if inline and p.dialect == "postgres" else ""
    moves = (
        f"tr AS{hint} (SELECT t.id, t.customer_id, t.to_stage, t.occurred_at FROM stage_transition t "
        f"WHERE t.workspace_id = {p(scope.workspace_id)} AND t.model_key = {p(scope.model.key)} "
        f"AND t.archived = {false(p)}{in_segment})"
    )
    if not stays:
        return moves
    return (
        f"{moves}, stays AS (SELECT customer_id, to_stage AS stage, occurred_at AS since, "
        "LEAD(occurred_at) OVER (PARTITION BY customer_id ORDER BY occurred_at, id) AS until FROM tr)"
    )


def first_customer_cte(cust: str) -> str:
    """`first_c`: when each customer first entered a customer-category stage (its acquisition)."""
    return (
        f"first_c AS (SELECT customer_id, MIN(occurred_at) AS t FROM tr WHERE to_stage IN {cust} GROUP BY customer_id)"
    )


async def _rows(sql: str, p: Params) -> list[dict[str, Any]]:
    return await fetch(sql, p, connection())


def _params() -> Params:
    # Metrics render a placeholder once and use it in several places.
    return Params(dialect_of(connection()), reusable=True)


# --- lifecycle flow ---------------------------------------------------------------------------


async def stage_distribution(scope: Scope) -> dict[str, int]:
    """Customers in each stage now, from the current assignments (an index-only count)."""
    p = _params()
    seg = segment_ids(scope, p)
    in_segment = f" AND a.customer_id IN ({seg})" if seg else ""
    sql = (
        "SELECT a.stage, COUNT(*) AS n FROM stage_assignment a "
        f"WHERE a.workspace_id = {p(scope.workspace_id)} AND a.model_key = {p(scope.model.key)}{in_segment} "
        "GROUP BY a.stage"
    )
    return {r["stage"]: int(r["n"]) for r in await _rows(sql, p)}


async def distribution_at(scope: Scope, moments: Sequence[datetime]) -> list[dict[str, int]]:
    """Customers in each stage at each of `moments` (from the stays), as a period ending there
    leaves them: a move made at the very moment belongs to the period that begins at it."""
    if not moments:
        return []
    p = _params()
    ctes = lifecycle_ctes(scope, p)
    moments_sql = ", ".join(f"({n}, {ts(p, m)})" for n, m in enumerate(moments))
    sql = (
        f"WITH {ctes}, moments(idx, at_time) AS (VALUES {moments_sql}) "
        "SELECT m.idx, s.stage, COUNT(*) AS n FROM moments m JOIN stays s "
        "ON s.since < m.at_time AND (s.until IS NULL OR s.until >= m.at_time) GROUP BY m.idx, s.stage"
    )
    out: list[dict[str, int]] = [{} for _ in moments]
    for r in await _rows(sql, p):
        out[int(r["idx"])][r["stage"]] = int(r["n"])
    return out


@dataclass(frozen=True)
class FunnelStep:
    stage: str
    count: int


async def funnel(scope: Scope, strict: bool) -> list[FunnelStep]:
    """How many customers entered each prospect/customer stage in the period. STRICT counts a
    customer at a step only if it entered every earlier step, in order, in the period."""
    steps = scope.stages_in(StageCategory.PROSPECT, StageCategory.CUSTOMER)
    if not steps:
        return []
    p = _params()
    ctes = lifecycle_ctes(scope, p, stays=False)
    firsts = ", ".join(f"MIN(CASE WHEN to_stage = {p(s)} THEN occurred_at END) AS t{n}" for n, s in enumerate(steps))
    start, end = ts(p, scope.period.start), ts(p, scope.period.end)
    counts = []
    for k in range(len(steps)):
        if strict:
            conds = [f"t{j} IS NOT NULL" for j in range(k + 1)] + [f"t{j} >= t{j - 1}" for j in range(1, k + 1)]
        else:
            conds = [f"t{k} IS NOT NULL"]
        counts.append(f"SUM(CASE WHEN {' AND '.join(conds)} THEN 1 ELSE 0 END) AS c{k}")
    sql = (
        f"WITH {ctes}, firsts AS (SELECT customer_id, {firsts} FROM tr "
        f"WHERE occurred_at >= {start} AND occurred_at < {end} GROUP BY customer_id) "
        f"SELECT {', '.join(counts)} FROM firsts"
    )
    row = (await _rows(sql, p))[0]
    return [FunnelStep(s, int(row[f"c{k}"] or 0)) for k, s in enumerate(steps)]


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
    p = _params()
    ctes = lifecycle_ctes(scope, p)
    now = ts(p, scope.now)
    days = days_between(p, "since", f"COALESCE(until, {now})")
    sql = (
        f"WITH {ctes}, d AS (SELECT stage, {days} AS days, CASE WHEN until IS NULL THEN 1 ELSE 0 END AS open_n "
        f"FROM stays WHERE since >= {ts(p, scope.period.start)} AND since < {ts(p, scope.period.end)}), "
        "ranked AS (SELECT stage, days, open_n, ROW_NUMBER() OVER (PARTITION BY stage ORDER BY days) AS rn, "
        "COUNT(*) OVER (PARTITION BY stage) AS n FROM d) " + _spread_select(p, "stage")
    )
    return {r["stage"]: _spread(r) for r in await _rows(sql, p)}


async def velocity(scope: Scope) -> Spread:
    """Days from the first stage to the first customer-category stage, for customers who reached
    one in the period."""
    p = _params()
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
    return _spread((await _rows(sql, p))[0])


# --- retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """Counts behind churn and retention for one period (ChartMogul's definitions)."""

    at_start: int
    at_end: int
    acquired: int
    churned: int
    churned_joined: int
    churned_returned: int

    @property
    def churn_count(self) -> int:
        return self.churned - self.churned_joined - self.churned_returned

    @property
    def churn_rate(self) -> float | None:
        return self.churn_count / self.at_start if self.at_start else None

    @property
    def retention_rate(self) -> float | None:
        return (self.at_end - self.acquired) / self.at_start if self.at_start else None


def _flow_postgres(scope: Scope, p: Params, period: Period) -> str:
    """The same counts in one pass over each customer's moves: the stage at a moment is that of
    the last move before it (about half the time of the stays-based statement at 100k customers)."""
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    s, e = ts(p, period.start), ts(p, period.end)
    seg = segment_ids(scope, p)
    in_segment = f" AND t.customer_id IN ({seg})" if seg else ""
    joined = f"(first_c >= {s} AND first_c < {e})"
    last_stage = "(ARRAY_AGG(t.to_stage ORDER BY t.occurred_at DESC, t.id DESC) FILTER (WHERE t.occurred_at < {t}))[1]"
    per = (
        f"SELECT MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {cust}) AS first_c, "
        f"MIN(t.occurred_at) FILTER (WHERE t.to_stage IN {churn} AND t.occurred_at >= {s} "
        f"AND t.occurred_at < {e}) AS churn_at, "
        f"MAX(t.occurred_at) FILTER (WHERE t.to_stage IN {cust} AND t.occurred_at < {e}) AS last_c, "
        f"{last_stage.format(t=s)} AS stage_s, {last_stage.format(t=e)} AS stage_e "
        f"FROM stage_transition t WHERE t.workspace_id = {p(scope.workspace_id)} "
        f"AND t.model_key = {p(scope.model.key)} AND t.archived = FALSE{in_segment} GROUP BY t.customer_id"
    )
    return (
        f"SELECT COUNT(*) FILTER (WHERE stage_s IN {cust}) AS at_start, "
        f"COUNT(*) FILTER (WHERE stage_e IN {cust}) AS at_end, "
        f"COUNT(*) FILTER (WHERE {joined}) AS acquired, COUNT(churn_at) AS churned, "
        f"COUNT(churn_at) FILTER (WHERE {joined}) AS churned_joined, "
        f"COUNT(churn_at) FILTER (WHERE last_c > churn_at AND NOT COALESCE({joined}, FALSE)) "
        f"AS churned_returned FROM ({per}) per"
    )


async def flow(scope: Scope, period: Period | None = None) -> Flow:
    period = period or scope.period
    p = _params()
    if p.dialect == "postgres":
        r = (await _rows(_flow_postgres(scope, p, period), p))[0]
        fields = ("at_start", "at_end", "acquired", "churned", "churned_joined", "churned_returned")
        return Flow(*(int(r[k] or 0) for k in fields))
    ctes = lifecycle_ctes(scope, p)
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    s, e = ts(p, period.start), ts(p, period.end)
    # In a customer stage just before `t`: a move made at `t` is in the period [t, ...), as the
    # churned and joined counts (and the cohorts) take it; a customer who joins at the start is
    # acquired in the period, not also there at its start.
    at = "s.stage IN {cs} AND s.since < {t} AND (s.until IS NULL OR s.until >= {t})"
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
        "AND w.t > c.t) "
        "SELECT "
        f"(SELECT COUNT(*) FROM stays s WHERE {at.format(cs=cust, t=s)}) AS at_start, "
        f"(SELECT COUNT(*) FROM stays s WHERE {at.format(cs=cust, t=e)}) AS at_end, "
        "(SELECT COUNT(*) FROM joined) AS acquired, "
        "(SELECT COUNT(*) FROM churned) AS churned, "
        "(SELECT COUNT(*) FROM churned WHERE customer_id IN (SELECT customer_id FROM joined)) AS churned_joined, "
        "(SELECT COUNT(*) FROM churned WHERE customer_id IN (SELECT customer_id FROM back) "
        "AND customer_id NOT IN (SELECT customer_id FROM joined)) AS churned_returned"
    )
    r = (await _rows(sql, p))[0]
    return Flow(
        *(int(r[k] or 0) for k in ("at_start", "at_end", "acquired", "churned", "churned_joined", "churned_returned"))
    )


async def monthly_flows(scope: Scope, periods: Sequence[Period]) -> list[Flow]:
    """`flow` for each of `periods` in one statement (the same definitions, bucketed by period)."""
    if not periods:
        return []
    p = _params()
    ctes = lifecycle_ctes(scope, p, inline=True)
    cust, churn = in_list(p, scope.customer_stages), in_list(p, scope.churned_stages)
    inside = "x.t >= m.m_start AND x.t < m.m_end"
    sql = (
        f"WITH {ctes}, {_periods_cte(p, periods)}, "
        f"cs AS (SELECT customer_id, since, until FROM stays WHERE stage IN {cust}), "
        f"{first_customer_cte(cust)}, "
        f"joined AS (SELECT m.idx, x.customer_id FROM first_c x JOIN months m ON {inside}), "
        f"churn AS (SELECT customer_id, occurred_at AS t FROM tr WHERE to_stage IN {churn}), "
        f"churned AS (SELECT m.idx, x.customer_id, MIN(x.t) AS t FROM churn x JOIN months m ON {inside} "
        "GROUP BY m.idx, x.customer_id), "
        f"entries AS (SELECT customer_id, occurred_at AS t FROM tr WHERE to_stage IN {cust}), "
        "back AS (SELECT DISTINCT c.idx, c.customer_id FROM churned c JOIN months m ON m.idx = c.idx "
        "JOIN entries w ON w.customer_id = c.customer_id AND w.t > c.t AND w.t < m.m_end "
        "WHERE NOT EXISTS (SELECT 1 FROM joined j WHERE j.idx = c.idx AND j.customer_id = c.customer_id)) "
        "SELECT 'at_start' AS what, m.idx, COUNT(*) AS n FROM months m JOIN cs s "
        "ON s.since < m.m_start AND (s.until IS NULL OR s.until >= m.m_start) GROUP BY m.idx "
        "UNION ALL SELECT 'at_end', m.idx, COUNT(*) FROM months m JOIN cs s "
        "ON s.since < m.m_end AND (s.until IS NULL OR s.until >= m.m_end) GROUP BY m.idx "
        "UNION ALL SELECT 'acquired', idx, COUNT(*) FROM joined GROUP BY idx "
        "UNION ALL SELECT 'churned', idx, COUNT(*) FROM churned GROUP BY idx "
        "UNION ALL SELECT 'churned_joined', c.idx, COUNT(*) FROM churned c JOIN joined j "
        "ON j.idx = c.idx AND j.customer_id = c.customer_id GROUP BY c.idx "
        "UNION ALL SELECT 'churned_returned', idx, COUNT(*) FROM back GROUP BY idx"
    )
    counts: dict[tuple[str, int], int] = {(r["what"], int(r["idx"])): int(r["n"]) for r in await _rows(sql, p)}
    fields = ("at_start", "at_end", "acquired", "churned", "churned_joined", "churned_returned")
    return [Flow(*(counts.get((f, n), 0) for f in fields)) for n in range(len(periods))]


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
    p = _params()
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
    for r in await _rows(sql, p):
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
    p = _params()
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
    r = (await _rows(sql, p))[0]
    return Lifetime(
        int(r["n"] or 0), int(r["active"] or 0), float(r["mean_days"]) if r["mean_days"] is not None else None
    )


# --- interactions: renewals, revenue, satisfaction -------------------------------------------------


def _interaction_where(scope: Scope, p: Params, kinds: Sequence[str], period: Period | None = None) -> str:
    period = period or scope.period
    seg = segment_ids(scope, p)
    conds = [
        f"i.workspace_id = {p(scope.workspace_id)}",
        f"i.kind IN {in_list(p, list(kinds))}",
        f"i.occurred_at >= {ts(p, period.start)}",
        f"i.occurred_at < {ts(p, period.end)}",
    ]
    if seg:
        conds.append(f"i.customer_id IN ({seg})")
    return " AND ".join(conds)


@dataclass(frozen=True)
class Renewals:
    renewals: int
    cancellations: int

    @property
    def rate(self) -> float | None:
        total = self.renewals + self.cancellations
        return self.renewals / total if total else None


async def renewals(scope: Scope) -> Renewals:
    p = _params()
    where = _interaction_where(scope, p, ["renewal", "subscription_cancelled"])
    sql = (
        "SELECT SUM(CASE WHEN i.kind = 'renewal' THEN 1 ELSE 0 END) AS r, "
        f"SUM(CASE WHEN i.kind = 'subscription_cancelled' THEN 1 ELSE 0 END) AS c FROM interaction i WHERE {where}"
    )
    r = (await _rows(sql, p))[0]
    return Renewals(int(r["r"] or 0), int(r["c"] or 0))


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(MONEY)


async def revenue(scope: Scope, period: Period | None = None) -> Decimal:
    """Purchases and renewals minus refunds, in the period."""
    p = _params()
    where = _interaction_where(scope, p, ["purchase", "renewal", "refund"], period)
    amount = "i.amount" if p.dialect == "postgres" else "CAST(i.amount AS REAL)"
    sql = (
        f"SELECT SUM(CASE WHEN i.kind = 'refund' THEN -{amount} ELSE {amount} END) AS total "
        f"FROM interaction i WHERE {where}"
    )
    return _decimal((await _rows(sql, p))[0]["total"])


@dataclass(frozen=True)
class Nps:
    promoters: int
    passives: int
    detractors: int

    @property
    def responses(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        n = self.responses
        return 100.0 * (self.promoters - self.detractors) / n if n else None


async def nps(scope: Scope, period: Period | None = None) -> Nps:
    """The latest NPS answer of each customer in the period: promoters 9-10, detractors 0-6."""
    p = _params()
    where = _interaction_where(scope, p, ["nps_response"], period)
    if p.dialect == "postgres":  # the same latest answer per customer, without a window
        latest = (
            f"SELECT DISTINCT ON (i.customer_id) i.score, 1 AS rn FROM interaction i WHERE {where} "
            "ORDER BY i.customer_id, i.occurred_at DESC, i.id DESC"
        )
    else:
        latest = (
            "SELECT i.score, ROW_NUMBER() OVER (PARTITION BY i.customer_id "
            f"ORDER BY i.occurred_at DESC, i.id DESC) AS rn FROM interaction i WHERE {where}"
        )
    sql = (
        f"WITH latest AS ({latest}) "
        "SELECT SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS pro, "
        "SUM(CASE WHEN score BETWEEN 7 AND 8 THEN 1 ELSE 0 END) AS pas, "
        "SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS det FROM latest WHERE rn = 1"
    )
    r = (await _rows(sql, p))[0]
    return Nps(int(r["pro"] or 0), int(r["pas"] or 0), int(r["det"] or 0))


@dataclass(frozen=True)
class Csat:
    responses: int
    satisfied: int

    @property
    def score(self) -> float | None:
        return 100.0 * self.satisfied / self.responses if self.responses else None


async def csat(scope: Scope) -> Csat:
    """Every CSAT answer in the period; satisfied = 4 or 5."""
    p = _params()
    where = _interaction_where(scope, p, ["csat_response"])
    sql = f"SELECT COUNT(*) AS n, SUM(CASE WHEN i.score >= 4 THEN 1 ELSE 0 END) AS ok FROM interaction i WHERE {where}"
    r = (await _rows(sql, p))[0]
    return Csat(int(r["n"] or 0), int(r["ok"] or 0))


# --- acquisition cost ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Acquisition:
    """Spend in the period (spend records prorated by the days they overlap it) and customers
    acquired in it, per channel ('' = spend or customers without a channel)."""

    spend: dict[str, Decimal]
    acquired: dict[str, int]

    @property
    def total_spend(self) -> Decimal:
        return sum(self.spend.values(), Decimal(0))

    @property
    def total_acquired(self) -> int:
        return sum(self.acquired.values())


async def acquisition(scope: Scope) -> Acquisition:
    p = _params()
    # Spend is recorded by whole days: a period ending during a day includes that day.
    start = scope.period.start.date()
    end_at = scope.period.end
    end = end_at.date() + (timedelta(days=1) if end_at.time() != time(0) else timedelta(0))
    # Spend is recorded per channel, not per customer: a segment narrows it only by channel.
    only = scope.segment.acquisition_channel
    channel = f" AND s.channel = {p(only)}" if only else ""
    spend_sql = (
        "SELECT COALESCE(s.channel, '') AS channel, "
        f"SUM({number(p, 's.amount')} * {overlap_days(p, start, end)} / "
        f"({date_days_between(p, 's.period_start', 's.period_end')} + 1)) AS amount "
        f"FROM acquisition_spend s WHERE s.workspace_id = {p(scope.workspace_id)} "
        f"AND s.period_end >= {day(p, start)} AND s.period_start < {day(p, end)}{channel} "
        "GROUP BY COALESCE(s.channel, '')"
    )
    spend = {r["channel"]: _decimal(r["amount"]) for r in await _rows(spend_sql, p)}
    p = _params()
    ctes = lifecycle_ctes(scope, p, stays=False)
    acquired_sql = (
        f"WITH {ctes}, {first_customer_cte(in_list(p, scope.customer_stages))} "
        "SELECT COALESCE(c.acquisition_channel, '') AS channel, COUNT(*) AS n FROM first_c f "
        f"JOIN customer c ON c.id = f.customer_id WHERE f.t >= {ts(p, scope.period.start)} "
        f"AND f.t < {ts(p, scope.period.end)} GROUP BY COALESCE(c.acquisition_channel, '')"
    )
    acquired = {r["channel"]: int(r["n"]) for r in await _rows(acquired_sql, p)}
    return Acquisition(spend, acquired)


def overlap_days(p: Params, start: date, end: date) -> str:
    """Days of a spend record [period_start, period_end] inside [start, end)."""
    lo = f"CASE WHEN s.period_start > {day(p, start)} THEN s.period_start ELSE {day(p, start)} END"
    last = end - timedelta(days=1)
    hi = f"CASE WHEN s.period_end < {day(p, last)} THEN s.period_end ELSE {day(p, last)} END"
    return f"({date_days_between(p, lo, hi)} + 1)"


# --- value -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoricClv:
    """Average revenue per customer-month × margin ÷ monthly churn rate, over the period's months.

    `customer_months` is the sum over months of customers in a customer-category stage at each
    month's start; revenue and churned customers are divided by it. With no churn the value is
    unbounded (`value` None, `unbounded` True); with no customers it is unknown.
    """

    revenue: Decimal
    customer_months: int
    churned: int
    margin: Decimal

    @property
    def revenue_per_customer_month(self) -> Decimal | None:
        return (self.revenue / self.customer_months).quantize(MONEY) if self.customer_months else None

    @property
    def monthly_churn_rate(self) -> float | None:
        return self.churned / self.customer_months if self.customer_months else None

    @property
    def unbounded(self) -> bool:
        return self.customer_months > 0 and self.churned == 0

    @property
    def value(self) -> Decimal | None:
        if not self.customer_months or not self.churned:
            return None
        # In exact decimals: the rounded figure per customer-month and the float churn rate would
        # put the quotient off by some ten-thousandths.
        arpc = self.revenue / self.customer_months
        churn = Decimal(self.churned) / self.customer_months
        return (arpc * self.margin / churn).quantize(MONEY)


@dataclass(frozen=True)
class MonthPoint:
    period: Period
    flow: Flow
    revenue: Decimal
    nps: Nps


async def monthly(scope: Scope) -> list[MonthPoint]:
    """Flow, revenue and NPS of every month of the period: three statements, whatever the months."""
    periods = months(scope.period)
    flows = await monthly_flows(scope, periods)
    revenues = await _revenue_by_period(scope, periods)
    scores = await _nps_by_period(scope, periods)
    return [MonthPoint(m, f, r, n) for m, f, r, n in zip(periods, flows, revenues, scores, strict=True)]


def _periods_cte(p: Params, periods: Sequence[Period]) -> str:
    rows = ", ".join(f"({n}, {ts(p, m.start)}, {ts(p, m.end)})" for n, m in enumerate(periods))
    return f"months(idx, m_start, m_end) AS (VALUES {rows})"


async def _revenue_by_period(scope: Scope, periods: Sequence[Period]) -> list[Decimal]:
    p = _params()
    whole = Period(periods[0].start, periods[-1].end)
    where = _interaction_where(scope, p, ["purchase", "renewal", "refund"], whole)
    amount = "i.amount" if p.dialect == "postgres" else "CAST(i.amount AS REAL)"
    sql = (
        f"WITH {_periods_cte(p, periods)} SELECT m.idx, "
        f"SUM(CASE WHEN i.kind = 'refund' THEN -{amount} ELSE {amount} END) AS total FROM interaction i "
        f"JOIN months m ON i.occurred_at >= m.m_start AND i.occurred_at < m.m_end WHERE {where} GROUP BY m.idx"
    )
    found = {int(r["idx"]): _decimal(r["total"]) for r in await _rows(sql, p)}
    return [found.get(n, _decimal(0)) for n in range(len(periods))]


async def _nps_by_period(scope: Scope, periods: Sequence[Period]) -> list[Nps]:
    p = _params()
    whole = Period(periods[0].start, periods[-1].end)
    where = _interaction_where(scope, p, ["nps_response"], whole)
    sql = (
        f"WITH {_periods_cte(p, periods)}, latest AS (SELECT m.idx, i.score, ROW_NUMBER() OVER ("
        "PARTITION BY m.idx, i.customer_id ORDER BY i.occurred_at DESC, i.id DESC) AS rn FROM interaction i "
        f"JOIN months m ON i.occurred_at >= m.m_start AND i.occurred_at < m.m_end WHERE {where}) "
        "SELECT idx, SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS pro, "
        "SUM(CASE WHEN score BETWEEN 7 AND 8 THEN 1 ELSE 0 END) AS pas, "
        "SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS det FROM latest WHERE rn = 1 GROUP BY idx"
    )
    rows = await _rows(sql, p)
    found = {int(r["idx"]): Nps(int(r["pro"] or 0), int(r["pas"] or 0), int(r["det"] or 0)) for r in rows}
    return [found.get(n, Nps(0, 0, 0)) for n in range(len(periods))]


def historic_clv(scope: Scope, total_revenue: Decimal, points: Sequence[MonthPoint]) -> HistoricClv:
    return HistoricClv(
        revenue=total_revenue,
        customer_months=sum(pt.flow.at_start for pt in points),
        churned=sum(pt.flow.churn_count for pt in points),
        margin=scope.margin,
    )
