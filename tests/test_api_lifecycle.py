"""Lifecycle over GraphQL: live moves, manual moves, parameters, tracking and switching models."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from api.workspaces import Role
from tests.conftest import Api, new_customer
from tests.lifecycle_helpers import MOVE, SWITCH, TRACK, ago, moves, pairs, record, stage_of

pytestmark = pytest.mark.asyncio


async def test_interactions_move_a_customer_and_each_move_is_recorded_with_its_cause(api: Api) -> None:
    c = await new_customer(api, name="Ana")
    demo = await record(api, c["id"], "demo_requested", ago(2))
    # The demo happened before the customer was recorded: the journey now starts at the demo.
    assert pairs(demo["transitions"]) == [(None, "prospect"), ("prospect", "lead")]
    await record(api, c["id"], "purchase", ago(1), amount="250.00")
    node = await stage_of(api, c["id"])
    assert node["stage"]["stage"]["key"] == "customer"
    assert moves(node) == [
        (None, "prospect", "RULE"),
        ("prospect", "lead", "RULE"),
        ("lead", "customer", "RULE"),
    ]
    kinds = [e["node"]["interaction"] for e in node["history"]["edges"]]
    assert kinds == [None, {"kind": "demo_requested"}, {"kind": "purchase"}]
    # A customer who bought has a churn check due 180 days after the purchase.
    assert node["stage"]["nextCheckAt"] is not None


async def test_customers_can_be_filtered_by_stage(api: Api) -> None:
    a = await new_customer(api, name="Ana")
    await new_customer(api, name="Bia")
    await record(api, a["id"], "purchase", ago(1), amount="10")
    data = await api.data('{ customers(filter: {stage: "customer"}) { totalCount edges { node { name } } } }')
    assert [e["node"]["name"] for e in data["customers"]["edges"]] == ["Ana"]
    data = await api.data('{ customers(filter: {stages: ["prospect", "lead"], model: "funnel"}) { totalCount } }')
    assert data["customers"]["totalCount"] == 1
    body = await api.run('{ customers(filter: {stage: "nowhere"}) { totalCount } }')
    assert body["errors"][0]["extensions"]["reason"] == "UNKNOWN_STAGE"


async def test_a_manual_move_along_a_transition_is_recorded_with_actor_and_note(api: Api) -> None:
    c = await new_customer(api, name="Caio")
    data = await api.data(MOVE, {"input": {"customerId": c["id"], "stage": "lead", "note": "met at the fair"}})
    payload = data["moveCustomer"]
    assert payload["userErrors"] == []
    assert payload["transition"]["cause"] == "MANUAL"
    assert payload["transition"]["note"] == "met at the fair"
    assert payload["transition"]["actor"].endswith(":admin")
    assert (await stage_of(api, c["id"]))["stage"]["stage"]["key"] == "lead"


async def test_a_move_without_a_transition_is_refused_naming_the_allowed_targets(api: Api) -> None:
    c = await new_customer(api, name="Duda")
    editor = await api.key_for(Role.EDITOR)
    data = await editor.data(MOVE, {"input": {"customerId": c["id"], "stage": "advocate"}})
    (error,) = data["moveCustomer"]["userErrors"]
    assert error["code"] == "TRANSITION_NOT_ALLOWED"
    assert "'customer'" in error["message"]
    assert "'lead'" in error["message"]
    assert "'lost'" in error["message"]
    forced = await editor.data(MOVE, {"input": {"customerId": c["id"], "stage": "advocate", "force": True}})
    assert forced["moveCustomer"]["userErrors"][0]["code"] == "FORBIDDEN"
    admin = await api.data(MOVE, {"input": {"customerId": c["id"], "stage": "advocate", "force": True}})
    assert admin["moveCustomer"]["userErrors"] == []
    assert (await stage_of(api, c["id"]))["stage"]["stage"]["key"] == "advocate"
    viewer = await api.key_for(Role.VIEWER)
    body = await viewer.run(MOVE, {"input": {"customerId": c["id"], "stage": "lead"}})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_parameters_are_validated_against_their_types(api: Api) -> None:
    query = """mutation($p: JSON!) { configureLifecycleModel(input: {model: "funnel", params: $p}) {
        workspaceModel { params overrides } userErrors { field code message } } }"""
    bad = await api.data(query, {"p": {"churn_after_days": "soon", "unknown": 1}})
    errors = {tuple(e["field"]): e["code"] for e in bad["configureLifecycleModel"]["userErrors"]}
    assert errors == {("params", "churn_after_days"): "INVALID_PARAM", ("params", "unknown"): "INVALID_PARAM"}
    good = await api.data(query, {"p": {"churn_after_days": 30, "icp_industries": ["Varejo"]}})
    model = good["configureLifecycleModel"]["workspaceModel"]
    assert model["overrides"] == {"churn_after_days": 30, "icp_industries": ["Varejo"]}
    assert model["params"]["churn_after_days"] == 30
    assert model["params"]["mql_score"] == 40
    reset = await api.data(query, {"p": {"churn_after_days": None}})
    assert reset["configureLifecycleModel"]["workspaceModel"]["overrides"] == {"icp_industries": ["Varejo"]}


async def test_parameters_are_checked_against_their_declared_ranges(api: Api) -> None:
    query = """mutation($p: JSON!) { configureLifecycleModel(input: {model: "funnel", params: $p}) {
        workspaceModel { overrides } userErrors { field code message } } }"""
    bad = await api.data(
        query, {"p": {"churn_after_days": 0, "mql_score": -5, "lead_points": {"site_visit": 2, "tweet": 3}}}
    )
    payload = bad["configureLifecycleModel"]
    assert payload["workspaceModel"] is None
    messages = {e["field"][1]: e["message"] for e in payload["userErrors"]}
    assert messages == {
        "churn_after_days": "churn_after_days must be from 1 to 3650, got 0",
        "mql_score": "mql_score must be at least 0, got -5",
        "lead_points": "lead_points has unknown interaction kinds ['tweet']; see `interactionKinds`",
    }
    negative = await api.data(query, {"p": {"lead_points": {"site_visit": -1}}})
    assert negative["configureLifecycleModel"]["userErrors"][0]["message"] == (
        "lead_points['site_visit'] must be from 0 to 1000, got -1"
    )
    # Nothing was stored by the refused calls.
    ok = await api.data(query, {"p": {"advocate_nps": 10}})
    assert ok["configureLifecycleModel"]["workspaceModel"]["overrides"] == {"advocate_nps": 10}
    ranges = await api.data(
        '{ lifecycleModel(key: "funnel") { params { name minimum maximum keysAreInteractionKinds } } }'
    )
    by_name = {p["name"]: p for p in ranges["lifecycleModel"]["params"]}
    assert by_name["churn_after_days"] == {
        "name": "churn_after_days",
        "minimum": 1,
        "maximum": 3650,
        "keysAreInteractionKinds": False,
    }
    assert by_name["lead_points"]["keysAreInteractionKinds"] is True


async def test_a_dry_run_switch_shows_the_distribution_and_writes_nothing(api: Api) -> None:
    a = await new_customer(api, name="Ana")
    await new_customer(api, name="Bia")
    await record(api, a["id"], "purchase", ago(3), amount="99")
    data = await api.data(SWITCH, {"input": {"model": "lifespan", "strategy": "REPLAY", "dryRun": True}})
    payload = data["switchLifecycleModel"]
    assert payload["userErrors"] == []
    assert payload["transitionsWritten"] == 0
    assert payload["workspace"] is None
    counts = {d["stage"]["key"]: d["count"] for d in payload["distribution"]}
    assert counts == {"acquisition": 1, "activation": 1, "retention": 0, "churned": 0, "reactivation": 0}
    after = await api.data("{ viewer { workspace { primaryModel { key } models { model { key } } } } }")
    assert after["viewer"]["workspace"]["primaryModel"]["key"] == "funnel"
    assert [m["model"]["key"] for m in after["viewer"]["workspace"]["models"]] == ["funnel"]


async def test_switch_by_replay_rebuilds_history_with_historical_times_and_switching_back_loses_nothing(
    api: Api,
) -> None:
    c = await new_customer(api, name="Ana")
    when = ago(5)
    await record(api, c["id"], "purchase", when, amount="99")
    funnel_before = moves(await stage_of(api, c["id"]))
    data = await api.data(SWITCH, {"input": {"model": "lifespan", "strategy": "REPLAY"}})
    payload = data["switchLifecycleModel"]
    assert payload["userErrors"] == []
    assert payload["workspace"]["primaryModel"]["key"] == "lifespan"
    assert payload["transitionsWritten"] == 2
    node = await stage_of(api, c["id"])
    assert node["stage"]["stage"]["key"] == "activation"
    assert moves(node) == [(None, "acquisition", "REPLAY"), ("acquisition", "activation", "REPLAY")]
    assert node["history"]["edges"][1]["node"]["occurredAt"][:19] == when[:19]
    # The old model is still tracked: switching back is immediate and its history is intact.
    back = await api.data(SWITCH, {"input": {"model": "funnel", "strategy": "REPLAY"}})
    assert back["switchLifecycleModel"]["transitionsWritten"] == 0
    assert moves(await stage_of(api, c["id"])) == funnel_before


async def test_switch_by_mapping_needs_every_stage_and_carries_each_customer(api: Api) -> None:
    a = await new_customer(api, name="Ana")
    await new_customer(api, name="Bia")
    await record(api, a["id"], "purchase", ago(2), amount="10")
    partial = [{"from": "prospect", "to": "acquisition"}, {"from": "customer", "to": "retention"}]
    data = await api.data(SWITCH, {"input": {"model": "five-phase", "strategy": "MAPPING", "mapping": partial}})
    (error,) = data["switchLifecycleModel"]["userErrors"]
    assert error["code"] == "INCOMPLETE_MAPPING"
    assert "'lead'" in error["message"]
    full = {
        "prospect": "acquisition",
        "lead": "acquisition",
        "mql": "acquisition",
        "sql": "acquisition",
        "opportunity": "acquisition",
        "customer": "retention",
        "advocate": "advocacy",
        "churned": "churned",
        "lost": "acquisition",
    }
    mapping = [{"from": k, "to": v} for k, v in full.items()]
    data = await api.data(SWITCH, {"input": {"model": "five-phase", "strategy": "MAPPING", "mapping": mapping}})
    payload = data["switchLifecycleModel"]
    assert payload["userErrors"] == []
    counts = {d["stage"]["key"]: d["count"] for d in payload["distribution"] if d["count"]}
    assert counts == {"acquisition": 1, "retention": 1}
    node = await stage_of(api, a["id"])
    assert moves(node) == [(None, "retention", "MAPPING")]


async def test_tracking_a_second_model_replays_it_and_untracking_keeps_its_history(api: Api) -> None:
    c = await new_customer(api, name="Ana")
    await record(api, c["id"], "purchase", ago(2), amount="10")
    data = await api.data(TRACK, {"input": {"model": "three-phase"}})
    assert data["trackLifecycleModel"]["userErrors"] == []
    stages = await api.data(
        "query($id: ID!) { node(id: $id) { ... on Customer { stages { model { key } stage { key } } } } }",
        {"id": c["id"]},
    )
    assert [(s["model"]["key"], s["stage"]["key"]) for s in stages["node"]["stages"]] == [
        ("funnel", "customer"),
        ("three-phase", "retention"),
    ]
    # New interactions now move the customer in both models.
    await record(api, c["id"], "purchase", ago(1), amount="10", properties={"product": "b"})
    await record(api, c["id"], "purchase", ago(0.5), amount="10", properties={"product": "c"})
    assert (await stage_of(api, c["id"], "three-phase"))["stage"]["stage"]["key"] == "extension"
    primary = await api.data('mutation { untrackLifecycleModel(input: {model: "funnel"}) { userErrors { code } } }')
    assert primary["untrackLifecycleModel"]["userErrors"] == [{"code": "PRIMARY_MODEL"}]
    done = await api.data('mutation { untrackLifecycleModel(input: {model: "three-phase"}) { userErrors { code } } }')
    assert done["untrackLifecycleModel"]["userErrors"] == []
    history = await api.data(
        'query($id: ID!) { node(id: $id) { ... on Customer { history(model: "three-phase") '
        "{ edges { node { to { key } } } } } } }",
        {"id": c["id"]},
    )
    assert [e["node"]["to"]["key"] for e in history["node"]["history"]["edges"]][-1] == "extension"


async def test_concurrent_interactions_of_one_customer_never_lose_or_duplicate_a_move(api: Api) -> None:
    c = await new_customer(api, name="Ana")
    await asyncio.gather(*(record(api, c["id"], "purchase", ago(1), amount="5") for _ in range(8)))
    node = await stage_of(api, c["id"])
    assert moves(node) == [(None, "prospect", "RULE"), ("prospect", "customer", "RULE")]
    chain = [(m[0], m[1]) for m in moves(node)]
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(chain))
    counts = await api.data("{ interactions { totalCount } }")
    assert counts["interactions"]["totalCount"] == 8


async def test_lead_points_set_for_one_kind_keep_the_defaults_of_the_others(api: Api) -> None:
    query = """mutation($p: JSON!) { configureLifecycleModel(input: {model: "funnel", params: $p}) {
        workspaceModel { params } userErrors { field code } } }"""
    data = await api.data(query, {"p": {"lead_points": {"site_visit": 10}}})
    points = data["configureLifecycleModel"]["workspaceModel"]["params"]["lead_points"]
    assert points["site_visit"] == 10
    assert points["demo_requested"] == 20
    c = await new_customer(api, name="Ana")
    visit = await record(api, c["id"], "site_visit", ago(1))
    assert pairs(visit["transitions"])[-1] == ("prospect", "lead")


async def test_initial_stage_follows_the_workspace_parameters(api: Api) -> None:
    query = '{ lifecycleModel(key: "three-phase") { initialStage { key } } }'
    assert (await api.data(query))["lifecycleModel"]["initialStage"]["key"] == "acquisition"
    tracked = await api.data(TRACK, {"input": {"model": "three-phase"}})
    assert tracked["trackLifecycleModel"]["userErrors"] == []
    configure = """mutation { configureLifecycleModel(input: {model: "three-phase", params: {use_selection: true}})
        { userErrors { code } } }"""
    assert (await api.data(configure))["configureLifecycleModel"]["userErrors"] == []
    assert (await api.data(query))["lifecycleModel"]["initialStage"]["key"] == "selection"
    c = await new_customer(api, name="Gil")
    assert (await stage_of(api, c["id"], "three-phase"))["stage"]["stage"]["key"] == "selection"


async def test_stage_labels_accept_any_spelling_of_a_locale(api: Api) -> None:
    data = await api.data(
        '{ lifecycleModel(key: "funnel") { stages { key a: label(locale: "pt") b: label(locale: "pt_BR") '
        'c: label(locale: "pt-br") d: label(locale: "fr") } } }'
    )
    customer = next(s for s in data["lifecycleModel"]["stages"] if s["key"] == "customer")
    assert customer == {"key": "customer", "a": "Cliente", "b": "Cliente", "c": "Cliente", "d": "Customer"}


PREVIEW = """
mutation($input: SwitchLifecycleModelInput!) { switchLifecycleModel(input: $input) {
  distribution { stage { key } count }
  sample { customer { name } before { key category } after { key category } }
  transitionsWritten userErrors { code }
} }
"""


async def test_a_dry_run_switch_previews_customers_where_they_are_and_would_be_changed_categories_first(
    api: Api,
) -> None:
    for n in range(12):
        await new_customer(api, name=f"Prospect {n:02d}")
    buyer = await new_customer(api, name="Buyer")
    await record(api, buyer["id"], "purchase", ago(5), amount="99")
    data = await api.data(PREVIEW, {"input": {"model": "lifespan", "strategy": "REPLAY", "dryRun": True}})
    payload = data["switchLifecycleModel"]
    assert payload["userErrors"] == []
    assert payload["transitionsWritten"] == 0
    sample = payload["sample"]
    assert len(sample) == 10  # of 13 customers
    # Every prospect stays a prospect (lifespan's acquisition); the buyer is a customer in both:
    # no category changes, so the preview keeps the customers' order.
    assert all(s["before"]["key"] in ("prospect", "customer") for s in sample)
    by_name = {s["customer"]["name"]: s for s in sample}
    assert by_name["Prospect 00"]["after"] == {"key": "acquisition", "category": "PROSPECT"}
    assert sum(c["count"] for c in payload["distribution"]) == 13
    # Nothing was switched.
    assert (await api.data("{ viewer { workspace { primaryModel { key } } } }"))["viewer"]["workspace"] == {
        "primaryModel": {"key": "funnel"}
    }


async def test_the_preview_shows_customers_whose_category_would_change_first(api: Api) -> None:
    for n in range(12):
        await new_customer(api, name=f"Prospect {n:02d}")
    # Created 200 days ago and never heard from: lost (LOST) in funnel after 90 days; still in
    # lifespan's acquisition (PROSPECT). The 13th customer by id, yet first in the preview.
    await new_customer(api, name="Long gone", createdAt=ago(200))
    data = await api.data(PREVIEW, {"input": {"model": "lifespan", "strategy": "REPLAY", "dryRun": True}})
    first, *rest = data["switchLifecycleModel"]["sample"]
    assert first["customer"]["name"] == "Long gone"
    assert (first["before"]["category"], first["after"]["category"]) == ("LOST", "PROSPECT")
    assert all(s["before"]["category"] == s["after"]["category"] == "PROSPECT" for s in rest)
