"""The `metrics` query: every number says in its description which definition it uses
(docs/metrics.md). Each field runs its own aggregate only when asked for."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from api import metrics as m
from api import metrics_groups
from api import value as value_service
from api.metrics_batch import GroupBatch
from api.metrics_groups import GroupBy
from schema.context import Info
from schema.insights import HealthDistribution, health_distribution
from schema.lifecycle import LifecycleModel, Stage, StageCount, model_type, stage_counts, stage_type
from schema.metrics_attribution import Attribution, TouchpointBy, attribution
from schema.metrics_groups import MetricsGroups, groups_of
from schema.metrics_value import (
    NO_CHANNEL_SPEND,
    NO_GROUP_SPEND,
    NO_SPEND,
    Cac,
    ChannelCac,
    Csat,
    HistoricClv,
    Nps,
    PredictiveClv,
    _cac,
)
from schema.sql.mapping import ModelOf, NotCompiled, StageCounts, TypeSql
from schema.value import FitStatus


@strawberry.enum(
    description="How the funnel counts a customer (docs/metrics.md, Funnel). CUMULATIVE (the default, "
    "as HubSpot's cumulative funnel): at every step up to the furthest one it entered in the period, so a "
    "customer who bought straight from `lead` counts at `mql`, `sql` and `opportunity` too. STRICT: only "
    "at steps it entered in order, having entered every earlier one in the period. ANY: at every stage it "
    "entered, whatever the order."
)
class FunnelMode(Enum):
    CUMULATIVE = "CUMULATIVE"
    STRICT = "STRICT"
    ANY = "ANY"


@strawberry.input(
    description="A period [start, end). Defaults: the last 12 months (from the first day of the month "
    "eleven months back, at midnight in the workspace's time zone) up to now. A time without an offset "
    "is read in the workspace's time zone."
)
class PeriodInput:
    start: datetime | None = None
    end: datetime | None = None


@strawberry.type(description="The period the metrics cover, [start, end), in the workspace's time zone.")
class PeriodInfo:
    start: datetime
    end: datetime


@strawberry.type(description="One step of the funnel.")
class FunnelStep:
    stage: Stage
    count: int = strawberry.field(description="Customers counted at this step in the period, by the funnel's mode.")
    conversion_from_previous: float | None = strawberry.field(
        description="Of the customers counted at the previous step, the share also counted at this one, in "
        "[0, 1]; null at the first step and when the previous step counted nobody."
    )
    cumulative_conversion: float | None = strawberry.field(
        description="Of the customers counted at the first step, the share also counted at this one, in "
        "[0, 1]; null when the first step counted nobody."
    )


@strawberry.type(description="A distribution of durations in days.")
class DaysSpread:
    count: int = strawberry.field(description="How many durations were measured.")
    open: int = strawberry.field(description="Of those, stays still open, counted up to now.")
    mean_days: float | None
    median_days: float | None = strawberry.field(description="Linear interpolation between the two middle values.")
    p90_days: float | None = strawberry.field(description="90th percentile, linear interpolation.")

    @classmethod
    def of(cls, s: m.Spread) -> DaysSpread:
        return cls(count=s.count, open=s.open, mean_days=s.mean, median_days=s.median, p90_days=s.p90)


@strawberry.type(description="Time spent in one stage by the stays that began in the period.")
class StageTime:
    stage: Stage
    days: DaysSpread


@strawberry.type(
    description="Customer churn rate (ChartMogul's: docs/metrics.md, Retention): of the customers in a "
    "customer-category stage at the period's start, the share who moved into a churned-category stage in "
    "it and were not back in a customer stage at its end. In [0, 1]."
)
class ChurnRate:
    rate: float | None = strawberry.field(
        description="counted ÷ customersAtStart; null without customers at the start."
    )
    customers_at_start: int
    churned: int = strawberry.field(description="Every customer who moved into a churned-category stage in the period.")
    churned_joined_in_period: int = strawberry.field(description="Of those, acquired in the period (not counted).")
    churned_and_returned: int = strawberry.field(
        description="Of those, back in a customer stage by the period's end (not counted)."
    )
    counted: int = strawberry.field(
        description="The numerator: customers at the start who churned in the period and were not back by its end."
    )


@strawberry.type(
    description="Retention rate (docs/metrics.md, Retention): of the customers in a customer-category stage "
    "at the period's start, the share in one at its end (churned and back within it counts as retained). "
    "In [0, 1]; customers acquired in the period are outside it."
)
class RetentionRate:
    rate: float | None = strawberry.field(
        description="retained ÷ customersAtStart; null without customers at the start."
    )
    customers_at_start: int
    customers_at_end: int = strawberry.field(description="All customers in a customer stage at the end, new ones too.")
    acquired: int = strawberry.field(description="Customers who first entered a customer stage in the period.")
    retained: int = strawberry.field(
        description="Customers at the start who are still (or again) customers at the end."
    )


@strawberry.type(description="Customers grouped by the month they first entered a customer-category stage.")
class Cohort:
    month: datetime = strawberry.field(
        description="The cohort's month: its first instant in the period, in the workspace's time zone."
    )
    size: int
    active: list[int] = strawberry.field(
        description="Per month since (the cohort's own first), customers in a "
        "customer-category stage at that month's end (the current month: now)."
    )
    retention: list[float] = strawberry.field(description="active ÷ size, per month since.")


@strawberry.type(
    description="Mean days from first entering a customer-category stage to the first churn after it; "
    "customers still active count up to the period's end (or now)."
)
class Lifetime:
    mean_days: float | None
    customers: int
    still_active: int = strawberry.field(description="Customers whose lifetime is still running.")


@strawberry.type(
    description="Renewal rate = renewals ÷ (renewals + cancellations) among `renewal` and "
    "`subscription_cancelled` interactions in the period."
)
class RenewalRate:
    rate: float | None
    renewals: int
    cancellations: int


@strawberry.type(description="One month of the period, a calendar month of the workspace's time zone.")
class MonthMetrics:
    month: datetime = strawberry.field(
        description="The month's first instant in the period, in the workspace's time zone (with its offset)."
    )
    churn_rate: float | None = strawberry.field(description="Churn rate over this month (as `churn`), in [0, 1].")
    retention_rate: float | None = strawberry.field(
        description="Retention rate over this month (as `retention`), in [0, 1]."
    )
    revenue: Decimal = strawberry.field(description="Purchases and renewals minus refunds in this month.")
    nps: float | None = strawberry.field(description="NPS of this month's answers (latest per customer).")
    stage_distribution: list[StageCount] = strawberry.field(description="Customers per stage at the month's end.")


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 6) if b else None


@strawberry.type(description="How customers flow, churn and what they are worth, for one model, period and segment.")
class Metrics:
    scope: strawberry.Private[m.Scope]
    cache: strawberry.Private[dict[str, object]]
    by: strawberry.Private[GroupBy | None] = None
    # A breakdown's group: its key and the batch that answers every group's metrics at once.
    batch: strawberry.Private[GroupBatch | None] = None
    key: strawberry.Private[str | None] = None

    @strawberry.field(
        description="With `metrics(by: ...)`: the same metrics for each group of the customers (null without `by`)."
    )
    async def groups(self) -> MetricsGroups | None:
        if self.by is None:
            return None
        return groups_of(await metrics_groups.groups(self.scope, self.by))

    @strawberry.field(description="The model the stage metrics are about.")
    def model(self, info: Info) -> LifecycleModel:
        found = model_type(info.context.registry, self.scope.model.key)
        assert found is not None
        return found

    @strawberry.field(description="The period covered.")
    def period(self) -> PeriodInfo:
        return PeriodInfo(start=self.scope.local(self.scope.period.start), end=self.scope.local(self.scope.period.end))

    @strawberry.field(description="Customers in each stage now: count and share of the total (current stages).")
    async def stage_distribution(self, info: Info) -> list[StageCount]:
        counts = await m.stage_distribution(self.scope)
        return stage_counts(info.context.registry, self.scope.model.key, counts)

    @strawberry.field(
        description="For the prospect and customer stages in the model's order: the customers counted at "
        "each step in the period (see FunnelMode), with step and cumulative conversion."
    )
    async def funnel(self, info: Info, mode: FunnelMode = FunnelMode.CUMULATIVE) -> list[FunnelStep]:
        steps = await m.funnel(self.scope, mode.value)
        first = steps[0].count if steps else 0
        return [
            FunnelStep(
                stage=stage_type(info.context.registry, self.scope.model.key, step.stage),
                count=step.count,
                conversion_from_previous=_ratio(step.with_previous, steps[n - 1].count) if n else None,
                cumulative_conversion=_ratio(step.with_first, first),
            )
            for n, step in enumerate(steps)
        ]

    @strawberry.field(
        description="Days spent in each stage, from transitions, by stays that began in the period; "
        "open stays count up to now and are reported."
    )
    async def time_in_stage(self, info: Info) -> list[StageTime]:
        found = await m.time_in_stage(self.scope)
        order = [s.key for s in sorted(self.scope.model.stages, key=lambda s: s.order)]
        return [
            StageTime(stage=stage_type(info.context.registry, self.scope.model.key, k), days=DaysSpread.of(found[k]))
            for k in order
            if k in found
        ]

    @strawberry.field(
        description="Days from the first stage to the first customer-category stage, for customers "
        "who reached one in the period (median is the usual figure)."
    )
    async def velocity(self) -> DaysSpread:
        return DaysSpread.of(await m.velocity(self.scope))

    async def _flow(self) -> m.Flow:
        if "flow" not in self.cache:
            self.cache["flow"] = await (self.batch.flow(self.key) if self.batch else m.flow(self.scope))
        found = self.cache["flow"]
        assert isinstance(found, m.Flow)
        return found

    @strawberry.field(description="Customer churn rate over the period (ChartMogul).")
    async def churn(self) -> ChurnRate:
        f = await self._flow()
        return ChurnRate(
            rate=f.churn_rate,
            customers_at_start=f.at_start,
            churned=f.churned,
            churned_joined_in_period=f.churned_joined,
            churned_and_returned=f.churned_returned,
            counted=f.churn_counted,
        )

    @strawberry.field(description="Retention rate over the period.")
    async def retention(self) -> RetentionRate:
        f = await self._flow()
        return RetentionRate(
            rate=f.retention_rate,
            customers_at_start=f.at_start,
            customers_at_end=f.at_end,
            acquired=f.acquired,
            retained=f.retained,
        )

    @strawberry.field(description="Monthly cohorts (a triangle) for the months of the period.")
    async def cohorts(self) -> list[Cohort]:
        rows = await m.cohorts(self.scope, self.scope.months())
        return [
            Cohort(
                month=self.scope.local(r.month),
                size=r.size,
                active=r.active,
                retention=[round(a / r.size, 6) for a in r.active],  # a cohort has at least one customer
            )
            for r in rows
        ]

    @strawberry.field(description="Average customer lifetime in days.")
    async def average_lifetime(self) -> Lifetime:
        life = await m.average_lifetime(self.scope)
        return Lifetime(mean_days=life.mean_days, customers=life.customers, still_active=life.active)

    @strawberry.field(description="Renewal rate in the period.")
    async def renewal_rate(self) -> RenewalRate:
        r = await m.renewals(self.scope)
        return RenewalRate(rate=r.rate, renewals=r.renewals, cancellations=r.cancellations)

    @strawberry.field(description="Revenue in the period: purchases and renewals minus refunds.")
    async def revenue(self) -> Decimal:
        return await (self.batch.revenue(self.key) if self.batch else m.revenue(self.scope))

    async def _monthly(self) -> list[m.MonthPoint]:
        if "monthly" not in self.cache:
            self.cache["monthly"] = await m.monthly(self.scope)
        found = self.cache["monthly"]
        assert isinstance(found, list)
        return found

    async def _historic(self) -> m.HistoricClv:
        if "historic" not in self.cache:
            self.cache["historic"] = await (
                self.batch.historic_clv(self.key) if self.batch else m.historic_clv(self.scope)
            )
        found = self.cache["historic"]
        assert isinstance(found, m.HistoricClv)
        return found

    @strawberry.field(description="Historic (average) CLV over the period's months.")
    async def historic_clv(self) -> HistoricClv:
        h = await self._historic()
        return HistoricClv(
            value=h.value,
            unbounded=h.unbounded,
            revenue_per_customer_month=h.revenue_per_customer_month,
            monthly_churn_rate=h.monthly_churn_rate,
            gross_margin=h.margin,
            customer_months=h.customer_months,
        )

    async def _acquisition(self) -> m.Acquisition:
        if "acquisition" not in self.cache:
            self.cache["acquisition"] = await (
                self.batch.acquisition(self.key) if self.batch else m.acquisition(self.scope)
            )
        found = self.cache["acquisition"]
        assert isinstance(found, m.Acquisition)
        return found

    @strawberry.field(
        description="Predicted CLV (BG/NBD + Gamma-Gamma, discounted over the model's horizon): the "
        "stored predictions of the segment's customers; null fields before the first fit."
    )
    async def predictive_clv(self) -> PredictiveClv:
        found = await value_service.get_model(self.scope.workspace_id)
        scope = self.scope
        s = await value_service.summary(
            scope.workspace_id, (lambda p: m.segment_ids(scope, p)) if scope.segmented else None
        )

        def money(x: float | None) -> Decimal | None:
            return None if x is None else Decimal(str(round(x, 4)))

        return PredictiveClv(
            status=FitStatus(found.status) if found else None,
            reasons=list(found.reasons) if found else [],
            fitted_at=found.fitted if found else None,
            horizon_weeks=found.horizon_weeks if found else None,
            customers=s.customers,
            mean_p_alive=s.mean_p_alive,
            mean=money(s.mean_predicted_clv),
            total=money(s.total_predicted_clv),
        )

    @strawberry.field(description="Customer acquisition cost, overall and per channel.")
    async def cac(self) -> Cac:
        a = await self._acquisition()
        unknown = self.scope.spend_unknown
        per = []
        for c in sorted(set(a.spend) | set(a.acquired)):
            spend = a.spend.get(c)
            cac, reason = _cac(spend, a.acquired.get(c, 0), NO_GROUP_SPEND if unknown else NO_CHANNEL_SPEND)
            per.append(
                ChannelCac(
                    channel=c or None,
                    spend=spend.quantize(m.MONEY) if spend is not None else None,
                    acquired=a.acquired.get(c, 0),
                    cac=cac,
                    reason=reason,
                )
            )
        total = a.total_spend if a.spend else None
        value, reason = _cac(total, a.total_acquired, NO_GROUP_SPEND if unknown else NO_SPEND)
        return Cac(
            value=value,
            spend=total.quantize(m.MONEY) if total is not None else None,
            acquired=a.total_acquired,
            per_channel=per,
            reason=reason,
        )

    @strawberry.field(
        description="Historic CLV ÷ CAC (a common rule of thumb asks for at least 3); null when either "
        "is unknown, CAC is zero or CLV is unbounded."
    )
    async def clv_to_cac(self) -> float | None:
        h, a = await self._historic(), await self._acquisition()
        cac, _ = _cac(a.total_spend if a.spend else None, a.total_acquired, NO_SPEND)
        if h.value is None or not cac:
            return None
        return round(float(h.value / cac), 4)

    @strawberry.field(
        description="The distribution of the health score (docs/metrics.md, Health score) over the segment's "
        "customers now: mean, median and customers per 10 points."
    )
    async def health(self, info: Info) -> HealthDistribution:
        return await health_distribution(info, self.scope)

    @strawberry.field(
        description="For the customers who entered `stage` in the period: the interaction kinds and channels that "
        "came before (within `lookbackDays`), with first-touch, last-touch, linear and position-based credit, the "
        "share of conversions each appears in and the median days to the conversion (docs/metrics.md)."
    )
    async def attribution(
        self, stage: str, lookback_days: int = 90, by: TouchpointBy = TouchpointBy.KIND
    ) -> Attribution:
        return await attribution(self.scope, stage, lookback_days, by)

    @strawberry.field(description="Net Promoter Score in the period.")
    async def nps(self) -> Nps:
        return Nps.of(await m.nps(self.scope))

    @strawberry.field(description="Customer satisfaction (CSAT) in the period.")
    async def csat(self) -> Csat:
        c = await m.csat(self.scope)
        return Csat(score=c.score, satisfied=c.satisfied, responses=c.responses)

    @strawberry.field(description="Month by month: churn, retention, revenue, NPS and the stage distribution.")
    async def series(self, info: Info) -> list[MonthMetrics]:
        points = await self._monthly()
        ends = [min(pt.period.end, self.scope.now) for pt in points]
        distributions = await m.distribution_at(self.scope, ends)
        return [
            MonthMetrics(
                month=self.scope.local(pt.period.start),
                churn_rate=pt.flow.churn_rate,
                retention_rate=pt.flow.retention_rate,
                revenue=pt.revenue,
                nps=pt.nps.score,
                stage_distribution=stage_counts(info.context.registry, self.scope.model.key, dist),
            )
            for pt, dist in zip(points, distributions, strict=True)
        ]


# The SQL mapping of the compiled reads (schema.sql.metrics): a row holding the model's key.
_COMPUTED = NotCompiled("computed by api.metrics")
METRICS_SQL = TypeSql(
    "Metrics",
    None,
    {
        "model": ModelOf("model_key"),
        "stageDistribution": StageCounts(),
        **{
            n: _COMPUTED
            for n in (
                "groups",
                "health",
                "attribution",
                "period",
                "funnel",
                "timeInStage",
                "velocity",
                "churn",
                "retention",
                "cohorts",
                "averageLifetime",
                "renewalRate",
                "revenue",
                "historicClv",
                "predictiveClv",
                "cac",
                "clvToCac",
                "nps",
                "csat",
                "series",
            )
        },
    },
)
