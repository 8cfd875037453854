"""What every `jornada` command shares: opening the database, printing, failing clearly, and the
argument types that refuse bad values before anything runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import date
from typing import Any, NoReturn

from tortoise.context import TortoiseContext

from api.errors import InputInvalid
from api.migrate import apply_migrations
from api.settings import Settings


def database_label(settings: Settings) -> str:
    """The database a command works on, as a user can find it: a SQLite file's absolute path
    (the default one is relative to the current folder), or the PostgreSQL URL without password."""
    path = settings.sqlite_path
    if path is not None:
        return str(path.resolve())
    return settings.database_url_without_password


def fail(settings: Settings, message: str) -> NoReturn:
    """Stop with `error: ...`, naming the database in use: run from another folder, the default
    SQLite file is another (new, empty) one, and this says so."""
    print(f"error: {message} (database: {database_label(settings)})", file=sys.stderr)
    raise SystemExit(2)


async def _with_db(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    # Migrating is idempotent and quick; a command may be the first to open the database.
    await apply_migrations(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        return await work()


def run_db(settings: Settings, work: Callable[[], Coroutine[Any, Any, Any]], *, existing: bool = False) -> Any:
    """Run `work` with the database open. `existing`: the command reads what is there (a
    workspace, keys), so a SQLite file that does not exist yet is an error, not a new file."""
    path = settings.sqlite_path
    if existing and path is not None and not path.exists():
        fail(
            settings,
            "there is no database here yet; run jornada from the folder that holds it, or set "
            "JORNADA_DATABASE_URL (e.g. sqlite:///absolute/path/jornada.sqlite3)",
        )
    try:
        return asyncio.run(_with_db(settings, work))
    except InputInvalid as exc:
        for p in exc.problems:
            print(f"error: {'.'.join(p.field or ())}: {p.message}", file=sys.stderr)
        print(f"nothing was stored (database: {database_label(settings)})", file=sys.stderr)
        raise SystemExit(2) from None


def emit(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        print("\n".join(lines))


def positive_int(raw: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} must be at least 1")
    return value


def int_between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def parse(raw: str) -> int:
        value = positive_int(raw) if low >= 1 else int(raw)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{raw!r} must be from {low} to {high}")
        return value

    return parse


def rate(raw: str) -> float:
    """An argparse type: a yearly rate from 0 (included) to 1 (excluded), e.g. 0.10."""
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
    if not 0 <= value < 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{raw!r} must be at least 0 and below 1 (0.10 is 10% a year)")
    return value


def iso_date(raw: str) -> date:
    """An argparse type: a day written YYYY-MM-DD (01/06/2026 is ambiguous: June or January?)."""
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a date written YYYY-MM-DD (e.g. 2026-06-01)") from None
