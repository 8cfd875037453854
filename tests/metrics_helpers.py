"""Helpers for the metrics tests: a workspace's history written at explicit past times through the
real services (customers, interactions, the lifecycle engine and its periodic check), then the
`metrics` query over GraphQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette

from api.customers import create_customer
from api.interactions import NewInteraction, Recorded, record_many
from api.lifecycle import Lifecycle
from plugins.types import InteractionKind
from tests.conftest import Api

METRICS = """
query($period: PeriodInput, $segment: CustomerFilter) {
  metrics(period: $period, segment: $segment) { %s }
}
"""

CONFIGURE = """
mutation($input: ConfigureLifecycleModelInput!) {
  configureLifecycleModel(input: $input) { userErrors { field code message } }
}
"""

MARGIN = """
mutation($m: Decimal) { updateWorkspace(input: {grossMargin: $m}) { userErrors { field code message } } }
"""

SPEND = """
mutation($input: RecordAcquisitionSpendInput!) {
  recordAcquisitionSpend(input: $input) { acquisitionSpend { id } userErrors { field code message } }
}
"""


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def buy(cid: int, when: datetime, amount: str = "100") -> NewInteraction:
    return NewInteraction(cid, "purchase", when, amount=Decimal(amount))


def did(cid: int, kind: str, when: datetime, amount: str | None = None, score: int | None = None) -> NewInteraction:
    return NewInteraction(cid, kind, when, amount=None if amount is None else Decimal(amount), score=score)


def stages(rows: list[dict[str, Any]]) -> dict[str, int]:
    """{stage key: count} of a list of StageCount, without the zero counts."""
    return {r["stage"]["key"]: r["count"] for r in rows if r["count"]}


@dataclass
class History:
    """One workspace whose history a test writes in time order."""

    api: Api
    lifecycle: Lifecycle
    kinds: Mapping[str, InteractionKind]

    @classmethod
    def of(cls, api: Api, app: Starlette) -> History:
        return cls(api, app.state.lifecycle, app.state.plugins.kinds)

    async def configure(self, **params: Any) -> None:
        """Set parameters of the workspace's funnel model (before any customer exists)."""
        data = await self.api.data(CONFIGURE, {"input": {"model": "funnel", "params": params}})
        assert data["configureLifecycleModel"]["userErrors"] == []

    async def customer(self, when: datetime, **fields: Any) -> int:
        """A customer created at `when` (it enters the model's first stage then)."""
        saved = await create_customer(
            self.api.workspace_id, {"name": "C", **fields}, now=when, lifecycle=self.lifecycle
        )
        return saved.customer.id

    async def customers(self, when: datetime, n: int, **fields: Any) -> list[int]:
        return [await self.customer(when, **fields) for _ in range(n)]

    async def record(self, *items: NewInteraction) -> list[Recorded]:
        """Record `items` as if a minute after the latest of them (the engine applies their rules,
        and any time-based rule of their customers that fell due before, at the historical times)."""
        now = max(i.occurred_at for i in items) + timedelta(minutes=1)
        results = await record_many(self.api.workspace_id, list(items), self.kinds, now=now, lifecycle=self.lifecycle)
        for r in results:
            assert isinstance(r, Recorded), r
        return [r for r in results if isinstance(r, Recorded)]

    async def tick(self, when: datetime) -> int:
        """The periodic check run at `when`: time-based moves that fell due, at their due times."""
        return (await self.lifecycle.tick(now=when)).moves

    async def margin(self, value: str) -> None:
        """Set the workspace's gross margin (updateWorkspace)."""
        data = await self.api.data(MARGIN, {"m": value})
        assert data["updateWorkspace"]["userErrors"] == []

    async def spend(self, start: str, end: str, amount: str, channel: str | None = None) -> None:
        input_ = {"periodStart": start, "periodEnd": end, "amount": amount, "channel": channel}
        data = await self.api.data(SPEND, {"input": input_})
        assert data["recordAcquisitionSpend"]["userErrors"] == []

    async def metrics(
        self, fields: str, start: datetime, end: datetime, segment: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        period = {"start": start.isoformat(), "end": end.isoformat()}
        data = await self.api.data(METRICS % fields, {"period": period, "segment": segment})
        found: dict[str, Any] = data["metrics"]
        return found
