"""How each database builds the JSON of a compiled read, value by value.

Every method returns an SQL expression. On PostgreSQL the expressions are of type `json`; on
SQLite they are values that `json_object` embeds as they should be (text as strings, numbers,
NULL as null, and `json(...)` for JSON built elsewhere). Scalars are formatted exactly as the
Strawberry path serializes them (`DateTime` as Python's `isoformat`, `Decimal` as `str`), and
ids and cursors are encoded exactly as `schema.ids`/`api.pagination` encode them, so both paths
give the same `data`: on SQLite through functions of this process registered on the connection
(it has no time zones or base64), on PostgreSQL in SQL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from api.db import as_datetime, as_decimal
from api.ids import global_id
from api.pagination import cursor_text
from schema.sql.marks import FALLBACK_MARK

# What a sort key's value is, for a cursor: a datetime, an integer, a text or a float.
KeyKind = Literal["datetime", "int", "text", "float"]


@dataclass(frozen=True)
class Page:
    """One page of a list, for `Dialect.page_aggregate`."""

    sql: str  # the rows: the page and one more, numbered by `rn` in the order read
    rows: str  # the name of the rows
    group: str  # the name of the aggregate
    size: int
    backwards: bool  # read in reverse (`last`): the edges are the rows in reverse
    edges: tuple[str, ...]  # the JSON of one edge, for each `edges` selection (aliases may differ)
    cursor: str | None  # the cursor of one row, None when no cursor is selected


class Dialect:
    """The JSON and scalar building blocks; subclassed per database."""

    name: str
    reads_arrays = False  # whether `edges_array` is offered (else every page is aggregated)

    def edges_array(self, sql: str) -> str:
        """The JSON array of the one column of `sql`'s rows, in its order."""
        raise NotImplementedError

    def obj(self, pairs: Sequence[tuple[str, str]]) -> str:
        raise NotImplementedError

    def text(self, expr: str) -> str:
        raise NotImplementedError

    def number(self, expr: str) -> str:
        return expr

    def boolean(self, condition: str) -> str:
        raise NotImplementedError

    def datetime(self, expr: str) -> str:
        raise NotImplementedError

    def decimal(self, expr: str, places: int | None = None) -> str:
        """A Decimal as its text; with `places`, as many decimal places (SQLite keeps what was
        written, which the ORM quantizes when it reads; PostgreSQL's column has its scale)."""
        raise NotImplementedError

    def stored_json(self, expr: str, default: str) -> str:
        """A JSON column; `default` (JSON text) when the column is NULL."""
        raise NotImplementedError

    def nested(self, subquery: str, none: str | None = None) -> str:
        """A scalar subquery that yields JSON; null (or `none`) when it yields no row."""
        raise NotImplementedError

    def page_column(self, group: str, column: str) -> str:
        """A cursor column of `page_aggregate`'s result (null when the page is empty)."""
        raise NotImplementedError

    def constant(self, value: str | bool | None) -> str:
        raise NotImplementedError

    def global_id(self, type_name: str, id_expr: str) -> str:
        raise NotImplementedError

    def cursor(self, signature: str, values: Sequence[tuple[str, KeyKind]]) -> str:
        raise NotImplementedError

    def page_aggregate(self, page: Page) -> str:
        """A FROM-clause subquery named `page.group` over the rows of `page.sql` (named
        `page.rows`, numbered by their `rn` column): `edges0`, `edges1`... (the JSON array of
        each of `page.edges`), `n` (rows read: one more than the page when there are more), and
        the cursors of the first and last edge, `start_cursor` and `end_cursor`."""
        r, g = page.rows, page.group
        within = f"FILTER (WHERE {r}.rn <= {page.size})"
        columns = ["count(*) AS n"]
        columns += [
            f"{self._edges_agg(edge, r, page.backwards, within)} AS edges{n}" for n, edge in enumerate(page.edges)
        ]
        if page.cursor is not None:
            columns.append(f"{self._cursors_agg(page.cursor, r, page.backwards, within)} AS curs")
        inner = f"SELECT {', '.join(columns)} FROM {self._ordered_rows(page.sql, r, page.backwards)}"
        if page.cursor is None:
            return f"({inner}) AS {g}"
        first, last = self._first_and_last(f"{g}0.curs")
        return f"(SELECT {g}0.*, {first} AS start_cursor, {last} AS end_cursor FROM ({inner}) AS {g}0) AS {g}"

    def _edges_agg(self, edge: str, rows: str, backwards: bool, within: str) -> str:
        raise NotImplementedError

    def _cursors_agg(self, cursor: str, rows: str, backwards: bool, within: str) -> str:
        raise NotImplementedError

    def _ordered_rows(self, sql: str, rows: str, backwards: bool) -> str:
        """The page's rows as a FROM item named `rows`."""
        raise NotImplementedError

    def _first_and_last(self, array: str) -> tuple[str, str]:
        raise NotImplementedError

    def edges_column(self, group: str, n: int) -> str:
        raise NotImplementedError

    def json_key(self, item: str, key: str) -> str:
        """The text at `key` of the stored JSON object `item`."""
        raise NotImplementedError

    def embedded_one(self, column: str, obj: str) -> str:
        """`obj` when the JSON column holds a non-empty object, else null."""
        raise NotImplementedError

    def embedded_many(self, column: str, item: str, obj: str) -> str:
        """The JSON array of `obj` for each `item` of the JSON array in `column`, in order."""
        raise NotImplementedError

    def json_text(self, text: str) -> str:
        """JSON made in Python (plugin data), as a constant of the statement."""
        raise NotImplementedError

    def with_key(self, template: str, placeholder: str, expr: str) -> str:
        """The JSON `template` with the JSON string `"placeholder"` replaced by the text `expr`."""
        raise NotImplementedError

    def ordered_array(self, elem: str, rest: str, order: str) -> str:
        """The JSON array of `elem` over `rest` (`FROM ... WHERE ...`) in the order `order`."""
        raise NotImplementedError

    def mark(self) -> str:
        """The value that sends a response to Strawberry (sources.FALLBACK_MARK)."""
        raise NotImplementedError

    def days_since(self, now: str, column: str) -> str:
        """Days from `column` to `now`, rounded to 4 places, as `CustomerStage.daysInStage`."""
        raise NotImplementedError

    def share(self, count: str, total: str) -> str:
        """`count` ÷ `total` (integers) as `round(count / total, 6)`, 0.0 when `total` is 0."""
        raise NotImplementedError

    def code_point_order(self, expr: str) -> str:
        """`expr` to sort texts by code point, as Python's `sorted` does."""
        return expr

    def cases(self, expr: str, branches: Sequence[tuple[str, str]], otherwise: str) -> str:
        """`CASE expr WHEN key THEN value ... ELSE otherwise END` (keys are plugin keys, quoted)."""
        if not branches:
            return otherwise
        whens = " ".join(f"WHEN '{k.replace(chr(39), chr(39) * 2)}' THEN {v}" for k, v in branches)
        return f"(CASE {expr} {whens} ELSE {otherwise} END)"


