"""The few SQL expressions that differ between SQLite and PostgreSQL, for the metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from api.db import Params, utc


def ts(p: Params, value: datetime) -> str:
    """A timestamp parameter; typed on PostgreSQL where the context does not say (VALUES lists)."""
    return f"{p(utc(value))}::timestamptz" if p.dialect == "postgres" else p(utc(value))


def day(p: Params, value: date) -> str:
    return f"{p(value)}::date" if p.dialect == "postgres" else p(value.isoformat())


def days_between(p: Params, start: str, end: str) -> str:
    """Days (fractional) from the timestamp expression `start` to `end`."""
    if p.dialect == "postgres":
        return f"(EXTRACT(EPOCH FROM ({end} - {start})) / 86400.0)"
    return f"(julianday({end}) - julianday({start}))"


def date_days_between(p: Params, start: str, end: str) -> str:
    """Whole days from the date expression `start` to `end`."""
    if p.dialect == "postgres":
        return f"({end} - {start})"
    return f"CAST(julianday({end}) - julianday({start}) AS INTEGER)"


def floor_int(p: Params, expr: str) -> str:
    return f"CAST(FLOOR({expr}) AS INTEGER)" if p.dialect == "postgres" else f"CAST({expr} AS INTEGER)"


def number(p: Params, expr: str) -> str:
    """A numeric column as a number (SQLite keeps decimals as text)."""
    return expr if p.dialect == "postgres" else f"CAST({expr} AS REAL)"


def false(p: Params) -> str:
    return "FALSE" if p.dialect == "postgres" else "0"


def in_list(p: Params, values: list[Any]) -> str:
    """`(v1, v2, ...)`, or a list that matches nothing when `values` is empty."""
    return f"({p.many(values)})" if values else "(NULL)"
