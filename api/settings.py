"""Configuration: the only module that reads the environment.

`Settings.from_env()` is called once, by the CLI or by `create_app()`; everything else receives
the resulting frozen object.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from strawberry.http.websocket_origin import normalize_allowed_origins
from tortoise.backends.base.config_generator import expand_db_url

from api.db import release_connection

if TYPE_CHECKING:
    from api.webhook_delivery import WorkerSettings

DEFAULT_DATABASE_URL = "sqlite://jornada.sqlite3"
MODELS_MODULE = "api.models"
MIGRATIONS_MODULE = "migrations"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _memory(env: Mapping[str, str], name: str, default: str) -> str:
    """A PostgreSQL memory size such as '64MB' (checked here, not at the first connection)."""
    raw = (env.get(name) or default).strip()
    if not re.fullmatch(r"[0-9]+(kB|MB|GB)", raw):
        raise ValueError(f"{name} must be a PostgreSQL memory size like 64MB (kB, MB or GB), got {raw!r}")
    return raw


def default_replay_workers() -> int:
    """One replay worker per core, up to 8 (on 2 cores, 2 workers beat 1: 10.5 s against 11.7 s
    for a replay of 200k interactions; the database and this process mostly wait meanwhile)."""
    return max(1, min(8, os.cpu_count() or 1))


def _workers(env: Mapping[str, str], name: str) -> int:
    workers = _int(env, name, default_replay_workers())
    if not 0 <= workers <= 64:
        raise ValueError(f"{name} must be a number of processes from 0 to 64, got {workers}")
    return workers


def _names(raw: str | None) -> frozenset[str] | None:
    if raw is None or not raw.strip():
        return None
    return frozenset(n.strip() for n in raw.split(",") if n.strip())


def _origins(raw: list[str]) -> frozenset[str]:
    """Origins as browsers send them (lower case, no default port); an entry with a path, like
    'https://app.example.com/', is refused with the variable's name."""
    try:
        return normalize_allowed_origins(raw)
    except ValueError as exc:
        raise ValueError(f"JORNADA_ALLOWED_ORIGINS: {exc}") from exc


