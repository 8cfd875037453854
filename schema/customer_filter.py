"""`CustomerFilter`: conditions on customers, comparisons, AND/OR/NOT groups and saved segments,
turned into the service's filter (`api.customer_filters`) with every problem named by its path.

A saved segment's definition is the filter as a client sends it in variables (`to_variables`);
it is read back through graphql-core's own input coercion and Strawberry's argument conversion
(`from_variables`), so a stored segment means exactly what the same filter sent inline means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, cast

import strawberry
from graphql import GraphQLError, GraphQLInputType
from graphql.utilities import coerce_input_value
from strawberry.scalars import JSON
from strawberry.types.arguments import convert_argument
from strawberry.types.base import has_object_definition
from strawberry.types.unset import UNSET

from api import customer_filters as service
from api import health, segments
from api.errors import InputInvalid, Problem, invalid
from api.lifecycle import Tracked
from api.validation import ATTRIBUTE_KEY, ATTRIBUTE_KEY_RULE
from schema.context import Info
from schema.errors import bad_input

Path = tuple[str, ...]
MAX_SEGMENT_DEPTH = 8  # segments naming segments


@dataclass(frozen=True)
class FilterScope:
    """What reading a filter needs: the workspace, its tracked models, the schema (for segments'
    stored definitions). From a request (`of`) or made by a command (`jornada export`)."""

    workspace_id: int
    tracked: Callable[[], Awaitable[list[Tracked]]]
    schema: strawberry.Schema
    weights: Callable[[], Awaitable[health.HealthWeights]]  # the health score's
    now: datetime

    @classmethod
    def of(cls, info: Info) -> FilterScope:
        from schema.insights import weights_of

        return cls(
            info.context.workspace_id,
            info.context.loaders.tracked,
            info.schema,
            lambda: weights_of(info),
            datetime.now(UTC),
        )


# The service's operators are the GraphQL enum (one list of them, not two to keep in step).
strawberry.enum(service.Op, name="ComparisonOp", description="How a `FieldCondition` compares.")


@strawberry.input(description="Equality on one custom attribute (scalar values only).")
class AttributeEquals:
    key: str
    value: JSON = strawberry.field(description="A string, number, boolean or null; types must match.")


@strawberry.input(
    description="One comparison on a customer field or custom attribute. Texts compare by code point, "
    "numbers as numbers, times as instants; a number never equals a string."
)
class FieldCondition:
    field: str = strawberry.field(
        description="name, email, phone, company, jobTitle, industry, acquisitionChannel, externalId, createdAt, "
        "updatedAt, or `attributes.<key>` for a custom attribute (e.g. `attributes.employees`)."
    )
    op: service.Op = strawberry.field(
        default=service.Op.EQ,
        description="EQ (`value`), IN (`values`), GT/GTE/LT/LTE (`value`: a number or string; a time for "
        "createdAt/updatedAt), EXISTS (has a non-empty value; no `value`).",
    )
    value: JSON | None = strawberry.field(default=None, description="The value for EQ, GT, GTE, LT and LTE.")
    values: list[JSON] | None = strawberry.field(default=None, description="The values for IN (1 to 1000).")


@strawberry.input(
    description="Customers worth winning back now: they have paid (a purchase, renewal or subscription) and their "
    "P(alive) or their health fell below its threshold. Order them by VALUE_AT_RISK."
)
class ReengageInput:
    p_alive_below: float = strawberry.field(default=0.5, description="From 0 to 1.")
    health_below: float = strawberry.field(default=40.0, description="From 0 to 100.")


@strawberry.input(description="Conditions on customers; all must hold.")
class CustomerFilter:
    text: str | None = strawberry.field(default=None, description="Contained in name, email or company (any case).")
    email: str | None = strawberry.field(default=None, description="Exactly this email (any case).")
    tag: str | None = strawberry.field(default=None, description="Has this tag.")
    created_after: datetime | None = strawberry.field(default=None, description="Created at or after.")
    created_before: datetime | None = strawberry.field(default=None, description="Created before.")
    acquisition_channel: str | None = strawberry.field(default=None, description="Acquired through this channel.")
    attributes: list[AttributeEquals] | None = strawberry.field(
        default=None, description="Each attribute equals its value."
    )
    stage: str | None = strawberry.field(default=None, description="In this stage of `model`.")
    stages: list[str] | None = strawberry.field(default=None, description="In any of these stages of `model`.")
    model: str | None = strawberry.field(
        default=None,
        description="The model `stage`/`stages` refer to; the workspace's primary model if omitted.",
    )
    p_alive_below: float | None = strawberry.field(
        default=None, description="P(alive) from the value model below this (who is slipping away?)."
    )
    p_alive_at_least: float | None = strawberry.field(default=None, description="P(alive) at least this.")
    where: list[FieldCondition] | None = strawberry.field(default=None, description="Each comparison holds.")
    and_: list[CustomerFilter] | None = strawberry.field(
        default=None, name="and", description="Every one of these filters holds."
    )
    or_: list[CustomerFilter] | None = strawberry.field(
        default=None, name="or", description="At least one of these filters holds (an empty list: none does)."
    )
    not_: CustomerFilter | None = strawberry.field(
        default=None,
        name="not",
        description="This filter does not hold. A missing value does not hold, so `not: {where: [{field: "
        '"industry", value: "retail"}]}` takes customers with no industry too.',
    )
    segment: str | None = strawberry.field(
        default=None, description="In the saved segment with this key (see `segments`); combines with the rest."
    )
    health_below: float | None = strawberry.field(default=None, description="Health score (0-100) below this.")
    health_at_least: float | None = strawberry.field(default=None, description="Health score at least this.")
    reengage: ReengageInput | None = strawberry.field(
        default=None, description="Worth winning back now (see ReengageInput); the list a campaign would use."
    )

    async def to_service(self, info: Info, path: Path = ("filter",)) -> service.CustomerFilter:
        """The service's filter, for a query's argument: a problem is the query's error."""
        try:
            return await convert(self, FilterScope.of(info), path)
        except InputInvalid as exc:
            raise bad_input(exc) from None


