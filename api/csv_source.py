"""The CSV format of `jornada import` and `jornada export`: the columns, the header, the file
read row by row, and the cell helpers the row parsers share."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO, TypeVar

from api.customers import API_NAMES, clean_customer_fields
from api.db import utc
from api.errors import InputInvalid, Problem

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


# --- cells ---------------------------------------------------------------------------------------


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


def column_problems(problems: Iterable[Problem]) -> list[tuple[str, str]]:
    return [(csv_field(p.field), p.message) for p in problems]


def in_column_order(header: Header, problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    extras = {EXTRA_PREFIX[header.what] + name: position for position, name in header.extras}

    def position(problem: tuple[str, str]) -> int:
        column = problem[0]
        return header.index.get(column, extras.get(column, -1 if column == "row" else header.width))

    return sorted(problems, key=position)


def cell(cells: Sequence[str], header: Header, column: str) -> str:
    position = header.index.get(column)
    return cells[position].strip() if position is not None else ""


def width_problem(header: Header, cells: Sequence[str]) -> list[tuple[str, str]]:
    if len(cells) == header.width:
        return []
    return [("row", f"has {len(cells)} fields; the header has {header.width}.")]


def parse_datetime(raw: str) -> datetime | None:
    try:
        return utc(datetime.fromisoformat(raw))
    except ValueError:
        return None


def datetime_message(raw: str) -> str:
    return f"{raw!r} is not an ISO 8601 date and time (e.g. 2024-05-01T14:30:00-03:00)."