@dataclass(frozen=True)
class Settings:
    """Every tunable of the service, read once from the environment."""

    database_url: str = DEFAULT_DATABASE_URL
    # PostgreSQL's sort and hash memory per operation, for each of Jornada's connections: the
    # metrics sort and hash 10^5-10^6 rows, which the server's default (4MB) spills to disk.
    pg_work_mem: str = "64MB"
    max_body_bytes: int = 1024 * 1024
    body_timeout: float = 30.0  # seconds a request body may take to arrive (then 408)
    max_page_size: int = 100
    max_query_depth: int = 12
    max_query_tokens: int = 5000
    max_aliases: int = 30
    max_query_cost: int = 200_000  # fields an operation may return at most (schema/cost.py)
    max_batch_size: int = 1000
    # Answer reads in the compilable part of the schema with one SQL statement (schema/sql).
    compiled_reads: bool = True
    graphiql: bool = True
    # Origins of browser pages that may call the API (CORS) and open subscriptions; "*": any.
    allowed_origins: frozenset[str] = frozenset()
    cors_max_age: int = 600  # seconds a browser may cache a preflight's answer
    log_level: str = "INFO"
    # Partner plugins: entry points of the group `jornada`, all of them unless an allow-list of
    # entry-point or distribution names is given; none at all when autoload is off.
    plugin_autoload: bool = True
    plugin_allow: frozenset[str] | None = None
    # Seconds between periodic checks of time-based rules in the server; 0 turns them off (the
    # default for a Settings built in code, as tests do; the environment's default is 60).
    tick_interval: float = 0
    tick_batch: int = 500
    # Seconds an on_stage_changed hook may take for one move before it is skipped (api/hooks.py).
    hook_timeout: float = 10.0
    # Webhooks (api/webhook_delivery.py): whether the server runs a delivery worker (off for a
    # Settings built in code, as tests make; on from the environment), whether endpoints may be
    # private or loopback addresses, seconds per attempt, hours of failures before an endpoint
    # is disabled.
    webhooks_worker: bool = False
    webhooks_allow_private: bool = False
    webhooks_timeout: float = 10.0
    webhooks_disable_after_hours: int = 120
    # Processes a replay (switch or track by REPLAY, `jornada` commands alike) computes its rules
    # in besides the one that reads and writes (api/batch_pool.py); 0: all in one process (the
    # default for a Settings built in code; from the environment, one per core).
    replay_workers: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        origins = [o.strip() for o in env.get("JORNADA_ALLOWED_ORIGINS", "").split(",") if o.strip()]
        return cls(
            database_url=env.get("JORNADA_DATABASE_URL") or DEFAULT_DATABASE_URL,
            pg_work_mem=_memory(env, "JORNADA_PG_WORK_MEM", "64MB"),
            max_body_bytes=_int(env, "JORNADA_MAX_BODY_BYTES", 1024 * 1024),
            body_timeout=float(_int(env, "JORNADA_BODY_TIMEOUT", 30)),
            max_query_cost=_int(env, "JORNADA_MAX_QUERY_COST", 200_000),
            graphiql=_bool(env, "JORNADA_GRAPHIQL", True),
            compiled_reads=_bool(env, "JORNADA_COMPILED_READS", True),
            allowed_origins=_origins(origins),
            cors_max_age=_int(env, "JORNADA_CORS_MAX_AGE", 600),
            log_level=env.get("JORNADA_LOG_LEVEL", "INFO").upper(),
            plugin_autoload=not _bool(env, "JORNADA_DISABLE_PLUGIN_AUTOLOAD", False),
            plugin_allow=_names(env.get("JORNADA_PLUGINS")),
            tick_interval=float(_int(env, "JORNADA_TICK_INTERVAL", 60)),
            hook_timeout=float(_int(env, "JORNADA_HOOK_TIMEOUT", 10)),
            webhooks_worker=_bool(env, "JORNADA_WEBHOOKS_WORKER", True),
            webhooks_allow_private=_bool(env, "JORNADA_WEBHOOKS_ALLOW_PRIVATE", False),
            webhooks_timeout=float(_int(env, "JORNADA_WEBHOOKS_TIMEOUT", 10)),
            webhooks_disable_after_hours=_int(env, "JORNADA_WEBHOOKS_DISABLE_AFTER_HOURS", 120),
            replay_workers=_workers(env, "JORNADA_REPLAY_WORKERS"),
        )

    def webhook_worker_settings(self) -> WorkerSettings:
        from api.webhook_delivery import WorkerSettings  # the HTTP client is imported only to send

        return WorkerSettings(
            allow_private=self.webhooks_allow_private,
            timeout=self.webhooks_timeout,
            disable_after=timedelta(hours=self.webhooks_disable_after_hours),
        )

    @property
    def dialect(self) -> str:
        return "postgres" if self.database_url.startswith(("postgres", "asyncpg")) else "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file (relative to the current folder unless absolute); None on PostgreSQL
        and for an in-memory database."""
        if self.dialect != "sqlite":
            return None
        raw = self.database_url.split("://", 1)[-1].split("?", 1)[0]
        return None if raw in ("", ":memory:") else Path(raw)

    @property
    def database_url_without_password(self) -> str:
        parts = urlsplit(self.database_url)
        if parts.password is None:
            return self.database_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    def tortoise_config(self) -> dict[str, Any]:
        """The Tortoise ORM configuration for this database (one app, one migration chain)."""
        return tortoise_config(self.database_url, self.pg_work_mem)


def tortoise_config(database_url: str, pg_work_mem: str = "64MB") -> dict[str, Any]:
    url = database_url
    if url.startswith("sqlite://") and "busy_timeout" not in url:
        # A CLI command and the server may touch the same file at once: wait, don't fail.
        url += ("&" if "?" in url else "?") + "busy_timeout=5000"
    connection: str | dict[str, Any] = url
    if url.startswith(("postgres", "asyncpg")):
        connection = expand_db_url(url)
        # A pooled connection coming back runs this instead of asyncpg's reset (see its docstring).
        connection["credentials"]["reset"] = release_connection
        # Per session: no JIT compilation (it cost 40-110 ms of each metric statement and won
        # nothing back on them), and room to sort and hash a workspace's rows in memory.
        session = connection["credentials"].setdefault("server_settings", {})
        session.setdefault("jit", "off")
        session.setdefault("work_mem", pg_work_mem)
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For `tortoise -c api.settings.MIGRATIONS_CONFIG makemigrations` (see the Makefile): the model
# state is compared with the migration files, no database is needed, and nothing is read here.
MIGRATIONS_CONFIG: dict[str, Any] = tortoise_config("sqlite://:memory:")
