"""Apollo's automatic persisted queries (issue 11): a hash alone, then the document with its hash,
then the hash alone again; on POST and GET, compiled reads or not."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette

from api.settings import Settings
from tests.conftest import Api, new_customer
from tests.test_compiled_reads import view_of

pytestmark = pytest.mark.asyncio

QUERY = "{ customers(first: 5) { totalCount edges { node { name } } } }"
NOT_COMPILED = "{ interactionKinds { key } }"


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


async def post(api: Api, body: dict[str, Any], key: str | None = None) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {key or api.key}"}
    return await api.http.post("/graphql", json=body, headers=headers)


def code_of(response: httpx2.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


@pytest.mark.parametrize("query", [QUERY, NOT_COMPILED])
async def test_a_hash_is_unknown_then_learned_from_the_document_then_enough(
    app: Starlette, api: Api, query: str
) -> None:
    await new_customer(api, name="Ana")
    digest = sha(query)
    first = await post(api, {"extensions": persisted(digest)})
    assert first.status_code == 200
    assert code_of(first) == "PERSISTED_QUERY_NOT_FOUND"
    full = await post(api, {"query": query, "extensions": persisted(digest)})
    assert full.status_code == 200
    assert "errors" not in full.json()
    again = await post(api, {"extensions": persisted(digest)})
    assert again.json() == full.json()
    reads = view_of(app).reads
    assert reads is not None
    # The compiled reads' plan cache holds the document under the hash the client names.
    assert reads.plans.knows(digest, None)
    assert not reads.plans.knows(sha(query + " "), None)


async def test_get_takes_the_hash_in_its_extensions_parameter(api: Api) -> None:
    await new_customer(api, name="Ana")
    digest = sha(QUERY)
    await post(api, {"query": QUERY, "extensions": persisted(digest)})
    response = await api.http.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(digest))},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["customers"]["totalCount"] == 1


async def test_a_hash_that_is_not_the_document_s_is_refused(api: Api) -> None:
    response = await post(api, {"query": QUERY, "extensions": persisted(sha("{ viewer { role } }"))})
    assert code_of(response) == "PERSISTED_QUERY_HASH_MISMATCH"
    response = await post(api, {"query": QUERY, "extensions": persisted(sha(QUERY), version=2)})
    assert code_of(response) == "PERSISTED_QUERY_NOT_SUPPORTED"
    response = await post(api, {"extensions": persisted("not-a-hash")})
    assert code_of(response) == "BAD_REQUEST"


async def test_a_document_sent_without_a_valid_key_is_not_kept(api: Api) -> None:
    digest = sha(QUERY)
    refused = await post(api, {"query": QUERY, "extensions": persisted(digest)}, key="jor_not-a-key")
    assert refused.status_code == 401
    assert code_of(await post(api, {"extensions": persisted(digest)})) == "PERSISTED_QUERY_NOT_FOUND"


async def test_persisted_queries_work_without_compiled_reads(database_url: str) -> None:
    from api.app import create_app
    from api.workspaces import create_workspace

    app = create_app(Settings(database_url=database_url, compiled_reads=False))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://jornada.test") as http:
            ws, key = await create_workspace("Solo", "BRL")
            api = Api(http, key, ws.id)
            digest = sha(QUERY)
            assert code_of(await post(api, {"extensions": persisted(digest)})) == "PERSISTED_QUERY_NOT_FOUND"
            await post(api, {"query": QUERY, "extensions": persisted(digest)})
            again = await post(api, {"extensions": persisted(digest)})
            assert again.json()["data"]["customers"]["totalCount"] == 0
