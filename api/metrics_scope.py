"""What every metric is computed over: the period, the scope (workspace, model, segment) and the
SQL they share (the segment, each customer's moves and stays, the months of a period)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from api.customers import CustomerFilter, filter_conditions
from api.db import Params, connection, dialect_of, fetch
from api.sqlfn import false, ts
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


async def query_rows(sql: str, p: Params) -> list[dict[str, Any]]:
    return await fetch(sql, p, connection())


def new_params() -> Params:
    # Metrics render a placeholder once and use it in several places.
    return Params(dialect_of(connection()), reusable=True)


def periods_cte(p: Params, periods: Sequence[Period]) -> str:
    rows = ", ".join(f"({n}, {ts(p, m.start)}, {ts(p, m.end)})" for n, m in enumerate(periods))
    return f"months(idx, m_start, m_end) AS (VALUES {rows})"
