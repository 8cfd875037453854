"""The typed per-request context: who is calling, what is installed, and fresh DataLoaders."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.dataloader import DataLoader

from api import customers, interactions
from api import lifecycle_store as lifecycle_store
from api import value as value_service
from api.events import StageEvents
from api.health import Health, HealthWeights
from api.interactions import InteractionFilter
from api.lifecycle import Lifecycle, Tracked
from api.pagination import Page
from api.records import (
    AssignmentRecord,
    CustomerRecord,
    InteractionRecord,
    TransitionRecord,
    WorkspaceModelRecord,
)
from api.settings import Settings
from api.value import CustomerValueRecord, ValueModelRecord
from api.workspaces import Principal
from plugins.facts import FactsState
from plugins.manager import PluginRegistry

# (customer id, page size, filter): the key of one customer's first page of interactions.
InteractionsKey = tuple[int, int, InteractionFilter]
CountKey = tuple[int, InteractionFilter]


class Loaders:
    """DataLoaders bound to one workspace; made anew for every request, so nothing leaks."""

    def __init__(
        self, workspace_id: int, lifecycle: Lifecycle, models: Sequence[WorkspaceModelRecord] | None = None
    ) -> None:
        self.workspace_id = workspace_id
        self.lifecycle = lifecycle
        # Read with the API key when given (one round trip fewer per request).
        self._known_models = list(models) if models is not None else None
        self._models: asyncio.Future[list[WorkspaceModelRecord]] | None = None
        self._value_model: asyncio.Future[ValueModelRecord | None] | None = None
        self.health_weights: asyncio.Future[HealthWeights] | None = None  # (schema.insights reads it)
        self.health: DataLoader[int, Health | None] | None = None  # made by schema.insights when asked
        self.transition = DataLoader[int, TransitionRecord | None](self._transitions)
        self.value = DataLoader[int, CustomerValueRecord | None](self._values)
        self.facts = DataLoader[int, FactsState](self._facts)
        self.assignments = DataLoader[int, dict[str, AssignmentRecord]](self._assignments)
        self.customer = DataLoader[int, CustomerRecord | None](self._customers)
        self.interaction = DataLoader[int, InteractionRecord | None](self._interactions)
        self.customer_interactions = DataLoader[InteractionsKey, Page[InteractionRecord]](self._newest)
        self.customer_interaction_count = DataLoader[CountKey, int](self._counts)

    async def workspace_models(self) -> list[WorkspaceModelRecord]:
        """The workspace's models, read once per request (with the key, unless they changed since)."""
        if self._known_models is not None:
            return self._known_models
        if self._models is None:
            # A task, not its result: the resolvers of a list ask at once, and each would
            # otherwise find nothing cached yet and run the query itself.
            self._models = asyncio.ensure_future(lifecycle_store.workspace_models(self.workspace_id))
        return await self._models

    async def value_model(self) -> ValueModelRecord | None:
        """The workspace's value model (its fit's status), read once per request."""
        if self._value_model is None:
            self._value_model = asyncio.ensure_future(value_service.get_model(self.workspace_id))
        return await self._value_model

    async def tracked(self) -> list[Tracked]:
        """The tracked, installed models, primary first."""
        return self.lifecycle.resolve(await self.workspace_models())

    async def _values(self, ids: list[int]) -> Sequence[CustomerValueRecord | None]:
        found = await value_service.customer_values(self.workspace_id, ids)
        return [found.get(i) for i in ids]

    async def _facts(self, ids: list[int]) -> Sequence[FactsState]:
        found = await lifecycle_store.facts_of(self.workspace_id, ids)
        return [found.get(i) or FactsState() for i in ids]

    async def _transitions(self, ids: list[int]) -> Sequence[TransitionRecord | None]:
        found = await lifecycle_store.transitions_by_id(self.workspace_id, ids)
        return [found.get(i) for i in ids]

    async def _assignments(self, customer_ids: list[int]) -> Sequence[dict[str, AssignmentRecord]]:
        keys = [t.key for t in await self.tracked()]
        by_customer: dict[int, dict[str, AssignmentRecord]] = defaultdict(dict)
        for a in await lifecycle_store.positions(self.workspace_id, customer_ids, keys):
            by_customer[a.customer_id][a.model_key] = a
        return [by_customer.get(cid, {}) for cid in customer_ids]

    async def _customers(self, ids: list[int]) -> Sequence[CustomerRecord | None]:
        found = await customers.get_customers(self.workspace_id, ids)
        return [found.get(i) for i in ids]

    async def _interactions(self, ids: list[int]) -> Sequence[InteractionRecord | None]:
        found = await interactions.get_interactions(self.workspace_id, ids)
        return [found.get(i) for i in ids]

    async def _newest(self, keys: list[InteractionsKey]) -> Sequence[Page[InteractionRecord]]:
        groups: dict[tuple[int, InteractionFilter], list[int]] = defaultdict(list)
        for cid, size, f in keys:
            groups[(size, f)].append(cid)
        pages: dict[InteractionsKey, Page[InteractionRecord]] = {}
        for (size, f), cids in groups.items():
            found = await interactions.newest_per_customer(self.workspace_id, cids, f, size)
            pages.update({(cid, size, f): found[cid] for cid in cids})
        return [pages[k] for k in keys]

    async def _counts(self, keys: list[CountKey]) -> Sequence[int]:
        groups: dict[InteractionFilter, list[int]] = defaultdict(list)
        for cid, f in keys:
            groups[f].append(cid)
        counts: dict[CountKey, int] = {}
        for f, cids in groups.items():
            found = await interactions.count_per_customer(self.workspace_id, cids, f)
            counts.update({(cid, f): found[cid] for cid in cids})
        return [counts[k] for k in keys]


@dataclass
class Context:
    """What every resolver gets as `info.context`."""

    request: Any
    response: Any
    settings: Settings
    registry: PluginRegistry
    lifecycle: Lifecycle
    events: StageEvents
    principal: Principal | None = None
    connection_params: dict[str, Any] | None = None
    _loaders: Loaders | None = field(default=None, repr=False)
    _models_changed: bool = field(default=False, repr=False)

    @property
    def caller(self) -> Principal:
        if self.principal is None:  # only reachable over a WebSocket without connection_init auth
            raise GraphQLError("Authentication required.", extensions={"code": "UNAUTHENTICATED"})
        return self.principal

    @property
    def workspace_id(self) -> int:
        return self.caller.workspace_id

    def reset_loaders(self) -> None:
        self._loaders = None
        self._models_changed = True  # what was read with the key is out of date

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            models = None if self._models_changed else self.caller.models
            self._loaders = Loaders(self.workspace_id, self.lifecycle, models)
        return self._loaders


Info = strawberry.Info[Context, None]
