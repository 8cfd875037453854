"""No string of a request may hold a NUL character or a lone surrogate: PostgreSQL refuses the
first and no database can store the second, and both used to end as "Unexpected error.". Every
variable and every string literal of the document is checked before execution; a bad one is a
BAD_USER_INPUT error that says where it is."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult

from api.validation import bad_string


def _in_value(value: Any, path: list[str]) -> tuple[list[str], str] | None:
    if isinstance(value, str):
        found = bad_string(value)
        return (path, found) if found else None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if isinstance(key, str) and (found := bad_string(key)):
            return ([*path, key], found)
        if hit := _in_value(item, [*path, str(key)]):
            return hit
    return None


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: str | None = None

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        self.found = self.found or bad_string(node.value)


_CHECKED: OrderedDict[str, str | None] = OrderedDict()  # the literals' verdict, by document text


def _literal_problem(context: Any) -> str | None:
    """What a string literal of the document holds that it may not, remembered per document."""
    query = context.query
    if isinstance(query, str) and query in _CHECKED:
        _CHECKED.move_to_end(query)
        return _CHECKED[query]
    literals = _Literals()
    visit(context.graphql_document, literals)
    if isinstance(query, str):
        _CHECKED[query] = literals.found
        if len(_CHECKED) > 1024:
            _CHECKED.popitem(last=False)
    return literals.found


def holds_bad_string(document: DocumentNode, variables: dict[str, Any]) -> bool:
    """Whether a variable or a string literal of the document holds what CleanStrings refuses."""
    if _in_value(variables, ["variables"]):
        return True
    literals = _Literals()
    visit(document, literals)
    return literals.found is not None


class CleanStrings(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        error = None
        if hit := _in_value(context.variables or {}, ["variables"]):
            path, what = hit
            error = GraphQLError(
                f"The value at {'.'.join(path)} holds {what}.",
                extensions={"code": "BAD_USER_INPUT", "reason": "INVALID_STRING", "field": path},
            )
        elif context.graphql_document is not None and (found := _literal_problem(context)):
            error = GraphQLError(
                f"A string in the query holds {found}.",
                extensions={"code": "BAD_USER_INPUT", "reason": "INVALID_STRING"},
            )
        if error is not None:
            context.result = ExecutionResult(data=None, errors=[error])
        yield
