"""Interactions and value (docs/metrics.md): renewals, revenue, NPS, CSAT, acquisition cost, historic
CLV and the monthly series."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from api.db import Params
from api.metrics_retention import Flow, monthly_flows
from api.metrics_scope import (
    MONEY,
    Period,
    Scope,
    Split,
    contiguous,
    edge_array,
    edges,
    first_customer_cte,
    lifecycle_ctes,
    month_days,
    new_params,
    period_index,
    query_rows,
    segment_ids,
    split_by,
)
from api.sqlfn import date_days_between, day, days_between, in_list, number, ts

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
    p = new_params()
    where = _interaction_where(scope, p, ["renewal", "subscription_cancelled"])
    sql = (
        "SELECT SUM(CASE WHEN i.kind = 'renewal' THEN 1 ELSE 0 END) AS r, "
        f"SUM(CASE WHEN i.kind = 'subscription_cancelled' THEN 1 ELSE 0 END) AS c FROM interaction i WHERE {where}"
    )
    r = (await query_rows(sql, p))[0]
    return Renewals(int(r["r"] or 0), int(r["c"] or 0))


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(MONEY)


async def revenue(scope: Scope, period: Period | None = None) -> Decimal:
    """Purchases and renewals minus refunds, in the period."""
    return (await revenue_by(scope, None, period))[None]


async def revenue_by(scope: Scope, split: Split | None, period: Period | None = None) -> dict[str | None, Decimal]:
    """`revenue` of each group of `split` (that has any) in one statement."""
    p = new_params()
    where = _interaction_where(scope, p, ["purchase", "renewal", "refund"], period)
    amount = "i.amount" if p.dialect == "postgres" else "CAST(i.amount AS REAL)"
    join, key, group = split_by(split, p, "i.customer_id")
    sql = (
        f"SELECT {key} AS g, SUM(CASE WHEN i.kind = 'refund' THEN -{amount} ELSE {amount} END) AS total "
        f"FROM interaction i{join} WHERE {where}{group}"
    )
    return {r["g"]: _decimal(r["total"]) for r in await query_rows(sql, p)}


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
    p = new_params()
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
    r = (await query_rows(sql, p))[0]
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
    p = new_params()
    where = _interaction_where(scope, p, ["csat_response"])
    sql = f"SELECT COUNT(*) AS n, SUM(CASE WHEN i.score >= 4 THEN 1 ELSE 0 END) AS ok FROM interaction i WHERE {where}"
    r = (await query_rows(sql, p))[0]
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
    return Acquisition(await acquisition_spend(scope), (await acquired_by(scope, None)).get(None, {}))


async def acquisition_spend(scope: Scope) -> dict[str, Decimal]:
    """The spend of `Acquisition` (the scope's channel's, or all of it)."""
    p = new_params()
    # Spend is recorded by whole days of the workspace's calendar: a period ending during a day
    # includes that day.
    start = scope.local(scope.period.start).date()
    end_at = scope.local(scope.period.end)
    end = end_at.date() + (timedelta(days=1) if end_at.time() != time(0) else timedelta(0))
    # Spend is recorded per channel, not per customer: a segment narrows it only by channel.
    only = scope.spend_channel if scope.spend_channel is not None else scope.segment.acquisition_channel
    channel = f" AND s.channel = {p(only)}" if only else ""
    if only == "":  # a breakdown's group of the customers without a channel: the spend without one
        channel = " AND COALESCE(s.channel, '') = ''"
    if scope.spend_unknown:
        channel = " AND 1 = 0"
    spend_sql = (
        "SELECT COALESCE(s.channel, '') AS channel, "
        f"SUM({number(p, 's.amount')} * {overlap_days(p, start, end)} / "
        f"({date_days_between(p, 's.period_start', 's.period_end')} + 1)) AS amount "
        f"FROM acquisition_spend s WHERE s.workspace_id = {p(scope.workspace_id)} "
        f"AND s.period_end >= {day(p, start)} AND s.period_start < {day(p, end)}{channel} "
        "GROUP BY COALESCE(s.channel, '')"
    )
    return {r["channel"]: _decimal(r["amount"]) for r in await query_rows(spend_sql, p)}


async def acquired_by(scope: Scope, split: Split | None) -> dict[str | None, dict[str, int]]:
    """The customers of `Acquisition` (acquired in the period, per channel), of each group."""
    p = new_params()
    ctes = lifecycle_ctes(scope, p, stays=False)
    join, key, _ = split_by(split, p, "f.customer_id")
    by = f"{key}, " if split else ""
    sql = (
        f"WITH {ctes}, {first_customer_cte(in_list(p, scope.customer_stages))} "
        f"SELECT {key} AS g, COALESCE(c.acquisition_channel, '') AS channel, COUNT(*) AS n FROM first_c f "
        f"JOIN customer c ON c.id = f.customer_id{join} WHERE f.t >= {ts(p, scope.period.start)} "
        f"AND f.t < {ts(p, scope.period.end)} GROUP BY {by}COALESCE(c.acquisition_channel, '')"
    )
    out: dict[str | None, dict[str, int]] = {}
    for r in await query_rows(sql, p):
        out.setdefault(r["g"], {})[r["channel"]] = int(r["n"])
    return out


def overlap_days(p: Params, start: date, end: date) -> str:
    """Days of a spend record [period_start, period_end] inside [start, end)."""
    lo = f"CASE WHEN s.period_start > {day(p, start)} THEN s.period_start ELSE {day(p, start)} END"
    last = end - timedelta(days=1)
    hi = f"CASE WHEN s.period_end < {day(p, last)} THEN s.period_end ELSE {day(p, last)} END"
    return f"({date_days_between(p, lo, hi)} + 1)"


# --- value -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoricClv:
    """Average revenue per customer-month × margin ÷ monthly churn rate, over the period.

    A customer-month is one customer in a customer-category stage for one calendar month (of the
    workspace's time zone); partial months count by their share of the month, so
    `customer_months` is fractional. Revenue and churns (moves into a churned-category stage in
    the period) are divided by it. With no churn the value is unbounded (`value` None,
    `unbounded` True); with no customers it is unknown.
    """

    revenue: Decimal
    customer_months: float
    churned: int
    margin: Decimal

    @property
    def _months(self) -> Decimal:
        return Decimal(str(round(self.customer_months, 9)))

    @property
    def revenue_per_customer_month(self) -> Decimal | None:
        return (self.revenue / self._months).quantize(MONEY) if self.customer_months else None

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
        arpc = self.revenue / self._months
        churn = Decimal(self.churned) / self._months
        return (arpc * self.margin / churn).quantize(MONEY)


@dataclass(frozen=True)
class MonthPoint:
    period: Period
    flow: Flow
    revenue: Decimal
    nps: Nps


async def monthly(scope: Scope) -> list[MonthPoint]:
    """Flow, revenue and NPS of every month of the period: three statements, whatever the months."""
    periods = scope.months()
    flows = await monthly_flows(scope, periods)
    revenues = await _revenue_by_period(scope, periods)
    scores = await _nps_by_period(scope, periods)
    return [MonthPoint(m, f, r, n) for m, f, r, n in zip(periods, flows, revenues, scores, strict=True)]


async def _revenue_by_period(scope: Scope, periods: Sequence[Period]) -> list[Decimal]:
    p = new_params()
    whole = Period(periods[0].start, periods[-1].end)
    idx = period_index(p, "i.occurred_at", periods)
    where = _interaction_where(scope, p, ["purchase", "renewal", "refund"], whole)
    amount = "i.amount" if p.dialect == "postgres" else "CAST(i.amount AS REAL)"
    sql = (
        f"SELECT {idx} AS idx, SUM(CASE WHEN i.kind = 'refund' THEN -{amount} ELSE {amount} END) AS total "
        f"FROM interaction i WHERE {where} GROUP BY 1"
    )
    found = {int(r["idx"]): _decimal(r["total"]) for r in await query_rows(sql, p)}
    return [found.get(n, _decimal(0)) for n in range(len(periods))]


async def _nps_by_period(scope: Scope, periods: Sequence[Period]) -> list[Nps]:
    p = new_params()
    whole = Period(periods[0].start, periods[-1].end)
    idx = period_index(p, "i.occurred_at", periods)
    where = _interaction_where(scope, p, ["nps_response"], whole)
    sql = (
        f"WITH answers AS (SELECT {idx} AS idx, i.customer_id, i.score, i.occurred_at, i.id FROM interaction i "
        f"WHERE {where}), latest AS (SELECT idx, score, ROW_NUMBER() OVER (PARTITION BY idx, customer_id "
        "ORDER BY occurred_at DESC, id DESC) AS rn FROM answers) "
        "SELECT idx, SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS pro, "
        "SUM(CASE WHEN score BETWEEN 7 AND 8 THEN 1 ELSE 0 END) AS pas, "
        "SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS det FROM latest WHERE rn = 1 GROUP BY idx"
    )
    rows = await query_rows(sql, p)
    found = {int(r["idx"]): Nps(int(r["pro"] or 0), int(r["pas"] or 0), int(r["det"] or 0)) for r in rows}
    return [found.get(n, Nps(0, 0, 0)) for n in range(len(periods))]


async def historic_clv(scope: Scope) -> HistoricClv:
    """Revenue, customer-months and churns of the period's months: three statements (the revenue
    is the monthly series' revenue summed, without computing the series)."""
    return HistoricClv(
        revenue=await revenue(scope),
        customer_months=await customer_months(scope, scope.months()),
        churned=await churn_moves(scope),
        margin=scope.margin,
    )


async def customer_months(scope: Scope, periods: Sequence[Period]) -> float:
    """Customer-months over `periods` (calendar months, maybe clipped): for every stay in a
    customer-category stage, the share of each month it covers, summed."""
    return (await customer_months_by(scope, None, periods)).get(None, 0.0)


async def customer_months_by(scope: Scope, split: Split | None, periods: Sequence[Period]) -> dict[str | None, float]:
    """`customer_months` of each group of `split` (that has any) in one statement."""
    if not periods:
        return {}
    p = new_params()
    ctes = lifecycle_ctes(scope, p, inline=True)
    cust = in_list(p, scope.customer_stages)
    join, key, group = split_by(split, p, "s.customer_id")
    if p.dialect == "postgres" and contiguous(periods):
        sql = _customer_months_postgres(scope, p, ctes, cust, periods, (join, key, group))
        return {r["g"]: float(r["cm"] or 0) for r in await query_rows(sql, p)}
    cast = "::float8" if p.dialect == "postgres" else ""
    rows = ", ".join(
        f"({n}, {ts(p, m.start)}, {ts(p, m.end)}, {p(month_days(m.start, scope.tz))}{cast})"
        for n, m in enumerate(periods)
    )
    lo = "CASE WHEN s.since > m.m_start THEN s.since ELSE m.m_start END"
    hi = "CASE WHEN s.until IS NULL OR s.until > m.m_end THEN m.m_end ELSE s.until END"
    sql = (
        f"WITH {ctes}, months(idx, m_start, m_end, m_days) AS (VALUES {rows}) "
        f"SELECT {key} AS g, SUM({days_between(p, lo, hi)} / m.m_days) AS cm FROM months m JOIN stays s "
        f"ON s.stage IN {cust} AND s.since < m.m_end AND (s.until IS NULL OR s.until > m.m_start){join}{group}"
    )
    return {r["g"]: float(r["cm"] or 0) for r in await query_rows(sql, p)}


def _customer_months_postgres(
    scope: Scope, p: Params, ctes: str, cust: str, periods: Sequence[Period], split: tuple[str, str, str]
) -> str:
    """The same sum, one expression per stay instead of a join with the months: F(t), the
    customer-months from the first edge to t of one customer in a customer stage all along, is
    piecewise linear (each second weighs 1 / the seconds of its whole calendar month), so a stay
    [since, until) adds F(until) - F(since)."""
    bounds = edges(periods)
    rates = [1 / (month_days(m.start, scope.tz) * 86400) for m in periods]
    offsets = [0.0]
    for m, rate in zip(periods, rates, strict=True):
        offsets.append(offsets[-1] + (m.end - m.start).total_seconds() * rate)
    e, b0, bn = edge_array(p, bounds), ts(p, bounds[0]), ts(p, bounds[-1])
    r, o, total = f"{p(rates)}::float8[]", f"{p(offsets)}::float8[]", f"{p(offsets[-1])}::float8"
    k = f"width_bucket({{x}}, {e})"
    f = (
        f"CASE WHEN {{x}} < {b0} THEN 0 WHEN {{x}} IS NULL OR {{x}} >= {bn} THEN {total} "
        f"ELSE ({o})[{k}] + date_part('epoch', {{x}} - ({e})[{k}]) * ({r})[{k}] END"
    )
    join, key, group = split
    return (
        f"WITH {ctes} SELECT {key} AS g, SUM(({f.format(x='s.until')}) - ({f.format(x='s.since')})) AS cm "
        f"FROM stays s{join} WHERE s.stage IN {cust} AND s.since < {bn} AND (s.until IS NULL OR s.until > {b0})"
        f"{group}"
    )


async def churn_moves(scope: Scope) -> int:
    """Moves into a churned-category stage in the period."""
    return (await churn_moves_by(scope, None)).get(None, 0)


async def churn_moves_by(scope: Scope, split: Split | None) -> dict[str | None, int]:
    """`churn_moves` of each group of `split` (that has any) in one statement."""
    p = new_params()
    ctes = lifecycle_ctes(scope, p, stays=False)
    join, key, group = split_by(split, p, "tr.customer_id")
    sql = (
        f"WITH {ctes} SELECT {key} AS g, COUNT(*) AS n FROM tr{join} WHERE to_stage IN "
        f"{in_list(p, scope.churned_stages)} AND occurred_at >= {ts(p, scope.period.start)} "
        f"AND occurred_at < {ts(p, scope.period.end)}{group}"
    )
    return {r["g"]: int(r["n"] or 0) for r in await query_rows(sql, p)}
