"""The CSV format of `jornada import` and `jornada export`: the columns, the header, the file
read row by row, and the cell helpers the row parsers share."""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from itertools import chain
from typing import Any, TextIO, TypeVar

from api.customers import API_NAMES, clean_customer_fields
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
DELIMITERS = {",": ",", ";": ";", "tab": "\t"}
POINT, COMMA = "point", "comma"

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
    decimal: str = POINT  # how amounts write their decimals: POINT (1234.50) or COMMA (1.234,50)


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
        joined = [sep for sep in (";", "\t", ",", "|") if len(cells) == 1 and sep in cells[0]]
        if joined:
            shown = "tab" if joined[0] == "\t" else joined[0]
            problems.append(
                f"hint: the header is one column holding {shown!r}: is the file separated by {shown!r}? "
                f"Say so with --delimiter '{shown}'"
            )
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
    """An open CSV file (UTF-8, header first) whose header has been checked, read lazily.

    `delimiter` is `,`, `;` or `tab`, or `auto`: the one of those the header line holds most
    (Excel in pt-BR writes `;`). `decimal` is how amounts write their decimals: `point`, `comma`
    (`1.234,50`), or `auto`: comma in a `;`-separated file, point otherwise. Line numbers are
    those a spreadsheet shows: the header is line 1, each record one line (a quoted field
    spanning several physical lines still counts as one). Empty rows are skipped. `size` and
    `position()` (bytes) tell how much of a file has been read, when it is a file.
    """

    def __init__(
        self,
        what: str,
        stream: TextIO,
        name: str,
        *,
        delimiter: str = "auto",
        decimal: str = "auto",
        size: int | None = None,
        position: Callable[[], int] | None = None,
    ) -> None:
        self.what = what
        self.name = name
        self.size = size
        self.position = position
        self._stream = stream
        self.line = 0
        try:
            first_line = stream.readline()
        except UnicodeDecodeError:
            raise UsageError(f"{name}: not UTF-8 text (line 1)") from None
        self.delimiter = detect_delimiter(first_line) if delimiter == "auto" else DELIMITERS[delimiter]
        self._reader = csv.reader(chain([first_line], stream), delimiter=self.delimiter)
        first = self._next() if first_line else None
        if first is None:
            raise UsageError(f"{name}: the file is empty; the first row must be the header")
        mode = (COMMA if self.delimiter == ";" else POINT) if decimal == "auto" else decimal
        self.header = replace(parse_header(what, first), decimal=mode)

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


def detect_delimiter(header_line: str) -> str:
    """The delimiter of a file from its header line: the most frequent of `,`, `;` and tab
    (column names hold none of them); `,` for a single column."""
    counts = {d: header_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Counting(io.RawIOBase):
    """A binary file that counts the bytes read from it (for the progress line)."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self.raw.readinto(buffer)
        self.count += n or 0
        return n or 0

    def close(self) -> None:
        self.raw.close()
        super().close()


def open_source(what: str, path: str, *, delimiter: str = "auto", decimal: str = "auto") -> CsvSource:
    """Open `path` (`-` for standard input) and check its header; UsageError when it cannot be."""
    if path == "-":
        sys.stdin.reconfigure(encoding="utf-8-sig", newline="")  # type: ignore[union-attr]
        return CsvSource(what, sys.stdin, "standard input", delimiter=delimiter, decimal=decimal)
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by CsvSource
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from None
    counting = _Counting(raw)
    # utf-8-sig: a byte-order mark (as some spreadsheets write) is not part of the first column.
    stream = io.TextIOWrapper(io.BufferedReader(counting), encoding="utf-8-sig", newline="")
    try:
        size = os.fstat(raw.fileno()).st_size
        return CsvSource(
            what, stream, path, delimiter=delimiter, decimal=decimal, size=size, position=lambda: counting.count
        )
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


_AMOUNT = {
    POINT: re.compile(r"[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?"),  # 1234.5, 1,234.50
    COMMA: re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?"),  # 1234,5, 1.234,50
}


def parse_amount(raw: str, decimal: str) -> Decimal | None:
    """An amount as written with `decimal` (POINT or COMMA) decimals, thousands separators
    allowed; None when it is not one (NaN and infinities are not amounts)."""
    text = raw.replace(" ", "").replace("\u00a0", "")
    if not _AMOUNT[decimal].fullmatch(text):
        return None
    plain = text.replace(",", "") if decimal == POINT else text.replace(".", "").replace(",", ".")
    try:
        return Decimal(plain)
    except InvalidOperation:
        return None


def amount_message(raw: str, decimal: str) -> str:
    if decimal == COMMA:
        return (
            f"{raw!r} is not an amount written with a decimal comma (e.g. 1.234,56 or 1234,56); "
            "use --decimal point for 1234.56."
        )
    return f"{raw!r} is not a decimal number (e.g. 1234.56); use --decimal comma for 1.234,56."
