"""Shared fixtures: a real, migrated database per test (SQLite file, or PostgreSQL when
JORNADA_TEST_DATABASE=postgres), the app with its lifespan running, and an HTTP client."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx2
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from api.app import create_app
from api.migrate import apply_migrations
from api.settings import Settings
from api.workspaces import Role, create_api_key, create_workspace

# Fixtures that start real server processes (`server`, `e2e_database_url`).
pytest_plugins = ["tests.servers"]

TABLES = (
    "webhook_delivery",
    "webhook_endpoint",
    "customer_value",
    "value_model",
    "stage_transition",
    "stage_assignment",
    "customer_facts",
    "workspace_model",
    "interaction",
    "customer_tag",
    "customer",
    "acquisition_spend",
    "api_key",
    "workspace",
)


def on_postgres() -> bool:
    return os.environ.get("JORNADA_TEST_DATABASE") == "postgres"


def postgres_admin_url() -> str:
    return os.environ.get("JORNADA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _create_pg_database(name: str) -> None:
    conn = await asyncpg.connect(postgres_admin_url())
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(postgres_admin_url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database migrated once per session: a SQLite file to copy, or a PostgreSQL database."""
    if on_postgres():
        name = f"jornada_test_{uuid.uuid4().hex[:12]}"
        asyncio.run(_create_pg_database(name))
        url = with_database(postgres_admin_url(), name)
        asyncio.run(apply_migrations(Settings(database_url=url)))
        yield url
        asyncio.run(_drop_pg_database(name))
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        asyncio.run(apply_migrations(Settings(database_url=f"sqlite://{path}")))
        yield str(path)


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def database_url(migrated_template: str, tmp_path: Path) -> str:
    """An empty, migrated database for this test alone."""
    if on_postgres():
        await _truncate(migrated_template)
        return migrated_template
    path = tmp_path / "jornada.sqlite3"
    shutil.copy(migrated_template, path)
    return f"sqlite://{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest_asyncio.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    """The app with its lifespan entered (the ORM is open in this test's task)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest_asyncio.fixture
async def http(app: Starlette) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://jornada.test") as client:
        yield client


@dataclass
class Api:
    """A GraphQL client for one API key."""

    http: httpx2.AsyncClient
    key: str
    workspace_id: int

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx2.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.key}"},
        )

    async def run(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response body (data and errors)."""
        response = await self.post(query, variables)
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a request that must not fail."""
        body = await self.run(query, variables)
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def key_for(self, role: Role) -> Api:
        """Another key of the same workspace, with `role`."""
        _, secret = await create_api_key(self.workspace_id, role.value.lower(), role)
        return Api(self.http, secret, self.workspace_id)


@pytest_asyncio.fixture
async def api(app: Starlette, http: httpx2.AsyncClient) -> Api:
    """An ADMIN client of a fresh workspace."""
    ws, secret = await create_workspace("Acme Ltda", "BRL")
    return Api(http, secret, ws.id)


@pytest_asyncio.fixture
async def other_api(app: Starlette, http: httpx2.AsyncClient) -> Api:
    """An ADMIN client of a second workspace, to prove tenancy."""
    ws, secret = await create_workspace("Other SA", "USD")
    return Api(http, secret, ws.id)


CREATE_CUSTOMER = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id externalId name email phone company tags attributes createdAt updatedAt }
    userErrors { field code message }
  }
}
"""

RECORD = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    interaction { id kind occurredAt amount score properties idempotencyKey customer { id } }
    deduplicated
    transitions { from { key } to { key } rule cause }
    userErrors { field code message }
  }
}
"""


async def new_customer(api: Api, **fields: Any) -> dict[str, Any]:
    """Create a customer through the API; fail the test if it is refused."""
    data = await api.data(CREATE_CUSTOMER, {"input": fields})
    payload = data["createCustomer"]
    assert payload["userErrors"] == [], payload["userErrors"]
    customer: dict[str, Any] = payload["customer"]
    return customer


def raw_id(global_id: str) -> int:
    """The row id inside a Relay global id (base64 of "Type:id")."""
    return int(base64.b64decode(global_id).decode().split(":", 1)[1])
