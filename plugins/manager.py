"""Building the plugin manager: built-ins first, then partner packages one at a time."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import cast

import pluggy

from plugins import hookspecs
from plugins.types import InteractionKind

BUILTIN_PLUGINS: tuple[str, ...] = ("stages.kinds",)


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that was rejected, and why."""

    name: str
    distribution: str
    reason: str


@dataclass
class PluginRegistry:
    """What the loaded plugins contribute, validated once at start-up."""

    manager: pluggy.PluginManager
    kinds: dict[str, InteractionKind] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    def kind(self, key: str) -> InteractionKind | None:
        return self.kinds.get(key)


def get_plugin_manager() -> pluggy.PluginManager:
    """A new plugin manager with the hookspecs and the built-in plugins registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
    pm.check_pending()
    return pm


def build_registry(pm: pluggy.PluginManager) -> PluginRegistry:
    """Collect and validate what every registered plugin contributes."""
    registry = PluginRegistry(manager=pm)
    for impl in reversed(pm.hook.register_interaction_kinds.get_hookimpls()):
        name = pm.get_name(impl.plugin) or repr(impl.plugin)
        kinds = cast(list[InteractionKind], impl.function())
        clash = [k.key for k in kinds if k.key in registry.kinds]
        if clash:
            registry.problems.append(
                PluginProblem(name, name, f"interaction kind(s) already registered: {clash}")
            )
            continue
        registry.kinds.update({k.key: k for k in kinds})
    return registry
