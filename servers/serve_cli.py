"""`realtime-mcp serve [NAME]`: run the suite (or one server) under uvicorn."""

from __future__ import annotations

import argparse
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
            options["choices"] = get_args(kind)
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

    from servers import log_safety
    from servers.app import create_app
    from servers.auth.secrets import AuthConfigError
    from servers.http_server import uvicorn_config

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
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log_safety.install()  # every record, uvicorn's included (it logs through these handlers)
    served = [args.server] if args.server else settings.servers
    if settings.local_device and {"screen", "pointer"} & set(served):
        from capture_client.pipeline import tune_allocator

        tune_allocator()  # process-wide, so at start-up rather than inside the first capture
    try:
        app = create_app(settings, standalone=args.server)
    except AuthConfigError as e:
        print(f"realtime-mcp serve: {e}", file=sys.stderr)
        return 2
    where = "/mcp" if args.server else ", ".join(f"/{n}/mcp" for n in settings.servers)
    log.info("realtime-mcp serving %s on http://%s:%d", where, settings.host, settings.port)
    uvicorn.Server(uvicorn_config(app, settings)).run()
    return 0
