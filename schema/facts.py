"""What the rules read about a customer: its facts and lead score, so an admin can see why a
customer is (or is not) in a stage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import strawberry

from api.journey import Tracked
from plugins.facts import DEFAULT_LEAD_POINTS, FactsState

LEAD_POINTS = "lead_points"


@strawberry.type(description="How often and when a customer had one kind of interaction.")
class KindFacts:
    kind: str
    count: int
    first_at: datetime
    last_at: datetime


@strawberry.type(
    description="What the built-in criteria read about a customer, over its whole history: the same "
    "snapshot the rules see (see the model's transitions for which fact each rule reads)."
)
class CustomerFacts:
    interactions: list[KindFacts] = strawberry.field(description="Per interaction kind, most frequent first.")
    orders: int = strawberry.field(description="Purchases.")
    revenue: Decimal = strawberry.field(description="Purchases and renewals, less refunds.")
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    products: list[str] = strawberry.field(description="Distinct `properties.product` of purchases.")
    latest_nps: int | None = strawberry.field(description="The latest NPS answer (by when it was given).")
    latest_csat: int | None
    latest_review_score: int | None
    referrals: int
    active_subscriptions: int = strawberry.field(description="Subscriptions started less those cancelled.")
    last_engaged_at: datetime | None = strawberry.field(description="The latest interaction of any kind.")
    lead_score: int = strawberry.field(description="As `Customer.leadScore` for the primary model.")

    @classmethod
    def of(cls, state: FactsState, points: Mapping[str, int]) -> CustomerFacts:
        now = datetime.now(UTC)
        snap = state.snapshot(as_of=now, stage_entered_at=now, created_at=now)
        kinds = sorted(state.counts, key=lambda k: (-state.counts[k], k))
        return cls(
            interactions=[
                KindFacts(kind=k, count=state.counts[k], first_at=state.first_at[k], last_at=state.last_at[k])
                for k in kinds
            ],
            orders=snap.orders,
            revenue=snap.revenue,
            first_purchase_at=snap.first_purchase_at,
            last_purchase_at=snap.last_purchase_at,
            products=sorted(snap.products),
            latest_nps=snap.latest_nps,
            latest_csat=snap.latest_csat,
            latest_review_score=snap.latest_review_score,
            referrals=snap.referrals,
            active_subscriptions=snap.active_subscriptions,
            last_engaged_at=snap.last_engaged_at,
            lead_score=lead_score(state, points),
        )


def lead_points(tracked: Sequence[Tracked], key: str | None) -> Mapping[str, int]:
    """The points a model scores with: `key`'s (or the primary model's) `lead_points`, else those
    of the first tracked model that declares them, else the defaults."""
    chosen = [t for t in tracked if (t.key == key if key else t.is_primary)]
    for t in [*chosen, *tracked]:
        if LEAD_POINTS in t.params:
            return dict(t.params[LEAD_POINTS])
    return DEFAULT_LEAD_POINTS


def lead_score(state: FactsState, points: Mapping[str, int]) -> int:
    return sum(state.counts.get(kind, 0) * value for kind, value in points.items())
