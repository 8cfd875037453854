"""Keyset (cursor) pagination: stable while rows are inserted, never OFFSET, never a full read.

A cursor is the sort key of one row plus its id, with the ordering it belongs to, in opaque
base64 JSON. `last` without `before` reads the ordering backwards with a LIMIT, so it costs the
same as `first`.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from api.db import Params, as_datetime
from api.errors import invalid

T = TypeVar("T")

ASC = "ASC"
DESC = "DESC"


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering. `value` reads the key's value off a decoded row."""

    name: str
    sql: str
    direction: str
    value: Callable[[Any], Any]
    is_datetime: bool = False
    is_float: bool = False

    def reversed(self) -> SortKey:
        direction = DESC if self.direction == ASC else ASC
        return SortKey(self.name, self.sql, direction, self.value, self.is_datetime, self.is_float)


@dataclass(frozen=True)
class PageRequest:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


@dataclass
class Page(Generic[T]):
    rows: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool


def check_page(page: PageRequest, max_size: int, default_size: int) -> tuple[int, bool]:
    """The page size and whether it reads backwards; a size out of range is a clear error."""
    if page.first is not None and page.last is not None:
        raise invalid(("first",), "INVALID_PAGINATION", "Pass either `first` or `last`, not both.")
    for name, size in (("first", page.first), ("last", page.last)):
        if size is not None and size < 0:
            raise invalid((name,), "INVALID_PAGINATION", f"`{name}` must not be negative.")
        if size is not None and size > max_size:
            raise invalid((name,), "PAGE_TOO_LARGE", f"`{name}` is {size}; a page holds at most {max_size} items.")
    if page.last is not None:
        return page.last, True
    return (page.first if page.first is not None else default_size), False


def signature(keys: Sequence[SortKey]) -> str:
    return ",".join(f"{k.name}:{k.direction}" for k in keys)


def float_hex(value: float) -> str:
    """A float as the hex of its 8 bytes (IEEE 754, big-endian): exact, and what PostgreSQL's
    `encode(float8send(x), 'hex')` writes, so that SQL builds the same cursor. (Decimal texts of
    floats differ: PostgreSQL writes 4.7813917197202656e+16 where Python writes 4.781391719720266e+16.)"""
    return struct.pack(">d", value).hex()


def float_of_hex(text: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(text))[0]
    return value


def cursor_text(ordering: str, values: Sequence[Any]) -> str:
    """The opaque cursor of a row: base64url (unpadded) of the compact JSON `{"o": ordering,
    "k": key values}`, datetimes in ISO 8601, floats as `float_hex` strings, text as UTF-8. A
    compiled read builds the same text in SQL (`schema.sql.dialects`)."""
    parts = []
    for value in values:
        if isinstance(value, datetime):
            parts.append(f'"{value.isoformat()}"')
        elif isinstance(value, float):
            parts.append(f'"{float_hex(value)}"')
        else:
            parts.append(json.dumps(value, ensure_ascii=False))
    raw = '{"o":' + json.dumps(ordering) + ',"k":[' + ",".join(parts) + "]}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def encode_cursor(keys: Sequence[SortKey], row: Any) -> str:
    return cursor_text(signature(keys), [_key_value(key, row) for key in keys])


def _key_value(key: SortKey, row: Any) -> Any:
    value = key.value(row)
    return float(value) if key.is_float else value  # (SQLite's COALESCE(x, -1) may give an int)


def _decoded(key: SortKey, value: Any) -> Any:
    if key.is_datetime:
        return as_datetime(value)
    if key.is_float:  # (cursors made before floats were hex: a JSON number)
        return float_of_hex(value) if isinstance(value, str) else float(value)
    return value


def decode_cursor(keys: Sequence[SortKey], cursor: str, field: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        values = data["k"]
        ok = data["o"] == signature(keys) and isinstance(values, list) and len(values) == len(keys)
    except (ValueError, KeyError, TypeError, binascii.Error):
        ok = False
    if not ok:
        raise invalid((field,), "INVALID_CURSOR", f"`{field}` is not a cursor of this list and ordering.")
    try:
        return [_decoded(k, v) for k, v in zip(keys, values, strict=True)]
    except (ValueError, TypeError, struct.error):
        raise invalid((field,), "INVALID_CURSOR", f"`{field}` is not a valid cursor.") from None


def after_clause(keys: Sequence[SortKey], values: Sequence[Any], p: Params) -> str:
    """SQL true for rows strictly after `values` in the ordering `keys` (mixed directions)."""
    alternatives = []
    for i, key in enumerate(keys):
        equal = [f"{k.sql} = {p(v)}" for k, v in zip(keys[:i], values[:i], strict=True)]
        op = ">" if key.direction == ASC else "<"
        alternatives.append(" AND ".join([*equal, f"{key.sql} {op} {p(values[i])}"]))
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")"


def order_clause(keys: Sequence[SortKey]) -> str:
    return ", ".join(f"{k.sql} {k.direction}" for k in keys)


@dataclass(frozen=True)
class KeysetQuery:
    """The parts of one paginated read, with the page applied by `sql_for`."""

    keys: tuple[SortKey, ...]
    size: int
    backwards: bool
    after: list[Any] | None
    before: list[Any] | None

    @classmethod
    def build(cls, keys: Sequence[SortKey], page: PageRequest, max_size: int, default_size: int) -> KeysetQuery:
        size, backwards = check_page(page, max_size, default_size)
        after = decode_cursor(keys, page.after, "after") if page.after else None
        before = decode_cursor(keys, page.before, "before") if page.before else None
        return cls(tuple(keys), size, backwards, after, before)

    def conditions(self, p: Params) -> list[str]:
        out = []
        if self.after is not None:
            out.append(after_clause(self.keys, self.after, p))
        if self.before is not None:
            reverse = [k.reversed() for k in self.keys]
            out.append(after_clause(reverse, self.before, p))
        return out

    def order_sql(self) -> str:
        keys = [k.reversed() for k in self.keys] if self.backwards else self.keys
        return order_clause(keys)

    def page(self, rows: list[T]) -> Page[T]:
        """Cut the `size + 1` rows read into the page and its flags, in the requested order."""
        more = len(rows) > self.size
        rows = rows[: self.size]
        if self.backwards:
            rows.reverse()
        cursors = [encode_cursor(self.keys, r) for r in rows]
        if self.backwards:
            return Page(rows, cursors, self.before is not None, more)
        return Page(rows, cursors, more, self.after is not None)
