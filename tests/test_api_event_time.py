"""Event time over GraphQL: a customer's journey follows when things happened, whatever order
and however they are sent (one at a time, in a batch), and a replay gives the same history."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.applications import Starlette

from tests.conftest import Api, new_customer, on_postgres

pytestmark = pytest.mark.asyncio

HISTORY = """
query($id: ID!, $all: Boolean = false) {
  node(id: $id) { ... on Customer {
    createdAt
    stage { stage { key } enteredAt }
    history(first: 100, includeSuperseded: $all) { totalCount edges { node {
      from { key } to { key } rule cause occurredAt correction supersededAt supersededReason
      interaction { kind occurredAt }
    } } }
  } }
}
"""

RECORD_ONE = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    transitions { from { key } to { key } correction occurredAt }
    userErrors { field code message }
  }
}
"""

RECORD_MANY = """
mutation($input: RecordInteractionsInput!) {
  recordInteractions(input: $input) { failedCount userErrors { field code message } }
}
"""

REBUILD = """
mutation($input: RebuildCustomerStagesInput!) {
  rebuildCustomerStages(input: $input) {
    customersRebuilt customersChanged transitionsSuperseded transitionsWritten dryRun
    userErrors { field code message }
  }
}
"""

Item = dict[str, Any]
NOW = datetime.now(UTC).replace(microsecond=0)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def item(kind: str, when: str, **extra: Any) -> Item:
    return {"kind": kind, "occurredAt": when, **extra}


# The three stories of issue 7.
SALES = [  # a B2B deal, 40 days ago, loaded today
    item("demo_requested", at(40)),
    item("form_submitted", at(39)),
    item("content_downloaded", at(38)),
    item("content_downloaded", at(37)),  # lead score 20 + 10 + 5 + 5 = 40: an MQL
    item("meeting", at(35)),  # a meeting after becoming an MQL: an SQL
    item("proposal_sent", at(30)),
    item("purchase", at(20), amount="1200.00"),
    item("referral", at(10)),
]
PURCHASES = [  # the first purchase alone would churn the customer on 2026-06-03
    item("purchase", "2025-12-05T10:00:00+00:00", amount="80.00"),
    item("purchase", "2025-12-18T10:00:00+00:00", amount="40.00"),
    item("purchase", "2025-12-29T10:00:00+00:00", amount="55.00"),
    item("purchase", "2026-01-10T10:00:00+00:00", amount="60.00"),
]
BACKWARDS = [item("meeting", at(5)), item("demo_requested", at(10))]  # the later one first


async def record_one_by_one(api: Api, cid: str, items: list[Item]) -> None:
    for it in items:
        data = await api.data(RECORD_ONE, {"input": {"customerId": cid, **it}})
        assert data["recordInteraction"]["userErrors"] == []


async def record_in_one_batch(api: Api, cid: str, items: list[Item]) -> None:
    data = await api.data(RECORD_MANY, {"input": {"interactions": [{"customerId": cid, **it} for it in items]}})
    assert data["recordInteractions"]["failedCount"] == 0


async def journey(api: Api, cid: str) -> list[tuple[str | None, str, str | None, str, str | None]]:
    """(from, to, rule, when, the interaction's kind) of every move in force, oldest first."""
    node = (await api.data(HISTORY, {"id": cid}))["node"]
    return [
        (
            (n["from"] or {}).get("key"),
            n["to"]["key"],
            n["rule"],
            n["occurredAt"],
            (n["interaction"] or {}).get("kind"),
        )
        for n in (e["node"] for e in node["history"]["edges"])
    ]


async def replay_changes(api: Api, cid: str) -> dict[str, Any]:
    data = await api.data(REBUILD, {"input": {"customerId": cid, "dryRun": True}})
    payload: dict[str, Any] = data["rebuildCustomerStages"]
    assert payload["userErrors"] == []
    return payload


def stages(steps: list[tuple[str | None, str, str | None, str, str | None]]) -> list[tuple[str, str]]:
    return [(to, when) for _, to, _, when, _ in steps]


