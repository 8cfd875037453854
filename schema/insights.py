"""Per-customer insights: recommendations from past purchases (and, beside them, the health
score). Definitions: docs/metrics.md."""

from __future__ import annotations

import strawberry

from api import recommendations as service
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
