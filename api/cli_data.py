"""`jornada tick`, `fit`, `demo`, `plugins`, `import` and `export`: the commands that work on a
workspace's data."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import Any

from api.cli_common import emit, fail, int_between, iso_date, positive_int, rate, run_db
from api.customer_filters import CustomerFilter
from api.errors import InputInvalid
from api.events import live_lifecycle
from api.health import workspace_weights
from api.runtime import tune_gc
from api.settings import Settings
from api.workspaces import workspace_exists
from plugins.manager import load_plugins


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

    customers, moves = run_db(settings, work, existing=True)
    print(f"checked {customers} customers, {moves} moves")
    return 0


def cmd_fit(settings: Settings, args: argparse.Namespace) -> int:
    """Refit the workspace's value model (BG/NBD + Gamma-Gamma) and every customer's predictions."""
    from api import value

    end = args.calibration_end

    async def work() -> Any:
        if not await workspace_exists(args.workspace):
            return None
        return await value.refresh(args.workspace, end, args.horizon_weeks, args.discount)

    fitted = run_db(settings, work, existing=True)
    if fitted is None:
        fail(settings, f"no workspace with id {args.workspace}; `jornada workspace list` shows them")
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
    emit(data, args.json, lines)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Create the demo workspace and print its ADMIN key."""
    demo = make_demo(settings, args.customers, quiet=args.json)
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
    emit(data, args.json, lines)
    return 0


