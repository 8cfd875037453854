"""Saved segments and the filter algebra they are written in: comparisons, AND/OR/NOT, segments
used by customers, metrics and exports, every problem named by its field. Hand-worked on five
customers whose answers are written out below."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio

from api.workspaces import Role
from tests.conftest import Api, new_customer

pytestmark = pytest.mark.asyncio

NAMES = """
query($filter: CustomerFilter, $segment: String) {
  customers(first: 50, filter: $filter, segment: $segment, orderBy: [{field: NAME, direction: ASC}]) {
    totalCount edges { node { name } }
  }
}
"""
CREATE = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) {
    segment { id key name description filter customerCount }
    userErrors { field code message }
  }
}
"""
UPDATE = """
mutation($input: UpdateSegmentInput!) {
  updateSegment(input: $input) { segment { key name filter customerCount } userErrors { field code message } }
}
"""
DELETE = """
mutation($id: ID!) { deleteSegment(input: {id: $id}) { deletedId userErrors { field code message } } }
"""


FIVE: list[dict[str, Any]] = [
    {"name": "Ana", "industry": "retail", "attributes": {"employees": 12, "plan": "pro"}, "tags": ["vip"]},
    {"name": "Bruno", "industry": "software", "attributes": {"employees": 250, "plan": "free"}},
    {"name": "Carla", "industry": "software", "attributes": {"employees": "40", "plan": "pro"}, "tags": ["vip"]},
    {"name": "Davi", "attributes": {"employees": 3}, "acquisitionChannel": "google"},
    {"name": "Eva", "industry": "retail", "attributes": {"plan": "enterprise", "since": None}},
]


async def add_five(api: Api) -> Api:
    """docs/segments.md's worked example: Ana (retail, 12 employees, pro), Bruno (software, 250,
    free), Carla (software, "40" as a string, pro), Davi (no industry, 3, no plan), Eva (retail,
    no employees, enterprise), created on the 10th of January to May 2026."""
    for n, row in enumerate(FIVE):
        await new_customer(api, createdAt=f"2026-0{n + 1}-10T12:00:00Z", **row)
    return api


@pytest_asyncio.fixture
async def people(api: Api) -> Api:
    return await add_five(api)


async def names(api: Api, filter: dict[str, Any] | None = None, segment: str | None = None) -> list[str]:
    data = await api.data(NAMES, {"filter": filter, "segment": segment})
    found = [e["node"]["name"] for e in data["customers"]["edges"]]
    assert data["customers"]["totalCount"] == len(found)
    return found


def where(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"where": list(conditions)}


async def test_comparisons_on_fields_and_attributes(people: Api) -> None:
    api = people
    assert await names(api, where({"field": "industry", "value": "retail"})) == ["Ana", "Eva"]
    assert await names(api, where({"field": "industry", "op": "IN", "values": ["software", "x"]})) == ["Bruno", "Carla"]
    # numbers compare as numbers (250 > 40 > 12), and "40" (a string) is not a number
    assert await names(api, where({"field": "attributes.employees", "op": "GT", "value": 10})) == ["Ana", "Bruno"]
    assert await names(api, where({"field": "attributes.employees", "op": "LTE", "value": 12})) == ["Ana", "Davi"]
    assert await names(api, where({"field": "attributes.employees", "value": "40"})) == ["Carla"]
    assert await names(api, where({"field": "attributes.employees", "op": "IN", "values": [3, 250]})) == [
        "Bruno",
        "Davi",
    ]
    # texts by code point: "r..." < "s..."
    assert await names(api, where({"field": "industry", "op": "LT", "value": "s"})) == ["Ana", "Eva"]
    assert await names(api, where({"field": "createdAt", "op": "GTE", "value": "2026-04-10T12:00:00Z"})) == [
        "Davi",
        "Eva",
    ]
    # EXISTS: a value that is there and not null
    assert await names(api, where({"field": "attributes.employees", "op": "EXISTS"})) == [
        "Ana",
        "Bruno",
        "Carla",
        "Davi",
    ]
    assert await names(api, where({"field": "attributes.since", "op": "EXISTS"})) == []
    assert await names(api, where({"field": "acquisitionChannel", "op": "EXISTS"})) == ["Davi"]


