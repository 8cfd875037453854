"""The hook specifications: the contract between Jornada and its plugins.

A plugin is a module (or object) whose functions are decorated with `hookimpl` and named
after the hooks below. Hooks return data; the host does all I/O.
"""

from __future__ import annotations

import pluggy

from plugins.types import InteractionKind

PROJECT_NAME = "jornada"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_interaction_kinds() -> list[InteractionKind]:  # type: ignore[empty-body]
    """Return the interaction kinds this plugin contributes.

    Called once when the plugin manager is built. Every kind's `key` must be unique across all
    plugins; a plugin whose kind repeats a key already registered is rejected, with its
    distribution name in the report, and the service starts without it.

    :return: a list of frozen :class:`plugins.types.InteractionKind`.
    """
