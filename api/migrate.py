"""Applying the migrations in `migrations/` and checking that models and migrations agree."""

from __future__ import annotations

from tortoise.context import TortoiseContext
from tortoise.migrations.api.migrate import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from api.settings import Settings


async def apply_migrations(settings: Settings) -> None:
    """Bring the database up to the newest migration. Runs in a context of its own, before the
    app's ORM is opened (Tortoise's migrate re-initialises the current context)."""
    async with TortoiseContext():
        await migrate(config=settings.tortoise_config())


async def pending_model_changes(settings: Settings) -> list[str]:
    """Names of the migrations that `makemigrations` would write now; empty when none is due."""
    config = settings.tortoise_config()
    async with TortoiseContext() as ctx:
        await ctx.init(config=config, init_connections=False)
        assert ctx.apps is not None
        writers = await MigrationAutodetector(ctx.apps, config["apps"]).changes()
    return [w.name for w in writers]
