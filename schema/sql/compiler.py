"""One query operation and its variables → one SQL statement that returns the response's `data`.

The fields are collected as graphql-core's executor collects them (fragments, inline fragments,
`@skip`/`@include`, aliases merged in document order), each field is read through its type's
SQL mapping (`schema.sql.mapping`), and every table is read under the API key's workspace. A
field without a mapping, or an argument the Strawberry path would refuse, raises `Fallback`:
the whole operation then runs through Strawberry, never half of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    GroupedFieldSet,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry import relay

from plugins.manager import PluginRegistry
from schema.ids import row_id
from schema.lifecycle import LifecycleModel, Stage
from schema.sql import metrics
from schema.sql.constants import constant_json
from schema.sql.dialects import Dialect, KeyKind, Page
from schema.sql.mapping import (
    Column,
    Connection,
    DaysSince,
    Embedded,
    FieldSql,
    GlobalId,
    Key,
    KeyObject,
    MetricsOf,
    ModelOf,
    NodeLookup,
    NotCompiled,
    OwnWorkspace,
    PositionIn,
    Positions,
    Reference,
    ShareOf,
    StageCounts,
    StageOf,
    TypeSql,
    Value,
)
from schema.sql.sources import WS, Fallback, Rows, ScopedParams, SourceContext

MAX_KEYS = 50  # per object: SQLite's json_object takes at most 127 arguments (PostgreSQL: no limit)
NODE_TYPES = {"Customer", "Interaction"}  # what `node` answers here (their table: their TypeSql's)
# Node types that `node` answers through Strawberry only; any other type name is null there.
NODE_FALLBACK = {"Workspace", "ApiKey", "AcquisitionSpend", "WebhookEndpoint"}
STAGE_KEY = "jornada-stage-key-5c1e"  # the key of an unknown stage, in its JSON template
NOW = "now"  # the request's time: set by Statement.bind
KEY_SQL = "SELECT workspace_id AS ws, role, name FROM api_key WHERE key_hash = {} AND revoked_at IS NULL"


class Compiler:
    """Compiles one operation with one set of coerced variables (a compiler per statement)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        types: Mapping[str, TypeSql],
        dialect: Dialect,
        operation: OperationDefinitionNode,
        fragments: dict[str, FragmentDetails],
        variables: VariableValues,
        max_page_size: int,
        registry: PluginRegistry,
    ) -> None:
        self.schema = schema
        self.types = types
        self.d = dialect
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.params = ScopedParams(dialect.name, reusable=True)
        self.registry = registry
        self.sources = SourceContext(self.params, max_page_size, {k: m.model for k, m in registry.models.items()})
        self._names = 0
        self.now: str | None = None  # the placeholder of the request's time, once a field needs it
        self.now_index: int | None = None
        self.segments: dict[str, str] = {}  # a Metrics row's segment: its customer ids' subquery, or ''

    def statement(self) -> str:
        """`SELECT role, data FROM k`: no row when the key is unknown or revoked."""
        key = self.params("")  # the first parameter: each request's key hash (Statement.bind)
        query = self.schema.query_type
        assert query is not None
        collected = collect_fields(self.schema, self.fragments, self.variables, query, self.operation)
        if collected.new_defer_usages:
            raise Fallback("@defer")
        data = self.object_of(query, collected.grouped_field_set, None)
        # As bytes (UTF-8): sent as they come, never decoded into a str and encoded again.
        data = f"convert_to({data}, 'UTF8')" if self.d.name == "postgres" else f"CAST({data} AS BLOB)"
        return f"WITH k AS ({KEY_SQL.format(key)}) SELECT k.role, {data} AS data FROM k"

    # --- objects -----------------------------------------------------------------------

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix}{self._names}"

    def subfields(self, gtype: GraphQLObjectType, details: FieldDetailsList) -> GroupedFieldSet:
        sub = collect_subfields(self.schema, self.fragments, self.variables, self.operation, gtype, details)
        if sub.new_defer_usages:
            raise Fallback("@defer")
        if len(sub.grouped_field_set) > MAX_KEYS:
            raise Fallback(f"more than {MAX_KEYS} fields on one object")
        return sub.grouped_field_set

    def check_mapped(self, gtype: GraphQLObjectType, name: str) -> FieldSql:
        spec = self.types[gtype.name].fields.get(name) if gtype.name in self.types else None
        if spec is None or isinstance(spec, NotCompiled):
            raise Fallback(f"{gtype.name}.{name} is not compiled")
        return spec

    def table_of(self, gtype: GraphQLObjectType) -> str:
        table = self.types[gtype.name].table
        assert table is not None, f"{gtype.name} is not read from a table"
        return table

    def object(self, gtype: GraphQLObjectType, details: FieldDetailsList, row: str | None) -> str:
        return self.object_of(gtype, self.subfields(gtype, details), row)

    def object_of(self, gtype: GraphQLObjectType, fields: GroupedFieldSet, row: str | None) -> str:
        mapping = self.types.get(gtype.name)
        if mapping is None:
            raise Fallback(f"{gtype.name} has no SQL mapping")
        if len(fields) > MAX_KEYS:
            raise Fallback(f"more than {MAX_KEYS} fields on one object")
        pairs = []
        for response_key, details in fields.items():
            name = details[0].node.name.value
            if name == "__typename":
                pairs.append((response_key, self.d.constant(gtype.name)))
                continue
            spec = mapping.fields.get(name)
            if spec is None:
                raise Fallback(f"{gtype.name}.{name} has no SQL mapping")
            args = get_argument_values(gtype.fields[name], details[0].node, self.variables)
            pairs.append((response_key, self.field(gtype, name, spec, details, args, row)))
        return self.d.obj(pairs)

    def field(
        self,
        gtype: GraphQLObjectType,
        name: str,
        spec: FieldSql,
        details: FieldDetailsList,
        args: dict[str, Any],
        row: str | None,
    ) -> str:
        target = get_named_type(gtype.fields[name].type)
        if isinstance(spec, NotCompiled):
            raise Fallback(f"{gtype.name}.{name}: {spec.reason}")
        if isinstance(spec, Value):
            return self.d.text(f"(SELECT {spec.name} FROM k)")
        if isinstance(spec, NodeLookup):
            return self.node(args["id"], details)
        if isinstance(spec, KeyObject):
            assert isinstance(target, GraphQLObjectType)
            return self.object(target, details, None)
        if isinstance(spec, OwnWorkspace):
            assert isinstance(target, GraphQLObjectType)
            w = self._name("w")
            return self.d.nested(f"SELECT {self.object(target, details, w)} FROM workspace {w} WHERE {w}.id = {WS}")
        if isinstance(spec, Connection):
            assert isinstance(target, GraphQLObjectType)
            return self.connection(target, spec.source(self.sources, args, row), details, args)
        if isinstance(spec, MetricsOf):
            assert isinstance(target, GraphQLObjectType)
            return metrics.metrics(self, target, details, args)
        assert row is not None, f"{gtype.name}.{name} needs a row"
        if isinstance(spec, Column):
            return self.column(f"{row}.{spec.name}", spec)
        if isinstance(spec, GlobalId):
            return self.d.global_id(spec.type_name, f"{row}.{spec.column}")
        if isinstance(spec, Key):
            return self.d.json_key(row, spec.name)
        if isinstance(spec, ShareOf):
            return self.d.share(f"{row}.{spec.count}", f"{row}.{spec.total}")
        if isinstance(spec, Embedded):
            assert isinstance(target, GraphQLObjectType)
            column = f"{row}.{spec.column}"
            if not spec.many:
                return self.d.embedded_one(column, self.object(target, details, column))
            item = self._name("e")
            return self.d.embedded_many(column, item, self.object(target, details, item))
        if isinstance(spec, Reference):
            assert isinstance(target, GraphQLObjectType)
            return self.reference(target, spec, details, row)
        assert isinstance(target, GraphQLObjectType) or isinstance(spec, DaysSince)
        if isinstance(spec, StageOf):
            return self.stage_of(target, details, f"{row}.{spec.model}", f"{row}.{spec.stage}")
        if isinstance(spec, ModelOf):
            return self.model_of(target, details, f"{row}.{spec.model}")
        if isinstance(spec, DaysSince):
            if self.now is None:
                self.now = self.params(NOW)
                self.now_index = len(self.params.values) - 1
            return self.d.days_since(self.now, f"{row}.{spec.column}")
        if isinstance(spec, PositionIn):
            return self.position(target, details, args.get("model"), row)
        if isinstance(spec, Positions):
            return self.positions(target, details, row)
        if isinstance(spec, StageCounts):
            return metrics.stage_counts(self, target, details, row)
        raise Fallback(f"{gtype.name}.{name}: unknown mapping {spec!r}")

    def column(self, expr: str, spec: Column) -> str:
        d = self.d
        kind = spec.kind
        if kind == "text":
            return d.text(expr)
        if kind in ("int", "float"):
            return d.number(expr)
        if kind == "bool":
            return d.boolean(expr)
        if kind == "datetime":
            return d.datetime(expr)
        if kind == "decimal":
            return d.decimal(expr, spec.places)
        return d.stored_json(expr, "{}" if kind == "json_object" else "[]")

    # --- plugin data and where customers stand ---------------------------------------------

    def stage_of(self, stage_type: GraphQLObjectType, details: FieldDetailsList, model: str, stage: str) -> str:
        """The Stage JSON of every stage of every installed model, chosen by the row's keys."""
        models = self.registry.models.values()
        branches = []
        unknown = self.d.with_key(constant_json(self, stage_type, Stage.unknown(STAGE_KEY), details), STAGE_KEY, stage)
        for loaded in models:
            stages = [
                (s.key, self.d.json_text(constant_json(self, stage_type, Stage.from_data(s), details)))
                for s in loaded.model.stages
            ]
            branches.append((loaded.model.key, self.d.cases(stage, stages, unknown)))
        otherwise = self.d.cases(model, branches, unknown)
        return f"(CASE WHEN {stage} IS NULL THEN {self.d.constant(None)} ELSE {otherwise} END)"

    def model_of(self, model_type: GraphQLObjectType, details: FieldDetailsList, model: str) -> str:
        branches = [
            (
                key,
                self.d.json_text(constant_json(self, model_type, LifecycleModel.from_data(m.model, m.plugin), details)),
            )
            for key, m in self.registry.models.items()
        ]
        return self.d.cases(model, branches, self.d.constant(None))

    def position(self, target: GraphQLObjectType, details: FieldDetailsList, model: str | None, row: str) -> str:
        a = self._name("a")
        if model is None:
            key = self.sources.primary_model()
        elif model in self.registry.models:
            key = self.params(model)
        else:  # not installed, so not tracked: Strawberry's error
            raise Fallback(f"model {model!r} is not installed")
        tracked = (
            f"EXISTS (SELECT 1 FROM workspace_model wm WHERE wm.workspace_id = {WS} AND wm.model_key = {a}.model_key "
            "AND wm.tracked)"
        )
        obj = self.object(target, details, a)
        # Not placed yet (its initial stage depends on the model's parameters), or not tracked.
        return self.d.nested(
            f"SELECT {obj} FROM stage_assignment {a} WHERE {a}.workspace_id = {WS} AND {a}.customer_id = {row}.id "
            f"AND {a}.model_key = {key} AND {tracked}",
            none=self.d.mark(),
        )

    def positions(self, target: GraphQLObjectType, details: FieldDetailsList, row: str) -> str:
        a = self._name("a")
        installed = ", ".join(self.params(k) for k in sorted(self.registry.models))
        rest = (
            f"FROM workspace_model wm JOIN stage_assignment {a} ON {a}.model_key = wm.model_key "
            f"AND {a}.customer_id = {row}.id AND {a}.workspace_id = {WS} "
            f"WHERE wm.workspace_id = {WS} AND wm.tracked AND wm.model_key IN ({installed})"
        )
        return self.d.ordered_array(self.object(target, details, a), rest, "wm.is_primary DESC, wm.model_key")

    def reference(self, target: GraphQLObjectType, spec: Reference, details: FieldDetailsList, row: str) -> str:
        a = self._name("t")
        obj = self.object(target, details, a)
        where = f"{a}.workspace_id = {WS} AND {a}.id = {row}.{spec.column}"
        return self.d.nested(f"SELECT {obj} FROM {self.table_of(target)} {a} WHERE {where}")

    def node(self, raw: str, details: FieldDetailsList) -> str:
        try:
            gid = relay.GlobalID.from_id(raw)
        except Exception:
            raise Fallback("not a global id") from None
        if gid.type_name in NODE_FALLBACK:
            raise Fallback(f"node of a {gid.type_name}")
        rid = row_id(gid.node_id)
        if gid.type_name not in NODE_TYPES or rid < 0:
            return self.d.constant(None)
        target = self.schema.get_type(gid.type_name)
        assert isinstance(target, GraphQLObjectType)
        table = self.table_of(target)
        a = self._name("t")
        obj = self.object(target, details, a)
        return self.d.nested(
            f"SELECT {obj} FROM {table} {a} WHERE {a}.workspace_id = {WS} AND {a}.id = {self.params(rid)}"
        )

    # --- connections ---------------------------------------------------------------------

    def connection(
        self, conn_type: GraphQLObjectType, rows: Rows, details: FieldDetailsList, args: dict[str, Any]
    ) -> str:
        fields = self.subfields(conn_type, details)
        r, g = self._name("r"), self._name("g")
        edges_type = get_named_type(conn_type.fields["edges"].type)
        assert isinstance(edges_type, GraphQLObjectType)
        names = {fds[0].node.name.value for fds in fields.values()}
        if "pageInfo" not in names and self.d.reads_arrays:
            return self._guarded(rows, self.edges_only(conn_type, edges_type, fields, rows))
        edges: list[str] = []
        wants_cursor = False
        pairs: list[tuple[str, str]] = []
        size, backwards = rows.keyset.size, rows.keyset.backwards
        more = f"({g}.n > {size})"
        for response_key, fds in fields.items():
            name = fds[0].node.name.value
            if (plain := self._connection_field(conn_type, name, rows)) is not None:
                pairs.append((response_key, plain))
            elif name == "edges":
                edges.append(self.edge(edges_type, fds, rows, r))
                pairs.append((response_key, self.d.edges_column(g, len(edges) - 1)))
            elif name == "pageInfo":
                info_type = get_named_type(conn_type.fields["pageInfo"].type)
                assert isinstance(info_type, GraphQLObjectType)
                has_next = self.d.boolean(more) if not backwards else self.d.constant(rows.keyset.before is not None)
                has_prev = self.d.boolean(more) if backwards else self.d.constant(rows.keyset.after is not None)
                info, cursors = self.page_info(info_type, fds, g, has_next, has_prev)
                wants_cursor = wants_cursor or cursors
                pairs.append((response_key, info))
            else:
                raise Fallback(f"{conn_type.name}.{name} has no SQL mapping")
        body = self.d.obj(pairs)
        if not edges and not _reads(pairs, g):  # only totalCount or __typename: no page to read
            return self._guarded(rows, self.d.nested(f"SELECT {body}"))
        cursor = self.d.cursor(rows.keyset_signature, rows.cursor_values(r)) if wants_cursor else None
        page = Page(rows.page_sql(self.params), r, g, size, backwards, tuple(edges), cursor)
        return self._guarded(rows, self.d.nested(f"SELECT {body} FROM {self.d.page_aggregate(page)}"))

    def edges_only(
        self, conn_type: GraphQLObjectType, edges_type: GraphQLObjectType, fields: GroupedFieldSet, rows: Rows
    ) -> str:
        """A connection without pageInfo: each `edges` is one ordered ARRAY of the page's rows, no
        row more, no numbering, no aggregate (a quarter of the page's cost)."""
        pairs = []
        for response_key, fds in fields.items():
            name = fds[0].node.name.value
            if (plain := self._connection_field(conn_type, name, rows)) is not None:
                pairs.append((response_key, plain))
            elif name == "edges":
                edge = self.edge(edges_type, fds, rows, rows.alias, rows.key_values())
                pairs.append((response_key, self.d.edges_array(rows.array_sql(edge, self.params))))
            else:
                raise Fallback(f"{conn_type.name}.{name} has no SQL mapping")
        return self.d.obj(pairs)

    def _connection_field(self, conn_type: GraphQLObjectType, name: str, rows: Rows) -> str | None:
        """`__typename` and `totalCount`, read the same way whatever the page; None otherwise."""
        if name == "__typename":
            return self.d.constant(conn_type.name)
        if name == "totalCount":
            return self.d.number(f"({rows.count_sql()})")
        return None

    def _guarded(self, rows: Rows, value: str) -> str:
        return value if rows.guard is None else f"(CASE WHEN {rows.guard} THEN {value} ELSE {self.d.mark()} END)"

    def edge(
        self,
        edge_type: GraphQLObjectType,
        details: FieldDetailsList,
        rows: Rows,
        r: str,
        keys: list[tuple[str, KeyKind]] | None = None,
    ) -> str:
        pairs = []
        for response_key, fds in self.subfields(edge_type, details).items():
            name = fds[0].node.name.value
            if name == "__typename":
                pairs.append((response_key, self.d.constant(edge_type.name)))
            elif name == "cursor":
                values = keys if keys is not None else rows.cursor_values(r)
                pairs.append((response_key, self.d.cursor(rows.keyset_signature, values)))
            elif name == "node":
                node_type = get_named_type(edge_type.fields["node"].type)
                assert isinstance(node_type, GraphQLObjectType)
                pairs.append((response_key, self.object(node_type, fds, r)))
            else:
                raise Fallback(f"{edge_type.name}.{name} has no SQL mapping")
        return self.d.obj(pairs)

    def page_info(
        self, info_type: GraphQLObjectType, details: FieldDetailsList, g: str, has_next: str, has_prev: str
    ) -> tuple[str, bool]:
        values = {
            "__typename": self.d.constant(info_type.name),
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": self.d.page_column(g, "start_cursor"),
            "endCursor": self.d.page_column(g, "end_cursor"),
        }
        pairs = []
        cursors = False
        for response_key, fds in self.subfields(info_type, details).items():
            name = fds[0].node.name.value
            if name not in values:
                raise Fallback(f"PageInfo.{name} has no SQL mapping")
            cursors = cursors or name in ("startCursor", "endCursor")
            pairs.append((response_key, values[name]))
        return self.d.obj(pairs), cursors


def _reads(pairs: list[tuple[str, str]], g: str) -> bool:
    """Whether any value reads the page aggregate `g`."""
    return any(f"{g}." in value for _, value in pairs)
