"""Plugin data in a compiled read: a model's stages, rules and parameters are the same for every
row, so their JSON is made here, once per statement, by resolving the selection on the very
Strawberry objects the interpreted path returns (its resolvers, its serializers), and put into
the SQL as constants."""

from __future__ import annotations

import json
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import get_argument_values
from strawberry.utils.str_converters import to_camel_case

from schema.sql.sources import Fallback

BACKREF = "strawberry-definition"  # where Strawberry keeps its field on graphql-core's


def constant_json(compiler: Any, gtype: GraphQLObjectType, obj: Any, details: FieldDetailsList) -> str:
    """The JSON text of `obj` (a Strawberry object of type `gtype`) for the selection `details`."""
    return json.dumps(_object(compiler, gtype, obj, details), separators=(",", ":"), ensure_ascii=False)


def _object(compiler: Any, gtype: GraphQLObjectType, obj: Any, details: FieldDetailsList) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for response_key, fds in compiler.subfields(gtype, details).items():
        name = fds[0].node.name.value
        if name == "__typename":
            out[response_key] = gtype.name
            continue
        compiler.check_mapped(gtype, name)
        field = gtype.fields[name]
        definition = field.extensions[BACKREF]
        resolver = definition.base_resolver
        if resolver is None:
            value = getattr(obj, definition.python_name)
        elif resolver.is_async or resolver.info_parameter is not None:
            raise Fallback(f"{gtype.name}.{name} reads the request")
        else:
            args = get_argument_values(field, fds[0].node, compiler.variables)
            names = {a.graphql_name or to_camel_case(a.python_name): a.python_name for a in definition.arguments}
            value = resolver.wrapped_func(obj, **{names[k]: v for k, v in args.items()})
        out[response_key] = _complete(compiler, field.type, value, fds)
    return out


def _complete(compiler: Any, t: GraphQLOutputType, value: Any, details: FieldDetailsList) -> Any:
    if isinstance(t, GraphQLNonNull):
        return _complete(compiler, t.of_type, value, details)
    if value is None:
        return None
    if isinstance(t, GraphQLList):
        return [_complete(compiler, t.of_type, item, details) for item in value]
    if isinstance(t, GraphQLObjectType):
        return _object(compiler, t, value, details)
    if isinstance(t, (GraphQLScalarType, GraphQLEnumType)):
        return t.serialize(value)
    raise Fallback(f"no constant for {t}")
