"""What every metric is computed over: the period, the scope (workspace, model, segment) and the
SQL they share (the segment, each customer's moves and stays, the months of a period)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from itertools import pairwise
from typing import Any

from api.customer_filters import CustomerFilter, filter_conditions
from api.db import Params, connection, dialect_of, read, utc
from api.sqlfn import false, ts
from plugins.types import LifecycleModel, StageCategory

MONEY = Decimal("0.0001")


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


def month_start(year: int, month: int, tz: tzinfo) -> datetime:
    """Midnight of the first day of a month in `tz`, as a UTC instant (offsets and DST included)."""
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def _next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_days(moment: datetime, tz: tzinfo) -> float:
    """The length in days of the calendar month (of `tz`) that holds `moment`: 30 or 31, 28 or
    29, and an hour more or less in a month with a DST change."""
    local = moment.astimezone(tz)
    start = month_start(local.year, local.month, tz)
    return (month_start(*_next_month(local.year, local.month), tz) - start).total_seconds() / 86400


def months(period: Period, tz: tzinfo = UTC) -> list[Period]:
    """The calendar months of the time zone `tz` that the period spans, each clipped to the period:
    a purchase at 23:30 on 31 March in São Paulo (02:30 UTC on 1 April) is in March there."""
    local = period.start.astimezone(tz)
    year, month = local.year, local.month
    cursor = month_start(year, month, tz)
    out = []
    while cursor < period.end:
        year, month = _next_month(year, month)
        following = month_start(year, month, tz)
        out.append(Period(max(cursor, period.start), min(following, period.end)))
        cursor = following
    return out


def default_period(now: datetime, tz: tzinfo = UTC) -> Period:
    """The last 12 months in `tz`: from the first day of the month eleven months back (local
    midnight), to now."""
    local = now.astimezone(tz)
    year, month = local.year, local.month
    for _ in range(11):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return Period(month_start(year, month, tz), now)


@dataclass(frozen=True)
class Scope:
    """What every metric is about: a workspace, a model, a period and a segment of customers."""

    workspace_id: int
    model: LifecycleModel
    period: Period
    segment: CustomerFilter
    now: datetime
    margin: Decimal = Decimal(1)
    # The workspace's time zone: its months and days are the ones metrics group by.
    tz: tzinfo = UTC
    # Whose acquisition spend CAC divides: by default all of it, or the segment's channel's; a
    # breakdown's group sets it (a channel, '' for spend without one), or says none is known.
    spend_channel: str | None = None
    spend_unknown: bool = False

    def months(self) -> list[Period]:
        return months(self.period, self.tz)

    def local(self, moment: datetime) -> datetime:
        """An instant as the workspace's clock shows it (with its offset)."""
        return moment.astimezone(self.tz)

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


# A breakdown's customers: SQL (given a statement's parameters) of the rows `(cid, g)`, each customer
# of the breakdown's segment with its group's key (a customer in several groups, as by its tags,
# once per group). Metrics computed "by" a split answer every group in one statement.
Split = Callable[[Params], str]


def split_by(split: Split | None, p: Params, customer_id: str) -> tuple[str, str, str]:
    """(join, key, GROUP BY) that split a statement's rows by the group of their customer
    (`customer_id`, a column); without a split, the statement keeps its single row, key NULL."""
    if split is None:
        return "", "NULL", ""
    return f" JOIN ({split(p)}) grp ON grp.cid = {customer_id}", "grp.g", " GROUP BY grp.g"


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


async def query_rows(sql: str, p: Params) -> Sequence[Any]:
    """A metric's rows, read by column name, from the driver (see `api.db.read`)."""
    return await read(sql, p)


def new_params() -> Params:
    # Metrics render a placeholder once and use it in several places.
    return Params(dialect_of(connection()), reusable=True)


def periods_cte(p: Params, periods: Sequence[Period]) -> str:
    rows = ", ".join(f"({n}, {ts(p, m.start)}, {ts(p, m.end)})" for n, m in enumerate(periods))
    return f"months(idx, m_start, m_end) AS (VALUES {rows})"


def contiguous(periods: Sequence[Period]) -> bool:
    """Each period starts where the one before it ends (as the months of a period do)."""
    return all(before.end == after.start for before, after in pairwise(periods))


def edges(periods: Sequence[Period]) -> list[datetime]:
    """The n + 1 edges of n contiguous periods."""
    if not periods or not contiguous(periods):
        raise ValueError("edges need one or more contiguous periods")
    return [periods[0].start, *(pm.end for pm in periods)]


def edge_array(p: Params, bounds: Sequence[datetime]) -> str:
    """PostgreSQL: the edges as one timestamptz[] parameter, for `width_bucket(t, edges)` (how
    many edges are <= t) and subscripts (`edges[k]`, 1-based)."""
    return f"{p([utc(b) for b in bounds])}::timestamptz[]"


def period_index(p: Params, column: str, periods: Sequence[Period]) -> str:
    """SQL for the 0-based index of the period (of contiguous `periods`) that the time `column`
    falls in: -1 before the first, n from the end of the last on. One bucketing per row instead of
    a join with a row per period (on PostgreSQL, a binary search with `width_bucket`)."""
    bounds = edges(periods)
    if p.dialect == "postgres":
        return f"(width_bucket({column}, {edge_array(p, bounds)}) - 1)"
    whens = " ".join(f"WHEN {column} < {ts(p, b)} THEN {k - 1}" for k, b in enumerate(bounds))
    return f"(CASE {whens} ELSE {len(bounds) - 1} END)"
