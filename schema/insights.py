"""Per-customer insights: recommendations from past purchases (and, beside them, the health
score). Definitions: docs/metrics.md."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import strawberry
from strawberry.dataloader import DataLoader

from api import health
from api import recommendations as service
from api.metrics_scope import Scope, new_params, segment_ids
from schema.context import Info


@strawberry.type(description="A product to suggest, from what customers who bought the same also bought.")
class Recommendation:
    product: str = strawberry.field(description="`properties.product` of purchases.")
    score: float = strawberry.field(
        description="The lift: how many times likelier the customers who bought `basedOn` are to buy it than "
        "customers at large (1 = no more likely)."
    )
    support: int = strawberry.field(
        description="Other customers who bought it together with one of this customer's products."
    )
    based_on: str = strawberry.field(description="The customer's own product that gives the score.")


async def recommendations(info: Info, customer_id: int, first: int) -> list[Recommendation]:
    found = await service.recommendations(info.context.workspace_id, customer_id, first)
    return [Recommendation(product=s.product, score=s.score, support=s.support, based_on=s.based_on) for s in found]


# --- health ---------------------------------------------------------------------------------


@strawberry.type(description="One part of the health score.")
class HealthPart:
    name: str = strawberry.field(
        description="alive (P(alive), or recency without a prediction), nps, csat, openTickets, renewals."
    )
    value: float | None = strawberry.field(description="From 0 to 1; null when unknown (then left out of the score).")
    weight: float = strawberry.field(description="The workspace's weight of this part (Workspace.healthWeights).")


@strawberry.type(description="A score from 0 to 100 of how the relationship is going, with its parts.")
class CustomerHealth:
    score: float | None = strawberry.field(
        description="100 × Σ weight × value ÷ Σ weight over the known parts, to 0.1; null when no part is known."
    )
    alive_source: str = strawberry.field(description="What `alive` is: pAlive (the value model's) or recency.")
    parts: list[HealthPart]


@strawberry.type(description="The weights of the health score's parts (updateWorkspace sets them).")
class HealthWeights:
    alive: float
    nps: float
    csat: float
    open_tickets: float
    renewals: float

    @classmethod
    def of(cls, w: health.HealthWeights) -> HealthWeights:
        return cls(alive=w.alive, nps=w.nps, csat=w.csat, open_tickets=w.open_tickets, renewals=w.renewals)


@strawberry.input(description="New weights (from 0 to 1000 each, some above 0); what is left out stays.")
class HealthWeightsInput:
    alive: float | None = None
    nps: float | None = None
    csat: float | None = None
    open_tickets: float | None = None
    renewals: float | None = None

    def given(self) -> dict[str, float]:
        names = {"alive": self.alive, "nps": self.nps, "csat": self.csat}
        names |= {"openTickets": self.open_tickets, "renewals": self.renewals}
        return {k: v for k, v in names.items() if v is not None}


async def weights_of(info: Info) -> health.HealthWeights:
    """The workspace's weights, read once per request."""
    loaders = info.context.loaders
    if loaders.health_weights is None:
        loaders.health_weights = asyncio.ensure_future(health.workspace_weights(info.context.workspace_id))
    return await loaders.health_weights


async def customer_health(info: Info, customer_id: int) -> CustomerHealth | None:
    """Batched: the customers of one response get their health from one statement."""
    loaders = info.context.loaders
    if loaders.health is None:  # (made before any await: every resolver of the page shares it)
        now = datetime.now(UTC)

        async def load(ids: list[int]) -> list[health.Health | None]:
            found = await health.customers_health(info.context.workspace_id, ids, await weights_of(info), now)
            return [found.get(i) for i in ids]

        loaders.health = DataLoader(load)
    found = await loaders.health.load(customer_id)
    if found is None:
        return None
    by_part = found.weights.by_part()
    parts = [HealthPart(name=k, value=found.parts[k], weight=by_part[k]) for k in health.PARTS]
    return CustomerHealth(score=found.score, alive_source=found.alive_source, parts=parts)


# --- re-engagement --------------------------------------------------------------------------


@strawberry.type(description="Whether the customer is worth winning back now, how much is at stake, and why.")
class Reengagement:
    worth_winning_back: bool = strawberry.field(
        description="Has paid, and P(alive) or health is below its threshold (as `filter: {reengage: ...}`)."
    )
    value_at_risk: Decimal | None = strawberry.field(
        description="Predicted CLV × (1 − P(alive)); null without a prediction."
    )
    reasons: list[str] = strawberry.field(description="What puts the customer here (or keeps it out), in words.")


def _days(moment: datetime, now: datetime) -> int:
    return max(0, int((now - moment).total_seconds() // 86400))


async def reengagement(info: Info, customer_id: int, p_alive_below: float, health_below: float) -> Reengagement:
    loaders = info.context.loaders
    value, facts = await loaders.value.load(customer_id), await loaders.facts.load(customer_id)
    found = await customer_health(info, customer_id)
    now = datetime.now(UTC)
    p_alive = value.p_alive if value else None
    at_risk = None
    if value and value.predicted_clv is not None and p_alive is not None:
        at_risk = Decimal(str(value.predicted_clv * (1 - p_alive))).quantize(Decimal("0.01"))
    paid = [facts.last_at[k] for k in health.PAYING if k in facts.last_at]
    reasons = []
    slipping = p_alive is not None and p_alive < p_alive_below
    if slipping:
        reasons.append(f"P(alive) {p_alive:.2f} is below {p_alive_below:g}")
    score = found.score if found else None
    unhealthy = score is not None and score < health_below
    if unhealthy:
        reasons.append(f"health {score:g} is below {health_below:g}")
    if paid:
        last = max(paid)
        reasons.append(f"last paid on {last.date().isoformat()} ({_days(last, now)} days ago)")
    else:
        reasons.append("has never paid")
    return Reengagement(
        worth_winning_back=bool(paid) and (slipping or unhealthy), value_at_risk=at_risk, reasons=reasons
    )


@strawberry.type(description="Customers per 10 points of health.")
class HealthBucket:
    from_score: int = strawberry.field(name="from", description="At least this score.")
    to_score: int = strawberry.field(name="to", description="Below this score (the last bucket: up to 100).")
    customers: int


@strawberry.type(description="The health scores of the segment's customers now (not over the period).")
class HealthDistribution:
    customers: int = strawberry.field(description="Customers with a score.")
    mean: float | None
    median: float | None
    buckets: list[HealthBucket]


async def health_distribution(info: Info, scope: Scope) -> HealthDistribution:
    p = new_params()
    found = await health.distribution(scope.workspace_id, await weights_of(info), scope.now, segment_ids(scope, p), p)
    buckets = [HealthBucket(from_score=10 * n, to_score=10 * n + 10, customers=c) for n, c in enumerate(found.buckets)]
    return HealthDistribution(customers=found.customers, mean=found.mean, median=found.median, buckets=buckets)
