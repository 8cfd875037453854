"""What a GraphQL field of a compilable type is in SQL: the declarations each type module makes
beside its type (`CUSTOMER_SQL` in `schema.customers`, ...), read by `schema.sql.compiler`.

Every field of a compilable type must be declared, if only as `NotCompiled` (an operation that
selects it runs through Strawberry): a test fails when a type gains a field without a
declaration, so the compiled path can never answer a field it does not know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from schema.sql.sources import Rows, SourceContext

ColumnKind = Literal["text", "int", "float", "bool", "datetime", "decimal", "json_object", "json_list"]


@dataclass(frozen=True)
class Column:
    """A column of the type's row, as the scalar of its kind (`json_*`: a stored JSON value,
    `{}` or `[]` when NULL)."""

    name: str
    kind: ColumnKind
    places: int | None = None  # decimals read through the ORM, which gives them this many places


@dataclass(frozen=True)
class GlobalId:
    """The Relay id of the row: base64 of `type_name:id`."""

    type_name: str
    column: str = "id"


@dataclass(frozen=True)
class Key:
    """A key of a stored JSON object, as text (the fields of `Embedded` types)."""

    name: str


@dataclass(frozen=True)
class Embedded:
    """A stored JSON object (or, with `many`, a list of objects) read as the GraphQL type
    `type_name`; an empty or missing object is null."""

    column: str
    type_name: str
    many: bool = False


@dataclass(frozen=True)
class Reference:
    """The row of `type_name`'s table whose id is this row's `column`."""

    type_name: str
    column: str


@dataclass(frozen=True)
class Connection:
    """A Relay connection: `source` says which rows it pages through, for the field's
    arguments and the row it is selected on (None at the root)."""

    source: Callable[[SourceContext, Mapping[str, Any], str | None], Rows]


@dataclass(frozen=True)
class Value:
    """A value of the request's context (the API key's role, name...), not of a row."""

    name: str


@dataclass(frozen=True)
class KeyObject:
    """An object made of the request's context (`Query.viewer`), its fields `Value`s."""


@dataclass(frozen=True)
class OwnWorkspace:
    """The API key's workspace row (`Viewer.workspace`)."""


@dataclass(frozen=True)
class NodeLookup:
    """`Query.node`: the row its global id names, as the type the id names."""


@dataclass(frozen=True)
class Constant:
    """A field of plugin data (models, stages, rules), the same for every row: resolved in
    Python on the Strawberry object and put into the statement as JSON (`schema.sql.constants`)."""


@dataclass(frozen=True)
class StageOf:
    """The `Stage` named by the row's `model` and `stage` columns (null when `stage` is NULL;
    a stage no installed model declares reads as `Stage.unknown`)."""

    model: str
    stage: str


@dataclass(frozen=True)
class ModelOf:
    """The installed `LifecycleModel` the row's `model` column names (null when none is)."""

    model: str


@dataclass(frozen=True)
class DaysSince:
    """Days from the row's `column` to the request's time, rounded to 4 places."""

    column: str


@dataclass(frozen=True)
class PositionIn:
    """`Customer.stage(model)`: where the customer stands in a tracked model (the primary one
    when `model` is omitted)."""


@dataclass(frozen=True)
class Positions:
    """`Customer.stages`: where the customer stands in every tracked model, primary first."""


@dataclass(frozen=True)
class MetricsOf:
    """`Query.metrics`: one row, `model_key`, the model the metrics are about (the primary one
    when `model` is omitted), read only when Strawberry would take the arguments too."""


@dataclass(frozen=True)
class StageCounts:
    """`Metrics.stageDistribution`: one row per stage of the row's `model_key` (the model's
    stages in order, then the stages it no longer has), each with `stage`, its count `n` and
    the `total` counted, within the metrics' segment."""


@dataclass(frozen=True)
class ShareOf:
    """The row's `count` ÷ its `total`, rounded to 6 places as Python rounds (0.0 when the
    total is 0)."""

    count: str
    total: str


@dataclass(frozen=True)
class NotCompiled:
    """A field only Strawberry answers; `reason` says why (shown in logs and tests)."""

    reason: str


FieldSql = (
    Column
    | GlobalId
    | Key
    | Embedded
    | Reference
    | Connection
    | Value
    | KeyObject
    | OwnWorkspace
    | NodeLookup
    | Constant
    | StageOf
    | ModelOf
    | DaysSince
    | PositionIn
    | Positions
    | MetricsOf
    | StageCounts
    | ShareOf
    | NotCompiled
)


@dataclass(frozen=True)
class TypeSql:
    """The SQL mapping of one GraphQL object type: its table (None for types read from JSON or
    from the request) and how each field is read."""

    name: str
    table: str | None
    fields: Mapping[str, FieldSql]
