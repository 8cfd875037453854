"""Interactions: recording (validated, idempotent) and reading (keyset pages, batched)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from api import validation as v
from api import webhook_events
from api.bulk import allocate_ids, insert_rows
from api.db import Params, connection, dialect_of, fetch, utc
from api.db import rows as db_rows
from api.errors import InputInvalid, Problem
from api.ids import global_id
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
            Problem(("kind",), "UNKNOWN_KIND", f"Unknown interaction kind {item.kind!r}; see `interactionKinds`.")
        )
    if utc(item.occurred_at) > now + MAX_FUTURE:
        problems.append(Problem(("occurredAt",), "IN_THE_FUTURE", "Must not be more than one day in the future."))
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
            Problem(("idempotencyKey",), "INVALID_IDEMPOTENCY_KEY", f"Must have 1 to {MAX_KEY_LENGTH} characters.")
        )
    if not isinstance(item.properties, dict):
        problems.append(Problem(("properties",), "INVALID_PROPERTIES", "Must be a JSON object."))
    return problems


def _kind_problems(item: NewInteraction, kind: InteractionKind) -> list[Problem]:
    problems = []
    if item.score is not None and not kind.has_score:
        problems.append(Problem(("score",), "SCORE_NOT_ACCEPTED", f"A {kind.key} interaction takes no score."))
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
    conn = connection()
    p = Params(dialect_of(conn))
    sql = f"SELECT c.id FROM customer c WHERE c.workspace_id = {p(workspace_id)} AND {p.among('c.id', sorted(ids))}"
    return {int(r["id"]) for r in await fetch(sql, p, conn)}


async def _by_keys(workspace_id: int, keys: Sequence[str]) -> dict[str, InteractionRecord]:
    if not keys:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {INTERACTION_COLUMNS} FROM interaction i WHERE i.workspace_id = {p(workspace_id)} "
        f"AND {p.among('i.idempotency_key', list(keys), 'text')}"
    )
    found = map(interaction_from_row, await db_rows(sql, p, conn))
    return {r.idempotency_key: r for r in found if r.idempotency_key is not None}


INSERT_COLUMNS = (
    "id",
    "workspace_id",
    "customer_id",
    "kind",
    "channel",
    "occurred_at",
    "amount",
    "score",
    "properties",
    "idempotency_key",
    "created_at",
)
CENT = Decimal("0.0001")  # the column's scale: what a later read returns


def _record(workspace_id: int, iid: int, item: NewInteraction, now: datetime) -> InteractionRecord:
    assert item.customer_id is not None
    return InteractionRecord(
        id=iid,
        workspace_id=workspace_id,
        customer_id=item.customer_id,
        kind=item.kind,
        channel=item.channel,
        occurred_at=utc(item.occurred_at),
        amount=None if item.amount is None else item.amount.quantize(CENT),
        score=item.score,
        properties=item.properties,
        idempotency_key=item.idempotency_key,
        created_at=now,
    )


def _same_event(record: InteractionRecord, item: NewInteraction) -> bool:
    """Whether `item` is a retry of the stored `record`: same customer, kind, time, amount and score."""
    amount = None if item.amount is None else item.amount.quantize(CENT)
    return (record.customer_id, record.kind, record.occurred_at, record.amount, record.score) == (
        item.customer_id,
        item.kind,
        utc(item.occurred_at),
        amount,
        item.score,
    )


def _key_reused(first: InteractionRecord) -> list[Problem]:
    return [
        Problem(
            ("idempotencyKey",),
            "IDEMPOTENCY_KEY_REUSED",
            f"This key was already used for interaction {global_id('Interaction', first.id)} ({first.kind} at "
            f"{first.occurred_at.isoformat()}, customer {global_id('Customer', first.customer_id)}); a retry must "
            "send the same customer, kind, time, amount and score. Use a new key for a new interaction.",
        )
    ]


class _KeyRace(Exception):
    """A concurrent request stored one of the batch's idempotency keys after this one looked it up."""


