"""Lifecycle types: models and their stages, where customers stand, and recorded moves."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from weakref import ref

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.records import AssignmentRecord, TransitionRecord, WorkspaceModelRecord
from plugins import types as p
from plugins.manager import PluginInfo as PluginData
from plugins.manager import PluginProblem, PluginRegistry
from schema.context import Info
from schema.ids import row_id
from schema.sql.mapping import (
    Column,
    Constant,
    DaysSince,
    GlobalId,
    ModelOf,
    NotCompiled,
    Reference,
    ShareOf,
    StageOf,
    TypeSql,
)

if TYPE_CHECKING:
    from schema.customers import Customer
    from schema.interactions import Interaction


@strawberry.enum(description="What a stage means for metrics.")
class StageCategory(Enum):
    PROSPECT = "PROSPECT"
    CUSTOMER = "CUSTOMER"
    CHURNED = "CHURNED"
    LOST = "LOST"


@strawberry.enum(description="Why a customer moved.")
class TransitionCause(Enum):
    RULE = strawberry.enum_value("RULE", description="A rule of the model held (or the customer was created).")
    MANUAL = strawberry.enum_value("MANUAL", description="Someone moved the customer by hand.")
    REPLAY = strawberry.enum_value("REPLAY", description="Rebuilt by replaying history into a model.")
    MAPPING = strawberry.enum_value("MAPPING", description="Carried over from another model's stage.")


@strawberry.enum(description="Whether a plugin is in use.")
class PluginStatus(Enum):
    LOADED = "LOADED"
    REJECTED = "REJECTED"


@strawberry.type(description="A label of a stage in one locale.")
class StageLabel:
    locale: str
    text: str


@strawberry.type(description="A stage of a lifecycle model.")
class Stage:
    key: str
    category: StageCategory
    order: int = strawberry.field(description="Position in the model, from 1.")
    labels: list[StageLabel] = strawberry.field(description="The stage's name in every locale the plugin gives.")

    @strawberry.field(
        description="The stage's name in `locale` (en and pt-BR for the built-in models), matched as BCP 47 "
        "tags are: any case, `_` or `-`, then the language alone (pt, pt_BR and pt-br all find pt-BR); English "
        "when the model has no label in that language."
    )
    def label(self, locale: str = "en") -> str:
        texts = {label.locale: label.text for label in self.labels}
        found = p.match_locale(locale, texts) or p.match_locale("en", texts)
        return texts[found] if found else self.key

    @classmethod
    def from_data(cls, s: p.Stage) -> Stage:
        return cls(
            key=s.key,
            category=StageCategory(s.category.value),
            order=s.order,
            labels=[StageLabel(locale=k, text=v) for k, v in s.labels.items()],
        )

    @classmethod
    def unknown(cls, key: str) -> Stage:
        """A stage no installed model declares any more (its plugin was removed or changed)."""
        return cls(key=key, category=StageCategory.PROSPECT, order=0, labels=[StageLabel(locale="en", text=key)])


@strawberry.type(description="An allowed move and the rule that makes it, in plain words.")
class TransitionRule:
    name: str
    from_: Stage | None = strawberry.field(name="from", description="Null: from any stage.")
    to: Stage
    description: str
    automatic: bool = strawberry.field(description="False: only a manual move can take it.")


@strawberry.type(description="A parameter of a model that a workspace may set.")
class ModelParam:
    name: str
    type: str = strawberry.field(description="int, float, decimal, str, bool, str_list or int_map.")
    default: JSON
    description: str
    minimum: float | None = strawberry.field(
        description="The smallest value accepted (for an int_map, for each value); null: no bound."
    )
    maximum: float | None = strawberry.field(description="The largest value accepted; null: no bound.")
    keys_are_interaction_kinds: bool = strawberry.field(
        description="For an int_map: its keys must be interaction kinds (see `interactionKinds`)."
    )


@strawberry.type(description="A plugin: loaded, or rejected with the reason.")
class PluginInfo:
    name: str = strawberry.field(description="The entry-point or module name.")
    distribution: str = strawberry.field(description="The Python distribution that ships it.")
    version: str
    hooks: list[str] = strawberry.field(description="The hooks it implements.")
    builtin: bool
    status: PluginStatus
    error: str | None = strawberry.field(description="Why it (or one of its models) was rejected.")

    @classmethod
    def loaded(cls, d: PluginData, problems: list[PluginProblem]) -> PluginInfo:
        return cls(
            name=d.name,
            distribution=d.distribution,
            version=d.version,
            hooks=list(d.hooks),
            builtin=d.builtin,
            status=PluginStatus.LOADED,
            error="; ".join(p.reason for p in problems) or None,
        )

    @classmethod
    def rejected(cls, d: PluginProblem) -> PluginInfo:
        return cls(
            name=d.name,
            distribution=d.distribution,
            version=d.version,
            hooks=[],
            builtin=False,
            status=PluginStatus.REJECTED,
            error=d.reason,
        )


def plugin_infos(registry: PluginRegistry) -> list[PluginInfo]:
    """One entry per plugin: loaded (with the reasons any of its models or kinds were rejected),
    or rejected whole."""
    return [PluginInfo.loaded(i, registry.problems_of(i.name)) for i in registry.plugins.values()] + [
        PluginInfo.rejected(x) for x in registry.problems if x.name not in registry.plugins
    ]


@strawberry.type(description="A lifecycle model as installed by a plugin.")
class LifecycleModel:
    key: str
    name: str
    description: str
    version: str
    stages: list[Stage]
    data: strawberry.Private[p.LifecycleModel]
    transitions: list[TransitionRule] = strawberry.field(description="In the order the engine tries them.")
    params: list[ModelParam]
    plugin: PluginInfo

    @classmethod
    def from_data(cls, m: p.LifecycleModel, plugin: PluginData) -> LifecycleModel:
        stages = {s.key: Stage.from_data(s) for s in m.stages}
        return cls(
            key=m.key,
            name=m.name,
            description=m.description,
            version=m.version,
            stages=sorted(stages.values(), key=lambda s: s.order),
            data=m,
            transitions=[
                TransitionRule(
                    name=t.name,
                    from_=stages[t.source] if t.source else None,
                    to=stages[t.target],
                    description=t.description,
                    automatic=t.criterion is not None,
                )
                for t in m.transitions
            ],
            params=[
                ModelParam(
                    name=x.name,
                    type=x.type,
                    default=x.default,
                    description=x.description,
                    minimum=x.minimum,
                    maximum=x.maximum,
                    keys_are_interaction_kinds=x.keys_are_kinds,
                )
                for x in m.params
            ],
            plugin=PluginInfo.loaded(plugin, []),
        )

    @strawberry.field(
        description="Where new customers start in this workspace: with its parameters for the model (e.g. "
        "three-phase's use_selection), or the defaults when it never set any."
    )
    async def initial_stage(self, info: Info) -> Stage:
        rows = await info.context.loaders.workspace_models()
        row = next((r for r in rows if r.model_key == self.key), None)
        key = self.data.initial_for(self.data.effective_params(row.params if row else {}))
        return next(s for s in self.stages if s.key == key)


def model_type(registry: PluginRegistry, key: str) -> LifecycleModel | None:
    loaded = registry.models.get(key)
    return LifecycleModel.from_data(loaded.model, loaded.plugin) if loaded else None


# Stage objects by registry and (model, stage): plugin data never changes once loaded, and every
# metric and history row asks for them (a metrics request spent a tenth of its Python here).
# (Keyed by the registry's id, checked through a weak reference: a registry is not hashable.)
_STAGES: dict[int, tuple[ref[PluginRegistry], dict[tuple[str, str], Stage]]] = {}


def stage_type(registry: PluginRegistry, model_key: str, stage_key: str) -> Stage:
    entry = _STAGES.get(id(registry))
    if entry is None or entry[0]() is not registry:
        entry = _STAGES[id(registry)] = (ref(registry), {})
    known = entry[1]
    found = known.get((model_key, stage_key))
    if found is None:
        model = registry.model(model_key)
        data = model.stage(stage_key) if model else None
        found = known[(model_key, stage_key)] = Stage.from_data(data) if data else Stage.unknown(stage_key)
    return found


@strawberry.type(description="A model this workspace tracks (or tracked).")
class WorkspaceModel:
    model: LifecycleModel
    is_primary: bool = strawberry.field(description="The model `customer.stage` answers for by default.")
    tracked: bool = strawberry.field(description="False: no longer evaluated; its history is kept.")
    params: dict[str, Any] = strawberry.field(
        graphql_type=JSON, description="The parameters in force: defaults and this workspace's values."
    )
    overrides: dict[str, Any] = strawberry.field(graphql_type=JSON, description="Only the values this workspace set.")
    enabled_at: datetime


@strawberry.type(description="Where a customer stands in one model.")
class CustomerStage:
    model_key: strawberry.Private[str]
    stage: Stage
    entered_at: datetime = strawberry.field(description="When the customer entered this stage.")
    next_check_at: datetime | None = strawberry.field(
        description="When a time-based rule may next move the customer (null: only an interaction can)."
    )

    @strawberry.field(description="The model.")
    def model(self, info: Info) -> LifecycleModel:
        found = model_type(info.context.registry, self.model_key)
        assert found is not None  # only tracked, installed models have stages here
        return found

    @strawberry.field(description="Days since `enteredAt`, up to now.")
    def days_in_stage(self) -> float:
        return round((datetime.now(UTC) - self.entered_at).total_seconds() / 86400, 4)

    @classmethod
    def from_record(cls, registry: PluginRegistry, a: AssignmentRecord) -> CustomerStage:
        return cls(
            model_key=a.model_key,
            stage=stage_type(registry, a.model_key, a.stage),
            entered_at=a.entered_at,
            next_check_at=a.next_check_at,
        )


@strawberry.type(description="One recorded move of a customer in a model, and why it happened.")
class StageTransition(relay.Node):
    id: relay.NodeID[int]
    customer_id: strawberry.Private[int]
    interaction_id: strawberry.Private[int | None]
    model_key: str = strawberry.field(description="The model's key (kept even if its plugin is removed).")
    model_version: str = strawberry.field(description="The model's version when the move was made.")
    from_: Stage | None = strawberry.field(name="from", description="Null: the customer's first stage.")
    to: Stage
    occurred_at: datetime = strawberry.field(description="When the move happened (the rule's time, not the check's).")
    cause: TransitionCause
    rule: str | None = strawberry.field(description="The rule that fired, for RULE and REPLAY moves.")
    actor: str | None = strawberry.field(description="Who moved the customer, for MANUAL moves.")
    note: str | None
    correction: bool = strawberry.field(
        description=(
            "True when the move was written by a rebuild of the customer's journey that superseded "
            "earlier moves: an interaction arrived dated before moves already made, createdAt changed, "
            "or an admin ran rebuildCustomerStages. Subscriptions and plugins receive corrections like "
            "any other move, with this flag set; the moves they replace keep their ids and are listed "
            "by history(includeSuperseded: true)."
        )
    )
    superseded_at: datetime | None = strawberry.field(
        description="When a rebuild replaced this move (null: the move is in force)."
    )
    superseded_reason: str | None = strawberry.field(description="Why it was replaced, e.g. the late interaction.")

    @classmethod
    def from_record(cls, registry: PluginRegistry, t: TransitionRecord) -> StageTransition:
        return cls(
            id=t.id,
            customer_id=t.customer_id,
            interaction_id=t.interaction_id,
            model_key=t.model_key,
            model_version=t.model_version,
            from_=stage_type(registry, t.model_key, t.from_stage) if t.from_stage else None,
            to=stage_type(registry, t.model_key, t.to_stage),
            occurred_at=t.occurred_at,
            cause=TransitionCause(t.cause),
            rule=t.rule,
            actor=t.actor,
            note=t.note,
            correction=t.correction,
            superseded_at=t.superseded_at,
            superseded_reason=t.superseded_reason,
        )

    @strawberry.field(description="The model; null if its plugin is no longer installed.")
    def model(self, info: Info) -> LifecycleModel | None:
        return model_type(info.context.registry, self.model_key)

    @strawberry.field(description="The customer who moved.")
    async def customer(self, info: Info) -> Annotated[Customer, strawberry.lazy("schema.customers")]:
        from schema.customers import Customer

        record = await info.context.loaders.customer.load(self.customer_id)
        assert record is not None
        return Customer.from_record(record)

    @strawberry.field(description="The interaction that caused the move, if one did.")
    async def interaction(self, info: Info) -> Annotated[Interaction, strawberry.lazy("schema.interactions")] | None:
        from schema.interactions import Interaction

        if self.interaction_id is None:
            return None
        record = await info.context.loaders.interaction.load(self.interaction_id)
        return Interaction.from_record(record) if record else None

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[StageTransition | None]:
        ids = [row_id(i) for i in node_ids]
        found = await info.context.loaders.transition.load_many(ids)
        return [cls.from_record(info.context.registry, t) if t else None for t in found]


def workspace_model_type(registry: PluginRegistry, row: WorkspaceModelRecord) -> WorkspaceModel | None:
    loaded = registry.models.get(row.model_key)
    if loaded is None:
        return None
    return WorkspaceModel(
        model=LifecycleModel.from_data(loaded.model, loaded.plugin),
        is_primary=row.is_primary,
        tracked=row.tracked,
        params=loaded.model.effective_params(row.params),
        overrides=row.params,
        enabled_at=row.enabled_at,
    )


@strawberry.type(description="How many customers are (or would be) in a stage.")
class StageCount:
    stage: Stage
    count: int
    # Non-null by the API contract; with nobody counted every count is 0 too, so 0 misleads no one.
    share: float = strawberry.field(description="count ÷ all the customers counted, 0 when there are none.")


def stage_counts(registry: PluginRegistry, key: str, counts: Mapping[str, int]) -> list[StageCount]:
    """One count per stage of the model, in the model's order (stages it no longer has last)."""
    total = sum(counts.values())
    model = registry.model(key)
    order = [s.key for s in sorted(model.stages, key=lambda s: s.order)] if model else []
    order += sorted(k for k in counts if k not in order)
    return [
        StageCount(
            stage=stage_type(registry, key, s),
            count=counts.get(s, 0),
            share=round(counts.get(s, 0) / total, 6) if total else 0.0,
        )
        for s in order
    ]


