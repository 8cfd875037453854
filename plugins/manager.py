"""Building the plugin manager: built-ins first, then partner packages one at a time.

A broken partner package (import error, bad hook signature, misspelled hook, invalid model)
is rejected alone and reported with its distribution name, version and the reason; the service
starts with the rest.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

import pluggy

from plugins import hookspecs
from plugins.types import InteractionKind, LifecycleModel
from plugins.validation import kind_problems, model_problems

ENTRY_POINT_GROUP = "jornada"
BUILTIN_PLUGINS: tuple[str, ...] = (
    "stages.kinds",
    "stages.funnel",
    "stages.three_phase",
    "stages.lifespan",
    "stages.five_phase",
)
BUILTIN_DISTRIBUTION = "jornada"
log = logging.getLogger("jornada.plugins")


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its name, the distribution that ships it, and the hooks it implements."""

    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool


@dataclass(frozen=True)
class PluginProblem:
    """A plugin or a model that was rejected, and why."""

    name: str
    distribution: str
    version: str
    reason: str


@dataclass(frozen=True)
class LoadedModel:
    model: LifecycleModel
    plugin: PluginInfo


@dataclass
class PluginRegistry:
    """What the loaded plugins contribute, validated once at start-up."""

    manager: pluggy.PluginManager
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    models: dict[str, LoadedModel] = field(default_factory=dict)
    kinds: dict[str, InteractionKind] = field(default_factory=dict)
    kind_owners: dict[str, str] = field(default_factory=dict)  # kind key -> plugin name
    problems: list[PluginProblem] = field(default_factory=list)

    def problems_of(self, name: str) -> list[PluginProblem]:
        return [p for p in self.problems if p.name == name]

    def model(self, key: str) -> LifecycleModel | None:
        loaded = self.models.get(key)
        return loaded.model if loaded else None


@dataclass
class _Loader:
    pm: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    def register(self, plugin: Any, name: str, dist: str, version: str, builtin: bool) -> None:
        self.pm.register(plugin, name=name)
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError:
            self.pm.unregister(name=name)
            raise
        hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or []))
        self.infos[name] = PluginInfo(name, dist, version, hooks, builtin)


def _entry_points(allow: frozenset[str] | None) -> Iterable[md.EntryPoint]:
    found = sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name)
    for ep in found:
        dist = ep.dist.name if ep.dist else ""
        if allow is None or ep.name in allow or dist in allow:
            yield ep


def _load_entry_point(loader: _Loader, ep: md.EntryPoint) -> None:
    dist = ep.dist.name if ep.dist else "unknown"
    version = ep.dist.version if ep.dist else "?"
    if loader.pm.has_plugin(ep.name) or loader.pm.is_blocked(ep.name):
        loader.problems.append(PluginProblem(ep.name, dist, version, "a plugin of this name is already loaded"))
        return
    try:
        loader.register(ep.load(), ep.name, dist, version, builtin=False)
    except pluggy.PluginValidationError as exc:
        loader.problems.append(PluginProblem(ep.name, dist, version, f"invalid plugin: {exc}"))
    except Exception as exc:  # an import error in a partner package must not stop the service
        loader.problems.append(PluginProblem(ep.name, dist, version, f"{type(exc).__name__}: {exc}"))


