"""Random queries over the compiled reads' part of the schema, and the data they read: for
tests/test_compiled_reads.py (hypothesis builds selections, arguments, fragments and aliases from
the schema's compilable types)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLObjectType, get_named_type
from hypothesis import strategies as st

from schema.sql.mapping import NotCompiled
from schema.sql.plans import TYPES
from tests.conftest import Api, new_customer
from tests.test_api_fuzz import SCHEMA

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


@dataclass
class Data:
    """What the generated queries are made of: ids, cursors and filter values that exist."""

    ids: list[str]
    customer_cursors: dict[str, list[str]]  # by ordering (ORDERINGS)
    interaction_cursors: list[str]
    history_cursors: list[str]


TRACK = "mutation($i: TrackLifecycleModelInput!) { trackLifecycleModel(input: $i) { userErrors { code } } }"


async def populate(api: Api, other: Api) -> Data:
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


CONDITIONS = st.sampled_from(
    [
        {"field": "attributes.plan", "value": "pro"},
        {"field": "attributes.seats", "op": "GT", "value": 2},
        {"field": "attributes.seats", "op": "IN", "values": [1, 4, "4"]},
        {"field": "attributes.plan", "op": "EXISTS"},
        {"field": "acquisitionChannel", "op": "LT", "value": "b"},
        {"field": "createdAt", "op": "GTE", "value": "2026-01-01T00:00:00Z"},
        {"field": "industry", "op": "EXISTS", "value": "x"},  # refused: Strawberry's error
    ]
)


@st.composite
def customer_filter(draw: st.DrawFn, depth: int = 1) -> dict[str, Any]:
    """A filter, its comparisons and (down to `depth`) its AND/OR/NOT groups."""
    groups: dict[str, Any] = {}
    if depth > 0:
        inner = customer_filter(depth - 1)
        groups = {"not": inner, "and": st.lists(inner, max_size=2), "or": st.lists(inner, max_size=2)}
    options = {
        **groups,
        "where": st.lists(CONDITIONS, max_size=2),
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
    if (type_name, field) == ("Query", "metrics"):
        args = draw(st.fixed_dictionaries({}, optional={"model": MODELS, "segment": customer_filter()}))
        if draw(_rare()):  # computed by the metrics service, whatever is selected
            args["period"] = {"start": "2025-01-01T00:00:00Z"}
        return args
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
