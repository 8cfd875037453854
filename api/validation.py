"""Field checks shared by every write path. Each returns a `Problem` or the cleaned value."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from api.db import utc
from api.errors import Problem

# Pragmatic, not RFC 5322: one @, no spaces, a dot in the domain, no empty labels.
# Control characters (a NUL among them) are refused in the local part too.
_EMAIL = re.compile(
    r"^[^@\s\x00-\x1f\x7f]{1,64}@(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
_PHONE_CHARS = re.compile(r"^\+?[0-9 ()./-]+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
ATTRIBUTE_KEY = re.compile(r'^[^"\\\x00-\x1f]{1,100}$')
ATTRIBUTE_KEY_RULE = "Attribute keys have 1 to 100 characters and no quotes, backslashes or control characters."
MAX_TAGS = 50
MAX_TAG_LENGTH = 100


def email(value: str, path: tuple[str, ...]) -> str | Problem:
    cleaned = value.strip().lower()
    if not _EMAIL.match(cleaned):
        return Problem(path, "INVALID_EMAIL", f"{value!r} is not a valid email address.")
    return cleaned


def phone(value: str, path: tuple[str, ...]) -> str | Problem:
    """Phones are kept as '+' and digits (E.164 style); 8 to 15 digits are accepted."""
    raw = value.strip()
    digits = re.sub(r"\D", "", raw)
    if not _PHONE_CHARS.match(raw) or not 8 <= len(digits) <= 15:
        return Problem(
            path,
            "INVALID_PHONE",
            f"{value!r} is not a valid phone number: use 8 to 15 digits, optionally with a "
            "leading + and country code (e.g. +55 11 91234-5678).",
        )
    return ("+" if raw.startswith("+") else "") + digits


def currency(value: str, path: tuple[str, ...]) -> str | Problem:
    cleaned = value.strip().upper()
    if not _CURRENCY.match(cleaned):
        return Problem(path, "INVALID_CURRENCY", f"{value!r} is not an ISO 4217 currency code.")
    return cleaned


def timezone(value: str, path: tuple[str, ...]) -> str | Problem:
    # A name is short (the longest IANA one has 32 characters); a long one is a file name the
    # zone database cannot even open (OSError: File name too long).
    if len(value) > 64:
        return Problem(path, "INVALID_TIMEZONE", "Not an IANA time zone (e.g. America/Sao_Paulo).")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return Problem(path, "INVALID_TIMEZONE", f"{value!r} is not an IANA time zone.")
    return value


# Times every write path accepts: a year-1 time with an offset overflows Python's datetime, and
# PostgreSQL stores it as -infinity, which later breaks arithmetic on it.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def in_range(value: datetime) -> bool:
    return FIRST_YEAR <= value.year <= LAST_YEAR


def parse_datetime(raw: str) -> datetime | None:
    try:
        moment = utc(datetime.fromisoformat(raw))
    except (ValueError, OverflowError):  # a year-1 time with an offset overflows
        return None
    return moment if in_range(moment) else None


def datetime_message(raw: str) -> str:
    return (
        f"{raw!r} is not an ISO 8601 date and time from {FIRST_YEAR} to {LAST_YEAR} (e.g. 2024-05-01T14:30:00-03:00)."
    )


def bad_string(value: str) -> str | None:
    """What makes text unstorable as given, or None: a NUL (PostgreSQL refuses it, SQLite cuts it)
    or a lone surrogate (not Unicode text, not encodable as UTF-8). GraphQL input is checked with
    this before execution (schema/clean_input.py); CSV cells through `text`."""
    if "\x00" in value:
        return "a NUL character"
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "a lone surrogate (not Unicode text)"
    return None


def text(value: str, path: tuple[str, ...], max_length: int, *, required: bool = False) -> str | Problem | None:
    if found := bad_string(value):
        return Problem(path, "INVALID_STRING", f"Must not contain {found}.")
    cleaned = value.strip()
    if len(cleaned) > max_length:
        return Problem(path, "TOO_LONG", f"Must be at most {max_length} characters.")
    if not cleaned:
        if required:
            return Problem(path, "REQUIRED", "Must not be empty.")
        return None
    return cleaned


def tags(values: list[str], path: tuple[str, ...]) -> list[str] | Problem:
    if len(values) > MAX_TAGS:
        return Problem(path, "TOO_MANY", f"At most {MAX_TAGS} tags.")
    cleaned: list[str] = []
    for index, value in enumerate(values):
        tag = value.strip()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            return Problem((*path, str(index)), "INVALID_TAG", f"A tag must have 1 to {MAX_TAG_LENGTH} characters.")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


def attributes(value: Any, path: tuple[str, ...]) -> dict[str, Any] | Problem:
    if not isinstance(value, dict):
        return Problem(path, "INVALID_ATTRIBUTES", "Attributes must be a JSON object.")
    for key in value:
        if not ATTRIBUTE_KEY.match(key):
            return Problem((*path, key), "INVALID_ATTRIBUTE_KEY", ATTRIBUTE_KEY_RULE)
    return value


def amount(value: Decimal, path: tuple[str, ...]) -> Decimal | Problem:
    try:
        if not value.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        return Problem(path, "INVALID_AMOUNT", "Must be a finite decimal number.")
    if value < 0:
        return Problem(path, "NEGATIVE_AMOUNT", f"Must not be negative, got {value}.")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        return Problem(path, "INVALID_AMOUNT", "At most 4 decimal places.")
    if abs(value) >= Decimal(10) ** 14:
        return Problem(path, "INVALID_AMOUNT", "Must be less than 10^14.")
    return value


# Clocks differ: a first contact "now" by the client's clock may be this far ahead of ours.
CLOCK_SKEW = timedelta(minutes=5)


def first_contact(value: datetime | None, path: tuple[str, ...], now: datetime) -> datetime | Problem:
    """A customer's `createdAt`: its real first contact, in UTC, never in the future."""
    if value is None:
        return Problem(path, "REQUIRED", "A customer always has a createdAt; it cannot be cleared.")
    if value.tzinfo is None:
        return Problem(path, "INVALID_DATETIME", "Give a time zone offset (e.g. 2026-01-31T09:00:00-03:00).")
    if value > now + CLOCK_SKEW:
        return Problem(path, "IN_THE_FUTURE", "The first contact cannot be in the future.")
    return value
