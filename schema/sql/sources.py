"""The rows a compiled list reads: the services' own filters, orderings and keyset pages
(`api.customers`, `api.interactions`), with the workspace taken from the API key inside the
statement. An argument the Strawberry path would refuse raises `Fallback`, so that path answers
with its error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from strawberry import relay

from api import customer_filters, customers, interactions
from api.db import Params
from api.errors import InputInvalid, Problem
from api.lifecycle_store import HISTORY_KEYS, history_where
from api.pagination import KeysetQuery, PageRequest, SortKey, signature
from api.validation import ATTRIBUTE_KEY
from plugins.types import LifecycleModel
from schema.ids import row_id
from schema.sql.dialects import KeyKind

# The API key's workspace: every table the compiled statement reads is filtered by it.
WS = "(SELECT ws FROM k)"


class Fallback(Exception):
    """This request must run through Strawberry; the message says why."""


@dataclass(frozen=True)
class Sql:
    """SQL text where the services' builders take a value: the key's workspace, a column of the
    enclosing row."""

    text: str


WORKSPACE: Any = Sql(WS)


class ScopedParams(Params):
    """Bind values, except `Sql` ones, which are written into the statement as they are."""

    def __call__(self, value: Any) -> str:
        return value.text if isinstance(value, Sql) else super().__call__(value)


@dataclass(frozen=True)
class SourceContext:
    params: ScopedParams
    max_page_size: int
    models: Mapping[str, LifecycleModel]  # the installed models, by key

    @property
    def installed(self) -> list[str]:
        return sorted(self.models)

    def primary_model(self) -> str:
        """SQL: the key of the workspace's primary model, NULL when it is not tracked or installed
        (as `Lifecycle.resolve` reads the workspace's models)."""
        keys = ", ".join(self.params(k) for k in self.installed)
        return (
            f"(SELECT wm.model_key FROM workspace_model wm WHERE wm.workspace_id = {WS} AND wm.is_primary "
            f"AND wm.tracked AND wm.model_key IN ({keys}))"
        )


@dataclass(frozen=True)
class Rows:
    """One page of a list: the table under the services' alias, the conditions of the list
    (`filters`, the workspace's first) and of the page, the ordering, joins and the page size."""

    table: str
    alias: str
    filters: tuple[str, ...]
    keyset: KeysetQuery
    joins: str = ""
    guard: str | None = None  # SQL that must hold, else the list reads as FALLBACK_MARK

    def page_sql(self, p: Params) -> str:
        """The page and one row more, numbered by `rn`, with the sort keys as `k__0`, `k__1`..."""
        a = self.alias
        where = " AND ".join([*self.filters, *self.keyset.conditions(p)])
        order = self.keyset.order_sql()
        keys = "".join(f", {k.sql} AS k__{n}" for n, k in enumerate(self.keyset.keys))
        return (
            f"SELECT {a}.*{keys}, row_number() OVER (ORDER BY {order}) AS rn FROM {self.table} {a}{self.joins} "
            f"WHERE {where} ORDER BY {order} LIMIT {self.keyset.size + 1}"
        )

    @property
    def keyset_signature(self) -> str:
        return signature(self.keyset.keys)

    def array_sql(self, expr: str, p: Params) -> str:
        """`expr` for each row of the page, in the list's order (no row more). A page read
        backwards (`last`) is read in reverse, then put back in order."""
        where = " AND ".join([*self.filters, *self.keyset.conditions(p)])
        read = f"FROM {self.table} {self.alias}{self.joins} WHERE {where} ORDER BY {self.keyset.order_sql()}"
        if not self.keyset.backwards:
            return f"SELECT {expr} {read} LIMIT {self.keyset.size}"
        keys = "".join(f", {k.sql} AS k__{n}" for n, k in enumerate(self.keyset.keys))
        forwards = ", ".join(f"x.k__{n} {k.direction}" for n, k in enumerate(self.keyset.keys))
        return f"SELECT x.e FROM (SELECT {expr} AS e{keys} {read} LIMIT {self.keyset.size}) x ORDER BY {forwards}"

    def key_values(self) -> list[tuple[str, KeyKind]]:
        """The sort keys of a row read by `array_sql`, for its cursor."""
        return [(k.sql, key_kind(k)) for k in self.keyset.keys]

    def count_sql(self) -> str:
        return f"SELECT count(*) FROM {self.table} {self.alias} WHERE {' AND '.join(self.filters)}"

    def cursor_values(self, rows: str) -> list[tuple[str, KeyKind]]:
        return [(f"{rows}.k__{n}", key_kind(k)) for n, k in enumerate(self.keyset.keys)]


def key_kind(key: SortKey) -> KeyKind:
    if key.is_datetime:
        return "datetime"
    kinds: dict[str, KeyKind] = {"id": "int", "name": "text", "predictedClv": "float"}
    return kinds[key.name]


def _keyset(keys: Sequence[SortKey], args: Mapping[str, Any], max_size: int) -> KeysetQuery:
    request = PageRequest(args.get("first"), args.get("after"), args.get("last"), args.get("before"))
    try:
        return KeysetQuery.build(keys, request, max_size, max_size)
    except InputInvalid as exc:
        raise Fallback(f"invalid page: {exc}") from None


COMPILED_FILTER_FIELDS = frozenset(
    {
        "text",
        "email",
        "tag",
        "createdAfter",
        "createdBefore",
        "acquisitionChannel",
        "attributes",
        "stage",
        "stages",
        "model",
        "pAliveBelow",
        "pAliveAtLeast",
        "where",
        "and",
        "or",
        "not",
    }
)


def customer_filter(
    given: Mapping[str, Any] | None, ctx: SourceContext
) -> tuple[customer_filters.CustomerFilter, str | None]:
    """The service's filter for a `CustomerFilter` argument (as coerced by graphql-core), and
    what must hold for Strawberry to take it too (a tracked model that has the stages named).
    A saved segment is read when the request runs, so a filter naming one is Strawberry's."""
    f = given or {}
    if f.get("segment") is not None:
        raise Fallback("a saved segment is read when the request runs")
    unknown = [k for k, v in f.items() if v is not None and k not in COMPILED_FILTER_FIELDS]
    if unknown:  # (a field added to CustomerFilter is Strawberry's until compiled here)
        raise Fallback(f"filter fields {unknown} are not compiled")
    conditions = []
    for item in f.get("attributes") or []:
        if isinstance(item["value"], (dict, list)) or not ATTRIBUTE_KEY.match(item["key"]):
            raise Fallback("an attribute filter compares a scalar only, under a valid key")
        conditions.append(customer_filters.AttributeEquals(item["key"], cast(customer_filters.Scalar, item["value"])))
    stages = tuple([f["stage"]] if f.get("stage") else []) + tuple(f.get("stages") or ())
    model_key, guard = _stage_model(ctx, f.get("model"), stages) if stages or f.get("model") else (None, None)
    any_of = None if f.get("or") is None else tuple(_group(sub, ctx) for sub in f["or"])
    service_filter = customer_filters.CustomerFilter(
        text=f.get("text"),
        email=f.get("email"),
        tag=f.get("tag"),
        created_after=f.get("createdAfter"),
        created_before=f.get("createdBefore"),
        acquisition_channel=f.get("acquisitionChannel"),
        attributes=tuple(conditions),
        stages=stages,
        stage_model=model_key,
        p_alive_below=f.get("pAliveBelow"),
        p_alive_at_least=f.get("pAliveAtLeast"),
        where=tuple(_comparison(c) for c in f.get("where") or []),
        all_of=tuple(_group(sub, ctx) for sub in f.get("and") or []),
        any_of=any_of,
        negated=_group(f["not"], ctx) if f.get("not") is not None else None,
    )
    return service_filter, guard


def _group(given: Mapping[str, Any], ctx: SourceContext) -> customer_filters.CustomerFilter:
    nested, guard = customer_filter(given, ctx)
    if guard is not None:  # (one guard per filter is what the compiler checks)
        raise Fallback("a stage condition inside and/or/not")
    return nested


def _comparison(given: Mapping[str, Any]) -> customer_filters.Comparison:
    op = customer_filters.Op(given["op"].value)
    checked = customer_filters.comparison(given["field"], op, given.get("value"), given.get("values"), ())
    if isinstance(checked, Problem):
        raise Fallback(f"a comparison Strawberry refuses: {checked.message}")
    return checked


def _stage_model(ctx: SourceContext, model: str | None, stages: tuple[str, ...]) -> tuple[Any, str]:
    """The model a stage filter reads (the given one, else the primary) and its guard: tracked,
    and with every stage named."""
    having = [k for k, m in ctx.models.items() if all(m.stage(s) is not None for s in stages)]
    if model is not None:
        if model not in having:  # not installed, or without one of the stages: Strawberry's error
            raise Fallback(f"{model!r} is not installed or lacks a stage of {stages}")
        tracked = (
            f"EXISTS (SELECT 1 FROM workspace_model wm WHERE wm.workspace_id = {WS} "
            f"AND wm.model_key = {ctx.params(model)} AND wm.tracked)"
        )
        return model, tracked
    if not having:
        raise Fallback(f"no installed model has the stages {stages}")
    primary = ctx.primary_model()
    return Sql(primary), f"{primary} IN ({', '.join(ctx.params(k) for k in having)})"


def all_customers(ctx: SourceContext, args: Mapping[str, Any], parent: str | None) -> Rows:
    """`Query.customers`."""
    if args.get("segment") is not None:
        raise Fallback("a saved segment is read when the request runs")
    f, guard = customer_filter(args.get("filter"), ctx)
    order = [(o["field"].value, o["direction"].value) for o in args.get("orderBy") or []]
    if any(field in ("VALUE_AT_RISK", "HEALTH") for field, _ in order):
        raise Fallback("ordered by a computed value")
    keyset = _keyset(customers.sort_keys(order), args, ctx.max_page_size)
    p = ctx.params
    joins = ""
    if any(field == "PREDICTED_CLV" for field, _ in order):
        joins = f" LEFT JOIN customer_value v ON v.customer_id = c.id AND v.workspace_id = {WS}"
    return Rows("customer", "c", tuple(customer_filters.filter_conditions(WORKSPACE, f, p)), keyset, joins, guard)


def interaction_filter(given: Mapping[str, Any] | None, customer_id: int | None) -> interactions.InteractionFilter:
    f = given or {}
    return interactions.InteractionFilter(
        kinds=tuple(f.get("kinds") or ()),
        channel=f.get("channel"),
        occurred_after=f.get("occurredAfter"),
        occurred_before=f.get("occurredBefore"),
        customer_id=customer_id,
    )


def customer_of(raw: str | None) -> int | None:
    """The customer row a `customerId` filter names (-1, no row, for another type's id)."""
    if raw is None:
        return None
    try:
        gid = relay.GlobalID.from_id(raw)
    except Exception:
        raise Fallback("not a global id") from None
    return row_id(gid.node_id) if gid.type_name == "Customer" else -1


def all_interactions(ctx: SourceContext, args: Mapping[str, Any], parent: str | None) -> Rows:
    """`Query.interactions`."""
    given = args.get("filter")
    f = interaction_filter(given, customer_of((given or {}).get("customerId")))
    keyset = _keyset(interactions.KEYS, args, ctx.max_page_size)
    return Rows("interaction", "i", tuple(interactions.filter_conditions(WORKSPACE, f, ctx.params)), keyset)


def customer_interactions(ctx: SourceContext, args: Mapping[str, Any], parent: str | None) -> Rows:
    """`Customer.interactions`: the filter's `customerId` does not apply (it is this customer),
    but Strawberry still refuses one that is no global id."""
    given = args.get("filter")
    customer_of((given or {}).get("customerId"))
    f = interaction_filter(given, None)
    keyset = _keyset(interactions.KEYS, {"first": args.get("first"), "after": args.get("after")}, ctx.max_page_size)
    filters = [*interactions.filter_conditions(WORKSPACE, f, ctx.params), f"i.customer_id = {parent}.id"]
    return Rows("interaction", "i", tuple(filters), keyset)


def customer_history(ctx: SourceContext, args: Mapping[str, Any], parent: str | None) -> Rows:
    """`Customer.history`: a model the workspace tracks or tracked (the primary one by default)."""
    given = args.get("model")
    p = ctx.params
    if given is None:
        key: Any = Sql(ctx.primary_model())
        guard = f"{key.text} IS NOT NULL"
    else:
        key = given
        guard = f"EXISTS (SELECT 1 FROM workspace_model wm WHERE wm.workspace_id = {WS} AND wm.model_key = {p(given)})"
    keyset = _keyset(HISTORY_KEYS, args, ctx.max_page_size)
    filters = history_where(WORKSPACE, cast(Any, Sql(f"{parent}.id")), key, bool(args.get("includeSuperseded")), p)
    return Rows("stage_transition", "t", tuple(filters), keyset, guard=guard)
