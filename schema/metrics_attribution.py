"""`Metrics.attribution`: which touchpoints came before the customers who entered a stage in the
period, credited four ways (definitions: docs/metrics.md, "attribution")."""

from __future__ import annotations

from enum import Enum

import strawberry

from api import metrics_attribution as service
from api.errors import invalid
from api.metrics_scope import Scope
from schema.errors import bad_input

MAX_LOOKBACK = 3650


@strawberry.enum(description="What a touchpoint is: the interaction's kind, its channel, or both.")
class TouchpointBy(Enum):
    KIND = "KIND"
    CHANNEL = "CHANNEL"
    KIND_AND_CHANNEL = "KIND_AND_CHANNEL"


@strawberry.type(description="One touchpoint's credit for the conversions, summed over them.")
class Touchpoint:
    kind: str | None = strawberry.field(description="The interaction kind (null unless broken down by kind).")
    channel: str | None = strawberry.field(description="The channel (null: none, or not broken down by channel).")
    first_touch: float = strawberry.field(description="Conversions it was the first touchpoint of.")
    last_touch: float = strawberry.field(description="Conversions it was the last touchpoint of.")
    linear: float = strawberry.field(description="Σ 1/n over the conversions, for each of its n touchpoints.")
    position_based: float = strawberry.field(
        description="40/20/40: 0.4 to the first and the last touchpoint, 0.2 shared by those between (one "
        "touchpoint: 1; two: 0.5 each)."
    )
    conversions: int = strawberry.field(description="Conversions it appears in.")
    share: float | None = strawberry.field(description="conversions ÷ all conversions; null without conversions.")
    median_days: float | None = strawberry.field(description="Median days from it to the conversion, over its touches.")


@strawberry.type(description="Touchpoint attribution of the conversions into `stage` in the period.")
class Attribution:
    stage: str
    lookback_days: int
    conversions: int = strawberry.field(description="Customers who entered the stage in the period (first entry).")
    without_touchpoints: int = strawberry.field(description="Conversions with no touchpoint in the lookback window.")
    touchpoints: list[Touchpoint] = strawberry.field(description="By position-based credit, highest first.")


async def attribution(scope: Scope, stage: str, lookback_days: int, by: TouchpointBy) -> Attribution:
    if scope.model.stage(stage) is None:
        keys = [s.key for s in scope.model.stages]
        raise bad_input(invalid(("stage",), "UNKNOWN_STAGE", f"{scope.model.key} has no stage {stage!r}: {keys}."))
    if not 1 <= lookback_days <= MAX_LOOKBACK:
        raise bad_input(invalid(("lookbackDays",), "OUT_OF_RANGE", f"lookbackDays is from 1 to {MAX_LOOKBACK}."))
    found = await service.attribution(scope, stage, lookback_days, by.value)
    n = found.conversions
    return Attribution(
        stage=found.stage,
        lookback_days=found.lookback_days,
        conversions=n,
        without_touchpoints=found.without_touchpoints,
        touchpoints=[
            Touchpoint(
                kind=t.kind,
                channel=t.channel,
                first_touch=t.first_touch,
                last_touch=t.last_touch,
                linear=t.linear,
                position_based=t.position_based,
                conversions=t.conversions,
                share=round(t.conversions / n, 6) if n else None,
                median_days=t.median_days,
            )
            for t in found.touchpoints
        ],
    )
