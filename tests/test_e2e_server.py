"""The path a new user takes, for real: `jornada serve` as a process, a workspace made with the
CLI while it runs, then GraphQL over real HTTP.

SQLite file by default; with JORNADA_TEST_DATABASE=postgres, a fresh PostgreSQL database created
for the test and dropped afterwards (`jornada serve` migrates it on start).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest

from tests.servers import create_workspace_with_cli, graphql

pytestmark = [pytest.mark.asyncio, pytest.mark.e2e]

MIB = 1024 * 1024

CREATE_CUSTOMER = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) {
    customer { id name email }
    userErrors { field code message }
  }
}
"""

RECORD = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    interaction { id kind amount occurredAt customer { id } }
    customer { id }
    userErrors { field code message }
  }
}
"""

CUSTOMERS = """
{
  customers(first: 10) {
    totalCount
    edges { node { id name email interactions { totalCount edges { node { id kind amount } } } } }
  }
}
"""


async def test_a_new_user_serves_creates_a_workspace_and_uses_the_api(
    server: str, e2e_database_url: str, tmp_path: Path
) -> None:
    workspace = await create_workspace_with_cli(e2e_database_url, tmp_path)
    key = workspace["apiKey"]

    async with httpx2.AsyncClient(base_url=server, timeout=20) as client:
        # GraphiQL for a browser, no key needed to load the page.
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "graphiql" in page.text.lower()

        # No key: 401 with the documented error code.
        anonymous = await client.post("/graphql", json={"query": "{ viewer { role } }"})
        assert anonymous.status_code == 401
        assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        me = await graphql(client, key, "{ viewer { role workspace { name currency } } }")
        assert me["viewer"] == {"role": "ADMIN", "workspace": {"name": "Padaria Central", "currency": "BRL"}}

        created = await graphql(
            client, key, CREATE_CUSTOMER, {"input": {"name": "Ana Souza", "email": "ana@example.com.br"}}
        )
        assert created["createCustomer"]["userErrors"] == []
        customer = created["createCustomer"]["customer"]
        assert customer["name"] == "Ana Souza"

        recorded = await graphql(
            client,
            key,
            RECORD,
            {
                "input": {
                    "customerId": customer["id"],
                    "kind": "purchase",
                    "amount": "199.90",
                    "occurredAt": "2026-01-15T10:30:00-03:00",
                }
            },
        )
        payload = recorded["recordInteraction"]
        assert payload["userErrors"] == []
        interaction = payload["interaction"]
        assert interaction["kind"] == "purchase"
        # Money is exact: a decimal string, never a float. It is stored at 4 places, and the
        # payload shows it as stored, exactly as every later read does.
        assert interaction["amount"] == "199.9000"
        assert Decimal(interaction["amount"]) == Decimal("199.90")
        assert interaction["customer"]["id"] == customer["id"]
        assert interaction["occurredAt"].startswith("2026-01-15T13:30:00")

        listed = await graphql(client, key, CUSTOMERS)
        assert listed["customers"]["totalCount"] == 1
        node = listed["customers"]["edges"][0]["node"]
        assert node["id"] == customer["id"]
        assert node["interactions"]["totalCount"] == 1
        assert node["interactions"]["edges"] == [
            {"node": {"id": interaction["id"], "kind": "purchase", "amount": "199.9000"}}
        ]

        # Over 1 MiB: refused before anything parses it, with or without a Content-Length.
        big = json.dumps({"query": "{ viewer { role } }", "pad": "x" * MIB}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        too_large = await client.post("/graphql", content=big, headers=headers)
        assert too_large.status_code == 413
        assert too_large.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(big), 64 * 1024):
                yield big[start : start + 64 * 1024]

        streamed = await client.post("/graphql", content=chunks(), headers=headers)
        assert streamed.status_code == 413

        # The server is still healthy after refusing them.
        assert (await client.get("/healthz")).status_code == 200
