"""Acme's subscription lifecycle for Jornada: the plugin module the `jornada` entry point names.

Jornada registers this module with pluggy: every function below decorated with `hookimpl` and
named after a hook of `plugins.hookspecs` is one of the plugin's hooks. Hooks return data; the
host validates it and does all I/O.
"""

from __future__ import annotations

import logging
from collections import deque

from acme_lifecycle.model import KINDS, MODEL
from plugins.hookspecs import hookimpl
from plugins.types import InteractionKind, LifecycleModel, StageChange

log = logging.getLogger("acme_lifecycle")

# The latest moves in this model, newest last: a harmless, bounded, in-process record (a real
# plugin might post to a webhook here; it must never block nor raise into the host).
RECENT_CHANGES: deque[StageChange] = deque(maxlen=100)


@hookimpl
def register_lifecycle_models() -> list[LifecycleModel]:
    return [MODEL]


@hookimpl
def register_interaction_kinds() -> list[InteractionKind]:
    return list(KINDS)


@hookimpl
def on_stage_changed(change: StageChange) -> None:
    if change.model_key != MODEL.key:
        return  # told about every model's moves; this plugin only cares about its own
    RECENT_CHANGES.append(change)
    log.info(
        "acme: customer %s of workspace %s moved %s -> %s (%s)",
        change.customer_id,
        change.workspace_id,
        change.from_stage,
        change.to_stage,
        change.rule or change.cause,
    )


__all__ = ["KINDS", "MODEL", "RECENT_CHANGES"]
