"""Limits on what a request may ask for, and masking of unexpected failures."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from api.settings import Settings
from tests.conftest import RECORD, Api, new_customer

pytestmark = pytest.mark.asyncio

MIB = 1024 * 1024


def codes(body: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


# --- page size ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ("{ customers(first: 101) { totalCount } }", "first"),
        ("{ customers(last: 101) { totalCount } }", "last"),
        ("{ interactions(first: 101) { totalCount } }", "first"),
        ("{ interactions(last: 101) { totalCount } }", "last"),
        ("{ customers(first: 1000000) { edges { node { id } } } }", "first"),
    ],
)
async def test_a_page_over_100_is_a_clear_error(api: Api, query: str, argument: str) -> None:
    await new_customer(api, name="Ana")
    body = await api.run(query)
    assert list(body["data"].values()) == [None]  # the root field is nullable: only it is lost
    assert codes(body) == ["BAD_USER_INPUT"]
    error = body["errors"][0]
    assert f"`{argument}`" in error["message"]
    assert "100" in error["message"]
    assert error["extensions"]["field"] == [argument]
    assert error["extensions"]["reason"] == "PAGE_TOO_LARGE"


async def test_a_negative_page_size_is_a_clear_error(api: Api) -> None:
    body = await api.run("{ customers(first: -1) { totalCount } }")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == ["first"]


async def test_a_customers_interactions_page_over_100_is_a_clear_error(api: Api) -> None:
    await new_customer(api, name="Ana")
    body = await api.run("{ customers { edges { node { interactions(first: 101) { totalCount } } } } }")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == ["first"]


async def test_a_page_of_100_is_served_whole(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    for n in range(101):
        await new_customer(api, name=f"Customer {n:03}")
    items = [
        {
            "customerId": customer["id"],
            "kind": "site_visit",
            "occurredAt": f"2026-01-05T10:{n // 60:02}:{n % 60:02}Z",
        }
        for n in range(101)
    ]
    recorded = await api.data(
        "mutation($input: RecordInteractionsInput!) { recordInteractions(input: $input) { storedCount } }",
        {"input": {"interactions": items}},
    )
    assert recorded["recordInteractions"]["storedCount"] == 101
    data = await api.data(
        """
        {
          customers(first: 100) { totalCount edges { cursor } pageInfo { hasNextPage } }
          interactions(last: 100) { totalCount edges { cursor } pageInfo { hasPreviousPage } }
        }
        """
    )
    assert data["customers"]["totalCount"] == 102
    assert len(data["customers"]["edges"]) == 100
    assert data["customers"]["pageInfo"]["hasNextPage"] is True
    assert data["interactions"]["totalCount"] == 101
    assert len(data["interactions"]["edges"]) == 100
    assert data["interactions"]["pageInfo"]["hasPreviousPage"] is True


# --- document limits ----------------------------------------------------------------------


def nested(depth: int) -> str:
    """A query `depth` levels deep, counted as the limiter does: a root field is depth 0, so
    `{ customers { totalCount } }` is 1 deep."""
    # customers > edges > node, then (interactions > edges > node > customer) repeated.
    path = ["customers", "edges", "node"]
    while len(path) < depth:
        path += ["interactions", "edges", "node", "customer"]
    path = path[:depth]
    leaf = {
        "customers": "totalCount",
        "edges": "cursor",
        "node": "id",
        "interactions": "totalCount",
        "customer": "id",
    }
    query = leaf[path[-1]]
    for field in reversed(path):
        page = "(first: 1)" if field in ("customers", "interactions") else ""  # within the cost limit
        query = f"{field}{page} {{ {query} }}"
    return "{ " + query + " }"


def depth_of(query: str) -> int:
    depth = deepest = 0
    for char in query:
        depth += {"{": 1, "}": -1}.get(char, 0)
        deepest = max(deepest, depth)
    # Each brace level below the operation's own holds fields one deeper; the root fields are 0.
    return deepest - 1


async def test_a_query_at_the_depth_limit_runs(api: Api, settings: Settings) -> None:
    assert settings.max_query_depth == 12
    customer = await new_customer(api, name="Ana")
    recorded = await api.data(
        RECORD,
        {"input": {"customerId": customer["id"], "kind": "site_visit", "occurredAt": "2026-01-05T10:00:00Z"}},
    )
    assert recorded["recordInteraction"]["userErrors"] == []
    query = nested(settings.max_query_depth)
    assert depth_of(query) == settings.max_query_depth
    data = await api.data(query)
    assert len(data["customers"]["edges"]) == 1


@pytest.mark.parametrize("extra", [1, 4])
async def test_a_query_deeper_than_the_limit_is_refused(api: Api, settings: Settings, extra: int) -> None:
    query = nested(settings.max_query_depth + extra)
    assert depth_of(query) == settings.max_query_depth + extra
    body = await api.run(query)
    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert "depth" in body["errors"][0]["message"].lower()
    assert str(settings.max_query_depth) in body["errors"][0]["message"]
    assert codes(body) == ["QUERY_TOO_DEEP"]


async def test_a_deep_query_hidden_in_fragments_is_refused(api: Api, settings: Settings) -> None:
    query = """
    query { customers { edges { node { ...C } } } }
    fragment C on Customer { interactions { edges { node { customer { ...D } } } } }
    fragment D on Customer { interactions { edges { node { customer { ...E } } } } }
    fragment E on Customer { interactions { edges { node { customer { id } } } } }
    """
    body = await api.run(query)
    assert body.get("data") is None
    assert "depth" in body["errors"][0]["message"].lower()


def aliases(count: int) -> str:
    return "{ " + " ".join(f"a{n}: viewer {{ role }}" for n in range(count)) + " }"


async def test_aliases_up_to_the_limit_run_and_more_are_refused(api: Api, settings: Settings) -> None:
    assert settings.max_aliases == 30
    ok = await api.data(aliases(settings.max_aliases))
    assert len(ok) == settings.max_aliases
    body = await api.run(aliases(settings.max_aliases + 1))
    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert "alias" in body["errors"][0]["message"].lower()
    assert codes(body) == ["TOO_MANY_ALIASES"]


def many_tokens(count: int) -> str:
    """A small, valid query of about `count` tokens (a long list literal)."""
    return "{ interactions(filter: {kinds: [" + '"x" ' * count + "]}) { totalCount } }"


async def test_a_document_over_the_token_limit_is_refused(api: Api, settings: Settings) -> None:
    assert settings.max_query_tokens == 5000
    within = await api.data(many_tokens(settings.max_query_tokens - 100))
    assert within == {"interactions": {"totalCount": 0}}
    body = await api.run(many_tokens(settings.max_query_tokens))
    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert "token" in body["errors"][0]["message"].lower()
    assert str(settings.max_query_tokens) in body["errors"][0]["message"]
    assert codes(body) == ["QUERY_TOO_LARGE"]


# --- query cost ----------------------------------------------------------------------------

TRIAL = """{ customers(first: 100) { edges { node { interactions(first: 100) { edges { node { customer {
  interactions(first: 100) { edges { node { id kind } } } } } } } } } } }"""


async def test_the_hostile_trials_query_is_refused_before_it_runs_naming_cost_and_budget(
    api: Api, settings: Settings
) -> None:
    """Issue 10, item 2: depth 11, within the depth limit, took 43 s and 57 MB for a VIEWER."""
    assert settings.max_query_cost == 200_000
    await new_customer(api, name="Ana")
    body = await api.run(TRIAL)
    assert body.get("data") is None
    assert codes(body) == ["QUERY_TOO_COSTLY"]
    error = body["errors"][0]
    assert error["extensions"]["budget"] == 200_000
    # customers, 100 x (edges, node, interactions), 10,000 x (edges, node, customer, interactions),
    # 1,000,000 x (edges, node, id, kind)
    assert error["extensions"]["cost"] == 1 + 100 * 3 + 100**2 * 4 + 100**3 * 4 == 4_040_301
    assert "4,040,301" in error["message"]
    assert "200,000" in error["message"]
    # Five aliases of a query within the budget are counted together.
    one = "cN: customers(first: 100) { edges { node { interactions(first: 100) { edges { node { id kind } } } } } }"
    within = await api.run("{ " + one.replace("N", "0") + " }")
    assert not within.get("errors"), within
    five = await api.run("{ " + " ".join(one.replace("N", str(n)) for n in range(5)) + " }")
    assert codes(five) == ["QUERY_TOO_COSTLY"]
    assert five["errors"][0]["extensions"]["cost"] == 5 * 40_301


async def test_the_cost_reads_page_sizes_from_variables_and_honours_skip_and_fragments(api: Api) -> None:
    query = """query($n: Int!, $deep: Boolean!) { customers(first: $n) { edges { node { ...I } } } }
    fragment I on Customer { interactions(first: $n) { edges { node { customer @include(if: $deep) {
      interactions(first: $n) { edges { node { id } } } } } } } }"""
    small = await api.run(query, {"n": 10, "deep": True})
    assert not small.get("errors"), small
    big = await api.run(query, {"n": 100, "deep": True})
    assert codes(big) == ["QUERY_TOO_COSTLY"]
    assert big["errors"][0]["extensions"]["cost"] == 1 + 100 * 3 + 100**2 * 4 + 100**3 * 3
    skipped = await api.run(query, {"n": 100, "deep": False})
    assert not skipped.get("errors"), skipped


async def test_an_invalid_document_is_reported_as_invalid_not_as_costly(api: Api) -> None:
    body = await api.run(TRIAL.replace("kind", "nope"))
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


# --- request body size --------------------------------------------------------------------


def big_body(size: int) -> bytes:
    """A valid GraphQL request of about `size` bytes (a long comment in the query)."""
    base = json.dumps({"query": "{ viewer { role } }\n#", "variables": {}}).encode()
    body = json.dumps({"query": "{ viewer { role } }\n#" + "x" * (size - len(base)), "variables": {}})
    return body.encode()


async def test_a_body_just_under_the_limit_is_served(api: Api, http: httpx2.AsyncClient) -> None:
    body = big_body(MIB - 10)
    assert len(body) <= MIB
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"data": {"viewer": {"role": "ADMIN"}}}


async def test_a_body_over_1_mib_with_content_length_is_413(api: Api, http: httpx2.AsyncClient) -> None:
    body = big_body(MIB + 1)
    assert len(body) > MIB
    response = await http.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_declared_size_over_the_limit_is_413_before_authentication(http: httpx2.AsyncClient) -> None:
    response = await http.post("/graphql", content=big_body(MIB + 100), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_chunked_body_over_1_mib_without_content_length_is_413(api: Api, http: httpx2.AsyncClient) -> None:
    body = big_body(2 * MIB)
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            sent.append(start)
            yield body[start : start + 64 * 1024]

    request = http.build_request(
        "POST",
        "/graphql",
        content=chunks(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers.get("transfer-encoding") == "chunked"
    response = await http.send(request)
    assert response.status_code == 413, response.text[:300]
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    # The rest of the body was read and dropped (not kept), so that a client that writes it all
    # before reading sees the 413 rather than a connection reset.
    assert len(sent) == len(range(0, len(body), 64 * 1024))


async def test_a_refused_body_is_read_no_further_than_16_times_the_limit(api: Api, http: httpx2.AsyncClient) -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        for n in range(20 * 16):  # 20 MiB
            sent.append(n)
            yield b"x" * (64 * 1024)

    headers = {"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"}
    request = http.build_request("POST", "/graphql", content=endless(), headers=headers)
    response = await http.send(request)
    assert response.status_code == 413
    assert 16 * MIB <= len(sent) * 64 * 1024 <= 16 * MIB + 2 * 64 * 1024


async def test_a_chunked_body_under_the_limit_is_served(api: Api, http: httpx2.AsyncClient) -> None:
    body = big_body(MIB // 2)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await http.post(
        "/graphql",
        content=chunks(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text[:300]
    assert response.json() == {"data": {"viewer": {"role": "ADMIN"}}}


# --- masking ------------------------------------------------------------------------------


async def test_an_unexpected_exception_is_masked_and_logged(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await new_customer(api, name="Ana")

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("schema.query.customers.count_customers", broken)
    # Only resolvers can raise like this: the compiled read of the same query never calls them.
    monkeypatch.setattr("api.app.CompiledReads.answer", _not_compiled)
    caplog.set_level(logging.ERROR, logger="jornada.graphql")
    response = await api.post("{ customers { totalCount } viewer { role } }")
    assert response.status_code == 200
    body = response.json()
    # totalCount is non-null: the error nulls `customers`, a nullable root field; viewer answers
    assert body["data"] == {"customers": None, "viewer": {"role": "ADMIN"}}
    assert len(body["errors"]) == 1
    error = body["errors"][0]
    assert error["message"] == "Unexpected error."
    assert error["path"] == ["customers", "totalCount"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    for leak in ("secret detail", "RuntimeError", "Traceback", "count_customers", ".py"):
        assert leak not in response.text

    logged = [r for r in caplog.records if r.name == "jornada.graphql" and r.levelno >= logging.ERROR]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert isinstance(logged[0].exc_info[1], RuntimeError)
    assert str(logged[0].exc_info[1]) == "secret detail"
    assert "totalCount" in logged[0].getMessage()


async def test_an_unexpected_exception_in_a_mutation_is_masked(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("password=hunter2")

    monkeypatch.setattr("schema.mutations.customers.create_customer", broken)
    caplog.set_level(logging.ERROR, logger="jornada.graphql")
    response = await api.post(
        'mutation { createCustomer(input: {name: "Ana"}) { customer { id } userErrors { code } } }'
    )
    body = response.json()
    assert [e["message"] for e in body["errors"]] == ["Unexpected error."]
    assert "hunter2" not in response.text
    assert "KeyError" not in response.text
    assert any(r.exc_info and isinstance(r.exc_info[1], KeyError) for r in caplog.records)


async def test_expected_errors_are_not_masked_nor_logged_as_errors(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="jornada.graphql")
    body = await api.run('{ customers(after: "not-a-cursor") { totalCount } }')
    assert body["data"] == {"customers": None}
    assert codes(body) == ["BAD_USER_INPUT"]
    error = body["errors"][0]
    assert error["message"] != "Unexpected error."
    assert "`after`" in error["message"]
    assert error["extensions"]["field"] == ["after"]
    assert error["extensions"]["reason"] == "INVALID_CURSOR"
    assert not [r for r in caplog.records if r.name == "jornada.graphql" and r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not-a-cursor", id="garbage"),
        pytest.param("eyJvIjoiY3JlYXRlZF9hdDpERVNDIiwiayI6WzFdfQ", id="wrong-shape"),
        pytest.param("e30", id="empty-object"),
        pytest.param("W10", id="a-json-list"),
        pytest.param("bnVsbA", id="json-null"),
    ],
)
async def test_a_bad_cursor_is_bad_user_input(api: Api, cursor: str) -> None:
    await new_customer(api, name="Ana")
    for query in (
        "query($c: String) { customers(after: $c) { totalCount } }",
        "query($c: String) { customers(before: $c) { totalCount } }",
        "query($c: String) { interactions(after: $c) { totalCount } }",
    ):
        body = await api.run(query, {"c": cursor})
        assert codes(body) == ["BAD_USER_INPUT"], (query, body)
        assert body["errors"][0]["message"] != "Unexpected error."


async def test_a_cursor_of_another_list_is_bad_user_input(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    await new_customer(api, name="Bia")
    await api.data(
        RECORD,
        {"input": {"customerId": customer["id"], "kind": "site_visit", "occurredAt": "2026-01-05T10:00:00Z"}},
    )
    cursors = await api.data(
        """
        {
          customers(first: 1) { edges { cursor } }
          byName: customers(first: 1, orderBy: [{field: NAME}]) { edges { cursor } }
          interactions(first: 1) { edges { cursor } }
        }
        """
    )
    customer_cursor = cursors["customers"]["edges"][0]["cursor"]
    name_cursor = cursors["byName"]["edges"][0]["cursor"]
    interaction_cursor = cursors["interactions"]["edges"][0]["cursor"]

    ok = await api.data("query($c: String) { customers(after: $c) { totalCount } }", {"c": customer_cursor})
    assert ok["customers"]["totalCount"] == 2
    for query, cursor in (
        ("query($c: String) { customers(after: $c) { totalCount } }", interaction_cursor),
        ("query($c: String) { customers(after: $c) { totalCount } }", name_cursor),
        ("query($c: String) { interactions(after: $c) { totalCount } }", customer_cursor),
    ):
        body = await api.run(query, {"c": cursor})
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["extensions"]["reason"] == "INVALID_CURSOR"


async def _not_compiled(*args: Any, **kwargs: Any) -> None:
    return None
