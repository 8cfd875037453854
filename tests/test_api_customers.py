"""Customers over GraphQL: create, update, delete, validation."""

from __future__ import annotations

import pytest

from tests.conftest import CREATE_CUSTOMER, RECORD, Api, new_customer

pytestmark = pytest.mark.asyncio

UPDATE = """
mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) {
    customer { id name email phone company tags attributes updatedAt }
    userErrors { field code message }
  }
}
"""


async def test_create_customer_normalises_and_returns_it(api: Api) -> None:
    customer = await new_customer(
        api,
        name="Ana Souza",
        email="Ana.Souza@Example.COM.br",
        phone="+55 (11) 91234-5678",
        company="Padaria Pão Quente",
        tags=["vip", "vip", "b2b"],
        attributes={"plan": "pro", "seats": 3},
    )
    assert customer["email"] == "ana.souza@example.com.br"
    assert customer["phone"] == "+5511912345678"
    assert customer["tags"] == ["vip", "b2b"]
    assert customer["attributes"] == {"plan": "pro", "seats": 3}


async def test_invalid_fields_are_user_errors_naming_the_field_and_nothing_is_stored(api: Api) -> None:
    data = await api.data(CREATE_CUSTOMER, {"input": {"name": "X", "email": "not-an-email", "phone": "12ab"}})
    payload = data["createCustomer"]
    assert payload["customer"] is None
    codes = {tuple(e["field"]): e["code"] for e in payload["userErrors"]}
    assert codes == {("email",): "INVALID_EMAIL", ("phone",): "INVALID_PHONE"}
    listed = await api.data("{ customers { totalCount } }")
    assert listed["customers"]["totalCount"] == 0


async def test_duplicate_external_id_is_refused(api: Api) -> None:
    await new_customer(api, externalId="crm-1", name="First")
    data = await api.data(CREATE_CUSTOMER, {"input": {"externalId": "crm-1", "name": "Second"}})
    errors = data["createCustomer"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["externalId"], "DUPLICATE_EXTERNAL_ID")]
    listed = await api.data("{ customers { totalCount edges { node { name } } } }")
    assert [e["node"]["name"] for e in listed["customers"]["edges"]] == ["First"]


async def test_update_changes_given_fields_clears_nulls_and_keeps_omitted(api: Api) -> None:
    customer = await new_customer(api, name="Bruno", email="bruno@example.com", company="Loja")
    data = await api.data(UPDATE, {"input": {"id": customer["id"], "email": "b@example.org", "company": None}})
    updated = data["updateCustomer"]["customer"]
    assert updated["name"] == "Bruno"
    assert updated["email"] == "b@example.org"
    assert updated["company"] is None
    assert updated["updatedAt"] >= customer["updatedAt"]


async def test_update_with_invalid_email_changes_nothing(api: Api) -> None:
    customer = await new_customer(api, name="Carla", email="carla@example.com")
    data = await api.data(UPDATE, {"input": {"id": customer["id"], "name": "Karla", "email": "bad@"}})
    assert data["updateCustomer"]["userErrors"][0]["field"] == ["email"]
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Customer { name email } } }", {"id": customer["id"]}
    )
    assert node["node"] == {"name": "Carla", "email": "carla@example.com"}


async def test_delete_erases_the_customer_and_its_interactions(api: Api) -> None:
    customer = await new_customer(api, name="Davi")
    keep = await new_customer(api, name="Eva")
    for who in (customer, keep):
        result = await api.data(
            RECORD,
            {
                "input": {
                    "customerId": who["id"],
                    "kind": "site_visit",
                    "occurredAt": "2026-01-05T10:00:00+00:00",
                }
            },
        )
        assert result["recordInteraction"]["userErrors"] == []
    deleted = await api.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { deletedCustomerId userErrors { code } } }",
        {"id": customer["id"]},
    )
    assert deleted["deleteCustomer"] == {"deletedCustomerId": customer["id"], "userErrors": []}
    left = await api.data("{ interactions { totalCount edges { node { customer { name } } } } }")
    assert left["interactions"]["totalCount"] == 1
    assert left["interactions"]["edges"][0]["node"]["customer"]["name"] == "Eva"
    again = await api.data(
        "mutation($id: ID!) { deleteCustomer(input: {id: $id}) { userErrors { field code } } }",
        {"id": customer["id"]},
    )
    assert again["deleteCustomer"]["userErrors"] == [{"field": ["id"], "code": "NOT_FOUND"}]
