"""Lifecycle metrics (docs/metrics.md), computed in the database: aggregates and window functions over
stage transitions, assignments and interactions, never every row in Python.

Every query is scoped to one workspace and one model, an optional customer segment, and a period
[start, end). Stage categories come from the model's definition. The metrics live by section of
docs/metrics.md: `metrics_stages` (lifecycle flow), `metrics_retention`, `metrics_value` (interactions
and value), over `metrics_scope`; this module is the one callers import.
"""

from __future__ import annotations

from api.db import zone
from api.metrics_retention import (
    CohortRow,
    Flow,
    Lifetime,
    average_lifetime,
    cohorts,
    flow,
    monthly_flows,
)
from api.metrics_scope import (
    MONEY,
    Period,
    Scope,
    default_period,
    first_customer_cte,
    lifecycle_ctes,
    months,
    new_params,
    periods_cte,
    query_rows,
    segment_ids,
)
from api.metrics_stages import (
    FUNNEL_MODES,
    FunnelStep,
    Spread,
    distribution_at,
    funnel,
    stage_distribution,
    time_in_stage,
    velocity,
)
from api.metrics_value import (
    Acquisition,
    Csat,
    HistoricClv,
    MonthPoint,
    Nps,
    Renewals,
    acquisition,
    csat,
    historic_clv,
    monthly,
    nps,
    overlap_days,
    renewals,
    revenue,
)

__all__ = [
    "FUNNEL_MODES",
    "MONEY",
    "Acquisition",
    "CohortRow",
    "Csat",
    "Flow",
    "FunnelStep",
    "HistoricClv",
    "Lifetime",
    "MonthPoint",
    "Nps",
    "Period",
    "Renewals",
    "Scope",
    "Spread",
    "acquisition",
    "average_lifetime",
    "cohorts",
    "csat",
    "default_period",
    "distribution_at",
    "first_customer_cte",
    "flow",
    "funnel",
    "historic_clv",
    "lifecycle_ctes",
    "monthly",
    "monthly_flows",
    "months",
    "new_params",
    "nps",
    "overlap_days",
    "periods_cte",
    "query_rows",
    "renewals",
    "revenue",
    "segment_ids",
    "stage_distribution",
    "time_in_stage",
    "velocity",
    "zone",
]
