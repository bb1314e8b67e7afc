"""`realtime-mcp session-config`: print what attaches the suite to a Realtime session."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from servers.settings import SERVER_NAMES

DEFAULT_MODEL = "gpt-realtime-2.1"
"""The openai package marks gpt-realtime deprecated (shutdown 2027-01-20)."""


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "session-config",
        help="Print the session.update event (or client secret body) for a Realtime session.",
        description="Print the session.update event that attaches the suite's MCP servers to an OpenAI "
        "Realtime session, each with a freshly minted token scoped to that server and one device. "
        "The output holds bearer tokens: treat it as a secret.",
    )
    p.add_argument(
        "--public-url",
        help="Where OpenAI reaches the suite, e.g. https://mcp.example.com (needed for --tools mcp).",
    )
    p.add_argument(
        "--tools",
        choices=["mcp", "function"],
        default="mcp",
        help="mcp: OpenAI's hosted MCP client calls the suite at --public-url; function: the suite's "
        "Realtime bridge runs the tools over its sideband (attach the call with POST "
        "/realtime/calls/<id>/attach); no public URL needed.",
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
    p.add_argument(
        "--model", default=DEFAULT_MODEL, help=f"Model for --format client-secret (default {DEFAULT_MODEL})."
    )
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
        if args.tools == "function":
            return _print(_function_body(args, names))
        if not args.public_url:
            raise ValueError("--public-url is required with --tools mcp (OpenAI's servers call it).")
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


def _function_body(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """Function mode: the tools are functions the bridge runs; no tokens, no public URL."""
    from servers.bridge.function_tools import function_tools
    from servers.realtime.session_config import bridged_session
    from servers.settings import Settings

    settings = Settings()
    session = bridged_session(
        names,
        function_tools(names),
        model=args.model if args.format == "client-secret" else None,
        retention_ratio=settings.call_retention_ratio,
        push_to_talk=settings.call_turns == "push-to-talk",
    )
    if args.format == "client-secret":
        if not 10 <= args.secret_ttl <= 7200:
            raise ValueError("A client secret lives between 10 and 7200 seconds.")
        return {"expires_after": {"anchor": "created_at", "seconds": args.secret_ttl}, "session": session}
    return {"type": "session.update", "session": session}


def _print(body: dict[str, Any]) -> int:
    print(json.dumps(body, indent=2))
    return 0
