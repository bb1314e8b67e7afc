"""`realtime-mcp`: one console script, one subcommand per job.

Each command lives beside what it drives and registers itself here; modules are imported only
when their command runs, so `realtime-mcp --help` stays fast and platform code stays lazy.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module path -> it defines `register(subparsers)`; each parser sets `func(args) -> int`.
COMMAND_MODULES = (
    "servers.serve_cli",
    "servers.skills.cli",
    "servers.auth.cli",
    "servers.realtime.cli",
    "capture_client.cli",
    "servers.ops.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="realtime-mcp",
        description="MCP servers that give a voice model skills, screen frames and a pointer.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_path in COMMAND_MODULES:
        importlib.import_module(module_path).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