async def _insert_all(
    workspace_id: int, items: Sequence[NewInteraction], now: datetime, speculate: bool
) -> tuple[list[Recorded | list[Problem]], asyncio.Task[None] | None]:
    """Store valid items in one statement per chunk. An idempotency key seen before (stored
    earlier, by a concurrent request, or by an earlier item of this call) stores nothing: a retry
    of the same interaction answers with the first one, a different interaction under the same key
    is refused (IDEMPOTENCY_KEY_REUSED).

    With `speculate`, the keys are looked up first and the insert is left running (the task
    returned, to be awaited before the connection's next statement): the rules can be evaluated
    meanwhile, as if every item not found were stored. Should a concurrent request store one of
    the keys in between, the task raises `_KeyRace` and the caller starts again without this."""
    conn = connection()
    keys = sorted({i.idempotency_key for i in items if i.idempotency_key is not None})
    existing = await _by_keys(workspace_id, keys) if speculate else {}
    first_of_key: dict[str, int] = {}
    fresh: list[tuple[int, NewInteraction]] = []
    for n, item in enumerate(items):
        key = item.idempotency_key
        if key is not None and (key in first_of_key or key in existing):
            continue
        if key is not None:
            first_of_key[key] = n
        fresh.append((n, item))
    ids = await allocate_ids(conn, "interaction", len(fresh))
    records = {n: _record(workspace_id, iid, item, now) for iid, (n, item) in zip(ids, fresh, strict=True)}
    rows = [
        (
            r.id,
            r.workspace_id,
            r.customer_id,
            r.kind,
            r.channel,
            r.occurred_at,
            r.amount,
            r.score,
            r.properties,
            r.idempotency_key,
            r.created_at,
        )
        for r in records.values()
    ]
    insert = insert_rows(
        conn,
        "interaction",
        INSERT_COLUMNS,
        rows,
        on_conflict="ON CONFLICT (workspace_id, idempotency_key) DO NOTHING",
        returning="id",
    )
    pending: asyncio.Task[None] | None = None
    if speculate:
        pending = asyncio.ensure_future(_all_stored(insert, len(rows)))
        await asyncio.sleep(0)  # let the task send the statement before the caller computes
        created = {r.id for r in records.values()}
    else:
        created = {r["id"] for r in await insert}
        lost = [r.idempotency_key for r in records.values() if r.id not in created and r.idempotency_key]
        existing = await _by_keys(workspace_id, lost)
    out: list[Recorded | list[Problem]] = []
    for n, item in enumerate(items):
        key = item.idempotency_key
        own = records.get(n)
        if own is not None and own.id in created:
            out.append(Recorded(own, created=True))
            continue
        assert key is not None
        first = existing[key] if key in existing else _first_record(out[first_of_key[key]], records[first_of_key[key]])
        out.append(Recorded(first, created=False) if _same_event(first, item) else _key_reused(first))
    return out, pending


async def _all_stored(insert: Awaitable[list[dict[str, Any]]], expected: int) -> None:
    if len(await insert) != expected:
        raise _KeyRace()


def _first_record(outcome: Recorded | list[Problem], own: InteractionRecord) -> InteractionRecord:
    """The interaction an earlier item of this call stored or found under the key."""
    return outcome.interaction if isinstance(outcome, Recorded) else own


async def record_many(
    workspace_id: int,
    items: Sequence[NewInteraction],
    kinds: Mapping[str, InteractionKind],
    now: datetime | None = None,
    lifecycle: Lifecycle | None = None,
) -> list[Recorded | list[Problem]]:
    """Store each valid item; return, per item in order, what was stored or what was wrong.

    An idempotency key already used (earlier, or by an earlier item of the same call) stores
    nothing: the same interaction again returns the first one, a different one is refused.
    Valid items are stored even when others are not.
    """
    moment = utc(now or datetime.now(UTC))
    speculate = lifecycle is not None  # rules to evaluate while the insert runs
    try:
        results, moves = await _transaction(workspace_id, items, kinds, moment, lifecycle, speculate)
    except _KeyRace:
        results, moves = await _transaction(workspace_id, items, kinds, moment, lifecycle, speculate=False)
    _attach(results, moves)
    if lifecycle is not None:
        await lifecycle.publish(moves)
    return results


