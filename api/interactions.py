"""Interactions: recording (validated, idempotent) and reading (keyset pages, batched)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from api import validation as v
from api.db import Params, connection, dialect_of, fetch, utc
from api.errors import InputInvalid, Problem
from api.models import Customer, Interaction
from api.pagination import DESC, KeysetQuery, Page, PageRequest, SortKey
from api.records import INTERACTION_COLUMNS, InteractionRecord, TransitionRecord, interaction_from_row
from plugins.types import InteractionKind

if TYPE_CHECKING:
    from api.lifecycle import Lifecycle

MAX_FUTURE = timedelta(days=1)
MAX_KEY_LENGTH = 200
MAX_CHANNEL_LENGTH = 100

# Newest first, id as tiebreak: the order every interaction list uses.
KEYS = (
    SortKey("occurredAt", "i.occurred_at", DESC, lambda r: r.occurred_at, is_datetime=True),
    SortKey("id", "i.id", DESC, lambda r: r.id),
)


@dataclass(frozen=True)
class NewInteraction:
    customer_id: int | None
    kind: str
    occurred_at: datetime
    channel: str | None = None
    amount: Decimal | None = None
    score: int | None = None
    properties: Any = field(default_factory=dict)  # validated: must be a JSON object
    idempotency_key: str | None = None


@dataclass(frozen=True)
class InteractionFilter:
    kinds: tuple[str, ...] = ()
    channel: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    customer_id: int | None = None


@dataclass(frozen=True)
class Recorded:
    """The outcome of one item: the interaction, whether this call stored it, and the stage
    moves it caused (committed with it)."""

    interaction: InteractionRecord
    created: bool
    transitions: list[TransitionRecord] = field(default_factory=list)


def validate(item: NewInteraction, kinds: Mapping[str, InteractionKind], now: datetime) -> list[Problem]:
    """Every problem of one item, with field paths relative to the item."""
    problems: list[Problem] = []
    if item.customer_id is None:
        problems.append(Problem(("customerId",), "NOT_FOUND", "No customer with this id in this workspace."))
    kind = kinds.get(item.kind)
    if kind is None:
        problems.append(
            Problem(
                ("kind",), "UNKNOWN_KIND", f"Unknown interaction kind {item.kind!r}; see `interactionKinds`."
            )
        )
    if utc(item.occurred_at) > now + MAX_FUTURE:
        problems.append(
            Problem(("occurredAt",), "IN_THE_FUTURE", "Must not be more than one day in the future.")
        )
    if item.amount is not None:
        checked = v.amount(item.amount, ("amount",))
        if isinstance(checked, Problem):
            problems.append(checked)
    if kind is not None:
        problems.extend(_kind_problems(item, kind))
    if item.channel is not None and len(item.channel) > MAX_CHANNEL_LENGTH:
        problems.append(Problem(("channel",), "TOO_LONG", f"At most {MAX_CHANNEL_LENGTH} characters."))
    if item.idempotency_key is not None and not 1 <= len(item.idempotency_key) <= MAX_KEY_LENGTH:
        problems.append(
            Problem(
                ("idempotencyKey",), "INVALID_IDEMPOTENCY_KEY", f"Must have 1 to {MAX_KEY_LENGTH} characters."
            )
        )
    if not isinstance(item.properties, dict):
        problems.append(Problem(("properties",), "INVALID_PROPERTIES", "Must be a JSON object."))
    return problems


def _kind_problems(item: NewInteraction, kind: InteractionKind) -> list[Problem]:
    problems = []
    if item.score is not None and not kind.has_score:
        problems.append(
            Problem(("score",), "SCORE_NOT_ACCEPTED", f"A {kind.key} interaction takes no score.")
        )
    elif item.score is not None and not (kind.score_min or 0) <= item.score <= (kind.score_max or 0):
        problems.append(
            Problem(
                ("score",),
                "SCORE_OUT_OF_RANGE",
                f"A {kind.key} score is from {kind.score_min} to {kind.score_max}, got {item.score}.",
            )
        )
    elif item.score is None and kind.score_required:
        problems.append(
            Problem(
                ("score",),
                "REQUIRED",
                f"A {kind.key} needs a score from {kind.score_min} to {kind.score_max}.",
            )
        )
    if item.amount is None and kind.amount_required:
        problems.append(Problem(("amount",), "REQUIRED", f"A {kind.key} needs an amount."))
    return problems


async def _existing_customers(workspace_id: int, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    rows = await Customer.filter(workspace_id=workspace_id, id__in=list(ids)).values_list("id", flat=True)
    return set(rows)  # type: ignore[arg-type]


async def _by_keys(workspace_id: int, keys: Sequence[str]) -> dict[str, InteractionRecord]:
    if not keys:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {INTERACTION_COLUMNS} FROM interaction i WHERE i.workspace_id = {p(workspace_id)} "
        f"AND i.idempotency_key IN ({p.many(list(keys))})"
    )
    rows = map(interaction_from_row, await fetch(sql, p, conn))
    return {r.idempotency_key: r for r in rows if r.idempotency_key is not None}


async def _insert(workspace_id: int, item: NewInteraction) -> InteractionRecord:
    row = await Interaction.create(
        workspace_id=workspace_id,
        customer_id=item.customer_id,
        kind=item.kind,
        channel=item.channel,
        occurred_at=utc(item.occurred_at),
        amount=item.amount,
        score=item.score,
        properties=item.properties,
        idempotency_key=item.idempotency_key,
    )
    return InteractionRecord(
        id=row.id,
        workspace_id=workspace_id,
        customer_id=item.customer_id or 0,
        kind=item.kind,
        channel=item.channel,
        occurred_at=utc(item.occurred_at),
        # As stored (4 decimal places) and as every later read returns it, not as it was sent.
        amount=None if item.amount is None else item.amount.quantize(Decimal("0.0001")),
        score=item.score,
        properties=item.properties,
        idempotency_key=item.idempotency_key,
        created_at=utc(row.created_at),
    )


async def record_many(
    workspace_id: int,
    items: Sequence[NewInteraction],
    kinds: Mapping[str, InteractionKind],
    now: datetime | None = None,
    lifecycle: Lifecycle | None = None,
) -> list[Recorded | list[Problem]]:
    """Store each valid item; return, per item in order, what was stored or what was wrong.

    An idempotency key already used (earlier, or by an earlier item of the same call) returns the
    first interaction and stores nothing. Valid items are stored even when others are not.
    """
    moment = utc(now or datetime.now(UTC))
    customers = await _existing_customers(workspace_id, {i.customer_id for i in items if i.customer_id})
    results: list[Recorded | list[Problem]] = []
    for item in items:
        if item.customer_id is not None and item.customer_id not in customers:
            item = replace(item, customer_id=None)
        results.append(validate(item, kinds, moment))
    keyed = [i.idempotency_key for i, r in zip(items, results, strict=True) if not r and i.idempotency_key]
    seen = await _by_keys(workspace_id, keyed)
    pending = [(n, item) for n, (item, r) in enumerate(zip(items, results, strict=True)) if not r]
    async with in_transaction():
        for n, item in pending:
            outcome = await _store_one(workspace_id, item, seen)
            if outcome.created and lifecycle is not None:
                moves = await lifecycle.interaction_recorded(outcome.interaction, moment)
                outcome = Recorded(outcome.interaction, True, moves)
            results[n] = outcome
    if lifecycle is not None:
        await lifecycle.publish([t for r in results if isinstance(r, Recorded) for t in r.transitions])
    return results


async def _store_one(workspace_id: int, item: NewInteraction, seen: dict[str, InteractionRecord]) -> Recorded:
    key = item.idempotency_key
    if key is not None and key in seen:
        return Recorded(seen[key], created=False)
    if key is None:
        return Recorded(await _insert(workspace_id, item), created=True)
    try:
        # A savepoint: on PostgreSQL a concurrent request may commit the same key first, and a
        # unique violation must not abort the rest of the batch.
        async with in_transaction():
            stored = await _insert(workspace_id, item)
    except IntegrityError:
        existing = (await _by_keys(workspace_id, [key]))[key]
        seen[key] = existing
        return Recorded(existing, created=False)
    seen[key] = stored
    return Recorded(stored, created=True)


async def record_one(
    workspace_id: int,
    item: NewInteraction,
    kinds: Mapping[str, InteractionKind],
    now: datetime | None = None,
    lifecycle: Lifecycle | None = None,
) -> Recorded:
    (result,) = await record_many(workspace_id, [item], kinds, now, lifecycle)
    if isinstance(result, list):
        raise InputInvalid(result)
    return result


# --- reads --------------------------------------------------------------------------------


def filter_conditions(workspace_id: int, f: InteractionFilter, p: Params) -> list[str]:
    out = [f"i.workspace_id = {p(workspace_id)}"]
    if f.customer_id is not None:
        out.append(f"i.customer_id = {p(f.customer_id)}")
    if f.kinds:
        out.append(f"i.kind IN ({p.many(list(f.kinds))})")
    if f.channel:
        out.append(f"i.channel = {p(f.channel)}")
    if f.occurred_after:
        out.append(f"i.occurred_at >= {p(utc(f.occurred_after))}")
    if f.occurred_before:
        out.append(f"i.occurred_at < {p(utc(f.occurred_before))}")
    return out


async def list_interactions(
    workspace_id: int, f: InteractionFilter, page: PageRequest, *, max_size: int = 100
) -> Page[InteractionRecord]:
    query = KeysetQuery.build(KEYS, page, max_size, max_size)
    conn = connection()
    p = Params(dialect_of(conn))
    where = filter_conditions(workspace_id, f, p) + query.conditions(p)
    sql = (
        f"SELECT {INTERACTION_COLUMNS} FROM interaction i WHERE {' AND '.join(where)} "
        f"ORDER BY {query.order_sql()} LIMIT {p(query.size + 1)}"
    )
    return query.page([interaction_from_row(r) for r in await fetch(sql, p, conn)])


async def newest_per_customer(
    workspace_id: int, customer_ids: Sequence[int], f: InteractionFilter, size: int
) -> dict[int, Page[InteractionRecord]]:
    """The first page (newest first) of each customer's interactions, in one query."""
    query = KeysetQuery(KEYS, size, False, None, None)
    conn = connection()
    p = Params(dialect_of(conn))
    where = " AND ".join(filter_conditions(workspace_id, f, p))
    ids = sorted(set(customer_ids))
    limit = size + 1
    if p.dialect == "postgres":
        # LATERAL + LIMIT walks the (customer_id, occurred_at, id) index backwards per customer
        # and stops after `limit` rows, however long each history is.
        sql = (
            f"SELECT {INTERACTION_COLUMNS} FROM unnest({p(ids)}::int[]) AS k(cid) CROSS JOIN LATERAL ("
            f"SELECT * FROM interaction i WHERE {where} AND i.customer_id = k.cid "
            f"ORDER BY i.occurred_at DESC, i.id DESC LIMIT {p(limit)}) i"
        )
    else:
        sql = (
            f"SELECT * FROM (SELECT {INTERACTION_COLUMNS}, ROW_NUMBER() OVER ("
            "PARTITION BY i.customer_id ORDER BY i.occurred_at DESC, i.id DESC) AS rn "
            f"FROM interaction i WHERE {where} AND i.customer_id IN ({p.many(ids)})) i "
            f"WHERE rn <= {p(limit)} ORDER BY customer_id, rn"
        )
    grouped: dict[int, list[InteractionRecord]] = defaultdict(list)
    for row in await fetch(sql, p, conn):
        grouped[row["customer_id"]].append(interaction_from_row(row))
    return {cid: query.page(grouped.get(cid, [])) for cid in ids}


