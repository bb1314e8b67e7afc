"""`realtime-mcp session-config`: print what attaches the suite to a Realtime session."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from servers.settings import SERVER_NAMES


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "session-config",
        help="Print the session.update event (or client secret body) for a Realtime session.",
        description="Print the session.update event that attaches the suite's MCP servers to an OpenAI "
        "Realtime session, each with a freshly minted token scoped to that server and one device. "
        "The output holds bearer tokens: treat it as a secret.",
    )
    p.add_argument(
        "--public-url", required=True, help="Where OpenAI reaches the suite, e.g. https://mcp.example.com"
    )
    p.add_argument("--device", required=True, help="The device whose screen and pointer the session uses.")
    p.add_argument(
        "--servers",
        default=",".join(SERVER_NAMES),
        help=f"Comma separated, among {', '.join(SERVER_NAMES)} (default all).",
    )
    p.add_argument("--ttl", default="1h", help="Lifetime of the minted tokens (default 1h).")
    p.add_argument(
        "--format",
        choices=["session-update", "client-secret"],
        default="session-update",
        help="session-update: the client event; client-secret: the POST /v1/realtime/client_secrets body.",
    )
    p.add_argument("--model", default="gpt-realtime", help="Model for --format client-secret.")
    p.add_argument(
        "--secret-ttl", type=int, default=600, help="Seconds the client secret stays usable (10-7200)."
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from servers.auth.secrets import AuthConfigError, token_keys
    from servers.auth.tokens import mint, parse_ttl
    from servers.realtime.session_config import check_public_url, client_secret_body, session_update
    from servers.settings import Settings

    try:
        names = [n.strip() for n in args.servers.split(",") if n.strip()]
        unknown = [n for n in names if n not in SERVER_NAMES]
        if unknown or not names:
            raise ValueError(f"--servers must be among {', '.join(SERVER_NAMES)} (got {args.servers!r}).")
        public_url = check_public_url(args.public_url)
        settings = Settings()  # the environment only
        keys = token_keys(settings, for_server=False)
        ttl = parse_ttl(args.ttl)
        tokens = {
            name: mint(
                keys,
                device=args.device,
                scopes=[name],
                ttl=ttl,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
            )
            for name in dict.fromkeys(names)
        }
        if args.format == "client-secret":
            body = client_secret_body(public_url, tokens, model=args.model, expires_seconds=args.secret_ttl)
        else:
            body = session_update(public_url, tokens)
    except (AuthConfigError, ValueError) as e:
        print(f"realtime-mcp session-config: {e}", file=sys.stderr)
        return 2
    if public_url.startswith("http://"):
        print(
            "warning: the public URL is plain http; tokens would cross the internet unencrypted.",
            file=sys.stderr,
        )
    print(json.dumps(body, indent=2))
    return 0
