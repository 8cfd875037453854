"""Listing customers: filters, ordering, keyset pagination that stays stable under inserts."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from tests.conftest import Api, new_customer

pytestmark = pytest.mark.asyncio

LIST = """
query($first: Int, $after: String, $last: Int, $before: String, $filter: CustomerFilter,
      $orderBy: [CustomerOrder!]) {
  customers(first: $first, after: $after, last: $last, before: $before, filter: $filter, orderBy: $orderBy) {
    totalCount
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def names(api: Api, **variables: Any) -> list[str]:
    data = await api.data(LIST, variables)
    return [e["node"]["name"] for e in data["customers"]["edges"]]


@pytest_asyncio.fixture
async def people(api: Api) -> Api:
    await new_customer(
        api,
        name="Ana Lima",
        email="ana@padaria.com.br",
        company="Padaria Sol",
        tags=["vip"],
        acquisitionChannel="instagram",
        attributes={"plan": "pro", "seats": 3, "beta": True},
    )
    await new_customer(
        api,
        name="bruno costa",
        email="bruno@oficina.com",
        company="Oficina Mecânica",
        tags=["b2b", "vip"],
        acquisitionChannel="google",
        attributes={"plan": "free", "seats": 1, "beta": False},
    )
    await new_customer(
        api,
        name="Carla Dias",
        email="carla@sol.com",
        company="Sol Energia",
        acquisitionChannel="google",
        attributes={"plan": "pro", "seats": "3"},
    )
    return api


async def test_default_order_is_newest_first(people: Api) -> None:
    assert await names(people) == ["Carla Dias", "bruno costa", "Ana Lima"]


async def test_order_by_name_ignores_case_and_can_descend(people: Api) -> None:
    assert await names(people, orderBy=[{"field": "NAME"}]) == ["Ana Lima", "bruno costa", "Carla Dias"]
    assert await names(people, orderBy=[{"field": "NAME", "direction": "DESC"}]) == [
        "Carla Dias",
        "bruno costa",
        "Ana Lima",
    ]


async def test_text_filter_matches_name_email_or_company_in_any_case(people: Api) -> None:
    assert await names(people, filter={"text": "SOL"}, orderBy=[{"field": "NAME"}]) == [
        "Ana Lima",
        "Carla Dias",
    ]
    assert await names(people, filter={"text": "oficina"}) == ["bruno costa"]
    assert await names(people, filter={"text": "100%"}) == []


async def test_email_tag_channel_and_attribute_filters(people: Api) -> None:
    assert await names(people, filter={"email": "BRUNO@oficina.com"}) == ["bruno costa"]
    assert await names(people, filter={"tag": "vip"}, orderBy=[{"field": "NAME"}]) == [
        "Ana Lima",
        "bruno costa",
    ]
    assert await names(people, filter={"acquisitionChannel": "google", "tag": "vip"}) == ["bruno costa"]
    pro = {"attributes": [{"key": "plan", "value": "pro"}]}
    assert await names(people, filter=pro, orderBy=[{"field": "NAME"}]) == ["Ana Lima", "Carla Dias"]
    # Types must match: the number 3 is not the string "3".
    assert await names(people, filter={"attributes": [{"key": "seats", "value": 3}]}) == ["Ana Lima"]
    assert await names(people, filter={"attributes": [{"key": "seats", "value": "3"}]}) == ["Carla Dias"]
    assert await names(people, filter={"attributes": [{"key": "beta", "value": False}]}) == ["bruno costa"]
    both = {"attributes": [{"key": "plan", "value": "pro"}, {"key": "beta", "value": True}]}
    assert await names(people, filter=both) == ["Ana Lima"]


async def test_created_range_filter(people: Api) -> None:
    data = await people.data("{ customers(orderBy: [{field: CREATED_AT}]) { edges { node { createdAt } } } }")
    second = data["customers"]["edges"][1]["node"]["createdAt"]
    assert await names(people, filter={"createdAfter": second}) == ["Carla Dias", "bruno costa"]
    assert await names(people, filter={"createdBefore": second}) == ["Ana Lima"]


async def test_total_count_follows_the_filter(people: Api) -> None:
    data = await people.data(LIST, {"filter": {"acquisitionChannel": "google"}, "first": 1})
    assert data["customers"]["totalCount"] == 2
    assert len(data["customers"]["edges"]) == 1


async def test_keyset_pages_are_stable_while_customers_are_inserted(api: Api) -> None:
    for n in range(7):
        await new_customer(api, name=f"Cliente {n}")
    seen: list[str] = []
    after = None
    while True:
        data = await api.data(LIST, {"first": 3, "after": after, "orderBy": [{"field": "CREATED_AT"}]})
        page = data["customers"]
        seen += [e["node"]["name"] for e in page["edges"]]
        # A newcomer while paging sorts after everything read so far: no duplicate, no skip.
        if len(seen) == 3:
            await new_customer(api, name="Cliente novo")
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"Cliente {n}" for n in range(7)] + ["Cliente novo"]


async def test_last_and_before_page_backwards(api: Api) -> None:
    for n in range(5):
        await new_customer(api, name=f"C{n}")
    order = [{"field": "NAME"}]
    data = await api.data(LIST, {"last": 2, "orderBy": order})
    page = data["customers"]
    assert [e["node"]["name"] for e in page["edges"]] == ["C3", "C4"]
    assert page["pageInfo"]["hasPreviousPage"] is True
    before = page["pageInfo"]["startCursor"]
    assert await names(api, last=2, before=before, orderBy=order) == ["C1", "C2"]
    assert await names(api, first=10, before=before, orderBy=order) == ["C0", "C1", "C2"]


async def test_a_cursor_from_another_ordering_is_refused(api: Api) -> None:
    await new_customer(api, name="A")
    await new_customer(api, name="B")
    data = await api.data(LIST, {"first": 1, "orderBy": [{"field": "NAME"}]})
    cursor = data["customers"]["pageInfo"]["endCursor"]
    body = await api.run(LIST, {"first": 1, "after": cursor})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["field"] == ["after"]
