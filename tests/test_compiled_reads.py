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

import base64
import json
import os
import re
from dataclasses import dataclass
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
from schema.sql.mapping import Connection, NotCompiled
from schema.sql.marks import FALLBACK_MARK
from schema.sql.plans import TYPES
from schema.sql.sources import WS
from tests.conftest import Api, new_customer, on_postgres, raw_id
from tests.test_api_fuzz import SCHEMA

pytestmark = pytest.mark.asyncio

RECORD_MANY = """
mutation($input: RecordInteractionsInput!) {
  recordInteractions(input: $input) { results { userErrors { code message } } }
}
"""
NAMES = ["Ana Souza", "Zoé Étoile", 'O\'Brien "Q"', "line\nbreak\ttab", "", None, "ana souza", "Émile 😀"]
ORDERINGS = [
    "",
    "[{field: NAME, direction: DESC}]",
    "[{field: UPDATED_AT}]",
    "[{field: PREDICTED_CLV, direction: DESC}]",
    "[{field: NAME}, {field: CREATED_AT, direction: DESC}]",
]
CHANNELS = ["email", "web", None, "whatsapp"]
KINDS = ["purchase", "email_opened", "meeting", "nps_response", "site_visit"]


def view_of(app: Starlette) -> JornadaGraphQL:
    for route in app.routes:
        endpoint = getattr(route, "endpoint", None)
        if isinstance(endpoint, JornadaGraphQL):
            return endpoint
    raise AssertionError("no GraphQL view")


@dataclass
class Data:
    """What the generated queries are made of: ids, cursors and filter values that exist."""

    ids: list[str]
    customer_cursors: dict[str, list[str]]  # by ordering (ORDERINGS)
    interaction_cursors: list[str]
    history_cursors: list[str]


TRACK = "mutation($i: TrackLifecycleModelInput!) { trackLifecycleModel(input: $i) { userErrors { code } } }"


async def _populate(api: Api, other: Api) -> Data:
    ids: list[str] = []
    assert (await api.data(TRACK, {"i": {"model": "lifespan"}}))["trackLifecycleModel"]["userErrors"] == []
    for n in range(10):
        fields: dict[str, Any] = {
            "name": NAMES[n % len(NAMES)],
            "email": f"c{n}@example.com" if n % 3 else None,
            "tags": [["vip"], [], ["vip", "b2b"], ["b2b"]][n % 4],
            "attributes": [{}, {"plan": "pro", "seats": n, "ok": True}, {"nested": {"a": [1, 2.5, None]}}][n % 3],
            "acquisitionChannel": ["ads", "referral", None][n % 3],
            # Ties on createdAt (the id breaks them) and times with and without microseconds.
            "createdAt": f"2025-0{1 + n % 4}-1{n % 3}T10:00:00{'.250000' if n % 2 else ''}+00:00",
        }
        if n % 4 == 1:
            fields["address"] = {"city": "São Paulo", "country": "BR", "postalCode": "01000-000"}
        if n % 5 == 2:
            fields["socialProfiles"] = [{"network": "x", "handle": "@q"}, {"network": "linkedin", "url": "https://l/q"}]
        customer = await new_customer(api, **fields)
        ids.append(customer["id"])
        items = []
        for m in range(n % 5):
            kind = KINDS[(n + m) % len(KINDS)]
            item: dict[str, Any] = {
                "customerId": customer["id"],
                "kind": kind,
                "occurredAt": f"2025-0{5 + m % 3}-0{1 + m}T0{m}:30:00{'.5' if m % 2 else ''}Z",
                "channel": CHANNELS[m % len(CHANNELS)],
                "properties": {"product": ["A", "B", "é"][m % 3]} if kind == "purchase" else {},
            }
            if kind == "purchase":
                item["amount"] = ["10", "0.0001", "123456.78"][m % 3]
            if kind == "nps_response":
                item["score"] = m
            items.append(item)
        if items:
            result = await api.data(RECORD_MANY, {"input": {"interactions": items}})
            assert all(not r["userErrors"] for r in result["recordInteractions"]["results"]), result
    # Another workspace's customer and interaction: their ids must read as unknown here.
    stranger = await new_customer(other, name="Stranger")
    await other.data(
        RECORD_MANY,
        {
            "input": {
                "interactions": [
                    {"customerId": stranger["id"], "kind": "meeting", "occurredAt": "2025-05-01T00:00:00Z"}
                ]
            }
        },
    )
    found = await other.data("{ interactions(first: 1) { edges { node { id } } } }")
    ids += [stranger["id"], found["interactions"]["edges"][0]["node"]["id"]]
    ids += [base64.b64encode(b"Customer:999999").decode(), base64.b64encode(b"StageTransition:1").decode(), "nope"]
    customer_cursors = {}
    for order in ORDERINGS:
        page = await api.data(f"{{ customers{f'(orderBy: {order})' if order else ''} {{ edges {{ cursor }} }} }}")
        customer_cursors[order] = [e["cursor"] for e in page["customers"]["edges"]][1:5]
    page = await api.data("{ interactions { edges { cursor node { id } } } }")
    interaction_cursors = [e["cursor"] for e in page["interactions"]["edges"]][2:6]
    ids += [e["node"]["id"] for e in page["interactions"]["edges"]][:4]
    first = ids[1]
    page = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Customer { history { edges { cursor } } } } }", {"id": first}
    )
    history_cursors = [e["cursor"] for e in page["node"]["history"]["edges"]][:3]
    return Data(ids, customer_cursors, interaction_cursors, history_cursors)