async def count_per_customer(
    workspace_id: int, customer_ids: Sequence[int], f: InteractionFilter
) -> dict[int, int]:
    conn = connection()
    p = Params(dialect_of(conn))
    where = " AND ".join(filter_conditions(workspace_id, f, p))
    ids = sorted(set(customer_ids))
    sql = (
        f"SELECT i.customer_id, COUNT(*) AS n FROM interaction i WHERE {where} "
        f"AND i.customer_id IN ({p.many(ids)}) GROUP BY i.customer_id"
    )
    counts = {r["customer_id"]: int(r["n"]) for r in await fetch(sql, p, conn)}
    return {cid: counts.get(cid, 0) for cid in ids}


async def count_interactions(workspace_id: int, f: InteractionFilter) -> int:
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT COUNT(*) AS n FROM interaction i WHERE {' AND '.join(filter_conditions(workspace_id, f, p))}"
    )
    return int((await fetch(sql, p, conn))[0]["n"])


async def get_interactions(workspace_id: int, ids: Sequence[int]) -> dict[int, InteractionRecord]:
    if not ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {INTERACTION_COLUMNS} FROM interaction i WHERE i.workspace_id = {p(workspace_id)} "
        f"AND i.id IN ({p.many(list(set(ids)))})"
    )
    return {r.id: r for r in map(interaction_from_row, await fetch(sql, p, conn))}
