"""Migrations: they build the schema on an empty database, keep data, and match the models."""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate

import migrations as migrations_package
from api import models
from api.db import connection
from api.migrate import apply_migrations, pending_model_changes
from api.settings import Settings
from tests.conftest import (
    _create_pg_database,
    _drop_pg_database,
    on_postgres,
    postgres_admin_url,
    with_database,
)


def migration_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(migrations_package.__path__) if m.name[:4].isdigit())


def declared_indexes() -> set[str]:
    names = set()
    for model in (models.Customer, models.CustomerTag, models.Interaction, models.AcquisitionSpend):
        names |= {index.name for index in model._meta.indexes if index.name}
    return names


async def existing_indexes(settings: Settings) -> set[str]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        conn = connection()
        if settings.dialect == "postgres":
            rows = await conn.execute_query_dict("SELECT indexname AS name FROM pg_indexes")
        else:
            rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {r["name"] for r in rows}


async def applied(settings: Settings) -> list[str]:
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        rows = await connection().execute_query_dict("SELECT name FROM tortoise_migrations ORDER BY name")
        return [r["name"] for r in rows]


@pytest_asyncio.fixture
async def empty_database(tmp_path: Path) -> AsyncIterator[Settings]:
    """A database with nothing in it: a new SQLite file, or a new PostgreSQL database."""
    if not on_postgres():
        yield Settings(database_url=f"sqlite://{tmp_path / 'empty.sqlite3'}")
        return
    name = f"jornada_migr_{uuid.uuid4().hex[:10]}"
    await _create_pg_database(name)
    try:
        yield Settings(database_url=with_database(postgres_admin_url(), name))
    finally:
        await _drop_pg_database(name)


@pytest.mark.asyncio
async def test_every_migration_applies_to_an_empty_database(empty_database: Settings) -> None:
    await apply_migrations(empty_database)
    assert await applied(empty_database) == migration_names()
    assert declared_indexes() <= await existing_indexes(empty_database)
    # Applying again is a no-op, not an error.
    await apply_migrations(empty_database)
    assert await applied(empty_database) == migration_names()


@pytest.mark.asyncio
async def test_models_have_no_change_without_a_migration(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite://{tmp_path / 'check.sqlite3'}")
    assert await pending_model_changes(settings) == [], "run `make migrations` and commit the file"


SEED = [
    "INSERT INTO workspace (id, name, currency, timezone, created_at) VALUES (1, 'W', 'BRL', 'UTC', '2025-01-01')",
    "INSERT INTO customer (id, workspace_id, name, sort_name, search_text, social_profiles, tags, "
    "attributes, created_at, updated_at) "
    "VALUES (1, 1, 'C', 'c', 'c', '[]', '[]', '{}', '2025-01-01', '2025-01-01')",
    "INSERT INTO customer_tag (id, workspace_id, customer_id, tag) VALUES (1, 1, 1, 'vip')",
    "INSERT INTO interaction (id, workspace_id, customer_id, kind, occurred_at, properties, created_at) "
    "VALUES (1, 1, 1, 'purchase', '2025-01-01', '{}', '2025-01-01')",
]


@pytest.mark.asyncio
async def test_each_upgrade_keeps_rows_and_indexes_on_sqlite(tmp_path: Path) -> None:
    """SQLite rebuilds tables for some operations and may cascade-delete children or drop indexes
    (stack.md 1.8-A/B): every migration is applied over real rows written just before it."""
    for step in range(1, len(migration_names())):
        await _upgrade_over_rows(Settings(database_url=f"sqlite://{tmp_path / f'up{step}.sqlite3'}"), step)
    # The newest schema takes the same rows (the seed itself stays valid).
    settings = Settings(database_url=f"sqlite://{tmp_path / 'head.sqlite3'}")
    await apply_migrations(settings)
    await _seed(settings)
    await _assert_one_row_each(settings, "head")


async def _seed(settings: Settings) -> None:
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        for statement in SEED:
            await connection().execute_query(statement)


async def _assert_one_row_each(settings: Settings, where: str) -> None:
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        for table in ("workspace", "customer", "customer_tag", "interaction"):
            rows = await connection().execute_query_dict(f"SELECT COUNT(*) AS n FROM {table}")
            assert rows[0]["n"] == 1, f"{table} lost rows in {where}"
    assert declared_indexes() <= await existing_indexes(settings)


async def _upgrade_over_rows(settings: Settings, step: int) -> None:
    previous = migration_names()[step - 1]
    async with TortoiseContext():
        await migrate(config=settings.tortoise_config(), target=f"models.{previous}")
    await _seed(settings)
    await apply_migrations(settings)
    await _assert_one_row_each(settings, migration_names()[step])


def test_migrations_are_one_linear_chain() -> None:
    names = migration_names()
    for earlier, later in itertools.pairwise(names):
        module = importlib.import_module(f"migrations.{later}")
        assert ("models", earlier) in [tuple(d) for d in module.Migration.dependencies]
