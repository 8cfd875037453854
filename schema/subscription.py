"""Live stage changes over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from api import lifecycle_store
from schema.context import Info
from schema.lifecycle import StageTransition


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every stage move committed in this workspace from now on, by any worker; optionally "
        "only in `model` and only into one of `stages`."
    )
    async def stage_changed(
        self, info: Info, model: str | None = None, stages: list[str] | None = None
    ) -> AsyncGenerator[StageTransition, None]:
        ctx = info.context
        workspace_id = ctx.workspace_id
        async for ids in ctx.events.subscribe(workspace_id):
            ctx.reset_loaders()  # a subscription lives long: never serve cached rows
            found = await lifecycle_store.transitions_by_id(workspace_id, ids)
            for t in sorted(found.values(), key=lambda x: x.id):
                if (model is None or t.model_key == model) and (not stages or t.to_stage in stages):
                    yield StageTransition.from_record(ctx.registry, t)
