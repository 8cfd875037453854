"""The hook specifications: the contract between Jornada and its plugins.

A plugin is a module (or object) whose functions are decorated with `hookimpl` and named after
the hooks below; a partner package declares it under the entry-point group `jornada`. Hooks
return frozen data; the host does all I/O. Every hook is optional for a plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable

import pluggy

from plugins.types import InteractionKind, LifecycleModel, StageChange

PROJECT_NAME = "jornada"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_lifecycle_models() -> list[LifecycleModel]:  # type: ignore[empty-body]
    """Return the lifecycle models this plugin contributes.

    Called once when the service starts. Each model is validated: a unique `key` across all
    plugins, unique stage keys, an initial stage that exists, transitions whose source and
    target are stages of the model, parameter defaults of their declared type. An invalid model
    is rejected alone, reported with the plugin's distribution name, version and the reason (in
    `jornada plugins` and the `plugins` query), and the service starts with the rest.

    :return: a list of frozen :class:`plugins.types.LifecycleModel`.
    """


@hookspec
def register_interaction_kinds() -> list[InteractionKind]:  # type: ignore[empty-body]
    """Return extra interaction kinds this plugin's criteria rely on.

    Called once when the service starts. A kind whose `key` is already registered (by Jornada
    or another plugin) is rejected with a report naming this plugin; the others load.

    :return: a list of frozen :class:`plugins.types.InteractionKind`.
    """


@hookspec
def on_stage_changed(change: StageChange) -> Awaitable[None] | None:
    """Be told that a customer moved from one stage to another.

    Called after the move is committed, once per move made live: by a rule (an interaction, a
    profile change or the periodic check of time-based rules) or by hand. The server calls it off
    the request path, in commit order, at most once (the queue is in memory), a plain function in
    a thread pool of its own so it never blocks the event loop, each call within
    `JORNADA_HOOK_TIMEOUT` seconds (then it is logged and skipped). Rebuilding a model's
    stages from history (REPLAY when a model is tracked or switched to, MAPPING) writes many past
    moves at once and is not announced move by move. May return an awaitable, which the host
    awaits. An exception (raised or from the awaitable) is logged with the plugin's name and never
    undoes the move nor stops other plugins from being told.

    :param change: the committed move, see :class:`plugins.types.StageChange`.
    """
