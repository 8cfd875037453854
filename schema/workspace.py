"""Workspace, API key, acquisition spend and viewer types."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from graphql import GraphQLError
from strawberry import relay

from api import value as value_service
from api import workspaces as service
from api.records import ApiKeyRecord, SpendRecord, WorkspaceRecord
from schema.context import Info
from schema.ids import row_id
from schema.insights import HealthWeights, weights_of
from schema.lifecycle import LifecycleModel, WorkspaceModel, model_type, workspace_model_type
from schema.permissions import IsAdmin
from schema.sql.mapping import Column, GlobalId, NotCompiled, OwnWorkspace, TypeSql, Value
from schema.value import ValueModel

if TYPE_CHECKING:
    from schema.webhooks import WebhookEndpoint


@strawberry.enum(description="What an API key may do.")
class Role(Enum):
    ADMIN = "ADMIN"
    EDITOR = "EDITOR"
    VIEWER = "VIEWER"


@strawberry.type(description="An API key of the workspace. The secret itself is shown only once.")
class ApiKey(relay.Node):
    id: relay.NodeID[int]
    name: str
    role: Role
    prefix: str = strawberry.field(description="The first characters of the key, to recognise it.")
    created_at: datetime
    revoked_at: datetime | None = strawberry.field(description="When it was revoked; null while valid.")

    @classmethod
    def from_record(cls, r: ApiKeyRecord) -> ApiKey:
        return cls(
            id=r.id,
            name=r.name,
            role=Role(r.role),
            prefix=r.prefix,
            created_at=r.created_at,
            revoked_at=r.revoked_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[ApiKey | None]:
        ids = [row_id(i) for i in node_ids]
        if not info.context.caller.role.allows(service.Role.ADMIN):
            return [None for _ in ids]
        found = {k.id: k for k in await service.list_api_keys(info.context.workspace_id, ids=ids)}
        return [cls.from_record(found[i]) if i in found else None for i in ids]


@strawberry.type(description="One business: every customer and interaction belongs to one workspace.")
class Workspace(relay.Node):
    id: relay.NodeID[int]
    name: str
    currency: str = strawberry.field(description="ISO 4217 code of every amount in this workspace.")
    timezone: str = strawberry.field(description="IANA time zone of the business.")
    gross_margin: Decimal = strawberry.field(
        description="Applied to revenue in CLV figures; 1 (the default) means CLV is stated in revenue."
    )
    created_at: datetime

    @classmethod
    def from_record(cls, r: WorkspaceRecord) -> Workspace:
        return cls(
            id=r.id,
            name=r.name,
            currency=r.currency,
            timezone=r.timezone,
            gross_margin=r.gross_margin,
            created_at=r.created_at,
        )

    @strawberry.field(
        description="Every API key of the workspace, revoked ones included (ADMIN).",
        permission_classes=[IsAdmin],
    )
    async def api_keys(self, info: Info) -> list[ApiKey]:
        return [ApiKey.from_record(k) for k in await service.list_api_keys(info.context.workspace_id)]

    @strawberry.field(
        description="The workspace's webhook endpoints, disabled ones included (ADMIN).",
        permission_classes=[IsAdmin],
    )
    async def webhook_endpoints(
        self, info: Info
    ) -> list[Annotated[WebhookEndpoint, strawberry.lazy("schema.webhooks")]]:
        from schema.webhooks import endpoints_of

        return await endpoints_of(info)

    @strawberry.field(description="The weights of the health score's parts (docs/metrics.md, Health score).")
    async def health_weights(self, info: Info) -> HealthWeights:
        return HealthWeights.of(await weights_of(info))

    @strawberry.field(description="The model `customer.stage` answers for by default.")
    async def primary_model(self, info: Info) -> LifecycleModel:
        rows = await info.context.loaders.workspace_models()
        primary = next(r for r in rows if r.is_primary)
        found = model_type(info.context.registry, primary.model_key)
        if found is None:
            raise GraphQLError(
                f"The primary model {primary.model_key!r} is not installed.",
                extensions={"code": "MODEL_NOT_INSTALLED"},
            )
        return found

    @strawberry.field(description="The fitted value model (CLV predictions); null before the first fit.")
    async def value_model(self, info: Info) -> ValueModel | None:
        found = await value_service.get_model(info.context.workspace_id)
        return ValueModel.of(found) if found else None

    @strawberry.field(description="The models this workspace tracks (and tracked: their history is kept).")
    async def models(self, info: Info) -> list[WorkspaceModel]:
        rows = await info.context.loaders.workspace_models()
        found = [workspace_model_type(info.context.registry, r) for r in rows]
        return [m for m in found if m is not None]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Workspace | None]:
        own = info.context.workspace_id
        record = await service.get_workspace(own)
        return [cls.from_record(record) if i == str(own) else None for i in node_ids]


@strawberry.type(description="Money spent acquiring customers over a period (for CAC).")
class AcquisitionSpend(relay.Node):
    id: relay.NodeID[int]
    channel: str | None = strawberry.field(description="The channel; null means all channels.")
    period_start: date
    period_end: date = strawberry.field(description="Inclusive.")
    amount: Decimal

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[AcquisitionSpend | None]:
        ids = [row_id(i) for i in node_ids]
        found = {s.id: s for s in await service.get_spend(info.context.workspace_id, ids)}
        return [cls.from_record(found[i]) if i in found else None for i in ids]

    @classmethod
    def from_record(cls, r: SpendRecord) -> AcquisitionSpend:
        return cls(id=r.id, channel=r.channel, period_start=r.period_start, period_end=r.period_end, amount=r.amount)


@strawberry.type(description="The caller: the API key's role and its workspace.")
class Viewer:
    role: Role
    key_name: str = strawberry.field(description="The name of the API key in use.")

    @strawberry.field(description="The workspace the API key belongs to.")
    async def workspace(self, info: Info) -> Workspace:
        return Workspace.from_record(await service.get_workspace(info.context.workspace_id))


# The SQL mapping of the compiled reads (schema.sql): the key's own fields.
VIEWER_SQL = TypeSql(
    "Viewer",
    None,
    {"role": Value("role"), "keyName": Value("name"), "workspace": OwnWorkspace()},
)
WORKSPACE_SQL = TypeSql(
    "Workspace",
    "workspace",
    {
        "id": GlobalId("Workspace"),
        "name": Column("name", "text"),
        "currency": Column("currency", "text"),
        "timezone": Column("timezone", "text"),
        "grossMargin": Column("gross_margin", "decimal", places=4),
        "createdAt": Column("created_at", "datetime"),
        "apiKeys": NotCompiled("ADMIN only"),
        "webhookEndpoints": NotCompiled("ADMIN only"),
        "primaryModel": NotCompiled("answered from the plugins in Python"),
        "valueModel": NotCompiled("the value model's status is read by its service"),
        "models": NotCompiled("answered from the plugins in Python"),
        "healthWeights": NotCompiled("read by api.health"),
    },
)
