"""Compiled reads planned once: a document is parsed and validated once per hash (with the
same limits as the Strawberry path: tokens, depth, aliases, every validation rule), and the
statement of an operation is compiled once per set of variables. Whatever the Strawberry path
would answer with an error (an invalid document, bad variables, a bad string, a cost over the
budget, a refused argument) is left to it: `statement` returns None."""

from __future__ import annotations

import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    specified_rules,
)
from graphql.execution.collect_fields import FragmentDetails
from graphql.execution.values import get_variable_values
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.schema.schema import validate_document

from api.settings import Settings
from plugins.manager import PluginRegistry
from schema.clean_input import holds_bad_string
from schema.cost import operation_cost
from schema.customers import ADDRESS_SQL, CUSTOMER_SQL, SOCIAL_PROFILE_SQL
from schema.interactions import INTERACTION_SQL
from schema.lifecycle import (
    CUSTOMER_STAGE_SQL,
    LIFECYCLE_MODEL_SQL,
    MODEL_PARAM_SQL,
    PLUGIN_INFO_SQL,
    STAGE_COUNT_SQL,
    STAGE_LABEL_SQL,
    STAGE_SQL,
    STAGE_TRANSITION_SQL,
    TRANSITION_RULE_SQL,
)
from schema.metrics import METRICS_SQL
from schema.query import QUERY_SQL
from schema.sql.compiler import Compiler
from schema.sql.dialects import dialect
from schema.sql.mapping import TypeSql
from schema.sql.sources import Fallback
from schema.workspace import VIEWER_SQL, WORKSPACE_SQL

log = logging.getLogger("jornada.compiled")

# Every compilable object type's mapping; connections, edges and PageInfo are built in.
TYPES: dict[str, TypeSql] = {
    t.name: t
    for t in (
        QUERY_SQL,
        VIEWER_SQL,
        WORKSPACE_SQL,
        CUSTOMER_SQL,
        ADDRESS_SQL,
        SOCIAL_PROFILE_SQL,
        INTERACTION_SQL,
        CUSTOMER_STAGE_SQL,
        STAGE_TRANSITION_SQL,
        STAGE_SQL,
        STAGE_LABEL_SQL,
        LIFECYCLE_MODEL_SQL,
        TRANSITION_RULE_SQL,
        MODEL_PARAM_SQL,
        PLUGIN_INFO_SQL,
        METRICS_SQL,
        STAGE_COUNT_SQL,
    )
}

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> tuple[bool, V | None]:
        if key not in self._items:
            return False, None
        self._items.move_to_end(key)
        return True, self._items[key]

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self.size:
            self._items.popitem(last=False)


@dataclass(frozen=True)
class Planned:
    """A valid document's query operation, ready to compile."""

    document: DocumentNode
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDetails]


@dataclass(frozen=True)
class Statement:
    """One compiled read. Its first parameter is the API key's hash, set per request."""

    sql: str
    params: tuple[Any, ...]
    key: tuple[str, str | None, str]  # the request it answers: (document, operation, variables)
    dialect: str
    now_index: int | None = None  # the parameter that is the request's time, if one is

    def bind(self, key_hash: str, now: datetime) -> list[Any]:
        values = [key_hash, *self.params[1:]]
        if self.now_index is not None:
            values[self.now_index] = now if self.dialect == "postgres" else now.isoformat()
        return values


def document_hash(query: str) -> str:
    """The hash persisted queries name a document by (SHA-256 of its text, hex)."""
    return hashlib.sha256(query.encode()).hexdigest()


class ReadPlans:
    """The documents and statements of compiled reads, cached (bounded) per process."""

    def __init__(self, schema: GraphQLSchema, settings: Settings, registry: PluginRegistry, size: int = 1024) -> None:
        self.schema = schema
        self.registry = registry
        self.settings = settings
        self.dialect = dialect(settings.dialect)
        depth = QueryDepthLimiter(max_depth=settings.max_query_depth)
        aliases = MaxAliasesLimiter(max_alias_count=settings.max_aliases)
        self.rules = (*specified_rules, *depth.validation_rules, *aliases.validation_rules)
        self._documents: Lru[tuple[str, str | None], Planned | None] = Lru(size)
        self._statements: Lru[tuple[str, str | None, str], Statement | None] = Lru(size)

    def knows(self, digest: str, operation_name: str | None) -> bool:
        """Whether the document of this hash is planned already (persisted queries share this)."""
        return self._documents.get((digest, operation_name))[0]

    def planned(self, query: str, operation_name: str | None, digest: str | None = None) -> Planned | None:
        """The document's operation when it is a valid query (else None: Strawberry answers)."""
        key = (digest or document_hash(query), operation_name)
        found, planned = self._documents.get(key)
        if not found:
            planned = self._plan(query, operation_name)
            self._documents.put(key, planned)
        return planned

    def _plan(self, query: str, operation_name: str | None) -> Planned | None:
        try:
            document = parse(query, max_tokens=self.settings.max_query_tokens)
        except GraphQLError:
            return None
        if validate_document(self.schema, document, self.rules):
            return None
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is not None:
            operations = [o for o in operations if o.name is not None and o.name.value == operation_name]
        if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
            return None
        fragments = {
            d.name.value: FragmentDetails(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        return Planned(document, operations[0], fragments)

    def statement(
        self, query: str, operation_name: str | None, variables: dict[str, Any] | None, digest: str | None = None
    ) -> Statement | None:
        """The compiled statement of this request, or None when Strawberry must answer it.
        Looked up by the document's text (its hash is computed only to plan a new one)."""
        try:
            shape = json.dumps(variables, sort_keys=True) if variables else "{}"
        except (TypeError, ValueError):
            return None
        key = (query, operation_name, shape)
        found, statement = self._statements.get(key)
        if found:
            return statement
        planned = self.planned(query, operation_name, digest)
        statement = self._compile(planned, variables or {}, key) if planned is not None else None
        self._statements.put(key, statement)
        return statement

    def refuse(self, statement: Statement) -> None:
        """The database could not run this statement (SQLite's parser has a depth limit, say):
        the request is left to Strawberry from now on."""
        self._statements.put(statement.key, None)

    def _compile(self, planned: Planned, raw: dict[str, Any], key: tuple[str, str | None, str]) -> Statement | None:
        variables = get_variable_values(self.schema, planned.operation.variable_definitions or (), raw)
        if isinstance(variables, list) or holds_bad_string(planned.document, raw):
            return None
        cost = operation_cost(self.schema, planned.document, planned.operation, raw, self.settings.max_page_size)
        if cost > self.settings.max_query_cost:
            return None
        compiler = Compiler(
            self.schema,
            TYPES,
            self.dialect,
            planned.operation,
            planned.fragments,
            variables,
            self.settings.max_page_size,
            self.registry,
        )
        try:
            sql = compiler.statement()
        except Fallback as why:
            log.debug("not compiled: %s", why)
            return None
        return Statement(sql, tuple(compiler.params.values), key, self.dialect.name, compiler.now_index)
