"""The Mutation root. Expected failures come back as `userErrors`; nothing is half-written."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import customers, health, interactions, workspaces
from api.errors import InputInvalid, Problem
from api.interactions import NewInteraction, Recorded
from plugins.manager import PluginRegistry
from schema.context import Info
from schema.customers import (
    CreateCustomerInput,
    Customer,
    DeleteCustomerInput,
    UpdateCustomerInput,
    customer_fields,
)
from schema.errors import UserError, user_errors
from schema.ids import row_id
from schema.insights import HealthWeightsInput
from schema.interactions import Interaction
from schema.lifecycle import StageTransition
from schema.permissions import IsAdmin, IsEditor
from schema.query import decode_customer_id
from schema.workspace import AcquisitionSpend, ApiKey, Role, Workspace

# --- payloads -----------------------------------------------------------------------------


@strawberry.type(description="The customer after the change, or what was wrong.")
class CustomerPayload:
    customer: Customer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The id of the erased customer, or what was wrong.")
class DeleteCustomerPayload:
    deleted_customer_id: relay.GlobalID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The recorded interaction, or what was wrong.")
class RecordInteractionPayload:
    interaction: Interaction | None = None
    customer: Customer | None = None
    deduplicated: bool = strawberry.field(
        default=False, description="True when the idempotency key was already used: nothing new was stored."
    )
    transitions: list[StageTransition] = strawberry.field(
        default_factory=list, description="The stage moves this interaction caused, in every tracked model."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The outcome of one item of a batch.")
class RecordInteractionResult:
    index: int = strawberry.field(description="The item's position in the input list, from 0.")
    interaction: Interaction | None = None
    deduplicated: bool = False
    transitions: list[StageTransition] = strawberry.field(default_factory=list, description="Moves it caused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="Per item, what was stored or what was wrong; valid items are stored.")
class RecordInteractionsPayload:
    results: list[RecordInteractionResult]
    stored_count: int = strawberry.field(description="Items stored by this call.")
    deduplicated_count: int = strawberry.field(description="Items whose idempotency key was already used.")
    failed_count: int = strawberry.field(description="Items refused; see their userErrors.")
    user_errors: list[UserError] = strawberry.field(
        description='Every error of every item, with the path ["interactions", index, field].'
    )


@strawberry.type(description="A new API key. `key` is the secret: it is shown this once only.")
class CreateApiKeyPayload:
    api_key: ApiKey | None = None
    key: str | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The revoked key, or what was wrong.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The recorded spend, or what was wrong.")
class RecordAcquisitionSpendPayload:
    acquisition_spend: AcquisitionSpend | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# --- inputs -------------------------------------------------------------------------------


@strawberry.input(description="One interaction. The same idempotencyKey twice stores it once.")
class RecordInteractionInput:
    customer_id: relay.GlobalID
    kind: str = strawberry.field(description="A key from `interactionKinds`.")
    occurred_at: datetime = strawberry.field(description="At most one day in the future.")
    channel: str | None = None
    amount: Decimal | None = strawberry.field(default=None, description="Not negative.")
    score: int | None = strawberry.field(default=None, description="Within the kind's scale.")
    properties: JSON | None = None
    idempotency_key: str | None = strawberry.field(default=None, description="Unique per workspace.")

    def to_service(self) -> NewInteraction:
        return NewInteraction(
            customer_id=decode_customer_id(self.customer_id),
            kind=self.kind,
            occurred_at=self.occurred_at,
            channel=self.channel,
            amount=self.amount,
            score=self.score,
            properties=self.properties if self.properties is not None else {},
            idempotency_key=self.idempotency_key,
        )


@strawberry.input(description="Up to 1000 interactions.")
class RecordInteractionsInput:
    interactions: list[RecordInteractionInput]


@strawberry.input(description="Changes to the workspace: an omitted field is unchanged.")
class UpdateWorkspaceInput:
    name: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    gross_margin: Decimal | None = strawberry.field(
        default=strawberry.UNSET, description="Above 0 and at most 1; used by the CLV figures."
    )
    health_weights: HealthWeightsInput | None = strawberry.field(
        default=strawberry.UNSET, description="The weights of the health score's parts."
    )


@strawberry.type(description="The workspace after the change, or what was wrong.")
class UpdateWorkspacePayload:
    workspace: Workspace | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="A new API key: a name to recognise it by and its role.")
class CreateApiKeyInput:
    name: str
    role: Role


@strawberry.input(description="The API key to revoke; it stops working at once.")
class RevokeApiKeyInput:
    id: relay.GlobalID


@strawberry.input(description="Spend on acquisition over a period; channel null means all channels.")
class RecordAcquisitionSpendInput:
    period_start: date
    period_end: date = strawberry.field(description="Inclusive; not before periodStart.")
    amount: Decimal = strawberry.field(description="Not negative.")
    channel: str | None = None


def _node_id(gid: relay.GlobalID, type_name: str) -> int:
    found = row_id(gid.node_id) if gid.type_name == type_name else -1
    if found < 0:
        raise InputInvalid([Problem(("id",), "NOT_FOUND", f"No {type_name} with this id in this workspace.")])
    return found


def _recorded(registry: PluginRegistry, index: int, outcome: Recorded | list[Problem]) -> RecordInteractionResult:
    if isinstance(outcome, list):
        return RecordInteractionResult(index=index, user_errors=user_errors(outcome))
    return RecordInteractionResult(
        index=index,
        interaction=Interaction.from_record(outcome.interaction),
        deduplicated=not outcome.created,
        transitions=[StageTransition.from_record(registry, t) for t in outcome.transitions],
    )


@strawberry.type
class DataMutation:
    @strawberry.mutation(description="Create a customer.", permission_classes=[IsEditor])
    async def create_customer(self, info: Info, input: CreateCustomerInput) -> CustomerPayload:
        try:
            saved = await customers.create_customer(
                info.context.workspace_id, customer_fields(input), lifecycle=info.context.lifecycle
            )
        except InputInvalid as exc:
            return CustomerPayload(user_errors=user_errors(exc.problems))
        return CustomerPayload(customer=Customer.from_record(saved.customer))

    @strawberry.mutation(description="Change a customer's fields.", permission_classes=[IsEditor])
    async def update_customer(self, info: Info, input: UpdateCustomerInput) -> CustomerPayload:
        try:
            cid = _node_id(input.id, "Customer")
            saved = await customers.update_customer(
                info.context.workspace_id, cid, customer_fields(input), lifecycle=info.context.lifecycle
            )
        except InputInvalid as exc:
            return CustomerPayload(user_errors=user_errors(exc.problems))
        return CustomerPayload(customer=Customer.from_record(saved.customer))

    @strawberry.mutation(description="Erase a customer and all its interactions.", permission_classes=[IsEditor])
    async def delete_customer(self, info: Info, input: DeleteCustomerInput) -> DeleteCustomerPayload:
        try:
            cid = _node_id(input.id, "Customer")
            if not await customers.delete_customer(info.context.workspace_id, cid):
                raise customers.not_found("id", "customer")
        except InputInvalid as exc:
            return DeleteCustomerPayload(user_errors=user_errors(exc.problems))
        return DeleteCustomerPayload(deleted_customer_id=input.id)

    @strawberry.mutation(description="Record one interaction.", permission_classes=[IsEditor])
    async def record_interaction(self, info: Info, input: RecordInteractionInput) -> RecordInteractionPayload:
        ctx = info.context
        try:
            outcome = await interactions.record_one(
                ctx.workspace_id, input.to_service(), ctx.registry.kinds, lifecycle=ctx.lifecycle
            )
        except InputInvalid as exc:
            return RecordInteractionPayload(user_errors=user_errors(exc.problems))
        record = await ctx.loaders.customer.load(outcome.interaction.customer_id)
        return RecordInteractionPayload(
            interaction=Interaction.from_record(outcome.interaction),
            customer=Customer.from_record(record) if record else None,
            deduplicated=not outcome.created,
            transitions=[StageTransition.from_record(ctx.registry, t) for t in outcome.transitions],
        )

    @strawberry.mutation(
        description="Record up to 1000 interactions; each item succeeds or fails alone.",
        permission_classes=[IsEditor],
    )
    async def record_interactions(self, info: Info, input: RecordInteractionsInput) -> RecordInteractionsPayload:
        ctx = info.context
        limit = ctx.settings.max_batch_size
        if len(input.interactions) > limit:
            error = UserError(
                field=["interactions"],
                code="TOO_MANY",
                message=f"At most {limit} interactions per call, got {len(input.interactions)}.",
            )
            return RecordInteractionsPayload(
                results=[], stored_count=0, deduplicated_count=0, failed_count=0, user_errors=[error]
            )
        items = [i.to_service() for i in input.interactions]
        outcomes = await interactions.record_many(ctx.workspace_id, items, ctx.registry.kinds, lifecycle=ctx.lifecycle)
        results = [_recorded(ctx.registry, n, o) for n, o in enumerate(outcomes)]
        all_errors = [
            Problem(p.field, p.code, p.message).at("interactions", str(n))
            for n, o in enumerate(outcomes)
            if isinstance(o, list)
            for p in o
        ]
        return RecordInteractionsPayload(
            results=results,
            stored_count=sum(1 for o in outcomes if isinstance(o, Recorded) and o.created),
            deduplicated_count=sum(1 for o in outcomes if isinstance(o, Recorded) and not o.created),
            failed_count=sum(1 for o in outcomes if isinstance(o, list)),
            user_errors=user_errors(all_errors),
        )

    @strawberry.mutation(
        description="Create an API key (ADMIN). The secret is in the payload once.",
        permission_classes=[IsAdmin],
    )
    async def create_api_key(self, info: Info, input: CreateApiKeyInput) -> CreateApiKeyPayload:
        try:
            record, secret = await workspaces.create_api_key(
                info.context.workspace_id, input.name, workspaces.Role(input.role.value)
            )
        except InputInvalid as exc:
            return CreateApiKeyPayload(user_errors=user_errors(exc.problems))
        return CreateApiKeyPayload(api_key=ApiKey.from_record(record), key=secret)

    @strawberry.mutation(description="Revoke an API key at once (ADMIN).", permission_classes=[IsAdmin])
    async def revoke_api_key(self, info: Info, input: RevokeApiKeyInput) -> RevokeApiKeyPayload:
        try:
            record = await workspaces.revoke_api_key(info.context.workspace_id, _node_id(input.id, "ApiKey"))
        except InputInvalid as exc:
            return RevokeApiKeyPayload(user_errors=user_errors(exc.problems))
        return RevokeApiKeyPayload(api_key=ApiKey.from_record(record))

    @strawberry.mutation(
        description="Change the workspace's name, time zone, gross margin or health weights (ADMIN).",
        permission_classes=[IsAdmin],
    )
    async def update_workspace(self, info: Info, input: UpdateWorkspaceInput) -> UpdateWorkspacePayload:
        names = {"name": input.name, "timezone": input.timezone, "gross_margin": input.gross_margin}
        changes = {k: v for k, v in names.items() if v is not strawberry.UNSET}
        try:
            weights = None
            if input.health_weights not in (None, strawberry.UNSET):
                current = (await health.workspace_weights(info.context.workspace_id)).by_part()
                weights = health.checked_weights(current | input.health_weights.given())
            record = await workspaces.update_workspace(info.context.workspace_id, changes)
            if weights is not None:
                await health.set_weights(info.context.workspace_id, weights)
        except InputInvalid as exc:
            return UpdateWorkspacePayload(user_errors=user_errors(exc.problems))
        return UpdateWorkspacePayload(workspace=Workspace.from_record(record))

    @strawberry.mutation(description="Record acquisition spend, for CAC.", permission_classes=[IsEditor])
    async def record_acquisition_spend(
        self, info: Info, input: RecordAcquisitionSpendInput
    ) -> RecordAcquisitionSpendPayload:
        try:
            record = await workspaces.record_spend(
                info.context.workspace_id, input.period_start, input.period_end, input.amount, input.channel
            )
        except InputInvalid as exc:
            return RecordAcquisitionSpendPayload(user_errors=user_errors(exc.problems))
        return RecordAcquisitionSpendPayload(acquisition_spend=AcquisitionSpend.from_record(record))
