"""CSV import of customers and interactions (`jornada import`).

The file is read row by row and stored batch by batch, so memory does not grow with its length.
Every row is checked with the service's own rules (the messages are the API's); a bad row is
reported with its line number and the others are stored. Re-running a file stores nothing twice:
customers are keyed by `external_id`, interactions by `idempotency_key` (derived from the row's
content when the column is empty). Customers and interactions go through the lifecycle exactly as
live writes do, in event time; `rebuild` then replays every history (a check). The format itself
is in `csv_source`, the report in `csv_report`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from api import validation as v
from api.bulk import refresh_statistics
from api.csv_report import Report
from api.csv_source import (
    ADDRESS_COLUMNS,
    CUSTOMER_BATCH,
    CUSTOMER_CSV_COLUMNS,
    CUSTOMER_TEXT,
    CUSTOMERS,
    EMPTY,
    INTERACTION_BATCH,
    INTERACTION_CSV_COLUMNS,
    INTERACTIONS,
    REQUIRED,
    TAG_SEPARATOR,
    CsvSource,
    Header,
    UsageError,
    amount_message,
    batched,
    cell,
    column_problems,
    in_column_order,
    open_source,
    parse_amount,
    width_problem,
)
from api.customers import clean_customer_fields, create_customer
from api.db import Params, connection, dialect_of, fetch
from api.errors import InputInvalid, Problem
from api.interactions import NewInteraction, record_many, validate
from api.lifecycle import Lifecycle, Tracked
from api.lifecycle_admin import rebuild_tracked
from api.records import TransitionRecord
from api.validation import datetime_message, parse_datetime
from plugins.manager import PluginRegistry
from plugins.types import InteractionKind

# What the command line and tests use; the format and the report live in their own modules.
__all__ = [
    "CUSTOMER_CSV_COLUMNS",
    "CsvSource",
    "Report",
    "UsageError",
    "import_customers",
    "import_interactions",
    "open_source",
    "run_import",
]

# --- customers -------------------------------------------------------------------------------


def customer_fields(
    header: Header, cells: Sequence[str], now: datetime
) -> tuple[dict[str, Any], datetime | None, list[tuple[str, str]]]:
    """The service's input for one row, its creation time, and what is wrong with it."""
    problems = width_problem(header, cells)
    if problems:
        return {}, None, problems
    data: dict[str, Any] = {}
    for column in CUSTOMER_TEXT:
        if value := cell(cells, header, column):
            data[column] = value
    if "external_id" not in data:
        problems.append(("external_id", EMPTY))
    if tags := cell(cells, header, "tags"):
        data["tags"] = [t for t in tags.split(TAG_SEPARATOR) if t.strip()]
    address = {key: value for column, key in ADDRESS_COLUMNS.items() if (value := cell(cells, header, column))}
    if address:
        data["address"] = address
    if profiles := cell(cells, header, "social_profiles"):
        try:
            parsed = json.loads(profiles)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(p, dict) for p in parsed):
            data["social_profiles"] = parsed
        else:
            problems.append(("social_profiles", 'Must be a JSON list like [{"network": "linkedin", "url": "..."}].'))
    attributes = {name: value for position, name in header.extras if (value := cells[position].strip())}
    if attributes:
        data["attributes"] = attributes
    created_at = None
    if raw := cell(cells, header, "created_at"):
        created_at = parse_datetime(raw)
        if created_at is None:
            problems.append(("created_at", datetime_message(raw)))
        elif isinstance(checked := v.first_contact(created_at, ("created_at",), now), Problem):
            problems.append(("created_at", checked.message))
    try:
        clean_customer_fields(data)
    except InputInvalid as exc:
        problems += column_problems(exc.problems)
    return data, created_at, in_column_order(header, problems)


async def _existing_external_ids(workspace_id: int, external_ids: Sequence[str]) -> set[str]:
    if not external_ids:
        return set()
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT external_id FROM customer WHERE workspace_id = {p(workspace_id)} "
        f"AND external_id IN ({p.many(sorted(set(external_ids)))})"
    )
    return {r["external_id"] for r in await fetch(sql, p, conn)}


async def import_customers(
    source: CsvSource, workspace_id: int, lifecycle: Lifecycle, report: Report, batch_size: int = CUSTOMER_BATCH
) -> None:
    """Create each new customer of the file (through the lifecycle: placed in its initial stages at
    its `created_at`); a row whose external id exists already is counted, not stored."""
    for batch in batched(source.rows(), batch_size):
        await _customer_batch(source.header, workspace_id, lifecycle, report, batch)
        report.advance(len(batch))


