"""Mutations on lifecycle models: manual moves, parameters, tracking and switching."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import lifecycle_admin as admin
from api.errors import InputInvalid, invalid
from api.lifecycle import MAPPING, REPLAY
from api.lifecycle_store import workspace_models
from api.workspaces import Role, get_workspace
from schema.context import Info
from schema.customer_filter import CustomerFilter
from schema.customers import Customer
from schema.errors import UserError, user_errors
from schema.lifecycle import (
    Stage,
    StageCount,
    StageTransition,
    WorkspaceModel,
    stage_counts,
    stage_type,
    workspace_model_type,
)
from schema.permissions import IsAdmin, IsEditor
from schema.query import decode_customer_id
from schema.workspace import Workspace


@strawberry.enum(
    description="How a newly tracked primary model gets every customer's stage: REPLAY runs each customer's "
    "history through the new model; MAPPING carries each old stage to a named new stage."
)
class SwitchStrategy(Enum):
    REPLAY = REPLAY
    MAPPING = MAPPING


@strawberry.input(description="Where each stage of the current primary model goes in the new model.")
class StageMappingInput:
    from_: str = strawberry.field(name="from")
    to: str


@strawberry.input(description="Move a customer by hand along the model's transitions.")
class MoveCustomerInput:
    customer_id: relay.GlobalID
    stage: str
    model: str | None = strawberry.field(default=None, description="The primary model when omitted.")
    note: str | None = None
    force: bool = strawberry.field(default=False, description="ADMIN only: move even with no transition.")


@strawberry.input(description="Parameter values for a tracked model; a null value resets one to its default.")
class ConfigureLifecycleModelInput:
    model: str
    params: JSON


@strawberry.input(description="Start tracking a model beside the primary one; its stages are rebuilt by replay.")
class TrackLifecycleModelInput:
    model: str
    dry_run: bool = strawberry.field(default=False, description="Only compute the distribution; write nothing.")


@strawberry.input(description="Stop evaluating a model; its stages and history are kept.")
class UntrackLifecycleModelInput:
    model: str


@strawberry.input(description="Make another model the primary one.")
class SwitchLifecycleModelInput:
    model: str
    strategy: SwitchStrategy
    mapping: list[StageMappingInput] | None = strawberry.field(
        default=None,
        description="For MAPPING: every stage of the current primary model, to a stage of `model`.",
    )
    dry_run: bool = strawberry.field(default=False, description="Only compute the distribution; write nothing.")


@strawberry.input(
    description="Rebuild customers' stages from their whole history: interactions, manual moves and "
    "mappings in event time, in every tracked model. Give customerId or filter."
)
class RebuildCustomerStagesInput:
    customer_id: relay.GlobalID | None = strawberry.field(default=None, description="One customer.")
    filter: CustomerFilter | None = strawberry.field(
        default=None, description="Every customer matching this filter ({} for every customer)."
    )
    dry_run: bool = strawberry.field(default=False, description="Only count what would change; write nothing.")


@strawberry.type(description="What a rebuild changed (or, in a dry run, would change).")
class RebuildCustomerStagesPayload:
    customers_rebuilt: int = strawberry.field(default=0, description="Customers replayed.")
    customers_changed: int = strawberry.field(default=0, description="Of those, customers whose history changed.")
    transitions_superseded: int = strawberry.field(
        default=0, description="Moves replaced (kept, see history(includeSuperseded: true))."
    )
    transitions_written: int = strawberry.field(default=0, description="Moves written, as corrections.")
    dry_run: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The customer after a manual move, and the recorded move.")
class MoveCustomerPayload:
    customer: Customer | None = None
    transition: StageTransition | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The model's settings after the change.")
class ConfigureLifecycleModelPayload:
    workspace_model: WorkspaceModel | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="One customer of a dry run's preview: where it is and where it would be.")
class PreviewMove:
    customer_id: strawberry.Private[int]
    before: Stage | None = strawberry.field(
        description="Its stage in the current primary model; null when it has none there."
    )
    after: Stage = strawberry.field(description="Its stage in the model being tracked or switched to.")

    @strawberry.field(description="The customer.")
    async def customer(self, info: Info) -> Customer | None:
        record = await info.context.loaders.customer.load(self.customer_id)
        return Customer.from_record(record) if record else None


@strawberry.type(description="The result of building a model's stages (or of a dry run).")
class RebuildPayload:
    workspace: Workspace | None = None
    distribution: list[StageCount] = strawberry.field(default_factory=list)
    transitions_written: int = strawberry.field(default=0, description="0 for a dry run.")
    sample: list[PreviewMove] = strawberry.field(
        default_factory=list,
        description="A dry run's preview: up to 10 customers, where they are in the current primary model and "
        "where they would be; those whose stage category would change (a customer shown as churned, say) first. "
        "Empty when not a dry run.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The workspace after the change.")
class UntrackLifecycleModelPayload:
    workspace: Workspace | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _workspace(info: Info) -> Workspace:
    return Workspace.from_record(await get_workspace(info.context.workspace_id))


async def _rebuilt(info: Info, key: str, result: admin.Rebuild, dry_run: bool) -> RebuildPayload:
    # Only a dry run has a sample, and it changed nothing: the primary model is still the one read.
    models = await info.context.loaders.workspace_models() if result.sample else []
    primary = next((r.model_key for r in models if r.is_primary), None)
    info.context.reset_loaders()  # the workspace's models changed
    registry = info.context.registry
    sample = [
        PreviewMove(
            customer_id=m.customer_id,
            before=stage_type(registry, primary, m.before) if primary and m.before else None,
            after=stage_type(registry, key, m.after),
        )
        for m in result.sample
    ]
    return RebuildPayload(
        workspace=None if dry_run else await _workspace(info),
        distribution=stage_counts(registry, key, result.distribution),
        transitions_written=result.transitions_written,
        sample=sample,
    )


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(
        description="Move a customer by hand (recorded as MANUAL with this key as actor).",
        permission_classes=[IsEditor],
    )
    async def move_customer(self, info: Info, input: MoveCustomerInput) -> MoveCustomerPayload:
        ctx = info.context
        try:
            cid = decode_customer_id(input.customer_id) or -1
            moved = await admin.move(
                ctx.lifecycle,
                ctx.workspace_id,
                cid,
                input.model,
                input.stage,
                input.note,
                input.force,
                ctx.caller.actor,
                ctx.caller.role.allows(Role.ADMIN),
            )
        except InputInvalid as exc:
            return MoveCustomerPayload(user_errors=user_errors(exc.problems))
        record = await ctx.loaders.customer.load(cid)
        return MoveCustomerPayload(
            customer=Customer.from_record(record) if record else None,
            transition=StageTransition.from_record(ctx.registry, moved[0]),
        )

    @strawberry.mutation(
        description="Set a tracked model's parameters (ADMIN); values are type-checked.",
        permission_classes=[IsAdmin],
    )
    async def configure_lifecycle_model(
        self, info: Info, input: ConfigureLifecycleModelInput
    ) -> ConfigureLifecycleModelPayload:
        ctx = info.context
        try:
            if not isinstance(input.params, dict):
                raise invalid(("params",), "INVALID_PARAMS", "params must be a JSON object.")
            await admin.configure(ctx.lifecycle, ctx.workspace_id, input.model, input.params)
        except InputInvalid as exc:
            return ConfigureLifecycleModelPayload(user_errors=user_errors(exc.problems))
        ctx.reset_loaders()
        rows = await workspace_models(ctx.workspace_id)
        row = next(r for r in rows if r.model_key == input.model)
        return ConfigureLifecycleModelPayload(workspace_model=workspace_model_type(ctx.registry, row))

    @strawberry.mutation(
        description="Track another model beside the primary one, replaying history (ADMIN).",
        permission_classes=[IsAdmin],
    )
    async def track_lifecycle_model(self, info: Info, input: TrackLifecycleModelInput) -> RebuildPayload:
        ctx = info.context
        try:
            result = await admin.track(ctx.lifecycle, ctx.workspace_id, input.model, input.dry_run)
        except InputInvalid as exc:
            return RebuildPayload(user_errors=user_errors(exc.problems))
        return await _rebuilt(info, input.model, result, input.dry_run)

    @strawberry.mutation(
        description="Replay one customer, or every customer matching a filter, from their whole history in "
        "every tracked model (ADMIN). Moves that change are superseded, not deleted; a journey that is already "
        "right writes nothing.",
        permission_classes=[IsAdmin],
    )
    async def rebuild_customer_stages(
        self, info: Info, input: RebuildCustomerStagesInput
    ) -> RebuildCustomerStagesPayload:
        ctx = info.context
        try:
            cid = None if input.customer_id is None else decode_customer_id(input.customer_id) or -1
            segment = None if input.filter is None else await input.filter.to_service(info)
            done = await admin.rebuild_customers(
                ctx.lifecycle, ctx.workspace_id, cid, segment, input.dry_run, ctx.caller.actor
            )
        except InputInvalid as exc:
            return RebuildCustomerStagesPayload(user_errors=user_errors(exc.problems), dry_run=input.dry_run)
        ctx.reset_loaders()
        return RebuildCustomerStagesPayload(
            customers_rebuilt=done.customers,
            customers_changed=done.changed,
            transitions_superseded=done.superseded,
            transitions_written=done.written,
            dry_run=input.dry_run,
        )

    @strawberry.mutation(
        description="Stop tracking a model; its history is kept (ADMIN).", permission_classes=[IsAdmin]
    )
    async def untrack_lifecycle_model(
        self, info: Info, input: UntrackLifecycleModelInput
    ) -> UntrackLifecycleModelPayload:
        try:
            await admin.untrack(info.context.workspace_id, input.model)
        except InputInvalid as exc:
            return UntrackLifecycleModelPayload(user_errors=user_errors(exc.problems))
        info.context.reset_loaders()
        return UntrackLifecycleModelPayload(workspace=await _workspace(info))

    @strawberry.mutation(
        description="Make another model the primary one, by replay or mapping (ADMIN). "
        "The previous model stays tracked, so switching back loses nothing.",
        permission_classes=[IsAdmin],
    )
    async def switch_lifecycle_model(self, info: Info, input: SwitchLifecycleModelInput) -> RebuildPayload:
        ctx = info.context
        mapping = {m.from_: m.to for m in input.mapping or []}
        try:
            result = await admin.switch(
                ctx.lifecycle, ctx.workspace_id, input.model, input.strategy.value, mapping, input.dry_run
            )
        except InputInvalid as exc:
            return RebuildPayload(user_errors=user_errors(exc.problems))
        return await _rebuilt(info, input.model, result, input.dry_run)
