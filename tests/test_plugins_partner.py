"""Partner plugins: the example package installed and used end to end, and broken partners
rejected alone (reported by name, distribution, version and reason) while the rest loads.

Installing the example (examples/partner-plugin) for these tests: `pip install
--no-build-isolation` cannot build it with the setuptools a fresh venv has (65.5: no `bdist_wheel`
without the `wheel` package), and with build isolation pip needs an index, so neither is offline.
Instead setuptools itself writes the distribution's metadata from the package's pyproject.toml
(`egg_info`: name, version, entry points, top-level packages), the packages it names are copied
beside it into a temporary folder, and the folder goes on sys.path for one test at a time, which
is what an installed distribution is to `importlib.metadata`. Nothing touches the venv: the two
suites that run at once (SQLite and PostgreSQL) cannot disturb each other, and other test files
never see the partner. About 0.3 s, once per module.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import tomllib
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest

from api.app import create_app
from api.settings import Settings
from api.workspaces import create_workspace
from plugins.hookspecs import hookimpl
from plugins.manager import PluginRegistry, build_registry, get_plugin_manager, load_plugins
from plugins.types import InteractionKind, LifecycleModel, Param, Stage, StageCategory, Transition
from schema.lifecycle import plugin_infos
from tests.conftest import Api, new_customer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "partner-plugin"
BUILTIN_MODELS = {"funnel", "three-phase", "lifespan", "five-phase"}
MODEL_KEY = "acme-subscriptions"


def example_project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    return project


@contextmanager
def on_sys_path(folder: Path, *modules: str) -> Iterator[None]:
    """`folder` importable (and its distributions visible) inside the block; afterwards gone,
    `modules` (and their submodules) forgotten, and the import caches cleared."""
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m.split(".")[0] in modules]:
            del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package "installed" in a folder of its own (see the module docstring)."""
    source = tmp_path_factory.mktemp("acme-src") / "partner-plugin"
    shutil.copytree(
        EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "*.egg-info", "build")
    )
    site = tmp_path_factory.mktemp("acme-site")
    egg_info = ["egg_info", "--egg-base", str(site)]
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", "import setuptools; setuptools.setup()", "-q", *egg_info],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (info,) = site.glob("*.egg-info")
    for package in (info / "top_level.txt").read_text().split():
        shutil.copytree(source / package, site / package)
    return site


@pytest.fixture
def acme_installed(acme_site: Path) -> Iterator[Path]:
    with on_sys_path(acme_site, "acme_lifecycle"):
        yield acme_site


# --- the example partner package -------------------------------------------------------------


def test_load_plugins_lists_the_partner_model_with_its_distribution_and_version(acme_installed: Path) -> None:
    project = example_project()
    registry = load_plugins()
    assert registry.problems == []
    loaded = registry.models[MODEL_KEY]
    assert (loaded.plugin.name, loaded.plugin.distribution, loaded.plugin.version) == (
        "acme",
        project["name"],
        project["version"],
    )
    assert not loaded.plugin.builtin
    assert loaded.plugin.hooks == ("on_stage_changed", "register_interaction_kinds", "register_lifecycle_models")
    assert "acme_support_escalated" in registry.kinds
    assert set(registry.models) >= BUILTIN_MODELS
    # allow lists (JORNADA_PLUGINS) name entry points or distributions; autoload can be off
    assert MODEL_KEY in load_plugins(allow=frozenset({project["name"]})).models
    assert MODEL_KEY in load_plugins(allow=frozenset({"acme"})).models
    assert MODEL_KEY not in load_plugins(allow=frozenset({"someone-else"})).models
    assert set(load_plugins(autoload=False).models) == BUILTIN_MODELS


def test_the_partner_is_gone_once_its_test_is_over(acme_site: Path) -> None:
    assert str(acme_site) not in sys.path
    assert "acme_lifecycle" not in sys.modules


LIFECYCLE_MODELS = """
{
  lifecycleModels {
    key version initialStage { key }
    stages { key category en: label ptBR: label(locale: "pt-BR") }
    params { name type default }
    transitions { name from { key } to { key } automatic }
    plugin { name distribution version builtin status }
  }
  plugins { name distribution status error }
  interactionKinds { key }
}
"""

