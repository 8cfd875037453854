"""Workspaces, API keys and acquisition spend; authentication of a presented key."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tortoise.transactions import in_transaction

from api import validation as v
from api.db import Params, as_json, connection, dialect_of, fetch, read
from api.errors import InputInvalid, Problem, invalid
from api.models import AcquisitionSpend, ApiKey, Workspace, WorkspaceModel
from api.records import (
    ApiKeyRecord,
    SpendRecord,
    WorkspaceModelRecord,
    WorkspaceRecord,
    api_key_from_row,
    spend_from_row,
    workspace_from_row,
    workspace_model_from_row,
)

KEY_PREFIX = "jor_"


class Role(StrEnum):
    ADMIN = "ADMIN"
    EDITOR = "EDITOR"
    VIEWER = "VIEWER"

    def allows(self, needed: Role) -> bool:
        order = (Role.VIEWER, Role.EDITOR, Role.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key, its workspace and its role. Every data access is scoped by it."""

    workspace_id: int
    role: Role
    key_id: int
    key_name: str
    # Read with the key, in the same statement, for the request (None when not read).
    workspace: WorkspaceRecord | None = None
    models: tuple[WorkspaceModelRecord, ...] | None = None

    @property
    def actor(self) -> str:
        return f"apikey:{self.key_id}:{self.key_name}"


def hash_key(secret: str) -> str:
    # Keys are 256 random bits: a plain SHA-256 is enough (no dictionary to guard against).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


# The key, its workspace and the workspace's models, in one statement (one round trip per request).
_MODELS_JSON = {
    "postgres": (
        "SELECT coalesce(json_agg(json_build_object('model_key', m.model_key, 'is_primary', m.is_primary, "
        "'tracked', m.tracked, 'params', m.params, 'enabled_at', m.enabled_at) ORDER BY m.is_primary DESC, "
        "m.model_key), '[]') FROM workspace_model m WHERE m.workspace_id = k.workspace_id"
    ),
    "sqlite": (
        "SELECT json_group_array(json_object('model_key', m.model_key, 'is_primary', m.is_primary, "
        "'tracked', m.tracked, 'params', json(m.params), 'enabled_at', m.enabled_at)) FROM (SELECT * FROM "
        "workspace_model m WHERE m.workspace_id = k.workspace_id ORDER BY m.is_primary DESC, m.model_key) m"
    ),
}


async def authenticate(secret: str) -> Principal | None:
    """The principal of a key, with its workspace and the workspace's models; None when the key is
    unknown or revoked."""
    if not secret.startswith(KEY_PREFIX) or len(secret) > 100:
        return None
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        "SELECT k.id, k.workspace_id, k.role, k.name, w.name AS workspace_name, w.currency, w.timezone, "
        f"w.created_at, w.gross_margin, ({_MODELS_JSON[p.dialect]}) AS models "
        f"FROM api_key k JOIN workspace w ON w.id = k.workspace_id WHERE k.key_hash = {p(hash_key(secret))} "
        "AND k.revoked_at IS NULL"
    )
    found = await read(sql, p)
    if not found:
        return None
    r = dict(found[0])
    workspace = workspace_from_row({**r, "id": r["workspace_id"], "name": r["workspace_name"]})
    models = tuple(workspace_model_from_row(m) for m in as_json(r["models"], []))
    return Principal(r["workspace_id"], Role(r["role"]), r["id"], r["name"], workspace, models)


DEFAULT_MODEL = "funnel"


async def create_workspace(
    name: str, currency: str = "BRL", timezone: str = "UTC", model_key: str = DEFAULT_MODEL
) -> tuple[WorkspaceRecord, str]:
    """A new workspace and the secret of its first ADMIN key (shown once)."""
    problems: list[Problem] = []
    clean_name = v.text(name, ("name",), 200, required=True)
    clean_currency = v.currency(currency, ("currency",))
    clean_tz = v.timezone(timezone, ("timezone",))
    problems += [x for x in (clean_name, clean_currency, clean_tz) if isinstance(x, Problem)]
    if problems:
        raise InputInvalid(problems)
    async with in_transaction():
        ws = await Workspace.create(name=clean_name, currency=clean_currency, timezone=clean_tz)
        await WorkspaceModel.create(
            workspace_id=ws.id,
            model_key=model_key,
            is_primary=True,
            tracked=True,
            params={},
            enabled_at=ws.created_at,
        )
        _, secret = await create_api_key(ws.id, "admin", Role.ADMIN)
    return await get_workspace(ws.id), secret


async def get_workspace(workspace_id: int) -> WorkspaceRecord:
    rows = await Workspace.filter(id=workspace_id).values(
        "id", "name", "currency", "timezone", "created_at", "gross_margin"
    )
    return workspace_from_row(rows[0])


async def list_workspaces() -> list[WorkspaceRecord]:
    rows = (
        await Workspace.all().order_by("id").values("id", "name", "currency", "timezone", "created_at", "gross_margin")
    )
    return [workspace_from_row(r) for r in rows]


