"""Plain, typed rows that services return: decoded once, read as attributes afterwards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from api.db import as_date, as_datetime, as_decimal, as_json, as_optional_datetime


@dataclass(frozen=True, slots=True)
class WorkspaceRecord:
    id: int
    name: str
    currency: str
    timezone: str
    created_at: datetime
    gross_margin: Decimal = Decimal(1)


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: int
    workspace_id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


# The records read in bulk (a replay reads every interaction of the workspace) are not `frozen`:
# a frozen dataclass sets each field through object.__setattr__, 1.9 us for 11 fields against
# 0.3 us. They hold a dict, so they were never hashable; treat them as read-only all the same.
@dataclass(slots=True)
class CustomerRecord:
    id: int
    workspace_id: int
    external_id: str | None
    name: str | None
    sort_name: str
    email: str | None
    phone: str | None
    company: str | None
    job_title: str | None
    industry: str | None
    address: dict[str, Any] | None
    social_profiles: list[dict[str, Any]]
    tags: list[str]
    attributes: dict[str, Any]
    acquisition_channel: str | None
    created_at: datetime
    updated_at: datetime
    # The value of a computed ordering (predicted CLV) when a list is ordered by one.
    rank: float | None = None


class Subject(Protocol):
    """What the lifecycle rules read of a customer: a `CustomerRecord`, or the lighter profile the
    ingestion path loads (`api.live_state.Profile`)."""

    @property
    def id(self) -> int: ...
    @property
    def workspace_id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def job_title(self) -> str | None: ...
    @property
    def industry(self) -> str | None: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def attributes(self) -> dict[str, Any]: ...


@dataclass(slots=True)  # not frozen: see CustomerRecord
class InteractionRecord:
    id: int
    workspace_id: int
    customer_id: int
    kind: str
    channel: str | None
    occurred_at: datetime
    amount: Decimal | None
    score: int | None
    properties: dict[str, Any]
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SpendRecord:
    id: int
    workspace_id: int
    channel: str | None
    period_start: date
    period_end: date
    amount: Decimal
    created_at: datetime


CUSTOMER_COLUMNS = (
    "c.id, c.workspace_id, c.external_id, c.name, c.sort_name, c.email, c.phone, c.company, "
    "c.job_title, c.industry, c.address, c.social_profiles, c.tags, c.attributes, "
    "c.acquisition_channel, c.created_at, c.updated_at"
)

INTERACTION_COLUMNS = (
    "i.id, i.workspace_id, i.customer_id, i.kind, i.channel, i.occurred_at, i.amount, i.score, "
    "i.properties, i.idempotency_key, i.created_at"
)


def customer_from_row(r: dict[str, Any]) -> CustomerRecord:
    return CustomerRecord(
        id=r["id"],
        workspace_id=r["workspace_id"],
        external_id=r["external_id"],
        name=r["name"],
        sort_name=r["sort_name"],
        email=r["email"],
        phone=r["phone"],
        company=r["company"],
        job_title=r["job_title"],
        industry=r["industry"],
        address=as_json(r["address"], None),
        social_profiles=as_json(r["social_profiles"], []),
        tags=as_json(r["tags"], []),
        attributes=as_json(r["attributes"], {}),
        acquisition_channel=r["acquisition_channel"],
        created_at=as_datetime(r["created_at"]),
        updated_at=as_datetime(r["updated_at"]),
        rank=r.get("rank"),
    )


def interaction_from_row(r: Any, moment: Callable[[Any], datetime] = as_datetime) -> InteractionRecord:
    """A row of `INTERACTION_COLUMNS`, read by position (a replay reads millions: asyncpg finds
    a value by index at a fraction of the cost of by name). `moment` reads its two times (a
    replay's read gives them as epoch microseconds)."""
    return InteractionRecord(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        moment(r[5]),
        as_decimal(r[6]),
        r[7],
        as_json(r[8], {}),
        r[9],
        moment(r[10]),
    )


def api_key_from_row(r: dict[str, Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=r["id"],
        workspace_id=r["workspace_id"],
        name=r["name"],
        role=r["role"],
        prefix=r["prefix"],
        created_at=as_datetime(r["created_at"]),
        revoked_at=as_optional_datetime(r["revoked_at"]),
    )


def workspace_from_row(r: dict[str, Any]) -> WorkspaceRecord:
    margin = as_decimal(r.get("gross_margin"))
    return WorkspaceRecord(
        r["id"],
        r["name"],
        r["currency"],
        r["timezone"],
        as_datetime(r["created_at"]),
        margin if margin is not None else Decimal(1),
    )


def spend_from_row(r: dict[str, Any]) -> SpendRecord:
    amount = as_decimal(r["amount"])
    assert amount is not None
    return SpendRecord(
        r["id"],
        r["workspace_id"],
        r["channel"],
        as_date(r["period_start"]),
        as_date(r["period_end"]),
        amount,
        as_datetime(r["created_at"]),
    )


@dataclass(slots=True)  # not frozen: see CustomerRecord (a rebuild reads every move in force)
class TransitionRecord:
    id: int
    workspace_id: int
    customer_id: int
    model_key: str
    model_version: str
    from_stage: str | None
    to_stage: str
    occurred_at: datetime
    cause: str
    rule: str | None
    interaction_id: int | None
    actor: str | None
    note: str | None
    # Written by a rebuild that superseded earlier moves (a late interaction, a rebuild).
    correction: bool = False
    # Set on a move a rebuild replaced: hidden from the history unless asked for.
    superseded_at: datetime | None = None
    superseded_reason: str | None = None


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    customer_id: int
    model_key: str
    stage: str
    entered_at: datetime
    next_check_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkspaceModelRecord:
    model_key: str
    is_primary: bool
    tracked: bool
    params: dict[str, Any]
    enabled_at: datetime


TRANSITION_COLUMNS = (
    "t.id, t.workspace_id, t.customer_id, t.model_key, t.model_version, t.from_stage, t.to_stage, "
    "t.occurred_at, t.cause, t.rule, t.interaction_id, t.actor, t.note, t.correction, t.superseded_at, "
    "t.superseded_reason"
)


def transition_from_row(r: Any) -> TransitionRecord:
    """A row of `TRANSITION_COLUMNS`, read by position (see `interaction_from_row`)."""
    return TransitionRecord(
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        as_datetime(r[7]),
        r[8],
        r[9],
        r[10],
        r[11],
        r[12],
        bool(r[13]),
        as_optional_datetime(r[14]),
        r[15],
    )


def assignment_from_row(r: dict[str, Any]) -> AssignmentRecord:
    return AssignmentRecord(
        customer_id=r["customer_id"],
        model_key=r["model_key"],
        stage=r["stage"],
        entered_at=as_datetime(r["entered_at"]),
        next_check_at=as_optional_datetime(r["next_check_at"]),
    )


def workspace_model_from_row(r: dict[str, Any]) -> WorkspaceModelRecord:
    return WorkspaceModelRecord(
        model_key=r["model_key"],
        is_primary=bool(r["is_primary"]),
        tracked=bool(r["tracked"]),
        params=as_json(r["params"], {}),
        enabled_at=as_datetime(r["enabled_at"]),
    )
