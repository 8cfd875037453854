"""The `jornada` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tortoise.context import TortoiseContext

from api.errors import InputInvalid
from api.migrate import apply_migrations
from api.settings import Settings
from api.workspaces import DEFAULT_MODEL, Role, count_workspaces, create_api_key, create_workspace, workspace_exists
from plugins.manager import load_plugins

ROLES = [r.value for r in Role]


async def _with_db(settings: Settings, work: Callable[[], Awaitable[Any]]) -> Any:
    # Every command works on a fresh database: migrating is idempotent and quick.
    await apply_migrations(settings)
    async with TortoiseContext() as ctx:
        await ctx.init(config=settings.tortoise_config())
        return await work()


def _print(data: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(data))
    else:
        print("\n".join(lines))


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(apply_migrations(settings))
    print(f"migrated {settings.dialect} database")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    asyncio.run(apply_migrations(settings))
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level.lower(),
        lifespan="on",
    )
    return 0


def _workspace_lines(ws_id: int, name: str, secret: str) -> list[str]:
    return [
        f"workspace {ws_id} ({name}) created",
        f"ADMIN API key (shown once, keep it): {secret}",
        f"use it as the header  Authorization: Bearer {secret}",
    ]


def _check_model(settings: Settings, key: str) -> None:
    registry = load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow)
    if key not in registry.models:
        print(f"error: model: no installed model {key!r}; installed: {sorted(registry.models)}", file=sys.stderr)
        raise SystemExit(2)


def cmd_workspace_create(settings: Settings, args: argparse.Namespace) -> int:
    _check_model(settings, args.model)

    async def work() -> tuple[Any, str]:
        return await create_workspace(args.name, args.currency, args.timezone, args.model)

    ws, secret = _run(settings, work)
    _print(
        {"workspaceId": ws.id, "name": ws.name, "currency": ws.currency, "apiKey": secret, "role": "ADMIN"},
        args.json,
        _workspace_lines(ws.id, ws.name, secret),
    )
    return 0


def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    """Create a first workspace when the database has none (used by `make run`)."""

    async def work() -> tuple[Any, str] | None:
        if await count_workspaces():
            return None
        return await create_workspace(args.name, args.currency, "UTC")

    created = _run(settings, work)
    if created is None:
        print("a workspace already exists: `jornada apikey create --workspace ID --role ADMIN` gives a key")
        return 0
    ws, secret = created
    print("\n".join(_workspace_lines(ws.id, ws.name, secret)))
    return 0


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> tuple[Any, str] | None:
        if not await workspace_exists(args.workspace):
            return None
        return await create_api_key(args.workspace, args.name or args.role.lower(), Role(args.role))

    created = _run(settings, work)
    if created is None:
        print(f"error: no workspace with id {args.workspace}", file=sys.stderr)
        return 2
    key, secret = created
    _print(
        {"workspaceId": args.workspace, "apiKeyId": key.id, "role": key.role, "apiKey": secret},
        args.json,
        [f"{key.role} API key for workspace {args.workspace} (shown once): {secret}"],
    )
    return 0


def _run(settings: Settings, work: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        return asyncio.run(_with_db(settings, work))
    except InputInvalid as exc:
        for p in exc.problems:
            print(f"error: {'.'.join(p.field or ())}: {p.message}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_tick(settings: Settings, args: argparse.Namespace) -> int:
    """Apply every due time-based rule once, batch after batch, then exit."""
    from api.lifecycle import Lifecycle

    registry = load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow)
    lifecycle = Lifecycle(registry)  # no subscribers in this process; hooks still run

    async def work() -> tuple[int, int]:
        customers = moves = 0
        while True:
            result = await lifecycle.tick(limit=settings.tick_batch)
            customers, moves = customers + result.customers, moves + result.moves
            if result.customers == 0:
                return customers, moves

    customers, moves = _run(settings, work)
    print(f"checked {customers} customers, {moves} moves")
    return 0


def cmd_plugins(settings: Settings, args: argparse.Namespace) -> int:
    registry = load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow)
    data: dict[str, list[dict[str, Any]]] = {
        "plugins": [
            {
                "name": i.name,
                "distribution": i.distribution,
                "version": i.version,
                "hooks": list(i.hooks),
                "builtin": i.builtin,
            }
            for i in registry.plugins.values()
        ],
        "models": [
            {
                "key": m.model.key,
                "name": m.model.name,
                "version": m.model.version,
                "plugin": m.plugin.name,
                "distribution": m.plugin.distribution,
            }
            for m in registry.models.values()
        ],
        "rejected": [
            {"name": x.name, "distribution": x.distribution, "version": x.version, "reason": x.reason}
            for x in registry.problems
        ],
    }
    lines = ["models:"]
    lines += [
        f"  {m['key']:<14} {m['version']:<8} {m['name']}  ({m['distribution']}: {m['plugin']})" for m in data["models"]
    ]
    lines += ["plugins:"]
    lines += [
        f"  {p['name']:<22} {p['distribution']} {p['version']}  hooks: {', '.join(p['hooks'])}" for p in data["plugins"]
    ]
    lines += ["rejected plugins:" if data["rejected"] else "rejected plugins: none"]
    lines += [f"  {x['name']} ({x['distribution']} {x['version']}): {x['reason']}" for x in data["rejected"]]
    _print(data, args.json, lines)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jornada", description="Jornada customer-lifecycle engine")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the API (GraphiQL at /graphql)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply migrations to JORNADA_DATABASE_URL").set_defaults(func=cmd_migrate)

    ws = sub.add_parser("workspace", help="manage workspaces").add_subparsers(dest="action", required=True)
    create = ws.add_parser("create", help="create a workspace and print its ADMIN key")
    create.add_argument("name")
    create.add_argument("--currency", default="BRL")
    create.add_argument("--timezone", default="UTC")
    create.add_argument("--model", default=DEFAULT_MODEL, help="the primary lifecycle model (default: funnel)")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(func=cmd_workspace_create)

    boot = sub.add_parser("bootstrap", help="create a first workspace if there is none")
    boot.add_argument("--name", default="My business")
    boot.add_argument("--currency", default="BRL")
    boot.set_defaults(func=cmd_bootstrap)

    keys = sub.add_parser("apikey", help="manage API keys").add_subparsers(dest="action", required=True)
    key = keys.add_parser("create", help="create an API key and print it once")
    key.add_argument("--workspace", type=int, required=True)
    key.add_argument("--role", choices=ROLES, required=True)
    key.add_argument("--name")
    key.add_argument("--json", action="store_true", help="print one JSON object")
    key.set_defaults(func=cmd_apikey_create)
    sub.add_parser("tick", help="apply due time-based stage rules once").set_defaults(func=cmd_tick)
    plugins = sub.add_parser("plugins", help="list models, plugins and rejected plugins")
    plugins.add_argument("--json", action="store_true", help="print one JSON object")
    plugins.set_defaults(func=cmd_plugins)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
