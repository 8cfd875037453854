"""Saved segments: named customer filters of a workspace, kept as the `CustomerFilter` input a
client would send (the schema layer checks a definition before it is stored and turns it into
SQL conditions when it is used: `schema.customer_filter`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from api.errors import InputInvalid, Problem, invalid
from api.models import Segment

KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
KEY_RULE = "A segment key has 1 to 64 lower-case letters, digits, '-' or '_', starting with a letter or digit."
MAX_NAME = 200
MAX_DESCRIPTION = 1000
MAX_SEGMENTS = 500  # per workspace


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    id: int
    key: str
    name: str
    description: str
    definition: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def _record(row: Segment) -> SegmentRecord:
    return SegmentRecord(
        row.id, row.key, row.name, row.description, dict(row.definition), row.created_at, row.updated_at
    )


def _checked(key: str | None, name: str | None, description: str | None) -> list[Problem]:
    problems = []
    if key is not None and not KEY.match(key):
        problems.append(Problem(("key",), "INVALID_KEY", KEY_RULE))
    if name is not None and not 1 <= len(name.strip()) <= MAX_NAME:
        problems.append(Problem(("name",), "INVALID_NAME", f"A segment's name has 1 to {MAX_NAME} characters."))
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append(
            Problem(("description",), "INVALID_DESCRIPTION", f"A description has at most {MAX_DESCRIPTION} characters.")
        )
    return problems


def _taken(key: str) -> InputInvalid:
    return invalid(("key",), "KEY_TAKEN", f"This workspace has a segment {key!r} already.")


async def create_segment(
    workspace_id: int, key: str, name: str, description: str, definition: dict[str, Any]
) -> SegmentRecord:
    problems = _checked(key, name, description)
    if problems:
        raise InputInvalid(problems)
    if await Segment.filter(workspace_id=workspace_id).count() >= MAX_SEGMENTS:
        raise invalid(None, "TOO_MANY_SEGMENTS", f"A workspace keeps at most {MAX_SEGMENTS} segments.")
    if await Segment.exists(workspace_id=workspace_id, key=key):
        raise _taken(key)
    now = datetime.now(UTC)
    try:
        row = await Segment.create(
            workspace_id=workspace_id,
            key=key,
            name=name.strip(),
            description=description,
            definition=definition,
            created_at=now,
            updated_at=now,
        )
    except IntegrityError:  # the same key made meanwhile by another request
        raise _taken(key) from None
    return _record(row)


async def update_segment(
    workspace_id: int,
    segment_id: int,
    *,
    key: str | None = None,
    name: str | None = None,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
) -> SegmentRecord | None:
    """The segment changed as given (None: left as it is); None when it does not exist here."""
    problems = _checked(key, name, description)
    if problems:
        raise InputInvalid(problems)
    row = await Segment.get_or_none(id=segment_id, workspace_id=workspace_id)
    if row is None:
        return None
    if key is not None and key != row.key and await Segment.exists(workspace_id=workspace_id, key=key):
        raise _taken(key)
    changes: dict[str, Any] = {"key": key, "name": name and name.strip(), "description": description}
    changes["definition"] = definition
    for attr, value in changes.items():
        if value is not None:
            setattr(row, attr, value)
    row.updated_at = datetime.now(UTC)
    try:
        await row.save()
    except IntegrityError:
        raise _taken(str(key)) from None
    return _record(row)


async def delete_segment(workspace_id: int, segment_id: int) -> bool:
    return await Segment.filter(id=segment_id, workspace_id=workspace_id).delete() > 0


async def list_segments(workspace_id: int) -> list[SegmentRecord]:
    return [_record(r) for r in await Segment.filter(workspace_id=workspace_id).order_by("key")]


async def get_segment(workspace_id: int, key: str) -> SegmentRecord | None:
    if not KEY.match(key):  # no segment has such a key (and the column could not even hold it)
        return None
    row = await Segment.get_or_none(workspace_id=workspace_id, key=key)
    return _record(row) if row else None


async def get_segment_by_id(workspace_id: int, segment_id: int) -> SegmentRecord | None:
    row = await Segment.get_or_none(workspace_id=workspace_id, id=segment_id)
    return _record(row) if row else None
