"""Time-based rules through the periodic check, and plugins told after commit."""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from api.app import create_app
from api.lifecycle import Lifecycle
from api.settings import Settings
from api.workspaces import create_workspace
from plugins.hookspecs import hookimpl
from plugins.manager import build_registry, get_plugin_manager
from plugins.types import StageChange
from tests.conftest import Api, new_customer
from tests.lifecycle_helpers import moves, record, stage_of

pytestmark = pytest.mark.asyncio


def lifecycle_of(app: Starlette) -> Lifecycle:
    found: Lifecycle = app.state.lifecycle
    return found


async def test_a_due_churn_is_applied_by_the_periodic_check_at_its_due_time(api: Api, app: Starlette) -> None:
    c = await new_customer(api, name="Ana")
    bought = datetime.now(UTC) - timedelta(days=179)
    await record(api, c["id"], "purchase", bought.isoformat(), amount="50")
    node = await stage_of(api, c["id"])
    due = bought + timedelta(days=180)
    assert node["stage"]["stage"]["key"] == "customer"
    assert datetime.fromisoformat(node["stage"]["nextCheckAt"]) == due
    assert (await lifecycle_of(app).tick()).moves == 0  # not due yet
    result = await lifecycle_of(app).tick(now=datetime.now(UTC) + timedelta(days=2))
    assert (result.customers, result.moves) == (1, 1)
    node = await stage_of(api, c["id"])
    assert node["stage"]["stage"]["key"] == "churned"
    churn = node["history"]["edges"][-1]["node"]
    assert churn["rule"] == "churn"
    assert datetime.fromisoformat(churn["occurredAt"]) == due
    assert (await lifecycle_of(app).tick(now=datetime.now(UTC) + timedelta(days=3))).customers == 0


async def test_workers_checking_at_the_same_time_never_make_a_move_twice(api: Api, app: Starlette) -> None:
    customers = [await new_customer(api, name=f"C{n}") for n in range(6)]
    for c in customers:
        await record(api, c["id"], "purchase", (datetime.now(UTC) - timedelta(days=179)).isoformat(), amount="5")
    later = datetime.now(UTC) + timedelta(days=2)
    results = await asyncio.gather(*(lifecycle_of(app).tick(now=later) for _ in range(3)))
    assert sum(r.moves for r in results) == 6
    for c in customers:
        assert moves(await stage_of(api, c["id"]))[-1] == ("customer", "churned", "RULE")
        assert [m[1] for m in moves(await stage_of(api, c["id"]))].count("churned") == 1


class Recorder:
    """A partner plugin that remembers what it was told and then fails (a bug of theirs)."""

    def __init__(self) -> None:
        self.seen: list[StageChange] = []

    @hookimpl
    def on_stage_changed(self, change: StageChange) -> None:
        self.seen.append(change)
        raise RuntimeError("partner bug")


async def _async_listener(seen: list[str]) -> types.ModuleType:
    module = types.ModuleType("async_listener")

    @hookimpl
    async def on_stage_changed(change: StageChange) -> None:
        await asyncio.sleep(0)
        seen.append(change.to_stage)

    module.on_stage_changed = on_stage_changed  # type: ignore[attr-defined]
    return module


@asynccontextmanager
async def with_plugins(settings: Settings, *extra: tuple[str, object]) -> AsyncIterator[tuple[Api, Starlette]]:
    pm, problems, infos = get_plugin_manager(autoload=False, extra=list(extra))
    app = create_app(settings, plugins=build_registry(pm, problems, infos))
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as http:
            ws, key = await create_workspace("Hooks", "BRL")
            yield Api(http, key, ws.id), app


@pytest_asyncio.fixture
async def told(settings: Settings) -> AsyncIterator[tuple[Api, Recorder, list[str], Starlette]]:
    recorder, seen = Recorder(), []
    async with with_plugins(settings, ("recorder", recorder), ("listener", await _async_listener(seen))) as (api, app):
        yield api, recorder, seen, app


def _slow_plugin(seen: list[str], sync_seconds: float, async_seconds: float) -> types.ModuleType:
    """A partner whose synchronous hook blocks (time.sleep) and whose async one awaits."""
    module = types.ModuleType("slow")

    class Slow:
        @hookimpl
        def on_stage_changed(self, change: StageChange) -> None:
            time.sleep(sync_seconds)
            seen.append(f"sync {change.to_stage}")

    class Awaiting:
        @hookimpl
        async def on_stage_changed(self, change: StageChange) -> None:
            await asyncio.sleep(async_seconds)
            seen.append(f"async {change.to_stage}")

    module.plugins = (Slow(), Awaiting())  # type: ignore[attr-defined]
    return module


async def test_slow_hooks_delay_neither_the_request_nor_anyone_else_and_are_still_told(settings: Settings) -> None:
    """Issue 10, item 4: a hook sleeping 30 s made an unrelated `{ viewer { role } }` wait 29.9 s."""
    seen: list[str] = []
    slow = _slow_plugin(seen, sync_seconds=1.5, async_seconds=1.5)
    sync_hook, async_hook = slow.plugins  # type: ignore[attr-defined]
    async with with_plugins(settings, ("slow-sync", sync_hook), ("slow-async", async_hook)) as (api, app):
        c = await new_customer(api, name="Ana")
        started = time.perf_counter()
        await record(api, c["id"], "purchase", datetime.now(UTC).isoformat(), amount="5")
        other = await api.data("{ viewer { role } }")
        assert other == {"viewer": {"role": "ADMIN"}}
        assert time.perf_counter() - started < 1.0  # two moves x two hooks x 1.5 s are behind
        await app.state.events.hooks.drain()
    assert seen == ["sync prospect", "async prospect", "sync customer", "async customer"]


async def test_a_hook_past_its_timeout_is_skipped_and_logged_and_the_next_move_is_told(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    _, hanging = _slow_plugin(seen, sync_seconds=0, async_seconds=60).plugins  # type: ignore[attr-defined]
    recorder = Recorder()
    quick = replace(settings, hook_timeout=0.2)
    async with with_plugins(quick, ("hanging", hanging), ("recorder", recorder)) as (api, app):
        with caplog.at_level(logging.ERROR, logger="jornada.plugins"):
            c = await new_customer(api, name="Ana")
            await record(api, c["id"], "purchase", datetime.now(UTC).isoformat(), amount="5")
            await asyncio.wait_for(app.state.events.hooks.drain(), 5)
    assert seen == []
    assert [x.to_stage for x in recorder.seen] == ["prospect", "customer"]
    assert caplog.text.count("on_stage_changed of plugin hanging took more than 0.2s") == 2


async def test_plugins_are_told_of_every_move_after_commit_and_a_failing_one_undoes_nothing(
    told: tuple[Api, Recorder, list[str], Starlette], caplog: pytest.LogCaptureFixture
) -> None:
    api, recorder, seen, app = told
    c = await new_customer(api, name="Ana")
    with caplog.at_level(logging.ERROR, logger="jornada.plugins"):
        await record(api, c["id"], "purchase", datetime.now(UTC).isoformat(), amount="5")
        await app.state.events.hooks.drain()  # told after the response, off the request path
    assert [(x.from_stage, x.to_stage, x.cause) for x in recorder.seen] == [
        (None, "prospect", "RULE"),
        ("prospect", "customer", "RULE"),
    ]
    assert seen == ["prospect", "customer"]  # the async hook ran too, despite the failing one
    assert "on_stage_changed of plugin recorder failed" in caplog.text
    assert (await stage_of(api, c["id"]))["stage"]["stage"]["key"] == "customer"
