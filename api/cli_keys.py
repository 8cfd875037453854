"""`jornada workspace ...`, `jornada apikey ...` and `jornada bootstrap`: what an operator needs
to hand out and take back access."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from api.cli_common import database_label, emit, fail, positive_int, run_db
from api.errors import InputInvalid
from api.settings import Settings
from api.workspaces import (
    DEFAULT_MODEL,
    Role,
    count_workspaces,
    create_api_key,
    create_workspace,
    list_api_keys,
    list_workspaces,
    revoke_api_key,
    workspace_counts,
    workspace_exists,
)
from plugins.manager import load_plugins

ROLES = [r.value for r in Role]


def workspace_lines(ws_id: int, name: str, secret: str, settings: Settings) -> list[str]:
    return [
        f"workspace {ws_id} ({name}) created in {database_label(settings)}",
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

    ws, secret = run_db(settings, work)
    emit(
        {"workspaceId": ws.id, "name": ws.name, "currency": ws.currency, "apiKey": secret, "role": "ADMIN"},
        args.json,
        workspace_lines(ws.id, ws.name, secret, settings),
    )
    return 0


def cmd_workspace_list(settings: Settings, args: argparse.Namespace) -> int:
    async def work() -> list[dict[str, Any]]:
        counts = await workspace_counts()
        return [
            {
                "workspaceId": ws.id,
                "name": ws.name,
                "currency": ws.currency,
                "timezone": ws.timezone,
                "createdAt": ws.created_at.isoformat(),
                "customers": counts.get(ws.id, (0, 0))[0],
                "activeKeys": counts.get(ws.id, (0, 0))[1],
            }
            for ws in await list_workspaces()
        ]

    found = run_db(settings, work, existing=True)
    lines = [f"{len(found)} workspace(s) in {database_label(settings)}"]
    lines += [
        f"  {w['workspaceId']:>4}  {w['name']}  ({w['currency']}, {w['timezone']}): {w['customers']} customers, "
        f"{w['activeKeys']} active key(s)"
        for w in found
    ]
    emit({"database": database_label(settings), "workspaces": found}, args.json, lines)
    return 0


def cmd_bootstrap(settings: Settings, args: argparse.Namespace) -> int:
    """Create a first workspace when the database has none (used by `make run`); on a terminal,
    offer the demo workspace instead of an empty one."""
    from api.cli_data import make_demo

    if args.offer_demo and sys.stdin.isatty() and not run_db(settings, count_workspaces):
        answer = input("No workspace yet. Load the demo workspace (two years of sample data)? [Y/n] ")
        if answer.strip().lower() in ("", "y", "yes", "s", "sim"):
            demo = make_demo(settings, 400, quiet=False)
            print("\n".join(workspace_lines(demo.workspace.id, demo.workspace.name, demo.key, settings)))
            return 0

    async def work() -> tuple[Any, str] | None:
        if await count_workspaces():
            return None
        return await create_workspace(args.name, args.currency, "UTC")

    created = run_db(settings, work)
    if created is None:
        print("a workspace already exists: `jornada apikey create --workspace ID --role ADMIN` gives a key")
        return 0
    ws, secret = created
    print("\n".join(workspace_lines(ws.id, ws.name, secret, settings)))
    return 0


def _need_workspace(settings: Settings, workspace_id: int) -> None:
    if not run_db(settings, lambda: workspace_exists(workspace_id), existing=True):
        fail(settings, f"no workspace with id {workspace_id}; `jornada workspace list` shows them")


def cmd_apikey_create(settings: Settings, args: argparse.Namespace) -> int:
    _need_workspace(settings, args.workspace)
    key, secret = run_db(
        settings, lambda: create_api_key(args.workspace, args.name or args.role.lower(), Role(args.role))
    )
    emit(
        {"workspaceId": args.workspace, "apiKeyId": key.id, "role": key.role, "apiKey": secret},
        args.json,
        [f"{key.role} API key {key.id} for workspace {args.workspace} (shown once): {secret}"],
    )
    return 0


def cmd_apikey_list(settings: Settings, args: argparse.Namespace) -> int:
    _need_workspace(settings, args.workspace)
    keys = run_db(settings, lambda: list_api_keys(args.workspace))
    rows = [
        {
            "apiKeyId": k.id,
            "name": k.name,
            "role": k.role,
            "prefix": k.prefix,
            "createdAt": k.created_at.isoformat(),
            "revokedAt": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in keys
    ]
    lines = [f"{len(rows)} API key(s) of workspace {args.workspace} (secrets are never shown again):"]
    lines += [
        f"  {r['apiKeyId']:>4}  {r['role']:<6} {r['prefix']}...  {r['name']}  created {r['createdAt'][:10]}"
        + (f", REVOKED {r['revokedAt'][:10]}" if r["revokedAt"] else "")
        for r in rows
    ]
    emit({"workspaceId": args.workspace, "apiKeys": rows}, args.json, lines)
    return 0


def cmd_apikey_revoke(settings: Settings, args: argparse.Namespace) -> int:
    _need_workspace(settings, args.workspace)

    async def work() -> Any:
        try:
            return await revoke_api_key(args.workspace, args.key)
        except InputInvalid as exc:
            return exc

    done = run_db(settings, work)
    if isinstance(done, InputInvalid):
        fail(settings, f"API key {args.key} of workspace {args.workspace}: {done.problems[0].message}")
    emit(
        {"workspaceId": args.workspace, "apiKeyId": done.id, "revokedAt": done.revoked_at.isoformat()},
        args.json,
        [f"API key {done.id} ({done.role}, {done.name}) of workspace {args.workspace} revoked: it no longer works"],
    )
    return 0


def add_parsers(sub: Any) -> None:
    ws = sub.add_parser("workspace", help="manage workspaces").add_subparsers(dest="action", required=True)
    create = ws.add_parser("create", help="create a workspace and print its ADMIN key")
    create.add_argument("name")
    create.add_argument("--currency", default="BRL")
    create.add_argument("--timezone", default="UTC")
    create.add_argument("--model", default=DEFAULT_MODEL, help="the primary lifecycle model (default: funnel)")
    create.add_argument("--json", action="store_true", help="print one JSON object")
    create.set_defaults(func=cmd_workspace_create)
    listing = ws.add_parser("list", help="list the workspaces of the database, with customers and active keys")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=cmd_workspace_list)

    boot = sub.add_parser("bootstrap", help="create a first workspace if there is none")
    boot.add_argument("--name", default="My business")
    boot.add_argument("--currency", default="BRL")
    boot.add_argument("--offer-demo", action="store_true", help="on a terminal, offer the demo workspace")
    boot.set_defaults(func=cmd_bootstrap)

    keys = sub.add_parser("apikey", help="manage API keys").add_subparsers(dest="action", required=True)
    key = keys.add_parser("create", help="create an API key and print it once")
    key.add_argument("--workspace", type=positive_int, required=True)
    key.add_argument("--role", choices=ROLES, required=True)
    key.add_argument("--name")
    key.add_argument("--json", action="store_true", help="print one JSON object")
    key.set_defaults(func=cmd_apikey_create)
    listed = keys.add_parser("list", help="list a workspace's API keys (never their secrets)")
    listed.add_argument("--workspace", type=positive_int, required=True)
    listed.add_argument("--json", action="store_true", help="print one JSON object")
    listed.set_defaults(func=cmd_apikey_list)
    revoke = keys.add_parser("revoke", help="revoke an API key: it stops working at once")
    revoke.add_argument("key", type=positive_int, help="the key's id (from `jornada apikey list`)")
    revoke.add_argument("--workspace", type=positive_int, required=True)
    revoke.add_argument("--json", action="store_true", help="print one JSON object")
    revoke.set_defaults(func=cmd_apikey_revoke)