async def test_and_or_not(people: Api) -> None:
    api = people
    software = where({"field": "industry", "value": "software"})
    pro = where({"field": "attributes.plan", "value": "pro"})
    assert await names(api, {"or": [software, pro]}) == ["Ana", "Bruno", "Carla"]
    assert await names(api, {"and": [software, pro]}) == ["Carla"]
    # NOT takes the customers without the value too (Davi has no industry)
    assert await names(api, {"not": software}) == ["Ana", "Davi", "Eva"]
    assert await names(api, {"not": {"or": [software, pro]}}) == ["Davi", "Eva"]
    assert await names(api, {"tag": "vip", "not": pro}) == []
    assert await names(api, {"or": []}) == []
    assert await names(api, {"and": []}) == ["Ana", "Bruno", "Carla", "Davi", "Eva"]


@pytest.mark.parametrize(
    ("condition", "field", "code"),
    [
        ({"field": "salary", "value": 1}, ["filter", "where", "0", "field"], "UNKNOWN_FIELD"),
        ({"field": 'attributes.a"b', "value": 1}, ["filter", "where", "0", "field"], "INVALID_ATTRIBUTE_KEY"),
        ({"field": "industry", "op": "IN", "value": "x"}, ["filter", "where", "0", "values"], "MISSING_VALUES"),
        ({"field": "industry", "op": "IN", "values": []}, ["filter", "where", "0", "values"], "INVALID_VALUES"),
        ({"field": "industry", "op": "EXISTS", "value": "x"}, ["filter", "where", "0", "value"], "UNEXPECTED_VALUE"),
        ({"field": "industry", "value": 3}, ["filter", "where", "0", "value"], "INVALID_VALUE"),
        ({"field": "industry"}, ["filter", "where", "0", "value"], "MISSING_VALUE"),
        ({"field": "attributes.x", "op": "GT", "value": True}, ["filter", "where", "0", "value"], "INVALID_VALUE"),
        ({"field": "attributes.x", "value": {"a": 1}}, ["filter", "where", "0", "value"], "INVALID_VALUE"),
        ({"field": "attributes.x", "value": 2**60}, ["filter", "where", "0", "value"], "INVALID_VALUE"),
        ({"field": "createdAt", "op": "GT", "value": "yesterday"}, ["filter", "where", "0", "value"], "INVALID_VALUE"),
    ],
)
async def test_a_bad_comparison_is_named(api: Api, condition: dict[str, Any], field: list[str], code: str) -> None:
    body = await api.run(NAMES, {"filter": {"not": {"and": [where(condition)]}}})
    assert body["data"]["customers"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["reason"] == code
    assert error["extensions"]["field"] == ["filter", "not", "and", "0", *field[1:]]


async def test_a_segment_is_saved_counted_and_used_everywhere(people: Api) -> None:
    api = people
    vip = {"or": [{"tag": "vip"}, where({"field": "attributes.employees", "op": "GTE", "value": 100})]}
    made = (await api.data(CREATE, {"input": {"key": "vip", "name": "VIP", "filter": vip}}))["createSegment"]
    assert made["userErrors"] == []
    assert made["segment"]["customerCount"] == 3
    assert made["segment"]["filter"] == {
        "or": [{"tag": "vip"}, {"where": [{"field": "attributes.employees", "op": "GTE", "value": 100}]}]
    }
    assert await names(api, segment="vip") == ["Ana", "Bruno", "Carla"]
    assert await names(api, {"segment": "vip", "not": {"tag": "vip"}}) == ["Bruno"]
    assert await names(api, where({"field": "industry", "value": "software"}), segment="vip") == ["Bruno", "Carla"]
    # metrics of the segment: every one of its customers is somewhere in the stage distribution
    data = await api.data('{ metrics(segment: {segment: "vip"}) { stageDistribution { count } } }')
    assert sum(s["count"] for s in data["metrics"]["stageDistribution"]) == 3
    # a segment naming a segment, and the count following a change of the inner one
    inner = {"key": "vip-software", "name": "VIP software", "filter": {"segment": "vip", **software()}}
    assert (await api.data(CREATE, {"input": inner}))["createSegment"]["segment"]["customerCount"] == 2
    listed = await api.data("{ segments { key customerCount } }")
    assert listed["segments"] == [{"key": "vip", "customerCount": 3}, {"key": "vip-software", "customerCount": 2}]
    changed = await api.data(UPDATE, {"input": {"id": made["segment"]["id"], "filter": {"tag": "vip"}}})
    assert changed["updateSegment"]["segment"]["customerCount"] == 2
    assert (await api.data('{ segment(key: "vip-software") { customerCount } }'))["segment"]["customerCount"] == 1


def software() -> dict[str, Any]:
    return where({"field": "industry", "value": "software"})


async def test_segment_mistakes_are_refused_by_name(people: Api) -> None:
    api = people
    ok = (await api.data(CREATE, {"input": {"key": "a", "name": "A", "filter": {"tag": "vip"}}}))["createSegment"]
    again = (await api.data(CREATE, {"input": {"key": "a", "name": "A2", "filter": {}}}))["createSegment"]
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["key"], "KEY_TAKEN")]
    bad = {"key": "Not OK", "name": " ", "filter": {"stage": "nowhere"}}
    refused = (await api.data(CREATE, {"input": bad}))["createSegment"]
    assert refused["segment"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["filter", "stage"], "UNKNOWN_STAGE")]
    bad["filter"] = {}
    refused = (await api.data(CREATE, {"input": bad}))["createSegment"]
    assert {e["code"] for e in refused["userErrors"]} == {"INVALID_KEY", "INVALID_NAME"}
    # a segment may not lead back to itself, nor name one that does not exist
    b = {"key": "b", "name": "B", "filter": {"segment": "a"}}
    assert (await api.data(CREATE, {"input": b}))["createSegment"]["userErrors"] == []
    cycle = await api.data(UPDATE, {"input": {"id": ok["segment"]["id"], "filter": {"segment": "b"}}})
    assert [e["code"] for e in cycle["updateSegment"]["userErrors"]] == ["SEGMENT_CYCLE"]
    unknown = await api.data(CREATE, {"input": {"key": "c", "name": "C", "filter": {"segment": "zz"}}})
    assert [(e["field"], e["code"]) for e in unknown["createSegment"]["userErrors"]] == [
        (["filter", "segment"], "UNKNOWN_SEGMENT")
    ]
    body = await api.run(NAMES, {"segment": "zz"})
    assert body["data"]["customers"] is None
    assert body["errors"][0]["extensions"]["field"] == ["segment"]
    # "a" is named by "b": neither deleted nor renamed until "b" changes
    in_use = await api.data(DELETE, {"id": ok["segment"]["id"]})
    assert [e["code"] for e in in_use["deleteSegment"]["userErrors"]] == ["SEGMENT_IN_USE"]
    renamed = await api.data(UPDATE, {"input": {"id": ok["segment"]["id"], "key": "a2"}})
    assert [e["code"] for e in renamed["updateSegment"]["userErrors"]] == ["SEGMENT_IN_USE"]
    assert await names(api, segment="b") == ["Ana", "Carla"]


