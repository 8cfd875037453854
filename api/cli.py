"""The `jornada` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from api import cli_data, cli_keys, cli_webhooks
from api.cli_common import database_label, positive_int
from api.migrate import apply_migrations
from api.settings import Settings


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(apply_migrations(settings))
    print(f"migrated {settings.dialect} database {database_label(settings)}")
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
        # uvicorn formats each access line before its logger's level is looked at: not at all
        # when it would not be shown.
        access_log=settings.log_level in ("DEBUG", "INFO"),
        lifespan="on",
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jornada", description="Jornada customer-lifecycle engine")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate, then serve the API (GraphiQL at /graphql)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=positive_int, default=8000)
    serve.add_argument("--workers", type=positive_int, default=1)
    serve.set_defaults(func=cmd_serve)
    sub.add_parser("migrate", help="apply migrations to JORNADA_DATABASE_URL").set_defaults(func=cmd_migrate)
    cli_keys.add_parsers(sub)
    cli_data.add_parsers(sub)
    cli_webhooks.add_parsers(sub)
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
