"""CSV export of customers and interactions (`jornada export`), in exactly the format that
`jornada import` reads, so an export imports into another workspace unchanged.

Rows are read in keyset pages (customers oldest first, interactions in time order, which is also
the best order to import them in) and written as they come: memory does not grow with the data.
The `attr.`/`prop.` columns are the keys found in the workspace (one extra pass over the keys).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TextIO

from api.csv_source import (
    ADDRESS_COLUMNS,
    ATTR,
    CUSTOMER_CSV_COLUMNS,
    CUSTOMER_TEXT,
    CUSTOMERS,
    INTERACTION_CSV_COLUMNS,
    PROP,
    TAG_SEPARATOR,
)
from api.customer_filters import CustomerFilter, filter_conditions
from api.customers import list_customers
from api.db import Params, as_datetime, as_decimal, as_json, connection, dialect_of, fetch
from api.health import workspace_weights
from api.pagination import ASC, DESC, PageRequest, SortKey, after_clause, order_clause
from api.records import CustomerRecord

PAGE = 1000
# Interactions in time order, id as tiebreak (the `interaction_ws_time` index).
TIME_ORDER = (
    SortKey("occurredAt", "i.occurred_at", ASC, lambda r: r["occurred_at"], is_datetime=True),
    SortKey("id", "i.id", ASC, lambda r: r["id"]),
)


@dataclass
class Exported:
    what: str
    rows: int = 0
    # Rows whose customer has no external id: written with it empty, which `import` refuses.
    without_external_id: int = 0


def cell(value: Any) -> str:
    """A custom attribute or property as text: strings as they are, anything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def decimal_text(value: Decimal | None) -> str:
    return "" if value is None else format(value.normalize(), "f")


async def json_keys(workspace_id: int, table: str, column: str) -> list[str]:
    """Every key used in a JSON-object column of the workspace's rows, sorted."""
    conn = connection()
    p = Params(dialect_of(conn))
    if p.dialect == "postgres":
        sql = (
            f"SELECT DISTINCT jsonb_object_keys(t.{column}) AS k FROM {table} t "
            f"WHERE t.workspace_id = {p(workspace_id)}"
        )
    else:
        sql = (
            f"SELECT DISTINCT j.key AS k FROM {table} t, json_each(t.{column}) j "
            f"WHERE t.workspace_id = {p(workspace_id)} AND json_type(t.{column}) = 'object'"
        )
    return sorted(str(r["k"]) for r in await fetch(sql, p, conn))


ORDERS = {"created": ("CREATED_AT", ASC), "value-at-risk": ("VALUE_AT_RISK", DESC), "health": ("HEALTH", ASC)}


async def _customers(workspace_id: int, only: CustomerFilter, order: str) -> AsyncIterator[list[CustomerRecord]]:
    after: str | None = None
    health = (await workspace_weights(workspace_id), datetime.now(UTC)) if order == "health" else None
    while True:
        page = await list_customers(
            workspace_id, only, [ORDERS[order]], PageRequest(first=PAGE, after=after), max_size=PAGE, health=health
        )
        if page.rows:
            yield page.rows
        if not page.has_next_page:
            return
        after = page.cursors[-1]


def customer_row(c: CustomerRecord, attribute_keys: list[str]) -> list[str]:
    address = c.address or {}
    values = {
        **{column: cell(getattr(c, column)) for column in CUSTOMER_TEXT},
        "tags": TAG_SEPARATOR.join(c.tags),
        **{column: cell(address.get(key)) for column, key in ADDRESS_COLUMNS.items()},
        "social_profiles": json.dumps(c.social_profiles, ensure_ascii=False) if c.social_profiles else "",
        "created_at": c.created_at.isoformat(),
    }
    return [*(values[column] for column in CUSTOMER_CSV_COLUMNS), *(cell(c.attributes.get(k)) for k in attribute_keys)]


async def _interactions(workspace_id: int, only: CustomerFilter) -> AsyncIterator[list[dict[str, Any]]]:
    last: list[Any] | None = None
    while True:
        conn = connection()
        p = Params(dialect_of(conn))
        where = [f"i.workspace_id = {p(workspace_id)}"]
        if only != CustomerFilter():
            where += filter_conditions(workspace_id, only, p)
        if last is not None:
            where.append(after_clause(TIME_ORDER, last, p))
        sql = (
            "SELECT i.id, i.kind, i.channel, i.occurred_at, i.amount, i.score, i.properties, i.idempotency_key, "
            "c.external_id AS customer_external_id FROM interaction i JOIN customer c ON c.id = i.customer_id "
            f"WHERE {' AND '.join(where)} ORDER BY {order_clause(TIME_ORDER)} LIMIT {p(PAGE)}"
        )
        rows = await fetch(sql, p, conn)
        for r in rows:
            r["occurred_at"] = as_datetime(r["occurred_at"])
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        last = [key.value(rows[-1]) for key in TIME_ORDER]


def interaction_row(r: dict[str, Any], property_keys: list[str]) -> list[str]:
    properties = as_json(r["properties"], {})
    values = {
        "customer_external_id": cell(r["customer_external_id"]),
        "kind": r["kind"],
        "occurred_at": r["occurred_at"].isoformat(),
        "channel": cell(r["channel"]),
        "amount": decimal_text(as_decimal(r["amount"])),
        "score": cell(r["score"]),
        "idempotency_key": cell(r["idempotency_key"]),
    }
    return [*(values[column] for column in INTERACTION_CSV_COLUMNS), *(cell(properties.get(k)) for k in property_keys)]


async def write_csv(
    what: str, workspace_id: int, out: TextIO, only: CustomerFilter | None = None, order: str = "created"
) -> Exported:
    """Write the workspace's customers or interactions to `out` as CSV, header first; `only`
    the customers `only` takes (a saved segment, say) and their interactions; customers in
    `order` (a key of ORDERS: the oldest first, the most value at risk first, the least healthy
    first)."""
    only = only or CustomerFilter()
    writer = csv.writer(out, lineterminator="\n")
    result = Exported(what)
    if what == CUSTOMERS:
        keys = await json_keys(workspace_id, "customer", "attributes")
        writer.writerow([*CUSTOMER_CSV_COLUMNS, *(ATTR + k for k in keys)])
        async for customers in _customers(workspace_id, only, order):
            writer.writerows(customer_row(c, keys) for c in customers)
            result.rows += len(customers)
            result.without_external_id += sum(1 for c in customers if not c.external_id)
    else:
        keys = await json_keys(workspace_id, "interaction", "properties")
        writer.writerow([*INTERACTION_CSV_COLUMNS, *(PROP + k for k in keys)])
        async for interactions in _interactions(workspace_id, only):
            writer.writerows(interaction_row(r, keys) for r in interactions)
            result.rows += len(interactions)
            result.without_external_id += sum(1 for r in interactions if not r["customer_external_id"])
    return result


@contextlib.contextmanager
def output(path: str | None) -> Iterator[TextIO]:
    """Standard output, or `path` written whole or not at all (a temporary file renamed at the end)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    partial = f"{path}.part"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