async def convert(
    f: CustomerFilter, scope: FilterScope, path: Path, seen: tuple[str, ...] = ()
) -> service.CustomerFilter:
    """The service's filter for `f` at `path` (the argument's name first); stage conditions are
    checked against the workspace's models and segments read from the database. Raises
    InputInvalid naming the field at fault."""
    stages = tuple([f.stage] if f.stage else []) + tuple(f.stages or ())
    stage_model = await _stage_model(scope, f.model, stages, path) if stages or f.model else None
    all_of = [await convert(sub, scope, (*path, "and", str(n)), seen) for n, sub in enumerate(f.and_ or [])]
    if f.segment is not None:
        all_of.append(await _segment(scope, f.segment, (*path, "segment"), seen))
    computed = await _computed(f, scope, path)
    any_of = None
    if f.or_ is not None:
        any_of = [await convert(sub, scope, (*path, "or", str(n)), seen) for n, sub in enumerate(f.or_)]
    return service.CustomerFilter(
        text=f.text,
        email=f.email,
        tag=f.tag,
        created_after=f.created_after,
        created_before=f.created_before,
        acquisition_channel=f.acquisition_channel,
        attributes=_attributes(f.attributes or [], path),
        stages=stages,
        stage_model=stage_model,
        p_alive_below=f.p_alive_below,
        p_alive_at_least=f.p_alive_at_least,
        where=tuple(_comparison(c, (*path, "where", str(n))) for n, c in enumerate(f.where or [])),
        all_of=tuple(all_of),
        any_of=None if any_of is None else tuple(any_of),
        negated=await convert(f.not_, scope, (*path, "not"), seen) if f.not_ is not None else None,
        computed=computed,
    )


async def _computed(f: CustomerFilter, scope: FilterScope, path: Path) -> tuple[service.Condition, ...]:
    """The health and re-engagement conditions, checked (scores 0-100, probabilities 0-1)."""
    out: list[service.Condition] = []
    for name, value, top in (("healthBelow", f.health_below, 100), ("healthAtLeast", f.health_at_least, 100)):
        if value is not None and not 0 <= value <= top:
            raise invalid((*path, name), "OUT_OF_RANGE", f"{name} is a health score, from 0 to 100.")
    if f.health_below is not None or f.health_at_least is not None:
        out.append(health.HealthRange(await scope.weights(), scope.now, f.health_below, f.health_at_least))
    if f.reengage is not None:
        r = f.reengage
        if not 0 <= r.p_alive_below <= 1:
            raise invalid((*path, "reengage", "pAliveBelow"), "OUT_OF_RANGE", "pAliveBelow is from 0 to 1.")
        if not 0 <= r.health_below <= 100:
            raise invalid((*path, "reengage", "healthBelow"), "OUT_OF_RANGE", "healthBelow is from 0 to 100.")
        out.append(health.Reengage(await scope.weights(), scope.now, r.p_alive_below, r.health_below))
    return tuple(out)


