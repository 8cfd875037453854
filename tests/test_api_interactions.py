"""Interactions over GraphQL: recording, validation, idempotency, batches, kinds and reading."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import Api, new_customer

pytestmark = pytest.mark.asyncio

RECORD_ONE = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    interaction {
      id kind channel occurredAt amount score properties idempotencyKey createdAt
      customer { id name }
    }
    customer { id name }
    deduplicated
    userErrors { field code message }
  }
}
"""

RECORD_MANY = """
mutation($input: RecordInteractionsInput!) {
  recordInteractions(input: $input) {
    results { index deduplicated interaction { id kind } userErrors { field code message } }
    storedCount deduplicatedCount failedCount
    userErrors { field code message }
  }
}
"""

LIST = """
query($first: Int, $after: String, $filter: InteractionFilter) {
  interactions(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind occurredAt customer { id } } }
  }
}
"""

CUSTOMER_INTERACTIONS = """
query($id: ID!, $first: Int, $after: String, $filter: InteractionFilter) {
  node(id: $id) {
    ... on Customer {
      interactions(first: $first, after: $after, filter: $filter) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { id kind occurredAt } }
      }
    }
  }
}
"""

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(hours: float) -> str:
    """A fixed time in the past, `hours` after BASE, as ISO 8601 with offset."""
    return (BASE + timedelta(hours=hours)).isoformat()


def global_id(type_name: str, node_id: int) -> str:
    return base64.b64encode(f"{type_name}:{node_id}".encode()).decode()


async def record(api: Api, **fields: Any) -> dict[str, Any]:
    """Record one interaction that must be accepted; the payload."""
    data = await api.data(RECORD_ONE, {"input": fields})
    payload: dict[str, Any] = data["recordInteraction"]
    assert payload["userErrors"] == [], payload["userErrors"]
    assert payload["interaction"] is not None
    return payload


async def record_id(api: Api, **fields: Any) -> str:
    """Record one interaction that must be accepted; its id."""
    interaction_id: str = (await record(api, **fields))["interaction"]["id"]
    return interaction_id


async def stored_count(api: Api) -> int:
    data = await api.data("{ interactions { totalCount } }")
    count: int = data["interactions"]["totalCount"]
    return count


async def listed_ids(api: Api, filter: dict[str, Any] | None = None) -> list[str]:
    data = await api.data(LIST, {"first": 100, "filter": filter})
    return [e["node"]["id"] for e in data["interactions"]["edges"]]


# --- recording ----------------------------------------------------------------------------


async def test_record_interaction_returns_it_with_its_customer(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    payload = await record(
        api,
        customerId=ana["id"],
        kind="purchase",
        channel="web",
        amount="149.90",
        occurredAt="2026-03-01T09:30:00-03:00",
        properties={"product": "plano-pro", "qty": 2},
    )
    interaction = payload["interaction"]
    assert interaction["kind"] == "purchase"
    assert interaction["channel"] == "web"
    assert Decimal(interaction["amount"]) == Decimal("149.90")
    assert interaction["score"] is None
    assert interaction["properties"] == {"product": "plano-pro", "qty": 2}
    assert datetime.fromisoformat(interaction["occurredAt"]) == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    assert interaction["occurredAt"].endswith("+00:00")
    assert interaction["customer"] == {"id": ana["id"], "name": "Ana"}
    assert payload["customer"] == {"id": ana["id"], "name": "Ana"}
    assert payload["deduplicated"] is False

    # Read back later, it is the same interaction, down to the amount's representation.
    node = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Interaction { kind amount customer { name } } } }",
        {"id": interaction["id"]},
    )
    assert node["node"] == {"kind": "purchase", "amount": interaction["amount"], "customer": {"name": "Ana"}}


