"""The value and satisfaction answers of `Metrics`: historic and predictive CLV, CAC (overall, per
channel, and why it is unknown), NPS and CSAT (definitions: docs/metrics.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from api import metrics as m
from schema.value import FitStatus


@strawberry.type(
    description="Historic CLV = average revenue per customer-month × gross margin ÷ monthly churn rate, over "
    "the period (docs/metrics.md, Value). A customer-month is one customer in a customer-category stage for one "
    "calendar month; partial months count by their share of the month."
)
class HistoricClv:
    value: Decimal | None = strawberry.field(description="Null when unbounded (no churn) or without customers.")
    unbounded: bool = strawberry.field(description="True when nobody churned: the formula has no finite value.")
    revenue_per_customer_month: Decimal | None
    monthly_churn_rate: float | None
    gross_margin: Decimal = strawberry.field(
        description="The workspace's margin (1.0 unless set: revenue, not profit)."
    )
    customer_months: float = strawberry.field(
        description="Customer-months in the period (fractional: partial months count by their share)."
    )


@strawberry.type(description="Summary of the value model's predictions.")
class PredictiveClv:
    status: FitStatus | None = strawberry.field(
        description="The fit's status (DEGENERATE: the figures cannot be taken at face value, see `reasons`); "
        "null before the first fit."
    )
    reasons: list[str] = strawberry.field(description="Why the status is not OK; empty when OK or not fitted.")
    fitted_at: datetime | None = strawberry.field(description="Null before the first fit and when the fit failed.")
    horizon_weeks: int | None
    customers: int = strawberry.field(description="Customers with a prediction.")
    mean_p_alive: float | None
    mean: Decimal | None = strawberry.field(description="Mean predicted CLV per customer.")
    total: Decimal | None = strawberry.field(description="Sum of the predicted CLVs.")


NO_SPEND = "No acquisition spend recorded for the period: the cost is unknown, not free."
NO_CHANNEL_SPEND = "No acquisition spend recorded for this channel in the period: the cost is unknown, not free."
NO_GROUP_SPEND = (
    "Acquisition spend is recorded per channel: a group of another breakdown has no spend of its own, so its "
    "cost is unknown (break down by acquisitionChannel for CAC per channel)."
)
NO_ACQUIRED = "No customers acquired in the period: there is nothing to divide the spend by."


@strawberry.type(description="Acquisition cost of one channel.")
class ChannelCac:
    channel: str | None = strawberry.field(description="Null: spend or customers without a channel.")
    spend: Decimal | None = strawberry.field(
        description="Spend recorded for the channel in the period; null when none was recorded (unknown)."
    )
    acquired: int
    cac: Decimal | None = strawberry.field(
        description="spend ÷ acquired; null, with `reason`, without spend recorded or without customers acquired."
    )
    reason: str | None = strawberry.field(description="Why `cac` is null; null when it has a value.")


@strawberry.type(
    description="CAC = acquisition spend in the period (records prorated by the days they overlap it) ÷ "
    "customers acquired in it (first entered a customer-category stage); per channel too. A segment narrows "
    "the customers, and the spend only when it names an acquisition channel. Without spend recorded CAC "
    "is null: unknown, not free (docs/metrics.md, Value)."
)
class Cac:
    value: Decimal | None = strawberry.field(description="Null, with `reason`, when it cannot be known.")
    spend: Decimal | None = strawberry.field(description="All spend recorded in the period; null when none was.")
    acquired: int
    per_channel: list[ChannelCac]
    reason: str | None = strawberry.field(description="Why `value` is null; null when it has a value.")


def _cac(spend: Decimal | None, acquired: int, no_spend: str) -> tuple[Decimal | None, str | None]:
    """CAC and, when it is unknown, why."""
    if spend is None:
        return None, no_spend
    if not acquired:
        return None, NO_ACQUIRED
    return (spend / acquired).quantize(m.MONEY), None


@strawberry.type(description="NPS = % promoters (9-10) − % detractors (0-6), latest answer per customer in the period.")
class Nps:
    score: float | None
    promoters: int
    passives: int
    detractors: int
    responses: int

    @classmethod
    def of(cls, n: m.Nps) -> Nps:
        return cls(
            score=n.score, promoters=n.promoters, passives=n.passives, detractors=n.detractors, responses=n.responses
        )


@strawberry.type(description="CSAT = % of `csat_response` scores of 4 or 5 (1-5 scale), every answer in the period.")
class Csat:
    score: float | None
    satisfied: int
    responses: int