def make_demo(settings: Settings, customers: int, quiet: bool) -> Any:
    from api.demo import create_demo

    lifecycle = live_lifecycle(settings, load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow))
    show = sys.stderr.isatty() and not quiet

    def progress(done: int) -> None:
        if show:
            print(f"\r  {done}/{customers} customers", end="", file=sys.stderr, flush=True)

    async def work() -> Any:
        return await create_demo(lifecycle, customers=customers, progress=progress)

    demo = run_db(settings, work)
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
        # Plugins rejected whole; parts (a model, a kind) of a loaded plugin are under "partly".
        "rejected": [
            {"name": x.name, "distribution": x.distribution, "version": x.version, "reason": x.reason}
            for x in registry.problems
            if x.name not in registry.plugins
        ],
        "partly": [
            {"name": x.name, "distribution": x.distribution, "version": x.version, "reason": x.reason}
            for x in registry.problems
            if x.name in registry.plugins
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
    if data["partly"]:
        lines += ["rejected parts of loaded plugins:"]
        lines += [f"  {x['name']} ({x['distribution']} {x['version']}): {x['reason']}" for x in data["partly"]]
    emit(data, args.json, lines)
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import a CSV file of customers or interactions (see README: "Importing and exporting CSV")."""
    from api import csv_import

    try:
        source = csv_import.open_source(args.what, args.file, delimiter=args.delimiter, decimal=args.decimal)
    except csv_import.UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    lifecycle = live_lifecycle(settings, load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow))
    report = csv_import.Report(sys.stderr, keep_errors=args.json)

    async def work() -> csv_import.Report | None:
        if not await workspace_exists(args.workspace):
            return None
        tune_gc()  # as the server does: an import ingests in batches too
        return await csv_import.run_import(source, args.workspace, lifecycle, report, rebuild=args.rebuild)

    with source:
        done = run_db(settings, work, existing=True)
    if done is None:
        fail(settings, f"no workspace with id {args.workspace}; `jornada workspace list` shows them")
    if report.fatal:
        print(f"error: {report.fatal}", file=sys.stderr)
    emit(report.to_json(), args.json, [report.summary()])
    return 2 if report.fatal else 1 if report.failed else 0


async def segment_filter(settings: Settings, workspace_id: int, key: str) -> CustomerFilter:
    """The saved segment `key` as a filter, read as the API reads it (InputInvalid if unknown)."""
    from schema.build import build_schema
    from schema.customer_filter import FilterScope
    from schema.customer_filter import segment_filter as read

    lifecycle = live_lifecycle(settings, load_plugins(autoload=settings.plugin_autoload, allow=settings.plugin_allow))
    scope = FilterScope(
        workspace_id,
        lambda: lifecycle.tracked(workspace_id),
        build_schema(settings),
        lambda: workspace_weights(workspace_id),
        datetime.now(UTC),
    )
    return await read(scope, key)


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    """Write a workspace's customers or interactions as CSV, in the format `import` reads."""
    from api import csv_export

    async def work() -> csv_export.Exported | None:
        if not await workspace_exists(args.workspace):
            return None
        only = await segment_filter(settings, args.workspace, args.segment) if args.segment else None
        with csv_export.output(args.output) as out:
            return await csv_export.write_csv(args.what, args.workspace, out, only, args.order)

    try:
        done = run_db(settings, work, existing=True)
    except InputInvalid as exc:  # an unknown segment
        fail(settings, exc.problems[0].message)
    except BrokenPipeError:  # e.g. `jornada export ... | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"error: {args.output or 'standard output'}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if done is None:
        fail(settings, f"no workspace with id {args.workspace}; `jornada workspace list` shows them")
    print(f"exported {done.rows} {args.what}" + (f" to {args.output}" if args.output else ""), file=sys.stderr)
    if done.without_external_id:
        print(
            f"warning: {done.without_external_id} rows have an empty external id (the customer has none); "
            "`jornada import` refuses them",
            file=sys.stderr,
        )
    return 0


def add_parsers(sub: Any) -> None:
    sub.add_parser("tick", help="apply due time-based stage rules once").set_defaults(func=cmd_tick)
    demo = sub.add_parser("demo", help="create a demo workspace with two years of realistic data")
    demo.add_argument("--customers", type=int_between(1, 100_000), default=400)
    demo.add_argument("--json", action="store_true", help="print one JSON object")
    demo.set_defaults(func=cmd_demo)
    fit = sub.add_parser("fit", help="refit the value model (predicted CLV) of a workspace")
    fit.add_argument("--workspace", type=positive_int, required=True)
    fit.add_argument(
        "--calibration-end", type=iso_date, help="use purchases up to this day, YYYY-MM-DD (default: today)"
    )
    fit.add_argument("--horizon-weeks", type=int_between(1, 520), default=52)
    fit.add_argument("--discount", type=rate, default=0.10, help="annual discount rate (default 0.10)")
    fit.add_argument("--json", action="store_true", help="print one JSON object")
    fit.set_defaults(func=cmd_fit)
    plugins = sub.add_parser("plugins", help="list models, plugins and rejected plugins")
    plugins.add_argument("--json", action="store_true", help="print one JSON object")
    plugins.set_defaults(func=cmd_plugins)
    imp = sub.add_parser("import", help="import customers or interactions from a CSV file")
    imp.add_argument("what", choices=["customers", "interactions"])
    imp.add_argument("file", help="a UTF-8 CSV file with a header row, ',' or ';' separated (- for standard input)")
    imp.add_argument("--workspace", type=positive_int, required=True)
    imp.add_argument(
        "--rebuild",
        action="store_true",
        help="afterwards, replay every customer's history in every tracked model (writes nothing when the "
        "journeys are already right; changed moves are superseded, manual moves made again at their time)",
    )
    imp.add_argument(
        "--delimiter",
        choices=["auto", ",", ";", "tab"],
        default="auto",
        help="the column separator (default: auto, from the header line; Excel in pt-BR writes ';')",
    )
    imp.add_argument(
        "--decimal",
        choices=["auto", "point", "comma"],
        default="auto",
        help="how amounts write decimals: point (1234.56) or comma (1.234,56); auto: comma in a ';' file",
    )
    imp.add_argument("--json", action="store_true", help="print one JSON object: the counts and the errors")
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser("export", help="export customers or interactions as CSV, in the import format")
    exp.add_argument("what", choices=["customers", "interactions"])
    exp.add_argument("--workspace", type=positive_int, required=True)
    exp.add_argument("--output", help="write to this file instead of standard output")
    exp.add_argument("--segment", help="only the customers of this saved segment (and their interactions)")
    exp.add_argument(
        "--order",
        choices=["created", "value-at-risk", "health"],
        default="created",
        help="customers: oldest first (default), most value at risk first, or least healthy first",
    )
    exp.set_defaults(func=cmd_export)
