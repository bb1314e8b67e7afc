"""`realtime-mcp serve [NAME]`: run the suite (or one server) under uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from servers.settings import SERVER_NAMES, Settings

log = logging.getLogger("realtime_mcp")


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="Run the suite (skills, screen, pointer) or one server standalone.",
        description="Run the suite. Every flag also reads REALTIME_MCP_<NAME> from the environment.",
    )
    p.add_argument("server", nargs="?", choices=SERVER_NAMES, help="Serve only this server, at /mcp.")
    p.add_argument("--host", help="Interface to listen on (default 127.0.0.1).")
    p.add_argument("--port", type=int, help="TCP port (default 8765).")
    p.add_argument(
        "--skills", dest="skills_dirs", type=Path, action="append", help="Skills folder (repeatable)."
    )
    p.add_argument("--no-reload", dest="skills_reload", action="store_false", default=None)
    p.add_argument(
        "--stateful",
        dest="stateless",
        action="store_false",
        default=None,
        help="Keep MCP sessions (enables list_changed notifications on a standing stream).",
    )
    p.add_argument("--json-response", action="store_true", default=None, help="JSON instead of SSE answers.")
    p.add_argument(
        "--no-local-device",
        dest="local_device",
        action="store_false",
        default=None,
        help="Do not offer this machine's own display.",
    )
    p.add_argument("--display", help="X display of the local device (default: $DISPLAY).")
    p.add_argument(
        "--device-token",
        dest="device_tokens",
        action="append",
        metavar="ID=TOKEN",
        help="Accept a capture client for device ID with this token (repeatable).",
    )
    p.add_argument("--log-level", type=str.upper, choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
    p.add_argument("--log-format", choices=["text", "json"], help="Log lines as text or JSON (default text).")
    p.add_argument(
        "--public-url", help="The URL clients reach the suite at (names the OAuth resource, allowed Host)."
    )
    p.add_argument(
        "--no-auth",
        dest="auth",
        action="store_false",
        default=None,
        help="Serve without tokens (refused unless listening on loopback).",
    )
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Flags override the environment, which overrides the defaults."""
    fields = set(Settings.model_fields)
    overrides = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return Settings(**overrides)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from servers.app import create_app
    from servers.auth.secrets import AuthConfigError
    from servers.http_server import uvicorn_config
    from servers.ops import logs
    from servers.ops.startup import facts_of, startup_block

    try:
        settings = settings_from_args(args)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'settings'}: {err['msg']}" for err in e.errors()
        )
        print(
            f"realtime-mcp serve: bad setting ({problems}). Flags and REALTIME_MCP_* variables "
            "are listed by `realtime-mcp serve --help`.",
            file=sys.stderr,
        )
        return 2
    # One handler for every record, uvicorn's included, with the log-safety filter on it.
    logs.configure(settings.log_level, settings.log_format)
    try:
        app = create_app(settings, standalone=args.server)
    except AuthConfigError as e:
        print(f"realtime-mcp serve: {e}", file=sys.stderr)
        return 2
    block = startup_block(settings, facts_of(app, settings, standalone=bool(args.server)))
    config = uvicorn_config(app, settings, log_level=logs.library_level(settings.log_level).lower())

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:  # listening: now the URLs in the block answer
                if settings.log_format == "json":
                    for line in block:  # one record a line: each stays under the log-safety cap
                        log.info("%s", line.strip())
                else:
                    print("\n".join(block), file=sys.stderr, flush=True)

    Server(config).run()
    return 0
