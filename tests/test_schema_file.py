"""The committed schema.graphql is the schema the server runs, and every type is documented."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

from schema.build import SCHEMA_FILE, build_schema


def test_committed_schema_equals_the_running_schema() -> None:
    assert SCHEMA_FILE.read_text() == str(build_schema()) + "\n", "run `make schema` and commit it"


def test_every_public_type_and_root_field_has_a_description() -> None:
    schema = build_schema()._schema
    missing = []
    for name, gql_type in schema.type_map.items():
        if name.startswith("__") or name in {"Query", "Mutation", "Subscription", "PageInfo"}:
            continue
        documented = isinstance(gql_type, (GraphQLObjectType, GraphQLInputObjectType, GraphQLEnumType))
        if documented and not gql_type.description and not name.endswith(("Edge", "Connection")):
            missing.append(name)
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        assert root is not None
        missing += [f"{root.name}.{f}" for f, field in root.fields.items() if not field.description]
    assert missing == []
