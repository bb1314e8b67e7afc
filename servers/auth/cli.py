"""`realtime-mcp token mint`: print a signed token for one device and some scopes."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from servers.auth.tokens import SCOPES


def register(subparsers: Any) -> None:
    token: argparse.ArgumentParser = subparsers.add_parser(
        "token",
        help="Mint access tokens for the MCP servers and capture clients.",
        description="Tokens are signed with REALTIME_MCP_TOKEN_SECRET, or on a loopback-only setup with "
        "the secret generated in REALTIME_MCP_STATE_DIR (default ~/.config/realtime-mcp).",
    )
    actions = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    mint = actions.add_parser(
        "mint",
        help="Print a token for one device.",
        description="Print a signed token bound to one device, for the given scopes and lifetime.",
    )
    mint.add_argument("--device", required=True, help="The device the token acts on (e.g. mac-1, local).")
    mint.add_argument(
        "--scopes",
        default="skills,screen,pointer",
        help=f"Comma separated, among {', '.join(SCOPES)} (default skills,screen,pointer). "
        "`device` lets a capture client connect as the device; `call` lets an app start, attach and "
        "manage Realtime calls for the device through the bridge (/realtime/calls); `console` opens the "
        "/console page; `metrics` reads /metrics.",
    )
    mint.add_argument("--ttl", default="1h", help="Lifetime: seconds or 90s, 15m, 1h, 7d (default 1h).")
    mint.set_defaults(func=run_mint)


def run_mint(args: argparse.Namespace) -> int:
    from servers.auth.secrets import AuthConfigError, token_keys
    from servers.auth.tokens import mint, parse_scopes, parse_ttl
    from servers.settings import Settings

    try:
        settings = Settings()  # the environment only
        token = mint(
            token_keys(settings, for_server=False),
            device=args.device,
            scopes=parse_scopes(args.scopes),
            ttl=parse_ttl(args.ttl),
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        )
    except (AuthConfigError, ValueError) as e:
        print(f"realtime-mcp token mint: {e}", file=sys.stderr)
        return 2
    print(token)
    return 0
