"""The ``bitnexus`` command: the only reader of ``sys.argv``.

Example::

    $ bitnexus serve --env dev --port 4001
    BitNexus listening on http://127.0.0.1:4001
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bitnexus import __version__
from bitnexus.config import Settings, load_settings
from bitnexus.exceptions import ConfigError
from bitnexus.log import configure_logging, get_logger

__all__ = ["main"]

_CONFIG_ERROR_EXIT = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bitnexus`` command line.

    Args:
        argv: the arguments after the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The process exit code (0 on a clean shutdown, 2 on a configuration error).

    Example::

        raise SystemExit(main(["serve", "--port", "4001"]))
    """
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args))
    except ConfigError as exc:
        print(f"bitnexus: configuration error: {exc}", file=sys.stderr)
        return _CONFIG_ERROR_EXIT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bitnexus",
        description="OTP-style processes and Phoenix channels for Python.",
    )
    parser.add_argument("--version", action="version", version=f"bitnexus {__version__}")
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the HTTP/WebSocket server")
    serve.add_argument("--env", help="environment: dev (default), test, prod; or BITNEXUS_ENV")
    serve.add_argument("--host", help="interface to bind (default: server.host)")
    serve.add_argument("--port", type=int, help="port to bind (default: server.port, 4000)")
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="bind with SO_REUSEPORT so several server processes share the port",
    )
    serve.set_defaults(command=_serve)
    _add_migrate(commands)
    _add_seed(commands)
    _add_routes(commands)
    _add_tree(commands)
    _add_gen(commands)
    return parser


def _serve(args: argparse.Namespace) -> int:
    # Imported here so commands that do not serve need not load aiohttp.
    from bitnexus.server import build_server
    from bitnexus.web.endpoint import run

    settings = _load(args)
    configure_logging(settings.log)
    log = get_logger("bitnexus.cli", env=settings.env)
    if settings.auth.secret_generated:
        log.warning(
            "secret_key_base_generated",
            detail="SECRET_KEY_BASE is not set; using a random secret for this run. "
            "Tokens will not survive a restart. Set SECRET_KEY_BASE to keep them.",
        )
    from bitnexus.exceptions import StartError
    from bitnexus.repo import DatabaseUnavailable

    try:
        run(settings, build_server(settings), reuse_port=args.reuse_port)
    except (DatabaseUnavailable, StartError) as exc:
        # Already logged where it happened; a trace here would only bury it.
        print(f"bitnexus: could not start: {exc}", file=sys.stderr)
        return 1
    return 0


def _load(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.env)
    changes: dict[str, object] = {}
    if args.host is not None:
        changes["server.host"] = args.host
    if args.port is not None:
        changes["server.port"] = args.port
    return settings.override(changes) if changes else settings


def _add_migrate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    migrate = commands.add_parser("migrate", help="apply pending database migrations")
    migrate.add_argument("--env", help="environment: dev (default), test, prod; or BITNEXUS_ENV")
    migrate.add_argument(
        "--status", action="store_true", help="list the pending migrations; apply nothing"
    )
    migrate.set_defaults(command=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    import asyncio

    from bitnexus.platform import open_database
    from bitnexus.repo import DatabaseUnavailable, migrate, pending

    settings = load_settings(args.env)
    configure_logging(settings.log)

    async def run() -> list[str]:
        async with open_database(settings) as db:
            return await (pending(db) if args.status else migrate(db))

    try:
        labels = asyncio.run(run())
    except DatabaseUnavailable as exc:
        print(f"bitnexus: {exc}", file=sys.stderr)
        return 1
    if args.status:
        print("\n".join(f"pending {label}" for label in labels) or "the schema is up to date")
    else:
        print("\n".join(f"applied {label}" for label in labels) or "nothing to apply: up to date")
    return 0


def _add_seed(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    seed = commands.add_parser(
        "seed", help="create an admin, demo accounts and products (idempotent)"
    )
    seed.add_argument("--env", help="environment: dev (default), test, prod; or BITNEXUS_ENV")
    seed.set_defaults(command=_seed)


def _seed(args: argparse.Namespace) -> int:
    import asyncio

    from bitnexus.repo import DatabaseUnavailable
    from bitnexus.seed import SchemaBehind, run_seed

    settings = load_settings(args.env)
    configure_logging(settings.log)
    try:
        report = asyncio.run(run_seed(settings))
    except (DatabaseUnavailable, SchemaBehind) as exc:
        print(f"bitnexus: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


def _add_routes(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    routes = commands.add_parser(
        "routes", help="print the HTTP API's routes (method, path, pipeline, handler)"
    )
    routes.add_argument("--env", help="environment: dev (default), test, prod; or BITNEXUS_ENV")
    routes.set_defaults(command=_routes)


def _routes(args: argparse.Namespace) -> int:
    # Builds the router only: no server, no database, no processes.
    from bitnexus.platform import Platform
    from bitnexus.web.api import build_router

    router = build_router(Platform(load_settings(args.env)))
    print(router.format_table())
    return 0


def _add_tree(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tree = commands.add_parser(
        "tree",
        help="print a running server's supervision tree (BITNEXUS_URL, BITNEXUS_TOKEN)",
    )
    tree.add_argument("--children", type=int, default=20, help="children shown per process")
    tree.add_argument(
        "--sort", choices=["mailbox", "restarts", "rate", "handled", "uptime"], help="order"
    )
    tree.add_argument("--kind", help="only this kind, as a flat list (e.g. channel)")
    tree.add_argument("--name", help="only registered names with this prefix, as a flat list")
    tree.add_argument("--topic", help="only processes on this channel topic, as a flat list")
    tree.set_defaults(command=_tree)


def _tree(args: argparse.Namespace) -> int:
    from bitnexus.admin.tree_cli import run_tree

    return run_tree(
        sys.stdout,
        sys.stderr,
        children=args.children,
        sort=args.sort,
        kind=args.kind,
        name=args.name,
        topic=args.topic,
    )


def _add_gen(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gen = commands.add_parser("gen", help="generate code: gen channel NAME")
    what = gen.add_subparsers(title="generators", required=True, metavar="WHAT")
    channel = what.add_parser("channel", help="a new channel module and its test")
    channel.add_argument("name", help="class-like name, e.g. Chat")
    channel.add_argument("--dir", default="channels", help="where the channel goes")
    channel.add_argument("--tests", default="tests", help="where its test goes")
    channel.set_defaults(command=_gen_channel)


def _gen_channel(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bitnexus.exceptions import Misuse
    from bitnexus.gen import generate_channel

    try:
        written = generate_channel(args.name, directory=Path(args.dir), tests=Path(args.tests))
    except Misuse as exc:
        print(f"bitnexus: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"created {path}")
    return 0
