"""Hostile values that used to end as "Unexpected error." (a server fault, logged as one) get a
coded error that says what is wrong, on SQLite and PostgreSQL, and store nothing (issue 10's
fuzzing finds: ids, NUL bytes, lone surrogates, NaN, long time zones, times near year 1 or 9999)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from api.settings import Settings
from tests.conftest import Api, new_customer
from tests.csv_helpers import run_import

pytestmark = pytest.mark.asyncio

NODE = "query($id: ID!) { node(id: $id) { id } }"
CREATE = (
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }"
)
RECORD = """mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) { interaction { id } userErrors { field code } } }"""
WORKSPACE = """mutation($input: UpdateWorkspaceInput!) {
  updateWorkspace(input: $input) { workspace { grossMargin timezone } userErrors { field code } } }"""


def gid(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


@pytest.mark.parametrize(
    "node_id", ["Customer:²", "Customer:١٢", "Customer:99999999999999999999", "Customer:2147483648"]
)
async def test_odd_ids_are_simply_not_found(api: Api, node_id: str) -> None:
    body = await api.run(NODE, {"id": gid(node_id)})
    assert body == {"data": {"node": None}}
    moved = await api.run(
        'mutation($id: ID!) { moveCustomer(input: {customerId: $id, stage: "lead"}) { userErrors { code } } }',
        {"id": gid(node_id)},
    )
    assert "INTERNAL_SERVER_ERROR" not in codes(moved), moved


@pytest.mark.parametrize("name", ["a\x00b", "a\ud800b", "\udfff"])
async def test_nul_bytes_and_lone_surrogates_are_refused_where_they_are(api: Api, name: str) -> None:
    # As JSON escapes (a lone surrogate cannot be sent as UTF-8): what a hostile client sends.
    response = await api.http.post(
        "/graphql",
        content=json.dumps({"query": CREATE, "variables": {"input": {"name": name}}}),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    body = response.json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "reason": "INVALID_STRING",
                                   "field": ["variables", "input", "name"]}  # fmt: skip
    assert (await api.data("{ customers { totalCount } }"))["customers"]["totalCount"] == 0
    literal = await api.run('{ customers(filter: {text: "a\\u0000"}) { totalCount } }')
    assert codes(literal) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1899-12-31T23:00:00Z"])
async def test_times_out_of_range_are_refused_naming_the_range(api: Api, when: str) -> None:
    cid = (await new_customer(api, name="Ana"))["id"]
    body = await api.run(RECORD, {"input": {"customerId": cid, "kind": "site_visit", "occurredAt": when}})
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "between the years 1900 and 2200" in body["errors"][0]["message"]
    assert (await api.data("{ interactions { totalCount } }"))["interactions"]["totalCount"] == 0


@pytest.mark.parametrize("margin", ["NaN", "Infinity", "1_0", " 0.5", "0.00001"])
async def test_a_gross_margin_must_be_a_plain_decimal_it_can_keep(api: Api, margin: str) -> None:
    body = await api.run(WORKSPACE, {"input": {"grossMargin": margin}})
    assert "INTERNAL_SERVER_ERROR" not in codes(body)
    if body.get("errors"):
        assert codes(body) == ["BAD_USER_INPUT"]
    else:
        assert body["data"]["updateWorkspace"]["userErrors"] == [{"field": ["grossMargin"], "code": "INVALID_MARGIN"}]
    kept = await api.data("{ viewer { workspace { grossMargin } } }")
    assert kept["viewer"]["workspace"]["grossMargin"] == "1.0000"


async def test_a_5000_character_time_zone_is_a_user_error(api: Api) -> None:
    body = await api.data(WORKSPACE, {"input": {"timezone": "A" * 5000}})
    assert body["updateWorkspace"]["userErrors"] == [{"field": ["timezone"], "code": "INVALID_TIMEZONE"}]


# --- values stored wrongly (issue 10, item 7) --------------------------------------------------


async def test_a_country_must_be_an_assigned_iso_code(api: Api) -> None:
    body = await api.run(CREATE, {"input": {"name": "Ana", "address": {"country": "XX"}}})
    assert body["data"]["createCustomer"]["userErrors"] == [{"code": "INVALID_COUNTRY"}]
    ok = await api.run(
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { address { country } } } }",
        {"input": {"name": "Ana", "address": {"country": "br"}}},
    )
    assert ok["data"]["createCustomer"]["customer"]["address"] == {"country": "BR"}


async def test_csv_cells_with_nul_bytes_or_times_out_of_range_are_reported_not_stored(
    api: Api, settings: Settings
) -> None:
    """What GraphQL refuses (CleanStrings, the DateTime range) the CSV import refused too late or
    not at all: a NUL in an email was stored on SQLite, and a year-1 time with an offset overflowed."""
    customers = 'external_id,name,email\nc-1,Ana,"a\x00b@example.com"\nc-2,"B\x00ia",\nc-3,Carla,c@example.com\n'
    report, printed = await run_import(api, settings, "customers", customers)
    assert (report.stored, report.failed) == (1, 2), printed
    assert [e.field for e in report.errors] == ["email", "name"]
    interactions = (
        "customer_external_id,kind,occurred_at\n"
        "c-3,site_visit,0001-01-01T00:00:00+05:00\n"
        "c-3,site_visit,9999-12-31T23:00:00-05:00\n"
        "c-3,site_visit,2026-01-05T10:00:00Z\n"
    )
    report, printed = await run_import(api, settings, "interactions", interactions)
    assert (report.stored, report.failed) == (1, 2), printed
    assert all("from 1900 to 2200" in e.message for e in report.errors), printed


WIDEST = """query($p: PeriodInput) { metrics(period: $p) { period { start end }
  funnel { count } churn { rate } retention { rate } cohorts { month size active retention }
  averageLifetime { meanDays customers } renewalRate { rate } revenue historicClv { value }
  nps { score } csat { score } series { month churnRate revenue } } }"""


async def test_the_widest_period_answers_every_metric(api: Api) -> None:
    """Issue 10, item 3: year 1 was stored as -infinity on PostgreSQL and broke averageLifetime
    for good; cohorts over a long period ran past the driver's 32,767 query arguments; a period
    from year 1 to 9999 ran past 150 s. Periods are now 1900 to 2200 at most: 3,600 months."""
    customer = await new_customer(api, name="Ana")
    for at in ("1900-01-01T00:00:00Z", "2026-01-05T10:00:00Z"):
        body = await api.run(
            RECORD, {"input": {"customerId": customer["id"], "kind": "purchase", "amount": "10", "occurredAt": at}}
        )
        assert body["data"]["recordInteraction"]["userErrors"] == []
    period = {"start": "1900-01-01T00:00:00Z", "end": "2200-12-01T00:00:00Z"}
    body = await api.run(WIDEST, {"p": period})
    assert not body.get("errors"), body.get("errors")
    metrics = body["data"]["metrics"]
    assert len(metrics["series"]) == 301 * 12 - 1  # every month of the period
    assert metrics["revenue"] == "20.0000"
    assert metrics["averageLifetime"]["customers"] == 1
    wider = await api.run(WIDEST, {"p": {"start": "0001-01-01T00:00:00Z", "end": "9999-12-01T00:00:00Z"}})
    assert set(codes(wider)) == {"BAD_USER_INPUT"}  # start and end, each named
    assert all("1900" in e["message"] for e in wider["errors"])
