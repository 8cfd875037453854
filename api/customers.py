"""Customers: the only place where customer rows are read or written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api import validation as v
from api import webhook_events
from api.countries import COUNTRY_CODES
from api.customer_filters import CustomerFilter, filter_conditions
from api.db import Params, connection, dialect_of, fetch, utc
from api.errors import InputInvalid, Problem, invalid
from api.health import HealthWeights, health_sql
from api.journey import RULE
from api.live_state import lock_customers
from api.models import Customer, CustomerTag, Interaction
from api.pagination import ASC, DESC, KeysetQuery, Page, PageRequest, SortKey
from api.records import CUSTOMER_COLUMNS, CustomerRecord, TransitionRecord, customer_from_row

if TYPE_CHECKING:
    from api.lifecycle import Lifecycle

# GraphQL names of the input fields, for the `field` path of errors.
API_NAMES = {
    "external_id": "externalId",
    "job_title": "jobTitle",
    "social_profiles": "socialProfiles",
    "acquisition_channel": "acquisitionChannel",
}
TEXT_LIMITS = {
    "external_id": 200,
    "name": 300,
    "company": 300,
    "job_title": 200,
    "industry": 200,
    "acquisition_channel": 100,
}
ADDRESS_FIELDS = {"line1": 300, "line2": 300, "city": 200, "region": 200, "postal_code": 32, "country": 2}
SOCIAL_FIELDS = {"network": 50, "url": 500, "handle": 200}


def api_name(name: str) -> str:
    return API_NAMES.get(name, name)


ORDER_FIELDS: dict[str, SortKey] = {
    "CREATED_AT": SortKey("createdAt", "c.created_at", ASC, lambda r: r.created_at, is_datetime=True),
    "UPDATED_AT": SortKey("updatedAt", "c.updated_at", ASC, lambda r: r.updated_at, is_datetime=True),
    "NAME": SortKey("name", "c.sort_name", ASC, lambda r: r.sort_name),
    # Customers without a prediction sort as -1 (below any value).
    "PREDICTED_CLV": SortKey("predictedClv", "COALESCE(v.predicted_clv, -1)", ASC, lambda r: r.rank, is_float=True),
    # predicted CLV × (1 − P(alive)): what is lost if the customer slips away; -1 without a prediction.
    "VALUE_AT_RISK": SortKey(
        "valueAtRisk", "COALESCE(v.predicted_clv * (1 - v.p_alive), -1)", ASC, lambda r: r.rank, is_float=True
    ),
    # The health score (api.health); -1 when no part is known.
    "HEALTH": SortKey("health", "COALESCE(h.score, -1)", ASC, lambda r: r.rank, is_float=True),
}
RANKED = ("PREDICTED_CLV", "VALUE_AT_RISK", "HEALTH")  # computed orderings: one at a time
ID_KEY = SortKey("id", "c.id", ASC, lambda r: r.id)


def sort_keys(order: Sequence[tuple[str, str]]) -> list[SortKey]:
    """The ordering asked for (default: newest first), always ending with the id as tiebreak."""
    order = list(order) or [("CREATED_AT", DESC)]
    keys = []
    for field_name, direction in order:
        base = ORDER_FIELDS[field_name]
        keys.append(base if direction == ASC else base.reversed())
    last_direction = keys[-1].direction
    keys.append(ID_KEY if last_direction == ASC else ID_KEY.reversed())
    return keys


# --- writes -------------------------------------------------------------------------------


def _clean_address(value: dict[str, Any] | None, problems: list[Problem]) -> dict[str, Any] | None:
    if value is None:
        return None
    out: dict[str, Any] = {}
    for key, limit in ADDRESS_FIELDS.items():
        raw = value.get(key)
        if raw is None:
            continue
        cleaned = v.text(str(raw), ("address", _camel(key)), limit)
        if isinstance(cleaned, Problem):
            problems.append(cleaned)
        elif cleaned is not None:
            out[key] = cleaned.upper() if key == "country" else cleaned
    if "country" in out and out["country"] not in COUNTRY_CODES:
        problems.append(Problem(("address", "country"), "INVALID_COUNTRY", "Use an ISO 3166-1 alpha-2 code, e.g. BR."))
    return out or None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _clean_profiles(values: list[dict[str, Any]], problems: list[Problem]) -> list[dict[str, Any]]:
    out = []
    for index, profile in enumerate(values):
        item: dict[str, Any] = {}
        for key, limit in SOCIAL_FIELDS.items():
            raw = profile.get(key)
            if raw is None:
                continue
            cleaned = v.text(str(raw), ("socialProfiles", str(index), key), limit, required=key == "network")
            if isinstance(cleaned, Problem):
                problems.append(cleaned)
            elif cleaned is not None:
                item[key] = cleaned
        if "network" not in item:
            problems.append(Problem(("socialProfiles", str(index), "network"), "REQUIRED", "Name the network."))
        if "url" not in item and "handle" not in item:
            problems.append(Problem(("socialProfiles", str(index)), "REQUIRED", "Give a url or a handle."))
        out.append(item)
    return out


def clean_customer_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise the fields present in `data`; raise InputInvalid with every problem."""
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for name, value in data.items():
        path = (api_name(name),)
        cleaned: Any
        if value is None:
            cleaned = [] if name in ("tags", "social_profiles") else {} if name == "attributes" else None
        elif name in TEXT_LIMITS:
            cleaned = v.text(value, path, TEXT_LIMITS[name])
        elif name == "email":
            cleaned = v.email(value, path)
        elif name == "phone":
            cleaned = v.phone(value, path)
        elif name == "tags":
            cleaned = v.tags(value, path)
        elif name == "attributes":
            cleaned = v.attributes(value, path)
        elif name == "address":
            cleaned = _clean_address(value, problems)
        elif name == "social_profiles":
            cleaned = _clean_profiles(value, problems)
        else:
            raise ValueError(f"unknown customer field {name}")
        if isinstance(cleaned, Problem):
            problems.append(cleaned)
        else:
            out[name] = cleaned
    if problems:
        raise InputInvalid(problems)
    return out


