"""A breakdown's metrics for all its groups at once: where a metric has a grouped statement
(`*_by` in the metric modules), the first group that asks computes every group's answer in one
statement and the others read theirs; any other metric is computed over each group's scope.

Either way a group's answer is the one its scope alone gives (tests/test_metrics_batch.py holds
that as a property).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

from api.metrics_groups import Groups
from api.metrics_retention import FLOW_FIELDS, Flow, flow, flow_by
from api.metrics_scope import MONEY, Scope, Split
from api.metrics_value import (
    Acquisition,
    HistoricClv,
    acquired_by,
    acquisition_spend,
    churn_moves_by,
    customer_months_by,
    revenue_by,
)

T = TypeVar("T")
NO_FLOW = Flow(*(0 for _ in FLOW_FIELDS))


class GroupBatch:
    """The groups of one breakdown of `scope` (`split` their customers), each answered by key."""

    def __init__(self, scope: Scope, split: Split, groups: dict[str | None, Scope]) -> None:
        self.scope, self.split, self.groups = scope, split, groups
        self._locks: dict[str, asyncio.Lock] = {}
        self._done: dict[str, Any] = {}

    @classmethod
    def of(cls, found: Groups) -> GroupBatch:
        return cls(found.scope, found.split, {g.key: g.scope for g in found.groups})

    async def _once(self, name: str, compute: Callable[[], Awaitable[T]]) -> T:
        # A lock, not a task: the statement runs in the asking resolver's context (its connection).
        async with self._locks.setdefault(name, asyncio.Lock()):
            if name not in self._done:
                self._done[name] = await compute()
        found: T = self._done[name]
        return found

    async def flow(self, key: str | None) -> Flow:
        found = await self._once("flow", lambda: flow_by(self.scope, self.split))
        if found is None:
            return await flow(self.groups[key])
        return found.get(key, NO_FLOW)

    async def revenue(self, key: str | None) -> Decimal:
        found = await self._once("revenue", lambda: revenue_by(self.scope, self.split))
        return found.get(key, Decimal(0).quantize(MONEY))

    async def historic_clv(self, key: str | None) -> HistoricClv:
        months = await self._once(
            "customer_months", lambda: customer_months_by(self.scope, self.split, self.scope.months())
        )
        churned = await self._once("churn_moves", lambda: churn_moves_by(self.scope, self.split))
        return HistoricClv(await self.revenue(key), months.get(key, 0.0), churned.get(key, 0), self.scope.margin)

    async def acquisition(self, key: str | None) -> Acquisition:
        acquired = await self._once("acquired", lambda: acquired_by(self.scope, self.split))
        # Spend is per channel (a small table): each group's own statement.
        return Acquisition(await acquisition_spend(self.groups[key]), acquired.get(key, {}))
