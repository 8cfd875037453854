"""CSV import of customers and interactions (`jornada import`).

The file is read row by row and stored batch by batch, so memory does not grow with its length.
Every row is checked with the service's own rules (the messages are the API's); a bad row is
reported with its line number and the others are stored. Re-running a file stores nothing twice:
customers are keyed by `external_id`, interactions by `idempotency_key` (derived from the row's
content when the column is empty). Customers and interactions go through the lifecycle exactly as
live writes do; `rebuild` then replays every history (for history imported out of time order).
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TextIO, TypeVar

from tortoise.transactions import in_transaction

from api import validation as v
from api.customers import API_NAMES, clean_customer_fields, create_customer
from api.db import Params, connection, dialect_of, fetch, utc
from api.errors import InputInvalid, Problem
from api.interactions import NewInteraction, record_many, validate
from api.lifecycle import Lifecycle, Tracked
from api.lifecycle_admin import Rebuild, rebuild_tracked
from api.records import TransitionRecord
from plugins.manager import PluginRegistry
from plugins.types import InteractionKind

T = TypeVar("T")

CUSTOMERS, INTERACTIONS = "customers", "interactions"
ATTR, PROP = "attr.", "prop."
CUSTOMER_TEXT = ("external_id", "name", "email", "phone", "company", "job_title", "industry", "acquisition_channel")
ADDRESS_COLUMNS = {
    "address_line1": "line1",
    "address_line2": "line2",
    "address_city": "city",
    "address_region": "region",
    "address_postal_code": "postal_code",
    "address_country": "country",
}
CUSTOMER_CSV_COLUMNS = (*CUSTOMER_TEXT, "tags", *ADDRESS_COLUMNS, "social_profiles", "created_at")
INTERACTION_CSV_COLUMNS = (
    "customer_external_id",
    "kind",
    "occurred_at",
    "channel",
    "amount",
    "score",
    "idempotency_key",
)
COLUMNS = {CUSTOMERS: CUSTOMER_CSV_COLUMNS, INTERACTIONS: INTERACTION_CSV_COLUMNS}
EXTRA_PREFIX = {CUSTOMERS: ATTR, INTERACTIONS: PROP}
REQUIRED = {CUSTOMERS: ("external_id",), INTERACTIONS: ("customer_external_id", "kind", "occurred_at")}
TAG_SEPARATOR = ";"
CUSTOMER_BATCH = 500
INTERACTION_BATCH = 1000
MAX_KEPT_ERRORS = 1000  # with --json: the first ones are listed, the rest only counted
EMPTY = "Must not be empty."

# Problem paths of the services (GraphQL names) back to CSV columns.
_CSV_NAMES = {api: name for name, api in API_NAMES.items()} | {
    "customerId": "customer_external_id",
    "occurredAt": "occurred_at",
    "idempotencyKey": "idempotency_key",
    "properties": "prop",
}
_ADDRESS_BY_KEY = {key: column for column, key in ADDRESS_COLUMNS.items()}


class UsageError(Exception):
    """The command cannot run as asked (missing file, bad header, unreadable file): exit status 2."""


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The columns of a file: where each known column is, and the `attr.`/`prop.` columns."""

    what: str
    index: dict[str, int]
    extras: tuple[tuple[int, str], ...]
    width: int