TRACK = """
mutation($input: TrackLifecycleModelInput!) {
  trackLifecycleModel(input: $input) {
    transitionsWritten
    distribution { stage { key } count }
    userErrors { field code message }
  }
}
"""

RECORD = """
mutation($input: RecordInteractionInput!) {
  recordInteraction(input: $input) {
    transitions { modelKey from { key } to { key } rule cause }
    userErrors { field code message }
  }
}
"""

STAGE = """
query($id: ID!) {
  node(id: $id) {
    ... on Customer { stage(model: "acme-subscriptions") { stage { key label(locale: "pt-BR") } nextCheckAt } }
  }
}
"""


@pytest.mark.asyncio
async def test_the_partner_model_over_graphql_tracked_and_driven_by_interactions(
    acme_installed: Path, settings: Settings
) -> None:
    acme_lifecycle = importlib.import_module("acme_lifecycle")  # what the app loads by entry point

    project = example_project()
    app = create_app(settings)  # after the install: plugins are loaded when the app is created
    acme_lifecycle.RECENT_CHANGES.clear()
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://jornada.test") as http:
            ws, secret = await create_workspace("Acme Ltda", "BRL")
            api = Api(http, secret, ws.id)

            data = await api.data(LIFECYCLE_MODELS)
            models = {m["key"]: m for m in data["lifecycleModels"]}
            assert BUILTIN_MODELS | {MODEL_KEY} == set(models)
            acme = models[MODEL_KEY]
            assert acme["plugin"] == {
                "name": "acme",
                "distribution": project["name"],
                "version": project["version"],
                "builtin": False,
                "status": "LOADED",
            }
            assert acme["initialStage"] == {"key": "trial"}
            assert {s["key"]: (s["category"], s["en"], s["ptBR"]) for s in acme["stages"]}["at_risk"] == (
                "CUSTOMER",
                "At risk",
                "Em risco",
            )
            assert {p["name"]: p["default"] for p in acme["params"]} == {
                "trial_days": 14,
                "at_risk_tickets": 3,
                "at_risk_window_days": 30,
            }
            assert {"name": "cancelled", "from": None, "to": {"key": "churned"}, "automatic": True} in acme[
                "transitions"
            ]
            assert {"name": "acme", "distribution": project["name"], "status": "LOADED", "error": None} in data[
                "plugins"
            ]
            assert "acme_support_escalated" in {k["key"] for k in data["interactionKinds"]}

            base = datetime.now(UTC) - timedelta(days=20)

            async def record(customer_id: str, kind: str, days: float | None = None) -> list[tuple[str, str, str]]:
                """Record `kind` `days` after `base` (now when None); the moves in the partner model."""
                at = datetime.now(UTC) if days is None else base + timedelta(days=days)
                variables = {"input": {"customerId": customer_id, "kind": kind, "occurredAt": at.isoformat()}}
                payload = (await api.data(RECORD, variables))["recordInteraction"]
                assert payload["userErrors"] == []
                return [
                    (t["from"]["key"], t["to"]["key"], t["rule"])
                    for t in payload["transitions"]
                    if t["modelKey"] == MODEL_KEY
                ]

            async def stage(customer_id: str) -> dict[str, Any]:
                node: dict[str, Any] = (await api.data(STAGE, {"id": customer_id}))["node"]["stage"]
                return node

            # A subscriber from before the model was tracked: replayed into it when tracking starts.
            ana = (await new_customer(api, name="Ana"))["id"]
            await record(ana, "subscription_started", 0)
            track = (await api.data(TRACK, {"input": {"model": MODEL_KEY}}))["trackLifecycleModel"]
            assert track["userErrors"] == []
            assert track["transitionsWritten"] == 2  # trial, then active
            assert {(d["stage"]["key"], d["count"]) for d in track["distribution"]} >= {("active", 1)}
            assert (await stage(ana))["stage"] == {"key": "active", "label": "Assinante ativo"}

            # Then the live path: three tickets in three days, a resolution, a cancellation.
            assert await record(ana, "support_ticket_opened", 1) == []
            assert await record(ana, "support_ticket_opened", 2) == []
            assert await record(ana, "support_ticket_opened", 3) == [("active", "at_risk", "support_trouble")]
            assert (await stage(ana))["stage"]["key"] == "at_risk"
            assert await record(ana, "support_ticket_resolved", 4) == [("at_risk", "active", "recovered")]
            assert await record(ana, "subscription_cancelled", 5) == [("active", "churned", "cancelled")]
            assert (await stage(ana))["stage"]["key"] == "churned"

            # A customer created after tracking starts in the trial, with its end as the next check;
            # the plugin's own interaction kind is accepted and drives its rule.
            bia = (await new_customer(api, name="Bia"))["id"]
            trial = await stage(bia)
            assert trial["stage"]["key"] == "trial"
            assert trial["nextCheckAt"] is not None
            assert await record(bia, "subscription_started") == [("trial", "active", "subscribed")]
            assert (await stage(bia))["nextCheckAt"] is None
            assert await record(bia, "acme_support_escalated") == [("active", "at_risk", "support_trouble")]

    # on_stage_changed was told about every live move in its model, after commit.
    told = [(c.from_stage, c.to_stage) for c in acme_lifecycle.RECENT_CHANGES]
    assert told == [
        ("active", "at_risk"),
        ("at_risk", "active"),
        ("active", "churned"),
        (None, "trial"),
        ("trial", "active"),
        ("active", "at_risk"),
    ]


