"""Compiled reads (issue 11): a query over the compilable part of the schema is answered by one
SQL statement, and that answer is the Strawberry path's, always.

The property test builds random queries from the schema's compilable part (selections, aliases,
named and inline fragments, `@skip`/`@include`, variables, filters, orderings, cursors, page
sizes, ids of this and of another workspace) and sends each one twice over HTTP, compiled and
through Strawberry, on the same data: the bodies must hold the same JSON, keys in the same
order. Every statement it compiles is then checked for tenancy: each table it reads is filtered
by the API key's workspace.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

import pytest
import pytest_asyncio
from graphql import GraphQLObjectType, get_named_type
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from tortoise import Tortoise

from api.app import JornadaGraphQL
from api.db import connection
from schema.sql.mapping import Connection
from schema.sql.marks import FALLBACK_MARK
from schema.sql.plans import TYPES
from schema.sql.sources import WS
from tests.compiled_queries import Data, populate, queries
from tests.conftest import Api, on_postgres, raw_id
from tests.test_api_fuzz import SCHEMA

pytestmark = pytest.mark.asyncio


def view_of(app: Starlette) -> JornadaGraphQL:
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(endpoint, JornadaGraphQL):
            return endpoint
    raise AssertionError("no GraphQL view")


@pytest_asyncio.fixture
async def data(api: Api, other_api: Api) -> Data:
    return await populate(api, other_api)


# --- the checks --------------------------------------------------------------------------------


def canonical(text: str) -> str:
    """The JSON of a body, re-encoded: the same for the same values with keys in the same order."""
    return json.dumps(json.loads(text), ensure_ascii=False)


async def both_answers(api: Api, view: JornadaGraphQL, query: str, variables: dict[str, Any]) -> tuple[str, str]:
    compiled = await api.post(query, variables)
    reads, view.reads = view.reads, None
    try:
        interpreted = await api.post(query, variables)
    finally:
        view.reads = reads
    assert compiled.status_code == interpreted.status_code
    return compiled.text, interpreted.text


ACCESS = re.compile(r"\b(?:FROM|JOIN)\s+([a-z_]+)\s+(?:AS\s+)?([a-z_][a-z_0-9]*)", re.IGNORECASE)


def _flatten(segment: str) -> str:
    """`segment` up to the end of its scope, without what nested parentheses hold."""
    out, depth = [], 0
    for char in segment:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                break
        elif depth == 0:
            out.append(char)
    return "".join(out)


def unscoped_tables(sql: str, tables: set[str]) -> list[str]:
    """Each table read by `sql` whose scope lacks `alias.workspace_id = <the key's workspace>`
    (the key itself, api_key, is read by its hash)."""
    marked = sql.replace(WS, "§WS§")
    missing = []
    for found in ACCESS.finditer(marked):
        table, alias = found.group(1), found.group(2)
        if table not in tables or table == "api_key":
            continue
        scope = _flatten(marked[found.end() :])
        column = "id" if table == "workspace" else "workspace_id"  # the workspace itself: its id
        if f"{alias}.{column} = §WS§" not in scope:
            missing.append(f"{table} {alias}")
    return missing


def model_tables() -> set[str]:
    return {m._meta.db_table for m in Tortoise.apps["models"].values()}


EXAMPLES = int(os.environ.get("JORNADA_EQUIVALENCE_EXAMPLES", "120"))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(drawn=st.data())
async def test_compiled_and_interpreted_reads_give_the_same_json(
    app: Starlette, api: Api, data: Data, drawn: st.DataObject
) -> None:
    view = view_of(app)
    assert view.reads is not None
    query, variables = drawn.draw(queries(data))
    compiled, interpreted = await both_answers(api, view, query, variables)
    assert canonical(compiled) == canonical(interpreted), (query, variables)
    statement = view.reads.plans.statement(query, None, variables)
    assert FALLBACK_MARK not in compiled
    body = json.loads(compiled)
    if statement is None:
        event("answered by Strawberry")
    else:  # compiled; with errors only after the statement marked a value only Strawberry gives
        event("compiled, then Strawberry" if "errors" in body else "compiled")
        assert unscoped_tables(statement.sql, model_tables()) == [], (query, statement.sql)


async def test_the_benchmark_query_is_compiled_and_answers_as_strawberry_does(
    app: Starlette, api: Api, data: Data
) -> None:
    view = view_of(app)
    assert view.reads is not None
    query = (
        "{ customers(first: 50) { edges { node { id name email "
        "interactions(first: 5) { edges { node { id kind occurredAt amount } } } } } } }"
    )
    assert view.reads.plans.statement(query, None, None) is not None
    compiled, interpreted = await both_answers(api, view, query, {})
    assert canonical(compiled) == canonical(interpreted)
    assert len(json.loads(compiled)["data"]["customers"]["edges"]) == 10


async def test_errors_are_strawberry_s_own(app: Starlette, api: Api, data: Data) -> None:
    """A page too large, a bad cursor, an invalid id: not compiled, answered as before."""
    view = view_of(app)
    for query in (
        "{ customers(first: 101) { totalCount } viewer { role } }",
        '{ customers(after: "garbage") { totalCount } }',
        '{ node(id: "%%%") { id } }',
        "{ customers { edges { node { interactions(first: 500) { totalCount } } } } }",
    ):
        compiled, interpreted = await both_answers(api, view, query, {})
        assert canonical(compiled) == canonical(interpreted)
        assert json.loads(compiled)["errors"], query


async def test_a_revoked_key_gets_401_on_a_compiled_read(app: Starlette, api: Api, data: Data) -> None:
    query = "{ customers(first: 2) { totalCount } }"
    assert (await api.post(query)).status_code == 200
    keys = await api.data("{ viewer { workspace { apiKeys { id } } } }")
    revoke = "mutation($i: RevokeApiKeyInput!) { revokeApiKey(input: $i) { userErrors { code } } }"
    await api.data(revoke, {"i": {"id": keys["viewer"]["workspace"]["apiKeys"][0]["id"]}})
    response = await api.post(query)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_tenancy_check_finds_a_table_read_without_the_workspace() -> None:
    scoped = f"SELECT 1 FROM customer c WHERE c.workspace_id = {WS} AND c.id = 1"
    assert unscoped_tables(scoped, {"customer"}) == []
    assert unscoped_tables("SELECT 1 FROM customer c WHERE c.id = 1", {"customer"}) == ["customer c"]
    nested = f"SELECT (SELECT count(*) FROM interaction i WHERE i.id = 2) FROM customer c WHERE c.workspace_id = {WS}"
    assert unscoped_tables(nested, {"customer", "interaction"}) == ["interaction i"]


async def test_every_field_of_a_compilable_type_has_a_declared_mapping() -> None:
    """A type that gains a field must say how SQL reads it (or that it does not: NotCompiled)."""
    for name, mapping in TYPES.items():
        gtype = SCHEMA.get_type(name)
        assert isinstance(gtype, GraphQLObjectType), name
        assert set(mapping.fields) == set(gtype.fields), name
        for field, spec in mapping.fields.items():
            if isinstance(spec, Connection):
                conn = get_named_type(gtype.fields[field].type)
                assert isinstance(conn, GraphQLObjectType)
                assert set(conn.fields) == {"edges", "pageInfo", "totalCount"}, conn.name
                edge = get_named_type(conn.fields["edges"].type)
                assert isinstance(edge, GraphQLObjectType)
                assert set(edge.fields) == {"cursor", "node"}, edge.name
    page_info = SCHEMA.get_type("PageInfo")
    assert isinstance(page_info, GraphQLObjectType)
    assert set(page_info.fields) == {"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"}


async def test_days_in_stage_is_counted_to_the_request_s_time(app: Starlette, api: Api, data: Data) -> None:
    view = view_of(app)
    query = "{ customers(first: 3) { edges { node { stage { enteredAt daysInStage } } } } }"
    assert view.reads is not None
    assert view.reads.plans.statement(query, None, None) is not None
    compiled, interpreted = await both_answers(api, view, query, {})
    pairs = zip(
        json.loads(compiled)["data"]["customers"]["edges"],
        json.loads(interpreted)["data"]["customers"]["edges"],
        strict=True,
    )
    for a, b in pairs:
        assert a["node"]["stage"]["enteredAt"] == b["node"]["stage"]["enteredAt"]
        assert abs(a["node"]["stage"]["daysInStage"] - b["node"]["stage"]["daysInStage"]) < 0.001
        assert a["node"]["stage"]["daysInStage"] > 200  # entered in 2025


async def test_a_customer_not_placed_in_a_model_is_answered_by_strawberry(app: Starlette, api: Api, data: Data) -> None:
    """Its initial stage depends on the model's parameters: the statement marks it, and the
    request goes to Strawberry, whose answer the client gets (never the mark)."""
    customer = raw_id(data.ids[0])
    await connection().execute_query(
        "DELETE FROM stage_assignment WHERE customer_id = $1"
        if on_postgres()
        else "DELETE FROM stage_assignment WHERE customer_id = ?",
        [customer],
    )
    query = "query($id: ID!) { node(id: $id) { ... on Customer { createdAt stage { stage { key } enteredAt } } } }"
    view = view_of(app)
    assert view.reads is not None
    assert view.reads.plans.statement(query, None, {"id": data.ids[0]}) is not None
    compiled, interpreted = await both_answers(api, view, query, {"id": data.ids[0]})
    assert canonical(compiled) == canonical(interpreted)
    node = json.loads(compiled)["data"]["node"]
    assert node["stage"] == {"stage": {"key": "prospect"}, "enteredAt": node["createdAt"]}


async def test_a_fault_in_the_compiled_path_costs_speed_not_the_answer(
    app: Starlette, api: Api, data: Data, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    view = view_of(app)
    query = "{ customers(first: 2) { totalCount edges { node { name } } } }"
    expected, _ = await both_answers(api, view, query, {})

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the planner")

    monkeypatch.setattr("schema.sql.plans.ReadPlans.statement", broken)
    with caplog.at_level(logging.ERROR, logger="jornada.compiled"):
        response = await api.post(query)
    assert response.status_code == 200
    assert canonical(response.text) == canonical(expected)
    assert "compiled read failed" in caplog.text
