"""customer.recommendations: item-to-item co-occurrence of purchased products, ranked by lift,
worked by hand (docs/metrics.md, Recommendations)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RECORD, Api, new_customer

pytestmark = pytest.mark.asyncio

SUGGEST = """
query($id: ID!, $first: Int) { node(id: $id) { ... on Customer {
  recommendations(first: $first) { product score support basedOn } } } }
"""
BASKETS = {
    "A": ["Pão", "Manteiga"],
    "B": ["Pão", "Manteiga", "Geleia"],
    "C": ["Pão", "Geleia"],
    "D": ["Café"],
    "E": ["Manteiga", "Geleia"],
    "F": ["Pão", "Geleia", "Pão"],  # the same product twice counts once
}


async def buy(api: Api, customer: str, product: Any, kind: str = "purchase") -> None:
    item = {
        "customerId": customer,
        "kind": kind,
        "occurredAt": "2026-01-05T10:00:00Z",
        "properties": {"product": product},
    }
    if kind == "purchase":
        item["amount"] = "10"
    data = await api.data(RECORD, {"input": item})
    assert data["recordInteraction"]["userErrors"] == []


async def shoppers(api: Api) -> dict[str, str]:
    ids = {}
    for name, basket in BASKETS.items():
        ids[name] = (await new_customer(api, name=name))["id"]
        for product in basket:
            await buy(api, ids[name], product)
    return ids


async def suggestions(api: Api, customer: str, first: int = 5) -> list[dict[str, Any]]:
    data = await api.data(SUGGEST, {"id": customer, "first": first})
    found: list[dict[str, Any]] = data["node"]["recommendations"]
    return found


async def test_what_those_who_bought_the_same_also_bought_ranked_by_lift(api: Api, other_api: Api) -> None:
    await shoppers(api)
    me = (await new_customer(api, name="Eu"))["id"]
    await buy(api, me, "Pão")
    # Others: 6 buyers; Pão 4 (A B C F), Manteiga 3 (A B E), Geleia 4 (B C E F), Café 1 (D).
    # Geleia: 3 bought it with Pão (B C F): lift 3·6/(4·4) = 1.125; Manteiga: 2 (A B): 2·6/(4·3) = 1.0.
    # Café: nobody bought it with Pão, so it is not suggested; Pão is mine.
    assert await suggestions(api, me) == [
        {"product": "Geleia", "score": 1.125, "support": 3, "basedOn": "Pão"},
        {"product": "Manteiga", "score": 1.0, "support": 2, "basedOn": "Pão"},
    ]
    assert [s["product"] for s in await suggestions(api, me, first=1)] == ["Geleia"]
    # Owning Café too changes no lift (nobody else bought Café with anything), but the best
    # lift per product is kept: with Manteiga owned, Geleia's best is from Manteiga (2·6/(3·4)=1.0)
    # or Pão (1.125).
    await buy(api, me, "Café")
    assert [s["product"] for s in await suggestions(api, me)] == ["Geleia", "Manteiga"]
    await buy(api, me, "Manteiga")
    assert await suggestions(api, me) == [{"product": "Geleia", "score": 1.125, "support": 4, "basedOn": "Pão"}]
    # another workspace's purchases are no evidence here, and its customers get none of ours
    stranger = (await new_customer(other_api, name="Outro"))["id"]
    await buy(other_api, stranger, "Pão")
    assert await suggestions(other_api, stranger) == []


async def test_no_purchases_no_products_no_suggestions(api: Api) -> None:
    ids = await shoppers(api)
    nobody = (await new_customer(api, name="Novo"))["id"]
    assert await suggestions(api, nobody) == []
    # a product in something other than a purchase, or not a text, is not a product bought
    await buy(api, nobody, "Pão", kind="site_visit")
    await buy(api, nobody, 42)
    assert await suggestions(api, nobody) == []
    # D bought only Café, which nobody bought with anything: nothing to suggest
    assert await suggestions(api, ids["D"]) == []
    assert await suggestions(api, ids["A"], first=0) == []