async def _customer_batch(
    header: Header, workspace_id: int, lifecycle: Lifecycle, report: Report, batch: list[tuple[int, list[str]]]
) -> None:
    now = datetime.now(UTC)
    valid: list[tuple[dict[str, Any], datetime | None]] = []
    for line, cells in batch:
        data, created_at, problems = customer_fields(header, cells, now)
        if problems:
            report.bad(line, problems)
        else:
            valid.append((data, created_at))
    present = await _existing_external_ids(workspace_id, [d["external_id"].strip() for d, _ in valid])
    # One transaction per batch (each customer in a savepoint); moves are published after commit.
    batch_lifecycle = _BatchLifecycle(lifecycle.registry)
    stored = already = 0
    async with in_transaction():
        for data, created_at in valid:
            external_id = data["external_id"].strip()
            if external_id in present:
                already += 1
                continue
            try:
                first = {"created_at": created_at} if created_at else {}
                await create_customer(workspace_id, {**data, **first}, now=now, lifecycle=batch_lifecycle)
            except InputInvalid:  # created by someone else meanwhile
                already += 1
                continue
            present.add(external_id)
            stored += 1
    report.stored += stored
    report.already_present += already
    await lifecycle.publish(batch_lifecycle.moves)


class _BatchLifecycle(Lifecycle):
    """The lifecycle inside one batch's transaction: the tracked models are read once for the
    batch (as `record_many` does), and the moves are kept to be published after commit."""

    def __init__(self, registry: PluginRegistry) -> None:
        super().__init__(registry, self._collect)
        self.moves: list[TransitionRecord] = []
        self._tracked: dict[int, list[Tracked]] = {}

    async def _collect(self, transitions: Sequence[TransitionRecord]) -> None:
        self.moves.extend(transitions)

    async def tracked(self, workspace_id: int) -> list[Tracked]:
        if workspace_id not in self._tracked:
            self._tracked[workspace_id] = await super().tracked(workspace_id)
        return self._tracked[workspace_id]


# --- interactions ----------------------------------------------------------------------------


@dataclass
class InteractionRow:
    """One interaction row, parsed; `digest` fingerprints its content (for a derived key)."""

    external_id: str
    kind: str
    occurred_at: datetime | None
    channel: str | None
    amount: Decimal | None
    score: int | None
    properties: dict[str, str]
    key: str | None
    digest: str
    problems: list[tuple[str, str]]


def interaction_row(header: Header, cells: Sequence[str]) -> InteractionRow:
    problems = width_problem(header, cells)
    if problems:
        return InteractionRow("", "", None, None, None, None, {}, None, "", problems)
    get = {c: cell(cells, header, c) for c in INTERACTION_CSV_COLUMNS}
    for column in REQUIRED[INTERACTIONS]:
        if not get[column]:
            problems.append((column, EMPTY))
    occurred_at = parse_datetime(get["occurred_at"]) if get["occurred_at"] else None
    if get["occurred_at"] and occurred_at is None:
        problems.append(("occurred_at", datetime_message(get["occurred_at"])))
    amount = parse_amount(get["amount"], header.decimal) if get["amount"] else None
    if get["amount"] and amount is None:
        problems.append(("amount", amount_message(get["amount"], header.decimal)))
    score = None
    if get["score"]:
        try:
            score = int(get["score"])
        except ValueError:
            problems.append(("score", f"{get['score']!r} is not a whole number."))
    properties = {name: value for position, name in header.extras if (value := cells[position].strip())}
    content = [
        get["customer_external_id"],
        get["kind"],
        occurred_at.isoformat() if occurred_at else get["occurred_at"],
        get["channel"],
        str(amount.normalize()) if amount is not None and amount.is_finite() else get["amount"],
        str(score) if score is not None else get["score"],
        sorted(properties.items()),
    ]
    digest = hashlib.sha1(json.dumps(content, ensure_ascii=False).encode(), usedforsecurity=False).hexdigest()
    return InteractionRow(
        external_id=get["customer_external_id"],
        kind=get["kind"],
        occurred_at=occurred_at,
        channel=get["channel"] or None,
        amount=amount,
        score=score,
        properties=properties,
        key=get["idempotency_key"] or None,
        digest=digest,
        problems=problems,
    )


