"""The `jornada` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from tortoise.context import TortoiseContext

from api.errors import InputInvalid
from api.events import live_lifecycle
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
    """Create a first workspace when the database has none (used by `make run`); on a terminal,
    offer the demo workspace instead of an empty one."""
    if args.offer_demo and sys.stdin.isatty() and not _run(settings, count_workspaces):
        answer = input("No workspace yet. Load the demo workspace (two years of sample data)? [Y/n] ")
        if answer.strip().lower() in ("", "y", "yes", "s", "sim"):
            demo = _make_demo(settings, 400, quiet=False)
            print("\n".join(_workspace_lines(demo.workspace.id, demo.workspace.name, demo.key)))
            return 0

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

    registry = load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow)
    lifecycle = live_lifecycle(settings, registry)

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


def cmd_fit(settings: Settings, args: argparse.Namespace) -> int:
    """Refit the workspace's value model (BG/NBD + Gamma-Gamma) and every customer's predictions."""
    from datetime import date

    from api import value

    end = date.fromisoformat(args.calibration_end) if args.calibration_end else None

    async def work() -> Any:
        if not await workspace_exists(args.workspace):
            return None
        return await value.refresh(args.workspace, end, args.horizon_weeks, args.discount)

    fitted = _run(settings, work)
    if fitted is None:
        print(f"error: no workspace with id {args.workspace}", file=sys.stderr)
        return 2
    bg, gg = fitted.params.get("bgnbd"), fitted.params.get("gamma_gamma")
    data = {
        "workspaceId": args.workspace,
        "status": fitted.status,
        "reasons": list(fitted.reasons),
        "customers": fitted.customers,
        "repeatCustomers": fitted.repeat_customers,
        "spendCustomers": fitted.spend_customers,
        "repeatPurchases": fitted.repeat_purchases,
        "calibrationEnd": fitted.calibration_end.isoformat(),
        "bgnbd": bg,
        "gammaGamma": gg,
        "error": fitted.error,
    }
    lines = [
        f"{fitted.status}: fitted on {fitted.customers} customers ({fitted.repeat_customers} with repeat purchases, "
        f"{data['spendCustomers']} of them with a positive repeat spend), calibration end {fitted.calibration_end}"
    ]
    if bg:
        lines.append(f"BG/NBD: {bg}")
    if gg:
        lines.append(f"Gamma-Gamma: {gg}")
    lines += [f"- {reason}" for reason in fitted.reasons]
    _print(data, args.json, lines)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Create the demo workspace and print its ADMIN key."""
    demo = _make_demo(settings, args.customers, quiet=args.json)
    data = {
        "workspaceId": demo.workspace.id,
        "name": demo.workspace.name,
        "apiKey": demo.key,
        "customers": demo.customers,
        "interactions": demo.interactions,
    }
    lines = [
        f"demo workspace {demo.workspace.id} ({demo.workspace.name}): {demo.customers} customers, "
        f"{demo.interactions} interactions over two years",
        f"ADMIN API key (shown once, keep it): {demo.key}",
    ]
    _print(data, args.json, lines)
    return 0