class Postgres(Dialect):
    """JSON as text, built by concatenation: every expression is the JSON text of its value,
    never NULL ('null' instead). PostgreSQL's json_build_object and json_agg cost about twice as
    much per value (a type lookup per argument, and a copy per level of nesting), and their text
    has spaces Python's encoder does not write."""

    name = "postgres"
    reads_arrays = True

    def edges_array(self, sql: str) -> str:
        # ARRAY(subquery) keeps the subquery's ORDER BY; string_agg would sort again.
        return f"('[' || array_to_string(ARRAY({sql}), ',') || ']')"

    def obj(self, pairs: Sequence[tuple[str, str]]) -> str:
        if not pairs:
            return "'{}'"
        parts = [f"'{{\"{pairs[0][0]}\":' || {pairs[0][1]}"]
        parts += [f"',\"{k}\":' || {v}" for k, v in pairs[1:]]
        return "(" + " || ".join(parts) + " || '}')"

    def text(self, expr: str) -> str:
        return f"coalesce(to_json({expr})::text, 'null')"

    def number(self, expr: str) -> str:
        return f"coalesce(({expr})::text, 'null')"

    def boolean(self, condition: str) -> str:
        return f"(CASE WHEN ({condition}) THEN 'true' WHEN NOT ({condition}) THEN 'false' ELSE 'null' END)"

    def datetime(self, expr: str) -> str:
        # Python's isoformat: microseconds only when there are some, and the UTC offset.
        iso = f"replace(to_char(({expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')"
        return f"coalesce('\"' || {iso} || '+00:00\"', 'null')"

    def decimal(self, expr: str, places: int | None = None) -> str:
        return f"coalesce('\"' || ({expr})::text || '\"', 'null')"

    def stored_json(self, expr: str, default: str) -> str:
        return f"coalesce(({expr})::text, '{default}')"

    def nested(self, subquery: str, none: str | None = None) -> str:
        return f"coalesce(({subquery}), {none or self.constant(None)})"

    def constant(self, value: str | bool | None) -> str:
        text = json.dumps(value, ensure_ascii=False)
        return "'" + text.replace("'", "''") + "'"

    def global_id(self, type_name: str, id_expr: str) -> str:
        prefix = f"{type_name}:".encode()
        if len(prefix) % 3 == 0:  # base64 of the prefix, then of the digits: the same text, half the work
            head = base64.b64encode(prefix).decode()
            return f"('\"{head}' || encode(({id_expr})::text::bytea, 'base64') || '\"')"
        return f"('\"' || encode(convert_to('{type_name}:' || ({id_expr})::text, 'UTF8'), 'base64') || '\"')"

    def cursor(self, signature: str, values: Sequence[tuple[str, KeyKind]]) -> str:
        parts = []
        for expr, kind in values:
            if kind == "datetime":
                parts.append(self.datetime(expr))
            elif kind == "int":
                parts.append(f"({expr})::text")
            elif kind == "float":  # the hex of its 8 bytes (api.pagination.float_hex)
                parts.append(f"'\"' || encode(float8send(({expr})::float8), 'hex') || '\"'")
            else:  # a text, escaped as a JSON string
                parts.append(f"to_json({expr})::text")
        text = f'\'{{"o":"{signature}","k":[\' || ' + " || ',' || ".join(parts) + " || ']}'"
        encoded = f"rtrim(translate(encode(convert_to({text}, 'UTF8'), 'base64'), E'+/\\n', '-_'), '=')"
        return f"('\"' || {encoded} || '\"')"

    def _edges_agg(self, edge: str, rows: str, backwards: bool, within: str) -> str:
        order = f"{rows}.rn DESC" if backwards else f"{rows}.rn"
        return f"'[' || coalesce(string_agg({edge}, ',' ORDER BY {order}) {within}, '') || ']'"

    def _cursors_agg(self, cursor: str, rows: str, backwards: bool, within: str) -> str:
        order = f"{rows}.rn DESC" if backwards else f"{rows}.rn"
        return f"array_agg({cursor} ORDER BY {order}) {within}"

    def _ordered_rows(self, sql: str, rows: str, backwards: bool) -> str:
        return f"({sql}) AS {rows}"

    def _first_and_last(self, array: str) -> tuple[str, str]:
        return f"{array}[1]", f"{array}[cardinality({array})]"

    def edges_column(self, group: str, n: int) -> str:
        return f"{group}.edges{n}"

    def page_column(self, group: str, column: str) -> str:
        return f"coalesce({group}.{column}, 'null')"

    def json_key(self, item: str, key: str) -> str:
        return self.text(f"{item} ->> '{key}'")

    def embedded_one(self, column: str, obj: str) -> str:
        return f"(CASE WHEN jsonb_typeof({column}) = 'object' AND {column} <> '{{}}'::jsonb THEN {obj} ELSE 'null' END)"

    def embedded_many(self, column: str, item: str, obj: str) -> str:
        items = f"jsonb_array_elements({column}) WITH ORDINALITY AS {item}_t({item}, {item}_n)"
        return f"coalesce((SELECT '[' || string_agg({obj}, ',' ORDER BY {item}_n) || ']' FROM {items}), '[]')"

    def json_text(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def with_key(self, template: str, placeholder: str, expr: str) -> str:
        quoted = "'" + template.replace("'", "''") + "'"
        return f"replace({quoted}, '\"{placeholder}\"', to_json({expr})::text)"

    def ordered_array(self, elem: str, rest: str, order: str) -> str:
        return f"coalesce((SELECT '[' || string_agg({elem}, ',' ORDER BY {order}) || ']' {rest}), '[]')"

    def mark(self) -> str:
        return self.constant(FALLBACK_MARK)

    def days_since(self, now: str, column: str) -> str:
        return self.number(f"round(extract(epoch FROM ({now}::timestamptz - {column})) / 86400, 4)")

    def share(self, count: str, total: str) -> str:
        # Millionths rounded half up in integers; an exact tie is where Python's round (of the
        # double nearest count/total, half to even) may go either way: Strawberry answers. A
        # float8 of millionths prints as Python prints it (shortest digits, 1e-05 style), but
        # for whole numbers ('1' for 1.0).
        k = f"((2000000 * {count} + {total}) / (2 * {total}))"
        return (
            f"(CASE WHEN {total} = 0 THEN '0.0' WHEN (2000000 * {count}) % (2 * {total}) = {total} THEN {self.mark()} "
            f"WHEN {k} % 1000000 = 0 THEN ({k} / 1000000)::text || '.0' ELSE ({k}::float8 / 1000000)::text END)"
        )

    def code_point_order(self, expr: str) -> str:
        return f'{expr} COLLATE "C"'


class Sqlite(Dialect):
    name = "sqlite"

    def obj(self, pairs: Sequence[tuple[str, str]]) -> str:
        return "json_object(" + ", ".join(f"'{k}', {v}" for k, v in pairs) + ")"

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS TEXT)"

    def boolean(self, condition: str) -> str:
        return f"json(CASE WHEN ({condition}) THEN 'true' ELSE 'false' END)"

    def datetime(self, expr: str) -> str:
        return f"jornada_iso({expr})"

    def decimal(self, expr: str, places: int | None = None) -> str:
        return f"jornada_decimal({expr}, {-1 if places is None else places})"

    def stored_json(self, expr: str, default: str) -> str:
        return f"json(coalesce({expr}, '{default}'))"

    def nested(self, subquery: str, none: str | None = None) -> str:
        found = f"json(({subquery}))"
        return f"coalesce({found}, {none})" if none else found

    def page_column(self, group: str, column: str) -> str:
        return f"{group}.{column}"

    def constant(self, value: str | bool | None) -> str:
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "json('true')" if value else "json('false')"
        return "'" + value.replace("'", "''") + "'"

    def global_id(self, type_name: str, id_expr: str) -> str:
        return f"jornada_gid('{type_name}', {id_expr})"

    def cursor(self, signature: str, values: Sequence[tuple[str, KeyKind]]) -> str:
        kinds = "".join(kind[0] for _, kind in values)
        return f"jornada_cursor('{signature}', '{kinds}', " + ", ".join(e for e, _ in values) + ")"

    def _edges_agg(self, edge: str, rows: str, backwards: bool, within: str) -> str:
        return f"json_group_array(json({edge})) {within}"

    def _cursors_agg(self, cursor: str, rows: str, backwards: bool, within: str) -> str:
        return f"json_group_array({cursor}) {within}"

    def _ordered_rows(self, sql: str, rows: str, backwards: bool) -> str:
        # No ORDER BY inside its aggregates: they take the rows in the order of the subquery.
        return f"(SELECT * FROM ({sql}) ORDER BY rn{' DESC' if backwards else ''}) AS {rows}"

    def _first_and_last(self, array: str) -> tuple[str, str]:
        return f"json_extract({array}, '$[0]')", f"json_extract({array}, '$[#-1]')"

    def edges_column(self, group: str, n: int) -> str:
        return f"json({group}.edges{n})"

    def json_key(self, item: str, key: str) -> str:
        return f"json_extract({item}, '$.{key}')"

    def embedded_one(self, column: str, obj: str) -> str:
        return f"(CASE WHEN json_type({column}) = 'object' AND {column} <> '{{}}' THEN json({obj}) END)"

    def embedded_many(self, column: str, item: str, obj: str) -> str:
        return (
            f"json(coalesce((SELECT json_group_array(json({obj})) FROM "
            f"(SELECT value AS {item} FROM json_each({column}) ORDER BY key)), '[]'))"
        )

    def json_text(self, text: str) -> str:
        return "json('" + text.replace("'", "''") + "')"

    def with_key(self, template: str, placeholder: str, expr: str) -> str:
        quoted = "'" + template.replace("'", "''") + "'"
        return f"json(replace({quoted}, '\"{placeholder}\"', json_quote({expr})))"

    def ordered_array(self, elem: str, rest: str, order: str) -> str:
        rows = f"SELECT {elem} AS x {rest} ORDER BY {order}"
        return f"json(coalesce((SELECT json_group_array(json(x)) FROM ({rows})), '[]'))"

    def mark(self) -> str:
        return f"'{FALLBACK_MARK}'"

    def days_since(self, now: str, column: str) -> str:
        return f"jornada_days({now}, {column})"

    def share(self, count: str, total: str) -> str:
        return f"json(jornada_share({count}, {total}))"