@pytest_asyncio.fixture
async def data(api: Api, other_api: Api) -> Data:
    return await _populate(api, other_api)


# --- random queries over the compilable part -------------------------------------------------


# Compiled, but not comparable: the two answers are made at different instants.
CLOCKED = {("CustomerStage", "daysInStage")}


def _compiled_fields(type_name: str) -> list[str]:
    mapping = TYPES[type_name]
    return sorted(
        n for n, spec in mapping.fields.items() if not isinstance(spec, NotCompiled) and (type_name, n) not in CLOCKED
    )


STRINGS = st.sampled_from(["ana", "Zo", "é", "", "x%_", "O'Brien"])
TIMES = st.sampled_from(["2025-02-01T00:00:00Z", "2025-03-11T10:00:00.25+00:00", "2025-06-01T00:00:00-03:00"])


def literal(value: Any) -> str:
    """A GraphQL literal (JSON's strings are GraphQL's)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, Raw):
        return value.text
    return json.dumps(value)


@dataclass(frozen=True)
class Raw:
    """GraphQL written out already."""

    text: str


BAD_CURSORS = ["garbage", base64.urlsafe_b64encode(b'{"o":"x","k":[]}').decode()]


@st.composite
def page_args(draw: st.DrawFn, cursors: list[str], backwards: bool) -> dict[str, Any]:
    """Page arguments; now and then a refused one (101, a bad cursor, another list's cursor)."""
    args: dict[str, Any] = {}
    size = 101 if draw(_rare()) else draw(st.sampled_from([None, None, 0, 1, 2, 3, "$n"]))
    use_last = backwards and draw(st.booleans())
    if size is not None:
        args["last" if use_last else "first"] = size
    if draw(st.booleans()):
        pool = cursors if not draw(_rare()) else BAD_CURSORS
        args["before" if use_last else "after"] = draw(st.sampled_from(pool))
    return args


def _rare() -> st.SearchStrategy[bool]:
    return st.integers(0, 19).map(lambda n: n == 0)


@st.composite
def customer_filter(draw: st.DrawFn) -> dict[str, Any]:
    options = {
        "text": STRINGS,
        "email": st.sampled_from(["c1@example.com", "C2@EXAMPLE.COM", "none@x"]),
        "tag": st.sampled_from(["vip", "b2b", "zzz"]),
        "createdAfter": TIMES,
        "createdBefore": TIMES,
        "acquisitionChannel": st.sampled_from(["ads", "referral"]),
        "attributes": st.sampled_from([[{"key": "plan", "value": "pro"}], [{"key": "seats", "value": 4}]]),
        "pAliveBelow": st.sampled_from([0.5, 1.0]),
        "pAliveAtLeast": st.sampled_from([0.0, 0.5]),
        "stage": STAGES,
        "stages": st.lists(STAGES, max_size=2),
        "model": MODELS,
    }
    return draw(st.fixed_dictionaries({}, optional=options))


@st.composite
def interaction_filter(draw: st.DrawFn, data: Data) -> dict[str, Any]:
    options = {
        "kinds": st.lists(st.sampled_from(KINDS), max_size=2),
        "channel": st.sampled_from(["email", "web"]),
        "occurredAfter": TIMES,
        "occurredBefore": TIMES,
        "customerId": st.sampled_from(data.ids),
    }
    return draw(st.fixed_dictionaries({}, optional=options))


def _arguments(draw: st.DrawFn, type_name: str, field: str, data: Data) -> dict[str, Any]:
    if (type_name, field) == ("Query", "customers"):
        order = draw(st.sampled_from(ORDERINGS))
        args = draw(page_args(data.customer_cursors[order], backwards=True))
        if draw(st.booleans()):
            args["filter"] = draw(customer_filter())
        if order:
            args["orderBy"] = Raw(order)
        return args
    if (type_name, field) == ("Query", "interactions"):
        args = draw(page_args(data.interaction_cursors, backwards=True))
        if draw(st.booleans()):
            args["filter"] = draw(interaction_filter(data))
        return args
    if (type_name, field) == ("Customer", "interactions"):
        args = draw(page_args(data.interaction_cursors, backwards=False))
        if draw(st.booleans()):
            args["filter"] = draw(interaction_filter(data))
        return args
    if (type_name, field) == ("Query", "node"):
        return {"id": draw(st.sampled_from(data.ids))}
    if (type_name, field) == ("Customer", "stage"):
        return draw(st.fixed_dictionaries({}, optional={"model": MODELS}))
    if (type_name, field) == ("Customer", "history"):
        args = draw(page_args(data.history_cursors, backwards=True))
        extra = {"model": MODELS, "includeSuperseded": st.booleans()}
        return args | draw(st.fixed_dictionaries({}, optional=extra))
    if (type_name, field) == ("Stage", "label"):
        return draw(st.fixed_dictionaries({}, optional={"locale": st.sampled_from(["pt", "pt_BR", "EN", "xx", ""])}))
    return {}


# Tracked, never tracked, and not installed at all.
MODELS = st.sampled_from(["funnel", "lifespan", "three-phase", "no_such_model"])
# Of the primary model (funnel), of the other tracked one, of both, of none.
STAGES = st.sampled_from(["customer", "churned", "prospect", "retention", "acquisition", "nope"])


def _args_text(args: dict[str, Any]) -> str:
    if not args:
        return ""
    return "(" + ", ".join(f"{k}: {v if v == '$n' else literal(v)}" for k, v in args.items()) + ")"


@st.composite
def selection(draw: st.DrawFn, gtype: GraphQLObjectType, data: Data, depth: int) -> str:
    name = gtype.name
    if name in TYPES:
        choices = _compiled_fields(name)
    elif name.endswith("Connection"):
        choices = ["edges", "pageInfo", "totalCount"]
    elif name.endswith("Edge"):
        choices = ["cursor", "node"]
    else:
        choices = sorted(gtype.fields)
    if depth >= 4:  # deep enough: leaves only
        choices = [c for c in choices if not isinstance(get_named_type(gtype.fields[c].type), GraphQLObjectType)]
        choices = choices or ["__typename"]
    picked = draw(st.lists(st.sampled_from([*choices, "__typename"]), min_size=1, max_size=5, unique=True))
    parts = []
    for n, field in enumerate(picked):
        alias = draw(st.sampled_from(["", "", "", f"a{n}_{field}: "]))
        directive = draw(st.sampled_from(["", "", "", " @include(if: $yes)", " @skip(if: $yes)", " @skip(if: false)"]))
        if field == "__typename":
            parts.append(f"{alias}__typename{directive}")
            continue
        target = get_named_type(gtype.fields[field].type)
        args = _arguments(draw, name, field, data)
        sub = ""
        if field == "node" and name == "Query":
            customer = draw(selection(SCHEMA.get_type("Customer"), data, depth + 1))
            interaction = draw(selection(SCHEMA.get_type("Interaction"), data, depth + 1))
            sub = f" {{ id ... on Customer {{ {customer} }} ... on Interaction {{ {interaction} }} }}"
        elif isinstance(target, GraphQLObjectType):
            sub = " { " + draw(selection(target, data, depth + 1)) + " }"
        parts.append(f"{alias}{field}{_args_text(args)}{directive}{sub}")
    if name == "Customer" and draw(st.booleans()):
        parts.append("...Who")
    if draw(st.integers(0, 5)) == 0:
        parts = [f"... on {name} {{ {' '.join(parts)} }}"]
    return " ".join(parts)


FRAGMENT = "fragment Who on Customer { id name email createdAt }"


@st.composite
def queries(draw: st.DrawFn, data: Data) -> tuple[str, dict[str, Any]]:
    body = draw(selection(SCHEMA.query_type, data, 0))
    declared = {"n": "Int", "yes": "Boolean!"}
    used = [name for name in declared if f"${name}" in body]
    head = "query Q(" + ", ".join(f"${name}: {declared[name]}" for name in used) + ")" if used else "query Q"
    query = f"{head} {{ {body} }}"
    if "...Who" in body:
        query += " " + FRAGMENT
    values = {"yes": draw(st.booleans()), "n": draw(st.sampled_from([None, 1, 2, 100]))}
    return query, {name: values[name] for name in used}


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