async def _transaction(
    workspace_id: int,
    items: Sequence[NewInteraction],
    kinds: Mapping[str, InteractionKind],
    moment: datetime,
    lifecycle: Lifecycle | None,
    speculate: bool,
) -> tuple[list[Recorded | list[Problem]], list[TransitionRecord]]:
    """`record_many` in one transaction: what each item became, and the moves made."""
    ids = sorted({i.customer_id for i in items if i.customer_id})
    async with in_transaction():
        tracked = await lifecycle.tracked(workspace_id) if lifecycle else []
        # With rules, the customers are locked and read (facts, stages) at once; without, only
        # their existence is checked.
        live = await lifecycle.load(workspace_id, ids, tracked) if lifecycle else None
        customers = set(live.subjects) if live is not None else await _existing_customers(workspace_id, set(ids))
        results: list[Recorded | list[Problem]] = []
        for item in items:
            if item.customer_id is not None and item.customer_id not in customers:
                item = replace(item, customer_id=None)
            results.append(validate(item, kinds, moment))
        valid = [(n, item) for n, (item, r) in enumerate(zip(items, results, strict=True)) if not r]
        stored, pending = await _insert_all(workspace_id, [item for _, item in valid], moment, speculate)
        new = [r.interaction for r in stored if isinstance(r, Recorded) and r.created]
        moves: list[TransitionRecord] = []
        try:
            if lifecycle is not None and new:
                moves = await lifecycle.apply(workspace_id, [], new, moment, live, tracked, pending)
        finally:
            if pending is not None:
                await asyncio.wait([pending])  # never left running past the transaction
        if pending is not None:
            await pending  # its _KeyRace, if any, rolls the transaction back
        await webhook_events.interactions_recorded(workspace_id, new)
        for (n, _), outcome in zip(valid, stored, strict=True):
            results[n] = outcome
    return results, moves


def _attach(results: list[Recorded | list[Problem]], moves: Sequence[TransitionRecord]) -> None:
    """Give each stored item the moves its interaction caused; a customer's time-based moves go
    with that customer's last item of the call."""
    by_interaction: dict[int, list[TransitionRecord]] = defaultdict(list)
    last_of_customer: dict[int, int] = {}
    for n, r in enumerate(results):
        if isinstance(r, Recorded) and r.created:
            last_of_customer[r.interaction.customer_id] = n
    for t in moves:
        if t.interaction_id is not None:
            by_interaction[t.interaction_id].append(t)
        elif t.customer_id in last_of_customer:
            target = results[last_of_customer[t.customer_id]]
            assert isinstance(target, Recorded)
            by_interaction[target.interaction.id].append(t)
    for n, r in enumerate(results):
        if isinstance(r, Recorded) and r.created:
            results[n] = Recorded(r.interaction, True, sorted(by_interaction[r.interaction.id], key=lambda t: t.id))


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
    return query.page([interaction_from_row(r) for r in await db_rows(sql, p, conn)])


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
    for row in await db_rows(sql, p, conn):
        grouped[row["customer_id"]].append(interaction_from_row(row))
    return {cid: query.page(grouped.get(cid, [])) for cid in ids}


async def count_per_customer(workspace_id: int, customer_ids: Sequence[int], f: InteractionFilter) -> dict[int, int]:
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
    sql = f"SELECT COUNT(*) AS n FROM interaction i WHERE {' AND '.join(filter_conditions(workspace_id, f, p))}"
    return int((await fetch(sql, p, conn))[0]["n"])


async def get_interactions(workspace_id: int, ids: Sequence[int]) -> dict[int, InteractionRecord]:
    if not ids:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT {INTERACTION_COLUMNS} FROM interaction i WHERE i.workspace_id = {p(workspace_id)} "
        f"AND {p.among('i.id', sorted(set(ids)))}"
    )
    return {r.id: r for r in map(interaction_from_row, await db_rows(sql, p, conn))}