def derived_columns(values: dict[str, Any]) -> dict[str, Any]:
    name = values.get("name") or ""
    searchable = " ".join(str(values.get(k) or "") for k in ("name", "email", "company"))
    return {"sort_name": name.casefold()[:300], "search_text": searchable.casefold()}


async def _check_external_id(workspace_id: int, external_id: str | None, exclude: int | None) -> None:
    if external_id is None:
        return
    query = Customer.filter(workspace_id=workspace_id, external_id=external_id)
    if exclude is not None:
        query = query.exclude(id=exclude)
    if await query.exists():
        raise _duplicate_external_id(external_id)


def _duplicate_external_id(external_id: str | None) -> InputInvalid:
    return invalid(
        ("externalId",),
        "DUPLICATE_EXTERNAL_ID",
        f"Another customer of this workspace already has the external id {external_id!r}.",
    )


async def _write_tags(workspace_id: int, customer_id: int, tags: list[str]) -> None:
    await CustomerTag.filter(customer_id=customer_id).delete()
    if tags:
        await CustomerTag.bulk_create(
            [CustomerTag(workspace_id=workspace_id, customer_id=customer_id, tag=t) for t in tags]
        )


@dataclass(frozen=True)
class Saved:
    """A customer after a write, and the stage moves the write caused (already committed)."""

    customer: CustomerRecord
    transitions: list[TransitionRecord]


def _created_at(values: dict[str, Any], moment: datetime) -> datetime | None:
    """Take the validated `created_at` out of `values` (None when not given)."""
    if "created_at" not in values:
        return None
    checked = v.first_contact(values.pop("created_at"), ("createdAt",), moment)
    if isinstance(checked, Problem):
        raise InputInvalid([checked])
    return utc(checked)


async def create_customer(
    workspace_id: int, data: dict[str, Any], now: datetime | None = None, lifecycle: Lifecycle | None = None
) -> Saved:
    """Store a customer. `data["created_at"]`, when given, is its real first contact (loading
    history): its journey starts there and the rules are applied up to `now`."""
    moment = utc(now or datetime.now(UTC))
    data = dict(data)
    if data.get("created_at", 0) is None:  # null on creation: now, as when omitted
        del data["created_at"]
    created_at = _created_at(data, moment) or moment
    values = clean_customer_fields(data)
    values.setdefault("tags", [])
    await _check_external_id(workspace_id, values.get("external_id"), None)
    moves: list[TransitionRecord] = []
    try:
        async with in_transaction():
            row = await Customer.create(
                workspace_id=workspace_id, created_at=created_at, updated_at=moment, **values, **derived_columns(values)
            )
            await _write_tags(workspace_id, row.id, values["tags"])
            record = (await get_customers(workspace_id, [row.id]))[row.id]
            await webhook_events.customer_created(record)
            if lifecycle is not None:
                moves = await lifecycle.customer_created(record, moment)
    except IntegrityError:
        # Lost a race with a concurrent create of the same external id.
        raise _duplicate_external_id(values.get("external_id")) from None
    if lifecycle is not None:
        await lifecycle.publish(moves)
    return Saved(record, moves)


