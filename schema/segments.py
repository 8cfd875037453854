"""Saved segments: the `Segment` type, the `segments`/`segment` queries and the mutations (EDITOR
writes, every role reads). A segment is used wherever a filter is: `customers(segment:)`,
`CustomerFilter.segment` (so `metrics(segment: {segment: "vip"})`), `jornada export --segment`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api import customers as customer_service
from api import segments as service
from api.errors import InputInvalid, Problem
from schema.context import Info
from schema.customer_filter import CustomerFilter, FilterScope, convert, from_variables, to_variables
from schema.errors import UserError, user_errors
from schema.ids import row_id
from schema.permissions import IsEditor


@strawberry.type(description="A saved customer filter with a key, usable wherever a filter is.")
class Segment(relay.Node):
    id: relay.NodeID[int]
    key: str = strawberry.field(description="How filters name it: `customers(segment: key)`, `{segment: key}`.")
    name: str
    description: str
    filter: JSON = strawberry.field(description="Its `CustomerFilter`, as sent in variables.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_record(cls, r: service.SegmentRecord) -> Segment:
        return cls(
            id=r.id,
            key=r.key,
            name=r.name,
            description=r.description,
            filter=cast(JSON, r.definition),
            created_at=r.created_at,
            updated_at=r.updated_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Segment | None]:
        found = {s.id: s for s in await service.list_segments(info.context.workspace_id)}
        return [cls.from_record(found[i]) if i in found else None for i in map(row_id, node_ids)]

    @strawberry.field(description="How many customers are in it now.")
    async def customer_count(self, info: Info) -> int:
        f = await CustomerFilter(segment=self.key).to_service(info, ())
        return await customer_service.count_customers(info.context.workspace_id, f)


async def all_segments(info: Info) -> list[Segment]:
    return [Segment.from_record(s) for s in await service.list_segments(info.context.workspace_id)]


async def one_segment(info: Info, key: str) -> Segment | None:
    found = await service.get_segment(info.context.workspace_id, key)
    return Segment.from_record(found) if found else None


# --- mutations ------------------------------------------------------------------------------


@strawberry.input(description="A new saved segment.")
class CreateSegmentInput:
    key: str = strawberry.field(description="1 to 64 of a-z, 0-9, '-' and '_'; unique in the workspace.")
    name: str
    filter: CustomerFilter
    description: str = ""


@strawberry.input(description="Changes to a segment; what is left out stays.")
class UpdateSegmentInput:
    id: relay.GlobalID
    key: str | None = None
    name: str | None = None
    description: str | None = None
    filter: CustomerFilter | None = None


@strawberry.input(description="A segment, by id.")
class SegmentIdInput:
    id: relay.GlobalID


@strawberry.type(description="The segment, or what was wrong.")
class SegmentPayload:
    segment: Segment | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The id of the deleted segment, or what was wrong.")
class DeleteSegmentPayload:
    deleted_id: relay.GlobalID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _segment_id(gid: relay.GlobalID) -> int:
    found = row_id(gid.node_id) if gid.type_name == "Segment" else -1
    if found < 0:
        raise InputInvalid([Problem(("id",), "NOT_FOUND", "No Segment with this id in this workspace.")])
    return found


async def _definition(info: Info, f: CustomerFilter, keys: tuple[str, ...]) -> dict[str, object]:
    """The filter as stored, once it has been checked (stages, comparisons, the segments it
    names: none may lead back to the segment, whose `keys` are given)."""
    definition: dict[str, object] = to_variables(f, info.schema)
    await convert(from_variables(definition, info.schema), FilterScope.of(info), ("filter",), keys)
    return definition


def _names(value: object, key: str) -> bool:
    """Whether a stored definition names the segment `key` anywhere."""
    if isinstance(value, dict):
        return value.get("segment") == key or any(_names(v, key) for v in value.values())
    return isinstance(value, list) and any(_names(v, key) for v in value)


async def _not_in_use(info: Info, key: str, field: tuple[str, ...]) -> None:
    """Refuses to delete or rename a segment that other segments name (they would stop working)."""
    users = [s.key for s in await service.list_segments(info.context.workspace_id) if _names(s.definition, key)]
    if users:
        message = f"Segments {users} name {key!r}: change them first."
        raise InputInvalid([Problem(field, "SEGMENT_IN_USE", message)])


@strawberry.type
class SegmentMutation:
    @strawberry.mutation(description="Save a segment (EDITOR).", permission_classes=[IsEditor])
    async def create_segment(self, info: Info, input: CreateSegmentInput) -> SegmentPayload:
        try:
            definition = await _definition(info, input.filter, (input.key,))
            record = await service.create_segment(
                info.context.workspace_id, input.key, input.name, input.description, definition
            )
        except InputInvalid as exc:
            return SegmentPayload(user_errors=user_errors(exc.problems))
        return SegmentPayload(segment=Segment.from_record(record))

    @strawberry.mutation(description="Change a segment (EDITOR).", permission_classes=[IsEditor])
    async def update_segment(self, info: Info, input: UpdateSegmentInput) -> SegmentPayload:
        ws = info.context.workspace_id
        try:
            segment_id = _segment_id(input.id)
            current = await service.get_segment_by_id(ws, segment_id)
            if current is None:
                raise InputInvalid([Problem(("id",), "NOT_FOUND", "No Segment with this id in this workspace.")])
            if input.key is not None and input.key != current.key:
                await _not_in_use(info, current.key, ("key",))
            keys = tuple({current.key, input.key or current.key})
            definition = await _definition(info, input.filter, keys) if input.filter is not None else None
            record = await service.update_segment(
                ws, segment_id, key=input.key, name=input.name, description=input.description, definition=definition
            )
        except InputInvalid as exc:
            return SegmentPayload(user_errors=user_errors(exc.problems))
        if record is None:  # deleted meanwhile
            problem = Problem(("id",), "NOT_FOUND", "No Segment with this id in this workspace.")
            return SegmentPayload(user_errors=user_errors([problem]))
        return SegmentPayload(segment=Segment.from_record(record))

    @strawberry.mutation(description="Delete a segment (EDITOR).", permission_classes=[IsEditor])
    async def delete_segment(self, info: Info, input: SegmentIdInput) -> DeleteSegmentPayload:
        ws = info.context.workspace_id
        try:
            current = await service.get_segment_by_id(ws, _segment_id(input.id))
            if current is not None:
                await _not_in_use(info, current.key, ("id",))
            if current is None or not await service.delete_segment(ws, current.id):
                raise InputInvalid([Problem(("id",), "NOT_FOUND", "No Segment with this id in this workspace.")])
        except InputInvalid as exc:
            return DeleteSegmentPayload(user_errors=user_errors(exc.problems))
        return DeleteSegmentPayload(deleted_id=input.id)
