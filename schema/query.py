"""The Query root: thin resolvers over the `api` services."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, tzinfo
from typing import Annotated

import strawberry
from strawberry import relay

from api import customers, interactions
from api import metrics as metrics_service
from api.errors import InputInvalid, invalid
from api.pagination import PageRequest
from api.workspaces import get_workspace
from schema.context import Info
from schema.customer_filter import CustomerFilter
from schema.customers import Customer, CustomerConnection, CustomerOrder, tracked_model
from schema.errors import bad_input
from schema.ids import row_id
from schema.insights import weights_of
from schema.interactions import Interaction, InteractionConnection, InteractionFilter, InteractionKind
from schema.lifecycle import LifecycleModel, PluginInfo, model_type, plugin_infos
from schema.metrics import Metrics, PeriodInput
from schema.metrics_groups import MetricsBy
from schema.permissions import IsAdmin
from schema.segments import Segment, all_segments, one_segment
from schema.sql import sources as sql_sources
from schema.sql.mapping import Connection, KeyObject, MetricsOf, NodeLookup, NotCompiled, TypeSql
from schema.webhooks import WebhookEndpoint
from schema.workspace import AcquisitionSpend, ApiKey, Role, Viewer, Workspace

NODE_TYPES = {t.__name__ for t in (Customer, Interaction, Workspace, ApiKey, AcquisitionSpend, WebhookEndpoint)}


def decode_customer_id(gid: relay.GlobalID | None) -> int | None:
    """A customer's numeric id from a global id; -1 (never a row) when it names another type."""
    if gid is None:
        return None
    if gid.type_name != "Customer":
        return -1
    return row_id(gid.node_id)


