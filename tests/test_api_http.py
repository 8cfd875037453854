"""The HTTP contract a browser client meets: every refused request is a GraphQL JSON error with a
code, one bad root field costs only itself, and pages on allowed origins pass CORS."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from tests.conftest import Api

pytestmark = pytest.mark.asyncio

FRONTEND = "http://localhost:5173"
# Variables nested 1,000 levels deep: Python's JSON parser gives up (RecursionError).
DEEP_JSON = b'{"query": "{ viewer { role } }", "variables": ' + b'{"a": ' * 1000 + b"1" + b"}" * 1001


def code_of(response: httpx2.Response) -> str:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["message"]
    code: str = error["extensions"]["code"]
    return code


def headers(api: Api, content_type: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {api.key}", "Content-Type": content_type}


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"{not json", "application/json", "INVALID_JSON"),
        (b"\xff\xfe\x00", "application/json", "INVALID_JSON"),  # no UTF-8 (a UTF-16 mark)
        (b"\xc3\x28", "application/json", "INVALID_JSON"),
        (DEEP_JSON, "application/json", "INVALID_JSON"),
        (b"[]", "application/json", "BATCH_NOT_SUPPORTED"),
        (b'[{"query": "{ viewer { role } }"}]', "application/json", "BATCH_NOT_SUPPORTED"),
        (b'{"query": "{ viewer { role } }"}', "text/plain", "UNSUPPORTED_MEDIA_TYPE"),
        (b"query=x", "application/x-www-form-urlencoded", "UNSUPPORTED_MEDIA_TYPE"),
        (b"{}", "application/json", "MISSING_QUERY"),
        (b'{"query": 5}', "application/json", "BAD_REQUEST"),
        (b'{"query": "{ viewer { role } }", "variables": [1]}', "application/json", "BAD_REQUEST"),
        (b'{"query": "{ viewer { role } }", "operationName": "Nope"}', "application/json", "UNKNOWN_OPERATION"),
    ],
)
async def test_a_malformed_request_gets_a_json_error_with_a_code(
    api: Api, body: bytes, content_type: str, code: str
) -> None:
    response = await api.http.post("/graphql", content=body, headers=headers(api, content_type))
    assert response.status_code == 400
    assert code_of(response) == code


async def test_wrong_methods_and_paths_get_json_errors_too(api: Api) -> None:
    for method, path, status, code in [
        ("PUT", "/graphql", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/graphql", 405, "METHOD_NOT_ALLOWED"),
        ("OPTIONS", "/graphql", 405, "METHOD_NOT_ALLOWED"),  # not a preflight: no Origin
        ("GET", "/nowhere", 404, "NOT_FOUND"),
    ]:
        response = await api.http.request(method, path, headers=headers(api))
        assert response.status_code == status, (method, path)
        assert code_of(response) == code, (method, path)
    mutation = await api.http.get(
        "/graphql", params={"query": 'mutation { createCustomer(input: {name: "x"}) { userErrors { code } } }'},
        headers=headers(api),
    )  # fmt: skip
    assert (mutation.status_code, code_of(mutation)) == (400, "METHOD_NOT_ALLOWED")


async def test_syntax_and_validation_errors_carry_codes(api: Api) -> None:
    syntax = await api.run("{ viewer { role ")
    assert [e["extensions"]["code"] for e in syntax["errors"]] == ["GRAPHQL_PARSE_FAILED"]
    unknown = await api.run("{ viewer { nope } }")
    assert [e["extensions"]["code"] for e in unknown["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    variables = await api.run("query($n: Int!) { customers(first: $n) { totalCount } }", {"n": "ten"})
    assert [e["extensions"]["code"] for e in variables["errors"]] == ["BAD_USER_INPUT"]


async def test_one_bad_root_field_costs_only_itself(api: Api) -> None:
    body = await api.run(
        "{ viewer { role } customers(first: 500) { totalCount } interactions { totalCount } "
        'metrics(period: {start: "2026-02-01T00:00:00Z", end: "2026-01-01T00:00:00Z"}) { revenue } }'
    )
    assert body["data"] == {
        "viewer": {"role": "ADMIN"},
        "customers": None,
        "interactions": {"totalCount": 0},
        "metrics": None,
    }
    by_path = {tuple(e["path"]): e["extensions"] for e in body["errors"]}
    assert by_path[("customers",)]["code"] == "BAD_USER_INPUT"
    assert by_path[("customers",)]["field"] == ["first"]
    assert by_path[("metrics",)]["field"] == ["period", "end"]


async def test_a_viewer_asking_for_plugins_still_gets_the_rest(api: Api) -> None:
    from api.workspaces import Role

    viewer = await api.key_for(Role.VIEWER)
    body = await viewer.run("{ viewer { role } plugins { name } interactionKinds { key } }")
    assert body["data"]["viewer"] == {"role": "VIEWER"}
    assert body["data"]["plugins"] is None
    assert body["data"]["interactionKinds"]
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


# --- CORS ---------------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def cors(settings: Settings) -> AsyncIterator[httpx2.AsyncClient]:
    """The app allowing the frontend's origin (given as people write it: upper case, default port)."""
    origins = "HTTP://LOCALHOST:5173, https://app.example.com:443"
    allowed = Settings.from_env({"JORNADA_DATABASE_URL": settings.database_url, "JORNADA_ALLOWED_ORIGINS": origins})
    app = create_app(allowed)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://jornada.test") as client:
            yield client