async def workspace_counts() -> dict[int, tuple[int, int]]:
    """Per workspace: its customers and its active (unrevoked) API keys, in one statement."""
    conn = connection()
    sql = (
        "SELECT w.id, (SELECT COUNT(*) FROM customer c WHERE c.workspace_id = w.id) AS customers, "
        "(SELECT COUNT(*) FROM api_key k WHERE k.workspace_id = w.id AND k.revoked_at IS NULL) AS keys "
        "FROM workspace w"
    )
    return {
        int(r["id"]): (int(r["customers"]), int(r["keys"])) for r in await fetch(sql, Params(dialect_of(conn)), conn)
    }


async def update_workspace(workspace_id: int, changes: dict[str, Any]) -> WorkspaceRecord:
    """Change the name, time zone or gross margin (0 < margin <= 1) of a workspace."""
    checked: dict[str, Any] = {}
    if "name" in changes:
        checked["name"] = v.text(changes["name"] or "", ("name",), 200, required=True)
    if "timezone" in changes:
        checked["timezone"] = v.timezone(changes["timezone"] or "", ("timezone",))
    if "gross_margin" in changes:
        margin = changes["gross_margin"]
        # Stored with 4 decimal places: 0.00001 would be kept as 0, which the check refuses.
        ok = (
            margin is not None
            and margin.is_finite()
            and Decimal(0) < margin <= Decimal(1)
            and margin == margin.quantize(Decimal("0.0001"))
        )
        checked["gross_margin"] = (
            margin
            if ok
            else Problem(
                ("grossMargin",), "INVALID_MARGIN", "A gross margin is above 0 and at most 1, in at most 4 decimals."
            )
        )
    problems = [x for x in checked.values() if isinstance(x, Problem)]
    values = {k: x for k, x in checked.items() if not isinstance(x, Problem)}
    if problems:
        raise InputInvalid(problems)
    if values:
        await Workspace.filter(id=workspace_id).update(**values)
    return await get_workspace(workspace_id)


async def count_workspaces() -> int:
    return await Workspace.all().count()


async def workspace_exists(workspace_id: int) -> bool:
    return await Workspace.filter(id=workspace_id).exists()


async def create_api_key(workspace_id: int, name: str, role: Role) -> tuple[ApiKeyRecord, str]:
    clean = v.text(name, ("name",), 200, required=True)
    if isinstance(clean, Problem):
        raise InputInvalid([clean])
    secret = new_secret()
    row = await ApiKey.create(
        workspace_id=workspace_id, name=clean, role=role.value, prefix=secret[:12], key_hash=hash_key(secret)
    )
    return (await list_api_keys(workspace_id, ids=[row.id]))[0], secret


async def list_api_keys(workspace_id: int, ids: list[int] | None = None) -> list[ApiKeyRecord]:
    query = ApiKey.filter(workspace_id=workspace_id)
    if ids is not None:
        query = query.filter(id__in=ids)
    rows = await query.order_by("id").values("id", "workspace_id", "name", "role", "prefix", "created_at", "revoked_at")
    return [api_key_from_row(r) for r in rows]


async def revoke_api_key(workspace_id: int, key_id: int, now: datetime | None = None) -> ApiKeyRecord:
    moment = now or datetime.now(UTC)
    updated = await ApiKey.filter(id=key_id, workspace_id=workspace_id, revoked_at__isnull=True).update(
        revoked_at=moment
    )
    found = await list_api_keys(workspace_id, ids=[key_id])
    if not found:
        raise invalid(("id",), "NOT_FOUND", "No API key with this id in this workspace.")
    if not updated:
        raise invalid(("id",), "ALREADY_REVOKED", "This API key was already revoked.")
    return found[0]


async def record_spend(
    workspace_id: int, period_start: date, period_end: date, amount: Decimal, channel: str | None
) -> SpendRecord:
    problems: list[Problem] = []
    checked = v.amount(amount, ("amount",))
    if isinstance(checked, Problem):
        problems.append(checked)
    if period_end < period_start:
        problems.append(Problem(("periodEnd",), "INVALID_PERIOD", "Must not be before periodStart."))
    clean_channel = v.text(channel, ("channel",), 100) if channel is not None else None
    if isinstance(clean_channel, Problem):
        problems.append(clean_channel)
    if problems:
        raise InputInvalid(problems)
    row = await AcquisitionSpend.create(
        workspace_id=workspace_id,
        period_start=period_start,
        period_end=period_end,
        amount=amount,
        channel=clean_channel,
    )
    return (await get_spend(workspace_id, [row.id]))[0]


async def get_spend(workspace_id: int, ids: list[int]) -> list[SpendRecord]:
    rows = await AcquisitionSpend.filter(workspace_id=workspace_id, id__in=ids).values(
        "id", "workspace_id", "channel", "period_start", "period_end", "amount", "created_at"
    )
    return [spend_from_row(r) for r in rows]
