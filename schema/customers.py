"""Customer types, inputs, filter and ordering, and the customer connection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import interactions as interactions_service
from api import lifecycle_store
from api.errors import InputInvalid, invalid
from api.lifecycle import Tracked
from api.pagination import ASC, DESC, KeysetQuery, Page, PageRequest
from api.records import AssignmentRecord, CustomerRecord
from schema import insights
from schema.connections import edges, page_info
from schema.context import Info
from schema.errors import bad_input
from schema.facts import CustomerFacts, lead_points, lead_score
from schema.ids import row_id
from schema.insights import CustomerHealth, Recommendation, Reengagement
from schema.interactions import InteractionConnection, InteractionFilter
from schema.lifecycle import CustomerStage, StageTransition
from schema.sql import sources as sql_sources
from schema.sql.mapping import (
    Column,
    Connection,
    Embedded,
    GlobalId,
    Key,
    NotCompiled,
    PositionIn,
    Positions,
    TypeSql,
)
from schema.value import CustomerValue


@strawberry.type(description="A postal address.")
class Address:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = strawberry.field(default=None, description="State or province.")
    postal_code: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2, e.g. BR.")


@strawberry.type(description="A profile of the customer on a social network.")
class SocialProfile:
    network: str = strawberry.field(description="e.g. linkedin, instagram, x.")
    url: str | None = None
    handle: str | None = None


@strawberry.type(description="A person or company that the workspace does business with.")
class Customer(relay.Node):
    id: relay.NodeID[int]
    external_id: str | None = strawberry.field(description="The id in the business's own systems; unique.")
    name: str | None
    email: str | None = strawberry.field(description="Lower-cased.")
    phone: str | None = strawberry.field(description="'+' and digits, as given (E.164 when it had a +).")
    company: str | None
    job_title: str | None
    industry: str | None
    address: Address | None
    social_profiles: list[SocialProfile]
    tags: list[str]
    attributes: dict[str, Any] = strawberry.field(graphql_type=JSON, description="Custom attributes, a JSON object.")
    acquisition_channel: str | None = strawberry.field(description="How the customer was acquired.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, r: CustomerRecord) -> Customer:
        return cls(
            id=r.id,
            external_id=r.external_id,
            name=r.name,
            email=r.email,
            phone=r.phone,
            company=r.company,
            job_title=r.job_title,
            industry=r.industry,
            address=Address(**r.address) if r.address else None,
            social_profiles=[SocialProfile(**p) for p in r.social_profiles],
            tags=r.tags,
            attributes=r.attributes,
            acquisition_channel=r.acquisition_channel,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    @strawberry.field(description="This customer's interactions, newest first (batched across customers).")
    async def interactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: InteractionFilter | None = None,
    ) -> InteractionConnection:
        loaders = info.context.loaders
        f = (filter or InteractionFilter()).to_service(customer_id=None)
        count_key = (self.id, f)

        async def count() -> int:
            return await loaders.customer_interaction_count.load(count_key)

        max_size = info.context.settings.max_page_size
        try:
            if after is not None:  # a later page of one customer: its own keyset query
                mine = replace(f, customer_id=self.id)
                request = PageRequest(first=first, after=after)
                page = await interactions_service.list_interactions(
                    info.context.workspace_id, mine, request, max_size=max_size
                )
                return InteractionConnection.from_page(page, count)
            size = KeysetQuery.build((), PageRequest(first=first), max_size, max_size).size
        except InputInvalid as exc:
            raise bad_input(exc) from None
        # First pages of every customer in the response come from one batched query.
        page = await loaders.customer_interactions.load((self.id, size, f))
        return InteractionConnection.from_page(page, count)

    @strawberry.field(
        description="Products to suggest from past purchases (item-to-item co-occurrence, ranked by lift; at most "
        "50): never one it bought, never one without co-purchase evidence (docs/metrics.md, Recommendations)."
    )
    async def recommendations(self, info: Info, first: int = 5) -> list[Recommendation]:
        return await insights.recommendations(info, self.id, first)

    @strawberry.field(
        description="The health score (0-100) and its parts: P(alive) or recency, latest NPS and CSAT, open "
        "tickets, renewals vs cancellations, weighted by the workspace (docs/metrics.md, Health score)."
    )
    async def health(self, info: Info) -> CustomerHealth | None:
        return await insights.customer_health(info, self.id)

    @strawberry.field(
        description="Worth winning back now? With the value at risk and the reasons (thresholds as in "
        "`CustomerFilter.reengage`)."
    )
    async def reengagement(self, info: Info, p_alive_below: float = 0.5, health_below: float = 40.0) -> Reengagement:
        return await insights.reengagement(info, self.id, p_alive_below, health_below)

    @strawberry.field(description="Revenue so far and predicted value (see CustomerValue).")
    async def value(self, info: Info) -> CustomerValue:
        loaders = info.context.loaders
        return CustomerValue.of(
            await loaders.facts.load(self.id), await loaders.value.load(self.id), await loaders.value_model()
        )

    @strawberry.field(
        description="The lead score the rules read: points per interaction kind, with the `lead_points` of "
        "`model` (the primary model when omitted; the defaults when no tracked model scores leads)."
    )
    async def lead_score(self, info: Info, model: str | None = None) -> int:
        if model is not None:
            await tracked_model(info, model)  # an unknown model is a clear error
        points = lead_points(await info.context.loaders.tracked(), model)
        return lead_score(await info.context.loaders.facts.load(self.id), points)

    @strawberry.field(description="What the rules read about the customer (counts, last times, scores...).")
    async def facts(self, info: Info) -> CustomerFacts:
        points = lead_points(await info.context.loaders.tracked(), None)
        return CustomerFacts.of(await info.context.loaders.facts.load(self.id), points)

    @strawberry.field(description="Where the customer stands in `model` (the primary model when omitted).")
    async def stage(self, info: Info, model: str | None = None) -> CustomerStage:
        tracked = await tracked_model(info, model)
        found = (await info.context.loaders.assignments.load(self.id)).get(tracked.key)
        if found is None:  # a customer from before the model was tracked: its initial stage
            found = AssignmentRecord(
                self.id, tracked.key, tracked.model.initial_for(tracked.params), self.created_at, None
            )
        return CustomerStage.from_record(info.context.registry, found)

    @strawberry.field(description="Where the customer stands in every model the workspace tracks, primary first.")
    async def stages(self, info: Info) -> list[CustomerStage]:
        found = await info.context.loaders.assignments.load(self.id)
        tracked = await info.context.loaders.tracked()
        return [CustomerStage.from_record(info.context.registry, found[t.key]) for t in tracked if t.key in found]

    @strawberry.field(
        description="The customer's moves in `model` (primary when omitted), oldest first; `last` gives the "
        "newest ones (still oldest first)."
    )
    async def history(
        self,
        info: Info,
        model: str | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        include_superseded: Annotated[
            bool,
            strawberry.argument(description="Also the moves a rebuild superseded (see StageTransition.supersededAt)."),
        ] = False,
    ) -> StageTransitionConnection:
        key = await history_model(info, model)
        workspace_id = info.context.workspace_id
        try:
            page = await lifecycle_store.history(
                workspace_id,
                self.id,
                key,
                PageRequest(first, after, last, before),
                info.context.settings.max_page_size,
                include_superseded,
            )
        except InputInvalid as exc:
            raise bad_input(exc) from None
        registry = info.context.registry

        async def count() -> int:
            return await lifecycle_store.count_history(workspace_id, self.id, key, include_superseded)

        return StageTransitionConnection(
            edges=edges(page, lambda t: StageTransition.from_record(registry, t)),
            page_info=page_info(page),
            count=count,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Customer | None]:
        ids = [row_id(i) for i in node_ids]
        found = await info.context.loaders.customer.load_many(ids)
        return [cls.from_record(r) if r else None for r in found]


@strawberry.type(name="CustomerConnection", description="A page of customers.")
class CustomerConnection(relay.Connection[Customer]):
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many customers match the filter, over all pages.")
    async def total_count(self) -> int:
        return await self.count()

    @classmethod
    def from_page(cls, page: Page[CustomerRecord], count: Callable[[], Awaitable[int]]) -> CustomerConnection:
        return cls(edges=edges(page, Customer.from_record), page_info=page_info(page), count=count)


@strawberry.type(name="StageTransitionConnection", description="A page of stage moves.")
class StageTransitionConnection(relay.Connection[StageTransition]):
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many moves the history holds, over all pages.")
    async def total_count(self) -> int:
        return await self.count()


async def history_model(info: Info, key: str | None) -> str:
    """A model whose history the workspace keeps: tracked now or earlier (untracking keeps it)."""
    if key is None:
        return (await tracked_model(info, None)).key
    rows = await info.context.loaders.workspace_models()
    if any(r.model_key == key for r in rows):
        return key
    raise bad_input(invalid(("model",), "MODEL_NOT_TRACKED", f"This workspace never tracked {key!r}."))


async def tracked_model(info: Info, key: str | None) -> Tracked:
    """A model the workspace tracks: `key`, or the primary model when `key` is None."""
    tracked = await info.context.loaders.tracked()
    for t in tracked:
        if (key is None and t.is_primary) or t.key == key:
            return t
    keys = [t.key for t in tracked]
    raise bad_input(invalid(("model",), "MODEL_NOT_TRACKED", f"This workspace tracks {keys}, not {key!r}."))


@strawberry.enum(
    description="What customers can be ordered by; PREDICTED_CLV is the value model's prediction "
    "(customers without one sort below every value)."
)
class CustomerOrderField(Enum):
    CREATED_AT = "CREATED_AT"
    UPDATED_AT = "UPDATED_AT"
    NAME = "NAME"
    PREDICTED_CLV = "PREDICTED_CLV"
    VALUE_AT_RISK = "VALUE_AT_RISK"
    HEALTH = "HEALTH"


@strawberry.enum(description="Ascending or descending.")
class OrderDirection(Enum):
    ASC = ASC
    DESC = DESC


@strawberry.input(description="One term of an ordering; the id breaks ties.")
class CustomerOrder:
    field: CustomerOrderField
    direction: OrderDirection = OrderDirection.ASC


@strawberry.input(description="A postal address.")
class AddressInput:
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2, e.g. BR.")


@strawberry.input(description="A social network profile: the network and a url or a handle.")
class SocialProfileInput:
    network: str
    url: str | None = None
    handle: str | None = None


def _profile_dict(p: SocialProfileInput) -> dict[str, Any]:
    return {"network": p.network, "url": p.url, "handle": p.handle}


def _address_dict(a: AddressInput) -> dict[str, Any]:
    return {k: getattr(a, k) for k in ("line1", "line2", "city", "region", "postal_code", "country")}


CUSTOMER_FIELDS = (
    "external_id",
    "name",
    "email",
    "phone",
    "company",
    "job_title",
    "industry",
    "address",
    "social_profiles",
    "tags",
    "attributes",
    "acquisition_channel",
)


def customer_fields(source: Any) -> dict[str, Any]:
    """The fields given in an input (UNSET ones left out), in the service's shape."""
    out: dict[str, Any] = {}
    for name in CUSTOMER_FIELDS:
        value = getattr(source, name)
        if value is strawberry.UNSET:
            continue
        if name == "address" and value is not None:
            value = _address_dict(value)
        elif name == "social_profiles" and value is not None:
            value = [_profile_dict(p) for p in value]
        out[name] = value
    created_at = getattr(source, "created_at", strawberry.UNSET)
    if created_at is not strawberry.UNSET:
        out["created_at"] = created_at
    return out


