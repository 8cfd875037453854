"""The query cost limit: what a request may ask for, counted before anything runs.

The cost of an operation is the number of fields it can return at most: every selected field
counts once for each object it may be selected on. A connection multiplies what is selected
under it by its page size (`first` or `last`, from the document or its variables; the maximum
page size when neither is given), and nested connections multiply; a plain list counts as
`LIST_SIZE` items. So `customers(first: 100) { edges { node { interactions(first: 100) { edges
{ node { id kind } } } } } }` costs 40,301: 10,000 interactions of 2 fields, their edges and nodes,
and 100 customers' (the budget, 200,000 by default, allows that four times over; one more level
of 100 costs 4,040,301 and is refused). Fragments and inline fragments count as if written out; `@skip` and
`@include` are honoured. An operation over the budget is refused before it runs, with
`extensions.code` QUERY_TOO_COSTLY naming the cost and the budget.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

LIST_SIZE = 10
_COSTS: dict[tuple[Any, ...], int] = {}  # by document, operation, variables and page size; oldest out first
PAGE_ARGUMENTS = ("first", "last")


class QueryCost(SchemaExtension):
    """Refuses an operation whose cost (module docstring) is over `budget`. Runs after the
    document is validated (so every field it meets exists) and before it executes."""

    def __init__(self, *, budget: int, page_size: int) -> None:
        self.budget = budget
        self.page_size = page_size

    def _cost(
        self, context: Any, document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> int:
        """The operation's cost, remembered per document text and variables (it depends on both)."""
        try:
            shape = json.dumps(variables, sort_keys=True, default=str)
            key = (context.query, context.operation_name, shape, self.page_size)
        except (TypeError, ValueError):  # (variables JSON gave; be safe anyway)
            return operation_cost(context.schema._schema, document, operation, variables, self.page_size)
        cost = _COSTS.get(key)
        if cost is None:
            cost = operation_cost(context.schema._schema, document, operation, variables, self.page_size)
            _COSTS[key] = cost
            if len(_COSTS) > 1024:
                _COSTS.pop(next(iter(_COSTS)))
        return cost

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if not context.pre_execution_errors and document is not None:
            operation = _operation(document.definitions, context.operation_name)
            if operation is not None:
                variables = dict(context.variables or {})
                cost = self._cost(context, document, operation, variables)
                if cost > self.budget:
                    context.pre_execution_errors = [too_costly(cost, self.budget)]
        yield


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: dict[str, Any],
    page_size: int,
) -> int:
    """The cost (module docstring) of one operation of a valid document, with its variables."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    root = schema.get_root_type(operation.operation)
    return _Counter(schema, fragments, variables, page_size).selection(operation.selection_set, root, 1) if root else 0


def too_costly(cost: int, budget: int) -> GraphQLError:
    return GraphQLError(
        f"This operation could return up to {cost:,} fields; the budget is {budget:,} per request. "
        "Ask for smaller pages (first), fewer nested connections or fewer fields.",
        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "budget": budget},
    )


def _operation(definitions: Any, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name is not None and o.name.value == name), None)


class _Counter:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        page_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.page_size = page_size

    def selection(self, selection_set: SelectionSetNode, parent: Any, multiplier: int) -> int:
        total = 0
        for node in selection_set.selections:
            if not self._included(node):
                continue
            if isinstance(node, FieldNode):
                total += self.field(node, parent, multiplier)
            elif isinstance(node, InlineFragmentNode):
                on = self.schema.get_type(node.type_condition.name.value) if node.type_condition else parent
                total += self.selection(node.selection_set, on, multiplier)
            elif isinstance(node, FragmentSpreadNode) and node.name.value in self.fragments:
                fragment = self.fragments[node.name.value]
                on = self.schema.get_type(fragment.type_condition.name.value)
                total += self.selection(fragment.selection_set, on, multiplier)
        return total

    def field(self, node: FieldNode, parent: Any, multiplier: int) -> int:
        definition = _field_of(parent, node.name.value)
        if definition is None or node.selection_set is None:
            return multiplier  # a scalar, or __typename and the other meta fields
        named = get_named_type(definition.type)
        if named.name.endswith("Connection"):
            inner = multiplier * self._page(node)
        elif isinstance(get_nullable_type(definition.type), GraphQLList) and not _is_connection(parent):
            inner = multiplier * LIST_SIZE  # (a connection's edges are its page, counted already)
        else:
            inner = multiplier
        return multiplier + self.selection(node.selection_set, named, inner)

    def _page(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in PAGE_ARGUMENTS:
                value = value_from_ast_untyped(argument.value, self.variables)
                if isinstance(value, int) and value >= 0:
                    return min(value, self.page_size)  # more is refused as PAGE_TOO_LARGE anyway
        return self.page_size

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            if directive.name.value not in ("skip", "include"):
                continue
            condition = next((a.value for a in directive.arguments if a.name.value == "if"), None)
            value = value_from_ast_untyped(condition, self.variables) if condition is not None else None
            if value is (directive.name.value == "skip"):
                return False
        return True


def _is_connection(parent: Any) -> bool:
    return bool(getattr(parent, "name", "").endswith("Connection"))


def _field_of(parent: Any, name: str) -> GraphQLField | None:
    """The field's definition; None for __typename (and on a union, which has no other field)."""
    if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None