def _make_demo(settings: Settings, customers: int, quiet: bool) -> Any:
    from api.demo import create_demo

    lifecycle = live_lifecycle(settings, load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow))
    show = sys.stderr.isatty() and not quiet

    def progress(done: int) -> None:
        if show:
            print(f"\r  {done}/{customers} customers", end="", file=sys.stderr, flush=True)

    async def work() -> Any:
        return await create_demo(lifecycle, customers=customers, progress=progress)

    demo = _run(settings, work)
    if show:
        print(file=sys.stderr)
    return demo


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


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import a CSV file of customers or interactions (see README: "Importing and exporting CSV")."""
    from api import csv_import

    try:
        source = csv_import.open_source(args.what, args.file)
    except csv_import.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lifecycle = live_lifecycle(settings, load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow))
    report = csv_import.Report(sys.stderr, keep_errors=args.json)

    async def work() -> csv_import.Report | None:
        if not await workspace_exists(args.workspace):
            return None
        return await csv_import.run_import(source, args.workspace, lifecycle, report, rebuild=args.rebuild)

    with source:
        done = _run(settings, work)
    if done is None:
        print(f"error: no workspace with id {args.workspace}", file=sys.stderr)
        return 2
    if report.fatal:
        print(f"error: {report.fatal}", file=sys.stderr)
    _print(report.to_json(), args.json, [report.summary()])
    return 2 if report.fatal else 1 if report.failed else 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write a workspace's customers or interactions as CSV, in the format `import` reads."""
    from api import csv_export

    async def work() -> csv_export.Exported | None:
        if not await workspace_exists(args.workspace):
            return None
        with csv_export.output(args.output) as out:
            return await csv_export.write_csv(args.what, args.workspace, out)

    try:
        done = _run(settings, work)
    except BrokenPipeError:  # e.g. `jornada export ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"error: {args.output or 'standard output'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if done is None:
        print(f"error: no workspace with id {args.workspace}", file=sys.stderr)
        return 2
    print(f"exported {done.rows} {args.what}" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    if done.without_external_id:
        print(
            f"warning: {done.without_external_id} rows have an empty external id (the customer has none); "
            "`jornada import` refuses them",
            file=sys.stderr,
        )
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
    boot.add_argument("--offer-demo", action="store_true", help="on a terminal, offer the demo workspace")
    boot.set_defaults(func=cmd_bootstrap)

    keys = sub.add_parser("apikey", help="manage API keys").add_subparsers(dest="action", required=True)
    key = keys.add_parser("create", help="create an API key and print it once")
    key.add_argument("--workspace", type=int, required=True)
    key.add_argument("--role", choices=ROLES, required=True)
    key.add_argument("--name")
    key.add_argument("--json", action="store_true", help="print one JSON object")
    key.set_defaults(func=cmd_apikey_create)
    sub.add_parser("tick", help="apply due time-based stage rules once").set_defaults(func=cmd_tick)
    demo = sub.add_parser("demo", help="create a demo workspace with two years of realistic data")
    demo.add_argument("--customers", type=int, default=400)
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.set_defaults(func=cmd_demo)
    fit = sub.add_parser("fit", help="refit the value model (predicted CLV) of a workspace")
    fit.add_argument("--workspace", type=int, required=True)
    fit.add_argument("--calibration-end", help="use purchases up to this day, YYYY-MM-DD (default: today)")
    fit.add_argument("--horizon-weeks", type=int, default=52)
    fit.add_argument("--discount", type=float, default=0.10, help="annual discount rate (default 0.10)")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(func=cmd_fit)
    plugins = sub.add_parser("plugins", help="list models, plugins and rejected plugins")
    plugins.add_argument("--json", action="store_true", help="print one JSON object")
    plugins.set_defaults(func=cmd_plugins)
    imp = sub.add_parser("import", help="import customers or interactions from a CSV file")
    imp.add_argument("what", choices=["customers", "interactions"])
    imp.add_argument("file", help="a UTF-8 CSV file with a header row (- for standard input)")
    imp.add_argument("--workspace", type=int, required=True)
    imp.add_argument(
        "--rebuild",
        action="store_true",
        help="afterwards, replay every customer's history in every tracked model (writes nothing when the "
        "journeys are already right; changed moves are superseded, manual moves made again at their time)",
    )
    imp.add_argument("--json", action="store_true", help="print one JSON object: the counts and the errors")
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser("export", help="export customers or interactions as CSV, in the import format")
    exp.add_argument("what", choices=["customers", "interactions"])
    exp.add_argument("--workspace", type=int, required=True)
    exp.add_argument("--output", help="write to this file instead of standard output")
    exp.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