# --- the SQL mapping of the compiled reads (schema.sql) -------------------------------------

_PLUGIN_DATA = Constant()
STAGE_SQL = TypeSql("Stage", None, {n: _PLUGIN_DATA for n in ("key", "category", "order", "labels", "label")})
STAGE_LABEL_SQL = TypeSql("StageLabel", None, {"locale": _PLUGIN_DATA, "text": _PLUGIN_DATA})
TRANSITION_RULE_SQL = TypeSql(
    "TransitionRule", None, {n: _PLUGIN_DATA for n in ("name", "from", "to", "description", "automatic")}
)
MODEL_PARAM_SQL = TypeSql(
    "ModelParam",
    None,
    {
        n: _PLUGIN_DATA
        for n in ("name", "type", "default", "description", "minimum", "maximum", "keysAreInteractionKinds")
    },
)
PLUGIN_INFO_SQL = TypeSql(
    "PluginInfo",
    None,
    {n: _PLUGIN_DATA for n in ("name", "distribution", "version", "hooks", "builtin", "status", "error")},
)
LIFECYCLE_MODEL_SQL = TypeSql(
    "LifecycleModel",
    None,
    {
        **{
            n: _PLUGIN_DATA
            for n in ("key", "name", "description", "version", "stages", "transitions", "params", "plugin")
        },
        "initialStage": NotCompiled("depends on the workspace's parameters for the model"),
    },
)
# A row of schema.sql.metrics.stage_counts.
STAGE_COUNT_SQL = TypeSql(
    "StageCount",
    None,
    {"stage": StageOf("model_key", "stage"), "count": Column("n", "int"), "share": ShareOf("n", "total")},
)
CUSTOMER_STAGE_SQL = TypeSql(
    "CustomerStage",
    "stage_assignment",
    {
        "stage": StageOf("model_key", "stage"),
        "enteredAt": Column("entered_at", "datetime"),
        "nextCheckAt": Column("next_check_at", "datetime"),
        "model": ModelOf("model_key"),
        "daysInStage": DaysSince("entered_at"),
    },
)
STAGE_TRANSITION_SQL = TypeSql(
    "StageTransition",
    "stage_transition",
    {
        "id": GlobalId("StageTransition"),
        "modelKey": Column("model_key", "text"),
        "modelVersion": Column("model_version", "text"),
        "from": StageOf("model_key", "from_stage"),
        "to": StageOf("model_key", "to_stage"),
        "occurredAt": Column("occurred_at", "datetime"),
        "cause": Column("cause", "text"),
        "rule": Column("rule", "text"),
        "actor": Column("actor", "text"),
        "note": Column("note", "text"),
        "correction": Column("correction", "bool"),
        "supersededAt": Column("superseded_at", "datetime"),
        "supersededReason": Column("superseded_reason", "text"),
        "model": ModelOf("model_key"),
        "customer": Reference("Customer", "customer_id"),
        "interaction": Reference("Interaction", "interaction_id"),
    },
)