def preflight(origin: str, method: str = "POST", asked: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": asked}


async def test_a_preflight_from_an_allowed_origin_is_answered_and_cacheable(cors: httpx2.AsyncClient) -> None:
    for origin in (FRONTEND, "https://app.example.com"):
        response = await cors.options("/graphql", headers=preflight(origin))
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == origin
        assert set(response.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST"}
        assert response.headers["access-control-allow-headers"].lower() == "authorization, content-type"
        assert int(response.headers["access-control-max-age"]) == 600
        assert "access-control-allow-credentials" not in response.headers
        assert "Origin" in response.headers["vary"]


@pytest.mark.parametrize(
    ("request_headers", "code"),
    [
        (preflight("http://evil.example"), "CORS_ORIGIN_NOT_ALLOWED"),
        (preflight("http://localhost:5174"), "CORS_ORIGIN_NOT_ALLOWED"),
        (preflight(FRONTEND, method="DELETE"), "CORS_METHOD_NOT_ALLOWED"),
        (preflight(FRONTEND, asked="authorization, x-debug"), "CORS_HEADER_NOT_ALLOWED"),
    ],
)
async def test_a_refused_preflight_says_why(
    cors: httpx2.AsyncClient, request_headers: dict[str, str], code: str
) -> None:
    response = await cors.options("/graphql", headers=request_headers)
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    assert code_of(response) == code


async def test_responses_to_an_allowed_origin_carry_the_header_and_others_do_not(
    cors: httpx2.AsyncClient, settings: Settings
) -> None:
    from api.workspaces import create_workspace

    _, key = await create_workspace("Loja")
    auth = {"Authorization": f"Bearer {key}"}
    query: dict[str, Any] = {"query": "{ viewer { role } }"}
    ok = await cors.post("/graphql", json=query, headers={**auth, "Origin": FRONTEND})
    assert ok.json() == {"data": {"viewer": {"role": "ADMIN"}}}
    assert ok.headers["access-control-allow-origin"] == FRONTEND
    # An error answer is readable by the page too: it must see the 401's body.
    unauthenticated = await cors.post("/graphql", json=query, headers={"Origin": FRONTEND})
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["access-control-allow-origin"] == FRONTEND
    other = await cors.post("/graphql", json=query, headers={**auth, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_an_origin_with_a_path_is_refused_at_start_up_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"JORNADA_ALLOWED_ORIGINS.*https://app\.example\.com/admin"):
        Settings.from_env({"JORNADA_ALLOWED_ORIGINS": "https://app.example.com/admin"})


async def test_a_wildcard_answers_any_origin_without_credentials(settings: Settings) -> None:
    anyone = Settings.from_env({"JORNADA_DATABASE_URL": settings.database_url, "JORNADA_ALLOWED_ORIGINS": "*"})
    app = create_app(anyone)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://jornada.test") as client:
            response = await client.options("/graphql", headers=preflight("https://anywhere.example"))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_a_client_that_leaves_mid_body_is_no_server_fault(
    app: Starlette, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 10, item 10: every client disconnect logged ClientDisconnect with a full traceback."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"t"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {api.key}".encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("t", 80),
    }
    messages = iter([{"type": "http.request", "body": b'{"query": "{ vie', "more_body": True}])
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(messages, {"type": "http.disconnect"})

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with caplog.at_level(logging.WARNING):
        await app(scope, receive, send)
    assert sent == []  # nobody to answer
    assert caplog.records == []