async def test_lists_are_newest_first_with_id_as_tiebreak(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    bia = await new_customer(api, name="Bia")
    ids = {}
    # Recorded out of time order; "tie_a" and "tie_b" share occurredAt, "tie_b" gets the higher id.
    for name, hours in (("middle", 5), ("oldest", 0), ("tie_a", 10), ("tie_b", 10), ("newest", 20)):
        ids[name] = await record_id(api, customerId=ana["id"], kind="site_visit", occurredAt=at(hours))
    other = await record_id(api, customerId=bia["id"], kind="call", occurredAt=at(15))

    expected_ana = [ids["newest"], ids["tie_b"], ids["tie_a"], ids["middle"], ids["oldest"]]
    assert await listed_ids(api) == [
        ids["newest"],
        other,
        ids["tie_b"],
        ids["tie_a"],
        ids["middle"],
        ids["oldest"],
    ]
    data = await api.data(CUSTOMER_INTERACTIONS, {"id": ana["id"]})
    connection = data["node"]["interactions"]
    assert [e["node"]["id"] for e in connection["edges"]] == expected_ana
    assert connection["totalCount"] == 5
    occurred = [e["node"]["occurredAt"] for e in connection["edges"]]
    assert occurred == sorted(occurred, reverse=True)


# --- validation ---------------------------------------------------------------------------


def _future(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


INVALID_CASES = [
    pytest.param({"kind": "telepathy"}, ["kind"], "UNKNOWN_KIND", id="unknown-kind"),
    pytest.param({"kind": "purchase", "amount": "-0.01"}, ["amount"], "NEGATIVE_AMOUNT", id="negative-amount"),
    pytest.param({"kind": "nps_response", "score": 11}, ["score"], "SCORE_OUT_OF_RANGE", id="nps-11"),
    pytest.param({"kind": "nps_response", "score": -1}, ["score"], "SCORE_OUT_OF_RANGE", id="nps-minus-1"),
    pytest.param({"kind": "csat_response", "score": 0}, ["score"], "SCORE_OUT_OF_RANGE", id="csat-0"),
    pytest.param({"kind": "csat_response", "score": 6}, ["score"], "SCORE_OUT_OF_RANGE", id="csat-6"),
    pytest.param({"kind": "nps_response"}, ["score"], "REQUIRED", id="nps-without-score"),
    pytest.param({"kind": "site_visit", "score": 3}, ["score"], "SCORE_NOT_ACCEPTED", id="score-on-site-visit"),
    pytest.param({"kind": "purchase"}, ["amount"], "REQUIRED", id="purchase-without-amount"),
    pytest.param(
        {"kind": "site_visit", "occurredAt": timedelta(hours=25)},
        ["occurredAt"],
        "IN_THE_FUTURE",
        id="25h-ahead",
    ),
    pytest.param(
        {"kind": "site_visit", "customerId": global_id("Customer", 987654)},
        ["customerId"],
        "NOT_FOUND",
        id="unknown-customer",
    ),
    pytest.param(
        {"kind": "site_visit", "customerId": global_id("Interaction", 1)},
        ["customerId"],
        "NOT_FOUND",
        id="id-of-another-type",
    ),
]


@pytest.mark.parametrize(("fields", "path", "code"), INVALID_CASES)
async def test_invalid_input_is_a_user_error_naming_the_field_and_nothing_is_stored(
    api: Api, fields: dict[str, Any], path: list[str], code: str
) -> None:
    customer = await new_customer(api, name="Ana")
    given = {"customerId": customer["id"], "occurredAt": at(0), **fields}
    if isinstance(given["occurredAt"], timedelta):  # relative to the real clock
        given["occurredAt"] = (datetime.now(UTC) + given["occurredAt"]).isoformat()
    data = await api.data(RECORD_ONE, {"input": given})
    payload = data["recordInteraction"]
    assert payload["interaction"] is None
    assert payload["deduplicated"] is False
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(path, code)]
    assert payload["userErrors"][0]["message"].strip()
    assert await stored_count(api) == 0


async def test_several_problems_are_all_reported(api: Api) -> None:
    data = await api.data(
        RECORD_ONE,
        {
            "input": {
                "customerId": global_id("Customer", 987654),
                "kind": "purchase",
                "occurredAt": _future(48),
            }
        },
    )
    payload = data["recordInteraction"]
    found = {(tuple(e["field"]), e["code"]) for e in payload["userErrors"]}
    assert found == {
        (("customerId",), "NOT_FOUND"),
        (("occurredAt",), "IN_THE_FUTURE"),
        (("amount",), "REQUIRED"),
    }
    assert await stored_count(api) == 0


async def test_scores_at_the_ends_of_the_scale_and_23_hours_ahead_are_accepted(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    accepted = [
        {"kind": "nps_response", "score": 0, "occurredAt": at(0)},
        {"kind": "nps_response", "score": 10, "occurredAt": at(1)},
        {"kind": "csat_response", "score": 1, "occurredAt": at(2)},
        {"kind": "csat_response", "score": 5, "occurredAt": at(3)},
        {"kind": "purchase", "amount": "0", "occurredAt": at(4)},
        {"kind": "site_visit", "occurredAt": _future(23)},
    ]
    for fields in accepted:
        payload = await record(api, customerId=customer["id"], **fields)
        assert payload["interaction"]["kind"] == fields["kind"]
        assert payload["interaction"]["score"] == fields.get("score")
    assert await stored_count(api) == len(accepted)


async def test_a_customer_of_another_workspace_is_not_found(api: Api, other_api: Api) -> None:
    theirs = await new_customer(other_api, name="Not yours")
    data = await api.data(
        RECORD_ONE,
        {
            "input": {
                "customerId": theirs["id"],
                "kind": "site_visit",
                "occurredAt": at(0),
            }
        },
    )
    errors = data["recordInteraction"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["customerId"], "NOT_FOUND")]
    assert await stored_count(api) == 0
    assert await stored_count(other_api) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "abc"), ("score", "x"), ("score", 2.5), ("occurredAt", "yesterday")],
)
async def test_wrong_scalar_types_are_top_level_errors_naming_the_field(api: Api, field: str, value: Any) -> None:
    customer = await new_customer(api, name="Ana")
    given = {"customerId": customer["id"], "kind": "review", "occurredAt": at(0), field: value}
    body = await api.run(RECORD_ONE, {"input": given})
    assert body.get("data") is None
    assert body["errors"], body
    message = body["errors"][0]["message"]
    assert field in message, message
    assert "Traceback" not in message
    assert await stored_count(api) == 0


