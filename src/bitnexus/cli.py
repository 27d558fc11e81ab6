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
    serve.set_defaults(command=_serve)
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
    run(settings, build_server(settings))
    return 0


def _load(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.env)
    changes: dict[str, object] = {}
    if args.host is not None:
        changes["server.host"] = args.host
    if args.port is not None:
        changes["server.port"] = args.port
    return settings.override(changes) if changes else settings