@pytest.mark.parametrize(
    ("story", "expected"),
    [
        (
            SALES,
            [
                ("prospect", at(40)),
                ("lead", at(40)),
                ("mql", at(37)),
                ("sql", at(35)),
                ("opportunity", at(30)),
                ("customer", at(20)),
                ("advocate", at(10)),
            ],
        ),
        (
            PURCHASES,
            [
                ("prospect", "2025-12-05T10:00:00+00:00"),
                ("customer", "2025-12-05T10:00:00+00:00"),
                ("churned", "2026-07-09T10:00:00+00:00"),  # 180 days after the last purchase
            ],
        ),
        (BACKWARDS, [("prospect", at(10)), ("lead", at(10))]),
    ],
    ids=["sales", "purchases", "backwards"],
)
async def test_a_story_sent_one_at_a_time_gives_the_history_a_batch_and_a_replay_give(
    api: Api, story: list[Item], expected: list[tuple[str, str]]
) -> None:
    one = (await new_customer(api, name="One at a time"))["id"]
    await record_one_by_one(api, one, story)
    batch = (await new_customer(api, name="One batch"))["id"]
    await record_in_one_batch(api, batch, story)
    shuffled = (await new_customer(api, name="Shuffled"))["id"]
    await record_one_by_one(api, shuffled, random.Random(7).sample(story, len(story)))

    live = await journey(api, one)
    assert stages(live) == expected
    assert await journey(api, batch) == live
    assert await journey(api, shuffled) == live
    # A replay of the stored facts changes nothing.
    for cid in (one, batch, shuffled):
        assert await replay_changes(api, cid) == {
            "customersRebuilt": 1,
            "customersChanged": 0,
            "transitionsSuperseded": 0,
            "transitionsWritten": 0,
            "dryRun": True,
            "userErrors": [],
        }


async def test_a_late_interaction_supersedes_the_moves_after_it_and_says_why(api: Api) -> None:
    cid = (await new_customer(api, name="Ana"))["id"]
    await record_one_by_one(api, cid, [PURCHASES[0]])
    node = (await api.data(HISTORY, {"id": cid}))["node"]
    assert node["stage"]["stage"]["key"] == "churned"
    assert node["stage"]["enteredAt"] == "2026-06-03T10:00:00+00:00"

    data = await api.data(RECORD_ONE, {"input": {"customerId": cid, **PURCHASES[3]}})
    moves = data["recordInteraction"]["transitions"]
    # The churn moves to 180 days after the new last purchase, told as a correction.
    assert [(m["to"]["key"], m["occurredAt"], m["correction"]) for m in moves] == [
        ("churned", "2026-07-09T10:00:00+00:00", True)
    ]
    everything = (await api.data(HISTORY, {"id": cid, "all": True}))["node"]["history"]
    superseded = [e["node"] for e in everything["edges"] if e["node"]["supersededAt"]]
    # The second purchase superseded the churn; the first, the initial stage dated at creation (today).
    assert [n["to"]["key"] for n in superseded] == ["churned", "prospect"]
    assert superseded[0]["occurredAt"] == "2026-06-03T10:00:00+00:00"
    assert superseded[0]["supersededReason"].startswith("late interaction ")
    assert "purchase at 2026-01-10T10:00:00+00:00" in superseded[0]["supersededReason"]
    in_force = (await api.data(HISTORY, {"id": cid}))["node"]["history"]
    assert in_force["totalCount"] == 3
    assert everything["totalCount"] == 5  # the first initial stage, dated at creation, was superseded too


CREATE = """
mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id createdAt stage { stage { key } enteredAt } }
    userErrors { field code message } }
}
"""

UPDATE = """
mutation($input: UpdateCustomerInput!) {
  updateCustomer(input: $input) { customer { id createdAt } userErrors { field code message } }
}
"""