# --- idempotency --------------------------------------------------------------------------


async def test_same_idempotency_key_twice_returns_the_first_interaction(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    fields = {
        "customerId": customer["id"],
        "kind": "purchase",
        "amount": "10.00",
        "occurredAt": at(0),
        "idempotencyKey": "order-1001",
    }
    first = await record(api, **fields)
    second = await record(api, **fields)
    assert first["deduplicated"] is False
    assert second["deduplicated"] is True
    assert second["interaction"] == first["interaction"]
    assert second["interaction"]["idempotencyKey"] == "order-1001"
    assert second["customer"]["id"] == customer["id"]
    assert await stored_count(api) == 1

    # Another key is another interaction.
    third = await record(api, **{**fields, "idempotencyKey": "order-1002"})
    assert third["deduplicated"] is False
    assert third["interaction"]["id"] != first["interaction"]["id"]
    assert await stored_count(api) == 2


async def test_a_key_sent_again_with_another_interaction_is_refused_naming_the_first(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    bia = await new_customer(api, name="Bia")
    fields = {"customerId": ana["id"], "kind": "purchase", "amount": "10.00", "occurredAt": at(1)}
    first = await record(api, **fields, idempotencyKey="order-7")
    for change in ({"customerId": bia["id"]}, {"kind": "renewal"}, {"occurredAt": at(2)}, {"amount": "10.01"}):
        data = await api.data(RECORD_ONE, {"input": {**fields, **change, "idempotencyKey": "order-7"}})
        payload = data["recordInteraction"]
        assert payload["interaction"] is None
        (error,) = payload["userErrors"]
        assert (error["field"], error["code"]) == (["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")
        assert first["interaction"]["id"] in error["message"]
    # The same payload again is still a harmless retry (10.0 is the amount 10.00).
    again = await record(api, **{**fields, "amount": "10.0"}, idempotencyKey="order-7")
    assert again["deduplicated"] is True
    assert await stored_count(api) == 1

    # Within one batch: the second item under a key is a retry only if it is the same interaction.
    batch = [
        {**fields, "kind": "call", "amount": None, "idempotencyKey": "b-1"},
        {**fields, "kind": "call", "amount": None, "idempotencyKey": "b-1"},
        {**fields, "kind": "chat", "amount": None, "idempotencyKey": "b-1"},
    ]
    data = await api.data(RECORD_MANY, {"input": {"interactions": batch}})
    results = data["recordInteractions"]["results"]
    assert [r["deduplicated"] for r in results] == [False, True, False]
    assert [[e["code"] for e in r["userErrors"]] for r in results] == [[], [], ["IDEMPOTENCY_KEY_REUSED"]]
    assert await stored_count(api) == 2


async def test_idempotency_keys_are_per_workspace(api: Api, other_api: Api) -> None:
    mine = await new_customer(api, name="Ana")
    theirs = await new_customer(other_api, name="Bia")
    a = await record(api, customerId=mine["id"], kind="call", occurredAt=at(0), idempotencyKey="k")
    b = await record(other_api, customerId=theirs["id"], kind="call", occurredAt=at(0), idempotencyKey="k")
    assert a["deduplicated"] is False
    assert b["deduplicated"] is False
    assert b["interaction"]["id"] != a["interaction"]["id"]
    assert b["interaction"]["customer"]["id"] == theirs["id"]
    assert await stored_count(api) == 1
    assert await stored_count(other_api) == 1


async def test_concurrent_requests_with_the_same_key_store_one_interaction(api: Api) -> None:
    customer = await new_customer(api, name="Ana")
    variables = {
        "input": {
            "customerId": customer["id"],
            "kind": "purchase",
            "amount": "99.90",
            "occurredAt": at(0),
            "idempotencyKey": "checkout-42",
        }
    }
    bodies = await asyncio.gather(*(api.run(RECORD_ONE, variables) for _ in range(10)))
    payloads = []
    for body in bodies:
        assert not body.get("errors"), body["errors"]
        payload = body["data"]["recordInteraction"]
        assert payload["userErrors"] == []
        payloads.append(payload)
    assert len({p["interaction"]["id"] for p in payloads}) == 1
    assert sorted(p["deduplicated"] for p in payloads) == [False] + [True] * 9
    assert await stored_count(api) == 1


async def test_a_key_stored_by_another_request_after_the_lookup_is_still_a_retry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules run while the batch's insert does, for the items whose keys were not found: when
    another request stores one of those keys in between (here: the look-up is made to miss a
    stored key once), the call starts again and answers as for any retry, moves made once."""
    from api import interactions

    customer = await new_customer(api, name="Ana")
    fields = {"customerId": customer["id"], "kind": "purchase", "amount": "5.00", "occurredAt": at(0)}
    first = await record(api, **fields, idempotencyKey="race-1")
    history = "query($id: ID!) { node(id: $id) { ... on Customer { history { totalCount } } } }"
    moves = (await api.data(history, {"id": customer["id"]}))["node"]["history"]["totalCount"]
    real = interactions._by_keys
    missed: list[bool] = []

    async def miss_once(workspace_id: int, keys: Any) -> Any:
        if not missed:
            missed.append(True)
            return {}
        return await real(workspace_id, keys)

    monkeypatch.setattr(interactions, "_by_keys", miss_once)
    again = await record(api, **fields, idempotencyKey="race-1")
    assert missed == [True]
    assert again["deduplicated"] is True
    assert again["interaction"]["id"] == first["interaction"]["id"]
    assert await stored_count(api) == 1
    assert (await api.data(history, {"id": customer["id"]}))["node"]["history"]["totalCount"] == moves


# --- batches ------------------------------------------------------------------------------


async def test_batch_stores_valid_items_and_reports_invalid_ones_by_index(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    earlier = await record(api, customerId=ana["id"], kind="call", occurredAt=at(0), idempotencyKey="pre")
    cid = ana["id"]
    items = [
        {"customerId": cid, "kind": "site_visit", "occurredAt": at(1)},  # 0 stored
        {"customerId": cid, "kind": "telepathy", "occurredAt": at(2)},  # 1 failed
        {"customerId": cid, "kind": "purchase", "amount": "25.50", "occurredAt": at(3)},  # 2 stored
        {"customerId": cid, "kind": "nps_response", "score": 11, "occurredAt": at(4)},  # 3 failed
        {"customerId": cid, "kind": "chat", "occurredAt": at(5), "idempotencyKey": "dup"},  # 4 stored
        {"customerId": cid, "kind": "chat", "occurredAt": at(5), "idempotencyKey": "dup"},  # 5 dedup
        {"customerId": global_id("Customer", 987654), "kind": "call", "occurredAt": at(6)},  # 6 failed
        {"customerId": cid, "kind": "call", "occurredAt": at(0), "idempotencyKey": "pre"},  # 7 dedup
        {"customerId": cid, "kind": "purchase", "amount": "-1", "occurredAt": at(7)},  # 8 failed
    ]
    data = await api.data(RECORD_MANY, {"input": {"interactions": items}})
    payload = data["recordInteractions"]
    results = payload["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert (payload["storedCount"], payload["deduplicatedCount"], payload["failedCount"]) == (3, 2, 4)

    failed = {r["index"]: [(e["field"], e["code"]) for e in r["userErrors"]] for r in results if r["userErrors"]}
    assert failed == {
        1: [(["kind"], "UNKNOWN_KIND")],
        3: [(["score"], "SCORE_OUT_OF_RANGE")],
        6: [(["customerId"], "NOT_FOUND")],
        8: [(["amount"], "NEGATIVE_AMOUNT")],
    }
    for index in failed:
        assert results[index]["interaction"] is None
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["interactions", "1", "kind"], "UNKNOWN_KIND"),
        (["interactions", "3", "score"], "SCORE_OUT_OF_RANGE"),
        (["interactions", "6", "customerId"], "NOT_FOUND"),
        (["interactions", "8", "amount"], "NEGATIVE_AMOUNT"),
    ]

    assert [r["deduplicated"] for r in results] == [
        False,
        False,
        False,
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    assert results[5]["interaction"]["id"] == results[4]["interaction"]["id"]
    assert results[7]["interaction"]["id"] == earlier["interaction"]["id"]
    stored = [results[n]["interaction"]["id"] for n in (0, 2, 4)]
    assert len(set(stored)) == 3
    assert await stored_count(api) == 4  # the earlier one and three from the batch
    assert set(await listed_ids(api)) == {earlier["interaction"]["id"], *stored}


async def test_batch_of_only_invalid_items_stores_nothing(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    items = [{"customerId": ana["id"], "kind": "purchase", "occurredAt": at(n)} for n in range(3)]
    data = await api.data(RECORD_MANY, {"input": {"interactions": items}})
    payload = data["recordInteractions"]
    assert (payload["storedCount"], payload["deduplicatedCount"], payload["failedCount"]) == (0, 0, 3)
    assert [e["field"] for e in payload["userErrors"]] == [["interactions", str(n), "amount"] for n in range(3)]
    assert await stored_count(api) == 0


async def test_batch_of_more_than_1000_items_is_refused_whole(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    items = [{"customerId": ana["id"], "kind": "site_visit", "occurredAt": at(0)}] * 1001
    data = await api.data(RECORD_MANY, {"input": {"interactions": items}})
    payload = data["recordInteractions"]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["interactions"], "TOO_MANY")]
    assert "1000" in payload["userErrors"][0]["message"]
    assert payload["storedCount"] == 0
    assert payload["results"] == []
    assert await stored_count(api) == 0


# --- kinds --------------------------------------------------------------------------------


async def test_interaction_kinds_lists_the_built_in_kinds_with_their_rules(api: Api) -> None:
    data = await api.data(
        "{ interactionKinds { key name description scoreMin scoreMax scoreRequired amountRequired } }"
    )
    kinds = {k["key"]: k for k in data["interactionKinds"]}
    assert {
        "first_contact",
        "site_visit",
        "purchase",
        "renewal",
        "refund",
        "nps_response",
        "csat_response",
        "review",
    } <= set(kinds)
    nps = kinds["nps_response"]
    assert (nps["scoreMin"], nps["scoreMax"], nps["scoreRequired"], nps["amountRequired"]) == (
        0,
        10,
        True,
        False,
    )
    csat = kinds["csat_response"]
    assert (csat["scoreMin"], csat["scoreMax"], csat["scoreRequired"]) == (1, 5, True)
    purchase = kinds["purchase"]
    assert (purchase["amountRequired"], purchase["scoreMin"], purchase["scoreMax"]) == (True, None, None)
    visit = kinds["site_visit"]
    assert (visit["scoreMin"], visit["scoreMax"], visit["amountRequired"]) == (None, None, False)
    assert all(k["name"] and k["description"] for k in kinds.values())


# --- reading ------------------------------------------------------------------------------


async def test_interactions_filter_by_kinds_time_and_customer(api: Api, other_api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    bia = await new_customer(api, name="Bia")
    ids = {}
    for name, who, kind, hours in (
        ("a_visit", ana, "site_visit", 0),
        ("a_call", ana, "call", 24),
        ("a_chat", ana, "chat", 48),
        ("b_visit", bia, "site_visit", 12),
        ("b_call", bia, "call", 36),
    ):
        ids[name] = await record_id(api, customerId=who["id"], kind=kind, occurredAt=at(hours))
    theirs = await new_customer(other_api, name="Other")
    await record(other_api, customerId=theirs["id"], kind="call", occurredAt=at(30))

    assert await listed_ids(api, {"kinds": ["call"]}) == [ids["b_call"], ids["a_call"]]
    assert await listed_ids(api, {"kinds": ["call", "site_visit"]}) == [
        ids["b_call"],
        ids["a_call"],
        ids["b_visit"],
        ids["a_visit"],
    ]
    assert await listed_ids(api, {"kinds": ["refund"]}) == []
    # occurredAfter is inclusive, occurredBefore exclusive.
    assert await listed_ids(api, {"occurredAfter": at(24)}) == [ids["a_chat"], ids["b_call"], ids["a_call"]]
    assert await listed_ids(api, {"occurredBefore": at(24)}) == [ids["b_visit"], ids["a_visit"]]
    assert await listed_ids(api, {"occurredAfter": at(12), "occurredBefore": at(36)}) == [
        ids["a_call"],
        ids["b_visit"],
    ]
    assert await listed_ids(api, {"customerId": bia["id"]}) == [ids["b_call"], ids["b_visit"]]
    assert await listed_ids(api, {"customerId": ana["id"], "kinds": ["call", "chat"], "occurredBefore": at(48)}) == [
        ids["a_call"]
    ]
    assert await listed_ids(api, {"customerId": theirs["id"]}) == []

    data = await api.data(LIST, {"filter": {"customerId": ana["id"], "occurredAfter": at(1)}})
    assert data["interactions"]["totalCount"] == 2

    data = await api.data(CUSTOMER_INTERACTIONS, {"id": ana["id"], "filter": {"kinds": ["site_visit", "chat"]}})
    connection = data["node"]["interactions"]
    assert [e["node"]["id"] for e in connection["edges"]] == [ids["a_chat"], ids["a_visit"]]
    assert connection["totalCount"] == 2


async def test_keyset_pages_return_every_row_once_even_when_rows_are_added(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    # Seven rows, two of them sharing a time so the id tiebreak is crossed by a page boundary.
    for hours in (0, 1, 2, 2, 3, 4, 5):
        await record(api, customerId=ana["id"], kind="site_visit", occurredAt=at(hours))
    everything = await listed_ids(api)
    assert len(everything) == 7

    seen: list[str] = []
    after = None
    flags = []
    for page_number in range(10):
        data = await api.data(LIST, {"first": 3, "after": after})
        connection = data["interactions"]
        seen += [e["node"]["id"] for e in connection["edges"]]
        flags.append(connection["pageInfo"]["hasNextPage"])
        assert connection["edges"][-1]["cursor"] == connection["pageInfo"]["endCursor"]
        after = connection["pageInfo"]["endCursor"]
        if page_number == 0:
            # A new row, newer than everything, arrives between page reads.
            newest = await record(api, customerId=ana["id"], kind="call", occurredAt=at(100))
        if not connection["pageInfo"]["hasNextPage"]:
            break
    assert seen == everything
    assert flags == [True, True, False]
    assert newest["interaction"]["id"] not in seen
    assert (await listed_ids(api))[0] == newest["interaction"]["id"]
    assert await stored_count(api) == 8


async def test_page_size_over_100_is_a_clear_error(api: Api) -> None:
    body = await api.run("{ interactions(first: 101) { totalCount } }")
    assert body["errors"]
    extensions = body["errors"][0]["extensions"]
    assert (extensions["code"], extensions["reason"], extensions["field"]) == (
        "BAD_USER_INPUT",
        "PAGE_TOO_LARGE",
        ["first"],
    )
    assert "100" in body["errors"][0]["message"]


async def test_customer_interactions_first_n_gives_newest_and_correct_page_info(api: Api) -> None:
    ana = await new_customer(api, name="Ana")
    bia = await new_customer(api, name="Bia")
    await new_customer(api, name="Caio")
    ana_ids = [await record_id(api, customerId=ana["id"], kind="chat", occurredAt=at(h)) for h in range(5)]
    bia_ids = [await record_id(api, customerId=bia["id"], kind="call", occurredAt=at(h + 0.5)) for h in range(2)]

    data = await api.data("""{
      customers(first: 10) { edges { node { name
        interactions(first: 2) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } }
      } } }
    }""")
    by_name = {e["node"]["name"]: e["node"]["interactions"] for e in data["customers"]["edges"]}
    summary = {
        name: ([e["node"]["id"] for e in c["edges"]], c["pageInfo"]["hasNextPage"], c["totalCount"])
        for name, c in by_name.items()
    }
    assert summary == {
        "Ana": ([ana_ids[4], ana_ids[3]], True, 5),
        "Bia": ([bia_ids[1], bia_ids[0]], False, 2),
        "Caio": ([], False, 0),
    }

    # The next page of one customer continues where the first stopped.
    rest = await api.data(
        CUSTOMER_INTERACTIONS, {"id": ana["id"], "first": 2, "after": by_name["Ana"]["pageInfo"]["endCursor"]}
    )
    connection = rest["node"]["interactions"]
    assert [e["node"]["id"] for e in connection["edges"]] == [ana_ids[2], ana_ids[1]]
    assert connection["pageInfo"]["hasNextPage"] is True
    last = await api.data(
        CUSTOMER_INTERACTIONS, {"id": ana["id"], "first": 2, "after": connection["pageInfo"]["endCursor"]}
    )
    connection = last["node"]["interactions"]
    assert [e["node"]["id"] for e in connection["edges"]] == [ana_ids[0]]
    assert connection["pageInfo"]["hasNextPage"] is False
    assert connection["totalCount"] == 5

    one = await api.data(CUSTOMER_INTERACTIONS, {"id": bia["id"], "first": 1})
    connection = one["node"]["interactions"]
    assert [e["node"]["id"] for e in connection["edges"]] == [bia_ids[1]]
    assert connection["pageInfo"]["hasNextPage"] is True