def _attributes(given: list[AttributeEquals], path: Path) -> tuple[service.AttributeEquals, ...]:
    out = []
    for n, a in enumerate(given):
        if not ATTRIBUTE_KEY.match(a.key):
            raise invalid((*path, "attributes", str(n), "key"), "INVALID_ATTRIBUTE_KEY", ATTRIBUTE_KEY_RULE)
        if isinstance(a.value, dict | list):
            where = (*path, "attributes", str(n), "value")
            raise invalid(where, "INVALID_FILTER", "Attribute filters compare scalar values only.")
        out.append(service.AttributeEquals(a.key, cast(service.Scalar, a.value)))
    return tuple(out)


def _comparison(c: FieldCondition, path: Path) -> service.Comparison:
    checked = service.comparison(c.field, c.op, c.value, cast(list[object] | None, c.values), path)
    if isinstance(checked, Problem):
        raise InputInvalid([checked])
    return checked


async def _stage_model(scope: FilterScope, key: str | None, stages: tuple[str, ...], path: Path) -> str:
    """The tracked model the stage conditions name (the primary when `key` is None)."""
    tracked = await scope.tracked()
    model = next((t for t in tracked if (key is None and t.is_primary) or t.key == key), None)
    if model is None:
        keys = [t.key for t in tracked]
        raise invalid((*path, "model"), "MODEL_NOT_TRACKED", f"This workspace tracks {keys}, not {key!r}.")
    unknown = [s for s in stages if model.model.stage(s) is None]
    if unknown:
        raise invalid((*path, "stage"), "UNKNOWN_STAGE", f"{model.key} has no stage {unknown}")
    return model.key


async def segment_filter(scope: FilterScope, key: str) -> service.CustomerFilter:
    """The service's filter of the saved segment `key` (InputInvalid when it is unknown or no
    longer valid)."""
    return await _segment(scope, key, ("segment",), ())


async def _segment(scope: FilterScope, key: str, path: Path, seen: tuple[str, ...]) -> service.CustomerFilter:
    if key in seen:
        raise invalid(path, "SEGMENT_CYCLE", f"Segment {key!r} includes itself (through {' → '.join(seen)}).")
    if len(seen) >= MAX_SEGMENT_DEPTH:
        raise invalid(path, "SEGMENT_TOO_DEEP", f"Segments may name segments {MAX_SEGMENT_DEPTH} levels deep.")
    found = await segments.get_segment(scope.workspace_id, key)
    if found is None:
        raise invalid(path, "UNKNOWN_SEGMENT", f"This workspace has no segment {key!r}.")
    try:
        stored = from_variables(found.definition, scope.schema)
        return await convert(stored, scope, ("segment",), (*seen, key))
    except GraphQLError as exc:
        raise invalid(path, "SEGMENT_INVALID", f"Segment {key!r} no longer reads as a filter: {exc.message}") from None
    except InputInvalid as exc:  # the definition no longer holds (a model untracked since, say)
        first = exc.problems[0]
        where = ".".join(first.field or ())
        raise invalid(path, first.code, f"In segment {key!r} ({where}): {first.message}") from None


# --- a filter as variables, and back --------------------------------------------------------


def to_variables(value: Any, schema: strawberry.Schema) -> Any:
    """An input value as a client sends it in variables: GraphQL names, enum names, ISO times."""
    if has_object_definition(type(value)):
        out = {}
        for f in type(value).__strawberry_definition__.fields:
            item = getattr(value, f.python_name)
            if item is not None and item is not UNSET:
                out[schema.config.name_converter.get_graphql_name(f)] = to_variables(item, schema)
        return out
    if isinstance(value, list):
        return [to_variables(item, schema) for item in value]
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def from_variables(value: dict[str, Any], schema: strawberry.Schema) -> CustomerFilter:
    """A `CustomerFilter` from its variables form, coerced as a request's variables are (raises
    GraphQLError when it does not fit the schema any more)."""
    graphql_type = cast(GraphQLInputType, schema._schema.get_type("CustomerFilter"))
    coerced = coerce_input_value(value, graphql_type)
    registry = schema.schema_converter.scalar_registry
    return cast(CustomerFilter, convert_argument(coerced, CustomerFilter, registry, schema.config))