async def test_created_at_is_the_first_contact_and_the_rules_run_up_to_now(api: Api) -> None:
    data = await api.data(CREATE, {"input": {"name": "Old lead", "createdAt": at(120)}})
    customer = data["createCustomer"]["customer"]
    assert customer["createdAt"] == at(120)
    # Never engaged for lost_after_days (90): lost 90 days after the first contact, at once.
    assert customer["stage"]["stage"]["key"] == "lost"
    assert customer["stage"]["enteredAt"] == at(30)

    future = (NOW + timedelta(days=2)).isoformat()
    refused = await api.data(CREATE, {"input": {"name": "x", "createdAt": future}})
    assert refused["createCustomer"]["userErrors"] == [
        {"field": ["createdAt"], "code": "IN_THE_FUTURE", "message": "The first contact cannot be in the future."}
    ]
    cleared = await api.data(UPDATE, {"input": {"id": customer["id"], "createdAt": None}})
    assert cleared["updateCustomer"]["userErrors"][0]["code"] == "REQUIRED"


async def test_moving_created_at_back_rebuilds_the_journey(api: Api) -> None:
    cid = (await new_customer(api, name="Bia"))["id"]
    await record_one_by_one(api, cid, [item("site_visit", at(3))])
    data = await api.data(UPDATE, {"input": {"id": cid, "createdAt": at(200)}})
    assert data["updateCustomer"]["userErrors"] == []
    steps = await journey(api, cid)
    # Silent for 90 days from the first contact: lost; the visit brings nobody back (lost → lead
    # needs a form, a demo or a meeting).
    assert stages(steps) == [("prospect", at(200)), ("lost", at(110))]
    everything = (await api.data(HISTORY, {"id": cid, "all": True}))["node"]["history"]["edges"]
    reasons = [e["node"]["supersededReason"] for e in everything if e["node"]["supersededAt"]]
    assert any(r.startswith("createdAt changed from ") for r in reasons)