# --- broken partners, built in the test (nothing installed) ----------------------------------


def _stages(*keys: str) -> tuple[Stage, ...]:
    return tuple(Stage(k, {"en": k.title()}, StageCategory.PROSPECT, n) for n, k in enumerate(keys, 1))


def partner_model(key: str = "partner", **changes: Any) -> LifecycleModel:
    fields: dict[str, Any] = {
        "key": key,
        "name": "Partner",
        "description": "A partner's model.",
        "version": "1.0.0",
        "stages": _stages("new", "done"),
        "transitions": (Transition("finish", "new", "done", "Bought.", lambda f, p: f.orders > 0),),
        "initial_stage": "new",
    }
    fields.update(changes)
    return LifecycleModel(**fields)


def plugin(*functions: Callable[..., Any]) -> types.ModuleType:
    """A module made of `functions` (each already decorated with hookimpl), as a partner's is."""
    module = types.ModuleType("partner_module")
    for function in functions:
        setattr(module, function.__name__, function)
    return module


def models_plugin(*models: LifecycleModel) -> types.ModuleType:
    @hookimpl
    def register_lifecycle_models() -> list[LifecycleModel]:
        return list(models)

    return plugin(register_lifecycle_models)


def extra_argument() -> types.ModuleType:
    @hookimpl
    def on_stage_changed(change: Any, tenant: Any) -> None:
        return None

    return plugin(on_stage_changed)


def misspelled_hook() -> types.ModuleType:
    @hookimpl
    def register_lifecycle_models() -> list[LifecycleModel]:
        return [partner_model()]

    @hookimpl
    def register_lifecycle_model() -> list[LifecycleModel]:
        return [partner_model()]

    return plugin(register_lifecycle_models, register_lifecycle_model)


def raising_hook() -> types.ModuleType:
    @hookimpl
    def register_lifecycle_models() -> list[LifecycleModel]:
        raise RuntimeError("the partner's database is down")

    return plugin(register_lifecycle_models)


def _param(type_: str, default: Any) -> tuple[Param, ...]:
    return (Param("days", type_, default, "Days."),)


BARE_STRING_CATEGORY = Stage("new", {"en": "New"}, "PROSPECT", 1)  # type: ignore[arg-type]


def load_with(module: types.ModuleType) -> PluginRegistry:
    pm, problems, infos = get_plugin_manager(autoload=False, extra=[("broken", module)])
    return build_registry(pm, problems, infos)


