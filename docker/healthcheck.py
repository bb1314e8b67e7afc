"""The image's HEALTHCHECK: exit 0 when the suite's `/healthz` answers ok (the image has no curl)."""

from __future__ import annotations

import json
import os
import sys
import urllib.request

# A wildcard listener is reached on loopback; anything else is dialled as configured.
WILDCARDS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104 - names wildcards, binds nothing


def healthz_url() -> str:
    host = os.environ.get("REALTIME_MCP_HOST", "127.0.0.1")
    if host in WILDCARDS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = os.environ.get("REALTIME_MCP_PORT", "8765")
    return f"http://{host}:{port}/healthz"


def main() -> int:
    url = healthz_url()
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - fixed http URL
            status = json.load(response).get("status")
    except (OSError, ValueError) as e:
        print(f"unhealthy: {url}: {e}", file=sys.stderr)
        return 1
    if status != "ok":
        print(f"unhealthy: {url} says status={status!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
