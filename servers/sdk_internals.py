"""The only places the suite reaches into the MCP SDK's private state (mcp 2.3.x, the series pyproject.toml
pins). Each has a test in tests/test_sdk_internals.py that fails loudly when an SDK upgrade moves it;
nothing else in the suite touches an SDK attribute that starts with `_`.

- `lowlevel_server`: `MCPServer` offers no public way to add request handlers (the skills server pages
  `resources/list` itself) or to change its `instructions` after construction (the skills server rewrites
  them when the catalog changes). Both live on the wrapped low-level `Server`.
- `request_connection`: `ServerSession` exposes no public handle on its `Connection`, where the standalone
  channel (for `list_changed` notifications) and the per-connection exit stack live
  (modelcontextprotocol/python-sdk#741).
"""

from __future__ import annotations

from typing import Any

from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.mcpserver import MCPServer


class SDKInternalsError(RuntimeError):
    """The installed MCP SDK no longer has the private attribute the suite relies on."""


def lowlevel_server(server: MCPServer[Any]) -> Server[Any]:
    """The low-level `Server` an `MCPServer` wraps."""
    lowlevel = getattr(server, "_lowlevel_server", None)
    if not isinstance(lowlevel, Server):
        raise SDKInternalsError(
            "MCPServer._lowlevel_server is gone or no longer a low-level Server: this mcp release is not "
            "supported (see servers/sdk_internals.py)"
        )
    return lowlevel


def request_connection(ctx: ServerRequestContext[Any, Any]) -> Connection | None:
    """The `Connection` a request arrived on. None if the SDK moved it: the request is still served, only
    `list_changed` notifications to handshake-era sessions stop (and the test of this function fails)."""
    connection = getattr(ctx.session, "_connection", None)
    return connection if isinstance(connection, Connection) else None
