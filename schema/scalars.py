"""The DateTime and Decimal scalars with the checks every input of theirs needs: times in a
sane range (a year-1 time with an offset overflowed into a server error), amounts that are plain
finite decimals (Python's Decimal takes "NaN", "Infinity", "1_000" and " 1")."""

from __future__ import annotations

import datetime as dt
import decimal
import re

from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.types.scalar import ScalarDefinition

from api.validation import FIRST_YEAR, LAST_YEAR, in_range

_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def parse_datetime(raw: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(raw)
    if not in_range(value):
        raise ValueError(f"a time must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def parse_date(raw: str) -> dt.date:
    value = dt.date.fromisoformat(raw)
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"a date must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value


def parse_decimal(raw: str) -> decimal.Decimal:
    if not _DECIMAL.fullmatch(raw):
        raise ValueError("not a plain decimal number (digits, one point, no spaces or underscores)")
    value = decimal.Decimal(raw)
    if not value.is_finite():
        raise ValueError("not a finite number")
    return value


DATETIME = ScalarDefinition(
    name="DateTime",
    description=f"Date with time, ISO 8601 (with an offset; stored in UTC), from {FIRST_YEAR} to {LAST_YEAR}.",
    specified_by_url=None,
    serialize=dt.datetime.isoformat,
    parse_value=wrap_parser(parse_datetime, "DateTime", exceptions=(ValueError, OverflowError)),
    parse_literal=None,
    origin=dt.datetime,
)

DATE = ScalarDefinition(
    name="Date",
    description=f"Date (ISO 8601, YYYY-MM-DD), from {FIRST_YEAR} to {LAST_YEAR}.",
    specified_by_url=None,
    serialize=dt.date.isoformat,
    parse_value=wrap_parser(parse_date, "Date"),
    parse_literal=None,
    origin=dt.date,
)

DECIMAL = ScalarDefinition(
    name="Decimal",
    description='An exact decimal number, as a string (e.g. "1234.50"): digits and one point.',
    specified_by_url=None,
    serialize=str,
    parse_value=wrap_parser(parse_decimal, "Decimal", accept_non_string=True),
    parse_literal=None,
    origin=decimal.Decimal,
)

SCALARS: dict[object, ScalarDefinition] = {dt.datetime: DATETIME, dt.date: DATE, decimal.Decimal: DECIMAL}
