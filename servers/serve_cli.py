"""`realtime-mcp serve [NAME]`: run the suite (or one server) under uvicorn."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

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
    add_setting_flags(p)
    p.set_defaults(func=run)


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """A flag per settings field marked with `flag(...)`; type, choices and help come from the field."""
    for name, field in Settings.model_fields.items():
        marker = field.json_schema_extra
        if not isinstance(marker, dict) or "flag" not in marker:
            continue
        kind = field.annotation
        if get_origin(kind) in (Union, UnionType):  # `str | None`: the flag gives the value
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        options: dict[str, Any] = {
            "dest": name,
            "help": str(marker.get("flag_help") or field.description or "").replace("%", "%%"),
        }
        if "flag_metavar" in marker:
            options["metavar"] = marker["flag_metavar"]
        if kind is bool:
            # The flag says the opposite of the default; unset, the environment (or default) decides.
            options.update(action="store_false" if field.default else "store_true", default=None)
        elif get_origin(kind) in (list, dict):
            item = get_args(kind)[0] if get_origin(kind) is list else str
            options.update(action="append", type=item if item in (Path, int) else str)
        elif get_origin(kind) is Literal:
            options["choices"] = choices = get_args(kind)
            if all(isinstance(c, str) and c.isupper() for c in choices):
                options["type"] = str.upper  # `--log-level debug` as well as DEBUG
        else:
            options["type"] = kind if kind in (int, float, Path) else str
        parser.add_argument(str(marker["flag"]), **options)


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
    served = [args.server] if args.server else settings.servers
    if settings.local_device and {"screen", "pointer"} & set(served):
        from capture_client.pipeline import tune_allocator

        tune_allocator()  # process-wide, so at start-up rather than inside the first capture
    try:
        app = create_app(settings, standalone=args.server)
    except AuthConfigError as e:
        print(f"realtime-mcp serve: {e}", file=sys.stderr)
        return 2
    if settings.redis_url is not None:  # several replicas: their shared Redis must answer first
        from servers.hub.cluster import ClusterError
        from servers.hub.cluster.connection import preflight

        try:
            preflight(settings.redis_url.get_secret_value())
        except ClusterError as e:
            print(f"realtime-mcp serve: {e}", file=sys.stderr)
            return 2
    # The app and the SDKs' pydantic models live as long as the process: kept out of the garbage
    # collector, whose full collections would walk them again and again (and once more at exit, ~1 s).
    gc.collect()
    gc.freeze()
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
