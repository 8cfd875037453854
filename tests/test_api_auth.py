"""Authentication, roles and tenancy over GraphQL: who may call, what each role may do, and
that one workspace never sees or touches another's data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from strawberry.relay import from_base64, to_base64

from api.models import AcquisitionSpend
from api.workspaces import Role
from tests.conftest import CREATE_CUSTOMER, RECORD, Api, new_customer

pytestmark = pytest.mark.asyncio

OCCURRED = "2026-01-05T10:00:00+00:00"

VIEWER_QUERY = "{ viewer { role keyName workspace { id name currency } } }"

UPDATE = """
mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id name } userErrors { field code message } }
}
"""

DELETE = """
mutation($input: DeleteCustomerInput!) {
  deleteCustomer(input: $input) { deletedCustomerId userErrors { field code message } }
}
"""

RECORD_MANY = """
mutation($input: RecordInteractionsInput!) {
  recordInteractions(input: $input) { storedCount failedCount userErrors { field code message } }
}
"""

SPEND = """
mutation($input: RecordAcquisitionSpendInput!) {
  recordAcquisitionSpend(input: $input) { acquisitionSpend { id } userErrors { field code } }
}
"""

CREATE_KEY = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    key
    apiKey { id name role prefix createdAt revokedAt }
    userErrors { field code message }
  }
}
"""

REVOKE_KEY = """
mutation($id: ID!) {
  revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } userErrors { field code message } }
}
"""

API_KEYS = "{ viewer { workspace { apiKeys { id name role prefix createdAt revokedAt } } } }"

NODE = """
query($id: ID!) {
  node(id: $id) {
    __typename id
    ... on Customer { name }
    ... on Interaction { kind }
    ... on Workspace { workspaceName: name }
    ... on ApiKey { keyName: name }
  }
}
"""

COUNTS = "{ customers { totalCount edges { node { id name } } } interactions { totalCount } }"


def gid(type_name: str, node_id: int | str) -> str:
    return to_base64(type_name, node_id)