async def update_customer(
    workspace_id: int,
    customer_id: int,
    changes: dict[str, Any],
    now: datetime | None = None,
    lifecycle: Lifecycle | None = None,
) -> Saved:
    """Change some fields. A new `created_at` moves the start of the customer's journey, so the
    customer is rebuilt from its history; other changes let profile rules look again."""
    moment = utc(now or datetime.now(UTC))
    changes = dict(changes)
    created_at = _created_at(changes, moment)
    values = clean_customer_fields(changes)
    current = (await get_customers(workspace_id, [customer_id])).get(customer_id)
    if current is None:
        raise not_found("id", "customer")
    if "external_id" in values:
        await _check_external_id(workspace_id, values["external_id"], customer_id)
    merged = {k: getattr(current, k) for k in ("name", "email", "company")} | values
    values |= derived_columns(merged)
    values["updated_at"] = moment
    moved_start = created_at is not None and created_at != current.created_at
    if moved_start:
        values["created_at"] = created_at
    moves: list[TransitionRecord] = []
    try:
        async with in_transaction():
            await Customer.filter(id=customer_id, workspace_id=workspace_id).update(**values)
            if "tags" in values:
                await _write_tags(workspace_id, customer_id, values["tags"])
            record = (await get_customers(workspace_id, [customer_id]))[customer_id]
            if lifecycle is not None and moved_start:
                reason = f"createdAt changed from {current.created_at.isoformat()} to {record.created_at.isoformat()}"
                moves = (await lifecycle.rebuild(workspace_id, [customer_id], moment, reason, RULE)).transitions
            elif lifecycle is not None:
                moves = await lifecycle.customer_changed(record, moment)
    except IntegrityError:
        raise _duplicate_external_id(values.get("external_id")) from None
    if lifecycle is not None:
        await lifecycle.publish(moves)
    return Saved(record, moves)


async def delete_customer(workspace_id: int, customer_id: int) -> bool:
    """Erase the customer and everything recorded about it. False when it does not exist."""
    async with in_transaction():
        await lock_customers([customer_id])  # not while a batch or a tick writes its journey
        found = await Customer.filter(id=customer_id, workspace_id=workspace_id).first()
        if found is None:
            return False
        await webhook_events.customer_deleted(workspace_id, customer_id, found.external_id)
        await Interaction.filter(customer_id=customer_id, workspace_id=workspace_id).delete()
        await CustomerTag.filter(customer_id=customer_id).delete()
        await Customer.filter(id=customer_id, workspace_id=workspace_id).delete()
    return True


def not_found(field_name: str, what: str) -> InputInvalid:
    return invalid((field_name,), "NOT_FOUND", f"No {what} with this id in this workspace.")


# --- reads --------------------------------------------------------------------------------


async def get_customers(workspace_id: int, ids: Sequence[int]) -> dict[int, CustomerRecord]:
    if not ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {CUSTOMER_COLUMNS} FROM customer c "
        f"WHERE c.workspace_id = {p(workspace_id)} AND {p.among('c.id', sorted(set(ids)))}"
    )
    return {r.id: r for r in map(customer_from_row, await fetch(sql, p, conn))}


async def list_customers(
    workspace_id: int,
    f: CustomerFilter,
    order: Sequence[tuple[str, str]],
    page: PageRequest,
    *,
    max_size: int = 100,
    health: tuple[HealthWeights, datetime] | None = None,
) -> Page[CustomerRecord]:
    """A page of the filter's customers in `order`; ordering by HEALTH needs `health`, the
    workspace's weights and the time the scores are for."""
    ranked = sorted({field for field, _ in order if field in RANKED})
    if len(ranked) > 1:
        raise invalid(("orderBy",), "INVALID_ORDER", f"Order by one of {list(RANKED)} at a time, not {ranked}.")
    query = KeysetQuery.build(sort_keys(order), page, max_size, max_size)
    conn = connection()
    p = Params(dialect_of(conn))
    columns, source = CUSTOMER_COLUMNS, "customer c"
    if ranked:  # (before the conditions: SQLite's placeholders bind in the order they appear)
        columns += f", {ORDER_FIELDS[ranked[0]].sql} AS rank"
    if ranked and ranked[0] == "HEALTH":
        weights, now = health or (HealthWeights(), datetime.now(UTC))
        real = "DOUBLE PRECISION" if p.dialect == "postgres" else "REAL"
        scores = health_sql(workspace_id, weights, now, p.dialect)
        source += f" LEFT JOIN (SELECT x.customer_id, CAST(x.score AS {real}) AS score FROM ({scores}) x) h"
        source += " ON h.customer_id = c.id"
    elif ranked:
        source += f" LEFT JOIN customer_value v ON v.customer_id = c.id AND v.workspace_id = {p(workspace_id)}"
    where = filter_conditions(workspace_id, f, p) + query.conditions(p)
    sql = (
        f"SELECT {columns} FROM {source} WHERE {' AND '.join(where)} "
        f"ORDER BY {query.order_sql()} LIMIT {p(query.size + 1)}"
    )
    rows = [customer_from_row(r) for r in await fetch(sql, p, conn)]
    return query.page(rows)


async def count_customers(workspace_id: int, f: CustomerFilter) -> int:
    conn = connection()
    p = Params(dialect_of(conn))
    sql = f"SELECT COUNT(*) AS n FROM customer c WHERE {' AND '.join(filter_conditions(workspace_id, f, p))}"
    rows = await fetch(sql, p, conn)
    return int(rows[0]["n"])
