"""For any filter built of comparisons and AND/OR/NOT groups: the customers the API returns are
those a plain Python reading of the filter picks, the same through a saved segment, and a
filter and its NOT split the workspace in two."""

from __future__ import annotations

import itertools
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Api, new_customer
from tests.test_api_segments import CREATE, names

pytestmark = pytest.mark.asyncio

EXAMPLES = int(os.environ.get("JORNADA_PROPERTY_EXAMPLES", "40"))
PEOPLE: list[dict[str, Any]] = [
    {"name": "Ana", "industry": "retail", "tags": ["vip"], "attributes": {"employees": 12, "plan": "pro"}},
    {"name": "Bruno", "industry": "software", "attributes": {"employees": 250, "plan": "free"}},
    {"name": "Carla", "industry": "software", "tags": ["vip"], "attributes": {"employees": "40", "plan": "pro"}},
    {"name": "Davi", "attributes": {"employees": 3}},
    {"name": "Eva", "industry": "retail", "attributes": {"plan": "enterprise", "since": None}},
    {"name": "Fábio", "industry": "Retail", "attributes": {"employees": 12.5, "plan": "pro"}},
]
CONDITIONS = [
    {"field": "industry", "value": "retail"},
    {"field": "industry", "op": "IN", "values": ["software", "Retail"]},
    {"field": "industry", "op": "LT", "value": "s"},
    {"field": "industry", "op": "EXISTS"},
    {"field": "attributes.employees", "op": "GT", "value": 12},
    {"field": "attributes.employees", "op": "LTE", "value": 12},
    {"field": "attributes.employees", "value": "40"},
    {"field": "attributes.plan", "op": "IN", "values": ["pro", "free"]},
    {"field": "attributes.since", "op": "EXISTS"},
]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def holds(condition: dict[str, Any], person: dict[str, Any]) -> bool:
    """The comparison as docs/segments.md defines it, read off the customer as it was created."""
    field, op = condition["field"], condition.get("op", "EQ")
    if field.startswith("attributes."):
        attributes = person.get("attributes", {})
        key = field.removeprefix("attributes.")
        present, value = key in attributes, attributes.get(key)
    else:
        value = person.get(field)
        present = value not in (None, "")
    if op == "EXISTS":
        return present and value is not None
    if op == "IN":
        return any(type(value) is type(v) and value == v for v in condition["values"])
    wanted = condition["value"]
    if op == "EQ":
        return type(value) is type(wanted) and value == wanted
    comparable = (_number(value) and _number(wanted)) or (isinstance(value, str) and isinstance(wanted, str))
    if not comparable:
        return False
    return {"GT": value > wanted, "GTE": value >= wanted, "LT": value < wanted, "LTE": value <= wanted}[op]


def picks(f: dict[str, Any], person: dict[str, Any]) -> bool:
    checks = [holds(c, person) for c in f.get("where", [])]
    if "tag" in f:
        checks.append(f["tag"] in person.get("tags", []))
    checks += [picks(sub, person) for sub in f.get("and", [])]
    if "or" in f:
        checks.append(any(picks(sub, person) for sub in f["or"]))
    if "not" in f:
        checks.append(not picks(f["not"], person))
    return all(checks)


def filters(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    options: dict[str, st.SearchStrategy[Any]] = {
        "where": st.lists(st.sampled_from(CONDITIONS), min_size=1, max_size=2),
        "tag": st.just("vip"),
    }
    if depth > 0:
        inner = filters(depth - 1)
        options |= {"and": st.lists(inner, max_size=2), "or": st.lists(inner, max_size=2), "not": inner}
    return st.fixed_dictionaries({}, optional=options)


def expected(f: dict[str, Any]) -> list[str]:
    return sorted(p["name"] for p in PEOPLE if picks(f, p))


KEYS = itertools.count()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(f=filters())
async def test_any_filter_picks_what_it_says_inline_and_saved(api: Api, f: dict[str, Any]) -> None:
    if not (await api.data("{ customers(first: 1) { totalCount } }"))["customers"]["totalCount"]:
        for person in PEOPLE:
            await new_customer(api, **person)
    want = expected(f)
    assert sorted(await names(api, f)) == want, f
    key = f"s{next(KEYS)}"
    made = await api.data(CREATE, {"input": {"key": key, "name": key, "filter": f}})
    assert made["createSegment"]["segment"]["customerCount"] == len(want)
    assert sorted(await names(api, segment=key)) == want
    rest = sorted(await names(api, {"not": {"segment": key}}))
    assert sorted(want + rest) == sorted(p["name"] for p in PEOPLE)