def get_plugin_manager(
    *, autoload: bool = True, allow: frozenset[str] | None = None, extra: Iterable[tuple[str, Any]] = ()
) -> tuple[pluggy.PluginManager, list[PluginProblem], dict[str, PluginInfo]]:
    """A new plugin manager: the hookspecs, the built-in plugins, `extra` (name, plugin) pairs
    (for tests), then every `jornada` entry point (unless `autoload` is off), each in isolation.

    `allow` restricts the entry points loaded to those whose name or distribution it lists.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    loader = _Loader(pm)
    own_version = _version(BUILTIN_DISTRIBUTION)
    for module_name in BUILTIN_PLUGINS:
        loader.register(importlib.import_module(module_name), module_name, BUILTIN_DISTRIBUTION, own_version, True)
    for name, plugin in extra:
        try:
            loader.register(plugin, name, name, "test", builtin=False)
        except pluggy.PluginValidationError as exc:
            loader.problems.append(PluginProblem(name, name, "test", f"invalid plugin: {exc}"))
    if autoload:
        for ep in _entry_points(allow):
            _load_entry_point(loader, ep)
    return pm, loader.problems, loader.infos


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "0"


def build_registry(
    pm: pluggy.PluginManager,
    problems: list[PluginProblem] | None = None,
    infos: dict[str, PluginInfo] | None = None,
) -> PluginRegistry:
    """Collect and validate what every registered plugin contributes; reject the invalid parts."""
    registry = PluginRegistry(manager=pm, problems=list(problems or []), plugins=dict(infos or {}))
    # Built-ins first, then partners in name order: a partner cannot shadow a built-in key.
    ordered = sorted(registry.plugins.values(), key=lambda i: (not i.builtin, i.name))
    for info in ordered:
        if not _collect(registry, info):
            _reject_whole(registry, info)
    for problem in registry.problems:
        log.warning(
            "plugin %s (%s %s) rejected: %s",
            problem.name,
            problem.distribution,
            problem.version,
            problem.reason,
        )
    return registry


class _HookRaised(Exception):
    pass


def _collect(registry: PluginRegistry, info: PluginInfo) -> bool:
    """Add what the plugin contributes; False when one of its `register_*` hooks raised."""
    try:
        _collect_kinds(registry, info)
        _collect_models(registry, info)
    except _HookRaised:
        return False
    return True


def _reject_whole(registry: PluginRegistry, info: PluginInfo) -> None:
    """A plugin whose hook raised is rejected whole: none of its hooks is called (it would
    otherwise still be told of moves) and it is listed as rejected only, not also as loaded."""
    registry.manager.unregister(name=info.name)
    registry.plugins.pop(info.name, None)
    for key in [k for k, loaded in registry.models.items() if loaded.plugin.name == info.name]:
        del registry.models[key]
    for key in [k for k, owner in registry.kind_owners.items() if owner == info.name]:
        registry.kinds.pop(key, None)
        del registry.kind_owners[key]


def _call(registry: PluginRegistry, info: PluginInfo, hook: str) -> list[Any]:
    impls = [i for i in getattr(registry.manager.hook, hook).get_hookimpls() if i.plugin_name == info.name]
    try:
        return [item for impl in impls for item in cast(Iterable[Any], impl.function() or [])]
    except Exception as exc:
        registry.problems.append(
            PluginProblem(info.name, info.distribution, info.version, f"{hook} raised {type(exc).__name__}: {exc}")
        )
        raise _HookRaised from exc


def _collect_kinds(registry: PluginRegistry, info: PluginInfo) -> None:
    for kind in _call(registry, info, "register_interaction_kinds"):
        reasons = kind_problems(kind) if isinstance(kind, InteractionKind) else [f"not an InteractionKind: {kind!r}"]
        if isinstance(kind, InteractionKind) and kind.key in registry.kinds:
            reasons.append(f"interaction kind {kind.key!r} is already registered")
        if reasons:
            registry.problems.append(PluginProblem(info.name, info.distribution, info.version, "; ".join(reasons)))
        else:
            registry.kinds[kind.key] = kind
            registry.kind_owners[kind.key] = info.name


def _collect_models(registry: PluginRegistry, info: PluginInfo) -> None:
    for model in _call(registry, info, "register_lifecycle_models"):
        if not isinstance(model, LifecycleModel):
            reasons = [f"not a LifecycleModel: {model!r}"]
        else:
            try:
                reasons = model_problems(model)
            except Exception as exc:  # e.g. a choose_initial that raises: the model only is rejected
                reasons = [f"validation raised {type(exc).__name__}: {exc}"]
            if model.key in registry.models:
                owner = registry.models[model.key].plugin.name
                reasons.append(f"model key {model.key!r} is already registered by {owner}")
        if reasons:
            label = getattr(model, "key", "?")
            registry.problems.append(
                PluginProblem(info.name, info.distribution, info.version, f"model {label!r}: " + "; ".join(reasons))
            )
        else:
            registry.models[model.key] = LoadedModel(model, info)


def load_plugins(*, autoload: bool = True, allow: frozenset[str] | None = None) -> PluginRegistry:
    """The registry the service uses: `get_plugin_manager` then `build_registry`."""
    pm, problems, infos = get_plugin_manager(autoload=autoload, allow=allow)
    return build_registry(pm, problems, infos)
