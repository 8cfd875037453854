"""Interaction types, their filter input and their connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import interactions as service
from api.pagination import Page
from api.records import InteractionRecord
from plugins.types import InteractionKind as KindData
from schema.connections import edges, page_info
from schema.context import Info
from schema.ids import row_id
from schema.sql.mapping import Column, GlobalId, Reference, TypeSql

if TYPE_CHECKING:
    from schema.customers import Customer


@strawberry.type(description="Something that happened with a customer at a time. Append-only.")
class Interaction(relay.Node):
    id: relay.NodeID[int]
    customer_id: strawberry.Private[int]
    kind: str = strawberry.field(description="The interaction kind's key (see `interactionKinds`).")
    channel: str | None = strawberry.field(description="Where it happened: email, whatsapp, web...")
    occurred_at: datetime = strawberry.field(description="When it happened (UTC).")
    amount: Decimal | None = strawberry.field(description="Money involved, in the workspace currency.")
    score: int | None = strawberry.field(description="The answer of a survey kind (NPS 0-10, CSAT 1-5).")
    properties: dict[str, Any] = strawberry.field(
        graphql_type=JSON, description="Free properties, e.g. `product` of a purchase."
    )
    idempotency_key: str | None = strawberry.field(description="The key that made retries harmless.")
    created_at: datetime = strawberry.field(description="When Jornada recorded it (UTC).")

    @classmethod
    def from_record(cls, r: InteractionRecord) -> Interaction:
        return cls(
            id=r.id,
            customer_id=r.customer_id,
            kind=r.kind,
            channel=r.channel,
            occurred_at=r.occurred_at,
            amount=r.amount,
            score=r.score,
            properties=r.properties,
            idempotency_key=r.idempotency_key,
            created_at=r.created_at,
        )

    @strawberry.field(description="The customer it happened with.")
    async def customer(self, info: Info) -> Annotated[Customer, strawberry.lazy("schema.customers")]:
        from schema.customers import Customer

        record = await info.context.loaders.customer.load(self.customer_id)
        assert record is not None  # an interaction never outlives its customer
        return Customer.from_record(record)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Interaction | None]:
        ids = [row_id(i) for i in node_ids]
        found = await info.context.loaders.interaction.load_many(ids)
        return [cls.from_record(r) if r else None for r in found]


@strawberry.type(name="InteractionConnection", description="A page of interactions, newest first.")
class InteractionConnection(relay.Connection[Interaction]):
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many interactions match, over all pages.")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def from_page(cls, page: Page[InteractionRecord], count: Callable[[], Awaitable[int]]) -> InteractionConnection:
        return cls(edges=edges(page, Interaction.from_record), page_info=page_info(page), count=count)

    @classmethod
    def resolve_connection(cls, nodes: Any, *, info: Any, **kwargs: Any) -> Any:  # pragma: no cover
        raise NotImplementedError("built from pages, not from @relay.connection")


@strawberry.input(description="Conditions on interactions; all must hold.")
class InteractionFilter:
    kinds: list[str] | None = strawberry.field(default=None, description="Any of these kinds.")
    channel: str | None = strawberry.field(default=None, description="Exactly this channel.")
    occurred_after: datetime | None = strawberry.field(default=None, description="At or after this time.")
    occurred_before: datetime | None = strawberry.field(default=None, description="Before this time.")
    customer_id: relay.GlobalID | None = strawberry.field(
        default=None, description="Only this customer's (top-level `interactions` only)."
    )

    def to_service(self, customer_id: int | None = None) -> service.InteractionFilter:
        return service.InteractionFilter(
            kinds=tuple(self.kinds or ()),
            channel=self.channel,
            occurred_after=self.occurred_after,
            occurred_before=self.occurred_before,
            customer_id=customer_id,
        )


@strawberry.type(description="A kind of interaction that can be recorded, as a plugin declares it.")
class InteractionKind:
    key: str = strawberry.field(description="What `recordInteraction` takes as `kind`.")
    name: str = strawberry.field(description="A human name.")
    description: str = strawberry.field(description="What it means.")
    score_min: int | None = strawberry.field(description="Lowest accepted score; null: takes no score.")
    score_max: int | None = strawberry.field(description="Highest accepted score; null: takes no score.")
    score_required: bool = strawberry.field(description="Whether a score must be given.")
    amount_required: bool = strawberry.field(description="Whether an amount must be given.")

    @classmethod
    def from_data(cls, k: KindData) -> InteractionKind:
        return cls(
            key=k.key,
            name=k.name,
            description=k.description,
            score_min=k.score_min,
            score_max=k.score_max,
            score_required=k.score_required,
            amount_required=k.amount_required,
        )


# The SQL mapping of the compiled reads (schema.sql).
INTERACTION_SQL = TypeSql(
    "Interaction",
    "interaction",
    {
        "id": GlobalId("Interaction"),
        "kind": Column("kind", "text"),
        "channel": Column("channel", "text"),
        "occurredAt": Column("occurred_at", "datetime"),
        "amount": Column("amount", "decimal"),
        "score": Column("score", "int"),
        "properties": Column("properties", "json_object"),
        "idempotencyKey": Column("idempotency_key", "text"),
        "createdAt": Column("created_at", "datetime"),
        "customer": Reference("Customer", "customer_id"),
    },
)