def codes(body: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors") or []]


async def record(api: Api, customer_id: str, **extra: Any) -> dict[str, Any]:
    data = await api.data(
        RECORD,
        {"input": {"customerId": customer_id, "kind": "site_visit", "occurredAt": OCCURRED, **extra}},
    )
    payload: dict[str, Any] = data["recordInteraction"]
    return payload


async def api_keys(api: Api) -> list[dict[str, Any]]:
    data = await api.data(API_KEYS)
    keys: list[dict[str, Any]] = data["viewer"]["workspace"]["apiKeys"]
    return keys


async def create_key(api: Api, name: str, role: str) -> dict[str, Any]:
    data = await api.data(CREATE_KEY, {"input": {"name": name, "role": role}})
    payload: dict[str, Any] = data["createApiKey"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": ""}, id="empty"),
        pytest.param({"Authorization": "Bearer"}, id="bearer-without-key"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic-scheme"),
        pytest.param({"Authorization": "jor_abcdefghijklmnop"}, id="key-without-scheme"),
        pytest.param({"Authorization": "Bearer jor_" + "x" * 43}, id="unknown-key"),
        pytest.param({"Authorization": "Bearer not-even-a-key"}, id="wrong-prefix"),
        pytest.param({"Authorization": "Bearer jor_" + "x" * 500}, id="too-long"),
    ],
)
async def test_missing_malformed_or_unknown_key_is_401(
    api: Api, http: httpx2.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post("/graphql", json={"query": "{ viewer { role } }"}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The same request with the real key goes through: it is the key that was refused.
    assert (await api.data("{ viewer { role } }"))["viewer"]["role"] == "ADMIN"


async def test_a_key_of_another_scheme_case_is_accepted(api: Api, http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ viewer { role } }"}, headers={"Authorization": f"bearer {api.key}"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"viewer": {"role": "ADMIN"}}}


async def test_get_without_key_and_not_asking_for_html_is_401(http: httpx2.AsyncClient) -> None:
    response = await http.get(
        "/graphql", params={"query": "{ viewer { role } }"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_get_query_asking_for_html_without_key_is_still_401(http: httpx2.AsyncClient) -> None:
    """Only the bare GraphiQL page is public: a GET that carries a query is an API call."""
    response = await http.get(
        "/graphql",
        params={"query": "{ viewer { role } }"},
        headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_graphiql_and_healthz_need_no_key(http: httpx2.AsyncClient) -> None:
    ide = await http.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200
    assert ide.headers["content-type"].startswith("text/html")
    assert "graphiql" in ide.text.lower()
    health = await http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


async def test_viewer_returns_the_role_and_workspace_of_the_key(api: Api, other_api: Api) -> None:
    admin = (await api.data(VIEWER_QUERY))["viewer"]
    assert admin["role"] == "ADMIN"
    assert admin["workspace"]["name"] == "Acme Ltda"
    assert admin["workspace"]["currency"] == "BRL"
    assert admin["workspace"]["id"] == gid("Workspace", api.workspace_id)

    viewer = (await (await api.key_for(Role.VIEWER)).data(VIEWER_QUERY))["viewer"]
    assert viewer["role"] == "VIEWER"
    assert viewer["keyName"] == "viewer"
    assert viewer["workspace"] == admin["workspace"]

    editor = (await (await api.key_for(Role.EDITOR)).data(VIEWER_QUERY))["viewer"]
    assert editor["role"] == "EDITOR"

    other = (await other_api.data(VIEWER_QUERY))["viewer"]
    assert other["role"] == "ADMIN"
    assert other["workspace"]["name"] == "Other SA"
    assert other["workspace"]["currency"] == "USD"
    assert other["workspace"]["id"] == gid("Workspace", other_api.workspace_id)


# --- roles --------------------------------------------------------------------------------


def _create(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return CREATE_CUSTOMER, {"input": {"name": "Intruder"}}


def _update(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return UPDATE, {"input": {"id": cid, "name": "Changed"}}


def _delete(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return DELETE, {"input": {"id": cid}}


def _record(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return RECORD, {"input": {"customerId": cid, "kind": "site_visit", "occurredAt": OCCURRED}}


def _record_many(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    item = {"customerId": cid, "kind": "site_visit", "occurredAt": OCCURRED}
    return RECORD_MANY, {"input": {"interactions": [item, item]}}


def _spend(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return SPEND, {"input": {"periodStart": "2026-01-01", "periodEnd": "2026-01-31", "amount": "100.00"}}


def _create_key(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return CREATE_KEY, {"input": {"name": "sneaky", "role": "ADMIN"}}


def _revoke_key(cid: str, kid: str) -> tuple[str, dict[str, Any]]:
    return REVOKE_KEY, {"id": kid}


WRITES: dict[str, Callable[[str, str], tuple[str, dict[str, Any]]]] = {
    "createCustomer": _create,
    "updateCustomer": _update,
    "deleteCustomer": _delete,
    "recordInteraction": _record,
    "recordInteractions": _record_many,
    "recordAcquisitionSpend": _spend,
    "createApiKey": _create_key,
    "revokeApiKey": _revoke_key,
}


async def _snapshot(api: Api) -> dict[str, Any]:
    """Everything a refused write could have changed."""
    data = await api.data(COUNTS)
    spend = await AcquisitionSpend.filter(workspace_id=api.workspace_id).count()
    return {"data": data, "keys": await api_keys(api), "spend": spend}


@pytest.mark.parametrize("mutation", list(WRITES))
async def test_viewer_can_read_but_every_write_is_forbidden_and_stores_nothing(api: Api, mutation: str) -> None:
    customer = await new_customer(api, name="Ana")
    viewer = await api.key_for(Role.VIEWER)
    admin_key_id = (await api_keys(api))[0]["id"]
    before = await _snapshot(api)

    read = await viewer.data("{ customers { totalCount edges { node { name } } } viewer { role } }")
    assert read["customers"]["totalCount"] == 1
    assert read["customers"]["edges"][0]["node"]["name"] == "Ana"
    assert read["viewer"]["role"] == "VIEWER"

    query, variables = WRITES[mutation](customer["id"], admin_key_id)
    body = await viewer.run(query, variables)
    assert body["data"] is None
    assert codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == [mutation]
    assert "VIEWER" in body["errors"][0]["message"]

    assert await _snapshot(api) == before


@pytest.mark.parametrize("mutation", [m for m in WRITES if m not in ("createApiKey", "revokeApiKey")])
async def test_editor_can_write_data(api: Api, mutation: str) -> None:
    customer = await new_customer(api, name="Ana")
    editor = await api.key_for(Role.EDITOR)
    query, variables = WRITES[mutation](customer["id"], "unused")
    data = await editor.data(query, variables)
    assert data[mutation]["userErrors"] == []


async def test_editor_cannot_manage_api_keys(api: Api) -> None:
    editor = await api.key_for(Role.EDITOR)
    keys_before = await api_keys(api)
    admin_key_id = keys_before[0]["id"]

    for query, variables, path in (
        (*_create_key("", ""), ["createApiKey"]),
        (*_revoke_key("", admin_key_id), ["revokeApiKey"]),
        (API_KEYS, None, ["viewer", "workspace", "apiKeys"]),
    ):
        body = await editor.run(query, variables)
        assert codes(body) == ["FORBIDDEN"], body
        assert body["errors"][0]["path"] == path
        assert "EDITOR" in body["errors"][0]["message"]

    # Nor can it see a key through node(id:), and the workspace itself stays readable.
    hidden = await editor.data(NODE, {"id": admin_key_id})
    assert hidden == {"node": None}
    ws = await editor.data("{ viewer { workspace { name } } }")
    assert ws["viewer"]["workspace"]["name"] == "Acme Ltda"

    assert await api_keys(api) == keys_before
    assert (await api.data(VIEWER_QUERY))["viewer"]["role"] == "ADMIN"


# --- API keys -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["ADMIN", "EDITOR", "VIEWER"])
async def test_created_key_works_at_once_with_its_role(api: Api, role: str) -> None:
    payload = await create_key(api, f"integration {role.lower()}", role)
    secret = payload["key"]
    assert secret.startswith("jor_")
    assert payload["apiKey"]["role"] == role
    assert payload["apiKey"]["revokedAt"] is None
    assert secret.startswith(payload["apiKey"]["prefix"])
    assert len(payload["apiKey"]["prefix"]) < len(secret)

    new = Api(api.http, secret, api.workspace_id)
    viewer = (await new.data(VIEWER_QUERY))["viewer"]
    assert viewer["role"] == role
    assert viewer["keyName"] == f"integration {role.lower()}"
    assert viewer["workspace"]["name"] == "Acme Ltda"

    body = await new.run(CREATE_CUSTOMER, {"input": {"name": "Via new key"}})
    if role == "VIEWER":
        assert codes(body) == ["FORBIDDEN"]
    else:
        assert body["data"]["createCustomer"]["userErrors"] == []


async def test_api_key_list_shows_no_secret(api: Api) -> None:
    created = await create_key(api, "ci", "EDITOR")
    response = await api.post(API_KEYS)
    assert response.status_code == 200
    keys = response.json()["data"]["viewer"]["workspace"]["apiKeys"]
    assert [(k["name"], k["role"]) for k in keys] == [("admin", "ADMIN"), ("ci", "EDITOR")]
    assert keys[1]["id"] == created["apiKey"]["id"]
    assert created["key"] not in response.text
    assert api.key not in response.text
    # The type has no field that could carry the secret or its hash.
    fields = await api.data('{ __type(name: "ApiKey") { fields { name } } }')
    names = {f["name"] for f in fields["__type"]["fields"]}
    assert names == {"id", "name", "role", "prefix", "createdAt", "revokedAt"}


async def test_revoked_key_fails_on_the_next_request_and_cannot_be_revoked_twice(api: Api) -> None:
    created = await create_key(api, "temp", "EDITOR")
    temp = Api(api.http, created["key"], api.workspace_id)
    assert (await temp.data("{ viewer { role } }"))["viewer"]["role"] == "EDITOR"

    revoked = await api.data(REVOKE_KEY, {"id": created["apiKey"]["id"]})
    assert revoked["revokeApiKey"]["userErrors"] == []
    assert revoked["revokeApiKey"]["apiKey"]["id"] == created["apiKey"]["id"]
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None

    response = await temp.post("{ viewer { role } }")
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    again = await api.data(REVOKE_KEY, {"id": created["apiKey"]["id"]})
    assert again["revokeApiKey"]["apiKey"] is None
    assert [(e["field"], e["code"]) for e in again["revokeApiKey"]["userErrors"]] == [(["id"], "ALREADY_REVOKED")]
    listed = {k["id"]: k for k in await api_keys(api)}
    assert listed[created["apiKey"]["id"]]["revokedAt"] is not None
    # The revoking key itself is untouched.
    assert (await api.data("{ viewer { role } }"))["viewer"]["role"] == "ADMIN"


async def test_a_global_id_of_another_type_is_not_an_api_key(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    victim = await create_key(api, "victim", "VIEWER")
    key_num = victim["apiKey"]["id"]
    _, key_pk = from_base64(key_num)
    for wrong in (customer["id"], gid("Customer", key_pk), gid("Workspace", key_pk), "not-a-global-id!"):
        body = await api.run(REVOKE_KEY, {"id": wrong})
        if body.get("errors"):
            # An unparseable id is refused as a request error, never masked as a crash.
            assert wrong == "not-a-global-id!", body
            assert "GlobalID" in body["errors"][0]["message"]
            continue
        errors = body["data"]["revokeApiKey"]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(["id"], "NOT_FOUND")], wrong
    victim_api = Api(api.http, victim["key"], api.workspace_id)
    assert (await victim_api.data("{ viewer { role } }"))["viewer"]["role"] == "VIEWER"


# --- tenancy ------------------------------------------------------------------------------


async def test_another_workspace_is_invisible_in_lists(api: Api, other_api: Api) -> None:
    mine = await new_customer(api, name="Mine", email="mine@example.com", tags=["shared"])
    theirs = await new_customer(other_api, name="Theirs", email="theirs@example.com", tags=["shared"])
    assert (await record(other_api, theirs["id"]))["userErrors"] == []
    assert (await record(api, mine["id"]))["userErrors"] == []

    data = await api.data(
        """
        query($cid: ID!) {
          customers { totalCount edges { node { id name } } }
          tagged: customers(filter: {tag: "shared"}) { totalCount }
          byEmail: customers(filter: {email: "theirs@example.com"}) { totalCount }
          byText: customers(filter: {text: "Theirs"}) { totalCount }
          interactions { totalCount edges { node { id customer { id } } } }
          theirInteractions: interactions(filter: {customerId: $cid}) { totalCount edges { node { id } } }
        }
        """,
        {"cid": theirs["id"]},
    )
    assert data["customers"]["totalCount"] == 1
    assert [e["node"]["id"] for e in data["customers"]["edges"]] == [mine["id"]]
    assert data["tagged"]["totalCount"] == 1
    assert data["byEmail"]["totalCount"] == 0
    assert data["byText"]["totalCount"] == 0
    assert data["interactions"]["totalCount"] == 1
    assert data["interactions"]["edges"][0]["node"]["customer"]["id"] == mine["id"]
    assert data["theirInteractions"] == {"totalCount": 0, "edges": []}

    # And the other way round, so the filter cannot simply be "the first workspace".
    theirs_view = await other_api.data(COUNTS)
    assert theirs_view["customers"]["totalCount"] == 1
    assert theirs_view["customers"]["edges"][0]["node"]["name"] == "Theirs"
    assert theirs_view["interactions"]["totalCount"] == 1


async def test_node_of_another_workspace_is_exactly_like_a_missing_one(api: Api, other_api: Api) -> None:
    theirs = await new_customer(other_api, name="Theirs")
    interaction = (await record(other_api, theirs["id"]))["interaction"]
    their_keys = await api_keys(other_api)
    their_ids = {
        "Customer": theirs["id"],
        "Interaction": interaction["id"],
        "Workspace": gid("Workspace", other_api.workspace_id),
        "ApiKey": their_keys[0]["id"],
    }
    # Each id resolves for its own workspace (so a null below is tenancy, not a broken node).
    for type_name, their_id in their_ids.items():
        own = await other_api.data(NODE, {"id": their_id})
        assert own["node"] is not None
        assert own["node"]["__typename"] == type_name
        assert own["node"]["id"] == their_id

    for type_name, their_id in their_ids.items():
        foreign = await api.post(NODE, {"id": their_id})
        missing = await api.post(NODE, {"id": gid(type_name, 987654)})
        assert foreign.status_code == missing.status_code == 200
        assert foreign.json() == missing.json() == {"data": {"node": None}}, type_name

    # A's own workspace does resolve.
    own_ws = await api.data(NODE, {"id": gid("Workspace", api.workspace_id)})
    assert own_ws["node"]["workspaceName"] == "Acme Ltda"


async def test_cannot_update_or_delete_a_customer_of_another_workspace(api: Api, other_api: Api) -> None:
    theirs = await new_customer(other_api, name="Theirs", email="theirs@example.com")
    assert (await record(other_api, theirs["id"]))["userErrors"] == []
    missing = gid("Customer", 987654)
    before = await other_api.data(NODE, {"id": theirs["id"]})

    for query, variables, missing_variables, root in (
        (
            UPDATE,
            {"input": {"id": theirs["id"], "name": "Hacked"}},
            {"input": {"id": missing, "name": "Hacked"}},
            "updateCustomer",
        ),
        (DELETE, {"input": {"id": theirs["id"]}}, {"input": {"id": missing}}, "deleteCustomer"),
    ):
        foreign = await api.data(query, variables)
        absent = await api.data(query, missing_variables)
        errors = foreign[root]["userErrors"]
        assert [(e["field"], e["code"]) for e in errors] == [(["id"], "NOT_FOUND")]
        assert foreign == absent

    after = await other_api.data(NODE, {"id": theirs["id"]})
    assert after == before
    assert after["node"]["name"] == "Theirs"
    still = await other_api.data(
        "query($id: ID!) { interactions(filter: {customerId: $id}) { totalCount } }", {"id": theirs["id"]}
    )
    assert still["interactions"]["totalCount"] == 1


async def test_cannot_record_interactions_on_a_customer_of_another_workspace(api: Api, other_api: Api) -> None:
    theirs = await new_customer(other_api, name="Theirs")
    mine = await new_customer(api, name="Mine")

    one = await record(api, theirs["id"])
    assert one["interaction"] is None
    assert [(e["field"], e["code"]) for e in one["userErrors"]] == [(["customerId"], "NOT_FOUND")]
    assert one == await record(api, gid("Customer", 987654))

    item = {"kind": "site_visit", "occurredAt": OCCURRED}
    batch = await api.data(
        RECORD_MANY,
        {"input": {"interactions": [{**item, "customerId": theirs["id"]}, {**item, "customerId": mine["id"]}]}},
    )
    payload = batch["recordInteractions"]
    assert payload["storedCount"] == 1
    assert payload["failedCount"] == 1
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["interactions", "0", "customerId"], "NOT_FOUND")
    ]

    theirs_view = await other_api.data("{ interactions { totalCount } }")
    assert theirs_view["interactions"]["totalCount"] == 0
    mine_view = await api.data("{ interactions { totalCount } }")
    assert mine_view["interactions"]["totalCount"] == 1


async def test_same_idempotency_key_in_two_workspaces_stores_both(api: Api, other_api: Api) -> None:
    mine = await new_customer(api, name="Mine")
    theirs = await new_customer(other_api, name="Theirs")
    first = await record(other_api, theirs["id"], idempotencyKey="order-1")
    second = await record(api, mine["id"], idempotencyKey="order-1")
    assert first["userErrors"] == second["userErrors"] == []
    assert second["deduplicated"] is False
    assert second["interaction"]["customer"]["id"] == mine["id"]
    assert second["interaction"]["id"] != first["interaction"]["id"]


async def test_cannot_revoke_or_list_the_api_keys_of_another_workspace(api: Api, other_api: Api) -> None:
    their_key = (await api_keys(other_api))[0]
    body = await api.data(REVOKE_KEY, {"id": their_key["id"]})
    assert [(e["field"], e["code"]) for e in body["revokeApiKey"]["userErrors"]] == [(["id"], "NOT_FOUND")]
    assert body == await api.data(REVOKE_KEY, {"id": gid("ApiKey", 987654)})

    # B's key still works and is still listed as valid; A lists only its own.
    assert (await other_api.data("{ viewer { role } }"))["viewer"]["role"] == "ADMIN"
    assert (await api_keys(other_api))[0]["revokedAt"] is None
    assert their_key["id"] not in {k["id"] for k in await api_keys(api)}
