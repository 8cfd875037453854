"""Schema-driven fuzzing: hostile values for every argument of every root field (queries and
mutations, read from the schema itself, so a new field is fuzzed too) never give a 5xx nor a
masked "Unexpected error." (issue 10: 326 such answers in 7,766 generated requests). Bounded so
that it stays fast in `make test`; it runs on SQLite and on PostgreSQL like every test."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    parse,
    validate,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schema.build import build_schema
from tests.conftest import Api, new_customer

pytestmark = pytest.mark.asyncio

SCHEMA = build_schema()._schema
ROOTS: list[tuple[str, str, GraphQLField]] = [
    (kind, name, field)
    for kind, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type))
    if root is not None
    for name, field in sorted(root.fields.items())
]


def gid(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "a\x00b",
        "a\ud800b",
        "\udfff",
        "²",
        "١٢٣",
        "x" * 5000,
        "Robert'); DROP TABLE customer;--",
        "%_\\",
        "null",
        "{}",
        "🙂" * 50,
    ]
) | st.text(max_size=12)
IDS = st.sampled_from(
    [
        gid("Customer:²"),
        gid("Customer:99999999999999999999"),
        gid("Customer:-1"),
        gid("Customer:0"),
        gid("Interaction:1e3"),
        gid("Nope:1"),
        gid("Customer:"),
        "not-base64!",
        "",
    ]
)
TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "1899-12-31T23:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-01-05T10:00:00",
        "2026-01-05T10:00:00Z",
        "yesterday",
    ]
)
DECIMALS = st.sampled_from(["NaN", "Infinity", "-0", "1_000", " 1", "1e999999", "0.00001", "-5", "12.5", ""])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(HOSTILE_TEXT, inner, max_size=3),
    max_leaves=8,
)
INTS = st.sampled_from([0, -1, 1, 100, 101, 2**31, -(2**31) - 1, 2**63, 10**30]) | st.integers(-5, 200)
SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "String": HOSTILE_TEXT,
    "ID": IDS,
    "Int": INTS,
    "Float": st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1e308]),
    "Boolean": st.booleans(),
    "DateTime": TIMES,
    "Date": st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "2026-01-05", "x"]),
    "Decimal": DECIMALS,
    "JSON": JSON_VALUES,
}
# Now and then a value of another type altogether: the variable's coercion must refuse it cleanly.
JUNK = st.sampled_from([[], {}, "x", 1, True, [None], {"a": {"b": []}}])


def values(t: Any, depth: int = 0) -> st.SearchStrategy[Any]:
    inner = get_nullable_type(t)
    strategy: st.SearchStrategy[Any]
    if isinstance(inner, GraphQLList):
        strategy = st.lists(values(inner.of_type, depth + 1), max_size=3)
    elif isinstance(inner, GraphQLInputObjectType):
        fields = {} if depth > 3 else {n: values(f.type, depth + 1) for n, f in inner.fields.items()}
        strategy = st.fixed_dictionaries({}, optional=fields)
    elif isinstance(inner, GraphQLEnumType):
        strategy = st.sampled_from(sorted(inner.values)) | HOSTILE_TEXT
    elif isinstance(inner, GraphQLScalarType):
        strategy = SCALARS.get(inner.name, HOSTILE_TEXT)
    else:
        strategy = JUNK
    if not isinstance(t, GraphQLNonNull):
        strategy = st.none() | strategy
    return st.one_of(strategy, JUNK) if depth == 0 else strategy


def operation(kind: str, name: str, field: GraphQLField) -> str:
    args: dict[str, GraphQLArgument] = field.args
    declared = ", ".join(f"${a}: {arg.type}" for a, arg in args.items())
    passed = ", ".join(f"{a}: ${a}" for a in args)
    selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
    head = f"{kind}({declared})" if declared else kind
    return f"{head} {{ {name}{f'({passed})' if passed else ''}{selection} }}"


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind, name, field = draw(st.sampled_from(ROOTS))
    variables = {a: draw(values(arg.type)) for a, arg in field.args.items() if draw(st.integers(0, 9)) > 0}
    return operation(kind, name, field), variables


# `make test` draws this many requests; JORNADA_FUZZ_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("JORNADA_FUZZ_EXAMPLES", "300"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
async def test_hostile_arguments_of_every_root_field_get_coded_answers_never_a_server_fault(
    api: Api, request: tuple[str, dict[str, Any]]
) -> None:
    query, variables = request
    # json.dumps escapes lone surrogates (\ud800) as JSON allows; the client's encoder would refuse them.
    body_text = json.dumps({"query": query, "variables": variables})
    headers = {"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"}
    response = await api.http.post("/graphql", content=body_text, headers=headers)
    assert response.status_code < 500, (query, variables, response.text[:500])
    body = response.json()
    for error in body.get("errors") or []:
        assert error["message"] != "Unexpected error.", (query, variables, error)
        assert (error.get("extensions") or {}).get("code"), (query, variables, error)


async def test_the_operation_made_for_every_root_field_is_valid_graphql() -> None:
    """Else the fuzzer would only ever exercise validation: each root field's operation, with
    every argument as a variable, passes the schema's validation (its values are what vary)."""
    assert {name for _, name, _ in ROOTS} >= {"customers", "interactions", "metrics", "createCustomer", "node"}
    invalid = {name: validate(SCHEMA, parse(operation(kind, name, field))) for kind, name, field in ROOTS}
    assert {name: errors for name, errors in invalid.items() if errors} == {}


async def test_an_operation_the_fuzzer_makes_runs_with_real_values(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    body = await api.run(operation("query", "node", SCHEMA.query_type.fields["node"]), {"id": customer["id"]})
    assert body["data"]["node"] == {"__typename": "Customer"}