class Occurrences:
    """How many rows of each content the file had so far, for derived idempotency keys: the n-th
    row of some content gets `csv:<sha1 of the content>:<n>`, so identical rows are distinct
    interactions and a re-run finds the same keys. Counts live in a private temporary SQLite
    database (on disk once past its small page cache): memory stays flat however long the file."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE seen (digest TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")

    def number(self, digests: Sequence[str]) -> list[int]:
        counts: dict[str, int] = {}
        unique = sorted(set(digests))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            counts.update(self._db.execute(f"SELECT digest, n FROM seen WHERE digest IN ({marks})", chunk))
        out = []
        for digest in digests:
            counts[digest] = counts.get(digest, 0) + 1
            out.append(counts[digest])
        self._db.executemany(
            "INSERT INTO seen (digest, n) VALUES (?, ?) ON CONFLICT (digest) DO UPDATE SET n = excluded.n",
            counts.items(),
        )
        return out

    def close(self) -> None:
        self._db.close()


def derived_key(digest: str, occurrence: int) -> str:
    return f"csv:{digest}:{occurrence}"


async def _customer_ids(workspace_id: int, external_ids: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(external_ids))
    if not wanted:
        return {}
    conn = connection()
    p = Params(dialect_of(conn))
    sql = (
        f"SELECT id, external_id FROM customer WHERE workspace_id = {p(workspace_id)} "
        f"AND external_id IN ({p.many(wanted)})"
    )
    return {r["external_id"]: r["id"] for r in await fetch(sql, p, conn)}


async def import_interactions(
    source: CsvSource,
    workspace_id: int,
    lifecycle: Lifecycle,
    report: Report,
    batch_size: int = INTERACTION_BATCH,
) -> None:
    """Record the file's interactions `batch_size` at a time through `record_many` (the rules run
    as for live interactions); a key already used is counted, not stored."""
    occurrences = Occurrences()
    try:
        for batch in batched(source.rows(), batch_size):
            await _interaction_batch(source.header, workspace_id, lifecycle, report, batch, occurrences)
            report.advance(len(batch))
    finally:
        occurrences.close()


async def _interaction_batch(
    header: Header,
    workspace_id: int,
    lifecycle: Lifecycle,
    report: Report,
    batch: list[tuple[int, list[str]]],
    occurrences: Occurrences,
) -> None:
    kinds: Mapping[str, InteractionKind] = lifecycle.registry.kinds
    now = datetime.now(UTC)
    rows = [(line, interaction_row(header, cells)) for line, cells in batch]
    unkeyed = [row for _, row in rows if row.key is None and row.digest]
    for row, n in zip(unkeyed, occurrences.number([r.digest for r in unkeyed]), strict=True):
        row.key = derived_key(row.digest, n)
    ids = await _customer_ids(workspace_id, (r.external_id for _, r in rows if r.external_id))
    items: list[NewInteraction] = []
    lines: list[tuple[int, InteractionRow]] = []
    bad: list[tuple[int, list[tuple[str, str]]]] = []
    for line, row in rows:
        item = NewInteraction(
            customer_id=ids.get(row.external_id),
            kind=row.kind,
            occurred_at=row.occurred_at or now,
            channel=row.channel,
            amount=row.amount,
            score=row.score,
            properties=row.properties,
            idempotency_key=row.key,
        )
        if not row.digest:  # not even the right number of fields
            bad.append((line, row.problems))
        elif row.problems or item.customer_id is None:
            # Not sent: report what the parse found and everything else the service would say.
            failed = {column for column, _ in row.problems}
            more = [(c, m) for c, m in _interactioncolumn_problems(row, validate(item, kinds, now)) if c not in failed]
            bad.append((line, row.problems + more))
        else:
            items.append(item)
            lines.append((line, row))
    results = await record_many(workspace_id, items, kinds, now, lifecycle) if items else []
    for (line, row), result in zip(lines, results, strict=True):
        if isinstance(result, list):
            bad.append((line, _interactioncolumn_problems(row, result)))
        elif result.created:
            report.stored += 1
        else:
            report.already_present += 1
    for line, problems in sorted(bad, key=lambda b: b[0]):
        report.bad(line, in_column_order(header, problems))


def _interactioncolumn_problems(row: InteractionRow, problems: Sequence[Problem]) -> list[tuple[str, str]]:
    out = []
    for column, message in column_problems(problems):
        if column == "customer_external_id" and row.external_id:
            message = f"No customer with the external id {row.external_id!r} in this workspace."
        out.append((column, message))
    return out


# --- the command -------------------------------------------------------------------------------


async def run_import(
    source: CsvSource,
    workspace_id: int,
    lifecycle: Lifecycle,
    report: Report,
    *,
    rebuild: bool = False,
    batch_size: int | None = None,
) -> Report:
    """Import the whole file, then (when asked) rebuild every tracked model by replay. A file that
    turns out unreadable midway stops the import (`report.fatal`); what was stored stays."""
    report.follow(source.size, source.position)
    report.begin()
    try:
        if source.what == CUSTOMERS:
            await import_customers(source, workspace_id, lifecycle, report, batch_size or CUSTOMER_BATCH)
        else:
            await import_interactions(source, workspace_id, lifecycle, report, batch_size or INTERACTION_BATCH)
    except UsageError as exc:
        report.fatal = str(exc)
    finally:
        report.finish()
    if rebuild and report.fatal is None:
        report.note("rebuilding every tracked model's stages by replay...")
        report.rebuilt = await rebuild_tracked(lifecycle, workspace_id)
    elif report.stored:
        await refresh_statistics(connection())  # rebuild_tracked refreshes them itself
    return report