def parse_header(what: str, cells: Sequence[str]) -> Header:
    """Check a header row: every column known, none twice, the required ones present."""
    known, prefix = COLUMNS[what], EXTRA_PREFIX[what]
    index: dict[str, int] = {}
    extras: list[tuple[int, str]] = []
    unknown: list[str] = []
    problems: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(cells):
        name = raw.strip()
        if name.lower() in known:
            name = name.lower()
            index[name] = position
        elif name.lower().startswith(prefix):
            extra = name[len(prefix) :]
            name = prefix + extra
            if not extra:
                problems.append(f"column {position + 1}: {prefix}<name> needs a name")
            elif what == CUSTOMERS and (bad := _attribute_key_problem(extra)):
                problems.append(f"column {name!r}: {bad}")
            extras.append((position, extra))
        else:
            unknown.append(repr(name) if name else f"(empty name, column {position + 1})")
            continue
        if name in seen:
            problems.append(f"column {name!r} appears twice")
        seen.add(name)
    if unknown:
        listed = ", ".join(known)
        problems.insert(0, f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        problems.append(f"the {what} columns are: {listed}, {prefix}<name>")
    missing = [c for c in REQUIRED[what] if c not in index]
    if missing:
        problems.append(f"missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if problems:
        raise UsageError("; ".join(problems))
    return Header(what, index, tuple(extras), len(cells))


def _attribute_key_problem(key: str) -> str | None:
    try:
        clean_customer_fields({"attributes": {key: ""}})
    except InputInvalid as exc:
        return exc.problems[0].message
    return None


class CsvSource:
    """An open CSV file (UTF-8, comma, header first) whose header has been checked, read lazily.

    Line numbers are those a spreadsheet shows: the header is line 1, each record one line (a
    quoted field spanning several physical lines still counts as one). Empty rows are skipped.
    """

    def __init__(self, what: str, stream: TextIO, name: str) -> None:
        self.what = what
        self.name = name
        self._stream = stream
        self._reader = csv.reader(stream)
        self.line = 0
        first = self._next()
        if first is None:
            raise UsageError(f"{name}: the file is empty; the first row must be the header")
        self.header = parse_header(what, first)

    def _next(self) -> list[str] | None:
        try:
            row = next(self._reader, None)
        except UnicodeDecodeError:
            raise UsageError(f"{self.name}: not UTF-8 text (after line {self.line})") from None
        except csv.Error as exc:
            raise UsageError(f"{self.name}: line {self.line + 1}: not valid CSV: {exc}") from None
        if row is not None:
            self.line += 1
        return row

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        while (row := self._next()) is not None:
            if any(cell.strip() for cell in row):
                yield self.line, row

    def close(self) -> None:
        if self._stream is not sys.stdin:
            self._stream.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(what: str, path: str) -> CsvSource:
    """Open `path` (`-` for standard input) and check its header; UsageError when it cannot be."""
    if path == "-":
        sys.stdin.reconfigure(encoding="utf-8-sig", newline="")  # type: ignore[union-attr]
        return CsvSource(what, sys.stdin, "standard input")
    try:
        # utf-8-sig: a byte-order mark (as some spreadsheets write) is not part of the first column.
        stream = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by CsvSource
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    try:
        return CsvSource(what, stream, path)
    except BaseException:
        stream.close()
        raise


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --- reporting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class Report:
    """What an import did: counts, bad lines (printed to `stream` as they come; the first
    MAX_KEPT_ERRORS kept when `keep_errors`), and a progress line when `stream` is a terminal."""

    stream: TextIO
    keep_errors: bool = False
    progress: bool | None = None
    rows: int = 0
    stored: int = 0
    already_present: int = 0
    failed: int = 0
    errors: list[LineError] = field(default_factory=list)
    errors_omitted: int = 0
    rebuilt: dict[str, Rebuild] = field(default_factory=dict)
    fatal: str | None = None
    _started: float = field(default_factory=time.monotonic, init=False)
    _drawn: float = field(default=0.0, init=False)
    _width: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.progress is None:
            self.progress = self.stream.isatty()

    def begin(self) -> None:
        self._started = time.monotonic()

    def note(self, text: str) -> None:
        """A line for the person at the terminal (nothing when stderr is not one)."""
        if self.progress:
            self.stream.write(f"  {text}\n")
            self.stream.flush()

    def bad(self, line: int, problems: Sequence[tuple[str, str]]) -> None:
        self.failed += 1
        self._clear()
        for column, message in problems:
            error = LineError(line, column, message)
            print(error, file=self.stream)
            if not self.keep_errors:
                continue
            if len(self.errors) < MAX_KEPT_ERRORS:
                self.errors.append(error)
            else:
                self.errors_omitted += 1
        self.stream.flush()

    def advance(self, rows: int, *, force: bool = False) -> None:
        self.rows += rows
        now = time.monotonic()
        if not self.progress or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        rate = self.rows / max(now - self._started, 1e-6)
        text = f"\r  {self.rows:,} rows  {rate:,.0f} rows/s"
        self._width = max(self._width, len(text))
        self.stream.write(text.ljust(self._width))
        self.stream.flush()

    def finish(self) -> None:
        if self.progress:
            self.advance(0, force=True)
            self.stream.write("\n")
            self.stream.flush()

    def _clear(self) -> None:
        if self.progress and self._width:
            self.stream.write("\r" + " " * self._width + "\r")

    def summary(self) -> str:
        lines = [f"stored {self.stored}, already present {self.already_present}, failed {self.failed}"]
        for key, result in self.rebuilt.items():
            customers = sum(result.distribution.values())
            lines.append(f"rebuilt {key}: {customers} customers, {result.transitions_written} transitions")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "stored": self.stored,
            "alreadyPresent": self.already_present,
            "failed": self.failed,
            "rows": self.rows,
            "errors": [e.to_json() for e in self.errors],
        }
        if self.errors_omitted:
            data["errorsOmitted"] = self.errors_omitted
        if self.rebuilt:
            data["rebuilt"] = [
                {
                    "model": key,
                    "customers": sum(r.distribution.values()),
                    "transitions": r.transitions_written,
                    "stages": dict(sorted(r.distribution.items())),
                }
                for key, r in self.rebuilt.items()
            ]
        if self.fatal:
            data["fatal"] = self.fatal
        return data


def csv_field(path: tuple[str, ...] | None) -> str:
    """The CSV column a service problem is about."""
    if not path:
        return "row"
    head = path[0]
    if head == "address" and len(path) > 1:
        return _ADDRESS_BY_KEY.get(_snake(path[1]), "address_" + _snake(path[1]))
    if head in ("attributes", "properties") and len(path) > 1:
        return (ATTR if head == "attributes" else PROP) + path[1]
    if head == "attributes":
        return "attr"
    return _CSV_NAMES.get(head, head)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _problems(problems: Iterable[Problem]) -> list[tuple[str, str]]:
    return [(csv_field(p.field), p.message) for p in problems]


def _in_column_order(header: Header, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    extras = {EXTRA_PREFIX[header.what] + name: position for position, name in header.extras}

    def position(problem: tuple[str, str]) -> int:
        column = problem[0]
        return header.index.get(column, extras.get(column, -1 if column == "row" else header.width))

    return sorted(problems, key=position)


def _cell(cells: Sequence[str], header: Header, column: str) -> str:
    position = header.index.get(column)
    return cells[position].strip() if position is not None else ""


def _width_problem(header: Header, cells: Sequence[str]) -> list[tuple[str, str]]:
    if len(cells) == header.width:
        return []
    return [("row", f"has {len(cells)} fields; the header has {header.width}.")]


def _datetime(raw: str) -> datetime | None:
    try:
        return utc(datetime.fromisoformat(raw))
    except ValueError:
        return None


def _datetime_message(raw: str) -> str:
    return f"{raw!r} is not an ISO 8601 date and time (e.g. 2024-05-01T14:30:00-03:00)."


# --- customers -------------------------------------------------------------------------------


def customer_fields(
    header: Header, cells: Sequence[str], now: datetime
) -> tuple[dict[str, Any], datetime | None, list[tuple[str, str]]]:
    """The service's input for one row, its creation time, and what is wrong with it."""
    problems = _width_problem(header, cells)
    if problems:
        return {}, None, problems
    data: dict[str, Any] = {}
    for column in CUSTOMER_TEXT:
        if value := _cell(cells, header, column):
            data[column] = value
    if "external_id" not in data:
        problems.append(("external_id", EMPTY))
    if tags := _cell(cells, header, "tags"):
        data["tags"] = [t for t in tags.split(TAG_SEPARATOR) if t.strip()]
    address = {key: value for column, key in ADDRESS_COLUMNS.items() if (value := _cell(cells, header, column))}
    if address:
        data["address"] = address
    if profiles := _cell(cells, header, "social_profiles"):
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
    if raw := _cell(cells, header, "created_at"):
        created_at = _datetime(raw)
        if created_at is None:
            problems.append(("created_at", _datetime_message(raw)))
        elif isinstance(checked := v.first_contact(created_at, ("created_at",), now), Problem):
            problems.append(("created_at", checked.message))
    try:
        clean_customer_fields(data)
    except InputInvalid as exc:
        problems += _problems(exc.problems)
    return data, created_at, _in_column_order(header, problems)


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
    problems = _width_problem(header, cells)
    if problems:
        return InteractionRow("", "", None, None, None, None, {}, None, "", problems)
    get = {c: _cell(cells, header, c) for c in INTERACTION_CSV_COLUMNS}
    for column in REQUIRED[INTERACTIONS]:
        if not get[column]:
            problems.append((column, EMPTY))
    occurred_at = _datetime(get["occurred_at"]) if get["occurred_at"] else None
    if get["occurred_at"] and occurred_at is None:
        problems.append(("occurred_at", _datetime_message(get["occurred_at"])))
    amount = None
    if get["amount"]:
        try:
            amount = Decimal(get["amount"])
        except InvalidOperation:
            problems.append(("amount", f"{get['amount']!r} is not a decimal number (e.g. 1234.56)."))
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
            more = [(c, m) for c, m in _interaction_problems(row, validate(item, kinds, now)) if c not in failed]
            bad.append((line, row.problems + more))
        else:
            items.append(item)
            lines.append((line, row))
    results = await record_many(workspace_id, items, kinds, now, lifecycle) if items else []
    for (line, row), result in zip(lines, results, strict=True):
        if isinstance(result, list):
            bad.append((line, _interaction_problems(row, result)))
        elif result.created:
            report.stored += 1
        else:
            report.already_present += 1
    for line, problems in sorted(bad, key=lambda b: b[0]):
        report.bad(line, _in_column_order(header, problems))


def _interaction_problems(row: InteractionRow, problems: Sequence[Problem]) -> list[tuple[str, str]]:
    out = []
    for column, message in _problems(problems):
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
    return report