@strawberry.type
class Query:
    @strawberry.field(description="Any object by its global id; null when it does not exist in this workspace.")
    async def node(self, info: Info, id: relay.GlobalID) -> relay.Node | None:
        if id.type_name not in NODE_TYPES:
            return None
        found: relay.Node | None = await id.resolve_node(info, required=False)
        return found

    @strawberry.field(description="The caller: the API key's role and workspace.")
    def viewer(self, info: Info) -> Viewer:
        principal = info.context.caller
        return Viewer(role=Role(principal.role.value), key_name=principal.key_name)

    @strawberry.field(
        description="Customers of the workspace, newest first unless `orderBy` says otherwise. Null, with an error "
        "naming the argument, when an argument is invalid: the rest of the query still answers."
    )
    async def customers(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: CustomerFilter | None = None,
        order_by: list[CustomerOrder] | None = None,
        segment: Annotated[
            str | None, strawberry.argument(description="Only the customers of this saved segment (and `filter`).")
        ] = None,
    ) -> CustomerConnection | None:
        ws = info.context.workspace_id
        f = await (filter or CustomerFilter()).to_service(info)
        if segment is not None:  # (at the path (), an error names the argument `segment` itself)
            f = replace(f, all_of=(*f.all_of, await CustomerFilter(segment=segment).to_service(info, ())))
        order = [(o.field.value, o.direction.value) for o in order_by or []]
        try:
            page = await customers.list_customers(
                ws,
                f,
                order,
                PageRequest(first, after, last, before),
                max_size=info.context.settings.max_page_size,
                health=(await weights_of(info), datetime.now(UTC)) if any(o[0] == "HEALTH" for o in order) else None,
            )
        except InputInvalid as exc:
            raise bad_input(exc) from None

        async def count() -> int:
            return await customers.count_customers(ws, f)

        return CustomerConnection.from_page(page, count)

    @strawberry.field(
        description="Interactions of the workspace, newest first. Null, with an error naming the argument, when an "
        "argument is invalid."
    )
    async def interactions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: InteractionFilter | None = None,
    ) -> InteractionConnection | None:
        ws = info.context.workspace_id
        given = filter or InteractionFilter()
        f = given.to_service(customer_id=decode_customer_id(given.customer_id))
        try:
            page = await interactions.list_interactions(
                ws, f, PageRequest(first, after, last, before), max_size=info.context.settings.max_page_size
            )
        except InputInvalid as exc:
            raise bad_input(exc) from None

        async def count() -> int:
            return await interactions.count_interactions(ws, f)

        return InteractionConnection.from_page(page, count)

    @strawberry.field(
        description="Lifecycle flow, retention, value and satisfaction metrics (definitions in docs/metrics.md and "
        "in each field), for `model` (the primary one when omitted), `period` (the last 12 months of the workspace's "
        "calendar) and `segment` (any customer filter). Null, with an error naming the argument, when an argument is "
        "invalid; a metric that fails nulls only `metrics`, not the rest of the query."
    )
    async def metrics(
        self,
        info: Info,
        model: str | None = None,
        period: PeriodInput | None = None,
        segment: CustomerFilter | None = None,
        by: Annotated[
            MetricsBy | None,
            strawberry.argument(description="Also answer every metric per group of customers: see `Metrics.groups`."),
        ] = None,
    ) -> Metrics | None:
        now = datetime.now(UTC)
        # Read with the key (a query changes nothing meanwhile); else now.
        workspace = info.context.caller.workspace or await get_workspace(info.context.workspace_id)
        tz = metrics_service.zone(workspace.timezone)
        default = metrics_service.default_period(now, tz)
        start = _instant(period.start if period and period.start else default.start, tz)
        end = _instant(period.end if period and period.end else default.end, tz)
        if end <= start:
            raise bad_input(invalid(("period", "end"), "INVALID_PERIOD", "The period must end after it starts."))
        tracked = await tracked_model(info, model)
        scope = metrics_service.Scope(
            workspace_id=info.context.workspace_id,
            model=tracked.model,
            period=metrics_service.Period(start, end),
            segment=await (segment or CustomerFilter()).to_service(info),
            now=now,
            margin=workspace.gross_margin,
            tz=tz,
        )
        return Metrics(scope=scope, cache={}, by=by.to_service() if by is not None else None)

    @strawberry.field(description="Every installed lifecycle model, from every plugin (built-in ones included).")
    def lifecycle_models(self, info: Info) -> list[LifecycleModel]:
        info.context.caller  # noqa: B018 - authenticated callers only
        registry = info.context.registry
        return [LifecycleModel.from_data(m.model, m.plugin) for m in registry.models.values()]

    @strawberry.field(description="One installed lifecycle model by key; null when none has it.")
    def lifecycle_model(self, info: Info, key: str) -> LifecycleModel | None:
        info.context.caller  # noqa: B018 - authenticated callers only
        return model_type(info.context.registry, key)

    @strawberry.field(
        description="Loaded plugins and the rejected ones with the reason (ADMIN; null with a FORBIDDEN error for "
        "other roles).",
        permission_classes=[IsAdmin],
    )
    def plugins(self, info: Info) -> list[PluginInfo] | None:
        return plugin_infos(info.context.registry)

    segments: list[Segment] = strawberry.field(
        resolver=all_segments, description="The workspace's saved segments, by key."
    )
    segment: Segment | None = strawberry.field(resolver=one_segment, description="The saved segment with this key.")

    @strawberry.field(description="Every kind of interaction that can be recorded, from every plugin.")
    def interaction_kinds(self, info: Info) -> list[InteractionKind]:
        info.context.caller  # noqa: B018 - authenticated callers only
        return [InteractionKind.from_data(k) for k in info.context.registry.kinds.values()]


def _instant(value: datetime, tz: tzinfo) -> datetime:
    """A period bound as a UTC instant; one without an offset is a time of the workspace's clock."""
    return (value.replace(tzinfo=tz) if value.tzinfo is None else value).astimezone(UTC)


# The SQL mapping of the compiled reads (schema.sql): what the root offers them.
QUERY_SQL = TypeSql(
    "Query",
    None,
    {
        "node": NodeLookup(),
        "viewer": KeyObject(),
        "customers": Connection(sql_sources.all_customers),
        "interactions": Connection(sql_sources.all_interactions),
        "metrics": MetricsOf(),
        "lifecycleModels": NotCompiled("plugin data, answered from memory"),
        "lifecycleModel": NotCompiled("plugin data, answered from memory"),
        "plugins": NotCompiled("plugin data, ADMIN only"),
        "interactionKinds": NotCompiled("plugin data, answered from memory"),
        "segments": NotCompiled("saved segments, few and small"),
        "segment": NotCompiled("saved segments, few and small"),
    },
)