BROKEN: dict[str, tuple[Callable[[], types.ModuleType], str]] = {
    "an argument the hookspec does not have": (extra_argument, "{'tenant'}"),
    "a misspelled hook name": (misspelled_hook, "register_lifecycle_model"),
    "a transition to an unknown stage": (
        lambda: models_plugin(
            partner_model(transitions=(Transition("finish", "new", "nowhere", "Never.", lambda f, p: True),))
        ),
        "model 'partner': transition 'finish' has an unknown target stage 'nowhere'",
    ),
    "a transition from an unknown stage": (
        lambda: models_plugin(
            partner_model(transitions=(Transition("finish", "limbo", "done", "Never.", lambda f, p: True),))
        ),
        "transition 'finish' has an unknown source stage 'limbo'",
    ),
    "a model key a built-in already has": (
        lambda: models_plugin(partner_model("funnel")),
        "model 'funnel': model key 'funnel' is already registered by stages.funnel",
    ),
    "an initial stage that is not a stage": (
        lambda: models_plugin(partner_model(initial_stage="start")),
        "initial stage 'start' is not a stage of the model",
    ),
    "no initial stage": (
        lambda: models_plugin(partner_model(initial_stage="")),
        "initial stage '' is not a stage of the model",
    ),
    "no stages at all": (
        lambda: models_plugin(partner_model(stages=(), transitions=())),
        "a model needs a key and at least one stage",
    ),
    "a parameter default of the wrong type": (
        lambda: models_plugin(partner_model(params=_param("int", "thirty"))),
        "parameter 'days': the default must be an integer, got 'thirty'",
    ),
    "a parameter of an unknown type": (
        lambda: models_plugin(partner_model(params=_param("date", "2025-01-01"))),
        "parameter 'days' has an unknown type 'date'",
    ),
    "a stage category that is a bare string": (
        lambda: models_plugin(partner_model(stages=(BARE_STRING_CATEGORY, *_stages("done")))),
        "stage 'new' has an unknown category 'PROSPECT'",
    ),
    "a decimal default that JSON cannot carry": (
        lambda: models_plugin(partner_model(params=_param("decimal", Decimal("1000")))),
        "parameter 'days': the default must be plain JSON, got Decimal('1000')",
    ),
    "a parameter default out of its own range": (
        lambda: models_plugin(partner_model(params=(Param("days", "int", 0, "Days.", minimum=1),))),
        "parameter 'days': the default is out of range (days must be at least 1, got 0)",
    ),
    "a parameter range upside down": (
        lambda: models_plugin(partner_model(params=(Param("days", "int", 5, "Days.", minimum=9, maximum=1),))),
        "parameter 'days': minimum 9 is above maximum 1",
    ),
    "a register hook that raises": (
        raising_hook,
        "register_lifecycle_models raised RuntimeError: the partner's database is down",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_partner_is_rejected_alone_with_its_reason(case: str) -> None:
    make, reason = BROKEN[case]
    registry = load_with(make())
    assert [(p.name, p.distribution, p.version) for p in registry.problems] == [("broken", "broken", "test")]
    assert reason in registry.problems[0].reason
    assert set(registry.models) == BUILTIN_MODELS
    assert registry.models["funnel"].plugin.builtin  # a partner never shadows a built-in
    assert len(registry.kinds) > 20  # the built-in kinds are all there


@pytest.mark.parametrize("case", ["an argument the hookspec does not have", "a misspelled hook name"])
def test_a_plugin_with_a_bad_hook_is_not_half_registered(case: str) -> None:
    registry = load_with(BROKEN[case][0]())
    assert "invalid plugin" in registry.problems[0].reason
    assert not registry.manager.has_plugin("broken")
    assert "broken" not in registry.plugins
    assert all(i.plugin_name != "broken" for i in registry.manager.hook.register_lifecycle_models.get_hookimpls())


def test_a_plugin_whose_register_hook_raises_is_rejected_whole_and_listed_once() -> None:
    """Issue 10, item 10: it was listed as loaded and as rejected, and its other hooks still ran."""
    told: list[Any] = []

    @hookimpl
    def register_interaction_kinds() -> list[InteractionKind]:
        return [InteractionKind("acme_half", "Half", "Registered before the other hook raised.")]

    @hookimpl
    def register_lifecycle_models() -> list[LifecycleModel]:
        raise RuntimeError("the partner's database is down")

    @hookimpl
    def on_stage_changed(change: Any) -> None:
        told.append(change)

    registry = load_with(plugin(register_interaction_kinds, register_lifecycle_models, on_stage_changed))
    assert "broken" not in registry.plugins
    assert not registry.manager.has_plugin("broken")
    assert all(i.plugin_name != "broken" for i in registry.manager.hook.on_stage_changed.get_hookimpls())
    assert "acme_half" not in registry.kinds
    listed = [(i.name, i.status.value, i.error) for i in plugin_infos(registry) if i.name == "broken"]
    reason = "register_lifecycle_models raised RuntimeError: the partner's database is down"
    assert listed == [("broken", "REJECTED", reason)]


def test_only_the_invalid_model_of_a_plugin_is_rejected() -> None:
    bad = partner_model("bad", initial_stage="start")
    registry = load_with(models_plugin(bad, partner_model("good")))
    assert [p.reason for p in registry.problems] == ["model 'bad': initial stage 'start' is not a stage of the model"]
    assert set(registry.models) == BUILTIN_MODELS | {"good"}
    assert registry.plugins["broken"].hooks == ("register_lifecycle_models",)
    # Listed once, as loaded, with the reason its other model was not.
    listed = [(i.name, i.status.value, i.error) for i in plugin_infos(registry) if i.name == "broken"]
    assert listed == [("broken", "LOADED", "model 'bad': initial stage 'start' is not a stage of the model")]


def test_an_interaction_kind_that_is_taken_or_malformed_is_rejected_alone() -> None:
    @hookimpl
    def register_interaction_kinds() -> list[InteractionKind]:
        return [
            InteractionKind("purchase", "Purchase", "Taken by Jornada."),
            InteractionKind("Bad Key", "Bad", "Not snake case."),
            InteractionKind("acme_ok", "Fine", "A new kind."),
        ]

    registry = load_with(plugin(register_interaction_kinds))
    reasons = [p.reason for p in registry.problems]
    assert reasons == [
        "interaction kind 'purchase' is already registered",
        "interaction kind key 'Bad Key' must be lower snake case",
    ]
    assert registry.kinds["acme_ok"].name == "Fine"
    assert registry.kinds["purchase"].name == "Purchase"
    assert set(registry.models) == BUILTIN_MODELS


def test_hooks_returning_something_else_than_the_data_classes_are_rejected() -> None:
    @hookimpl
    def register_interaction_kinds() -> list[Any]:
        return ["not a kind"]

    @hookimpl
    def register_lifecycle_models() -> list[Any]:
        return [{"key": "dict-model"}]

    registry = load_with(plugin(register_interaction_kinds, register_lifecycle_models))
    reasons = sorted(p.reason for p in registry.problems)
    assert reasons == [
        "model '?': not a LifecycleModel: {'key': 'dict-model'}",
        "not an InteractionKind: 'not a kind'",
    ]
    assert set(registry.models) == BUILTIN_MODELS


def test_a_model_whose_initial_stage_function_raises_is_rejected() -> None:
    def choose(params: Any) -> str:
        raise KeyError("use_selection")

    registry = load_with(models_plugin(partner_model(choose_initial=choose)))
    assert len(registry.problems) == 1
    assert "KeyError" in registry.problems[0].reason
    assert set(registry.models) == BUILTIN_MODELS


# --- an entry point whose import fails --------------------------------------------------------


@pytest.fixture
def broken_distribution(tmp_path: Path) -> Iterator[Path]:
    """A distribution on sys.path whose `jornada` entry point names a module that is missing."""
    info = tmp_path / "jornada_broken_partner-0.9.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: jornada-broken-partner\nVersion: 0.9.1\n")
    (info / "entry_points.txt").write_text("[jornada]\nbrokenco = brokenco_lifecycle_missing\n")
    with on_sys_path(tmp_path, "brokenco_lifecycle_missing"):
        yield tmp_path


def test_an_entry_point_that_cannot_be_imported_is_reported_by_distribution(broken_distribution: Path) -> None:
    registry = load_plugins()
    assert [(p.name, p.distribution, p.version) for p in registry.problems] == [
        ("brokenco", "jornada-broken-partner", "0.9.1")
    ]
    reason = registry.problems[0].reason
    assert reason.startswith("ModuleNotFoundError: ")
    assert "brokenco_lifecycle_missing" in reason
    assert set(registry.models) >= BUILTIN_MODELS
    # allowed by entry-point or distribution name: tried and reported; otherwise not even tried
    for allowed in ({"brokenco"}, {"jornada-broken-partner"}):
        assert [p.name for p in load_plugins(allow=frozenset(allowed)).problems] == ["brokenco"]
    assert load_plugins(allow=frozenset({"acme"})).problems == []
    assert load_plugins(autoload=False).problems == []


def test_the_broken_distribution_is_gone_after_the_test() -> None:
    assert load_plugins().problems == []