@strawberry.input(description="A new customer. Every field is optional; email and phone are validated.")
class CreateCustomerInput:
    external_id: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    company: str | None = strawberry.UNSET
    job_title: str | None = strawberry.UNSET
    industry: str | None = strawberry.UNSET
    address: AddressInput | None = strawberry.UNSET
    social_profiles: list[SocialProfileInput] | None = strawberry.UNSET
    tags: list[str] | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET
    acquisition_channel: str | None = strawberry.UNSET
    created_at: datetime | None = strawberry.field(
        default=strawberry.UNSET,
        description=(
            "The real first contact, when loading history from another system (never in the future; "
            "default: now). The customer's journey starts at the earlier of this and its first "
            "interaction; changing it later rebuilds the customer's stages."
        ),
    )


@strawberry.input(description="Changes to a customer: an omitted field is unchanged, null clears it.")
class UpdateCustomerInput(CreateCustomerInput):
    id: relay.GlobalID


@strawberry.input(description="The customer to erase, with all its interactions.")
class DeleteCustomerInput:
    id: relay.GlobalID


# --- the SQL mapping of the compiled reads (schema.sql) -------------------------------------

ADDRESS_SQL = TypeSql(
    "Address",
    None,
    {
        "line1": Key("line1"),
        "line2": Key("line2"),
        "city": Key("city"),
        "region": Key("region"),
        "postalCode": Key("postal_code"),
        "country": Key("country"),
    },
)
SOCIAL_PROFILE_SQL = TypeSql(
    "SocialProfile", None, {"network": Key("network"), "url": Key("url"), "handle": Key("handle")}
)
CUSTOMER_SQL = TypeSql(
    "Customer",
    "customer",
    {
        "id": GlobalId("Customer"),
        "externalId": Column("external_id", "text"),
        "name": Column("name", "text"),
        "email": Column("email", "text"),
        "phone": Column("phone", "text"),
        "company": Column("company", "text"),
        "jobTitle": Column("job_title", "text"),
        "industry": Column("industry", "text"),
        "address": Embedded("address", "Address"),
        "socialProfiles": Embedded("social_profiles", "SocialProfile", many=True),
        "tags": Column("tags", "json_list"),
        "attributes": Column("attributes", "json_object"),
        "acquisitionChannel": Column("acquisition_channel", "text"),
        "createdAt": Column("created_at", "datetime"),
        "updatedAt": Column("updated_at", "datetime"),
        "interactions": Connection(sql_sources.customer_interactions),
        "value": NotCompiled("predictions are read with the value model's status"),
        "health": NotCompiled("aggregated from the interactions with the workspace's weights"),
        "reengagement": NotCompiled("from the value model and the health score"),
        "recommendations": NotCompiled("co-occurrence over the workspace's purchases, one statement each"),
        "leadScore": NotCompiled("computed from the facts in Python"),
        "facts": NotCompiled("computed from the facts in Python"),
        "stage": PositionIn(),
        "stages": Positions(),
        "history": Connection(sql_sources.customer_history),
    },
)