async def test_roles_and_tenancy(people: Api, other_api: Api) -> None:
    api = people
    made = await api.data(CREATE, {"input": {"key": "vip", "name": "VIP", "filter": {"tag": "vip"}}})
    segment_id = made["createSegment"]["segment"]["id"]
    viewer = await api.key_for(Role.VIEWER)
    assert (await viewer.data("{ segments { key customerCount } }"))["segments"] == [{"key": "vip", "customerCount": 2}]
    body = await viewer.run(CREATE, {"input": {"key": "x", "name": "X", "filter": {}}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # another workspace sees none of it, and its own filters cannot name it
    assert (await other_api.data("{ segments { key } }"))["segments"] == []
    assert (await other_api.data('{ segment(key: "vip") { key } }'))["segment"] is None
    node = await other_api.data("query($id: ID!) { node(id: $id) { id } }", {"id": segment_id})
    assert node["node"] is None
    gone = await other_api.data(DELETE, {"id": segment_id})
    assert [e["code"] for e in gone["deleteSegment"]["userErrors"]] == ["NOT_FOUND"]
    assert (await other_api.run(NAMES, {"segment": "vip"}))["errors"][0]["extensions"]["reason"] == "UNKNOWN_SEGMENT"
    deleted = await api.data(DELETE, {"id": segment_id})
    assert deleted["deleteSegment"] == {"deletedId": segment_id, "userErrors": []}
    assert (await api.data("{ segments { key } }"))["segments"] == []