async def test_rebuild_customer_stages_needs_an_admin_and_one_target(api: Api) -> None:
    from api.workspaces import Role

    cid = (await new_customer(api, name="Caio"))["id"]
    editor = await api.key_for(Role.EDITOR)
    body = await editor.run(REBUILD, {"input": {"customerId": cid}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    both = await api.data(REBUILD, {"input": {"customerId": cid, "filter": {}}})
    assert both["rebuildCustomerStages"]["userErrors"][0]["code"] == "ONE_OF"
    everyone = await api.data(REBUILD, {"input": {"filter": {}}})
    assert everyone["rebuildCustomerStages"]["customersRebuilt"] == 1
    assert everyone["rebuildCustomerStages"]["transitionsWritten"] == 0


async def test_a_manual_move_survives_a_late_interaction_at_its_time(api: Api) -> None:
    cid = (await new_customer(api, name="Duda", createdAt=at(30)))["id"]
    move = """mutation($id: ID!) { moveCustomer(input: {customerId: $id, stage: "sql", note: "fair", force: true}) {
        transition { occurredAt } userErrors { code } } }"""
    moved = (await api.data(move, {"id": cid}))["moveCustomer"]
    assert moved["userErrors"] == []
    when = moved["transition"]["occurredAt"]
    await record_one_by_one(api, cid, [item("demo_requested", at(20))])  # before the manual move
    steps = await journey(api, cid)
    # The manual move is made again at its time, now from the stage the demo put the customer in.
    assert steps == [
        (None, "prospect", "initial", at(30), None),
        ("prospect", "lead", "engaged", at(20), "demo_requested"),
        ("lead", "sql", None, when, None),
    ]
    assert (await replay_changes(api, cid))["customersChanged"] == 0


FACTS = """
query($id: ID!) { node(id: $id) { ... on Customer {
  leadScore stage { stage { key } }
  facts { leadScore orders revenue products lastEngagedAt latestNps interactions { kind count firstAt lastAt } }
} } }
"""


async def test_the_facts_the_rules_read_are_visible(api: Api) -> None:
    cid = (await new_customer(api, name="Eva"))["id"]
    await record_in_one_batch(
        api,
        cid,
        [
            item("content_downloaded", at(9)),
            item("content_downloaded", at(8)),
            item("form_submitted", at(7)),
            item("nps_response", at(6), score=8),
            item("purchase", at(5), amount="30.00", properties={"product": "basic"}),
        ],
    )
    node = (await api.data(FACTS, {"id": cid}))["node"]
    # 5 + 5 + 10 = 20 points: a lead, not yet an MQL (mql_score 40) when she bought.
    assert node["leadScore"] == 20
    facts = node["facts"]
    assert facts["leadScore"] == 20
    assert (facts["orders"], facts["revenue"], facts["products"]) == (1, "30.0000", ["basic"])
    assert facts["latestNps"] == 8
    assert facts["lastEngagedAt"] == at(5)
    assert facts["interactions"][0] == {"kind": "content_downloaded", "count": 2, "firstAt": at(9), "lastAt": at(8)}
    configure = """mutation { configureLifecycleModel(input: {model: "funnel",
        params: {lead_points: {form_submitted: 30}}}) { userErrors { code } } }"""
    assert (await api.data(configure))["configureLifecycleModel"]["userErrors"] == []
    assert (await api.data(FACTS, {"id": cid}))["node"]["leadScore"] == 40


async def test_tracking_a_model_again_by_replay_makes_its_manual_moves_again(api: Api) -> None:
    track = """mutation($m: String!) { trackLifecycleModel(input: {model: $m}) { userErrors { code } } }"""
    untrack = """mutation($m: String!) { untrackLifecycleModel(input: {model: $m}) { userErrors { code } } }"""
    history = """query($id: ID!) { node(id: $id) { ... on Customer {
        history(model: "three-phase") { edges { node { from { key } to { key } cause note } } } } } }"""
    cid = (await new_customer(api, name="Flor", createdAt=at(30)))["id"]
    assert (await api.data(track, {"m": "three-phase"}))["trackLifecycleModel"]["userErrors"] == []
    move = """mutation($id: ID!) { moveCustomer(input: {customerId: $id, model: "three-phase", stage: "retention",
        note: "bought offline", force: true}) { userErrors { code } } }"""
    assert (await api.data(move, {"id": cid}))["moveCustomer"]["userErrors"] == []
    assert (await api.data(untrack, {"m": "three-phase"}))["untrackLifecycleModel"]["userErrors"] == []
    await record_one_by_one(api, cid, [item("site_visit", at(20))])
    assert (await api.data(track, {"m": "three-phase"}))["trackLifecycleModel"]["userErrors"] == []
    edges = (await api.data(history, {"id": cid}))["node"]["history"]["edges"]
    steps = [((e["node"]["from"] or {}).get("key"), e["node"]["to"]["key"], e["node"]["cause"]) for e in edges]
    assert steps == [(None, "acquisition", "REPLAY"), ("acquisition", "retention", "MANUAL")]
    assert edges[-1]["node"]["note"] == "bought offline"


async def test_rebuilding_every_tracked_model_counts_the_moves_it_wrote(api: Api, app: Starlette) -> None:
    """As `jornada import --rebuild` reports it: a workspace whose moves were lost is rebuilt and
    the count of moves written is the count now stored."""
    from api import lifecycle_admin as admin
    from api.db import connection

    cid = (await new_customer(api, name="Eva", createdAt=at(30)))["id"]
    items = [{"customerId": cid, "kind": k, "occurredAt": at(d)} for k, d in (("demo_requested", 20), ("meeting", 10))]
    await api.data(RECORD_MANY, {"input": {"interactions": items}})
    conn = connection()
    await conn.execute_query(f"DELETE FROM stage_transition WHERE workspace_id = {int(api.workspace_id)}")
    rebuilt = await admin.rebuild_tracked(app.state.lifecycle, api.workspace_id)
    _, rows = await conn.execute_query(
        f"SELECT COUNT(*) AS n FROM stage_transition WHERE workspace_id = {int(api.workspace_id)} "
        f"AND model_key = 'funnel' AND archived = {'FALSE' if on_postgres() else '0'}"
    )
    assert rows[0]["n"] >= 2  # prospect, then lead at the demo request at least
    assert rebuilt["funnel"].transitions_written == rows[0]["n"]