POSTGRES = Postgres()
SQLITE = Sqlite()


def dialect(name: str) -> Dialect:
    return POSTGRES if name == "postgres" else SQLITE


# --- SQLite's functions ------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return None if value is None else as_datetime(value).isoformat()


def _decimal(value: Any, places: int) -> str | None:
    found = as_decimal(value)
    if found is not None and places >= 0:
        found = found.quantize(Decimal(1).scaleb(-places))
    return None if found is None else str(found)


def _days(now: Any, value: Any) -> float | None:
    if value is None:
        return None
    return round((as_datetime(now) - as_datetime(value)).total_seconds() / 86400, 4)


def _share(count: int, total: int) -> str:
    return json.dumps(round(count / total, 6) if total else 0.0)


def _gid(type_name: str, value: Any) -> str | None:
    return None if value is None else global_id(type_name, int(value))


_DECODE: dict[str, Callable[[Any], Any]] = {"d": as_datetime, "i": int, "t": str, "f": float}


def _cursor(signature: str, kinds: str, *values: Any) -> str:
    return cursor_text(signature, [_DECODE[k](v) for k, v in zip(kinds, values, strict=True)])


SQLITE_FUNCTIONS: tuple[tuple[str, int, Callable[..., Any]], ...] = (
    ("jornada_iso", 1, _iso),
    ("jornada_decimal", 2, _decimal),
    ("jornada_gid", 2, _gid),
    ("jornada_days", 2, _days),
    ("jornada_share", 2, _share),
    ("jornada_cursor", -1, _cursor),
)
